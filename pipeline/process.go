package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/dedup"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

func init() {
	register.DoFn5x1[context.Context, string, func(int32, dedup.Batch), func(warehouse.Quarantined), func(ProcessCounts), error](&keysFn{})
	register.Emitter2[int32, dedup.Batch]()
	register.Emitter1[warehouse.Quarantined]()
	register.DoFn4x0[context.Context, int32, dedup.Batch, func(string, winnerIndexes)](&winnerRefFn{})
	register.Emitter2[string, winnerIndexes]()
	register.DoFn5x1[context.Context, string, func(*winnerIndexes) bool, func(StagedFile), func(ProcessCounts), error](&writeRowsFn{})
	register.Iter1[winnerIndexes]()
	register.Emitter1[StagedFile]()
	register.DoFn4x1[context.Context, string, func(*warehouse.Quarantined) bool, func(StagedFile), error](&writeQuarantineFn{})
	register.Iter1[warehouse.Quarantined]()
	register.Function1x2[warehouse.Quarantined, string, warehouse.Quarantined](quarantineByRef)
	beam.RegisterType(reflect.TypeOf((*StagedFile)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*winnerIndexes)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*winnerIndexes)(nil)).Elem(), encodeIndexes, decodeIndexes)
}

// dedupShards is the number of shards of vendor_txn_id that pass one's
// candidates are grouped in: a page's records travel as at most this many
// elements (dedup.Batch), not one each.
const dedupShards = 16

// quarantinedRows counts the rows written to quarantine load files (the
// account's terms are in processcounts.go).
var quarantinedRows = beam.NewCounter("process", "quarantined")

// Staged file kinds.
const (
	KindValidated  = "validated"
	KindQuarantine = "quarantine"
)

// StagedFile is one NDJSON load file written by Process.
type StagedFile struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // KindValidated or KindQuarantine
	Rows int64  `json:"rows"`
}

// ProcessConfig is the serialisable configuration of Process.
type ProcessConfig struct {
	RunID      string     `json:"run_id"`
	RawZone    string     `json:"raw_zone"`
	StagingDir string     `json:"staging_dir"` // local directory or gs:// prefix
	Rules      gate.Rules `json:"rules"`
	// QuarantinedAt (Unix nanoseconds) stamps every quarantine row, so a
	// retried bundle writes the same bytes.
	QuarantinedAt int64 `json:"quarantined_at"`
}

func (c ProcessConfig) quarantinedAt() time.Time { return time.Unix(0, c.QuarantinedAt).UTC() }

// Process takes the names of raw page objects and returns PCollection<StagedFile>:
// the validated and quarantine load files it wrote under StagingDir.
//
// It reads only the raw zone. Pass one carries small values through the
// shuffle — Candidate{updated_at, digest, object, index} with its
// vendor_txn_id — because prism holds every PCollection in memory, and
// carries a page's candidates as one dedup.Batch per shard of the id,
// because prism's cost is per element; dedup.LatestByShard (a
// CombinePerKey) keeps the newest version of each id; pass two groups the
// winners' indexes by raw object, reads each object once more and runs the
// row rules on the winning records only. Every file name is derived from its raw object, so a retried bundle
// rewrites the same file with the same rows.
func Process(s beam.Scope, cfg ProcessConfig, objects []string) beam.PCollection {
	files, _ := ProcessNames(s, cfg, beam.CreateList(s, objects))
	return files
}

// ProcessNames is Process over a PCollection<string> of raw object names,
// known only when the pipeline runs (the one-job shape lists them after
// its ingest stage). It also returns PCollection<ProcessCounts>, whose sum
// is the run's process terms of its account.
func ProcessNames(s beam.Scope, cfg ProcessConfig, objects beam.PCollection) (files, counts beam.PCollection) {
	s = s.Scope("pipeline.Process")
	names := beam.Reshuffle(s, objects)
	cands, unkeyed, read := beam.ParDo3(s, &keysFn{Config: cfg}, names)
	latest := dedup.LatestByShard(s, cands)
	refs := beam.ParDo(s, &winnerRefFn{}, latest)
	rows, judged := beam.ParDo2(s, &writeRowsFn{Config: cfg}, beam.GroupByKey(s, refs))
	qfiles := beam.ParDo(s, &writeQuarantineFn{Config: cfg}, beam.GroupByKey(s, beam.ParDo(s, quarantineByRef, unkeyed)))
	return beam.Flatten(s, rows, qfiles), beam.Flatten(s, read, judged)
}

// keysFn reads a raw page object and emits, for every record, its key and a
// small Candidate, batched by shard of the key. A page that cannot be read back, and records without a
// usable key, go to quarantine with the reason. It counts the object on
// its last output.
type keysFn struct {
	Config ProcessConfig `json:"config"`
	raw    rawzone.Store
}

func (fn *keysFn) Setup(ctx context.Context) error {
	signalStart(fn.Config.StagingDir)
	if fn.raw != nil {
		return nil
	}
	s, err := rawzone.Open(ctx, fn.Config.RawZone)
	fn.raw = s
	return err
}

func (fn *keysFn) Teardown() error { return closeRaw(&fn.raw) }

func (fn *keysFn) ProcessElement(ctx context.Context, name string, emit func(int32, dedup.Batch), quarantine func(warehouse.Quarantined), counted func(ProcessCounts)) error {
	records, err := readRecords(ctx, fn.raw, name)
	var bad *badPageError
	switch {
	case errors.As(err, &bad):
		quarantine(gate.Quarantine(bad.raw, parse.Record{}, bad.reason, fn.Config.RunID, name, gate.PageIndex, fn.Config.quarantinedAt()))
		c := ProcessCounts{PagesQuarantined: 1}
		c.count(ctx)
		counted(c)
		return nil
	case err != nil:
		return err
	}
	c := ProcessCounts{PagesRead: 1, RecordsRead: int64(len(records))}
	var shards [dedupShards][]dedup.Keyed
	for i, rec := range records {
		id, updated, err := parse.Key(rec)
		if err != nil {
			// Without an id and an updated_at there is nothing to dedup on:
			// quarantine this occurrence, keyed by its place in the raw zone.
			c.Unkeyed++
			parsed, _ := parse.ParseRecord(rec)
			quarantine(gate.Quarantine(rec, parsed, reasonOf(err), fn.Config.RunID, name, i, fn.Config.quarantinedAt()))
			continue
		}
		sh := dedup.Shard(id, dedupShards)
		shards[sh] = append(shards[sh], dedup.Keyed{Key: id, C: dedup.NewCandidate(rec, updated, name, int32(i))})
	}
	for sh, items := range shards {
		if len(items) > 0 {
			emit(int32(sh), dedup.Batch{Items: items})
		}
	}
	c.count(ctx)
	counted(c)
	return nil
}

// jobStarts holds, per process, a channel for each process job being
// submitted, keyed by its staging directory; the job's first keysFn.Setup
// closes it. It is the one piece of process-wide state here, like the
// vendor client's limiter: it only exists so that the launcher can wait
// for a prism job to be executing before it submits the next (see
// processChunks). On a remote runner nobody waits on it.
var jobStarts sync.Map // string -> chan struct{}

// awaitStart registers key and returns the channel its job's start closes.
func awaitStart(key string) <-chan struct{} {
	ch := make(chan struct{})
	jobStarts.Store(key, ch)
	return ch
}

// signalStart closes key's channel, once.
func signalStart(key string) {
	if ch, ok := jobStarts.LoadAndDelete(key); ok {
		close(ch.(chan struct{}))
	}
}

// forgetStart drops key's channel if its job never signalled.
func forgetStart(key string) { jobStarts.Delete(key) }

// badPageError is a raw object whose page cannot be read back as a page: it
// is data to quarantine, not a reason to fail the run.
type badPageError struct {
	raw    []byte
	reason string
	err    error
}

func (e *badPageError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *badPageError) Unwrap() error { return e.err }

// readRecords reads a raw page object and returns its records. Returns a
// *badPageError for content that is not a usable page, and other errors for
// a raw zone that cannot be read (the bundle then fails and is retried).
func readRecords(ctx context.Context, raw rawzone.Store, name string) ([]json.RawMessage, error) {
	if rawzone.IsEventName(name) {
		return readEventRecords(ctx, raw, name)
	}
	data, err := raw.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading raw object %s: %w", name, err)
	}
	obj, err := rawzone.DecodePage(data)
	if err != nil {
		// Only valid gzip'd JSON is ever written: the object was damaged
		// after it landed. Never quarantine it as the vendor's bad data.
		return nil, fmt.Errorf("reading raw object %s: %w: %w", name, rawzone.ErrDamaged, err)
	}
	env, err := vendorapi.ParsePage(obj.Body)
	if err != nil {
		if !intactBody(name, obj.Body) {
			return nil, fmt.Errorf("reading raw object %s: body does not hash to its name: %w", name, rawzone.ErrDamaged)
		}
		return nil, &badPageError{raw: obj.Body, reason: parse.ReasonPageUnparseable, err: err}
	}
	return env.Records, nil
}

// winnerIndexes is the indexes of winning records in one raw object.
type winnerIndexes struct{ I []int32 }

func encodeIndexes(w winnerIndexes) ([]byte, error) {
	out := binary.AppendUvarint(make([]byte, 0, 2+3*len(w.I)), uint64(len(w.I)))
	for _, i := range w.I {
		out = binary.AppendVarint(out, int64(i))
	}
	return out, nil
}

func decodeIndexes(b []byte) (winnerIndexes, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return winnerIndexes{}, errors.New("decoding winner indexes: truncated")
	}
	b = b[k:]
	w := winnerIndexes{I: make([]int32, 0, n)}
	for range n {
		v, k := binary.Varint(b)
		if k <= 0 {
			return winnerIndexes{}, errors.New("decoding winner indexes: truncated")
		}
		b = b[k:]
		w.I = append(w.I, int32(v))
	}
	return w, nil
}

// winnerRefFn re-keys a shard's winners by the raw object that holds
// them: one element per object, with the winners' indexes.
type winnerRefFn struct{}

func (fn *winnerRefFn) ProcessElement(ctx context.Context, _ int32, b dedup.Batch, emit func(string, winnerIndexes)) {
	byRef := map[string][]int32{}
	for _, it := range b.Items {
		byRef[it.C.Ref] = append(byRef[it.C.Ref], it.C.Index)
	}
	for ref, idx := range byRef {
		emit(ref, winnerIndexes{I: idx})
	}
}

// writeRowsFn reads one raw object again, runs the row rules on its winning
// records, and writes their validated and quarantine rows to load files
// named after the object. It counts the winners it judged on its last
// output.
type writeRowsFn struct {
	Config ProcessConfig `json:"config"`
	raw    rawzone.Store
}

func (fn *writeRowsFn) Setup(ctx context.Context) error {
	if fn.raw != nil {
		return nil
	}
	s, err := rawzone.Open(ctx, fn.Config.RawZone)
	fn.raw = s
	return err
}

func (fn *writeRowsFn) Teardown() error { return closeRaw(&fn.raw) }

func (fn *writeRowsFn) ProcessElement(ctx context.Context, name string, indexes func(*winnerIndexes) bool, emit func(StagedFile), counted func(ProcessCounts)) error {
	records, err := readRecords(ctx, fn.raw, name)
	if err != nil {
		// Pass one read this object; failing to now is an infrastructure
		// error, never data to drop.
		return fmt.Errorf("re-reading winners of %s: %w", name, err)
	}
	var idx []int
	var w winnerIndexes
	for indexes(&w) {
		for _, i := range w.I {
			idx = append(idx, int(i))
		}
	}
	sort.Ints(idx)
	at := fn.Config.quarantinedAt()
	var valid, bad bytes.Buffer
	var nValid, nBad int64
	byReason := map[string]int64{}
	venc, benc := json.NewEncoder(&valid), json.NewEncoder(&bad)
	for _, i := range idx {
		if i < 0 || i >= len(records) {
			return fmt.Errorf("winner %d of %s: object has %d records", i, name, len(records))
		}
		raw := records[i]
		rec, err := parse.ParseRecord(raw)
		reason := reasonOf(err)
		var row warehouse.Settlement
		if err == nil {
			row, reason = gate.ToSettlement(raw, rec, fn.Config.Rules, fn.Config.RunID, name)
		}
		if reason == "" {
			nValid++
			if err := venc.Encode(row); err != nil {
				return fmt.Errorf("encoding row %d of %s: %w", i, name, err)
			}
			continue
		}
		nBad++
		byReason[reason]++
		if err := benc.Encode(gate.Quarantine(raw, rec, reason, fn.Config.RunID, name, i, at)); err != nil {
			return fmt.Errorf("encoding quarantine row %d of %s: %w", i, name, err)
		}
	}
	quarantinedRows.Inc(ctx, nBad)
	countReasons(ctx, byReason)
	for _, f := range []struct {
		kind string
		n    int64
		buf  *bytes.Buffer
	}{{KindValidated, nValid, &valid}, {KindQuarantine, nBad, &bad}} {
		if f.n == 0 {
			continue
		}
		p := stagedPath(fn.Config.StagingDir, f.kind, name)
		if err := writeFile(ctx, p, f.buf.Bytes()); err != nil {
			return err
		}
		emit(StagedFile{Path: p, Kind: f.kind, Rows: f.n})
	}
	// Counted here, once per raw object, not per shard batch upstream: a
	// counter incremented by a few large batches came out short on prism
	// with two chunk jobs at once (~4 % of winners of a 300k-record day).
	c := ProcessCounts{Winners: int64(len(idx)), Valid: nValid, Failed: nBad}
	c.count(ctx)
	counted(c)
	return nil
}

// countReasons adds quarantined rows to the counters
// process.quarantined_<reason>, one update per reason.
func countReasons(ctx context.Context, byReason map[string]int64) {
	for r, n := range byReason {
		beam.NewCounter("process", "quarantined_"+r).Inc(ctx, n)
	}
}

// reasonOf is the quarantine reason of a parse error; an error without one
// means the record is not a usable object at all.
func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	if r := parse.ReasonOf(err); r != "" {
		return r
	}
	return parse.ReasonRecordNotObject
}

func quarantineByRef(q warehouse.Quarantined) (string, warehouse.Quarantined) { return q.RawRef, q }

// writeQuarantineFn writes the quarantine rows of pass one (pages and
// records without a usable key) of one raw object to one load file.
type writeQuarantineFn struct {
	Config ProcessConfig `json:"config"`
}

func (fn *writeQuarantineFn) ProcessElement(ctx context.Context, ref string, rows func(*warehouse.Quarantined) bool, emit func(StagedFile)) error {
	var all []warehouse.Quarantined
	var q warehouse.Quarantined
	for rows(&q) {
		all = append(all, q)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].QuarantineKey < all[j].QuarantineKey })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, q := range all {
		if err := enc.Encode(q); err != nil {
			return fmt.Errorf("encoding quarantine row of %s: %w", ref, err)
		}
	}
	quarantinedRows.Inc(ctx, int64(len(all)))
	byReason := map[string]int64{}
	for _, q := range all {
		byReason[q.Reason]++
	}
	countReasons(ctx, byReason)
	p := stagedPath(fn.Config.StagingDir, KindQuarantine, "unkeyed-"+ref)
	if err := writeFile(ctx, p, buf.Bytes()); err != nil {
		return err
	}
	emit(StagedFile{Path: p, Kind: KindQuarantine, Rows: int64(len(all))})
	return nil
}

// stagedPath names the load file of one raw object: deterministic, so a
// retried bundle overwrites its own file and never adds a second one.
func stagedPath(dir, kind, ref string) string {
	h := sha256.Sum256([]byte(ref))
	file := kind + "-" + hex.EncodeToString(h[:12]) + ".ndjson"
	if strings.Contains(dir, "://") {
		return strings.TrimSuffix(dir, "/") + "/" + kind + "/" + file
	}
	return path.Join(dir, kind, file)
}

// writeFile writes data to p through Beam's filesystem (local paths and
// gs://), replacing any earlier file of the same name.
func writeFile(ctx context.Context, p string, data []byte) error {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return fmt.Errorf("opening filesystem for %s: %w", p, err)
	}
	defer fs.Close()
	if err := mkdirLocal(p); err != nil {
		return err
	}
	w, err := fs.OpenWrite(ctx, p)
	if err != nil {
		return fmt.Errorf("creating load file %s: %w", p, err)
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		w.Close()
		return fmt.Errorf("writing load file %s: %w", p, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("closing load file %s: %w", p, err)
	}
	return nil
}

func closeRaw(s *rawzone.Store) error {
	if *s == nil {
		return nil
	}
	err := (*s).Close()
	*s = nil
	return err
}
