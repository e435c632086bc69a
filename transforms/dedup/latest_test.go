package dedup_test

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/marketplace/settle/transforms/dedup"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// keyed is a test element: a key and its candidate, as one value so that
// beam.Create and passert.Equals can handle it.
type keyed struct {
	Key string
	C   dedup.Candidate
}

func toKV(k keyed) (string, dedup.Candidate) { return k.Key, k.C }

func fromKV(key string, c dedup.Candidate) keyed { return keyed{Key: key, C: c} }

func init() {
	register.Function1x2(toKV)
	register.Function2x1(fromKV)
}

func cand(at int64, digest, ref string, index int32) dedup.Candidate {
	return dedup.Candidate{UpdatedAt: at, Digest: digest, Ref: ref, Index: index}
}

func TestLatestByKeyOnPrism(t *testing.T) {
	var (
		aOld     = cand(100, "aa", "pages/w1/page-00001", 0)
		aNew     = cand(200, "11", "pages/w2/page-00001", 3)
		aResent  = cand(100, "aa", "pages/w3/page-00004", 9) // the old version again, delivered later
		bTieLow  = cand(300, "0f", "pages/w1/page-00001", 1)
		bTieHigh = cand(300, "f0", "pages/w1/page-00001", 2) // same updated_at, larger digest
		cCopy1   = cand(400, "cc", "pages/w1/page-00002", 0)
		cCopy2   = cand(400, "cc", "pages/w1/page-00003", 0) // identical bytes on the next page
		dOnly    = cand(-7, "dd", "pages/w0/page-00001", 0)
	)
	in := []keyed{
		{"st_a", aNew}, {"st_a", aOld}, {"st_a", aResent}, {"st_a", aOld},
		{"st_b", bTieHigh}, {"st_b", bTieLow},
		{"st_c", cCopy1}, {"st_c", cCopy2}, {"st_c", cCopy1},
		{"st_d", dOnly},
	}
	want := []any{
		keyed{"st_a", aNew},
		keyed{"st_b", bTieHigh},
		keyed{"st_c", cCopy1}, // of identical copies, the one in the first raw object
		keyed{"st_d", dOnly},
	}

	p, s := beam.NewPipelineWithRoot()
	kvs := beam.ParDo(s, toKV, beam.CreateList(s, in))
	got := dedup.LatestByKey(s, kvs)
	passert.Equals(s, beam.ParDo(s, fromKV, got), want...)

	// Applying it again to its own output changes nothing.
	twice := dedup.LatestByKey(s, got)
	passert.Equals(s, beam.ParDo(s, fromKV, twice), want...)

	ptest.RunAndValidate(t, p)
}
