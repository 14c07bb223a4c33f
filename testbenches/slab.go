package testbenches

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/slab"
	"github.com/kvdirect/kvd/golden/slabd"
)

// The slab-allocator scenarios (docs/microarch/slab.md). The stimulus is the
// block's whole environment from golden/slab's harness: the host-memory port
// served from host memory with PCIe-like latency and back-pressure, the host
// daemon (golden/slabd) polling on its period, and a client that checks
// every answer. The harness steps the golden model itself, so the model the
// bridge sees is a shadow that hands back the outputs the harness's model
// predicted for the cycle the stimulus just ran.

func init() {
	register(Scenario{
		Name: "slab",
		Doc: "random allocs and frees of every class on a 1 MiB heap (sim; scaled with the stacks), the class mix shifting small -> large -> all, " +
			"live bytes steered from 30 % to 95 % (exhaustion and recovery), PCIe latency and back-pressure; drained and checked every epoch",
		Top:           func(config.Config) string { return "kvd_slab" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			s, err := newSlabStim(cfg, seed, slabRandom, 0)
			if err != nil {
				return nil, nil, err
			}
			return s.shadow, s, nil
		},
		Points: slabPoints,
	})
	register(Scenario{
		Name:          "slab_exhaust",
		Doc:           "directed: allocate every class round robin until each answers no memory (the heap 100 % allocated), free everything, twice; checked after each",
		Top:           func(config.Config) string { return "kvd_slab" },
		DefaultCycles: 20_000_000, // the sequence ends first
		Directed:      true,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			s, err := newSlabStim(cfg, 1, slabExhaust, 0)
			if err != nil {
				return nil, nil, err
			}
			return s.shadow, s, nil
		},
		Points: slabPoints,
	})
}

// slabPoints are the corners of slab.md: a refill at the low watermark, a
// flush at the high one, a host-line read, an alloc answered "no memory",
// an alloc of a class answered with a pointer after that class answered
// "no memory", a request waiting in the block, the daemon splitting and
// merging, a refill batch padded with nulls, and a free waiting on a full
// stack, and a flush that found no room in its ring and read the host line.
var slabPoints = []string{
	"slab.refill", "slab.flush", "slab.host_line_read", "slab.no_memory", "slab.recovery",
	"slab.wait", "slab.split", "slab.merge", "slab.null_padding", "slab.checked",
	"slab.free_waits_full_stack", "slab.flush_ring_full",
}

type slabMode int

const (
	slabRandom slabMode = iota
	slabExhaust
)

// slabPhase is one workload phase of the random scenario.
type slabPhase struct {
	name    string
	weights []float64 // per class; missing classes 0
	util    float64   // target live bytes, share of the heap
}

var slabPhases = []slabPhase{
	{"all classes, 50 %", []float64{1, 1, 1, 1, 1}, 0.5},
	{"small (classes 0-1), 60 %", []float64{1, 1}, 0.6},
	{"large (classes 3-4), 60 %", []float64{0, 0, 0, 1, 1}, 0.6},
	{"all classes, 95 %", []float64{1, 1, 1, 1, 1}, 0.95},
	{"all classes, 30 %", []float64{1, 1, 1, 1, 1}, 0.3},
	{"class 0 only, 80 %", []float64{1}, 0.8},
	{"class 4 only, 60 %", []float64{0, 0, 0, 0, 1}, 0.6},
	{"classes 1-3, 70 %", []float64{0, 1, 1, 1}, 0.7},
}

const (
	slabPhaseReqs = 60_000  // requests per random phase
	slabEpochReqs = 250_000 // requests between drains and checks
	slabLog       = 1 << 16 // cycles remembered for reports
	slabHeapBytes = 1 << 20
)

type slabLogEntry struct {
	reqValid, accepted, op uint8
	class                  uint8
	ptr                    uint64
	rspValid, rspOK        bool
	rspPtr                 uint64
	phase                  int16
}

// slabShadow is the model the bridge steps: the harness has already run the
// golden model for the cycle, so Step returns its outputs.
type slabShadow struct {
	s *slabStim
}

func (m *slabShadow) Ports() []model.Port { return m.s.sim.Model.Ports() }
func (m *slabShadow) Reset()              {} // the harness's model starts after reset
func (m *slabShadow) Step(in, out []uint64) error {
	si := m.s.sim.Inputs()
	for i := range in {
		if in[i] != si[i] {
			return fmt.Errorf("slab shadow: input word %d is %#x, the harness ran %#x", i, in[i], si[i])
		}
	}
	copy(out, m.s.sim.Outputs())
	return nil
}
func (m *slabShadow) Snapshot() any         { return m.s.sim.Model.Snapshot() }
func (m *slabShadow) Restore(any)           { panic("slab shadow: Restore is not supported") }
func (m *slabShadow) DescribeState() string { return m.s.sim.Model.DescribeState() }

type slabStim struct {
	cfg    config.Config
	mode   slabMode
	sim    *slab.Sim
	drv    *slab.Driver
	shadow *slabShadow
	rng    *rand.Rand
	heap   int64

	// Budget: stop presenting after this many accepted requests, drain,
	// check and end (0: never).
	budget uint64

	phase      int
	phaseStart uint64 // accepted count when the phase began
	epochStart uint64
	draining   bool
	drainFrom  uint64
	done       bool

	// exhaust mode
	round     int
	freeing   bool
	nextClass int
	nomemRun  []int // consecutive no-memory answers per class

	// coverage
	lastNoMem  []bool
	recoveries uint64
	waits      uint64
	freeWaits  uint64
	flushFull  uint64
	lastFree   bool // a free was accepted in the previous cycle
	checks     uint64
	reports    []*slabd.Report
	maxUtil    float64

	lay                                   *model.Layout
	iReqValid, iReqOp, iReqClass, iReqPtr int
	oReqReady, oRspValid, oRspOK, oRspPtr int
	oRdValid, oRdAddr, iRdReady           int
	log                                   []slabLogEntry
}

func newSlabStim(cfg config.Config, seed uint64, mode slabMode, budget uint64) (*slabStim, error) {
	lo, hi := cfg.NsToCycles(cfg.DMA.LatencyMinNs), cfg.NsToCycles(cfg.DMA.LatencyMaxNs)
	host := slab.HostOptions{LatMin: lo, LatMax: hi, Seed: seed}
	// The heap scales with the stacks, so that the memory parked in the
	// NIC stacks and refill rings stays a modest share of it.
	scale := int64(max(1, cfg.Slab.NICStack/64))
	heap := slabHeapBytes * scale
	if mode == slabRandom {
		host.RdReadyPct, host.WrReadyPct, host.RdataPct = 90, 85, 90
	} else {
		heap = 256 << 10 * scale
	}
	sim, err := slab.NewSim(cfg, slab.SimOptions{Host: host, Daemon: slabd.Options{HeapBytes: heap}})
	if err != nil {
		return nil, err
	}
	nc := sim.P.NC
	s := &slabStim{
		cfg: cfg, mode: mode, sim: sim, budget: budget, heap: sim.Daemon.HeapBytes(),
		rng:       rand.New(rand.NewPCG(seed, 0x736c61622d746221)),
		nomemRun:  make([]int, nc),
		lastNoMem: make([]bool, nc),
		log:       make([]slabLogEntry, slabLog),
	}
	s.shadow = &slabShadow{s: s}
	s.lay = model.MustLayout(sim.Model.Ports())
	off := func(name string) int { return s.lay.MustSlot(name).Off }
	s.iReqValid, s.iReqOp, s.iReqClass, s.iReqPtr = off("req_valid"), off("req_op"), off("req_class"), off("req_ptr")
	s.oReqReady, s.oRspValid, s.oRspOK, s.oRspPtr = off("req_ready"), off("rsp_valid"), off("rsp_ok"), off("rsp_ptr")
	s.oRdValid, s.oRdAddr, s.iRdReady = off("mem_rd_valid"), off("mem_rd_addr"), off("mem_rd_ready")
	if mode == slabRandom {
		s.drv = slab.NewDriver(sim, seed)
		s.drv.Idle = 3
		s.setPhase(0)
	}
	return s, nil
}

func (s *slabStim) setPhase(i int) {
	s.phase = i
	ph := slabPhases[i%len(slabPhases)]
	w := make([]float64, s.sim.P.NC)
	for c := range w {
		if c < len(ph.weights) {
			w[c] = ph.weights[c]
		}
	}
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	if sum == 0 {
		w[len(w)-1] = 1
	}
	s.drv.SetWeights(w)
	s.drv.TargetBytes = int64(ph.util * float64(s.heap))
	s.phaseStart = s.sim.Stats().Accepted
}

// check drains nothing itself: the Sim must be quiet.
func (s *slabStim) check() error {
	r, err := s.sim.Check()
	if err != nil {
		return err
	}
	s.reports = append(s.reports, r)
	if len(s.reports) > 4 {
		s.reports = s.reports[1:]
	}
	if !r.OK() {
		return fmt.Errorf("slab invariants at cycle %d: %s", s.sim.Cycle(), strings.Join(r.Problems, "; "))
	}
	s.checks++
	return nil
}

// LastReport is the invariant checker's last report.
func (s *slabStim) LastReport() *slabd.Report {
	if len(s.reports) == 0 {
		return nil
	}
	return s.reports[len(s.reports)-1]
}

func (s *slabStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if s.done {
		return false, nil
	}
	if cycle != s.sim.Cycle() {
		return false, fmt.Errorf("slab stimulus: cycle %d, the harness is at %d", cycle, s.sim.Cycle())
	}
	var rsp slab.Response
	var err error
	switch {
	case s.draining:
		// No new requests: let the block, the engine and the reads settle.
		if s.sim.Quiet() {
			if err := s.check(); err != nil {
				return false, err
			}
			s.draining = false
			s.epochStart = s.sim.Stats().Accepted
			if s.budget > 0 && s.sim.Stats().Accepted >= s.budget {
				s.done = true
				return false, nil
			}
		} else if cycle-s.drainFrom > 2_000_000 {
			return false, fmt.Errorf("slab: not quiet %d cycles after the drain began: %s", cycle-s.drainFrom, s.sim.Model.DescribeState())
		}
		rsp, err = s.step()
	case s.mode == slabRandom:
		acc := s.sim.Stats().Accepted
		if acc-s.phaseStart >= slabPhaseReqs {
			s.setPhase(s.phase + 1)
		}
		if acc-s.epochStart >= slabEpochReqs || (s.budget > 0 && acc >= s.budget) {
			s.startDrain(cycle)
		}
		rsp, err = s.step()
	default:
		rsp, err = s.exhaustStep(cycle)
	}
	if err != nil {
		return false, err
	}
	if s.done {
		return false, nil
	}
	s.observe(cycle, rsp)
	copy(in, s.sim.Inputs())
	return true, nil
}

// step runs one cycle: the random client presents requests unless the
// stimulus drains (it keeps its own count of the bytes it waits for, so it
// steps even then).
func (s *slabStim) step() (slab.Response, error) {
	if s.drv == nil {
		return s.sim.Step()
	}
	s.drv.Idle = 3
	if s.draining {
		s.drv.Idle = 100
	}
	return s.drv.Step()
}

func (s *slabStim) startDrain(cycle uint64) {
	s.draining = true
	s.drainFrom = cycle
}

// exhaustStep is the directed client: allocs of every class in turn until
// each class has answered no memory 4 times in a row (every granule
// allocated, slab.md §7), then frees of everything, twice.
func (s *slabStim) exhaustStep(cycle uint64) (slab.Response, error) {
	sim := s.sim
	nc := sim.P.NC
	if !sim.Busy() {
		if !s.freeing {
			full := true
			for c := 0; c < nc; c++ {
				full = full && s.nomemRun[c] >= 4
			}
			if full && sim.Pending() == 0 {
				if held := sim.Stats().HeldBytes; held != s.heap {
					return slab.Response{}, fmt.Errorf("slab_exhaust: every class answers no memory with %d of %d heap bytes allocated", held, s.heap)
				}
				s.freeing = true
			} else if !full {
				// Skip classes already exhausted, so the others fill.
				for i := 0; i < nc; i++ {
					c := (s.nextClass + i) % nc
					if s.nomemRun[c] < 4 {
						sim.PresentAlloc(c)
						s.nextClass = (c + 1) % nc
						break
					}
				}
			}
		} else if len(sim.Held()) > 0 {
			sim.PresentFree(s.rng.IntN(len(sim.Held())))
		} else if sim.Pending() == 0 {
			s.round++
			s.freeing = false
			clear(s.nomemRun)
			s.startDrain(cycle)
			if s.round == 2 {
				s.budget = 1 // end after this drain's check
			}
		}
	}
	r, err := sim.Step()
	if r.Valid {
		if r.OK {
			s.nomemRun[r.Class] = 0
		} else {
			s.nomemRun[r.Class]++
		}
	}
	return r, err
}

func (s *slabStim) observe(cycle uint64, rsp slab.Response) {
	in, out := s.sim.Inputs(), s.sim.Outputs()
	e := &s.log[cycle%slabLog]
	e.reqValid = uint8(in[s.iReqValid])
	e.accepted = uint8(in[s.iReqValid] & out[s.oReqReady])
	e.op, e.class, e.ptr = uint8(in[s.iReqOp]), uint8(in[s.iReqClass]), in[s.iReqPtr]
	e.rspValid, e.rspOK, e.rspPtr = out[s.oRspValid] != 0, out[s.oRspOK] != 0, out[s.oRspPtr]
	e.phase = int16(s.phase)
	if in[s.iReqValid] != 0 && out[s.oReqReady] == 0 {
		s.waits++
	}
	// A free accepted in the previous cycle that holds req_ready low waits
	// on a full stack (frees get no answer, so nothing else waits).
	if s.lastFree && out[s.oReqReady] == 0 {
		s.freeWaits++
	}
	s.lastFree = in[s.iReqValid]&out[s.oReqReady] != 0 && in[s.iReqOp] == slab.OpFree
	if out[s.oRdValid] != 0 && in[s.iRdReady] != 0 {
		addr := int64(out[s.oRdAddr])
		for c := 0; c < s.sim.P.NC; c++ {
			if addr == s.sim.P.HL(c) && s.sim.Model.Count(c) > s.sim.P.HW {
				s.flushFull++
			}
		}
	}
	if rsp.Valid && rsp.Class < len(s.lastNoMem) {
		if rsp.OK && s.lastNoMem[rsp.Class] {
			s.recoveries++
		}
		s.lastNoMem[rsp.Class] = !rsp.OK
	}
	if u := float64(s.sim.Stats().HeldBytes) / float64(s.heap); u > s.maxUtil {
		s.maxUtil = u
	}
}

// Progress counts requests accepted.
func (s *slabStim) Progress() uint64 { return s.sim.Stats().Accepted }

func (s *slabStim) Points() map[string]uint64 {
	ms, ds, hs := s.sim.Model.Stats(), s.sim.Daemon.Stats(), s.sim.Host.Stats()
	return map[string]uint64{
		"slab.refill":                ms.Refills,
		"slab.flush":                 ms.Flushes,
		"slab.host_line_read":        hs.IndexReads,
		"slab.no_memory":             s.sim.Stats().NoMemory,
		"slab.recovery":              s.recoveries,
		"slab.wait":                  ms.WaitCycles,
		"slab.split":                 ds.Splits,
		"slab.merge":                 ds.Merges,
		"slab.null_padding":          ds.PadEntries,
		"slab.checked":               s.checks,
		"slab.free_waits_full_stack": s.freeWaits,
		"slab.flush_ring_full":       s.flushFull,
	}
}

// Describe lists the requests and answers of the cycles up to cycle.
func (s *slabStim) Describe(cycle uint64) string {
	var b strings.Builder
	from := uint64(0)
	if cycle > 12 {
		from = cycle - 12
	}
	if s.sim.Cycle() > slabLog && from < s.sim.Cycle()-slabLog {
		return fmt.Sprintf("cycle %d is no longer in the stimulus's log", cycle)
	}
	for c := from; c <= cycle && c < s.sim.Cycle(); c++ {
		e := s.log[c%slabLog]
		fmt.Fprintf(&b, "\n  cycle %d:", c)
		if e.reqValid != 0 {
			op := "alloc"
			if e.op != 0 {
				op = "free"
			}
			fmt.Fprintf(&b, " %s class %d", op, e.class)
			if e.op != 0 {
				fmt.Fprintf(&b, " ptr %#x", e.ptr)
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
	ph := ""
	if s.mode == slabRandom {
		ph = "phase " + slabPhases[int(s.log[cycle%slabLog].phase)%len(slabPhases)].name + "; "
	}
	return ph + "recent requests (predicted):" + b.String()
}
