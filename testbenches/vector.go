package testbenches

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/vector"
)

// The vector-unit scenario (docs/microarch/vector.md). The stimulus is the
// block that owns the value: it presents one operation at a time under the
// valid/ready rules, with random gaps, and checks every result it gets
// against vector.Exec for the request it knows it sent, and at the cycle
// §4 says (acceptance + 1 + n): an association or timing check of its own,
// beside the bridge's cycle-by-cycle comparison with the golden model.

func init() {
	register(Scenario{
		Name: "vector",
		Doc: "random UPDATE_S2V/V2V, REDUCE and FILTER with every function id (unknown ones too), value lengths 0..V " +
			"with and without trailing bytes, Δ shorter, equal and longer than the value, elements biased to 0, ±1, the " +
			"extremes and shift amounts (negative ones make set_bit fail), garbage past the lengths, random gaps and " +
			"requests waiting on in_ready; every result checked against vector.Exec",
		Top:           func(config.Config) string { return "kvd_vec" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, err := vector.New(cfg)
			if err != nil {
				return nil, nil, err
			}
			s, err := newVecStim(cfg, seed, 0)
			if err != nil {
				return nil, nil, err
			}
			return m, s, nil
		},
		Points: vecPoints,
	})
}

// vecPoints are the corners of vector.md: each operation completed on a
// non-empty value without a fault; faults of both kinds (unknown id, a λ
// failing, and failing after earlier elements succeeded); the empty
// vector, trailing bytes, the longest value and the most elements; V2V's Δ
// shorter than, as long as and longer than the value (and longer than V);
// FILTER keeping none, some and all; a request accepted in the first ready
// cycle after a result, one that waited on in_ready, one after idle
// cycles; every registered λ used.
var vecPoints = []string{
	"vector.s2v", "vector.v2v", "vector.reduce", "vector.filter",
	"vector.fault", "vector.unknown_fid", "vector.lambda_fault", "vector.late_fault",
	"vector.empty", "vector.trailing", "vector.full", "vector.max_elements",
	"vector.dlen_short", "vector.dlen_equal", "vector.dlen_long", "vector.dlen_beyond_v",
	"vector.filter_none", "vector.filter_some", "vector.filter_all",
	"vector.back_to_back", "vector.wait", "vector.gap", "vector.every_fid",
}

// vecLog is how many requests are remembered for reports: the stimulus
// runs up to 7 frames of 4096 cycles ahead of the comparison that asks,
// and a request takes at least 2 cycles.
const vecLog = 1 << 14

type vecEntry struct {
	seq        uint64
	req        vector.Request
	dlen       uint64 // in_dlen as driven (may exceed V: req.Dvec is cut to V)
	firstValid uint64 // the first cycle in_valid was 1; ^0 before
	accepted   uint64 // ^0 until accepted
	exp        vector.Result
}

type vecStim struct {
	rng      *rand.Rand
	p        vector.Params
	ev       *lambda.Evaluator // the stimulus's own, for its checks
	names    []string
	mask     uint64 // E bits
	edges    []uint64
	fids     uint64 // 2^F
	busWords int

	inValid, inOp, inFid, inVlen, inValue  int
	inDelta, inCmp, inSwap, inDlen, inDvec int
	inReady, outValid, outFault, outNew    int
	outRlen, outResp                       int

	// target ends the run after this many results (0: the run's cycle
	// count decides).
	target uint64
	log    []vecEntry
	seq    uint64 // requests generated
	// cur is the request being presented (or about to be, from
	// presentAt); curValue and curDvec are its buses, garbage included.
	cur               *vecEntry
	presentAt         uint64
	curValue, curDvec []uint64
	inflight          *vecEntry // accepted, result not yet seen
	lastResult        uint64    // cycle of the latest result, if hasResult
	hasResult         bool
	expNew, expResp   []uint64 // the in-flight result as port words

	completed, checked uint64
	perFid             []uint64 // results per fid; the last entry counts unknown ids
	pts                map[string]uint64
}

func newVecStim(cfg config.Config, seed, target uint64) (*vecStim, error) {
	ev, err := vector.NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	p := vector.ParamsOf(cfg)
	l, err := model.NewLayout(vector.Ports(cfg))
	if err != nil {
		return nil, err
	}
	mask := model.Mask(p.E)
	minV := uint64(1) << uint(p.E-1)
	s := &vecStim{
		rng: rand.New(rand.NewPCG(seed, 0x766563746f72)),
		p:   p, ev: ev, names: lambdaNames(cfg), mask: mask,
		// 0, ±1, ±2, the minimum and the maximum and their neighbours.
		edges:    []uint64{0, 1, 2, mask, mask - 1, minV, minV + 1, minV - 1, minV - 2},
		fids:     uint64(1) << uint(p.F),
		busWords: model.Words(8 * p.V),
		target:   target,
		log:      make([]vecEntry, vecLog),
		perFid:   make([]uint64, p.N+1),
		pts:      map[string]uint64{},
	}
	for i := range s.edges {
		s.edges[i] &= mask
	}
	for i := range s.log {
		s.log[i].req.Value = make([]byte, 0, p.V)
		s.log[i].req.Dvec = make([]byte, 0, p.V)
	}
	s.curValue = make([]uint64, s.busWords)
	s.curDvec = make([]uint64, s.busWords)
	s.expNew = make([]uint64, s.busWords)
	s.expResp = make([]uint64, s.busWords)
	for _, x := range []struct {
		name string
		off  *int
	}{
		{"in_valid", &s.inValid}, {"in_op", &s.inOp}, {"in_fid", &s.inFid}, {"in_vlen", &s.inVlen},
		{"in_value", &s.inValue}, {"in_delta", &s.inDelta}, {"in_cmp", &s.inCmp}, {"in_swap", &s.inSwap},
		{"in_dlen", &s.inDlen}, {"in_dvec", &s.inDvec}, {"in_ready", &s.inReady}, {"out_valid", &s.outValid},
		{"out_fault", &s.outFault}, {"out_new", &s.outNew}, {"out_rlen", &s.outRlen}, {"out_resp", &s.outResp},
	} {
		*x.off = l.MustSlot(x.name).Off
	}
	return s, nil
}

// element draws one E-bit value, most often an edge.
func (s *vecStim) element() uint64 {
	r := s.rng
	var v uint64
	switch k := r.UintN(16); {
	case k < 6:
		v = s.edges[r.IntN(len(s.edges))]
	case k < 9:
		v = uint64(r.IntN(17) - 8) // small, either sign
	case k < 11:
		v = uint64(r.IntN(s.p.E + 3)) // shift amounts up to and past the width
	case k < 12:
		v = uint64(1)<<r.UintN(uint(s.p.E)) + uint64(r.IntN(3)-1)
	default:
		v = r.Uint64() >> r.UintN(64)
	}
	return v & s.mask
}

// tame draws a non-negative E-bit value: a λ failing on negative operands
// (set_bit's shift amount) does not fail on it.
func (s *vecStim) tame() uint64 {
	if s.rng.UintN(2) == 0 {
		return uint64(s.rng.IntN(s.p.E + 3))
	}
	return s.element() & (s.mask >> 1)
}

// vecMode is how a request's elements are drawn.
type vecMode int

const (
	modeEdges    vecMode = iota // each element an edge, small or random value
	modeConstant                // one value repeated (FILTER none / all, equal ties)
	modeTame                    // non-negative values: λs like set_bit succeed
	modeOneBad                  // tame, but one element (of Δ for V2V) is negative
)

// fill writes n elements and then trail bytes into b (cap ≥ len).
func (s *vecStim) fill(b []byte, n, trail int, mode vecMode, bad int) []byte {
	eb := s.p.EB
	c := s.element()
	for i := 0; i < n; i++ {
		var v uint64
		switch mode {
		case modeEdges:
			v = s.element()
		case modeConstant:
			v = c
		default:
			v = s.tame()
		}
		if i == bad {
			v = []uint64{s.mask, s.mask>>1 ^ s.mask, s.mask - uint64(s.rng.IntN(8))}[s.rng.IntN(3)]
		}
		for k := 0; k < eb; k++ {
			b = append(b, byte(v>>(8*k)))
		}
	}
	for i := 0; i < trail; i++ {
		b = append(b, byte(s.rng.Uint32()))
	}
	return b
}

// length draws a value length 0..V.
func (s *vecStim) length() int {
	r, p := s.rng, s.p
	switch k := r.UintN(16); {
	case k < 5:
		return r.IntN(min(p.V, 5*p.EB-1) + 1) // up to 4 elements
	case k < 9:
		return r.IntN(min(p.V, 17*p.EB-1) + 1) // up to 16
	case k < 13:
		return r.IntN(p.V + 1)
	case k < 14:
		return p.V
	case k < 15:
		return max(0, p.V-r.IntN(2*p.EB)) // the most elements, with or without trailing bytes
	default:
		return r.IntN(min(p.V, p.EB) + 1) // no element: empty, or trailing bytes only
	}
}

// bus packs b into words, bytes past len(b) garbage or zero.
func (s *vecStim) bus(words []uint64, b []byte) {
	if s.rng.UintN(4) == 0 {
		clear(words)
	} else {
		for i := range words {
			words[i] = s.rng.Uint64()
		}
	}
	for i, x := range b {
		sh := 8 * uint(i%8)
		words[i/8] = words[i/8]&^(0xff<<sh) | uint64(x)<<sh
	}
	if top := 8 * s.p.V % 64; top != 0 {
		words[len(words)-1] &= 1<<uint(top) - 1
	}
}

// generate draws the next request into the log.
func (s *vecStim) generate() *vecEntry {
	r, p := s.rng, s.p
	e := &s.log[s.seq%vecLog]
	e.seq = s.seq
	s.seq++
	e.firstValid, e.accepted = ^uint64(0), ^uint64(0)
	e.exp = vector.Result{}
	q := &e.req
	q.Op = vector.Op(r.UintN(4))
	if s.fids > uint64(p.N) && r.UintN(12) == 0 {
		q.Fid = uint64(p.N) + r.Uint64N(s.fids-uint64(p.N))
	} else {
		q.Fid = r.Uint64N(uint64(p.N))
	}
	vlen := s.length()
	n := vlen / p.EB
	mode := vecMode(r.UintN(8))
	switch {
	case mode >= 5 && mode <= 6:
		mode = modeTame
	case mode == 7:
		mode = modeOneBad
	case mode == 4:
		mode = modeConstant
	default:
		mode = modeEdges
	}

	// Δ (V2V) as long as the value, shorter, longer, or past V; other
	// operations get an ignored Δ.
	dmax := model.Mask(p.VL)
	switch k := r.UintN(16); {
	case q.Op != vector.V2V:
		e.dlen = r.Uint64N(dmax + 1)
	case k < 5:
		e.dlen = uint64(vlen)
	case k < 10:
		e.dlen = uint64(r.IntN(vlen + 1))
	case k < 15:
		e.dlen = uint64(vlen + r.IntN(p.V-vlen+1))
	default:
		e.dlen = uint64(p.V) + r.Uint64N(dmax-uint64(p.V)+1)
	}
	dl := min(int(e.dlen), p.V)
	// modeOneBad: one negative element where a λ takes it as an operand
	// that can fail: V2V's Δ (within in_dlen and the value), else the
	// value.
	valueBad, dvecBad := -1, -1
	if mode == modeOneBad {
		if q.Op != vector.V2V && n > 0 {
			valueBad = r.IntN(n)
		} else if m := min(n, dl/p.EB); q.Op == vector.V2V && m > 0 {
			dvecBad = r.IntN(m)
		}
	}
	q.Value = s.fill(q.Value[:0], n, vlen%p.EB, mode, valueBad)
	dmode := mode
	if q.Op != vector.V2V {
		dmode = modeEdges
	}
	q.Dvec = s.fill(q.Dvec[:0], dl/p.EB, dl%p.EB, dmode, dvecBad)
	// Scalars: edges, a tame value (set_bit's amount), or an element of
	// the value (cas succeeds, FILTER's threshold ties).
	scalar := func() uint64 {
		switch k := r.UintN(8); {
		case k < 2 && n > 0:
			i := r.IntN(n)
			var v uint64
			for b := p.EB - 1; b >= 0; b-- {
				v = v<<8 | uint64(q.Value[p.EB*i+b])
			}
			return v
		case k < 4 || mode == modeTame || mode == modeOneBad:
			return s.tame()
		}
		return s.element()
	}
	q.Delta, q.Cmp, q.Swap = scalar(), scalar(), scalar()
	s.bus(s.curValue, q.Value)
	s.bus(s.curDvec, q.Dvec)
	return e
}

// gap draws the cycles between one acceptance and the next presentation.
func (s *vecStim) gap() uint64 {
	switch k := s.rng.UintN(8); {
	case k < 4:
		return 0 // at once: waits on in_ready, accepted back to back
	case k < 6:
		return 1 + s.rng.Uint64N(3)
	default:
		return s.rng.Uint64N(3 * uint64(s.p.NE+2) / 2)
	}
}

func (s *vecStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil {
		c := cycle - 1
		if err := s.observe(c, prev); err != nil {
			return false, err
		}
	}
	if s.target > 0 && s.completed >= s.target {
		return false, nil
	}
	if s.cur == nil {
		s.cur = s.generate()
		s.presentAt = cycle + s.gap()
	}
	e := s.cur
	if cycle >= s.presentAt {
		in[s.inValid] = 1
		if e.firstValid == ^uint64(0) {
			e.firstValid = cycle
		}
	}
	// The request's fields are on the inputs before in_valid rises too;
	// they are ignored until then.
	in[s.inOp] = uint64(e.req.Op)
	in[s.inFid] = e.req.Fid
	in[s.inVlen] = uint64(len(e.req.Value))
	copy(in[s.inValue:s.inValue+s.busWords], s.curValue)
	in[s.inDelta] = e.req.Delta
	in[s.inCmp] = e.req.Cmp
	in[s.inSwap] = e.req.Swap
	in[s.inDlen] = e.dlen
	copy(in[s.inDvec:s.inDvec+s.busWords], s.curDvec)
	return true, nil
}

// observe checks the outputs of cycle c (the golden model's, equal to the
// RTL's unless the bridge reports a divergence there) and tracks the
// handshake.
func (s *vecStim) observe(c uint64, out []uint64) error {
	if f := s.inflight; f != nil {
		due := f.accepted + 1 + uint64(f.exp.N)
		if out[s.outValid] == 1 {
			if c != due {
				return fmt.Errorf("result at cycle %d, due at %d (accepted %d, %d elements; vector.md §4)", c, due, f.accepted, f.exp.N)
			}
			if err := s.check(f, out); err != nil {
				return fmt.Errorf("result at cycle %d of request #%d accepted at %d: %v; request: %s",
					c, f.seq, f.accepted, err, vector.Describe(s.ev, f.req, f.exp))
			}
			s.count(f)
			s.inflight, s.lastResult, s.hasResult = nil, c, true
		} else if c >= due {
			return fmt.Errorf("no result at cycle %d, due for request #%d accepted at %d with %d elements", c, f.seq, f.accepted, f.exp.N)
		}
		if out[s.inReady] == 1 && (s.inflight != nil || c == s.lastResult) {
			return fmt.Errorf("in_ready = 1 at cycle %d while busy (vector.md §4)", c)
		}
	} else if out[s.outValid] == 1 {
		return fmt.Errorf("out_valid = 1 at cycle %d with no request in flight", c)
	} else if out[s.inReady] != 1 && (!s.hasResult || c > s.lastResult) {
		return fmt.Errorf("in_ready = 0 at cycle %d while idle (vector.md §4)", c)
	}
	e := s.cur
	if e == nil || e.firstValid == ^uint64(0) || c < e.firstValid || out[s.inReady] != 1 {
		return nil
	}
	// Accepted in cycle c.
	res, err := vector.Exec(s.ev, e.req)
	if err != nil {
		return err
	}
	e.exp, e.accepted = res, c
	s.inflight, s.cur = e, nil
	packWords(s.expNew, res.New)
	packWords(s.expResp, res.Resp)
	afterResult := s.hasResult && c == s.lastResult+1
	if afterResult {
		s.pts["vector.back_to_back"]++
	}
	if c > e.firstValid {
		s.pts["vector.wait"]++
	} else if c > 0 && !afterResult {
		s.pts["vector.gap"]++ // the unit stood idle and ready before
	}
	return nil
}

// check compares a result's outputs with Exec's.
func (s *vecStim) check(f *vecEntry, out []uint64) error {
	x := f.exp
	if got := out[s.outFault] == 1; got != x.Fault {
		return fmt.Errorf("out_fault %v, want %v", got, x.Fault)
	}
	if got := out[s.outRlen]; got != uint64(len(x.Resp)) {
		return fmt.Errorf("out_rlen %d, want %d", got, len(x.Resp))
	}
	for i, w := range s.expNew {
		if out[s.outNew+i] != w {
			return fmt.Errorf("out_new word %d = %#x, want %#x", i, out[s.outNew+i], w)
		}
	}
	for i, w := range s.expResp {
		if out[s.outResp+i] != w {
			return fmt.Errorf("out_resp word %d = %#x, want %#x", i, out[s.outResp+i], w)
		}
	}
	s.checked++
	return nil
}

func packWords(words []uint64, b []byte) {
	clear(words)
	for i, x := range b {
		words[i/8] |= uint64(x) << (8 * uint(i%8))
	}
}

// count records a checked result's coverage.
func (s *vecStim) count(f *vecEntry) {
	q, x, p := &f.req, &f.exp, s.p
	s.completed++
	s.perFid[min(q.Fid, uint64(p.N))]++
	vlen := len(q.Value)
	if !x.Fault && x.N > 0 {
		s.pts[map[vector.Op]string{vector.S2V: "vector.s2v", vector.V2V: "vector.v2v", vector.Reduce: "vector.reduce", vector.Filter: "vector.filter"}[q.Op]]++
	}
	if x.Fault {
		s.pts["vector.fault"]++
		if q.Fid >= uint64(p.N) {
			s.pts["vector.unknown_fid"]++
		} else {
			s.pts["vector.lambda_fault"]++
		}
		if x.FaultAt > 0 {
			s.pts["vector.late_fault"]++
		}
	}
	if x.N == 0 {
		s.pts["vector.empty"]++
	}
	if vlen%p.EB != 0 {
		s.pts["vector.trailing"]++
	}
	if vlen == p.V {
		s.pts["vector.full"]++
	}
	if x.N == p.NE {
		s.pts["vector.max_elements"]++
	}
	if q.Op == vector.V2V && !x.Fault {
		switch {
		case f.dlen < uint64(vlen):
			s.pts["vector.dlen_short"]++
		case f.dlen == uint64(vlen):
			s.pts["vector.dlen_equal"]++
		default:
			s.pts["vector.dlen_long"]++
		}
		if f.dlen > uint64(p.V) {
			s.pts["vector.dlen_beyond_v"]++
		}
	}
	if q.Op == vector.Filter && !x.Fault && x.N > 0 {
		switch x.Kept {
		case 0:
			s.pts["vector.filter_none"]++
		case x.N:
			s.pts["vector.filter_all"]++
		default:
			s.pts["vector.filter_some"]++
		}
	}
}

func (s *vecStim) Progress() uint64 { return s.completed }

// Describe names the request in flight at cycle: the one whose result is
// due then or later, or the one accepted then.
func (s *vecStim) Describe(cycle uint64) string {
	for k := uint64(0); k < vecLog && k < s.seq; k++ {
		e := &s.log[(s.seq-1-k)%vecLog]
		if e.accepted == ^uint64(0) || e.accepted > cycle {
			continue
		}
		due := e.accepted + 1 + uint64(e.exp.N)
		switch {
		case cycle == e.accepted:
			return fmt.Sprintf("request #%d accepted at cycle %d (result due at %d): %s", e.seq, e.accepted, due, vector.Describe(s.ev, e.req, e.exp))
		case cycle <= due:
			return fmt.Sprintf("request #%d accepted at cycle %d, result due at %d (element %d of %d in cycle %d): %s",
				e.seq, e.accepted, due, cycle-e.accepted-1, e.exp.N, cycle, vector.Describe(s.ev, e.req, e.exp))
		default:
			return fmt.Sprintf("idle: the latest request before cycle %d, #%d, was accepted at cycle %d, its result due at %d",
				cycle, e.seq, e.accepted, due)
		}
	}
	return fmt.Sprintf("no request accepted by cycle %d is remembered", cycle)
}

func (s *vecStim) Points() map[string]uint64 {
	pts := map[string]uint64{}
	for _, name := range vecPoints {
		pts[name] = s.pts[name]
	}
	least := s.perFid[0]
	for i, name := range s.names {
		least = min(least, s.perFid[i])
		pts["vector.fn."+name] = s.perFid[i]
	}
	pts["vector.every_fid"] = least
	return pts
}
