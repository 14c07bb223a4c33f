package top

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/glue"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/verilog"
	"github.com/kvdirect/kvd/lint"
)

// stubRS is a kvd_rs with rs.md §2 (v2)'s ports and no behaviour: the
// glue's rs_* ports with the directions turned round.
func stubRS(t *testing.T, cfg config.Config) *ir.Module {
	t.Helper()
	ports, err := glue.Ports(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := ir.NewModule("kvd_rs")
	m.Doc = ir.Doc{Title: "stand-in"}
	m.MarkUnused(m.Clock("clk"))
	m.MarkUnused(m.Reset("rst"))
	for _, p := range ports {
		if !strings.HasPrefix(p.Name, "rs_") {
			continue
		}
		n := strings.TrimPrefix(p.Name, "rs_")
		if p.Out {
			m.MarkUnused(m.Input("", n, p.W))
		} else {
			m.Assign(m.Output("", n, p.W), ir.C(p.W, 0))
		}
	}
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// blocks returns the blocks of cfg, with a stand-in station when the
// generated one does not have rs.md v2's ports yet.
func blocks(t *testing.T, cfg config.Config) (Blocks, bool) {
	t.Helper()
	b, err := BlocksOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if portNamed(b.RS, "pipe_ready") == nil {
		b.RS = stubRS(t, cfg)
		return b, true
	}
	return b, false
}

func write(t *testing.T, cfg config.Config, top *ir.Module) string {
	t.Helper()
	dir := t.TempDir()
	seen := map[string]bool{}
	for _, m := range top.Submodules() {
		if seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		text, err := verilog.Emit(m, verilog.Header{Generator: "test", ConfigName: cfg.Name, ConfigHash: cfg.Hash()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, m.Name+".v"), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWiring(t *testing.T) {
	for _, p := range config.Presets() {
		c, _ := config.Preset(p)
		b, stub := blocks(t, c)
		if stub {
			t.Logf("%s: kvd_rs has no pipe_ready yet (rs.md v1): wired against a stand-in with rs.md v2's ports", p)
		}
		m, err := Wire(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(m.Instances) != 7 || len(m.Blocks) != 0 || len(m.Assigns) != 0 {
			t.Errorf("%s: %d instances, %d blocks, %d assigns: want 7 instances and wiring only", p, len(m.Instances), len(m.Blocks), len(m.Assigns))
		}
		// The top's ports: rx_*, tx_*, then the memory system's l*, dram_*, flush_*.
		var names []string
		for _, dp := range m.DataPorts() {
			names = append(names, dp.Sig.Name)
		}
		joined := strings.Join(names, " ")
		if !strings.HasPrefix(joined, "rx_valid rx_ready") || !strings.Contains(joined, "tx_last l0_req_valid") ||
			!strings.HasSuffix(joined, "flush_valid flush_ready flush_done") {
			t.Errorf("%s: port order %s", p, joined)
		}
	}
}

func TestTopLintClean(t *testing.T) {
	if testing.Short() {
		t.Skip("lint skipped in -short mode")
	}
	c, _ := config.Preset("sim")
	b, _ := blocks(t, c)
	m, err := Wire(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := write(t, c, m)
	ctx := context.Background()
	files := []string{filepath.Join(dir, Name+".v")}
	r := lint.Verilator(ctx, dir, files)
	if !r.OK() {
		t.Errorf("%s: %v %q", r.Summary(), r.Err, r.Warnings)
	}
}
