package plot

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Distribution is one workload's latency samples, in cycles.
type Distribution struct {
	Name    string
	Samples []uint64
}

// Histogram draws latency distributions with their p50 and p99 marked. One
// distribution is drawn as bars; several are overlaid as step lines with a
// legend. Heights are percentages of each distribution's own samples, so
// workloads with different sample counts compare directly.
type Histogram struct {
	Title string
	// XLabel defaults to "latency (<Unit>)".
	XLabel string
	Dists  []Distribution
	// Scale converts cycles to Unit (e.g. 1/250 for µs at 250 MHz);
	// 0 means 1, leaving the axis in cycles.
	Scale float64
	// Unit defaults to "cycles".
	Unit string
	// Bins spans min..p99.9 (0 means 40); slower samples go to one overflow
	// bin, so a rare stall does not squash the body of the distribution.
	Bins          int
	Width, Height int
}

type distStats struct {
	counts             []int
	overflow           int
	n                  int
	p50, p99, p999, lo uint64
}

// percentile is nearest-rank: always a sample that occurred, never an
// interpolated latency nobody saw.
func percentile(sorted []uint64, p float64) uint64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (h Histogram) check() error {
	if len(h.Dists) == 0 {
		return errors.New("no distributions")
	}
	if math.IsNaN(h.Scale) || math.IsInf(h.Scale, 0) || h.Scale < 0 {
		return fmt.Errorf("Scale is %v; want a finite value > 0 (or 0 for cycles)", h.Scale)
	}
	if h.Bins < 0 {
		return fmt.Errorf("Bins is %d; want > 0 (or 0 for 40)", h.Bins)
	}
	for i, d := range h.Dists {
		if len(d.Samples) == 0 {
			return fmt.Errorf("distribution %d (%q) has no samples", i, d.Name)
		}
		if d.Name == "" && len(h.Dists) > 1 {
			return fmt.Errorf("distribution %d has no name (the legend needs one)", i)
		}
	}
	return nil
}

// Render returns the chart as an SVG document.
func (h Histogram) Render() ([]byte, error) {
	if err := h.check(); err != nil {
		if h.Title != "" {
			return nil, fmt.Errorf("plot: histogram %q: %w", h.Title, err)
		}
		return nil, fmt.Errorf("plot: histogram: %w", err)
	}
	scale, unit, bins, xLabel := h.Scale, h.Unit, h.Bins, h.XLabel
	if scale == 0 {
		scale = 1
	}
	if unit == "" {
		unit = "cycles"
	}
	if bins == 0 {
		bins = 40
	}
	if xLabel == "" {
		xLabel = "latency (" + unit + ")"
	}

	stats := make([]distStats, len(h.Dists))
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for i, d := range h.Dists {
		sorted := slices.Clone(d.Samples)
		slices.Sort(sorted)
		st := &stats[i]
		st.n, st.lo = len(sorted), sorted[0]
		st.p50, st.p99, st.p999 = percentile(sorted, 0.50), percentile(sorted, 0.99), percentile(sorted, 0.999)
		lo, hi = min(lo, st.lo), max(hi, st.p999)
	}
	// Bins are whole cycles wide: fractional widths would alias, giving some
	// bins two integer latencies and their neighbours one.
	w := max(1, (hi-lo+1+uint64(bins)-1)/uint64(bins))
	nb := int((hi - lo + w) / w)
	end := lo + uint64(nb)*w
	yMax, anyOverflow := 0.0, false
	for i, d := range h.Dists {
		st := &stats[i]
		st.counts = make([]int, nb)
		for _, v := range d.Samples {
			if v >= end {
				st.overflow++
			} else {
				st.counts[(v-lo)/w]++
			}
		}
		for _, c := range append(slices.Clone(st.counts), st.overflow) {
			yMax = math.Max(yMax, pct(c, st.n))
		}
		anyOverflow = anyOverflow || st.overflow > 0
	}

	var legend []legendEntry
	if len(h.Dists) > 1 || h.Dists[0].Name != "" {
		for i, d := range h.Dists {
			legend = append(legend, legendEntry{label: fmt.Sprintf("%s (n=%d)", d.Name, stats[i].n), colour: colour(i), marker: -1})
		}
	}
	f := newFrame(h.Width, h.Height, h.Title, 0, yMax, legend)
	var s svg
	s.open(f.width, f.height)
	f.decorate(&s, h.Title, xLabel, "samples (%)", legend)

	// The overflow bin gets its own slot right of the axis' range, since
	// it has no meaningful width on the latency scale.
	dataRight, slotW := f.right, 0.0
	if anyOverflow {
		slotW = math.Max(8, (f.right-f.left)/float64(nb+1))
		dataRight = f.right - slotW - 6
	}
	ticks, dec := linearTicks(float64(lo)*scale, float64(end)*scale, 6)
	t0, t1 := ticks[0], ticks[len(ticks)-1]
	xpos := func(cycles uint64) float64 {
		return f.left + (float64(cycles)*scale-t0)/(t1-t0)*(dataRight-f.left)
	}
	for _, t := range ticks {
		x := f.left + (t-t0)/(t1-t0)*(dataRight-f.left)
		s.line(x, f.bottom, x, f.bottom+4, `stroke="#444"`)
		s.text(x, f.bottom+17, "middle", "", tickLabel(t, dec))
	}

	single := len(h.Dists) == 1
	for i, st := range stats {
		c := colour(i)
		s.printf("<g class=\"distribution\" data-name=\"%s\">\n", esc(h.Dists[i].Name))
		if single {
			for b, n := range st.counts {
				if n == 0 {
					continue
				}
				x0, x1, y := xpos(lo+uint64(b)*w), xpos(lo+uint64(b+1)*w), f.y(pct(n, st.n))
				s.printf("<rect class=\"bin\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"/>\n",
					num(x0), num(y), num(x1-x0), num(f.bottom-y), lighten(c, 0.3))
			}
		} else {
			// Only from the first to the last occupied bin: a shared
			// baseline drawn by every workload hides where each begins.
			// Each minimum is below end, so both loops stop.
			b0, b1 := 0, len(st.counts)-1
			for st.counts[b0] == 0 {
				b0++
			}
			for st.counts[b1] == 0 {
				b1--
			}
			d := "M" + num(xpos(lo+uint64(b0)*w)) + " " + num(f.bottom)
			for b := b0; b <= b1; b++ {
				d += "V" + num(f.y(pct(st.counts[b], st.n))) + "H" + num(xpos(lo+uint64(b+1)*w))
			}
			d += "V" + num(f.bottom)
			s.printf("<path class=\"steps\" d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"/>\n", d, c)
		}
		if st.overflow > 0 {
			// At most 0.1% of samples overflow, which would round to no
			// height at all; the slot must still show that a tail exists.
			x0, y := dataRight+6, math.Min(f.y(pct(st.overflow, st.n)), f.bottom-2)
			fill := lighten(c, 0.3)
			if !single {
				fill = "none"
			}
			s.printf("<rect class=\"overflow\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\" stroke=\"%s\"/>\n",
				num(x0), num(y), num(slotW), num(f.bottom-y), fill, c)
		}
		for j, p := range []struct {
			name string
			v    uint64
		}{{"p50", st.p50}, {"p99", st.p99}} {
			x := xpos(p.v)
			s.line(x, f.top, x, f.bottom, fmt.Sprintf(`class="%s" stroke="%s" stroke-dasharray="4 3"`, p.name, c))
			// Rows per distribution and percentile keep labels of nearby
			// markers from landing on each other.
			y := f.top + 14 + 14*float64(2*i+j)
			label := p.name + " " + sig(float64(p.v)*scale) + " " + unit
			// A white halo keeps the label legible across other markers.
			paint := ` fill="` + c + `" stroke="white" stroke-width="3" paint-order="stroke"`
			if x > (f.left+dataRight)/2 {
				s.text(x-3, y, "end", paint, label)
			} else {
				s.text(x+3, y, "start", paint, label)
			}
		}
		s.printf("</g>\n")
	}
	if anyOverflow {
		s.line(dataRight+3, f.top, dataRight+3, f.bottom, `stroke="#999" stroke-dasharray="2 2"`)
		// Below the tick labels: the last tick sits right next to the slot.
		s.text(f.right, f.bottom+30, "end", ` font-size="10"`, "overflow ≥"+sig(float64(end)*scale)+" "+unit)
	}
	return s.close(), nil
}

func pct(c, n int) float64 { return 100 * float64(c) / float64(n) }
