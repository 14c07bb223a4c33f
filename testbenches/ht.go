package testbenches

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/htengine"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/memsys"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/vector"
)

// The hash-table engine scenarios (docs/microarch/engine.md). The stimulus is
// the engine's whole environment: a client presenting GET/PUT/DELETE (and
// requests the engine must refuse), host memory behind the §1.7 port with
// random latency, gaps and back-pressure and rare error beats, and an
// allocator (golden/hashtable's SimpleAllocator) behind the slab port that
// answers one to four cycles late and sometimes refuses. The golden model is
// stepped by the bridge; the stimulus sees its predicted outputs one cycle
// later (prev) and reacts to them, as the real environment would react to
// the RTL's.
//
// Every response is checked against a map applied in response order: the
// engine serialises operations per index bucket, and operations on different
// buckets touch disjoint chains, so applying each response's operation when
// it arrives must reproduce the per-key arrival order. After each epoch the
// stimulus drains the engine and runs the table checker (hashtable.md §7)
// over host memory, the map and the allocator.

func init() {
	register(Scenario{
		Name: "ht",
		Doc: "hash-table engine: mixed GET/PUT/DELETE on a preloaded table, uniform and Zipf 0.99 keys of every length, inline and " +
			"out-of-line values, vector operations (UPDATE_S2V/V2V, REDUCE, FILTER; λ faults) checked against golden/vector, keys crowded into a few buckets (chains of 4+ buckets), refused requests, random memory latency and " +
			"back-pressure, rare read errors, allocator delays and refusals; drained and checked every epoch",
		Top:           func(config.Config) string { return "kvd_ht" },
		DefaultCycles: 3_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			s, err := newHTStim(cfg, seed, 0)
			if err != nil {
				return nil, nil, err
			}
			return s.m, s, nil
		},
		Points: htPoints,
	})
}

var htPoints = []string{
	"ht.get_hit", "ht.get_miss", "ht.put", "ht.delete_hit", "ht.delete_miss",
	"ht.refused_empty_key", "ht.refused_key_too_long", "ht.refused_value_too_long", "ht.refused_bad_op",
	"ht.no_memory", "ht.mem_error", "ht.contexts_full", "ht.chain_4", "ht.checked",
	"ht.vec_update", "ht.vec_reduce", "ht.vec_filter", "ht.vec_fault", "ht.vec_miss",
}

const (
	htEpochOps   = 200_000 // responses between drains and checks, at most
	htFirstEpoch = 4_000   // the first epoch; each next one is twice as long
	htPhaseOps   = 50_000  // responses per key-distribution phase
	htLog        = 1 << 12
	htHotBuckets = 4  // index buckets the crowded keys share
	htHotKeys    = 48 // keys per crowded bucket
	htColdKeys   = 6000
)

// Engine statuses (engine.md §1).
const (
	htOK = iota
	htNotFound
	htEmptyKey
	htKeyTooLong
	htValueTooLong
	htNoMemory
	htMemError
	htBadOp
	htLambdaFault
)

var htStatusName = [...]string{"OK", "NOT_FOUND", "EMPTY_KEY", "KEY_TOO_LONG", "VALUE_TOO_LONG", "NO_MEMORY", "MEM_ERROR", "BAD_OP", "LAMBDA_FAULT"}

// Engine operations (engine.md §1: the wire opcodes).
const (
	htOpGet    = 0
	htOpPut    = 1
	htOpDelete = 2
	htOpS2S    = 3 // the station's; the engine refuses it (BAD_OP)
	htOpS2V    = 4
	htOpV2V    = 5
	htOpReduce = 6
	htOpFilter = 7
)

type htReq struct {
	op          int
	tag         uint16
	key         []byte // as presented (klen may exceed K for a refused one)
	klen        int
	value       []byte
	vlen        int
	bucket, sec uint64 // the key-hash unit's outputs for the presented key bytes
	// vector operations: λ id and scalar operands (value/vlen carry V2V's Δ)
	fid, delta, cmp, swap uint64
	accepted              uint64
	// counts of refusals and error beats when it was accepted: NO_MEMORY
	// and MEM_ERROR are legal answers only if one happened since.
	refusals, errBeats uint64
}

type htRead struct {
	start uint64 // first cycle its data may appear
	beats [][4]uint64
}

type htStim struct {
	cfg   config.Config
	rpt   int // beats per read-data transfer (engine.read_bytes / 32)
	m     *htengine.Model
	p     htPorts
	rng   *rand.Rand
	mem   *hostmem.Memory
	alloc *hashtable.SimpleAllocator
	hash  *keyhash.Hasher
	k, v  int
	ev    *lambda.Evaluator // the λs at the element width, for vector ops
	vp    vector.Params

	// the client
	ref         map[string][]byte
	hot, cold   [][]byte
	pre         [][]byte
	zipf        *memsys.Zipf
	cur         *htReq // presented, not yet accepted
	outstanding map[uint16]*htReq
	nextTag     uint16
	responses   uint64
	budget      uint64 // responses, then drain, check and end (0: never)
	epochStart  uint64
	draining    bool
	drainFrom   uint64
	done        bool

	// host memory
	reads   []htRead
	beat    int
	errRate float64

	// allocator
	alPending bool
	alAt      uint64
	alClass   int
	refuseTil uint64
	refusals  uint64

	last   []uint64 // inputs driven in the previous cycle
	points map[string]uint64
	log    []string
}

func newHTStim(cfg config.Config, seed, budget uint64) (*htStim, error) {
	m, err := htengine.New(cfg)
	if err != nil {
		return nil, err
	}
	mem := hostmem.New(cfg.Memory.HostBytes)
	alloc, err := hashtable.NewSimpleAllocator(cfg, 0)
	if err != nil {
		return nil, err
	}
	ev, err := vector.NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	s := &htStim{
		cfg: cfg, rpt: max(1, cfg.Engine.ReadBytes/32), m: m, p: newHTPorts(model.MustLayout(m.Ports())),
		rng: rand.New(rand.NewPCG(seed, 0x68742d7374696d21)),
		mem: mem, alloc: alloc, hash: keyhash.NewHasher(cfg), ev: ev, vp: vector.ParamsOf(cfg),
		k: cfg.Key.MaxKeyBytes, v: cfg.Key.MaxValueBytes,
		outstanding: map[uint16]*htReq{},
		budget:      budget,
		errRate:     1.0 / 30_000,
		points:      map[string]uint64{},
		log:         make([]string, htLog),
	}
	s.last = make([]uint64, model.MustLayout(m.Ports()).InWords)
	// A backdoor preload of small inline KVs (about three per index bucket)
	// so that walks meet occupied buckets from the first request.
	tb, err := hashtable.New(cfg, mem, alloc)
	if err != nil {
		return nil, err
	}
	// 3 % of the sim preset's 16 MiB; a larger table gets the same number of
	// KVs, not the same fraction (3 % of the paper's 64 GiB is ~2e8 KVs and
	// more memory than the machine has).
	util := 0.03 * min(1, float64(16<<20)/float64(tb.TableBytes()))
	s.pre, err = hashtable.Preload(tb, hashtable.PreloadSpec{KeyBytes: min(8, s.k), ValueBytes: 2, Utilization: util, Seed: seed})
	if err != nil {
		return nil, err
	}
	s.ref = tb.Ref()
	s.cold = make([][]byte, htColdKeys)
	for i := range s.cold {
		s.cold[i] = s.randKey(1 + s.rng.IntN(s.k))
	}
	// Crowded keys: solved into a few index buckets, so that their chains
	// grow to several buckets.
	var targets [htHotBuckets]uint64
	for i := range targets {
		targets[i], _, _ = s.hash.Bytes(s.randKey(s.k))
	}
	for len(s.hot) < htHotBuckets*htHotKeys {
		if key := s.crowdKey(3+s.rng.IntN(s.k-2), targets[len(s.hot)%htHotBuckets]); key != nil {
			s.hot = append(s.hot, key)
		}
	}
	s.zipf = memsys.NewZipf(uint64(len(s.cold)), 0.99)
	return s, nil
}

// crowdKey returns a random key of n bytes whose bucket index is target, or
// nil when its last bytes cannot reach every index. Rejection sampling would
// take ~2^B hashes per key (2^28 for paper); instead, H3 being linear over
// GF(2) (docs/microarch.md §2), the index of a key of fixed length is
// index(prefix with a zero tail) XOR a linear map of the tail, and the tail
// is solved for by Gaussian elimination.
func (s *htStim) crowdKey(n int, target uint64) []byte {
	m := min(n, (s.cfg.BucketIndexBits()+7)/8+2) // tail bytes
	zero := make([]byte, n)
	z, _, _ := s.hash.Bytes(zero)
	// basis[p] is an image with leading bit p, and the tail bits making it.
	var basis [64]struct {
		img, tail uint64
		ok        bool
	}
	for j := 0; j < 8*m; j++ {
		zero[n-m+j/8] ^= 1 << (j % 8)
		img, _, _ := s.hash.Bytes(zero)
		zero[n-m+j/8] ^= 1 << (j % 8)
		img ^= z
		tail := uint64(1) << j
		for p := 63; p >= 0 && img != 0; p-- {
			if img>>p&1 == 0 {
				continue
			}
			if !basis[p].ok {
				basis[p].img, basis[p].tail, basis[p].ok = img, tail, true
				break
			}
			img ^= basis[p].img
			tail ^= basis[p].tail
		}
	}
	key := s.randKey(n)
	clear(key[n-m:])
	base, _, _ := s.hash.Bytes(key)
	need, tail := base^target, uint64(0)
	for p := 63; p >= 0; p-- {
		if need>>p&1 == 0 {
			continue
		}
		if !basis[p].ok {
			return nil
		}
		need ^= basis[p].img
		tail ^= basis[p].tail
	}
	for j := 0; j < m; j++ {
		key[n-m+j] = byte(tail >> (8 * j))
	}
	if b, _, _ := s.hash.Bytes(key); b != target {
		panic(fmt.Sprintf("ht stimulus: solved key hashes to bucket %d, not %d (is H3 still linear?)", b, target))
	}
	return key
}

func (s *htStim) randKey(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return b
}

// htPorts are the engine's port slots, resolved once: the stimulus reads
// and writes a few dozen ports every cycle.
type htPorts struct {
	reqValid, reqReady, reqOp, reqTag, reqKey, reqKlen, reqVlen, reqValue, reqBucket, reqSec model.Slot
	reqFid, reqDelta, reqCmp, reqSwap                                                        model.Slot
	rspValid, rspTag, rspStatus, rspVlen, rspValue                                           model.Slot
	alValid, alReady, alOp, alClass, alPtr, alRspValid, alRspOK, alRspPtr                    model.Slot
	rdValid, rdReady, rdAddr, rdBeats                                                        model.Slot
	rdataValid, rdataReady, rdata, rdataLast, rdataErr                                       model.Slot
	wrValid, wrReady, wrAddr, wrData                                                         model.Slot
}

func newHTPorts(l *model.Layout) htPorts {
	m := l.MustSlot
	return htPorts{
		reqValid: m("req_valid"), reqReady: m("req_ready"), reqOp: m("req_op"), reqTag: m("req_tag"), reqKey: m("req_key"),
		reqKlen: m("req_klen"), reqVlen: m("req_vlen"), reqValue: m("req_value"), reqBucket: m("req_bucket"), reqSec: m("req_sec"),
		reqFid: m("req_fid"), reqDelta: m("req_delta"), reqCmp: m("req_cmp"), reqSwap: m("req_swap"),
		rspValid: m("rsp_valid"), rspTag: m("rsp_tag"), rspStatus: m("rsp_status"), rspVlen: m("rsp_vlen"), rspValue: m("rsp_value"),
		alValid: m("al_valid"), alReady: m("al_ready"), alOp: m("al_op"), alClass: m("al_class"), alPtr: m("al_ptr"),
		alRspValid: m("al_rsp_valid"), alRspOK: m("al_rsp_ok"), alRspPtr: m("al_rsp_ptr"),
		rdValid: m("mem_rd_valid"), rdReady: m("mem_rd_ready"), rdAddr: m("mem_rd_addr"), rdBeats: m("mem_rd_beats"),
		rdataValid: m("mem_rdata_valid"), rdataReady: m("mem_rdata_ready"), rdata: m("mem_rdata"),
		rdataLast: m("mem_rdata_last"), rdataErr: m("mem_rdata_err"),
		wrValid: m("mem_wr_valid"), wrReady: m("mem_wr_ready"), wrAddr: m("mem_wr_addr"), wrData: m("mem_wr_data"),
	}
}

func htSet(in []uint64, sl model.Slot, v uint64) { in[sl.Off] = v & model.Mask(min(64, sl.Width)) }

func htGet(w []uint64, sl model.Slot) uint64 {
	return model.Get(w[sl.Off:sl.Off+sl.Words], 0, min(64, sl.Width))
}

func htSetBytes(in []uint64, sl model.Slot, b []byte) { packWords(in[sl.Off:sl.Off+sl.Words], b) }

func htGetBytes(w []uint64, sl model.Slot, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w[sl.Off+i/8] >> (8 * uint(i%8)))
	}
	return b
}

func (s *htStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if s.done {
		return false, nil
	}
	if prev != nil {
		if err := s.observe(cycle-1, s.last, prev); err != nil {
			return false, err
		}
	}
	if s.draining {
		if len(s.outstanding) == 0 && s.cur == nil && len(s.reads) == 0 && !s.alPending {
			if err := s.check(cycle); err != nil {
				return false, err
			}
			s.draining = false
			s.epochStart = s.responses
			if s.budget > 0 && s.responses >= s.budget {
				s.done = true
				return false, nil
			}
		} else if cycle-s.drainFrom > 200_000 {
			return false, fmt.Errorf("ht: %d operations still outstanding %d cycles after the drain began", len(s.outstanding), cycle-s.drainFrom)
		}
	} else if s.responses-s.epochStart >= min(uint64(htEpochOps), htFirstEpoch<<min(s.points["ht.checked"], 8)) || (s.budget > 0 && s.responses >= s.budget) {
		s.draining, s.drainFrom = true, cycle
	}
	clear(in)
	s.drive(cycle, in)
	copy(s.last, in)
	return true, nil
}

// drive sets the inputs of cycle c from the environment's state.
func (s *htStim) drive(c uint64, in []uint64) {
	// client
	if s.cur == nil && !s.draining && s.rng.IntN(8) != 0 {
		s.cur = s.newReq()
	}
	if r := s.cur; r != nil {
		htSet(in, s.p.reqValid, 1)
		htSet(in, s.p.reqOp, uint64(r.op))
		htSet(in, s.p.reqTag, uint64(r.tag))
		htSetBytes(in, s.p.reqKey, r.key[:min(len(r.key), s.k)])
		htSet(in, s.p.reqKlen, uint64(r.klen))
		htSet(in, s.p.reqVlen, uint64(r.vlen))
		htSetBytes(in, s.p.reqValue, r.value[:min(len(r.value), s.v)])
		htSet(in, s.p.reqBucket, r.bucket)
		htSet(in, s.p.reqSec, r.sec)
		htSet(in, s.p.reqFid, r.fid)
		htSet(in, s.p.reqDelta, r.delta)
		htSet(in, s.p.reqCmp, r.cmp)
		htSet(in, s.p.reqSwap, r.swap)
	}
	// host memory: random back-pressure; read data in order, after the
	// read's latency, with gaps
	htSet(in, s.p.rdReady, b2u(s.rng.IntN(10) != 0))
	htSet(in, s.p.wrReady, b2u(s.rng.IntN(8) != 0))
	if len(s.reads) > 0 && s.reads[0].start <= c && s.rng.IntN(7) != 0 {
		// A transfer: one beat, or two on the wide port (docs/microarch.md
		// §1.7: beats 2k and 2k+1, an odd last beat alone with zeros above).
		r := &s.reads[0]
		htSet(in, s.p.rdataValid, 1)
		for i := 0; i < s.rpt && s.beat+i < len(r.beats); i++ {
			copy(in[s.p.rdata.Off+4*i:s.p.rdata.Off+4*i+4], r.beats[s.beat+i][:])
		}
		htSet(in, s.p.rdataLast, b2u(s.beat+s.rpt >= len(r.beats)))
		if s.rng.Float64() < s.errRate {
			htSet(in, s.p.rdataErr, 1)
		}
	}
	// allocator: answers 1..4 cycles after it took an alloc, not ready
	// while one waits (as kvd_slab), otherwise mostly ready
	if s.alPending && c >= s.alAt {
		htSet(in, s.p.alRspValid, 1)
		if c < s.refuseTil {
			s.refusals++
		} else if ptr, ok := s.alloc.Alloc(s.alClass); ok {
			htSet(in, s.p.alRspOK, 1)
			htSet(in, s.p.alRspPtr, ptr)
		} else {
			s.refusals++
		}
		s.alPending = false
	} else if !s.alPending {
		htSet(in, s.p.alReady, b2u(s.rng.IntN(10) != 0))
	}
	// now and then the allocator refuses everything for a while
	if c%400_000 == 60_000 {
		s.refuseTil = c + 3_000
	}
}

// newReq draws the next request: a key (crowded, preloaded, or Zipf/uniform
// over the cold pool by phase), an operation and a value.
func (s *htStim) newReq() *htReq {
	r := &htReq{tag: s.nextTag, refusals: s.refusals}
	s.nextTag++
	for s.outstanding[s.nextTag] != nil {
		s.nextTag++
	}
	switch x := s.rng.IntN(100); {
	case x < 15:
		r.key = s.hot[s.rng.IntN(len(s.hot))]
	case x < 25:
		r.key = s.pre[s.rng.IntN(len(s.pre))]
	case (s.responses/htPhaseOps)%2 == 1:
		r.key = s.cold[s.zipf.Rank(s.rng)]
	default:
		r.key = s.cold[s.rng.IntN(len(s.cold))]
	}
	r.klen = len(r.key)
	switch x := s.rng.IntN(1000); {
	case x < 440:
		r.op = 0
	case x < 840:
		r.op = 1
	case x < 990:
		r.op = 2
	case x < 993:
		r.op = s.rng.IntN(3)
		r.klen = 0
	case x < 996:
		r.op = s.rng.IntN(3)
		r.klen = s.k + 1 + s.rng.IntN(int(model.Mask(s.p.reqKlen.Width))-s.k)
		r.key = s.randKey(r.klen)
	case x < 998:
		r.op = []int{htOpPut, htOpV2V}[s.rng.IntN(2)]
		r.vlen = s.v + 1 + s.rng.IntN(int(model.Mask(s.p.reqVlen.Width))-s.v)
		r.value = s.randKey(r.vlen)
		return s.hashed(r)
	default:
		r.op = htOpS2S
	}
	// vector operations on the same keys (their values are whatever the
	// PUTs stored: inline and out-of-line, any length)
	if r.op != htOpS2S && r.klen > 0 && r.klen <= s.k && s.rng.IntN(100) < 15 {
		r.op = htOpS2V + s.rng.IntN(4)
		s.vecOperands(r)
		return s.hashed(r)
	}
	if r.op == htOpPut {
		switch x := s.rng.IntN(100); {
		case x < 50:
			r.vlen = s.rng.IntN(max(1, 50-r.klen) + 1)
		case x < 85:
			r.vlen = 30 + s.rng.IntN(200)
		default:
			r.vlen = 200 + s.rng.IntN(s.v-200+1)
		}
		r.vlen = min(r.vlen, s.v)
		r.value = s.randKey(r.vlen)
	}
	return s.hashed(r)
}

// vecOperands draws a vector operation's λ id (now and then one past the
// last: LAMBDA_FAULT), its scalars (edge values a quarter of the time) and,
// for UPDATE_V2V, a Δ vector shorter than, as long as or longer than most
// stored values.
func (s *htStim) vecOperands(r *htReq) {
	r.fid = uint64(s.rng.IntN(s.vp.N))
	if unknown := 1<<s.vp.F - s.vp.N; unknown > 0 && s.rng.IntN(40) == 0 {
		r.fid = uint64(s.vp.N + s.rng.IntN(unknown))
	}
	scalar := func() uint64 {
		m := model.Mask(s.vp.E)
		switch s.rng.IntN(8) {
		case 0:
			return []uint64{0, 1, 2, m, m >> 1, m>>1 + 1}[s.rng.IntN(6)]
		case 1:
			return uint64(s.rng.IntN(4))
		}
		return s.rng.Uint64() & m
	}
	r.delta, r.cmp, r.swap = scalar(), scalar(), scalar()
	if r.op == htOpV2V {
		r.vlen = s.vp.EB * (1 + s.rng.IntN(s.vp.NE))
		if s.rng.IntN(4) == 0 {
			r.vlen = s.rng.IntN(s.v + 1) // not a whole number of elements
		}
		r.value = s.randKey(r.vlen)
	}
}

// hashed fills in the bucket and secondary hash of the key bytes the port
// carries (at most K; a refused key's hash is never used).
func (s *htStim) hashed(r *htReq) *htReq {
	r.bucket, r.sec, _ = s.hash.Bytes(r.key[:min(len(r.key), s.k)])
	return r
}

// observe accounts for cycle c: inputs in, the golden model's outputs out.
func (s *htStim) observe(c uint64, in, out []uint64) error {
	var ev []string
	if htGet(in, s.p.reqValid) == 1 {
		if htGet(out, s.p.reqReady) == 1 {
			r := s.cur
			r.accepted, r.errBeats = c, s.points["ht.mem_error_beats"]
			s.outstanding[r.tag] = r
			s.cur = nil
			ev = append(ev, fmt.Sprintf("accept tag %d %s klen %d vlen %d", r.tag, htOpName(r.op), r.klen, r.vlen))
		} else {
			s.points["ht.contexts_full"]++
		}
	}
	if htGet(out, s.p.rspValid) == 1 {
		if err := s.response(c, out); err != nil {
			return fmt.Errorf("cycle %d: %v", c, err)
		}
		ev = append(ev, fmt.Sprintf("response tag %d %s", htGet(out, s.p.rspTag), htStatusName[htGet(out, s.p.rspStatus)]))
	}
	if htGet(out, s.p.rdValid) == 1 && htGet(in, s.p.rdReady) == 1 {
		addr, beats := int64(htGet(out, s.p.rdAddr)), int(htGet(out, s.p.rdBeats))
		if beats < 1 || beats > 16 || addr%32 != 0 || addr+int64(32*beats) > s.mem.Size() {
			return fmt.Errorf("cycle %d: read of %d beats at %#x is outside the §1.7 port's rules or host memory", c, beats, addr)
		}
		rd := htRead{start: c + 1 + uint64(s.latency())}
		for b := range beats {
			rd.beats = append(rd.beats, s.mem.ReadBeat(addr+int64(32*b)))
		}
		s.reads = append(s.reads, rd)
		ev = append(ev, fmt.Sprintf("read %#x x%d", addr, beats))
	}
	if htGet(in, s.p.rdataValid) == 1 {
		if htGet(out, s.p.rdataReady) != 1 {
			return fmt.Errorf("cycle %d: mem_rdata_ready is 0 (engine.md §2: always 1)", c)
		}
		if htGet(in, s.p.rdataErr) == 1 {
			s.points["ht.mem_error_beats"]++
		}
		s.beat += s.rpt
		if s.beat >= len(s.reads[0].beats) {
			s.reads, s.beat = s.reads[1:], 0
		}
	}
	if htGet(out, s.p.wrValid) == 1 && htGet(in, s.p.wrReady) == 1 {
		addr := int64(htGet(out, s.p.wrAddr))
		if addr%32 != 0 || addr+32 > s.mem.Size() {
			return fmt.Errorf("cycle %d: write beat at %#x is outside the §1.7 port's rules or host memory", c, addr)
		}
		s.mem.WriteBeat(addr, [4]uint64(out[s.p.wrData.Off:s.p.wrData.Off+4]))
		ev = append(ev, fmt.Sprintf("write %#x", addr))
	}
	if htGet(out, s.p.alValid) == 1 && htGet(in, s.p.alReady) == 1 {
		class := int(htGet(out, s.p.alClass))
		if class >= len(s.cfg.Slab.Classes) {
			return fmt.Errorf("cycle %d: slab request for class %d, there are %d", c, class, len(s.cfg.Slab.Classes))
		}
		if htGet(out, s.p.alOp) == 0 {
			s.alPending, s.alClass = true, class
			s.alAt = c + 1
			if s.rng.IntN(5) == 0 {
				s.alAt += uint64(1 + s.rng.IntN(3))
			}
			ev = append(ev, fmt.Sprintf("alloc class %d", class))
		} else {
			ptr := htGet(out, s.p.alPtr)
			if err := s.free(ptr, class); err != nil {
				return fmt.Errorf("cycle %d: %v", c, err)
			}
			ev = append(ev, fmt.Sprintf("free %#x class %d", ptr, class))
		}
	}
	s.log[c%htLog] = strings.Join(ev, "; ")
	return nil
}

func (s *htStim) latency() int {
	if s.rng.IntN(50) == 0 {
		return 20 + s.rng.IntN(40)
	}
	return s.rng.IntN(8)
}

func (s *htStim) free(ptr uint64, class int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the engine freed an object the allocator does not have: %v", p)
		}
	}()
	s.alloc.Free(ptr, class)
	return nil
}

func htOpName(op int) string {
	return [...]string{"GET", "PUT", "DELETE", "UPDATE_S2S", "UPDATE_S2V", "UPDATE_V2V", "REDUCE", "FILTER"}[op]
}

// response checks one response against the map and applies its operation.
func (s *htStim) response(c uint64, out []uint64) error {
	tag := uint16(htGet(out, s.p.rspTag))
	r, ok := s.outstanding[tag]
	if !ok {
		return fmt.Errorf("response with tag %d, which is not outstanding (answered twice or never asked)", tag)
	}
	delete(s.outstanding, tag)
	s.responses++
	st := int(htGet(out, s.p.rspStatus))
	vlen := int(htGet(out, s.p.rspVlen))
	val := htGetBytes(out, s.p.rspValue, s.v)
	want, wantVal := s.expect(r)
	name := func(x int) string {
		if x < len(htStatusName) {
			return htStatusName[x]
		}
		return fmt.Sprint(x)
	}
	switch {
	case st == htNoMemory && r.op == 1 && want == htOK && s.refusals > r.refusals:
		s.points["ht.no_memory"]++
		return nil // legal: the allocator refused since it was accepted; nothing changes
	case st == htMemError && (want <= htNotFound || want == htLambdaFault) && s.points["ht.mem_error_beats"] > r.errBeats:
		s.points["ht.mem_error"]++
		return nil // legal: an error beat arrived since it was accepted; nothing changes
	case st != want:
		return fmt.Errorf("tag %d %s of key %x (klen %d, vlen %d, accepted at cycle %d): status %s, the reference says %s",
			tag, htOpName(r.op), r.key, r.klen, r.vlen, r.accepted, name(st), name(want))
	}
	if (r.op == htOpGet || r.op >= htOpS2V) && st == htOK {
		if vlen != len(wantVal) || !bytes.Equal(val[:min(vlen, len(val))], wantVal) {
			return fmt.Errorf("tag %d %s of key %x: value of %d bytes %x, the reference has %d bytes %x", tag, htOpName(r.op), r.key, vlen, val[:min(vlen, len(val))], len(wantVal), wantVal)
		}
	} else if vlen != 0 {
		return fmt.Errorf("tag %d %s: rsp_vlen %d, want 0", tag, htOpName(r.op), vlen)
	}
	if slices.ContainsFunc(val[min(vlen, len(val)):], func(b byte) bool { return b != 0 }) {
		return fmt.Errorf("tag %d: rsp_value has non-zero bytes past rsp_vlen %d", tag, vlen)
	}
	switch {
	case st == htLambdaFault:
		s.points["ht.vec_fault"]++
	case st >= htEmptyKey:
		s.points["ht.refused_"+strings.ToLower(htStatusName[st])]++
	case r.op >= htOpS2V && st == htNotFound:
		s.points["ht.vec_miss"]++
	case r.op == htOpS2V || r.op == htOpV2V:
		s.points["ht.vec_update"]++
		s.ref[string(r.key)] = s.vecExec(r, s.ref[string(r.key)]).New
	case r.op == htOpReduce:
		s.points["ht.vec_reduce"]++
	case r.op == htOpFilter:
		s.points["ht.vec_filter"]++
	case r.op == 0 && st == htOK:
		s.points["ht.get_hit"]++
	case r.op == 0:
		s.points["ht.get_miss"]++
	case r.op == 1:
		s.points["ht.put"]++
		s.ref[string(r.key)] = slices.Clone(r.value)
	case st == htOK:
		s.points["ht.delete_hit"]++
		delete(s.ref, string(r.key))
	default:
		s.points["ht.delete_miss"]++
	}
	return nil
}

// expect is the sequential reference: the status and value of r applied to
// the map now.
func (s *htStim) expect(r *htReq) (int, []byte) {
	switch {
	case r.op == htOpS2S:
		return htBadOp, nil
	case r.klen == 0:
		return htEmptyKey, nil
	case r.klen > s.k:
		return htKeyTooLong, nil
	case (r.op == htOpPut || r.op == htOpV2V) && r.vlen > s.v:
		return htValueTooLong, nil
	}
	v, ok := s.ref[string(r.key)]
	switch {
	case r.op == htOpPut:
		return htOK, nil
	case !ok:
		return htNotFound, nil
	case r.op == htOpGet:
		return htOK, v
	case r.op >= htOpS2V:
		res := s.vecExec(r, v)
		if res.Fault {
			return htLambdaFault, nil
		}
		return htOK, res.Resp
	default:
		return htOK, nil
	}
}

// vecExec is vector.md §3 on the stored value v.
func (s *htStim) vecExec(r *htReq, v []byte) vector.Result {
	res, err := vector.Exec(s.ev, vector.Request{Op: vector.Op(r.op - htOpS2V), Fid: r.fid, Value: v,
		Delta: r.delta, Cmp: r.cmp, Swap: r.swap, Dvec: r.value[:min(len(r.value), r.vlen)]})
	if err != nil {
		panic(fmt.Sprintf("ht stimulus: vector reference: %v", err))
	}
	return res
}

// check runs the table checker on the drained engine's memory.
func (s *htStim) check(c uint64) error {
	st, err := hashtable.Check(s.cfg, s.mem, s.ref, s.alloc)
	if err != nil {
		return fmt.Errorf("ht: table check after %d responses (cycle %d): %v", s.responses, c, err)
	}
	s.points["ht.checked"]++
	if st.MaxChain >= 4 {
		s.points["ht.chain_4"]++
	}
	s.points["ht.max_chain"] = uint64(max(int(s.points["ht.max_chain"]), st.MaxChain))
	return nil
}

func (s *htStim) Progress() uint64 { return s.responses }

// Requests is the number of responses checked.
func (s *htStim) Requests() uint64 { return s.responses }

func (s *htStim) Points() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range htPoints {
		out[p] = s.points[p]
	}
	return out
}

func (s *htStim) Describe(cycle uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations outstanding, %d responses checked; recent events:", len(s.outstanding), s.responses)
	for c := cycle - min(cycle, 8); c <= cycle; c++ {
		if e := s.log[c%htLog]; e != "" {
			fmt.Fprintf(&b, "\n  cycle %d: %s", c, e)
		}
	}
	return b.String()
}
