package testbenches

import (
	"context"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/vector"
)

// The generated kvd_vec and golden/vector's model announce the same ports.
func TestVectorPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_vec", vector.Ports)
}

// runVector co-simulates kvd_vec for c until ops results have been
// compared, and checks that every coverage point was hit.
func runVector(t *testing.T, c config.Config, seed, ops uint64) {
	t.Helper()
	bin := buildModel(t, c, "kvd_vec", nil)
	m, err := vector.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newVecStim(c, seed, ops)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, m, stim, cosim.Options{HangCycles: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if stim.completed < ops || stim.checked != stim.completed {
		t.Fatalf("%d results, %d checked against vector.Exec, want %d", stim.completed, stim.checked, ops)
	}
	pts := stim.Points()
	for _, p := range append(vecPoints, vecFnPoints(c)...) {
		if pts[p] == 0 && vecReachable(c, p) {
			t.Errorf("coverage point %s not hit", p)
		}
	}
	t.Logf("element_bits %d: %d operations, %d checked against vector.Exec, %d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		c.Vector.ElementBits, stim.completed, stim.checked, res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
	t.Logf("coverage %v", pts)
	noLeftovers(t, bin)
}

// vecReachable tells whether point p can be hit at c's sizes: with 1-byte
// elements no value has trailing bytes, and when in_dlen's width holds no
// value above V no Δ is longer than V.
func vecReachable(c config.Config, p string) bool {
	vp := vector.ParamsOf(c)
	switch p {
	case "vector.trailing":
		return vp.EB > 1
	case "vector.dlen_beyond_v":
		return model.Mask(vp.VL) > uint64(vp.V)
	}
	return true
}

func vecFnPoints(c config.Config) []string {
	var names []string
	for _, n := range lambdaNames(c) {
		names = append(names, "vector.fn."+n)
	}
	return names
}

// The generated kvd_vec matches the golden model, expr at the element width,
// on operations of every kind. make test runs 100 k (about 25 s; every point
// is hit well before); KVD_VECTOR_OPS=1000000 is the million-operation run
// vector.md §5 reports (50.7 M cycles, about 4 minutes).
func TestVectorCosim(t *testing.T) {
	runVector(t, preset(t, "sim"), 42, requestBudget(t, "KVD_VECTOR_OPS", 100_000))
}

// The other element widths: 8 bits (478 elements, every operation wraps at
// a byte), 16, and 64 (expr's own width: no wrapping patch).
func TestVectorCosimElementWidths(t *testing.T) {
	for _, e := range []int{8, 16, 64} {
		t.Run(map[int]string{8: "e8", 16: "e16", 64: "e64"}[e], func(t *testing.T) {
			c := preset(t, "sim")
			c.Vector.ElementBits = e
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			runVector(t, c, uint64(e), requestBudget(t, "KVD_VECTOR_WIDTH_OPS", 50_000))
		})
	}
}

// Every construct of the λ subset (the atomic unit's kitchen sink:
// division by zero, shifts by negative amounts, lazy branches, lets,
// boolean results, literals negative as 16-bit patterns) evaluated per
// element at 16 bits, with 12 λs and 4 unknown ids.
func TestVectorCosimEverySubsetConstruct(t *testing.T) {
	c := kitchenSink(t, 64)
	c.Vector.ElementBits = 16
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	runVector(t, c, 5, requestBudget(t, "KVD_VECTOR_WIDTH_OPS", 50_000))
}

// runVecGolden drives the golden model (or m, if set) with the scenario's
// stimulus for cycles cycles, without a simulator: the stimulus's own
// checks run against the model's outputs.
func runVecGolden(t *testing.T, c config.Config, seed, cycles uint64, m model.Model) (*vecStim, error) {
	t.Helper()
	if m == nil {
		vm, err := vector.New(c)
		if err != nil {
			t.Fatal(err)
		}
		m = vm
	}
	stim, err := newVecStim(c, seed, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := model.MustLayout(m.Ports())
	in, out := make([]uint64, l.InWords), make([]uint64, l.OutWords)
	var prev []uint64
	m.Reset()
	for cyc := uint64(0); cyc < cycles; cyc++ {
		clear(in)
		if _, err := stim.Next(cyc, prev, in); err != nil {
			return stim, err
		}
		if err := m.Step(in, out); err != nil {
			t.Fatalf("golden model at cycle %d: %v", cyc, err)
		}
		prev = out
	}
	return stim, nil
}

// The scenario's stimulus against the golden model alone, at the quick
// regression's length (200,000 cycles, the paper preset half that): every
// coverage point is hit, so the regression's functional coverage is
// complete, and the stimulus's checks agree with the model.
func TestVectorStimulusOnGolden(t *testing.T) {
	for _, tc := range []struct {
		preset string
		seed   uint64
		cycles uint64
	}{{"sim", 1, 200_000}, {"sim", 2, 200_000}, {"paper", 1, 100_000}} {
		c := preset(t, tc.preset)
		stim, err := runVecGolden(t, c, tc.seed, tc.cycles, nil)
		if err != nil {
			t.Fatalf("%s seed %d: %v", tc.preset, tc.seed, err)
		}
		pts := stim.Points()
		for p, n := range pts {
			if n == 0 {
				t.Errorf("%s seed %d: coverage point %s not hit in %d cycles", tc.preset, tc.seed, p, tc.cycles)
			}
		}
		if d := stim.Describe(tc.cycles - 100); !strings.Contains(d, "accepted at cycle") {
			t.Errorf("Describe: %s", d)
		}
		t.Logf("%s seed %d: %d operations in %d cycles; %v", tc.preset, tc.seed, stim.completed, tc.cycles, pts)
	}
}

// corrupt wraps the golden model and spoils one thing about its outputs
// from the k-th result on.
type corrupt struct {
	*vector.Model
	l       *model.Layout
	k, seen int
	how     string
	held    []uint64
}

func (c *corrupt) Step(in, out []uint64) error {
	if err := c.Model.Step(in, out); err != nil {
		return err
	}
	valid := c.l.MustSlot("out_valid").Off
	switch c.how {
	case "late":
		// Every result one cycle late.
		if c.held != nil {
			copy(out, c.held)
			c.held = nil
			return nil
		}
		if out[valid] == 1 {
			c.held = append([]uint64(nil), out...)
			out[valid] = 0
		}
		return nil
	}
	if out[valid] == 1 {
		c.seen++
		if c.seen >= c.k {
			switch c.how {
			case "resp":
				out[c.l.MustSlot("out_resp").Off] ^= 1 << 3
			case "fault":
				out[c.l.MustSlot("out_fault").Off] ^= 1
			}
		}
	}
	return nil
}

// The stimulus's own check is not the bridge's comparison: a model whose
// results are wrong or late is caught by the stimulus alone.
func TestVectorStimulusCatchesWrongResults(t *testing.T) {
	c := preset(t, "sim")
	for _, tc := range []struct{ how, want string }{
		{"resp", "out_resp word 0"},
		{"fault", "out_fault"},
		{"late", "no result at cycle"},
	} {
		m, err := vector.New(c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = runVecGolden(t, c, 3, 50_000, &corrupt{Model: m, l: model.MustLayout(m.Ports()), k: 100, how: tc.how})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.how, err, tc.want)
		}
	}
}
