package testbenches

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/fifo"
	"github.com/kvdirect/kvd/golden/model"
)

// FIFO scenarios use the specialisations hdlgen/design always carries.
var fifoShapes = []struct{ width, depth int }{{64, 16}, {72, 64}}

func init() {
	for _, sh := range fifoShapes {
		sh := sh
		top := fmt.Sprintf("kvd_fifo_w%d_d%d", sh.width, sh.depth)
		register(Scenario{
			Name:          fmt.Sprintf("fifo_w%d_d%d", sh.width, sh.depth),
			Doc:           "random valid/ready back-pressure on both sides; a scoreboard checks every word leaves once, in order",
			Top:           func(config.Config) string { return top },
			DefaultCycles: 1_000_000,
			New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
				m, err := fifo.New(sh.width, sh.depth)
				if err != nil {
					return nil, nil, err
				}
				return m, newFIFOStim(m, sh.width, seed), nil
			},
			Points: fifoPoints,
		})
		register(Scenario{
			Name:          fmt.Sprintf("fifo_w%d_d%d_fill_drain", sh.width, sh.depth),
			Doc:           "directed: fill with the reader stalled, drain with the writer idle, then stream both ways and at half rate",
			Top:           func(config.Config) string { return top },
			DefaultCycles: uint64(16 * sh.depth),
			Directed:      true,
			New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
				m, err := fifo.New(sh.width, sh.depth)
				if err != nil {
					return nil, nil, err
				}
				s := newFIFOStim(m, sh.width, 1)
				d := uint64(sh.depth)
				s.schedule = []fifoPhase{{0, 1000, 0}, {2*d + 4, 0, 1000}, {4*d + 8, 1000, 1000}, {8*d + 8, 500, 500}, {12*d + 8, 1000, 300}}
				return m, s, nil
			},
			Points: fifoPoints,
		})
	}
}

// fifoPhase sets the writer's and reader's per-mille activity from a cycle on.
type fifoPhase struct {
	from      uint64
	pIn, pOut uint32
}

// fifoStim follows the AXI-Stream source rules (hold valid and data until
// accepted) and changes its valid and ready duty cycles in phases, so the
// FIFO spends long stretches full, empty and in between.
type fifoStim struct {
	rng                       *rand.Rand
	width                     int
	inValid, inReady, inData  model.Slot
	outValid, outReady, outDt model.Slot
	holding                   bool
	data                      []uint64
	sent, recv                uint64
	queue                     []uint64 // ring of words accepted, not yet delivered
	qHead, qLen               int
	pIn, pOut                 uint32 // per-mille probabilities of this phase
	lastOutReady              bool
	fullStall, emptyWait      uint64
	drained, both             uint64
	wasFull                   bool
	schedule                  []fifoPhase // directed runs: fixed phases instead of random ones
}

func newFIFOStim(m model.Model, width int, seed uint64) *fifoStim {
	l := model.MustLayout(m.Ports())
	s := &fifoStim{
		rng: rand.New(rand.NewPCG(seed, 0x6669666f)), width: width,
		inValid: l.MustSlot("in_valid"), inReady: l.MustSlot("in_ready"), inData: l.MustSlot("in_data"),
		outValid: l.MustSlot("out_valid"), outReady: l.MustSlot("out_ready"), outDt: l.MustSlot("out_data"),
	}
	s.data = make([]uint64, s.inData.Words)
	s.queue = make([]uint64, 1024*s.inData.Words)
	return s
}

var fifoPhases = [][2]uint32{{900, 900}, {950, 200}, {200, 950}, {500, 500}, {1000, 1000}, {100, 100}}

func (s *fifoStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	switch {
	case s.schedule != nil:
		for _, ph := range s.schedule {
			if cycle == ph.from {
				s.pIn, s.pOut = ph.pIn, ph.pOut
			}
		}
	case cycle%4096 == 0:
		p := fifoPhases[s.rng.IntN(len(fifoPhases))]
		s.pIn, s.pOut = p[0], p[1]
	}
	if prev != nil {
		inXfer := s.holding && prev[s.inReady.Off] == 1
		outXfer := prev[s.outValid.Off] == 1 && s.lastOutReady
		switch {
		case s.holding && prev[s.inReady.Off] == 0:
			s.fullStall++
			s.wasFull = true
		case prev[s.outValid.Off] == 0 && s.lastOutReady:
			s.emptyWait++
			if s.wasFull {
				s.drained++
				s.wasFull = false
			}
		}
		if inXfer && outXfer {
			s.both++
		}
		// What happened in the previous cycle, by the golden model's account.
		ww := s.inData.Words
		if s.holding && prev[s.inReady.Off] == 1 {
			s.holding = false
			if s.qLen*ww == len(s.queue) {
				return false, fmt.Errorf("FIFO accepted %d words without delivering one: more than it can hold", s.qLen)
			}
			tail := (s.qHead + s.qLen) % (len(s.queue) / ww)
			copy(s.queue[tail*ww:(tail+1)*ww], s.data)
			s.qLen++
			s.sent++
		}
		if prev[s.outValid.Off] == 1 && s.lastOutReady {
			if s.qLen == 0 {
				return false, fmt.Errorf("FIFO delivered a word that was never written")
			}
			got := prev[s.outDt.Off : s.outDt.Off+ww]
			want := s.queue[s.qHead*ww : (s.qHead+1)*ww]
			for i := range want {
				if got[i] != want[i] {
					return false, fmt.Errorf("FIFO delivered %s, expected %s (word %d)", model.Hex(got, s.width), model.Hex(want, s.width), s.recv)
				}
			}
			s.qHead = (s.qHead + 1) % (len(s.queue) / ww)
			s.qLen--
			s.recv++
		}
	}
	if !s.holding && s.rng.Uint32N(1000) < s.pIn {
		s.holding = true
		for i := range s.data {
			s.data[i] = s.rng.Uint64()
		}
		if s.width%64 != 0 {
			s.data[len(s.data)-1] &= 1<<(s.width%64) - 1
		}
	}
	if s.holding {
		in[s.inValid.Off] = 1
		copy(in[s.inData.Off:], s.data)
	}
	s.lastOutReady = s.rng.Uint32N(1000) < s.pOut
	if s.lastOutReady {
		in[s.outReady.Off] = 1
	}
	return true, nil
}

func (s *fifoStim) Progress() uint64 { return s.sent + s.recv }

// fifoPoints are the corners of docs/microarch.md §3: writer held off by a
// full FIFO, reader waiting on an empty one, a full FIFO drained to empty,
// and words passing both ways in one cycle.
var fifoPoints = []string{"fifo.full_stall", "fifo.empty_wait", "fifo.full_to_empty", "fifo.pass_through"}

func (s *fifoStim) Points() map[string]uint64 {
	return map[string]uint64{
		"fifo.full_stall":    s.fullStall,
		"fifo.empty_wait":    s.emptyWait,
		"fifo.full_to_empty": s.drained,
		"fifo.pass_through":  s.both,
	}
}

func (s *fifoStim) Describe(cycle uint64) string {
	return fmt.Sprintf("%d words written, %d delivered, %d waiting in the FIFO (scoreboard at the golden model's lead, cycle ≥ %d)", s.sent, s.recv, s.qLen, cycle)
}
