package rawzone_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/internal/jsonscan/jsonscantest"
	"github.com/marketplace/settle/io/rawzone"
)

// decoded is what a caller can observe of a DecodePage result, the error's
// text aside.
type decoded struct {
	Page    rawzone.PageObject
	Err     bool
	Invalid bool
}

func observeDecode(p rawzone.PageObject, err error) decoded {
	return decoded{Page: p, Err: err != nil, Invalid: errors.Is(err, rawzone.ErrInvalidPage)}
}

// pageEqual compares bodies byte for byte (cmp walks a slice element by
// element, which takes seconds on a production page) and times by instant
// and zone name.
var pageEqual = cmp.Options{
	cmp.Comparer(func(a, b json.RawMessage) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location().String() == b.Location().String() }),
}

// stdGzip compresses b with compress/gzip as the old EncodePage did.
func stdGzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeSeeds are page objects on the edges of json.Unmarshal's rules.
var decodeSeeds = []string{
	`{"source":"s","window_start":"2024-05-01T00:00:00+02:00","window_end":"2024-05-01T01:00:00Z","body":{"data":[]}}`,
	`{"body":"text"}`, `{"body":[1,2,3],"page":-4}`, `{"body":1}`, `{"body":true}`, `null`, ` null `, `[]`, `"x"`, `1`,
	`{"body":null}`, `{"body":{},"body":null}`, `{"body":null,"body":{}}`, `{}`, `{"body":{}} x`, `{"body":{}`,
	`{"SOURCE":"upper","Body":{}}`, `{"ſource":"long s","body":{}}`, `{"sourcE":"a","source":"b","body":{}}`,
	`{"source":"b","SOURCE":"a","body":{}}`, `{"s\u006furce":"escaped key","body":{}}`, `{"sourc":"near miss","body":{}}`,
	`{"source":"a","source":null,"body":{}}`, `{"source":1,"body":{}}`, `{"source":{},"body":{}}`, `{"source":"\u00e9\ud800","body":{}}`,
	"{\"source\":\"\xff\",\"body\":{}}", `{"page":1.0,"body":{}}`, `{"page":1e2,"body":{}}`, `{"page":-0,"body":{}}`,
	`{"page":9223372036854775807,"body":{}}`, `{"page":9223372036854775808,"body":{}}`, `{"page":"1","body":{}}`,
	`{"page":7,"page":null,"body":{}}`, `{"chain":true,"body":{}}`, `{"limit":[],"body":{}}`, `{"records":-12,"status":200,"attempts":3,"body":{}}`,
	`{"has_more":true,"body":{}}`, `{"has_more":"true","body":{}}`, `{"has_more":1,"body":{}}`, `{"has_more":true,"has_more":null,"body":{}}`,
	`{"fetched_at":"2024-05-02T00:11:12.123456789Z","body":{}}`, `{"fetched_at":"2024-05-02T00:11:12.123Z","fetched_at":null,"body":{}}`,
	`{"fetched_at":"2024-05-02","body":{}}`, `{"fetched_at":"2024-05-02T00:11:12\u002e1Z","body":{}}`, `{"fetched_at":12,"body":{}}`,
	`{"fetched_at":{},"body":{}}`, `{"window_start":"2024-05-01T00:00:00-07:00","body":{}}`, `{"WINDOW_END":"2024-05-01T00:00:00Z","body":{}}`,
	`{"request_cursor":"c","next_cursor":"d","request_id":"r","body":{}}`, `{"unknown":{"deep":[1,2,{"x":null}]},"body":{}}`,
	`{"body":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"body":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

func TestDecodePageMatchesReference(t *testing.T) {
	inputs := map[string][]byte{}
	for i, s := range decodeSeeds {
		inputs[fmt.Sprintf("seed %d as plain JSON", i)] = []byte(s)
		inputs[fmt.Sprintf("seed %d gzip'd", i)] = stdGzip(t, []byte(s))
	}
	big := samplePage(t)
	big.Body = jsonscantest.Page(500, 1300)
	_, newData, err := rawzone.EncodePage(big)
	if err != nil {
		t.Fatal(err)
	}
	_, oldData, err := rawzone.EncodePageReference(big)
	if err != nil {
		t.Fatal(err)
	}
	inputs["a production-size page as EncodePage writes it"] = newData
	inputs["a production-size page as the old EncodePage wrote it"] = oldData
	inputs["a page cut short"] = newData[:len(newData)/2]
	withFlags := bytes.Clone(oldData)
	withFlags[3] |= 0xe0
	inputs["a gzip header with reserved flags, which compress/gzip ignores"] = withFlags
	inputs["two gzip members, of which only the first is read"] = append(stdGzip(t, []byte(`{"body":1}`)), stdGzip(t, []byte(`{"body":2}`))...)
	inputs["a gzip member followed by garbage"] = append(stdGzip(t, []byte(`{"body":1}`)), "garbage"...)
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			want := observeDecode(rawzone.DecodePageReference(data))
			got := observeDecode(rawzone.DecodePage(data))
			if diff := cmp.Diff(want, got, pageEqual); diff != "" {
				t.Errorf("DecodePage differs from the reference on %.200q (-reference +DecodePage):\n%s", data, diff)
			}
		})
	}
}

func TestDecodePageSizeLimitMatchesReference(t *testing.T) {
	rawzone.SetMaxPageObject(t, 100)
	for _, n := range []int{99, 100, 101, 102, 5000} {
		t.Run(fmt.Sprintf("a %d-byte object", n), func(t *testing.T) {
			obj := []byte(`{"body":"` + strings.Repeat("x", n-11) + `"}`)
			data := stdGzip(t, obj)
			want := observeDecode(rawzone.DecodePageReference(data))
			got := observeDecode(rawzone.DecodePage(data))
			if diff := cmp.Diff(want, got, pageEqual); diff != "" {
				t.Errorf("DecodePage differs from the reference (-reference +DecodePage):\n%s", diff)
			}
			if wantErr := n > 100; got.Err != wantErr {
				t.Errorf("DecodePage of %d bytes: error %v, want %v", n, got.Err, wantErr)
			}
		})
	}
}

func TestDecodePageReadsObjectsTheOldEncoderWrote(t *testing.T) {
	p := samplePage(t)
	_, old, err := rawzone.EncodePageReference(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rawzone.DecodePage(old)
	if err != nil {
		t.Fatalf("DecodePage(old object) = %v", err)
	}
	if diff := cmp.Diff(p, got, pageEqual); diff != "" {
		t.Errorf("DecodePage(old object) mismatch (-want +got):\n%s", diff)
	}
	// And objects the new encoder writes read back with compress/gzip.
	_, data, err := rawzone.EncodePage(p)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := rawzone.DecodePageReference(data)
	if err != nil {
		t.Fatalf("DecodePageReference(new object) = %v", err)
	}
	if diff := cmp.Diff(p, ref, pageEqual); diff != "" {
		t.Errorf("DecodePageReference(new object) mismatch (-want +got):\n%s", diff)
	}
}

func TestPutPageAcceptsTheSamePageStoredByTheOldEncoder(t *testing.T) {
	s := newFileStore(t)
	p := samplePage(t)
	name, old, err := rawzone.EncodePageReference(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, data, _ := rawzone.EncodePage(p); bytes.Equal(data, old) {
		t.Fatal("the two encoders wrote the same bytes: this test checks nothing")
	}
	if err := s.PutOnce(t.Context(), name, old); err != nil {
		t.Fatal(err)
	}
	got, existed, err := rawzone.PutPage(t.Context(), s, p)
	if err != nil || !existed || got != name {
		t.Fatalf("PutPage over the old encoding = %q, existed %v, %v; want %q, true, nil", got, existed, err, name)
	}
	stored, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, old) {
		t.Errorf("PutPage replaced the object the old encoder stored")
	}
}

func TestDecodePageBodyIsNotTheCallersBytes(t *testing.T) {
	data := []byte(`{"source":"s","body":{"a":1}}`)
	p, err := rawzone.DecodePage(data)
	if err != nil {
		t.Fatal(err)
	}
	copy(data, bytes.Repeat([]byte("x"), len(data)))
	if got, want := string(p.Body), `{"a":1}`; got != want {
		t.Errorf("Body after the caller reused its buffer = %s, want %s", got, want)
	}
}

// FuzzDecodePageMatchesReference holds DecodePage to the compress/gzip and
// json.Unmarshal implementation it replaced, on the input as given and
// gzip'd by compress/gzip.
func FuzzDecodePageMatchesReference(f *testing.F) {
	_, good, err := rawzone.EncodePage(samplePage(f))
	if err != nil {
		f.Fatal(err)
	}
	_, old, err := rawzone.EncodePageReference(samplePage(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(old)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	for _, s := range decodeSeeds[:len(decodeSeeds)-2] { // the deep ones slow the fuzzer down
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, stdGzip(t, data)} {
			want := observeDecode(rawzone.DecodePageReference(in))
			got := observeDecode(rawzone.DecodePage(in))
			if diff := cmp.Diff(want, got, pageEqual); diff != "" {
				t.Fatalf("DecodePage differs from the reference on %q (-reference +DecodePage):\n%s", in, diff)
			}
		}
	})
}

// BenchmarkDecodePage decodes a production-size page object (500 records
// of about 1.7 KB) as stored and, to separate JSON from gzip, as plain JSON.
func BenchmarkDecodePage(b *testing.B) {
	p := samplePage(b)
	p.Body = jsonscantest.Page(500, 1300)
	_, data, err := rawzone.EncodePage(p)
	if err != nil {
		b.Fatal(err)
	}
	_, oldData, err := rawzone.EncodePageReference(p)
	if err != nil {
		b.Fatal(err)
	}
	plain, err := rawzone.DecodePage(data)
	if err != nil {
		b.Fatal(err)
	}
	head, _ := json.Marshal(struct {
		rawzone.PageObject
		Body json.RawMessage `json:"body"`
	}{plain, plain.Body})
	for _, bc := range []struct {
		name   string
		decode func([]byte) (rawzone.PageObject, error)
		data   []byte
	}{
		{"plain-json/jsonscan", rawzone.DecodePage, head},
		{"plain-json/reference", rawzone.DecodePageReference, head},
		{"gzip/jsonscan-klauspost", rawzone.DecodePage, data},
		{"gzip/reference-std", rawzone.DecodePageReference, oldData},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(head))) // decoded bytes, so the two cases compare
			b.ReportAllocs()
			jsonscantest.ReportCPU(b, int64(len(head)))
			for b.Loop() {
				if _, err := bc.decode(bc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePage(b *testing.B) {
	p := samplePage(b)
	p.Body = jsonscantest.Page(500, 1300)
	for _, bc := range []struct {
		name   string
		encode func(rawzone.PageObject) (string, []byte, error)
	}{
		{"klauspost", rawzone.EncodePage},
		{"reference-std", rawzone.EncodePageReference},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(p.Body)))
			b.ReportAllocs()
			jsonscantest.ReportCPU(b, int64(len(p.Body)))
			var size int
			for b.Loop() {
				_, data, err := bc.encode(p)
				if err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(size), "stored-bytes")
		})
	}
}

func TestEncodePageIsDeterministicWithReusedAndFreshCompressors(t *testing.T) {
	p := samplePage(t)
	p.Body = jsonscantest.Page(40, 1300)
	_, first, err := rawzone.EncodePage(p)
	if err != nil {
		t.Fatal(err)
	}
	// Run the pooled compressors through other pages of other sizes.
	for n := range 12 {
		q := samplePage(t)
		q.Body = jsonscantest.Page(n*7+1, 200*n+50)
		if _, _, err := rawzone.EncodePage(q); err != nil {
			t.Fatal(err)
		}
	}
	_, reused, err := rawzone.EncodePage(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, reused) {
		t.Errorf("EncodePage with a reused compressor gave other bytes")
	}
	// Two collections empty the pool: the next encode uses a new compressor.
	runtime.GC()
	runtime.GC()
	_, fresh, err := rawzone.EncodePage(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, fresh) {
		t.Errorf("EncodePage with a new compressor gave other bytes")
	}
}
