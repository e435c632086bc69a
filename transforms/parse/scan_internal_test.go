package parse

import (
	"encoding/binary"
	"encoding/json"
	"testing"
)

// FuzzDecodeString holds the scanner's string rule and rawValue.str to
// encoding/json: the same strings accepted, decoded to the same Go value.
func FuzzDecodeString(f *testing.F) {
	for _, s := range []string{
		``, `abc`, `\"`, `\\\/\b\f\n\r\t`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\ude00\ud83d`, `\ud83d\u0041`,
		`\ud83d\ud83d\ude00`, `\uD83D\uDE00x`, `\u0000`, `\x`, `\u12`, `\u12g4`, `\'`, "\xff", "\xed\xa0\x80",
		"a\xc3", "\xef\xbf\xbd", "tab\there", "\x7f\x80", `01234567"`, `0123456\`, "0123456\x1f89",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		raw := append(append([]byte{'"'}, content...), '"')
		s := scanner{b: raw}
		start, end, decode, ok := s.str()
		ok = ok && start == 1 && end == len(raw)-1 && s.i == len(raw)
		if valid := json.Valid(raw); ok != valid {
			t.Fatalf("scanning %q: ok = %v, json.Valid = %v", raw, ok, valid)
		}
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", raw, err)
		}
		if !decode && (needsUnquote(content) || string(content) != want) {
			t.Fatalf("scanning %q: decode = false, but its value is %q", raw, want)
		}
		v := rawValue{b: raw, decode: decode}
		got, ok := v.str()
		if !ok || got != want {
			t.Fatalf("rawValue(%q).str() = %q, %v, want %q (json.Unmarshal)", raw, got, ok, want)
		}
		if got := string(v.appendContent([]byte("prefix"))); got != "prefix"+want {
			t.Fatalf("rawValue(%q).appendContent = %q, want %q", raw, got, "prefix"+want)
		}
	})
}

// wantSpecialLanes is specialLanes byte by byte, from the scanner's table.
func wantSpecialLanes(w []byte) uint64 {
	var m uint64
	for lane, c := range w[:8] {
		if !plain[c] {
			m |= 0x80 << (8 * lane)
		}
	}
	return m
}

// FuzzSpecialLanes holds the eight-bytes-at-a-time test to the byte table.
func FuzzSpecialLanes(f *testing.F) {
	for _, s := range []string{"abcdefgh", "abcdefg\"", "\\bcdefgh", "abc\x1fefgh", "\x80\x81\xff\xfe\x20\x21\x5b\x5d", "\x00\x00\x00\x00\x00\x00\x00\x00", "\xa2\xdc\x22\x5c\xa0\x9f\x01\x7f"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		if got, want := specialLanes(binary.LittleEndian.Uint64(b)), wantSpecialLanes(b); got != want {
			t.Fatalf("specialLanes(%q) = %#x, want %#x", b[:8], got, want)
		}
	})
}

func TestSpecialLanesEveryPairOfAdjacentBytes(t *testing.T) {
	w := []byte("abcdefgh")
	for lane := range 7 {
		for c := range 256 {
			for d := range 256 {
				copy(w, "abcdefgh")
				w[lane], w[lane+1] = byte(c), byte(d)
				if got, want := specialLanes(binary.LittleEndian.Uint64(w)), wantSpecialLanes(w); got != want {
					t.Fatalf("specialLanes(%q) = %#x, want %#x", w, got, want)
				}
			}
		}
	}
}
