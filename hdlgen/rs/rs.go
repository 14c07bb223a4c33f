// Package rs generates kvd_rs, the reservation station of
// docs/microarch/rs.md (v3.1: §9 as amended by §10): per-slot chains of
// dependent operations, a cache of the latest short value of each in-flight
// key, and forwarding at one per clock, with the wide per-slot state in block
// RAM. With rs.idle_cache it is v4a (§11): an idle slot keeps its cache and
// answers GETs from it.
package rs

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/fifo"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/lambda"
)

// Q is the capacity of each output queue (docs/microarch/rs.md §1).
const Q = 16

// TagBits is the width of req_tag, pipe_tag and resp_tag.
const TagBits = 16

// OpBits and StatusBits are the widths of the wire's opcodes and status
// codes (rs.md §1, §2).
const (
	OpBits     = 3
	StatusBits = 4
)

// ValueBits is the width of the value path: a value's first 8 bytes.
const ValueBits = 64

// Operation and status codes (docs/microarch/rs.md §1; wire-format.md §3.2, §5).
const (
	opGet, opPut, opDel, opAtomic = 0, 1, 2, 3
	stOK, stNotFound, stFault     = 0, 1, 8
)

func width(n int) int { return max(1, bits.Len(uint(n))) } // bits to hold 0..n

// DefaultAuxBits is A for the processor: the bucket index and the secondary
// hash, BI + H (rs.md §1, processor.md §4).
func DefaultAuxBits(cfg config.Config) int {
	return cfg.BucketIndexBits() + cfg.Bucket.SecHashBits
}

// ValueLenBits is VL, the width of req_vlen, pipe_vlen, cpl_vlen and
// resp_vlen: bits to hold 0..key.max_value_bytes, and at least 8 (an
// atomic's response is 8 bytes long whatever the largest value).
func ValueLenBits(cfg config.Config) int {
	return width(max(cfg.Key.MaxValueBytes, 8))
}

// Options are the generator parameters rs.md §1 leaves to the caller.
type Options struct {
	// AuxBits is A, the width of req_aux and pipe_aux (≥ 1); 0 takes
	// DefaultAuxBits.
	AuxBits int
}

// Generate builds kvd_rs for cfg with the processor's aux width.
func Generate(cfg config.Config) (*ir.Module, error) {
	return GenerateWith(cfg, Options{})
}

// GenerateWith builds kvd_rs for cfg with the given generator parameters.
func GenerateWith(cfg config.Config, o Options) (*ir.Module, error) {
	if o.AuxBits < 0 {
		return nil, fmt.Errorf("rs: aux width %d: want at least 1 (or 0 for the default)", o.AuxBits)
	}
	if o.AuxBits == 0 {
		o.AuxBits = DefaultAuxBits(cfg)
	}
	g := &gen{cfg: cfg, A: o.AuxBits}
	return g.build()
}

type gen struct {
	cfg                                         config.Config
	m                                           *ir.Module
	M, R, S, I, K, KL, W, VL, F, A, N, idW, lnW int
	fwd                                         bool
	op, okp, kp, vp, pq, rs                     *ir.Record
	// ic is rs.md §11 (v4a). Every change it makes to the module is behind a
	// Go-side test, so that with it off the Verilog keeps v3.1's bytes, and
	// with them the committed RTL and its recorded synthesis runs.
	ic bool
}

// wire declares a wire driven by e.
func (g *gen) wire(name string, e ir.Expr) *ir.Signal {
	s := g.m.Wire(name, max(1, e.Width()))
	g.m.Assign(s, e)
	return s
}

func (g *gen) c(w int, v uint64) ir.Expr { return ir.C(w, v) }

func (g *gen) build() (*ir.Module, error) {
	cfg := g.cfg
	g.M, g.R = cfg.RS.MaxInflight, cfg.RS.Slots
	g.S = cfg.RSSlotBits()
	g.I = bits.Len(uint(g.M + g.R - 1))
	g.K, g.KL, g.W = cfg.Key.MaxKeyBytes, cfg.KeyLenBits(), cfg.Atomic.ScalarBits
	g.VL = ValueLenBits(cfg)
	g.N = len(cfg.Atomic.Lambdas)
	g.F = lambda.FidBits(g.N)
	g.idW = max(1, bits.Len(uint(g.M-1)))
	g.lnW = width(g.M)
	g.fwd = cfg.RS.Forwarding
	// §11: without forwarding nothing sets cv, so there is no idle cache
	// to keep, and the module is v3.1's.
	g.ic = cfg.RS.IdleCache && g.fwd
	if _, err := lambda.Uses(cfg); err != nil {
		return nil, err
	}

	// A stored request (rs.md §3: ops[i]).
	g.op = ir.NewRecord()
	g.op.Add("op", OpBits)
	g.op.Add("fid", g.F)
	g.op.Add("klen", g.KL)
	g.op.Add("slot", g.S)
	g.op.Add("tag", TagBits)
	g.op.Add("vlen", g.VL)
	g.op.Add("value", ValueBits)
	g.op.Add("key", 8*g.K)
	for _, name := range lambda.Operands[1:] {
		g.op.Add(name, g.W)
	}
	g.op.Add("aux", g.A)
	// A slot's wide state, in block RAM (rs.md §9.4): the cache key part,
	// written only by COMPLETE, and the value and chain part, written by both
	// sides. The per-slot bits read every cycle (busy, cv, dirty, len > 0)
	// are flip-flops.
	g.kp = ir.NewRecord()
	g.kp.Add("cklen", g.KL)
	g.kp.Add("caux", g.A)
	g.kp.Add("ckey", 8*g.K)
	g.vp = ir.NewRecord()
	g.vp.Add("cfound", 1)
	g.vp.Add("len", g.lnW)
	g.vp.Add("head", g.idW)
	g.vp.Add("tail", g.idW)
	g.vp.Add("cvlen", g.VL)
	g.vp.Add("cval", ValueBits)
	// A pipeline operation (PQ entry) and a response (RQ entry).
	g.pq = ir.NewRecord()
	g.pq.Add("id", g.I)
	g.pq.Add("tag", TagBits)
	g.pq.Add("op", OpBits)
	g.pq.Add("fid", g.F)
	g.pq.Add("key", 8*g.K)
	g.pq.Add("klen", g.KL)
	g.pq.Add("vlen", g.VL)
	g.pq.Add("value", ValueBits)
	for _, name := range lambda.Operands[1:] {
		g.pq.Add(name, g.W)
	}
	g.pq.Add("aux", g.A)
	g.rs = ir.NewRecord()
	g.rs.Add("tag", TagBits)
	g.rs.Add("status", StatusBits)
	g.rs.Add("vlen", g.VL)
	g.rs.Add("value", ValueBits)

	m := ir.NewModule("kvd_rs")
	g.m = m
	fwd := "on"
	if !g.fwd {
		fwd = "off"
	}
	version := "v3.1"
	if g.ic {
		version = "v4a"
	}
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Reservation station (rs.md %s): %d slots, %d operations in flight, forwarding %s, %d-bit aux", version, g.R, g.M, fwd, g.A),
		Purpose: []string{
			"At most one operation per slot in the main pipeline; the others wait in",
			"per-slot chains. The latest short value (vlen <= 8) of the completed key",
			"is cached and dependent GET/PUT/DELETE/ATOMIC operations execute against",
			"it at one per clock, followed by one write-back. Long PUTs and the vector",
			"operations (ops 4-7) go to the pipeline in their slot's order and are",
			"never served from the cache; docs/microarch/rs.md.",
		},
		Protocol: []string{
			"req_*: valid/ready; req_ready depends on state only (an accepted request",
			"waits in a one-entry arrival stage; one for the slot being walked, or",
			"with a completion in the line D1/D2, waits there, and the requests",
			"behind it wait at the port).",
			"pipe_*: operations for the main pipeline, valid/ready; pipe_valid depends",
			"on state only. While the pipeline holds back a full queue (16 entries) the",
			"completion side waits. req_aux comes back on pipe_aux; a write-back",
			"(pipe_id >= M, pipe_tag 0) carries the aux of its key's last completion.",
			"cpl_*: completions, in any order, no back-pressure.",
			"resp_*: responses, one per clock, no back-pressure; resp_vlen > 8 is a",
			"long value of which resp_value holds the first 8 bytes.",
			"Data outputs are meaningful only while their valid is 1.",
		},
		Latency: []string{
			"An operation to an idle slot reaches pipe_* 3 cycles after it is accepted",
			"(arrival stage, then PQ entries show 2 cycles after their push); a",
			"completion is processed 4 cycles after it arrives at the earliest (its",
			"queue, then the line D1, D2) and its response leaves one cycle later.",
			"Cached keys answer 2 cycles after their request. A walk's first step",
			"comes the cycle after the completion that starts it. With pipe_ready",
			"held at 1 the completion side never waits.",
		},
	}
	if g.ic {
		m.Doc.Purpose = append(m.Doc.Purpose,
			"An idle slot keeps its cache (a slot goes idle only once its cache equals",
			"memory) and answers GETs on its key from it; any other operation on an",
			"idle slot goes to the pipeline and invalidates the cache (rs.md §11).")
	}
	return g.body()
}

func (g *gen) body() (*ir.Module, error) {
	m := g.m
	M, S, I, K, KL, W, VL, F, A, idW, lnW := g.M, g.S, g.I, g.K, g.KL, g.W, g.VL, g.F, g.A, g.idW, g.lnW
	const VB = ValueBits
	fwdC := ir.C(1, b2u(g.fwd))
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	const reqG, pipeG, cplG, respG = "Requests", "Main pipeline: operations", "Main pipeline: completions", "Responses"
	reqValid := m.Input(reqG, "req_valid", 1)
	reqReady := m.Output(reqG, "req_ready", 1)
	reqOp := m.Input(reqG, "req_op", OpBits)
	reqFid := m.Input(reqG, "req_fid", F)
	reqKey := m.Input(reqG, "req_key", 8*K)
	reqKlen := m.Input(reqG, "req_klen", KL)
	reqSlot := m.Input(reqG, "req_slot", S)
	reqVlen := m.Input(reqG, "req_vlen", VL)
	reqValue := m.Input(reqG, "req_value", VB)
	var reqOps [4]*ir.Signal
	for i, name := range lambda.Operands[1:] {
		reqOps[i+1] = m.Input(reqG, "req_"+name, W)
	}
	reqAux := m.Input(reqG, "req_aux", A)
	reqTag := m.Input(reqG, "req_tag", TagBits)
	pipeValid := m.Output(pipeG, "pipe_valid", 1)
	pipeReady := m.Input(pipeG, "pipe_ready", 1)
	pipeOut := map[string]*ir.Signal{}
	for _, name := range g.pq.Names {
		pipeOut[name] = m.Output(pipeG, "pipe_"+name, g.pq.Width(name))
	}
	cplValid := m.Input(cplG, "cpl_valid", 1)
	cplID := m.Input(cplG, "cpl_id", I)
	cplStatus := m.Input(cplG, "cpl_status", StatusBits)
	cplVlen := m.Input(cplG, "cpl_vlen", VL)
	cplValue := m.Input(cplG, "cpl_value", VB)
	respValid := m.Output(respG, "resp_valid", 1)
	respOut := map[string]*ir.Signal{}
	for _, name := range g.rs.Names {
		respOut[name] = m.Output(respG, "resp_"+name, g.rs.Width(name))
	}

	// ---- state (rs.md §3, §9.1, §9.4, §10.3) ---------------------------------------
	nIDs := 1 << uint(idW)
	opsA := m.Mem("ops_a_mem", g.op.W, nIDs, true) // copy read by the completion line
	opsB := m.Mem("ops_b_mem", g.op.W, nIDs, true) // copy read for the walk's operation and END's chain head
	// A third copy of each operation's key alone: the walk's key comparison
	// is registered one step ahead, and its first one (the head of D2's
	// chain) is read while the completion is in D1 (rs.md §10.3), in cycles
	// where ops_a and ops_b are both taken.
	g.okp = ir.NewRecord()
	g.okp.Add("klen", KL)
	g.okp.Add("key", 8*K)
	opsK := m.Mem("ops_key_mem", g.okp.W, nIDs, true)
	opSlot := m.Mem("op_slot_mem", S, nIDs, false)
	nextMem := m.Mem("next_mem", idW, nIDs, false)
	keyA := m.Mem("ckey_a_mem", g.kp.W, g.R, true) // read by the completion side
	keyB := m.Mem("ckey_b_mem", g.kp.W, g.R, true) // read by the arrival side
	// The value part: 2 writes (A, B) and 2 reads (A, B) from four simple
	// dual-port banks, bank wXrY written by side X and read by side Y, and a
	// live-value table naming the side that wrote each slot last.
	valAA := m.Mem("cval_wa_ra_mem", g.vp.W, g.R, true)
	valAB := m.Mem("cval_wa_rb_mem", g.vp.W, g.R, true)
	valBA := m.Mem("cval_wb_ra_mem", g.vp.W, g.R, true)
	valBB := m.Mem("cval_wb_rb_mem", g.vp.W, g.R, true)
	lvt, lvtNext := m.Reg("lvt_reg", g.R), m.Reg("lvt_next", g.R)
	lvt.Comment = "per slot: 1 when the arrival side wrote its value part last"
	busy, busyNext := m.Reg("busy_reg", g.R), m.Reg("busy_next", g.R)
	busy.Comment = "per slot: an operation of the slot is in the main pipeline or waits in PQ"
	cvF, cvNext := m.Reg("cv_reg", g.R), m.Reg("cv_next", g.R)
	dirtyF, dirtyNext := m.Reg("dirty_reg", g.R), m.Reg("dirty_next", g.R)
	lnzF, lnzNext := m.Reg("lnz_reg", g.R), m.Reg("lnz_next", g.R)
	lnzF.Comment = "per slot: len > 0"
	pqCount, pqVis, rqCount := m.Reg("pq_count_reg", 5), m.Reg("pq_vis_reg", 5), m.Reg("rq_count_reg", 5)
	pqCount.Comment = "|PQ|: every entry not yet taken, visible or not"
	pqVis.Comment = "PQ entries written (visible on pipe_*)"

	// Free ids: ids never used yet are handed out in order by a counter, then
	// freed ids in the order they were freed (docs/microarch/rs.md §3).
	fresh, freshNext := m.RegPair("fresh", lnW)
	recMem := m.Mem("recycled_mem", idW, nIDs, false)
	recHead, recHeadNext := m.RegPair("recycled_head", idW)
	recTail, recTailNext := m.RegPair("recycled_tail", idW)
	recCount, recCountNext := m.RegPair("recycled_count", lnW)

	// ---- completion queue (a §3 FIFO) and the completion line D1, D2 (§9.1) ------
	cqW := VB + VL + StatusBits + I
	cqMod, err := fifo.Generate(cqW, g.R)
	if err != nil {
		return nil, err
	}
	cqOutValid := m.Wire("cq_out_valid", 1)
	cqOutData := m.Wire("cq_out_data", cqW)
	advance := m.Wire("advance", 1)
	m.Instantiate("u_cq", cqMod, nil, []ir.Conn{
		{Port: "clk", Expr: clk}, {Port: "rst", Expr: rst},
		{Port: "in_valid", Expr: cplValid}, {Port: "in_ready", Expr: nil},
		{Port: "in_data", Expr: ir.Cat(cplValue, cplVlen, cplStatus, cplID)},
		{Port: "out_valid", Expr: cqOutValid}, {Port: "out_ready", Expr: advance},
		{Port: "out_data", Expr: cqOutData},
	})
	entID := func(d ir.Expr) ir.Expr { return ir.Bits(d, I-1, 0) }
	entStatus := func(d ir.Expr) ir.Expr { return ir.Bits(d, I+StatusBits-1, I) }
	entVlen := func(d ir.Expr) ir.Expr { return ir.Bits(d, I+StatusBits+VL-1, I+StatusBits) }
	entValue := func(d ir.Expr) ir.Expr { return ir.Bits(d, cqW-1, I+StatusBits+VL) }
	isWB := func(id ir.Expr) ir.Expr { return ir.Ge(id, g.c(I, uint64(M))) }
	// (id - M) mod R, computed on the low S bits only.
	wbSlot := func(id ir.Expr) ir.Expr { return ir.Sub(ir.Bits(id, S-1, 0), g.c(S, uint64(M)%uint64(g.R))) }
	cqID := g.wire("cq_id", entID(cqOutData))
	cqSlot := g.wire("cq_slot", ir.Sel(isWB(cqID), wbSlot(cqID), opSlot.Read(ir.Bits(cqID, idW-1, 0))))
	cqSlot.Comment = "the slot of CQ's output entry, kept with it in the line"
	d1Valid, d1ValidN := m.RegPair("d1_valid", 1)
	d2Valid, d2ValidN := m.RegPair("d2_valid", 1)
	d1Data, d2Data := m.Reg("d1_data", cqW), m.Reg("d2_data", cqW)
	d1Slot, d2Slot := m.Reg("d1_slot", S), m.Reg("d2_slot", S)
	d2ID := g.wire("d2_id", entID(d2Data))
	d2Status := g.wire("d2_status", entStatus(d2Data))
	d2Vlen := g.wire("d2_vlen", entVlen(d2Data))
	d2Value := g.wire("d2_value", entValue(d2Data))
	d2WB := g.wire("d2_wb", isWB(d2ID))
	d1ID := g.wire("d1_id", entID(d1Data))
	m.MarkUnused(d1ID)

	// ---- the walk (§5 A.1, §9.4, §10.3: the walked slot's state in registers) -----
	walkActive, walkActiveNext := m.RegPair("walk_active", 1)
	walkSlot := m.Reg("walk_slot", S)
	walkCur := m.Reg("walk_cur", idW)
	walkPrev := m.Reg("walk_prev", idW)
	walkHasPrev := m.Reg("walk_has_prev", 1)
	walkVal := m.Reg("walk_val", g.vp.W)
	walkVal.Comment = "the walked slot's value part and chain"
	walkKey := m.Reg("walk_key", g.kp.W)
	walkKey.Comment = "the walked slot's cache key part"
	walkDirty := m.Reg("walk_dirty", 1)
	eqZ := m.Reg("walk_eq", 1)
	eqZ.Comment = "ops[walk.cur]'s key equals the cached key (compared a cycle ahead)"
	opsBRd := m.Reg("ops_b_rd", g.op.W)
	opsBRd.Comment = "ops_b read: the walk's operation ops[walk.cur], or END's chain head"
	opZ := opsBRd // the walked operation is ops_b's read itself, made a step ahead
	opsKRd := m.Reg("ops_key_rd", g.okp.W)
	opsKRd.Comment = "ops_key read: the key of the walk's next operation, or of the head of D2's chain"

	// ---- the completion side's action (§10.1 A) -----------------------------------
	pqRoom := g.wire("pq_room", ir.Lt(pqCount, g.c(5, Q)))
	doStep := g.wire("do_step", ir.LAnd(walkActive, pqRoom))
	m.Assign(advance, ir.LAnd(ir.LNot(walkActive), pqRoom))
	doCpl := g.wire("do_cpl", ir.LAnd(advance, d2Valid))

	// The value part and chain of a completion's slot are read a stage
	// early, as the entry enters D1, so that head[s] is known while it is in
	// D1 and the key of ops[head[s]] can be read then: the walk's first key
	// comparison is then registered by the COMPLETE cycle (rs.md §10.3).
	// Nothing writes a slot while its completion is in D1 or D2 (the D1 and
	// D2 rules hold X back; the completion side writes D2's slot or the
	// walked one, never a slot with a completion in the line), so the read
	// goes into D2 with the entry. The key part, written only by COMPLETE,
	// is read as the entry enters D2.
	a1Addr := g.wire("a1_addr", ir.Sel(advance, cqSlot, d1Slot))
	a1Addr.Comment = "the slot D1 holds next cycle: its value part is read one cycle ahead"
	aAddr := g.wire("a_addr", ir.Sel(advance, d1Slot, d2Slot))
	aAddr.Comment = "the slot D2 holds next cycle: its key part is read one cycle ahead"
	aOpRd := m.Reg("a_op_rd", g.op.W)
	aOpRd.Comment = "ops[D2's id]"
	aKeyRd, aValRdA, aValRdB := m.Reg("a_key_rd", g.kp.W), m.Reg("a_val_rd_a", g.vp.W), m.Reg("a_val_rd_b", g.vp.W)
	aHitAK := m.Reg("a_hit_ak", 1)
	bKeyRd, bValRdA, bValRdB := m.Reg("b_key_rd", g.kp.W), m.Reg("b_val_rd_a", g.vp.W), m.Reg("b_val_rd_b", g.vp.W)
	// The arrival side's value read picks one of four sources with a
	// registered 2-bit select (one 6-input LUT per bit): {1, 0} this
	// cycle's write by A, {1, 1} by B; {0, lvt} the bank the live-value
	// table names.
	bSel := m.Reg("b_val_sel", 2)
	bHitAK := m.Reg("b_hit_ak", 1)
	wkA, wdA, wdB := m.Reg("wr_key_a", g.kp.W), m.Reg("wr_val_a", g.vp.W), m.Reg("wr_val_b", g.vp.W)
	wkA.Comment = "the last cycle's writes, for the read bypass"
	wrBWE, wrBSlot := m.Reg("wr_val_b_we", 1), m.Reg("wr_val_b_slot", S)
	aKey := g.wire("a_key", ir.Sel(aHitAK, wkA, aKeyRd))
	// D1's read is corrected in the cycle after it, from a registered write
	// address: its own address comes from a LUT-RAM read at CQ's output,
	// too late to be compared with that cycle's writes. Only the arrival
	// side can have written the slot then (X joining its chain): the
	// completion side writes D2's slot or the walked one, and a slot has at
	// most one operation between PQ and its COMPLETE (a walked slot none),
	// so neither is D1's. B's write of last cycle wins; else the live-value
	// table, which last cycle's writes have updated, names the bank (one LUT
	// after the table's lookup).
	d1HitB := g.wire("d1_hit_b", ir.LAnd(wrBWE, ir.Eq(wrBSlot, d1Slot)))
	d1Val := g.wire("d1_val", ir.Sel(d1HitB, wdB, ir.Sel(ir.BitAt(lvt, d1Slot), aValRdB, aValRdA)))
	d1Val.Comment = "D1's slot: value part and chain"
	d2Val := m.Reg("d2_val", g.vp.W)
	d2Val.Comment = "D2's slot: value part and chain (D1's, taken along)"
	bKey := g.wire("b_key", ir.Sel(bHitAK, wkA, bKeyRd))
	bVal := g.wire("b_val", ir.Sel(ir.Bit(bSel, 1), ir.Sel(ir.Bit(bSel, 0), wdB, wdA), ir.Sel(ir.Bit(bSel, 0), bValRdB, bValRdA)))
	bVal.Comment = "X's slot: value part and chain"
	m.MarkUnused(bKey) // the arrival side never needs caux

	// Exec inputs: a walk runs against the walked cache, an atomic completion
	// against the value its GET read.
	wv := func(n string) ir.Expr { return g.vp.Get(walkVal, n) }
	cplOK := g.wire("cpl_ok", ir.Eq(d2Status, g.c(StatusBits, stOK)))
	cplErr := g.wire("cpl_err", ir.Gt(d2Status, g.c(StatusBits, stNotFound)))
	cplErr.Comment = "every status but OK and NOT_FOUND is an error (rs.md §1)"
	opA := g.wire("op_a", ir.Sel(walkActive, opZ, aOpRd))
	opA.Comment = "the walked operation, or the completed one"
	m.MarkUnused(opA) // read whole; its slot is known otherwise
	cfIn := g.wire("c_cfound_in", ir.Sel(walkActive, wv("cfound"), cplOK))
	cvlIn := g.wire("c_cvlen_in", ir.Sel(walkActive, wv("cvlen"), ir.Sel(cplOK, d2Vlen, g.c(VL, 0))))
	cvIn := g.wire("c_cval_in", ir.Sel(walkActive, wv("cval"), ir.Sel(cplOK, d2Value, g.c(VB, 0))))
	cx := g.exec("ce", opA, cfIn, cvlIn, cvIn)
	opACode := g.op.Get(opA, "op")
	opAIsPut := g.wire("op_a_put", ir.Eq(opACode, g.c(OpBits, opPut)))
	opAIsDel := g.wire("op_a_del", ir.Eq(opACode, g.c(OpBits, opDel)))
	opAIsVec := g.wire("op_a_vec", ir.Bit(opACode, OpBits-1))
	tagA := g.op.Get(opA, "tag")

	// COMPLETE of D2's entry (§5 A.2).
	cNewVlen := g.wire("c_new_cvlen", ir.Sel(opAIsPut, g.op.Get(opA, "vlen"), ir.Sel(opAIsDel, g.c(VL, 0), cx.nvlen)))
	cNewCV := g.wire("c_new_cv", ir.LAnd(fwdC, ir.Le(cNewVlen, g.c(VL, 8))))
	cVal := m.Reg("c_val", g.vp.W)
	cKey := m.Reg("c_key", g.kp.W)
	cKeyWE := m.Reg("c_key_we", 1)
	cDirty := m.Reg("c_dirty", 1)
	cCv := m.Reg("c_cv", 1)
	cResp := m.Reg("c_resp_valid", 1)
	cRespData := m.Reg("c_resp_data", g.rs.W)
	cFree := m.Reg("c_free_valid", 1)
	cFreeID := m.Reg("c_free_id", idW)
	vf := func(s *ir.Signal, n string) ir.Expr { return g.vp.Get(s, n) }
	kf := func(s *ir.Signal, n string) ir.Expr { return g.kp.Get(s, n) }
	m.Comb("completion side: COMPLETE of D2's entry (rs.md §5 A.2, §9.2 A.3)", func(b *ir.Block) {
		b.Set(cVal, d2Val)
		b.Set(cKey, aKey)
		b.Set(cKeyWE, ir.C(1, 0))
		b.Set(cDirty, ir.BitAt(dirtyF, d2Slot))
		b.Set(cCv, ir.BitAt(cvF, d2Slot))
		b.Set(cResp, ir.C(1, 0))
		b.Set(cRespData, g.respPack(tagA, cx.status, cx.vlen, cx.value))
		b.Set(cFree, ir.C(1, 0))
		b.Set(cFreeID, ir.Bits(d2ID, idW-1, 0))
		b.If(doCpl, func(b *ir.Block) {
			b.If(d2WB, func(b *ir.Block) {
				b.If(cplErr, func(b *ir.Block) {
					b.Set(cDirty, ir.C(1, 1))
				}, nil)
			}, func(b *ir.Block) {
				b.Set(cResp, ir.C(1, 1))
				b.Set(cFree, ir.C(1, 1))
				b.If(opAIsVec, func(b *ir.Block) {
					// The station does not know the value a vector operation leaves.
					b.Set(cRespData, g.respPack(tagA, d2Status, d2Vlen, d2Value))
					b.Set(cCv, ir.C(1, 0))
				}, func(b *ir.Block) {
					b.If(cplErr, func(b *ir.Block) {
						b.Set(cRespData, g.respPack(tagA, d2Status, g.c(VL, 0), g.c(VB, 0)))
						b.Set(cCv, ir.C(1, 0))
					}, func(b *ir.Block) {
						b.Set(cCv, cNewCV)
						b.Set(cKeyWE, ir.C(1, 1))
						b.Set(kf(cKey, "ckey"), g.op.Get(opA, "key"))
						b.Set(kf(cKey, "cklen"), g.op.Get(opA, "klen"))
						b.Set(kf(cKey, "caux"), g.op.Get(opA, "aux"))
						b.Set(vf(cVal, "cvlen"), cNewVlen)
						b.If(opAIsPut, func(b *ir.Block) {
							b.Set(vf(cVal, "cfound"), ir.C(1, 1))
							b.Set(vf(cVal, "cval"), g.op.Get(opA, "value"))
							b.Set(cRespData, g.respPack(tagA, g.c(StatusBits, stOK), g.c(VL, 0), g.c(VB, 0)))
						}, func(b *ir.Block) {
							b.If(opAIsDel, func(b *ir.Block) {
								b.Set(vf(cVal, "cfound"), ir.C(1, 0))
								b.Set(vf(cVal, "cval"), g.c(VB, 0))
								b.Set(cRespData, g.respPack(tagA, d2Status, g.c(VL, 0), g.c(VB, 0)))
							}, func(b *ir.Block) {
								// GET, or an ATOMIC whose GET came back: exec.
								b.Set(vf(cVal, "cfound"), cx.found)
								b.Set(vf(cVal, "cval"), cx.val)
								b.Set(cDirty, ir.Or(ir.BitAt(dirtyF, d2Slot), cx.dirty))
							})
						})
					})
				})
			})
		}, nil)
	})

	// A WALK step on the walked registers (§5 A.1).
	z := walkCur
	nextZ := g.wire("next_z", nextMem.Read(z))
	match := g.wire("walk_match", ir.LAnd(eqZ, g.servable(opZ)))
	match.Comment = "the walked operation is the cached key's and servable: executed here"
	walkStop := g.wire("walk_stop", ir.LAnd(eqZ, ir.LNot(g.servable(opZ))))
	walkStop.Comment = "the cached key's long PUT or vector operation: the walk ends before it"
	wLast := g.wire("walk_last", ir.Eq(z, wv("tail")))
	walkEnd := g.wire("walk_end", ir.LAnd(doStep, ir.LOr(wLast, walkStop)))
	wValNew := m.Reg("w_val_new", g.vp.W)
	wDirtyNew := m.Reg("w_dirty_new", 1)
	m.Comb("completion side: a WALK step (rs.md §5 A.1)", func(b *ir.Block) {
		b.Set(wValNew, walkVal)
		b.Set(wDirtyNew, walkDirty)
		b.If(ir.LAnd(doStep, match), func(b *ir.Block) {
			b.Set(vf(wValNew, "cfound"), cx.found)
			b.Set(vf(wValNew, "cvlen"), cx.nvlen)
			b.Set(vf(wValNew, "cval"), cx.val)
			b.Set(wDirtyNew, ir.Or(walkDirty, cx.dirty))
			b.Set(vf(wValNew, "len"), ir.Sub(wv("len"), g.c(lnW, 1)))
			b.If(ir.LNot(walkHasPrev), func(b *ir.Block) {
				b.Set(vf(wValNew, "head"), nextZ)
			}, nil)
			b.If(wLast, func(b *ir.Block) {
				b.Set(vf(wValNew, "tail"), walkPrev)
			}, nil)
		}, nil)
	})
	walkUnlink := g.wire("walk_unlink", ir.AndAll(doStep, match, walkHasPrev))
	walkResp := g.wire("walk_resp", ir.LAnd(doStep, match))

	// The slot the completion side acts on, after COMPLETE or the step.
	midSlot := g.wire("mid_slot", ir.Sel(walkActive, walkSlot, d2Slot))
	midVal := g.wire("mid_val", ir.Sel(walkActive, wValNew, cVal))
	midKey := g.wire("mid_key", ir.Sel(walkActive, walkKey, cKey))
	midDirty := g.wire("mid_dirty", ir.Sel(walkActive, wDirtyNew, cDirty))
	midCv := g.wire("mid_cv", ir.LOr(walkActive, cCv))
	mv := func(n string) ir.Expr { return g.vp.Get(midVal, n) }
	mk := func(n string) ir.Expr { return g.kp.Get(midKey, n) }
	midQueued := g.wire("mid_queued", ir.Ne(mv("len"), g.c(lnW, 0)))
	// A write-back's completion never walks (rs.md §5 A.2).
	walkStart := g.wire("walk_start", ir.AndAll(doCpl, ir.LNot(d2WB), fwdC, cCv, midQueued))
	endNow := g.wire("end_now", ir.LOr(walkEnd, ir.LAnd(doCpl, ir.LNot(walkStart))))
	endHead := g.wire("end_head", mv("head"))
	nextH := g.wire("next_h", nextMem.Read(endHead))

	// END(s) (§5).
	fVal := m.Reg("f_val", g.vp.W)
	fVal.Comment = "the completion side's slot after END: written back"
	fDirty, fCv, fBusy := m.Reg("f_dirty", 1), m.Reg("f_cv", 1), m.Reg("f_busy", 1)
	pA := m.Reg("a_push", 1)
	pAHead := m.Reg("a_push_head", 1)
	pAHead.Comment = "the push is END's chain head, read from ops_b"
	m.Comb("completion side: END (rs.md §5)", func(b *ir.Block) {
		b.Set(fVal, midVal)
		b.Set(fDirty, midDirty)
		b.Set(fCv, midCv)
		b.Set(fBusy, ir.C(1, 1))
		b.Set(pA, ir.C(1, 0))
		b.Set(pAHead, ir.C(1, 0))
		b.If(endNow, func(b *ir.Block) {
			b.If(midDirty, func(b *ir.Block) {
				b.Set(pA, ir.C(1, 1))
				b.Set(fDirty, ir.C(1, 0))
			}, func(b *ir.Block) {
				b.If(midQueued, func(b *ir.Block) {
					b.Set(pA, ir.C(1, 1))
					b.Set(pAHead, ir.C(1, 1))
					b.Set(vf(fVal, "head"), nextH)
					b.Set(vf(fVal, "len"), ir.Sub(mv("len"), g.c(lnW, 1)))
					b.Set(fCv, ir.C(1, 0))
				}, func(b *ir.Block) {
					b.Set(fBusy, ir.C(1, 0))
					if g.ic {
						b.Note("the cache stays valid: the slot goes idle only with dirty = 0, so it equals memory (rs.md §11)")
					} else {
						b.Set(fCv, ir.C(1, 0))
					}
				})
			})
		}, nil)
	})
	wbID := g.wire("wb_id", ir.Add(g.c(I, uint64(M)), ir.Zext(midSlot, I)))
	wbData := g.wire("wb_data", g.pq.Pack(map[string]ir.Expr{
		"id": wbID, "tag": g.c(TagBits, 0),
		"op":  ir.Sel(mv("cfound"), g.c(OpBits, opPut), g.c(OpBits, opDel)),
		"fid": g.c(F, 0), "key": mk("ckey"), "klen": mk("cklen"),
		"vlen":  ir.Sel(mv("cfound"), mv("cvlen"), g.c(VL, 0)),
		"value": ir.Sel(mv("cfound"), mv("cval"), g.c(VB, 0)),
		"delta": g.c(W, 0), "cmp": g.c(W, 0), "swap": g.c(W, 0),
		"aux": mk("caux"),
	}))
	wbData.Comment = "END's write-back: PUT of the cached value, or DELETE"
	// The completion side writes its slot's value part when it completes or
	// a walk ends, and the key part when COMPLETE sets the cache.
	aValWE := g.wire("a_val_we", ir.LOr(doCpl, walkEnd))
	aKeyWE := g.wire("a_key_we", ir.LAnd(doCpl, cKeyWE))
	aFree := g.wire("a_free", ir.LOr(cFree, walkResp))
	aFreeID := g.wire("a_free_id", ir.Sel(walkActive, z, cFreeID))
	aResp := g.wire("a_resp_valid", ir.LOr(cResp, walkResp))
	aRespData := g.wire("a_resp_data", ir.Sel(walkActive, g.respPack(tagA, cx.status, cx.vlen, cx.value), cRespData))

	// The walk reads ahead (rs.md §10.3): at a step on z, ops_b holds ops[z]
	// and ops_key the key of ops[next z], which is compared now and
	// registered into walk_eq for the next step; they read ops[next z] and
	// the key of ops[next next z] for it (nothing joins a walked chain, and
	// an unlink changes next[prev] only, so the links ahead are stable). A
	// walk starting reads its first operation, ops[head], and the key of the
	// second; the first key comparison is made at the COMPLETE, on the key of
	// ops[head] that ops_key read while the entry was in D1. When a walk
	// ends, ops_b reads END's chain head and ops_key the key of the head of
	// D2's chain again (the walk took ops_key when that entry entered D2).
	// Both reads hold while the completion side waits for PQ room.
	d2Head := g.wire("d2_head", g.vp.Get(d2Val, "head"))
	d1Head := g.wire("d1_head", g.vp.Get(d1Val, "head"))
	nextN := g.wire("next_n", nextMem.Read(nextZ))
	nextD2Head := g.wire("next_d2_head", nextMem.Read(d2Head))
	opsBAddr := g.wire("ops_b_addr", ir.Sel(ir.LAnd(walkActive, ir.LNot(walkEnd)), nextZ, endHead))
	opsBAddr.Comment = "the walk's next operation, else the head of END's (or a starting walk's) chain"
	opsKAddr := g.wire("ops_key_addr", ir.Sel(walkActive, ir.Sel(walkEnd, d2Head, nextN), ir.Sel(walkStart, nextD2Head, d1Head)))
	opsKAddr.Comment = "the key after the walk's next, a starting walk's second, or the head of the chain of D2's entry"
	cmpN := g.wire("walk_cmp_next", ir.AndAll(fwdC,
		ir.Eq(g.okp.Get(opsKRd, "key"), ir.Sel(walkActive, g.kp.Get(walkKey, "ckey"), g.op.Get(aOpRd, "key"))),
		ir.Eq(g.okp.Get(opsKRd, "klen"), ir.Sel(walkActive, g.kp.Get(walkKey, "cklen"), g.op.Get(aOpRd, "klen")))))
	cmpN.Comment = "the next walk step's key comparison, registered into walk_eq (a walk starting: against the key COMPLETE caches)"
	// The walk registers are read only while a walk is active: they take
	// D2's slot in every cycle without one, which is what a walk that
	// COMPLETE starts needs, so that the decision to walk (through an
	// atomic's λ) stays out of their enables.
	m.Seq(clk, "the walk registers", func(b *ir.Block) {
		b.Set(walkActive, walkActiveNext)
		b.If(ir.LNot(walkActive), func(b *ir.Block) {
			b.Set(walkSlot, d2Slot)
			b.Set(walkCur, d2Head)
			b.Set(walkHasPrev, ir.C(1, 0))
			b.Set(walkVal, cVal)
			b.Set(walkKey, cKey)
			b.Set(walkDirty, cDirty)
			b.Set(eqZ, cmpN)
		}, nil)
		b.If(ir.LAnd(doStep, ir.LNot(walkEnd)), func(b *ir.Block) {
			b.Set(walkVal, wValNew)
			b.Set(walkDirty, wDirtyNew)
			b.Set(walkCur, nextZ)
			b.If(ir.LNot(match), func(b *ir.Block) {
				b.Set(walkPrev, z)
				b.Set(walkHasPrev, ir.C(1, 1))
			}, nil)
			b.Set(eqZ, cmpN)
		}, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(walkActive, ir.C(1, 0))
		}, nil)
	})
	m.Comb("walk state", func(b *ir.Block) {
		b.Set(walkActiveNext, walkActive)
		b.If(walkStart, func(b *ir.Block) {
			b.Set(walkActiveNext, ir.C(1, 1))
		}, nil)
		b.If(walkEnd, func(b *ir.Block) {
			b.Set(walkActiveNext, ir.C(1, 0))
		}, nil)
	})
	m.Comb("the completion line (rs.md §9.2 A.3)", func(b *ir.Block) {
		b.Set(d1ValidN, d1Valid)
		b.Set(d2ValidN, d2Valid)
		b.If(advance, func(b *ir.Block) {
			b.Set(d2ValidN, d1Valid)
			b.Set(d1ValidN, cqOutValid)
		}, nil)
	})
	m.Seq(clk, "the completion line", func(b *ir.Block) {
		b.Set(d1Valid, d1ValidN)
		b.Set(d2Valid, d2ValidN)
		b.If(advance, func(b *ir.Block) {
			b.Set(d2Data, d1Data)
			b.Set(d2Slot, d1Slot)
			b.Set(d2Val, d1Val)
			b.Set(d1Data, cqOutData)
			b.Set(d1Slot, cqSlot)
		}, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(d1Valid, ir.C(1, 0))
			b.Set(d2Valid, ir.C(1, 0))
		}, nil)
	})

	// ---- arrival side (§9.2 B, §10.1 B): the stage X ---------------------------------
	xValid, xValidN := m.RegPair("x_valid", 1)
	xOp := m.Reg("x_op", g.op.W)
	xOp.Comment = "the arrival stage X: the accepted request, key and value masked"
	xSlot := g.wire("x_slot", g.op.Get(xOp, "slot"))
	freeAvail := g.wire("free_avail", ir.LOr(ir.Lt(fresh, g.c(lnW, uint64(M))), ir.Ne(recCount, g.c(lnW, 0))))
	xGo := g.wire("x_go", ir.AndAll(xValid, freeAvail, ir.Le(pqCount, g.c(5, Q-2)), ir.Le(rqCount, g.c(5, Q-2)),
		ir.LNot(ir.LAnd(walkActive, ir.Eq(xSlot, walkSlot))),
		ir.LNot(ir.LAnd(d1Valid, ir.Eq(xSlot, d1Slot))),
		ir.LNot(ir.LAnd(d2Valid, ir.Eq(xSlot, d2Slot)))))
	xGo.Comment = "X acts this cycle (rs.md §10.1 B)"
	// req_ready depends on state only (rs.md §9.2).
	m.Assign(reqReady, ir.LOr(ir.LNot(xValid), xGo))
	reqFire := g.wire("req_fire", ir.LAnd(reqValid, reqReady))
	en := make([]ir.Expr, K)
	for i := 0; i < K; i++ {
		en[K-1-i] = ir.Rep(8, ir.Gt(reqKlen, g.c(KL, uint64(i))))
	}
	keyIn := g.wire("req_key_masked", ir.And(reqKey, ir.Cat(en...)))
	keyIn.Comment = "bytes past req_klen cleared"
	ven := make([]ir.Expr, 8)
	for i := 0; i < 8; i++ {
		ven[7-i] = ir.Rep(8, ir.Gt(reqVlen, g.c(VL, uint64(i))))
	}
	valIn := g.wire("req_value_masked", ir.And(reqValue, ir.Cat(ven...)))
	valIn.Comment = "bytes past req_vlen cleared"
	inVals := map[string]ir.Expr{"op": reqOp, "fid": reqFid, "klen": reqKlen, "slot": reqSlot, "tag": reqTag,
		"vlen": reqVlen, "value": valIn, "key": keyIn, "aux": reqAux}
	for i, name := range lambda.Operands[1:] {
		inVals[name] = reqOps[i+1]
	}
	inRec := g.wire("req_rec", g.op.Pack(inVals))
	bAddr := g.wire("b_addr", ir.Sel(reqReady, reqSlot, xSlot))
	bAddr.Comment = "the slot X will hold next cycle: read one cycle ahead"

	bv := func(n string) ir.Expr { return g.vp.Get(bVal, n) }
	bk := func(n string) ir.Expr { return g.kp.Get(bKey, n) }
	bBusy := g.wire("b_busy", ir.BitAt(busy, xSlot))
	bCv := g.wire("b_cv", ir.BitAt(cvF, xSlot))
	bLnz := g.wire("b_lnz", ir.BitAt(lnzF, xSlot))
	bDirty := g.wire("b_dirty", ir.BitAt(dirtyF, xSlot))
	ax := g.exec("xe", xOp, bv("cfound"), bv("cvlen"), bv("cval"))
	localTerms := []ir.Expr{fwdC, bCv, ir.LNot(bLnz),
		ir.Eq(g.op.Get(xOp, "key"), bk("ckey")), ir.Eq(g.op.Get(xOp, "klen"), bk("cklen")), g.servable(xOp)}
	if g.ic {
		// An idle slot's cache may be valid (rs.md §11), but only a GET can
		// be served from it: anything else would dirty it, and a dirty cache
		// must keep its slot busy until its write-back completes. busy and cv
		// are read from the flip-flops as the cycle starts, which is X's slot
		// after the completion side's action (§9.2 B): the walk and D2 rules
		// keep that side off X's slot in any cycle X goes, so no bypass is
		// needed, and an END of an earlier cycle is in the flip-flops.
		bGet := g.wire("b_get", ir.Eq(g.op.Get(xOp, "op"), g.c(OpBits, opGet)))
		localTerms = append(localTerms, ir.LOr(bBusy, bGet))
	}
	bLocal := g.wire("b_local", ir.AndAll(localTerms...))
	bLocal.Comment = "X is served from its slot's cache"
	if g.ic {
		bLocal.Comment = "X is served from its slot's cache (an idle slot's only for a GET, rs.md §11)"
	}
	bIssue := g.wire("b_issue", ir.LAnd(ir.LNot(bLocal), ir.LNot(bBusy)))
	bChain := g.wire("b_chain", ir.LAnd(ir.LNot(bLocal), bBusy))
	bAlloc := g.wire("b_alloc", ir.LAnd(xGo, ir.LNot(bLocal)))
	fromFresh := g.wire("alloc_fresh", ir.Lt(fresh, g.c(lnW, uint64(M))))
	allocID := g.wire("alloc_id", ir.Sel(fromFresh, ir.Bits(fresh, idW-1, 0), recMem.Read(recHead)))
	bValNew := m.Reg("b_val_new", g.vp.W)
	m.Comb("arrival side: X's slot after X (rs.md §5 B)", func(b *ir.Block) {
		b.Set(bValNew, bVal)
		b.If(bLocal, func(b *ir.Block) {
			b.Set(vf(bValNew, "cfound"), ax.found)
			b.Set(vf(bValNew, "cvlen"), ax.nvlen)
			b.Set(vf(bValNew, "cval"), ax.val)
		}, func(b *ir.Block) {
			b.If(bIssue, func(b *ir.Block) {
				// An idle slot's chain is empty: say so in the block RAM too
				// (its contents are not reset).
				b.Set(vf(bValNew, "len"), g.c(lnW, 0))
			}, func(b *ir.Block) {
				b.Set(vf(bValNew, "tail"), allocID)
				b.If(bLnz, func(b *ir.Block) {
					b.Set(vf(bValNew, "len"), ir.Add(bv("len"), g.c(lnW, 1)))
				}, func(b *ir.Block) {
					b.Set(vf(bValNew, "len"), g.c(lnW, 1))
					b.Set(vf(bValNew, "head"), allocID)
				})
			})
		})
	})
	bValWE := g.wire("b_val_we", xGo)
	pB := g.wire("b_push", ir.LAnd(xGo, bIssue))
	pBData := g.wire("b_push_data", g.push(ir.Zext(allocID, I), xOp))
	bResp := g.wire("b_resp_valid", ir.LAnd(xGo, bLocal))
	bRespData := g.wire("b_resp_data", g.respPack(g.op.Get(xOp, "tag"), ax.status, ax.vlen, ax.value))
	bNextWE := g.wire("b_next_we", ir.AndAll(xGo, bChain, bLnz))
	m.Comb("the arrival stage", func(b *ir.Block) {
		b.Set(xValidN, xValid)
		b.If(xGo, func(b *ir.Block) { b.Set(xValidN, ir.C(1, 0)) }, nil)
		b.If(reqFire, func(b *ir.Block) { b.Set(xValidN, ir.C(1, 1)) }, nil)
	})

	// ---- free ids ---------------------------------------------------------------
	popRec := g.wire("free_pop_recycled", ir.LAnd(bAlloc, ir.LNot(fromFresh)))
	m.Comb("free ids", func(b *ir.Block) {
		b.Set(freshNext, fresh)
		b.Set(recHeadNext, recHead)
		b.Set(recTailNext, recTail)
		b.Set(recCountNext, recCount)
		b.If(ir.LAnd(bAlloc, fromFresh), func(b *ir.Block) {
			b.Set(freshNext, ir.Add(fresh, g.c(lnW, 1)))
		}, nil)
		b.If(popRec, func(b *ir.Block) {
			b.Set(recHeadNext, ir.Add(recHead, g.c(idW, 1)))
		}, nil)
		b.If(aFree, func(b *ir.Block) {
			b.Set(recTailNext, ir.Add(recTail, g.c(idW, 1)))
		}, nil)
		b.If(ir.LAnd(aFree, ir.LNot(popRec)), func(b *ir.Block) {
			b.Set(recCountNext, ir.Add(recCount, g.c(lnW, 1)))
		}, func(b *ir.Block) {
			b.If(ir.LAnd(popRec, ir.LNot(aFree)), func(b *ir.Block) {
				b.Set(recCountNext, ir.Sub(recCount, g.c(lnW, 1)))
			}, nil)
		})
	})

	// ---- output queues (§5 C, §9.2 C) ----------------------------------------------
	// A push of cycle t is written into PQ at the end of cycle t+1 (END's
	// chain head is read from ops_b in between), so it drives pipe_* from
	// cycle t+2 on; |PQ| counts it from the push.
	sA, sAHead, sB := m.Reg("pq_stage_a", 1), m.Reg("pq_stage_a_head", 1), m.Reg("pq_stage_b", 1)
	sAID := m.Reg("pq_stage_a_id", idW)
	sAData, sBData := m.Reg("pq_stage_a_data", g.pq.W), m.Reg("pq_stage_b_data", g.pq.W)
	pushA := g.wire("pq_push_a", ir.LAnd(pqRoom, pA))
	stAData := g.wire("pq_stage_a_rec", ir.Sel(sAHead, g.push(ir.Zext(sAID, I), opsBRd), sAData))
	pqValid, pqData := g.outQueue("pq", g.pq.W, clk, rst, sA, stAData, sB, sBData, pipeReady, pqVis)
	pqPop := g.wire("pq_taken", ir.LAnd(pqValid, pipeReady))
	rqValid, rqData := g.outQueue("rq", g.rs.W, clk, rst, aResp, aRespData, bResp, bRespData, nil, rqCount)
	m.Assign(pipeValid, pqValid)
	for _, name := range g.pq.Names {
		m.Assign(pipeOut[name], g.pq.Get(pqData, name))
	}
	m.Assign(respValid, rqValid)
	for _, name := range g.rs.Names {
		m.Assign(respOut[name], g.rs.Get(rqData, name))
	}
	m.Seq(clk, "PQ: pushes staged one cycle, |PQ|", func(b *ir.Block) {
		b.Set(sA, pushA)
		b.Set(sAHead, pAHead)
		b.Set(sAID, endHead)
		b.Set(sAData, wbData)
		b.Set(sB, pB)
		b.Set(sBData, pBData)
		b.Set(pqCount, ir.Sub(ir.Add(ir.Add(pqCount, ir.Zext(pushA, 5)), ir.Zext(pB, 5)), ir.Zext(pqPop, 5)))
		b.If(rst, func(b *ir.Block) {
			b.Set(sA, ir.C(1, 0))
			b.Set(sB, ir.C(1, 0))
			b.Set(pqCount, ir.C(5, 0))
		}, nil)
	})

	// ---- per-slot flags ---------------------------------------------------------------
	aFlagWE := g.wire("a_flag_we", aValWE)
	m.Comb("per-slot flags: the completion side's slot, then X's (never the same slot)", func(b *ir.Block) {
		b.Set(busyNext, busy)
		b.Set(cvNext, cvF)
		b.Set(dirtyNext, dirtyF)
		b.Set(lnzNext, lnzF)
		b.Set(lvtNext, lvt)
		b.If(aFlagWE, func(b *ir.Block) {
			b.Set(ir.BitAt(busyNext, midSlot), fBusy)
			b.Set(ir.BitAt(cvNext, midSlot), fCv)
			b.Set(ir.BitAt(dirtyNext, midSlot), fDirty)
			b.Set(ir.BitAt(lnzNext, midSlot), ir.Ne(vf(fVal, "len"), g.c(lnW, 0)))
			b.Set(ir.BitAt(lvtNext, midSlot), ir.C(1, 0))
		}, nil)
		b.If(xGo, func(b *ir.Block) {
			b.If(bLocal, func(b *ir.Block) {
				b.Set(ir.BitAt(dirtyNext, xSlot), ir.Or(bDirty, ax.dirty))
			}, nil)
			b.If(bIssue, func(b *ir.Block) {
				b.Set(ir.BitAt(busyNext, xSlot), ir.C(1, 1))
				if g.ic {
					b.Note("the key may change in the pipeline from now on; its completion sets the cache again (rs.md §11)")
					b.Set(ir.BitAt(cvNext, xSlot), ir.C(1, 0))
				}
			}, nil)
			b.If(bChain, func(b *ir.Block) {
				b.Set(ir.BitAt(lnzNext, xSlot), ir.C(1, 1))
			}, nil)
			b.If(bValWE, func(b *ir.Block) {
				b.Set(ir.BitAt(lvtNext, xSlot), ir.C(1, 1))
			}, nil)
		}, nil)
	})

	// ---- registers and memories ------------------------------------------------------
	m.Seq(clk, "control state", func(b *ir.Block) {
		b.Set(busy, busyNext)
		b.Set(cvF, cvNext)
		b.Set(dirtyF, dirtyNext)
		b.Set(lnzF, lnzNext)
		b.Set(lvt, lvtNext)
		b.Set(xValid, xValidN)
		b.Set(fresh, freshNext)
		b.Set(recHead, recHeadNext)
		b.Set(recTail, recTailNext)
		b.Set(recCount, recCountNext)
		b.If(reqFire, func(b *ir.Block) { b.Set(xOp, inRec) }, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(busy, g.c(g.R, 0))
			b.Set(cvF, g.c(g.R, 0))
			b.Set(dirtyF, g.c(g.R, 0))
			b.Set(lnzF, g.c(g.R, 0))
			b.Set(xValid, ir.C(1, 0))
			b.Set(fresh, g.c(lnW, 0))
			b.Set(recHead, g.c(idW, 0))
			b.Set(recTail, g.c(idW, 0))
			b.Set(recCount, g.c(lnW, 0))
		}, nil)
	})
	m.Seq(clk, "chain links and the free-id ring (flip-flops / distributed RAM)", func(b *ir.Block) {
		b.If(walkUnlink, func(b *ir.Block) { b.Write(nextMem, walkPrev, nextZ) }, nil)
		b.If(bNextWE, func(b *ir.Block) { b.Write(nextMem, bv("tail"), allocID) }, nil)
		b.If(aFree, func(b *ir.Block) { b.Write(recMem, recTail, aFreeID) }, nil)
	})
	m.Seq(clk, "op_slot: each operation's slot", func(b *ir.Block) {
		b.If(bAlloc, func(b *ir.Block) { b.Write(opSlot, allocID, xSlot) }, nil)
	})
	m.Seq(clk, "ops_a: written by X, read for D2", func(b *ir.Block) {
		b.Set(aOpRd, opsA.Read(ir.Sel(advance, ir.Bits(d1ID, idW-1, 0), ir.Bits(d2ID, idW-1, 0))))
		b.If(bAlloc, func(b *ir.Block) { b.Write(opsA, allocID, xOp) }, nil)
	})
	m.Seq(clk, "ops_b: written by X, read for the walk and END", func(b *ir.Block) {
		b.If(pqRoom, func(b *ir.Block) { b.Set(opsBRd, opsB.Read(opsBAddr)) }, nil)
		b.If(bAlloc, func(b *ir.Block) { b.Write(opsB, allocID, xOp) }, nil)
	})
	m.Seq(clk, "ops_key: written by X, read for the walk's key comparisons", func(b *ir.Block) {
		b.If(pqRoom, func(b *ir.Block) { b.Set(opsKRd, opsK.Read(opsKAddr)) }, nil)
		b.If(bAlloc, func(b *ir.Block) {
			b.Write(opsK, allocID, g.okp.Pack(map[string]ir.Expr{"klen": g.op.Get(xOp, "klen"), "key": g.op.Get(xOp, "key")}))
		}, nil)
	})
	kMem := func(mem *ir.Memory, rd *ir.Signal, addr ir.Expr) {
		m.Seq(clk, mem.Name+": written by COMPLETE", func(b *ir.Block) {
			b.Set(rd, mem.Read(addr))
			b.If(aKeyWE, func(b *ir.Block) { b.Write(mem, midSlot, cKey) }, nil)
		})
	}
	kMem(keyA, aKeyRd, aAddr)
	kMem(keyB, bKeyRd, bAddr)
	vMem := func(mem *ir.Memory, rd *ir.Signal, addr ir.Expr, we ir.Expr, wa ir.Expr, wd ir.Expr) {
		m.Seq(clk, mem.Name, func(b *ir.Block) {
			b.Set(rd, mem.Read(addr))
			b.If(we, func(b *ir.Block) { b.Write(mem, wa, wd) }, nil)
		})
	}
	vMem(valAA, aValRdA, a1Addr, aValWE, midSlot, fVal)
	vMem(valAB, bValRdA, bAddr, aValWE, midSlot, fVal)
	vMem(valBA, aValRdB, a1Addr, bValWE, xSlot, bValNew)
	vMem(valBB, bValRdB, bAddr, bValWE, xSlot, bValNew)
	// A and B never write the same slot in one cycle (the D1, D2 and walk rules).
	bHitA := ir.LAnd(aValWE, ir.Eq(midSlot, bAddr))
	bHitB := ir.LAnd(bValWE, ir.Eq(xSlot, bAddr))
	m.Seq(clk, "read bypass: the live-value table and this cycle's writes", func(b *ir.Block) {
		b.Set(aHitAK, ir.LAnd(aKeyWE, ir.Eq(midSlot, aAddr)))
		b.Set(bHitAK, ir.LAnd(aKeyWE, ir.Eq(midSlot, bAddr)))
		b.Set(bSel, ir.Cat(ir.LOr(bHitA, bHitB), ir.Sel(bHitA, ir.C(1, 0), ir.Sel(bHitB, ir.C(1, 1), ir.BitAt(lvt, bAddr)))))
		b.Set(wkA, cKey)
		b.Set(wdA, fVal)
		b.Set(wdB, bValNew)
		b.Set(wrBWE, bValWE)
		b.Set(wrBSlot, xSlot)
	})
	return m, m.Err()
}

// servable is rs.md §1's rule for an operation record: GET, DELETE, ATOMIC,
// or a PUT of a short value (vlen <= 8); never a vector operation.
func (g *gen) servable(op *ir.Signal) ir.Expr {
	code := g.op.Get(op, "op")
	longPut := ir.LAnd(ir.Eq(code, ir.C(OpBits, opPut)), ir.Gt(g.op.Get(op, "vlen"), ir.C(g.VL, 8)))
	return ir.LAnd(ir.LNot(ir.Bit(code, OpBits-1)), ir.LNot(longPut))
}

// push is rs.md §5's push(i) of the stored request op with id: atomics go as
// GETs; vlen/value only for PUT and the vector operations; the rest as
// stored.
func (g *gen) push(id ir.Expr, op *ir.Signal) ir.Expr {
	code := g.op.Get(op, "op")
	carries := ir.LOr(ir.Eq(code, ir.C(OpBits, opPut)), ir.Bit(code, OpBits-1))
	vals := map[string]ir.Expr{
		"id": id, "tag": g.op.Get(op, "tag"),
		"op":  ir.Sel(ir.Eq(code, ir.C(OpBits, opAtomic)), ir.C(OpBits, opGet), code),
		"fid": g.op.Get(op, "fid"), "key": g.op.Get(op, "key"), "klen": g.op.Get(op, "klen"),
		"vlen":  ir.Sel(carries, g.op.Get(op, "vlen"), ir.C(g.VL, 0)),
		"value": ir.Sel(carries, g.op.Get(op, "value"), ir.C(ValueBits, 0)),
		"aux":   g.op.Get(op, "aux"),
	}
	for _, name := range lambda.Operands[1:] {
		vals[name] = g.op.Get(op, name)
	}
	return g.pq.Pack(vals)
}

func (g *gen) respPack(tag, status, vlen, value ir.Expr) ir.Expr {
	return g.rs.Pack(map[string]ir.Expr{"tag": tag, "status": status, "vlen": vlen, "value": value})
}

// outQueue is a Q-entry queue taking up to two pushes a cycle (the
// completion side's first) and presenting its head every cycle it is
// non-empty, popping it when ready is 1 (nil: always; rs.md §5 C).
func (g *gen) outQueue(name string, w int, clk, rst *ir.Signal, p0 ir.Expr, d0 ir.Expr, p1, d1 ir.Expr, ready ir.Expr, count *ir.Signal) (valid, data *ir.Signal) {
	m := g.m
	mem := m.Mem(name+"_mem", w, Q, false)
	wr, wrNext := m.RegPair(name+"_wr", 4)
	rd, rdNext := m.RegPair(name+"_rd", 4)
	countNext := m.Reg(name+"_count_next", 5)
	valid = g.wire(name+"_valid", ir.Ne(count, ir.C(5, 0)))
	data = g.wire(name+"_head", mem.Read(rd))
	pop := ir.Expr(valid)
	if ready != nil {
		pop = g.wire(name+"_pop", ir.LAnd(valid, ready))
	}
	wr1 := g.wire(name+"_wr1", ir.Add(wr, ir.Zext(p0, 4)))
	m.Comb(name+" pointers", func(b *ir.Block) {
		b.Set(wrNext, ir.Add(wr1, ir.Zext(p1, 4)))
		b.Set(rdNext, ir.Add(rd, ir.Zext(pop, 4)))
		b.Set(countNext, ir.Sub(ir.Add(ir.Add(count, ir.Zext(p0, 5)), ir.Zext(p1, 5)), ir.Zext(pop, 5)))
	})
	m.Seq(clk, name+" queue", func(b *ir.Block) {
		b.Set(wr, wrNext)
		b.Set(rd, rdNext)
		b.Set(count, countNext)
		b.If(p0, func(b *ir.Block) { b.Write(mem, wr, d0) }, nil)
		b.If(p1, func(b *ir.Block) { b.Write(mem, wr1, d1) }, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(wr, ir.C(4, 0))
			b.Set(rd, ir.C(4, 0))
			b.Set(count, ir.C(5, 0))
		}, nil)
	})
	return valid, data
}

// execResult is the outcome of exec (rs.md §4).
type execResult struct {
	status, vlen, value ir.Expr // the response
	found, nvlen, val   ir.Expr // the cache after
	dirty               ir.Expr // 1 when the operation changed the cache
}

// exec builds rs.md §4 for the servable operation record op against a cache
// (cfound, cvlen, cval), with its own λ instance named by prefix.
func (g *gen) exec(prefix string, op *ir.Signal, cfound, cvlen, cval ir.Expr) execResult {
	W, VL, VB := g.W, g.VL, ValueBits
	old := g.wire(prefix+"_old", ir.Sel(cfound, ir.Bits(cval, W-1, 0), ir.C(W, 0)))
	old.Comment = "cfound ? cval : 0, cut to the scalar width"
	var ops [4]ir.Expr
	ops[0] = old
	for i, name := range lambda.Operands[1:] {
		ops[i+1] = g.op.Get(op, name)
	}
	fidW := g.wire(prefix+"_fid", g.op.Get(op, "fid"))
	lv, lf, err := lambda.Build(g.m, g.cfg, prefix+"_fn", fidW, ops)
	if err != nil {
		panic(err) // Uses succeeded with the same configuration
	}
	lval := g.wire(prefix+"_lambda", lv)
	lfault := g.wire(prefix+"_fault", lf)
	code := g.op.Get(op, "op")
	isGet := ir.Eq(code, ir.C(OpBits, opGet))
	isPut := ir.Eq(code, ir.C(OpBits, opPut))
	isDel := ir.Eq(code, ir.C(OpBits, opDel))
	foundSt := ir.Sel(cfound, ir.C(StatusBits, stOK), ir.C(StatusBits, stNotFound))
	zv, zl := ir.C(VB, 0), ir.C(VL, 0)
	r := execResult{
		status: g.wire(prefix+"_status", ir.Sel(ir.LOr(isGet, isDel), foundSt,
			ir.Sel(isPut, ir.C(StatusBits, stOK), ir.Sel(lfault, ir.C(StatusBits, stFault), foundSt)))),
		vlen: g.wire(prefix+"_rvlen", ir.Sel(isGet, ir.Sel(cfound, cvlen, zl),
			ir.Sel(ir.LOr(ir.LOr(isPut, isDel), lfault), zl, ir.C(VL, 8)))),
		value: g.wire(prefix+"_value", ir.Sel(isGet, ir.Sel(cfound, cval, zv),
			ir.Sel(ir.LOr(ir.LOr(isPut, isDel), lfault), zv, ir.Zext(old, VB)))),
		found: g.wire(prefix+"_found", ir.Sel(isGet, cfound,
			ir.Sel(isPut, ir.C(1, 1), ir.Sel(isDel, ir.C(1, 0), ir.Sel(lfault, cfound, ir.C(1, 1)))))),
		nvlen: g.wire(prefix+"_vlen", ir.Sel(isGet, cvlen,
			ir.Sel(isPut, g.op.Get(op, "vlen"), ir.Sel(isDel, zl, ir.Sel(lfault, cvlen, ir.C(VL, 8)))))),
		val: g.wire(prefix+"_val", ir.Sel(isGet, cval,
			ir.Sel(isPut, g.op.Get(op, "value"), ir.Sel(isDel, zv, ir.Sel(lfault, cval, ir.Zext(lval, VB)))))),
		dirty: g.wire(prefix+"_dirty", ir.Sel(isGet, ir.C(1, 0),
			ir.Sel(ir.LOr(isPut, isDel), ir.C(1, 1), ir.LNot(lfault)))),
	}
	return r
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
