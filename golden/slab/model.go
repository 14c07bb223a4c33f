package slab

import (
	"fmt"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/model"
)

// Sync-engine states (slab.md §4, §5.4).
const (
	esIdle = iota
	esIdxRd
	esIdxWait
	esRF
	esFlRd
	esFlWr
	esPtr
)

var esName = [...]string{"IDLE", "IDX_RD", "IDX_WAIT", "RF", "FL_RD", "FL_WR", "PTR"}

// Engine operations.
const (
	eopRefill = iota
	eopFlush
)

const maxNC = config.MaxSlabClasses

// Stats counts what the block did since reset. They are not ports: the
// bench and the tests read them.
type Stats struct {
	Allocs      uint64 // allocs answered with a pointer
	NoMemory    uint64 // allocs answered "no memory"
	Frees       uint64 // frees pushed
	Dropped     uint64 // frees dropped (invalid class, null pointer)
	WaitCycles  uint64 // cycles that started with a waiting request
	Refills     uint64 // refill batches claimed
	Flushes     uint64 // flush batches claimed
	IndexReads  uint64 // host-line reads issued
	ErrBeats    uint64 // beats received with mem_rdata_err
	RefillNulls uint64 // null entries skipped in refill batches
}

// state is everything Step changes. Per-class registers are fixed arrays so
// that a snapshot is one copy plus the stack memories.
type state struct {
	mem []uint64 // NC × D stack memories, class c at [c·D, c·D+D)

	lo, hi           [maxNC]uint32 // DW-bit pointers, kept mod 2D
	rfCons, flProd   [maxNC]uint32
	rfProdC, flConsC [maxNC]uint32
	errBeats         [maxNC]uint32
	oom              [maxNC]bool
	// waitUntil[c] is the first cycle in which wait[c] of §5.5 is 0:
	// setting wait[c] to RETRY at the edge of cycle t makes it t+1+RETRY.
	waitUntil [maxNC]uint64

	pendV     bool
	pendOp    uint8
	pendClass uint8
	pendPtr   uint64

	rspV, rspOK bool
	rspPtr      uint64

	es, eop uint8
	ec      int
	resv    int
	rqLeft  int
	btLeft  int
	btIss   int
	fj      int
	rr      int
	wbeat   [Lanes]uint64

	cycle uint64
	stats Stats
}

func (s *state) clone() state {
	c := *s
	c.mem = append([]uint64(nil), s.mem...)
	return c
}

// Model is the cycle-accurate golden model of kvd_slab.
type Model struct {
	p     Params
	ports []model.Port
	o     portOffsets

	ptrMask   uint64 // P bits
	entryMask uint64 // the pointer bits of a 4-byte ring entry: min(P, 32)
	cntMask   uint32 // 2D - 1: stack pointers are DW bits wide
	dMask     uint32 // D - 1

	st  state
	err error
}

// New builds the model for cfg, in its reset state.
func New(cfg config.Config) (*Model, error) {
	p, err := ParamsOf(cfg)
	if err != nil {
		return nil, err
	}
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("slab: %v", err)
	}
	m := &Model{p: p, ports: ports, o: offsetsOf(lay)}
	m.ptrMask = model.Mask(p.P)
	m.entryMask = model.Mask(min(p.P, 32))
	m.cntMask = uint32(2*p.D - 1)
	m.dMask = uint32(p.D - 1)
	m.st.mem = make([]uint64, p.NC*p.D)
	m.Reset()
	return m, nil
}

// Params returns the sizes the model was built with.
func (m *Model) Params() Params { return m.p }

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset implements model.Model (slab.md §5.6). The stack memories and the
// data registers are zeroed too, though nothing observes them before they
// are written.
func (m *Model) Reset() {
	mem := m.st.mem
	clear(mem)
	m.st = state{mem: mem}
	m.err = nil
}

// Snapshot implements model.Model; the value shares nothing with the model.
func (m *Model) Snapshot() any { return m.st.clone() }

// Restore implements model.Model; the snapshot stays valid for further
// restores.
func (m *Model) Restore(s any) {
	sn, ok := s.(state)
	if !ok || len(sn.mem) != len(m.st.mem) {
		panic(fmt.Sprintf("slab: Restore of a %T that is not a snapshot of this configuration", s))
	}
	mem := m.st.mem
	copy(mem, sn.mem)
	m.st = sn
	m.st.mem = mem
	m.err = nil
}

// Stats returns the counters since reset.
func (m *Model) Stats() Stats { return m.st.stats }

// Cycle is the number of cycles stepped since reset.
func (m *Model) Cycle() uint64 { return m.st.cycle }

// Count is cnt[c], the live entries of class c's stack.
func (m *Model) Count(c int) int { return int((m.st.hi[c] - m.st.lo[c]) & m.cntMask) }

// OOM is oom[c].
func (m *Model) OOM(c int) bool { return m.st.oom[c] }

// Idle reports whether the sync engine is IDLE: no batch is half moved and
// the NIC's ring indices are those in its control lines (slab.md §9).
func (m *Model) Idle() bool { return m.st.es == esIdle }

// Settled reports whether the engine is IDLE and will stay so in the next
// cycle: no class needs a refill or a flush now (a class whose retry timer
// runs does not).
func (m *Model) Settled() bool {
	if m.st.es != esIdle {
		return false
	}
	for c := 0; c < m.p.NC; c++ {
		if m.needRefill(c) || m.needFlush(c) {
			return false
		}
	}
	return true
}

// Waiting reports whether a request waits (pend_v).
func (m *Model) Waiting() bool { return m.st.pendV }

// Held lists the slabs the NIC holds (slab.md §9): every stack's live
// entries and a waiting free's pointer. Meaningful when Idle. A pointer
// popped for an alloc and not yet on rsp_ptr is ResponsePending's.
func (m *Model) Held() []hashtable.Slab {
	st := &m.st
	var out []hashtable.Slab
	for c := 0; c < m.p.NC; c++ {
		n := m.Count(c)
		for i := 0; i < n; i++ {
			a := (st.lo[c] + uint32(i)) & m.dMask
			out = append(out, hashtable.Slab{Ptr: st.mem[c*m.p.D+int(a)], Class: c})
		}
	}
	if st.pendV && st.pendOp == OpFree {
		out = append(out, hashtable.Slab{Ptr: st.pendPtr, Class: int(st.pendClass)})
	}
	return out
}

// ResponsePending is the pointer in the response register, which rsp_ptr
// shows in the next cycle (ok=false when that answer is "no memory" or
// there is none). The register does not know the class; the client does.
func (m *Model) ResponsePending() (ptr uint64, ok bool) {
	return m.st.rspPtr, m.st.rspV && m.st.rspOK
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (m *Model) cnt(c int) int { return int((m.st.hi[c] - m.st.lo[c]) & m.cntMask) }

// resvOf is resv_c(c) of §4.
func (m *Model) resvOf(c int) int {
	if m.st.es != esIdle && m.st.ec == c {
		return m.st.resv
	}
	return 0
}

// Step implements model.Model (docs/microarch.md §1.1, slab.md §5). It
// allocates nothing unless it returns an error.
func (m *Model) Step(in, out []uint64) error {
	st := &m.st
	o := &m.o
	p := &m.p

	// ---- §5.1 Outputs, from the state at the start of the cycle.
	out[o.oReqReady] = b2u(!st.pendV)
	out[o.oRspValid] = b2u(st.rspV)
	if st.rspV && st.rspOK {
		out[o.oRspOK], out[o.oRspPtr] = 1, st.rspPtr
	} else {
		out[o.oRspOK], out[o.oRspPtr] = 0, 0
	}
	rdValid := false
	var rdBeats int
	switch {
	case st.es == esIdxRd:
		rdValid = true
		out[o.oRdAddr], out[o.oRdBeats] = uint64(p.HL(st.ec)), 1
		rdBeats = 1
	case st.es == esRF && st.rqLeft > 0:
		rdValid = true
		k := p.NR - st.rqLeft
		rdBeats = min(MaxBeats, p.NB-MaxBeats*k)
		addr := p.RR(st.ec) + EntryBytes*int64(st.rfCons[st.ec]%uint32(p.RN)) + int64(MaxBeats*BeatBytes*k)
		out[o.oRdAddr], out[o.oRdBeats] = uint64(addr), uint64(rdBeats)
	default:
		out[o.oRdAddr], out[o.oRdBeats] = 0, 0
	}
	out[o.oRdValid] = b2u(rdValid)
	rdataReady := st.es == esIdxWait || st.es == esRF
	out[o.oRdataReady] = b2u(rdataReady)
	wd := out[o.oWrData : o.oWrData+4]
	switch st.es {
	case esFlWr:
		out[o.oWrValid] = 1
		out[o.oWrAddr] = uint64(p.FR(st.ec) + EntryBytes*int64(st.flProd[st.ec]%uint32(p.RN)) + BeatBytes*int64(st.fj))
		for w := 0; w < 4; w++ {
			wd[w] = st.wbeat[2*w]&0xffffffff | st.wbeat[2*w+1]<<32
		}
	case esPtr:
		out[o.oWrValid] = 1
		out[o.oWrAddr] = uint64(p.NL(st.ec))
		c := st.ec
		wd[0] = uint64(st.rfCons[c]) | uint64(st.flProd[c])<<32
		wd[1], wd[2], wd[3] = uint64(st.errBeats[c]), 0, 0
	default:
		out[o.oWrValid], out[o.oWrAddr] = 0, 0
		wd[0], wd[1], wd[2], wd[3] = 0, 0, 0, 0
	}

	// ---- §5.2 The request stage decides on the start state; its effects
	// are applied after the engine's (the two touch disjoint registers, and
	// port A and port B disjoint stack addresses, slab.md §11).
	if st.pendV {
		st.stats.WaitCycles++
	}
	var xV bool
	var xOp, xClass uint8
	var xPtr uint64
	if st.pendV {
		xV, xOp, xClass, xPtr = true, st.pendOp, st.pendClass, st.pendPtr
	} else if in[o.iReqValid]&1 != 0 {
		xV = true
		xOp = uint8(in[o.iReqOp] & 1)
		xClass = uint8(in[o.iReqClass] & (1<<ClassBits - 1))
		xPtr = in[o.iReqPtr] & m.ptrMask
	}
	const (
		actNone = iota
		actPop
		actPush
		actNoMem
		actWait
	)
	act := actNone
	var popped uint64
	if xV {
		c := int(xClass)
		switch {
		case xOp == OpAlloc && c >= p.NC:
			act = actNoMem
		case xOp == OpAlloc && m.cnt(c) > 0:
			act = actPop
			popped = st.mem[c*p.D+int((st.hi[c]-1)&m.dMask)]
		case xOp == OpAlloc && st.oom[c]:
			act = actNoMem
		case xOp == OpAlloc:
			act = actWait
		case c >= p.NC || xPtr == 0:
			st.stats.Dropped++
		case m.cnt(c)+m.resvOf(c) < p.D:
			act = actPush
		default:
			act = actWait
		}
	}

	// ---- §5.3, §5.4 The sync engine.
	if err := m.engine(in, rdValid, rdBeats); err != nil {
		return err
	}

	// ---- Apply the request stage.
	st.rspV, st.rspOK = false, false
	st.pendV = false
	switch act {
	case actPop:
		c := int(xClass)
		st.hi[c] = (st.hi[c] - 1) & m.cntMask
		st.rspV, st.rspOK, st.rspPtr = true, true, popped
		st.stats.Allocs++
	case actNoMem:
		st.rspV = true
		st.stats.NoMemory++
	case actPush:
		c := int(xClass)
		st.mem[c*p.D+int(st.hi[c]&m.dMask)] = xPtr
		st.hi[c] = (st.hi[c] + 1) & m.cntMask
		st.stats.Frees++
	case actWait:
		st.pendV, st.pendOp, st.pendClass, st.pendPtr = true, xOp, xClass, xPtr
	}

	st.cycle++
	return nil
}

// waitZero is wait[c] = 0 in the current cycle (§5.5).
func (m *Model) waitZero(c int) bool { return m.st.cycle >= m.st.waitUntil[c] }

// setWait sets wait[c] to RETRY at this cycle's edge.
func (m *Model) setWait(c int) { m.st.waitUntil[c] = m.st.cycle + 1 + uint64(m.p.Retry) }

func (m *Model) needRefill(c int) bool {
	return m.cnt(c) < m.p.LW && (m.st.rfProdC[c] != m.st.rfCons[c] || m.waitZero(c))
}

func (m *Model) room(c int) bool {
	return m.st.flProd[c]-m.st.flConsC[c] <= uint32(m.p.RN-m.p.B)
}

func (m *Model) needFlush(c int) bool {
	return m.cnt(c) > m.p.HW && (m.room(c) || m.waitZero(c))
}

func (m *Model) claimRefill() {
	st := &m.st
	st.resv, st.rqLeft, st.btLeft, st.btIss = m.p.B, m.p.NR, m.p.NB, 0
	st.es = esRF
	st.stats.Refills++
}

func (m *Model) claimFlush() {
	st := &m.st
	c := st.ec
	st.lo[c] = (st.lo[c] + uint32(m.p.B)) & m.cntMask
	st.resv, st.fj = m.p.B, 0
	st.es = esFlRd
	st.stats.Flushes++
}

// start begins serving class c (§5.3).
func (m *Model) start(c int, refill bool) {
	st := &m.st
	st.rr = (c + 1) % m.p.NC
	st.ec = c
	if refill {
		st.eop = eopRefill
		if st.rfProdC[c] != st.rfCons[c] {
			m.claimRefill()
			return
		}
	} else {
		st.eop = eopFlush
		if m.room(c) {
			m.claimFlush()
			return
		}
	}
	st.es = esIdxRd
	st.stats.IndexReads++
}

// readBeat moves the 8 oldest reserved entries of class ec into wbeat.
func (m *Model) readBeat() {
	st := &m.st
	c := st.ec
	base := st.lo[c] - uint32(st.resv)
	for k := 0; k < Lanes; k++ {
		st.wbeat[k] = st.mem[c*m.p.D+int((base+uint32(k))&m.dMask)]
	}
	st.resv -= Lanes
}

func (m *Model) engine(in []uint64, rdValid bool, rdBeats int) error {
	st := &m.st
	o := &m.o
	p := &m.p
	rdAcc := rdValid && in[o.iRdReady]&1 != 0
	dataAcc := (st.es == esIdxWait || st.es == esRF) && in[o.iRdataValid]&1 != 0
	wrAcc := (st.es == esFlWr || st.es == esPtr) && in[o.iWrReady]&1 != 0
	if dataAcc {
		if in[o.iRdataErr]&1 != 0 {
			st.stats.ErrBeats++
		}
	}

	switch st.es {
	case esIdle:
		c, refill := -1, false
		if st.pendV && int(st.pendClass) < p.NC {
			pc := int(st.pendClass)
			if m.needRefill(pc) {
				c, refill = pc, true
			} else if m.needFlush(pc) {
				c = pc
			}
		}
		if c < 0 {
			for i := 0; i < p.NC; i++ {
				k := st.rr + i
				if k >= p.NC {
					k -= p.NC
				}
				if m.needRefill(k) {
					c, refill = k, true
					break
				}
				if m.needFlush(k) {
					c = k
					break
				}
			}
		}
		if c >= 0 {
			m.start(c, refill)
		}

	case esIdxRd:
		if rdAcc {
			st.es = esIdxWait
		}

	case esIdxWait:
		if !dataAcc {
			break
		}
		c := st.ec
		if in[o.iRdataLast]&1 == 0 {
			return m.fail("host-line read of class %d: its one beat came without mem_rdata_last", c)
		}
		if in[o.iRdataErr]&1 != 0 {
			st.errBeats[c]++
			m.setWait(c)
			st.es = esIdle
			break
		}
		w0, w1 := in[o.iRdata], in[o.iRdata+1]
		rp, fc, x := uint32(w0), uint32(w0>>32), w1&1 != 0
		st.rfProdC[c], st.flConsC[c] = rp, fc
		st.oom[c] = x && rp == st.rfCons[c]
		st.es = esIdle
		if st.eop == eopRefill {
			if rp != st.rfCons[c] && m.cnt(c) < p.LW {
				m.claimRefill()
			} else if rp == st.rfCons[c] {
				m.setWait(c)
			}
		} else {
			if room := st.flProd[c]-fc <= uint32(p.RN-p.B); room && m.cnt(c) > p.HW {
				m.claimFlush()
			} else if !room {
				m.setWait(c)
			}
		}

	case esRF:
		if rdAcc {
			st.rqLeft--
			st.btIss += rdBeats
		}
		if !dataAcc {
			break
		}
		c := st.ec
		if st.btIss == 0 {
			return m.fail("refill of class %d: a read beat arrived with no requested beat outstanding", c)
		}
		b := p.NB - st.btLeft // beat number within the batch
		wantLast := b%MaxBeats == MaxBeats-1 || b == p.NB-1
		if (in[o.iRdataLast]&1 != 0) != wantLast {
			return m.fail("refill of class %d: beat %d of %d has mem_rdata_last = %d, want %d", c, b, p.NB, in[o.iRdataLast]&1, b2u(wantLast))
		}
		if in[o.iRdataErr]&1 != 0 {
			st.errBeats[c]++
		} else {
			base := c * p.D
			lo := st.lo[c]
			for k := 0; k < Lanes; k++ {
				w := in[o.iRdata+k/2] >> (32 * uint(k%2))
				e := w & m.entryMask
				if e == 0 {
					st.stats.RefillNulls++
					continue
				}
				lo = (lo - 1) & m.cntMask
				st.mem[base+int(lo&m.dMask)] = e
			}
			st.lo[c] = lo
		}
		st.resv -= Lanes
		st.btLeft--
		st.btIss--
		if st.btLeft == 0 {
			st.rfCons[c] += uint32(p.B)
			st.es = esPtr
		}

	case esFlRd:
		m.readBeat()
		st.es = esFlWr

	case esFlWr:
		if !wrAcc {
			break
		}
		st.fj++
		if st.fj < p.NB {
			m.readBeat()
		} else {
			st.flProd[st.ec] += uint32(p.B)
			st.es = esPtr
		}

	case esPtr:
		if wrAcc {
			st.es = esIdle
		}
	}
	return nil
}

func (m *Model) fail(format string, args ...any) error {
	return fmt.Errorf("slab: cycle %d: "+format, append([]any{m.st.cycle}, args...)...)
}

// DescribeState is a short summary of the block for hang reports.
func (m *Model) DescribeState() string {
	st := &m.st
	var b strings.Builder
	fmt.Fprintf(&b, "slab cycle %d: engine %s", st.cycle, esName[st.es])
	if st.es != esIdle {
		op := "refill"
		if st.eop == eopFlush {
			op = "flush"
		}
		fmt.Fprintf(&b, " (%s of class %d, resv %d)", op, st.ec, st.resv)
	}
	b.WriteString("; stacks")
	for c := 0; c < m.p.NC; c++ {
		fmt.Fprintf(&b, " [%d: %d", c, m.cnt(c))
		if st.oom[c] {
			b.WriteString(" oom")
		}
		fmt.Fprintf(&b, " rf %d/%d fl %d/%d]", st.rfCons[c], st.rfProdC[c], st.flConsC[c], st.flProd[c])
	}
	if st.pendV {
		op := "alloc"
		if st.pendOp == OpFree {
			op = "free"
		}
		fmt.Fprintf(&b, "; waiting %s of class %d", op, st.pendClass)
	}
	return b.String()
}

var _ model.Model = (*Model)(nil)
