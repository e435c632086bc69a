package pipeline

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func counters(res beam.PipelineResult, namespace string) map[string]int64 {
	out := map[string]int64{}
	if res == nil {
		return out
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == namespace {
			out[c.Key.Name] += c.Result()
		}
	}
	return out
}
