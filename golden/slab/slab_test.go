package slab

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/model"
)

// cfgOf is a preset with overrides.
func cfgOf(t *testing.T, preset string, sets ...string) config.Config {
	t.Helper()
	c, err := config.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		if err := c.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// small is the sim preset with a 1 MiB host memory: a heap of 30336
// granules, small enough to fill in a fraction of a second.
var small = []string{"memory.index_buckets=1024", "memory.host_bytes=1048576"}

func newSim(t *testing.T, cfg config.Config, opt SimOptions) *Sim {
	t.Helper()
	s, err := NewSim(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func step(t *testing.T, s *Sim) Response {
	t.Helper()
	r, err := s.Step()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// warm runs until every stack is at or above the low watermark and
// nothing is in flight.
func warm(t *testing.T, s *Sim) {
	t.Helper()
	for i := 0; ; i++ {
		ok := s.Quiet()
		for c := 0; c < s.P.NC && ok; c++ {
			ok = s.Model.Count(c) >= s.P.LW
		}
		if ok {
			return
		}
		if i > 1_000_000 {
			t.Fatalf("not warm: %s", s.Model.DescribeState())
		}
		step(t, s)
	}
}

func check(t *testing.T, s *Sim) {
	t.Helper()
	if err := s.Quiesce(1_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestPorts(t *testing.T) {
	ports := Ports(cfgOf(t, "paper"))
	type pw struct {
		name string
		dir  model.Dir
		w    int
		q    string
	}
	want := []pw{
		{"req_valid", model.In, 1, ""}, {"req_ready", model.Out, 1, ""}, {"req_op", model.In, 1, ""},
		{"req_class", model.In, 3, ""}, {"req_ptr", model.In, 31, ""},
		{"rsp_valid", model.Out, 1, ""}, {"rsp_ok", model.Out, 1, "rsp_valid"}, {"rsp_ptr", model.Out, 31, "rsp_valid"},
		{"mem_rd_valid", model.Out, 1, ""}, {"mem_rd_ready", model.In, 1, ""},
		{"mem_rd_addr", model.Out, 36, "mem_rd_valid"}, {"mem_rd_beats", model.Out, 5, "mem_rd_valid"},
		{"mem_rdata_valid", model.In, 1, ""}, {"mem_rdata_ready", model.Out, 1, ""},
		{"mem_rdata", model.In, 256, ""}, {"mem_rdata_last", model.In, 1, ""}, {"mem_rdata_err", model.In, 1, ""},
		{"mem_wr_valid", model.Out, 1, ""}, {"mem_wr_ready", model.In, 1, ""},
		{"mem_wr_addr", model.Out, 36, "mem_wr_valid"}, {"mem_wr_data", model.Out, 256, "mem_wr_valid"},
	}
	if len(ports) != len(want) {
		t.Fatalf("%d ports, want %d", len(ports), len(want))
	}
	for i, w := range want {
		p := ports[i]
		if p.Name != w.name || p.Dir != w.dir || p.Width != w.w || p.QualifiedBy != w.q {
			t.Errorf("port %d: %+v, want %+v", i, p, w)
		}
	}
	p, err := ParamsOf(cfgOf(t, "paper"))
	if err != nil || p.NB != 64 || p.NR != 4 || p.Retry != 180 || p.DW != 12 {
		t.Errorf("paper params %+v, %v", p, err)
	}
	big := cfgOf(t, "paper")
	big.Bucket.PointerBits, big.Bucket.SecHashBits, big.Memory.HostBytes = 33, 7, 1<<38
	if _, err := ParamsOf(big); err == nil {
		t.Error("2^33 pointers accepted with 4-byte ring entries")
	}
}

// One alloc per clock from warm stacks: every alloc accepted in the cycle
// it is presented and answered in the next, for as long as the stack has
// entries (sim) and indefinitely when refills outrun the pipeline (paper's
// 512-entry batches at PCIe latency).
func TestOneAllocPerClockWarm(t *testing.T) {
	run := func(t *testing.T, s *Sim, c, n int) {
		t.Helper()
		warm(t, s)
		for i := 0; i <= n; i++ {
			if i < n {
				s.PresentAlloc(c)
			}
			r := step(t, s)
			if i < n && s.Busy() {
				t.Fatalf("alloc %d not accepted at once: %s", i, s.Model.DescribeState())
			}
			if i > 0 && !(r.Valid && r.OK) {
				t.Fatalf("alloc %d not answered with a pointer in the next cycle: %+v", i-1, r)
			}
		}
	}
	t.Run("sim, the warm stack", func(t *testing.T) {
		s := newSim(t, cfgOf(t, "sim", small...), SimOptions{Host: HostOptions{LatMin: 135, LatMax: 243, Seed: 1}})
		warm(t, s)
		run(t, s, 1, s.Model.Count(1))
	})
	t.Run("paper, sustained", func(t *testing.T) {
		s := newSim(t, cfgOf(t, "paper", "memory.index_buckets=16384", "memory.host_bytes=67108864"),
			SimOptions{Host: HostOptions{LatMin: 135, LatMax: 243, Seed: 1}})
		run(t, s, 0, 30000)
		if st := s.Model.Stats(); st.WaitCycles != 0 || st.Refills < 30000/512 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("alloc and free alternating, no DMA", func(t *testing.T) {
		s := newSim(t, cfgOf(t, "sim", small...), SimOptions{Host: HostOptions{LatMin: 20, LatMax: 20}})
		warm(t, s)
		// Two held slabs: an alloc's pointer arrives a cycle after the
		// next request has been presented.
		s.Alloc(3)
		s.Alloc(3)
		check(t, s)
		dma := s.Host.Stats().DMAOps
		for i := 0; i < 10000; i++ {
			if i%2 == 0 {
				s.PresentFree(0)
			} else {
				s.PresentAlloc(3)
			}
			step(t, s)
			if s.Busy() {
				t.Fatalf("request %d waits", i)
			}
		}
		step(t, s)
		if got := s.Host.Stats().DMAOps - dma; got != 0 {
			t.Errorf("%d DMA operations for 5000 alloc+free pairs on a stack between its watermarks", got)
		}
		check(t, s)
	})
}

// tracer records the host port's traffic.
type tracer struct{ ev []DMA }

func (tr *tracer) add(d DMA) { tr.ev = append(tr.ev, d) }

func (tr *tracer) take() []DMA {
	ev := tr.ev
	tr.ev = nil
	return ev
}

type wantDMA struct {
	write bool
	addr  int64
	beats int
	// for writes of a NIC line: rf_cons, fl_prod, err_beats (-1: not checked)
	line [3]int64
}

func rd(addr int64, beats int) wantDMA {
	return wantDMA{addr: addr, beats: beats, line: [3]int64{-1, -1, -1}}
}
func wr(addr int64) wantDMA {
	return wantDMA{write: true, addr: addr, beats: 1, line: [3]int64{-1, -1, -1}}
}
func wrLine(addr int64, rfCons, flProd int64) wantDMA {
	return wantDMA{write: true, addr: addr, beats: 1, line: [3]int64{rfCons, flProd, 0}}
}

func expectDMAs(t *testing.T, what string, got []DMA, want ...wantDMA) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := got[i], want[i]
		ok = g.Write == w.write && g.Addr == w.addr && g.Beats == w.beats
		if ok && w.line != [3]int64{-1, -1, -1} {
			for k, v := range w.line {
				ok = ok && (v < 0 || int64(binary.LittleEndian.Uint32(g.Data[4*k:])) == v)
			}
			for _, b := range g.Data[12:] {
				ok = ok && b == 0
			}
		}
	}
	if !ok {
		t.Errorf("%s: DMAs\n  got  %v\n  want %+v", what, got, want)
	}
}

// Every watermark crossing makes exactly the DMAs of slab.md §6, in order,
// and the NIC reads the host line only when its cached index says there is
// nothing to move, then not again for RETRY cycles.
func TestWatermarkDMAs(t *testing.T) {
	cfg := cfgOf(t, "sim", small...)
	tr := &tracer{}
	s := newSim(t, cfg, SimOptions{Host: HostOptions{LatMin: 10, LatMax: 10, Trace: tr.add}, ManualDaemon: true})
	p := s.P
	s.Daemon.Poll()
	warm(t, s)
	// Start: each class in turn reads its host line, one batch, writes its
	// NIC line.
	var want []wantDMA
	for c := 0; c < p.NC; c++ {
		want = append(want, rd(p.HL(c), 1), rd(p.RR(c), 2), wrLine(p.NL(c), 16, 0))
	}
	expectDMAs(t, "start", tr.take(), want...)

	// Class 2 drops below LW: a batch from the cached index.
	s.Alloc(2)
	check(t, s)
	expectDMAs(t, "refill", tr.take(), rd(p.RR(2)+4*16, 2), wrLine(p.NL(2), 32, 0))
	if s.Model.Count(2) != 31 {
		t.Fatalf("count %d after refill", s.Model.Count(2))
	}
	for s.Model.Count(2) > p.LW {
		s.Alloc(2)
	}
	check(t, s)
	expectDMAs(t, "down to LW", tr.take())
	dma := s.Host.Stats().DMAOps
	s.Alloc(2)
	check(t, s)
	expectDMAs(t, "refill 2", tr.take(), rd(p.RR(2)+4*32, 2), wrLine(p.NL(2), 48, 0))
	if got := s.Host.Stats().DMAOps - dma; got != 2 {
		t.Errorf("a 16-entry refill counted %d DMA operations, want 2 (64 B batch, NIC line)", got)
	}

	// A third batch, so that the client holds enough to free past HW.
	for s.Model.Count(2) > p.LW {
		s.Alloc(2)
	}
	s.Alloc(2)
	check(t, s)
	expectDMAs(t, "refill 3", tr.take(), rd(p.RR(2)+4*48, 2), wrLine(p.NL(2), 64, 0))

	// Up to HW: nothing; one more: a flush of the 16 oldest entries.
	for s.Model.Count(2) < p.HW {
		s.Free(s.Held()[len(s.Held())-1].Ptr, 2)
	}
	check(t, s)
	expectDMAs(t, "up to HW", tr.take())
	var oldest [16]uint64
	i := 0
	for _, h := range s.Model.Held() {
		if h.Class == 2 && i < 16 {
			oldest[i] = h.Ptr
			i++
		}
	}
	dma = s.Host.Stats().DMAOps
	s.Free(s.Held()[len(s.Held())-1].Ptr, 2)
	check(t, s)
	got := tr.take()
	expectDMAs(t, "flush", got, wr(p.FR(2)), wr(p.FR(2)+32), wrLine(p.NL(2), 64, 16))
	if len(got) == 3 {
		var flushed [16]uint64
		for k := 0; k < 16; k++ {
			flushed[k] = uint64(binary.LittleEndian.Uint32(got[k/8].Data[4*(k%8):]))
		}
		if flushed != oldest {
			t.Errorf("flushed %x, want the oldest entries %x", flushed, oldest)
		}
	}
	if got := s.Host.Stats().DMAOps - dma; got != 2 {
		t.Errorf("a 16-entry flush counted %d DMA operations, want 2", got)
	}

	// Class 0 uses up its cached batches (rf_prod 64); the next refill
	// reads the host line, finds nothing (the daemon has not polled), and
	// waits RETRY cycles between reads until the daemon produces.
	for idx := s.Model.Stats().IndexReads; s.Model.Stats().IndexReads == idx; {
		s.Alloc(0)
	}
	check(t, s)
	got = tr.take()
	want = nil
	for rc := int64(16); rc < 64; rc += 16 {
		want = append(want, rd(p.RR(0)+4*rc, 2), wrLine(p.NL(0), rc+16, 0))
	}
	want = append(want, rd(p.HL(0), 1))
	expectDMAs(t, "class 0 to the end of its cache", got, want...)
	last := got[len(got)-1].Cycle
	for k := 0; k < 3; k++ {
		for len(tr.ev) == 0 {
			step(t, s)
		}
		ev := tr.take()
		expectDMAs(t, "re-read", ev, rd(p.HL(0), 1))
		// The data returns 10 cycles after the read; wait[0] = RETRY from
		// the next cycle; the engine picks class 0 when it reaches 0 and
		// presents the read in the cycle after.
		if gap := ev[0].Cycle - last; gap != uint64(p.Retry)+10+2 {
			t.Errorf("host line re-read %d cycles after the last, want RETRY (%d) + latency (10) + 2", gap, p.Retry)
		}
		last = ev[0].Cycle
	}
	s.Daemon.Poll()
	for len(tr.ev) < 3 {
		step(t, s)
	}
	check(t, s)
	expectDMAs(t, "after the poll", tr.take(), rd(p.HL(0), 1), rd(p.RR(0)+4*64, 2), wrLine(p.NL(0), 80, 0))

	// Class 3: fill the flush ring (8 batches) with no daemon poll; the
	// ninth flush reads the host line, finds no room, and frees wait (the
	// stack fills to D) until the daemon drains the ring.
	held3 := func() int {
		n := 0
		for _, h := range s.Held() {
			if h.Class == 3 {
				n++
			}
		}
		return n
	}
	for held3() < 8*16+p.D {
		if s.Model.Count(3) < p.LW+2 {
			s.Daemon.Poll()
		}
		s.Alloc(3)
	}
	s.Daemon.Poll()
	check(t, s)
	tr.take()
	fp := int64(0)
	for k := 0; k < 8*16+p.D && !s.Model.Waiting(); k++ {
		for i := len(s.Held()) - 1; i >= 0; i-- {
			if s.Held()[i].Class == 3 {
				s.PresentFree(i)
				break
			}
		}
		for s.Busy() {
			step(t, s)
		}
	}
	if !s.Model.Waiting() {
		t.Fatal("frees never waited on a full stack")
	}
	for i := 0; i < 2*p.Retry; i++ {
		step(t, s)
	}
	want = nil
	for ; fp < 8*16; fp += 16 {
		// rf_cons of class 3 (-1) is not the point here.
		want = append(want, wr(p.FR(3)+4*fp), wr(p.FR(3)+4*fp+32), wrLine(p.NL(3), -1, fp+16))
	}
	want = append(want, rd(p.HL(3), 1), rd(p.HL(3), 1))
	got = tr.take()
	if len(got) > len(want) {
		got = got[:len(want)] // a third re-read may fall in the window
	}
	expectDMAs(t, "flush ring full", got, want...)
	if s.Model.Count(3) != p.D {
		t.Errorf("class 3 holds %d entries while a free waits, want D = %d", s.Model.Count(3), p.D)
	}
	s.Daemon.Poll()
	check(t, s)
	s.Daemon.Poll()
	// Class 3's ninth flush takes the stack from D to D-B; the waiting free
	// then makes it HW+1: a tenth.
	if st := s.Daemon.Stats(); st.FlushBatches != 1+10 || st.Rejected != 0 {
		t.Errorf("daemon %+v: want class 2's flush and class 3's ten", st)
	}
}

// exhaust allocates round-robin over classes until a whole round answers
// "no memory", and returns the allocs answered with a pointer.
func exhaust(t *testing.T, s *Sim, classes []int) int {
	t.Helper()
	n, failedInARow := 0, 0
	for i := 0; failedInARow < len(classes); i++ {
		if _, ok := s.Alloc(classes[i%len(classes)]); ok {
			n++
			failedInARow = 0
		} else {
			failedInARow++
		}
	}
	return n
}

func freeAll(t *testing.T, s *Sim) {
	t.Helper()
	for len(s.Held()) > 0 {
		h := s.Held()[len(s.Held())-1]
		s.Free(h.Ptr, h.Class)
	}
}

// Out of memory (slab.md §7): with one class every granule is allocated
// before the first "no memory"; every alloc past capacity answers "no
// memory", however long the client waits; after freeing everything the
// whole heap can be allocated again.
func TestExhaustionOneClass(t *testing.T) {
	cfg := cfgOf(t, "sim", append(small, "key.max_value_bytes=46", "slab.classes=[64]")...)
	s := newSim(t, cfg, SimOptions{Host: HostOptions{LatMin: 30, LatMax: 60, Seed: 3}})
	slabs := int(s.Daemon.HeapBytes() / 64)
	for round := 0; round < 2; round++ {
		if n := exhaust(t, s, []int{0}); n != slabs {
			t.Fatalf("round %d: %d allocs before no memory, the heap has %d slabs", round, n, slabs)
		}
		for i := 0; i < 300; i++ {
			if _, ok := s.Alloc(0); ok {
				t.Fatalf("round %d: alloc %d past capacity succeeded", round, i)
			}
			for k := 0; k < 7; k++ { // let time pass: daemon polls, host-line re-reads
				step(t, s)
			}
		}
		check(t, s)
		r, _ := s.Check()
		if r.Used != r.TotalGranules {
			t.Fatalf("round %d: %d of %d granules used at no memory", round, r.Used, r.TotalGranules)
		}
		freeAll(t, s)
		check(t, s)
	}
	if st := s.Daemon.Stats(); st.Exhausted < 2 {
		t.Errorf("daemon %+v: class never flagged exhausted twice", st)
	}
}

// With several classes, allocating all of them until none answers leaves
// nothing parked: every granule is used; a class the client stops using
// keeps at most its stack and ring (slab.md §7).
func TestExhaustionAllClasses(t *testing.T) {
	cfg := cfgOf(t, "sim", small...)
	s := newSim(t, cfg, SimOptions{Host: HostOptions{LatMin: 30, LatMax: 60, Seed: 4}})
	all := []int{0, 1, 2, 3, 4}
	for round := 0; round < 2; round++ {
		exhaust(t, s, all)
		rng := rand.New(rand.NewPCG(9, uint64(round)))
		for i := 0; i < 500; i++ {
			if _, ok := s.Alloc(rng.IntN(5)); ok {
				t.Fatalf("round %d: alloc %d past capacity succeeded", round, i)
			}
		}
		check(t, s)
		r, _ := s.Check()
		if r.Used != r.TotalGranules {
			t.Fatalf("round %d: %d of %d granules used; places %v", round, r.Used, r.TotalGranules, r.Granules)
		}
		freeAll(t, s)
		check(t, s)
	}
	// Class 4 only: the memory other classes keep parked is bounded by
	// their stacks and refill rings.
	exhaust(t, s, []int{4})
	check(t, s)
	r, _ := s.Check()
	// Each slab parked in another class's stack or ring can also keep the
	// rest of its 512 B block from merging.
	parked := r.TotalGranules - r.Used
	bound := int64(4*(s.P.D+s.P.RN)) * s.P.Sizes[4] / s.P.U
	if parked > bound {
		t.Errorf("%d granules free when class 4 answers no memory, more than the bound %d; places %v", parked, bound, r.Granules)
	}
	t.Logf("class 4 alone: %d of %d granules used, %d parked in other classes (bound %d)", r.Used, r.TotalGranules, parked, bound)
}

// Random traffic with a class mix that shifts from small to large and
// back, random latency and back-pressure on every host-port handshake;
// the invariants hold at every quiet point.
func TestRandomTrafficInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			cfg := cfgOf(t, "sim", small...)
			s := newSim(t, cfg, SimOptions{Host: HostOptions{LatMin: 5, LatMax: 200, Seed: seed,
				RdReadyPct: 70, WrReadyPct: 60, RdataPct: 80, MaxReads: 4}})
			d := NewDriver(s, seed)
			d.Idle = 10
			// The last two phases ask for more than the heap, then give it
			// back: "no memory" under random timing, and recovery.
			phases := []struct {
				w      []float64
				target int64
			}{
				{[]float64{1, 1, 0, 0, 0}, 6}, {[]float64{0, 0, 0, 1, 1}, 6}, {[]float64{1, 1, 1, 1, 1}, 6},
				{[]float64{1, 1, 0, 0, 0}, 6}, {[]float64{0, 1, 1, 1, 1}, 12}, {[]float64{1, 1, 1, 1, 1}, 3},
			}
			for _, ph := range phases {
				d.SetWeights(ph.w)
				d.TargetBytes = s.Daemon.HeapBytes() * ph.target / 10
				for i := 0; i < 60000; i++ {
					if _, err := d.Step(); err != nil {
						t.Fatal(err)
					}
				}
				check(t, s)
			}
			ds := s.Daemon.Stats()
			ms, hs := s.Model.Stats(), s.Host.Stats()
			if ds.Splits == 0 || ds.Merges == 0 || ds.Rejected != 0 || ds.ProtocolErrors != 0 || ms.NoMemory == 0 {
				t.Errorf("daemon %+v, NIC %+v: want splits, merges and some no memory, nothing rejected", ds, ms)
			}
			t.Logf("%d cycles: %d allocs, %d frees, %d no memory, %d refills, %d flushes, %d DMA ops; daemon %d splits, %d merges in %d passes",
				s.Cycle(), ms.Allocs, ms.Frees, ms.NoMemory, ms.Refills, ms.Flushes, hs.DMAOps, ds.Splits, ds.Merges, ds.MergePasses)
			freeAll(t, s)
			check(t, s)
			r, _ := s.Check()
			if r.Used != 0 || r.Free != r.TotalGranules {
				t.Errorf("after freeing all: %+v", r)
			}
		})
	}
}

// Snapshot and Restore: the model replays the same outputs from a
// snapshot given the same inputs, and a whole Sim (memory, daemon, host
// port, client) reruns identically.
func TestSnapshotRestore(t *testing.T) {
	cfg := cfgOf(t, "sim", small...)
	s := newSim(t, cfg, SimOptions{Host: HostOptions{LatMin: 5, LatMax: 80, Seed: 7, WrReadyPct: 70}})
	d := NewDriver(s, 7)
	d.SetWeights([]float64{1, 1, 1, 1, 1})
	d.TargetBytes = s.Daemon.HeapBytes() / 2
	for i := 0; i < 20000; i++ {
		if _, err := d.Step(); err != nil {
			t.Fatal(err)
		}
	}
	snapM := s.Model.Snapshot()
	snapS, snapD := s.Snapshot(), d.Snapshot()
	var ins, outs [][]uint64
	for i := 0; i < 20000; i++ {
		if _, err := d.Step(); err != nil {
			t.Fatal(err)
		}
		ins = append(ins, append([]uint64(nil), s.Inputs()...))
		outs = append(outs, append([]uint64(nil), s.Outputs()...))
	}
	end := s.Model.Snapshot()

	m, _ := New(cfg)
	m.Restore(snapM)
	out := make([]uint64, len(outs[0]))
	for i := range ins {
		if err := m.Step(ins[i], out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, outs[i]) {
			t.Fatalf("replay cycle %d: outputs differ", i)
		}
	}
	if !reflect.DeepEqual(m.Snapshot(), end) {
		t.Error("replayed model ends in another state")
	}

	s.Restore(snapS)
	d.Restore(snapD)
	for i := range ins {
		if _, err := d.Step(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.Outputs(), outs[i]) || !reflect.DeepEqual(s.Inputs(), ins[i]) {
			t.Fatalf("rerun cycle %d differs", i)
		}
	}
	check(t, s)
}

func TestStepAllocatesNothing(t *testing.T) {
	cfg := cfgOf(t, "sim", small...)
	s := newSim(t, cfg, SimOptions{Host: HostOptions{LatMin: 3, LatMax: 9}})
	d := NewDriver(s, 1)
	d.SetWeights([]float64{1, 1, 1, 1, 1})
	d.TargetBytes = s.Daemon.HeapBytes() / 4
	for i := 0; i < 5000; i++ {
		if _, err := d.Step(); err != nil {
			t.Fatal(err)
		}
	}
	in, out := append([]uint64(nil), s.Inputs()...), make([]uint64, len(s.Outputs()))
	if n := testing.AllocsPerRun(1000, func() { _ = s.Model.Step(in, out) }); n != 0 {
		t.Errorf("Step allocates %v times per call", n)
	}
}

// Invalid requests: an alloc of a class past NC answers "no memory" in the
// next cycle; a free of such a class or of pointer 0 is dropped.
func TestInvalidRequests(t *testing.T) {
	s := newSim(t, cfgOf(t, "sim", small...), SimOptions{Host: HostOptions{LatMin: 10, LatMax: 10}})
	warm(t, s)
	s.PresentRaw(Request{Op: OpAlloc, Class: 6})
	step(t, s)
	if r := step(t, s); !r.Valid || r.OK || r.Ptr != 0 {
		t.Errorf("alloc of class 6: %+v", r)
	}
	for _, r := range []Request{{Op: OpFree, Class: 7, Ptr: 0x9000}, {Op: OpFree, Class: 1, Ptr: 0}} {
		s.PresentRaw(r)
		step(t, s)
	}
	if st := s.Model.Stats(); st.Dropped != 2 || st.NoMemory != 1 {
		t.Errorf("stats %+v", st)
	}
	check(t, s)
}

// A refill beat that comes back with mem_rdata_err loses its slabs: they
// are counted in err_beats, and the checker finds exactly them lost.
func TestErrBeatIsLostAndFound(t *testing.T) {
	cfg := cfgOf(t, "sim", small...)
	var s *Sim
	hit := false
	opt := SimOptions{Host: HostOptions{LatMin: 10, LatMax: 10, ErrBeat: func(addr int64) bool {
		if !hit && addr == s.P.RR(1)+32 { // the second beat of class 1's first batch
			hit = true
			return true
		}
		return false
	}}}
	s = newSim(t, cfg, opt)
	warm(t, s)
	r, err := s.Check()
	if err == nil || r.Lost != 8*2 || r.LostRuns == 0 {
		t.Fatalf("want 8 lost 64 B slabs (16 granules); got %v, %+v", err, r)
	}
	if e := s.Mem.U32(s.P.NL(1) + 8); e != 1 {
		t.Errorf("err_beats of class 1 = %d, want 1", e)
	}
	if s.Model.Count(1) != 8+16 {
		t.Errorf("class 1 holds %d entries, want 8 from the damaged batch and 16 from the next", s.Model.Count(1))
	}
}

// The hash table runs on this allocator (hashtable.Allocator): a preload
// of out-of-line KVs and inline ones with chained buckets, then deletes;
// both checkers pass.
func TestHashTableOnSlab(t *testing.T) {
	cfg := cfgOf(t, "sim", small...)
	s := newSim(t, cfg, SimOptions{Host: HostOptions{LatMin: 20, LatMax: 40, Seed: 2}})
	tab, err := hashtable.New(cfg, s.Mem, s)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := hashtable.Preload(tab, hashtable.PreloadSpec{KeyBytes: 8, ValueBytes: 100, Utilization: 0.3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Check(); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if i%2 == 0 {
			if r := tab.Delete(k); r.Status != hashtable.OK {
				t.Fatalf("delete: %v", r.Status)
			}
		}
	}
	if err := tab.Check(); err != nil {
		t.Fatal(err)
	}
	check(t, s)
	t.Logf("%d KVs, %d slabs held, %d cycles", len(keys), len(s.Held()), s.Cycle())
}

func TestBenchSmall(t *testing.T) {
	cfg := cfgOf(t, "sim", small...)
	rows, err := Bench(cfg, BenchSpec{Seed: 1, Requests: 20000, Check: true, LatMin: 20, LatMax: 40})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if r.Invariants != "ok" || r.Cycles == 0 || r.RequestsPerCycle <= 0 || r.RequestsPerCycle > 1 {
			t.Errorf("row %+v", r)
		}
	}
	if r := rows[1]; r.Workload != "steady" || r.DMAPerAllocFree > PaperDMAPerAllocFree {
		t.Errorf("steady row %+v", r)
	}
}

// BenchmarkStep is the model alone on a busy stream (the bridge's cost):
// recorded inputs of a random run replayed into a fresh model.
func BenchmarkStep(b *testing.B) {
	cfg, _ := config.Preset("sim")
	_ = cfg.Set("memory.index_buckets=1024")
	_ = cfg.Set("memory.host_bytes=1048576")
	s, err := NewSim(cfg, SimOptions{Host: HostOptions{LatMin: 20, LatMax: 60, Seed: 1}})
	if err != nil {
		b.Fatal(err)
	}
	d := NewDriver(s, 1)
	d.SetWeights([]float64{1, 1, 1, 1, 1})
	d.TargetBytes = s.Daemon.HeapBytes() / 2
	var ins [][]uint64
	for i := 0; i < 1<<16; i++ {
		if _, err := d.Step(); err != nil {
			b.Fatal(err)
		}
		ins = append(ins, append([]uint64(nil), s.Inputs()...))
	}
	m, _ := New(cfg)
	out := make([]uint64, len(s.Outputs()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i & (1<<16 - 1)
		if k == 0 {
			m.Reset()
		}
		_ = m.Step(ins[k], out)
	}
}
