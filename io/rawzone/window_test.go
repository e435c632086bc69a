package rawzone_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/rawzone"
)

func TestWindowNamesKeepMinutesAndAddExactSubMinuteBounds(t *testing.T) {
	at := func(v string) time.Time { return mustTime(t, v) }
	for _, tc := range []struct {
		name       string
		start, end time.Time
		want       string
	}{
		{"whole-minute bounds keep the old name", at("2026-12-01T05:00:00Z"), at("2026-12-01T06:00:00Z"),
			"pages/settlements/date=2026-12-01/window=20261201T0500Z-20261201T0600Z/"},
		{"a sub-minute end is written to the nanosecond", at("2026-12-01T05:00:00Z"), at("2026-12-01T05:00:56Z"),
			"pages/settlements/date=2026-12-01/window=20261201T0500Z-20261201T0500_56.000000000Z/"},
		{"a fractional start is written to the nanosecond", at("2026-12-01T05:00:17.25Z"), at("2026-12-01T05:00:56.000000001Z"),
			"pages/settlements/date=2026-12-01/window=20261201T0500_17.250000000Z-20261201T0500_56.000000001Z/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawzone.WindowPrefix("settlements", tc.start, tc.end); got != tc.want {
				t.Errorf("WindowPrefix = %q, want %q", got, tc.want)
			}
			p := rawzone.PageObject{Source: "settlements", WindowStart: tc.start, WindowEnd: tc.end, Page: 3, Body: json.RawMessage(`{"data":[]}`)}
			name, err := rawzone.PageName(p)
			if err != nil {
				t.Fatalf("PageName = %v", err)
			}
			ref, err := rawzone.ParsePageRef(name)
			if err != nil {
				t.Fatalf("ParsePageRef(%q) = %v", name, err)
			}
			if !ref.Start.Equal(tc.start) || !ref.End.Equal(tc.end) || ref.Page != 3 || ref.Hash != rawzone.BodyHash(p.Body) {
				t.Errorf("ParsePageRef(%q) = %+v, want the window, page 3 and the body hash", name, ref)
			}
		})
	}

	// Names sort by start within a date prefix, whichever form each has.
	bounds := []string{"2026-12-01T05:00:00Z", "2026-12-01T05:00:00.5Z", "2026-12-01T05:00:17.25Z", "2026-12-01T05:00:59.999999999Z", "2026-12-01T05:01:00Z"}
	var prev string
	for _, b := range bounds {
		seg := rawzone.WindowPrefix("s", at(b), at("2026-12-01T07:00:00Z"))
		if prev != "" && seg <= prev {
			t.Errorf("name of a window starting at %s sorts before or with %q: %q", b, prev, seg)
		}
		prev = seg
	}

	// One window has one name: the sub-minute form of a whole minute is refused.
	bad := "pages/settlements/date=2026-12-01/window=20261201T0500_00.000000000Z-20261201T0600Z/page-00000-0123456789abcdef.json.gz"
	if _, err := rawzone.ParsePageRef(bad); !errors.Is(err, rawzone.ErrInvalidPage) {
		t.Errorf("ParsePageRef(%q) = %v, want ErrInvalidPage", bad, err)
	}
}

func TestCheckPageTellsDamageFromTheVendorsBadData(t *testing.T) {
	s := newFileStore(t)
	at := func(v string) time.Time { return mustTime(t, v) }
	start, end := at("2026-12-01T05:00:00Z"), at("2026-12-01T06:00:00Z")
	put := func(body string) (rawzone.PageRef, []byte) {
		t.Helper()
		p := rawzone.PageObject{Source: "settlements", WindowStart: start, WindowEnd: end, Page: 0, Body: json.RawMessage(body)}
		name, data, err := rawzone.EncodePage(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutOnce(t.Context(), name, data); err != nil {
			t.Fatal(err)
		}
		ref, err := rawzone.ParsePageRef(name)
		if err != nil {
			t.Fatal(err)
		}
		return ref, data
	}
	good, data := put(`{"data":[{"vendor_txn_id":"st_1"}],"has_more":false}`)
	if _, err := rawzone.CheckPage(good, data); err != nil {
		t.Errorf("CheckPage(intact) = %v, want nil", err)
	}
	// A body the vendor sent that is no page envelope is intact: quarantine, not damage.
	odd, oddData := put(`{"unexpected":true}`)
	if _, err := rawzone.CheckPage(odd, oddData); err != nil {
		t.Errorf("CheckPage(the vendor's odd body) = %v, want nil", err)
	}
	_, other := put(`{"data":[{"vendor_txn_id":"st_1","amount":"9999.00"}],"has_more":false}`)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"a truncated object", data[:len(data)/2], "damaged"},
		{"an empty object", nil, "damaged"},
		{"another page's bytes under this name", other, "altered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rawzone.CheckPage(good, tc.data)
			if !errors.Is(err, rawzone.ErrDamaged) || !strings.Contains(err.Error(), good.Name) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckPage = %v, want ErrDamaged naming %s and saying %q", err, good.Name, tc.want)
			}
		})
	}
}

func TestListPageRefsParsesEveryName(t *testing.T) {
	s := newFileStore(t)
	at := func(v string) time.Time { return mustTime(t, v) }
	clipped := putPage(t, s, "settlements", at("2026-12-01T05:00:17.25Z"), at("2026-12-01T06:00:00Z"), 0)
	got, err := rawzone.ListPageRefs(t.Context(), s, "settlements", at("2026-12-01T05:30:00Z"), at("2026-12-01T05:31:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{clipped}, names); diff != "" {
		t.Errorf("ListPageRefs mismatch (-want +got):\n%s", diff)
	}
}
