package htengine

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/vector"
)

// Context phases (engine.md §3).
const (
	phFree = iota
	phBlocked
	phRead
	phRWait
	phExec
	phAlloc
	phAWait
	phVec
	phVWait
	phWrite
	phWBusy
	phFreeing
	phFWait
	phResp
)

var phName = [...]string{"FREE", "BLOCKED", "READ", "RWAIT", "EXEC", "ALLOC", "AWAIT", "VEC", "VWAIT", "WRITE", "WBUSY", "FREEING", "FWAIT", "RESP"}

// maxC bounds engine.contexts (config.Validate: 2..256).
const maxC = 256

// Stats count what the engine did since reset. They are not ports.
type Stats struct {
	Cycles   uint64
	Accepted uint64
	Ops      [8]uint64 // accepted requests per req_op (3: refused)
	Blocked  uint64    // valid requests that waited behind an operation on their bucket

	Responses uint64
	Status    [16]uint64 // responses per rsp_status

	// The vector unit (engine.md §8A): operations loaded into kvd_vec, their
	// elements (the unit's busy cycles are VecOps + VecElements), the ones
	// that faulted, the updates written back, and the cycles a context was
	// VEC while the unit was busy.
	VecOps, VecElements, VecFaults, VecWriteBacks uint64
	VecStalls                                     uint64

	// Memory accesses as hashtable.md §5 counts them: one per bucket or
	// whole-object read request taken, one per bucket or object write whose
	// last beat was taken.
	BucketReads, ObjectReads   uint64
	BucketWrites, ObjectWrites uint64
	// ReadBeats counts the 32 B beats of read data received (a wide
	// transfer carries two, or one at the end of an odd read) and
	// ReadTransfers the read-data transfers (the port's busy cycles; equal
	// to ReadBeats when engine.read_bytes = 32). ErrBeats counts the
	// transfers with mem_rdata_err (beats at 32: the flag is per transfer,
	// docs/microarch.md §1.7).
	ReadBeats, WriteBeats uint64
	ReadTransfers         uint64
	ErrBeats              uint64

	Allocs   uint64 // alloc requests taken by the allocator
	AllocsOK uint64 // answered with a slab
	NoMemory uint64 // answered "no memory"
	Frees    uint64 // free requests taken

	LatencySum uint64 // cycles from acceptance to response, summed over responses
	LatencyMax uint64

	MaxChainPos int // deepest chain position of a bucket executed (0: the index bucket)

	// PhaseCycles[p] sums, over the cycles, the contexts in phase p
	// (PhaseName): divided by Cycles, the mean number of contexts in each
	// phase — where an operation's time goes when the engine is full.
	PhaseCycles [len(phName)]uint64
}

// PhaseName names phase p of Stats.PhaseCycles as engine.md §3 does.
func PhaseName(p int) string { return phName[p] }

// Reads is every read access; Writes every write access (hashtable.md §5).
func (s Stats) Reads() uint64  { return s.BucketReads + s.ObjectReads }
func (s Stats) Writes() uint64 { return s.BucketWrites + s.ObjectWrites }

// bref is a bucket the context holds: its decoded copy, address and chain
// position.
type bref struct {
	b    hashtable.Bucket
	addr int64
	pos  int
}

// wrItem is one write of a plan: whole beats from addr.
type wrItem struct {
	addr   int64
	data   []byte
	object bool
}

// ctx is one context's phase and registers (engine.md §3).
type ctx struct {
	phase   uint8
	lock    bool
	hasSucc bool
	succ    int
	err     bool

	// The request (key and value masked to their lengths).
	op          uint8
	tag         uint16
	klen, vlen  int
	key, value  []byte
	bucket, sec uint64
	accepted    uint64

	// The next read and the read buffer.
	raddr  int64
	rbeats int
	robj   bool
	buf    []byte

	// The walk.
	pos       int
	place     bool
	cur, prev bref
	cand      uint32
	fitOK     bool
	fit       bref
	fitSlot   int

	// A PUT's plan (engine.md §6.6), completed into writes once the
	// allocations are known.
	form    hashtable.Form
	found   bool
	foundB  bref
	oldFree bool
	oldSlab hashtable.Slab
	tgtNew  bool
	tgt     bref
	tgtSlot int
	link    bref
	allocs  [2]int
	nAllocs int
	ai      int
	objPtr  uint64
	bktPtr  uint64

	writes []wrItem
	frees  [2]hashtable.Slab
	nFrees int
	fi     int

	// A vector operation (engine.md §4, §6.4): the scalar operands, and
	// where the KV was found (inline: cur, its value at byte vOff of the
	// slot area; out-of-line: the object at vPtr). Its stored value is in
	// the value register rvalue/rvlen until the vector unit answers.
	fid, delta, cmp, swap uint64
	vInline               bool
	vOff                  int
	vPtr                  uint64

	// The answer.
	status uint8
	rvlen  int
	rvalue []byte
}

// state is everything Step changes.
type state struct {
	c []ctx

	rrRd, rrSl, rrWr, rrRsp int

	rdValid bool
	rdCtx   int
	rq      [maxC]uint8 // return queue ring
	rqHead  int
	rqLen   int
	rbeat   int // the head's transfers received (engine.md §5.2, §5.3)

	slValid bool
	slCtx   int
	slOp    uint8
	slClass int
	slPtr   uint64
	slWait  bool
	slWctx  int

	wrActive bool
	wrCtx    int
	wrI      int
	wrBeat   int

	// The vector unit (engine.md §8A): kvd_vec holds context vcCtx's
	// operation while vcBusy (in_ready = !vcBusy); vcWait counts the element
	// cycles still to go, and the result is out (out_valid) in the busy cycle
	// where it is 0 (vector.md §4). vcRes is that result, computed when the
	// operation was loaded.
	vcBusy bool
	vcCtx  int
	vcWait int
	vcRR   int
	vcRes  vector.Result

	cycle uint64
	stats Stats
}

func (s *state) clone() state {
	n := *s
	n.c = make([]ctx, len(s.c))
	for i := range s.c {
		n.c[i] = s.c[i].clone()
	}
	n.vcRes.New = append([]byte(nil), s.vcRes.New...)
	n.vcRes.Resp = append([]byte(nil), s.vcRes.Resp...)
	return n
}

func (c *ctx) clone() ctx {
	n := *c
	n.key = append([]byte(nil), c.key...)
	n.value = append([]byte(nil), c.value...)
	n.buf = append([]byte(nil), c.buf...)
	n.rvalue = append([]byte(nil), c.rvalue...)
	n.writes = make([]wrItem, len(c.writes))
	for i, w := range c.writes {
		n.writes[i] = wrItem{addr: w.addr, data: append([]byte(nil), w.data...), object: w.object}
	}
	return n
}

// Model is the cycle-accurate golden model of kvd_ht.
type Model struct {
	p     Params
	l     *hashtable.Layout
	ports []model.Port
	o     portOffsets

	addrMask uint64
	ptrMask  uint64
	ev       *lambda.Evaluator // the λs at the element width (kvd_vec's)

	st  state
	nph []uint8 // scratch: the phases at the edge
}

// New builds the model for cfg, in its reset state. It refuses the
// configurations hashtable.md §2.5 refuses.
func New(cfg config.Config) (*Model, error) {
	p, l, err := ParamsOf(cfg)
	if err != nil {
		return nil, err
	}
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("htengine: %v", err)
	}
	ev, err := vector.NewEvaluator(cfg)
	if err != nil {
		return nil, fmt.Errorf("htengine: %v", err)
	}
	m := &Model{p: p, l: l, ports: ports, o: offsetsOf(lay), ev: ev,
		addrMask: model.Mask(p.AW), ptrMask: model.Mask(p.P), nph: make([]uint8, p.C)}
	m.st.c = make([]ctx, p.C)
	for i := range m.st.c {
		c := &m.st.c[i]
		c.key = make([]byte, p.K)
		c.value = make([]byte, p.V)
		c.buf = make([]byte, p.OB)
		c.rvalue = make([]byte, p.V)
	}
	m.Reset()
	return m, nil
}

// Params returns the sizes the model was built with.
func (m *Model) Params() Params { return m.p }

// Layout is the hash-table layout the model uses.
func (m *Model) Layout() *hashtable.Layout { return m.l }

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset implements model.Model: every context FREE, every unit (the vector
// unit too) idle, the round-robin pointers 0, the return queue empty. Data
// registers are cleared too, though nothing observes them before they are
// written.
func (m *Model) Reset() {
	c := m.st.c
	for i := range c {
		c[i] = ctx{key: c[i].key, value: c[i].value, buf: c[i].buf, rvalue: c[i].rvalue}
		clear(c[i].key)
		clear(c[i].value)
		clear(c[i].buf)
		clear(c[i].rvalue)
	}
	m.st = state{c: c}
}

// Snapshot implements model.Model; the value shares nothing with the model.
func (m *Model) Snapshot() any { return m.st.clone() }

// Restore implements model.Model; the snapshot stays valid for further
// restores.
func (m *Model) Restore(s any) {
	sn, ok := s.(state)
	if !ok || len(sn.c) != len(m.st.c) {
		panic(fmt.Sprintf("htengine: Restore of a %T that is not a snapshot of this configuration", s))
	}
	m.st = sn.clone()
}

// Stats returns the counters since reset.
func (m *Model) Stats() Stats {
	s := m.st.stats
	s.Cycles = m.st.cycle
	return s
}

// Cycle is the number of cycles stepped since reset.
func (m *Model) Cycle() uint64 { return m.st.cycle }

// Idle reports whether every context is FREE and no unit holds anything.
func (m *Model) Idle() bool {
	st := &m.st
	for i := range st.c {
		if st.c[i].phase != phFree {
			return false
		}
	}
	return !st.rdValid && st.rqLen == 0 && !st.slValid && !st.slWait && !st.wrActive && !st.vcBusy
}

// InFlight is the number of contexts that are not FREE.
func (m *Model) InFlight() int {
	n := 0
	for i := range m.st.c {
		if m.st.c[i].phase != phFree {
			n++
		}
	}
	return n
}

// Phase names context x's phase (engine.md §3).
func (m *Model) Phase(x int) string { return phName[m.st.c[x].phase] }

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// rrWinner is the first context at or after rr (cyclically) whose phase is
// a or b (engine.md §3), or -1.
func (m *Model) rrWinner(rr int, a, b uint8) int {
	C := m.p.C
	for i := 0; i < C; i++ {
		x := rr + i
		if x >= C {
			x -= C
		}
		if ph := m.st.c[x].phase; ph == a || ph == b {
			return x
		}
	}
	return -1
}

func (m *Model) fail(format string, args ...any) error {
	return fmt.Errorf("htengine: cycle %d: "+format, append([]any{m.st.cycle}, args...)...)
}

// putBytes packs bytes into little-endian words (byte i at bits 8i+7:8i).
func putBytes(dst []uint64, src []byte) {
	for w := range dst {
		var v uint64
		for k := 7; k >= 0; k-- {
			if i := 8*w + k; i < len(src) {
				v = v<<8 | uint64(src[i])
			} else {
				v <<= 8
			}
		}
		dst[w] = v
	}
}

func byteOf(words []uint64, i int) byte { return byte(words[i/8] >> (8 * uint(i%8))) }

// Step implements model.Model (docs/microarch.md §1.1): the outputs of the
// cycle from the state at its start, then every unit's decision on that
// state, applied at the edge. It allocates only when an operation's plan is
// completed, when the vector unit takes an operation, or when it returns an
// error.
func (m *Model) Step(in, out []uint64) error {
	st := &m.st
	o := &m.o
	p := &m.p

	// ---- Outputs.
	free, rspW := m.outputs(out)

	// ---- Inputs, and the environment's promises (engine.md §2).
	reqXfer := in[o.iReqValid]&1 != 0 && free >= 0
	alReady := in[o.iAlReady]&1 != 0
	alRspV := in[o.iAlRspValid]&1 != 0
	rdReady := in[o.iRdReady]&1 != 0
	rdataV := in[o.iRdataValid]&1 != 0
	wrReady := in[o.iWrReady]&1 != 0
	if rdataV && st.rqLen == 0 {
		return m.fail("mem_rdata_valid = 1 with no read outstanding (engine.md §2, assumption 3)")
	}
	if alRspV && !st.slWait {
		return m.fail("al_rsp_valid = 1 with no alloc outstanding (engine.md §2, assumption 4)")
	}

	exec := -1 // at most one context is EXEC (engine.md §5.3)
	for x := range st.c {
		if st.c[x].phase == phExec {
			if exec >= 0 {
				return m.fail("contexts %d and %d are both EXEC", exec, x)
			}
			exec = x
		}
	}

	nph := m.nph
	for x := range st.c {
		nph[x] = st.c[x].phase
	}

	// ---- §4 Accept, excluding the context that retires in this cycle; and
	// §9 the response unit retires its winner. Both decide on the state at
	// the start of the cycle (the retiring context's has_succ and succ are
	// read before accept may set another context's).
	retSucc := -1
	if rspW >= 0 && st.c[rspW].hasSucc {
		retSucc = st.c[rspW].succ
	}
	if reqXfer {
		m.accept(in, free, rspW)
	}
	if rspW >= 0 {
		c := &st.c[rspW]
		nph[rspW] = phFree
		c.lock, c.err, c.hasSucc = false, false, false
		if retSucc >= 0 {
			nph[retSucc] = phRead
		}
		st.rrRsp = (rspW + 1) % p.C
		st.stats.Responses++
		st.stats.Status[c.status]++
		lat := st.cycle - c.accepted
		st.stats.LatencySum += lat
		st.stats.LatencyMax = max(st.stats.LatencyMax, lat)
	}

	// ---- §5.1 The read unit.
	push := -1
	if rdXfer := st.rdValid && rdReady; rdXfer || !st.rdValid {
		if rdXfer {
			push = st.rdCtx
			if st.c[st.rdCtx].robj {
				st.stats.ObjectReads++
			} else {
				st.stats.BucketReads++
			}
		}
		if w := m.rrWinner(st.rrRd, phRead, phRead); w >= 0 {
			st.rdValid, st.rdCtx = true, w
			nph[w] = phRWait
			st.rrRd = (w + 1) % p.C
		} else {
			st.rdValid = false
		}
	}

	// ---- §5.3 Read data, to the head of the return queue.
	if rdataV {
		// Transfer rbeat lands at bytes RW·rbeat … +RW−1 of the read buffer;
		// the read's last transfer is ⌈32·rbeats/RW⌉ − 1. A wide transfer of
		// an odd last beat carries zeros above it, past the read's bytes.
		h := int(st.rq[st.rqHead])
		c := &st.c[h]
		putTransfer(c.buf, p.RW*st.rbeat, in[o.iRdata:o.iRdata+o.rdataWords])
		perXfer := p.RW / BeatBytes
		st.stats.ReadTransfers++
		st.stats.ReadBeats += uint64(min(perXfer, c.rbeats-perXfer*st.rbeat))
		if in[o.iRdataErr]&1 != 0 {
			c.err = true
			st.stats.ErrBeats++
		}
		if st.rbeat == (BeatBytes*c.rbeats+p.RW-1)/p.RW-1 {
			st.rqHead = (st.rqHead + 1) % maxC
			st.rqLen--
			st.rbeat = 0
			nph[h] = phExec
		} else {
			st.rbeat++
		}
	}
	if push >= 0 {
		st.rq[(st.rqHead+st.rqLen)%maxC] = uint8(push)
		st.rqLen++
	}

	// ---- §6 The execute unit.
	if exec >= 0 {
		m.execute(exec)
	}

	// ---- §7 The slab unit.
	slXfer := st.slValid && alReady
	busyNext := (st.slWait && !alRspV) || (slXfer && st.slOp == AlAlloc)
	if alRspV {
		st.slWait = false
		m.answer(st.slWctx, in[o.iAlRspOK]&1 != 0, in[o.iAlRspPtr]&m.ptrMask)
	}
	if slXfer {
		c := &st.c[st.slCtx]
		if st.slOp == AlAlloc {
			st.slWait, st.slWctx = true, st.slCtx
			st.stats.Allocs++
		} else {
			st.stats.Frees++
			c.fi++
			if c.fi < c.nFrees {
				nph[st.slCtx] = phFreeing
			} else {
				nph[st.slCtx] = phResp
			}
		}
	}
	if (!st.slValid || slXfer) && !busyNext {
		if w := m.rrWinner(st.rrSl, phAlloc, phFreeing); w >= 0 {
			c := &st.c[w]
			st.slValid, st.slCtx = true, w
			if c.phase == phAlloc {
				st.slOp, st.slClass, st.slPtr = AlAlloc, c.allocs[c.ai], 0
				nph[w] = phAWait
			} else {
				f := c.frees[c.fi]
				st.slOp, st.slClass, st.slPtr = AlFree, f.Class, f.Ptr
				nph[w] = phFWait
			}
			st.rrSl = (w + 1) % p.C
		} else if slXfer {
			st.slValid = false
		}
	} else if slXfer {
		st.slValid = false
	}

	// ---- §8A The vector unit.
	if err := m.vectorUnit(); err != nil {
		return err
	}

	// ---- §8 The write unit.
	finished := false
	if st.wrActive && wrReady {
		c := &st.c[st.wrCtx]
		w := &c.writes[st.wrI]
		st.wrBeat++
		st.stats.WriteBeats++
		if BeatBytes*st.wrBeat == len(w.data) {
			if w.object {
				st.stats.ObjectWrites++
			} else {
				st.stats.BucketWrites++
			}
			st.wrI++
			st.wrBeat = 0
			if st.wrI == len(c.writes) {
				finished = true
				if c.nFrees > 0 {
					nph[st.wrCtx] = phFreeing
				} else {
					nph[st.wrCtx] = phResp
				}
			}
		}
	}
	if !st.wrActive || finished {
		if w := m.rrWinner(st.rrWr, phWrite, phWrite); w >= 0 {
			st.wrActive, st.wrCtx, st.wrI, st.wrBeat = true, w, 0, 0
			nph[w] = phWBusy
			st.rrWr = (w + 1) % p.C
		} else {
			st.wrActive = false
		}
	}

	// ---- The edge.
	for x := range st.c {
		st.stats.PhaseCycles[st.c[x].phase]++
		st.c[x].phase = nph[x]
	}
	st.cycle++
	return nil
}

// Outputs writes the outputs of the cycle — what Step writes — from the
// state alone, without advancing it: every output of kvd_ht depends on the
// state only (engine.md §2). A composition (golden/top) reads them before
// it knows the engine's inputs.
func (m *Model) Outputs(out []uint64) { m.outputs(out) }

// outputs writes the outputs of the cycle from the state at its start and
// returns the context a request would be accepted into (-1: none, so
// req_ready = 0) and the response unit's winner (-1: none).
func (m *Model) outputs(out []uint64) (free, rspW int) {
	st := &m.st
	o := &m.o
	clear(out[:o.outWords])
	free = -1
	for x := range st.c {
		if st.c[x].phase == phFree {
			free = x
			break
		}
	}
	out[o.oReqReady] = b2u(free >= 0)
	rspW = m.rrWinner(st.rrRsp, phResp, phResp)
	if rspW >= 0 {
		c := &st.c[rspW]
		out[o.oRspValid] = 1
		out[o.oRspTag] = uint64(c.tag)
		out[o.oRspStatus] = uint64(c.status)
		out[o.oRspVlen] = uint64(c.rvlen)
		putBytes(out[o.oRspValue:o.oRspValue+o.valueWords], c.rvalue)
	}
	if st.slValid {
		out[o.oAlValid] = 1
		out[o.oAlOp] = uint64(st.slOp)
		out[o.oAlClass] = uint64(st.slClass)
		out[o.oAlPtr] = st.slPtr & m.ptrMask
	}
	if st.rdValid {
		c := &st.c[st.rdCtx]
		out[o.oRdValid] = 1
		out[o.oRdAddr] = uint64(c.raddr) & m.addrMask
		out[o.oRdBeats] = uint64(c.rbeats)
	}
	out[o.oRdataReady] = 1
	if st.wrActive {
		w := &st.c[st.wrCtx].writes[st.wrI]
		out[o.oWrValid] = 1
		out[o.oWrAddr] = uint64(w.addr+int64(BeatBytes*st.wrBeat)) & m.addrMask
		putBytes(out[o.oWrData:o.oWrData+4], w.data[BeatBytes*st.wrBeat:BeatBytes*(st.wrBeat+1)])
	}
	return free, rspW
}

// putTransfer stores a read-data transfer (little-endian words: 4 for a
// beat, 8 for a wide transfer) at byte off of the read buffer dst. Words
// past the buffer's end are dropped: only a wide transfer's zero upper half
// could reach there (a read is at most the largest class, the buffer's
// size), and nothing reads past a read's bytes (engine.md §5.3).
func putTransfer(dst []byte, off int, words []uint64) {
	for w, v := range words {
		if i := off + 8*w; i+8 <= len(dst) {
			binary.LittleEndian.PutUint64(dst[i:], v)
		}
	}
}

// accept takes the request into context x (engine.md §4); retiring is the
// context the response unit retires in this cycle, or -1.
func (m *Model) accept(in []uint64, x, retiring int) {
	st := &m.st
	o := &m.o
	p := &m.p
	c := &st.c[x]
	c.op = uint8(in[o.iReqOp] & model.Mask(OpBits))
	c.tag = uint16(in[o.iReqTag])
	c.klen = int(in[o.iReqKlen] & model.Mask(p.KL))
	c.vlen = int(in[o.iReqVlen] & model.Mask(p.VL))
	c.bucket = in[o.iReqBucket] & model.Mask(p.BI)
	c.sec = in[o.iReqSec] & model.Mask(p.H)
	c.fid = in[o.iReqFid] & model.Mask(p.F)
	c.delta = in[o.iReqDelta] & model.Mask(p.E)
	c.cmp = in[o.iReqCmp] & model.Mask(p.E)
	c.swap = in[o.iReqSwap] & model.Mask(p.E)
	c.accepted = st.cycle
	key := in[o.iReqKey : o.iReqKey+o.keyWords]
	for i := range c.key {
		if i < c.klen {
			c.key[i] = byteOf(key, i)
		} else {
			c.key[i] = 0
		}
	}
	val := in[o.iReqValue : o.iReqValue+o.valueWords]
	for i := range c.value {
		if i < c.vlen {
			c.value[i] = byteOf(val, i)
		} else {
			c.value[i] = 0
		}
	}
	clear(c.rvalue)
	c.rvlen = 0
	c.err = false
	c.hasSucc = false
	st.stats.Accepted++
	st.stats.Ops[c.op]++

	var refuse uint8
	switch {
	case c.op == OpBad:
		refuse = StatusBadOp
	case c.klen == 0:
		refuse = StatusEmptyKey
	case c.klen > p.K:
		refuse = StatusKeyTooLong
	case (c.op == OpPut || c.op == OpUpdateV2V) && c.vlen > p.V:
		refuse = StatusValueTooLong
	}
	if refuse != 0 {
		c.lock = false
		c.status = refuse
		m.nph[x] = phResp
		return
	}

	c.lock = true
	c.status = StatusOK
	c.pos, c.place, c.cand, c.fitOK = 0, false, 0, false
	c.found, c.oldFree, c.tgtNew = false, false, false
	c.nAllocs, c.ai, c.nFrees, c.fi = 0, 0, 0, 0
	c.writes = c.writes[:0]
	if c.op == OpPut {
		c.form = m.l.FormOf(c.klen, c.vlen)
	}
	c.setRead(int64(c.bucket)*hashtable.BucketBytes, 2, false)

	for y := range st.c {
		d := &st.c[y]
		if y == x || y == retiring || !d.lock || d.bucket != c.bucket || d.hasSucc {
			continue
		}
		d.hasSucc, d.succ = true, x
		m.nph[x] = phBlocked
		st.stats.Blocked++
		return
	}
	m.nph[x] = phRead
}

func (c *ctx) setRead(addr int64, beats int, object bool) {
	c.raddr, c.rbeats, c.robj = addr, beats, object
}

// respond ends an operation with a status (no value) and moves it to RESP.
func (m *Model) respond(x int, status uint8) {
	c := &m.st.c[x]
	c.status = status
	c.rvlen = 0
	clear(c.rvalue)
	m.nph[x] = phResp
}

// execute is one step of hashtable.md §4 on context x's completed read
// (engine.md §6).
func (m *Model) execute(x int) {
	l := m.l
	c := &m.st.c[x]
	if c.err {
		m.respond(x, StatusMemError)
		return
	}
	if c.robj {
		m.object(x)
		return
	}
	var raw [hashtable.BucketBytes]byte
	copy(raw[:], c.buf)
	B := l.Decode(&raw)
	m.st.stats.MaxChainPos = max(m.st.stats.MaxChainPos, c.pos)

	if c.place { // §6.3
		c.cur = bref{b: B, addr: c.raddr, pos: c.pos}
		if j := l.FirstRun(&B, c.form.Slots); j >= 0 {
			c.tgt, c.tgtSlot = c.cur, j
			m.planned(x)
		} else if B.Valid {
			c.pos++
			c.setRead(l.Addr(B.Next), 2, false)
			m.nph[x] = phRead
		} else {
			c.tgtNew, c.link = true, c.cur
			m.planned(x)
		}
		return
	}

	// §6.1
	c.prev = c.cur
	c.cur = bref{b: B, addr: c.raddr, pos: c.pos}
	if c.op == OpPut && !c.fitOK {
		if j := l.FirstRun(&B, c.form.Slots); j >= 0 {
			c.fitOK, c.fit, c.fitSlot = true, c.cur, j
		}
	}
	if j, ok := l.MatchInline(&B, c.key[:c.klen]); ok {
		m.foundInline(x, j)
		return
	}
	c.cand = 0
	for j := 0; j < l.Slots; j++ {
		if l.Kind(&B, j) == hashtable.OutOfLine && l.SlotSec(&B, j) == c.sec {
			c.cand |= 1 << uint(j)
		}
	}
	m.advance(x)
}

// advance is §6.1 steps 4–6 on cur: the next candidate's object, else the
// next bucket, else not found.
func (m *Model) advance(x int) {
	l := m.l
	c := &m.st.c[x]
	switch {
	case c.cand != 0:
		j := bits.TrailingZeros32(c.cand)
		class := int(c.cur.b.Type[j])
		c.setRead(l.Addr(l.SlotPtr(&c.cur.b, j)), (l.Classes[class]+BeatBytes-1)/BeatBytes, true)
		m.nph[x] = phRead
	case c.cur.b.Valid:
		c.pos++
		c.setRead(l.Addr(c.cur.b.Next), 2, false)
		m.nph[x] = phRead
	default:
		m.notFound(x)
	}
}

// object is §6.2: the object of the lowest candidate of cur.
func (m *Model) object(x int) {
	l := m.l
	c := &m.st.c[x]
	j := bits.TrailingZeros32(c.cand)
	kl, vl := l.DecodeHeader(binary.LittleEndian.Uint16(c.buf))
	if kl == c.klen && string(c.buf[hashtable.HeaderBytes:hashtable.HeaderBytes+kl]) == string(c.key[:kl]) {
		lo := min(hashtable.HeaderBytes+kl, len(c.buf))
		hi := min(lo+vl, len(c.buf))
		m.found(x, j, false, 1, int(c.cur.b.Type[j]), l.SlotPtr(&c.cur.b, j), c.buf[lo:hi])
		return
	}
	c.cand &^= 1 << uint(j)
	m.advance(x)
}

// foundInline is a hit on the inline KV starting at slot j of cur.
func (m *Model) foundInline(x, j int) {
	l := m.l
	c := &m.st.c[x]
	b := &c.cur.b
	e := l.RegionEnd(b, j)
	k := l.SlotBytes*j + c.klen - 1
	last := k
	for q := l.SlotBytes * (e + 1); q > k; q-- {
		if b.Bitmap>>uint(q-1)&1 == 1 {
			last = q - 1
			break
		}
	}
	c.vOff = k + 1
	m.found(x, j, true, e-j+1, 0, 0, b.Data[k+1:last+1])
}

// found is §6.4: the key is at slot j of cur (slots slots; out-of-line:
// class, ptr); value is its value.
func (m *Model) found(x, j int, inline bool, slots, class int, ptr uint64, value []byte) {
	l := m.l
	c := &m.st.c[x]
	switch c.op {
	case OpGet:
		c.status = StatusOK
		clear(c.rvalue)
		c.rvlen = copy(c.rvalue, value)
		m.nph[x] = phResp

	case OpUpdateS2V, OpUpdateV2V, OpReduce, OpFilter:
		// The value register takes the value as GET would answer it; the
		// context keeps where the KV is (cur, vOff; or the object).
		clear(c.rvalue)
		c.rvlen = copy(c.rvalue, value)
		c.vInline, c.vPtr = inline, ptr
		m.nph[x] = phVec

	case OpDelete:
		B := c.cur.b
		l.ClearSlots(&B, j, slots)
		c.writes = c.writes[:0]
		c.nFrees, c.fi = 0, 0
		if c.cur.pos >= 1 && l.IsEmpty(&B) {
			P := c.prev.b
			P.Next, P.Valid = B.Next, B.Valid
			c.writes = append(c.writes, m.bucketWrite(c.prev.addr, &P))
			c.frees[c.nFrees] = hashtable.Slab{Ptr: l.Ptr(c.cur.addr), Class: l.BucketClass}
			c.nFrees++
		} else {
			c.writes = append(c.writes, m.bucketWrite(c.cur.addr, &B))
		}
		if !inline {
			c.frees[c.nFrees] = hashtable.Slab{Ptr: ptr, Class: class}
			c.nFrees++
		}
		c.status = StatusOK
		m.nph[x] = phWrite

	case OpPut:
		if !inline && !c.form.Inline && class == c.form.Class {
			c.writes = append(c.writes[:0], wrItem{addr: l.Addr(ptr), data: m.objectImage(c), object: true})
			c.status = StatusOK
			m.nph[x] = phWrite
			return
		}
		c.found = true
		c.foundB = c.cur
		l.ClearSlots(&c.foundB.b, j, slots)
		if !inline {
			c.oldFree, c.oldSlab = true, hashtable.Slab{Ptr: ptr, Class: class}
		}
		switch s := l.FirstRun(&c.foundB.b, c.form.Slots); {
		case s >= 0:
			c.tgt, c.tgtSlot = c.foundB, s
			m.planned(x)
		case c.fitOK:
			c.tgt, c.tgtSlot = c.fit, c.fitSlot
			m.planned(x)
		case c.cur.b.Valid:
			c.place = true
			c.pos++
			c.setRead(l.Addr(c.cur.b.Next), 2, false)
			m.nph[x] = phRead
		default:
			c.tgtNew, c.link = true, c.foundB
			m.planned(x)
		}
	}
}

// vectorUnit is engine.md §8A for one cycle: the result of the operation
// kvd_vec holds, or the load of the RR winner among the VEC contexts
// (in_ready = 1 iff the unit is idle, so never both in one cycle).
func (m *Model) vectorUnit() error {
	st := &m.st
	switch {
	case st.vcBusy && st.vcWait == 0: // out_valid: the result cycle
		st.vcBusy = false
		m.vecResult(st.vcCtx)
		if m.rrWinner(st.vcRR, phVec, phVec) >= 0 {
			st.stats.VecStalls++
		}
	case st.vcBusy:
		st.vcWait--
		if m.rrWinner(st.vcRR, phVec, phVec) >= 0 {
			st.stats.VecStalls++
		}
	default:
		w := m.rrWinner(st.vcRR, phVec, phVec)
		if w < 0 {
			return nil
		}
		c := &st.c[w]
		r := vector.Request{Op: vector.Op(c.op - OpUpdateS2V), Fid: c.fid, Value: c.rvalue[:c.rvlen],
			Delta: c.delta, Cmp: c.cmp, Swap: c.swap}
		if c.op == OpUpdateV2V {
			r.Dvec = c.value[:min(c.vlen, m.p.V)] // in_dlen, in_dvec: req_vlen, req_value
		}
		res, err := vector.Exec(m.ev, r)
		if err != nil {
			return m.fail("vector unit, context %d: %v", w, err)
		}
		st.vcRes = res
		st.vcBusy, st.vcCtx, st.vcWait = true, w, res.N
		st.vcRR = (w + 1) % m.p.C
		m.nph[w] = phVWait
		st.stats.VecOps++
		st.stats.VecElements += uint64(res.N)
	}
	return nil
}

// vecResult is §6.7: context x takes kvd_vec's result.
func (m *Model) vecResult(x int) {
	l := m.l
	st := &m.st
	c := &st.c[x]
	res := &st.vcRes
	if res.Fault {
		st.stats.VecFaults++
		m.respond(x, StatusLambdaFault)
		return
	}
	vl := c.rvlen
	c.status = StatusOK
	clear(c.rvalue)
	c.rvlen = copy(c.rvalue, res.Resp)
	if c.op == OpReduce || c.op == OpFilter {
		m.nph[x] = phResp
		return
	}
	// An update: one write in place of out_new's first vl bytes; no
	// allocation, no free.
	c.writes = c.writes[:0]
	c.nFrees, c.fi = 0, 0
	if c.vInline {
		B := c.cur.b
		copy(B.Data[c.vOff:c.vOff+vl], res.New[:vl])
		c.writes = append(c.writes, m.bucketWrite(c.cur.addr, &B))
	} else {
		c.writes = append(c.writes, wrItem{addr: l.Addr(c.vPtr),
			data: l.ObjectImage(c.key[:c.klen], res.New[:vl]), object: true})
	}
	st.stats.VecWriteBacks++
	m.nph[x] = phWrite
}

// notFound is §6.5.
func (m *Model) notFound(x int) {
	c := &m.st.c[x]
	if c.op != OpPut {
		m.respond(x, StatusNotFound)
		return
	}
	if c.fitOK {
		c.tgt, c.tgtSlot = c.fit, c.fitSlot
	} else {
		c.tgtNew, c.link = true, c.cur
	}
	m.planned(x)
}

// planned is §6.6: the allocations needed, else the writes.
func (m *Model) planned(x int) {
	c := &m.st.c[x]
	c.nAllocs, c.ai = 0, 0
	if !c.form.Inline {
		c.allocs[c.nAllocs] = c.form.Class
		c.nAllocs++
	}
	if c.tgtNew {
		c.allocs[c.nAllocs] = m.l.BucketClass
		c.nAllocs++
	}
	if c.nAllocs == 0 {
		m.toWrite(x)
	} else {
		m.nph[x] = phAlloc
	}
}

// answer is §7 step 1: context x takes the allocator's answer.
func (m *Model) answer(x int, ok bool, ptr uint64) {
	c := &m.st.c[x]
	if !ok {
		m.st.stats.NoMemory++
		c.status = StatusNoMemory
		if !c.form.Inline && c.ai == 1 { // it holds its new object
			c.frees[0] = hashtable.Slab{Ptr: c.objPtr, Class: c.form.Class}
			c.nFrees, c.fi = 1, 0
			m.nph[x] = phFreeing
		} else {
			c.nFrees = 0
			m.nph[x] = phResp
		}
		return
	}
	m.st.stats.AllocsOK++
	if c.ai == 0 && !c.form.Inline {
		c.objPtr = ptr
	} else {
		c.bktPtr = ptr
	}
	c.ai++
	if c.ai < c.nAllocs {
		m.nph[x] = phAlloc
	} else {
		m.toWrite(x)
	}
}

// toWrite completes a PUT's plan with the allocated pointers (§6.6) and
// moves x to WRITE.
func (m *Model) toWrite(x int) {
	l := m.l
	c := &m.st.c[x]
	key, value := c.key[:c.klen], c.value[:c.vlen]
	put := func(b *hashtable.Bucket, j int) {
		if c.form.Inline {
			l.PlaceInline(b, j, key, value)
		} else {
			l.PlaceOutOfLine(b, j, c.objPtr, c.sec, c.form.Class)
		}
	}
	c.writes = c.writes[:0]
	if !c.form.Inline {
		c.writes = append(c.writes, wrItem{addr: l.Addr(c.objPtr), data: m.objectImage(c), object: true})
	}
	if c.tgtNew {
		var nb hashtable.Bucket
		put(&nb, 0)
		c.writes = append(c.writes, m.bucketWrite(l.Addr(c.bktPtr), &nb))
	}
	// The existing buckets that changed, each once, in chain order.
	var list [3]bref
	n := 0
	if c.found {
		list[0] = c.foundB
		n = 1
	}
	merge := func(r *bref) *bref {
		for i := 0; i < n; i++ {
			if list[i].pos == r.pos {
				return &list[i]
			}
		}
		list[n] = *r
		n++
		return &list[n-1]
	}
	if c.tgtNew {
		b := merge(&c.link)
		b.b.Next, b.b.Valid = c.bktPtr, true
	} else {
		b := merge(&c.tgt)
		put(&b.b, c.tgtSlot)
	}
	if n == 2 && list[1].pos < list[0].pos {
		list[0], list[1] = list[1], list[0]
	}
	for i := 0; i < n; i++ {
		c.writes = append(c.writes, m.bucketWrite(list[i].addr, &list[i].b))
	}
	c.nFrees, c.fi = 0, 0
	if c.oldFree {
		c.frees[0] = c.oldSlab
		c.nFrees = 1
	}
	c.status = StatusOK
	m.nph[x] = phWrite
}

func (m *Model) bucketWrite(addr int64, b *hashtable.Bucket) wrItem {
	img := m.l.Encode(b)
	return wrItem{addr: addr, data: img[:]}
}

func (m *Model) objectImage(c *ctx) []byte {
	return m.l.ObjectImage(c.key[:c.klen], c.value[:c.vlen])
}

// DescribeState is a short summary of the block for hang reports.
func (m *Model) DescribeState() string {
	st := &m.st
	var b strings.Builder
	fmt.Fprintf(&b, "kvd_ht cycle %d: contexts", st.cycle)
	for x := range st.c {
		c := &st.c[x]
		fmt.Fprintf(&b, " [%d %s", x, phName[c.phase])
		if c.phase != phFree {
			fmt.Fprintf(&b, " op %d tag %d bucket %d pos %d", c.op, c.tag, c.bucket, c.pos)
			if (c.phase == phVec || c.phase == phVWait) && isVector(c.op) {
				fmt.Fprintf(&b, " fid %d vl %d", c.fid, c.rvlen)
			}
			if c.hasSucc {
				fmt.Fprintf(&b, " succ %d", c.succ)
			}
		}
		b.WriteString("]")
	}
	fmt.Fprintf(&b, "; read unit %v ctx %d, RQ %d, slab %v ctx %d wait %v, write %v ctx %d",
		st.rdValid, st.rdCtx, st.rqLen, st.slValid, st.slCtx, st.slWait, st.wrActive, st.wrCtx)
	if st.vcBusy {
		fmt.Fprintf(&b, ", vector unit busy ctx %d (%d elements, result in %d cycles)", st.vcCtx, st.vcRes.N, st.vcWait)
	} else {
		b.WriteString(", vector unit idle")
	}
	return b.String()
}

var _ model.Model = (*Model)(nil)
