package slab

import (
	"fmt"

	"github.com/kvdirect/kvd/config"
)

// PaperDMAPerAllocFree is the paper's amortized allocator cost (reference
// §3: "< 0.07 DMA per alloc or free").
const PaperDMAPerAllocFree = 0.07

// MeasuredOn says what the bench runs on: the golden models, not the RTL.
const MeasuredOn = "golden models (golden/slab + golden/slabd), not RTL"

// BenchSpec is one run of the allocator bench.
type BenchSpec struct {
	Seed uint64
	// Requests is the cycles each measured workload (or shift phase) runs.
	Requests int
	// ShiftUtilizations are the live bytes of the shift workload as shares
	// of the heap, one run each; empty means 0.5.
	ShiftUtilizations []float64
	// LatMin, LatMax are the host's read latency in cycles; 0 means the
	// configuration's dma.latency_min_ns..latency_max_ns.
	LatMin, LatMax int
	// Check runs the invariant checker at the end of every workload.
	Check bool
}

// BenchRow is one measured window.
type BenchRow struct {
	Workload string `json:"workload"` // alloc_burst, steady, shift
	Phase    string `json:"phase"`    // the shift's phase, or "all"
	Classes  string `json:"classes"`  // the alloc mix of the window
	// TargetUtilization is the live bytes the client steers toward, as a
	// share of the heap (alloc_burst: the bytes it allocates).
	TargetUtilization float64 `json:"target_utilization"`

	Cycles   uint64 `json:"cycles"`
	Requests uint64 `json:"requests"` // allocs and frees accepted
	Allocs   uint64 `json:"allocs"`   // allocs answered with a pointer
	Frees    uint64 `json:"frees"`
	NoMemory uint64 `json:"no_memory"`

	DMAOps               uint64  `json:"dma_ops"`
	DMAPerAllocFree      float64 `json:"dma_per_alloc_free"`
	PaperDMAPerAllocFree float64 `json:"paper_dma_per_alloc_free"`
	AllocsPerCycle       float64 `json:"allocs_per_cycle"`
	RequestsPerCycle     float64 `json:"requests_per_cycle"`
	WaitCycles           uint64  `json:"wait_cycles"` // cycles a request waited in the block

	Refills     uint64 `json:"refills"`
	Flushes     uint64 `json:"flushes"`
	IndexReads  uint64 `json:"index_reads"`
	Splits      uint64 `json:"splits"`
	Merges      uint64 `json:"merges"`
	MergePasses uint64 `json:"merge_passes"`

	HeapBytes   int64   `json:"heap_bytes"`
	LiveBytes   int64   `json:"live_bytes"` // held by the client at the end
	Utilization float64 `json:"utilization"`
	Invariants  string  `json:"invariants"` // "ok", or "not checked"
	MeasuredOn  string  `json:"measured_on"`
}

// counters is everything a window measures, at one moment.
type counters struct {
	cycle                                 uint64
	accepted, allocs, frees, nomem, waits uint64
	dma, refills, flushes, idx            uint64
	splits, merges, passes                uint64
}

func snap(s *Sim) counters {
	m, h, d, c := s.Model.Stats(), s.Host.Stats(), s.Daemon.Stats(), s.Stats()
	return counters{
		cycle: s.Cycle(), accepted: c.Accepted, allocs: m.Allocs, frees: m.Frees, nomem: m.NoMemory,
		waits: m.WaitCycles, dma: h.DMAOps, refills: m.Refills, flushes: m.Flushes, idx: m.IndexReads,
		splits: d.Splits, merges: d.Merges, passes: d.MergePasses,
	}
}

func rowOf(s *Sim, workload, phase, classes string, a, b counters) BenchRow {
	r := BenchRow{
		Workload: workload, Phase: phase, Classes: classes,
		Cycles: b.cycle - a.cycle, Requests: b.accepted - a.accepted,
		Allocs: b.allocs - a.allocs, Frees: b.frees - a.frees, NoMemory: b.nomem - a.nomem,
		DMAOps: b.dma - a.dma, PaperDMAPerAllocFree: PaperDMAPerAllocFree,
		WaitCycles: b.waits - a.waits, Refills: b.refills - a.refills, Flushes: b.flushes - a.flushes,
		IndexReads: b.idx - a.idx, Splits: b.splits - a.splits, Merges: b.merges - a.merges,
		MergePasses: b.passes - a.passes,
		HeapBytes:   s.Daemon.HeapBytes(), LiveBytes: s.Stats().HeldBytes,
		Invariants: "not checked", MeasuredOn: MeasuredOn,
	}
	if n := r.Allocs + r.Frees; n > 0 {
		r.DMAPerAllocFree = float64(r.DMAOps) / float64(n)
	}
	if r.Cycles > 0 {
		r.AllocsPerCycle = float64(r.Allocs) / float64(r.Cycles)
		r.RequestsPerCycle = float64(r.Requests) / float64(r.Cycles)
	}
	r.Utilization = float64(r.LiveBytes) / float64(r.HeapBytes)
	return r
}

// mixName names the classes a weight vector uses, e.g. "32,64".
func mixName(cfg config.Config, w []float64) string {
	s := ""
	for c, x := range w {
		if x > 0 {
			if s != "" {
				s += ","
			}
			s += fmt.Sprint(cfg.Slab.Classes[c])
		}
	}
	return s
}

// newBenchSim builds a Sim with the bench's host and warms its stacks: every
// class at or above the low watermark, nothing in flight.
func newBenchSim(cfg config.Config, spec BenchSpec) (*Sim, error) {
	lo, hi := spec.LatMin, spec.LatMax
	if lo == 0 {
		lo, hi = cfg.NsToCycles(cfg.DMA.LatencyMinNs), cfg.NsToCycles(cfg.DMA.LatencyMaxNs)
	}
	s, err := NewSim(cfg, SimOptions{Host: HostOptions{LatMin: lo, LatMax: hi, Seed: spec.Seed}})
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		warm := s.Quiet()
		for c := 0; c < s.P.NC && warm; c++ {
			warm = s.Model.Count(c) >= s.P.LW
		}
		if warm {
			return s, nil
		}
		if i > 10_000_000 {
			return nil, fmt.Errorf("bench slab: stacks not warm after %d cycles: %s", i, s.Model.DescribeState())
		}
		if _, err := s.Step(); err != nil {
			return nil, err
		}
	}
}

func finish(s *Sim, spec BenchSpec, rows []BenchRow) error {
	if !spec.Check {
		return nil
	}
	if err := s.Quiesce(10_000_000); err != nil {
		return err
	}
	if _, err := s.Check(); err != nil {
		return err
	}
	for i := range rows {
		rows[i].Invariants = "ok"
	}
	return nil
}

// Bench measures the allocator on three workloads (slab.md §10, §12):
//
//   - alloc_burst: allocs only, one per cycle, from warm stacks, all
//     classes alike — the sustained alloc rate;
//   - steady: allocs and frees of all classes alike around a live set of a
//     quarter of the heap — allocs mostly served by frees, no DMA;
//   - shift: the two smallest classes, then the two largest, then the two
//     smallest again, each phase Requests cycles, around each of
//     ShiftUtilizations of the heap — splits going to small, merges coming
//     back to large.
//
// Each workload starts on a fresh Sim whose stacks are warm.
func Bench(cfg config.Config, spec BenchSpec) ([]BenchRow, error) {
	if spec.Requests < 1 {
		return nil, fmt.Errorf("bench slab: %d requests per workload, want at least 1", spec.Requests)
	}
	if len(spec.ShiftUtilizations) == 0 {
		spec.ShiftUtilizations = []float64{0.5}
	}
	for _, u := range spec.ShiftUtilizations {
		if u <= 0 || u >= 1 {
			return nil, fmt.Errorf("bench slab: shift utilization %g, want a share of the heap in (0, 1)", u)
		}
	}
	nc := len(cfg.Slab.Classes)
	all := make([]float64, nc)
	for c := range all {
		all[c] = 1
	}
	var rows []BenchRow

	// alloc_burst: as many allocs as fit in half the heap.
	s, err := newBenchSim(cfg, spec)
	if err != nil {
		return nil, err
	}
	d := NewDriver(s, spec.Seed)
	d.SetWeights(all)
	d.AllocOnly = true
	avg := 0.0
	for _, c := range cfg.Slab.Classes {
		avg += float64(c) / float64(nc)
	}
	n := min(uint64(spec.Requests), uint64(float64(s.Daemon.HeapBytes())/2/avg))
	a := snap(s)
	for s.Stats().Accepted-a.accepted < n {
		if _, err := d.Step(); err != nil {
			return nil, err
		}
	}
	for s.Pending() > 0 {
		if _, err := s.Step(); err != nil {
			return nil, err
		}
	}
	burst := []BenchRow{rowOf(s, "alloc_burst", "all", mixName(cfg, all), a, snap(s))}
	burst[0].TargetUtilization = float64(n) * avg / float64(s.Daemon.HeapBytes())
	if err := finish(s, spec, burst); err != nil {
		return nil, err
	}
	rows = append(rows, burst...)

	// steady: fill to a quarter of the heap (not measured), then churn.
	if s, err = newBenchSim(cfg, spec); err != nil {
		return nil, err
	}
	d = NewDriver(s, spec.Seed+1)
	d.SetWeights(all)
	d.TargetBytes = s.Daemon.HeapBytes() / 4
	for s.Stats().HeldBytes < d.TargetBytes {
		if _, err := d.Step(); err != nil {
			return nil, err
		}
	}
	a = snap(s)
	for i := 0; i < spec.Requests; i++ {
		if _, err := d.Step(); err != nil {
			return nil, err
		}
	}
	steady := []BenchRow{rowOf(s, "steady", "all", mixName(cfg, all), a, snap(s))}
	steady[0].TargetUtilization = 0.25
	if err := finish(s, spec, steady); err != nil {
		return nil, err
	}
	rows = append(rows, steady...)

	// shift: small, large, small, at each utilization.
	for i, u := range spec.ShiftUtilizations {
		shift, err := benchShift(cfg, spec, u, spec.Seed+2+uint64(i))
		if err != nil {
			return nil, err
		}
		rows = append(rows, shift...)
	}
	return rows, nil
}

func benchShift(cfg config.Config, spec BenchSpec, util float64, seed uint64) ([]BenchRow, error) {
	s, err := newBenchSim(cfg, spec)
	if err != nil {
		return nil, err
	}
	nc := len(cfg.Slab.Classes)
	d := NewDriver(s, seed)
	d.TargetBytes = int64(util * float64(s.Daemon.HeapBytes()))
	small, large := make([]float64, nc), make([]float64, nc)
	for c := 0; c < nc; c++ {
		if c < 2 || nc < 3 {
			small[c] = 1
		}
		if c >= nc-2 {
			large[c] = 1
		}
	}
	phases := []struct {
		name string
		w    []float64
	}{{"small", small}, {"large", large}, {"small again", small}}
	start := snap(s)
	var shift []BenchRow
	for _, ph := range phases {
		d.SetWeights(ph.w)
		a := snap(s)
		for i := 0; i < spec.Requests; i++ {
			if _, err := d.Step(); err != nil {
				return nil, err
			}
		}
		shift = append(shift, rowOf(s, "shift", ph.name, mixName(cfg, ph.w), a, snap(s)))
	}
	shift = append(shift, rowOf(s, "shift", "all", mixName(cfg, small)+" > "+mixName(cfg, large)+" > "+mixName(cfg, small), start, snap(s)))
	for i := range shift {
		shift[i].TargetUtilization = util
	}
	if err := finish(s, spec, shift); err != nil {
		return nil, err
	}
	return shift, nil
}
