// Package plot renders benchmark results as small, self-contained SVG charts:
// line charts of throughput against KV size, and latency histograms.
//
// Output is byte-identical from run to run (no maps, no clocks, floats at
// fixed precision) so charts can be committed next to the numbers they show
// and diffed like any other golden file.
package plot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	defaultWidth  = 640
	defaultHeight = 400
	fontSize      = 12
	// A sans-serif glyph averages about 0.6 em; good enough to size margins
	// without a font library, at the cost of a loose fit for wide text.
	charWidth = 0.6 * fontSize
)

// Colour-blind-friendlier than the SVG named colours, and distinct in print.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

func colour(i int) string { return palette[i%len(palette)] }

// lighten mixes a #rrggbb colour with white so a reference curve reads as
// the same series, but secondary.
func lighten(hex string, f float64) string {
	v, _ := strconv.ParseUint(hex[1:], 16, 32)
	mix := func(c uint64) uint64 { return uint64(math.Round(float64(c) + (255-float64(c))*f)) }
	return fmt.Sprintf("#%02x%02x%02x", mix(v>>16&0xff), mix(v>>8&0xff), mix(v&0xff))
}

// WriteFile writes a rendered chart, creating the directory if needed, since
// charts usually land next to a fresh run's results.
func WriteFile(path string, svg []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, svg, 0o644)
}

// num formats a coordinate. Two decimals is finer than any display needs and
// keeps golden files stable across platforms' float printing.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if s == "-0.00" {
		return "0.00"
	}
	return s
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // bytes.Buffer cannot fail
	return b.String()
}

func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * charWidth }

// sig formats a value for a label with about three significant digits, so
// 1234 stays "1234" rather than "1.23e+03", and 40 cycles is not "40.0".
func sig(v float64) string {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	d := max(0, 2-int(math.Floor(math.Log10(math.Abs(v)))))
	s := strconv.FormatFloat(v, 'f', d, 64)
	if d > 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

type svg struct{ b bytes.Buffer }

func (s *svg) printf(format string, a ...any) { fmt.Fprintf(&s.b, format, a...) }

func (s *svg) line(x1, y1, x2, y2 float64, attrs string) {
	s.printf("<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" %s/>\n", num(x1), num(y1), num(x2), num(y2), attrs)
}

func (s *svg) text(x, y float64, anchor, attrs, str string) {
	s.printf("<text x=\"%s\" y=\"%s\" text-anchor=\"%s\"%s>%s</text>\n", num(x), num(y), anchor, attrs, esc(str))
}

func (s *svg) open(w, h float64) {
	s.printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"sans-serif\" font-size=\"%d\">\n",
		num(w), num(h), num(w), num(h), fontSize)
	s.printf("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n")
}

func (s *svg) close() []byte {
	s.printf("</svg>\n")
	return s.b.Bytes()
}

// niceStep rounds span/n up to 1, 2 or 5 times a power of ten, the steps
// people read off an axis without arithmetic.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// linearTicks covers [lo, hi] with about n nice steps; the first and last
// ticks become the axis ends so the data never touches an unlabeled edge.
func linearTicks(lo, hi float64, n int) (ticks []float64, decimals int) {
	if hi <= lo {
		hi = lo + math.Max(math.Abs(lo), 1)
	}
	step := niceStep(hi-lo, n)
	start := math.Floor(lo/step+1e-9) * step
	k := int(math.Ceil(hi/step-1e-9) - math.Floor(lo/step+1e-9))
	for i := 0; i <= k; i++ {
		// Multiply rather than accumulate, so 0.1+0.1+0.1 drift never
		// reaches a label.
		ticks = append(ticks, start+float64(i)*step)
	}
	return ticks, max(0, -int(math.Floor(math.Log10(step)+1e-9)))
}

// logTicks covers [lo, hi] (both > 0) with 1-2-5 values per decade, or with
// powers of ten alone once 1-2-5 would crowd the axis.
func logTicks(lo, hi float64) []float64 {
	e0, e1 := int(math.Floor(math.Log10(lo)+1e-9)), int(math.Ceil(math.Log10(hi)-1e-9))
	mults := []float64{1, 2, 5}
	if e1-e0 > 3 {
		mults = []float64{1}
	}
	var cand []float64
	for e := e0; e <= e1+1; e++ {
		for _, m := range mults {
			// Divide for negative exponents: 5/100 is exactly 0.05 as a
			// label, 5*0.01 is not.
			if e < 0 {
				cand = append(cand, m/math.Pow(10, float64(-e)))
			} else {
				cand = append(cand, m*math.Pow(10, float64(e)))
			}
		}
	}
	i, j := 0, len(cand)-1
	for i+1 < len(cand) && cand[i+1] <= lo*(1+1e-9) {
		i++
	}
	for j-1 >= 0 && cand[j-1] >= hi*(1-1e-9) {
		j--
	}
	if j <= i {
		j = i + 1
	}
	return cand[i : j+1]
}

func tickLabel(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Trim(s, "-0.") == "" {
		return "0"
	}
	return s
}

type legendEntry struct {
	label  string
	colour string
	dashed bool
	marker int // index into markers; -1 for none
	hollow bool
}

// frame is the layout shared by every chart: the plot area in pixels and the
// y scale, which always includes 0 so bar heights and trends are honest.
type frame struct {
	width, height            float64
	left, top, right, bottom float64
	yTicks                   []float64
	yDecimals                int
}

func newFrame(width, height int, title string, yMin, yMax float64, legend []legendEntry) frame {
	f := frame{width: float64(width), height: float64(height)}
	if width <= 0 {
		f.width = defaultWidth
	}
	if height <= 0 {
		f.height = defaultHeight
	}
	f.yTicks, f.yDecimals = linearTicks(math.Min(0, yMin), math.Max(0, yMax), 5)
	labelW := 0.0
	for _, t := range f.yTicks {
		labelW = math.Max(labelW, textWidth(tickLabel(t, f.yDecimals)))
	}
	legendW := 0.0
	for _, e := range legend {
		legendW = math.Max(legendW, 40+textWidth(e.label))
	}
	f.left = 30 + labelW
	f.top = 16
	if title != "" {
		f.top = 40
	}
	// The legend sits outside the data, but never takes more than 40% of
	// the width: a long name overflowing beats an unreadable plot.
	f.right = f.width - 16 - math.Min(legendW, 0.4*f.width)
	f.bottom = f.height - 48
	return f
}

func (f frame) y(v float64) float64 {
	lo, hi := f.yTicks[0], f.yTicks[len(f.yTicks)-1]
	return f.bottom - (v-lo)/(hi-lo)*(f.bottom-f.top)
}

// decorate draws everything but the data: title, y grid, axis labels, legend.
// The plot-area rect carries a class so tests can find the data's bounds.
func (f frame) decorate(s *svg, title, xLabel, yLabel string, legend []legendEntry) {
	if title != "" {
		s.text(f.width/2, 24, "middle", ` font-size="15" font-weight="bold"`, title)
	}
	s.printf("<rect class=\"plot-area\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" stroke=\"#444\"/>\n",
		num(f.left), num(f.top), num(f.right-f.left), num(f.bottom-f.top))
	for _, t := range f.yTicks {
		y := f.y(t)
		if t != f.yTicks[0] && t != f.yTicks[len(f.yTicks)-1] {
			s.line(f.left, y, f.right, y, `stroke="#ddd"`)
		}
		s.line(f.left-4, y, f.left, y, `stroke="#444"`)
		s.text(f.left-7, y+4, "end", "", tickLabel(t, f.yDecimals))
	}
	s.text((f.left+f.right)/2, f.height-10, "middle", "", xLabel)
	cy := (f.top + f.bottom) / 2
	s.text(16, cy, "middle", fmt.Sprintf(` transform="rotate(-90 16 %s)"`, num(cy)), yLabel)
	for i, e := range legend {
		x, y := f.right+16, f.top+10+float64(i)*18
		dash := ""
		if e.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		s.line(x, y, x+24, y, fmt.Sprintf(`stroke="%s" stroke-width="2"%s`, e.colour, dash))
		if e.marker >= 0 {
			drawMarker(s, e.marker, x+12, y, e.colour, e.hollow)
		}
		s.text(x+30, y+4, "start", "", e.label)
	}
}

// Shapes as well as colours, so series survive greyscale printing.
const numMarkers = 4

func drawMarker(s *svg, shape int, x, y float64, c string, hollow bool) {
	paint := fmt.Sprintf(`class="marker" fill="%s" stroke="%s"`, c, c)
	if hollow {
		paint = fmt.Sprintf(`class="marker" fill="white" stroke="%s" stroke-width="1.5"`, c)
	}
	switch shape % numMarkers {
	case 0:
		s.printf("<circle cx=\"%s\" cy=\"%s\" r=\"3.5\" %s/>\n", num(x), num(y), paint)
	case 1:
		s.printf("<rect x=\"%s\" y=\"%s\" width=\"6\" height=\"6\" %s/>\n", num(x-3), num(y-3), paint)
	case 2:
		s.printf("<path d=\"M%s %sL%s %sL%s %sZ\" %s/>\n", num(x), num(y-4), num(x+4), num(y+3), num(x-4), num(y+3), paint)
	default:
		s.printf("<path d=\"M%s %sL%s %sL%s %sL%s %sZ\" %s/>\n", num(x), num(y-4.5), num(x+4.5), num(y), num(x), num(y+4.5), num(x-4.5), num(y), paint)
	}
}

func checkFinite(what string, vs []float64) error {
	for i, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s[%d] is %v", what, i, v)
		}
	}
	return nil
}
