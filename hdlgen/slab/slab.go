// Package slab generates kvd_slab, the slab allocator's NIC block of
// docs/microarch/slab.md: per size class a double-ended stack of free slab
// pointers in banked block RAM, a request stage answering one alloc or free
// per clock, and a sync engine that moves batches of pointers between the
// stacks and the host's refill and flush rings by DMA.
package slab

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// Name is the module name.
const Name = "kvd_slab"

// Fixed sizes of docs/microarch/slab.md §1–§2.
const (
	ClassBits  = 3 // CW: the 8 class slots of the host memory map
	BeatsBits  = 5 // mem_rd_beats
	BeatBits   = 256
	Lanes      = 8 // 4-byte ring entries per beat = stack banks
	EntryBits  = 32
	MaxBeats   = 16 // beats of one read request
	ReqBytes   = MaxBeats * BeatBits / 8
	classSlots = 8
)

// Sync-engine states (slab.md §4).
const (
	esIdle = iota
	esIdxRd
	esIdxWait
	esRF
	esFlRd
	esFlWr
	esPtr
	esBits = 3
)

// Engine operations.
const (
	opRefill = 0
	opFlush  = 1
)

func width(n int) int { return max(1, bits.Len(uint(n))) } // bits to hold 0..n

func log2(n int64) int { return bits.Len64(uint64(n)) - 1 }

// Generate builds kvd_slab for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &gen{cfg: cfg}
	if err := g.params(); err != nil {
		return nil, err
	}
	return g.build()
}

type gen struct {
	cfg config.Config
	m   *ir.Module

	NC, D, LW, HW, B, RN, P, AW, NB, NR, retry, DW int
	LD, RW, LRN, EW, resvW, rqW, btW, waitW        int
	ctrl, ring                                     int64
}

func (g *gen) params() error {
	c := g.cfg
	g.NC = len(c.Slab.Classes)
	g.D, g.LW, g.HW = c.Slab.NICStack, c.Slab.LowWatermark, c.Slab.HighWatermark
	g.B, g.RN = c.Slab.DMABatch, c.Slab.HostRing
	g.P = c.Bucket.PointerBits
	g.AW = log2(c.Memory.HostBytes)
	g.NB = g.B * 4 / 32
	g.NR = (g.NB + MaxBeats - 1) / MaxBeats
	g.retry = max(1, c.NsToCycles(c.Slab.DaemonPeriodNs))
	g.LD = log2(int64(g.D))
	g.DW = g.LD + 1
	g.RW = g.LD - 3
	g.LRN = log2(int64(g.RN))
	g.EW = min(g.P, EntryBits)
	g.resvW, g.rqW, g.btW, g.waitW = width(g.B), width(g.NR), width(g.NB), width(g.retry)
	g.ctrl, g.ring = c.SlabCtrlBase(), c.SlabRingBase()
	switch {
	case g.NC < 1 || g.NC > classSlots:
		return fmt.Errorf("slab: %d classes, want 1..%d", g.NC, classSlots)
	case c.Memory.HostBytes/int64(c.Memory.PointerUnit) > 1<<32:
		return fmt.Errorf("slab: memory.host_bytes / memory.pointer_unit = %d granules: ring entries hold 32-bit pointers (slab.md §1 rule 1)",
			c.Memory.HostBytes/int64(c.Memory.PointerUnit))
	case g.D < 2*Lanes || g.B%Lanes != 0:
		return fmt.Errorf("slab: nic_stack_entries %d, dma_batch_entries %d: want a stack of at least 16 entries and whole beats", g.D, g.B)
	}
	return nil
}

// Host-memory addresses of slab.md §3.1.
func (g *gen) nl(c int) int64 { return g.ctrl + 128*int64(c) }
func (g *gen) hl(c int) int64 { return g.ctrl + 128*int64(c) + 64 }
func (g *gen) rr(c int) int64 { return g.ring + 8*int64(g.RN)*int64(c) }
func (g *gen) fr(c int) int64 { return g.rr(c) + 4*int64(g.RN) }

// wire declares a wire driven by e.
func (g *gen) wire(name string, e ir.Expr) *ir.Signal {
	s := g.m.Wire(name, max(1, e.Width()))
	g.m.Assign(s, e)
	return s
}

func c1(v bool) ir.Expr {
	if v {
		return ir.C(1, 1)
	}
	return ir.C(1, 0)
}

// byClass selects vals[sel] (sel a class number below NC; out-of-range
// selects the last class, callers mask it).
func (g *gen) byClass(sel ir.Expr, vals []ir.Expr) ir.Expr {
	acc := vals[len(vals)-1]
	for c := len(vals) - 2; c >= 0; c-- {
		acc = ir.Sel(ir.Eq(sel, ir.C(ClassBits, uint64(c))), vals[c], acc)
	}
	return acc
}

// classConst is the per-class address f(c) of the class sel, AW bits.
func (g *gen) classConst(sel ir.Expr, f func(int) int64) ir.Expr {
	vals := make([]ir.Expr, g.NC)
	for c := range vals {
		vals[c] = ir.C(g.AW, uint64(f(c)))
	}
	return g.byClass(sel, vals)
}

// validClass is 1 when a 3-bit class field names a configured class.
func (g *gen) validClass(cls ir.Expr) ir.Expr {
	if g.NC == classSlots {
		return ir.C(1, 1)
	}
	return ir.Lt(cls, ir.C(ClassBits, uint64(g.NC)))
}

func sigs(xs []*ir.Signal) []ir.Expr {
	out := make([]ir.Expr, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (g *gen) build() (*ir.Module, error) {
	NC, D, B, P, AW, NB, NR, DW, LD, RW := g.NC, g.D, g.B, g.P, g.AW, g.NB, g.NR, g.DW, g.LD, g.RW
	m := ir.NewModule(Name)
	g.m = m
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Slab allocator NIC block: %d classes, %d-entry stacks, watermarks %d/%d, %d-entry batches, %d-entry host rings",
			NC, D, g.LW, g.HW, B, g.RN),
		Purpose: []string{
			"Per class a double-ended stack of free slab pointers in 8 banks of RAM",
			"(address a in bank a mod 8): the request stage pops and pushes at the top,",
			"the sync engine refills below the bottom and flushes from the bottom,",
			"moving batches to and from the host's refill and flush rings by DMA;",
			"docs/microarch/slab.md.",
		},
		Protocol: []string{
			"req_*: valid/ready; req_ready = no request waiting (state only).",
			"rsp_*: one answer per alloc, in request order, no back-pressure;",
			"rsp_ok and rsp_ptr are meaningful only while rsp_valid is 1.",
			"mem_*: the host-memory port of docs/microarch.md section 1.7.",
		},
		Latency: []string{
			"An alloc whose stack holds an entry is answered the cycle after it is",
			"accepted; an alloc that finds its stack empty waits for a refill or a",
			"host line showing the class exhausted. One request per clock otherwise.",
		},
	}
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	const reqG, rspG, rdG, rdataG, wrG = "Requests", "Responses (allocs only)", "Host memory: read requests", "Host memory: read data", "Host memory: writes"
	reqValid := m.Input(reqG, "req_valid", 1)
	reqReady := m.Output(reqG, "req_ready", 1)
	reqOp := m.Input(reqG, "req_op", 1)
	reqClass := m.Input(reqG, "req_class", ClassBits)
	reqPtr := m.Input(reqG, "req_ptr", P)
	rspValid := m.Output(rspG, "rsp_valid", 1)
	rspOK := m.Output(rspG, "rsp_ok", 1)
	rspPtr := m.Output(rspG, "rsp_ptr", P)
	rdValid := m.Output(rdG, "mem_rd_valid", 1)
	rdReady := m.Input(rdG, "mem_rd_ready", 1)
	rdAddr := m.Output(rdG, "mem_rd_addr", AW)
	rdBeats := m.Output(rdG, "mem_rd_beats", BeatsBits)
	rdataValid := m.Input(rdataG, "mem_rdata_valid", 1)
	rdataReady := m.Output(rdataG, "mem_rdata_ready", 1)
	rdata := m.Input(rdataG, "mem_rdata", BeatBits)
	rdataLast := m.Input(rdataG, "mem_rdata_last", 1)
	rdataErr := m.Input(rdataG, "mem_rdata_err", 1)
	wrValid := m.Output(wrG, "mem_wr_valid", 1)
	wrReady := m.Input(wrG, "mem_wr_ready", 1)
	wrAddr := m.Output(wrG, "mem_wr_addr", AW)
	wrData := m.Output(wrG, "mem_wr_data", BeatBits)
	m.MarkUnused(rdataLast) // the block counts beats (slab.md §2)
	if g.EW < EntryBits {
		m.MarkUnused(rdata) // entry bits above the pointer are ignored (§3.3)
	}

	// ---- state (slab.md §4) ----------------------------------------------------------
	type class struct {
		lo, loN, hi, hiN, rfCons, rfConsN, flProd, flProdN *ir.Signal
		rfProdC, rfProdCN, flConsC, flConsCN               *ir.Signal
		oom, oomN, wait, waitN, err, errN                  *ir.Signal
		cnt, needR, needF, need, cached, room              *ir.Signal
	}
	cls := make([]*class, NC)
	for c := range cls {
		k := &class{}
		p := fmt.Sprintf("c%d_", c)
		k.lo, k.loN = m.RegPair(p+"lo", DW)
		k.hi, k.hiN = m.RegPair(p+"hi", DW)
		k.rfCons, k.rfConsN = m.RegPair(p+"rf_cons", 32)
		k.flProd, k.flProdN = m.RegPair(p+"fl_prod", 32)
		k.rfProdC, k.rfProdCN = m.RegPair(p+"rf_prod_c", 32)
		k.flConsC, k.flConsCN = m.RegPair(p+"fl_cons_c", 32)
		k.oom, k.oomN = m.RegPair(p+"oom", 1)
		k.wait, k.waitN = m.RegPair(p+"wait", g.waitW)
		k.err, k.errN = m.RegPair(p+"err", 32)
		k.lo.Comment = "stack bottom: live entries at lo .. hi-1 (mod D)"
		k.hi.Comment = "stack top"
		k.oom.Comment = "the last host-line read found the class exhausted, no batch"
		k.wait.Comment = "host-line re-read timer"
		k.err.Comment = "err_beats"
		cls[c] = k
	}
	pendV, pendVN := m.RegPair("pend_valid", 1)
	pendOp, pendOpN := m.RegPair("pend_op", 1)
	pendClass, pendClassN := m.RegPair("pend_class", ClassBits)
	pendPtr, pendPtrN := m.RegPair("pend_ptr", P)
	rspV, rspVN := m.RegPair("rsp_valid", 1)
	rspOk, rspOkN := m.RegPair("rsp_ok", 1)
	es, esN := m.RegPair("es", esBits)
	es.Comment = "sync engine: 0 IDLE, 1 IDX_RD, 2 IDX_WAIT, 3 RF, 4 FL_RD, 5 FL_WR, 6 PTR"
	eop, eopN := m.RegPair("eop", 1)
	eop.Comment = "0 REFILL, 1 FLUSH"
	ec, ecN := m.RegPair("ec", ClassBits)
	resv, resvN := m.RegPair("resv", g.resvW)
	resv.Comment = "stack slots lo-resv .. lo-1 of class ec belong to the engine"
	rqLeft, rqLeftN := m.RegPair("rq_left", g.rqW)
	btLeft, btLeftN := m.RegPair("bt_left", g.btW)
	fj, fjN := m.RegPair("fj", g.btW)
	rrp, rrpN := m.RegPair("rr", ClassBits)
	rrp.Comment = "round-robin pointer"

	// The stacks: bank b holds address a = 8*row + b of every class, at
	// {class, row}. Port A is the request stage, port B the engine.
	banks := make([]*ir.Memory, Lanes)
	for b := range banks {
		banks[b] = m.Mem(fmt.Sprintf("stack_bank%d", b), P, NC*D/Lanes, true)
	}
	cb := banks[0].AddrWidth() - RW // class bits of a bank address
	bankAddr := func(class *ir.Signal, row ir.Expr) ir.Expr {
		if cb == 0 {
			return row
		}
		return ir.Cat(ir.Bits(class, cb-1, 0), row)
	}
	rdA := make([]*ir.Signal, Lanes)
	rdB := make([]*ir.Signal, Lanes)
	for b := 0; b < Lanes; b++ {
		rdA[b] = m.Reg(fmt.Sprintf("rda%d_reg", b), P)
		rdB[b] = m.Reg(fmt.Sprintf("rdb%d_reg", b), P)
	}
	rdA[0].Comment = "port A registered reads (the popped pointer is in bank rsel)"
	rdB[0].Comment = "port B registered reads (wbeat, lane k in bank frot+k)"
	rsel := m.Reg("rsel_reg", 3)
	frot := m.Reg("frot_reg", 3)

	for c, k := range cls {
		k.cnt = g.wire(fmt.Sprintf("c%d_cnt", c), ir.Sub(k.hi, k.lo))
	}
	cnts := make([]*ir.Signal, NC)
	for c, k := range cls {
		cnts[c] = k.cnt
	}
	field := func(f func(k *class) *ir.Signal) []ir.Expr {
		out := make([]ir.Expr, NC)
		for c, k := range cls {
			out[c] = f(k)
		}
		return out
	}

	// ---- request stage (§5.2) ----------------------------------------------------------
	m.Assign(reqReady, ir.LNot(pendV))
	xv := g.wire("x_valid", ir.LOr(pendV, reqValid))
	xv.Comment = "the request of this cycle: the waiting one, else the input"
	xop := g.wire("x_op", ir.Sel(pendV, pendOp, reqOp))
	xcls := g.wire("x_class", ir.Sel(pendV, pendClass, reqClass))
	xptr := g.wire("x_ptr", ir.Sel(pendV, pendPtr, reqPtr))
	xcv := g.wire("x_class_ok", g.validClass(xcls))
	xcnt := g.wire("x_cnt", g.byClass(xcls, sigs(cnts)))
	xoom := g.wire("x_oom", g.byClass(xcls, field(func(k *class) *ir.Signal { return k.oom })))
	xhi := g.wire("x_hi", g.byClass(xcls, field(func(k *class) *ir.Signal { return k.hi })))
	m.MarkUnused(xhi) // addresses use its low log2(D) bits
	engBusy := g.wire("eng_busy", ir.Ne(es, ir.C(esBits, esIdle)))
	xresv := g.wire("x_resv", ir.Sel(ir.LAnd(engBusy, ir.Eq(ec, xcls)), resv, ir.C(g.resvW, 0)))
	xroom := g.wire("x_room", ir.Lt(ir.Add(xcnt, ir.Zext(xresv, DW)), ir.C(DW, uint64(D))))
	xempty := g.wire("x_empty", ir.Eq(xcnt, ir.C(DW, 0)))
	isAlloc := g.wire("x_alloc", ir.LAnd(xv, ir.Eq(xop, ir.C(1, 0))))
	isFree := g.wire("x_free", ir.LAnd(xv, ir.Eq(xop, ir.C(1, 1))))
	freeOK := g.wire("x_free_ok", ir.AndAll(isFree, xcv, ir.Ne(xptr, ir.C(P, 0))))
	pop := g.wire("x_pop", ir.AndAll(isAlloc, xcv, ir.LNot(xempty)))
	nomem := g.wire("x_nomem", ir.LAnd(isAlloc, ir.LOr(ir.LNot(xcv), ir.LAnd(xempty, xoom))))
	push := g.wire("x_push", ir.LAnd(freeOK, xroom))
	xwait := g.wire("x_wait", ir.LOr(ir.AndAll(isAlloc, xcv, xempty, ir.LNot(xoom)), ir.LAnd(freeOK, ir.LNot(xroom))))
	popAddr := g.wire("pop_addr", ir.Sub(ir.Bits(xhi, LD-1, 0), ir.C(LD, 1)))
	pushAddr := g.wire("push_addr", ir.Bits(xhi, LD-1, 0))
	popBank := g.wire("pop_bank", ir.Bits(popAddr, 2, 0))
	pushBank := g.wire("push_bank", ir.Bits(pushAddr, 2, 0))
	popRow := g.wire("pop_row", ir.Bits(popAddr, LD-1, 3))
	pushRow := g.wire("push_row", ir.Bits(pushAddr, LD-1, 3))
	m.Comb("request stage: pend and response registers", func(b *ir.Block) {
		b.Set(pendVN, xwait)
		b.Set(pendOpN, pendOp)
		b.Set(pendClassN, pendClass)
		b.Set(pendPtrN, pendPtr)
		b.Set(rspVN, ir.LOr(pop, nomem))
		b.Set(rspOkN, pop)
		b.If(xwait, func(b *ir.Block) {
			b.Set(pendOpN, xop)
			b.Set(pendClassN, xcls)
			b.Set(pendPtrN, xptr)
		}, nil)
	})
	m.Assign(rspValid, rspV)
	m.Assign(rspOK, rspOk)
	rdAsel := g.byClassN(rsel, sigs(rdA))
	m.Assign(rspPtr, ir.Sel(rspOk, rdAsel, ir.C(P, 0)))

	// ---- sync engine: choosing a class (§5.3) ----------------------------------------
	for c, k := range cls {
		p := fmt.Sprintf("c%d_", c)
		idle := ir.Eq(k.wait, ir.C(g.waitW, 0))
		k.cached = g.wire(p+"cached", ir.Ne(k.rfProdC, k.rfCons))
		k.room = g.wire(p+"room", ir.Le(ir.Sub(k.flProd, k.flConsC), ir.C(32, uint64(g.RN-B))))
		k.needR = g.wire(p+"need_refill", ir.LAnd(ir.Lt(k.cnt, ir.C(DW, uint64(g.LW))), ir.LOr(k.cached, idle)))
		k.needF = g.wire(p+"need_flush", ir.LAnd(ir.Gt(k.cnt, ir.C(DW, uint64(g.HW))), ir.LOr(k.room, idle)))
		k.need = g.wire(p+"need", ir.LOr(k.needR, k.needF))
	}
	needs := field(func(k *class) *ir.Signal { return k.need })
	pendNeed := g.wire("pend_need", ir.AndAll(pendV, g.validClass(pendClass), g.byClass(pendClass, needs)))
	// The first class needing service from rr on: candidates rr+i (mod NC).
	var rrPick ir.Expr = ir.C(ClassBits, 0)
	for i := NC - 1; i >= 0; i-- {
		cand := make([]ir.Expr, NC) // cand[r] = (r+i) mod NC
		need := make([]ir.Expr, NC)
		for r := 0; r < NC; r++ {
			cand[r] = ir.C(ClassBits, uint64((r+i)%NC))
			need[r] = needs[(r+i)%NC]
		}
		candW := g.wire(fmt.Sprintf("rr_cand%d", i), g.byClass(rrp, cand))
		needW := g.wire(fmt.Sprintf("rr_need%d", i), g.byClass(rrp, need))
		rrPick = ir.Sel(needW, candW, rrPick)
	}
	anyNeed := g.wire("any_need", ir.OrAll(needs...))
	pick := g.wire("pick", ir.Sel(pendNeed, pendClass, rrPick))
	pick.Comment = "the class an IDLE engine serves"
	tc := g.wire("eng_class", ir.Sel(engBusy, ec, pick))
	tc.Comment = "the class the engine works on this cycle"
	tNeedR := g.wire("pick_refill", g.byClass(pick, field(func(k *class) *ir.Signal { return k.needR })))
	tCached := g.wire("pick_cached", g.byClass(pick, field(func(k *class) *ir.Signal { return k.cached })))
	tRoom := g.wire("pick_room", g.byClass(pick, field(func(k *class) *ir.Signal { return k.room })))
	rrNext := g.wire("rr_after_pick", ir.Sel(ir.Eq(pick, ir.C(ClassBits, uint64(NC-1))), ir.C(ClassBits, 0), ir.Add(pick, ir.C(ClassBits, 1))))

	// Values of the engine's class.
	ecCnt := g.wire("ec_cnt", g.byClass(ec, sigs(cnts)))
	ecLo := g.wire("ec_lo", g.byClass(ec, field(func(k *class) *ir.Signal { return k.lo })))
	m.MarkUnused(ecLo) // addresses use its low log2(D) bits
	ecRfCons := g.wire("ec_rf_cons", g.byClass(ec, field(func(k *class) *ir.Signal { return k.rfCons })))
	ecFlProd := g.wire("ec_fl_prod", g.byClass(ec, field(func(k *class) *ir.Signal { return k.flProd })))
	ecErr := g.wire("ec_err", g.byClass(ec, field(func(k *class) *ir.Signal { return k.err })))

	// The host line (§3.2, §5.4 index).
	rp := g.wire("hl_rf_prod", ir.Bits(rdata, 31, 0))
	fc := g.wire("hl_fl_cons", ir.Bits(rdata, 63, 32))
	hx := g.wire("hl_exhausted", ir.Bit(rdata, 64))
	rpEmpty := g.wire("hl_no_batch", ir.Eq(rp, ecRfCons))
	hlRoom := g.wire("hl_room", ir.Le(ir.Sub(ecFlProd, fc), ir.C(32, uint64(g.RN-B))))
	hlRefill := g.wire("hl_claim_refill", ir.LAnd(ir.LNot(rpEmpty), ir.Lt(ecCnt, ir.C(DW, uint64(g.LW)))))
	hlFlush := g.wire("hl_claim_flush", ir.LAnd(hlRoom, ir.Gt(ecCnt, ir.C(DW, uint64(g.HW)))))

	// ---- sync engine: states (§5.4) --------------------------------------------------
	evLoAdd := m.Reg("ev_flush_claim", 1)
	evBeat := m.Reg("ev_refill_beat", 1)
	evRfDone := m.Reg("ev_refill_done", 1)
	evFlDone := m.Reg("ev_flush_done", 1)
	evErr := m.Reg("ev_err_beat", 1)
	evIdx := m.Reg("ev_index", 1)
	evWait := m.Reg("ev_set_wait", 1)
	evRead := m.Reg("ev_read_beat", 1)
	resv8 := ir.Sub(resv, ir.C(g.resvW, Lanes))
	m.Comb("sync engine", func(b *ir.Block) {
		b.Set(esN, es)
		b.Set(eopN, eop)
		b.Set(ecN, ec)
		b.Set(resvN, resv)
		b.Set(rqLeftN, rqLeft)
		b.Set(btLeftN, btLeft)
		b.Set(fjN, fj)
		b.Set(rrpN, rrp)
		for _, ev := range []*ir.Signal{evLoAdd, evBeat, evRfDone, evFlDone, evErr, evIdx, evWait, evRead} {
			b.Set(ev, ir.C(1, 0))
		}
		claimRefill := func(b *ir.Block) {
			b.Set(resvN, ir.C(g.resvW, uint64(B)))
			b.Set(rqLeftN, ir.C(g.rqW, uint64(NR)))
			b.Set(btLeftN, ir.C(g.btW, uint64(NB)))
			b.Set(esN, ir.C(esBits, esRF))
		}
		claimFlush := func(b *ir.Block) {
			b.Set(evLoAdd, ir.C(1, 1))
			b.Set(resvN, ir.C(g.resvW, uint64(B)))
			b.Set(fjN, ir.C(g.btW, 0))
			b.Set(esN, ir.C(esBits, esFlRd))
		}
		readBeat := func(b *ir.Block) {
			b.Set(evRead, ir.C(1, 1))
			b.Set(resvN, resv8)
		}
		st := func(v int) []ir.Expr { return []ir.Expr{ir.C(esBits, uint64(v))} }
		b.Case(es, []ir.CaseArm{
			{Match: st(esIdle), Body: func(b *ir.Block) {
				b.If(anyNeed, func(b *ir.Block) {
					b.Set(rrpN, rrNext)
					b.Set(ecN, pick)
					b.If(tNeedR, func(b *ir.Block) {
						b.Set(eopN, ir.C(1, opRefill))
						b.If(tCached, claimRefill, func(b *ir.Block) { b.Set(esN, ir.C(esBits, esIdxRd)) })
					}, func(b *ir.Block) {
						b.Set(eopN, ir.C(1, opFlush))
						b.If(tRoom, claimFlush, func(b *ir.Block) { b.Set(esN, ir.C(esBits, esIdxRd)) })
					})
				}, nil)
			}},
			{Match: st(esIdxRd), Body: func(b *ir.Block) {
				b.If(rdReady, func(b *ir.Block) { b.Set(esN, ir.C(esBits, esIdxWait)) }, nil)
			}},
			{Match: st(esIdxWait), Body: func(b *ir.Block) {
				b.If(rdataValid, func(b *ir.Block) {
					b.If(rdataErr, func(b *ir.Block) {
						b.Set(evErr, ir.C(1, 1))
						b.Set(evWait, ir.C(1, 1))
						b.Set(esN, ir.C(esBits, esIdle))
					}, func(b *ir.Block) {
						b.Set(evIdx, ir.C(1, 1))
						b.If(ir.Eq(eop, ir.C(1, opRefill)), func(b *ir.Block) {
							b.If(hlRefill, claimRefill, func(b *ir.Block) {
								b.Set(esN, ir.C(esBits, esIdle))
								b.Set(evWait, rpEmpty)
							})
						}, func(b *ir.Block) {
							b.If(hlFlush, claimFlush, func(b *ir.Block) {
								b.Set(esN, ir.C(esBits, esIdle))
								b.Set(evWait, ir.LNot(hlRoom))
							})
						})
					})
				}, nil)
			}},
			{Match: st(esRF), Body: func(b *ir.Block) {
				b.If(ir.LAnd(ir.Ne(rqLeft, ir.C(g.rqW, 0)), rdReady), func(b *ir.Block) {
					b.Set(rqLeftN, ir.Sub(rqLeft, ir.C(g.rqW, 1)))
				}, nil)
				b.If(rdataValid, func(b *ir.Block) {
					b.Set(evBeat, ir.C(1, 1))
					b.Set(evErr, rdataErr)
					b.Set(resvN, resv8)
					b.Set(btLeftN, ir.Sub(btLeft, ir.C(g.btW, 1)))
					b.If(ir.Eq(btLeft, ir.C(g.btW, 1)), func(b *ir.Block) {
						b.Set(evRfDone, ir.C(1, 1))
						b.Set(esN, ir.C(esBits, esPtr))
					}, nil)
				}, nil)
			}},
			{Match: st(esFlRd), Body: func(b *ir.Block) {
				readBeat(b)
				b.Set(esN, ir.C(esBits, esFlWr))
			}},
			{Match: st(esFlWr), Body: func(b *ir.Block) {
				b.If(wrReady, func(b *ir.Block) {
					b.Set(fjN, ir.Add(fj, ir.C(g.btW, 1)))
					b.If(ir.Lt(fj, ir.C(g.btW, uint64(NB-1))), readBeat, func(b *ir.Block) {
						b.Set(evFlDone, ir.C(1, 1))
						b.Set(esN, ir.C(esBits, esPtr))
					})
				}, nil)
			}},
			{Match: st(esPtr), Body: func(b *ir.Block) {
				b.If(wrReady, func(b *ir.Block) { b.Set(esN, ir.C(esBits, esIdle)) }, nil)
			}},
		}, nil)
	})

	// ---- refill beat: compaction of the non-null lanes, rotation onto the banks ------
	lane := make([]*ir.Signal, Lanes)
	nn := make([]*ir.Signal, Lanes)
	pos := make([]*ir.Signal, Lanes)
	var cntExpr ir.Expr = ir.C(4, 0)
	var posExpr ir.Expr = ir.C(3, 0)
	for k := 0; k < Lanes; k++ {
		lane[k] = g.wire(fmt.Sprintf("rf_lane%d", k), ir.Zext(ir.Bits(rdata, 32*k+g.EW-1, 32*k), P))
		nn[k] = g.wire(fmt.Sprintf("rf_nonnull%d", k), ir.Ne(lane[k], ir.C(P, 0)))
		pos[k] = g.wire(fmt.Sprintf("rf_pos%d", k), posExpr)
		posExpr = ir.Add(posExpr, ir.Zext(nn[k], 3))
		cntExpr = ir.Add(cntExpr, ir.Zext(nn[k], 4))
	}
	rfN := g.wire("rf_n", ir.Sel(rdataErr, ir.C(4, 0), cntExpr))
	rfN.Comment = "entries the refill beat adds (0 for an error beat)"
	// Entry j (0-based, in lane order) goes to address lo-1-j.
	loM1 := g.wire("rf_top", ir.Sub(ir.Bits(ecLo, LD-1, 0), ir.C(LD, 1)))
	loM1Lo := g.wire("rf_top_bank", ir.Bits(loM1, 2, 0))
	loM1Row := g.wire("rf_top_row", ir.Bits(loM1, LD-1, 3))
	var rfWe, rfRow, rfData [Lanes]*ir.Signal
	for bk := 0; bk < Lanes; bk++ {
		j := g.wire(fmt.Sprintf("rf_j%d", bk), ir.Sub(loM1Lo, ir.C(3, uint64(bk))))
		var row ir.Expr = loM1Row
		if bk > 0 {
			row = ir.Sel(ir.Ge(loM1Lo, ir.C(3, uint64(bk))), loM1Row, ir.Sub(loM1Row, ir.C(RW, 1)))
		}
		rfRow[bk] = g.wire(fmt.Sprintf("rf_row%d", bk), row)
		rfWe[bk] = g.wire(fmt.Sprintf("rf_we%d", bk), ir.LAnd(evBeat, ir.Lt(ir.Zext(j, 4), rfN)))
		var d ir.Expr = ir.C(P, 0)
		for k := Lanes - 1; k >= 0; k-- {
			d = ir.Sel(ir.LAnd(nn[k], ir.Eq(pos[k], j)), lane[k], d)
		}
		rfData[bk] = g.wire(fmt.Sprintf("rf_data%d", bk), d)
	}

	// ---- flush read: 8 consecutive addresses from lo-resv, one per bank ---------------
	fbase := g.wire("fl_base", ir.Sub(ir.Bits(ecLo, LD-1, 0), ir.Zext(resv, LD)))
	fbaseLo := g.wire("fl_base_bank", ir.Bits(fbase, 2, 0))
	fbaseRow := g.wire("fl_base_row", ir.Bits(fbase, LD-1, 3))
	var flRow [Lanes]*ir.Signal
	for bk := 0; bk < Lanes; bk++ {
		var row ir.Expr = fbaseRow // bank 7 is always in the base row
		if bk < Lanes-1 {
			row = ir.Sel(ir.Le(fbaseLo, ir.C(3, uint64(bk))), fbaseRow, ir.Add(fbaseRow, ir.C(RW, 1)))
		}
		flRow[bk] = g.wire(fmt.Sprintf("fl_row%d", bk), row)
	}

	// ---- per-class registers -------------------------------------------------------------
	for c, k := range cls {
		c := c
		k := k
		sel := g.wire(fmt.Sprintf("c%d_eng", c), ir.Eq(tc, ir.C(ClassBits, uint64(c))))
		xsel := g.wire(fmt.Sprintf("c%d_req", c), ir.Eq(xcls, ir.C(ClassBits, uint64(c))))
		m.Comb(fmt.Sprintf("class %d registers", c), func(b *ir.Block) {
			b.Set(k.loN, k.lo)
			b.Set(k.hiN, k.hi)
			b.Set(k.rfConsN, k.rfCons)
			b.Set(k.flProdN, k.flProd)
			b.Set(k.rfProdCN, k.rfProdC)
			b.Set(k.flConsCN, k.flConsC)
			b.Set(k.oomN, k.oom)
			b.Set(k.waitN, ir.Sel(ir.Ne(k.wait, ir.C(g.waitW, 0)), ir.Sub(k.wait, ir.C(g.waitW, 1)), k.wait))
			b.Set(k.errN, k.err)
			b.If(ir.LAnd(pop, xsel), func(b *ir.Block) { b.Set(k.hiN, ir.Sub(k.hi, ir.C(DW, 1))) }, nil)
			b.If(ir.LAnd(push, xsel), func(b *ir.Block) { b.Set(k.hiN, ir.Add(k.hi, ir.C(DW, 1))) }, nil)
			b.If(sel, func(b *ir.Block) {
				b.If(evLoAdd, func(b *ir.Block) { b.Set(k.loN, ir.Add(k.lo, ir.C(DW, uint64(B)))) }, nil)
				b.If(evBeat, func(b *ir.Block) { b.Set(k.loN, ir.Sub(k.lo, ir.Zext(rfN, DW))) }, nil)
				b.If(evRfDone, func(b *ir.Block) { b.Set(k.rfConsN, ir.Add(k.rfCons, ir.C(32, uint64(B)))) }, nil)
				b.If(evFlDone, func(b *ir.Block) { b.Set(k.flProdN, ir.Add(k.flProd, ir.C(32, uint64(B)))) }, nil)
				b.If(evIdx, func(b *ir.Block) {
					b.Set(k.rfProdCN, rp)
					b.Set(k.flConsCN, fc)
					b.Set(k.oomN, ir.LAnd(hx, ir.Eq(rp, k.rfCons)))
				}, nil)
				b.If(evWait, func(b *ir.Block) { b.Set(k.waitN, ir.C(g.waitW, uint64(g.retry))) }, nil)
				b.If(evErr, func(b *ir.Block) { b.Set(k.errN, ir.Add(k.err, ir.C(32, 1))) }, nil)
			}, nil)
		})
	}

	// ---- outputs to host memory (§5.1) -----------------------------------------------------
	isSt := func(v int) ir.Expr { return ir.Eq(es, ir.C(esBits, uint64(v))) }
	inRF := g.wire("st_rf", isSt(esRF))
	inIdxRd := g.wire("st_idx_rd", isSt(esIdxRd))
	inFlWr := g.wire("st_fl_wr", isSt(esFlWr))
	m.Assign(rdValid, ir.LOr(inIdxRd, ir.LAnd(inRF, ir.Ne(rqLeft, ir.C(g.rqW, 0)))))
	m.Assign(rdataReady, ir.LOr(isSt(esIdxWait), inRF))
	m.Assign(wrValid, ir.LOr(inFlWr, isSt(esPtr)))
	// Refill read k = NR - rq_left: at RR + 4*(rf_cons mod RN) + 512k, min(16, NB-16k) beats.
	var reqOff ir.Expr = ir.C(AW, 0)
	var reqBeats ir.Expr = ir.C(BeatsBits, uint64(min(MaxBeats, NB)))
	for r := 1; r <= NR; r++ {
		k := NR - r
		reqOff = ir.Sel(ir.Eq(rqLeft, ir.C(g.rqW, uint64(r))), ir.C(AW, uint64(ReqBytes*k)), reqOff)
		reqBeats = ir.Sel(ir.Eq(rqLeft, ir.C(g.rqW, uint64(r))), ir.C(BeatsBits, uint64(min(MaxBeats, NB-MaxBeats*k))), reqBeats)
	}
	rfAddr := g.wire("rf_addr", addAll(g.classConst(ec, g.rr), ir.Zext(ir.Cat(ir.Bits(ecRfCons, g.LRN-1, 0), ir.C(2, 0)), AW), reqOff))
	m.Assign(rdAddr, ir.Sel(inIdxRd, g.classConst(ec, g.hl), rfAddr))
	m.Assign(rdBeats, ir.Sel(inIdxRd, ir.C(BeatsBits, 1), reqBeats))
	flAddr := g.wire("fl_addr", addAll(g.classConst(ec, g.fr), ir.Zext(ir.Cat(ir.Bits(ecFlProd, g.LRN-1, 0), ir.C(2, 0)), AW),
		ir.Zext(ir.Cat(fj, ir.C(5, 0)), AW)))
	m.Assign(wrAddr, ir.Sel(inFlWr, flAddr, g.classConst(ec, g.nl)))
	wlanes := make([]ir.Expr, Lanes)
	for k := 0; k < Lanes; k++ {
		r := g.wire(fmt.Sprintf("wb_sel%d", k), ir.Add(frot, ir.C(3, uint64(k))))
		w := g.wire(fmt.Sprintf("wbeat%d", k), g.byClassN(r, sigs(rdB)))
		var e ir.Expr
		if P > EntryBits {
			e = ir.Bits(w, EntryBits-1, 0)
			m.MarkUnused(w)
		} else {
			e = ir.Zext(w, EntryBits)
		}
		wlanes[Lanes-1-k] = e
	}
	wbeat := g.wire("wbeat", ir.Cat(wlanes...))
	nline := g.wire("nic_line", ir.Cat(ir.C(BeatBits-96, 0), ecErr, ecFlProd, ecRfCons))
	m.Assign(wrData, ir.Sel(inFlWr, wbeat, nline))

	// ---- registers and the stack banks ------------------------------------------------
	m.Seq(clk, "registers", func(b *ir.Block) {
		for _, k := range cls {
			b.Set(k.lo, k.loN)
			b.Set(k.hi, k.hiN)
			b.Set(k.rfCons, k.rfConsN)
			b.Set(k.flProd, k.flProdN)
			b.Set(k.rfProdC, k.rfProdCN)
			b.Set(k.flConsC, k.flConsCN)
			b.Set(k.oom, k.oomN)
			b.Set(k.wait, k.waitN)
			b.Set(k.err, k.errN)
		}
		for _, p := range [][2]*ir.Signal{{pendV, pendVN}, {pendOp, pendOpN}, {pendClass, pendClassN}, {pendPtr, pendPtrN},
			{rspV, rspVN}, {rspOk, rspOkN}, {es, esN}, {eop, eopN}, {ec, ecN}, {resv, resvN}, {rqLeft, rqLeftN},
			{btLeft, btLeftN}, {fj, fjN}, {rrp, rrpN}} {
			b.Set(p[0], p[1])
		}
		b.If(pop, func(b *ir.Block) {
			b.Set(rsel, popBank)
		}, nil)
		b.If(evRead, func(b *ir.Block) {
			b.Set(frot, fbaseLo)
		}, nil)
		b.If(rst, func(b *ir.Block) {
			for _, k := range cls {
				for _, s := range []*ir.Signal{k.lo, k.hi, k.rfCons, k.flProd, k.rfProdC, k.flConsC, k.oom, k.wait, k.err} {
					b.Set(s, ir.C(s.W, 0))
				}
			}
			for _, s := range []*ir.Signal{pendV, pendOp, pendClass, pendPtr, rspV, rspOk, es, eop, ec, resv, rqLeft, btLeft, fj, rrp} {
				b.Set(s, ir.C(s.W, 0))
			}
		}, nil)
	})
	// Each bank is a true dual-port block RAM: port A serves the request
	// stage (a request pops or pushes, never both), port B the sync engine
	// (it refills or flushes, never both), each port in its own clocked
	// block with one address — the pattern FPGA tools infer.
	for bk := 0; bk < Lanes; bk++ {
		bk := bk
		addrA := m.Wire(fmt.Sprintf("bank%d_addr_a", bk), banks[bk].AddrWidth())
		m.Assign(addrA, ir.Sel(pop, bankAddr(xcls, popRow), bankAddr(xcls, pushRow)))
		addrB := m.Wire(fmt.Sprintf("bank%d_addr_b", bk), banks[bk].AddrWidth())
		m.Assign(addrB, ir.Sel(rfWe[bk], bankAddr(ec, rfRow[bk]), bankAddr(ec, flRow[bk])))
		m.Seq(clk, fmt.Sprintf("stack bank %d, port A (request stage)", bk), func(b *ir.Block) {
			b.If(ir.LAnd(push, ir.Eq(pushBank, ir.C(3, uint64(bk)))), func(b *ir.Block) {
				b.Write(banks[bk], addrA, xptr)
			}, nil)
			b.If(pop, func(b *ir.Block) {
				b.Set(rdA[bk], banks[bk].Read(addrA))
			}, nil)
		})
		m.Seq(clk, fmt.Sprintf("stack bank %d, port B (sync engine)", bk), func(b *ir.Block) {
			b.If(rfWe[bk], func(b *ir.Block) {
				b.Write(banks[bk], addrB, rfData[bk])
			}, nil)
			b.If(evRead, func(b *ir.Block) {
				b.Set(rdB[bk], banks[bk].Read(addrB))
			}, nil)
		})
	}
	return m, m.Err()
}

// byClassN selects vals[sel] for a 3-bit sel over all 8 values.
func (g *gen) byClassN(sel ir.Expr, vals []ir.Expr) ir.Expr {
	acc := vals[len(vals)-1]
	for i := len(vals) - 2; i >= 0; i-- {
		acc = ir.Sel(ir.Eq(sel, ir.C(3, uint64(i))), vals[i], acc)
	}
	return acc
}

func addAll(xs ...ir.Expr) ir.Expr {
	acc := xs[0]
	for _, x := range xs[1:] {
		acc = ir.Add(acc, x)
	}
	return acc
}
