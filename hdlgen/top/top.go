// Package top generates kvd_top, the KV processor (docs/microarch/processor.md
// §5): the front end, the glue, the key-hash unit, the reservation station,
// the hash-table engine, the slab allocator and the memory system, wired.
// Wiring only: every register lives in the blocks.
package top

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/front"
	"github.com/kvdirect/kvd/hdlgen/glue"
	"github.com/kvdirect/kvd/hdlgen/htengine"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/keyhash"
	"github.com/kvdirect/kvd/hdlgen/memsys"
	"github.com/kvdirect/kvd/hdlgen/rs"
	"github.com/kvdirect/kvd/hdlgen/slab"
)

// Name is the module name.
const Name = "kvd_top"

// Blocks are the generated blocks kvd_top instantiates.
type Blocks struct {
	Front, Glue, Hash, RS, HT, Slab, Mem *ir.Module
}

// BlocksOf generates the blocks of cfg: the station with aux width
// BI + H, the memory system with its default client list.
func BlocksOf(cfg config.Config) (Blocks, error) {
	var b Blocks
	var err error
	steps := []struct {
		dst **ir.Module
		gen func(config.Config) (*ir.Module, error)
	}{
		{&b.Front, front.Generate}, {&b.Glue, glue.Generate}, {&b.Hash, keyhash.Generate},
		{&b.RS, rs.Generate}, {&b.HT, htengine.Generate}, {&b.Slab, slab.Generate}, {&b.Mem, memsys.Generate},
	}
	for _, s := range steps {
		if *s.dst, err = s.gen(cfg); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Generate returns kvd_top for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	b, err := BlocksOf(cfg)
	if err != nil {
		return nil, err
	}
	if p := portNamed(b.RS, "req_aux"); p == nil || p.Sig.W != cfg.BucketIndexBits()+cfg.Bucket.SecHashBits {
		return nil, fmt.Errorf("%s: kvd_rs must carry aux of BI + H = %d bits (processor.md §5)", Name, cfg.BucketIndexBits()+cfg.Bucket.SecHashBits)
	}
	return Wire(b)
}

// Client 2 of kvd_memsys (objects) is idle in this top level (processor.md
// §5's decision: all engine traffic on client 1).
const idleClient = "c2_mem_"

// Wire builds kvd_top from its blocks.
func Wire(b Blocks) (*ir.Module, error) {
	m := ir.NewModule(Name)
	m.Doc = doc()
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	type inst struct {
		name string
		mod  *ir.Module
	}
	insts := []inst{{"u_front", b.Front}, {"u_glue", b.Glue}, {"u_hash", b.Hash}, {"u_rs", b.RS},
		{"u_ht", b.HT}, {"u_slab", b.Slab}, {"u_mem", b.Mem}}
	conns := map[*ir.Module][]ir.Conn{}
	done := map[*ir.Module]map[string]bool{}
	for _, in := range insts {
		conns[in.mod] = []ir.Conn{{Port: "clk", Expr: clk}, {Port: "rst", Expr: rst}}
		done[in.mod] = map[string]bool{"clk": true, "rst": true}
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(Name+": "+format, args...)) }
	conn := func(mod *ir.Module, port string, e ir.Expr) {
		if done[mod][port] {
			fail("%s.%s connected twice", mod.Name, port)
			return
		}
		done[mod][port] = true
		conns[mod] = append(conns[mod], ir.Conn{Port: port, Expr: e})
	}

	// The outside ports, in §5's order: the front end's rx_* and tx_*, then
	// the memory system's link, DRAM and flush ports.
	outside := func(sub *ir.Module, group string, match func(string) bool) {
		for _, p := range sub.Ports {
			if p.Role != ir.Data || !match(p.Sig.Name) {
				continue
			}
			var s *ir.Signal
			if p.Dir == ir.In {
				s = m.Input(group, p.Sig.Name, p.Sig.W)
			} else {
				s = m.Output(group, p.Sig.Name, p.Sig.W)
			}
			conn(sub, p.Sig.Name, s)
		}
	}
	prefix := func(ps ...string) func(string) bool {
		return func(n string) bool {
			for _, p := range ps {
				if strings.HasPrefix(n, p) {
					return true
				}
			}
			return false
		}
	}
	outside(b.Front, "Request frames (AXI-Stream, store-and-forward)", prefix("rx_"))
	outside(b.Front, "Response frames (AXI-Stream)", prefix("tx_"))
	var links []string
	for _, p := range b.Mem.Ports {
		n := p.Sig.Name
		if len(n) > 2 && n[0] == 'l' && n[1] >= '0' && n[1] <= '9' {
			if i := strings.Index(n, "_"); i > 0 && !contains(links, n[:i+1]) {
				links = append(links, n[:i+1])
			}
		}
	}
	for _, l := range links {
		outside(b.Mem, fmt.Sprintf("PCIe DMA link %s (kvd_memsys)", strings.TrimSuffix(l, "_")), prefix(l))
	}
	outside(b.Mem, "On-board DRAM (kvd_memsys)", prefix("dram_"))
	outside(b.Mem, "Flush (kvd_memsys)", prefix("flush_"))

	// link joins a.pa and b.pb with a wire named name: one drives it, the
	// other reads it, the widths agree.
	link := func(name string, am *ir.Module, pa string, bm *ir.Module, pb string) {
		x, y := portNamed(am, pa), portNamed(bm, pb)
		switch {
		case x == nil:
			fail("%s has no port %s (for %s.%s)", am.Name, pa, bm.Name, pb)
			return
		case y == nil:
			fail("%s has no port %s (for %s.%s)", bm.Name, pb, am.Name, pa)
			return
		case x.Dir == y.Dir:
			fail("%s.%s and %s.%s are both %ss", am.Name, pa, bm.Name, pb, x.Dir)
			return
		case x.Sig.W != y.Sig.W:
			fail("%s.%s is %d bits, %s.%s %d", am.Name, pa, x.Sig.W, bm.Name, pb, y.Sig.W)
			return
		}
		w := m.Wire(name, x.Sig.W)
		conn(am, pa, w)
		conn(bm, pb, w)
	}
	// each links every data port of sub whose name starts with subPrefix to
	// the port of other named otherPrefix + the rest.
	each := func(sub *ir.Module, subPrefix string, other *ir.Module, otherPrefix string, wirePrefix string) {
		for _, p := range sub.Ports {
			n := p.Sig.Name
			if p.Role != ir.Data || !strings.HasPrefix(n, subPrefix) {
				continue
			}
			rest := strings.TrimPrefix(n, subPrefix)
			link(wirePrefix+rest, sub, n, other, otherPrefix+rest)
		}
	}
	// u_front <-> u_glue: iss_*, cpl_*.
	each(b.Front, "iss_", b.Glue, "iss_", "iss_")
	each(b.Front, "cpl_", b.Glue, "cpl_", "cpl_")
	// u_glue <-> u_hash: kh_in_* -> in_*, out_* -> kh_out_*.
	each(b.Hash, "in_", b.Glue, "kh_in_", "kh_in_")
	each(b.Hash, "out_", b.Glue, "kh_out_", "kh_out_")
	// u_glue <-> u_rs: rs_X <-> X, every port of the station.
	for _, p := range b.RS.Ports {
		if p.Role == ir.Data {
			link("rs_"+p.Sig.Name, b.RS, p.Sig.Name, b.Glue, "rs_"+p.Sig.Name)
		}
	}
	// u_glue <-> u_ht: ht_X <-> X for the engine's req_* and rsp_*.
	each(b.HT, "req_", b.Glue, "ht_req_", "ht_req_")
	each(b.HT, "rsp_", b.Glue, "ht_rsp_", "ht_rsp_")
	// u_ht <-> u_slab: al_* <-> req_*, al_rsp_* <-> rsp_*.
	for _, x := range [][2]string{
		{"al_valid", "req_valid"}, {"al_ready", "req_ready"}, {"al_op", "req_op"}, {"al_class", "req_class"},
		{"al_ptr", "req_ptr"}, {"al_rsp_valid", "rsp_valid"}, {"al_rsp_ok", "rsp_ok"}, {"al_rsp_ptr", "rsp_ptr"},
	} {
		link(x[0], b.HT, x[0], b.Slab, x[1])
	}
	// Host-memory ports: the slab allocator on client 0, the engine on 1.
	each(b.Slab, "mem_", b.Mem, "c0_mem_", "c0_mem_")
	each(b.HT, "mem_", b.Mem, "c1_mem_", "c1_mem_")
	// Client 2 idle: inputs tied to 0, outputs open.
	for _, p := range b.Mem.Ports {
		if !strings.HasPrefix(p.Sig.Name, idleClient) {
			continue
		}
		if p.Dir == ir.In {
			conn(b.Mem, p.Sig.Name, ir.C(p.Sig.W, 0))
		} else {
			conn(b.Mem, p.Sig.Name, nil)
		}
	}
	// Every port of every block is accounted for, each once.
	for _, in := range insts {
		var open []string
		for _, p := range in.mod.Ports {
			if !done[in.mod][p.Sig.Name] {
				open = append(open, p.Sig.Name)
			}
		}
		if len(open) > 0 {
			sort.Strings(open)
			fail("%s (%s): ports with no partner: %s", in.name, in.mod.Name, strings.Join(open, ", "))
		}
	}
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	for _, in := range insts {
		m.Instantiate(in.name, in.mod, nil, conns[in.mod])
	}
	if err := m.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func doc() ir.Doc {
	return ir.Doc{
		Title: "KV-Direct processor: request frames in, response frames out, host memory and on-board DRAM behind",
		Purpose: []string{
			"docs/microarch/processor.md 5. Wiring only, no logic. u_front (kvd_front:",
			"decoder, reorder buffer, encoder) issues operations to u_glue (kvd_glue),",
			"which hashes keys through u_hash (kvd_keyhash), presents them to u_rs",
			"(kvd_rs, aux = bucket and secondary hash), queues the station's pipeline",
			"operations for u_ht (kvd_ht) and carries long values by tag. u_ht",
			"allocates through u_slab (kvd_slab); both reach host memory through u_mem",
			"(kvd_memsys): the allocator on client 0, the engine on client 1 (all its",
			"traffic, buckets and objects); client 2 is idle (inputs tied to 0,",
			"outputs open).",
		},
		Protocol: []string{
			"rx_*: AXI-Stream request frames; tx_*: AXI-Stream response frames",
			"(processor.md 3). l<k>_*: the PCIe DMA links, dram_*: the on-board DRAM,",
			"flush_*: the cache flush handshake, as kvd_memsys's (memory.md).",
		},
		Latency: []string{
			"The sum of the blocks' timelines along the path (processor.md 3, 4.6,",
			"rs.md 5, engine.md 10, memory.md): the wiring adds no cycle.",
		},
	}
}

func portNamed(m *ir.Module, name string) *ir.Port {
	for _, p := range m.Ports {
		if p.Sig.Name == name {
			return p
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func joinErrs(errs []error) error {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = e.Error()
	}
	return fmt.Errorf("%s", strings.Join(s, "\n"))
}
