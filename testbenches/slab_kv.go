package testbenches

import (
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/slab"
	"github.com/kvdirect/kvd/golden/slabd"
)

// The slab allocator under a key-value workload (the slab-allocator issue's
// second acceptance criterion): golden/hashtable's reference store runs
// PUT/GET/DELETE in the host memory of golden/slab's harness, and its
// allocator is the co-simulated kvd_slab with the real host daemon
// (golden/slabd). Every Alloc/Free of the store is an alloc/free request on
// kvd_slab's ports; the answer the store gets is the one the golden model
// predicted, which the bridge compares with the RTL's every cycle.
//
// The store's allocator calls are synchronous and the bridge is cycle by
// cycle, so the KV workload runs as a coroutine (iter.Pull): it yields an
// event whenever it needs the allocator (or starts an operation, or wants a
// checkpoint), and Next, once per cycle, presents the request and resumes
// the workload with the answer when the block has given it. Only one side
// runs at a time, so the run is deterministic.
//
// Timing: the allocator is the only timed resource. An operation starts at
// most once per cycle, in the same cycle as its first allocator request;
// an alloc costs its cycle plus the cycle of the answer (more when it
// waits), a free its cycle until accepted. So a PUT of a new out-of-line KV
// takes 2 cycles at best, a GET 1.

func init() {
	register(Scenario{
		Name: "slab_kv",
		Doc: "the hash table's reference store on kvd_slab + daemon, in the same host memory: PUT new out-of-line KVs (classes 64..512 B, " +
			"some keys crowded into few buckets for chained buckets) until every class answers no memory, more PUTs that must all fail, " +
			"GET everything back, DELETE down to 30 %, PUT back up to 55 %; table and heap checked at each step",
		Top:           func(config.Config) string { return "kvd_slab" },
		DefaultCycles: 10_000_000, // the sequence ends first
		Directed:      true,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			s, err := newSlabKVStim(cfg, 1)
			if err != nil {
				return nil, nil, err
			}
			return s.shadow, s, nil
		},
		Points: slabKVPoints,
	})
}

var slabKVPoints = []string{
	"slab_kv.put", "slab_kv.put_no_memory", "slab_kv.capacity", "slab_kv.past_capacity_no_memory",
	"slab_kv.readback", "slab_kv.delete", "slab_kv.recovered_put", "slab_kv.chained_bucket",
	"slab_kv.unlink", "slab_kv.table_checked", "slab_kv.slab_checked",
}

const (
	slabKVHeap        = 1 << 20 // sim; scaled with the stacks like slab.go
	slabKVPastCap     = 256     // PUTs presented after capacity (each must fail)
	slabKVHotBuckets  = 64      // a quarter of the keys hash into these index buckets
	slabKVWarm        = 0.05    // the throughput window before filling: heap share
	slabKVSpan        = 0.25    // width of both throughput windows
	slabKVDeleteTo    = 0.30    // delete down to this share of the heap
	slabKVLog         = 1 << 14
	slabKVDrainCycles = 2_000_000
)

type slabKVEvKind uint8

const (
	kvEvOp    slabKVEvKind = iota // an operation starts
	kvEvAlloc                     // alloc of class
	kvEvFree                      // free of ptr, class
	kvEvCheck                     // checkpoint: the heap invariants when the engine is idle
)

type slabKVEv struct {
	kind  slabKVEvKind
	class int
	ptr   uint64
}

var errSlabKVStopped = errors.New("slab_kv: workload stopped")

// slabKVWindow is a throughput measurement: cycles, KV operations and
// allocator requests accepted between two points of the run.
type slabKVWindow struct {
	Started, Ended   bool
	Cycle0, Cycle1   uint64
	Ops0, Ops1       uint64
	Req0, Req1       uint64
	Held0, Held1     int64
	Puts0, Puts1     uint64
	FromUtil, ToUtil float64
}

func (w *slabKVWindow) Cycles() uint64 { return w.Cycle1 - w.Cycle0 }

// OpsPerCycle is KV operations (all PUTs here) per cycle.
func (w *slabKVWindow) OpsPerCycle() float64 { return float64(w.Ops1-w.Ops0) / float64(w.Cycles()) }

// ReqsPerCycle is allocator requests accepted per cycle.
func (w *slabKVWindow) ReqsPerCycle() float64 { return float64(w.Req1-w.Req0) / float64(w.Cycles()) }

func (w *slabKVWindow) String() string {
	return fmt.Sprintf("%d PUTs, %d allocator requests in %d cycles: %.4f PUT/cycle, %.4f requests/cycle (heap %.1f %% -> %.1f %%)",
		w.Ops1-w.Ops0, w.Req1-w.Req0, w.Cycles(), w.OpsPerCycle(), w.ReqsPerCycle(), 100*w.FromUtil, 100*w.ToUtil)
}

// slabKVStats is what the run measured; the test asserts on it.
type slabKVStats struct {
	Heap int64
	// Filling (before capacity).
	FillPuts, FillOK, FillNoMem int
	FirstNoMemPut               int     // 1-based PUT number of the first NO_MEMORY
	FirstNoMemUtil              float64 // heap share held then
	// Capacity: every object class has answered no memory (last answer).
	CapacityPut int
	CapHeld     int64
	CapUtil     float64 // held bytes / heap
	CapKVUtil   float64 // hashtable.md §6: KV bytes / (index + heap)
	CapKVs      int
	CapFree     map[string]int64 // bytes not held by the store, by place (slabd report)
	// CapOther is the heap parked in the stacks and refill rings of the
	// classes no KV uses (slab.md §7: the NIC does not give them back);
	// CapUsableUtil is held bytes / (heap - CapOther).
	CapOther      int64
	CapUsableUtil float64
	// After capacity.
	PastCapPuts, PastCapNoMem int
	// Reading back.
	Gets, GetsOK, MissesChecked int
	// Deleting.
	Deleted        int
	AfterDeleteUtl float64
	// Recovery.
	RecoveryPuts, RecoveryOK, RecoveryNoMem int
	Before, After                           slabKVWindow
	FinalGets                               int
	// Chains.
	BucketAllocs, BucketNoMem, Unlinks int
	// Checks.
	TableChecks, SlabChecks int
	LastReport              *slabd.Report
}

// slabKVShadow is the model the bridge steps: the harness has already run
// the golden model for the cycle (as slabShadow).
type slabKVShadow struct{ sim *slab.Sim }

func (m *slabKVShadow) Ports() []model.Port { return m.sim.Model.Ports() }
func (m *slabKVShadow) Reset()              {}
func (m *slabKVShadow) Step(in, out []uint64) error {
	si := m.sim.Inputs()
	for i := range in {
		if in[i] != si[i] {
			return fmt.Errorf("slab_kv shadow: input word %d is %#x, the harness ran %#x", i, in[i], si[i])
		}
	}
	copy(out, m.sim.Outputs())
	return nil
}
func (m *slabKVShadow) Snapshot() any         { return m.sim.Model.Snapshot() }
func (m *slabKVShadow) Restore(any)           { panic("slab_kv shadow: Restore is not supported") }
func (m *slabKVShadow) DescribeState() string { return m.sim.Model.DescribeState() }

type slabKVLogEntry struct {
	reqValid, accepted, op uint8
	class                  uint8
	ptr                    uint64
	rspValid, rspOK        bool
	rspPtr                 uint64
	phase                  uint8
}

var slabKVPhaseNames = []string{"fill", "past capacity", "read back", "delete", "recovery", "final read back", "final drain"}

const (
	kvPhFill = iota
	kvPhPastCap
	kvPhRead
	kvPhDelete
	kvPhRecovery
	kvPhFinalRead
	kvPhDrain
)

type slabKVStim struct {
	cfg    config.Config
	sim    *slab.Sim
	shadow *slabKVShadow
	t      *hashtable.Table
	l      *hashtable.Layout
	hash   *keyhash.Hasher
	rng    *rand.Rand
	heap   int64

	// the coroutine
	next  func() (slabKVEv, bool)
	stop  func()
	yield func(slabKVEv) bool

	ev        slabKVEv
	haveEv    bool
	presented bool
	answered  bool
	answer    slab.Response
	finished  bool // the workload returned
	drainFrom uint64
	draining  bool
	done      bool
	err       error

	index map[uint64]int // pointer -> index in sim.Held()

	// workload state
	objClasses []int
	lastNoMem  []bool
	want       map[string][]byte
	keys       [][]byte // stored keys, insertion order (deleted ones removed lazily)
	rejected   [][]byte
	ops        uint64
	puts       uint64
	phase      int
	st         slabKVStats

	lay                                   *model.Layout
	iReqValid, iReqOp, iReqClass, iReqPtr int
	oReqReady, oRspValid, oRspOK, oRspPtr int
	log                                   []slabKVLogEntry
}

func newSlabKVStim(cfg config.Config, seed uint64) (*slabKVStim, error) {
	// The table checker walks every index bucket, several times a run.
	if cfg.Memory.IndexBuckets > 1<<20 {
		return nil, fmt.Errorf("slab_kv: %d index buckets; the hash-table checker walks them all at every checkpoint, so this scenario wants at most 2^20 (e.g. --config sim)",
			cfg.Memory.IndexBuckets)
	}
	lo, hi := cfg.NsToCycles(cfg.DMA.LatencyMinNs), cfg.NsToCycles(cfg.DMA.LatencyMaxNs)
	host := slab.HostOptions{LatMin: lo, LatMax: hi, Seed: seed, RdReadyPct: 90, WrReadyPct: 85, RdataPct: 90}
	heap := slabKVHeap * int64(max(1, cfg.Slab.NICStack/64))
	sim, err := slab.NewSim(cfg, slab.SimOptions{Host: host, Daemon: slabd.Options{HeapBytes: heap}})
	if err != nil {
		return nil, err
	}
	// docs/microarch.md §1.6: the index, the control lines, the rings and
	// the heap are disjoint, in that order.
	ringEnd := cfg.SlabRingBase() + config.MaxSlabClasses*2*int64(cfg.Slab.HostRing)*4
	if cfg.IndexBytes() > cfg.SlabCtrlBase() || cfg.SlabCtrlBase()+config.MaxSlabClasses*128 > cfg.SlabRingBase() ||
		ringEnd > sim.Daemon.HeapBase() || sim.Daemon.HeapBase() != cfg.HeapBase() || sim.Daemon.HeapEnd() > cfg.Memory.HostBytes {
		return nil, fmt.Errorf("slab_kv: host memory regions overlap: index [0, %#x), control [%#x, %#x), rings [%#x, %#x), heap [%#x, %#x)",
			cfg.IndexBytes(), cfg.SlabCtrlBase(), cfg.SlabCtrlBase()+config.MaxSlabClasses*128, cfg.SlabRingBase(), ringEnd,
			sim.Daemon.HeapBase(), sim.Daemon.HeapEnd())
	}
	s := &slabKVStim{
		cfg: cfg, sim: sim, heap: sim.Daemon.HeapBytes(),
		shadow: &slabKVShadow{sim: sim},
		hash:   keyhash.NewHasher(cfg),
		rng:    rand.New(rand.NewPCG(seed, 0x736c61622d6b7621)),
		index:  map[uint64]int{},
		want:   map[string][]byte{},
		log:    make([]slabKVLogEntry, slabKVLog),
	}
	s.st.Heap = s.heap
	// The store works in the harness's memory, through the co-simulated
	// allocator.
	t, err := hashtable.New(cfg, sim.Mem, (*slabKVAlloc)(s))
	if err != nil {
		return nil, err
	}
	s.t, s.l = t, t.Layout()
	if s.l.HeapBase != sim.Daemon.HeapBase() {
		return nil, fmt.Errorf("slab_kv: the table's heap starts at %#x, the daemon's at %#x", s.l.HeapBase, sim.Daemon.HeapBase())
	}
	// The classes an out-of-line KV can need.
	seen := map[int]bool{}
	for u := s.l.Threshold + 1; u <= s.l.MaxKey+s.l.MaxValue; u++ {
		if f := s.l.FormOf(1, u-1); !f.Inline && f.Class >= 0 && !seen[f.Class] {
			seen[f.Class] = true
			s.objClasses = append(s.objClasses, f.Class)
		}
	}
	if len(s.objClasses) == 0 {
		return nil, fmt.Errorf("slab_kv: no KV is out-of-line in this configuration")
	}
	s.lastNoMem = make([]bool, sim.P.NC)

	s.lay = model.MustLayout(sim.Model.Ports())
	off := func(name string) int { return s.lay.MustSlot(name).Off }
	s.iReqValid, s.iReqOp, s.iReqClass, s.iReqPtr = off("req_valid"), off("req_op"), off("req_class"), off("req_ptr")
	s.oReqReady, s.oRspValid, s.oRspOK, s.oRspPtr = off("req_ready"), off("rsp_valid"), off("rsp_ok"), off("rsp_ptr")

	s.next, s.stop = iter.Pull(func(yield func(slabKVEv) bool) { s.workload(yield) })
	return s, nil
}

// slabKVAlloc is the store's allocator: each call becomes a request of the
// co-simulated block (the workload coroutine waits for Next to serve it).
type slabKVAlloc slabKVStim

func (a *slabKVAlloc) Alloc(class int) (uint64, bool) {
	s := (*slabKVStim)(a)
	s.emit(slabKVEv{kind: kvEvAlloc, class: class})
	r := s.answer
	if r.Class != class {
		panic(fmt.Sprintf("slab_kv: alloc of class %d answered for class %d", class, r.Class))
	}
	s.lastNoMem[class] = !r.OK
	return r.Ptr, r.OK
}

func (a *slabKVAlloc) Free(ptr uint64, class int) {
	s := (*slabKVStim)(a)
	s.emit(slabKVEv{kind: kvEvFree, class: class, ptr: ptr})
}

// Allocated and HeapBytes make the checker compare the table's objects
// with the slabs the block handed to this client.
func (a *slabKVAlloc) Allocated() []hashtable.Slab { return a.sim.Allocated() }
func (a *slabKVAlloc) HeapBytes() int64            { return a.sim.HeapBytes() }

var (
	_ hashtable.Allocator   = (*slabKVAlloc)(nil)
	_ hashtable.Inspectable = (*slabKVAlloc)(nil)
)

// emit hands an event to Next and waits until it has been served.
func (s *slabKVStim) emit(ev slabKVEv) {
	if !s.yield(ev) {
		panic(errSlabKVStopped)
	}
}

// Stop ends the workload coroutine (a run that ended early).
func (s *slabKVStim) Stop() { s.stop() }

func (s *slabKVStim) workload(yield func(slabKVEv) bool) {
	s.yield = yield
	defer func() {
		if r := recover(); r != nil {
			if r == errSlabKVStopped {
				return
			}
			s.err = fmt.Errorf("slab_kv workload: %v", r)
		}
	}()
	if err := s.run(); err != nil {
		s.err = err
	}
}

func (s *slabKVStim) held() int64   { return s.sim.Stats().HeldBytes }
func (s *slabKVStim) util() float64 { return float64(s.held()) / float64(s.heap) }
func (s *slabKVStim) fail(f string, a ...any) error {
	return fmt.Errorf("slab_kv: %s (cycle %d): %s", slabKVPhaseNames[s.phase], s.sim.Cycle(), fmt.Sprintf(f, a...))
}

// op runs one KV operation, starting it in a cycle of its own.
func (s *slabKVStim) op(f func() hashtable.Result) hashtable.Result {
	s.emit(slabKVEv{kind: kvEvOp})
	r := f()
	s.ops++
	return r
}

func (s *slabKVStim) mark(w *slabKVWindow, end bool) {
	cyc, req, held := s.sim.Cycle(), s.sim.Stats().Accepted, s.held()
	if !end {
		w.Started, w.Cycle0, w.Ops0, w.Req0, w.Held0, w.Puts0 = true, cyc, s.ops, req, held, s.puts
		w.FromUtil = float64(held) / float64(s.heap)
	} else {
		w.Ended, w.Cycle1, w.Ops1, w.Req1, w.Held1, w.Puts1 = true, cyc, s.ops, req, held, s.puts
		w.ToUtil = float64(held) / float64(s.heap)
	}
}

// newKV makes a KV with a new key; its object class is drawn uniformly from
// the out-of-line classes and its size uniformly within the class. A
// quarter of the keys hash into the first few index buckets, so their
// chains grow chained buckets.
func (s *slabKVStim) newKV() (key, value []byte) {
	l := s.l
	hot := s.rng.IntN(4) == 0
	for {
		kl := 4 + s.rng.IntN(max(1, l.MaxKey-3))
		kl = min(kl, l.MaxKey)
		key = make([]byte, kl)
		for i := range key {
			key[i] = byte(s.rng.Uint32())
		}
		if _, dup := s.want[string(key)]; dup {
			continue
		}
		if hot {
			if b, _, _ := s.hash.Bytes(key); b >= slabKVHotBuckets {
				continue
			}
		}
		break
	}
	for {
		c := s.objClasses[s.rng.IntN(len(s.objClasses))]
		lo := hashtable.HeaderBytes + l.Threshold // largest inline size + header
		if c > 0 {
			lo = max(lo, l.Classes[c-1])
		}
		u := lo + 1 + s.rng.IntN(l.Classes[c]-lo) // object bytes used, (lo, size]
		vl := u - hashtable.HeaderBytes - len(key)
		if vl < 0 || vl > l.MaxValue {
			continue
		}
		if f := l.FormOf(len(key), vl); f.Inline || f.Class != c {
			continue
		}
		value = make([]byte, vl)
		for i := range value {
			value[i] = byte(s.rng.Uint32())
		}
		return key, value
	}
}

// put PUTs a new KV and records it when stored.
func (s *slabKVStim) put(key, value []byte) hashtable.Result {
	r := s.op(func() hashtable.Result { return s.t.Put(key, value) })
	s.puts++
	if r.Status == hashtable.OK {
		s.want[string(key)] = value
		s.keys = append(s.keys, key)
		if r.Allocs == 2 {
			s.st.BucketAllocs++
		}
	}
	if r.Status == hashtable.ErrNoMemory && r.Frees == 1 {
		s.st.BucketNoMem++ // the object was allocated, the chained bucket not
	}
	return r
}

func (s *slabKVStim) full() bool {
	for _, c := range s.objClasses {
		if !s.lastNoMem[c] {
			return false
		}
	}
	return true
}

func (s *slabKVStim) checkTable() error {
	if err := s.t.Check(); err != nil {
		return s.fail("%v", err)
	}
	s.st.TableChecks++
	return nil
}

// readBack GETs every stored key and compares it with the workload's own
// record of what it stored.
func (s *slabKVStim) readBack() error {
	live := s.keys[:0]
	for _, k := range s.keys {
		if _, ok := s.want[string(k)]; ok {
			live = append(live, k)
		}
	}
	s.keys = live
	if len(s.keys) != len(s.want) || s.t.Len() != len(s.want) {
		return s.fail("%d keys listed, %d recorded, %d in the table", len(s.keys), len(s.want), s.t.Len())
	}
	for _, k := range s.keys {
		r := s.op(func() hashtable.Result { return s.t.Get(k) })
		s.st.Gets++
		if r.Status != hashtable.OK {
			return s.fail("GET of stored key %x: %s", k, r.Status)
		}
		if string(r.Value) != string(s.want[string(k)]) {
			return s.fail("GET of key %x: %d B value %x, stored %x", k, len(r.Value), r.Value, s.want[string(k)])
		}
		s.st.GetsOK++
	}
	return nil
}

func (s *slabKVStim) run() error {
	// 1. Fill: PUT new keys until every object class answers no memory.
	s.phase = kvPhFill
	limit := int(4*s.heap/int64(s.l.Classes[s.objClasses[0]])) + 10_000
	for !s.full() {
		if s.st.FillPuts >= limit {
			return s.fail("%d PUTs and the classes %v are not all exhausted (last answers no memory: %v)", s.st.FillPuts, s.objClasses, s.lastNoMem)
		}
		u := s.util()
		if !s.st.Before.Started && u >= slabKVWarm {
			s.mark(&s.st.Before, false)
		}
		if s.st.Before.Started && !s.st.Before.Ended && u >= slabKVWarm+slabKVSpan {
			s.mark(&s.st.Before, true)
		}
		k, v := s.newKV()
		r := s.put(k, v)
		s.st.FillPuts++
		switch r.Status {
		case hashtable.OK:
			s.st.FillOK++
		case hashtable.ErrNoMemory:
			s.st.FillNoMem++
			if s.st.FirstNoMemPut == 0 {
				s.st.FirstNoMemPut, s.st.FirstNoMemUtil = s.st.FillPuts, s.util()
			}
		default:
			return s.fail("PUT of a new %d+%d B KV: %s", len(k), len(v), r.Status)
		}
	}
	if !s.st.Before.Ended {
		return s.fail("the heap filled before the throughput window [%.0f %%, %.0f %%) closed", 100*slabKVWarm, 100*(slabKVWarm+slabKVSpan))
	}
	s.st.CapacityPut, s.st.CapHeld, s.st.CapUtil = s.st.FillPuts, s.held(), s.util()
	s.st.CapKVUtil, s.st.CapKVs = s.t.Utilization(), s.t.Len()
	if err := s.checkTable(); err != nil {
		return err
	}
	s.emit(slabKVEv{kind: kvEvCheck})
	if r := s.st.LastReport; r != nil {
		s.st.CapFree = map[string]int64{}
		for p := slabd.PlaceDaemon; p < slabd.PlaceClient; p++ {
			s.st.CapFree[p.String()] = r.Granules[p] * r.GranuleBytes
		}
	}
	// The engine is idle (the checkpoint), so the NIC lines are current.
	for c := 0; c < s.sim.P.NC; c++ {
		if slices.Contains(s.objClasses, c) {
			continue
		}
		ring := s.sim.Mem.U32(s.sim.P.HL(c)) - s.sim.Mem.U32(s.sim.P.NL(c))
		s.st.CapOther += (int64(s.sim.Model.Count(c)) + int64(ring)) * s.sim.P.Sizes[c]
	}
	s.st.CapUsableUtil = float64(s.st.CapHeld) / float64(s.heap-s.st.CapOther)

	// 2. Past capacity: every PUT of a new KV needs a slab and must fail.
	s.phase = kvPhPastCap
	for i := 0; i < slabKVPastCap; i++ {
		k, v := s.newKV()
		r := s.put(k, v)
		s.st.PastCapPuts++
		if r.Status != hashtable.ErrNoMemory {
			return s.fail("PUT %d past capacity (a new %d+%d B KV): %s, want %s", i+1, len(k), len(v), r.Status, hashtable.ErrNoMemory)
		}
		s.st.PastCapNoMem++
		s.rejected = append(s.rejected, k)
	}
	if err := s.checkTable(); err != nil {
		return err
	}

	// 3. Every key stored before capacity reads back; none refused does.
	s.phase = kvPhRead
	if err := s.readBack(); err != nil {
		return err
	}
	for _, k := range s.rejected {
		r := s.op(func() hashtable.Result { return s.t.Get(k) })
		if r.Status != hashtable.NotFound {
			return s.fail("GET of key %x, whose PUT answered no memory: %s", k, r.Status)
		}
		s.st.MissesChecked++
	}

	// 4. Delete random keys down to 30 % of the heap.
	s.phase = kvPhDelete
	perm := s.rng.Perm(len(s.keys))
	for _, i := range perm {
		if float64(s.held()) <= slabKVDeleteTo*float64(s.heap) {
			break
		}
		k := s.keys[i]
		r := s.op(func() hashtable.Result { return s.t.Delete(k) })
		if r.Status != hashtable.OK {
			return s.fail("DELETE of stored key %x: %s", k, r.Status)
		}
		if r.Frees == 2 {
			s.st.Unlinks++
		}
		delete(s.want, string(k))
		s.st.Deleted++
	}
	s.st.AfterDeleteUtl = s.util()
	if err := s.checkTable(); err != nil {
		return err
	}
	s.emit(slabKVEv{kind: kvEvCheck})

	// 5. Recovery: PUT new keys up by the same share of the heap as the
	// first window, measuring the same way.
	s.phase = kvPhRecovery
	s.mark(&s.st.After, false)
	target := s.st.After.FromUtil + slabKVSpan
	for s.util() < target {
		if s.st.RecoveryPuts >= limit {
			return s.fail("%d PUTs in recovery and the heap is at %.1f %%", s.st.RecoveryPuts, 100*s.util())
		}
		k, v := s.newKV()
		r := s.put(k, v)
		s.st.RecoveryPuts++
		switch r.Status {
		case hashtable.OK:
			s.st.RecoveryOK++
		case hashtable.ErrNoMemory:
			s.st.RecoveryNoMem++
		default:
			return s.fail("PUT of a new %d+%d B KV: %s", len(k), len(v), r.Status)
		}
	}
	s.mark(&s.st.After, true)
	if s.st.RecoveryNoMem > 0 {
		return s.fail("%d of %d PUTs answered no memory with the heap at %.1f..%.1f %%",
			s.st.RecoveryNoMem, s.st.RecoveryPuts, 100*s.st.After.FromUtil, 100*s.st.After.ToUtil)
	}

	// 6. Everything reads back once more.
	s.phase = kvPhFinalRead
	before := s.st.Gets
	if err := s.readBack(); err != nil {
		return err
	}
	s.st.FinalGets = s.st.Gets - before
	if err := s.checkTable(); err != nil {
		return err
	}
	s.phase = kvPhDrain
	return nil
}

// checkSlab runs the heap invariant checker (slab.md §9).
func (s *slabKVStim) checkSlab() error {
	r, err := s.sim.Check()
	if err != nil {
		return err
	}
	s.st.LastReport = r
	if !r.OK() {
		return fmt.Errorf("slab invariants at cycle %d: %s", s.sim.Cycle(), strings.Join(r.Problems, "; "))
	}
	s.st.SlabChecks++
	return nil
}

// checkable: the engine is idle and no request is in flight, so every
// granule is in its place (slab.md §9).
func (s *slabKVStim) checkable() bool {
	return !s.sim.Busy() && s.sim.Pending() == 0 && !s.sim.Model.Waiting() && s.sim.Model.Idle()
}

// serve presents what the workload needs in this cycle, resuming it as
// long as it can go on without a cycle passing.
func (s *slabKVStim) serve(cycle uint64) error {
	opStarted := false
	for {
		if s.finished {
			// The final drain: wait for quiet, check the heap and the
			// table, end.
			if !s.draining {
				s.draining, s.drainFrom = true, cycle
			}
			if !s.sim.Quiet() {
				if cycle-s.drainFrom > slabKVDrainCycles {
					return fmt.Errorf("slab_kv: not quiet %d cycles after the drain began: %s", cycle-s.drainFrom, s.sim.Model.DescribeState())
				}
				return nil
			}
			if err := s.checkSlab(); err != nil {
				return err
			}
			if err := s.checkTable(); err != nil {
				return err
			}
			s.done = true
			return nil
		}
		if !s.haveEv {
			ev, ok := s.next()
			if s.err != nil {
				return s.err
			}
			if !ok {
				s.finished = true
				continue
			}
			s.ev, s.haveEv = ev, true
		}
		switch s.ev.kind {
		case kvEvOp:
			if opStarted {
				return nil // one operation starts per cycle
			}
			opStarted = true
			s.haveEv = false
		case kvEvAlloc:
			if !s.presented {
				s.sim.PresentAlloc(s.ev.class)
				s.presented, s.answered = true, false
				return nil
			}
			if s.sim.Busy() || !s.answered {
				return nil
			}
			s.presented, s.haveEv = false, false
		case kvEvFree:
			if !s.presented {
				i, ok := s.index[s.ev.ptr]
				held := s.sim.Held()
				if !ok || i >= len(held) || held[i].Ptr != s.ev.ptr || held[i].Class != s.ev.class {
					return fmt.Errorf("slab_kv: the store frees %#x class %d, which it does not hold", s.ev.ptr, s.ev.class)
				}
				s.sim.PresentFree(i) // held[last] moves to i
				delete(s.index, s.ev.ptr)
				if held = s.sim.Held(); i < len(held) {
					s.index[held[i].Ptr] = i
				}
				s.presented = true
				return nil
			}
			if s.sim.Busy() {
				return nil
			}
			s.presented, s.haveEv = false, false
		case kvEvCheck:
			if !s.checkable() {
				return nil
			}
			if err := s.checkSlab(); err != nil {
				return err
			}
			s.haveEv = false
		}
	}
}

func (s *slabKVStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if s.done {
		return false, nil
	}
	if cycle != s.sim.Cycle() {
		return false, fmt.Errorf("slab_kv stimulus: cycle %d, the harness is at %d", cycle, s.sim.Cycle())
	}
	if err := s.serve(cycle); err != nil {
		s.stop()
		return false, err
	}
	if s.done {
		return false, nil
	}
	rsp, err := s.sim.Step()
	if err != nil {
		s.stop()
		return false, err
	}
	if rsp.Valid {
		s.answer, s.answered = rsp, true
		if rsp.OK {
			s.index[rsp.Ptr] = len(s.sim.Held()) - 1
		}
	}
	s.observe(cycle, rsp)
	copy(in, s.sim.Inputs())
	return true, nil
}

func (s *slabKVStim) observe(cycle uint64, rsp slab.Response) {
	in, out := s.sim.Inputs(), s.sim.Outputs()
	e := &s.log[cycle%slabKVLog]
	e.reqValid = uint8(in[s.iReqValid])
	e.accepted = uint8(in[s.iReqValid] & out[s.oReqReady])
	e.op, e.class, e.ptr = uint8(in[s.iReqOp]), uint8(in[s.iReqClass]), in[s.iReqPtr]
	e.rspValid, e.rspOK, e.rspPtr = rsp.Valid, rsp.OK, rsp.Ptr
	e.phase = uint8(s.phase)
}

// Progress counts KV operations and allocator requests accepted.
func (s *slabKVStim) Progress() uint64 { return s.ops + s.sim.Stats().Accepted }

func (s *slabKVStim) Points() map[string]uint64 {
	st := &s.st
	capacity := uint64(0)
	if st.CapacityPut > 0 {
		capacity = 1
	}
	return map[string]uint64{
		"slab_kv.put":                     uint64(st.FillOK + st.RecoveryOK),
		"slab_kv.put_no_memory":           uint64(st.FillNoMem + st.PastCapNoMem),
		"slab_kv.capacity":                capacity,
		"slab_kv.past_capacity_no_memory": uint64(st.PastCapNoMem),
		"slab_kv.readback":                uint64(st.GetsOK),
		"slab_kv.delete":                  uint64(st.Deleted),
		"slab_kv.recovered_put":           uint64(st.RecoveryOK),
		"slab_kv.chained_bucket":          uint64(st.BucketAllocs),
		"slab_kv.unlink":                  uint64(st.Unlinks),
		"slab_kv.table_checked":           uint64(st.TableChecks),
		"slab_kv.slab_checked":            uint64(st.SlabChecks),
	}
}

// Describe lists the requests and answers of the cycles up to cycle.
func (s *slabKVStim) Describe(cycle uint64) string {
	var b strings.Builder
	from := uint64(0)
	if cycle > 12 {
		from = cycle - 12
	}
	if s.sim.Cycle() > slabKVLog && from < s.sim.Cycle()-slabKVLog {
		return fmt.Sprintf("cycle %d is no longer in the stimulus's log", cycle)
	}
	for c := from; c <= cycle && c < s.sim.Cycle(); c++ {
		e := s.log[c%slabKVLog]
		fmt.Fprintf(&b, "\n  cycle %d (%s):", c, slabKVPhaseNames[e.phase])
		if e.reqValid != 0 {
			if e.op != 0 {
				fmt.Fprintf(&b, " free class %d ptr %#x", e.class, e.ptr)
			} else {
				fmt.Fprintf(&b, " alloc class %d", e.class)
			}
			if e.accepted != 0 {
				b.WriteString(" (accepted)")
			} else {
				b.WriteString(" (waiting)")
			}
		}
		if e.rspValid {
			if e.rspOK {
				fmt.Fprintf(&b, "; answer ptr %#x", e.rspPtr)
			} else {
				b.WriteString("; answer no memory")
			}
		}
	}
	return "the hash table's allocator requests (predicted):" + b.String()
}
