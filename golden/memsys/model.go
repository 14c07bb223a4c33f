// Package memsys is the golden model of the memory system, kvd_memsys
// (docs/microarch/memory.md, with the conventions of docs/microarch.md §1),
// written from that document only.
//
// N client ports (each a docs/microarch.md §1.7 host-memory port, seen from
// the memory side) are merged onto L PCIe link ports and one on-board DRAM
// port. Each client's requests are split at 64 B lines into pieces; a
// piece whose line the load dispatcher's hash selects goes through the DRAM
// cache (a direct-mapped, write-back, write-around cache with swap-in on
// the reads of swap-in clients), every other piece to the link its 512 B
// block hashes to. Read data lands in a per-client read buffer at the
// position reserved when the request was accepted, so completions may
// return in any order and each client still sees its data in request order.
//
// Step follows docs/microarch.md §1.1 and memory.md §6: the outputs of a
// cycle come from the state at its start only; every decision of the cycle
// is taken on the state at its start (and that cycle's inputs); the code
// below is ordered so that each step reads what memory.md §6 says it reads.
package memsys

import (
	"fmt"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Cache operation kinds (memory.md §4.3).
const (
	opR = iota // read, no swap-in
	opS        // read with swap-in
	opW        // write
	opF        // flush of one slot
)

// Read destinations (memory.md §3.3).
const (
	destClient = iota
	destFlush
)

// Flush sequencer states (memory.md §4.6).
const (
	fIdle = iota
	fSweep
	fDrain
	fWait
)

// iqEnt is an IQ entry: a read request or one write beat.
type iqEnt struct {
	write bool
	beats uint8
	addr  uint64
	rbpos uint32
	data  [4]uint64
}

// linkReq is a request for a link: a direct piece, or one the cache path
// sends (miss read, write-around, write-back, flush read).
type linkReq struct {
	write   bool
	install bool // a swap-in read: the line is installed when it returns
	dest    uint8
	client  uint8
	beats   uint8 // on the link
	skip, n uint8 // read: beats skip .. skip+n-1 go to the client
	pt      uint16
	rbpos   uint32
	addr    uint64
	line    uint64 // install: the line address
	data    [8]uint64
}

// cacheOp is a cacheable piece (route queue CQ, then LQ).
type cacheOp struct {
	kind   uint8
	client uint8
	o, n   uint8 // first beat in the line, beats
	pt     uint16
	rbpos  uint32
	line   uint64 // opF: the slot
	data   [8]uint64
}

type dramRsp struct {
	data [8]uint64
	meta uint64
}

// dramWr is a DRAM write waiting for the port; it releases pending-table
// entry pt when issued.
type dramWr struct {
	pt   uint16
	slot uint64
	meta uint64
	data [8]uint64
}

type ptEnt struct {
	busy, br, bw, flush bool
	slot                uint64
}

type tagRec struct {
	busy, sent, timedOut bool
	bc                   uint8
	issued               uint32
	req                  linkReq
}

type osReg struct {
	busy bool
	k    uint8
	tag  uint16
	req  linkReq
}

type drReg struct {
	busy, write bool
	addr        uint64
	meta        uint64
	data        [8]uint64
}

type clientState struct {
	iq     ring[iqEnt]
	held   bool
	sd     int
	q      []ring[linkReq] // per link
	cq     ring[cacheOp]
	rb     [][4]uint64
	vf     []bool
	ef     []bool
	lf     []bool
	rbHead uint32
	rbTail uint32
	rbUsed int
	used0  int
	// The output register (memory.md §6.1): od holds 256 bits, or 512 for
	// a wide client (beat 2k in words 0-3, beat 2k+1 in words 4-7); on is
	// how many beats it carries, 1 or 2 (model bookkeeping, for Stats).
	ov     bool
	ol, oe bool
	on     uint8
	od     [8]uint64
}

type linkState struct {
	xq       ring[linkReq]
	os       osReg
	tags     []tagRec
	tagsFree int
	instRes  int
	ia       [4]uint64
	iwq      ring[dramWr]
	last     [2]int
	starve   int
	sp       int
}

// Stats are event counts since reset (model bookkeeping, not ports).
type Stats struct {
	Cycles        uint64
	LinkReads     [4]uint64 // read requests sent on the link port
	LinkWrites    [4]uint64 // write bursts sent
	LinkReadBeats [4]uint64
	LinkWrBeats   [4]uint64
	LinkCpls      [4]uint64 // read completions (last beat or error)
	LinkErrors    [4]uint64 // error completions
	LinkTimeouts  [4]uint64
	MaxTagsInUse  [4]int

	Lookups, ReadHits, ReadMisses  uint64
	Installs, Evictions            uint64
	WriteHits, WriteArounds        uint64
	FlushWritebacks, DRAMWrites    uint64
	HazardStalls                   uint64 // cycles a cacheable head waited for the pending table
	PairsOverRead                  uint64 // write pairs formed over a read (§6 step 8)
	ClientReads, ClientWriteBeats  [8]uint64
	ClientDone, ClientBeats        [8]uint64 // read requests and beats delivered
	ClientErrBeats, ClientRdStalls [8]uint64 // beats delivered with err (both of a wide error transfer)
	ClientTransfers                [8]uint64 // read-data transfers (a wide one carries 1 or 2 beats)
}

type state struct {
	cycle    uint32
	cl       []clientState
	lk       []linkState
	lq       ring[cacheOp]
	rsp      ring[dramRsp]
	lkSent   int
	pt       []ptEnt
	ptFree   int
	dwq      ring[dramWr]
	dr       drReg
	ceLast   [2]int
	ceStarve int
	dwLast   int
	fstate   uint8
	fs       uint64
	fcount   int
	frc      int
	done     bool
	stats    Stats
}

func (s *state) clone() state {
	c := *s
	c.cl = make([]clientState, len(s.cl))
	for i := range s.cl {
		a, b := &s.cl[i], &c.cl[i]
		*b = *a
		b.iq = a.iq.clone()
		b.q = make([]ring[linkReq], len(a.q))
		for l := range a.q {
			b.q[l] = a.q[l].clone()
		}
		b.cq = a.cq.clone()
		b.rb = append([][4]uint64(nil), a.rb...)
		b.vf = append([]bool(nil), a.vf...)
		b.ef = append([]bool(nil), a.ef...)
		b.lf = append([]bool(nil), a.lf...)
	}
	c.lk = make([]linkState, len(s.lk))
	for i := range s.lk {
		a, b := &s.lk[i], &c.lk[i]
		*b = *a
		b.xq = a.xq.clone()
		b.tags = append([]tagRec(nil), a.tags...)
		b.iwq = a.iwq.clone()
	}
	c.lq = s.lq.clone()
	c.rsp = s.rsp.clone()
	c.pt = append([]ptEnt(nil), s.pt...)
	c.dwq = s.dwq.clone()
	return c
}

func (s *state) copyFrom(o *state) {
	cl, lk, pt := s.cl, s.lk, s.pt
	lq, rsp, dwq := s.lq, s.rsp, s.dwq
	for i := range cl {
		a, b := &o.cl[i], &cl[i]
		iq, q, cq, rb, vf, ef, lf := b.iq, b.q, b.cq, b.rb, b.vf, b.ef, b.lf
		iq.copyFrom(&a.iq)
		for l := range q {
			q[l].copyFrom(&a.q[l])
		}
		cq.copyFrom(&a.cq)
		copy(rb, a.rb)
		copy(vf, a.vf)
		copy(ef, a.ef)
		copy(lf, a.lf)
		*b = *a
		b.iq, b.q, b.cq, b.rb, b.vf, b.ef, b.lf = iq, q, cq, rb, vf, ef, lf
	}
	for i := range lk {
		a, b := &o.lk[i], &lk[i]
		xq, tags, iwq := b.xq, b.tags, b.iwq
		xq.copyFrom(&a.xq)
		copy(tags, a.tags)
		iwq.copyFrom(&a.iwq)
		*b = *a
		b.xq, b.tags, b.iwq = xq, tags, iwq
	}
	lq.copyFrom(&o.lq)
	rsp.copyFrom(&o.rsp)
	dwq.copyFrom(&o.dwq)
	copy(pt, o.pt)
	*s = *o
	s.cl, s.lk, s.pt = cl, lk, pt
	s.lq, s.rsp, s.dwq = lq, rsp, dwq
}

// word offsets of one client's ports
type cOff struct {
	rdValid, rdReady, rdAddr, rdBeats                 int
	rdataValid, rdataReady, rdata, rdataLast, rdataEr int
	wrValid, wrReady, wrAddr, wrData                  int
	rdataWords                                        int // 4, or 8 for a wide client
}

type lOff struct {
	reqValid, reqReady, reqWrite, reqAddr, reqBeats, reqTag, reqData, reqLast int
	cplValid, cplTag, cplData, cplLast, cplErr                                int
}

// Model is the cycle-accurate golden model of kvd_memsys.
type Model struct {
	p     Params
	h     *Hashes
	ports []model.Port

	nc, nl        int
	maskA, maskTg uint64
	maskSlot      uint64
	rbMask        uint32
	co            []cOff
	lo            []lOff
	dReqValid     int
	dReqReady     int
	dReqWrite     int
	dReqAddr      int
	dReqData      int
	dReqMeta      int
	dRspValid     int
	dRspData      int
	dRspMeta      int
	fValid        int
	fReady        int
	fDone         int

	// per-cycle scratch (no allocation in Step)
	osFree []bool
	elig   []bool
	high   []bool
	cplTag []int

	st  state
	err error
}

// Ports returns the ports of kvd_memsys for p, in the order of memory.md §2.
func Ports(p Params) []model.Port {
	in := func(name string, w int) model.Port { return model.Port{Name: name, Dir: model.In, Width: w} }
	out := func(name string, w int, q string) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	var ps []model.Port
	a := p.AddrBits
	for c := range p.Clients {
		x := fmt.Sprintf("c%d_mem_", c)
		ps = append(ps,
			in(x+"rd_valid", 1), out(x+"rd_ready", 1, ""),
			in(x+"rd_addr", a), in(x+"rd_beats", BeatsBits),
			out(x+"rdata_valid", 1, ""), in(x+"rdata_ready", 1),
			out(x+"rdata", p.RdataBits(c), x+"rdata_valid"), out(x+"rdata_last", 1, x+"rdata_valid"), out(x+"rdata_err", 1, x+"rdata_valid"),
			in(x+"wr_valid", 1), out(x+"wr_ready", 1, ""),
			in(x+"wr_addr", a), in(x+"wr_data", 256),
		)
	}
	for l := 0; l < p.Links; l++ {
		x := fmt.Sprintf("l%d_", l)
		v := x + "req_valid"
		ps = append(ps,
			out(v, 1, ""), in(x+"req_ready", 1),
			out(x+"req_write", 1, v), out(x+"req_addr", a, v), out(x+"req_beats", BeatsBits, v),
			out(x+"req_tag", p.TagWidth(), v), out(x+"req_data", 256, v), out(x+"req_last", 1, v),
			in(x+"cpl_valid", 1), in(x+"cpl_tag", p.TagWidth()), in(x+"cpl_data", 256),
			in(x+"cpl_last", 1), in(x+"cpl_err", 1),
		)
	}
	ps = append(ps,
		out("dram_req_valid", 1, ""), in("dram_req_ready", 1),
		out("dram_req_write", 1, "dram_req_valid"), out("dram_req_addr", p.SlotWidth(), "dram_req_valid"),
		out("dram_req_data", 512, "dram_req_valid"), out("dram_req_meta", p.MetaBits(), "dram_req_valid"),
		in("dram_rsp_valid", 1), in("dram_rsp_data", 512), in("dram_rsp_meta", p.MetaBits()),
		in("flush_valid", 1), out("flush_ready", 1, ""), out("flush_done", 1, ""),
	)
	return ps
}

// NewFromConfig builds the model with DefaultParams(cfg).
func NewFromConfig(cfg config.Config) (*Model, error) { return New(DefaultParams(cfg)) }

// New builds the model for p, in its reset state.
func New(p Params) (*Model, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.Clients = append([]Client(nil), p.Clients...)
	ports := Ports(p)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("memsys: %v", err)
	}
	m := &Model{p: p, h: NewHashes(&p), ports: ports, nc: len(p.Clients), nl: p.Links}
	m.maskA = model.Mask(p.AddrBits)
	m.maskSlot = uint64(p.Lines() - 1)
	m.maskTg = model.Mask(p.CacheTagBits())
	m.rbMask = uint32(p.RBBeats - 1)
	off := func(name string) int { return lay.MustSlot(name).Off }
	for c := 0; c < m.nc; c++ {
		x := fmt.Sprintf("c%d_mem_", c)
		m.co = append(m.co, cOff{
			rdValid: off(x + "rd_valid"), rdReady: off(x + "rd_ready"), rdAddr: off(x + "rd_addr"), rdBeats: off(x + "rd_beats"),
			rdataValid: off(x + "rdata_valid"), rdataReady: off(x + "rdata_ready"), rdata: off(x + "rdata"),
			rdataLast: off(x + "rdata_last"), rdataEr: off(x + "rdata_err"),
			wrValid: off(x + "wr_valid"), wrReady: off(x + "wr_ready"), wrAddr: off(x + "wr_addr"), wrData: off(x + "wr_data"),
			rdataWords: model.Words(p.RdataBits(c)),
		})
	}
	for l := 0; l < m.nl; l++ {
		x := fmt.Sprintf("l%d_", l)
		m.lo = append(m.lo, lOff{
			reqValid: off(x + "req_valid"), reqReady: off(x + "req_ready"), reqWrite: off(x + "req_write"),
			reqAddr: off(x + "req_addr"), reqBeats: off(x + "req_beats"), reqTag: off(x + "req_tag"),
			reqData: off(x + "req_data"), reqLast: off(x + "req_last"),
			cplValid: off(x + "cpl_valid"), cplTag: off(x + "cpl_tag"), cplData: off(x + "cpl_data"),
			cplLast: off(x + "cpl_last"), cplErr: off(x + "cpl_err"),
		})
	}
	m.dReqValid, m.dReqReady, m.dReqWrite = off("dram_req_valid"), off("dram_req_ready"), off("dram_req_write")
	m.dReqAddr, m.dReqData, m.dReqMeta = off("dram_req_addr"), off("dram_req_data"), off("dram_req_meta")
	m.dRspValid, m.dRspData, m.dRspMeta = off("dram_rsp_valid"), off("dram_rsp_data"), off("dram_rsp_meta")
	m.fValid, m.fReady, m.fDone = off("flush_valid"), off("flush_ready"), off("flush_done")

	m.osFree = make([]bool, m.nl)
	m.elig = make([]bool, m.nc+1)
	m.high = make([]bool, m.nc+1)
	m.cplTag = make([]int, m.nl)

	st := &m.st
	st.cl = make([]clientState, m.nc)
	for c := range st.cl {
		cs := &st.cl[c]
		cs.iq = newRing[iqEnt](p.QDepth)
		cs.q = make([]ring[linkReq], m.nl)
		for l := range cs.q {
			cs.q[l] = newRing[linkReq](p.RQDepth)
		}
		cs.cq = newRing[cacheOp](p.RQDepth)
		cs.rb = make([][4]uint64, p.RBBeats)
		cs.vf = make([]bool, p.RBBeats)
		cs.ef = make([]bool, p.RBBeats)
		cs.lf = make([]bool, p.RBBeats)
	}
	st.lk = make([]linkState, m.nl)
	for l := range st.lk {
		lk := &st.lk[l]
		lk.xq = newRing[linkReq](p.QDepth)
		lk.tags = make([]tagRec, p.Tags)
		lk.iwq = newRing[dramWr](p.Tags)
	}
	st.lq = newRing[cacheOp](p.LQDepth)
	st.rsp = newRing[dramRsp](p.LQDepth)
	st.pt = make([]ptEnt, p.PTEntries)
	st.dwq = newRing[dramWr](p.QDepth)
	m.Reset()
	return m, nil
}

// Params returns the parameters the model was built with.
func (m *Model) Params() Params { return m.p }

// Hashes returns the dispatch and link hashes.
func (m *Model) Hashes() *Hashes { return m.h }

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Stats returns the event counts since reset.
func (m *Model) Stats() Stats { return m.st.stats }

// Reset puts the model in its state after reset (memory.md §6.1).
func (m *Model) Reset() {
	st := &m.st
	st.cycle = 0
	for c := range st.cl {
		cs := &st.cl[c]
		cs.iq.reset()
		for l := range cs.q {
			cs.q[l].reset()
		}
		cs.cq.reset()
		clear(cs.rb)
		clear(cs.vf)
		clear(cs.ef)
		clear(cs.lf)
		cs.held, cs.sd = false, 0
		cs.rbHead, cs.rbTail, cs.rbUsed = 0, 0, 0
		cs.ov, cs.ol, cs.oe, cs.on, cs.od = false, false, false, 0, [8]uint64{}
	}
	for l := range st.lk {
		lk := &st.lk[l]
		lk.xq.reset()
		lk.iwq.reset()
		clear(lk.tags)
		lk.tagsFree = m.p.Tags
		lk.instRes = 0
		lk.os = osReg{}
		lk.ia = [4]uint64{}
		lk.last = [2]int{m.nc, m.nc}
		lk.starve, lk.sp = 0, 0
	}
	st.lq.reset()
	st.rsp.reset()
	st.lkSent = 0
	clear(st.pt)
	st.ptFree = m.p.PTEntries
	st.dwq.reset()
	st.dr = drReg{}
	st.ceLast, st.ceStarve = [2]int{m.nc, m.nc}, 0
	st.dwLast = m.nl
	st.fstate, st.fs, st.fcount, st.frc, st.done = fIdle, 0, 0, 0, false
	st.stats = Stats{}
	m.err = nil
}

type snapshot struct{ st state }

// Snapshot implements model.Model; the value shares nothing with the model.
func (m *Model) Snapshot() any { return snapshot{st: m.st.clone()} }

// Restore implements model.Model; the snapshot stays valid for further
// restores.
func (m *Model) Restore(s any) {
	sn, ok := s.(snapshot)
	if !ok || len(sn.st.cl) != m.nc || len(sn.st.lk) != m.nl || len(sn.st.pt) != len(m.st.pt) ||
		len(sn.st.cl[0].rb) != len(m.st.cl[0].rb) || len(sn.st.lk[0].tags) != len(m.st.lk[0].tags) {
		panic(fmt.Sprintf("memsys: Restore of a %T that is not a snapshot of these parameters", s))
	}
	m.st.copyFrom(&sn.st)
	m.err = nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (m *Model) fail(format string, args ...any) {
	if m.err == nil {
		m.err = fmt.Errorf("memsys: cycle %d: "+format, append([]any{m.st.cycle}, args...)...)
	}
}

// rdReady and wrReady are memory.md §6.2's, on the state at the start of
// the cycle.
func (m *Model) wrReady(cs *clientState) bool { return cs.iq.n+2 <= cs.iq.cap() }
func (m *Model) rdReady(cs *clientState) bool {
	return m.wrReady(cs) && m.p.RBBeats-cs.rbUsed >= MaxBeats
}

// drive writes the outputs of the cycle from the state (memory.md §2:
// every output depends on the state only).
func (m *Model) drive(out []uint64) {
	st := &m.st
	for c := range st.cl {
		cs, o := &st.cl[c], &m.co[c]
		out[o.rdReady] = b2u(m.rdReady(cs))
		out[o.wrReady] = b2u(m.wrReady(cs))
		out[o.rdataValid] = b2u(cs.ov)
		if cs.ov {
			copy(out[o.rdata:o.rdata+o.rdataWords], cs.od[:o.rdataWords])
			out[o.rdataLast], out[o.rdataEr] = b2u(cs.ol), b2u(cs.oe)
		} else {
			clear(out[o.rdata : o.rdata+o.rdataWords])
			out[o.rdataLast], out[o.rdataEr] = 0, 0
		}
	}
	for l := range st.lk {
		os, o := &st.lk[l].os, &m.lo[l]
		d := out[o.reqData : o.reqData+4]
		if !os.busy {
			out[o.reqValid], out[o.reqWrite], out[o.reqAddr], out[o.reqBeats], out[o.reqTag], out[o.reqLast] = 0, 0, 0, 0, 0, 0
			clear(d)
			continue
		}
		r := &os.req
		out[o.reqValid], out[o.reqWrite] = 1, b2u(r.write)
		out[o.reqAddr], out[o.reqBeats] = r.addr, uint64(r.beats)
		if r.write {
			out[o.reqTag] = 0
			copy(d, r.data[4*int(os.k):4*int(os.k)+4])
			out[o.reqLast] = b2u(int(os.k) == int(r.beats)-1)
		} else {
			out[o.reqTag] = uint64(os.tag)
			clear(d)
			out[o.reqLast] = 1
		}
	}
	dr := &st.dr
	d := out[m.dReqData : m.dReqData+8]
	if dr.busy {
		out[m.dReqValid], out[m.dReqWrite], out[m.dReqAddr], out[m.dReqMeta] = 1, b2u(dr.write), dr.addr, dr.meta
		copy(d, dr.data[:])
	} else {
		out[m.dReqValid], out[m.dReqWrite], out[m.dReqAddr], out[m.dReqMeta] = 0, 0, 0, 0
		clear(d)
	}
	out[m.fReady] = b2u(st.fstate == fIdle)
	out[m.fDone] = b2u(st.done)
}

// Outputs writes the outputs of the cycle — what Step writes — from the
// state alone, without advancing it (every output depends on the state
// only, memory.md §2). A composition (golden/top) reads them before it
// knows the block's inputs.
func (m *Model) Outputs(out []uint64) { m.drive(out) }

// quiet is memory.md §4.6's condition for the flush reads: nothing of a
// write can still be inside the block.
func (m *Model) quiet() bool {
	st := &m.st
	if st.lq.n != 0 || st.rsp.n != 0 || st.dwq.n != 0 || st.dr.busy || st.lkSent != 0 {
		return false
	}
	for c := range st.cl {
		cs := &st.cl[c]
		if cs.iq.n != 0 || cs.cq.n != 0 {
			return false
		}
		for l := range cs.q {
			if cs.q[l].n != 0 {
				return false
			}
		}
	}
	for l := range st.lk {
		lk := &st.lk[l]
		if lk.xq.n != 0 || lk.os.busy || lk.iwq.n != 0 || lk.instRes != 0 {
			return false
		}
	}
	return true
}

func (m *Model) begin() {
	st := &m.st
	for c := range st.cl {
		cs := &st.cl[c]
		cs.iq.begin()
		for l := range cs.q {
			cs.q[l].begin()
		}
		cs.cq.begin()
		cs.used0 = cs.rbUsed
	}
	for l := range st.lk {
		st.lk[l].xq.begin()
		st.lk[l].iwq.begin()
	}
	st.lq.begin()
	st.rsp.begin()
	st.dwq.begin()
}

// Step implements model.Model. It allocates nothing unless it returns an
// error.
func (m *Model) Step(in, out []uint64) error {
	st := &m.st
	m.drive(out)
	m.begin()
	quiet0 := m.quiet()
	fstate0, fcount0 := st.fstate, st.fcount
	lkSent0 := st.lkSent

	// 1. Transfers on the link and DRAM request channels (§6 step 1).
	for l := range st.lk {
		lk := &st.lk[l]
		os := &lk.os
		m.osFree[l] = !os.busy
		if !os.busy || in[m.lo[l].reqReady]&1 == 0 {
			continue
		}
		r := &os.req
		if !r.write {
			tr := &lk.tags[os.tag]
			tr.sent, tr.issued = true, st.cycle
			st.stats.LinkReads[l]++
			st.stats.LinkReadBeats[l] += uint64(r.beats)
			os.busy = false
		} else if int(os.k) == int(r.beats)-1 {
			st.stats.LinkWrites[l]++
			st.stats.LinkWrBeats[l] += uint64(r.beats)
			os.busy = false
		} else {
			os.k++
		}
		m.osFree[l] = !os.busy
	}
	drFree := !st.dr.busy
	if st.dr.busy && in[m.dReqReady]&1 != 0 {
		if !st.dr.write {
			st.lkSent++
		}
		st.dr.busy, drFree = false, true
	}

	// 2. Delivery from the read buffers (§6 step 2).
	for c := range st.cl {
		m.deliver(c, in[m.co[c].rdataReady]&1 != 0)
	}

	// 3. Link arbiters (§6 step 3).
	for l := range st.lk {
		if m.osFree[l] {
			m.arbitrateLink(l)
		}
	}

	// 4. The DRAM port (§6 step 4).
	if drFree {
		m.issueDRAM()
	}

	// 5. The resolver (§6 step 5).
	if st.rsp.canPop(1) {
		m.resolve()
	}

	// 6. DRAM read data (§6 step 6).
	if in[m.dRspValid]&1 != 0 {
		if lkSent0 == 0 {
			m.fail("dram_rsp_valid with no lookup outstanding on the DRAM port")
		} else {
			st.lkSent--
			var r dramRsp
			copy(r.data[:], in[m.dRspData:m.dRspData+8])
			r.meta = in[m.dRspMeta] & model.Mask(m.p.MetaBits())
			if !st.rsp.canPush(1) {
				m.fail("DRAM response queue overflow")
			} else {
				st.rsp.push(r)
			}
		}
	}

	// 7. Completions, then the timeout scanners (§6 step 7).
	for l := range st.lk {
		o := &m.lo[l]
		m.cplTag[l] = -1
		if in[o.cplValid]&1 != 0 {
			tag := int(in[o.cplTag] & model.Mask(m.p.TagWidth()))
			m.cplTag[l] = tag
			m.complete(l, tag, in[o.cplLast]&1 != 0, in[o.cplErr]&1 != 0, in[o.cplData:o.cplData+4])
		}
		m.scan(l)
	}

	// 8. Splitters (§6 step 8).
	for c := range st.cl {
		m.split(c)
	}

	// 9. Intake (§6 step 9).
	for c := range st.cl {
		m.intake(c, in)
	}

	// 10. The flush sequencer (§6 step 10).
	done := false
	if fstate0 == fIdle && in[m.fValid]&1 != 0 {
		st.fstate, st.fs = fSweep, 0
	}
	if fstate0 == fDrain && fcount0 == 0 && quiet0 {
		for l := range st.lk {
			st.lk[l].xq.push(linkReq{addr: 0, beats: 1, dest: destFlush})
		}
		st.fstate, st.frc = fWait, 0
	}
	if st.fstate == fWait && st.frc == m.nl {
		st.fstate, done = fIdle, true
	}
	st.done = done

	st.cycle++
	st.stats.Cycles++
	if m.err != nil {
		err := m.err
		m.err = nil
		return err
	}
	return nil
}

// deliver is memory.md §6 step 2: the output register takes the beat at
// the head of the read buffer (a narrow client), or a wide client's next
// transfer — the head and the entry after it, two beats of one request,
// or the head alone when it is its request's last beat. Everything is
// decided on the read buffer as it was at the start of the cycle (§6.3):
// delivery runs before the resolver and the completions write it.
func (m *Model) deliver(c int, rdy bool) {
	cs := &m.st.cl[c]
	if cs.ov && rdy {
		st := &m.st.stats
		st.ClientTransfers[c]++
		st.ClientBeats[c] += uint64(cs.on)
		if cs.ol {
			st.ClientDone[c]++
		}
		if cs.oe {
			st.ClientErrBeats[c] += uint64(cs.on)
		}
	}
	// n: the beats the register can take — the head alone (a narrow
	// client, or a wide one's request ending there: zeros above it), or
	// the head and the entry after it.
	h, h2 := cs.rbHead, (cs.rbHead+1)&m.rbMask
	n := 0
	switch {
	case !cs.vf[h]:
	case !m.p.Clients[c].Wide || cs.lf[h]:
		n = 1
	case cs.vf[h2]:
		n = 2
	}
	if (!cs.ov || rdy) && n > 0 {
		cs.ov, cs.on, cs.od = true, uint8(n), [8]uint64{}
		cs.ol, cs.oe = cs.lf[h], cs.ef[h]
		if n == 2 { // h in bits 255..0, h2 above; err if either failed
			cs.ol, cs.oe = cs.lf[h2], cs.oe || cs.ef[h2]
			cs.vf[h2] = false
		}
		if !cs.oe {
			copy(cs.od[:4], cs.rb[h][:])
			if n == 2 {
				copy(cs.od[4:], cs.rb[h2][:])
			}
		}
		cs.vf[h] = false
		cs.rbHead = (h + uint32(n)) & m.rbMask
		cs.rbUsed -= n
	} else if rdy {
		cs.ov = false
	}
}

// LowShare is memory.md §2.5's bound on how many grants the high class may
// take in a row while a low requester waits.
const LowShare = 8

// pickRR is the two-level round-robin of memory.md §2.5: the first
// eligible high requester after the last high grant, else the first
// eligible low one after the last low grant; but after LowShare high
// grants in a row that passed a waiting low requester, the low class wins.
func pickRR(elig, high []bool, last *[2]int, starve *int) int {
	r := len(elig)
	anyHigh, anyLow := false, false
	for i := range elig {
		if elig[i] {
			anyHigh = anyHigh || high[i]
			anyLow = anyLow || !high[i]
		}
	}
	lv := 0 // high
	switch {
	case anyHigh && anyLow && *starve < LowShare:
		*starve++
	case anyLow:
		lv, *starve = 1, 0
	case !anyHigh:
		return -1
	}
	for j := 1; j <= r; j++ {
		i := (last[lv] + j) % r
		if elig[i] && high[i] == (lv == 0) {
			last[lv] = i
			return i
		}
	}
	return -1
}

func (m *Model) arbitrateLink(l int) {
	st := &m.st
	lk := &st.lk[l]
	for r := 0; r <= m.nc; r++ {
		var q *ring[linkReq]
		if r < m.nc {
			q = &st.cl[r].q[l]
			m.high[r] = m.p.Clients[r].High
		} else {
			q = &lk.xq
			m.high[r] = true
		}
		m.elig[r] = false
		if !q.canPop(1) {
			continue
		}
		h := q.peek(0)
		m.elig[r] = h.write || lk.tagsFree > 0 && (!h.install || lk.instRes < m.p.Tags)
	}
	r := pickRR(m.elig, m.high, &lk.last, &lk.starve)
	if r < 0 {
		return
	}
	var q *ring[linkReq]
	if r < m.nc {
		q = &st.cl[r].q[l]
	} else {
		q = &lk.xq
	}
	os := &lk.os
	os.busy, os.k, os.tag = true, 0, 0
	os.req = *q.peek(0)
	q.pop()
	if os.req.write {
		return
	}
	tag := 0
	for lk.tags[tag].busy {
		tag++
	}
	lk.tags[tag] = tagRec{busy: true, req: os.req}
	lk.tagsFree--
	if inUse := m.p.Tags - lk.tagsFree; inUse > st.stats.MaxTagsInUse[l] {
		st.stats.MaxTagsInUse[l] = inUse
	}
	os.tag = uint16(tag)
	if os.req.install {
		lk.instRes++
	}
}

func (m *Model) slotOf(op *cacheOp) uint64 {
	if op.kind == opF {
		return op.line
	}
	return op.line & m.maskSlot
}

// hazardFree is memory.md §4.4: a write or flush waits for any pending
// entry of its slot that blocks writes; a read for one that blocks reads.
func (m *Model) hazardFree(kind uint8, slot uint64) bool {
	w := kind == opW || kind == opF
	for i := range m.st.pt {
		e := &m.st.pt[i]
		if e.busy && e.slot == slot && (w && e.bw || !w && e.br) {
			return false
		}
	}
	return true
}

// writerWaits is memory.md §4.4's fairness rule: a read may not start on a
// slot for which another requester's head is a write or the flush and that
// write is itself held by the pending table. Otherwise reads that keep
// arriving on a hot line would hold the write back for ever; a write that
// could start competes with the reads in the round robin as usual.
func (m *Model) writerWaits(r int, slot uint64) bool {
	st := &m.st
	w := st.fstate == fSweep && st.fs == slot
	for o := 0; o < m.nc && !w; o++ {
		if o == r || !st.cl[o].cq.canPop(1) {
			continue
		}
		op := st.cl[o].cq.peek(0)
		w = op.kind == opW && m.slotOf(op) == slot
	}
	return w && !m.hazardFree(opW, slot)
}

func (m *Model) release(pt uint16) {
	e := &m.st.pt[pt]
	if !e.busy {
		m.fail("pending-table entry %d released twice", pt)
		return
	}
	if e.flush {
		m.st.fcount--
	}
	*e = ptEnt{}
	m.st.ptFree++
}

func (m *Model) issueDRAM() {
	st := &m.st
	// Writes first, round-robin over DWQ and each link's IWQ.
	ns := 1 + m.nl
	for j := 1; j <= ns; j++ {
		s := (st.dwLast + j) % ns
		q := &st.dwq
		if s > 0 {
			q = &st.lk[s-1].iwq
		}
		if !q.canPop(1) {
			continue
		}
		w := q.peek(0)
		st.dr = drReg{busy: true, write: true, addr: w.slot, meta: w.meta, data: w.data}
		m.release(w.pt)
		if s > 0 {
			st.lk[s-1].instRes--
		}
		q.pop()
		st.dwLast = s
		st.stats.DRAMWrites++
		return
	}
	if !st.lq.canPush(1) || st.ptFree == 0 {
		return
	}
	anyHead := false
	for r := 0; r <= m.nc; r++ {
		m.elig[r] = false
		if r < m.nc {
			m.high[r] = m.p.Clients[r].High
			q := &st.cl[r].cq
			if q.canPop(1) {
				anyHead = true
				op := q.peek(0)
				slot := m.slotOf(op)
				m.elig[r] = m.hazardFree(op.kind, slot) && (op.kind == opW || !m.writerWaits(r, slot))
			}
		} else {
			m.high[r] = true
			if st.fstate == fSweep {
				anyHead = true
				m.elig[r] = m.hazardFree(opF, st.fs)
			}
		}
	}
	r := pickRR(m.elig, m.high, &st.ceLast, &st.ceStarve)
	if r < 0 {
		if anyHead {
			st.stats.HazardStalls++
		}
		return
	}
	var op cacheOp
	if r < m.nc {
		q := &st.cl[r].cq
		op = *q.peek(0)
		q.pop()
	} else {
		op = cacheOp{kind: opF, line: st.fs}
		st.fs++
		st.fcount++
		if st.fs == uint64(m.p.Lines()) {
			st.fstate = fDrain
		}
	}
	slot := m.slotOf(&op)
	pt := 0
	for st.pt[pt].busy {
		pt++
	}
	st.pt[pt] = ptEnt{busy: true, slot: slot, br: op.kind == opW, bw: op.kind != opR, flush: op.kind == opF}
	st.ptFree--
	op.pt = uint16(pt)
	st.lq.push(op)
	st.dr = drReg{busy: true, addr: slot}
	st.stats.Lookups++
}

func (m *Model) link(line uint64) int { return m.h.Link(line >> (BlockBits - 6)) }

func (m *Model) rbWrite(c int, pos uint32, d []uint64, errBeat bool) {
	cs := &m.st.cl[c]
	pos &= m.rbMask
	if !errBeat {
		copy(cs.rb[pos][:], d)
	}
	cs.vf[pos], cs.ef[pos] = true, errBeat
}

func (m *Model) resolve() {
	st := &m.st
	op := st.lq.peek(0)
	r := st.rsp.peek(0)
	slot := m.slotOf(op)
	valid, dirty := r.meta&1 != 0, r.meta>>1&1 != 0
	rtag := r.meta >> 2
	old := rtag<<uint(m.p.SlotBits) | slot
	hit := op.kind != opF && valid && rtag == op.line>>uint(m.p.SlotBits)
	switch op.kind {
	case opR, opS:
		if hit {
			for i := 0; i < int(op.n); i++ {
				b := int(op.o) + i
				m.rbWrite(int(op.client), op.rbpos+uint32(i), r.data[4*b:4*b+4], false)
			}
			m.release(op.pt)
			st.stats.ReadHits++
			break
		}
		l2 := m.link(op.line)
		if op.kind == opR {
			if !st.lk[l2].xq.canPush(1) {
				return
			}
			st.lk[l2].xq.push(linkReq{addr: op.line<<6 | uint64(op.o)<<5, beats: op.n, dest: destClient,
				client: op.client, rbpos: op.rbpos, n: op.n})
			m.release(op.pt)
			st.stats.ReadMisses++
			break
		}
		evict := valid && dirty
		if evict {
			l1 := m.link(old)
			if l1 == l2 && !st.lk[l2].xq.canPush(2) || l1 != l2 && (!st.lk[l1].xq.canPush(1) || !st.lk[l2].xq.canPush(1)) {
				return
			}
			st.lk[l1].xq.push(linkReq{write: true, addr: old << 6, beats: 2, data: r.data})
			st.stats.Evictions++
		} else if !st.lk[l2].xq.canPush(1) {
			return
		}
		st.lk[l2].xq.push(linkReq{addr: op.line << 6, beats: 2, dest: destClient, client: op.client,
			rbpos: op.rbpos, skip: op.o, n: op.n, install: true, pt: op.pt, line: op.line})
		st.stats.ReadMisses++
	case opW:
		if hit {
			if !st.dwq.canPush(1) {
				return
			}
			w := st.dwq.slot()
			w.pt, w.slot = op.pt, slot
			w.meta = 3 | (op.line>>uint(m.p.SlotBits))<<2
			w.data = r.data
			for i := 0; i < int(op.n); i++ {
				b := int(op.o) + i
				copy(w.data[4*b:4*b+4], op.data[4*b:4*b+4])
			}
			st.dwq.commit()
			st.stats.WriteHits++
			break
		}
		l := m.link(op.line)
		if !st.lk[l].xq.canPush(1) {
			return
		}
		x := st.lk[l].xq.slot()
		*x = linkReq{write: true, addr: op.line<<6 | uint64(op.o)<<5, beats: op.n}
		copy(x.data[:4*int(op.n)], op.data[4*int(op.o):4*(int(op.o)+int(op.n))])
		st.lk[l].xq.commit()
		m.release(op.pt)
		st.stats.WriteArounds++
	case opF:
		if valid && dirty {
			l := m.link(old)
			if !st.lk[l].xq.canPush(1) || !st.dwq.canPush(1) {
				return
			}
			st.lk[l].xq.push(linkReq{write: true, addr: old << 6, beats: 2, data: r.data})
			st.dwq.push(dramWr{pt: op.pt, slot: slot, meta: 1 | rtag<<2, data: r.data})
			st.stats.FlushWritebacks++
			break
		}
		m.release(op.pt)
	}
	st.lq.pop()
	st.rsp.pop()
}

// failDest marks the beats a failed or timed-out read still owes (from
// beat `from` of the link request on) as error beats, and cancels its
// install (memory.md §3.4).
func (m *Model) failDest(l int, tr *tagRec) {
	st := &m.st
	r := &tr.req
	switch r.dest {
	case destClient:
		for i := max(int(tr.bc), int(r.skip)); i < int(r.skip)+int(r.n); i++ {
			m.rbWrite(int(r.client), r.rbpos+uint32(i-int(r.skip)), nil, true)
		}
	case destFlush:
		st.frc++
	}
	if r.install {
		m.release(r.pt)
		st.lk[l].instRes--
	}
}

func (m *Model) complete(l, tag int, last, errBeat bool, d []uint64) {
	st := &m.st
	lk := &st.lk[l]
	if tag >= m.p.Tags || !lk.tags[tag].busy || !lk.tags[tag].sent {
		m.fail("link %d: completion for tag %d, which is not outstanding", l, tag)
		return
	}
	tr := &lk.tags[tag]
	r := &tr.req
	if errBeat {
		if tr.bc != 0 || !last {
			m.fail("link %d tag %d: error completion after %d data beats or without last", l, tag, tr.bc)
			return
		}
		if !tr.timedOut {
			m.failDest(l, tr)
		}
		st.stats.LinkErrors[l]++
	} else {
		i := int(tr.bc)
		if i >= int(r.beats) {
			m.fail("link %d tag %d: beat %d of a %d-beat read", l, tag, i, r.beats)
			return
		}
		if !tr.timedOut {
			if r.dest == destClient && i >= int(r.skip) && i < int(r.skip)+int(r.n) {
				m.rbWrite(int(r.client), r.rbpos+uint32(i-int(r.skip)), d, false)
			}
			if r.install && i == 0 {
				copy(lk.ia[:], d)
			}
		}
		tr.bc++
		if last != (int(tr.bc) == int(r.beats)) {
			m.fail("link %d tag %d: last = %v on beat %d of %d", l, tag, last, tr.bc, r.beats)
			return
		}
		if !last {
			return
		}
		if !tr.timedOut {
			if r.install {
				w := lk.iwq.slot()
				w.pt, w.slot = r.pt, r.line&m.maskSlot
				w.meta = 1 | (r.line>>uint(m.p.SlotBits))<<2
				copy(w.data[:4], lk.ia[:])
				copy(w.data[4:], d)
				lk.iwq.commit()
				st.stats.Installs++
			}
			if r.dest == destFlush {
				st.frc++
			}
		}
	}
	st.stats.LinkCpls[l]++
	*tr = tagRec{}
	lk.tagsFree++
}

func (m *Model) scan(l int) {
	st := &m.st
	lk := &st.lk[l]
	sp := lk.sp
	lk.sp = (sp + 1) % m.p.Tags
	tr := &lk.tags[sp]
	if m.cplTag[l] == sp || !tr.busy || !tr.sent || tr.timedOut || st.cycle-tr.issued < m.p.TimeoutCycles {
		return
	}
	tr.timedOut = true
	m.failDest(l, tr)
	st.stats.LinkTimeouts[l]++
}

func (m *Model) split(c int) {
	st := &m.st
	cs := &st.cl[c]
	if !cs.iq.canPop(1) {
		return
	}
	h := cs.iq.peek(0)
	if !h.write {
		a := h.addr + uint64(BeatBytes*cs.sd)
		end := h.addr + uint64(BeatBytes)*uint64(h.beats)
		line := a >> 6
		o := uint8(a >> 5 & 1)
		var n int
		if m.h.Cacheable(line) {
			n = int(min(2-uint64(o), (end-a)/BeatBytes))
			if !cs.cq.canPush(1) {
				return
			}
			kind := uint8(opR)
			if m.p.Clients[c].SwapIn {
				kind = opS
			}
			cs.cq.push(cacheOp{kind: kind, client: uint8(c), line: line, o: o, n: uint8(n), rbpos: (h.rbpos + uint32(cs.sd)) & m.rbMask})
		} else {
			blockEnd := (a | (1<<BlockBits - 1)) + 1
			x := a
			for x < end && x < blockEnd && (x == a || !m.h.Cacheable(x>>6)) {
				x = min((x|63)+1, end)
			}
			n = int((x - a) / BeatBytes)
			l := m.h.Link(a >> BlockBits)
			if !cs.q[l].canPush(1) {
				return
			}
			cs.q[l].push(linkReq{addr: a, beats: uint8(n), dest: destClient, client: uint8(c),
				rbpos: (h.rbpos + uint32(cs.sd)) & m.rbMask, n: uint8(n)})
		}
		cs.sd += n
		if cs.sd == int(h.beats) {
			cs.iq.pop()
			cs.sd, cs.held = 0, false
		}
		return
	}
	// A write beat: a single beat, a pair (the first two entries), or a pair
	// over a read (the first and third entries, the read between them
	// missing the line), all among the entries IQ held at the start of the
	// cycle; or, for a first half whose second half may arrive next cycle,
	// nothing this once (held).
	o := uint8(h.addr >> 5 & 1)
	line := h.addr >> 6
	var second *iqEnt
	over := false // the pair is over a read: its second half is the third entry
	if o == 0 {
		k := cs.iq.offered()
		var s *iqEnt
		readMisses := false
		if k >= 2 {
			s = cs.iq.peek(1)
			readMisses = !s.write && missesLine(s, line)
		}
		switch {
		case k >= 2 && s.write && s.addr == h.addr+BeatBytes:
			second = s
		case k >= 3 && readMisses && cs.iq.peek(2).write && cs.iq.peek(2).addr == h.addr+BeatBytes:
			second, over = cs.iq.peek(2), true
		case !cs.held && (k == 1 || k == 2 && readMisses):
			cs.held = true
			return
		}
	}
	n := uint8(1)
	if second != nil {
		n = 2
	}
	if m.h.Cacheable(line) {
		if !cs.cq.canPush(1) {
			return
		}
		op := cs.cq.slot()
		*op = cacheOp{kind: opW, client: uint8(c), line: line, o: o, n: n}
		copy(op.data[4*int(o):4*int(o)+4], h.data[:])
		if second != nil {
			copy(op.data[4:], second.data[:])
		}
		cs.cq.commit()
	} else {
		l := m.h.Link(h.addr >> BlockBits)
		if !cs.q[l].canPush(1) {
			return
		}
		x := cs.q[l].slot()
		*x = linkReq{write: true, addr: h.addr, beats: n}
		copy(x.data[:4], h.data[:])
		if second != nil {
			copy(x.data[4:], second.data[:])
		}
		cs.q[l].commit()
	}
	if over {
		// Pop the head and the third entry, the read becoming the head:
		// the read moves into the third entry's place and two pop.
		*cs.iq.peek(2) = *cs.iq.peek(1)
		st.stats.PairsOverRead++
	}
	cs.iq.pop()
	if second != nil {
		cs.iq.pop()
	}
	cs.held = false
}

// missesLine reports that none of read r's beats is in line x (memory.md §6
// step 8).
func missesLine(r *iqEnt, x uint64) bool {
	return x < r.addr>>6 || x > (r.addr+BeatBytes*uint64(r.beats)-1)>>6
}

func (m *Model) intake(c int, in []uint64) {
	st := &m.st
	cs, o := &st.cl[c], &m.co[c]
	wrReady := cs.iq.canPush(2)
	rdReady := wrReady && m.p.RBBeats-cs.used0 >= MaxBeats
	if in[o.wrValid]&1 != 0 && wrReady {
		addr := in[o.wrAddr] & m.maskA
		if addr%BeatBytes != 0 {
			m.fail("client %d: write address %#x is not 32 B aligned", c, addr)
			return
		}
		e := cs.iq.slot()
		e.write, e.addr, e.beats = true, addr, 1
		copy(e.data[:], in[o.wrData:o.wrData+4])
		cs.iq.commit()
		st.stats.ClientWriteBeats[c]++
	}
	if in[o.rdValid]&1 == 0 {
		return
	}
	if !rdReady {
		st.stats.ClientRdStalls[c]++
		return
	}
	addr := in[o.rdAddr] & m.maskA
	beats := in[o.rdBeats] & (1<<BeatsBits - 1)
	if addr%BeatBytes != 0 || beats < 1 || beats > MaxBeats || addr+beats*BeatBytes > 1<<uint(m.p.AddrBits) {
		m.fail("client %d: read of %d beats at %#x: want 32 B aligned, 1..16 beats, inside host memory", c, beats, addr)
		return
	}
	pos := cs.rbTail
	for i := uint64(0); i < beats; i++ {
		p := (pos + uint32(i)) & m.rbMask
		cs.vf[p], cs.ef[p], cs.lf[p] = false, false, i == beats-1
	}
	cs.rbTail = (pos + uint32(beats)) & m.rbMask
	cs.rbUsed += int(beats)
	cs.iq.push(iqEnt{addr: addr, beats: uint8(beats), rbpos: pos})
	st.stats.ClientReads[c]++
}

// DescribeState is a short summary for hang reports.
func (m *Model) DescribeState() string {
	st := &m.st
	var b strings.Builder
	fmt.Fprintf(&b, "memsys cycle %d:", st.cycle)
	for c := range st.cl {
		cs := &st.cl[c]
		nq := 0
		for l := range cs.q {
			nq += cs.q[l].n
		}
		fmt.Fprintf(&b, " c%d[iq %d q %d cq %d rb %d/%d head-valid %v]", c, cs.iq.n, nq, cs.cq.n, cs.rbUsed, m.p.RBBeats, cs.vf[cs.rbHead])
	}
	for l := range st.lk {
		lk := &st.lk[l]
		fmt.Fprintf(&b, " l%d[tags %d/%d xq %d iwq %d os %v]", l, m.p.Tags-lk.tagsFree, m.p.Tags, lk.xq.n, lk.iwq.n, lk.os.busy)
	}
	fmt.Fprintf(&b, " cache[lq %d rsp %d pt %d/%d dwq %d] flush %d", st.lq.n, st.rsp.n, m.p.PTEntries-st.ptFree, m.p.PTEntries, st.dwq.n, st.fstate)
	return b.String()
}

var _ model.Model = (*Model)(nil)
