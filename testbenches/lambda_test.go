package testbenches

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/lambda"
)

// runLambda co-simulates kvd_atomic for c until every registered λ has
// perFid results compared with expr's.
func runLambda(t *testing.T, c config.Config, perFid uint64) {
	t.Helper()
	bin := buildModel(t, c, "kvd_atomic", nil)
	m, err := lambda.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim := newLambdaStim(c, m, 42, perFid)
	res, err := cosim.Run(context.Background(), bin, m, stim, cosim.Options{HangCycles: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	for i, l := range c.Atomic.Lambdas {
		if stim.perFid[i] < perFid {
			t.Errorf("λ %d %s: only %d results compared", i, l.Name, stim.perFid[i])
		}
		t.Logf("fid %d %-10s %9d results compared, 0 divergences", i, l.Name, stim.perFid[i])
	}
	t.Logf("%d unknown-id requests, %d failed requests in all, %d with cmp == old, %d with an extreme operand",
		stim.perFid[len(c.Atomic.Lambdas)], stim.faults, stim.eqCmp, stim.extreme)
	t.Logf("%d cycles, %.1f M cycles/s", res.Cycles, res.CyclesPerSec/1e6)
	noLeftovers(t, bin)
}

// Acceptance: for every registered λ of the preset, the generated Verilator
// model and expr agree on at least a million operand sets, edges included.
func TestLambdaMatchesExprOnAMillionOperandsPerFunction(t *testing.T) {
	runLambda(t, preset(t, "sim"), 1_000_000)
}

// kitchenSink registers a λ for every construct of the subset: division,
// both right shifts, lazy branches that may fail, let, booleans as results,
// literals that are negative as W-bit patterns.
func kitchenSink(t *testing.T, w int) config.Config {
	c := preset(t, "sim")
	c.Atomic.ScalarBits = w
	c.Atomic.Division = true
	c.Atomic.Lambdas = []config.Lambda{
		{Name: "arith", Expr: "old * delta - cmp + -swap"},
		{Name: "divmod", Expr: "old / delta + old % cmp"},
		{Name: "shifts", Expr: "bitxor(bitshr(old, delta), bitushr(cmp, swap))"},
		{Name: "bits", Expr: "bitor(bitand(old, delta), bitnand(bitnot(cmp), swap))"},
		{Name: "logic", Expr: "old < delta && cmp >= swap || !(old != cmp) and not (delta <= swap)"},
		{Name: "absminmax", Expr: "abs(old) + max(old, delta, cmp) - min(cmp, swap, delta, old)"},
		{Name: "lazy", Expr: "delta == 0 ? old : (delta > 0 ? old / delta : bitshl(old, -delta))"},
		{Name: "lets", Expr: "let a = old + 4095; let b = a * a; b > old ? b : bitnot(b)"},
		{Name: "literal", Expr: "old < 8000 ? 8191 : -4096"},
		{Name: "ifelse", Expr: "if old > cmp { old - cmp } else { cmp - old }"},
		{Name: "divides", Expr: "old % 7 == 0"},
		{Name: "boolcmp", Expr: "(old < delta) == (cmp < swap) ? bitshl(1, delta) : old"},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// The rest of the subset, at a width where every operation wraps before 64
// bits (so the golden model's reductions matter) and at 64 bits.
func TestLambdaSubsetMatchesExpr(t *testing.T) {
	for _, w := range []int{13, 64} {
		t.Run(map[int]string{13: "w13", 64: "w64"}[w], func(t *testing.T) {
			runLambda(t, kitchenSink(t, w), 100_000)
		})
	}
}

// The scenario notices a signed comparison built unsigned and a lost
// failure condition: the two ways the subset's semantics differ most from
// plain Verilog.
func TestLambdaBrokenRTLIsCaught(t *testing.T) {
	c := preset(t, "sim")
	cases := []struct{ name, from, to, port string }{
		{"unsigned max",
			"assign fn_max = ((s1_old_reg ^ 64'h8000000000000000) < (s1_delta_reg ^ 64'h8000000000000000)) ? s1_delta_reg : s1_old_reg;",
			"assign fn_max = (s1_old_reg < s1_delta_reg) ? s1_delta_reg : s1_old_reg;", "out_new"},
		{"negative shift accepted",
			"assign fn_set_bit_fault = s1_delta_reg >= 64'h8000000000000000;",
			"assign fn_set_bit_fault = 1'b0;", "out_fault"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bin := buildModel(t, c, "kvd_atomic", func(dir string) {
				path := filepath.Join(dir, "kvd_atomic.v")
				src, _ := os.ReadFile(path)
				if !strings.Contains(string(src), tc.from) {
					t.Fatalf("kvd_atomic.v has no %q", tc.from)
				}
				os.WriteFile(path, []byte(strings.Replace(string(src), tc.from, tc.to, 1)), 0o644)
			})
			m, err := lambda.New(c)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cosim.Run(context.Background(), bin, m, newLambdaStim(c, m, 7, 0), cosim.Options{Cycles: 200_000})
			if err != nil {
				t.Fatal(err)
			}
			d := res.Divergence
			if d == nil {
				t.Fatal("the broken RTL passed")
			}
			found := false
			for _, mm := range d.Mismatches {
				found = found || mm.Port == tc.port
			}
			if !found {
				t.Errorf("mismatches %+v do not include %s", d.Mismatches, tc.port)
			}
			t.Logf("caught at cycle %d: %s", d.Cycle, d.InFlight)
			noLeftovers(t, bin)
		})
	}
}
