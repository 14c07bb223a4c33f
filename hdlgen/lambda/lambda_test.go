package lambda

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/verilog"
	"github.com/kvdirect/kvd/lint"
)

func withLambdas(w int, division bool, srcs ...string) config.Config {
	c, _ := config.Preset("sim")
	c.Atomic.ScalarBits = w
	c.Atomic.Division = division
	c.Atomic.Lambdas = nil
	for i, s := range srcs {
		c.Atomic.Lambdas = append(c.Atomic.Lambdas, config.Lambda{Name: fmt.Sprintf("f%d", i), Expr: s})
	}
	return c
}

// Every construct outside the subset is refused with the λ, the line and
// column of the construct, its text and the reason, on one line.
func TestLambdaRefusalsPointAtTheConstruct(t *testing.T) {
	cases := []struct {
		src       string
		division  bool
		pos, near string
		why       string
	}{
		{src: "old / 2", pos: "1:5", near: "/", why: "division is not enabled"},
		{src: "old % delta", pos: "1:5", near: "%", why: "division is not enabled"},
		{src: "old / 0", division: true, pos: "1:7", near: "0", why: "by the constant 0 always fails"},
		{src: `old + "a"`, pos: "1:7", near: `"a"`, why: "strings are not supported"},
		{src: "old * 1.5", pos: "1:7", near: "1.5", why: "floating-point literal"},
		{src: "old ^ delta", pos: "1:5", near: "^", why: "exponentiation"},
		{src: "old ** 2", pos: "1:5", near: "**", why: "exponentiation"},
		{src: "sqrt(old)", pos: "1:1", near: "sqrt", why: "unknown function sqrt"},
		{src: "len(old)", pos: "1:1", near: "len", why: "function len is not supported"},
		{src: "ceil(old)", pos: "1:1", near: "ceil", why: "function ceil is not supported in hardware"},
		{src: "old + value", pos: "1:7", near: "value", why: `unknown name "value"`},
		{src: "old + (delta > 0)", pos: "1:14", near: ">", why: "needs an integer, got a boolean"},
		{src: "old && delta", pos: "1:1", near: "old", why: "needs a boolean, got an integer"},
		{src: "old == true", pos: "1:5", near: "==", why: "compares an integer with a boolean"},
		{src: "old > 0 ? 1 : false", pos: "1:15", near: "false", why: "both must be integers or both booleans"},
		{src: "old ?? 1", pos: "1:5", near: "??", why: "nil coalescing"},
		{src: "old in [1, 2]", pos: "1:5", near: "in", why: "strings or arrays"},
		{src: "[old, delta]", pos: "1:1", near: "[", why: "arrays are not supported"},
		{src: "max([old, delta])", pos: "1:1", near: "max", why: "two or more integers"},
		{src: "bitshl(old, -1)", pos: "1:13", near: "-", why: "negative constant always fails"},
		{src: "bitand(old)", pos: "1:1", near: "bitand", why: "takes 2 argument(s), got 1"},
		{src: "let delta = 1; old + delta", pos: "1:5", near: "delta", why: "hides the operand delta"},
		{src: "let x = 1; old", pos: "1:5", near: "x", why: "let x is never used"},
		{src: "old; delta", pos: "1:1", near: "old", why: "sequence"},
		{src: "old.x", pos: "1:5", near: "x", why: "member access"},
		{src: "old + 300", pos: "1:7", near: "300", why: "literal 300 does not fit in 8 bits (-128..255)"},
		{src: "old +\n  nil", pos: "2:3", near: "nil", why: "nil is not supported"},
		{src: "old + ", pos: "1:6", why: "syntax: unexpected token EOF"},
	}
	for _, tc := range cases {
		w := 64
		if strings.Contains(tc.src, "300") {
			w = 8
		}
		c := withLambdas(w, tc.division, "old + delta", tc.src)
		_, err := Generate(c)
		var le *Error
		if !errors.As(err, &le) {
			t.Errorf("%q: got %v, want a refusal", tc.src, err)
			continue
		}
		msg := err.Error()
		want := []string{"atomic.lambdas[1] f1", " " + tc.pos, tc.why}
		if tc.near != "" {
			want = append(want, fmt.Sprintf("at %q", tc.near))
		}
		for _, s := range want {
			if !strings.Contains(msg, s) {
				t.Errorf("%q: %q does not say %q", tc.src, msg, s)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%q: message is not one line: %q", tc.src, msg)
		}
	}
}

// The subset, as docs/microarch/lambda.md §1 lists it, is accepted.
func TestLambdaSubsetIsAccepted(t *testing.T) {
	srcs := []string{
		"old + delta - cmp * swap", "-old", "+old", "old / delta", "old % 3",
		"bitand(old, delta)", "bitor(old, delta)", "bitxor(old, delta)", "bitnand(old, delta)", "bitnot(old)",
		"bitshl(old, delta)", "bitshr(old, 3)", "bitushr(old, delta)", "old | bitand(7)",
		"max(old, delta)", "min(old, delta, cmp)", "abs(old)",
		"old == cmp ? swap : old", "if old > 0 { old } else { -old }", "old < delta", "old <= delta && !(old >= cmp) || not (old > 1)",
		"old != delta and old == cmp or false", "0 < old < 10", "let s = old + delta; s > old ? s : old",
		"0x7f + 0b101 + 0o17 + 1_000",
	}
	c := withLambdas(64, true, srcs...)
	c.Atomic.Lambdas = c.Atomic.Lambdas[:16]
	if _, err := Generate(c); err != nil {
		t.Fatal(err)
	}
	c = withLambdas(64, true, srcs[16:]...)
	if _, err := Generate(c); err != nil {
		t.Fatal(err)
	}
}

// Every width and construct gives lint-clean Verilog, not only the
// presets' (hdlgen/design lints those): unused bits or truncations would
// show up at odd widths.
func TestLambdaSubsetIsLintClean(t *testing.T) {
	srcs := []string{
		"old * delta - cmp + -swap", "old / delta + old % cmp",
		"bitxor(bitshr(old, delta), bitushr(cmp, swap))", "bitor(bitand(old, delta), bitnand(bitnot(cmp), swap))",
		"old < delta && cmp >= swap || !(old != cmp)", "abs(old) + max(old, delta, cmp) - min(cmp, swap, delta, old)",
		"delta == 0 ? old : (delta > 0 ? old / delta : bitshl(old, -delta))", "let a = old + 1; let b = a * a; b > old ? b : bitnot(b)",
		"old % cmp == 0", "bitshl(1, delta) + bitshr(-1, 0)",
	}
	for _, w := range []int{1, 13, 64} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			c := withLambdas(w, true, srcs...)
			m, err := Generate(c)
			if err != nil {
				t.Fatal(err)
			}
			text, err := verilog.Emit(m, verilog.Header{Generator: "test", ConfigName: "test", ConfigHash: "0"})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ModuleName+".v"), text, 0o644); err != nil {
				t.Fatal(err)
			}
			results, err := lint.All(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if !r.OK() {
					t.Errorf("%s: %v %q", r.Summary(), r.Err, r.Warnings)
				}
			}
		})
	}
}

// Only the operands some λ names become ports; the id holds every λ and
// "unknown" (= n, lambda.md §2.4).
func TestLambdaPortsFollowTheFunctions(t *testing.T) {
	m, err := Generate(withLambdas(64, false, "old + 1", "bitnot(old)"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m.DataPorts() {
		names = append(names, fmt.Sprintf("%s:%d", p.Sig.Name, p.Sig.W))
	}
	got := strings.Join(names, " ")
	want := "in_valid:1 in_fid:2 in_old:64 in_tag:16 out_valid:1 out_new:64 out_old:64 out_fault:1 out_tag:16"
	if got != want {
		t.Errorf("ports %s, want %s", got, want)
	}
	for n, bits := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 7: 3, 8: 4, 16: 5} {
		if FidBits(n) != bits {
			t.Errorf("FidBits(%d) = %d, want %d", n, FidBits(n), bits)
		}
	}
}
