package plot

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Series is one named curve of a LineChart.
type Series struct {
	Name string
	// X is left nil on a categorical chart, where Y[i] belongs to
	// LineChart.XTicks[i]; otherwise X and Y have equal lengths.
	X, Y []float64
	// RefX and RefY are published numbers for the same quantity, drawn
	// dashed in a lighter shade of this series' colour so measured and
	// expected read as a pair. Nil for none; same length rules as X and Y.
	RefX, RefY []float64
}

// LineChart plots several series against a shared x axis with markers and a
// legend. The y axis always starts at 0 (or below, for negative data).
type LineChart struct {
	Title, XLabel, YLabel string
	// XTicks makes the x axis categorical: evenly spaced labels, which suits
	// a handful of KV sizes (5, 10, 15, 62, 254 B) better than any numeric
	// scale. Leave nil for a numeric axis taken from the series' X.
	XTicks []string
	// LogX uses a logarithmic numeric x axis; all x must be > 0.
	LogX   bool
	Series []Series
	// RefLabel names the reference curves in the legend ("<name> (paper)").
	RefLabel string
	// Width and Height in px; 0 means 640×400.
	Width, Height int
}

func (c LineChart) check() error {
	if len(c.Series) == 0 {
		return errors.New("no series")
	}
	if c.XTicks != nil && c.LogX {
		return errors.New("LogX is meaningless with categorical XTicks")
	}
	for i, s := range c.Series {
		if s.Name == "" {
			return fmt.Errorf("series %d has no name (the legend needs one)", i)
		}
		for _, p := range []struct {
			x, y []float64
			what string
		}{{s.X, s.Y, ""}, {s.RefX, s.RefY, "Ref"}} {
			if p.what == "Ref" && p.x == nil && p.y == nil {
				continue
			}
			switch {
			case c.XTicks != nil && p.x != nil:
				return fmt.Errorf("series %q: %sX given but the chart is categorical (XTicks set)", s.Name, p.what)
			case c.XTicks != nil && len(p.y) != len(c.XTicks):
				return fmt.Errorf("series %q: %d %sY values for %d XTicks", s.Name, len(p.y), p.what, len(c.XTicks))
			case c.XTicks == nil && len(p.x) != len(p.y):
				return fmt.Errorf("series %q: %d %sX values but %d %sY values", s.Name, len(p.x), p.what, len(p.y), p.what)
			case len(p.y) == 0:
				return fmt.Errorf("series %q: no %sY values", s.Name, p.what)
			}
			if err := checkFinite(fmt.Sprintf("series %q: %sX", s.Name, p.what), p.x); err != nil {
				return err
			}
			if err := checkFinite(fmt.Sprintf("series %q: %sY", s.Name, p.what), p.y); err != nil {
				return err
			}
			for j, x := range p.x {
				if c.LogX && x <= 0 {
					return fmt.Errorf("series %q: %sX[%d] = %v cannot go on a log axis", s.Name, p.what, j, x)
				}
			}
		}
	}
	return nil
}

// Render returns the chart as an SVG document.
func (c LineChart) Render() ([]byte, error) {
	if err := c.check(); err != nil {
		if c.Title != "" {
			return nil, fmt.Errorf("plot: line chart %q: %w", c.Title, err)
		}
		return nil, fmt.Errorf("plot: line chart: %w", err)
	}
	refLabel := c.RefLabel
	if refLabel == "" {
		refLabel = "paper"
	}
	yMin, yMax := math.Inf(1), math.Inf(-1)
	xMin, xMax := math.Inf(1), math.Inf(-1)
	var legend []legendEntry
	for i, s := range c.Series {
		for _, v := range append(append([]float64(nil), s.Y...), s.RefY...) {
			yMin, yMax = math.Min(yMin, v), math.Max(yMax, v)
		}
		for _, v := range append(append([]float64(nil), s.X...), s.RefX...) {
			xMin, xMax = math.Min(xMin, v), math.Max(xMax, v)
		}
		legend = append(legend, legendEntry{label: s.Name, colour: colour(i), marker: i})
		if s.RefY != nil {
			legend = append(legend, legendEntry{label: s.Name + " (" + refLabel + ")", colour: lighten(colour(i), 0.35), dashed: true, marker: i, hollow: true})
		}
	}
	f := newFrame(c.Width, c.Height, c.Title, yMin, yMax, legend)
	var s svg
	s.open(f.width, f.height)
	f.decorate(&s, c.Title, c.XLabel, c.YLabel, legend)

	// xpos maps a point's x (or, on a categorical chart, its index) to px.
	var xpos func(i int, x float64) float64
	tick := func(x float64, label string) {
		s.line(x, f.bottom, x, f.bottom+4, `stroke="#444"`)
		s.text(x, f.bottom+17, "middle", "", label)
	}
	switch {
	case c.XTicks != nil:
		slot := (f.right - f.left) / float64(len(c.XTicks))
		xpos = func(i int, _ float64) float64 { return f.left + (float64(i)+0.5)*slot }
		for i, l := range c.XTicks {
			tick(xpos(i, 0), l)
		}
	case c.LogX:
		ticks := logTicks(xMin, xMax)
		lo, hi := math.Log10(ticks[0]), math.Log10(ticks[len(ticks)-1])
		xpos = func(_ int, x float64) float64 { return f.left + (math.Log10(x)-lo)/(hi-lo)*(f.right-f.left) }
		for _, t := range ticks {
			tick(xpos(0, t), strconv.FormatFloat(t, 'f', -1, 64))
		}
	default:
		ticks, dec := linearTicks(xMin, xMax, 6)
		lo, hi := ticks[0], ticks[len(ticks)-1]
		xpos = func(_ int, x float64) float64 { return f.left + (x-lo)/(hi-lo)*(f.right-f.left) }
		for _, t := range ticks {
			tick(xpos(0, t), tickLabel(t, dec))
		}
	}

	curve := func(xs, ys []float64, col string, shape int, ref bool) {
		order := make([]int, len(ys))
		for i := range order {
			order[i] = i
		}
		// Lines join points left to right whatever order they came in.
		if xs != nil {
			sort.SliceStable(order, func(a, b int) bool { return xs[order[a]] < xs[order[b]] })
		}
		pts := make([]string, len(ys))
		at := func(i int) (float64, float64) {
			x := 0.0
			if xs != nil {
				x = xs[i]
			}
			return xpos(i, x), f.y(ys[i])
		}
		for k, i := range order {
			x, y := at(i)
			pts[k] = num(x) + "," + num(y)
		}
		style := fmt.Sprintf(`stroke="%s" stroke-width="2"`, col)
		if ref {
			style += ` stroke-dasharray="6 4"`
		}
		s.printf("<polyline points=\"%s\" fill=\"none\" %s/>\n", strings.Join(pts, " "), style)
		for _, i := range order {
			x, y := at(i)
			drawMarker(&s, shape, x, y, col, ref)
		}
	}
	// References first, so measured data is drawn over them.
	for i, sr := range c.Series {
		if sr.RefY != nil {
			s.printf("<g class=\"reference\" data-name=\"%s\">\n", esc(sr.Name))
			curve(sr.RefX, sr.RefY, lighten(colour(i), 0.35), i, true)
			s.printf("</g>\n")
		}
	}
	for i, sr := range c.Series {
		s.printf("<g class=\"series\" data-name=\"%s\">\n", esc(sr.Name))
		curve(sr.X, sr.Y, colour(i), i, false)
		s.printf("</g>\n")
	}
	return s.close(), nil
}
