package front

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// processor.md §3's table, in its order.
var wantPorts = []string{
	"clk", "rst",
	"rx_valid", "rx_ready", "rx_data", "rx_keep", "rx_last", "rx_len",
	"iss_valid", "iss_ready", "iss_tag", "iss_op", "iss_fid", "iss_klen", "iss_key", "iss_vlen", "iss_value",
	"cpl_valid", "cpl_tag", "cpl_status", "cpl_vlen", "cpl_value",
	"tx_valid", "tx_ready", "tx_data", "tx_keep", "tx_last",
}

func TestPortsFollowTheDocument(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		c, err := config.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Generate(c)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range m.Ports {
			got = append(got, p.Sig.Name)
		}
		if d := cmp.Diff(wantPorts, got); d != "" {
			t.Errorf("%s: ports (-processor.md §3 +generated):\n%s", name, d)
		}
		// The widths are the sub-blocks': one spot check per group.
		for _, w := range []struct {
			port string
			bits int
		}{{"rx_data", 8 * c.Net.BytesPerCycle}, {"iss_tag", 16}, {"iss_value", 8 * c.Key.MaxValueBytes}, {"cpl_status", 8}, {"tx_keep", c.Net.BytesPerCycle}} {
			for _, p := range m.Ports {
				if p.Sig.Name == w.port && p.Sig.W != w.bits {
					t.Errorf("%s: %s is %d bits, want %d", name, w.port, p.Sig.W, w.bits)
				}
			}
		}
	}
}

// Wiring only: no register, no always block, no assignment of its own —
// so the front end can add no cycle and no logic the blocks' documents do
// not already describe.
func TestWiringOnly(t *testing.T) {
	c, _ := config.Preset("sim")
	m, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Blocks) != 0 || len(m.Assigns) != 0 || len(m.Memories) != 0 {
		t.Errorf("%d always blocks, %d assignments, %d memories: kvd_front is wiring only", len(m.Blocks), len(m.Assigns), len(m.Memories))
	}
	for _, s := range m.Signals {
		if s.Kind != ir.Wire {
			t.Errorf("signal %s is not a wire", s.Name)
		}
	}
	var insts []string
	for _, in := range m.Instances {
		insts = append(insts, in.Name+":"+in.Mod.Name)
	}
	if d := cmp.Diff([]string{"u_dec:kvd_dec", "u_rob:kvd_rob", "u_enc:kvd_enc"}, insts); d != "" {
		t.Errorf("instances (-want +got):\n%s", d)
	}
}
