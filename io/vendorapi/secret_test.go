package vendorapi_test

import (
	"context"
	"errors"
	"hash/crc32"
	"net"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/marketplace/settle/io/vendorapi"
)

const secretTestToken = "tok_live_SECRET_MANAGER_5a4b3c"

// fakeSecrets is an in-process Secret Manager serving AccessSecretVersion
// from a map of version name to payload.
type fakeSecrets struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	mu       sync.Mutex
	payloads map[string]*secretmanagerpb.SecretPayload
	denied   map[string]bool
	asked    []string
}

func (f *fakeSecrets) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, req.GetName())
	if f.denied[req.GetName()] {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'secretmanager.versions.access' denied for resource '%s'", req.GetName())
	}
	p, ok := f.payloads[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", req.GetName())
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Name: req.GetName(), Payload: p}, nil
}

// startSecrets serves f on a loopback port and returns client options for it.
func startSecrets(t *testing.T, f *fakeSecrets) []option.ClientOption {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return []option.ClientOption{
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

func payload(s string, crc bool) *secretmanagerpb.SecretPayload {
	p := &secretmanagerpb.SecretPayload{Data: []byte(s)}
	if crc {
		sum := int64(crc32.Checksum(p.Data, crc32.MakeTable(crc32.Castagnoli)))
		p.DataCrc32C = &sum
	}
	return p
}

func TestTokenFromSecret(t *testing.T) {
	const (
		latest = "projects/acme/secrets/vendor-token/versions/latest"
		v3     = "projects/acme/secrets/vendor-token/versions/3"
	)
	badCRC := payload(secretTestToken, false)
	wrong := int64(12345)
	badCRC.DataCrc32C = &wrong
	f := &fakeSecrets{
		payloads: map[string]*secretmanagerpb.SecretPayload{
			latest: payload(secretTestToken+"\n", true),
			v3:     payload("  "+secretTestToken+"  ", false),
			"projects/acme/secrets/empty/versions/latest":                          payload(" \n\t", true),
			"projects/acme/secrets/corrupt/versions/latest":                        badCRC,
			"projects/acme/locations/europe-west1/secrets/vendor-token/versions/1": payload(secretTestToken, true),
		},
		denied: map[string]bool{"projects/acme/secrets/other-team/versions/latest": true},
	}
	opts := startSecrets(t, f)

	tests := []struct {
		name     string
		secret   string
		wantErr  error
		wantCode codes.Code
	}{
		{name: "a secret without a version reads the latest version, newline dropped", secret: "projects/acme/secrets/vendor-token"},
		{name: "an explicit version is read as given, white space dropped", secret: v3},
		{name: "a regional secret version is accepted", secret: "projects/acme/locations/europe-west1/secrets/vendor-token/versions/1"},
		{name: "a payload of only white space is refused", secret: "projects/acme/secrets/empty", wantErr: vendorapi.ErrEmptySecret},
		{name: "a payload that fails its checksum is refused", secret: "projects/acme/secrets/corrupt", wantErr: vendorapi.ErrSecretCorrupt},
		{name: "a missing secret reports NotFound", secret: "projects/acme/secrets/nope", wantCode: codes.NotFound},
		{name: "a secret the caller may not read reports PermissionDenied", secret: "projects/acme/secrets/other-team", wantCode: codes.PermissionDenied},
		{name: "a bare secret id is refused before any call", secret: "vendor-token", wantErr: vendorapi.ErrSecretName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vendorapi.TokenFromSecret(t.Context(), tt.secret, opts...)
			if tt.wantErr == nil && tt.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("TokenFromSecret(%q) error: %v", tt.secret, err)
				}
				if got != secretTestToken {
					t.Errorf("TokenFromSecret(%q) returned a token of %d bytes, want the stored token of %d bytes", tt.secret, len(got), len(secretTestToken))
				}
				return
			}
			if err == nil {
				t.Fatalf("TokenFromSecret(%q) = a token, want an error", tt.secret)
			}
			if got != "" {
				t.Errorf("TokenFromSecret(%q) returned a token with its error", tt.secret)
			}
			if strings.Contains(err.Error(), secretTestToken) {
				t.Errorf("TokenFromSecret(%q) error contains the token: %v", tt.secret, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("TokenFromSecret(%q) error = %v, want %v", tt.secret, err, tt.wantErr)
			}
			if tt.wantCode != codes.OK {
				if c := status.Code(errors.Unwrap(err)); c != tt.wantCode {
					t.Errorf("TokenFromSecret(%q) code = %v, want %v (error %v)", tt.secret, c, tt.wantCode, err)
				}
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range f.asked {
		if name == "vendor-token" || !strings.HasPrefix(name, "projects/") {
			t.Errorf("Secret Manager was asked for %q, want only full version names", name)
		}
	}
}

func TestSecretVersionName(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "a secret name gets the latest version", in: "projects/p/secrets/s", want: "projects/p/secrets/s/versions/latest"},
		{name: "a numbered version is kept", in: "projects/p/secrets/s/versions/12", want: "projects/p/secrets/s/versions/12"},
		{name: "surrounding white space is ignored", in: " projects/p/secrets/s/versions/latest\n", want: "projects/p/secrets/s/versions/latest"},
		{name: "a regional secret is kept", in: "projects/p/locations/us-central1/secrets/s", want: "projects/p/locations/us-central1/secrets/s/versions/latest"},
		{name: "an empty name is refused", in: "", wantErr: true},
		{name: "a bare secret id is refused", in: "vendor-token", wantErr: true},
		{name: "version zero is refused", in: "projects/p/secrets/s/versions/0", wantErr: true},
		{name: "a version alias other than latest is refused", in: "projects/p/secrets/s/versions/prod", wantErr: true},
		{name: "a trailing slash is refused", in: "projects/p/secrets/s/", wantErr: true},
		{name: "a token pasted in place of the name is refused", in: secretTestToken, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vendorapi.SecretVersionName(tt.in)
			if tt.wantErr {
				if !errors.Is(err, vendorapi.ErrSecretName) {
					t.Errorf("SecretVersionName(%q) = %q, %v; want ErrSecretName", tt.in, got, err)
				}
				if tt.in != "" && err != nil && strings.Contains(err.Error(), tt.in) {
					t.Errorf("SecretVersionName(%q) error repeats the value: %v", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("SecretVersionName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
