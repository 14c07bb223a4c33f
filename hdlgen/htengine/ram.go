package htengine

import (
	"fmt"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

// Per-context storage in block RAM (engine.md §13).
//
// Every per-context memory has one write port (a block RAM has one per
// copy: a second writer, at another context in the same cycle, would need
// a second RAM) and one registered read port per unit that reads it (the
// tools make a copy of the RAM per read port). A unit that acts on context
// x in cycle t reads x's word with the address presented in t-1: the
// next-state value of whatever selects x (a unit register's _next, or the
// round-robin choice made over the next-state phase vector and pointer).
// The read register then holds the array's word from before the edge that
// ends t-1; when that edge also writes the word, the read is bypassed: a
// registered hit bit picks a registered copy of the written data instead,
// so the unit sees in t exactly what an asynchronous read in t saw before.

// ctxMem is one per-context memory with its write port and read ports.
type ctxMem struct {
	mem    *ir.Memory
	rec    bool // a record: a unit may use only some of its fields
	writer string
	wen    ir.Expr // its write port: mem[waddr] <= wdata at the edge of a cycle where wen
	waddr  ir.Expr
	wdata  ir.Expr
	reads  []*readPort
}

// readPort is one unit's registered read of a ctxMem.
type readPort struct {
	out   *ir.Signal // what the unit uses in cycle t: mem[x] as of the start of t
	reg   *ir.Signal // out's register: mem[addrN] read at the edge that ends t-1
	byp   *ir.Signal // forwarded ports: the edge that ends t-1 wrote mem[addrN]
	addrN ir.Expr    // x, computed in t-1
}

// ctxMemory declares a per-context memory of w bits per context in block RAM.
func (g *gen) ctxMemory(name string, w int, rec bool, writer string) *ctxMem {
	cm := &ctxMem{mem: g.m.Mem(name, w, g.z.C, true), rec: rec, writer: writer}
	g.ctxMems = append(g.ctxMems, cm)
	return cm
}

// writes sets cm's one write port; storage() calls it once per memory.
func (cm *ctxMem) writes(en, addr, data ir.Expr) { cm.wen, cm.waddr, cm.wdata = en, addr, data }

// readAhead is a unit's read port on cm: the returned signal is cm's word
// for the context addrN names one cycle earlier. fwd says whether the
// write port's write at that edge can be to that context and be used
// (why says when, or why not); only then is the read bypassed.
func (g *gen) readAhead(name string, cm *ctxMem, addrN ir.Expr, fwd bool, why string) *ir.Signal {
	m := g.m
	p := &readPort{addrN: addrN}
	p.reg = m.Reg(name+"_reg", cm.mem.Width)
	p.reg.Comment = fmt.Sprintf("%s[%s] at the last edge; %s", cm.mem.Name, addrN, why)
	p.out = p.reg
	if fwd {
		p.byp = m.Reg(name+"_byp_reg", 1)
		p.byp.Comment = fmt.Sprintf("%s wrote %s_reg's word at the edge that read it", cm.writer, name)
		p.out = m.Wire(name, cm.mem.Width)
	}
	if cm.rec {
		m.MarkUnused(p.out)
	}
	cm.reads = append(cm.reads, p)
	return p.out
}

// ramBlocks emits each per-context memory: its write, its read registers and
// their bypass.
func (g *gen) ramBlocks() {
	m := g.m
	for _, cm := range g.ctxMems {
		cm := cm
		if cm.wen == nil {
			panic("htengine: " + cm.mem.Name + " has no write port") // a generator fault
		}
		var wlast *ir.Signal
		for _, p := range cm.reads {
			if p.byp != nil && wlast == nil {
				wlast = m.Reg(cm.mem.Name+"_wdata_reg", cm.mem.Width)
				wlast.Comment = "the data written to " + cm.mem.Name + " at the last edge, for the read bypass"
			}
			if p.byp != nil {
				m.Assign(p.out, ir.Sel(p.byp, wlast, p.reg))
			}
		}
		m.Seq(g.clk, fmt.Sprintf("%s (block RAM): written by %s; %d read port(s), each read a cycle ahead", cm.mem.Name, cm.writer, len(cm.reads)), func(b *ir.Block) {
			b.If(cm.wen, func(b *ir.Block) { b.Write(cm.mem, cm.waddr, cm.wdata) }, nil)
			for _, p := range cm.reads {
				b.Set(p.reg, cm.mem.Read(p.addrN))
			}
			if wlast != nil {
				b.Note("read bypass: this edge's write, for the ports reading its word")
				b.Set(wlast, cm.wdata)
				for _, p := range cm.reads {
					if p.byp != nil {
						b.Set(p.byp, ir.LAnd(cm.wen, ir.Eq(cm.waddr, p.addrN)))
					}
				}
			}
		})
	}
}
