package slab

import (
	"fmt"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/slabd"
)

// SimOptions configure a Sim.
type SimOptions struct {
	Host   HostOptions
	Daemon slabd.Options
	// ManualDaemon stops Step from ticking the daemon: the caller polls it
	// (directed tests that must know when the host side changes).
	ManualDaemon bool
}

// Request is one request of the client.
type Request struct {
	Op    uint8
	Class int
	Ptr   uint64
}

// Response is what the client saw on rsp_* in a cycle.
type Response struct {
	Valid bool
	OK    bool
	Class int // the class of the alloc it answers
	Ptr   uint64
}

// ClientStats count the client's side of the request stream.
type ClientStats struct {
	Accepted  uint64 // requests accepted
	AllocReqs uint64 // allocs accepted
	Allocated uint64 // allocs answered with a pointer
	NoMemory  uint64 // allocs answered "no memory"
	Frees     uint64 // frees accepted
	HeldBytes int64  // bytes held now
}

// Sim runs kvd_slab's golden model, its host-memory port served by Host
// from a hostmem.Memory, and the host daemon, cycle by cycle, for one
// client that keeps every request until it is accepted (§1.3) and checks
// every answer: in order, inside the heap, aligned, and overlapping no slab
// it already holds.
type Sim struct {
	Cfg    config.Config
	P      Params
	Model  *Model
	Mem    *hostmem.Memory
	Daemon *slabd.Daemon
	Host   *Host

	o       portOffsets
	in, out []uint64
	cycle   uint64
	manual  bool

	cur      Request
	curValid bool
	allocQ   []int // classes of the allocs accepted and not yet answered
	aqh, aqn int

	held []hashtable.Slab
	pos  []int32  // per heap granule: 1 + index in held of the slab starting there
	used []uint64 // per heap granule: held by the client
	cs   ClientStats
}

// NewSim builds a Sim for cfg: a fresh host memory, a daemon started on it,
// the model after reset.
func NewSim(cfg config.Config, opt SimOptions) (*Sim, error) {
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	mem := hostmem.New(cfg.Memory.HostBytes)
	d, err := slabd.New(cfg, mem, opt.Daemon)
	if err != nil {
		return nil, err
	}
	lay := model.MustLayout(m.Ports())
	o := offsetsOf(lay)
	p := m.Params()
	g := (d.HeapEnd() - d.HeapBase()) / p.U
	s := &Sim{
		Cfg: cfg, P: p, Model: m, Mem: mem, Daemon: d,
		Host: newHost(mem, o, p, opt.Host), manual: opt.ManualDaemon,
		o: o, in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords),
		allocQ: make([]int, 8),
		pos:    make([]int32, g),
		used:   make([]uint64, (g+63)/64),
	}
	return s, nil
}

// Cycle is the number of cycles run.
func (s *Sim) Cycle() uint64 { return s.cycle }

// Busy reports whether a request is presented and not yet accepted.
func (s *Sim) Busy() bool { return s.curValid }

// Pending is the number of allocs accepted and not yet answered.
func (s *Sim) Pending() int { return s.aqn }

// Held is the slabs the client holds (do not modify).
func (s *Sim) Held() []hashtable.Slab { return s.held }

// Stats returns the client's counters.
func (s *Sim) Stats() ClientStats { return s.cs }

// PresentAlloc presents an alloc of class c from the next cycle on.
func (s *Sim) PresentAlloc(c int) {
	s.present(Request{Op: OpAlloc, Class: c})
}

// PresentFree presents a free of the i-th held slab; the slab leaves the
// client's set when the free is accepted.
func (s *Sim) PresentFree(i int) {
	sl := s.held[i]
	s.removeHeld(i)
	s.present(Request{Op: OpFree, Class: sl.Class, Ptr: sl.Ptr})
}

// PresentRaw presents any request, e.g. an invalid one. A free presented
// this way is not taken from the client's set.
func (s *Sim) PresentRaw(r Request) { s.present(r) }

func (s *Sim) present(r Request) {
	if s.curValid {
		panic("slab: a request is presented while the previous one waits for req_ready")
	}
	s.cur, s.curValid = r, true
}

// Inputs and Outputs are the port vectors of the last cycle run
// (model.Layout of Model.Ports); do not modify.
func (s *Sim) Inputs() []uint64 { return s.in }

// Outputs are the model's outputs of the last cycle run.
func (s *Sim) Outputs() []uint64 { return s.out }

// Step runs one cycle and returns the response seen in it.
func (s *Sim) Step() (Response, error) {
	o := &s.o
	s.Host.drive(s.cycle, s.in)
	s.in[o.iReqValid] = b2u(s.curValid)
	s.in[o.iReqOp] = uint64(s.cur.Op)
	s.in[o.iReqClass] = uint64(s.cur.Class) & (1<<ClassBits - 1)
	s.in[o.iReqPtr] = s.cur.Ptr
	if err := s.Model.Step(s.in, s.out); err != nil {
		return Response{}, err
	}
	s.Host.observe(s.cycle, s.out)

	var rsp Response
	if s.out[o.oRspValid] != 0 {
		if s.aqn == 0 {
			return rsp, fmt.Errorf("slab: cycle %d: rsp_valid with no alloc outstanding", s.cycle)
		}
		rsp = Response{Valid: true, OK: s.out[o.oRspOK] != 0, Class: s.allocQ[s.aqh], Ptr: s.out[o.oRspPtr]}
		s.aqh = (s.aqh + 1) % len(s.allocQ)
		s.aqn--
		if rsp.OK {
			if err := s.addHeld(rsp.Class, rsp.Ptr); err != nil {
				return rsp, err
			}
			s.cs.Allocated++
		} else {
			s.cs.NoMemory++
			if rsp.Ptr != 0 {
				return rsp, fmt.Errorf("slab: cycle %d: no-memory answer with rsp_ptr %#x, want 0", s.cycle, rsp.Ptr)
			}
		}
	}
	if s.curValid && s.out[o.oReqReady] != 0 {
		s.curValid = false
		s.cs.Accepted++
		if s.cur.Op == OpAlloc {
			if s.aqn == len(s.allocQ) {
				s.growAllocQ()
			}
			s.allocQ[(s.aqh+s.aqn)%len(s.allocQ)] = s.cur.Class
			s.aqn++
			s.cs.AllocReqs++
		} else {
			s.cs.Frees++
		}
	}
	if !s.manual {
		s.Daemon.Tick(s.cycle)
	}
	s.cycle++
	return rsp, nil
}

func (s *Sim) growAllocQ() {
	q := make([]int, 2*len(s.allocQ))
	for i := 0; i < s.aqn; i++ {
		q[i] = s.allocQ[(s.aqh+i)%len(s.allocQ)]
	}
	s.allocQ, s.aqh = q, 0
}

func (s *Sim) granule(ptr uint64) int64 {
	return (int64(ptr)*s.P.U - s.Daemon.HeapBase()) / s.P.U
}

// addHeld checks an answered pointer and takes it into the client's set.
func (s *Sim) addHeld(c int, ptr uint64) error {
	if c < 0 || c >= s.P.NC {
		return fmt.Errorf("slab: cycle %d: alloc of invalid class %d answered with pointer %#x", s.cycle, c, ptr)
	}
	size := s.P.Sizes[c]
	addr := int64(ptr) * s.P.U
	if addr < s.Daemon.HeapBase() || addr+size > s.Daemon.HeapEnd() || addr%size != 0 {
		return fmt.Errorf("slab: cycle %d: alloc of class %d (%d B) answered %#x (address %#x): outside the heap or not aligned",
			s.cycle, c, size, ptr, addr)
	}
	g, n := s.granule(ptr), size/s.P.U
	for i := g; i < g+n; i++ {
		if s.used[i/64]>>uint(i%64)&1 != 0 {
			return fmt.Errorf("slab: cycle %d: alloc of class %d answered %#x, which overlaps a slab the client holds (handed out twice)",
				s.cycle, c, ptr)
		}
	}
	for i := g; i < g+n; i++ {
		s.used[i/64] |= 1 << uint(i%64)
	}
	s.held = append(s.held, hashtable.Slab{Ptr: ptr, Class: c})
	s.pos[g] = int32(len(s.held))
	s.cs.HeldBytes += size
	return nil
}

func (s *Sim) removeHeld(i int) {
	sl := s.held[i]
	g, n := s.granule(sl.Ptr), s.P.Sizes[sl.Class]/s.P.U
	for k := g; k < g+n; k++ {
		s.used[k/64] &^= 1 << uint(k%64)
	}
	s.pos[g] = 0
	last := len(s.held) - 1
	if i != last {
		s.held[i] = s.held[last]
		s.pos[s.granule(s.held[i].Ptr)] = int32(i + 1)
	}
	s.held = s.held[:last]
	s.cs.HeldBytes -= s.P.Sizes[sl.Class]
}

// Quiet reports whether nothing is in flight or about to start: no request
// presented or unanswered, nothing waiting in the block, its engine idle
// with nothing to do, and no read outstanding.
func (s *Sim) Quiet() bool {
	return !s.curValid && s.aqn == 0 && !s.Model.Waiting() && s.Model.Settled() && s.Host.Outstanding() == 0
}

// Quiesce runs cycles without new requests until Quiet, at most limit.
func (s *Sim) Quiesce(limit uint64) error {
	for i := uint64(0); !s.Quiet(); i++ {
		if i >= limit {
			return fmt.Errorf("slab: not quiet after %d cycles: %s", limit, s.Model.DescribeState())
		}
		if _, err := s.Step(); err != nil {
			return err
		}
	}
	return nil
}

// Clients lists the slabs on the client's side of the block: those it
// holds, a free it presents, and a pointer in the block's response
// register (popped, answered in the next cycle).
func (s *Sim) Clients() []hashtable.Slab {
	out := append([]hashtable.Slab(nil), s.held...)
	if s.curValid && s.cur.Op == OpFree && s.cur.Class < s.P.NC && s.cur.Ptr != 0 {
		out = append(out, hashtable.Slab{Ptr: s.cur.Ptr, Class: s.cur.Class})
	}
	if p, ok := s.Model.ResponsePending(); ok && s.aqn > 0 {
		out = append(out, hashtable.Slab{Ptr: p, Class: s.allocQ[s.aqh]})
	}
	return out
}

// Check runs the invariant checker (slab.md §9); the engine must be idle.
func (s *Sim) Check() (*slabd.Report, error) {
	if !s.Model.Idle() {
		return nil, fmt.Errorf("slab: Check while the sync engine is busy: %s", s.Model.DescribeState())
	}
	return slabd.Check(s.Daemon, s.Mem, s.Model.Held(), s.Clients())
}

// Alloc implements hashtable.Allocator by running the Sim until the
// block answers. Errors of the model or the client's checks panic: an
// Allocator cannot return them, and they are bugs, not "no memory".
func (s *Sim) Alloc(class int) (uint64, bool) {
	s.mustRun(func() bool { return !s.curValid })
	s.PresentAlloc(class)
	var got Response
	s.mustRun(func() bool {
		return got.Valid
	}, &got)
	if !got.OK {
		return 0, false
	}
	return got.Ptr, true
}

// Free implements hashtable.Allocator.
func (s *Sim) Free(ptr uint64, class int) {
	g := s.granule(ptr)
	if g < 0 || g >= int64(len(s.pos)) || s.pos[g] == 0 || s.held[s.pos[g]-1].Class != class {
		panic(fmt.Sprintf("slab: free of %#x class %d, which the client does not hold", ptr, class))
	}
	s.mustRun(func() bool { return !s.curValid })
	s.PresentFree(int(s.pos[g] - 1))
	s.mustRun(func() bool { return !s.curValid })
}

// Allocated implements hashtable.Inspectable.
func (s *Sim) Allocated() []hashtable.Slab { return append([]hashtable.Slab(nil), s.held...) }

// HeapBytes implements hashtable.Inspectable.
func (s *Sim) HeapBytes() int64 { return s.Daemon.HeapBytes() }

// mustRun steps until done, recording the last valid response in rsp[0]
// when given. A wait longer than any the document allows panics.
func (s *Sim) mustRun(done func() bool, rsp ...*Response) {
	limit := 100 * (uint64(s.P.Retry) + s.Daemon.Period() + 1000)
	for i := uint64(0); !done(); i++ {
		if i > limit {
			panic(fmt.Sprintf("slab: no progress in %d cycles: %s", limit, s.Model.DescribeState()))
		}
		r, err := s.Step()
		if err != nil {
			panic(err)
		}
		if r.Valid && len(rsp) > 0 {
			*rsp[0] = r
		}
	}
}

var (
	_ hashtable.Allocator   = (*Sim)(nil)
	_ hashtable.Inspectable = (*Sim)(nil)
)

// simSnapshot is a whole Sim's state: model, memory, daemon, host port,
// client.
type simSnapshot struct {
	model  any
	mem    *hostmem.Memory
	daemon *slabd.Daemon
	host   hostSnapshot
	cycle  uint64
	cur    Request
	curV   bool
	allocQ []int
	aqh    int
	aqn    int
	held   []hashtable.Slab
	pos    []int32
	used   []uint64
	cs     ClientStats
}

// Snapshot captures the whole Sim.
func (s *Sim) Snapshot() any {
	mem := s.Mem.Clone()
	return &simSnapshot{
		model: s.Model.Snapshot(), mem: mem, daemon: s.Daemon.Clone(mem), host: s.Host.snapshot(),
		cycle: s.cycle, cur: s.cur, curV: s.curValid,
		allocQ: append([]int(nil), s.allocQ...), aqh: s.aqh, aqn: s.aqn,
		held: append([]hashtable.Slab(nil), s.held...), pos: append([]int32(nil), s.pos...),
		used: append([]uint64(nil), s.used...), cs: s.cs,
	}
}

// Restore returns the Sim to a snapshot; the snapshot stays valid.
func (s *Sim) Restore(x any) {
	sn := x.(*simSnapshot)
	s.Model.Restore(sn.model)
	s.Mem = sn.mem.Clone()
	s.Daemon = sn.daemon.Clone(s.Mem)
	s.Host.mem = s.Mem
	s.Host.restore(sn.host)
	s.cycle, s.cur, s.curValid = sn.cycle, sn.cur, sn.curV
	s.allocQ = append(s.allocQ[:0:0], sn.allocQ...)
	s.aqh, s.aqn = sn.aqh, sn.aqn
	s.held = append(s.held[:0:0], sn.held...)
	copy(s.pos, sn.pos)
	copy(s.used, sn.used)
	s.cs = sn.cs
}
