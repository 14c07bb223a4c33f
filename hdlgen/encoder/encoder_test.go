package encoder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
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

// sized is the sim preset with B bytes per beat and values of up to v
// bytes, with a slab class large enough for them.
func sized(b, v int) config.Config {
	c, _ := config.Preset("sim")
	c.Net.BytesPerCycle = b
	c.Key.MaxValueBytes = v
	if 2+c.Key.MaxKeyBytes+v > 512 {
		c.Slab.Classes = []int{32, 64, 128, 256, 2048}
	}
	return c
}

// The ports of encoder.md §2, in table order, with the §1 widths.
func TestPortsFollowTheTable(t *testing.T) {
	for _, tc := range []struct {
		preset    string
		b, nb, sw int
	}{{"sim", 16, 92, 7}, {"paper", 28, 53, 6}} {
		c, _ := config.Preset(tc.preset)
		m, err := Generate(c)
		if err != nil {
			t.Fatalf("%s: %v", tc.preset, err)
		}
		if m.Name != Name {
			t.Errorf("%s: module %s", tc.preset, m.Name)
		}
		var got []string
		for _, port := range m.DataPorts() {
			dir := "in"
			if port.Dir == ir.Out {
				dir = "out"
			}
			got = append(got, fmt.Sprintf("%s:%s:%d", port.Sig.Name, dir, port.Sig.W))
		}
		want := fmt.Sprintf("e_valid:in:1 e_ready:out:1 e_kind:in:2 e_seq:in:32 e_last:in:1 e_trailing:in:1 "+
			"e_status:in:8 e_received:in:16 e_vlen:in:9 e_value:in:3824 "+
			"tx_valid:out:1 tx_ready:in:1 tx_data:out:%d tx_keep:out:%d tx_last:out:1", 8*tc.b, tc.b)
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%s: ports\n%s\nwant\n%s", tc.preset, g, want)
		}
		ports, err := Ports(c)
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, p := range ports {
			dir := "in"
			if p.Out {
				dir = "out"
			}
			listed = append(listed, fmt.Sprintf("%s:%s:%d", p.Name, dir, p.W))
		}
		if l := strings.Join(listed, " "); l != want {
			t.Errorf("%s: Ports lists\n%s\nwant\n%s", tc.preset, l, want)
		}
		z, _ := SizesOf(c)
		if z != (Sizes{B: tc.b, V: 478, VL: 9, PB: 1472, PL: 11, CW: 9, NB: tc.nb, SW: tc.sw, W: 512, WL: 9}) {
			t.Errorf("%s: sizes %+v", tc.preset, z)
		}
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

// 14 + 3 + V > MR is refused, naming key.max_value_bytes (encoder.md §1);
// V = 1455 is the largest accepted.
func TestValueTooLargeForAPacketIsRefused(t *testing.T) {
	c := sized(16, 1456)
	if err := c.Validate(); err != nil {
		t.Fatalf("the configuration itself is refused: %v", err)
	}
	_, err := Generate(c)
	if err == nil {
		t.Fatal("V = 1456 was accepted")
	}
	msg := err.Error()
	for _, s := range []string{"key.max_value_bytes = 1456", "14 + 3 + V <= 1472", "at most 1455"} {
		if !strings.Contains(msg, s) {
			t.Errorf("%q does not say %q", msg, s)
		}
	}
	if _, err := Ports(c); err == nil {
		t.Error("Ports accepted V = 1456")
	}
	if _, err := Generate(sized(16, 1455)); err != nil {
		t.Fatalf("V = 1455: %v", err)
	}
}

// Lint-clean at odd sizes: the narrowest and widest beats, a beat that does
// not divide MR, the smallest value and the largest (a record window wider
// than the buffer). hdlgen/design lints the presets.
func TestLintClean(t *testing.T) {
	for _, tc := range []struct{ b, v int }{{4, 1}, {28, 13}, {256, 478}, {7, 1455}, {64, 29}} {
		t.Run(fmt.Sprintf("b%d_v%d", tc.b, tc.v), func(t *testing.T) {
			if testing.Short() {
				t.Skip("lint skipped in -short mode")
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, Name+".v"), emit(t, sized(tc.b, tc.v)), 0o644); err != nil {
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
