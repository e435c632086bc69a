package vendorapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/internal/jsonscan/jsonscantest"
	"github.com/marketplace/settle/io/vendorapi"
)

// outcome is everything a caller can observe of a ParsePage result except
// the error's text: the envelope, the error's class and, for an error
// object, the StatusError's fields.
type outcome struct {
	Env       vendorapi.Envelope
	Err       bool
	Malformed bool
	Retryable bool
	Status    *vendorapi.StatusError
}

// rawEqual compares raw JSON byte for byte; cmp's default walks a slice
// element by element, which takes seconds on a production-size page.
var rawEqual = cmp.Comparer(func(a, b json.RawMessage) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) })

func observe(env vendorapi.Envelope, err error) outcome {
	o := outcome{Env: env, Err: err != nil}
	if err != nil {
		o.Malformed = errors.Is(err, vendorapi.ErrMalformedPage)
		o.Retryable = vendorapi.Retryable(err)
		if se, ok := errors.AsType[*vendorapi.StatusError](err); ok {
			o.Status = &vendorapi.StatusError{Code: se.Code, ErrCode: se.ErrCode, Message: se.Message, RateLimited: se.RateLimited}
		}
	}
	return o
}

// matchSeeds are bodies on the edges of the envelope rules, beyond the
// fixtures.
var matchSeeds = []string{
	`{"data":[],"has_more":false,"next_cursor":null}`,
	`{"data":[1,"a",{},[]],"has_more":true,"next_cursor":"x"}`,
	`{"d\u0061ta":[1],"has_more":false}`,
	`{"data":[1],"data":null,"has_more":false}`,
	`{"data":null,"data":[2],"has_more":false}`,
	`{"data":[1],"data":{},"has_more":false}`,
	`{"data":{},"data":[3],"has_more":false}`,
	`{"data":[],"has_more":true,"next_cursor":""}`,
	`{"data":[],"has_more":true,"next_cursor":"\u0000"}`,
	`{"data":[],"has_more":true,"next_cursor":"\ud800"}`,
	"{\"data\":[],\"has_more\":true,\"next_cursor\":\"\xff\"}",
	`{"data":[],"has_more":true,"next_cursor":7}`,
	`{"data":[],"has_more":false,"next_cursor":{"not":"checked"}}`,
	`{"data":[],"has_more":"true","next_cursor":"c"}`,
	`{"data":[],"has_more":true,"has_more":null,"next_cursor":"c"}`,
	`{"data":[],"has_more":false,"error":null}`,
	`{"data":[],"has_more":false,"error":"boom"}`,
	`{"error":{"code":1,"message":"x"}}`,
	`{"error":{"Code":"internal","MESSAGE":"upper"}}`,
	`{"error":[1,2]}`,
	`{"error":false}`,
	`{"error":{"code":"internal"},"data":[`,
	`{"data":[],"has_more":false} `,
	` {"data" : [ 1 , 2 ] , "has_more" : false } `,
	`{"data":[],"has_more":false}x`,
	`[{"data":[]}]`, `"data"`, `true`, ` null `, `{"data":[],"has_more":fals}`,
	`{"data":[` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `],"has_more":false}`,
	`{"data":[` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `],"has_more":false}`,
}

func TestParsePageMatchesReference(t *testing.T) {
	bodies := map[string][]byte{}
	for name, b := range fixtures(t) {
		bodies[name] = b
	}
	for i, s := range matchSeeds {
		bodies[fmt.Sprintf("seed %d", i)] = []byte(s)
	}
	bodies["a generated production-size page"] = jsonscantest.Page(500, 1300)
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			want := observe(vendorapi.ParsePageReference(body))
			got := observe(vendorapi.ParsePage(body))
			if diff := cmp.Diff(want, got, rawEqual); diff != "" {
				t.Errorf("ParsePage differs from the reference on %.200q (-reference +ParsePage):\n%s", body, diff)
			}
		})
	}
}

func TestParsePageRecordsCannotGrowIntoTheBody(t *testing.T) {
	body := []byte(`{"data":[{"a":1},{"b":2}],"has_more":false}`)
	env, err := vendorapi.ParsePage(body)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(env.Records[0], `,"x"`...)
	if got, want := string(env.Records[1]), `{"b":2}`; got != want {
		t.Errorf("second record after appending to the first = %s, want %s", got, want)
	}
}

// FuzzParsePageMatchesReference holds ParsePage to the encoding/json
// implementation it replaced: the same envelope (records byte for byte) or
// the same class of error on every input.
func FuzzParsePageMatchesReference(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	for _, s := range matchSeeds[:len(matchSeeds)-2] { // the deep ones slow the fuzzer down
		f.Add([]byte(s))
	}
	f.Add(jsonscantest.Page(2, 100))
	f.Fuzz(func(t *testing.T, body []byte) {
		want := observe(vendorapi.ParsePageReference(body))
		got := observe(vendorapi.ParsePage(body))
		if diff := cmp.Diff(want, got, rawEqual); diff != "" {
			t.Fatalf("ParsePage differs from the reference on %q (-reference +ParsePage):\n%s", body, diff)
		}
	})
}

// BenchmarkParsePage parses a production-size page: 500 records of about
// 1.7 KB, metadata-heavy (about 830 KB).
func BenchmarkParsePage(b *testing.B) {
	body := jsonscantest.Page(500, 1300)
	for _, impl := range []struct {
		name  string
		parse func([]byte) (vendorapi.Envelope, error)
	}{
		{"jsonscan", vendorapi.ParsePage},
		{"reference-encoding-json", vendorapi.ParsePageReference},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			jsonscantest.ReportCPU(b, int64(len(body)))
			for b.Loop() {
				env, err := impl.parse(body)
				if err != nil || len(env.Records) != 500 {
					b.Fatalf("parse = %d records, %v", len(env.Records), err)
				}
			}
		})
	}
}
