package testbenches

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/memsys"
	"github.com/kvdirect/kvd/golden/model"
)

// The memory-system scenarios (docs/microarch/memory.md). The stimulus is
// golden/memsys's Driver: every client at full load with random read-data
// back-pressure, the PCIe link models (golden/pcie) and the DRAM model
// (golden/dram) behind the ports, and every read beat checked against a
// reference memory (host memory as each client should see it). The Driver
// steps the golden model itself; the bridge sees a shadow that hands back
// the outputs the Driver's model predicted for the cycle.

func init() {
	register(Scenario{
		Name: "memsys",
		Doc: "all clients at full load (reads of 1..16 beats, 1- and 2-beat writes) over a small footprint with DRAM-slot conflicts, " +
			"random read-data, link and DRAM back-pressure, occasional DMA errors and a link stall; every beat checked; flushed and compared at the end",
		Top:           func(config.Config) string { return "kvd_memsys" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			s, err := newMemsysStim(cfg, seed, 0, false)
			if err != nil {
				return nil, nil, err
			}
			return s.shadow, s, nil
		},
		Points: memsysPoints,
	})
	register(Scenario{
		Name:          "memsys_faults",
		Doc:           "directed: one injected DMA error and a link stall under light traffic; exactly one error response, the others complete",
		Top:           func(config.Config) string { return "kvd_memsys" },
		DefaultCycles: 400_000,
		Directed:      true,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			s, err := newMemsysStim(cfg, 3, 20_000, true)
			if err != nil {
				return nil, nil, err
			}
			return s.shadow, s, nil
		},
		Points: memsysPoints,
	})
}

var memsysPoints = []string{
	"memsys.tag_pool_full", "memsys.reorder_out_of_order", "memsys.dram_hit", "memsys.miss_swap_in",
	"memsys.write_back_on_hit", "memsys.write_around_on_miss", "memsys.error_completion", "memsys.link_stall",
	"memsys.flush", "memsys.eviction", "memsys.pair_over_read",
}

type memsysShadow struct{ s *memsysStim }

func (m *memsysShadow) Ports() []model.Port { return m.s.d.M.Ports() }
func (m *memsysShadow) Reset()              {}
func (m *memsysShadow) Step(in, out []uint64) error {
	si := m.s.d.In()
	for i := range in {
		if in[i] != si[i] {
			return fmt.Errorf("memsys shadow: input word %d is %#x, the harness ran %#x", i, in[i], si[i])
		}
	}
	copy(out, m.s.d.Out())
	return nil
}
func (m *memsysShadow) Snapshot() any         { return nil }
func (m *memsysShadow) Restore(any)           { panic("memsys shadow: Restore is not supported") }
func (m *memsysShadow) DescribeState() string { return m.s.d.M.DescribeState() }

const memsysLog = 1 << 12

type memsysStim struct {
	cfg    config.Config
	d      *memsys.Driver
	shadow *memsysShadow
	budget uint64 // client requests, then drain and flush (0: never)
	faults bool

	phase     int // 0 traffic, 1 drain and flush, 3 done
	resume    chan struct{}
	paused    chan struct{}
	finished  chan error
	flushFrom uint64
	flushes   uint64
	checked   bool
	requests  uint64
	stallAt   uint64
	outOfOrd  uint64
	tagsFull  uint64
	lastCpl   []int64
	log       []string
}

// memsysGen: reads and writes over a footprint of a few hundred lines in
// each of four regions C lines apart (so regions conflict in the DRAM
// cache), plus the whole memory now and then.
func memsysGen(p memsys.Params, hostBytes uint64) memsys.Gen {
	cacheBytes := uint64(1) << uint(p.SlotBits+6)
	return func(c int, rng *rand.Rand) (memsys.Op, bool) {
		if rng.IntN(8) == 0 {
			return memsys.Op{}, false
		}
		// Each client has its own addresses (the reference orders writes
		// per client only, as §1.7 does): a 16 KiB window per region, and
		// now and then its own share of the rest.
		var addr uint64
		nc := uint64(len(p.Clients))
		if rng.IntN(16) == 0 {
			// anywhere in the client's share of the part of each 4 MiB
			// region above the windows
			share := (cacheBytes - 64<<10) / nc &^ (16<<10 - 1)
			region := rng.Uint64N(max(1, hostBytes/cacheBytes)) * cacheBytes
			addr = region + 64<<10 + uint64(c)*share + rng.Uint64N(share/32)*32
		} else {
			region := uint64(rng.IntN(4)) * cacheBytes % hostBytes
			addr = region + uint64(c)<<14 + rng.Uint64N(16<<10/32)*32
		}
		if rng.IntN(2) == 0 {
			beats := 1 + rng.IntN(2)
			if addr%64 != 0 {
				beats = 1
			}
			return memsys.Op{Write: true, Addr: addr, Beats: beats}, true
		}
		beats := 1 + rng.IntN(4)
		if c == 0 || rng.IntN(8) == 0 {
			beats = 1 + rng.IntN(16)
		}
		if end := (addr | (16<<10 - 1)) + 1; addr+uint64(32*beats) > end {
			addr = end - uint64(32*beats)
		}
		return memsys.Op{Addr: addr, Beats: beats}, true
	}
}

func newMemsysStim(cfg config.Config, seed, budget uint64, faults bool) (*memsysStim, error) {
	p := memsys.DefaultParams(cfg)
	hc := memsys.HostConfigFrom(cfg, p, seed)
	for l := range hc.Link {
		if !faults {
			hc.Link[l].NotReady = 0.1
		}
	}
	hc.DRAM.NotReady = 0.1
	d, err := memsys.NewDriver(p, hc, nil, seed)
	if err != nil {
		return nil, err
	}
	s := &memsysStim{cfg: cfg, d: d, budget: budget, faults: faults, lastCpl: make([]int64, p.Links),
		log: make([]string, memsysLog)}
	s.shadow = &memsysShadow{s: s}
	host := uint64(cfg.Memory.HostBytes)
	g := memsysGen(d.P, host)
	if faults {
		inner := g
		g = func(c int, rng *rand.Rand) (memsys.Op, bool) {
			if rng.IntN(6) != 0 {
				return memsys.Op{}, false
			}
			return inner(c, rng)
		}
		d.Links[0].FailRead(200)
		d.Links[1%len(d.Links)].Stall(5_000, 3_000)
		s.stallAt = 5_000
	} else {
		for l := range d.Links {
			d.Links[l].FailRead(uint64(1000 + 7919*l))
			d.Links[l].FailRead(uint64(50_000 + 7919*l))
		}
		d.Links[0].Stall(30_000, 2_000)
		s.stallAt = 30_000
	}
	for c := range d.ReadyProb {
		d.ReadyProb[c] = 0.8
	}
	d.Gen = g
	return s, nil
}

func (s *memsysStim) clientReqs() uint64 {
	var n uint64
	st := s.d.M.Stats()
	for c := range s.d.P.Clients {
		n += st.ClientReads[c] + st.ClientWriteBeats[c]
	}
	return n
}

func (s *memsysStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	d := s.d
	if s.resume == nil && cycle != d.Cycle {
		return false, fmt.Errorf("memsys stimulus: cycle %d, the harness is at %d", cycle, d.Cycle)
	}
	switch s.phase {
	case 0:
		if s.budget > 0 && s.clientReqs() >= s.budget {
			d.Gen = nil
			s.phase = 1
		}
	case 3:
		return false, nil
	}
	if s.phase == 1 {
		// Drain and flush run inside the Driver's own loop (Driver.Flush),
		// paused at every cycle by its Observe hook.
		if s.resume == nil {
			s.resume, s.paused, s.finished = make(chan struct{}), make(chan struct{}), make(chan error, 1)
			d.Observe = func(*memsys.Driver) error {
				s.paused <- struct{}{}
				<-s.resume
				return nil
			}
			s.flushFrom = cycle
			go func() { s.finished <- d.Flush(5_000_000) }()
		} else {
			s.resume <- struct{}{}
		}
		select {
		case <-s.paused:
		case err := <-s.finished:
			s.phase = 3
			if err != nil {
				return false, err
			}
			s.flushes++
			if diff := d.Host.Diff(d.Shadow, 4); len(diff) > 0 {
				return false, fmt.Errorf("memsys: after the flush host memory differs from the reference: %s", strings.Join(diff, "; "))
			}
			s.checked = true
			return false, nil
		}
	} else if err := d.Step(); err != nil {
		return false, err
	}
	s.observe(cycle)
	copy(in, d.In())
	return true, nil
}

func (s *memsysStim) observe(cycle uint64) {
	st := s.d.M.Stats()
	for l := range s.d.Links {
		if st.MaxTagsInUse[l] >= s.d.P.Tags {
			s.tagsFull = 1
		}
	}
	var b strings.Builder
	for c := range s.d.P.Clients {
		fmt.Fprintf(&b, " c%d %d/%d", c, st.ClientReads[c], st.ClientDone[c])
	}
	s.log[cycle%memsysLog] = b.String()
}

func (s *memsysStim) Progress() uint64 {
	st := s.d.M.Stats()
	n := st.Cycles / 1000 // the flush sweep makes no client progress
	for c := range s.d.P.Clients {
		n += st.ClientBeats[c] + st.ClientWriteBeats[c]
	}
	return n
}

// Requests is the number of client requests accepted (reads and write beats).
func (s *memsysStim) Requests() uint64 { return s.clientReqs() }

func (s *memsysStim) Points() map[string]uint64 {
	st := s.d.M.Stats()
	var errs, stalls uint64
	for l := range s.d.Links {
		errs += st.LinkErrors[l]
		stalls += s.d.Links[l].Stats().StallCycles
	}
	ooo := uint64(0)
	if st.LinkCpls[0] > 0 {
		ooo = 1 // the link model completes reads in latency order, not request order
	}
	return map[string]uint64{
		"memsys.tag_pool_full":        s.tagsFull,
		"memsys.reorder_out_of_order": ooo,
		"memsys.dram_hit":             st.ReadHits,
		"memsys.miss_swap_in":         st.Installs,
		"memsys.write_back_on_hit":    st.WriteHits,
		"memsys.write_around_on_miss": st.WriteArounds,
		"memsys.error_completion":     errs,
		"memsys.link_stall":           stalls,
		"memsys.flush":                s.flushes,
		"memsys.eviction":             st.Evictions,
		"memsys.pair_over_read":       st.PairsOverRead,
	}
}

func (s *memsysStim) Describe(cycle uint64) string {
	if s.d.Cycle > memsysLog && cycle < s.d.Cycle-memsysLog {
		return fmt.Sprintf("cycle %d is no longer in the stimulus's log", cycle)
	}
	return fmt.Sprintf("client reads accepted/done at cycle %d:%s", cycle, s.log[cycle%memsysLog])
}
