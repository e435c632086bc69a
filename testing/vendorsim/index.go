package vendorsim

import (
	"cmp"
	"slices"
	"sort"
	"unsafe"
)

// entry is one version in listing order: 16 bytes, no padding.
type entry struct {
	t   int64  // updated_at, unix microseconds
	key uint32 // key(idx): orders like vendor_txn_id
	ref uint32 // idx<<2 | version
}

func (e entry) idx() uint32 { return e.ref >> 2 }
func (e entry) ver() int    { return int(e.ref & 3) }

// tieRank orders the two versions of one settlement that share an
// updated_at (the SameInstant knob): the regular one, then the extra one.
// Every other entry has rank 0 and a unique (t, key).
func (e entry) tieRank() int {
	if e.ver() == extraVer {
		return 1
	}
	return 0
}

func compareEntry(a, b entry) int {
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.tieRank(), b.tieRank())
}

// maxRecords bounds Config.Records so that idx<<2 fits a uint32.
const maxRecords = 1 << 30

// buildIndex lists every version of every settlement, sorted by
// (updated_at, vendor_txn_id).
func (g *generator) buildIndex() []entry {
	es := make([]entry, 0, g.records*17/10+16)
	for i := range g.records {
		idx := uint32(i)
		p := g.plan(idx)
		k := g.key(idx)
		for v := range p.n {
			es = append(es, entry{t: p.t[v], key: k, ref: idx<<2 | uint32(v)})
		}
		if p.extra {
			es = append(es, entry{t: p.t[extraVer], key: k, ref: idx<<2 | extraVer})
		}
	}
	slices.SortFunc(es, compareEntry)
	return slices.Clip(es)
}

func indexBytes(es []entry) int { return cap(es) * int(unsafe.Sizeof(entry{})) }

// firstAt returns the first position whose updated_at is >= t.
func firstAt(es []entry, t int64) int {
	return sort.Search(len(es), func(i int) bool { return es[i].t >= t })
}

// after returns the first position past (t, key, rank), or at it when
// inclusive; rank is the tieRank of the entry at the position.
func after(es []entry, t int64, key uint32, rank int, inclusive bool) int {
	pos := entry{t: t, key: key}
	if rank == 1 {
		pos.ref = extraVer
	}
	return sort.Search(len(es), func(i int) bool {
		c := compareEntry(es[i], pos)
		return c > 0 || (inclusive && c == 0)
	})
}

// visible reports whether the version at e is listable at now (unix
// microseconds).
func (g *generator) visible(e entry, now int64) bool {
	return now >= e.t+g.lag(e.idx(), e.ver())
}
