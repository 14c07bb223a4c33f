package top

import (
	"fmt"
	"slices"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/front"
	"github.com/kvdirect/kvd/golden/memsys"
	"github.com/kvdirect/kvd/golden/model"
)

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The top's ports are §5's concatenation: kvd_front's rx_* and tx_* in the
// order of §3's table, then kvd_memsys's link ports l0_* … (memory.md §2,
// each link's in its order), its dram_* and its flush_* — each the
// sub-block's port of that name, with its direction, width and qualifier.
func TestPortsAreTheConcatenation(t *testing.T) {
	for _, name := range config.Presets() {
		cfg := preset(t, name)
		var want []model.Port
		take := func(from []model.Port, names ...string) {
			for _, n := range names {
				i := slices.IndexFunc(from, func(p model.Port) bool { return p.Name == n })
				if i < 0 {
					t.Fatalf("%s: no port %s to take", name, n)
				}
				want = append(want, from[i])
			}
		}
		take(front.Ports(cfg), "rx_valid", "rx_ready", "rx_data", "rx_keep", "rx_last", "rx_len",
			"tx_valid", "tx_ready", "tx_data", "tx_keep", "tx_last")
		mp := memsys.Ports(memsys.DefaultParams(cfg))
		for l := range cfg.DMA.Links {
			var ns []string
			for _, s := range []string{"req_valid", "req_ready", "req_write", "req_addr", "req_beats", "req_tag",
				"req_data", "req_last", "cpl_valid", "cpl_tag", "cpl_data", "cpl_last", "cpl_err"} {
				ns = append(ns, fmt.Sprintf("l%d_%s", l, s))
			}
			take(mp, ns...)
		}
		take(mp, "dram_req_valid", "dram_req_ready", "dram_req_write", "dram_req_addr", "dram_req_data",
			"dram_req_meta", "dram_rsp_valid", "dram_rsp_data", "dram_rsp_meta", "flush_valid", "flush_ready", "flush_done")

		eq := func(a, b model.Port) bool {
			return a.Name == b.Name && a.Dir == b.Dir && a.Width == b.Width && a.QualifiedBy == b.QualifiedBy && slices.Equal(a.Fields, b.Fields)
		}
		if got := Ports(cfg); !slices.EqualFunc(got, want, eq) {
			t.Errorf("%s: Ports\n got %v\nwant %v", name, got, want)
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := m.Ports(); !slices.EqualFunc(got, want, eq) {
			t.Errorf("%s: the model's Ports\n got %v\nwant %v", name, got, want)
		}
		if _, err := model.NewLayout(m.Ports()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Every sub-block input has §5's driver and every output a load, but
// client 2's outputs of the memory system; the netlist names only ports
// that exist (connect checks it; New fails otherwise). Here: the wiring
// table itself, on a few ports of each kind.
func TestDrivers(t *testing.T) {
	for _, c := range []struct {
		b       int
		name    string
		src     int
		srcName string
	}{
		{bFront, "rx_valid", srcTop, "rx_valid"},
		{bFront, "tx_ready", srcTop, "tx_ready"},
		{bFront, "iss_ready", bGlue, "iss_ready"},
		{bFront, "cpl_value", bGlue, "cpl_value"},
		{bGlue, "iss_valid", bFront, "iss_valid"},
		{bGlue, "kh_out_bucket", bHash, "out_bucket"},
		{bHash, "in_key", bGlue, "kh_in_key"},
		{bGlue, "rs_req_ready", bRS, "req_ready"},
		{bRS, "req_slot", bGlue, "rs_req_slot"},
		{bRS, "pipe_ready", bGlue, "rs_pipe_ready"},
		{bGlue, "rs_resp_value", bRS, "resp_value"},
		{bHT, "req_bucket", bGlue, "ht_req_bucket"},
		{bGlue, "ht_rsp_tag", bHT, "rsp_tag"},
		{bHT, "al_ready", bSlab, "req_ready"},
		{bHT, "al_rsp_ptr", bSlab, "rsp_ptr"},
		{bSlab, "req_valid", bHT, "al_valid"},
		{bSlab, "req_class", bHT, "al_class"},
		{bHT, "mem_rdata", bMem, "c1_mem_rdata"},
		{bMem, "c1_mem_wr_data", bHT, "mem_wr_data"},
		{bSlab, "mem_rd_ready", bMem, "c0_mem_rd_ready"},
		{bMem, "c0_mem_rd_addr", bSlab, "mem_rd_addr"},
		{bMem, "c2_mem_rd_valid", srcZero, ""},
		{bMem, "l1_cpl_data", srcTop, "l1_cpl_data"},
		{bMem, "flush_valid", srcTop, "flush_valid"},
	} {
		if src, name := driver(c.b, c.name); src != c.src || name != c.srcName {
			t.Errorf("%s.%s driven by %d.%s, want %d.%s", blockInst[c.b], c.name, src, name, c.src, c.srcName)
		}
	}
	if !unconnected(bMem, "c2_mem_rdata") || unconnected(bMem, "c1_mem_rdata") || unconnected(bHT, "al_valid") {
		t.Error("unconnected: only client 2's outputs of u_mem")
	}
	if !isClientPort("c0_mem_rd_valid") || !isClientPort("c12_mem_x") || isClientPort("cpl_valid") || isClientPort("l0_cpl_valid") {
		t.Error("isClientPort")
	}
}
