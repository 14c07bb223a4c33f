// Package rs generates kvd_rs, the reservation station of
// docs/microarch/rs.md (v2): per-slot chains of dependent operations, a
// cache of the latest short value of each in-flight key, and forwarding at
// one per clock.
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
	op, slot, pq, rs                            *ir.Record
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
	// A slot's state (rs.md §3: per slot s).
	g.slot = ir.NewRecord()
	g.slot.Add("cv", 1)
	g.slot.Add("dirty", 1)
	g.slot.Add("cfound", 1)
	g.slot.Add("len", g.lnW)
	g.slot.Add("head", g.idW)
	g.slot.Add("tail", g.idW)
	g.slot.Add("cklen", g.KL)
	g.slot.Add("cvlen", g.VL)
	g.slot.Add("cval", ValueBits)
	g.slot.Add("caux", g.A)
	g.slot.Add("ckey", 8*g.K)
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
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Reservation station (rs.md v2): %d slots, %d operations in flight, forwarding %s, %d-bit aux", g.R, g.M, fwd, g.A),
		Purpose: []string{
			"At most one operation per slot in the main pipeline; the others wait in",
			"per-slot chains. The latest short value (vlen <= 8) of the completed key",
			"is cached and dependent GET/PUT/DELETE/ATOMIC operations execute against",
			"it at one per clock, followed by one write-back. Long PUTs and the vector",
			"operations (ops 4-7) go to the pipeline in their slot's order and are",
			"never served from the cache; docs/microarch/rs.md.",
		},
		Protocol: []string{
			"req_*: valid/ready; req_ready depends on state and on req_slot (a",
			"request for the slot being walked waits for the walk to end).",
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
			"An operation to an idle slot reaches pipe_* the cycle after it is accepted;",
			"a completion is processed 2 cycles after it arrives (its queue) at the",
			"earliest and its response leaves one cycle later. Cached keys answer the",
			"cycle after their request. With pipe_ready held at 1 the completion side",
			"never waits.",
		},
	}
	return g.body()
}

func (g *gen) body() (*ir.Module, error) {
	m := g.m
	M, S, I, K, KL, W, VL, F, A, idW, lnW := g.M, g.S, g.I, g.K, g.KL, g.W, g.VL, g.F, g.A, g.idW, g.lnW
	const VB = ValueBits
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

	// ---- state ------------------------------------------------------------
	opsMem := m.Mem("ops_mem", g.op.W, 1<<uint(idW), false)
	nextMem := m.Mem("next_mem", idW, 1<<uint(idW), false)
	slotMem := m.Mem("slot_mem", g.slot.W, g.R, false)
	busy, busyNext := m.Reg("busy_reg", g.R), m.Reg("busy_next", g.R)
	busy.Comment = "per slot: an operation of the slot is in the main pipeline or waits in PQ"
	walkActive, walkActiveNext := m.RegPair("walk_active", 1)
	walkSlot, walkSlotNext := m.RegPair("walk_slot", S)
	walkCur, walkCurNext := m.RegPair("walk_cur", idW)
	walkPrev, walkPrevNext := m.RegPair("walk_prev", idW)
	walkHasPrev, walkHasPrevNext := m.RegPair("walk_has_prev", 1)
	pqCount, rqCount := m.Reg("pq_count_reg", 5), m.Reg("rq_count_reg", 5)

	// Free ids: ids never used yet are handed out in order by a counter, then
	// freed ids in the order they were freed (docs/microarch/rs.md §3).
	fresh, freshNext := m.RegPair("fresh", lnW)
	recMem := m.Mem("recycled_mem", idW, 1<<uint(idW), false)
	recHead, recHeadNext := m.RegPair("recycled_head", idW)
	recTail, recTailNext := m.RegPair("recycled_tail", idW)
	recCount, recCountNext := m.RegPair("recycled_count", lnW)

	// ---- completion queue (a §3 FIFO) -----------------------------------------
	cqW := VB + VL + StatusBits + I
	cqMod, err := fifo.Generate(cqW, g.R)
	if err != nil {
		return nil, err
	}
	cqOutValid := m.Wire("cq_out_valid", 1)
	cqOutData := m.Wire("cq_out_data", cqW)
	cqPop := m.Wire("cq_pop", 1)
	m.Instantiate("u_cq", cqMod, nil, []ir.Conn{
		{Port: "clk", Expr: clk}, {Port: "rst", Expr: rst},
		{Port: "in_valid", Expr: cplValid}, {Port: "in_ready", Expr: nil},
		{Port: "in_data", Expr: ir.Cat(cplValue, cplVlen, cplStatus, cplID)},
		{Port: "out_valid", Expr: cqOutValid}, {Port: "out_ready", Expr: cqPop},
		{Port: "out_data", Expr: cqOutData},
	})
	cqID := g.wire("cq_id", ir.Bits(cqOutData, I-1, 0))
	cqStatus := g.wire("cq_status", ir.Bits(cqOutData, I+StatusBits-1, I))
	cqVlen := g.wire("cq_vlen", ir.Bits(cqOutData, I+StatusBits+VL-1, I+StatusBits))
	cqValue := g.wire("cq_value", ir.Bits(cqOutData, cqW-1, I+StatusBits+VL))

	// ---- completion side: WALK or COMPLETE (§5 A) -------------------------------
	// It waits while the pipeline holds back a full PQ (it might need to push).
	pqRoom := g.wire("pq_room", ir.Lt(pqCount, g.c(5, Q)))
	doWalk := g.wire("do_walk", ir.LAnd(walkActive, pqRoom))
	doCpl := g.wire("do_cpl", ir.AndAll(ir.LNot(walkActive), cqOutValid, pqRoom))
	m.Assign(cqPop, doCpl)
	cplWB := g.wire("cpl_wb", ir.Ge(cqID, g.c(I, uint64(M))))
	// (id - M) mod R, computed on the low S bits only.
	cplWBSlot := g.wire("cpl_wb_slot", ir.Sub(ir.Bits(cqID, S-1, 0), g.c(S, uint64(M)%uint64(g.R))))
	cplOpID := g.wire("cpl_op_id", ir.Bits(cqID, idW-1, 0))
	opAAddr := g.wire("op_a_addr", ir.Sel(walkActive, walkCur, cplOpID))
	opA := g.wire("op_a", opsMem.Read(opAAddr))
	opA.Comment = "the walked operation, or the completed one"
	cSlot := g.wire("c_slot", ir.Sel(walkActive, walkSlot, ir.Sel(cplWB, cplWBSlot, g.op.Get(opA, "slot"))))
	se := g.wire("c_slot_old", slotMem.Read(cSlot))
	sget := func(name string) ir.Expr { return g.slot.Get(se, name) }
	nextZ := g.wire("next_z", nextMem.Read(walkCur))

	// Exec inputs: a walk runs against the slot's cache, an atomic completion
	// against the value its GET read.
	cplOK := g.wire("cpl_ok", ir.Eq(cqStatus, g.c(StatusBits, stOK)))
	cplErr := g.wire("cpl_err", ir.Gt(cqStatus, g.c(StatusBits, stNotFound)))
	cplErr.Comment = "every status but OK and NOT_FOUND is an error (rs.md §1)"
	cfIn := g.wire("c_cfound_in", ir.Sel(walkActive, sget("cfound"), cplOK))
	cvlIn := g.wire("c_cvlen_in", ir.Sel(walkActive, sget("cvlen"), ir.Sel(cplOK, cqVlen, g.c(VL, 0))))
	cvIn := g.wire("c_cval_in", ir.Sel(walkActive, sget("cval"), ir.Sel(cplOK, cqValue, g.c(VB, 0))))
	cx := g.exec("c", opA, cfIn, cvlIn, cvIn)

	keyEq := g.wire("walk_key_eq", ir.AndAll(
		ir.C(1, b2u(g.fwd)),
		ir.Eq(g.op.Get(opA, "key"), sget("ckey")),
		ir.Eq(g.op.Get(opA, "klen"), sget("cklen")),
	))
	opAServable := g.wire("op_a_servable", g.servable(opA))
	match := g.wire("walk_match", ir.LAnd(keyEq, opAServable))
	match.Comment = "the walked operation is the cached key's and servable: executed here"
	walkStop := g.wire("walk_stop", ir.LAnd(keyEq, ir.LNot(opAServable)))
	walkStop.Comment = "the cached key's long PUT or vector operation: the walk ends before it"
	wLast := g.wire("walk_last", ir.Eq(walkCur, sget("tail")))
	opACode := g.op.Get(opA, "op")
	opAIsPut := g.wire("op_a_put", ir.Eq(opACode, g.c(OpBits, opPut)))
	opAIsDel := g.wire("op_a_del", ir.Eq(opACode, g.c(OpBits, opDel)))
	opAIsVec := g.wire("op_a_vec", ir.Bit(opACode, OpBits-1))
	// The cache length a non-vector completion without error leaves (before
	// the cache-valid rule: a long value is never served).
	cNewVlen := g.wire("c_new_cvlen", ir.Sel(opAIsPut, g.op.Get(opA, "vlen"), ir.Sel(opAIsDel, g.c(VL, 0), cx.nvlen)))
	cNewCV := g.wire("c_new_cv", ir.LAnd(ir.C(1, b2u(g.fwd)), ir.Le(cNewVlen, g.c(VL, 8))))

	// The slot record after the first half of the completion side (before END).
	s1 := m.Reg("c_slot_mid", g.slot.W)
	s1.Comment = "slot record after WALK or COMPLETE, before END"
	c1Resp := m.Reg("c_resp_valid", 1)
	c1RespData := m.Reg("c_resp_data", g.rs.W)
	c1Free := m.Reg("c_free_valid", 1)
	c1FreeID := m.Reg("c_free_id", idW)
	c1NextWE := m.Reg("c_next_we", 1)
	c1End := m.Reg("c_end", 1)

	tagA := g.op.Get(opA, "tag")
	m.Comb("completion side, first half: WALK step or COMPLETE (rs.md §5 A)", func(b *ir.Block) {
		b.Set(s1, se)
		b.Set(c1Resp, ir.C(1, 0))
		b.Set(c1RespData, g.respPack(tagA, cx.status, cx.vlen, cx.value))
		b.Set(c1Free, ir.C(1, 0))
		b.Set(c1FreeID, opAAddr)
		b.Set(c1NextWE, ir.C(1, 0))
		b.Set(c1End, ir.C(1, 0))
		b.If(doWalk, func(b *ir.Block) {
			b.If(match, func(b *ir.Block) {
				b.Set(c1Resp, ir.C(1, 1))
				b.Set(g.field(s1, "cfound"), cx.found)
				b.Set(g.field(s1, "cvlen"), cx.nvlen)
				b.Set(g.field(s1, "cval"), cx.val)
				b.Set(g.field(s1, "dirty"), ir.Or(sget("dirty"), cx.dirty))
				b.Set(g.field(s1, "len"), ir.Sub(sget("len"), g.c(lnW, 1)))
				b.If(ir.LNot(walkHasPrev), func(b *ir.Block) {
					b.Set(g.field(s1, "head"), nextZ)
				}, func(b *ir.Block) {
					b.Set(c1NextWE, ir.C(1, 1))
				})
				b.If(wLast, func(b *ir.Block) {
					b.Set(g.field(s1, "tail"), walkPrev)
				}, nil)
				b.Set(c1Free, ir.C(1, 1))
			}, nil)
			b.If(ir.LOr(wLast, walkStop), func(b *ir.Block) {
				b.Set(c1End, ir.C(1, 1))
			}, nil)
		}, func(b *ir.Block) {
			b.If(doCpl, func(b *ir.Block) {
				b.If(cplWB, func(b *ir.Block) {
					b.If(cplErr, func(b *ir.Block) {
						b.Set(g.field(s1, "dirty"), ir.C(1, 1))
					}, nil)
				}, func(b *ir.Block) {
					b.Set(c1Resp, ir.C(1, 1))
					b.Set(c1Free, ir.C(1, 1))
					b.If(opAIsVec, func(b *ir.Block) {
						// The station does not know the value a vector operation leaves.
						b.Set(c1RespData, g.respPack(tagA, cqStatus, cqVlen, cqValue))
						b.Set(g.field(s1, "cv"), ir.C(1, 0))
					}, func(b *ir.Block) {
						b.If(cplErr, func(b *ir.Block) {
							b.Set(c1RespData, g.respPack(tagA, cqStatus, g.c(VL, 0), g.c(VB, 0)))
							b.Set(g.field(s1, "cv"), ir.C(1, 0))
						}, func(b *ir.Block) {
							b.Set(g.field(s1, "cv"), cNewCV)
							b.Set(g.field(s1, "ckey"), g.op.Get(opA, "key"))
							b.Set(g.field(s1, "cklen"), g.op.Get(opA, "klen"))
							b.Set(g.field(s1, "caux"), g.op.Get(opA, "aux"))
							b.Set(g.field(s1, "cvlen"), cNewVlen)
							b.If(opAIsPut, func(b *ir.Block) {
								b.Set(g.field(s1, "cfound"), ir.C(1, 1))
								b.Set(g.field(s1, "cval"), g.op.Get(opA, "value"))
								b.Set(c1RespData, g.respPack(tagA, g.c(StatusBits, stOK), g.c(VL, 0), g.c(VB, 0)))
							}, func(b *ir.Block) {
								b.If(opAIsDel, func(b *ir.Block) {
									b.Set(g.field(s1, "cfound"), ir.C(1, 0))
									b.Set(g.field(s1, "cval"), g.c(VB, 0))
									b.Set(c1RespData, g.respPack(tagA, cqStatus, g.c(VL, 0), g.c(VB, 0)))
								}, func(b *ir.Block) {
									// GET, or an ATOMIC whose GET came back: exec.
									b.Set(g.field(s1, "cfound"), cx.found)
									b.Set(g.field(s1, "cval"), cx.val)
									b.Set(g.field(s1, "dirty"), ir.Or(sget("dirty"), cx.dirty))
								})
							})
						})
					})
				})
			}, nil)
		})
	})
	// ---- completion side, second half: walk start or END(s) ---------------------
	mid := func(name string) ir.Expr { return g.slot.Get(s1, name) }
	// A write-back's completion never walks (rs.md §5 A.2).
	walkStart := g.wire("walk_start", ir.AndAll(doCpl, ir.LNot(cplWB), ir.C(1, b2u(g.fwd)), mid("cv"), ir.Ne(mid("len"), g.c(lnW, 0))))
	endNow := g.wire("end_now", ir.LOr(c1End, ir.LAnd(doCpl, ir.LNot(walkStart))))
	endHead := g.wire("end_head", mid("head"))
	opB := g.wire("op_b", opsMem.Read(endHead))
	opB.Comment = "the chain head END sends to the pipeline"
	m.MarkUnused(opB) // read whole; END needs all but its slot
	nextH := g.wire("next_h", nextMem.Read(endHead))
	endDirty := g.wire("end_dirty", mid("dirty"))
	endQueued := g.wire("end_queued", ir.Ne(mid("len"), g.c(lnW, 0)))
	s2 := m.Reg("c_slot_new", g.slot.W)
	s2.Comment = "slot record the completion side writes back"
	cBusy := m.Reg("c_busy_new", 1)
	cPush := m.Reg("c_pq_push", 1)
	cPushData := m.Reg("c_pq_data", g.pq.W)
	wbID := g.wire("wb_id", ir.Add(g.c(I, uint64(M)), ir.Zext(cSlot, I)))
	wbData := g.wire("wb_data", g.pq.Pack(map[string]ir.Expr{
		"id": wbID, "tag": g.c(TagBits, 0),
		"op":  ir.Sel(mid("cfound"), g.c(OpBits, opPut), g.c(OpBits, opDel)),
		"fid": g.c(F, 0), "key": mid("ckey"), "klen": mid("cklen"),
		"vlen":  ir.Sel(mid("cfound"), mid("cvlen"), g.c(VL, 0)),
		"value": ir.Sel(mid("cfound"), mid("cval"), g.c(VB, 0)),
		"delta": g.c(W, 0), "cmp": g.c(W, 0), "swap": g.c(W, 0),
		"aux": mid("caux"),
	}))
	wbData.Comment = "END's write-back: PUT of the cached value, or DELETE"
	headData := g.wire("head_data", g.push(ir.Zext(endHead, I), opB))
	headData.Comment = "END's chain head, as push(h) sends it"
	m.Comb("completion side, second half: END (rs.md §5)", func(b *ir.Block) {
		b.Set(s2, s1)
		b.Set(cBusy, ir.C(1, 1))
		b.Set(cPush, ir.C(1, 0))
		b.Set(cPushData, wbData)
		b.If(endNow, func(b *ir.Block) {
			b.If(endDirty, func(b *ir.Block) {
				b.Set(cPush, ir.C(1, 1))
				b.Set(g.field(s2, "dirty"), ir.C(1, 0))
			}, func(b *ir.Block) {
				b.If(endQueued, func(b *ir.Block) {
					b.Set(cPush, ir.C(1, 1))
					b.Set(cPushData, headData)
					b.Set(g.field(s2, "head"), nextH)
					b.Set(g.field(s2, "len"), ir.Sub(mid("len"), g.c(lnW, 1)))
					b.Set(g.field(s2, "cv"), ir.C(1, 0))
				}, func(b *ir.Block) {
					b.Set(cBusy, ir.C(1, 0))
					b.Set(g.field(s2, "cv"), ir.C(1, 0))
				})
			})
		}, nil)
	})
	m.Comb("walk registers", func(b *ir.Block) {
		b.Set(walkActiveNext, walkActive)
		b.Set(walkSlotNext, walkSlot)
		b.Set(walkCurNext, walkCur)
		b.Set(walkPrevNext, walkPrev)
		b.Set(walkHasPrevNext, walkHasPrev)
		b.If(doWalk, func(b *ir.Block) {
			b.If(c1End, func(b *ir.Block) {
				b.Set(walkActiveNext, ir.C(1, 0))
			}, func(b *ir.Block) {
				b.Set(walkCurNext, nextZ)
				b.If(ir.LNot(match), func(b *ir.Block) {
					b.Set(walkPrevNext, walkCur)
					b.Set(walkHasPrevNext, ir.C(1, 1))
				}, nil)
			})
		}, func(b *ir.Block) {
			b.If(walkStart, func(b *ir.Block) {
				b.Set(walkActiveNext, ir.C(1, 1))
				b.Set(walkSlotNext, cSlot)
				b.Set(walkCurNext, mid("head"))
				b.Set(walkHasPrevNext, ir.C(1, 0))
			}, nil)
		})
	})
	cAct := g.wire("c_act", ir.LOr(doWalk, doCpl))

	// ---- arrival side (§5 B) ------------------------------------------------------
	freeAvail := g.wire("free_avail", ir.LOr(ir.Lt(fresh, g.c(lnW, uint64(M))), ir.Ne(recCount, g.c(lnW, 0))))
	// Requests for the slot being walked wait (rs.md §5): an exception to
	// microarch.md §1.3, so req_ready reads req_slot.
	m.Assign(reqReady, ir.AndAll(freeAvail, ir.Le(pqCount, g.c(5, Q-2)), ir.Le(rqCount, g.c(5, Q-2)),
		ir.LNot(ir.LAnd(walkActive, ir.Eq(reqSlot, walkSlot)))))
	aFire := g.wire("a_fire", ir.LAnd(reqValid, reqReady))
	same := g.wire("a_same_slot", ir.LAnd(cAct, ir.Eq(cSlot, reqSlot)))
	seA := g.wire("a_slot_old", ir.Sel(same, s2, slotMem.Read(reqSlot)))
	aget := func(name string) ir.Expr { return g.slot.Get(seA, name) }
	busyA := g.wire("a_busy", ir.Sel(same, cBusy, ir.BitAt(busy, reqSlot)))
	en := make([]ir.Expr, K)
	for i := 0; i < K; i++ {
		en[K-1-i] = ir.Rep(8, ir.Gt(reqKlen, g.c(KL, uint64(i))))
	}
	keyA := g.wire("a_key", ir.And(reqKey, ir.Cat(en...)))
	keyA.Comment = "bytes past req_klen cleared"
	ven := make([]ir.Expr, 8)
	for i := 0; i < 8; i++ {
		ven[7-i] = ir.Rep(8, ir.Gt(reqVlen, g.c(VL, uint64(i))))
	}
	valA := g.wire("a_value_masked", ir.And(reqValue, ir.Cat(ven...)))
	valA.Comment = "bytes past req_vlen cleared"
	aVals := map[string]ir.Expr{"op": reqOp, "fid": reqFid, "klen": reqKlen, "slot": reqSlot, "tag": reqTag,
		"vlen": reqVlen, "value": valA, "key": keyA, "aux": reqAux}
	for i, name := range lambda.Operands[1:] {
		aVals[name] = reqOps[i+1]
	}
	aRec := g.wire("a_op", g.op.Pack(aVals))
	ax := g.exec("a", aRec, aget("cfound"), aget("cvlen"), aget("cval"))
	aLocal := g.wire("a_local", ir.AndAll(ir.C(1, b2u(g.fwd)), busyA, aget("cv"), ir.Eq(aget("len"), g.c(lnW, 0)),
		ir.Eq(keyA, aget("ckey")), ir.Eq(reqKlen, aget("cklen")), g.servable(aRec)))
	aIssue := g.wire("a_issue", ir.LAnd(ir.LNot(aLocal), ir.LNot(busyA)))
	aChain := g.wire("a_chain", ir.LAnd(ir.LNot(aLocal), busyA))
	aAlloc := g.wire("a_alloc", ir.LAnd(aFire, ir.LNot(aLocal)))
	fromFresh := g.wire("alloc_fresh", ir.Lt(fresh, g.c(lnW, uint64(M))))
	allocID := g.wire("alloc_id", ir.Sel(fromFresh, ir.Bits(fresh, idW-1, 0), recMem.Read(recHead)))
	s3 := m.Reg("a_slot_new", g.slot.W)
	m.Comb("arrival side: the slot record after the request", func(b *ir.Block) {
		b.Set(s3, seA)
		b.If(aLocal, func(b *ir.Block) {
			b.Set(g.field(s3, "cfound"), ax.found)
			b.Set(g.field(s3, "cvlen"), ax.nvlen)
			b.Set(g.field(s3, "cval"), ax.val)
			b.Set(g.field(s3, "dirty"), ir.Or(aget("dirty"), ax.dirty))
		}, func(b *ir.Block) {
			b.If(aIssue, func(b *ir.Block) {
				b.Set(g.field(s3, "cv"), ir.C(1, 0))
				b.Set(g.field(s3, "dirty"), ir.C(1, 0))
				b.Set(g.field(s3, "len"), g.c(lnW, 0))
			}, func(b *ir.Block) {
				b.Set(g.field(s3, "len"), ir.Add(aget("len"), g.c(lnW, 1)))
				b.Set(g.field(s3, "tail"), allocID)
				b.If(ir.Eq(aget("len"), g.c(lnW, 0)), func(b *ir.Block) {
					b.Set(g.field(s3, "head"), allocID)
				}, nil)
			})
		})
	})
	aPush := g.wire("a_pq_push", ir.LAnd(aFire, aIssue))
	aPushData := g.wire("a_pq_data", g.push(ir.Zext(allocID, I), aRec))
	aResp := g.wire("a_resp_valid", ir.LAnd(aFire, aLocal))
	aRespData := g.wire("a_resp_data", g.respPack(reqTag, ax.status, ax.vlen, ax.value))
	aNextWE := g.wire("a_next_we", ir.AndAll(aFire, aChain, ir.Ne(aget("len"), g.c(lnW, 0))))

	// ---- free ids ---------------------------------------------------------------
	popRec := g.wire("free_pop_recycled", ir.LAnd(aAlloc, ir.LNot(fromFresh)))
	m.Comb("free ids", func(b *ir.Block) {
		b.Set(freshNext, fresh)
		b.Set(recHeadNext, recHead)
		b.Set(recTailNext, recTail)
		b.Set(recCountNext, recCount)
		b.If(ir.LAnd(aAlloc, fromFresh), func(b *ir.Block) {
			b.Set(freshNext, ir.Add(fresh, g.c(lnW, 1)))
		}, nil)
		b.If(popRec, func(b *ir.Block) {
			b.Set(recHeadNext, ir.Add(recHead, g.c(idW, 1)))
		}, nil)
		b.If(c1Free, func(b *ir.Block) {
			b.Set(recTailNext, ir.Add(recTail, g.c(idW, 1)))
		}, nil)
		b.If(ir.LAnd(c1Free, ir.LNot(popRec)), func(b *ir.Block) {
			b.Set(recCountNext, ir.Add(recCount, g.c(lnW, 1)))
		}, func(b *ir.Block) {
			b.If(ir.LAnd(popRec, ir.LNot(c1Free)), func(b *ir.Block) {
				b.Set(recCountNext, ir.Sub(recCount, g.c(lnW, 1)))
			}, nil)
		})
	})

	// ---- output queues (§5 C) ------------------------------------------------------
	pqValid, pqData := g.outQueue("pq", g.pq.W, clk, rst, cPush, cPushData, aPush, aPushData, pipeReady, pqCount)
	rqValid, rqData := g.outQueue("rq", g.rs.W, clk, rst, c1Resp, c1RespData, aResp, aRespData, nil, rqCount)
	m.Assign(pipeValid, pqValid)
	for _, name := range g.pq.Names {
		m.Assign(pipeOut[name], g.pq.Get(pqData, name))
	}
	m.Assign(respValid, rqValid)
	for _, name := range g.rs.Names {
		m.Assign(respOut[name], g.rs.Get(rqData, name))
	}

	// ---- registers and memories ------------------------------------------------------
	m.Comb("busy bits", func(b *ir.Block) {
		b.Set(busyNext, busy)
		b.If(cAct, func(b *ir.Block) {
			b.Set(ir.BitAt(busyNext, cSlot), cBusy)
		}, nil)
		b.If(aPush, func(b *ir.Block) {
			b.Set(ir.BitAt(busyNext, reqSlot), ir.C(1, 1))
		}, nil)
	})
	m.Seq(clk, "state: the completion side's slot write first, the arrival side's last (it saw the first)", func(b *ir.Block) {
		b.Set(busy, busyNext)
		b.Set(walkActive, walkActiveNext)
		b.Set(walkSlot, walkSlotNext)
		b.Set(walkCur, walkCurNext)
		b.Set(walkPrev, walkPrevNext)
		b.Set(walkHasPrev, walkHasPrevNext)
		b.Set(fresh, freshNext)
		b.Set(recHead, recHeadNext)
		b.Set(recTail, recTailNext)
		b.Set(recCount, recCountNext)
		b.If(cAct, func(b *ir.Block) {
			b.Write(slotMem, cSlot, s2)
		}, nil)
		b.If(aFire, func(b *ir.Block) {
			b.Write(slotMem, reqSlot, s3)
		}, nil)
		b.If(c1NextWE, func(b *ir.Block) {
			b.Write(nextMem, walkPrev, nextZ)
		}, nil)
		b.If(aNextWE, func(b *ir.Block) {
			b.Write(nextMem, aget("tail"), allocID)
		}, nil)
		b.If(aAlloc, func(b *ir.Block) {
			b.Write(opsMem, allocID, aRec)
		}, nil)
		b.If(c1Free, func(b *ir.Block) {
			b.Write(recMem, recTail, c1FreeID)
		}, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(busy, g.c(g.R, 0))
			b.Set(walkActive, ir.C(1, 0))
			b.Set(fresh, g.c(lnW, 0))
			b.Set(recHead, g.c(idW, 0))
			b.Set(recTail, g.c(idW, 0))
			b.Set(recCount, g.c(lnW, 0))
		}, nil)
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

// field is a constant slice of a record register, for assignments.
func (g *gen) field(s *ir.Signal, name string) ir.Expr { return g.slot.Get(s, name) }

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
