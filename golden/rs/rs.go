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

// Operation codes (rs.md §1).
const (
	OpGet    = 0
	OpPut    = 1
	OpDelete = 2
	OpAtomic = 3
)

// Status codes (rs.md §1). 3 is not a status.
const (
	StatusOK       = 0
	StatusNotFound = 1
	StatusError    = 2
)

// Fixed sizes (rs.md §1, §2).
const (
	QueueCap = 16 // Q, the capacity of PQ and RQ
	FidBits  = 4  // F
	TagBits  = 16
	OpBits   = 2
	StatBits = 2
)

// Evaluator applies λ function fid to V-bit operands. The result is masked
// to V bits by the station. fid is always < N when the station calls it.
// fault means the λ's evaluation fails for these operands
// (docs/microarch/lambda.md): the station answers ERROR and changes nothing
// (docs/microarch/rs.md §4). err means the evaluator itself broke.
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
	V   int  // value width
	N   int  // registered λs
	FWD bool // forwarding
}

// ParamsOf derives the sizes of rs.md §1 from cfg.
func ParamsOf(cfg config.Config) Params {
	m, r := cfg.RS.MaxInflight, cfg.RS.Slots
	return Params{
		M: m, R: r,
		S:   cfg.RSSlotBits(),
		I:   bits.Len(uint(m + r - 1)),
		K:   cfg.Key.MaxKeyBytes,
		KL:  cfg.KeyLenBits(),
		V:   cfg.Atomic.ScalarBits,
		N:   len(cfg.Atomic.Lambdas),
		FWD: cfg.RS.Forwarding,
	}
}

// Ports returns the ports of kvd_rs for cfg, in the order of rs.md §2.
func Ports(cfg config.Config) []model.Port {
	p := ParamsOf(cfg)
	in := func(name string, w int) model.Port { return model.Port{Name: name, Dir: model.In, Width: w} }
	out := func(name string, w int, q string) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	return []model.Port{
		in("req_valid", 1),
		out("req_ready", 1, ""),
		in("req_op", OpBits),
		in("req_fid", FidBits),
		in("req_key", 8*p.K),
		in("req_klen", p.KL),
		in("req_slot", p.S),
		in("req_value", p.V),
		in("req_delta", p.V),
		in("req_cmp", p.V),
		in("req_swap", p.V),
		in("req_tag", TagBits),
		out("pipe_valid", 1, ""),
		out("pipe_id", p.I, "pipe_valid"),
		out("pipe_op", OpBits, "pipe_valid"),
		out("pipe_key", 8*p.K, "pipe_valid"),
		out("pipe_klen", p.KL, "pipe_valid"),
		out("pipe_value", p.V, "pipe_valid"),
		in("cpl_valid", 1),
		in("cpl_id", p.I),
		in("cpl_status", StatBits),
		in("cpl_value", p.V),
		out("resp_valid", 1, ""),
		out("resp_tag", TagBits, "resp_valid"),
		out("resp_status", StatBits, "resp_valid"),
		out("resp_value", p.V, "resp_valid"),
	}
}

// Life of an operation id (model bookkeeping, used to reject impossible
// completions; not part of the block's state in rs.md §3).
const (
	idFree      = iota
	idChained   // waiting in a slot's chain
	idQueued    // in PQ, not yet on pipe_*
	idIssued    // sent on pipe_*, not yet completed
	idCompleted // its completion is in CQ
)

var idStateName = [...]string{"free", "chained", "queued in PQ", "issued", "completed (in CQ)"}

// opRec is ops[id] and next[id] of §3; the key lives in state.okey.
type opRec struct {
	value, delta, cmp, swap uint64
	klen                    uint64
	next                    int32
	slot                    int32
	tag                     uint16
	op, fid                 uint8
	life                    uint8
}

// slotRec is the per-slot state of §3; the cached key lives in state.ckey.
type slotRec struct {
	cval, cklen                 uint64
	head, tail, n               int32
	busy, wb, cv, cfound, dirty bool
	wbLife                      uint8 // idFree (none), idQueued, idIssued, idCompleted
}

type pqEnt struct {
	id, klen, value uint64
	op              uint8
}

type rqEnt struct {
	value  uint64
	tag    uint16
	status uint8
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

	pq            [QueueCap]pqEnt
	pqKey         []uint64 // QueueCap × kw words
	pqHead, pqN   int
	rq            [QueueCap]rqEnt
	rqHead, rqN   int
	cycle         uint64 // cycles since reset (for messages)
	busyN, chainN int    // busy slots; chained operations (for DescribeState)
}

func (s *state) clone() state {
	c := *s
	c.ops = append([]opRec(nil), s.ops...)
	c.okey = append([]uint64(nil), s.okey...)
	c.slots = append([]slotRec(nil), s.slots...)
	c.ckey = append([]uint64(nil), s.ckey...)
	c.free = append([]int32(nil), s.free...)
	c.pqKey = append([]uint64(nil), s.pqKey...)
	return c
}

func (s *state) copyFrom(o *state) {
	ops, okey, slots, ckey, free, pqKey := s.ops, s.okey, s.slots, s.ckey, s.free, s.pqKey
	copy(ops, o.ops)
	copy(okey, o.okey)
	copy(slots, o.slots)
	copy(ckey, o.ckey)
	copy(free, o.free)
	copy(pqKey, o.pqKey)
	*s = *o
	s.ops, s.okey, s.slots, s.ckey, s.free, s.pqKey = ops, okey, slots, ckey, free, pqKey
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

	kw                 int    // words of a key
	keyTop             uint64 // valid bits of a key's last word
	maskI, maskS       uint64
	maskKL, maskV      uint64
	cqW                int // CQ data width I+2+V
	cqIn, cqOut        []uint64
	cqInValid, cqInDat int
	cqOutReady         int
	cqInReady          int
	cqOutValid         int
	cqOutDat           int
	cqWords            int

	// word offsets of the ports in the input and output vectors
	iReqValid, iReqOp, iReqFid, iReqKey, iReqKlen, iReqSlot int
	iReqValue, iReqDelta, iReqCmp, iReqSwap, iReqTag        int
	iCplValid, iCplID, iCplStatus, iCplValue                int
	oReqReady, oPipeValid, oPipeID, oPipeOp, oPipeKey       int
	oPipeKlen, oPipeValue, oRespValid, oRespTag             int
	oRespStatus, oRespValue                                 int

	cq   *fifo.Model
	st   state
	xkey []uint64 // scratch: the arriving key, masked
	err  error    // first impossibility found during a Step
}

// New builds the model for cfg, in its reset state. eval supplies the λs;
// N = len(cfg.Atomic.Lambdas).
func New(cfg config.Config, eval Evaluator) (*Model, error) {
	if eval == nil {
		return nil, fmt.Errorf("rs: nil Evaluator")
	}
	p := ParamsOf(cfg)
	switch {
	case p.R < 2 || p.R&(p.R-1) != 0:
		return nil, fmt.Errorf("rs: rs.slots = %d, want a power of two, at least 2", p.R)
	case p.M < 1:
		return nil, fmt.Errorf("rs: rs.max_inflight = %d, want at least 1", p.M)
	case p.K < 1:
		return nil, fmt.Errorf("rs: key.max_key_bytes = %d, want at least 1", p.K)
	case p.V < 1 || p.V > 64:
		return nil, fmt.Errorf("rs: atomic.scalar_bits = %d, want 1..64", p.V)
	case p.N > 1<<FidBits:
		return nil, fmt.Errorf("rs: %d λs, a %d-bit fid numbers at most %d", p.N, FidBits, 1<<FidBits)
	case p.I > 31 || p.KL > 64 || p.S > 31:
		return nil, fmt.Errorf("rs: widths I=%d KL=%d S=%d out of range", p.I, p.KL, p.S)
	}
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("rs: %v", err)
	}
	m := &Model{p: p, eval: eval, ports: ports}
	m.kw = model.Words(8 * p.K)
	m.keyTop = model.Mask(8*p.K - 64*(m.kw-1))
	m.maskI, m.maskS = model.Mask(p.I), model.Mask(p.S)
	m.maskKL, m.maskV = model.Mask(p.KL), model.Mask(p.V)

	off := func(name string) int { return lay.MustSlot(name).Off }
	m.iReqValid, m.iReqOp, m.iReqFid = off("req_valid"), off("req_op"), off("req_fid")
	m.iReqKey, m.iReqKlen, m.iReqSlot = off("req_key"), off("req_klen"), off("req_slot")
	m.iReqValue, m.iReqDelta, m.iReqCmp = off("req_value"), off("req_delta"), off("req_cmp")
	m.iReqSwap, m.iReqTag = off("req_swap"), off("req_tag")
	m.iCplValid, m.iCplID, m.iCplStatus, m.iCplValue = off("cpl_valid"), off("cpl_id"), off("cpl_status"), off("cpl_value")
	m.oReqReady, m.oPipeValid, m.oPipeID, m.oPipeOp = off("req_ready"), off("pipe_valid"), off("pipe_id"), off("pipe_op")
	m.oPipeKey, m.oPipeKlen, m.oPipeValue = off("pipe_key"), off("pipe_klen"), off("pipe_value")
	m.oRespValid, m.oRespTag, m.oRespStatus, m.oRespValue = off("resp_valid"), off("resp_tag"), off("resp_status"), off("resp_value")

	// CQ: a §3 FIFO of depth R and width I+2+V (rs.md §3).
	m.cqW = p.I + StatBits + p.V
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
	}
	m.xkey = make([]uint64, m.kw)
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
	for i := range st.free {
		st.free[i] = int32(i)
	}
	st.freeHead, st.freeN = 0, m.p.M
	st.walkActive, st.walkSlot, st.walkCur, st.walkPrv = false, 0, 0, -1
	st.pq = [QueueCap]pqEnt{}
	st.rq = [QueueCap]rqEnt{}
	st.pqHead, st.pqN, st.rqHead, st.rqN = 0, 0, 0, 0
	st.cycle, st.busyN, st.chainN = 0, 0, 0
	m.cq.Reset()
	m.err = nil
}

// Snapshot implements model.Model; the value shares nothing with the model.
func (m *Model) Snapshot() any { return snapshot{st: m.st.clone(), cq: m.cq.Snapshot()} }

// Restore implements model.Model; the snapshot stays valid for further
// restores.
func (m *Model) Restore(s any) {
	sn, ok := s.(snapshot)
	if !ok || len(sn.st.ops) != m.p.M || len(sn.st.slots) != m.p.R || len(sn.st.okey) != len(m.st.okey) {
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

// ready is req_ready (§5): state at the start of the cycle, and whether the
// request's slot is being walked.
func (m *Model) ready(reqSlot int32) bool {
	st := &m.st
	return st.freeN >= 1 && st.pqN <= QueueCap-2 && st.rqN <= QueueCap-2 &&
		!(st.walkActive && st.walkSlot == reqSlot)
}

// Step implements model.Model (§1.1). It allocates nothing unless it
// returns an error.
func (m *Model) Step(in, out []uint64) error {
	st := &m.st
	kw := m.kw

	// ---- Outputs of this cycle, from the state at its start.
	ready := m.ready(int32(in[m.iReqSlot] & m.maskS))
	out[m.oReqReady] = b2u(ready)
	if st.pqN > 0 {
		e := &st.pq[st.pqHead]
		out[m.oPipeValid] = 1
		out[m.oPipeID] = e.id
		out[m.oPipeOp] = uint64(e.op)
		copy(out[m.oPipeKey:m.oPipeKey+kw], st.pqKey[st.pqHead*kw:st.pqHead*kw+kw])
		out[m.oPipeKlen] = e.klen
		out[m.oPipeValue] = e.value
	} else {
		out[m.oPipeValid] = 0
		out[m.oPipeID] = 0
		out[m.oPipeOp] = 0
		clear(out[m.oPipeKey : m.oPipeKey+kw])
		out[m.oPipeKlen] = 0
		out[m.oPipeValue] = 0
	}
	if st.rqN > 0 {
		e := &st.rq[st.rqHead]
		out[m.oRespValid] = 1
		out[m.oRespTag] = uint64(e.tag)
		out[m.oRespStatus] = uint64(e.status)
		out[m.oRespValue] = e.value
	} else {
		out[m.oRespValid] = 0
		out[m.oRespTag] = 0
		out[m.oRespStatus] = 0
		out[m.oRespValue] = 0
	}

	// ---- The completion input, checked against the state at the start of
	// the cycle (an operation is completed at least one cycle after it was
	// on pipe_*), before anything changes.
	cplValid := in[m.iCplValid]&1 != 0
	var cplID, cplStatus, cplValue uint64
	if cplValid {
		cplID = in[m.iCplID] & m.maskI
		cplStatus = in[m.iCplStatus] & 3
		cplValue = in[m.iCplValue] & m.maskV
		if err := m.checkCompletion(cplID, cplStatus); err != nil {
			return err
		}
	}

	// ---- CQ (microarch.md §3). Its out_ready is 1 exactly when the
	// completion side performs COMPLETE: when no walk is active and the CQ
	// has an entry at its output. It is driven as !walk.active here: in a
	// cycle where the output register is empty, out_ready = 1 and 0 have
	// the same effect (§3.2, step 1), so this is the same FIFO behaviour.
	m.cqIn[m.cqInValid] = b2u(cplValid)
	d := m.cqIn[m.cqInDat : m.cqInDat+m.cqWords]
	clear(d)
	if cplValid {
		m.packCQ(d, cplID, cplStatus, cplValue)
	}
	m.cqIn[m.cqOutReady] = b2u(!st.walkActive)
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

	// ---- Output queues: this cycle's heads leave at the edge. Removing
	// them first leaves room for this cycle's pushes, which go to the back.
	if st.pqN > 0 {
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

	// ---- A. The completion side.
	if st.walkActive {
		m.walkStep()
	} else if m.cqOut[m.cqOutValid] != 0 {
		id, status, value := m.unpackCQ(m.cqOut[m.cqOutDat : m.cqOutDat+m.cqWords])
		m.complete(id, status, value)
	}

	// ---- B. The arrival side.
	if ready && in[m.iReqValid]&1 != 0 {
		m.arrive(in)
	}

	st.cycle++
	if m.err != nil {
		err := m.err
		m.err = nil
		return err
	}
	return nil
}

func (m *Model) checkCompletion(id, status uint64) error {
	st := &m.st
	M, R := uint64(m.p.M), uint64(m.p.R)
	if status == 3 {
		return fmt.Errorf("rs: cycle %d: completion id %d with status 3, which is not a status (0 OK, 1 NOT_FOUND, 2 ERROR)", st.cycle, id)
	}
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

// packCQ lays a completion out as value [V-1:0], status [V+1:V], id
// [V+2+I-1:V+2]. The layout is internal to the station.
func (m *Model) packCQ(d []uint64, id, status, value uint64) {
	v := uint(m.p.V)
	setBits(d, 0, m.p.V, value)
	setBits(d, v, StatBits, status)
	setBits(d, v+StatBits, m.p.I, id)
}

func (m *Model) unpackCQ(d []uint64) (id, status, value uint64) {
	v := m.p.V
	return model.Get(d, v+StatBits, m.p.I), model.Get(d, v, StatBits), model.Get(d, 0, v)
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

// exec is §4 on slot s's cache.
func (m *Model) exec(s int32, op, fid uint8, value, delta, cmp, swap uint64) (status uint8, val uint64) {
	sl := &m.st.slots[s]
	switch op {
	case OpGet:
		if sl.cfound {
			return StatusOK, sl.cval
		}
		return StatusNotFound, 0
	case OpPut:
		sl.cval, sl.cfound, sl.dirty = value, true, true
		return StatusOK, 0
	case OpDelete:
		st := uint8(StatusNotFound)
		if sl.cfound {
			st = StatusOK
		}
		sl.cval, sl.cfound, sl.dirty = 0, false, true
		return st, 0
	default: // OpAtomic
		if int(fid) >= m.p.N {
			return StatusError, 0
		}
		st, old := uint8(StatusNotFound), uint64(0)
		if sl.cfound {
			st, old = StatusOK, sl.cval
		}
		nv, fault, err := m.eval.Eval(int(fid), old, delta, cmp, swap)
		if err != nil {
			m.fail("λ %d on old=%#x delta=%#x cmp=%#x swap=%#x: %v", fid, old, delta, cmp, swap, err)
			return StatusError, 0
		}
		if fault {
			return StatusError, 0
		}
		sl.cval = nv & m.maskV
		sl.cfound, sl.dirty = true, true
		return st, old
	}
}

func (m *Model) respond(tag uint16, status uint8, value uint64) {
	st := &m.st
	if st.rqN >= QueueCap {
		m.fail("RQ overflow (capacity %d)", QueueCap)
		return
	}
	st.rq[(st.rqHead+st.rqN)%QueueCap] = rqEnt{value: value, tag: tag, status: status}
	st.rqN++
}

func (m *Model) pushPQ(id uint64, op uint8, key []uint64, klen, value uint64) bool {
	st := &m.st
	if st.pqN >= QueueCap {
		m.fail("PQ overflow (capacity %d)", QueueCap)
		return false
	}
	i := (st.pqHead + st.pqN) % QueueCap
	st.pq[i] = pqEnt{id: id, klen: klen, value: value, op: op}
	copy(m.key(st.pqKey, i), key)
	st.pqN++
	return true
}

// pushOp sends operation h to PQ as §5 END describes: GET for an ATOMIC,
// the PUT value for a PUT and 0 otherwise.
func (m *Model) pushOp(h int32) {
	o := &m.st.ops[h]
	op, val := o.op, uint64(0)
	if op == OpAtomic {
		op = OpGet
	}
	if op == OpPut {
		val = o.value
	}
	if m.pushPQ(uint64(h), op, m.key(m.st.okey, int(h)), o.klen, val) {
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
		op, val := uint8(OpDelete), uint64(0)
		if sl.cfound {
			op, val = OpPut, sl.cval
		}
		if m.pushPQ(uint64(m.p.M)+uint64(s), op, m.key(st.ckey, int(s)), sl.cklen, val) {
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
		sl.busy, sl.cv = false, false
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
	wasTail := z == sl.tail
	nz := o.next
	if m.p.FWD && o.klen == sl.cklen && keyEq(m.key(st.okey, int(z)), m.key(st.ckey, int(s))) {
		status, val := m.exec(s, o.op, o.fid, o.value, o.delta, o.cmp, o.swap)
		m.respond(o.tag, status, val)
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
	} else {
		st.walkPrv = z
	}
	if wasTail {
		st.walkActive = false
		m.end(s)
	} else {
		st.walkCur = nz
	}
}

// complete is §5 A.2 for one completion popped from CQ.
func (m *Model) complete(id, status, value uint64) {
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
		if status == StatusError {
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
		var rs uint8
		var rv uint64
		if status == StatusError {
			rs, rv = StatusError, 0
			sl.cv = false
		} else {
			switch y.op {
			case OpGet, OpAtomic:
				sl.cfound = status == StatusOK
				sl.cval = 0
				if sl.cfound {
					sl.cval = value
				}
				rs, rv = uint8(status), sl.cval
				if y.op == OpAtomic {
					rs, rv = m.exec(s, y.op, y.fid, y.value, y.delta, y.cmp, y.swap)
				}
			case OpPut:
				sl.cfound, sl.cval = true, y.value
				rs, rv = StatusOK, 0
			case OpDelete:
				sl.cfound, sl.cval = false, 0
				rs, rv = uint8(status), 0
			}
			copy(m.key(st.ckey, int(s)), m.key(st.okey, int(id)))
			sl.cklen = y.klen
			sl.cv = m.p.FWD
		}
		m.respond(y.tag, rs, rv)
		m.release(int32(id))
	}
	sl := &st.slots[s]
	// A write-back's completion never walks (rs.md §5 A.2): walking it
	// could starve an operation queued ahead of the cached key's newcomers.
	if id < M && m.p.FWD && sl.cv && sl.n > 0 {
		st.walkActive, st.walkSlot, st.walkCur, st.walkPrv = true, s, sl.head, -1
	} else {
		m.end(s)
	}
}

// arrive is §5 B for the request on the input ports.
func (m *Model) arrive(in []uint64) {
	st := &m.st
	op := uint8(in[m.iReqOp] & 3)
	fid := uint8(in[m.iReqFid] & (1<<FidBits - 1))
	klen := in[m.iReqKlen] & m.maskKL
	s := int32(in[m.iReqSlot] & m.maskS)
	value := in[m.iReqValue] & m.maskV
	delta := in[m.iReqDelta] & m.maskV
	cmp := in[m.iReqCmp] & m.maskV
	swap := in[m.iReqSwap] & m.maskV
	tag := uint16(in[m.iReqTag])
	m.maskKey(m.xkey, in[m.iReqKey:m.iReqKey+m.kw], klen)

	sl := &st.slots[s]
	if m.p.FWD && sl.cv && sl.n == 0 && sl.cklen == klen && keyEq(m.xkey, m.key(st.ckey, int(s))) {
		status, val := m.exec(s, op, fid, value, delta, cmp, swap)
		m.respond(tag, status, val)
		return
	}
	if st.freeN < 1 {
		m.fail("request accepted with no free id")
		return
	}
	i := m.alloc()
	st.ops[i] = opRec{value: value, delta: delta, cmp: cmp, swap: swap, klen: klen,
		next: 0, slot: s, tag: tag, op: op, fid: fid, life: idChained}
	copy(m.key(st.okey, int(i)), m.xkey)
	if !sl.busy {
		m.pushOp(i)
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
	var wb, cached, dirty, pipeOps, pipeWB, cqPending, longest int
	longestSlot := -1
	for s := range st.slots {
		sl := &st.slots[s]
		if sl.wb {
			wb++
		}
		if sl.cv {
			cached++
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
	fmt.Fprintf(&b, "; req_ready %d (for a slot not being walked)", b2u(m.ready(-1)))
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
