package lambda

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

func withLambdas(t testing.TB, w int, division bool, ls ...string) *Evaluator {
	t.Helper()
	c, _ := config.Preset("sim")
	c.Atomic.ScalarBits = w
	c.Atomic.Division = division
	c.Atomic.Lambdas = nil
	for i, src := range ls {
		c.Atomic.Lambdas = append(c.Atomic.Lambdas, config.Lambda{Name: string(rune('a' + i)), Expr: src})
	}
	ev, err := NewEvaluator(c)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func u(v int64) uint64 { return uint64(v) }

// The preset's λs on edge values, worked out by hand from §2.
func TestLambdaPresetFunctions(t *testing.T) {
	c, _ := config.Preset("paper")
	ev, err := NewEvaluator(c)
	if err != nil {
		t.Fatal(err)
	}
	fid := map[string]uint64{}
	for i, f := range ev.Fns {
		fid[f.Name] = uint64(i)
	}
	const maxI, minI = math.MaxInt64, math.MinInt64
	cases := []struct {
		fn                    string
		old, delta, cmp, swap uint64
		want                  uint64
		fault                 bool
	}{
		{"fetch_add", u(maxI), 1, 0, 0, u(minI), false},
		{"fetch_add", ^uint64(0), 1, 0, 0, 0, false},
		{"cas", 5, 0, 5, 9, 9, false},
		{"cas", 5, 0, 6, 9, 5, false},
		{"max", u(-1), 1, 0, 0, 1, false}, // signed: all ones is -1
		{"min", u(minI), u(maxI), 0, 0, u(minI), false},
		{"fetch_xor", 0xf0, 0xff, 0, 0, 0x0f, false},
		{"set_bit", 0, 63, 0, 0, 1 << 63, false},
		{"set_bit", 1, 64, 0, 0, 1, false}, // shifted out entirely
		{"set_bit", 7, u(-1), 0, 0, 7, true},
		{"sat_add", u(maxI - 1), 5, 0, 0, u(maxI), false},
		{"sat_add", u(minI + 1), u(-5), 0, 0, u(minI), false},
		{"sat_add", 10, u(-3), 0, 0, 7, false},
	}
	for _, tc := range cases {
		nv, fault, err := ev.Eval(fid[tc.fn], tc.old, tc.delta, tc.cmp, tc.swap)
		if err != nil || nv != tc.want || fault != tc.fault {
			t.Errorf("%s(old=%#x delta=%#x cmp=%#x swap=%#x) = %#x fault=%v err=%v, want %#x fault=%v",
				tc.fn, tc.old, tc.delta, tc.cmp, tc.swap, nv, fault, err, tc.want, tc.fault)
		}
	}
	if nv, fault, _ := ev.Eval(uint64(len(ev.Fns)), 42, 0, 0, 0); !fault || nv != 42 {
		t.Errorf("unknown fid: %#x fault=%v, want old and a fault", nv, fault)
	}
}

// Narrow widths: every operation wraps at W bits and reads back signed;
// literals are W-bit patterns; bitushr shifts the W-bit pattern.
func TestLambdaNarrowWidthWrapsEveryOperation(t *testing.T) {
	ev := withLambdas(t, 8, true,
		"old + delta",         // 0
		"old + delta < old",   // 1: the sum wraps before the comparison
		"old < 200",           // 2: 200 is 0xc8 = -56
		"bitushr(old, 4)",     // 3
		"bitshr(old, delta)",  // 4
		"old / delta",         // 5
		"old % delta",         // 6
		"-old",                // 7
		"abs(old)",            // 8
		"bitshl(old, delta)",  // 9
		"old * delta",         // 10
		"bitnand(old, delta)", // 11: expr's bitnand is AND NOT
	)
	cases := []struct {
		fid, old, delta, want uint64
		fault                 bool
	}{
		{0, 0x7f, 1, 0x80, false},
		{1, 0x7f, 1, 1, false},
		{2, 0x00, 0, 0, false},
		{2, 0xc0, 0, 1, false}, // -64 < -56
		{3, 0x80, 4, 0x08, false},
		{4, 0x80, 4, 0xf8, false},
		{4, 0x80, 100, 0xff, false},
		{5, 0x80, 0xff, 0x80, false}, // MIN / -1 wraps to MIN
		{5, u(-7) & 0xff, 2, u(-3) & 0xff, false},
		{5, 1, 0, 1, true},
		{6, u(-7) & 0xff, 2, 0xff, false},
		{6, 0x80, 0xff, 0, false},
		{6, 3, 0, 3, true},
		{7, 0x80, 0, 0x80, false},
		{8, 0x80, 0, 0x80, false},
		{8, 0xff, 0, 1, false},
		{9, 1, 7, 0x80, false},
		{9, 1, 8, 0, false},
		{9, 1, 0x80, 1, true},
		{10, 0x10, 0x10, 0, false},
		{11, 0xff, 0x0f, 0xf0, false},
	}
	for _, tc := range cases {
		nv, fault, err := ev.Eval(tc.fid, tc.old, tc.delta, 0, 0)
		if err != nil || nv != tc.want || fault != tc.fault {
			t.Errorf("fid %d %s (old=%#x delta=%#x) = %#x fault=%v err=%v, want %#x fault=%v",
				tc.fid, ev.Fns[tc.fid].Src, tc.old, tc.delta, nv, fault, err, tc.want, tc.fault)
		}
	}
}

// Only the branch expr takes can fail.
func TestLambdaUntakenBranchesDoNotFail(t *testing.T) {
	ev := withLambdas(t, 64, true, "delta < 0 ? old : bitshl(old, delta)", "delta == 0 || old / delta > 1")
	if nv, fault, err := ev.Eval(0, 3, u(-1), 0, 0); err != nil || fault || nv != 3 {
		t.Errorf("untaken shift: %#x fault=%v err=%v", nv, fault, err)
	}
	if nv, fault, err := ev.Eval(1, 3, 0, 0, 0); err != nil || fault || nv != 1 {
		t.Errorf("short-circuited division: %#x fault=%v err=%v", nv, fault, err)
	}
}

func TestLambdaFloatResultIsRefused(t *testing.T) {
	c, _ := config.Preset("sim")
	c.Atomic.Lambdas = []config.Lambda{{Name: "half", Expr: "old * 0.5"}}
	_, err := NewEvaluator(c)
	if err == nil || !strings.Contains(err.Error(), "float64") || !strings.Contains(err.Error(), "half") {
		t.Fatalf("got %v", err)
	}
}

func TestLambdaModelPipeline(t *testing.T) {
	c, _ := config.Preset("sim")
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	l := model.MustLayout(m.Ports())
	in, out := make([]uint64, l.InWords), make([]uint64, l.OutWords)
	m.Reset()
	set := func(name string, v uint64) { in[l.MustSlot(name).Off] = v }
	get := func(name string) uint64 { return out[l.MustSlot(name).Off] }
	set("in_valid", 1)
	set("in_fid", 0)
	set("in_old", 40)
	set("in_delta", 2)
	set("in_tag", 0xbeef)
	for cyc := 0; cyc < 3; cyc++ {
		if err := m.Step(in, out); err != nil {
			t.Fatal(err)
		}
		if cyc < Latency && get("out_valid") != 0 {
			t.Fatalf("cycle %d: out_valid before the latency", cyc)
		}
		set("in_valid", 0)
	}
	if get("out_valid") != 1 || get("out_new") != 42 || get("out_old") != 40 || get("out_tag") != 0xbeef || get("out_fault") != 0 {
		t.Fatalf("outputs %v", out)
	}
}

// BenchmarkStep is the cost the golden model adds per co-simulated cycle,
// with a valid request of a random preset λ every cycle.
func BenchmarkStep(b *testing.B) {
	c, _ := config.Preset("sim")
	m, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	l := model.MustLayout(m.Ports())
	const n = 1024
	ins := make([][]uint64, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range ins {
		in := make([]uint64, l.InWords)
		in[l.MustSlot("in_valid").Off] = 1
		in[l.MustSlot("in_fid").Off] = r.Uint64N(uint64(len(c.Atomic.Lambdas)))
		for _, p := range []string{"in_old", "in_delta", "in_cmp", "in_swap"} {
			in[l.MustSlot(p).Off] = r.Uint64() >> r.UintN(64)
		}
		ins[i] = in
	}
	out := make([]uint64, l.OutWords)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Step(ins[i%n], out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEval is one λ evaluation by expr, per preset λ.
func BenchmarkEval(b *testing.B) {
	c, _ := config.Preset("sim")
	ev, err := NewEvaluator(c)
	if err != nil {
		b.Fatal(err)
	}
	for fid, f := range ev.Fns {
		b.Run(f.Name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				x := uint64(i) * 0x9E3779B97F4A7C15
				if _, _, err := ev.Eval(uint64(fid), x, x>>uint(i&63), x^0x55, x+1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
