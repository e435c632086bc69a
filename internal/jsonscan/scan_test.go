package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/internal/jsonscan"
	"github.com/marketplace/settle/internal/jsonscan/jsonscantest"
)

// seeds are inputs on the edges of the grammar, shared by the table tests
// and the fuzzers.
var seeds = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `tru`, `fals`, `nulll`, `truex`,
	`0`, `-0`, `-`, `01`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1e+5`, `1E-05`, `-1.5e10`, `1e5.`, `+1`, `0x1`,
	`""`, `"a"`, `"\u00e9"`, `"\u00"`, `"\uZZZZ"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`, "\"tab\there\"", "\"\x00\"", "\"\x1f\"",
	"\"\xff\xfe\"", "\"\xed\xa0\x80\"", `"\ud800"`, `"unterminated`, `"\`, `"\u12`, `"é"`,
	`[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[[]]]`, `[[]`, `[]]`,
	`{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":[1,{"b":null}],"c":"d"}`,
	`{"a":1}}`, `{"a":1} {"b":2}`, ` {"a" : 1 , "b" : [ true , false ] } `, "\t\n\r{}\r\n\t", "\v{}", "\ufeff{}",
	`{"d\u0061ta":1,"data":2}`, `{"a":1,"a":2}`, `{"DATA":[],"data":[3]}`,
	"[\"abcdefgh\",\"abcdefghi\\\"jklmnop\",\"abcdefghijklmnopq\x01\"]",
	"\"0123456789abcdef\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff\"",
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, in := range seeds {
		t.Run(in, func(t *testing.T) {
			if got, want := jsonscan.Valid([]byte(in)), json.Valid([]byte(in)); got != want {
				t.Errorf("Valid(%q) = %v, want %v (encoding/json)", in, got, want)
			}
		})
	}
}

func nested(open, close string, n int) []byte {
	return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
}

func TestValidNestingLimitIsEncodingJSONs(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"arrays 10000 deep are accepted", nested("[", "]", 10000), true},
		{"arrays 10001 deep are refused", nested("[", "]", 10001), false},
		{"objects 10000 deep are accepted", []byte(strings.Repeat(`{"a":`, 9999) + "{}" + strings.Repeat("}", 9999)), true},
		{"objects 10001 deep are refused", []byte(strings.Repeat(`{"a":`, 10000) + "{}" + strings.Repeat("}", 10000)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonscan.Valid(tt.in); got != tt.want {
				t.Errorf("Valid = %v, want %v", got, tt.want)
			}
			if got := json.Valid(tt.in); got != tt.want {
				t.Fatalf("json.Valid = %v, want %v: the test's premise is wrong", got, tt.want)
			}
		})
	}
}

func TestScannerCountsDepthAcrossBeginAndSkip(t *testing.T) {
	// One array opened with BeginArray leaves room for 9999 more levels.
	for _, tt := range []struct {
		name   string
		inner  int
		wantOK bool
	}{
		{"an element 9999 deep fits", 9999, true},
		{"an element 10000 deep does not", 10000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s jsonscan.Scanner
			s.Reset(append(append([]byte("["), nested("[", "]", tt.inner)...), ']'))
			if err := s.BeginArray(); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.NextElement(); !ok || err != nil {
				t.Fatalf("NextElement = %v, %v; want true, nil", ok, err)
			}
			_, err := s.Skip()
			if (err == nil) != tt.wantOK {
				t.Errorf("Skip error = %v, want ok %v", err, tt.wantOK)
			}
		})
	}
}

// member is one object member as a reader saw it.
type member struct {
	Key   string
	Value string
}

// walk reads v with the Scanner: members of an object and elements of an
// array one level down (their values skipped whole), or the value itself.
func walk(data []byte) (kind jsonscan.Kind, members []member, elems []string, err error) {
	var s jsonscan.Scanner
	s.Reset(data)
	kind = s.Peek()
	switch kind {
	case jsonscan.Object:
		if err := s.BeginObject(); err != nil {
			return kind, nil, nil, err
		}
		members = []member{}
		for {
			key, ok, err := s.NextMember()
			if err != nil {
				return kind, nil, nil, err
			}
			if !ok {
				break
			}
			k, kok := jsonscan.Unquote(key)
			if !kok {
				return kind, nil, nil, errors.New("NextMember returned a key Unquote refuses")
			}
			v, err := s.Skip()
			if err != nil {
				return kind, nil, nil, err
			}
			members = append(members, member{string(k), string(v)})
		}
	case jsonscan.Array:
		if err := s.BeginArray(); err != nil {
			return kind, nil, nil, err
		}
		elems = []string{}
		for {
			ok, err := s.NextElement()
			if err != nil {
				return kind, nil, nil, err
			}
			if !ok {
				break
			}
			v, err := s.Skip()
			if err != nil {
				return kind, nil, nil, err
			}
			elems = append(elems, string(v))
		}
	default:
		if _, err := s.Skip(); err != nil {
			return kind, nil, nil, err
		}
	}
	if s.Depth() != 0 {
		return kind, nil, nil, errors.New("depth not back to 0")
	}
	return kind, members, elems, s.Finish()
}

func TestScannerWalksAPage(t *testing.T) {
	data := []byte(` {"data": [ {"a":1}, null ,"x\"y", [2, 3] ] , "d\u0061ta":true, "has_more" : false} `)
	kind, members, _, err := walk(data)
	if err != nil || kind != jsonscan.Object {
		t.Fatalf("walk = %v, %v; want an object and no error", kind, err)
	}
	want := []member{
		{"data", `[ {"a":1}, null ,"x\"y", [2, 3] ]`},
		{"data", "true"},
		{"has_more", "false"},
	}
	if diff := cmp.Diff(want, members); diff != "" {
		t.Errorf("members mismatch (-want +got):\n%s", diff)
	}
	_, _, elems, err := walk([]byte(want[0].Value))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"a":1}`, `null`, `"x\"y"`, `[2, 3]`}, elems); diff != "" {
		t.Errorf("elements mismatch (-want +got):\n%s", diff)
	}
}

func TestScannerErrorsWrapErrSyntax(t *testing.T) {
	for _, in := range []string{`{"a":1,}`, `[1 2]`, `{"a"`, `"abc`, `{} x`} {
		t.Run(in, func(t *testing.T) {
			_, _, _, err := walk([]byte(in))
			if !errors.Is(err, jsonscan.ErrSyntax) {
				t.Errorf("walk(%q) error = %v, want one wrapping ErrSyntax", in, err)
			}
		})
	}
}

func TestSkipReturnsSlicesThatCannotGrowIntoTheInput(t *testing.T) {
	data := []byte(`["ab",1]`)
	var s jsonscan.Scanner
	s.Reset(data)
	if err := s.BeginArray(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NextElement(); err != nil {
		t.Fatal(err)
	}
	v, err := s.Skip()
	if err != nil {
		t.Fatal(err)
	}
	_ = append(v, 'X')
	if got, want := string(data), `["ab",1]`; got != want {
		t.Errorf("input after appending to a skipped value = %q, want %q", got, want)
	}
}

func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{`""`, `"plain"`, `"\u00e9\n"`, "\"\xff\"", `"\ud800x"`, `"\ud83d\ude00"`, "\"é\"", `"a\/b"`} {
		t.Run(in, func(t *testing.T) {
			var want string
			if err := json.Unmarshal([]byte(in), &want); err != nil {
				t.Fatal(err)
			}
			got, ok := jsonscan.Unquote([]byte(in))
			if !ok || string(got) != want {
				t.Errorf("Unquote(%q) = %q, %v; want %q, true", in, got, ok, want)
			}
		})
	}
	for _, in := range []string{``, `"`, `x`, `"a`, `'a'`} {
		if _, ok := jsonscan.Unquote([]byte(in)); ok {
			t.Errorf("Unquote(%q) ok = true, want false", in)
		}
	}
}

func addSeeds(f *testing.F) {
	f.Helper()
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	paths, err := filepath.Glob(filepath.Join("..", "..", "io", "vendorapi", "testdata", "vendorapi", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(jsonscantest.Page(3, 200))
}

// FuzzValidMatchesEncodingJSON checks that Valid and a Scanner walk accept
// exactly what encoding/json accepts, and that the walk finds the members
// and elements encoding/json finds.
func FuzzValidMatchesEncodingJSON(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want := json.Valid(data)
		if got := jsonscan.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, want %v", data, got, want)
		}
		kind, members, elems, err := walk(data)
		if (err == nil) != want {
			t.Fatalf("walk(%q) error = %v, want ok %v", data, err, want)
		}
		if err != nil {
			if !errors.Is(err, jsonscan.ErrSyntax) {
				t.Fatalf("walk(%q) error = %v, want one wrapping ErrSyntax", data, err)
			}
			return
		}
		switch kind {
		case jsonscan.Object:
			var ref map[string]json.RawMessage
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			got := map[string]json.RawMessage{}
			for _, m := range members {
				got[m.Key] = json.RawMessage(m.Value)
			}
			if diff := cmp.Diff(ref, got); diff != "" {
				t.Fatalf("members of %q mismatch (-encoding/json +jsonscan):\n%s", data, diff)
			}
		case jsonscan.Array:
			var ref []json.RawMessage
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			got := make([]json.RawMessage, len(elems))
			for i, e := range elems {
				got[i] = json.RawMessage(e)
			}
			if diff := cmp.Diff(ref, got); diff != "" {
				t.Fatalf("elements of %q mismatch (-encoding/json +jsonscan):\n%s", data, diff)
			}
		}
	})
}

// FuzzUnquoteMatchesEncodingJSON checks Unquote against encoding/json on
// any quoted input.
func FuzzUnquoteMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u00e9"`, "\"\xff\"", `"\ud800"`, `"\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		werr := json.Unmarshal(raw, &want)
		got, ok := jsonscan.Unquote(raw)
		if (werr == nil) != ok || (ok && string(got) != want) {
			t.Fatalf("Unquote(%q) = %q, %v; encoding/json gives %q, %v", raw, got, ok, want, werr)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	page := jsonscantest.Page(500, 1300)
	if !json.Valid(page) {
		b.Fatal("generated page is not valid JSON")
	}
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		jsonscantest.ReportCPU(b, int64(len(page)))
		for b.Loop() {
			if !jsonscan.Valid(page) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		jsonscantest.ReportCPU(b, int64(len(page)))
		for b.Loop() {
			if !json.Valid(page) {
				b.Fatal("invalid")
			}
		}
	})
}

// BenchmarkWalkRecords splits a page's data array the way ParsePage does.
func BenchmarkWalkRecords(b *testing.B) {
	page := jsonscantest.Page(500, 1300)
	data := page[bytes.IndexByte(page, '[') : bytes.LastIndexByte(page, ']')+1]
	b.SetBytes(int64(len(data)))
	jsonscantest.ReportCPU(b, int64(len(data)))
	for b.Loop() {
		_, _, elems, err := walk(data)
		if err != nil || len(elems) != 500 {
			b.Fatalf("walk = %d elements, %v", len(elems), err)
		}
	}
}
