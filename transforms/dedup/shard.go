package dedup

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Combiner3[shardAccum, Batch, Batch](&shardLatestFn{})
	beam.RegisterType(reflect.TypeOf((*Batch)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*shardAccum)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*Batch)(nil)).Elem(), encodeBatch, decodeBatch)
	beam.RegisterCoder(reflect.TypeOf((*shardAccum)(nil)).Elem(), encodeAccum, decodeAccum)
}

// Keyed is one record version with its key (vendor_txn_id).
type Keyed struct {
	Key string
	C   Candidate
}

// Batch is a list of keyed candidates: those of one page that fall in one
// shard (the input of LatestByShard), or the newest of every key of a
// shard, sorted by key (its output). Carrying a page's candidates as a few
// batches instead of one element each cuts the runner's per-element cost,
// which dominates a local (prism) run.
type Batch struct {
	Items []Keyed
}

// Shard is the shard of key among n (n ≥ 1): FNV-1a of the key modulo n,
// the same on every worker and in every run.
func Shard(key string, n int) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % uint32(n))
}

// LatestByShard keeps, for each key, the newest Candidate in the order of
// Compare, as LatestByKey does, over batches. It takes
// PCollection<KV<int32, Batch>> (key: the shard of every item's key, see
// Shard) and returns PCollection<KV<int32, Batch>> with one Batch per
// shard holding one item per key, sorted by key.
//
// The dedup is a CombinePerKey whose accumulator is the newest candidate
// of each key of the shard: every key lives in exactly one shard, so the
// result is LatestByKey's, and for the same reasons it does not depend on
// order, bundling, duplication or how the runner combines partial results.
func LatestByShard(s beam.Scope, col beam.PCollection) beam.PCollection {
	s = s.Scope("dedup.LatestByShard")
	return beam.CombinePerKey(s, &shardLatestFn{}, col)
}

// shardAccum is the newest candidate of each key seen so far.
type shardAccum struct {
	Best map[string]Candidate
}

func (a *shardAccum) add(k string, c Candidate) {
	if old, ok := a.Best[k]; !ok || Newer(c, old) {
		a.Best[k] = c
	}
}

// shardLatestFn is a structural CombineFn: per key, newest Candidate wins.
type shardLatestFn struct{}

func (*shardLatestFn) CreateAccumulator() shardAccum {
	return shardAccum{Best: map[string]Candidate{}}
}

func (*shardLatestFn) AddInput(a shardAccum, b Batch) shardAccum {
	if a.Best == nil {
		a.Best = make(map[string]Candidate, len(b.Items))
	}
	for _, it := range b.Items {
		a.add(it.Key, it.C)
	}
	return a
}

func (*shardLatestFn) MergeAccumulators(a, b shardAccum) shardAccum {
	if len(a.Best) < len(b.Best) {
		a, b = b, a
	}
	if a.Best == nil {
		a.Best = map[string]Candidate{}
	}
	for k, c := range b.Best {
		a.add(k, c)
	}
	return a
}

func (*shardLatestFn) ExtractOutput(a shardAccum) Batch {
	out := Batch{Items: make([]Keyed, 0, len(a.Best))}
	for k, c := range a.Best {
		out.Items = append(out.Items, Keyed{Key: k, C: c})
	}
	slices.SortFunc(out.Items, func(x, y Keyed) int { return strings.Compare(x.Key, y.Key) })
	return out
}

// The coders below are a plain binary form: Beam's default (schema) coder
// for these types costs several times more CPU per item.

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendItem(b []byte, k string, c Candidate) []byte {
	b = appendString(b, k)
	b = binary.AppendVarint(b, c.UpdatedAt)
	b = appendString(b, c.Digest)
	b = appendString(b, c.Ref)
	return binary.AppendVarint(b, int64(c.Index))
}

var errShortBatch = errors.New("dedup: truncated batch encoding")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errShortBatch, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errShortBatch, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errShortBatch, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) item() (string, Candidate) {
	k := r.string()
	var c Candidate
	c.UpdatedAt = r.varint()
	c.Digest = r.string()
	c.Ref = r.string()
	c.Index = int32(r.varint())
	return k, c
}

func encodeBatch(b Batch) ([]byte, error) {
	out := binary.AppendUvarint(make([]byte, 0, 16+len(b.Items)*160), uint64(len(b.Items)))
	for _, it := range b.Items {
		out = appendItem(out, it.Key, it.C)
	}
	return out, nil
}

func decodeBatch(data []byte) (Batch, error) {
	r := reader{b: data}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(data)) {
		return Batch{}, errShortBatch
	}
	b := Batch{Items: make([]Keyed, 0, n)}
	for range n {
		k, c := r.item()
		if r.err != nil {
			return Batch{}, r.err
		}
		b.Items = append(b.Items, Keyed{Key: k, C: c})
	}
	return b, nil
}

func encodeAccum(a shardAccum) ([]byte, error) {
	out := binary.AppendUvarint(make([]byte, 0, 16+len(a.Best)*160), uint64(len(a.Best)))
	for k, c := range a.Best {
		out = appendItem(out, k, c)
	}
	return out, nil
}

func decodeAccum(data []byte) (shardAccum, error) {
	r := reader{b: data}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(data)) {
		return shardAccum{}, errShortBatch
	}
	a := shardAccum{Best: make(map[string]Candidate, n)}
	for range n {
		k, c := r.item()
		if r.err != nil {
			return shardAccum{}, r.err
		}
		a.add(k, c)
	}
	return a, nil
}
