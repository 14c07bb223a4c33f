// Package rs is the golden model of the reservation station, kvd_rs
// (docs/microarch/rs.md, with the conventions of docs/microarch.md §1),
// written from that document only.
//
// The station keeps at most one operation per slot in the main pipeline,
// chains the others per slot in arrival order, caches the value of the key
// whose operation completed last and executes dependent operations against
// it at one per clock (§4, §5). Step follows §1.1: the outputs of a cycle
// come from the state at its start (the heads of the output queues PQ and
// RQ, and req_ready), then the state advances by §5 A (completion side),
// B (arrival side), C (output queues) and the completion queue CQ, which is
// the §3 FIFO of golden/fifo.
//
// This is rs.md v3.1 (§10, a delta on §9, itself a delta on §5): requests
// are accepted into the arrival stage X and act from it a cycle or more
// later (req_ready depends on state only); X waits while its slot is walked
// or has a completion in D1 or D2; completions leave CQ into the completion
// line D1, D2 and are acted on from D2 (WALK / ADVANCE); a walk's first
// step comes in the cycle after the COMPLETE that starts it (v3's WAIT
// cycle and walk.wait are gone); a PQ entry drives pipe_* from the second
// cycle after its push. The rest is v2's:
// 3-bit wire opcodes (the vector operations 4–7 pass through to the
// pipeline in slot order), 4-bit wire status codes, a value length with the
// value's first 8 bytes (only short values, vlen ≤ 8, are cached and
// served), an opaque aux, and pipe_ready back-pressure.
//
// With Params.IC (rs.idle_cache, §11, v4a) an idle slot keeps its cache and
// answers GETs of the cached key from it; with IC off the model is v3.1.
package rs

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/fifo"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
)

// Operation codes (rs.md §1: the wire's opcodes, wire-format.md §3.2).
const (
	OpGet       = 0
	OpPut       = 1
	OpDelete    = 2
	OpAtomic    = 3 // the wire's UPDATE_S2S
	OpUpdateS2V = 4 // 4–7: the vector operations, never executed here
	OpUpdateV2V = 5
	OpReduce    = 6
	OpFilter    = 7
)

// IsVector reports whether op is one of the vector operations (4–7), which
// the station only passes to the pipeline in its slot's order (rs.md §1).
func IsVector(op int) bool { return op >= OpUpdateS2V && op <= OpFilter }

// Status codes (rs.md §1: wire-format.md §5's). Every code but OK and
// NOT_FOUND is an error; the station answers its own λ faults with
// LAMBDA_FAULT and passes the pipeline's codes through unchanged.
const (
	StatusOK          = 0
	StatusNotFound    = 1
	StatusNoMemory    = 5
	StatusMemError    = 6
	StatusLambdaFault = 8
)

// IsError reports whether a status code is an error (rs.md §1).
func IsError(status int) bool { return status != StatusOK && status != StatusNotFound }

// Fixed sizes (rs.md §1, §2).
const (
	QueueCap  = 16 // Q, the capacity of PQ and RQ
	TagBits   = 16
	OpBits    = 3
	StatBits  = 4
	ValueBits = 64 // a value's first 8 bytes
	ShortMax  = 8  // a value is short when vlen ≤ 8 bytes
)

// Evaluator applies λ function fid to W-bit operands. The result is masked
// to W bits by the station. fid is always < N when the station calls it.
// fault means the λ's evaluation fails for these operands
// (docs/microarch/lambda.md): the station answers LAMBDA_FAULT and changes
// nothing (docs/microarch/rs.md §4). err means the evaluator itself broke.
type Evaluator interface {
	Eval(fid int, old, delta, cmp, swap uint64) (value uint64, fault bool, err error)
}

// FuncEvaluator adapts a function that never faults to Evaluator.
type FuncEvaluator func(fid int, old, delta, cmp, swap uint64) uint64

// Eval implements Evaluator.
func (f FuncEvaluator) Eval(fid int, old, delta, cmp, swap uint64) (uint64, bool, error) {
	return f(fid, old, delta, cmp, swap), false, nil
}

// Lambdas evaluates the configured λs with golden/lambda (expr itself).
type Lambdas struct{ E *lambda.Evaluator }

// NewLambdas builds the evaluator of cfg's registered λs.
func NewLambdas(cfg config.Config) (Lambdas, error) {
	e, err := lambda.NewEvaluator(cfg)
	return Lambdas{E: e}, err
}

// Eval implements Evaluator.
func (l Lambdas) Eval(fid int, old, delta, cmp, swap uint64) (uint64, bool, error) {
	return l.E.Eval(uint64(fid), old, delta, cmp, swap)
}

// Params are the sizes of rs.md §1 for one configuration.
type Params struct {
	M   int  // operation ids (rs.max_inflight)
	R   int  // slots (rs.slots)
	S   int  // slot index width
	I   int  // id width: bits to hold 0..M+R-1
	K   int  // key bytes
	KL  int  // key-length width
	VM  int  // largest value in bytes (key.max_value_bytes)
	VL  int  // value-length width: bits to hold 0..VM
	W   int  // scalar width (λ operands and results)
	N   int  // registered λs
	F   int  // function-id width: bits to hold 0..N (lambda.md §2.4)
	A   int  // aux width, a generator parameter (default BI + H)
	FWD bool // forwarding
	IC  bool // idle slots keep their cache for GETs (rs.idle_cache, §11)
}

// DefaultAux is the processor's aux width for cfg: BI + H, the key's bucket
// index and secondary hash (rs.md §1, processor.md §4).
func DefaultAux(cfg config.Config) int { return cfg.BucketIndexBits() + cfg.Bucket.SecHashBits }

// ParamsOf derives the sizes of rs.md §1 from cfg, with the default aux
// width A = DefaultAux(cfg). Set p.A for another width (NewWithAux).
func ParamsOf(cfg config.Config) Params {
	m, r := cfg.RS.MaxInflight, cfg.RS.Slots
	n := len(cfg.Atomic.Lambdas)
	return Params{
		M: m, R: r,
		S:  cfg.RSSlotBits(),
		I:  bits.Len(uint(m + r - 1)),
		K:  cfg.Key.MaxKeyBytes,
		KL: cfg.KeyLenBits(),
		VM: cfg.Key.MaxValueBytes,
		VL: bits.Len(uint(max(cfg.Key.MaxValueBytes, 8))), // an atomic answers 8 bytes whatever VM

		W:   cfg.Atomic.ScalarBits,
		N:   n,
		F:   lambda.FidBits(n),
		A:   DefaultAux(cfg),
		FWD: cfg.RS.Forwarding,
		IC:  cfg.RS.IdleCache && cfg.RS.Forwarding, // §11: no effect without forwarding
	}
}

// Ports returns the ports of kvd_rs for cfg (default aux width), in the
// order of rs.md §2.
func Ports(cfg config.Config) []model.Port { return ParamsOf(cfg).Ports() }

// Ports returns the ports of kvd_rs for these sizes, in the order of rs.md
// §2.
func (p Params) Ports() []model.Port {
	in := func(name string, w int) model.Port { return model.Port{Name: name, Dir: model.In, Width: w} }
	out := func(name string, w int, q string) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	const pv, rv = "pipe_valid", "resp_valid"
	return []model.Port{
		in("req_valid", 1),
		out("req_ready", 1, ""),
		in("req_op", OpBits),
		in("req_fid", p.F),
		in("req_key", 8*p.K),
		in("req_klen", p.KL),
		in("req_slot", p.S),
		in("req_vlen", p.VL),
		in("req_value", ValueBits),
		in("req_delta", p.W),
		in("req_cmp", p.W),
		in("req_swap", p.W),
		in("req_aux", p.A),
		in("req_tag", TagBits),
		out("pipe_valid", 1, ""),
		in("pipe_ready", 1),
		out("pipe_id", p.I, pv),
		out("pipe_tag", TagBits, pv),
		out("pipe_op", OpBits, pv),
		out("pipe_fid", p.F, pv),
		out("pipe_key", 8*p.K, pv),
		out("pipe_klen", p.KL, pv),
		out("pipe_vlen", p.VL, pv),
		out("pipe_value", ValueBits, pv),
		out("pipe_delta", p.W, pv),
		out("pipe_cmp", p.W, pv),
		out("pipe_swap", p.W, pv),
		out("pipe_aux", p.A, pv),
		in("cpl_valid", 1),
		in("cpl_id", p.I),
		in("cpl_status", StatBits),
		in("cpl_vlen", p.VL),
		in("cpl_value", ValueBits),
		out("resp_valid", 1, ""),
		out("resp_tag", TagBits, rv),
		out("resp_status", StatBits, rv),
		out("resp_vlen", p.VL, rv),
		out("resp_value", ValueBits, rv),
	}
}

// Life of an operation id (model bookkeeping, used to reject impossible
// completions; not part of the block's state in rs.md §3).
const (
	idFree      = iota
	idChained   // waiting in a slot's chain
	idQueued    // in PQ, not yet taken by the pipeline
	idIssued    // taken by the pipeline (pipe_valid && pipe_ready), not yet completed
	idCompleted // its completion is in CQ
)

var idStateName = [...]string{"free", "chained", "queued in PQ", "issued", "completed (in CQ)"}

// opRec is ops[id] and next[id] of §3; the key lives in state.okey.
type opRec struct {
	value, delta, cmp, swap uint64
	klen, vlen, aux         uint64
	next                    int32
	slot                    int32
	tag                     uint16
	op, fid                 uint8
	life                    uint8
}

// slotRec is the per-slot state of §3; the cached key lives in state.ckey.
type slotRec struct {
	cval, cvlen, cklen, caux    uint64
	head, tail, n               int32
	busy, wb, cv, cfound, dirty bool
	wbLife                      uint8 // idFree (none), idQueued, idIssued, idCompleted
}

// pqEnt is one pipeline operation in PQ; its key lives in state.pqKey. at
// is the cycle it was pushed in (§9.1): it drives pipe_* from cycle at+2.
type pqEnt struct {
	id, klen, vlen, value uint64
	delta, cmp, swap, aux uint64
	at                    uint64
	tag                   uint16
	op, fid               uint8
}

// lineEnt is one entry of the completion line D1, D2 (§9.1): a CQ entry.
type lineEnt struct {
	valid                   bool
	id, status, vlen, value uint64
}

type rqEnt struct {
	vlen, value uint64
	tag         uint16
	status      uint8
}

// state is everything Step changes except the CQ, whose state is the
// golden/fifo model's.
type state struct {
	ops   []opRec
	okey  []uint64 // M × kw words: ops[id].key, masked
	slots []slotRec
	ckey  []uint64 // R × kw words: ckey[s]

	free             []int32 // ring of M ids
	freeHead, freeN  int
	walkActive       bool
	walkSlot         int32
	walkCur, walkPrv int32 // walkPrv < 0: none

	// §9.1: the arrival stage X (a request: op, fid, klen, slot, vlen,
	// value, delta, cmp, swap, aux, tag in x; its masked key in xkey) and
	// the completion line D1, D2.
	xValid bool
	x      opRec
	xkey   []uint64 // kw words
	d1, d2 lineEnt

	pq            [QueueCap]pqEnt
	pqKey         []uint64 // QueueCap × kw words
	pqHead, pqN   int
	rq            [QueueCap]rqEnt
	rqHead, rqN   int
	cycle         uint64 // cycles since reset (for messages)
	busyN, chainN int    // busy slots; chained operations (for DescribeState)
	stalls        uint64 // cycles the completion side waited on |PQ| = Q (for DescribeState)
	waits         Waits  // why X waited (§10.1 B), for the processor's bench
	idleHits      uint64 // GETs answered from an idle slot's cache (§11)
}

// Waits count the cycles in which the arrival stage X held a request that
// did not go (§10.1 B), by each term that held it; a cycle counts under
// every term false in it, so the counts may add up to more than Held.
type Waits struct {
	Held uint64 // cycles X was valid and did not go
	NoID uint64 // |free| = 0: every id is in flight (M operations)
	PQ   uint64 // |PQ| > Q-2: the pipeline is not taking
	RQ   uint64 // |RQ| > Q-2
	Walk uint64 // X's slot is being walked
	Line uint64 // a completion for X's slot is in D1 or D2
}

func (s *state) clone() state {
	c := *s
	c.ops = append([]opRec(nil), s.ops...)
	c.okey = append([]uint64(nil), s.okey...)
	c.slots = append([]slotRec(nil), s.slots...)
	c.ckey = append([]uint64(nil), s.ckey...)
	c.free = append([]int32(nil), s.free...)
	c.pqKey = append([]uint64(nil), s.pqKey...)
	c.xkey = append([]uint64(nil), s.xkey...)
	return c
}

func (s *state) copyFrom(o *state) {
	ops, okey, slots, ckey, free, pqKey, xkey := s.ops, s.okey, s.slots, s.ckey, s.free, s.pqKey, s.xkey
	copy(ops, o.ops)
	copy(okey, o.okey)
	copy(slots, o.slots)
	copy(ckey, o.ckey)
	copy(free, o.free)
	copy(pqKey, o.pqKey)
	copy(xkey, o.xkey)
	*s = *o
	s.ops, s.okey, s.slots, s.ckey, s.free, s.pqKey, s.xkey = ops, okey, slots, ckey, free, pqKey, xkey
}

type snapshot struct {
	st state
	cq any
}

// Model is the cycle-accurate golden model of kvd_rs.
type Model struct {
	p     Params
	eval  Evaluator
	ports []model.Port

	kw                    int    // words of a key
	keyTop                uint64 // valid bits of a key's last word
	maskI, maskS, maskKL  uint64
	maskVL, maskW, maskF  uint64
	maskA                 uint64
	cqW                   int // CQ data width I+4+VL+64
	cqIn, cqOut           []uint64
	cqInValid, cqInDat    int
	cqOutReady, cqInReady int
	cqOutValid, cqOutDat  int
	cqWords               int

	// word offsets of the ports in the input and output vectors
	iReqValid, iReqOp, iReqFid, iReqKey, iReqKlen, iReqSlot     int
	iReqVlen, iReqValue, iReqDelta, iReqCmp, iReqSwap, iReqAux  int
	iReqTag, iPipeReady                                         int
	iCplValid, iCplID, iCplStatus, iCplVlen, iCplValue          int
	oReqReady, oPipeValid, oPipeID, oPipeTag, oPipeOp, oPipeFid int
	oPipeKey, oPipeKlen, oPipeVlen, oPipeValue                  int
	oPipeDelta, oPipeCmp, oPipeSwap, oPipeAux                   int
	oRespValid, oRespTag, oRespStatus, oRespVlen, oRespValue    int

	cq  *fifo.Model
	st  state
	err error // first impossibility found during a Step
}

// New builds the model for cfg, in its reset state, with the default aux
// width (DefaultAux). eval supplies the λs; N = len(cfg.Atomic.Lambdas).
func New(cfg config.Config, eval Evaluator) (*Model, error) {
	return NewWithAux(cfg, eval, DefaultAux(cfg))
}

// NewWithAux is New with aux width a (rs.md §1: A is a generator
// parameter, 1..64 here).
func NewWithAux(cfg config.Config, eval Evaluator, a int) (*Model, error) {
	if eval == nil {
		return nil, fmt.Errorf("rs: nil Evaluator")
	}
	p := ParamsOf(cfg)
	p.A = a
	switch {
	case p.R < 2 || p.R&(p.R-1) != 0:
		return nil, fmt.Errorf("rs: rs.slots = %d, want a power of two, at least 2", p.R)
	case p.M < 1:
		return nil, fmt.Errorf("rs: rs.max_inflight = %d, want at least 1", p.M)
	case p.K < 1:
		return nil, fmt.Errorf("rs: key.max_key_bytes = %d, want at least 1", p.K)
	case p.VM < 1:
		return nil, fmt.Errorf("rs: key.max_value_bytes = %d, want at least 1", p.VM)
	case p.W < 1 || p.W > 64:
		return nil, fmt.Errorf("rs: atomic.scalar_bits = %d, want 1..64", p.W)
	case p.A < 1 || p.A > 64:
		return nil, fmt.Errorf("rs: aux width A = %d, want 1..64", p.A)
	case p.I > 31 || p.KL > 64 || p.S > 31 || p.VL > 63 || p.F > 8:
		return nil, fmt.Errorf("rs: widths I=%d KL=%d S=%d VL=%d F=%d out of range", p.I, p.KL, p.S, p.VL, p.F)
	}
	ports := p.Ports()
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("rs: %v", err)
	}
	m := &Model{p: p, eval: eval, ports: ports}
	m.kw = model.Words(8 * p.K)
	m.keyTop = model.Mask(8*p.K - 64*(m.kw-1))
	m.maskI, m.maskS, m.maskKL = model.Mask(p.I), model.Mask(p.S), model.Mask(p.KL)
	m.maskVL, m.maskW, m.maskF = model.Mask(p.VL), model.Mask(p.W), model.Mask(p.F)
	m.maskA = model.Mask(p.A)

	off := func(name string) int { return lay.MustSlot(name).Off }
	m.iReqValid, m.iReqOp, m.iReqFid = off("req_valid"), off("req_op"), off("req_fid")
	m.iReqKey, m.iReqKlen, m.iReqSlot = off("req_key"), off("req_klen"), off("req_slot")
	m.iReqVlen, m.iReqValue = off("req_vlen"), off("req_value")
	m.iReqDelta, m.iReqCmp, m.iReqSwap = off("req_delta"), off("req_cmp"), off("req_swap")
	m.iReqAux, m.iReqTag, m.iPipeReady = off("req_aux"), off("req_tag"), off("pipe_ready")
	m.iCplValid, m.iCplID, m.iCplStatus = off("cpl_valid"), off("cpl_id"), off("cpl_status")
	m.iCplVlen, m.iCplValue = off("cpl_vlen"), off("cpl_value")
	m.oReqReady, m.oPipeValid, m.oPipeID, m.oPipeTag = off("req_ready"), off("pipe_valid"), off("pipe_id"), off("pipe_tag")
	m.oPipeOp, m.oPipeFid, m.oPipeKey, m.oPipeKlen = off("pipe_op"), off("pipe_fid"), off("pipe_key"), off("pipe_klen")
	m.oPipeVlen, m.oPipeValue = off("pipe_vlen"), off("pipe_value")
	m.oPipeDelta, m.oPipeCmp, m.oPipeSwap, m.oPipeAux = off("pipe_delta"), off("pipe_cmp"), off("pipe_swap"), off("pipe_aux")
	m.oRespValid, m.oRespTag, m.oRespStatus = off("resp_valid"), off("resp_tag"), off("resp_status")
	m.oRespVlen, m.oRespValue = off("resp_vlen"), off("resp_value")

	// CQ: a §3 FIFO of depth R and width I+4+VL+64 (rs.md §3).
	m.cqW = p.I + StatBits + p.VL + ValueBits
	m.cq, err = fifo.New(m.cqW, p.R)
	if err != nil {
		return nil, fmt.Errorf("rs: CQ: %v", err)
	}
	cl, err := model.NewLayout(m.cq.Ports())
	if err != nil {
		return nil, fmt.Errorf("rs: CQ: %v", err)
	}
	m.cqInValid, m.cqInDat, m.cqOutReady = cl.MustSlot("in_valid").Off, cl.MustSlot("in_data").Off, cl.MustSlot("out_ready").Off
	m.cqInReady, m.cqOutValid, m.cqOutDat = cl.MustSlot("in_ready").Off, cl.MustSlot("out_valid").Off, cl.MustSlot("out_data").Off
	m.cqWords = model.Words(m.cqW)
	m.cqIn = make([]uint64, cl.InWords)
	m.cqOut = make([]uint64, cl.OutWords)

	m.st = state{
		ops:   make([]opRec, p.M),
		okey:  make([]uint64, p.M*m.kw),
		slots: make([]slotRec, p.R),
		ckey:  make([]uint64, p.R*m.kw),
		free:  make([]int32, p.M),
		pqKey: make([]uint64, QueueCap*m.kw),
		xkey:  make([]uint64, m.kw),
	}
	m.Reset()
	return m, nil
}

// Params returns the sizes the model was built with.
func (m *Model) Params() Params { return m.p }

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset puts the model in its state after reset (rs.md §3: everything zero,
// the free-id FIFO 0, 1, …, M-1; CQ empty). Data registers are zeroed too:
// none of them is observable before it is written.
func (m *Model) Reset() {
	st := &m.st
	clear(st.ops)
	clear(st.okey)
	clear(st.slots)
	clear(st.ckey)
	clear(st.pqKey)
	clear(st.xkey)
	st.xValid, st.x = false, opRec{}
	st.d1, st.d2 = lineEnt{}, lineEnt{}
	for i := range st.free {
		st.free[i] = int32(i)
	}
	st.freeHead, st.freeN = 0, m.p.M
	st.walkActive, st.walkSlot, st.walkCur, st.walkPrv = false, 0, 0, -1
	st.pq = [QueueCap]pqEnt{}
	st.rq = [QueueCap]rqEnt{}
	st.pqHead, st.pqN, st.rqHead, st.rqN = 0, 0, 0, 0
	st.cycle, st.busyN, st.chainN, st.stalls = 0, 0, 0, 0
	st.waits = Waits{}
	st.idleHits = 0
	m.cq.Reset()
	m.err = nil
}

// Snapshot implements model.Model; the value shares nothing with the model.
func (m *Model) Snapshot() any { return snapshot{st: m.st.clone(), cq: m.cq.Snapshot()} }

// Restore implements model.Model; the snapshot stays valid for further
// restores.
func (m *Model) Restore(s any) {
	sn, ok := s.(snapshot)
	if !ok || len(sn.st.ops) != m.p.M || len(sn.st.slots) != m.p.R || len(sn.st.okey) != len(m.st.okey) || len(sn.st.xkey) != m.kw {
		panic(fmt.Sprintf("rs: Restore of a %T that is not a snapshot of this configuration", s))
	}
	m.st.copyFrom(&sn.st)
	m.cq.Restore(sn.cq)
	m.err = nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// lineSlot is slot(e) of §9.2: e.id - M for a write-back's entry, else
// ops[e.id].slot.
func (m *Model) lineSlot(e *lineEnt) int32 {
	if e.id >= uint64(m.p.M) {
		return int32(e.id - uint64(m.p.M))
	}
	return m.st.ops[e.id].slot
}

// xGoes is §10.1 B (§9.2 B with the D1 term): whether X goes this cycle,
// on the state at its start — the D1 and D2 terms whatever A then does.
func (m *Model) xGoes() bool {
	st := &m.st
	return st.xValid && st.freeN >= 1 && st.pqN <= QueueCap-2 && st.rqN <= QueueCap-2 &&
		!(st.walkActive && st.x.slot == st.walkSlot) &&
		!(st.d1.valid && m.lineSlot(&st.d1) == st.x.slot) &&
		!(st.d2.valid && m.lineSlot(&st.d2) == st.x.slot)
}

// countWait adds a cycle in which X did not go to each term of §10.1 B
// that held it.
func (m *Model) countWait() {
	st := &m.st
	w := &st.waits
	w.Held++
	if st.freeN < 1 {
		w.NoID++
	}
	if st.pqN > QueueCap-2 {
		w.PQ++
	}
	if st.rqN > QueueCap-2 {
		w.RQ++
	}
	if st.walkActive && st.x.slot == st.walkSlot {
		w.Walk++
	}
	if (st.d1.valid && m.lineSlot(&st.d1) == st.x.slot) || (st.d2.valid && m.lineSlot(&st.d2) == st.x.slot) {
		w.Line++
	}
}

// Waits are the cycles the arrival stage held a request since reset, by
// the terms that held it (§10.1 B).
func (m *Model) Waits() Waits { return m.st.waits }

// IdleHits is the number of GETs answered from an idle slot's cache since
// reset (§11; always 0 without IC): how often v4a saved a round trip.
func (m *Model) IdleHits() uint64 { return m.st.idleHits }

// ready is req_ready (§9.2, §10.1): !X.valid || X goes this cycle; state
// only.
func (m *Model) ready() bool { return !m.st.xValid || m.xGoes() }

// pipeVisible is §9.2 C: PQ's head drives pipe_* only when it was pushed
// two or more cycles ago.
func (m *Model) pipeVisible() bool {
	st := &m.st
	return st.pqN > 0 && st.cycle >= st.pq[st.pqHead].at+2
}

// Step implements model.Model (§1.1). It allocates nothing unless it
// returns an error.
func (m *Model) Step(in, out []uint64) error {
	st := &m.st
	kw := m.kw

	// ---- Outputs of this cycle, from the state at its start.
	goes := m.xGoes()
	ready := !st.xValid || goes
	if st.xValid && !goes {
		m.countWait()
	}
	out[m.oReqReady] = b2u(ready)
	visible := m.pipeVisible()
	if visible {
		e := &st.pq[st.pqHead]
		out[m.oPipeValid] = 1
		out[m.oPipeID] = e.id
		out[m.oPipeTag] = uint64(e.tag)
		out[m.oPipeOp] = uint64(e.op)
		out[m.oPipeFid] = uint64(e.fid)
		copy(out[m.oPipeKey:m.oPipeKey+kw], st.pqKey[st.pqHead*kw:st.pqHead*kw+kw])
		out[m.oPipeKlen] = e.klen
		out[m.oPipeVlen] = e.vlen
		out[m.oPipeValue] = e.value
		out[m.oPipeDelta] = e.delta
		out[m.oPipeCmp] = e.cmp
		out[m.oPipeSwap] = e.swap
		out[m.oPipeAux] = e.aux
	} else {
		out[m.oPipeValid] = 0
		out[m.oPipeID] = 0
		out[m.oPipeTag] = 0
		out[m.oPipeOp] = 0
		out[m.oPipeFid] = 0
		clear(out[m.oPipeKey : m.oPipeKey+kw])
		out[m.oPipeKlen] = 0
		out[m.oPipeVlen] = 0
		out[m.oPipeValue] = 0
		out[m.oPipeDelta] = 0
		out[m.oPipeCmp] = 0
		out[m.oPipeSwap] = 0
		out[m.oPipeAux] = 0
	}
	if st.rqN > 0 {
		e := &st.rq[st.rqHead]
		out[m.oRespValid] = 1
		out[m.oRespTag] = uint64(e.tag)
		out[m.oRespStatus] = uint64(e.status)
		out[m.oRespVlen] = e.vlen
		out[m.oRespValue] = e.value
	} else {
		out[m.oRespValid] = 0
		out[m.oRespTag] = 0
		out[m.oRespStatus] = 0
		out[m.oRespVlen] = 0
		out[m.oRespValue] = 0
	}

	// ---- The completion input, checked against the state at the start of
	// the cycle (an operation is completed at least one cycle after the
	// pipeline took it), before anything changes.
	cplValid := in[m.iCplValid]&1 != 0
	var cplID, cplStatus, cplVlen, cplValue uint64
	if cplValid {
		cplID = in[m.iCplID] & m.maskI
		cplStatus = in[m.iCplStatus] & (1<<StatBits - 1)
		cplVlen = in[m.iCplVlen] & m.maskVL
		cplValue = in[m.iCplValue]
		if err := m.checkCompletion(cplID); err != nil {
			return err
		}
	}

	// §5 A: the completion side does nothing if |PQ| ≥ Q at the start of
	// the cycle (|PQ| counts the entries not yet visible, §9.2 C).
	side := st.pqN < QueueCap
	if !side {
		st.stalls++
	}

	// ---- CQ (microarch.md §3). Its out_ready is 1 exactly when the
	// completion side performs ADVANCE (§9.2 A.3, §10.1 A): when it may act
	// and no walk is active (WALK needs walk.active). An entry at
	// CQ's output then moves to D1. out_ready = 1 in a cycle where the
	// output register is empty has the same effect as 0 (§3.2, step 1).
	m.cqIn[m.cqInValid] = b2u(cplValid)
	d := m.cqIn[m.cqInDat : m.cqInDat+m.cqWords]
	clear(d)
	if cplValid {
		m.packCQ(d, cplID, cplStatus, cplVlen, cplValue)
	}
	m.cqIn[m.cqOutReady] = b2u(side && !st.walkActive)
	_ = m.cq.Step(m.cqIn, m.cqOut)
	if cplValid && m.cqOut[m.cqInReady] == 0 {
		return fmt.Errorf("rs: cycle %d: completion id %d presented while CQ is full (cannot happen: at most one operation per slot is in the pipeline)", st.cycle, cplID)
	}
	if cplValid {
		if cplID < uint64(m.p.M) {
			st.ops[cplID].life = idCompleted
		} else {
			st.slots[cplID-uint64(m.p.M)].wbLife = idCompleted
		}
	}

	// ---- Output queues (§5 C, §9.2 C): this cycle's heads leave at the
	// edge, PQ's only if it drove pipe_valid and pipe_ready is 1. Removing
	// them first leaves room for this cycle's pushes, which go to the back.
	if visible && in[m.iPipeReady]&1 != 0 {
		e := &st.pq[st.pqHead]
		if e.id < uint64(m.p.M) {
			st.ops[e.id].life = idIssued
		} else {
			st.slots[e.id-uint64(m.p.M)].wbLife = idIssued
		}
		st.pqHead = (st.pqHead + 1) % QueueCap
		st.pqN--
	}
	if st.rqN > 0 {
		st.rqHead = (st.rqHead + 1) % QueueCap
		st.rqN--
	}

	// ---- A. The completion side (§10.1 A): WALK if a walk is active (a
	// walk a COMPLETE started takes its first step the next cycle),
	// otherwise ADVANCE: COMPLETE D2's entry, then D2 = D1, D1 = CQ's
	// output entry.
	if side {
		if st.walkActive {
			m.walkStep()
		} else {
			if st.d2.valid {
				d := st.d2
				m.complete(d.id, d.status, d.vlen, d.value)
			}
			st.d2 = st.d1
			st.d1 = lineEnt{}
			if m.cqOut[m.cqOutValid] != 0 {
				id, status, vlen, value := m.unpackCQ(m.cqOut[m.cqOutDat : m.cqOutDat+m.cqWords])
				st.d1 = lineEnt{valid: true, id: id, status: status, vlen: vlen, value: value}
			}
		}
	}

	// ---- B. The arrival side (§9.2 B, §10.1 B): X acts if it goes
	// (decided on the state at the start of the cycle) on the state after
	// A, then the request on the ports, if accepted, enters X.
	if goes {
		m.arrive()
		st.xValid = false
	}
	if ready && in[m.iReqValid]&1 != 0 {
		m.accept(in)
	}

	st.cycle++
	if m.err != nil {
		err := m.err
		m.err = nil
		return err
	}
	return nil
}

// checkCompletion rejects a completion for an id the pipeline does not
// hold. Every 4-bit status is legal (rs.md §1: codes other than OK and
// NOT_FOUND are errors).
func (m *Model) checkCompletion(id uint64) error {
	st := &m.st
	M, R := uint64(m.p.M), uint64(m.p.R)
	switch {
	case id < M:
		if l := st.ops[id].life; l != idIssued {
			return fmt.Errorf("rs: cycle %d: completion for operation id %d, which is %s, not in the pipeline", st.cycle, id, idStateName[l])
		}
	case id < M+R:
		s := id - M
		if l := st.slots[s].wbLife; l != idIssued {
			what := idStateName[l]
			if l == idFree {
				what = "not in flight"
			}
			return fmt.Errorf("rs: cycle %d: completion for write-back id %d (slot %d), whose write-back is %s, not in the pipeline", st.cycle, id, s, what)
		}
	default:
		return fmt.Errorf("rs: cycle %d: completion id %d out of range (M+R = %d)", st.cycle, id, M+R)
	}
	return nil
}

// packCQ lays a completion out as value [63:0], vlen [64+VL-1:64], status
// [64+VL+3:64+VL], id above. The layout is internal to the station.
func (m *Model) packCQ(d []uint64, id, status, vlen, value uint64) {
	vl := uint(m.p.VL)
	setBits(d, 0, ValueBits, value)
	setBits(d, ValueBits, m.p.VL, vlen)
	setBits(d, ValueBits+vl, StatBits, status)
	setBits(d, ValueBits+vl+StatBits, m.p.I, id)
}

func (m *Model) unpackCQ(d []uint64) (id, status, vlen, value uint64) {
	vl := m.p.VL
	return model.Get(d, ValueBits+vl+StatBits, m.p.I), model.Get(d, ValueBits+vl, StatBits),
		model.Get(d, ValueBits, vl), model.Get(d, 0, ValueBits)
}

func setBits(d []uint64, lo uint, w int, x uint64) {
	x &= model.Mask(w)
	wi, bi := lo/64, lo%64
	d[wi] |= x << bi
	if bi != 0 && int(bi)+w > 64 {
		d[wi+1] |= x >> (64 - bi)
	}
}

func (m *Model) fail(format string, args ...any) {
	if m.err == nil {
		m.err = fmt.Errorf("rs: cycle %d: "+format, append([]any{m.st.cycle}, args...)...)
	}
}

func (m *Model) key(buf []uint64, i int) []uint64 { return buf[i*m.kw : i*m.kw+m.kw] }

func keyEq(a, b []uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// maskKey copies src to dst with bytes i >= klen set to zero (and bits
// above 8K, which §1.4 says are zero anyway).
func (m *Model) maskKey(dst, src []uint64, klen uint64) {
	for w := range dst {
		v := src[w]
		lo := uint64(8 * w)
		switch {
		case klen <= lo:
			v = 0
		case klen < lo+8:
			v &= 1<<(8*(klen-lo)) - 1
		}
		dst[w] = v
	}
	dst[len(dst)-1] &= m.keyTop
}

// maskValue sets the bytes i >= vlen of a value's first 8 bytes to zero
// (rs.md §1).
func maskValue(v, vlen uint64) uint64 {
	if vlen >= 8 {
		return v
	}
	return v & (1<<(8*vlen) - 1)
}

// servable is rs.md §1: GET, DELETE, ATOMIC, or a PUT of a short value.
func servable(op uint8, vlen uint64) bool {
	switch op {
	case OpGet, OpDelete, OpAtomic:
		return true
	case OpPut:
		return vlen <= ShortMax
	}
	return false
}

// exec is §4 on slot s's cache, for a servable operation.
func (m *Model) exec(s int32, op, fid uint8, vlen, value, delta, cmp, swap uint64) (status uint8, rvlen, rval uint64) {
	sl := &m.st.slots[s]
	switch op {
	case OpGet:
		if sl.cfound {
			return StatusOK, sl.cvlen, sl.cval
		}
		return StatusNotFound, 0, 0
	case OpPut:
		sl.cval, sl.cvlen, sl.cfound, sl.dirty = value, vlen, true, true
		return StatusOK, 0, 0
	case OpDelete:
		st := uint8(StatusNotFound)
		if sl.cfound {
			st = StatusOK
		}
		sl.cval, sl.cvlen, sl.cfound, sl.dirty = 0, 0, false, true
		return st, 0, 0
	case OpAtomic:
		if int(fid) >= m.p.N {
			return StatusLambdaFault, 0, 0
		}
		st, old := uint8(StatusNotFound), uint64(0)
		if sl.cfound {
			st, old = StatusOK, sl.cval&m.maskW
		}
		nv, fault, err := m.eval.Eval(int(fid), old, delta, cmp, swap)
		if err != nil {
			m.fail("λ %d on old=%#x delta=%#x cmp=%#x swap=%#x: %v", fid, old, delta, cmp, swap, err)
			return StatusLambdaFault, 0, 0
		}
		if fault {
			return StatusLambdaFault, 0, 0
		}
		sl.cval, sl.cvlen = nv&m.maskW, 8
		sl.cfound, sl.dirty = true, true
		return st, 8, old
	}
	m.fail("exec of op %d, which is not servable", op)
	return StatusLambdaFault, 0, 0
}

func (m *Model) respond(tag uint16, status uint8, vlen, value uint64) {
	st := &m.st
	if st.rqN >= QueueCap {
		m.fail("RQ overflow (capacity %d)", QueueCap)
		return
	}
	st.rq[(st.rqHead+st.rqN)%QueueCap] = rqEnt{vlen: vlen, value: value, tag: tag, status: status}
	st.rqN++
}

func (m *Model) pushPQ(e pqEnt, key []uint64) bool {
	st := &m.st
	if st.pqN >= QueueCap {
		m.fail("PQ overflow (capacity %d)", QueueCap)
		return false
	}
	i := (st.pqHead + st.pqN) % QueueCap
	e.at = st.cycle
	st.pq[i] = e
	copy(m.key(st.pqKey, i), key)
	st.pqN++
	return true
}

// pushOp is push(i) of §5: GET for an ATOMIC, the value for a PUT or a
// vector operation and 0 otherwise, the rest the request's.
func (m *Model) pushOp(h int32) {
	o := &m.st.ops[h]
	e := pqEnt{id: uint64(h), klen: o.klen, delta: o.delta, cmp: o.cmp, swap: o.swap,
		aux: o.aux, tag: o.tag, op: o.op, fid: o.fid}
	if e.op == OpAtomic {
		e.op = OpGet
	}
	if o.op == OpPut || IsVector(int(o.op)) {
		e.vlen, e.value = o.vlen, o.value
	}
	if m.pushPQ(e, m.key(m.st.okey, int(h))) {
		o.life = idQueued
	}
}

func (m *Model) alloc() int32 {
	st := &m.st
	i := st.free[st.freeHead]
	st.freeHead = (st.freeHead + 1) % m.p.M
	st.freeN--
	return i
}

func (m *Model) release(i int32) {
	st := &m.st
	if st.freeN >= m.p.M {
		m.fail("free-id FIFO overflow freeing id %d", i)
		return
	}
	st.free[(st.freeHead+st.freeN)%m.p.M] = i
	st.freeN++
	st.ops[i].life = idFree
}

// end is END(s) of §5.
func (m *Model) end(s int32) {
	st := &m.st
	sl := &st.slots[s]
	switch {
	case sl.dirty:
		e := pqEnt{id: uint64(m.p.M) + uint64(s), klen: sl.cklen, aux: sl.caux, op: OpDelete}
		if sl.cfound {
			e.op, e.vlen, e.value = OpPut, sl.cvlen, sl.cval
		}
		if m.pushPQ(e, m.key(st.ckey, int(s))) {
			sl.wbLife = idQueued
		}
		sl.dirty, sl.wb = false, true
	case sl.n > 0:
		h := sl.head
		sl.head = st.ops[h].next
		sl.n--
		st.chainN--
		m.pushOp(h)
		sl.cv, sl.wb = false, false
	default:
		if sl.busy {
			st.busyN--
		}
		sl.busy = false
		// §11: the cache outlives the slot's last operation. It is clean
		// (a dirty one took END's first case), so it equals memory, and
		// every later operation of its key comes through this slot.
		if !m.p.IC {
			sl.cv = false
		}
	}
}

// walkStep is §5 A.1, one step of a chain walk.
func (m *Model) walkStep() {
	st := &m.st
	s, z := st.walkSlot, st.walkCur
	sl := &st.slots[s]
	o := &st.ops[z]
	if o.life != idChained {
		m.fail("walk of slot %d reached id %d, which is %s", s, z, idStateName[o.life])
		st.walkActive = false
		return
	}
	t := z == sl.tail
	nz := o.next
	same := m.p.FWD && o.klen == sl.cklen && keyEq(m.key(st.okey, int(z)), m.key(st.ckey, int(s)))
	switch {
	case same && servable(o.op, o.vlen):
		status, vlen, val := m.exec(s, o.op, o.fid, o.vlen, o.value, o.delta, o.cmp, o.swap)
		m.respond(o.tag, status, vlen, val)
		if st.walkPrv < 0 {
			sl.head = nz
		} else {
			st.ops[st.walkPrv].next = nz
		}
		if z == sl.tail {
			sl.tail = st.walkPrv
		}
		sl.n--
		st.chainN--
		m.release(z)
	case same:
		// A long PUT or a vector operation on the cached key: serving a
		// later operation of this key would overtake it. z stays.
		st.walkActive = false
		m.end(s)
		return
	default:
		st.walkPrv = z
	}
	if t {
		st.walkActive = false
		m.end(s)
	} else {
		st.walkCur = nz
	}
}

// complete is §5 A.2 for one completion popped from CQ.
func (m *Model) complete(id, status, vlen, value uint64) {
	st := &m.st
	M := uint64(m.p.M)
	var s int32
	if id >= M {
		s = int32(id - M)
		sl := &st.slots[s]
		if sl.wbLife != idCompleted || !sl.wb {
			m.fail("CQ delivered a write-back completion for slot %d with no write-back in flight", s)
			return
		}
		sl.wb, sl.wbLife = false, idFree
		if IsError(int(status)) {
			sl.dirty = true
		}
	} else {
		y := &st.ops[id]
		if y.life != idCompleted {
			m.fail("CQ delivered a completion for id %d, which is %s", id, idStateName[y.life])
			return
		}
		s = y.slot
		sl := &st.slots[s]
		rs, rl, rv := uint8(status), uint64(0), uint64(0)
		switch {
		case IsVector(int(y.op)):
			rl, rv = vlen, value
			sl.cv = false
		case IsError(int(status)):
			sl.cv = false
		default:
			switch y.op {
			case OpGet, OpAtomic:
				sl.cfound = status == StatusOK
				sl.cval, sl.cvlen = 0, 0
				if sl.cfound {
					sl.cval, sl.cvlen = value, vlen
				}
				rl, rv = sl.cvlen, sl.cval
				if y.op == OpAtomic {
					rs, rl, rv = m.exec(s, y.op, y.fid, y.vlen, y.value, y.delta, y.cmp, y.swap)
				}
			case OpPut:
				sl.cfound, sl.cval, sl.cvlen = true, y.value, y.vlen
				rs = StatusOK
			case OpDelete:
				sl.cfound, sl.cval, sl.cvlen = false, 0, 0
			}
			copy(m.key(st.ckey, int(s)), m.key(st.okey, int(id)))
			sl.cklen, sl.caux = y.klen, y.aux
			sl.cv = m.p.FWD && sl.cvlen <= ShortMax
		}
		m.respond(y.tag, rs, rl, rv)
		m.release(int32(id))
	}
	sl := &st.slots[s]
	// A write-back's completion never walks (rs.md §5 A.2): walking it
	// could starve an operation queued ahead of the cached key's newcomers.
	// §10.1: the walk's first step is in the next cycle (no WAIT).
	if id < M && m.p.FWD && sl.cv && sl.n > 0 {
		st.walkActive, st.walkSlot, st.walkCur, st.walkPrv = true, s, sl.head, -1
	} else {
		m.end(s)
	}
}

// accept puts the request on the input ports into X (§9.1: every req_*
// field, key and value masked).
func (m *Model) accept(in []uint64) {
	st := &m.st
	klen := in[m.iReqKlen] & m.maskKL
	vlen := in[m.iReqVlen] & m.maskVL
	st.x = opRec{
		op:    uint8(in[m.iReqOp] & (1<<OpBits - 1)),
		fid:   uint8(in[m.iReqFid] & m.maskF),
		klen:  klen,
		slot:  int32(in[m.iReqSlot] & m.maskS),
		vlen:  vlen,
		value: maskValue(in[m.iReqValue], vlen),
		delta: in[m.iReqDelta] & m.maskW,
		cmp:   in[m.iReqCmp] & m.maskW,
		swap:  in[m.iReqSwap] & m.maskW,
		aux:   in[m.iReqAux] & m.maskA,
		tag:   uint16(in[m.iReqTag]),
	}
	m.maskKey(st.xkey, in[m.iReqKey:m.iReqKey+m.kw], klen)
	st.xValid = true
}

// arrive is §5 B for the request in X (§9.2 B), on the state after A.
func (m *Model) arrive() {
	st := &m.st
	x := st.x
	s := x.slot
	sl := &st.slots[s]
	// §11: an idle slot answers only GETs. Anything else would dirty its
	// cache, and a dirty cache must keep its slot busy until the write-back
	// completes. (Without IC an idle slot never has cv, so the term changes
	// nothing there.)
	if m.p.FWD && sl.cv && sl.n == 0 && sl.cklen == x.klen && keyEq(st.xkey, m.key(st.ckey, int(s))) && servable(x.op, x.vlen) &&
		(sl.busy || x.op == OpGet) {
		if !sl.busy {
			st.idleHits++
		}
		status, rl, rv := m.exec(s, x.op, x.fid, x.vlen, x.value, x.delta, x.cmp, x.swap)
		m.respond(x.tag, status, rl, rv)
		return
	}
	if st.freeN < 1 {
		m.fail("X went with no free id")
		return
	}
	i := m.alloc()
	x.next, x.life = 0, idChained
	st.ops[i] = x
	copy(m.key(st.okey, int(i)), st.xkey)
	if !sl.busy {
		m.pushOp(i)
		// §11: an idle slot may still hold a valid cache; from here the
		// key may change in the pipeline, and the completion sets it again.
		sl.busy, sl.wb, sl.cv = true, false, false
		st.busyN++
		return
	}
	if sl.n > 0 {
		st.ops[sl.tail].next = i
	} else {
		sl.head = i
	}
	sl.tail = i
	sl.n++
	st.chainN++
}

// DescribeState is a short summary of the station for hang reports.
func (m *Model) DescribeState() string {
	st := &m.st
	var b strings.Builder
	var wb, cached, idleCached, dirty, pipeOps, pipeWB, cqPending, longest int
	longestSlot := -1
	for s := range st.slots {
		sl := &st.slots[s]
		if sl.wb {
			wb++
		}
		switch {
		case sl.cv && sl.busy:
			cached++
		case sl.cv:
			idleCached++ // §11 only
		}
		if sl.dirty {
			dirty++
		}
		if sl.wbLife == idIssued {
			pipeWB++
		}
		if sl.wbLife == idCompleted {
			cqPending++
		}
		if int(sl.n) > longest {
			longest, longestSlot = int(sl.n), s
		}
	}
	for i := range st.ops {
		switch st.ops[i].life {
		case idIssued:
			pipeOps++
		case idCompleted:
			cqPending++
		}
	}
	fmt.Fprintf(&b, "rs cycle %d: busy slots %d/%d (write-back %d, cached %d, dirty %d); chained ops %d",
		st.cycle, st.busyN, m.p.R, wb, cached, dirty, st.chainN)
	if longestSlot >= 0 {
		fmt.Fprintf(&b, " (longest %d at slot %d)", longest, longestSlot)
	}
	fmt.Fprintf(&b, "; free ids %d/%d; PQ %d/%d RQ %d/%d CQ %d/%d; in pipeline %d ops + %d write-backs, %d completions queued",
		st.freeN, m.p.M, st.pqN, QueueCap, st.rqN, QueueCap, m.cq.Len(), m.p.R+1, pipeOps, pipeWB, cqPending)
	if st.walkActive {
		fmt.Fprintf(&b, "; walking slot %d at id %d", st.walkSlot, st.walkCur)
	} else {
		b.WriteString("; no walk")
	}
	if st.xValid {
		fmt.Fprintf(&b, "; X holds tag %d for slot %d", st.x.tag, st.x.slot)
	} else {
		b.WriteString("; X empty")
	}
	for i, d := range []*lineEnt{&st.d1, &st.d2} {
		if d.valid {
			fmt.Fprintf(&b, "; D%d id %d (slot %d)", i+1, d.id, m.lineSlot(d))
		}
	}
	if st.pqN > 0 && !m.pipeVisible() {
		b.WriteString("; PQ head pushed last cycle (not yet visible)")
	}
	if st.pqN >= QueueCap {
		b.WriteString("; completion side waiting: |PQ| = Q (pipe_ready held low)")
	}
	if st.stalls > 0 {
		fmt.Fprintf(&b, "; %d cycles waited on a full PQ so far", st.stalls)
	}
	if m.p.IC {
		fmt.Fprintf(&b, "; idle slots cached %d, GETs answered by them %d", idleCached, st.idleHits)
	}
	fmt.Fprintf(&b, "; req_ready %d", b2u(m.ready()))
	// A few busy slots in detail.
	shown := 0
	for s := range st.slots {
		sl := &st.slots[s]
		if !sl.busy || shown == 4 {
			continue
		}
		if shown == 0 {
			b.WriteString("\n  slots:")
		}
		fmt.Fprintf(&b, " [%d: len %d wb %d cv %d dirty %d]", s, sl.n, b2u(sl.wb), b2u(sl.cv), b2u(sl.dirty))
		shown++
	}
	if st.busyN > shown && shown > 0 {
		fmt.Fprintf(&b, " …")
	}
	return b.String()
}

var _ model.Model = (*Model)(nil)
