package vendorapi

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
)

// Errors of TokenFromSecret. None of them, nor any error it returns, holds
// the secret's payload.
var (
	// ErrSecretName is returned for a name that is not a Secret Manager
	// secret or secret version resource name.
	ErrSecretName = errors.New("want projects/<project>/secrets/<secret>[/versions/<version>]")
	// ErrEmptySecret is returned when the secret version holds only white space.
	ErrEmptySecret = errors.New("secret payload is empty")
	// ErrSecretCorrupt is returned when the payload does not match the CRC32C
	// checksum Secret Manager sent with it.
	ErrSecretCorrupt = errors.New("secret payload does not match its checksum")
)

// secretNameRE matches a secret (optionally regional) with an optional version.
var secretNameRE = regexp.MustCompile(`^projects/[^/]+(/locations/[^/]+)?/secrets/[A-Za-z0-9_-]{1,255}(/versions/([1-9][0-9]*|latest))?$`)

// secretAccessor is what TokenFromSecret needs of the Secret Manager client.
type secretAccessor interface {
	AccessSecretVersion(ctx context.Context, req *secretmanagerpb.AccessSecretVersionRequest, opts ...gax.CallOption) (*secretmanagerpb.AccessSecretVersionResponse, error)
}

var _ secretAccessor = (*secretmanager.Client)(nil)

// SecretVersionName returns name as a secret version resource name: a name
// without "/versions/..." means the latest version, so rotating the token is
// adding a version. Returns an error wrapping ErrSecretName for anything
// else; that error does not repeat the name.
func SecretVersionName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !secretNameRE.MatchString(name) {
		// The value is not echoed: a token pasted here by mistake must not
		// reach a log.
		return "", fmt.Errorf("secret name of %d characters: %w", len(name), ErrSecretName)
	}
	if !strings.Contains(name, "/versions/") {
		name += "/versions/latest"
	}
	return name, nil
}

// TokenFromSecret reads the vendor API token from the Secret Manager secret
// version name ("projects/p/secrets/s/versions/3"; without "/versions/…"
// the latest version), with the caller's Application Default Credentials
// (on Dataflow: the worker service account, which needs
// roles/secretmanager.secretAccessor on that one secret). opts are passed
// to the client (tests point it at a local server).
//
// Leading and trailing white space of the payload is dropped (a token
// stored with `echo` ends in a newline). The token never appears in an
// error or a log line. Returns ErrSecretName, ErrEmptySecret or
// ErrSecretCorrupt (wrapped), or the API's error (for example
// codes.PermissionDenied, codes.NotFound) wrapped with the secret's name.
// Each call opens and closes a client: call it once per worker, in Setup.
func TokenFromSecret(ctx context.Context, name string, opts ...option.ClientOption) (string, error) {
	version, err := SecretVersionName(name)
	if err != nil {
		return "", err
	}
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("creating Secret Manager client: %w", err)
	}
	defer c.Close()
	return accessToken(ctx, c, version)
}

// accessToken reads and checks one secret version through acc.
func accessToken(ctx context.Context, acc secretAccessor, version string) (string, error) {
	resp, err := acc.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: version})
	if err != nil {
		return "", fmt.Errorf("reading vendor token from secret %s: %w", version, err)
	}
	p := resp.GetPayload()
	data := p.GetData()
	if p != nil && p.DataCrc32C != nil {
		if int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) != p.GetDataCrc32C() {
			return "", fmt.Errorf("reading vendor token from secret %s: %w", version, ErrSecretCorrupt)
		}
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("reading vendor token from secret %s: %w", version, ErrEmptySecret)
	}
	return token, nil
}
