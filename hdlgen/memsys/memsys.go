// Package memsys generates kvd_memsys, the memory system of
// docs/microarch/memory.md: N client ports (each a docs/microarch.md §1.7
// host-memory port, memory side) merged onto the PCIe DMA link ports and
// the on-board DRAM port, with per-link tag pools and two-level round-robin
// arbiters, per-client read buffers that restore request order, the load
// dispatcher and its direct-mapped DRAM cache, error and timeout handling,
// and the flush sequencer.
package memsys

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// Name is the module name.
const Name = "kvd_memsys"

// Fixed sizes (memory.md §1).
const (
	BeatBits  = 256
	LineBits  = 512
	BeatsBits = 5
	MaxBeats  = 16
)

// Client is one client port's generator parameters (memory.md §1).
type Client struct {
	Name   string
	High   bool
	SwapIn bool
	// Wide: 512-bit read data, two beats a transfer (docs/microarch.md §1.7).
	Wide bool
}

// DefaultClients are the processor's ports (memory.md §1); the engine's
// bucket port is wide iff engine.read_bytes is 64.
func DefaultClients(cfg config.Config) []Client {
	return []Client{{"slab", true, false, false}, {"bucket", true, true, cfg.Engine.ReadBytes == 64}, {"object", false, false, false}}
}

// Params are the generator parameters.
type Params struct {
	Clients          []Client
	RB, Q, RQ, LQ, K int
	TO               int
}

// DefaultParams are memory.md §1's defaults for cfg.
func DefaultParams(cfg config.Config) Params {
	return Params{Clients: DefaultClients(cfg), RB: cfg.DMA.ReadBufferBeats, Q: 8, RQ: 16, LQ: 64, K: 128, TO: cfg.NsToCycles(50000)}
}

// Generate builds kvd_memsys for cfg with the default parameters.
func Generate(cfg config.Config) (*ir.Module, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return GenerateWith(cfg, DefaultParams(cfg))
}

// Cache operation kinds.
const (
	opR = 0
	opS = 1
	opW = 2
	opF = 3
)

// Flush states.
const (
	fsIdle  = 0
	fsSweep = 1
	fsDrain = 2
	fsWait  = 3
)

type regPair struct {
	r, n  *ir.Signal
	reset bool
	rv    uint64
}

type gen struct {
	cfg config.Config
	p   Params
	m   *ir.Module

	N, L, T, TW, A, SB, SBW, TG, MW, RBW, PW, CW, LW int
	C                                                int64
	LTH                                              uint64
	rowsD, rowsL                                     []uint64

	tmp   int
	regs  []*regPair
	steps []func(b *ir.Block)
	seqs  []func(b *ir.Block)

	lr, co, iq *layout // link request, cache operation, IQ entry
}

func log2(n int64) int { return bits.Len64(uint64(n)) - 1 }

// GenerateWith builds kvd_memsys for cfg and p.
func GenerateWith(cfg config.Config, p Params) (*ir.Module, error) {
	g := &gen{cfg: cfg, p: p}
	g.N, g.L, g.T = len(p.Clients), cfg.DMA.Links, cfg.DMA.TagsPerLink
	g.TW = max(1, log2(int64(g.T)))
	g.A = log2(cfg.Memory.HostBytes)
	g.C = min(cfg.DRAM.Bytes, cfg.Memory.HostBytes) / 64
	g.SB = log2(g.C)
	g.SBW = max(1, g.SB)
	g.TG = g.A - 6 - g.SB
	g.MW = 2 + g.TG
	g.LTH = uint64(math.Round(cfg.DRAM.CacheFraction * 65536))
	g.RBW = log2(int64(p.RB))
	g.PW = clog2(p.K)
	g.CW = clog2(g.N)
	g.LW = clog2(g.L + 2)
	switch {
	case g.N < 1 || g.N > 8:
		return nil, fmt.Errorf("memsys: %d clients, want 1..8", g.N)
	case g.L < 1 || g.L > 4:
		return nil, fmt.Errorf("memsys: %d links, want 1..4", g.L)
	case g.T < 2 || g.T&(g.T-1) != 0:
		return nil, fmt.Errorf("memsys: %d tags per link, want a power of two >= 2", g.T)
	case g.SB < 3 || g.TG < 1:
		return nil, fmt.Errorf("memsys: %d cache lines for %d-bit addresses: want at least 8 lines and a tag bit", g.C, g.A)
	case p.RB < 16 || p.RB&(p.RB-1) != 0, p.Q < 2 || p.Q&(p.Q-1) != 0, p.RQ < 2 || p.RQ&(p.RQ-1) != 0,
		p.LQ < 2 || p.LQ&(p.LQ-1) != 0, p.K < p.LQ || p.K&(p.K-1) != 0:
		return nil, fmt.Errorf("memsys: queue sizes must be powers of two (RB >= 16, K >= LQ)")
	}
	g.rowsD = rows(cfg.KeyHash.Seed, 3, g.A-6, 16)
	g.rowsL = rows(cfg.KeyHash.Seed, 4, g.A-9, 8)
	return g.build()
}

func (g *gen) wire(name string, e ir.Expr) *ir.Signal {
	if b, ok := e.(*ir.Bad); ok {
		panic(fmt.Sprintf("memsys: wire %s: %v", name, b.Err))
	}
	s := g.m.Wire(name, max(1, e.Width()))
	g.m.Assign(s, e)
	// Record and slice wires are read in part (fields, bit ranges).
	g.m.MarkUnused(s)
	return s
}

// state declares a register pair; reset: the control value after reset.
func (g *gen) state(name string, w int, reset bool, rv uint64) (*ir.Signal, *ir.Signal) {
	r, n := g.m.RegPair(name, w)
	g.regs = append(g.regs, &regPair{r: r, n: n, reset: reset, rv: rv})
	return r, n
}

// ev declares a combinational variable set by the step block (default 0).
func (g *gen) ev(name string, w int) *ir.Signal {
	s := g.m.Reg(name, w)
	g.regs = append(g.regs, &regPair{r: nil, n: s})
	return s
}

func (g *gen) step(f func(b *ir.Block)) { g.steps = append(g.steps, f) }
func (g *gen) seq(f func(b *ir.Block))  { g.seqs = append(g.seqs, f) }

// queue is a FIFO of register/distributed-RAM words with up to two pushes
// and up to two pops per cycle, and combinational reads of its first
// `peek` entries. A queue that offers three entries can also take out its
// third with its head, keeping the second (the splitter's pair over a
// read, memory.md §6 step 8): `move` writes the second entry into the
// third's place, and popping two then leaves it at the head.
type queue struct {
	g                   *gen
	name                string
	depth, aw           int
	mem                 *ir.Memory
	rp, wp              *ir.Signal
	rpN, wpN            *ir.Signal
	cnt                 *ir.Signal // entries at the start of the cycle
	head, second, third ir.Expr
	push0, push1        *ir.Signal
	data0, data1        *ir.Signal
	move                *ir.Signal // peek 3 only: entry 2 ← entry 1
	pop                 *ir.Signal // 2 bits: entries popped
	nonEmpty            *ir.Signal
	pushes              int
}

func (g *gen) queue(name string, w, depth, pushes, peek int) *queue {
	q := &queue{g: g, name: name, depth: depth, aw: clog2(depth), pushes: pushes}
	q.mem = g.m.Mem(name+"_mem", w, depth, false)
	q.rp, q.rpN = g.state(name+"_rp", q.aw+1, true, 0)
	q.wp, q.wpN = g.state(name+"_wp", q.aw+1, true, 0)
	q.cnt = g.wire(name+"_cnt", ir.Sub(q.wp, q.rp))
	q.nonEmpty = g.wire(name+"_ne", ir.Ne(q.cnt, k(q.aw+1, 0)))
	q.head = g.wire(name+"_head", q.mem.Read(g.bitsOf(q.rp, q.aw-1, 0)))
	at := func(i uint64) ir.Expr { return g.bitsOf(ir.Add(q.rp, k(q.aw+1, i)), q.aw-1, 0) }
	if peek >= 2 {
		q.second = g.wire(name+"_second", q.mem.Read(at(1)))
	}
	if peek >= 3 {
		q.third = g.wire(name+"_third", q.mem.Read(at(2)))
		q.move = g.ev(name+"_move", 1)
		second := q.second
		g.seq(func(b *ir.Block) {
			// The third entry is below wp (three entries held), so this
			// never writes where a push of the same cycle does.
			b.If(q.move, func(b *ir.Block) { b.Write(q.mem, at(2), second) }, nil)
		})
	}
	q.push0 = g.ev(name+"_push0", 1)
	q.data0 = g.ev(name+"_data0", w)
	if pushes > 1 {
		q.push1 = g.ev(name+"_push1", 1)
		q.data1 = g.ev(name+"_data1", w)
	}
	q.pop = g.ev(name+"_pop", 2)
	g.seq(func(b *ir.Block) {
		b.If(q.push0, func(b *ir.Block) { b.Write(q.mem, g.bitsOf(q.wp, q.aw-1, 0), q.data0) }, nil)
		if pushes > 1 {
			b.If(q.push1, func(b *ir.Block) {
				b.Write(q.mem, g.bitsOf(ir.Add(q.wp, k(q.aw+1, 1)), q.aw-1, 0), q.data1)
			}, nil)
		}
	})
	return q
}

// room: the queue accepts n more pushes this cycle (none made before).
func (q *queue) room(n int) ir.Expr {
	return ir.Le(q.cnt, k(q.aw+1, uint64(q.depth-n)))
}

// finish sets the pointer nexts (called at the end of the step block).
func (q *queue) finish(b *ir.Block) {
	np := ir.Zext(q.push0, q.aw+1)
	if q.push1 != nil {
		np = ir.Add(np, ir.Zext(q.push1, q.aw+1))
	}
	b.Set(q.wpN, ir.Add(q.wp, np))
	b.Set(q.rpN, ir.Add(q.rp, q.g.fit(q.pop, q.aw+1)))
}

// arb is a two-level round-robin arbiter (memory.md §2.5).
type arb struct {
	grant  *ir.Signal
	win    *ir.Signal
	lastH  *ir.Signal
	lastL  *ir.Signal
	starve *ir.Signal
	lastHN *ir.Signal
	lastLN *ir.Signal
	starvN *ir.Signal
	newH   ir.Expr
	newL   ir.Expr
	newS   ir.Expr
	isHigh ir.Expr
}

// rr picks the first set bit of e (R bits) in the order last+1, last+2, ...
func (g *gen) rr(name string, e ir.Expr, last ir.Expr, R int) ir.Expr {
	rw := last.Width()
	var res ir.Expr = k(rw, 0)
	for i := R; i >= 1; i-- {
		s := ir.Add(ir.Zext(last, rw+1), k(rw+1, uint64(i)))
		cand := ir.Sel(ir.Ge(s, k(rw+1, uint64(R))), ir.Sub(s, k(rw+1, uint64(R))), s)
		cw := g.wire(fmt.Sprintf("%s_c%d", name, i), g.bitsOf(cand, rw-1, 0))
		var bit ir.Expr
		if R == 1 {
			bit = e
		} else {
			bit = ir.BitAt(e, cw)
		}
		res = ir.Sel(bit, cw, res)
	}
	return res
}

func (g *gen) arbiter(name string, elig []ir.Expr, high []bool) *arb {
	R := len(elig)
	rw := clog2(R)
	a := &arb{}
	a.lastH, a.lastHN = g.state(name+"_last_hi", rw, true, uint64(R-1))
	a.lastL, a.lastLN = g.state(name+"_last_lo", rw, true, uint64(R-1))
	a.starve, a.starvN = g.state(name+"_starve", 4, true, 0)
	hp := make([]ir.Expr, R)
	lp := make([]ir.Expr, R)
	for i := 0; i < R; i++ {
		if high[i] {
			hp[R-1-i], lp[R-1-i] = elig[i], k(1, 0)
		} else {
			hp[R-1-i], lp[R-1-i] = k(1, 0), elig[i]
		}
	}
	eh := g.wire(name+"_elig_hi", ir.Cat(hp...))
	el := g.wire(name+"_elig_lo", ir.Cat(lp...))
	anyH := g.wire(name+"_any_hi", ir.OrR(eh))
	anyL := g.wire(name+"_any_lo", ir.OrR(el))
	under := ir.Lt(a.starve, k(4, 8))
	useH := g.wire(name+"_use_hi", ir.LAnd(anyH, ir.LOr(ir.LNot(anyL), under)))
	wh := g.wire(name+"_win_hi", g.rr(name+"_rh", eh, a.lastH, R))
	wl := g.wire(name+"_win_lo", g.rr(name+"_rl", el, a.lastL, R))
	a.grant = g.wire(name+"_grant", ir.LOr(anyH, anyL))
	a.win = g.wire(name+"_win", ir.Sel(useH, wh, wl))
	a.isHigh = useH
	a.newH = ir.Sel(useH, wh, a.lastH)
	a.newL = ir.Sel(ir.LAnd(ir.LNot(useH), anyL), wl, a.lastL)
	a.newS = ir.Sel(ir.LAnd(anyH, anyL), ir.Sel(under, ir.Add(a.starve, k(4, 1)), k(4, 0)),
		ir.Sel(anyL, k(4, 0), a.starve))
	return a
}

// commit: the arbiter granted this cycle (call inside the grant's branch).
func (a *arb) commit(b *ir.Block) {
	b.Set(a.lastHN, a.newH)
	b.Set(a.lastLN, a.newL)
	b.Set(a.starvN, a.newS)
}
