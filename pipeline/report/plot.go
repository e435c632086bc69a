package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// point is one value of a series at a time.
type point struct {
	T time.Time
	V float64
}

// series is a named line (or bars) of points, drawn in Color.
type series struct {
	Name   string
	Color  string
	Points []point
	Dashed bool
}

// chart is a time chart: lines over [From, To], optional horizontal
// reference lines, y from 0 (or the data's minimum, if negative) up.
type chart struct {
	ID, Title, YLabel string
	From, To          time.Time
	Series            []series
	Refs              []ref
}

// ref is a horizontal reference line (a limit).
type ref struct {
	Name  string
	Y     float64
	Color string
}

const (
	plotW, plotH           = 720, 220
	padL, padR, padT, padB = 56, 16, 12, 36
)

// svg draws the chart as an inline SVG element. Every point is a circle
// carrying data-series, data-t (RFC 3339) and data-v, so tests (and
// curious readers of the source) can check the values.
func (c chart) svg() template.HTML {
	var b strings.Builder
	ymax, ymin := 0.0, 0.0
	n := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			ymax, ymin = math.Max(ymax, p.V), math.Min(ymin, p.V)
			n++
		}
	}
	for _, r := range c.Refs {
		ymax, ymin = math.Max(ymax, r.Y), math.Min(ymin, r.Y)
	}
	if ymax == ymin {
		ymax = ymin + 1
	}
	ymax *= 1.08
	span := c.To.Sub(c.From).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 {
		return padL + (plotW-padL-padR)*t.Sub(c.From).Seconds()/span
	}
	y := func(v float64) float64 {
		return padT + (plotH-padT-padB)*(1-(v-ymin)/(ymax-ymin))
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" class="plot" data-points="%d" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		esc(c.ID), n, plotW, plotH, plotW, plotH, esc(c.Title))
	// Axes and grid: four y ticks, a tick per ~week on x.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, padL, plotH-padB, plotW-padR, plotH-padB)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, padL, padT, padL, plotH-padB)
	for i := 0; i <= 4; i++ {
		v := ymin + (ymax-ymin)*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, padL, y(v), plotW-padR, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`, padL-4, y(v)+3, esc(short(v)))
	}
	days := c.To.Sub(c.From).Hours() / 24
	step := max(1, int(math.Ceil(days/6)))
	for d := 0; float64(d) <= days; d += step {
		t := c.From.Add(time.Duration(d) * 24 * time.Hour)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`, x(t), plotH-padB+14, t.UTC().Format("01-02"))
	}
	fmt.Fprintf(&b, `<text x="12" y="%d" font-size="10" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`, plotH/2, plotH/2, esc(c.YLabel))
	for _, r := range c.Refs {
		fmt.Fprintf(&b, `<line class="ref" data-name="%s" data-v="%s" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-dasharray="6 3"/>`,
			esc(r.Name), num(r.Y), padL, y(r.Y), plotW-padR, y(r.Y), esc(r.Color))
	}
	for _, s := range c.Series {
		if len(s.Points) > 1 {
			var pts []string
			for _, p := range s.Points {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.T), y(p.V)))
			}
			dash := ""
			if s.Dashed {
				dash = ` stroke-dasharray="3 3"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`, esc(s.Color), dash, strings.Join(pts, " "))
		}
		for _, p := range s.Points {
			fmt.Fprintf(&b, `<circle class="pt" data-series="%s" data-t="%s" data-v="%s" cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s %s: %s</title></circle>`,
				esc(s.Name), p.T.UTC().Format(time.RFC3339), num(p.V), x(p.T), y(p.V), esc(s.Color),
				esc(s.Name), p.T.UTC().Format("2006-01-02 15:04"), esc(short(p.V)))
		}
	}
	// Legend.
	lx := padL + 8
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d" font-size="10">%s</text>`, lx, padT+4, esc(s.Color), lx+14, padT+8, esc(s.Name))
		lx += 24 + 6*len(s.Name)
	}
	for _, r := range c.Refs {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d" font-size="10">%s</text>`, lx, padT+4, esc(r.Color), lx+14, padT+8, esc(r.Name))
		lx += 24 + 6*len(r.Name)
	}
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="middle">no data in the last days</text>`, plotW/2, plotH/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: every value above is escaped by esc or is a number
}

// bars draws a horizontal bar chart of counts by label, largest first.
func bars(id, title string, labels []string, counts []int64) template.HTML {
	var b strings.Builder
	h := padT + 22*len(labels) + 8
	if len(labels) == 0 {
		h = 60
	}
	var top int64 = 1
	for _, c := range counts {
		top = max(top, c)
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" class="plot" data-points="%d" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		esc(id), len(labels), plotW, h, plotW, h, esc(title))
	for i, l := range labels {
		w := float64(plotW-220-60) * float64(counts[i]) / float64(top)
		yy := padT + 22*i
		fmt.Fprintf(&b, `<text x="212" y="%d" font-size="11" text-anchor="end">%s</text>`, yy+13, esc(l))
		fmt.Fprintf(&b, `<rect class="bar" data-label="%s" data-v="%d" x="220" y="%d" width="%.1f" height="16" fill="#c0392b"/>`, esc(l), counts[i], yy, w)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11">%d</text>`, 224+w, yy+13, counts[i])
	}
	if len(labels) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="34" font-size="12" text-anchor="middle">nothing quarantined in the last days</text>`, plotW/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: labels are escaped by esc
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// num is a value as data-v holds it: shortest exact decimal.
func num(v float64) string { return fmt.Sprintf("%g", v) }

// short is a value as an axis shows it.
func short(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}
