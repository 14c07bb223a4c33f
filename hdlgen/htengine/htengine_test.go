package htengine

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

// emitAll writes kvd_ht and every module it instantiates (kvd_vec) into dir:
// the file set the engine builds from.
func emitAll(t *testing.T, c config.Config, dir string) {
	t.Helper()
	m, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range m.Submodules() {
		text, err := verilog.Emit(sub, verilog.Header{Generator: "test", ConfigName: c.Name, ConfigHash: c.Hash()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub.Name+".v"), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// engine.md §2's table, with the widths of §1 written out for both presets.
func TestPortsFollowEngineDoc(t *testing.T) {
	type row struct {
		name string
		dir  ir.Dir
		w    int
	}
	for _, tc := range []struct {
		preset                 string
		K, KL, V, VL, BI, H, P int
		AW, E, F, RD           int
	}{
		{"sim", 16, 5, 478, 9, 14, 9, 31, 24, 32, 3, 256},
		{"paper", 32, 6, 478, 9, 28, 9, 31, 36, 32, 3, 512}, // the wide read port
	} {
		t.Run(tc.preset, func(t *testing.T) {
			in, out := ir.In, ir.Out
			want := []row{
				{"clk", in, 1}, {"rst", in, 1},
				{"req_valid", in, 1}, {"req_ready", out, 1}, {"req_op", in, 3}, {"req_tag", in, 16},
				{"req_key", in, 8 * tc.K}, {"req_klen", in, tc.KL}, {"req_vlen", in, tc.VL}, {"req_value", in, 8 * tc.V},
				{"req_bucket", in, tc.BI}, {"req_sec", in, tc.H},
				{"req_fid", in, tc.F}, {"req_delta", in, tc.E}, {"req_cmp", in, tc.E}, {"req_swap", in, tc.E},
				{"rsp_valid", out, 1}, {"rsp_tag", out, 16}, {"rsp_status", out, 4}, {"rsp_vlen", out, tc.VL},
				{"rsp_value", out, 8 * tc.V},
				{"al_valid", out, 1}, {"al_ready", in, 1}, {"al_op", out, 1}, {"al_class", out, 3}, {"al_ptr", out, tc.P},
				{"al_rsp_valid", in, 1}, {"al_rsp_ok", in, 1}, {"al_rsp_ptr", in, tc.P},
				{"mem_rd_valid", out, 1}, {"mem_rd_ready", in, 1}, {"mem_rd_addr", out, tc.AW}, {"mem_rd_beats", out, 5},
				{"mem_rdata_valid", in, 1}, {"mem_rdata_ready", out, 1}, {"mem_rdata", in, tc.RD},
				{"mem_rdata_last", in, 1}, {"mem_rdata_err", in, 1},
				{"mem_wr_valid", out, 1}, {"mem_wr_ready", in, 1}, {"mem_wr_addr", out, tc.AW}, {"mem_wr_data", out, 256},
			}
			c := preset(t, tc.preset)
			m, err := Generate(c)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != Name || Name != "kvd_ht" {
				t.Fatalf("module %s", m.Name)
			}
			var got []row
			for _, p := range m.Ports {
				got = append(got, row{p.Sig.Name, p.Dir, p.Sig.W})
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ports\n got %v\nwant %v", got, want)
			}
			if m.PortByRole(ir.Clock).Sig.Name != "clk" || m.PortByRole(ir.Reset).Sig.Name != "rst" {
				t.Error("clk and rst are not the clock and reset")
			}
			// Ports() (for testbenches) agrees with the module.
			ps, err := Ports(c)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range ps {
				r := want[i+2]
				if p.Name != r.name || p.W != r.w || p.Out != (r.dir == out) {
					t.Errorf("Ports()[%d] = %+v, want %v", i, p, r)
				}
			}
			z, _ := SizesOf(c)
			if z.C != c.Engine.Contexts || z.OB != 512 || z.BC != 1 || z.NC != 5 || z.S != 10 || z.SB != 5 || z.T != 3 {
				t.Errorf("sizes %+v", z)
			}
			// kvd_vec is inside, not beside: its ports are not the engine's (engine.md 8A).
			if len(m.Instances) != 1 || m.Instances[0].Mod.Name != "kvd_vec" {
				t.Errorf("instances %v, want one kvd_vec", m.Instances)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for _, p := range config.Presets() {
		c := preset(t, p)
		a, b := emit(t, c), emit(t, c)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", p)
		}
	}
}

// The header names the protocol and the latency, and the RTL stays small:
// per-context data in memories, shared datapaths, no unrolled copies.
func TestHeaderAndSize(t *testing.T) {
	for _, p := range config.Presets() {
		text := emit(t, preset(t, p))
		for _, s := range []string{"Interface:", "Latency:", "module kvd_ht", "(* ram_style = \"distributed\" *)"} {
			if !bytes.Contains(text, []byte(s)) {
				t.Errorf("%s: no %q", p, s)
			}
		}
		if len(text) > 200<<10 {
			t.Errorf("%s: %d bytes of Verilog", p, len(text))
		}
	}
}

func TestRefusesTablesTheLayoutCannotHold(t *testing.T) {
	for _, set := range [][]string{
		{"slab.classes=[32,64,128,256,512,1024,2048]", "bucket.slab_type_bits=3", "key.max_value_bytes=478"}, // NC > 2^T-2
		{"memory.pointer_unit=16", "slab.classes=[16,64,128,256,512]"},                                       // a class below 32 B
	} {
		c := preset(t, "sim", set...)
		if c.Validate() != nil {
			continue // config.Validate already refuses it
		}
		if _, err := Generate(c); err == nil {
			t.Errorf("%v: generated", set)
		}
	}
}

// Lint clean for configurations with odd widths: a context count that is
// not a power of two, the longest keys, slots of another size, no inline
// KVs, a bucket class that is the smallest class. (The presets' trees,
// this engine in them, are hdlgen/design's lint test.)
func TestLintClean(t *testing.T) {
	if testing.Short() {
		t.Skip("lint skipped in -short mode")
	}
	cases := map[string]config.Config{
		"c5":   preset(t, "sim", "engine.contexts=5"),
		"c2":   preset(t, "sim", "engine.contexts=2"),
		"c256": preset(t, "sim", "engine.contexts=256"),
		"k255": preset(t, "sim", "key.max_value_bytes=255", "key.max_key_bytes=255"),
		"slots12x4": func() config.Config {
			c := preset(t, "sim")
			c.Bucket = config.BucketConfig{Slots: 12, SlotBytes: 4, PointerBits: 24, SecHashBits: 8, SlabTypeBits: 3, InlineThreshold: 40}
			return c
		}(),
		"noinline": preset(t, "sim", "bucket.inline_threshold=0"),
		"classes":  preset(t, "sim", "slab.classes=[64,256,512]", "key.max_value_bytes=400"),
		"e16":      preset(t, "sim", "vector.element_bits=16"),
		"e64":      preset(t, "sim", "vector.element_bits=64"),
		"lambda1": func() config.Config {
			c := preset(t, "sim")
			c.Atomic.Lambdas = c.Atomic.Lambdas[:1] // F = 1, every fid known
			return c
		}(),
	}
	for name, c := range cases {
		c := c
		t.Run(name, func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			emitAll(t, c, dir)
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
