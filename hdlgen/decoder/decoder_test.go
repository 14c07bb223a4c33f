package decoder

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

func preset(t *testing.T, name string, sets ...string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		if err := c.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func emit(t *testing.T, c config.Config) []byte {
	t.Helper()
	m, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	text, err := verilog.Emit(m, verilog.Header{Generator: "test", ConfigName: c.Name, ConfigHash: c.Hash()})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// decoder.md §2's table in its order, with the §1 widths written out for
// both presets (paper: B 28, K 32; sim: B 16, K 16; both V 478).
func TestPortsFollowTheTable(t *testing.T) {
	for _, tc := range []struct {
		preset          string
		B, K, KL, V, VL int
		WB              int
	}{
		{"paper", 28, 32, 6, 478, 9, 766},
		{"sim", 16, 16, 5, 478, 9, 754},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			want := fmt.Sprintf("clk:in:1 rst:in:1 rx_valid:in:1 rx_ready:out:1 rx_data:in:%d rx_keep:in:%d rx_last:in:1 rx_len:in:16 "+
				"d_valid:out:1 d_ready:in:1 d_kind:out:2 d_seq:out:32 d_index:out:16 d_last:out:1 d_trailing:out:1 "+
				"d_status:out:5 d_received:out:16 d_op:out:3 d_fid:out:8 d_klen:out:%d d_key:out:%d d_vlen:out:%d d_value:out:%d",
				8*tc.B, tc.B, tc.KL, 8*tc.K, tc.VL, 8*tc.V)
			c := preset(t, tc.preset)
			m, err := Generate(c)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != Name {
				t.Errorf("module %s", m.Name)
			}
			var got []string
			for _, p := range m.Ports {
				dir := "in"
				if p.Dir == ir.Out {
					dir = "out"
				}
				got = append(got, fmt.Sprintf("%s:%s:%d", p.Sig.Name, dir, p.Sig.W))
			}
			if g := strings.Join(got, " "); g != want {
				t.Errorf("ports\n%s\nwant\n%s", g, want)
			}
			// Ports (for testbenches) says the same as the module.
			ps, err := Ports(c)
			if err != nil {
				t.Fatal(err)
			}
			var fromList []string
			for _, p := range ps {
				dir := "in"
				if p.Out {
					dir = "out"
				}
				fromList = append(fromList, fmt.Sprintf("%s:%s:%d", p.Name, dir, p.W))
			}
			if g := "clk:in:1 rst:in:1 " + strings.Join(fromList, " "); g != want {
				t.Errorf("Ports\n%s\nwant\n%s", g, want)
			}
			z, _ := SizesOf(c)
			if z.WB != tc.WB || z.WL != 10 {
				t.Errorf("sizes %+v: want WB %d", z, tc.WB)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for _, p := range config.Presets() {
		c := preset(t, p)
		if a, b := emit(t, c), emit(t, c); !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", p)
		}
	}
}

// decoder.md §1: V >= 24, refused naming the configuration key.
func TestRefusesShortValues(t *testing.T) {
	_, err := Generate(preset(t, "sim", "key.max_value_bytes=23"))
	if err == nil || !strings.Contains(err.Error(), "key.max_value_bytes = 23") {
		t.Fatalf("V = 23: %v", err)
	}
	if _, err := Generate(preset(t, "sim", "key.max_value_bytes=24")); err != nil {
		t.Fatalf("V = 24: %v", err)
	}
}

// The header states the protocol and the latency contract; only control
// state is reset; the generated text stays of a reasonable size (the
// window is shifted by barrel stages, not by per-byte case statements).
func TestHeaderResetAndSize(t *testing.T) {
	for _, p := range config.Presets() {
		text := string(emit(t, preset(t, p)))
		for _, s := range []string{"Interface:", "Latency:", "module kvd_dec", "(!d_valid || d_ready)"} {
			if !strings.Contains(text, s) {
				t.Errorf("%s: no %q", p, s)
			}
		}
		i := strings.Index(text, "if (rst) begin")
		j := strings.Index(text[i:], "end\n")
		var reset []string
		for _, l := range strings.Split(text[i:i+j], "\n")[1:] {
			if f := strings.Fields(l); len(f) > 0 {
				reset = append(reset, f[0])
			}
		}
		if g := strings.Join(reset, " "); g != "st_reg wcnt_reg infr_reg gotl_reg d_valid_reg" {
			t.Errorf("%s: reset sets %s", p, g)
		}
		if len(text) > 400<<10 {
			t.Errorf("%s: %d bytes of Verilog", p, len(text))
		}
		if n := strings.Count(text, "always @"); n != 2 {
			t.Errorf("%s: %d always blocks, want one combinational and one clocked", p, n)
		}
	}
}

// Lint clean for both presets and at odd sizes: the smallest V, 1-byte
// elements (no vlen mod EB check), the longest keys, a narrow and a wide
// beat.
func TestLintClean(t *testing.T) {
	if testing.Short() {
		t.Skip("lint skipped in -short mode")
	}
	cases := map[string]config.Config{
		"paper": preset(t, "paper"),
		"v24":   preset(t, "sim", "key.max_value_bytes=24", "vector.element_bits=8", "net.bytes_per_cycle=4"),
		"k255":  preset(t, "sim", "key.max_value_bytes=255", "key.max_key_bytes=255", "vector.element_bits=64", "net.bytes_per_cycle=64"),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
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
					t.Errorf("%s: %v %s", r.Summary(), r.Err, strings.Join(r.Warnings, "\n"))
				}
			}
		})
	}
}
