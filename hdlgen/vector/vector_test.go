package vector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/lambda"
	"github.com/kvdirect/kvd/hdlgen/verilog"
	"github.com/kvdirect/kvd/lint"
)

var testHeader = verilog.Header{Generator: "test", ConfigName: "test", ConfigHash: "0"}

func emit(t *testing.T, c config.Config) []byte {
	t.Helper()
	m, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	text, err := verilog.Emit(m, testHeader)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// withLambdas is the sim preset with element width e, value size v and the
// given λs.
func withLambdas(e, v int, srcs ...string) config.Config {
	c, _ := config.Preset("sim")
	c.Vector.ElementBits = e
	c.Key.MaxValueBytes = v
	c.Atomic.Lambdas = nil
	for i, s := range srcs {
		c.Atomic.Lambdas = append(c.Atomic.Lambdas, config.Lambda{Name: fmt.Sprintf("f%d", i), Expr: s})
	}
	return c
}

// The ports of vector.md §2, in table order, with the §1 widths of both
// presets (V = 478, E = 32; the presets register 7 λs, so F = 3).
func TestPortsFollowTheTable(t *testing.T) {
	want := "in_valid:in:1 in_ready:out:1 in_op:in:2 in_fid:in:3 in_vlen:in:9 in_value:in:3824 " +
		"in_delta:in:32 in_cmp:in:32 in_swap:in:32 in_dlen:in:9 in_dvec:in:3824 " +
		"out_valid:out:1 out_fault:out:1 out_new:out:3824 out_rlen:out:9 out_resp:out:3824"
	for _, p := range config.Presets() {
		c, _ := config.Preset(p)
		m, err := Generate(c)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if m.Name != Name {
			t.Errorf("%s: module %s", p, m.Name)
		}
		var got []string
		for _, port := range m.DataPorts() {
			dir := "in"
			if port.Dir == ir.Out {
				dir = "out"
			}
			got = append(got, fmt.Sprintf("%s:%s:%d", port.Sig.Name, dir, port.Sig.W))
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%s: ports\n%s\nwant\n%s", p, g, want)
		}
		z, _ := SizesOf(c)
		if z != (Sizes{E: 32, EB: 4, V: 478, VL: 9, NE: 119, EL: 7, N: 7, F: 3}) {
			t.Errorf("%s: sizes %+v", p, z)
		}
	}
	// The operand ports exist whatever the λs name (vector.md §2), and the
	// widths follow the element width.
	m, err := Generate(withLambdas(8, 13, "bitnot(old)"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, port := range m.DataPorts() {
		got = append(got, fmt.Sprintf("%s:%d", port.Sig.Name, port.Sig.W))
	}
	want = "in_valid:1 in_ready:1 in_op:2 in_fid:1 in_vlen:4 in_value:104 in_delta:8 in_cmp:8 in_swap:8 " +
		"in_dlen:4 in_dvec:104 out_valid:1 out_fault:1 out_new:104 out_rlen:4 out_resp:104"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("ports\n%s\nwant\n%s", g, want)
	}
}

func TestDeterministic(t *testing.T) {
	for _, p := range config.Presets() {
		c, _ := config.Preset(p)
		if a, b := emit(t, c), emit(t, c); !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", p)
		}
	}
}

// A λ that compiles at atomic.scalar_bits but not at the element width
// refuses the design, naming the λ and vector.element_bits (vector.md §1).
func TestLambdaRefusedAtTheElementWidth(t *testing.T) {
	c, _ := config.Preset("sim")
	c.Vector.ElementBits = 8
	c.Atomic.Lambdas = append(c.Atomic.Lambdas, config.Lambda{Name: "big", Expr: "old + 1000"})
	if _, err := lambda.Generate(c); err != nil {
		t.Fatalf("kvd_atomic (64 bits) refuses it too: %v", err)
	}
	_, err := Generate(c)
	if err == nil {
		t.Fatal("an 8-bit λ with literal 1000 was accepted")
	}
	msg := err.Error()
	for _, s := range []string{"vector.element_bits = 8", "atomic.lambdas[7] big", `"old + 1000"`, "1000 does not fit in 8 bits"} {
		if !strings.Contains(msg, s) {
			t.Errorf("%q does not say %q", msg, s)
		}
	}
	var le *lambda.Error
	if !errors.As(err, &le) || le.Name != "big" {
		t.Errorf("%v does not wrap the λ's refusal", err)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	c.Vector.ElementBits = 16
	if _, err := Generate(c); err != nil {
		t.Errorf("at 16 bits: %v", err)
	}
}

// REDUCE answers 8 bytes: a smaller value cannot carry it.
func TestValueShorterThanReduceIsRefused(t *testing.T) {
	c := withLambdas(8, 7, "old + delta")
	_, err := Generate(c)
	if err == nil || !strings.Contains(err.Error(), "key.max_value_bytes = 7") {
		t.Fatalf("got %v", err)
	}
	if _, err := Generate(withLambdas(64, 8, "old + delta")); err != nil {
		t.Fatal(err)
	}
}

// Lint-clean at every element width and at odd sizes (trailing bytes, one
// element, a count that fills its counter), with and without the operands
// that some λ sets never name (hdlgen/design lints the presets).
func TestLintClean(t *testing.T) {
	full := []string{"old + delta", "old == cmp ? swap : old", "bitshl(old, delta)", "old > delta"}
	cases := []struct {
		e, v int
		srcs []string
	}{
		{8, 8, full},
		{8, 15, []string{"bitnot(old)"}},
		{16, 13, []string{"old + delta", "bitshr(old, 3)"}},
		{32, 478, full},
		{64, 13, full},
		{64, 16, append(full, "old / delta")},
		{8, 255, []string{"max(old, delta, cmp)"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("e%d_v%d_n%d", tc.e, tc.v, len(tc.srcs)), func(t *testing.T) {
			c := withLambdas(tc.e, tc.v, tc.srcs...)
			c.Atomic.Division = true
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, Name+".v"), emit(t, c), 0o644); err != nil {
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
