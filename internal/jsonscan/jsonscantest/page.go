// Package jsonscantest builds realistic vendor pages for benchmarks and
// tests of the JSON readers.
package jsonscantest

import (
	"fmt"
	"strconv"
	"time"
)

var (
	channels = []string{"web", "app", "pos", "api"}
	words    = []string{
		"order", "cart", "promo", "gift", "card", "visa", "mastercard", "amex",
		"wallet", "apple", "google", "pay", "checkout", "mobile", "desktop",
		"tablet", "retry", "3ds", "challenge", "frictionless", "approved",
		"review", "manual", "auto", "capture", "partial", "full", "split",
		"marketplace", "seller", "buyer", "shipping", "express", "standard",
		"pickup", "locker", "eu", "us", "uk", "ca", "au", "jp", "web", "app",
	}
	types    = []string{"charge", "refund", "chargeback", "fee", "payout_adjustment"}
	statuses = []string{"pending", "settled", "failed", "reversed"}
)

// Page returns a vendor page body of n settlement records shaped like the
// vendor simulator's (and production's): about 400 bytes of fields and a
// metadata object of about metadataBytes of short word strings, so
// metadataBytes 1300 makes records of about 1.7 KB and n 500 a page of about
// 850 KB. The output depends only on its arguments.
func Page(n, metadataBytes int) []byte {
	r := rng(uint64(n)*1_000_003 + uint64(metadataBytes))
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	b := make([]byte, 0, n*(metadataBytes+450)+64)
	b = append(b, `{"data":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		up := t0.Add(time.Duration(i) * 1234567 * time.Microsecond)
		b = append(b, `{"vendor_txn_id":"st_`...)
		b = fmt.Appendf(b, "%012d", r.below(1e12))
		b = append(b, `","order_id":`...)
		if r.below(5) == 0 {
			b = append(b, "null"...)
		} else {
			b = fmt.Appendf(b, `"ord_%010d"`, r.below(1e10))
		}
		b = fmt.Appendf(b, `,"seller_id":"sel_%06d","type":"%s","status":"%s","amount":"%d.%02d","fee":"%d.%02d","currency":"EUR"`,
			r.below(1e6), types[r.below(uint64(len(types)))], statuses[r.below(uint64(len(statuses)))],
			r.below(5000), r.below(100), r.below(20), r.below(100))
		b = append(b, `,"created_at":"`...)
		b = up.Add(-time.Hour).AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, `","updated_at":"`...)
		b = up.AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, `","settled_at":`...)
		if r.below(2) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(up.AppendFormat(append(b, '"'), time.RFC3339), '"')
		}
		b = append(b, `,"metadata":{"channel":"`...)
		b = append(b, channels[r.below(uint64(len(channels)))]...)
		b = append(b, `","request_ref":"`...)
		for range 16 {
			b = append(b, "abcdefghijklmnopqrstuvwxyz0123456789"[r.below(36)])
		}
		b = append(b, '"')
		start := len(b)
		for k := 0; len(b)-start < metadataBytes; k++ {
			b = append(b, `,"x`...)
			b = strconv.AppendInt(b, int64(k), 10)
			b = append(b, `":"`...)
			end := len(b) + 8 + int(r.below(40))
			for w := 0; len(b) < end; w++ {
				if w > 0 {
					b = append(b, ' ')
				}
				b = append(b, words[r.below(uint64(len(words)))]...)
			}
			b = append(b, '"')
		}
		b = append(b, "}}"...)
	}
	b = append(b, `],"has_more":true,"next_cursor":"cur_eyJwIjoyfQ"}`...)
	return b
}

// rng is a small deterministic generator (splitmix64).
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) below(n uint64) uint64 { return r.next() % n }
