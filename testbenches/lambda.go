package testbenches

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
)

func init() {
	register(Scenario{
		Name: "lambda",
		Doc: "every registered λ on operands biased to edge values (0, ±1, the sign bit, the extremes, sums that wrap, " +
			"equal operands, shift amounts around the width), a few unknown function ids, 15 of 16 cycles valid",
		Top:           func(config.Config) string { return "kvd_atomic" },
		DefaultCycles: 1_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, err := lambda.New(cfg)
			if err != nil {
				return nil, nil, err
			}
			return m, newLambdaStim(cfg, m, seed, 0), nil
		},
		Points: lambdaPoints,
	})
}

// lambdaLog is how many cycles of requests are remembered for reports: the
// stimulus runs up to a few frames of 4096 cycles ahead of the comparison
// that asks.
const lambdaLog = 1 << 15

type lambdaStim struct {
	rng      *rand.Rand
	w        int
	mask     uint64
	n        int    // registered λs
	fids     uint64 // 2^(in_fid width)
	edges    []uint64
	inValid  model.Slot
	inFid    model.Slot
	inTag    model.Slot
	inOps    [4]int // word offsets, -1 for an operand the design has no port for
	outValid model.Slot
	outFault model.Slot
	// target ends the run once every λ has this many results compared (0:
	// the run's cycle count decides).
	target uint64
	log    []lambdaEntry
	last   uint64 // the latest cycle generated

	completed uint64
	// perFid counts compared results per function id; the last entry
	// counts unknown ids together.
	perFid  []uint64
	names   []string // the registered λs, by function id
	faults  uint64
	eqCmp   uint64 // requests with cmp == old
	extreme uint64 // requests with an operand at the minimum, the maximum or -1
}

type lambdaEntry struct {
	valid bool
	fid   uint64
	ops   [4]uint64 // old, delta, cmp, swap
	tag   uint64
}

func newLambdaStim(cfg config.Config, m *lambda.Model, seed, target uint64) *lambdaStim {
	l := model.MustLayout(m.Ports())
	w := cfg.Atomic.ScalarBits
	mask := model.Mask(w)
	minV := uint64(1) << uint(w-1)
	s := &lambdaStim{
		rng: rand.New(rand.NewPCG(seed, 0x6c616d626461)),
		w:   w, mask: mask, n: len(cfg.Atomic.Lambdas),
		fids:    uint64(1) << uint(l.MustSlot("in_fid").Width),
		inValid: l.MustSlot("in_valid"), inFid: l.MustSlot("in_fid"), inTag: l.MustSlot("in_tag"),
		outValid: l.MustSlot("out_valid"), outFault: l.MustSlot("out_fault"),
		target: target, log: make([]lambdaEntry, lambdaLog),
		perFid: make([]uint64, len(cfg.Atomic.Lambdas)+1),
		names:  lambdaNames(cfg),
		// 0, 1, 2, -1, -2, the minimum and the maximum and their neighbours.
		edges: []uint64{0, 1, 2, mask, mask - 1, minV, minV + 1, minV - 1, minV - 2},
	}
	for i := range s.edges {
		s.edges[i] &= mask
	}
	for i, name := range lambda.Operands {
		s.inOps[i] = -1
		if sl, ok := l.Slot("in_" + name); ok {
			s.inOps[i] = sl.Off
		}
	}
	return s
}

// operand draws one W-bit value, most often an edge. Bits above W stay
// zero, as on every port (docs/microarch.md §1.4).
func (s *lambdaStim) operand() uint64 {
	r := s.rng
	var v uint64
	switch k := r.UintN(16); {
	case k < 5:
		v = s.edges[r.IntN(len(s.edges))]
	case k < 8:
		v = uint64(r.IntN(17) - 8) // small, either sign
	case k < 10:
		v = uint64(r.IntN(s.w + 3)) // shift amounts up to and past the width
	case k < 11:
		// Powers of two and their neighbours: carries across one boundary.
		v = uint64(1)<<r.UintN(uint(s.w)) + uint64(r.IntN(3)-1)
	default:
		// Uniform bits, at a random magnitude.
		v = r.Uint64() >> r.UintN(64)
	}
	return v & s.mask
}

func (s *lambdaStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil && prev[s.outValid.Off] == 1 {
		// The result due at cycle-1 is that of the request of
		// cycle-1-Latency.
		e := s.log[(cycle-1-lambda.Latency)%lambdaLog]
		s.completed++
		s.perFid[min(e.fid, uint64(s.n))]++
		if prev[s.outFault.Off] == 1 {
			s.faults++
		}
	}
	if s.target > 0 && s.done() {
		return false, nil
	}
	r := s.rng
	s.last = cycle
	e := &s.log[cycle%lambdaLog]
	e.valid = r.UintN(16) != 0
	if s.fids > uint64(s.n) && r.UintN(64) == 0 {
		e.fid = uint64(s.n) + r.Uint64N(s.fids-uint64(s.n))
	} else {
		e.fid = r.Uint64N(uint64(s.n))
	}
	for i := range e.ops {
		e.ops[i] = s.operand()
	}
	old := e.ops[0]
	maxV := s.mask >> 1
	small := uint64(r.IntN(9) - 4)
	switch r.UintN(8) {
	case 0, 1:
		e.ops[1] = old // equal operands: max/min ties, xor to zero
	case 2:
		e.ops[1] = (-old + small) & s.mask // old + delta lands near 0
	case 3:
		e.ops[1] = (maxV - old + small) & s.mask // ... or across the signed extremes
	}
	if r.UintN(3) == 0 {
		e.ops[2] = old // compare-and-swap succeeds
	}
	e.tag = r.Uint64() & (1<<lambda.TagBits - 1)

	if e.valid {
		in[s.inValid.Off] = 1
		if e.ops[2] == old {
			s.eqCmp++
		}
		for _, v := range e.ops {
			if v == maxV || v == maxV+1 || v == s.mask {
				s.extreme++
				break
			}
		}
	}
	in[s.inFid.Off] = e.fid
	for i, off := range s.inOps {
		if off >= 0 {
			in[off] = e.ops[i]
		}
	}
	in[s.inTag.Off] = e.tag
	return true, nil
}

func (s *lambdaStim) done() bool {
	for _, c := range s.perFid[:s.n] {
		if c < s.target {
			return false
		}
	}
	return true
}

func (s *lambdaStim) Progress() uint64 { return s.completed }

// Describe names the request whose result is due at cycle.
func (s *lambdaStim) Describe(cycle uint64) string {
	if cycle < lambda.Latency {
		return "no request in flight (pipeline filling after reset)"
	}
	c := cycle - lambda.Latency
	if c > s.last || s.last-c >= lambdaLog {
		return fmt.Sprintf("request presented at cycle %d: no longer remembered", c)
	}
	e := s.log[c%lambdaLog]
	return fmt.Sprintf("request presented at cycle %d: valid=%v fid=%d old=%#x delta=%#x cmp=%#x swap=%#x tag=0x%04x",
		c, e.valid, e.fid, e.ops[0], e.ops[1], e.ops[2], e.ops[3], e.tag)
}

// lambdaPoints are the corners of docs/microarch/lambda.md: every function
// id used, a failed request (unknown id or failing operation), a successful
// compare, and operands at the extremes.
var lambdaPoints = []string{"lambda.every_fid", "lambda.fault", "lambda.cmp_equal", "lambda.extreme_operand"}

func (s *lambdaStim) Points() map[string]uint64 {
	least := s.perFid[0]
	for _, c := range s.perFid[:s.n] {
		least = min(least, c)
	}
	pts := map[string]uint64{
		"lambda.every_fid":       least,
		"lambda.fault":           s.faults,
		"lambda.cmp_equal":       s.eqCmp,
		"lambda.extreme_operand": s.extreme,
	}
	// One point per registered λ, named after it: the regression's report
	// then says which functions a run exercised.
	for i, name := range s.names {
		pts["lambda.fn."+name] = s.perFid[i]
	}
	return pts
}

func lambdaNames(cfg config.Config) []string {
	names := make([]string, len(cfg.Atomic.Lambdas))
	for i, l := range cfg.Atomic.Lambdas {
		names[i] = l.Name
	}
	return names
}
