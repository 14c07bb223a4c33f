package htengine

import (
	"fmt"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/vector"
)

// Write stages of a plan, in the order they are written (engine.md §6.6).
const (
	stObj  = 0 // the new object image
	stNew  = 1 // the new chained bucket
	stAux  = 2 // the held fit / found / previous bucket
	stCur  = 3 // the current bucket
	stBits = 2
)

// Targets of the new copy.
const (
	tgtCur  = 0
	tgtAux  = 1
	tgtNew  = 2
	tgtNone = 3 // no copy to place (DELETE, same-class overwrite)
)

// Execute unit outcomes: the phase the context goes to.
const (
	exRead  = 0
	exResp  = 1
	exWrite = 2
	exAlloc = 3
	exVec   = 4
	exBits  = 3
)

type gen struct {
	z   Sizes
	cfg config.Config
	m   *ir.Module

	// bucket layout (hashtable.md §2.1)
	TB, MB, NB, CB int
	LW, SW, BTW    int // line address, slot index and beat index widths
	NBEAT          int // beats of the object buffer
	RPT            int // beats per read-data transfer: 1, or 2 on the wide port (engine.md §5.3)
	startCode      uint64
	contCode       uint64

	clk, rst *ir.Signal

	// ports
	reqValid, reqReady, reqOp, reqTag, reqKey, reqKlen, reqVlen, reqValue, reqBucket, reqSec *ir.Signal
	reqFid, reqDelta, reqCmp, reqSwap                                                        *ir.Signal
	rspValid, rspTag, rspStatus, rspVlen, rspValue                                           *ir.Signal
	alValid, alReady, alOp, alClass, alPtr, alRspValid, alRspOK, alRspPtr                    *ir.Signal
	rdValid, rdReady, rdAddr, rdBeats, rdataValid, rdataReady, rdata, rdataLast, rdataErr    *ir.Signal
	wrValid, wrReady, wrAddr, wrData                                                         *ir.Signal

	// records of per-context memories
	dataR, infoR, walkR, bktR, planR, rspR, rqR, vresR *ir.Record

	// per-context memories, in block RAM (ram.go)
	dataMem, valMem, infoMem, rootMem, walkMem, curMem, curLMem *ctxMem
	auxMem, planMem, rspMem, vresMem, stMem, succMem, optrMem   *ctxMem
	bptrMem                                                     *ctxMem
	ctxMems                                                     []*ctxMem
	bucketRegs                                                  []*ir.Signal

	// per-context flag vectors (C bits each): register and next value
	vecs                                                []*vecReg
	phFree, phRead, phAlloc, phFreeing, phWrite, phResp *vecReg
	phVec                                               *vecReg
	lock, hasSucc, errV                                 *vecReg
	fresh, stNoMem, stFault                             *vecReg
	paObj, paBkt, hold, frBkt, frOld, frNew             *vecReg
	plObj, plNew, plAux, plCur                          *vecReg

	// unit results the context state and storage read
	acc  accept
	rd   readUnit
	rq   returnQueue
	ex   execUnit
	sl   slabUnit
	vc   vecUnit
	wr   writeUnit
	rsp  respUnit
	rbuf *ir.Signal
}

// vecReg is a C-bit per-context flag vector.
type vecReg struct {
	r, n  *ir.Signal
	reset bool
	rv    ir.Expr
}

func (g *gen) vector(name, comment string, reset bool, rv ir.Expr) *vecReg {
	r, n := g.m.RegPair(name, g.z.C)
	r.Comment = comment
	v := &vecReg{r: r, n: n, reset: reset, rv: rv}
	g.vecs = append(g.vecs, v)
	return v
}

func (v *vecReg) at(i ir.Expr) ir.Expr { return ir.BitAt(v.r, i) }
func (v *vecReg) set(b *ir.Block, i ir.Expr, val ir.Expr) {
	b.Set(ir.BitAt(v.n, i), val)
}

func (g *gen) build() (*ir.Module, error) {
	z := g.z
	g.TB = 8 * z.A
	g.MB = g.TB + z.S*z.T
	g.NB = g.MB + z.A
	g.CB = g.NB + z.P
	g.LW = z.AW - 5
	g.SW = idxBits(z.S)
	g.NBEAT = z.OB / 32
	g.RPT = max(1, g.cfg.Engine.ReadBytes/32)
	g.BTW = idxBits(g.NBEAT)
	g.startCode = 1<<uint(z.T) - 1
	g.contCode = 1<<uint(z.T) - 2

	m := ir.NewModule(Name)
	g.m = m
	m.Doc = g.doc()
	g.ports()
	g.state()
	g.acceptUnit()
	g.responseSelect() // the retiring context, which acceptance excludes
	g.acceptLink()
	g.readUnit()
	g.returnQueue()
	g.execUnit()
	g.slabUnit()
	if err := g.vecUnit(); err != nil {
		return nil, err
	}
	g.writeUnit()
	g.responseUnit()
	g.contextState()
	g.storage()
	g.ramBlocks()
	return m, m.Err()
}

func (g *gen) doc() ir.Doc {
	z := g.z
	return ir.Doc{
		Title: fmt.Sprintf("Hash-table engine, timed: %d contexts, %d-slot buckets, keys to %d B, values to %d B",
			z.C, z.S, z.K, z.V),
		Purpose: []string{
			"GET, PUT and DELETE of docs/microarch/hashtable.md section 4 on the bucket",
			"chains in host memory, and the vector operations UPDATE_S2V, UPDATE_V2V,",
			"REDUCE and FILTER (engine.md 6.7), with the timing of docs/microarch/engine.md:",
			"up to C operations in flight, one per context, ordered per index bucket by",
			"successor links; the contexts share a read unit (registered request, return",
			"queue RQ), one execute unit, a slab unit (one alloc outstanding, frees posted),",
			"a vector unit (one kvd_vec instance, u_vec: one operation at a time), a write",
			"unit (one plan at a time, beat by beat) and a response unit. Each shared unit",
			"picks among the contexts that want it round robin from its rr pointer.",
			"A vector operation walks as GET; found, the KV's value goes through kvd_vec;",
			"REDUCE and FILTER then answer its out_resp, an update answers the stored value",
			"and first writes out_new in place (the bucket, or the object at its pointer).",
			"Per-context records live in block RAM (engine.md 13): each memory has one",
			"writer, and each unit that reads it has its own registered read port, addressed",
			"a cycle ahead with the context the unit will act on (its _next register, or its",
			"round-robin choice over the next-state phases), the last edge's write bypassed",
			"where it can be to that context. The phase of each context is one-hot across",
			"C-bit vectors (FREE, READ, ALLOC, FREEING, VEC, WRITE, RESP; EXEC is",
			"exec_valid_reg, VWAIT is the context vc_ctx_reg while kvd_vec holds its",
			"operation).",
		},
		Protocol: []string{
			"req_*: valid/ready; req_ready = some context is FREE (state only). req_op is",
			"the wire opcode: 0 GET, 1 PUT, 2 DELETE, 3 refused (BAD_OP), 4 UPDATE_S2V,",
			"5 UPDATE_V2V, 6 REDUCE, 7 FILTER; req_fid, req_delta, req_cmp and req_swap",
			"are the vector operations' lambda id and scalars, req_vlen/req_value also",
			"UPDATE_V2V's operand vector.",
			"rsp_*: one response per cycle, no back-pressure; rsp_tag, rsp_status,",
			"rsp_vlen and rsp_value are meaningful only while rsp_valid is 1. rsp_status:",
			"0 OK, 1 NOT_FOUND, 2 EMPTY_KEY, 3 KEY_TOO_LONG, 4 VALUE_TOO_LONG, 5 NO_MEMORY,",
			"6 MEM_ERROR, 7 BAD_OP, 8 LAMBDA_FAULT; a value with GET and vector OK only.",
			"al_*: kvd_slab's request port (valid/ready) and its alloc answers.",
			"mem_*: the host-memory port of docs/microarch.md section 1.7; mem_rdata_ready",
			"is always 1; read-data transfers are counted (engine.read_bytes each, 32 or",
			"64: the wide port), mem_rdata_last is not used.",
			"Assumes (engine.md section 2): read data never arrives in the cycle its",
			"request is accepted, and every accepted alloc is answered exactly once.",
		},
		Latency: []string{
			"Accepted in cycle t: READ from t+1, mem_rd_valid from t+2 at the earliest.",
			"Execute acts the cycle after the last read beat; a GET hitting inline in its",
			"index bucket answers at t+6 with memory answering at once (engine.md 10).",
			"A vector operation found there on a value of n elements is loaded into an",
			"idle kvd_vec at t+6, has its result at t+7+n, and answers at t+8+n (REDUCE,",
			"FILTER, a fault) or, after its two-beat write, at t+11+n (an update).",
			"Reads are one per context at a time; the read port carries one request per",
			"cycle and two beats per bucket.",
		},
	}
}

func (g *gen) ports() {
	z, m := g.z, g.m
	g.clk = m.Clock("clk")
	g.rst = m.Reset("rst")
	const reqG, rspG, alG, rdG, rdataG, wrG = "Requests", "Responses", "Slab allocator", "Host memory: read requests", "Host memory: read data", "Host memory: writes"
	g.reqValid = m.Input(reqG, "req_valid", 1)
	g.reqReady = m.Output(reqG, "req_ready", 1)
	g.reqOp = m.Input(reqG, "req_op", OpBits)
	g.reqTag = m.Input(reqG, "req_tag", TagBits)
	g.reqKey = m.Input(reqG, "req_key", 8*z.K)
	g.reqKlen = m.Input(reqG, "req_klen", z.KL)
	g.reqVlen = m.Input(reqG, "req_vlen", z.VL)
	g.reqValue = m.Input(reqG, "req_value", 8*z.V)
	g.reqBucket = m.Input(reqG, "req_bucket", z.BI)
	g.reqSec = m.Input(reqG, "req_sec", z.H)
	g.reqFid = m.Input(reqG, "req_fid", z.F)
	g.reqDelta = m.Input(reqG, "req_delta", z.E)
	g.reqCmp = m.Input(reqG, "req_cmp", z.E)
	g.reqSwap = m.Input(reqG, "req_swap", z.E)
	g.rspValid = m.Output(rspG, "rsp_valid", 1)
	g.rspTag = m.Output(rspG, "rsp_tag", TagBits)
	g.rspStatus = m.Output(rspG, "rsp_status", StatusBits)
	g.rspVlen = m.Output(rspG, "rsp_vlen", z.VL)
	g.rspValue = m.Output(rspG, "rsp_value", 8*z.V)
	g.alValid = m.Output(alG, "al_valid", 1)
	g.alReady = m.Input(alG, "al_ready", 1)
	g.alOp = m.Output(alG, "al_op", 1)
	g.alClass = m.Output(alG, "al_class", ClassBits)
	g.alPtr = m.Output(alG, "al_ptr", z.P)
	g.alRspValid = m.Input(alG, "al_rsp_valid", 1)
	g.alRspOK = m.Input(alG, "al_rsp_ok", 1)
	g.alRspPtr = m.Input(alG, "al_rsp_ptr", z.P)
	g.rdValid = m.Output(rdG, "mem_rd_valid", 1)
	g.rdReady = m.Input(rdG, "mem_rd_ready", 1)
	g.rdAddr = m.Output(rdG, "mem_rd_addr", z.AW)
	g.rdBeats = m.Output(rdG, "mem_rd_beats", BeatsBits)
	g.rdataValid = m.Input(rdataG, "mem_rdata_valid", 1)
	g.rdataReady = m.Output(rdataG, "mem_rdata_ready", 1)
	g.rdata = m.Input(rdataG, "mem_rdata", BeatBits*g.RPT)
	g.rdataLast = m.Input(rdataG, "mem_rdata_last", 1)
	g.rdataErr = m.Input(rdataG, "mem_rdata_err", 1)
	g.wrValid = m.Output(wrG, "mem_wr_valid", 1)
	g.wrReady = m.Input(wrG, "mem_wr_ready", 1)
	g.wrAddr = m.Output(wrG, "mem_wr_addr", z.AW)
	g.wrData = m.Output(wrG, "mem_wr_data", BeatBits)
	m.MarkUnused(g.rdataLast) // the engine counts beats (engine.md §2)
}

// state declares the per-context storage.
func (g *gen) state() {
	z, m := g.z, g.m
	C := z.C
	// The request as accepted, with the form of a PUT's new copy.
	// (The value bytes are in a memory of their own, req_value_mem: the
	// execute unit does not read them, so its copy of req_data_mem is narrow.)
	g.dataR = ir.NewRecord().Add("key", 8*z.K).Add("klen", z.KL).Add("vlen", z.VL).
		Add("sec", z.H).Add("op", OpBits).Add("ool", 1).Add("cnew", ClassBits).Add("need", z.S).
		Add("fid", z.F).Add("delta", z.E).Add("cmp", z.E).Add("swap", z.E)
	// status: acceptance's (engine.md 4), the answer of a refused request.
	g.infoR = ir.NewRecord().Add("tag", TagBits).Add("op", OpBits).Add("cnew", ClassBits).Add("status", StatusBits)
	// The walk: the next read and the search state.
	g.walkR = ir.NewRecord().Add("line", g.LW).Add("beats", BeatsBits).Add("obj", 1).Add("place", 1).
		Add("rposnz", 1).Add("curnz", 1).Add("fitv", 1).Add("fslot", g.SW).Add("cand", z.S)
	g.bktR = ir.NewRecord().Add("img", LineBits).Add("line", g.LW)
	g.planR = ir.NewRecord().Add("same", 1).Add("tgt", 2).Add("tslot", g.SW).Add("link", 1).
		Add("oldptr", z.P).Add("oldcls", z.T).Add("upd", 1)
	g.rspR = ir.NewRecord().Add("value", 8*z.V).Add("vlen", z.VL)
	// The vector unit's result (engine.md §6.7): an update's new value (its
	// response, out_resp, is the stored value itself, vector.md §3, which the
	// value register rsp_mem already holds), or REDUCE's and FILTER's response.
	g.vresR = ir.NewRecord().Add("value", 8*z.V).Add("vlen", z.VL)

	// Each memory has one writer (ram.go). The walk's first record is not
	// written at acceptance (the execute unit writes walk_mem in the same
	// cycles): root_mem keeps the index bucket and the flag "fresh" says the
	// walk has not begun. The statuses written after the execute unit's
	// (NO_MEMORY, LAMBDA_FAULT) are flags too, and a refused request's is in
	// req_info_mem.
	const acc, exu = "acceptance", "the execute unit"
	g.dataMem = g.ctxMemory("req_data_mem", g.dataR.W, true, acc)
	g.valMem = g.ctxMemory("req_value_mem", 8*z.V, false, acc)
	g.infoMem = g.ctxMemory("req_info_mem", g.infoR.W, true, acc)
	g.rootMem = g.ctxMemory("root_mem", z.BI, false, acc)
	g.walkMem = g.ctxMemory("walk_mem", g.walkR.W, true, exu)
	// cur's image and line apart: the slab unit reads only the line.
	g.curMem = g.ctxMemory("cur_mem", LineBits, false, exu)
	g.curLMem = g.ctxMemory("cur_line_mem", g.LW, false, exu)
	g.auxMem = g.ctxMemory("aux_mem", g.bktR.W, true, exu)
	g.planMem = g.ctxMemory("plan_mem", g.planR.W, true, exu)
	g.rspMem = g.ctxMemory("rsp_mem", g.rspR.W, true, exu)
	g.stMem = g.ctxMemory("status_mem", StatusBits, false, exu)
	g.vresMem = g.ctxMemory("vres_mem", g.vresR.W, true, "the vector unit's result")
	g.succMem = g.ctxMemory("succ_mem", z.CW, false, "acceptance (a blocked request's predecessor)")
	g.optrMem = g.ctxMemory("obj_ptr_mem", z.P, false, "the slab unit's answer (the new object)")
	g.bptrMem = g.ctxMemory("bkt_ptr_mem", z.P, false, "the slab unit's answer (the new bucket)")
	for c := 0; c < C; c++ {
		r := m.Reg(fmt.Sprintf("bucket%d_reg", c), z.BI)
		if c == 0 {
			r.Comment = "per context: req_bucket, compared at acceptance (engine.md 4)"
		}
		g.bucketRegs = append(g.bucketRegs, r)
	}

	g.phFree = g.vector("ph_free", "per context: phase FREE", true, ir.Ones(C))
	g.phRead = g.vector("ph_read", "phase READ: wants the read unit", true, k(C, 0))
	g.phAlloc = g.vector("ph_alloc", "phase ALLOC: wants the slab unit for an alloc", true, k(C, 0))
	g.phFreeing = g.vector("ph_freeing", "phase FREEING: wants the slab unit for a free", true, k(C, 0))
	g.phVec = g.vector("ph_vec", "phase VEC: wants the vector unit", true, k(C, 0))
	g.phWrite = g.vector("ph_write", "phase WRITE: wants the write unit", true, k(C, 0))
	g.phResp = g.vector("ph_resp", "phase RESP: wants the response unit", true, k(C, 0))
	g.lock = g.vector("lock", "holds its index bucket", true, k(C, 0))
	g.hasSucc = g.vector("has_succ", "an operation on the same index bucket waits behind it", true, k(C, 0))
	g.errV = g.vector("err", "a read of this operation returned mem_rdata_err", true, k(C, 0))
	g.fresh = g.vector("fresh", "the walk has not begun: its next read is the index bucket (root_mem), walk_mem is stale", false, nil)
	g.stNoMem = g.vector("st_nomem", "status NO_MEMORY (an alloc was refused)", true, k(C, 0))
	g.stFault = g.vector("st_fault", "status LAMBDA_FAULT (the vector unit's result)", true, k(C, 0))
	g.paObj = g.vector("pa_obj", "plan: the new object is still to be allocated", false, nil)
	g.paBkt = g.vector("pa_bkt", "plan: the new chained bucket is still to be allocated", false, nil)
	g.hold = g.vector("hold", "holds an object this operation allocated", false, nil)
	g.frBkt = g.vector("fr_bkt", "free pending: the unlinked bucket", false, nil)
	g.frOld = g.vector("fr_old", "free pending: the old object", false, nil)
	g.frNew = g.vector("fr_new", "free pending: the object allocated before NO_MEMORY", false, nil)
	g.plObj = g.vector("pl_obj", "plan writes the object image", false, nil)
	g.plNew = g.vector("pl_new", "plan writes the new chained bucket", false, nil)
	g.plAux = g.vector("pl_aux", "plan writes the held (fit, found or previous) bucket", false, nil)
	g.plCur = g.vector("pl_cur", "plan writes the current bucket", false, nil)

	g.rbuf = m.Reg("rbuf_reg", 8*z.OB)
	g.rbuf.Comment = "the read buffer: beat b of the read completing at bytes 32b..32b+31"
	m.MarkUnused(g.rbuf) // a value never reaches the last bytes of the largest class
}

// ---- acceptance (engine.md §4) --------------------------------------------------------

type accept struct {
	fire, ok, link    *ir.Signal
	oh, x, m, status  *ir.Signal
	key, value        *ir.Signal
	ool, cnew, need   *ir.Signal
	firstLine         ir.Expr
	refused           *ir.Signal
	match             *ir.Signal
	matchOH, matchIdx *ir.Signal
}

func (g *gen) acceptUnit() {
	z, a := g.z, &g.acc
	g.m.Assign(g.reqReady, ir.OrR(g.phFree.r))
	a.fire = g.wire("acc_fire", ir.LAnd(g.reqValid, g.reqReady))
	a.oh = g.lowest("acc_oh", g.phFree.r)
	a.oh.Comment = "the lowest-numbered FREE context"
	a.x = g.encode("acc_ctx", a.oh, z.CW)
	op := g.reqOp
	// over is len > max; a constant 0 when the field cannot hold more.
	over := func(len *ir.Signal, w, max int) ir.Expr {
		if max >= 1<<uint(w)-1 {
			return zero1
		}
		return ir.Gt(len, k(w, uint64(max)))
	}
	st := ir.Sel(ir.Eq(op, k(OpBits, OpBad)), k(StatusBits, StBadOp),
		ir.Sel(ir.Eq(g.reqKlen, k(z.KL, 0)), k(StatusBits, StEmptyKey),
			ir.Sel(over(g.reqKlen, z.KL, z.K), k(StatusBits, StKeyTooLong),
				ir.Sel(ir.LAnd(ir.LOr(ir.Eq(op, k(OpBits, OpPut)), ir.Eq(op, k(OpBits, OpUpdateV2V))), over(g.reqVlen, z.VL, z.V)),
					k(StatusBits, StValueTooLong),
					k(StatusBits, StOK)))))
	a.status = g.wire("acc_status", st)
	a.status.Comment = "the checks of engine.md 4, in order"
	a.ok = g.wire("acc_ok", ir.Eq(a.status, k(StatusBits, StOK)))
	a.key = g.wire("acc_key", ir.And(g.reqKey, lowMask(8*z.K, bytes8(g.reqKlen))))
	a.key.Comment = "key bytes at i >= req_klen cleared"
	a.value = g.wire("acc_value", ir.And(g.reqValue, lowMask(8*z.V, bytes8(g.reqVlen))))

	// The new copy's form (hashtable.md §2.3, §3.2): inline in n slots, or
	// out of line in the smallest class holding 2 + u bytes.
	uw := bitsFor(z.OB) + 1
	u := g.wire("acc_kv_bytes", ir.Add(ir.Zext(g.reqKlen, uw), ir.Zext(g.reqVlen, uw)))
	a.ool = g.wire("acc_ool", ir.Gt(u, k(uw, uint64(z.Threshold))))
	var cls ir.Expr = k(ClassBits, uint64(z.NC-1))
	for c := z.NC - 2; c >= 0; c-- {
		cls = ir.Sel(ir.Le(ir.Add(u, k(uw, 2)), k(uw, uint64(z.Classes[c]))), k(ClassBits, uint64(c)), cls)
	}
	a.cnew = g.wire("acc_class", cls)
	a.need = g.wire("acc_need", ir.Sel(a.ool, k(z.S, 1), vec(z.S, func(i int) ir.Expr {
		return ir.Gt(u, k(uw, uint64(z.SB*i)))
	})))
	a.need.Comment = "slots the new copy takes, as a thermometer"
	a.firstLine = ir.Zext(ir.Cat(g.reqBucket, zero1), g.LW)
}

// acceptLink finds the youngest operation on the request's index bucket.
func (g *gen) acceptLink() {
	z, a := g.z, &g.acc
	a.match = g.wire("acc_match", vec(z.C, func(c int) ir.Expr {
		return ir.AndAll(ir.Bit(g.lock.r, c), ir.LNot(ir.Bit(g.hasSucc.r, c)), ir.Eq(g.bucketRegs[c], g.reqBucket),
			ir.LNot(ir.LAnd(g.rsp.any, ir.Bit(g.rsp.oh, c))))
	}))
	a.match.Comment = "locked, youngest on req_bucket, not retiring this cycle (at most one)"
	a.link = g.wire("acc_link", ir.OrR(a.match))
	a.m = g.encode("acc_pred", a.match, z.CW)
}

// ---- the read unit (engine.md §5.1) --------------------------------------------------------

type readUnit struct {
	valid, validN, ctx, ctxN, line, lineN, beats, beatsN, rr, rrN *ir.Signal
	xfer, load, w                                                 *ir.Signal
	walk                                                          *ir.Signal
}

func (g *gen) readUnit() {
	z, m, r := g.z, g.m, &g.rd
	r.valid, r.validN = m.RegPair("rd_valid", 1)
	r.ctx, r.ctxN = m.RegPair("rd_ctx", z.CW)
	r.line, r.lineN = m.RegPair("rd_line", g.LW)
	r.beats, r.beatsN = m.RegPair("rd_beats", BeatsBits)
	r.rr, r.rrN = m.RegPair("rd_rr", z.CW)
	r.line.Comment = "raddr[rd_ctx] / 32, held while the context waits"
	r.xfer = g.wire("rd_xfer", ir.LAnd(r.valid, g.rdReady))
	any, _, w := g.rrPick("rd_pick", g.phRead.r, r.rr)
	r.w = w
	r.load = g.wire("rd_load", ir.LAnd(ir.LOr(ir.LNot(r.valid), r.xfer), any))
	nw := g.rrNext("rd_npick", g.phRead.n, r.rrN)
	r.walk = g.readAhead("rd_walk", g.walkMem, nw, true,
		"bypassed: a context the execute unit sends to READ can win the next cycle")
	root := g.readAhead("rd_root", g.rootMem, nw, true,
		"bypassed: a request accepted to READ can win the next cycle")
	fresh := g.wire("rd_fresh", g.fresh.at(w))
	fresh.Comment = "the winner's walk has not begun: its read is the index bucket"
	line := g.wire("rd_walk_line", ir.Sel(fresh, ir.Zext(ir.Cat(root, zero1), g.LW), g.walkR.Get(r.walk, "line")))
	beats := g.wire("rd_walk_beats", ir.Sel(fresh, k(BeatsBits, 2), g.walkR.Get(r.walk, "beats")))
	m.Comb("read unit (engine.md 5.1)", func(b *ir.Block) {
		b.Set(r.validN, r.valid)
		b.Set(r.ctxN, r.ctx)
		b.Set(r.lineN, r.line)
		b.Set(r.beatsN, r.beats)
		b.Set(r.rrN, r.rr)
		b.If(ir.LOr(ir.LNot(r.valid), r.xfer), func(b *ir.Block) {
			b.If(any, func(b *ir.Block) {
				b.Set(r.validN, one1)
				b.Set(r.ctxN, w)
				b.Set(r.lineN, line)
				b.Set(r.beatsN, beats)
				b.Set(r.rrN, g.after(w))
			}, func(b *ir.Block) {
				b.Set(r.validN, zero1)
			})
		}, nil)
	})
	m.Assign(g.rdValid, r.valid)
	m.Assign(g.rdAddr, ir.Cat(r.line, k(5, 0)))
	m.Assign(g.rdBeats, r.beats)
	m.Seq(g.clk, "read unit registers", func(b *ir.Block) {
		b.Set(r.valid, r.validN)
		b.Set(r.ctx, r.ctxN)
		b.Set(r.line, r.lineN)
		b.Set(r.beats, r.beatsN)
		b.Set(r.rr, r.rrN)
		b.If(g.rst, func(b *ir.Block) {
			b.Set(r.valid, zero1)
			b.Set(r.rr, k(z.CW, 0))
		}, nil)
	})
}

// ---- the return queue and read data (engine.md §5.2, §5.3) ----------------------------------

type returnQueue struct {
	mem                           *ir.Memory
	wp, wpN, rp, rpN, beat, beatN *ir.Signal
	execV, execVN, execX, execXN  *ir.Signal
	execL, execLN                 *ir.Signal
	head, h, last                 *ir.Signal
	qw                            int
}

func (g *gen) returnQueue() {
	z, m, q := g.z, g.m, &g.rq
	depth := 1
	for depth < z.C {
		depth *= 2
	}
	depth = max(depth, 2)
	q.qw = idxBits(depth)
	// line: the read's address, which the execute unit needs (a context's
	// first read is not in walk_mem).
	g.rqR = ir.NewRecord().Add("ctx", z.CW).Add("beats", BeatsBits).Add("line", g.LW)
	q.mem = m.Mem("rq_mem", g.rqR.W, depth, false)
	q.wp, q.wpN = m.RegPair("rq_wp", q.qw)
	q.rp, q.rpN = m.RegPair("rq_rp", q.qw)
	q.beat, q.beatN = m.RegPair("rbeat", g.BTW)
	q.beat.Comment = "beats of the RQ head's read received so far"
	q.execV, q.execVN = m.RegPair("exec_valid", 1)
	q.execX, q.execXN = m.RegPair("exec_ctx", z.CW)
	q.execV.Comment = "context exec_ctx is EXEC (engine.md 5.3: at most one)"
	q.execL, q.execLN = m.RegPair("exec_line", g.LW)
	q.execL.Comment = "the line address of the read exec_ctx has just completed"
	q.head = g.part("rq_head", q.mem.Read(q.rp))
	q.h = g.wire("rq_head_ctx", g.rqR.Get(q.head, "ctx"))
	// The last transfer of the head's read: its beats less one, halved on
	// the wide port (a transfer of two beats, the odd last beat alone).
	lastXfer := ir.Sub(g.rqR.Get(q.head, "beats"), k(BeatsBits, 1))
	if g.RPT == 2 {
		lastXfer = ir.Shr(lastXfer, k(1, 1))
	}
	q.last = g.wire("rdata_last_beat", ir.LAnd(g.rdataValid,
		ir.Eq(ir.Zext(q.beat, BeatsBits), lastXfer)))
	m.Assign(g.rdataReady, one1)
	m.Comb("return queue and read data (engine.md 5.2, 5.3)", func(b *ir.Block) {
		b.Set(q.wpN, q.wp)
		b.Set(q.rpN, q.rp)
		b.Set(q.beatN, q.beat)
		b.Set(q.execVN, q.last)
		b.Set(q.execXN, q.h)
		b.Set(q.execLN, g.rqR.Get(q.head, "line"))
		b.If(g.rd.xfer, func(b *ir.Block) { b.Set(q.wpN, ir.Add(q.wp, k(q.qw, 1))) }, nil)
		b.If(g.rdataValid, func(b *ir.Block) {
			b.If(q.last, func(b *ir.Block) {
				b.Set(q.rpN, ir.Add(q.rp, k(q.qw, 1)))
				b.Set(q.beatN, k(g.BTW, 0))
			}, func(b *ir.Block) {
				b.Set(q.beatN, ir.Add(q.beat, k(g.BTW, 1)))
			})
		}, nil)
	})
	m.Seq(g.clk, "return queue registers, RQ push and the read buffer", func(b *ir.Block) {
		b.Set(q.wp, q.wpN)
		b.Set(q.rp, q.rpN)
		b.Set(q.beat, q.beatN)
		b.Set(q.execV, q.execVN)
		b.Set(q.execX, q.execXN)
		b.Set(q.execL, q.execLN)
		b.If(g.rd.xfer, func(b *ir.Block) {
			b.Write(q.mem, q.wp, g.rqR.Pack(map[string]ir.Expr{"ctx": g.rd.ctx, "beats": g.rd.beats, "line": g.rd.line}))
		}, nil)
		for i := 0; i < g.NBEAT/g.RPT; i++ {
			w := BeatBits * g.RPT
			b.If(ir.LAnd(g.rdataValid, ir.Eq(q.beat, k(g.BTW, uint64(i)))), func(b *ir.Block) {
				b.Set(ir.Bits(g.rbuf, w*i+w-1, w*i), g.rdata)
			}, nil)
		}
		b.If(g.rst, func(b *ir.Block) {
			b.Set(q.wp, k(q.qw, 0))
			b.Set(q.rp, k(q.qw, 0))
			b.Set(q.beat, k(g.BTW, 0))
			b.Set(q.execV, zero1)
		}, nil)
	})
}

// ---- the bucket layout (hashtable.md §2) -----------------------------------------------

type bucketView struct {
	img                    *ir.Signal
	ptr, sec, typ          []ir.Expr
	free, ool, start, cont *ir.Signal
	bitmap, next, chain    ir.Expr
}

func (g *gen) slotLo(s int) int { return 8 * g.z.SB * s }

// decode names the fields of a 512-bit bucket signal; cand compares the
// out-of-line slots' secondary hashes with sec.
func (g *gen) decode(prefix string, img *ir.Signal, sec ir.Expr) *bucketView {
	z := g.z
	v := &bucketView{img: img}
	for s := 0; s < z.S; s++ {
		lo := g.slotLo(s)
		v.ptr = append(v.ptr, ir.Bits(img, lo+z.P-1, lo))
		v.sec = append(v.sec, ir.Bits(img, lo+8*z.SB-1, lo+z.P))
		v.typ = append(v.typ, ir.Bits(img, g.TB+z.T*s+z.T-1, g.TB+z.T*s))
	}
	small := func(s int) ir.Expr { return ir.Lt(v.typ[s], k(z.T, uint64(z.NC))) }
	v.free = g.wire(prefix+"_free", vec(z.S, func(s int) ir.Expr {
		return ir.LAnd(small(s), ir.Eq(v.ptr[s], k(z.P, 0)))
	}))
	v.ool = g.wire(prefix+"_cand", vec(z.S, func(s int) ir.Expr {
		return ir.AndAll(small(s), ir.Ne(v.ptr[s], k(z.P, 0)), ir.Eq(v.sec[s], sec))
	}))
	v.start = g.wire(prefix+"_start", vec(z.S, func(s int) ir.Expr { return ir.Eq(v.typ[s], k(z.T, g.startCode)) }))
	v.cont = g.part(prefix+"_cont", vec(z.S, func(s int) ir.Expr { return ir.Eq(v.typ[s], k(z.T, g.contCode)) }))
	v.bitmap = ir.Bits(img, g.MB+z.A-1, g.MB)
	v.next = ir.Bits(img, g.NB+z.P-1, g.NB)
	v.chain = ir.Bit(img, g.CB)
	return v
}

// slotMask expands a per-slot mask into the bucket bits the slots own: slot
// bytes, type code and bitmap bits (hashtable.md §2.1).
func (g *gen) slotMask(mask *ir.Signal) ir.Expr {
	z := g.z
	var parts []ir.Expr
	if up := LineBits - g.NB; up > 0 {
		parts = append(parts, k(up, 0))
	}
	rep := func(n int) ir.Expr {
		return vecW(z.S, func(s int) ir.Expr { return ir.Rep(n, ir.Bit(mask, s)) })
	}
	parts = append(parts, rep(z.SB), rep(z.T), rep(8*z.SB))
	return ir.Cat(parts...)
}

// ptrLine is the 32 B line address (AW-5 bits) of a slab pointer, which
// counts memory.pointer_unit bytes (engine.md 6.1; objects are at least
// 32 B and naturally aligned, so no address bit below 32 B is lost).
func (g *gen) ptrLine(ptr *ir.Signal) ir.Expr {
	z := g.z
	hi := z.AW - z.PUL - 1 // the pointer's highest bit inside host memory
	if z.PUL >= 5 {
		if z.PUL == 5 {
			return ir.Bits(ptr, hi, 0)
		}
		return ir.Cat(ir.Bits(ptr, hi, 0), k(z.PUL-5, 0))
	}
	return ir.Bits(ptr, hi, 5-z.PUL)
}

// linePtr is the slab pointer (P bits) of a 32 B line address.
func (g *gen) linePtr(line *ir.Signal) ir.Expr {
	z := g.z
	switch {
	case z.PUL > 5:
		return ir.Zext(ir.Bits(line, g.LW-1, z.PUL-5), z.P)
	case z.PUL < 5:
		return ir.Zext(ir.Cat(line, k(5-z.PUL, 0)), z.P)
	}
	return ir.Zext(line, z.P)
}

// vecW concatenates one part per index, index 0 lowest.
func vecW(n int, f func(i int) ir.Expr) ir.Expr { return vec(n, f) }

// classBeats is the beat count of class cls (a T-bit type code below NC).
func (g *gen) classBeats(cls ir.Expr) ir.Expr {
	z := g.z
	var acc ir.Expr = k(BeatsBits, uint64(z.Classes[z.NC-1]/32))
	for c := z.NC - 2; c >= 0; c-- {
		acc = ir.Sel(ir.Eq(cls, k(cls.Width(), uint64(c))), k(BeatsBits, uint64(z.Classes[c]/32)), acc)
	}
	return acc
}

// eqZ compares two values zero-extended to the wider one's width.
func eqZ(a, b ir.Expr) ir.Expr {
	w := max(a.Width(), b.Width())
	return ir.Eq(ir.Zext(a, w), ir.Zext(b, w))
}

// ---- the execute unit (engine.md §6) ------------------------------------------------------

type execUnit struct {
	walk, data, curm, curml, auxm     *ir.Signal
	plan                              *ir.Signal
	phase, status                     *ir.Signal
	nextObj, nextBkt, toPlace         *ir.Signal
	unlink, same, plNew, plAux, plCur *ir.Signal
	plObj, tgt, tslot, link, upd      *ir.Signal
	found, fool, record, placeMode    *ir.Signal
	walkW, curW, curLW, auxW, planW   ir.Expr
	rspW                              ir.Expr
}

func (g *gen) execUnit() {
	z, m, e := g.z, g.m, &g.ex
	x, xN := g.rq.execX, g.rq.execXN
	// exec_ctx_next is the RQ head, RWAIT until its last beat: nothing
	// writes a RWAIT context's storage, so no read needs a bypass.
	const exWhy = "no bypass: exec_ctx was RWAIT at that edge"
	walkRd := g.readAhead("ex_walk", g.walkMem, xN, false, exWhy)
	e.data = g.readAhead("ex_req", g.dataMem, xN, false, exWhy)
	e.curm = g.readAhead("ex_curm", g.curMem, xN, false, exWhy)
	e.curml = g.readAhead("ex_curml", g.curLMem, xN, false, exWhy)
	e.auxm = g.readAhead("ex_auxm", g.auxMem, xN, false, exWhy)
	e.plan = g.readAhead("ex_plan", g.planMem, xN, false, exWhy)
	fresh := g.wire("ex_fresh", g.fresh.at(x))
	fresh.Comment = "the first step of the walk: its fields are the reset ones (engine.md 4), not walk_mem's"
	e.walk = g.part("ex_walk_now", ir.Sel(fresh, k(g.walkR.W, 0), walkRd))
	W := func(n string) ir.Expr { return g.walkR.Get(e.walk, n) }
	D := func(n string) ir.Expr { return g.dataR.Get(e.data, n) }

	isB := g.wire("ex_bucket", ir.Eq(W("obj"), zero1))
	isB.Comment = "the read just completed is a bucket (else an object)"
	e.placeMode = g.wire("ex_place", W("place"))
	op := g.wire("ex_op", D("op"))
	isDel := g.wire("ex_del", ir.Eq(op, k(OpBits, OpDelete)))
	isPut := g.wire("ex_put", ir.Eq(op, k(OpBits, OpPut)))
	isVec := g.wire("ex_vec", ir.Bit(op, 2))
	isVec.Comment = "a vector operation (opcodes 4-7, engine.md 6.7)"
	klen := g.wire("ex_klen", D("klen"))
	key := g.wire("ex_key", D("key"))
	ool := g.wire("ex_ool", D("ool"))
	cnew := g.wire("ex_cnew", D("cnew"))
	need := g.wire("ex_need", D("need"))
	cand := g.wire("ex_cands_left", W("cand"))
	fitv := g.wire("ex_fitv", W("fitv"))
	fslot := g.wire("ex_fslot", W("fslot"))

	// The bucket this step works on (engine.md §6.1–§6.3): the one just read,
	// or, after an object read, the held current bucket.
	cur := g.part("ex_cur", ir.Sel(isB, ir.Bits(g.rbuf, LineBits-1, 0), e.curm))
	curl := g.wire("ex_cur_line", ir.Sel(isB, g.rq.execL, e.curml))
	prev := g.part("ex_prev", ir.Sel(isB, e.curm, g.bktR.Get(e.auxm, "img")))
	prevl := g.wire("ex_prev_line", ir.Sel(isB, e.curml, g.bktR.Get(e.auxm, "line")))
	prev.Comment = "the bucket before cur in the chain (DELETE's unlink)"
	bv := g.decode("ex", cur, D("sec"))

	// Inline match (hashtable.md §4.1) at every slot boundary.
	kmask := g.wire("ex_kmask", lowMask(8*z.K, bytes8(klen)))
	lowL := g.wire("ex_lmask", lowMask(z.K, klen))
	ohL := g.wire("ex_lbit", ir.Xor(lowL, ir.Shr(lowL, k(1, 1))))
	ohL.Comment = "bit L-1: the K mark of a key of length L"
	hit := g.wire("ex_hit", vec(z.S, func(s int) ir.Expr {
		lo := g.slotLo(s)
		hi := min(8*z.A, lo+8*z.K) - 1
		kw := g.wire(fmt.Sprintf("ex_kwin%d", s), ir.Zext(ir.Bits(cur, hi, lo), 8*z.K))
		blo := g.MB + z.SB*s
		bhi := min(g.MB+z.A, blo+z.K) - 1
		bw := g.wire(fmt.Sprintf("ex_mwin%d", s), ir.Zext(ir.Bits(cur, bhi, blo), z.K))
		return ir.AndAll(ir.Bit(bv.start, s), ir.Eq(ir.And(bw, lowL), ohL), ir.Eq(ir.And(kw, kmask), key))
	}))
	hitOH := g.lowest("ex_hit_oh", hit)
	hitIdx := g.encode("ex_hit_slot", hitOH, g.SW)

	// Object compare (§6.2): header key_size and the full key.
	cjOH := g.lowest("ex_cj_oh", cand)
	cjOH.Comment = "the candidate whose object was just read"
	okey := g.wire("ex_obj_key", ir.Bits(g.rbuf, 16+8*z.K-1, 16))
	omatch := g.wire("ex_obj_match", ir.LAnd(ir.Eq(ir.Bits(g.rbuf, z.KL-1, 0), klen), ir.Eq(ir.And(okey, kmask), key)))
	e.found = g.wire("ex_found", ir.LAnd(ir.LNot(e.placeMode), ir.Sel(isB, ir.OrR(hit), omatch)))
	e.fool = g.wire("ex_found_ool", ir.LNot(isB))
	fsOH := g.wire("ex_fs_oh", ir.Sel(isB, hitOH, cjOH))
	fptr := g.wire("ex_found_ptr", andOr(fsOH, bv.ptr))
	fcls := g.wire("ex_found_cls", andOr(fsOH, bv.typ))

	// The inline KV's region: its start slot and the inline-cont slots after it.
	region := make([]*ir.Signal, z.S)
	for s := 0; s < z.S; s++ {
		var r ir.Expr = ir.Bit(hitOH, s)
		if s > 0 {
			r = ir.LOr(r, ir.LAnd(region[s-1], ir.Bit(bv.cont, s)))
		}
		region[s] = g.wire(fmt.Sprintf("ex_region%d", s), r)
	}
	regionV := g.wire("ex_region", vec(z.S, func(s int) ir.Expr { return region[s] }))
	rmask := g.wire("ex_rmask", ir.Sel(ir.LAnd(e.found, ir.LNot(isVec)), ir.Sel(isB, regionV, cjOH), k(z.S, 0)))
	rmask.Comment = "the old copy's slots, returned to the empty form (a vector operation keeps cur whole)"
	rimg := g.part("ex_removed", ir.And(cur, ir.Not(g.slotMask(rmask))))
	freeR := g.wire("ex_free_after", ir.Or(bv.free, rmask))
	allEmpty := g.wire("ex_all_empty", ir.AndR(freeR))

	// The first run of n empty slots (§4.3 step 5).
	ext := g.part("ex_busy_ext", ir.Cat(ir.Ones(z.S), ir.Not(freeR)))
	runOK := g.wire("ex_run_ok", vec(z.S, func(j int) ir.Expr {
		return ir.Eq(ir.And(ir.Bits(ext, j+z.S-1, j), need), k(z.S, 0))
	}))
	runOH := g.lowest("ex_run_oh", runOK)
	runSlot := g.encode("ex_run_slot", runOH, g.SW)
	hasRun := g.wire("ex_has_run", ir.OrR(runOK))

	// The next candidate (§6.1 step 4, §6.2).
	mcand := g.wire("ex_next_cand", ir.Sel(isB, bv.ool, ir.And(cand, ir.Not(cjOH))))
	ncOH := g.lowest("ex_nc_oh", mcand)
	ncPtr := g.part("ex_nc_ptr", andOr(ncOH, bv.ptr))
	ncTyp := g.wire("ex_nc_type", andOr(ncOH, bv.typ))
	ncLine := g.ptrLine(ncPtr)
	next := g.part("ex_next_ptr", bv.next)
	nextLine := g.ptrLine(next)
	chain := g.wire("ex_chain", bv.chain)
	curnz := g.wire("ex_cur_chained", ir.Sel(isB, W("rposnz"), W("curnz")))
	curnz.Comment = "cur is at chain position 1 or later"
	unlinkC := g.wire("ex_unlink_ok", ir.LAnd(curnz, allEmpty))
	e.same = m.Reg("ex_same", 1)
	sameC := g.wire("ex_same_class", ir.AndAll(e.fool, ool, eqZ(fcls, cnew)))
	e.record = g.wire("ex_record_fit", ir.AndAll(isB, ir.LNot(e.placeMode), isPut, ir.LNot(e.found), ir.LNot(fitv), hasRun))
	e.record.Comment = "PUT: the first bucket with a run for the new copy (engine.md 6.1 step 2)"

	// GET's value (§2.3, §3.1): inline, bytes k+1..E of the slot area;
	// out of line, bytes 2+kl.. of the object.
	offMax := max(z.A, 2+z.K)
	ow := bitsFor(offMax + z.SB)
	sbj := g.wire("ex_hit_byte", ir.Mul(ir.Zext(hitIdx, ow), k(ow, uint64(z.SB))))
	off := g.wire("ex_val_off", ir.Add(ir.Sel(isB, sbj, k(ow, 2)), ir.Zext(klen, ow)))
	off.Comment = "the value's first byte in the read buffer"
	regBytes := g.wire("ex_region_bytes", vecW(z.S, func(s int) ir.Expr { return ir.Rep(z.SB, region[s]) }))
	marks := g.wire("ex_marks", ir.And(bv.bitmap, regBytes))
	rev := g.wire("ex_marks_rev", vec(z.A, func(i int) ir.Expr { return ir.Bit(marks, z.A-1-i) }))
	revOH := g.lowest("ex_marks_rev_oh", rev)
	revIdx := g.encode("ex_marks_rev_idx", revOH, ow)
	eEnd := g.wire("ex_end_byte", ir.Sub(k(ow, uint64(z.A-1)), revIdx))
	eEnd.Comment = "E: the KV's last byte (its highest mark)"
	vlIn := g.part("ex_vlen_inline", ir.Sub(ir.Add(eEnd, k(ow, 1)), off))
	hdr := g.part("ex_obj_hdr", ir.Bits(g.rbuf, 15, 0))
	vlObj := ir.Bits(hdr, 15, z.KL)
	vl := g.wire("ex_vlen", ir.Sel(isB, fit(vlIn, z.VL), fit(vlObj, z.VL)))
	srcB := min(z.OB, offMax+z.V)
	shifted := g.part("ex_val_shift", ir.Shr(ir.Bits(g.rbuf, 8*srcB-1, 0), bytes8(off)))
	val := g.wire("ex_value", ir.And(ir.Bits(shifted, 8*z.V-1, 0), lowMask(8*z.V, bytes8(vl))))

	// Decision (engine.md §6.1–§6.6).
	e.phase = m.Reg("ex_phase", exBits)
	e.phase.Comment = "where the EXEC context goes: 0 READ, 1 RESP, 2 WRITE, 3 ALLOC, 4 VEC"
	e.status = m.Reg("ex_status", StatusBits)
	e.nextObj = m.Reg("ex_next_obj", 1)
	e.nextBkt = m.Reg("ex_next_bkt", 1)
	e.toPlace = m.Reg("ex_to_place", 1)
	e.unlink = m.Reg("ex_unlink", 1)
	e.plObj = m.Reg("ex_pl_obj", 1)
	e.plNew = m.Reg("ex_pl_new", 1)
	e.plAux = m.Reg("ex_pl_aux", 1)
	e.plCur = m.Reg("ex_pl_cur", 1)
	e.tgt = m.Reg("ex_tgt", 2)
	e.tslot = m.Reg("ex_tslot", g.SW)
	e.link = m.Reg("ex_link", 1)
	e.upd = m.Reg("ex_upd", 1)
	e.upd.Comment = "a vector operation: its plan is an update's one write in place (engine.md 6.7)"
	ph := func(b *ir.Block, v int) { b.Set(e.phase, k(exBits, uint64(v))) }
	// plan: a PUT's target is known (§6.6).
	plan := func(b *ir.Block, tgt int, slot ir.Expr) {
		b.Set(e.tgt, k(2, uint64(tgt)))
		b.Set(e.tslot, slot)
		b.Set(e.plObj, ool)
		if tgt == tgtNew {
			b.Set(e.plNew, one1)
			b.Set(e.link, one1)
			b.Set(e.plCur, one1)
			ph(b, exAlloc)
		} else {
			b.Set(e.phase, ir.Sel(ool, k(exBits, exAlloc), k(exBits, exWrite)))
		}
	}
	readNextBucket := func(b *ir.Block) {
		ph(b, exRead)
		b.Set(e.nextBkt, one1)
	}
	m.Comb("execute unit: one step of hashtable.md 4 for the EXEC context (engine.md 6)", func(b *ir.Block) {
		ph(b, exResp)
		b.Set(e.status, k(StatusBits, StOK))
		for _, s := range []*ir.Signal{e.nextObj, e.nextBkt, e.toPlace, e.unlink, e.same, e.plObj, e.plNew, e.plAux, e.plCur, e.link, e.upd} {
			b.Set(s, zero1)
		}
		b.Set(e.tgt, k(2, tgtNone))
		b.Set(e.tslot, runSlot)
		b.If(g.errV.at(x), func(b *ir.Block) {
			b.Set(e.status, k(StatusBits, StMemError))
		}, func(b *ir.Block) {
			b.If(e.placeMode, func(b *ir.Block) {
				b.Note("6.3: PUT walking past the found bucket for a run")
				b.Set(e.plAux, one1)
				b.Set(e.plCur, one1)
				b.If(hasRun, func(b *ir.Block) {
					plan(b, tgtCur, runSlot)
				}, func(b *ir.Block) {
					b.If(chain, readNextBucket, func(b *ir.Block) {
						plan(b, tgtNew, k(g.SW, 0))
					})
				})
			}, func(b *ir.Block) {
				b.If(e.found, func(b *ir.Block) {
					b.Note("6.4: found")
					b.If(isDel, func(b *ir.Block) {
						ph(b, exWrite)
						b.Set(e.unlink, unlinkC)
						b.Set(e.plAux, unlinkC)
						b.Set(e.plCur, ir.LNot(unlinkC))
					}, func(b *ir.Block) {
						b.If(isPut, func(b *ir.Block) {
							b.If(sameC, func(b *ir.Block) {
								ph(b, exWrite)
								b.Set(e.same, one1)
								b.Set(e.plObj, one1)
							}, func(b *ir.Block) {
								b.Set(e.plCur, one1)
								b.If(hasRun, func(b *ir.Block) {
									plan(b, tgtCur, runSlot)
								}, func(b *ir.Block) {
									b.If(fitv, func(b *ir.Block) {
										b.Set(e.plAux, one1)
										plan(b, tgtAux, fslot)
									}, func(b *ir.Block) {
										b.If(chain, func(b *ir.Block) {
											readNextBucket(b)
											b.Set(e.toPlace, one1)
										}, func(b *ir.Block) {
											plan(b, tgtNew, k(g.SW, 0))
										})
									})
								})
							})
						}, func(b *ir.Block) {
							b.If(isVec, func(b *ir.Block) {
								b.Note("6.4, 6.7: the value register holds the KV's value; the plan is")
								b.Note("the in-place write should the vector unit update it")
								ph(b, exVec)
								b.Set(e.upd, one1)
								b.Set(e.same, e.fool)
								b.Set(e.plObj, e.fool)
								b.Set(e.plCur, ir.LNot(e.fool))
								b.Set(e.tslot, hitIdx)
							}, nil)
						})
					})
				}, func(b *ir.Block) {
					b.If(ir.OrR(mcand), func(b *ir.Block) {
						ph(b, exRead)
						b.Set(e.nextObj, one1)
					}, func(b *ir.Block) {
						b.If(chain, readNextBucket, func(b *ir.Block) {
							b.Note("6.5: not found")
							b.If(isPut, func(b *ir.Block) {
								b.If(ir.LOr(fitv, e.record), func(b *ir.Block) {
									b.Set(e.plAux, one1)
									plan(b, tgtAux, ir.Sel(fitv, fslot, runSlot))
								}, func(b *ir.Block) {
									plan(b, tgtNew, k(g.SW, 0))
								})
							}, func(b *ir.Block) {
								b.Set(e.status, k(StatusBits, StNotFound))
							})
						})
					})
				})
			})
		})
	})

	// What the step writes back for the context.
	e.walkW = g.walkR.Pack(map[string]ir.Expr{
		"line":   ir.Sel(e.nextObj, ncLine, nextLine),
		"beats":  ir.Sel(e.nextObj, g.classBeats(ncTyp), k(BeatsBits, 2)),
		"obj":    e.nextObj,
		"place":  ir.LOr(e.placeMode, e.toPlace),
		"rposnz": ir.LOr(W("rposnz"), e.nextBkt),
		"curnz":  curnz,
		"fitv":   ir.LOr(fitv, e.record),
		"fslot":  ir.Sel(e.record, runSlot, fslot),
		"cand":   mcand,
	})
	curOut := g.part("ex_cur_out", ir.Cat(curl, rimg))
	e.curW = rimg
	e.curLW = curl
	// DELETE: prev <- cur at a bucket step, or prev taking cur's chain fields
	// when cur empties (HT §4.4 step 4).
	var prevMod ir.Expr
	if LineBits-1 > g.CB {
		prevMod = ir.Cat(ir.Bits(prev, LineBits-1, g.CB+1), chain, next, ir.Bits(prev, g.NB-1, 0))
	} else {
		prevMod = ir.Cat(chain, next, ir.Bits(prev, g.NB-1, 0))
	}
	e.auxW = ir.Sel(isDel, ir.Cat(prevl, ir.Sel(e.unlink, prevMod, prev)),
		ir.Sel(e.toPlace, curOut, ir.Sel(e.record, ir.Cat(curl, cur), e.auxm)))
	e.planW = g.planR.Pack(map[string]ir.Expr{
		"same": e.same, "tgt": e.tgt, "tslot": e.tslot, "link": e.link, "upd": e.upd,
		"oldptr": ir.Sel(e.found, fptr, g.planR.Get(e.plan, "oldptr")),
		"oldcls": ir.Sel(e.found, fcls, g.planR.Get(e.plan, "oldcls")),
	})
	e.rspW = g.rspR.Pack(map[string]ir.Expr{"value": val, "vlen": vl})
}

// ---- the slab unit (engine.md §7) ------------------------------------------------------------

type slabUnit struct {
	valid, validN, ctx, ctxN, op, opN, cls, clsN, ptr, ptrN, kind, kindN *ir.Signal
	wait, waitN, wctx, wctxN, wkind, wkindN, rr, rrN                     *ir.Signal
	xfer, xferFree, load, w, wAlloc, wObj, fb, fo, more                  *ir.Signal
}

func (g *gen) slabUnit() {
	z, m, s := g.z, g.m, &g.sl
	s.valid, s.validN = m.RegPair("sl_valid", 1)
	s.ctx, s.ctxN = m.RegPair("sl_ctx", z.CW)
	s.op, s.opN = m.RegPair("sl_op", 1)
	s.cls, s.clsN = m.RegPair("sl_class", ClassBits)
	s.ptr, s.ptrN = m.RegPair("sl_ptr", z.P)
	s.kind, s.kindN = m.RegPair("sl_obj", 1)
	s.kind.Comment = "the alloc in sl_* is the new object (else the new bucket)"
	s.wait, s.waitN = m.RegPair("sl_wait", 1)
	s.wait.Comment = "an alloc was taken and its answer not yet seen"
	s.wctx, s.wctxN = m.RegPair("sl_wctx", z.CW)
	s.wkind, s.wkindN = m.RegPair("sl_wobj", 1)
	s.rr, s.rrN = m.RegPair("sl_rr", z.CW)
	s.xfer = g.wire("sl_xfer", ir.LAnd(s.valid, g.alReady))
	s.xferFree = g.wire("sl_xfer_free", ir.LAnd(s.xfer, ir.Eq(s.op, one1)))
	busyNext := g.wire("sl_busy_next", ir.LOr(ir.LAnd(s.wait, ir.LNot(g.alRspValid)), ir.LAnd(s.xfer, ir.Eq(s.op, zero1))))
	busyNext.Comment = "an alloc is outstanding after this cycle: no load"
	set := g.wire("sl_set", ir.Or(g.phAlloc.r, g.phFreeing.r))
	any, _, w := g.rrPick("sl_pick", set, s.rr)
	s.w = w
	s.load = g.wire("sl_load", ir.AndAll(ir.LOr(ir.LNot(s.valid), s.xfer), ir.LNot(busyNext), any))
	s.wAlloc = g.wire("sl_load_alloc", g.phAlloc.at(w))
	s.wObj = g.wire("sl_load_obj", g.paObj.at(w))
	s.fb = g.wire("sl_load_fr_bkt", g.frBkt.at(w))
	s.fo = g.wire("sl_load_fr_old", g.frOld.at(w))
	s.more = g.wire("sl_more_frees", ir.OrAll(g.frBkt.at(s.ctx), g.frOld.at(s.ctx), g.frNew.at(s.ctx)))
	s.more.Comment = "sl_ctx has frees left after the one in sl_*"
	nset := g.wire("sl_nset", ir.Or(g.phAlloc.n, g.phFreeing.n))
	nw := g.rrNext("sl_npick", nset, s.rrN)
	// A context written at the edge before the slab unit picks it is one
	// entering ALLOC (from the execute unit or an alloc's answer), whose
	// alloc uses only cnew (written at acceptance); a free's fields were
	// written in an earlier cycle. So no read needs a bypass.
	const slWhy = "no bypass: an alloc uses only cnew, a free's fields are older than the edge"
	info := g.readAhead("sl_info", g.infoMem, nw, false, slWhy)
	curLine := g.readAhead("sl_cur_line", g.curLMem, nw, false, slWhy)
	plan := g.readAhead("sl_plan", g.planMem, nw, false, slWhy)
	optr := g.readAhead("sl_obj_ptr", g.optrMem, nw, false, slWhy)
	cnew := g.infoR.Get(info, "cnew")
	bc := k(ClassBits, uint64(z.BC))
	freeCls := ir.Sel(s.fb, bc, ir.Sel(s.fo, fit(g.planR.Get(plan, "oldcls"), ClassBits), cnew))
	freePtr := ir.Sel(s.fb, g.linePtr(curLine), ir.Sel(s.fo, g.planR.Get(plan, "oldptr"), optr))
	m.Comb("slab unit: answer, transfer, load (engine.md 7)", func(b *ir.Block) {
		b.Set(s.validN, s.valid)
		b.Set(s.ctxN, s.ctx)
		b.Set(s.opN, s.op)
		b.Set(s.clsN, s.cls)
		b.Set(s.ptrN, s.ptr)
		b.Set(s.kindN, s.kind)
		b.Set(s.waitN, s.wait)
		b.Set(s.wctxN, s.wctx)
		b.Set(s.wkindN, s.wkind)
		b.Set(s.rrN, s.rr)
		b.If(g.alRspValid, func(b *ir.Block) { b.Set(s.waitN, zero1) }, nil)
		b.If(ir.LAnd(s.xfer, ir.Eq(s.op, zero1)), func(b *ir.Block) {
			b.Set(s.waitN, one1)
			b.Set(s.wctxN, s.ctx)
			b.Set(s.wkindN, s.kind)
		}, nil)
		b.If(ir.LAnd(ir.LOr(ir.LNot(s.valid), s.xfer), ir.LNot(busyNext)), func(b *ir.Block) {
			b.If(any, func(b *ir.Block) {
				b.Set(s.validN, one1)
				b.Set(s.ctxN, w)
				b.Set(s.rrN, g.after(w))
				b.If(s.wAlloc, func(b *ir.Block) {
					b.Set(s.opN, zero1)
					b.Set(s.kindN, s.wObj)
					b.Set(s.clsN, ir.Sel(s.wObj, cnew, bc))
					b.Set(s.ptrN, k(z.P, 0))
				}, func(b *ir.Block) {
					b.Set(s.opN, one1)
					b.Set(s.clsN, freeCls)
					b.Set(s.ptrN, freePtr)
				})
			}, func(b *ir.Block) {
				b.Set(s.validN, zero1)
			})
		}, func(b *ir.Block) {
			b.If(s.xfer, func(b *ir.Block) { b.Set(s.validN, zero1) }, nil)
		})
	})
	m.Assign(g.alValid, s.valid)
	m.Assign(g.alOp, s.op)
	m.Assign(g.alClass, s.cls)
	m.Assign(g.alPtr, s.ptr)
	m.Seq(g.clk, "slab unit registers", func(b *ir.Block) {
		for _, p := range [][2]*ir.Signal{{s.valid, s.validN}, {s.ctx, s.ctxN}, {s.op, s.opN}, {s.cls, s.clsN}, {s.ptr, s.ptrN},
			{s.kind, s.kindN}, {s.wait, s.waitN}, {s.wctx, s.wctxN}, {s.wkind, s.wkindN}, {s.rr, s.rrN}} {
			b.Set(p[0], p[1])
		}
		b.If(g.rst, func(b *ir.Block) {
			b.Set(s.valid, zero1)
			b.Set(s.wait, zero1)
			b.Set(s.rr, k(z.CW, 0))
		}, nil)
	})
}

// ---- the vector unit (engine.md §8A) ------------------------------------------------------------

type vecUnit struct {
	ctx, ctxN, rr, rrN, upd, updN, vlen, vlenN   *ir.Signal
	inReady, outValid, outFault, outNew, outRlen *ir.Signal
	outResp, load, w, toWrite                    *ir.Signal
}

// vecUnit instantiates kvd_vec (hdlgen/vector, vector.md) and loads it with
// the round-robin winner among the VEC contexts whenever it is idle.
func (g *gen) vecUnit() error {
	z, m, v := g.z, g.m, &g.vc
	sub, err := vector.Generate(g.cfg)
	if err != nil {
		return err
	}
	v.ctx, v.ctxN = m.RegPair("vc_ctx", z.CW)
	v.ctx.Comment = "the context whose operation kvd_vec holds (VWAIT)"
	v.rr, v.rrN = m.RegPair("vc_rr", z.CW)
	v.upd, v.updN = m.RegPair("vc_upd", 1)
	v.upd.Comment = "the operation kvd_vec holds is an UPDATE_* (its result goes to WRITE)"
	v.vlen, v.vlenN = m.RegPair("vc_vlen", z.VL)
	v.vlen.Comment = "its stored value's length: the update's write keeps it"
	v.inReady = m.Wire("vc_in_ready", 1)
	v.outValid = m.Wire("vc_out_valid", 1)
	v.outFault = m.Wire("vc_out_fault", 1)
	v.outNew = m.Wire("vc_out_new", 8*z.V)
	v.outRlen = m.Wire("vc_out_rlen", z.VL)
	v.outResp = m.Wire("vc_out_resp", 8*z.V)
	any, _, w := g.rrPick("vc_pick", g.phVec.r, v.rr)
	v.w = w
	v.load = g.wire("vc_load", ir.LAnd(v.inReady, any))
	v.load.Comment = "kvd_vec is idle and some context is VEC: the winner is presented and taken"
	nw := g.rrNext("vc_npick", g.phVec.n, v.rrN)
	const vcWhy = "no bypass: written at acceptance, before the walk"
	data := g.readAhead("vc_req", g.dataMem, nw, false, vcWhy)
	dvec := g.readAhead("vc_req_value", g.valMem, nw, false, vcWhy)
	val := g.readAhead("vc_val", g.rspMem, nw, true,
		"bypassed: a context the execute unit sends to VEC can be loaded the next cycle")
	val.Comment = "the winner's value register: the KV's value as GET would answer it"
	D := func(n string) ir.Expr { return g.dataR.Get(data, n) }
	op := g.wire("vc_op", ir.Bits(D("op"), vector.OpBits-1, 0))
	op.Comment = "req_op - 4: kvd_vec's operation code"
	vl := g.wire("vc_in_vlen", g.rspR.Get(val, "vlen"))
	m.Instantiate("u_vec", sub, nil, []ir.Conn{
		{Port: "clk", Expr: g.clk}, {Port: "rst", Expr: g.rst},
		{Port: "in_valid", Expr: v.load}, {Port: "in_ready", Expr: v.inReady},
		{Port: "in_op", Expr: op}, {Port: "in_fid", Expr: D("fid")},
		{Port: "in_vlen", Expr: vl}, {Port: "in_value", Expr: g.rspR.Get(val, "value")},
		{Port: "in_delta", Expr: D("delta")}, {Port: "in_cmp", Expr: D("cmp")}, {Port: "in_swap", Expr: D("swap")},
		{Port: "in_dlen", Expr: D("vlen")}, {Port: "in_dvec", Expr: dvec},
		{Port: "out_valid", Expr: v.outValid}, {Port: "out_fault", Expr: v.outFault},
		{Port: "out_new", Expr: v.outNew}, {Port: "out_rlen", Expr: v.outRlen}, {Port: "out_resp", Expr: v.outResp},
	})
	v.toWrite = g.wire("vc_to_write", ir.AndAll(v.outValid, ir.LNot(v.outFault), v.upd))
	v.toWrite.Comment = "an update's result: its context goes to WRITE (otherwise to RESP)"
	m.Comb("vector unit: result, load (engine.md 8A)", func(b *ir.Block) {
		b.Set(v.ctxN, v.ctx)
		b.Set(v.rrN, v.rr)
		b.Set(v.updN, v.upd)
		b.Set(v.vlenN, v.vlen)
		b.If(v.load, func(b *ir.Block) {
			b.Set(v.ctxN, w)
			b.Set(v.rrN, g.after(w))
			b.Set(v.updN, ir.LNot(ir.Bit(op, 1)))
			b.Set(v.vlenN, vl)
		}, nil)
	})
	m.Seq(g.clk, "vector unit registers", func(b *ir.Block) {
		for _, p := range [][2]*ir.Signal{{v.ctx, v.ctxN}, {v.rr, v.rrN}, {v.upd, v.updN}, {v.vlen, v.vlenN}} {
			b.Set(p[0], p[1])
		}
		b.If(g.rst, func(b *ir.Block) { b.Set(v.rr, k(z.CW, 0)) }, nil)
	})
	return nil
}

// ---- the write unit (engine.md §8) ------------------------------------------------------------

type writeUnit struct {
	active, activeN, ctx, ctxN, stage, stageN, beat, beatN, rr, rrN *ir.Signal
	xfer, fin, load, w                                              *ir.Signal
}

func (g *gen) writeUnit() {
	z, m, u := g.z, g.m, &g.wr
	u.active, u.activeN = m.RegPair("wr_active", 1)
	u.ctx, u.ctxN = m.RegPair("wr_ctx", z.CW)
	u.stage, u.stageN = m.RegPair("wr_stage", stBits)
	u.stage.Comment = "the write of the plan: 0 object, 1 new bucket, 2 held bucket, 3 current bucket"
	u.beat, u.beatN = m.RegPair("wr_beat", g.BTW)
	u.rr, u.rrN = m.RegPair("wr_rr", z.CW)
	x := u.ctx
	flags := g.wire("wr_flags", ir.Cat(g.plCur.at(x), g.plAux.at(x), g.plNew.at(x), g.plObj.at(x)))
	flags.Comment = "the plan's writes, by stage"
	// wr_ctx_next is WRITE (loaded) or WBUSY (kept): no unit writes such a
	// context's storage, so no read needs a bypass.
	xN := u.ctxN
	const wrWhy = "no bypass: wr_ctx was WRITE or WBUSY at that edge"
	data := g.readAhead("wr_req", g.dataMem, xN, false, wrWhy)
	plan := g.readAhead("wr_plan", g.planMem, xN, false, wrWhy)
	curm := g.readAhead("wr_curm", g.curMem, xN, false, wrWhy)
	curml := g.readAhead("wr_curml", g.curLMem, xN, false, wrWhy)
	reqValue := g.readAhead("wr_req_value", g.valMem, xN, false, wrWhy)
	auxm := g.readAhead("wr_auxm", g.auxMem, xN, false, wrWhy)
	optr := g.readAhead("wr_obj_ptr", g.optrMem, xN, false, wrWhy)
	bptr := g.readAhead("wr_bkt_ptr", g.bptrMem, xN, false, wrWhy)
	D := func(n string) ir.Expr { return g.dataR.Get(data, n) }
	Pl := func(n string) ir.Expr { return g.planR.Get(plan, n) }
	isSt := func(st int) ir.Expr { return ir.Eq(u.stage, k(stBits, uint64(st))) }
	upd := g.wire("wr_upd", Pl("upd"))
	upd.Comment = "a vector update: the KV's value bytes, in place (engine.md 6.7)"
	vres := g.readAhead("wr_vres", g.vresMem, xN, false, wrWhy)
	klen := g.wire("wr_klen", D("klen"))
	vlen := g.wire("wr_vlen", ir.Sel(upd, g.vresR.Get(vres, "vlen"), D("vlen")))
	key := g.wire("wr_key", D("key"))
	value := g.part("wr_value", ir.Sel(upd, g.vresR.Get(vres, "value"), reqValue))
	uw := bitsFor(z.OB) + 1
	kv := g.part("wr_kv_bytes", ir.Add(ir.Zext(klen, uw), ir.Zext(vlen, uw)))

	// Sequencing.
	u.xfer = g.wire("wr_xfer", ir.LAnd(u.active, g.wrReady))
	objLast := g.part("wr_obj_last", ir.Shr(ir.Add(kv, k(uw, 1)), k(3, 5)))
	objLast.Comment = "the object write's last beat: ceil((2+kl+vl)/32) - 1"
	stageLast := g.wire("wr_stage_last", ir.Sel(isSt(stObj), ir.Eq(u.beat, fit(objLast, g.BTW)), ir.Eq(u.beat, k(g.BTW, 1))))
	rest := g.wire("wr_rest", ir.And(flags, ir.Shl(k(4, 0xe), u.stage)))
	rest.Comment = "the plan's writes after this one"
	restOH := g.lowest("wr_rest_oh", rest)
	restSt := g.encode("wr_rest_stage", restOH, stBits)
	u.fin = g.wire("wr_finish", ir.AndAll(u.xfer, stageLast, ir.Eq(rest, k(4, 0))))
	any, _, w := g.rrPick("wr_pick", g.phWrite.r, u.rr)
	u.w = w
	u.load = g.wire("wr_load", ir.LAnd(ir.LOr(ir.LNot(u.active), u.fin), any))
	wflags := g.wire("wr_load_flags", ir.Cat(g.plCur.at(w), g.plAux.at(w), g.plNew.at(w), g.plObj.at(w)))
	firstOH := g.lowest("wr_first_oh", wflags)
	first := g.encode("wr_first_stage", firstOH, stBits)
	m.Comb("write unit (engine.md 8)", func(b *ir.Block) {
		b.Set(u.activeN, u.active)
		b.Set(u.ctxN, u.ctx)
		b.Set(u.stageN, u.stage)
		b.Set(u.beatN, u.beat)
		b.Set(u.rrN, u.rr)
		b.If(u.xfer, func(b *ir.Block) {
			b.If(stageLast, func(b *ir.Block) {
				b.Set(u.stageN, restSt)
				b.Set(u.beatN, k(g.BTW, 0))
			}, func(b *ir.Block) {
				b.Set(u.beatN, ir.Add(u.beat, k(g.BTW, 1)))
			})
		}, nil)
		b.If(ir.LOr(ir.LNot(u.active), u.fin), func(b *ir.Block) {
			b.If(any, func(b *ir.Block) {
				b.Set(u.activeN, one1)
				b.Set(u.ctxN, w)
				b.Set(u.stageN, first)
				b.Set(u.beatN, k(g.BTW, 0))
				b.Set(u.rrN, g.after(w))
			}, func(b *ir.Block) {
				b.Set(u.activeN, zero1)
			})
		}, nil)
	})

	// The object image (hashtable.md §3.1, §3.5): header, key, value, zeros.
	hdr := ir.Cat(fit(vlen, 16-z.KL), klen)
	keyImg := g.wire("wr_key_img", ir.Zext(ir.Cat(key, hdr), BeatBits*g.NBEAT))
	keyImg.Comment = "header and key: image bytes 0 .. 2+K-1"
	keyBeat := g.part("wr_key_beat", ir.Shr(keyImg, ir.Cat(u.beat, k(8, 0))))
	// Value byte i of the image sits at byte i + K - kl of ve; beat b is a
	// window of ve at 32b, shifted by K - kl.
	veW := 8 * (32*g.NBEAT + z.K)
	ve := g.wire("wr_val_ext", ir.Zext(ir.Cat(value, k(8*(2+z.K), 0)), veW))
	ve.Comment = "the value after 2+K zero bytes"
	coarse := g.part("wr_val_coarse", ir.Shr(ve, ir.Cat(u.beat, k(8, 0))))
	fineAmt := g.wire("wr_val_fine", ir.Sub(k(z.KL, uint64(z.K)), klen))
	fine := g.part("wr_val_beat", ir.Shr(ir.Bits(coarse, 8*(32+z.K)-1, 0), bytes8(fineAmt)))
	objBeat := g.wire("wr_obj_beat", ir.Or(ir.Bits(fine, BeatBits-1, 0), ir.Bits(keyBeat, BeatBits-1, 0)))

	// Bucket images (engine.md §6.6): the held image, with the new copy
	// placed (HT §4.3) and the link to the new bucket where the plan says.
	tgt := Pl("tgt")
	base := g.part("wr_base", ir.Sel(isSt(stAux), g.bktR.Get(auxm, "img"),
		ir.Sel(isSt(stCur), curm, k(LineBits, 0))))
	pen := g.wire("wr_place", ir.OrAll(isSt(stNew), ir.LAnd(isSt(stAux), ir.Eq(tgt, k(2, tgtAux))),
		ir.LAnd(isSt(stCur), ir.Eq(tgt, k(2, tgtCur)))))
	pen.Comment = "this write carries the new copy"
	lnk := g.wire("wr_link", ir.LAnd(isSt(stCur), Pl("link")))
	pslot := g.wire("wr_slot", ir.Sel(isSt(stNew), k(g.SW, 0), Pl("tslot")))
	run := g.wire("wr_run", ir.Shl(D("need"), pslot))
	soh := g.wire("wr_start_oh", ir.Shl(k(z.S, 1), pslot))
	pm := g.wire("wr_run_mask", ir.Sel(pen, run, k(z.S, 0)))
	ool := g.wire("wr_ool", D("ool"))
	cnewT := fit(g.dataR.Get(data, "cnew"), z.T)
	slotVal := g.wire("wr_ool_slot", ir.Cat(D("sec"), optr))
	oolSlots := vecW(z.S, func(s int) ir.Expr { return ir.And(ir.Rep(8*z.SB, ir.Bit(soh, s)), slotVal) })
	oolTypes := vecW(z.S, func(s int) ir.Expr { return ir.And(ir.Rep(z.T, ir.Bit(soh, s)), cnewT) })
	// Inline: key then value from the slot boundary, K and E marks.
	ka, va := min(z.K, z.A), min(z.V, z.A)
	kvA := g.part("wr_inline_kv", ir.Or(ir.Zext(ir.Bits(key, 8*ka-1, 0), 8*z.A),
		ir.Shl(ir.Zext(ir.Bits(value, 8*va-1, 0), 8*z.A), bytes8(klen))))
	pw := bitsFor(z.A + 2*z.OB)
	sbj := g.wire("wr_slot_byte", ir.Mul(ir.Zext(pslot, pw), k(pw, uint64(z.SB))))
	area := g.wire("wr_inline_area", ir.Shl(kvA, bytes8(sbj)))
	kpos := g.wire("wr_kmark", ir.Sub(ir.Add(sbj, ir.Zext(klen, pw)), k(pw, 1)))
	epos := g.wire("wr_emark", ir.Sub(ir.Add(sbj, ir.Zext(kv, pw)), k(pw, 1)))
	marks := g.wire("wr_marks", ir.Or(ir.Shl(k(z.A, 1), kpos), ir.Shl(k(z.A, 1), epos)))
	inlTypes := vecW(z.S, func(s int) ir.Expr {
		return ir.Sel(ir.Bit(soh, s), k(z.T, g.startCode), ir.Sel(ir.Bit(run, s), k(z.T, g.contCode), k(z.T, 0)))
	})
	var fillParts []ir.Expr
	if up := LineBits - g.NB; up > 0 {
		fillParts = append(fillParts, k(up, 0))
	}
	fillParts = append(fillParts, ir.Sel(ool, k(z.A, 0), marks), ir.Sel(ool, oolTypes, inlTypes), ir.Sel(ool, oolSlots, area))
	fill := g.wire("wr_copy", ir.Cat(fillParts...))
	img1 := g.part("wr_img_placed", ir.Or(ir.And(base, ir.Not(g.slotMask(pm))), ir.Sel(pen, fill, k(LineBits, 0))))
	var linked ir.Expr
	if LineBits-1 > g.CB {
		linked = ir.Cat(ir.Bits(img1, LineBits-1, g.CB+1), one1, bptr, ir.Bits(img1, g.NB-1, 0))
	} else {
		linked = ir.Cat(one1, bptr, ir.Bits(img1, g.NB-1, 0))
	}
	// An update: the KV's value bytes (slot-area bytes sbj+kl .. sbj+kl+vl-1)
	// from the new value, every other byte of cur as read (engine.md 6.7).
	vbeg := g.wire("wr_val_begin", ir.Add(sbj, ir.Zext(klen, pw)))
	vend := g.wire("wr_val_end", ir.Add(sbj, ir.Zext(kv, pw)))
	vmask := g.wire("wr_val_mask", ir.And(lowMask(8*z.A, bytes8(vend)), ir.Shl(ir.Ones(8*z.A), bytes8(vbeg))))
	vmask.Comment = "an update's value bytes in the slot area"
	updImg := g.wire("wr_img_update", ir.Or(ir.And(base, ir.Not(ir.Zext(vmask, LineBits))), ir.Zext(ir.And(area, vmask), LineBits)))
	img := g.wire("wr_img", ir.Sel(upd, updImg, ir.Sel(lnk, linked, img1)))
	bktBeat := ir.Sel(ir.Bit(u.beat, 0), ir.Bits(img, LineBits-1, BeatBits), ir.Bits(img, BeatBits-1, 0))

	objLine := g.ptrLine(g.part("wr_obj_at", ir.Sel(Pl("same"), Pl("oldptr"), optr)))
	line := ir.Sel(isSt(stObj), objLine, ir.Sel(isSt(stNew), g.ptrLine(bptr),
		ir.Sel(isSt(stAux), g.bktR.Get(auxm, "line"), curml)))
	m.Assign(g.wrValid, u.active)
	m.Assign(g.wrAddr, ir.Cat(ir.Add(line, ir.Zext(u.beat, g.LW)), k(5, 0)))
	m.Assign(g.wrData, ir.Sel(isSt(stObj), objBeat, bktBeat))
	m.Seq(g.clk, "write unit registers", func(b *ir.Block) {
		for _, p := range [][2]*ir.Signal{{u.active, u.activeN}, {u.ctx, u.ctxN}, {u.stage, u.stageN}, {u.beat, u.beatN}, {u.rr, u.rrN}} {
			b.Set(p[0], p[1])
		}
		b.If(g.rst, func(b *ir.Block) {
			b.Set(u.active, zero1)
			b.Set(u.stage, k(stBits, 0))
			b.Set(u.beat, k(g.BTW, 0))
			b.Set(u.rr, k(z.CW, 0))
		}, nil)
	})
}

// ---- the response unit (engine.md §9) ---------------------------------------------------------

type respUnit struct {
	rr, rrN, any, oh, w, succ *ir.Signal
}

func (g *gen) responseSelect() {
	z, m, r := g.z, g.m, &g.rsp
	r.rr, r.rrN = m.RegPair("rsp_rr", z.CW)
	r.any, r.oh, r.w = g.rrPick("rsp_pick", g.phResp.r, r.rr)
}

func (g *gen) responseUnit() {
	z, m, r := g.z, g.m, &g.rsp
	np := g.rrNext("rsp_npick", g.phResp.n, r.rrN)
	const exToResp = "bypassed: a context the execute unit sends to RESP can answer the next cycle"
	info := g.readAhead("rsp_info", g.infoMem, np, true, "bypassed: a refused request answers the cycle after its acceptance")
	exSt := g.readAhead("rsp_ex_st", g.stMem, np, true, exToResp)
	data := g.readAhead("rsp_data", g.rspMem, np, true, exToResp)
	r.succ = g.readAhead("rsp_succ", g.succMem, np, true,
		"bypassed: acceptance links a request behind a context that can answer the next cycle")
	vres := g.readAhead("rsp_vres", g.vresMem, np, true,
		"bypassed: a context the vector unit's result sends to RESP can answer the next cycle")
	accSt := g.wire("rsp_acc_st", g.infoR.Get(info, "status"))
	st := g.wire("rsp_st", ir.Sel(g.stNoMem.at(r.w), k(StatusBits, StNoMemory),
		ir.Sel(g.stFault.at(r.w), k(StatusBits, StLambdaFault),
			ir.Sel(ir.Ne(accSt, k(StatusBits, StOK)), accSt, exSt))))
	st.Comment = "the last status written: a refusal at acceptance, else the execute unit's, unless an alloc or the vector unit failed since"
	op := g.wire("rsp_op", g.infoR.Get(info, "op"))
	withValue := g.wire("rsp_with_value", ir.LAnd(ir.LOr(ir.Eq(op, k(OpBits, OpGet)), ir.Bit(op, 2)), ir.Eq(st, k(StatusBits, StOK))))
	withValue.Comment = "GET or a vector operation, OK: the response carries a value"
	fromVec := g.wire("rsp_from_vec", ir.LAnd(ir.Bit(op, 2), ir.Bit(op, 1)))
	fromVec.Comment = "REDUCE, FILTER: the value is kvd_vec's out_resp (an update answers the stored value, rsp_mem)"
	m.Assign(g.rspValid, r.any)
	m.Assign(g.rspTag, g.infoR.Get(info, "tag"))
	m.Assign(g.rspStatus, st)
	m.Assign(g.rspVlen, ir.Sel(withValue, ir.Sel(fromVec, g.vresR.Get(vres, "vlen"), g.rspR.Get(data, "vlen")), k(z.VL, 0)))
	m.Assign(g.rspValue, ir.Sel(withValue, ir.Sel(fromVec, g.vresR.Get(vres, "value"), g.rspR.Get(data, "value")), k(8*z.V, 0)))
	m.Comb("response unit (engine.md 9)", func(b *ir.Block) {
		b.Set(r.rrN, r.rr)
		b.If(r.any, func(b *ir.Block) { b.Set(r.rrN, g.after(r.w)) }, nil)
	})
	m.Seq(g.clk, "response unit registers", func(b *ir.Block) {
		b.Set(r.rr, r.rrN)
		b.If(g.rst, func(b *ir.Block) { b.Set(r.rr, k(z.CW, 0)) }, nil)
	})
}

// ---- context phases and flags: every unit's moves ---------------------------------------------

func (g *gen) contextState() {
	m := g.m
	a, e, s, u, r, v := &g.acc, &g.ex, &g.sl, &g.wr, &g.rsp, &g.vc
	x := g.rq.execX
	exTo := func(p int) ir.Expr { return ir.Eq(e.phase, k(exBits, uint64(p))) }
	m.Comb("context phases and flags (engine.md 3): each unit moves the contexts it owns", func(b *ir.Block) {
		for _, v := range g.vecs {
			b.Set(v.n, v.r)
		}
		b.If(a.fire, func(b *ir.Block) {
			b.Note("4: the lowest FREE context takes the request")
			g.phFree.set(b, a.x, zero1)
			g.fresh.set(b, a.x, one1)
			b.If(a.ok, func(b *ir.Block) {
				g.lock.set(b, a.x, one1)
				b.If(a.link, func(b *ir.Block) {
					g.hasSucc.set(b, a.m, one1)
				}, func(b *ir.Block) {
					g.phRead.set(b, a.x, one1)
				})
			}, func(b *ir.Block) {
				g.phResp.set(b, a.x, one1)
			})
		}, nil)
		b.If(g.rd.load, func(b *ir.Block) {
			b.Note("5.1: READ -> RWAIT")
			g.phRead.set(b, g.rd.w, zero1)
		}, nil)
		b.If(ir.LAnd(g.rdataValid, g.rdataErr), func(b *ir.Block) {
			g.errV.set(b, g.rq.h, one1)
		}, nil)
		b.If(g.rq.execV, func(b *ir.Block) {
			b.Note("6: EXEC -> READ, RESP, WRITE, ALLOC or VEC")
			g.fresh.set(b, x, zero1)
			b.If(exTo(exRead), func(b *ir.Block) { g.phRead.set(b, x, one1) }, nil)
			b.If(exTo(exResp), func(b *ir.Block) { g.phResp.set(b, x, one1) }, nil)
			b.If(exTo(exWrite), func(b *ir.Block) { g.phWrite.set(b, x, one1) }, nil)
			b.If(exTo(exAlloc), func(b *ir.Block) { g.phAlloc.set(b, x, one1) }, nil)
			b.If(exTo(exVec), func(b *ir.Block) { g.phVec.set(b, x, one1) }, nil)
			g.paObj.set(b, x, ir.LAnd(e.plObj, ir.LNot(e.same)))
			g.paBkt.set(b, x, e.plNew)
			g.hold.set(b, x, zero1)
			g.frBkt.set(b, x, e.unlink)
			g.frNew.set(b, x, zero1)
			b.If(e.found, func(b *ir.Block) {
				g.frOld.set(b, x, ir.LAnd(e.fool, ir.LNot(e.same)))
			}, func(b *ir.Block) {
				b.If(ir.LNot(e.placeMode), func(b *ir.Block) { g.frOld.set(b, x, zero1) }, nil)
			})
			g.plObj.set(b, x, e.plObj)
			g.plNew.set(b, x, e.plNew)
			g.plAux.set(b, x, e.plAux)
			g.plCur.set(b, x, e.plCur)
		}, nil)
		b.If(g.alRspValid, func(b *ir.Block) {
			b.Note("7 answer: AWAIT -> ALLOC, WRITE, FREEING or RESP")
			c := s.wctx
			b.If(g.alRspOK, func(b *ir.Block) {
				b.If(s.wkind, func(b *ir.Block) { g.hold.set(b, c, one1) }, nil)
				b.If(g.paBkt.at(c), func(b *ir.Block) {
					g.phAlloc.set(b, c, one1)
				}, func(b *ir.Block) {
					g.phWrite.set(b, c, one1)
				})
			}, func(b *ir.Block) {
				g.stNoMem.set(b, c, one1)
				g.frOld.set(b, c, zero1)
				b.If(g.hold.at(c), func(b *ir.Block) {
					g.frNew.set(b, c, one1)
					g.phFreeing.set(b, c, one1)
				}, func(b *ir.Block) {
					g.phResp.set(b, c, one1)
				})
			})
		}, nil)
		b.If(s.xferFree, func(b *ir.Block) {
			b.Note("7 transfer of a free: FWAIT -> FREEING or RESP")
			b.If(s.more, func(b *ir.Block) {
				g.phFreeing.set(b, s.ctx, one1)
			}, func(b *ir.Block) {
				g.phResp.set(b, s.ctx, one1)
			})
		}, nil)
		b.If(s.load, func(b *ir.Block) {
			b.Note("7 load: ALLOC -> AWAIT, FREEING -> FWAIT")
			b.If(s.wAlloc, func(b *ir.Block) {
				g.phAlloc.set(b, s.w, zero1)
				b.If(s.wObj, func(b *ir.Block) {
					g.paObj.set(b, s.w, zero1)
				}, func(b *ir.Block) {
					g.paBkt.set(b, s.w, zero1)
				})
			}, func(b *ir.Block) {
				g.phFreeing.set(b, s.w, zero1)
				b.If(s.fb, func(b *ir.Block) {
					g.frBkt.set(b, s.w, zero1)
				}, func(b *ir.Block) {
					b.If(s.fo, func(b *ir.Block) {
						g.frOld.set(b, s.w, zero1)
					}, func(b *ir.Block) {
						g.frNew.set(b, s.w, zero1)
					})
				})
			})
		}, nil)
		b.If(v.outValid, func(b *ir.Block) {
			b.Note("8A result: VWAIT -> WRITE (an update) or RESP")
			b.If(v.toWrite, func(b *ir.Block) {
				g.phWrite.set(b, v.ctx, one1)
			}, func(b *ir.Block) {
				g.phResp.set(b, v.ctx, one1)
			})
			b.If(v.outFault, func(b *ir.Block) { g.stFault.set(b, v.ctx, one1) }, nil)
		}, nil)
		b.If(v.load, func(b *ir.Block) {
			b.Note("8A load: VEC -> VWAIT")
			g.phVec.set(b, v.w, zero1)
		}, nil)
		b.If(u.fin, func(b *ir.Block) {
			b.Note("8: the plan's last beat: WBUSY -> FREEING or RESP")
			b.If(ir.LOr(g.frBkt.at(u.ctx), g.frOld.at(u.ctx)), func(b *ir.Block) {
				g.phFreeing.set(b, u.ctx, one1)
			}, func(b *ir.Block) {
				g.phResp.set(b, u.ctx, one1)
			})
		}, nil)
		b.If(u.load, func(b *ir.Block) {
			b.Note("8: WRITE -> WBUSY")
			g.phWrite.set(b, u.w, zero1)
		}, nil)
		b.If(r.any, func(b *ir.Block) {
			b.Note("9: the response retires its context and unblocks the successor")
			g.phResp.set(b, r.w, zero1)
			g.phFree.set(b, r.w, one1)
			g.lock.set(b, r.w, zero1)
			g.errV.set(b, r.w, zero1)
			g.stNoMem.set(b, r.w, zero1)
			g.stFault.set(b, r.w, zero1)
			b.If(g.hasSucc.at(r.w), func(b *ir.Block) {
				g.hasSucc.set(b, r.w, zero1)
				g.phRead.set(b, r.succ, one1)
			}, nil)
		}, nil)
	})
	m.Seq(g.clk, "context phases and flags", func(b *ir.Block) {
		for _, v := range g.vecs {
			b.Set(v.r, v.n)
		}
		b.If(g.rst, func(b *ir.Block) {
			for _, v := range g.vecs {
				if v.reset {
					b.Set(v.r, v.rv)
				}
			}
		}, nil)
	})
}

// ---- per-context storage: the write ports (ram.go emits them) ---------------------------------

func (g *gen) storage() {
	z, m := g.z, g.m
	a, e, v, sl := &g.acc, &g.ex, &g.vc, &g.sl
	x := g.rq.execX
	g.dataMem.writes(a.fire, a.x, g.dataR.Pack(map[string]ir.Expr{
		"key": a.key, "klen": g.reqKlen, "vlen": g.reqVlen, "sec": g.reqSec,
		"op": g.reqOp, "ool": a.ool, "cnew": a.cnew, "need": a.need,
		"fid": g.reqFid, "delta": g.reqDelta, "cmp": g.reqCmp, "swap": g.reqSwap,
	}))
	g.valMem.writes(a.fire, a.x, a.value)
	g.infoMem.writes(a.fire, a.x, g.infoR.Pack(map[string]ir.Expr{"tag": g.reqTag, "op": g.reqOp, "cnew": a.cnew, "status": a.status}))
	g.rootMem.writes(a.fire, a.x, g.reqBucket)
	g.succMem.writes(ir.AndAll(a.fire, a.ok, a.link), a.m, a.x)
	g.walkMem.writes(g.rq.execV, x, e.walkW)
	g.curMem.writes(g.rq.execV, x, e.curW)
	g.curLMem.writes(g.rq.execV, x, e.curLW)
	g.auxMem.writes(g.rq.execV, x, e.auxW)
	g.planMem.writes(g.rq.execV, x, e.planW)
	g.stMem.writes(g.rq.execV, x, e.status)
	g.rspMem.writes(g.rq.execV, x, e.rspW)
	g.optrMem.writes(ir.AndAll(g.alRspValid, g.alRspOK, sl.wkind), sl.wctx, g.alRspPtr)
	g.bptrMem.writes(ir.AndAll(g.alRspValid, g.alRspOK, ir.LNot(sl.wkind)), sl.wctx, g.alRspPtr)
	g.vresMem.writes(v.outValid, v.ctx, g.vresR.Pack(map[string]ir.Expr{
		"value": ir.Sel(v.upd, v.outNew, v.outResp), "vlen": ir.Sel(v.upd, v.vlen, v.outRlen),
	}))
	m.Seq(g.clk, "per context: the index bucket, compared at acceptance (flip-flops)", func(b *ir.Block) {
		for c := 0; c < z.C; c++ {
			b.If(ir.LAnd(a.fire, ir.Bit(a.oh, c)), func(b *ir.Block) {
				b.Set(g.bucketRegs[c], g.reqBucket)
			}, nil)
		}
	})
}
