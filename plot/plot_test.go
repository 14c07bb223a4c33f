package plot

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var kvSizes = []string{"5", "10", "15", "62", "254"}

func throughput() LineChart {
	return LineChart{
		Title:  "GET throughput <uniform> & skewed",
		XLabel: "KV size (bytes)",
		YLabel: "Mops",
		XTicks: kvSizes,
		Series: []Series{
			{Name: "uniform", Y: []float64{152.5, 149, 140, 92.3, 31}, RefY: []float64{180, 175, 170, 100, 33}},
			{Name: "long-tail", Y: []float64{120, 118.4, 110, 80, 28}},
		},
	}
}

func logChart() LineChart {
	return LineChart{
		Title: "PUT throughput", XLabel: "KV size (bytes)", YLabel: "Mops", LogX: true,
		Series: []Series{
			{Name: "measured", X: []float64{5, 10, 15, 62, 254}, Y: []float64{60, 58, 55, 40, 12}},
			{Name: "sim", X: []float64{254, 5, 62}, Y: []float64{14, 61, 39}, RefX: []float64{5, 254}, RefY: []float64{70, 15}},
		},
	}
}

// latencies is a skewed, deterministic distribution with a rare slow tail,
// made without math/rand so golden files never depend on its algorithm.
func latencies(n int, base uint64, seed uint64) []uint64 {
	out := make([]uint64, n)
	x := seed
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v := base + (x%64)*(x>>8%64)/16
		if x%4999 == 0 {
			v += 2000
		}
		out[i] = v
	}
	return out
}

func oneDist() Histogram {
	return Histogram{Title: "GET latency", Scale: 1.0 / 250, Unit: "µs",
		Dists: []Distribution{{Samples: latencies(5000, 200, 1)}}}
}

func twoDists() Histogram {
	return Histogram{Title: "latency by workload", Scale: 1.0 / 250, Unit: "µs", Bins: 30,
		Dists: []Distribution{
			{Name: "GET 10B", Samples: latencies(5000, 200, 1)},
			{Name: "PUT 254B", Samples: latencies(3000, 320, 7)},
		}}
}

type renderer interface{ Render() ([]byte, error) }

var golden = []struct {
	file string
	r    renderer
}{
	{"line_categorical.svg", throughput()},
	{"line_logx.svg", logChart()},
	{"hist_single.svg", oneDist()},
	{"hist_overlay.svg", twoDists()},
}

func TestGolden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.file, func(t *testing.T) {
			got, err := g.r.Render()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", g.file)
			if *update {
				if err := WriteFile(path, got); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs (-want +got; go test -update if intended):\n%s", path, d)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for _, g := range golden {
		a, _ := g.r.Render()
		b, _ := g.r.Render()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renders differ", g.file)
		}
	}
	// Sample order is an accident of the run; the chart must not show it.
	h := oneDist()
	a, _ := h.Render()
	s := h.Dists[0].Samples
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	b, _ := h.Render()
	if !bytes.Equal(a, b) {
		t.Error("histogram depends on sample order")
	}
}

type elem struct {
	name  string
	group string // data-name of the enclosing <g>
	attr  map[string]string
}

// parse decodes the whole document, failing on anything that is not XML.
func parse(t *testing.T, doc []byte) []elem {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var out []elem
	var groups []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := elem{name: tok.Name.Local, attr: map[string]string{}}
			for _, a := range tok.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			if len(groups) > 0 {
				e.group = groups[len(groups)-1]
			}
			if e.name == "g" {
				groups = append(groups, e.attr["data-name"])
			}
			out = append(out, e)
		case xml.EndElement:
			if tok.Name.Local == "g" {
				groups = groups[:len(groups)-1]
			}
		}
	}
	return out
}

func TestXML(t *testing.T) {
	for _, g := range golden {
		got, _ := g.r.Render()
		els := parse(t, got)
		if els[0].name != "svg" {
			t.Errorf("%s: root is %q", g.file, els[0].name)
		}
	}
	got, _ := throughput().Render()
	if !bytes.Contains(got, []byte("GET throughput &lt;uniform&gt; &amp; skewed")) {
		t.Error("title not escaped")
	}
}

func f(t *testing.T, e elem, k string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.attr[k], 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", e.name, k, e.attr[k], err)
	}
	return v
}

func plotArea(t *testing.T, els []elem) (left, top, right, bottom float64) {
	for _, e := range els {
		if e.attr["class"] == "plot-area" {
			return f(t, e, "x"), f(t, e, "y"), f(t, e, "x") + f(t, e, "width"), f(t, e, "y") + f(t, e, "height")
		}
	}
	t.Fatal("no plot-area rect")
	return
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.011 }

func TestLineCoordinates(t *testing.T) {
	c := LineChart{XTicks: []string{"a", "b", "c", "d"},
		Series: []Series{{Name: "s", Y: []float64{0, 50, 100, 25}}}}
	out, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	els := parse(t, out)
	left, top, right, bottom := plotArea(t, els)
	var cx, cy []float64
	for _, e := range els {
		if e.name == "circle" && e.group == "s" {
			cx, cy = append(cx, f(t, e, "cx")), append(cy, f(t, e, "cy"))
		}
	}
	if len(cy) != 4 {
		t.Fatalf("%d markers, want 4", len(cy))
	}
	// 100 is a nice tick, so it is the axis top; 0 is the axis bottom.
	if !near(cy[2], top) || !near(cy[0], bottom) || !near(cy[1], (top+bottom)/2) {
		t.Errorf("marker ys %v; plot area top %v bottom %v", cy, top, bottom)
	}
	slot := (right - left) / 4
	for i, x := range cx {
		if want := left + (float64(i)+0.5)*slot; !near(x, want) {
			t.Errorf("marker %d at x %v, want %v", i, x, want)
		}
	}

	// On a log axis the geometric mean of the ends is the middle.
	c = LineChart{LogX: true, Series: []Series{{Name: "s", X: []float64{10, 100, 1000}, Y: []float64{1, 1, 1}}}}
	out, _ = c.Render()
	els = parse(t, out)
	left, _, right, _ = plotArea(t, els)
	var xs []float64
	for _, e := range els {
		if e.name == "circle" && e.group == "s" {
			xs = append(xs, f(t, e, "cx"))
		}
	}
	if !near(xs[0], left) || !near(xs[1], (left+right)/2) || !near(xs[2], right) {
		t.Errorf("log x %v; plot area %v..%v", xs, left, right)
	}
}

func TestHistogramCoordinates(t *testing.T) {
	// Every sample equal: one bin holding 100%, the top of the y axis.
	h := Histogram{Dists: []Distribution{{Samples: []uint64{40, 40, 40, 40}}}}
	out, err := h.Render()
	if err != nil {
		t.Fatal(err)
	}
	els := parse(t, out)
	left, top, _, bottom := plotArea(t, els)
	var bins, p50 []elem
	for _, e := range els {
		switch e.attr["class"] {
		case "bin":
			bins = append(bins, e)
		case "p50":
			p50 = append(p50, e)
		}
	}
	if len(bins) != 1 || !near(f(t, bins[0], "y"), top) || !near(f(t, bins[0], "y")+f(t, bins[0], "height"), bottom) {
		t.Fatalf("bins %v, want one from %v to %v", bins, top, bottom)
	}
	if len(p50) != 1 || !near(f(t, p50[0], "x1"), f(t, bins[0], "x")) || f(t, p50[0], "x1") < left {
		t.Errorf("p50 marker %v should sit on the bin's left edge %v", p50, bins[0].attr["x"])
	}
	if !strings.Contains(string(out), "p50 40 cycles") {
		t.Error("p50 label missing")
	}
}

func TestPercentileAndBins(t *testing.T) {
	s := make([]uint64, 1000)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	for _, c := range []struct {
		p    float64
		want uint64
	}{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0, 1}} {
		if got := percentile(s, c.p); got != c.want {
			t.Errorf("percentile(1..1000, %v) = %d, want %d", c.p, got, c.want)
		}
	}
	// 1..999 in 40 bins of 25 cycles covers 1..1000; a stall past that
	// overflows.
	s[999] = 5000
	out, _ := Histogram{Dists: []Distribution{{Samples: s}}}.Render()
	els := parse(t, out)
	var bins, over int
	for _, e := range els {
		bins += map[bool]int{true: 1}[e.attr["class"] == "bin"]
		over += map[bool]int{true: 1}[e.attr["class"] == "overflow"]
	}
	if bins != 40 || over != 1 {
		t.Errorf("%d bins and %d overflow bins, want 40 and 1", bins, over)
	}
}

func TestTicks(t *testing.T) {
	got, dec := linearTicks(0, 183, 5)
	if d := cmp.Diff([]float64{0, 50, 100, 150, 200}, got); d != "" || dec != 0 {
		t.Errorf("linearTicks(0,183): %d decimals, %s", dec, d)
	}
	got, dec = linearTicks(0, 0.7, 5)
	if d := cmp.Diff([]float64{0, 0.2, 0.4, 0.6000000000000001, 0.8}, got); d != "" || dec != 1 {
		t.Errorf("linearTicks(0,0.7): %d decimals, %s", dec, d)
	}
	if d := cmp.Diff([]float64{5, 10, 20, 50, 100, 200, 500}, logTicks(5, 254)); d != "" {
		t.Errorf("logTicks(5,254): %s", d)
	}
	if d := cmp.Diff([]float64{0.05, 0.1}, logTicks(0.05, 0.05)); d != "" {
		t.Errorf("logTicks(0.05,0.05): %s", d)
	}
}

func TestErrors(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		r    renderer
		want string
	}{
		{LineChart{Title: "T"}, `plot: line chart "T": no series`},
		{LineChart{XTicks: kvSizes, Series: []Series{{Name: "a", Y: []float64{1, 2}}}}, `series "a": 2 Y values for 5 XTicks`},
		{LineChart{XTicks: kvSizes, Series: []Series{{Name: "a", Y: []float64{1, 2, 3, 4, 5}, RefY: []float64{1}}}}, `series "a": 1 RefY values for 5 XTicks`},
		{LineChart{Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{1, 2}}}}, `series "a": 1 X values but 2 Y values`},
		{LineChart{Series: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1, nan}}}}, `series "a": Y[1] is NaN`},
		{LineChart{Series: []Series{{Name: "a"}}}, `series "a": no Y values`},
		{LineChart{Series: []Series{{Y: []float64{1}, X: []float64{1}}}}, `series 0 has no name`},
		{LineChart{XTicks: kvSizes, Series: []Series{{Name: "a", X: []float64{1}}}}, `series "a": X given but the chart is categorical`},
		{LineChart{LogX: true, Series: []Series{{Name: "a", X: []float64{0, 1}, Y: []float64{1, 1}}}}, `series "a": X[0] = 0 cannot go on a log axis`},
		{Histogram{Title: "H"}, `plot: histogram "H": no distributions`},
		{Histogram{Dists: []Distribution{{Name: "get"}}}, `distribution 0 ("get") has no samples`},
		{Histogram{Scale: nan, Dists: []Distribution{{Samples: []uint64{1}}}}, `Scale is NaN`},
		{Histogram{Dists: []Distribution{{Name: "a", Samples: []uint64{1}}, {Samples: []uint64{1}}}}, `distribution 1 has no name`},
	} {
		_, err := c.r.Render()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.r, err, c.want)
		}
	}
}
