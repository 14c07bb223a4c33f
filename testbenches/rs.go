package testbenches

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rs"
)

// The reservation-station scenarios (docs/microarch/rs.md: v2 ports, v3.1 timing, §9 and §10). Each
// stimulus plays three parts around kvd_rs: the client that sends requests,
// the main pipeline (a Go map of (length, first 8 bytes) behind a random
// PCIe-like latency, with back-pressure and error statuses), and a semantic
// checker that executes every key's requests in request order against its
// own map and checks every response the golden model predicts. The checker
// knows nothing of slots, chains, caches or ids, so it holds the golden model
// to what the paper promises, not to how rs.md achieves it.

func init() {
	for _, sc := range rsScenarios {
		sc := sc
		register(Scenario{
			Name:          sc.name,
			Doc:           sc.doc,
			Top:           func(config.Config) string { return "kvd_rs" },
			DefaultCycles: 1_000_000,
			New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
				m, err := newRSGolden(cfg)
				if err != nil {
					return nil, nil, err
				}
				s, err := newRSStim(cfg, m, sc.params(cfg), seed)
				if err != nil {
					return nil, nil, err
				}
				return m, s, nil
			},
			Points: rsPointNames(sc.points),
		})
	}
}

// newRSGolden builds golden/rs's model with golden/lambda evaluating the
// λs — faults included, which rs.md §4 answers with LAMBDA_FAULT — as the
// checker does.
func newRSGolden(cfg config.Config) (model.Model, error) {
	ev, err := rs.NewLambdas(cfg)
	if err != nil {
		return nil, err
	}
	return rs.New(cfg, ev)
}

// Operation codes of rs.md §1 (the wire's, wire-format.md §3.2).
const (
	rsGet uint64 = iota
	rsPut
	rsDelete
	rsAtomic
	rsS2V
	rsV2V
	rsReduce
	rsFilter
)

// Status codes of rs.md §1 (wire-format.md §5): every code but OK and
// NOT_FOUND is an error.
const (
	rsOK          uint64 = 0
	rsNotFound    uint64 = 1
	rsNoMemory    uint64 = 5
	rsMemError    uint64 = 6
	rsLambdaFault uint64 = 8
)

// rsPipeErrors are the error codes the pipeline stand-in answers with: the
// engine's two, and one the station cannot know (every code is passed on).
var rsPipeErrors = []uint64{rsNoMemory, rsMemError, rsMemError, 13}

func rsIsError(st uint64) bool { return st > rsNotFound }

// rsQ is the output queues' capacity, fixed by rs.md §1.
const rsQ = 16

var rsOpNames = [8]string{"GET", "PUT", "DELETE", "ATOMIC", "UPDATE_S2V", "UPDATE_V2V", "REDUCE", "FILTER"}

func rsOpName(op uint64) string {
	if op < 8 {
		return rsOpNames[op]
	}
	return fmt.Sprintf("op%d", op)
}

func rsIsVector(op uint64) bool { return op >= rsS2V && op <= rsFilter }

func rsStatusName(st uint64) string {
	switch st {
	case rsOK:
		return "OK"
	case rsNotFound:
		return "NOT_FOUND"
	case rsNoMemory:
		return "NO_MEMORY"
	case rsMemError:
		return "MEM_ERROR"
	case rsLambdaFault:
		return "LAMBDA_FAULT"
	}
	return fmt.Sprintf("status%d", st)
}

// rsValMask keeps a value's bytes below vlen (rs.md §1: bytes at i ≥ vlen
// are zero).
func rsValMask(vlen uint64) uint64 {
	if vlen >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*vlen) - 1
}

// ---------------------------------------------------------------------------
// Scenarios

type rsScenario struct {
	name, doc string
	params    func(cfg config.Config) rsParams
	points    []string
}

// rsBasePoints are the corners of rs.md §5 every scenario reaches (those of
// forwarding only with rs.forwarding on); per-λ points are added from the
// configuration.
var rsBasePoints = []string{
	"rs.chain_ge_8", "rs.walk_forward", "rs.arrival_forward", "rs.writeback",
	"rs.false_dependency", "rs.ids_exhausted",
}

// rsV2Points are the corners of rs.md v2 the mixed scenarios reach: a long
// PUT queued in a chain, a walk ended at an unservable operation of the
// cached key, vector operations, long values read back.
var rsV2Points = []string{"rs.long_put_queued", "rs.walk_stopped", "rs.vector_op", "rs.long_value_read"}

var rsScenarios = []rsScenario{
	{
		name: "rs_hot",
		doc:  "atomics alone and mixed with GET/PUT/DELETE (some long PUTs, a few vector operations) on 1..16 hot keys, saturating and half-rate clients, PCIe-like latency; drained and checked every epoch",
		params: func(cfg config.Config) rsParams {
			p := rsDefaults()
			for _, n := range []int{1, 2, 3, 4, 8, 16} {
				n := n
				for _, rate := range []uint32{1000, 500} {
					p.phases = append(p.phases,
						rsPhase{name: fmt.Sprintf("%d hot keys, atomics, rate %d‰", n, rate), mix: rsMix8(0, 0, 0, 1), rate: rate, keys: rsHotKeys(n, false)},
						rsPhase{name: fmt.Sprintf("%d hot keys, mixed, rate %d‰", n, rate), mix: rsMix8(20, 20, 5, 55, 1, 1, 1, 1), rate: rate, keys: rsHotKeys(n, false)})
				}
			}
			return p
		},
		points: append([]string{"rs.invalid_fid", "rs.lambda_fault"}, rsV2Points...),
	},
	{
		name: "rs_zipf",
		doc:  "Zipf 0.99 over a million keys, GET/PUT with 0, 1, 10, 50 or 100 % PUT per epoch (the paper's long-tail workload)",
		params: func(cfg config.Config) rsParams {
			p := rsDefaults()
			for _, put := range []float64{0, 0.01, 0.1, 0.5, 1} {
				p.phases = append(p.phases, rsZipfPhase(put, 1000))
			}
			return p
		},
	},
	{
		name: "rs_mixed",
		doc:  "GET/PUT/DELETE/ATOMIC and the vector operations on a few hot keys, keys sharing a slot and a cold tail; short and long values, garbage past the key and value lengths, invalid fids",
		params: func(cfg config.Config) rsParams {
			p := rsDefaults()
			p.phases = rsMixedPhases()
			return p
		},
		points: append([]string{"rs.invalid_fid", "rs.lambda_fault"}, rsV2Points...),
	},
	{
		name: "rs_errors",
		doc:  "rs_mixed with 2 % of the pipeline's completions an error (NO_MEMORY, MEM_ERROR, others), client operations and write-backs alike, and pipe_ready 0 in 10 % of cycles",
		params: func(cfg config.Config) rsParams {
			p := rsDefaults()
			p.phases = rsMixedPhases()
			p.errPPM = 20_000
			p.stallPPM = 100_000
			return p
		},
		points: append([]string{"rs.error_completion", "rs.writeback_error", "rs.error_passed", "rs.pipe_backpressure", "rs.invalid_fid", "rs.lambda_fault"}, rsV2Points...),
	},
	{
		name: "rs_fast_pipe",
		doc:  "rs_mixed against a pipeline answering in 1..12 cycles and refusing operations (pipe_ready 0) in 30 % of cycles: completions meet arrivals, walks and full queues in every order",
		params: func(cfg config.Config) rsParams {
			p := rsDefaults()
			p.phases = rsMixedPhases()
			p.latMin, p.latMax = 1, 12
			p.stallPPM = 300_000
			return p
		},
		points: append([]string{"rs.pipe_backpressure", "rs.invalid_fid", "rs.lambda_fault"}, rsV2Points...),
	},
	{
		name: "rs_backpressure",
		doc:  "rs_mixed against a pipeline answering in 1..40 cycles, with pipe_ready 0 in 20 % of cycles and in bursts of up to 64 cycles: the pipeline queue fills and the completion side waits",
		params: func(cfg config.Config) rsParams {
			p := rsDefaults()
			p.phases = rsMixedPhases()
			p.latMin, p.latMax = 1, 40
			p.stallPPM = 200_000
			p.burstPPM, p.burstMax = 5_000, 64
			return p
		},
		points: append([]string{"rs.pipe_backpressure", "rs.completion_stalled", "rs.invalid_fid", "rs.lambda_fault"}, rsV2Points...),
	},
}

// rsMix8 gives the weights of ops 0..7; missing ones are 0.
func rsMix8(w ...uint32) [8]uint32 {
	var m [8]uint32
	copy(m[:], w)
	return m
}

// rsDefaults drain the station every 20 000 requests or 40 000 cycles: the
// memory check needs quiet, and a drain also ends any request starved by a
// hot key sharing its slot (TestRSKeyBehindAHotKeyIsServed), which the
// starvation bound would otherwise report in every long run.
func rsDefaults() rsParams {
	return rsParams{
		latMin: 150, latMax: 250, // a PCIe round trip at 180 MHz (kv-direct.md §5: ~1 µs)
		garbagePPM:  250_000,
		badFidPPM:   5_000,
		longPPM:     100_000,
		epochOps:    20_000,
		epochCycles: 40_000,
	}
}

func rsMixedPhases() []rsPhase {
	var ph []rsPhase
	for _, rate := range []uint32{1000, 700} {
		ph = append(ph,
			rsPhase{name: fmt.Sprintf("mixed: hot, colliding, cold tail, rate %d‰", rate), mix: rsMix8(30, 25, 10, 35, 1, 1, 1, 1), rate: rate, keys: rsMixedKeys},
			rsPhase{name: fmt.Sprintf("atomic-heavy: hot, colliding, cold tail, rate %d‰", rate), mix: rsMix8(10, 10, 5, 75, 1, 1, 1, 1), rate: rate, keys: rsMixedKeys},
			rsPhase{name: fmt.Sprintf("delete-heavy: hot, colliding, cold tail, rate %d‰", rate), mix: rsMix8(25, 25, 30, 20, 1, 1, 1, 1), rate: rate, keys: rsMixedKeys})
	}
	return ph
}

func rsZipfPhase(put float64, rate uint32) rsPhase {
	w := uint32(math.Round(put * 10000))
	return rsPhase{
		name: fmt.Sprintf("Zipf 0.99 over %d keys, %g %% PUT", rsZipfKeys, 100*put),
		mix:  rsMix8(10000-w, w), rate: rate,
		keys: func(s *rsStim) rsPicker { return s.coldPicker(rsZipfKeys, 0.99) },
	}
}

// rsZipfKeys is the long-tail key population: large enough that most keys
// are cold, as in the paper's long-tail runs.
const rsZipfKeys = 1 << 20

func rsPointNames(extra []string) []string {
	pts := append(append([]string(nil), rsBasePoints...), extra...)
	// λ points come from the preset both presets share; a configuration
	// with other λs reports its own names in the run's points.
	if c, err := config.Preset("sim"); err == nil {
		for _, l := range c.Atomic.Lambdas {
			pts = append(pts, "rs.lambda."+l.Name)
		}
	}
	return pts
}

// ---------------------------------------------------------------------------
// Parameters, phases and key sets

// rsParams shape one run of the stimulus.
type rsParams struct {
	phases         []rsPhase // one is drawn per epoch
	latMin, latMax uint64    // pipeline latency, cycles (≥ 1)
	errPPM         uint32    // error completions per million pipeline operations
	garbagePPM     uint32    // requests with garbage past klen and vlen and in the fields their op ignores
	badFidPPM      uint32    // atomics with an unregistered fid
	longPPM        uint32    // PUTs (and preloaded values) longer than 8 bytes, per million
	stallPPM       uint32    // cycles with pipe_ready 0, per million
	burstPPM       uint32    // cycles starting a burst of pipe_ready 0, per million
	burstMax       uint64    // the longest such burst, cycles
	epochOps       uint64    // requests accepted per epoch before a drain (0: no drains)
	epochCycles    uint64    // or cycles per epoch, whichever comes first (0: no bound)
	maxOps         uint64    // requests in all; then a last drain ends the run (0: endless)
	measureFrom    uint64    // responses from this cycle on count towards the throughput
	noShadow       bool      // skip the station shadow (benchmarks: speed over coverage)
	starveCycles   uint64    // a request unanswered this long is an error (0: a bound from M, R and the latency)
}

// rsPhase is one epoch's workload.
type rsPhase struct {
	name string
	mix  [8]uint32 // weights of ops 0..7: GET, PUT, DELETE, ATOMIC, then the vector operations
	rate uint32    // per mille of cycles without a pending request that start one
	fids []uint64  // the atomics' function ids (empty: every registered λ)
	// keys draws the epoch's key population when the epoch starts, so each
	// epoch sees other keys, lengths and slot collisions.
	keys func(s *rsStim) rsPicker
}

type rsPicker interface{ pick(r *rand.Rand) uint64 }

type rsUniform []uint64

func (u rsUniform) pick(r *rand.Rand) uint64 { return u[r.IntN(len(u))] }

type rsWeighted struct {
	w     []uint32
	p     []rsPicker
	total uint32
}

func (w *rsWeighted) add(weight uint32, p rsPicker) {
	w.w = append(w.w, weight)
	w.p = append(w.p, p)
	w.total += weight
}

func (w *rsWeighted) pick(r *rand.Rand) uint64 {
	x := r.Uint32N(w.total)
	for i, wi := range w.w {
		if x < wi {
			return w.p[i].pick(r)
		}
		x -= wi
	}
	return w.p[len(w.p)-1].pick(r)
}

type rsZipfPicker struct {
	z    *rsZipf
	base uint64
}

func (z rsZipfPicker) pick(r *rand.Rand) uint64 { return z.base + z.z.rank(r) }

// rsHotKeys picks n keys of random lengths; distinct slots when asked, so
// a benchmark measures n independent keys rather than collision luck.
func rsHotKeys(n int, distinctSlots bool) func(s *rsStim) rsPicker {
	return func(s *rsStim) rsPicker {
		keys := make(rsUniform, 0, n)
		used := map[uint64]bool{}
		slots := map[uint64]bool{}
		for tries := 0; len(keys) < n && tries < 1000*n; tries++ {
			i := s.gen.randomKey(s.rng)
			_, slot := s.keyOf(i)
			if used[i] || (distinctSlots && slots[slot] && len(slots) < s.r) {
				continue
			}
			used[i], slots[slot] = true, true
			keys = append(keys, i)
		}
		return keys
	}
}

// rsMixedKeys: half the requests on three or four hot keys, a third on two
// groups of keys that share a slot (false dependencies: their chains mix
// keys, and a walk skips the ones the cache does not hold), the rest on a
// cold tail of 65536 keys.
var rsMixedKeys = rsMixedKeysW(50, 32, 18)

// rsMixedKeysW weighs hot keys, colliding groups and the cold tail.
func rsMixedKeysW(hot, colliding, cold uint32) func(s *rsStim) rsPicker {
	return func(s *rsStim) rsPicker {
		w := &rsWeighted{}
		w.add(hot, rsHotKeys(3+s.rng.IntN(2), false)(s))
		for g := 0; g < 2; g++ {
			w.add(colliding/2, s.collidingKeys(2+s.rng.IntN(3)))
		}
		w.add(cold, s.coldPicker(1<<16, 0))
		return w
	}
}

// collidingKeys returns n keys whose station slot is the same.
func (s *rsStim) collidingKeys(n int) rsUniform {
	first := s.gen.randomKey(s.rng)
	_, slot := s.keyOf(first)
	keys := rsUniform{first}
	used := map[uint64]bool{first: true}
	for tries := 0; len(keys) < n && tries < 64*s.r; tries++ {
		i := s.gen.randomKey(s.rng)
		if _, sl := s.keyOf(i); sl == slot && !used[i] {
			keys, used[i] = append(keys, i), true
		}
	}
	return keys
}

// coldPicker draws from n keys, Zipf(θ) over them or uniform for θ = 0;
// fewer when short maximum keys leave fewer.
func (s *rsStim) coldPicker(n uint64, theta float64) rsPicker {
	base := s.gen.coldBase()
	n = min(n, s.gen.capacity()-base)
	if theta == 0 {
		return rsZipfPicker{z: rsUniformRanks(n), base: base}
	}
	return rsZipfPicker{z: newRSZipf(n, theta), base: base}
}

// rsKeyGen maps an index to a key, injectively, so the checker's keys never
// alias by accident: indices [0, 256) are the 1-byte keys, the next 65536
// the 2-byte keys, the next 2^24 the 3-byte keys; beyond, index 2^24+... + j
// is a key of 4..K bytes whose first four bytes are j (its length and other
// bytes are pseudo-random functions of j).
type rsKeyGen struct{ k int }

const (
	rsLen2Base = 256
	rsLen3Base = rsLen2Base + 1<<16
	rsLen4Base = rsLen3Base + 1<<24
)

func (g rsKeyGen) capacity() uint64 {
	switch {
	case g.k <= 1:
		return rsLen2Base
	case g.k == 2:
		return rsLen3Base
	case g.k == 3:
		return rsLen4Base
	}
	return rsLen4Base + 1<<32
}

// coldBase is where large key populations start: long keys when the
// configuration has them, so a million keys do not all start with byte 0.
func (g rsKeyGen) coldBase() uint64 {
	if g.k >= 4 {
		return rsLen4Base
	}
	return 0
}

func (g rsKeyGen) longLen(j uint64) int { return 4 + int(rsMix(j^0x6b6c656e)%uint64(g.k-3)) }

func (g rsKeyGen) bytes(i uint64, buf []byte) []byte {
	buf = buf[:0]
	switch {
	case i < rsLen2Base:
		return append(buf, byte(i))
	case i < rsLen3Base:
		j := i - rsLen2Base
		return append(buf, byte(j), byte(j>>8))
	case i < rsLen4Base:
		j := i - rsLen3Base
		return append(buf, byte(j), byte(j>>8), byte(j>>16))
	}
	j := i - rsLen4Base
	buf = append(buf, byte(j), byte(j>>8), byte(j>>16), byte(j>>24))
	h := rsMix(j)
	for n := g.longLen(j); len(buf) < n; {
		h = rsMix(h)
		for b := 0; b < 8 && len(buf) < n; b++ {
			buf = append(buf, byte(h>>(8*b)))
		}
	}
	return buf
}

// randomKey draws a key whose length is uniform over 1..K.
func (g rsKeyGen) randomKey(r *rand.Rand) uint64 {
	l := 1 + r.IntN(g.k)
	switch l {
	case 1:
		return r.Uint64N(256)
	case 2:
		return rsLen2Base + r.Uint64N(1<<16)
	case 3:
		return rsLen3Base + r.Uint64N(1<<24)
	}
	for {
		j := uint64(r.Uint32())
		if g.longLen(j) == l {
			return rsLen4Base + j
		}
	}
}

// rsMix is SplitMix64's finaliser: a cheap bijective scramble.
func rsMix(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// rsZipf draws ranks 0..n-1 with P(rank i) ∝ 1/(i+1)^θ by Gray et al.'s
// method (the one YCSB uses): math/rand's Zipf needs θ > 1, the paper's
// long tail is θ = 0.99.
type rsZipf struct {
	n                        uint64
	theta, zetan, alpha, eta float64
	half                     float64
	uniform                  bool
}

var rsZetaCache sync.Map // [2]float64{n, theta} -> zeta(n, theta)

func newRSZipf(n uint64, theta float64) *rsZipf {
	key := [2]float64{float64(n), theta}
	zv, ok := rsZetaCache.Load(key)
	if !ok {
		z := 0.0
		for i := uint64(1); i <= n; i++ {
			z += 1 / math.Pow(float64(i), theta)
		}
		zv, _ = rsZetaCache.LoadOrStore(key, z)
	}
	zetan := zv.(float64)
	zeta2 := 1 + math.Pow(0.5, theta)
	return &rsZipf{
		n: n, theta: theta, zetan: zetan, alpha: 1 / (1 - theta),
		eta:  (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/zetan),
		half: zeta2,
	}
}

func rsUniformRanks(n uint64) *rsZipf { return &rsZipf{n: n, uniform: true} }

func (z *rsZipf) rank(r *rand.Rand) uint64 {
	if z.uniform || z.n < 3 {
		return r.Uint64N(z.n)
	}
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}

// ---------------------------------------------------------------------------
// Ports

type rsOp struct {
	op, fid, klen, slot, vlen, value, delta, cmp, swap, aux, tag uint64
	key                                                          []uint64
}

// rsIn is one cycle's inputs of kvd_rs.
type rsIn struct {
	reqValid                            bool
	req                                 rsOp // as driven: garbage past klen and vlen is allowed
	pipeReady                           bool
	cplValid                            bool
	cplID, cplStatus, cplVlen, cplValue uint64
}

// rsPipeOut is an operation on pipe_*.
type rsPipeOut struct {
	id, tag, op, fid, klen, vlen, value, delta, cmp, swap, aux uint64
	key                                                        []uint64
}

// rsOut is one cycle's outputs of kvd_rs.
type rsOut struct {
	reqReady, pipeValid, respValid           bool
	pipe                                     rsPipeOut
	respTag, respStatus, respVlen, respValue uint64
}

// rsPorts finds the ports of rs.md §2 by name in whatever layout the golden
// model declares.
type rsPorts struct {
	reqValid, reqOp, reqFid, reqKey, reqKlen, reqSlot, reqVlen     model.Slot
	reqValue, reqDelta, reqCmp, reqSwap, reqAux, reqTag            model.Slot
	pipeReady, cplValid, cplID, cplStatus, cplVlen, cplValue       model.Slot
	reqReady, pipeValid, pipeID, pipeTag, pipeOp, pipeFid, pipeKey model.Slot
	pipeKlen, pipeVlen, pipeValue, pipeDelta, pipeCmp, pipeSwap    model.Slot
	pipeAux, respValid, respTag, respStatus, respVlen, respValue   model.Slot
	fidW, vlW, auxW, opW, stW                                      int // port widths the stimulus draws within
}

func newRSPorts(l *model.Layout) (rsPorts, error) {
	var p rsPorts
	var missing []string
	for _, e := range []struct {
		name string
		dir  model.Dir
		s    *model.Slot
	}{
		{"req_valid", model.In, &p.reqValid}, {"req_op", model.In, &p.reqOp}, {"req_fid", model.In, &p.reqFid},
		{"req_key", model.In, &p.reqKey}, {"req_klen", model.In, &p.reqKlen}, {"req_slot", model.In, &p.reqSlot},
		{"req_vlen", model.In, &p.reqVlen}, {"req_value", model.In, &p.reqValue}, {"req_delta", model.In, &p.reqDelta},
		{"req_cmp", model.In, &p.reqCmp}, {"req_swap", model.In, &p.reqSwap}, {"req_aux", model.In, &p.reqAux},
		{"req_tag", model.In, &p.reqTag},
		{"pipe_ready", model.In, &p.pipeReady},
		{"cpl_valid", model.In, &p.cplValid}, {"cpl_id", model.In, &p.cplID}, {"cpl_status", model.In, &p.cplStatus},
		{"cpl_vlen", model.In, &p.cplVlen}, {"cpl_value", model.In, &p.cplValue},
		{"req_ready", model.Out, &p.reqReady}, {"pipe_valid", model.Out, &p.pipeValid}, {"pipe_id", model.Out, &p.pipeID},
		{"pipe_tag", model.Out, &p.pipeTag}, {"pipe_op", model.Out, &p.pipeOp}, {"pipe_fid", model.Out, &p.pipeFid},
		{"pipe_key", model.Out, &p.pipeKey}, {"pipe_klen", model.Out, &p.pipeKlen}, {"pipe_vlen", model.Out, &p.pipeVlen},
		{"pipe_value", model.Out, &p.pipeValue}, {"pipe_delta", model.Out, &p.pipeDelta}, {"pipe_cmp", model.Out, &p.pipeCmp},
		{"pipe_swap", model.Out, &p.pipeSwap}, {"pipe_aux", model.Out, &p.pipeAux},
		{"resp_valid", model.Out, &p.respValid}, {"resp_tag", model.Out, &p.respTag},
		{"resp_status", model.Out, &p.respStatus}, {"resp_vlen", model.Out, &p.respVlen}, {"resp_value", model.Out, &p.respValue},
	} {
		s, ok := l.Slot(e.name)
		if !ok || l.Ports[s.Port].Dir != e.dir {
			missing = append(missing, fmt.Sprintf("%s %s", e.dir, e.name))
			continue
		}
		*e.s = s
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("kvd_rs model lacks the ports %s of rs.md §2 (v2)", strings.Join(missing, ", "))
	}
	p.fidW = l.Ports[p.reqFid.Port].Width
	p.vlW = l.Ports[p.reqVlen.Port].Width
	p.auxW = l.Ports[p.reqAux.Port].Width
	p.opW = l.Ports[p.reqOp.Port].Width
	p.stW = l.Ports[p.cplStatus.Port].Width
	if p.opW != 3 || p.stW != 4 || p.fidW > 8 || p.vlW < 4 || p.auxW > 64 {
		return p, fmt.Errorf("kvd_rs model: req_op %d bits, cpl_status %d bits, req_fid %d bits, req_vlen %d bits, req_aux %d bits: rs.md §2 (v2) says 3, 4, F, VL (≥ 4), A (≤ 64 here)",
			p.opW, p.stW, p.fidW, p.vlW, p.auxW)
	}
	return p, nil
}

func (p *rsPorts) encodeIn(in []uint64, x *rsIn) {
	if x.reqValid {
		in[p.reqValid.Off] = 1
	}
	r := &x.req
	in[p.reqOp.Off] = r.op
	in[p.reqFid.Off] = r.fid
	copy(in[p.reqKey.Off:p.reqKey.Off+p.reqKey.Words], r.key)
	in[p.reqKlen.Off] = r.klen
	in[p.reqSlot.Off] = r.slot
	in[p.reqVlen.Off] = r.vlen
	in[p.reqValue.Off] = r.value
	in[p.reqDelta.Off] = r.delta
	in[p.reqCmp.Off] = r.cmp
	in[p.reqSwap.Off] = r.swap
	in[p.reqAux.Off] = r.aux
	in[p.reqTag.Off] = r.tag
	if x.pipeReady {
		in[p.pipeReady.Off] = 1
	}
	if x.cplValid {
		in[p.cplValid.Off] = 1
		in[p.cplID.Off] = x.cplID
		in[p.cplStatus.Off] = x.cplStatus
		in[p.cplVlen.Off] = x.cplVlen
		in[p.cplValue.Off] = x.cplValue
	}
}

func (p *rsPorts) decodeIn(in []uint64, x *rsIn) {
	x.reqValid = in[p.reqValid.Off]&1 != 0
	r := &x.req
	r.op, r.fid, r.klen, r.slot = in[p.reqOp.Off], in[p.reqFid.Off], in[p.reqKlen.Off], in[p.reqSlot.Off]
	r.vlen, r.value, r.delta, r.cmp, r.swap = in[p.reqVlen.Off], in[p.reqValue.Off], in[p.reqDelta.Off], in[p.reqCmp.Off], in[p.reqSwap.Off]
	r.aux, r.tag = in[p.reqAux.Off], in[p.reqTag.Off]
	copy(r.key, in[p.reqKey.Off:p.reqKey.Off+p.reqKey.Words])
	x.pipeReady = in[p.pipeReady.Off]&1 != 0
	x.cplValid = in[p.cplValid.Off]&1 != 0
	x.cplID, x.cplStatus, x.cplVlen, x.cplValue = in[p.cplID.Off], in[p.cplStatus.Off], in[p.cplVlen.Off], in[p.cplValue.Off]
}

func (p *rsPorts) decodeOut(out []uint64, o *rsOut) {
	o.reqReady = out[p.reqReady.Off]&1 != 0
	o.pipeValid = out[p.pipeValid.Off]&1 != 0
	e := &o.pipe
	e.id, e.tag, e.op, e.fid = out[p.pipeID.Off], out[p.pipeTag.Off], out[p.pipeOp.Off], out[p.pipeFid.Off]
	copy(e.key, out[p.pipeKey.Off:p.pipeKey.Off+p.pipeKey.Words])
	e.klen, e.vlen, e.value = out[p.pipeKlen.Off], out[p.pipeVlen.Off], out[p.pipeValue.Off]
	e.delta, e.cmp, e.swap, e.aux = out[p.pipeDelta.Off], out[p.pipeCmp.Off], out[p.pipeSwap.Off], out[p.pipeAux.Off]
	o.respValid = out[p.respValid.Off]&1 != 0
	o.respTag, o.respStatus = out[p.respTag.Off], out[p.respStatus.Off]
	o.respVlen, o.respValue = out[p.respVlen.Off], out[p.respValue.Off]
}

func (p *rsPorts) encodeOut(out []uint64, o *rsOut) {
	out[p.reqReady.Off] = b2u(o.reqReady)
	out[p.pipeValid.Off] = b2u(o.pipeValid)
	e := &o.pipe
	out[p.pipeID.Off], out[p.pipeTag.Off], out[p.pipeOp.Off], out[p.pipeFid.Off] = e.id, e.tag, e.op, e.fid
	copy(out[p.pipeKey.Off:p.pipeKey.Off+p.pipeKey.Words], e.key)
	out[p.pipeKlen.Off], out[p.pipeVlen.Off], out[p.pipeValue.Off] = e.klen, e.vlen, e.value
	out[p.pipeDelta.Off], out[p.pipeCmp.Off], out[p.pipeSwap.Off], out[p.pipeAux.Off] = e.delta, e.cmp, e.swap, e.aux
	out[p.respValid.Off] = b2u(o.respValid)
	out[p.respTag.Off], out[p.respStatus.Off] = o.respTag, o.respStatus
	out[p.respVlen.Off], out[p.respValue.Off] = o.respVlen, o.respValue
}

func (a *rsPipeOut) same(b *rsPipeOut) bool {
	if a.id != b.id || a.tag != b.tag || a.op != b.op || a.fid != b.fid || a.klen != b.klen || a.vlen != b.vlen ||
		a.value != b.value || a.delta != b.delta || a.cmp != b.cmp || a.swap != b.swap || a.aux != b.aux {
		return false
	}
	for i := range a.key {
		if a.key[i] != b.key[i] {
			return false
		}
	}
	return true
}

func (a *rsPipeOut) copyFrom(b *rsPipeOut) {
	k := a.key
	*a = *b
	a.key = k
	copy(a.key, b.key)
}

func (a *rsPipeOut) String() string {
	return fmt.Sprintf("id %d tag %#04x %s fid %d klen %d key %x vlen %d value %#x delta %#x cmp %#x swap %#x aux %#x",
		a.id, a.tag, rsOpName(a.op), a.fid, a.klen, a.key, a.vlen, a.value, a.delta, a.cmp, a.swap, a.aux)
}

// ---------------------------------------------------------------------------
// The station shadow

// rsStation is rs.md §3–§5 with §9's v3 delta (the arrival stage X, the
// completion line D1/D2, PQ entries visible two cycles after their push) and
// §10's v3.1 delta on it (no WAIT before a walk's first step; X also waits
// for a completion of its slot in D1) read literally, cycle by cycle. The
// stimulus steps it beside the golden model on the same inputs to see what
// the outputs cannot show — chain lengths, which requests were served from
// the cache, whether ids ran out, walks ended early — for functional
// coverage and reports. It checks nothing: the first cycle it disagrees with
// the golden model's prediction is recorded (two readings of rs.md differ,
// one of them is wrong) and it is not consulted again.
type rsStation struct {
	m, r, kw, k int
	fwd         bool
	wmask, nfid uint64
	vlmask      uint64
	eval        rsEval

	ops                      []rsOp
	next                     []int
	free                     []int
	freeHead, freeLen        int
	busy, wb, cv, cfd, dirty []bool
	head, tail, clen         []int
	ckey                     []uint64
	cklen, cvlen, cval, caux []uint64

	cq            []rsCQEnt
	cqHead, cqLen int
	cqOV          bool
	cqOD          rsCQEnt

	walkActive                  bool
	walkSlot, walkCur, walkPrev int

	// §9.1: the arrival stage and the completion line.
	xValid        bool
	x             rsOp
	d1v, d2v      bool
	d1, d2        rsCQEnt
	cycle         uint64
	pqAt          [rsQ]uint64 // the cycle each PQ entry was pushed in
	pq            [rsQ]rsPipeOut
	pqHead, pqLen int
	rq            [rsQ]rsRQEnt
	rqHead, rqLen int

	// what the coverage points count
	nArrivalFwd, nWalkFwd, nChain8, nFalseDep, nWriteback uint64
	nLongPutQueued, nWalkStopped, nStalled                uint64
}

type rsCQEnt struct{ id, status, vlen, value uint64 }

type rsRQEnt struct{ tag, status, vlen, value uint64 }

// rsEval applies λ fid; fault means its evaluation fails (lambda.md §2.3).
type rsEval func(fid, old, delta, cmp, swap uint64) (nv uint64, fault bool, err error)

func newRSStation(cfg config.Config, eval rsEval, vlW int) *rsStation {
	m, r, k := cfg.RS.MaxInflight, cfg.RS.Slots, cfg.Key.MaxKeyBytes
	kw := model.Words(8 * k)
	st := &rsStation{
		m: m, r: r, kw: kw, k: k, fwd: cfg.RS.Forwarding,
		wmask: model.Mask(cfg.Atomic.ScalarBits), nfid: uint64(len(cfg.Atomic.Lambdas)), eval: eval,
		vlmask: model.Mask(vlW),
		ops:    make([]rsOp, m), next: make([]int, m), free: make([]int, m),
		busy: make([]bool, r), wb: make([]bool, r), cv: make([]bool, r), cfd: make([]bool, r), dirty: make([]bool, r),
		head: make([]int, r), tail: make([]int, r), clen: make([]int, r),
		ckey: make([]uint64, r*kw), cklen: make([]uint64, r), cvlen: make([]uint64, r), cval: make([]uint64, r), caux: make([]uint64, r),
		cq: make([]rsCQEnt, r),
	}
	keys := make([]uint64, m*kw)
	for i := range st.ops {
		st.ops[i].key = keys[i*kw : (i+1)*kw]
	}
	for i := range st.pq {
		st.pq[i].key = make([]uint64, kw)
	}
	st.x.key = make([]uint64, kw)
	st.reset()
	return st
}

// reset clears the control state (rs.md §3: all zero; free = 0..M-1).
func (st *rsStation) reset() {
	for i := range st.free {
		st.free[i] = i
	}
	st.freeHead, st.freeLen = 0, st.m
	for s := 0; s < st.r; s++ {
		st.busy[s], st.wb[s], st.cv[s], st.cfd[s], st.dirty[s] = false, false, false, false, false
		st.head[s], st.tail[s], st.clen[s] = 0, 0, 0
		st.cklen[s], st.cvlen[s], st.cval[s], st.caux[s] = 0, 0, 0, 0
	}
	clear(st.ckey)
	st.cqHead, st.cqLen, st.cqOV = 0, 0, false
	st.walkActive = false
	st.xValid, st.d1v, st.d2v = false, false, false
	st.cycle = 0
	st.pqHead, st.pqLen, st.rqHead, st.rqLen = 0, 0, 0, 0
}

// slotOf is §9.2's slot(e) of a completion-line entry.
func (st *rsStation) slotOf(e rsCQEnt) int {
	if e.id >= uint64(st.m) {
		return int(e.id) - st.m
	}
	return int(st.ops[e.id].slot)
}

// xGoes is §10.1 B (§9.2 B with the D1 term): X acts this cycle, on the
// state at its start, whatever the completion side does in it.
func (st *rsStation) xGoes() bool {
	s := int(st.x.slot) % st.r
	return st.xValid && st.freeLen >= 1 && st.pqLen <= rsQ-2 && st.rqLen <= rsQ-2 &&
		!(st.walkActive && st.walkSlot == s) &&
		!(st.d1v && st.slotOf(st.d1) == s) && !(st.d2v && st.slotOf(st.d2) == s)
}

// servable is rs.md §1: GET, DELETE, ATOMIC, or a PUT of at most 8 bytes.
func rsServable(o *rsOp) bool {
	return o.op == rsGet || o.op == rsDelete || o.op == rsAtomic || (o.op == rsPut && o.vlen <= 8)
}

// step fills out with the outputs of this cycle and advances over the edge.
func (st *rsStation) step(in *rsIn, out *rsOut) error {
	goes := st.xGoes()
	ready := !st.xValid || goes
	out.reqReady = ready
	pqStart := st.pqLen
	// §9.2 C: a PQ entry drives pipe_* from two cycles after its push on.
	out.pipeValid = st.pqLen > 0 && st.pqAt[st.pqHead]+2 <= st.cycle
	if out.pipeValid {
		out.pipe.copyFrom(&st.pq[st.pqHead])
	} else {
		k := out.pipe.key
		out.pipe = rsPipeOut{key: k}
		clear(k)
	}
	out.respValid = st.rqLen > 0
	if out.respValid {
		e := st.rq[st.rqHead]
		out.respTag, out.respStatus, out.respVlen, out.respValue = e.tag, e.status, e.vlen, e.value
		st.rqHead, st.rqLen = (st.rqHead+1)%rsQ, st.rqLen-1
	} else {
		out.respTag, out.respStatus, out.respVlen, out.respValue = 0, 0, 0, 0
	}
	// RQ's head just read leaves at the end of the cycle; removing it now is
	// the same, since this cycle's pushes go behind it. PQ's leaves at the
	// end only if it was visible and pipe_ready.

	advanced := false
	var err error
	switch {
	case pqStart >= rsQ:
		// §9.2 A: the pipeline holds PQ back; the completion side waits.
		if st.walkActive || st.d2v {
			st.nStalled++
		}
	case st.walkActive:
		// §10.1 A: a WALK step, the cycle after the COMPLETE that started
		// the walk at the earliest (v3's WAIT is gone).
		err = st.walkStep()
	default:
		// ADVANCE: COMPLETE D2's entry, then the line moves on.
		advanced = true
		if st.d2v {
			err = st.complete(st.d2)
		}
		st.d2v, st.d2 = st.d1v, st.d1
		st.d1v, st.d1 = st.cqOV, st.cqOD
	}
	if err != nil {
		return err
	}
	if goes {
		st.xValid = false
		if err := st.arrive(&st.x); err != nil {
			return err
		}
	}
	if in.reqValid && ready {
		k := st.x.key
		st.x = in.req
		st.x.key = k
		copy(k, in.req.key)
		st.xValid = true
	}
	if out.pipeValid && in.pipeReady {
		st.pqHead, st.pqLen = (st.pqHead+1)%rsQ, st.pqLen-1
	}
	// CQ: microarch.md §3 with out_ready = advanced.
	if (!st.cqOV || advanced) && st.cqLen > 0 {
		st.cqOD, st.cqOV = st.cq[st.cqHead], true
		st.cqHead, st.cqLen = (st.cqHead+1)%len(st.cq), st.cqLen-1
	} else if advanced {
		st.cqOV = false
	}
	if in.cplValid {
		if st.cqLen == len(st.cq) {
			return fmt.Errorf("completion queue overflow: %d entries, more completions than slots", st.cqLen)
		}
		st.cq[(st.cqHead+st.cqLen)%len(st.cq)] = rsCQEnt{in.cplID, in.cplStatus & 15, in.cplVlen & st.vlmask, in.cplValue}
		st.cqLen++
	}
	st.cycle++
	return nil
}

func (st *rsStation) keyIs(key []uint64, klen uint64, s int) bool {
	if st.cklen[s] != klen {
		return false
	}
	ck := st.ckey[s*st.kw : (s+1)*st.kw]
	for i := range ck {
		if ck[i] != key[i] {
			return false
		}
	}
	return true
}

func (st *rsStation) sameKey(a, b *rsOp) bool {
	if a.klen != b.klen {
		return false
	}
	for i := range a.key {
		if a.key[i] != b.key[i] {
			return false
		}
	}
	return true
}

func (st *rsStation) pushPQ(e *rsPipeOut) error {
	if st.pqLen == rsQ {
		return fmt.Errorf("pipeline queue overflow")
	}
	st.pq[(st.pqHead+st.pqLen)%rsQ].copyFrom(e)
	st.pqAt[(st.pqHead+st.pqLen)%rsQ] = st.cycle
	st.pqLen++
	return nil
}

// push is rs.md §5's push(i).
func (st *rsStation) push(i int) error {
	o := &st.ops[i]
	e := rsPipeOut{id: uint64(i), tag: o.tag, op: o.op, fid: o.fid, klen: o.klen, key: o.key,
		delta: o.delta, cmp: o.cmp, swap: o.swap, aux: o.aux}
	if o.op == rsAtomic {
		e.op = rsGet
	}
	if o.op == rsPut || rsIsVector(o.op) {
		e.vlen, e.value = o.vlen, o.value
	}
	return st.pushPQ(&e)
}

func (st *rsStation) pushRQ(tag, status, vlen, value uint64) error {
	if st.rqLen == rsQ {
		return fmt.Errorf("response queue overflow")
	}
	st.rq[(st.rqHead+st.rqLen)%rsQ] = rsRQEnt{tag, status, vlen, value}
	st.rqLen++
	return nil
}

// exec is rs.md §4 on slot s's cache, for a servable operation.
func (st *rsStation) exec(s int, o *rsOp) (status, vlen, value uint64, err error) {
	switch o.op {
	case rsGet:
		if st.cfd[s] {
			return rsOK, st.cvlen[s], st.cval[s], nil
		}
		return rsNotFound, 0, 0, nil
	case rsPut:
		st.cval[s], st.cvlen[s], st.cfd[s], st.dirty[s] = o.value, o.vlen, true, true
		return rsOK, 0, 0, nil
	case rsDelete:
		status = rsNotFound
		if st.cfd[s] {
			status = rsOK
		}
		st.cval[s], st.cvlen[s], st.cfd[s], st.dirty[s] = 0, 0, false, true
		return status, 0, 0, nil
	case rsAtomic:
	default:
		return 0, 0, 0, fmt.Errorf("exec of %s, which is not servable", rsOpName(o.op))
	}
	if o.fid >= st.nfid {
		return rsLambdaFault, 0, 0, nil
	}
	status, old := rsNotFound, uint64(0)
	if st.cfd[s] {
		status, old = rsOK, st.cval[s]&st.wmask
	}
	nv, fault, err := st.eval(o.fid, old, o.delta, o.cmp, o.swap)
	if err != nil {
		return 0, 0, 0, err
	}
	if fault {
		return rsLambdaFault, 0, 0, nil
	}
	st.cval[s], st.cvlen[s], st.cfd[s], st.dirty[s] = nv&st.wmask, 8, true, true
	return status, 8, old, nil
}

func (st *rsStation) walkStep() error {
	s, z := st.walkSlot, st.walkCur
	wasTail := z == st.tail[s]
	o := &st.ops[z]
	same := st.fwd && st.keyIs(o.key, o.klen, s)
	switch {
	case same && rsServable(o):
		status, vlen, value, err := st.exec(s, o)
		if err != nil {
			return err
		}
		if err := st.pushRQ(o.tag, status, vlen, value); err != nil {
			return err
		}
		if st.walkPrev < 0 {
			st.head[s] = st.next[z]
		} else {
			st.next[st.walkPrev] = st.next[z]
		}
		if z == st.tail[s] {
			st.tail[s] = st.walkPrev
		}
		st.clen[s]--
		st.freeID(z)
		st.nWalkFwd++
	case same:
		// A long PUT or a vector operation of the cached key: serving a
		// later one would overtake it.
		st.nWalkStopped++
		st.walkActive = false
		return st.end(s)
	default:
		st.walkPrev = z
	}
	if wasTail {
		st.walkActive = false
		return st.end(s)
	}
	st.walkCur = st.next[z]
	return nil
}

func (st *rsStation) complete(e rsCQEnt) error {
	var s int
	if e.id >= uint64(st.m) {
		if e.id >= uint64(st.m+st.r) {
			return fmt.Errorf("completion of id %d, beyond M+R-1 = %d", e.id, st.m+st.r-1)
		}
		s = int(e.id) - st.m
		st.wb[s] = false
		if rsIsError(e.status) {
			st.dirty[s] = true
		}
	} else {
		y := &st.ops[e.id]
		s = int(y.slot)
		var status, vlen, value uint64
		switch {
		case rsIsVector(y.op):
			status, vlen, value = e.status, e.vlen, e.value
			st.cv[s] = false
		case rsIsError(e.status):
			status = e.status
			st.cv[s] = false
		default:
			switch y.op {
			case rsGet, rsAtomic:
				st.cfd[s] = e.status == rsOK
				st.cval[s], st.cvlen[s] = 0, 0
				if st.cfd[s] {
					st.cval[s], st.cvlen[s] = e.value, e.vlen
				}
				status, vlen, value = e.status, st.cvlen[s], st.cval[s]
				if y.op == rsAtomic {
					var err error
					if status, vlen, value, err = st.exec(s, y); err != nil {
						return err
					}
				}
			case rsPut:
				st.cfd[s], st.cval[s], st.cvlen[s] = true, y.value, y.vlen
				status = rsOK
			case rsDelete:
				st.cfd[s], st.cval[s], st.cvlen[s] = false, 0, 0
				status = e.status
			}
			copy(st.ckey[s*st.kw:(s+1)*st.kw], y.key)
			st.cklen[s], st.caux[s] = y.klen, y.aux
			st.cv[s] = st.fwd && st.cvlen[s] <= 8
		}
		if err := st.pushRQ(y.tag, status, vlen, value); err != nil {
			return err
		}
		st.freeID(int(e.id))
	}
	// A write-back's completion never walks (rs.md §5 A.2).
	if e.id < uint64(st.m) && st.fwd && st.cv[s] && st.clen[s] > 0 {
		// Its first step is next cycle (§10.1; v3 had a WAIT cycle first).
		st.walkActive, st.walkSlot, st.walkCur, st.walkPrev = true, s, st.head[s], -1
		return nil
	}
	return st.end(s)
}

func (st *rsStation) end(s int) error {
	switch {
	case st.dirty[s]:
		e := rsPipeOut{id: uint64(st.m + s), op: rsDelete, klen: st.cklen[s], key: st.ckey[s*st.kw : (s+1)*st.kw], aux: st.caux[s]}
		if st.cfd[s] {
			e.op, e.vlen, e.value = rsPut, st.cvlen[s], st.cval[s]
		}
		st.dirty[s], st.wb[s] = false, true
		st.nWriteback++
		return st.pushPQ(&e)
	case st.clen[s] > 0:
		h := st.head[s]
		st.head[s] = st.next[h]
		st.clen[s]--
		st.cv[s], st.wb[s] = false, false
		return st.push(h)
	}
	st.busy[s], st.cv[s] = false, false
	return nil
}

func (st *rsStation) freeID(i int) {
	st.free[(st.freeHead+st.freeLen)%st.m] = i
	st.freeLen++
}

// maskKey zeroes the bytes at and past klen (rs.md §1: keys are stored and
// forwarded masked).
func maskKey(dst, src []uint64, klen uint64, k int) {
	n := min(int(klen), k)
	for w := range dst {
		lo := 8 * w
		switch {
		case n >= lo+8:
			dst[w] = src[w]
		case n <= lo:
			dst[w] = 0
		default:
			dst[w] = src[w] & (1<<(8*uint(n-lo)) - 1)
		}
	}
}

func (st *rsStation) arrive(x *rsOp) error {
	s := int(x.slot) % st.r
	var tmp [32]uint64
	key := tmp[:st.kw]
	if st.kw > len(tmp) {
		key = make([]uint64, st.kw)
	}
	maskKey(key, x.key, x.klen, st.k)
	value := x.value & rsValMask(x.vlen)
	if st.fwd && st.cv[s] && st.clen[s] == 0 && st.keyIs(key, x.klen, s) && rsServable(x) {
		y := *x
		y.key, y.value = key, value
		status, vlen, rv, err := st.exec(s, &y)
		if err != nil {
			return err
		}
		st.nArrivalFwd++
		return st.pushRQ(x.tag, status, vlen, rv)
	}
	i := st.free[st.freeHead]
	st.freeHead, st.freeLen = (st.freeHead+1)%st.m, st.freeLen-1
	o := &st.ops[i]
	k := o.key
	*o = *x
	o.key = k
	copy(o.key, key)
	o.value = value
	o.slot = uint64(s)
	if !st.busy[s] {
		st.busy[s], st.wb[s], st.cv[s] = true, false, false
		return st.push(i)
	}
	if st.clen[s] > 0 {
		t := st.tail[s]
		st.next[t] = i
		if !st.sameKey(&st.ops[t], o) {
			st.nFalseDep++
		}
	} else {
		st.head[s] = i
	}
	st.tail[s] = i
	st.clen[s]++
	if st.clen[s] == 8 {
		st.nChain8++
	}
	if o.op == rsPut && o.vlen > 8 {
		st.nLongPutQueued++
	}
	return nil
}

// rsDiffOut names the first output where the shadow (a) and the golden
// model's prediction (b) differ, under the qualification rules.
func rsDiffOut(a, b *rsOut) string {
	if a.reqReady != b.reqReady {
		return fmt.Sprintf("req_ready: shadow %v, golden %v", a.reqReady, b.reqReady)
	}
	if a.pipeValid != b.pipeValid {
		return fmt.Sprintf("pipe_valid: shadow %v, golden %v", a.pipeValid, b.pipeValid)
	}
	if a.pipeValid && !a.pipe.same(&b.pipe) {
		return fmt.Sprintf("pipeline operation: shadow %s, golden %s", &a.pipe, &b.pipe)
	}
	if a.respValid != b.respValid {
		return fmt.Sprintf("resp_valid: shadow %v, golden %v", a.respValid, b.respValid)
	}
	if a.respValid && (a.respTag != b.respTag || a.respStatus != b.respStatus || a.respVlen != b.respVlen || a.respValue != b.respValue) {
		return fmt.Sprintf("response: shadow tag %#04x %s vlen %d %#x, golden tag %#04x %s vlen %d %#x",
			a.respTag, rsStatusName(a.respStatus), a.respVlen, a.respValue, b.respTag, rsStatusName(b.respStatus), b.respVlen, b.respValue)
	}
	return ""
}

// ---------------------------------------------------------------------------
// The stimulus

// rsPending is one accepted request, unanswered until its response.
type rsPending struct {
	seq, cycle, tag uint64
	// The request as driven, its value masked to vlen: fid, delta, cmp, swap
	// and aux are what the pipeline must see with its operation.
	op, fid, vlen, value, delta, cmp, swap, aux uint64
	ks                                          *rsKeyState
	answered                                    bool
	sent                                        bool        // its operation went to the pipeline
	sentAt, cplAt                               uint64      // when it did, and when its completion was on cpl_* (0: not yet)
	inj                                         *rsInjected // the pipeline's error completion of it
}

// rsKeyState is the checker's sequential reference for one key.
type rsKeyState struct {
	key        string
	slot       uint64
	found      bool
	vlen, val  uint64          // the value's length and first 8 bytes
	pending    []*rsPending    // unanswered requests, in request order
	auxes      map[uint64]bool // the aux of every request of the key this epoch
	ops        uint64          // requests this epoch
	writebacks uint64
}

// rsInjected is an error completion the pipeline returned for a client
// operation: its status, and the length and value it carried (a vector
// operation's are passed on, rs.md §5 A.2).
type rsInjected struct {
	status, vlen, value uint64
}

// rsCell is memory's entry for a key: a length and the value's first 8
// bytes (the rest of a long value is the integration's, rs.md §1).
type rsCell struct {
	found     bool
	vlen, val uint64
}

type rsPipeOp struct {
	valid bool
	cycle uint64
	op    uint64
	value uint64
	slot  uint64
	ks    *rsKeyState
	p     *rsPending // nil for a write-back
}

type rsCpl struct{ due, seq, id, status, vlen, value uint64 }

type rsEvent struct {
	cycle              uint64
	kind               byte // A accepted, P pipeline op, C completion, R response
	a, op, st, v, slot uint64
	vlen               uint64
	key                string
}

const rsEventLog = 1 << 17

type rsStim struct {
	mu           sync.Mutex
	cfg          config.Config
	p            rsParams
	rng, prng    *rand.Rand // client; pipeline (separate, so one's draws never shift the other's)
	rdy          *rand.Rand // pipe_ready
	ports        rsPorts
	m, r, k, vm  int
	kw           int
	nfid         uint64
	wmask        uint64 // the scalar width's
	auxMask      uint64
	fidLim       uint64 // 2^F
	vlMask       uint64
	fidNames     []string
	gen          rsKeyGen
	ev           *lambda.Evaluator
	buf          []byte
	keyWords     []uint64
	starveLim    uint64
	quiet        uint64
	out          rsOut
	started      bool
	phaseIdx     int
	picker       rsPicker
	burstLeft    uint64
	heldPipe     rsPipeOut // pipe_* of the previous cycle, if it was not taken
	held         bool
	prevObserved bool

	// client
	holding bool
	curP    *rsPending
	last    rsIn // the inputs driven in the previous cycle
	issued  uint64
	byTag   []*rsPending
	order   []*rsPending // accepted, oldest first; answered ones dropped from the front
	waiting int

	// checker
	keys      map[string]*rsKeyState
	unclaimed int

	// pipeline
	store     map[string]rsCell
	inflight  []rsPipeOp
	slotOp    []int
	nInflight int
	cpls      []rsCpl // a heap on (due, seq)
	cplSeq    uint64

	// epochs
	epoch, drains         uint64
	epochAccepted         uint64
	epochStart, drainFrom uint64
	draining, done        bool
	lastActivity          uint64

	// counts
	accepted, responses, winResp uint64
	lastObserved                 uint64
	maxWait                      uint64 // the longest a request answered in the measured window waited
	writebacks, errCpls, wbErrs  uint64
	badFids, faults              uint64
	idsExhausted                 uint64
	vecOps, errPassed, longReads uint64
	pipeHeld                     uint64
	lambdaHits                   []uint64

	shadow     *rsStation
	shOut      rsOut
	shadowLost string

	events []rsEvent
	evN    uint64
}

func newRSStim(cfg config.Config, m model.Model, p rsParams, seed uint64) (*rsStim, error) {
	l, err := model.NewLayout(m.Ports())
	if err != nil {
		return nil, err
	}
	ports, err := newRSPorts(l)
	if err != nil {
		return nil, err
	}
	if len(p.phases) == 0 {
		return nil, errors.New("rs stimulus: no phases")
	}
	if p.latMin < 1 || p.latMax < p.latMin {
		return nil, fmt.Errorf("rs stimulus: pipeline latency %d..%d: want 1 <= min <= max", p.latMin, p.latMax)
	}
	if p.stallPPM >= 1_000_000 {
		return nil, fmt.Errorf("rs stimulus: pipe_ready 0 in %d ppm of cycles: the pipeline would never take anything", p.stallPPM)
	}
	ev, err := lambda.NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	k := cfg.Key.MaxKeyBytes
	s := &rsStim{
		cfg: cfg, p: p,
		rng:   rand.New(rand.NewPCG(seed, 0x72732d636c69656e)),
		prng:  rand.New(rand.NewPCG(seed, 0x72732d7069706521)),
		rdy:   rand.New(rand.NewPCG(seed, 0x72732d7265616479)),
		ports: ports, m: cfg.RS.MaxInflight, r: cfg.RS.Slots, k: k, kw: model.Words(8 * k), vm: cfg.Key.MaxValueBytes,
		nfid: uint64(len(cfg.Atomic.Lambdas)), wmask: model.Mask(cfg.Atomic.ScalarBits),
		auxMask: model.Mask(ports.auxW), fidLim: 1 << uint(ports.fidW), vlMask: model.Mask(ports.vlW),
		gen: rsKeyGen{k: k}, ev: ev,
		buf:    make([]byte, 0, 256),
		byTag:  make([]*rsPending, 1<<16),
		keys:   map[string]*rsKeyState{},
		store:  map[string]rsCell{},
		events: make([]rsEvent, rsEventLog),
	}
	for _, l := range cfg.Atomic.Lambdas {
		s.fidNames = append(s.fidNames, l.Name)
	}
	s.lambdaHits = make([]uint64, len(s.fidNames))
	s.keyWords = make([]uint64, s.kw)
	s.out.pipe.key = make([]uint64, s.kw)
	s.heldPipe.key = make([]uint64, s.kw)
	s.last.req.key = make([]uint64, s.kw)
	s.inflight = make([]rsPipeOp, s.m+s.r)
	s.slotOp = make([]int, s.r)
	for i := range s.slotOp {
		s.slotOp[i] = -1
	}
	// Worst case for one request: behind M others in its slot, each an
	// atomic (a read and a write-back, an error retry or two), plus the
	// queues; four times that is a starved request, not a slow one. A
	// pipeline refusing operations stretches every round trip.
	lat := p.latMax + 4 + p.burstMax
	if p.stallPPM > 0 {
		lat = lat * 1_000_000 / uint64(1_000_000-p.stallPPM)
	}
	s.starveLim = 4*uint64(s.m+2)*2*lat + 4*uint64(s.r) + 10_000
	if p.starveCycles > 0 {
		s.starveLim = p.starveCycles
	}
	// After the last completion, the completion queue's backlog (at most R)
	// and the pipeline queue can still produce a write-back.
	s.quiet = uint64(s.r) + 2*rsQ + 16 + p.burstMax
	if !p.noShadow {
		s.shadow = newRSStation(cfg, s.eval, ports.vlW)
		s.shOut.pipe.key = make([]uint64, s.kw)
	}
	return s, nil
}

func (s *rsStim) eval(fid, old, delta, cmp, swap uint64) (uint64, bool, error) {
	nv, fault, err := s.ev.Eval(fid, old, delta, cmp, swap)
	return nv & s.wmask, fault, err
}

// keyOf returns key i as the checker names it (its bytes) and its slot.
func (s *rsStim) keyOf(i uint64) (string, uint64) {
	s.buf = s.gen.bytes(i, s.buf)
	_, _, slot := keyhash.Hash(s.cfg, s.buf)
	return string(s.buf), slot
}

// preload is the memory's initial content: half the keys present, with a
// value derived from the key (long as often as the run's long PUTs), so
// GETs of untouched keys find something.
func (s *rsStim) preload(key string) rsCell {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	if h = rsMix(h); h&1 == 0 {
		return rsCell{}
	}
	h = rsMix(h)
	vlen := h % 9
	if s.vm > 8 && (h>>8)%1_000_000 < uint64(s.p.longPPM) {
		vlen = 9 + (h>>32)%uint64(s.vm-8)
	}
	return rsCell{found: true, vlen: vlen, val: rsMix(h) & rsValMask(vlen)}
}

func (s *rsStim) memory(key string) rsCell {
	if c, ok := s.store[key]; ok {
		return c
	}
	return s.preload(key)
}

// rsVector is the pipeline stand-in's deterministic reading of the vector
// operations (the station only carries them, rs.md §1), which the
// reference applies too: UPDATE_S2V adds delta's low byte to each byte of
// the stored value and UPDATE_V2V adds 1, both answering the old value;
// REDUCE answers the sum of the bytes and the length, FILTER the even
// bytes, both leaving the value as it is. A missing key answers NOT_FOUND
// with length and value 0.
func rsVector(op, delta uint64, c rsCell) (status, vlen, value uint64, after rsCell) {
	if !c.found {
		return rsNotFound, 0, 0, c
	}
	n := min(c.vlen, 8)
	switch op {
	case rsS2V, rsV2V:
		add := byte(1)
		if op == rsS2V {
			add = byte(delta)
		}
		nv := uint64(0)
		for i := uint64(0); i < n; i++ {
			nv |= uint64(byte(c.val>>(8*i))+add) << (8 * i)
		}
		return rsOK, c.vlen, c.val, rsCell{found: true, vlen: c.vlen, val: nv}
	case rsReduce:
		sum := c.vlen
		for i := uint64(0); i < n; i++ {
			sum += uint64(byte(c.val >> (8 * i)))
		}
		return rsOK, 8, sum, c
	}
	return rsOK, c.vlen, c.val & 0x00ff00ff00ff00ff, c
}

// keyState returns the reference of a key, starting from memory the first
// time the key is seen in an epoch: memory then equals the reference, since
// the last drain checked every key touched before it.
func (s *rsStim) keyState(key string, slot uint64) *rsKeyState {
	ks := s.keys[key]
	if ks == nil {
		c := s.memory(key)
		ks = &rsKeyState{key: key, slot: slot, found: c.found, vlen: c.vlen, val: c.val, auxes: map[uint64]bool{}}
		s.keys[key] = ks
	}
	return ks
}

func (s *rsStim) log(e rsEvent) {
	s.events[s.evN%rsEventLog] = e
	s.evN++
}

func (s *rsStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.startEpoch(cycle)
	}
	if prev != nil {
		s.ports.decodeOut(prev, &s.out)
		if err := s.observe(cycle - 1); err != nil {
			return false, err
		}
	}
	if more, err := s.epochControl(cycle, prev != nil); !more || err != nil {
		return more, err
	}
	s.drive(cycle, in)
	return true, nil
}

// observe accounts for what happened in cycle c: the inputs driven then and
// the golden model's predicted outputs.
func (s *rsStim) observe(c uint64) error {
	o := &s.out
	s.lastObserved = c
	if s.shadow != nil && s.shadowLost == "" {
		if s.last.reqValid && !o.reqReady && s.shadow.freeLen == 0 {
			s.idsExhausted++
		}
		if err := s.shadow.step(&s.last, &s.shOut); err != nil {
			s.shadowLost = fmt.Sprintf("cycle %d: %v", c, err)
		} else if d := rsDiffOut(&s.shOut, o); d != "" {
			s.shadowLost = fmt.Sprintf("cycle %d: %s", c, d)
		}
	}
	// pipe_*: valid/ready (microarch.md §1.3): an operation not taken stays,
	// unchanged, until it is.
	if s.held && (!o.pipeValid || !o.pipe.same(&s.heldPipe)) {
		if !o.pipeValid {
			return fmt.Errorf("cycle %d: pipe_valid fell while the pipeline held back the operation %s", c, &s.heldPipe)
		}
		return fmt.Errorf("cycle %d: the operation on pipe_* changed while the pipeline held it back: %s became %s", c, &s.heldPipe, &o.pipe)
	}
	s.held = o.pipeValid && !s.last.pipeReady
	if s.held {
		s.heldPipe.copyFrom(&o.pipe)
		s.pipeHeld++
	}
	if s.last.reqValid && o.reqReady {
		s.accept(c)
	}
	if o.pipeValid && s.last.pipeReady {
		if err := s.pipeOp(c); err != nil {
			return fmt.Errorf("cycle %d: %v", c, err)
		}
	}
	if o.respValid {
		if err := s.response(c); err != nil {
			return fmt.Errorf("cycle %d: %v", c, err)
		}
	}
	for len(s.order) > 0 && s.order[0].answered {
		s.order[0] = nil
		s.order = s.order[1:]
	}
	if len(s.order) > 0 && c-s.order[0].cycle > s.starveLim {
		p := s.order[0]
		return fmt.Errorf("cycle %d: request tag %#04x (%s key %s) accepted at cycle %d is still unanswered after %d cycles (%d requests unanswered, %d pipeline operations in flight)",
			c, p.tag, s.describeReq(p), rsKeyHex(p.ks.key), p.cycle, c-p.cycle, s.waiting, s.nInflight)
	}
	return nil
}

func (s *rsStim) accept(c uint64) {
	p := s.curP
	s.holding, s.curP = false, nil
	p.cycle = c
	s.byTag[p.tag] = p
	p.ks.pending = append(p.ks.pending, p)
	p.ks.auxes[p.aux] = true
	p.ks.ops++
	s.order = append(s.order, p)
	s.waiting++
	s.accepted++
	s.epochAccepted++
	s.lastActivity = c
	s.log(rsEvent{cycle: c, kind: 'A', a: p.tag, op: p.op, st: p.fid, v: p.value, vlen: p.vlen, slot: p.ks.slot, key: p.ks.key})
}

// rsPipeOpOf is what goes to the pipeline for a request (rs.md §5 push):
// atomics as GETs; a length and value for PUT and the vector operations.
func rsPipeOpOf(p *rsPending) (op, vlen, value uint64) {
	switch {
	case p.op == rsAtomic:
		return rsGet, 0, 0
	case p.op == rsPut || rsIsVector(p.op):
		return p.op, p.vlen, p.value
	}
	return p.op, 0, 0
}

// pipeOp takes the operation the pipeline accepted in cycle c: checks it,
// executes it against memory and schedules its completion.
func (s *rsStim) pipeOp(c uint64) error {
	o := &s.out.pipe
	id := o.id
	if id >= uint64(s.m+s.r) {
		return fmt.Errorf("pipe_id %d is beyond M+R-1 = %d", id, s.m+s.r-1)
	}
	if o.op == rsAtomic || o.op > rsFilter {
		return fmt.Errorf("pipeline operation %s: the pipeline gets GET, PUT, DELETE or a vector operation, never ATOMIC", o)
	}
	if o.klen < 1 || o.klen > uint64(s.k) {
		return fmt.Errorf("pipeline operation %s: pipe_klen not 1..%d", o, s.k)
	}
	maskKey(s.keyWords, o.key, o.klen, s.k)
	for w := range s.keyWords {
		if s.keyWords[w] != o.key[w] {
			return fmt.Errorf("pipeline operation %s: pipe_key has non-zero bytes past pipe_klen (keys leave the station masked)", o)
		}
	}
	if o.op == rsPut || rsIsVector(o.op) {
		if o.value&^rsValMask(o.vlen) != 0 {
			return fmt.Errorf("pipeline operation %s: pipe_value has non-zero bytes past pipe_vlen (values leave the station masked)", o)
		}
	} else if o.vlen != 0 || o.value != 0 {
		return fmt.Errorf("pipeline operation %s: a %s with a length or value, want 0", o, rsOpName(o.op))
	}
	if f := &s.inflight[id]; f.valid {
		return fmt.Errorf("pipeline operation %s issued while id %d (%s, issued at cycle %d) is still in the pipeline", o, id, rsOpName(f.op), f.cycle)
	}
	s.buf = s.buf[:0]
	for i := 0; i < int(o.klen); i++ {
		s.buf = append(s.buf, byte(o.key[i/8]>>(8*(i%8))))
	}
	ks := s.keys[string(s.buf)]
	if ks == nil {
		return fmt.Errorf("pipeline operation %s on key %x, which no request of this epoch named", o, s.buf)
	}
	wb := id >= uint64(s.m)
	var p *rsPending
	if wb {
		switch {
		case id-uint64(s.m) != ks.slot:
			return fmt.Errorf("write-back %s carries key %s, whose slot is %d", o, rsKeyHex(ks.key), ks.slot)
		case o.op != rsPut && o.op != rsDelete:
			return fmt.Errorf("write-back %s of slot %d is neither PUT nor DELETE", o, ks.slot)
		case o.tag != 0 || o.fid != 0 || o.delta != 0 || o.cmp != 0 || o.swap != 0:
			return fmt.Errorf("write-back %s: tag, fid, delta, cmp and swap must be 0", o)
		case o.op == rsPut && o.vlen > 8:
			return fmt.Errorf("write-back %s of a long value: the station never caches one (rs.md §1), and would cut it to 8 bytes", o)
		case !ks.auxes[o.aux]:
			return fmt.Errorf("write-back %s of key %s carries aux %#x, which no request of the key carried this epoch", o, rsKeyHex(ks.key), o.aux)
		}
		ks.writebacks++
	} else {
		p = s.byTag[o.tag]
		if p == nil || p.ks != ks {
			return fmt.Errorf("pipeline operation %s on key %s: pipe_tag names no unanswered request of that key", o, rsKeyHex(ks.key))
		}
		if p.sent {
			return fmt.Errorf("pipeline operation %s: request tag %#04x (%s) already went to the pipeline at cycle %d", o, p.tag, s.describeReq(p), p.sentAt)
		}
		op, vlen, value := rsPipeOpOf(p)
		if o.op != op || o.vlen != vlen || o.value != value || o.fid != p.fid || o.delta != p.delta || o.cmp != p.cmp || o.swap != p.swap {
			return fmt.Errorf("pipeline operation %s for request tag %#04x (%s, fid %d delta %#x cmp %#x swap %#x): want %s vlen %d value %#x and the request's fid and operands",
				o, p.tag, s.describeReq(p), p.fid, p.delta, p.cmp, p.swap, rsOpName(op), vlen, value)
		}
		if o.aux != p.aux {
			return fmt.Errorf("pipeline operation %s for request tag %#04x (%s): pipe_aux %#x, the request's aux is %#x", o, p.tag, s.describeReq(p), o.aux, p.aux)
		}
		p.sent, p.sentAt = true, c
	}
	if other := s.slotOp[ks.slot]; other >= 0 {
		f := &s.inflight[other]
		return fmt.Errorf("two operations of slot %d in the main pipeline: id %d %s key %s (issued at cycle %d) and %s key %s",
			ks.slot, other, rsOpName(f.op), rsKeyHex(f.ks.key), f.cycle, o, rsKeyHex(ks.key))
	}

	// Unspecified completion lengths and values are random, to check that
	// the station ignores them.
	gl, gv := uint64(0), uint64(0)
	if s.prng.Uint32()&1 == 0 {
		gl, gv = s.prng.Uint64()&s.vlMask, s.prng.Uint64()
	}
	status, vlen, value := rsOK, gl, gv
	if s.p.errPPM > 0 && s.prng.Uint32N(1_000_000) < s.p.errPPM {
		// A failed operation leaves memory as it was.
		status = rsPipeErrors[s.prng.IntN(len(rsPipeErrors))]
		if o.op == rsPut && s.prng.Uint32()&1 == 0 {
			status = rsNoMemory
		}
		if wb {
			s.wbErrs++
		} else {
			p.inj = &rsInjected{status: status, vlen: vlen, value: value}
			s.unclaimed++
		}
	} else {
		cell := s.memory(ks.key)
		switch o.op {
		case rsGet:
			if cell.found {
				vlen, value = cell.vlen, cell.val
			} else {
				status = rsNotFound
			}
		case rsPut:
			s.store[ks.key] = rsCell{found: true, vlen: o.vlen, val: o.value}
		case rsDelete:
			if !cell.found {
				status = rsNotFound
			}
			s.store[ks.key] = rsCell{}
		default:
			var after rsCell
			status, vlen, value, after = rsVector(o.op, o.delta, cell)
			s.store[ks.key] = after
		}
	}
	if wb {
		s.writebacks++
	}
	lat := s.p.latMin + s.prng.Uint64N(s.p.latMax-s.p.latMin+1)
	s.cplPush(rsCpl{due: c + lat, seq: s.cplSeq, id: id, status: status, vlen: vlen, value: value})
	s.cplSeq++
	s.inflight[id] = rsPipeOp{valid: true, cycle: c, op: o.op, value: o.value, slot: ks.slot, ks: ks, p: p}
	s.slotOp[ks.slot] = int(id)
	s.nInflight++
	s.lastActivity = c
	s.log(rsEvent{cycle: c, kind: 'P', a: id, op: o.op, v: o.value, vlen: o.vlen, slot: ks.slot, key: ks.key})
	return nil
}

// response checks the response of cycle c against the sequential
// reference of its key.
func (s *rsStim) response(c uint64) error {
	o := &s.out
	p := s.byTag[o.respTag]
	if p == nil {
		return fmt.Errorf("response with tag %#04x (%s vlen %d %#x), which no unanswered request carries: answered twice, or never asked",
			o.respTag, rsStatusName(o.respStatus), o.respVlen, o.respValue)
	}
	ks := p.ks
	if ks.pending[0] != p {
		q := ks.pending[0]
		return fmt.Errorf("per-key order: response to tag %#04x (%s, accepted at cycle %d) of key %s while tag %#04x (%s, accepted earlier, at cycle %d) is unanswered",
			p.tag, s.describeReq(p), p.cycle, rsKeyHex(ks.key), q.tag, s.describeReq(q), q.cycle)
	}
	if p.sent && (p.cplAt == 0 || p.cplAt >= c) {
		return fmt.Errorf("response to tag %#04x (%s, key %s) at cycle %d: its operation went to the pipeline at cycle %d and has not completed yet",
			p.tag, s.describeReq(p), rsKeyHex(ks.key), c, p.sentAt)
	}
	ks.pending[0] = nil
	ks.pending = ks.pending[1:]
	s.byTag[p.tag] = nil
	p.answered = true
	s.waiting--
	s.log(rsEvent{cycle: c, kind: 'R', a: p.tag, op: p.op, st: o.respStatus, v: o.respValue, vlen: o.respVlen, slot: ks.slot, key: ks.key})

	found, vl, val := ks.found, ks.vlen, ks.val
	var es, evl, ev uint64
	why := ""
	if e := p.inj; e != nil {
		// The pipeline failed this request's operation: it answers with the
		// pipeline's code (and a vector operation's length and value) and
		// changes nothing.
		s.unclaimed--
		es = e.status
		if rsIsVector(p.op) {
			evl, ev = e.vlen, e.value
		}
		why = fmt.Sprintf(", since the pipeline answered %s to its operation issued at cycle %d", rsStatusName(e.status), p.sentAt)
	} else {
		var err error
		if es, evl, ev, err = s.reference(ks, p); err != nil {
			return err
		}
		if es == rsLambdaFault && p.op == rsAtomic && p.fid >= s.nfid {
			s.badFids++
		}
	}
	if o.respStatus != es || o.respVlen != evl || o.respValue != ev {
		return fmt.Errorf("response tag %#04x (%s key %s, slot %d, accepted at cycle %d): expected %s vlen %d %#x%s, got %s vlen %d %#x (the key before it: found=%v vlen %d value=%#x, after %d earlier requests this epoch)",
			p.tag, s.describeReq(p), rsKeyHex(ks.key), ks.slot, p.cycle, rsStatusName(es), evl, ev, why, rsStatusName(o.respStatus), o.respVlen, o.respValue, found, vl, val, ks.ops-uint64(len(ks.pending))-1)
	}
	switch {
	case p.inj != nil:
		s.errPassed++
	case p.op == rsAtomic && p.fid < s.nfid && es != rsLambdaFault:
		s.lambdaHits[p.fid]++
	case rsIsVector(p.op):
		s.vecOps++
	case p.op == rsGet && evl > 8:
		s.longReads++
	}
	s.responses++
	if c >= s.p.measureFrom {
		s.winResp++
		s.maxWait = max(s.maxWait, c-p.cycle)
	}
	s.lastActivity = c
	return nil
}

// reference executes p on its key's sequential state (rs.md §4 on memory
// rather than a cache; a GET of a long value answers its length and first
// 8 bytes; the vector operations as the pipeline stand-in runs them).
func (s *rsStim) reference(ks *rsKeyState, p *rsPending) (status, vlen, value uint64, err error) {
	switch p.op {
	case rsGet:
		if ks.found {
			return rsOK, ks.vlen, ks.val, nil
		}
		return rsNotFound, 0, 0, nil
	case rsPut:
		ks.found, ks.vlen, ks.val = true, p.vlen, p.value
		return rsOK, 0, 0, nil
	case rsDelete:
		status = rsNotFound
		if ks.found {
			status = rsOK
		}
		ks.found, ks.vlen, ks.val = false, 0, 0
		return status, 0, 0, nil
	case rsAtomic:
	default:
		var after rsCell
		status, vlen, value, after = rsVector(p.op, p.delta, rsCell{found: ks.found, vlen: ks.vlen, val: ks.val})
		ks.found, ks.vlen, ks.val = after.found, after.vlen, after.val
		return status, vlen, value, nil
	}
	if p.fid >= s.nfid {
		return rsLambdaFault, 0, 0, nil
	}
	// UPDATE_S2S reads the stored value, of any length, as its first 8
	// bytes cut to the scalar width; the new value is 8 bytes (rs.md §4).
	status, old := rsNotFound, uint64(0)
	if ks.found {
		status, old = rsOK, ks.val&s.wmask
	}
	nv, fault, err := s.eval(p.fid, old, p.delta, p.cmp, p.swap)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("λ %s: %v", s.fidNames[p.fid], err)
	}
	if fault {
		s.faults++
		return rsLambdaFault, 0, 0, nil
	}
	ks.found, ks.vlen, ks.val = true, 8, nv
	return status, 8, old, nil
}

// epochControl ends an epoch by draining the station, then checks memory
// against the reference; it returns false when the run is complete.
func (s *rsStim) epochControl(cycle uint64, observed bool) (bool, error) {
	if !s.draining {
		end := s.p.maxOps > 0 && s.issued >= s.p.maxOps
		end = end || (s.p.epochOps > 0 && s.epochAccepted >= s.p.epochOps)
		end = end || (s.p.epochCycles > 0 && cycle-s.epochStart >= s.p.epochCycles)
		if end {
			s.draining, s.drainFrom = true, cycle
		}
		return true, nil
	}
	if s.holding || s.waiting > 0 || len(s.cpls) > 0 || s.out.pipeValid || cycle-s.lastActivity <= s.quiet {
		if cycle-s.drainFrom > s.starveLim {
			return false, fmt.Errorf("cycle %d: drain started at cycle %d has not finished: %d requests unanswered, %d pipeline operations in flight, %d completions queued",
				cycle, s.drainFrom, s.waiting, s.nInflight, len(s.cpls))
		}
		return true, nil
	}
	if observed && !s.out.reqReady {
		return false, fmt.Errorf("cycle %d: nothing has happened for %d cycles (no request unanswered, no pipeline operation in flight) but req_ready is 0", cycle-1, cycle-1-s.lastActivity)
	}
	if s.unclaimed != 0 {
		return false, fmt.Errorf("cycle %d: %d error completions of client operations never became error responses", cycle, s.unclaimed)
	}
	for key, ks := range s.keys {
		mem := s.memory(key)
		if mem.found != ks.found || (ks.found && (mem.vlen != ks.vlen || mem.val != ks.val)) {
			return false, fmt.Errorf("cycle %d, after draining epoch %d: key %s (slot %d, %d requests and %d write-backs this epoch): memory holds found=%v vlen %d value=%#x, the sequential reference found=%v vlen %d value=%#x",
				cycle, s.epoch, rsKeyHex(key), ks.slot, ks.ops, ks.writebacks, mem.found, mem.vlen, mem.val, ks.found, ks.vlen, ks.val)
		}
	}
	s.drains++
	clear(s.keys)
	if s.p.maxOps > 0 && s.issued >= s.p.maxOps {
		s.done = true
		return false, nil
	}
	s.startEpoch(cycle)
	return true, nil
}

func (s *rsStim) startEpoch(cycle uint64) {
	s.epoch++
	s.phaseIdx = s.rng.IntN(len(s.p.phases))
	s.picker = s.p.phases[s.phaseIdx].keys(s)
	s.epochStart, s.epochAccepted, s.draining = cycle, 0, false
}

// pipeReady draws pipe_ready: 0 in stallPPM of cycles, and in bursts.
func (s *rsStim) pipeReady() bool {
	if s.burstLeft > 0 {
		s.burstLeft--
		return false
	}
	if s.p.burstPPM > 0 && s.rdy.Uint32N(1_000_000) < s.p.burstPPM {
		s.burstLeft = s.rdy.Uint64N(max(s.p.burstMax, 1))
		return false
	}
	return s.p.stallPPM == 0 || s.rdy.Uint32N(1_000_000) >= s.p.stallPPM
}

// drive sets the inputs of cycle: the client's request (held until
// accepted), pipe_ready and at most one completion.
func (s *rsStim) drive(cycle uint64, in []uint64) {
	ph := &s.p.phases[s.phaseIdx]
	if !s.holding && !s.draining && s.rng.Uint32N(1000) < ph.rate {
		s.newRequest(ph)
	}
	s.last.reqValid = s.holding
	s.last.pipeReady = s.pipeReady()
	s.last.cplValid = false
	if len(s.cpls) > 0 && s.cpls[0].due <= cycle {
		e := s.cplPop()
		s.last.cplValid, s.last.cplID, s.last.cplStatus, s.last.cplVlen, s.last.cplValue = true, e.id, e.status, e.vlen, e.value
		f := &s.inflight[e.id]
		s.slotOp[f.slot] = -1
		s.nInflight--
		if rsIsError(e.status) {
			s.errCpls++
		}
		if f.p != nil {
			f.p.cplAt = cycle
		}
		s.lastActivity = cycle
		s.log(rsEvent{cycle: cycle, kind: 'C', a: e.id, op: f.op, st: e.status, v: e.value, vlen: e.vlen, slot: f.slot, key: f.ks.key})
		f.valid, f.ks, f.p = false, nil, nil
	}
	s.ports.encodeIn(in, &s.last)
}

// newRequest draws the next request; s.last.req keeps the bus image until
// it is accepted.
func (s *rsStim) newRequest(ph *rsPhase) {
	r := s.rng
	key, slot := s.keyOf(s.picker.pick(r))
	ks := s.keyState(key, slot)
	var total uint32
	for _, w := range ph.mix {
		total += w
	}
	x := r.Uint32N(total)
	var op uint64
	for op = 0; op < 7 && x >= ph.mix[op]; op++ {
		x -= ph.mix[op]
	}
	garbage := s.p.garbagePPM > 0 && r.Uint32N(1_000_000) < s.p.garbagePPM
	tag := r.Uint64N(1 << 16)
	for s.byTag[tag] != nil {
		tag = (tag + 1) & 0xffff
	}
	q := &s.last.req
	*q = rsOp{op: op, klen: uint64(len(key)), slot: slot, tag: tag, key: q.key, aux: r.Uint64() & s.auxMask}
	clear(q.key)
	for i := 0; i < len(key); i++ {
		q.key[i/8] |= uint64(key[i]) << (8 * (i % 8))
	}
	if garbage {
		// Bytes past klen and vlen (and the fields this op does not use)
		// carry noise the station must ignore — or, for the operands,
		// pass on unchanged.
		var noise [32]uint64
		for w := range q.key {
			noise[w%32] = r.Uint64()
		}
		for w := range q.key {
			q.key[w] |= noise[w%32] &^ rsByteMask(len(key), w)
		}
		if bits := 8 * s.k; bits%64 != 0 {
			q.key[len(q.key)-1] &= 1<<(bits%64) - 1
		}
		q.fid, q.vlen, q.value = r.Uint64N(s.fidLim), r.Uint64()&s.vlMask, r.Uint64()
		q.delta, q.cmp, q.swap = r.Uint64()&s.wmask, r.Uint64()&s.wmask, r.Uint64()&s.wmask
	}
	switch {
	case op == rsPut:
		q.vlen = s.shortLen(r)
		if s.vm > 8 && s.p.longPPM > 0 && r.Uint32N(1_000_000) < s.p.longPPM {
			q.vlen = 9 + r.Uint64N(uint64(s.vm-8))
		}
		q.value = s.value(r, q.vlen, garbage)
	case op == rsAtomic:
		q.fid = r.Uint64N(s.nfid)
		if len(ph.fids) > 0 {
			q.fid = ph.fids[r.IntN(len(ph.fids))]
		}
		if s.nfid < s.fidLim && s.p.badFidPPM > 0 && r.Uint32N(1_000_000) < s.p.badFidPPM {
			q.fid = s.nfid + r.Uint64N(s.fidLim-s.nfid)
		}
		q.delta = s.operand(r)
		// A compare-and-swap succeeds only if cmp is the current value:
		// guess it from the reference half the time.
		q.cmp = s.operand(r)
		if r.Uint32()&1 == 0 {
			q.cmp = ks.val & s.wmask
		}
		q.swap = s.value(r, 8, false) & s.wmask
	case rsIsVector(op):
		q.fid = r.Uint64N(s.nfid)
		q.delta, q.cmp, q.swap = s.operand(r), s.operand(r), r.Uint64()&s.wmask
		q.vlen = r.Uint64N(9)
		q.value = s.value(r, q.vlen, garbage)
	}
	p := &rsPending{seq: s.issued, tag: tag, op: op, ks: ks,
		fid: q.fid, vlen: q.vlen, value: q.value & rsValMask(q.vlen), delta: q.delta, cmp: q.cmp, swap: q.swap, aux: q.aux}
	s.curP, s.holding = p, true
	s.issued++
}

func rsByteMask(klen, w int) uint64 {
	n := klen - 8*w
	switch {
	case n >= 8:
		return ^uint64(0)
	case n <= 0:
		return 0
	}
	return 1<<(8*uint(n)) - 1
}

// shortLen draws a short value's length: 8 (a scalar) half the time.
func (s *rsStim) shortLen(r *rand.Rand) uint64 {
	if r.Uint32()&1 == 0 {
		return 8
	}
	return r.Uint64N(8)
}

// value draws a value's first 8 bytes for length vlen: small numbers half
// the time; with garbage, noise past vlen that the station must clear.
func (s *rsStim) value(r *rand.Rand, vlen uint64, garbage bool) uint64 {
	v := r.Uint64()
	if r.Uint32()&1 == 0 {
		v = r.Uint64N(1000)
	}
	v &= rsValMask(vlen)
	if garbage {
		v |= r.Uint64() &^ rsValMask(vlen)
	}
	return v
}

// operand favours small positive and negative numbers: shift counts, small
// increments, and the sign boundaries of max/min/sat_add; within the scalar
// width (the operand ports are W bits, microarch.md §1.4).
func (s *rsStim) operand(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return r.Uint64N(64) & s.wmask
	case 1:
		return -(1 + r.Uint64N(64)) & s.wmask
	case 2:
		return ((s.wmask >> 1) - r.Uint64N(4)) & s.wmask
	}
	return r.Uint64() & s.wmask
}

func (s *rsStim) cplPush(e rsCpl) {
	h := append(s.cpls, e)
	for i := len(h) - 1; i > 0; {
		j := (i - 1) / 2
		if !rsCplLess(h[i], h[j]) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	s.cpls = h
}

func (s *rsStim) cplPop() rsCpl {
	h := s.cpls
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && rsCplLess(h[l], h[m]) {
			m = l
		}
		if l+1 < n && rsCplLess(h[l+1], h[m]) {
			m = l + 1
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.cpls = h
	return top
}

func rsCplLess(a, b rsCpl) bool { return a.due < b.due || (a.due == b.due && a.seq < b.seq) }

func (s *rsStim) Progress() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.responses
}

// Points counts the corners of rs.md §5 reached. Those only the station's
// state shows come from the shadow, and stop counting if it ever disagreed
// with the golden model.
func (s *rsStim) Points() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	pts := map[string]uint64{
		"rs.writeback":         s.writebacks,
		"rs.error_completion":  s.errCpls,
		"rs.writeback_error":   s.wbErrs,
		"rs.invalid_fid":       s.badFids,
		"rs.lambda_fault":      s.faults,
		"rs.vector_op":         s.vecOps,
		"rs.error_passed":      s.errPassed,
		"rs.long_value_read":   s.longReads,
		"rs.pipe_backpressure": s.pipeHeld,
	}
	if st := s.shadow; st != nil {
		pts["rs.chain_ge_8"] = st.nChain8
		pts["rs.walk_forward"] = st.nWalkFwd
		pts["rs.arrival_forward"] = st.nArrivalFwd
		pts["rs.false_dependency"] = st.nFalseDep
		pts["rs.ids_exhausted"] = s.idsExhausted
		pts["rs.long_put_queued"] = st.nLongPutQueued
		pts["rs.walk_stopped"] = st.nWalkStopped
		pts["rs.completion_stalled"] = st.nStalled
	}
	for i, n := range s.fidNames {
		pts["rs.lambda."+n] = s.lambdaHits[i]
	}
	return pts
}

// ShadowLost says where the station shadow first disagreed with the golden
// model ("" if never): a difference between two readings of rs.md.
func (s *rsStim) ShadowLost() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shadowLost
}

func (s *rsStim) describeReq(p *rsPending) string {
	switch {
	case p.op == rsPut:
		return fmt.Sprintf("PUT vlen %d %#x", p.vlen, p.value)
	case p.op == rsAtomic:
		name := "invalid fid"
		if p.fid < s.nfid {
			name = s.fidNames[p.fid]
		}
		return fmt.Sprintf("ATOMIC fid %d (%s) delta=%#x cmp=%#x swap=%#x", p.fid, name, p.delta, p.cmp, p.swap)
	case rsIsVector(p.op):
		return fmt.Sprintf("%s fid %d delta=%#x vlen %d %#x", rsOpName(p.op), p.fid, p.delta, p.vlen, p.value)
	}
	return rsOpName(p.op)
}

func rsKeyHex(key string) string { return fmt.Sprintf("%x (len %d)", key, len(key)) }

// Describe lists the station's traffic up to cycle from the event log, and
// where the stimulus stands (it runs ahead of the comparison).
func (s *rsStim) Describe(cycle uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for n := s.evN; n > 0 && s.evN-n < rsEventLog && len(lines) < 24; n-- {
		e := s.events[(n-1)%rsEventLog]
		if e.cycle > cycle {
			continue
		}
		if e.cycle+256 < cycle {
			break
		}
		var d string
		switch e.kind {
		case 'A':
			d = fmt.Sprintf("request accepted  tag %#04x %s", e.a, rsOpName(e.op))
			if e.op == rsAtomic || rsIsVector(e.op) {
				d += fmt.Sprintf(" fid %d", e.st)
			}
			if e.op == rsPut || rsIsVector(e.op) {
				d += fmt.Sprintf(" vlen %d %#x", e.vlen, e.v)
			}
		case 'P':
			d = fmt.Sprintf("pipeline op       id %d %s", e.a, rsOpName(e.op))
			if e.a >= uint64(s.m) {
				d += " (write-back)"
			}
			if e.op == rsPut || rsIsVector(e.op) {
				d += fmt.Sprintf(" vlen %d %#x", e.vlen, e.v)
			}
		case 'C':
			d = fmt.Sprintf("completion        id %d %s vlen %d %#x", e.a, rsStatusName(e.st), e.vlen, e.v)
		case 'R':
			d = fmt.Sprintf("response          tag %#04x %s vlen %d %#x", e.a, rsStatusName(e.st), e.vlen, e.v)
		}
		lines = append(lines, fmt.Sprintf("  cycle %d: %s key %s slot %d", e.cycle, d, rsKeyHex(e.key), e.slot))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kvd_rs traffic up to cycle %d (newest first):\n", cycle)
	if len(lines) == 0 {
		b.WriteString("  (none in the 256 cycles before)\n")
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, "stimulus at cycle %d: epoch %d (%s), %d requests unanswered, %d pipeline operations in flight, %d responses checked",
		s.lastObserved, s.epoch, s.p.phases[s.phaseIdx].name, s.waiting, s.nInflight, s.responses)
	if s.shadowLost != "" {
		fmt.Fprintf(&b, "; the station shadow disagreed with the golden model at %s", s.shadowLost)
	}
	return b.String()
}
