package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph"
)

// printDryRunJob prints one job a dry run would submit: its name, its type
// (batch unless a PCollection is unbounded: Dataflow would run it as
// streaming) and its steps, the top-level transforms in graph order. It
// goes to stdout whatever the log level: Beam logs the translated job only
// at debug.
func printDryRunJob(w io.Writer, role, name string, p *beam.Pipeline) error {
	edges, nodes, err := p.Build()
	if err != nil {
		return fmt.Errorf("building the %s job's graph: %w", role, err)
	}
	kind := "batch"
	for _, n := range nodes {
		if !n.Bounded() {
			kind = "STREAMING"
		}
	}
	var steps []string
	seen := map[string]bool{}
	for _, e := range edges {
		s := topScope(e.Scope())
		label := e.Name()
		if s != nil {
			label = s.Label
		}
		if !seen[label] {
			seen[label] = true
			steps = append(steps, label)
		}
	}
	_, err = fmt.Fprintf(w, "dry run: would submit the %s job %q (%s), %d step(s): %s\n", role, name, kind, len(steps), strings.Join(steps, ", "))
	return err
}

// topScope is s's ancestor just below the root, nil for the root itself.
func topScope(s *graph.Scope) *graph.Scope {
	if s == nil || s.Parent == nil {
		return nil
	}
	for s.Parent.Parent != nil {
		s = s.Parent
	}
	return s
}
