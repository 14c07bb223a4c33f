package rob

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

// sized is the sim preset with M entries, keys of up to k bytes and values
// of up to v bytes.
func sized(m, k, v int) config.Config {
	c, _ := config.Preset("sim")
	c.ROB.Entries = m
	c.Key.MaxKeyBytes = k
	c.Key.MaxValueBytes = v
	return c
}

// The ports of rob.md §2, the grouped rows expanded in the order written,
// with the §1 widths.
func TestPortsFollowTheTable(t *testing.T) {
	for _, tc := range []struct {
		preset string
		z      Sizes
	}{
		{"sim", Sizes{M: 64, MW: 6, CW: 7, K: 16, KL: 5, V: 478, VL: 9}},
		{"paper", Sizes{M: 1024, MW: 10, CW: 11, K: 32, KL: 6, V: 478, VL: 9}},
	} {
		c, _ := config.Preset(tc.preset)
		m, err := Generate(c)
		if err != nil {
			t.Fatalf("%s: %v", tc.preset, err)
		}
		if m.Name != Name {
			t.Errorf("%s: module %s", tc.preset, m.Name)
		}
		z := tc.z
		var got []string
		for _, port := range m.DataPorts() {
			dir := "in"
			if port.Dir == ir.Out {
				dir = "out"
			}
			got = append(got, fmt.Sprintf("%s:%s:%d", port.Sig.Name, dir, port.Sig.W))
		}
		want := fmt.Sprintf("d_valid:in:1 d_ready:out:1 d_kind:in:2 d_seq:in:32 d_last:in:1 d_trailing:in:1 "+
			"d_status:in:5 d_received:in:16 d_op:in:3 d_fid:in:8 d_klen:in:%[1]d d_key:in:%[2]d d_vlen:in:%[3]d d_value:in:%[4]d "+
			"iss_valid:out:1 iss_ready:in:1 iss_tag:out:16 iss_op:out:3 iss_fid:out:8 iss_klen:out:%[1]d iss_key:out:%[2]d "+
			"iss_vlen:out:%[3]d iss_value:out:%[4]d "+
			"cpl_valid:in:1 cpl_tag:in:16 cpl_status:in:8 cpl_vlen:in:%[3]d cpl_value:in:%[4]d "+
			"e_valid:out:1 e_ready:in:1 e_kind:out:2 e_seq:out:32 e_last:out:1 e_trailing:out:1 e_status:out:8 "+
			"e_received:out:16 e_vlen:out:%[3]d e_value:out:%[4]d", z.KL, 8*z.K, z.VL, 8*z.V)
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
		if zz, _ := SizesOf(c); zz != z {
			t.Errorf("%s: sizes %+v, want %+v", tc.preset, zz, z)
		}
	}
}

// MW is log2 M rounded up, at least 1; count holds 0..M.
func TestIndexWidths(t *testing.T) {
	for _, tc := range []struct{ m, mw, cw int }{{1, 1, 1}, {2, 1, 2}, {3, 2, 2}, {5, 3, 3}, {64, 6, 7}, {65, 7, 7}, {4096, 12, 13}} {
		z, err := SizesOf(sized(tc.m, 16, 478))
		if err != nil {
			t.Fatal(err)
		}
		if z.MW != tc.mw || z.CW != tc.cw {
			t.Errorf("M = %d: MW %d CW %d, want %d %d", tc.m, z.MW, z.CW, tc.mw, tc.cw)
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

// The values sit in a memory asking for block RAM, written by completions
// only and read at head_reg (rob.md §6); the fields an accept writes in a
// second memory, written by accepts only.
func TestMemories(t *testing.T) {
	c, _ := config.Preset("paper")
	m, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mem := range m.Memories {
		got[mem.Name] = fmt.Sprintf("%dx%d block=%v", mem.Depth, mem.Width, mem.Block)
	}
	want := map[string]string{"rec_mem": "1024x57 block=true", "cpl_mem": "1024x3841 block=true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("memories %v, want %v", got, want)
	}
	text := string(emit(t, c))
	for _, s := range []string{"rec_mem[tail_reg] <= rec_word;", "cpl_mem[cpl_addr] <= cpl_word;",
		"e_cpl_reg <= from_cpl_head ? cpl_mem[head_reg] : 3841'd0;"} {
		if !strings.Contains(text, s) {
			t.Errorf("the RTL does not say %q", s)
		}
	}
}

// Lint-clean at odd sizes: one entry, two, a count that is not a power of
// two, the largest M, one-byte keys and values. hdlgen/design lints the
// presets.
func TestLintClean(t *testing.T) {
	for _, tc := range []struct{ m, k, v int }{{1, 16, 478}, {2, 1, 1}, {5, 16, 478}, {4096, 4, 8}} {
		t.Run(fmt.Sprintf("m%d_k%d_v%d", tc.m, tc.k, tc.v), func(t *testing.T) {
			if testing.Short() {
				t.Skip("lint skipped in -short mode")
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, Name+".v"), emit(t, sized(tc.m, tc.k, tc.v)), 0o644); err != nil {
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
