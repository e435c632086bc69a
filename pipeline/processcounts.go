package pipeline

import (
	"context"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Emitter1[ProcessCounts]()
	register.Iter1[ProcessCounts]()
	beam.RegisterType(reflect.TypeOf((*ProcessCounts)(nil)).Elem())
}

// The process stage's terms of a run's account, as Beam counters (the
// chunked shape reads them from each chunk job's result).
var (
	pagesRead         = beam.NewCounter("process", "pages_read")
	pagesQuarantined  = beam.NewCounter("process", "pages_quarantined") // raw objects quarantined whole
	recordsRead       = beam.NewCounter("process", "records_read")
	unkeyedQuarantine = beam.NewCounter("process", "records_unkeyed")
	winnersCounter    = beam.NewCounter("process", "winners")
	validatedCounter  = beam.NewCounter("process", "validated")
	winnersFailed     = beam.NewCounter("process", "winners_failed") // winners pass two quarantined
)

// ProcessCounts is what the process stage did with raw objects: the
// process terms of the run's account (pipeline/account). keysFn emits
// one per raw object it read (PagesRead or PagesQuarantined, RecordsRead,
// Unkeyed), writeRowsFn one per raw object holding winners (Winners,
// Valid, Failed); the zero value counts nothing.
//
// Invariant: summed over a job's output they are exact. A failed
// bundle's outputs are discarded with it and a retried bundle's count
// once, whereas Beam metrics may keep a failed attempt's increments. So
// the one-job shape carries them as data to its land stage; the chunked
// shape, on prism (which never retries a bundle), reads the same figures
// from the counters that count increments with them.
type ProcessCounts struct {
	PagesRead        int64 `json:"pages_read"`
	PagesQuarantined int64 `json:"pages_quarantined"`
	RecordsRead      int64 `json:"records_read"`
	Unkeyed          int64 `json:"unkeyed"`
	Winners          int64 `json:"winners"`
	Valid            int64 `json:"valid"`
	Failed           int64 `json:"failed"`
}

// add returns the sum of c and o.
func (c ProcessCounts) add(o ProcessCounts) ProcessCounts {
	return ProcessCounts{
		PagesRead: c.PagesRead + o.PagesRead, PagesQuarantined: c.PagesQuarantined + o.PagesQuarantined,
		RecordsRead: c.RecordsRead + o.RecordsRead, Unkeyed: c.Unkeyed + o.Unkeyed,
		Winners: c.Winners + o.Winners, Valid: c.Valid + o.Valid, Failed: c.Failed + o.Failed,
	}
}

// count adds c to the process counters.
func (c ProcessCounts) count(ctx context.Context) {
	for _, t := range []struct {
		c beam.Counter
		n int64
	}{
		{pagesRead, c.PagesRead}, {pagesQuarantined, c.PagesQuarantined}, {recordsRead, c.RecordsRead},
		{unkeyedQuarantine, c.Unkeyed}, {winnersCounter, c.Winners}, {validatedCounter, c.Valid}, {winnersFailed, c.Failed},
	} {
		if t.n != 0 {
			t.c.Inc(ctx, t.n)
		}
	}
}

// countsOf reads ProcessCounts back from a process job's counters
// (counters(res, "process")).
func countsOf(m map[string]int64) ProcessCounts {
	return ProcessCounts{
		PagesRead: m["pages_read"], PagesQuarantined: m["pages_quarantined"], RecordsRead: m["records_read"],
		Unkeyed: m["records_unkeyed"], Winners: m["winners"], Valid: m["validated"], Failed: m["winners_failed"],
	}
}

// sumCounts sums the ProcessCounts of a side input.
func sumCounts(iter func(*ProcessCounts) bool) ProcessCounts {
	var sum, c ProcessCounts
	for iter(&c) {
		sum = sum.add(c)
	}
	return sum
}

// addTo adds c to the run's summary and to its account: the records a
// dedup dropped are those read that were neither unkeyed nor winners.
func (c ProcessCounts) addTo(sum *Summary) {
	dup := c.RecordsRead - c.Unkeyed - c.Winners
	sum.ObjectsRead += c.PagesRead
	sum.RecordsRead += c.RecordsRead
	sum.Duplicates += dup
	a := &sum.Account
	a.PagesRead += c.PagesRead
	a.PagesQuarantined += c.PagesQuarantined
	a.RecordsRead += c.RecordsRead
	a.Unkeyed += c.Unkeyed
	a.Winners += c.Winners
	a.Duplicates += dup
	a.Valid += c.Valid
	a.Failed += c.Failed
}
