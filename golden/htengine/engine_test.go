package htengine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
)

func simConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Preset("sim")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPortsFollowTheDocument(t *testing.T) {
	type pw struct {
		name string
		dir  model.Dir
		w    int
		q    string
	}
	I, O := model.In, model.Out
	for _, tc := range []struct {
		preset string
		K, KL  int
		BI, AW int
		E, F   int
		set    func(*config.Config)
	}{
		{"sim", 16, 5, 14, 24, 32, 3, nil},
		{"paper", 32, 6, 28, 36, 32, 3, nil},
		// E follows vector.element_bits, F the number of λs (lambda.md §2.4).
		{"sim", 16, 5, 14, 24, 64, 2, func(c *config.Config) { c.Vector.ElementBits = 64; c.Atomic.Lambdas = c.Atomic.Lambdas[:2] }},
		{"sim", 16, 5, 14, 24, 8, 3, func(c *config.Config) { c.Vector.ElementBits = 8; c.Atomic.Lambdas = c.Atomic.Lambdas[:4] }},
	} {
		cfg, _ := config.Preset(tc.preset)
		if tc.set != nil {
			tc.set(&cfg)
		}
		want := []pw{
			{"req_valid", I, 1, ""}, {"req_ready", O, 1, ""}, {"req_op", I, 3, ""}, {"req_tag", I, 16, ""},
			{"req_key", I, 8 * tc.K, ""}, {"req_klen", I, tc.KL, ""}, {"req_vlen", I, 9, ""}, {"req_value", I, 8 * 478, ""},
			{"req_bucket", I, tc.BI, ""}, {"req_sec", I, 9, ""},
			{"req_fid", I, tc.F, ""}, {"req_delta", I, tc.E, ""}, {"req_cmp", I, tc.E, ""}, {"req_swap", I, tc.E, ""},
			{"rsp_valid", O, 1, ""}, {"rsp_tag", O, 16, "rsp_valid"}, {"rsp_status", O, 4, "rsp_valid"},
			{"rsp_vlen", O, 9, "rsp_valid"}, {"rsp_value", O, 8 * 478, "rsp_valid"},
			{"al_valid", O, 1, ""}, {"al_ready", I, 1, ""}, {"al_op", O, 1, "al_valid"}, {"al_class", O, 3, "al_valid"},
			{"al_ptr", O, 31, "al_valid"}, {"al_rsp_valid", I, 1, ""}, {"al_rsp_ok", I, 1, ""}, {"al_rsp_ptr", I, 31, ""},
			{"mem_rd_valid", O, 1, ""}, {"mem_rd_ready", I, 1, ""}, {"mem_rd_addr", O, tc.AW, "mem_rd_valid"},
			{"mem_rd_beats", O, 5, "mem_rd_valid"}, {"mem_rdata_valid", I, 1, ""}, {"mem_rdata_ready", O, 1, ""},
			{"mem_rdata", I, 8 * cfg.Engine.ReadBytes, ""}, {"mem_rdata_last", I, 1, ""}, {"mem_rdata_err", I, 1, ""},
			{"mem_wr_valid", O, 1, ""}, {"mem_wr_ready", I, 1, ""}, {"mem_wr_addr", O, tc.AW, "mem_wr_valid"},
			{"mem_wr_data", O, 256, "mem_wr_valid"},
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got []pw
		for _, p := range m.Ports() {
			got = append(got, pw{p.Name, p.Dir, p.Width, p.QualifiedBy})
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s ports:\n got %v\nwant %v", tc.preset, got, want)
		}
		if _, err := model.NewLayout(m.Ports()); err != nil {
			t.Error(err)
		}
	}
}

func TestNewRefusesWhatTheLayoutRefuses(t *testing.T) {
	cfg := simConfig(t)
	// Seven classes leave one spare type code of three bits (hashtable.md §2.5 rule 1).
	cfg.Slab.Classes = []int{32, 64, 128, 256, 512, 1024, 2048}
	cfg.Key.MaxValueBytes = 478
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the test configuration should pass config.Validate: %v", err)
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "slab.classes") {
		t.Fatalf("New accepted 7 classes with 3 type bits (err %v)", err)
	}
	cfg = simConfig(t)
	cfg.Slab.Classes = []int{32, 64, 128, 256, 512, 1024}
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted a 1024 B class (an object read is at most 16 beats)")
	}
	cfg = simConfig(t)
	cfg.Memory.PointerUnit = 16
	cfg.Slab.Classes = []int{16, 64, 128, 256, 512}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the test configuration should pass config.Validate: %v", err)
	}
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted a 16 B class (an object read is whole 32 B beats)")
	}
}

// A pointer counts memory.pointer_unit units (engine.md §6.1's note): a run
// with 64 B units.
func TestRandomPointerUnit64(t *testing.T) {
	eachReadWidth(t, func(t *testing.T, rw int) {
		cfg := simConfig(t)
		cfg.Engine.ReadBytes = rw
		cfg.Memory.PointerUnit = 64
		cfg.Memory.IndexBuckets = 4
		cfg.Slab.Classes = []int{64, 128, 256, 512}
		rng := rand.New(rand.NewPCG(64, 64))
		e := runRandom(t, cfg, defaultOpts(), 64, randomKeys(cfg, rng, 50), 1500)
		if e.m.l.BucketClass != 0 || e.m.Stats().MaxChainPos < 3 || e.coverage["DELETE unlink, out-of-line"]+e.coverage["DELETE unlink, inline"] == 0 {
			t.Fatalf("want chained buckets of class 0 and unlinks (coverage %v)", e.coverage)
		}
	})
}

// collidingKeys returns per keys in each of n index buckets (lengths cycling
// over 3..K), plus keys of lengths 1 and 2 wherever they hash.
func collidingKeys(cfg config.Config, rng *rand.Rand, n, per int) ([][]byte, []uint64) {
	h := keyhash.NewHasher(cfg)
	K := cfg.Key.MaxKeyBytes
	need := map[uint64]int{}
	var buckets []uint64
	for len(buckets) < n {
		b := rng.Uint64N(uint64(cfg.Memory.IndexBuckets))
		if _, dup := need[b]; !dup {
			need[b] = per
			buckets = append(buckets, b)
		}
	}
	seen := map[string]bool{}
	var keys [][]byte
	left := n * per
	L := min(3, K)
	for left > 0 {
		k := make([]byte, L)
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		b, _, _ := h.Bytes(k)
		if need[b] == 0 || seen[string(k)] {
			continue
		}
		need[b]--
		left--
		seen[string(k)] = true
		keys = append(keys, k)
		if L++; L > K {
			L = min(3, K)
		}
	}
	for L := 1; L <= min(2, K); L++ {
		for i := 0; i < 6; i++ {
			k := make([]byte, L)
			for j := range k {
				k[j] = byte(rng.Uint32())
			}
			if !seen[string(k)] {
				seen[string(k)] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, buckets
}

// randomKeys returns n distinct keys of every length 1..K in turn.
func randomKeys(cfg config.Config, rng *rand.Rand, n int) [][]byte {
	seen := map[string]bool{}
	var keys [][]byte
	for L := 1; len(keys) < n; L = L%cfg.Key.MaxKeyBytes + 1 {
		k := make([]byte, L)
		for i := range k {
			k[i] = byte(rng.Uint32() % 8) // few byte values: some equal prefixes
		}
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func (e *env) randomValue(klen int) []byte {
	V := e.p.V
	inl := max(0, min(V, e.cfg.Bucket.InlineThreshold-klen)) // longest inline value
	var n int
	switch e.rng.IntN(5) {
	case 0, 1:
		n = e.rng.IntN(inl + 1)
	case 2:
		n = inl + 1 + e.rng.IntN(max(1, min(80, V-inl)))
	default:
		n = inl + 1 + e.rng.IntN(max(1, V-inl))
	}
	v := make([]byte, min(n, V))
	for i := range v {
		v[i] = byte(e.rng.Uint32())
	}
	return v
}

// validOps are the operation codes the engine executes (all but 3).
var validOps = []int{OpGet, OpPut, OpDelete, OpUpdateS2V, OpUpdateV2V, OpReduce, OpFilter}

// randomRequest: GET, PUT, DELETE of keys, opt.vecP vector operations
// (randomVector), and 5 % refused requests of every kind.
func (e *env) randomRequest(keys [][]byte) *request {
	rng := e.rng
	key := keys[rng.IntN(len(keys))]
	if e.chance(0.05) {
		var r *request
		switch rng.IntN(4) {
		case 0:
			r = e.newRequest(validOps[rng.IntN(len(validOps))], nil, nil)
			r.refuse = StatusEmptyKey
		case 1:
			if e.p.K+1 > 1<<e.p.KL-1 {
				return e.randomRequest(keys)
			}
			r = e.newRequest(validOps[rng.IntN(len(validOps))], key, nil)
			r.klen = e.between(e.p.K+1, 1<<e.p.KL-1)
			r.refuse = StatusKeyTooLong
		case 2:
			if e.p.V+1 > 1<<e.p.VL-1 {
				return e.randomRequest(keys)
			}
			r = e.newRequest([]int{OpPut, OpUpdateV2V}[rng.IntN(2)], key, nil)
			r.vlen = e.between(e.p.V+1, 1<<e.p.VL-1)
			r.refuse = StatusValueTooLong
		default:
			r = e.newRequest(OpBad, key, nil)
			r.klen = rng.IntN(1 << e.p.KL)
			r.refuse = StatusBadOp
		}
		r.bucket = rng.Uint64N(uint64(e.cfg.Memory.IndexBuckets))
		r.sec = rng.Uint64N(1 << e.p.H)
		return r
	}
	if e.chance(e.opt.vecP) {
		return e.randomVector(key)
	}
	switch p := rng.IntN(100); {
	case p < 35:
		return e.newRequest(OpGet, key, nil)
	case p < 75:
		return e.newRequest(OpPut, key, e.randomValue(len(key)))
	default:
		return e.newRequest(OpDelete, key, nil)
	}
}

// randomScalar is an E-bit operand: small, small negative, a shift amount
// around E, or any pattern.
func (e *env) randomScalar() uint64 {
	E := e.p.E
	switch e.rng.IntN(6) {
	case 0, 1:
		return e.rng.Uint64N(40)
	case 2:
		return -(1 + e.rng.Uint64N(40)) & model.Mask(E)
	case 3:
		return uint64(E-2) + e.rng.Uint64N(4)
	}
	return e.rng.Uint64() & model.Mask(E)
}

// randomVector is a vector operation on key: every fid (N..2^F−1 unknown,
// 1 in 16), scalars that make set_bit fail now and then, V2V's Δ shorter
// than, as long as or longer than typical values, some elements
// negative.
func (e *env) randomVector(key []byte) *request {
	rng := e.rng
	op := OpUpdateS2V + rng.IntN(4)
	var dvec []byte
	if op == OpUpdateV2V {
		dvec = make([]byte, []int{0, rng.IntN(16), rng.IntN(64), rng.IntN(e.p.V + 1)}[rng.IntN(4)])
		for i := 0; i < len(dvec); i += e.p.EB {
			var d uint64
			if rng.IntN(8) == 0 {
				d = e.randomScalar()
			} else {
				d = rng.Uint64N(64)
			}
			for k := 0; k < e.p.EB && i+k < len(dvec); k++ {
				dvec[i+k] = byte(d >> (8 * k))
			}
		}
	}
	r := e.newRequest(op, key, dvec)
	if rng.IntN(16) == 0 && e.p.N < 1<<e.p.F {
		r.fid = uint64(e.between(e.p.N, 1<<e.p.F-1))
	} else {
		r.fid = rng.Uint64N(uint64(e.p.N))
	}
	r.delta, r.cmp, r.swap = e.randomScalar(), e.randomScalar(), e.randomScalar()
	return r
}

func runRandom(t *testing.T, cfg config.Config, opt envOpts, seed uint64, keys [][]byte, ops int) *env {
	t.Helper()
	e := newEnv(t, cfg, opt, seed)
	for i := 0; i < ops; i++ {
		e.send(e.randomRequest(keys))
	}
	e.runUntilDone(400 * ops)
	e.finish()
	s := e.m.Stats()
	t.Logf("engine.read_bytes %d: %d ops in %d cycles: latency mean %.1f max %d; read data %d transfers, %d beats; reads %d+%d writes %d+%d allocs %d frees %d; blocked %d; deepest position %d; MEM_ERROR %d NO_MEMORY %d; vector unit %d ops (%d checked), %d faults, %d written back",
		e.p.RW, ops, s.Cycles, float64(s.LatencySum)/float64(s.Responses), s.LatencyMax, s.ReadTransfers, s.ReadBeats, s.BucketReads, s.ObjectReads,
		s.BucketWrites, s.ObjectWrites, s.AllocsOK, s.Frees, s.Blocked, s.MaxChainPos, e.memErrors, e.noMems,
		s.VecOps, e.vecChecked, s.VecFaults, s.VecWriteBacks)
	// Every read is at least a bucket (2 beats): the wide port carries
	// fewer transfers than beats, the narrow one as many.
	if (e.p.RW == BeatBytes) != (s.ReadTransfers == s.ReadBeats) {
		t.Errorf("engine.read_bytes %d: %d transfers for %d beats", e.p.RW, s.ReadTransfers, s.ReadBeats)
	}
	return e
}

func requireCoverage(t *testing.T, e *env, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if e.coverage[k] == 0 {
			t.Errorf("no %q in the run (coverage %v)", k, e.coverage)
		}
	}
}

// The sim preset, with the keys of the run forced into three index buckets
// so that chains grow deep, plus short keys elsewhere.
func TestRandomSimCollidingBuckets(t *testing.T) {
	eachReadWidth(t, testRandomSimCollidingBuckets)
}

func testRandomSimCollidingBuckets(t *testing.T, rw int) {
	cfg := simConfig(t)
	cfg.Engine.ReadBytes = rw
	total := &env{coverage: map[string]int{}}
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			keys, _ := collidingKeys(cfg, rng, 3, 22)
			lengths := map[int]bool{}
			for _, k := range keys {
				lengths[len(k)] = true
			}
			if len(lengths) != cfg.Key.MaxKeyBytes {
				t.Fatalf("key lengths %v, want every length 1..%d", lengths, cfg.Key.MaxKeyBytes)
			}
			e := runRandom(t, cfg, defaultOpts(), seed, keys, 3000)
			if d := e.m.Stats().MaxChainPos; d < 3 {
				t.Errorf("deepest chain position %d: want chains of at least 4 buckets", d)
			}
			for k, v := range e.coverage {
				total.coverage[k] += v
			}
		})
	}
	requireCoverage(t, total, "GET status 0", "GET status 1", "PUT status 0", "DELETE status 0", "DELETE status 1",
		"PUT status 2", "GET status 3", "PUT status 4", "op3 status 7", "PUT inline", "PUT class 1", "PUT class 2",
		"PUT class 3", "PUT class 4", "DELETE unlink, out-of-line", "DELETE unlink, inline")
	for _, prefix := range []string{"PUT writes [obj]", "PUT writes [obj b", "PUT writes [obj new b", "PUT writes [new b0 b",
		"PUT writes [b0 b", "PUT writes [b1 b"} {
		n := 0
		for k, v := range total.coverage {
			if strings.HasPrefix(k, prefix) {
				n += v
			}
		}
		if n == 0 {
			t.Errorf("no plan of the shape %q", prefix)
		}
	}
}

// The most contexts the configuration allows, behind a memory slow enough
// that far more reads are outstanding than the 64 contexts the engine once
// had: the return queue and every per-context table must hold them all.
func TestManyContexts(t *testing.T) {
	eachReadWidth(t, func(t *testing.T, rw int) {
		cfg := simConfig(t)
		cfg.Engine.ReadBytes = rw
		cfg.Engine.Contexts = 256
		opt := defaultOpts()
		opt.latMin, opt.latMax, opt.reqP, opt.rdReady = 200, 400, 1, 1
		rng := rand.New(rand.NewPCG(256, 1))
		keys := randomKeys(cfg, rng, 3000)
		e := runRandom(t, cfg, opt, 256, keys, 4000)
		if e.maxReads <= 128 {
			t.Errorf("at most %d reads outstanding: the run does not fill the contexts", e.maxReads)
		}
		t.Logf("up to %d reads outstanding", e.maxReads)
	})
}

// Few index buckets, many contexts, long latencies: much overlap between
// buckets and long BLOCKED queues.
func TestRandomSmallIndex(t *testing.T) {
	eachReadWidth(t, testRandomSmallIndex)
}

func testRandomSmallIndex(t *testing.T, rw int) {
	for _, tc := range []struct {
		contexts, buckets int
		opt               func(*envOpts)
	}{
		{16, 4, func(o *envOpts) { o.latMin, o.latMax = 1, 30 }},
		{2, 4, func(o *envOpts) {}},
		{8, 2, func(o *envOpts) { o.rdReady, o.wrReady, o.alReady = 1, 1, 1; o.latMin, o.latMax = 1, 1; o.reqP = 1 }},
		{5, 16, func(o *envOpts) { o.rdReady, o.wrReady, o.alReady = 0.3, 0.3, 0.3; o.alDelayMax = 4 }},
	} {
		t.Run(fmt.Sprintf("C%d_buckets%d", tc.contexts, tc.buckets), func(t *testing.T) {
			cfg := simConfig(t)
			cfg.Engine.ReadBytes = rw
			cfg.Engine.Contexts = tc.contexts
			cfg.Memory.IndexBuckets = int64(tc.buckets)
			opt := defaultOpts()
			tc.opt(&opt)
			rng := rand.New(rand.NewPCG(uint64(tc.contexts), uint64(tc.buckets)))
			keys := randomKeys(cfg, rng, 60)
			e := runRandom(t, cfg, opt, uint64(10*tc.contexts+tc.buckets), keys, 1500)
			if d := e.m.Stats().MaxChainPos; d < 3 {
				t.Errorf("deepest chain position %d: want chains of at least 4 buckets", d)
			}
		})
	}
}

// A low bucket.inline_threshold puts short KVs in the 32 B class: object
// reads of one beat, which the wide port carries alone in a transfer, its
// upper half 0 (engine.md §5.3, docs/microarch.md §1.7) — the odd case the
// preset's classes never produce (their objects are 64 B and up). Every
// GET that hits such an object is checked against the reference value.
func TestRandomSmallObjects(t *testing.T) {
	eachReadWidth(t, func(t *testing.T, rw int) {
		cfg := simConfig(t)
		cfg.Engine.ReadBytes = rw
		cfg.Bucket.InlineThreshold = 8
		cfg.Memory.IndexBuckets = 16
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		opt := defaultOpts()
		opt.errP = 0.01
		rng := rand.New(rand.NewPCG(32, uint64(rw)))
		keys := randomKeys(cfg, rng, 60)
		e := runRandom(t, cfg, opt, 32+uint64(rw), keys, 3000)
		requireCoverage(t, e, "PUT class 0", "GET hit class 0", "GET hit class 1", "GET hit class 2", "GET hit inline",
			"GET status 6")
	})
}

// Read errors and refused allocations: the operation answers MEM_ERROR or
// NO_MEMORY and leaves the table (and the allocator) as it was.
func TestRandomFaults(t *testing.T) {
	eachReadWidth(t, testRandomFaults)
}

func testRandomFaults(t *testing.T, rw int) {
	for _, C := range []int{3, 8} {
		t.Run(fmt.Sprint("C", C), func(t *testing.T) {
			cfg := simConfig(t)
			cfg.Engine.ReadBytes = rw
			cfg.Engine.Contexts = C
			cfg.Memory.IndexBuckets = 8
			opt := defaultOpts()
			opt.errP, opt.noMemP = 0.03, 0.15
			opt.alDelayMin, opt.alDelayMax = 1, 3
			rng := rand.New(rand.NewPCG(uint64(C), 99))
			keys := randomKeys(cfg, rng, 50)
			e := runRandom(t, cfg, opt, uint64(C)*31, keys, 2000)
			if e.memErrors == 0 || e.noMems == 0 {
				t.Errorf("%d MEM_ERROR and %d NO_MEMORY responses: want some of each", e.memErrors, e.noMems)
			}
			requireCoverage(t, e, "GET status 6", "PUT status 6", "DELETE status 6", "PUT status 5")
		})
	}
}

func readyOpts() envOpts {
	return envOpts{rdReady: 1, wrReady: 1, alReady: 1, latMin: 1, latMax: 1, alDelayMin: 1, alDelayMax: 1, reqP: 1}
}

// engine.md §10: a GET with an inline hit in its index bucket, memory
// answering at once.
func TestTimelineInlineGetHit(t *testing.T) {
	cfg := simConfig(t)
	e := newEnv(t, cfg, readyOpts(), 1)
	key := []byte("id")
	e.preload(key, []byte("42"))
	e.preload([]byte("user"), []byte("alice"))
	for i := 0; i < 3; i++ {
		e.step()
	}
	r := e.send(e.newRequest(OpGet, key, nil))
	e.runUntilDone(100)
	e.finish()
	t0 := r.accepted
	if t0 != 3 {
		t.Fatalf("accepted in cycle %d, want 3", t0)
	}
	if len(e.rdReqs) != 1 || e.rdReqs[0] != (event{t0 + 2, 64 * r.bucket, 2}) {
		t.Fatalf("reads %v, want one bucket read at t+2 = %d of 2 beats at %#x", e.rdReqs, t0+2, 64*r.bucket)
	}
	if len(e.responses) != 1 || e.responses[0] != (event{t0 + 6, uint64(r.tag), StatusOK}) {
		t.Fatalf("responses %v, want OK at t+6 = %d", e.responses, t0+6)
	}
	if s := e.m.Stats(); s.LatencyMax != 6 || s.LatencySum != 6 || s.Ops[OpGet] != 1 || s.Status[StatusOK] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// The timeline of a refused request: RESP at once, answered the next cycle.
func TestTimelineRefused(t *testing.T) {
	e := newEnv(t, simConfig(t), readyOpts(), 1)
	r := e.newRequest(OpGet, nil, nil)
	r.refuse = StatusEmptyKey
	e.send(r)
	e.runUntilDone(20)
	e.finish()
	if len(e.responses) != 1 || e.responses[0].cycle != r.accepted+1 || len(e.rdReqs) != 0 {
		t.Fatalf("responses %v reads %v, want one response at %d and no read", e.responses, e.rdReqs, r.accepted+1)
	}
}

// distinctBucketKeys returns n keys of n different index buckets.
func distinctBucketKeys(cfg config.Config, rng *rand.Rand, n int) [][]byte {
	h := keyhash.NewHasher(cfg)
	used := map[uint64]bool{}
	var keys [][]byte
	for len(keys) < n {
		k := []byte(fmt.Sprintf("key-%d", rng.Uint32()))
		if b, _, _ := h.Bytes(k); !used[b] {
			used[b] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// With C operations in flight req_ready is 0, and the lowest FREE context
// takes each request.
func TestContextsFillUp(t *testing.T) {
	cfg := simConfig(t)
	opt := readyOpts()
	opt.rdReady = 0 // memory takes no read: every operation stays in flight
	e := newEnv(t, cfg, opt, 3)
	C := e.p.C
	keys := distinctBucketKeys(cfg, e.rng, C+3)
	for _, k := range keys {
		e.send(e.newRequest(OpGet, k, nil))
	}
	e.stepUntil(func() bool { return len(e.accepts) >= C }, 100, "C accepts")
	last := e.accepts[C-1].cycle
	if last != uint64(C-1) {
		t.Fatalf("C-th request accepted in cycle %d, want %d (one per cycle)", last, C-1)
	}
	for x := 0; x < C; x++ {
		if tag := e.m.st.c[x].tag; tag != uint16(x) {
			t.Fatalf("context %d holds tag %d: the lowest FREE context takes each request", x, tag)
		}
	}
	for i := 0; i < 20; i++ {
		e.step()
		if e.out[e.o.oReqReady] != 0 || len(e.accepts) != C || e.m.InFlight() != C {
			t.Fatalf("cycle %d: req_ready %d with %d in flight", e.cycle-1, e.out[e.o.oReqReady], e.m.InFlight())
		}
	}
	// The read unit takes a new request in the cycle it hands one over: the
	// C waiting reads go out back to back, in RR (context) order.
	s := e.cycle
	e.opt.rdReady = 1
	e.runUntilDone(500)
	e.finish()
	if got := offsets(cyclesFrom(e.rdReqs[:C]), s); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("the first %d reads at s+%v, want s+0..%d", C, got, C-1)
	}
	h := keyhash.NewHasher(cfg)
	for i := 0; i < C; i++ {
		if b, _, _ := h.Bytes(keys[i]); e.rdReqs[i].a != 64*b {
			t.Fatalf("read %d at %#x, want the bucket of request %d", i, e.rdReqs[i].a, i)
		}
	}
}

// Operations on one index bucket run one at a time in arrival order: the
// successor's first read goes out two cycles after its predecessor's
// response (retirement → READ → read unit → mem_rd).
func TestSameBucketSerialised(t *testing.T) {
	cfg := simConfig(t)
	opt := readyOpts()
	opt.latMin, opt.latMax = 9, 9
	e := newEnv(t, cfg, opt, 5)
	keys, buckets := collidingKeys(cfg, e.rng, 1, 3)
	k1, k2 := keys[0], keys[1]
	long := make([]byte, 300)
	var reqs []*request
	for _, r := range []*request{
		e.newRequest(OpPut, k1, []byte("v1")),
		e.newRequest(OpPut, k2, long),
		e.newRequest(OpGet, k1, nil),
		e.newRequest(OpDelete, k2, nil),
		e.newRequest(OpGet, k2, nil),
	} {
		reqs = append(reqs, e.send(r))
	}
	maxBlocked := 0
	for n := 0; len(e.pending) > 0 || len(e.src) > 0 || e.cur != nil; n++ {
		if n > 1000 {
			t.Fatal("hang")
		}
		e.step()
		blocked := 0
		for x := range e.m.st.c {
			if e.m.st.c[x].phase == phBlocked {
				blocked++
			}
		}
		maxBlocked = max(maxBlocked, blocked)
	}
	e.runUntilDone(100)
	e.finish()
	if maxBlocked != 4 {
		t.Errorf("at most %d BLOCKED, want 4 (all but the first)", maxBlocked)
	}
	for i, rs := range e.responses {
		if rs.a != uint64(reqs[i].tag) {
			t.Fatalf("responses %v: not in arrival order", e.responses)
		}
		if i == len(e.responses)-1 {
			break
		}
		var next event
		for _, rd := range e.rdReqs {
			if rd.cycle > rs.cycle {
				next = rd
				break
			}
		}
		if next != (event{rs.cycle + 2, 64 * buckets[0], 2}) {
			t.Fatalf("after the response in cycle %d the next read is %v, want the index bucket %#x at %d",
				rs.cycle, next, 64*buckets[0], rs.cycle+2)
		}
	}
}

// A request accepted in the cycle its bucket's youngest operation retires
// goes straight to READ (engine.md §4, §9).
func TestAcceptWhileRetiring(t *testing.T) {
	cfg := simConfig(t)
	e := newEnv(t, cfg, readyOpts(), 6)
	keys, buckets := collidingKeys(cfg, e.rng, 1, 2)
	e.send(e.newRequest(OpGet, keys[0], nil))
	e.step()
	e.stepUntil(func() bool { return e.m.rrWinner(e.m.st.rrRsp, phResp, phResp) >= 0 }, 100, "a RESP context")
	r := e.send(e.newRequest(OpGet, keys[1], nil))
	e.step() // the response cycle of the first; the second is accepted
	if len(e.responses) != 1 || r.accepted != e.responses[0].cycle {
		t.Fatalf("accepted in %d, response in %v", r.accepted, e.responses)
	}
	var x int
	for x = range e.m.st.c {
		if e.m.st.c[x].tag == r.tag && e.m.st.c[x].phase != phFree {
			break
		}
	}
	if ph := e.m.Phase(x); ph != "READ" {
		t.Fatalf("accepted while its predecessor retired: context %d is %s, want READ", x, ph)
	}
	e.runUntilDone(100)
	e.finish()
	if last := e.rdReqs[len(e.rdReqs)-1]; last != (event{r.accepted + 2, 64 * buckets[0], 2}) {
		t.Fatalf("its read %v, want the index bucket at %d", last, r.accepted+2)
	}
}

// The slab unit keeps one alloc outstanding; the next request appears in
// the cycle after the answer (engine.md §7).
func TestAllocTiming(t *testing.T) {
	for _, delay := range []int{1, 3} {
		t.Run(fmt.Sprint("answer+", delay), func(t *testing.T) {
			cfg := simConfig(t)
			opt := readyOpts()
			opt.alReady = 0
			opt.alDelayMin, opt.alDelayMax = delay, delay
			e := newEnv(t, cfg, opt, 8)
			keys := distinctBucketKeys(cfg, e.rng, 3)
			for _, k := range keys {
				e.send(e.newRequest(OpPut, k, make([]byte, 100))) // out-of-line: one object alloc each
			}
			for n := 0; ; n++ {
				waiting := 0
				for x := range e.m.st.c {
					if ph := e.m.st.c[x].phase; ph == phAlloc || ph == phAWait {
						waiting++
					}
				}
				if waiting == 3 {
					break
				}
				if n > 200 {
					t.Fatal("the PUTs never all wait for their allocs")
				}
				e.step()
			}
			e.opt.alReady = 1
			e.runUntilDone(200)
			e.finish()
			if len(e.alReqs) != 3 {
				t.Fatalf("alloc transfers %v, want 3", e.alReqs)
			}
			for i := 1; i < 3; i++ {
				if e.alReqs[i].cycle != e.alReqs[i-1].cycle+uint64(delay)+1 {
					t.Fatalf("alloc transfers in cycles %v: want each one cycle after the previous answer (+%d)", e.alReqs, delay+1)
				}
			}
		})
	}
}

func TestProtocolViolations(t *testing.T) {
	cfg := simConfig(t)
	for _, tc := range []struct{ port, want string }{
		{"mem_rdata_valid", "no read outstanding"},
		{"al_rsp_valid", "no alloc outstanding"},
	} {
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		lay := model.MustLayout(m.Ports())
		in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
		for i := 0; i < 3; i++ {
			if err := m.Step(in, out); err != nil {
				t.Fatal(err)
			}
		}
		in[lay.MustSlot(tc.port).Off] = 1
		err = m.Step(in, out)
		if err == nil || !strings.Contains(err.Error(), "cycle 3") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = 1 with nothing outstanding: error %v", tc.port, err)
		}
	}
}

// Snapshot and Restore: replaying the same inputs gives the same outputs.
func TestSnapshotRestore(t *testing.T) {
	eachReadWidth(t, testSnapshotRestore)
}

func testSnapshotRestore(t *testing.T, rw int) {
	cfg := simConfig(t)
	cfg.Engine.ReadBytes = rw
	cfg.Memory.IndexBuckets = 4
	e := newEnv(t, cfg, defaultOpts(), 11)
	keys := randomKeys(cfg, e.rng, 40)
	for i := 0; i < 400; i++ {
		e.send(e.randomRequest(keys))
	}
	for i := 0; i < 700; i++ {
		e.step()
	}
	// Snapshot with an operation in the vector unit, its result to come.
	e.stepUntil(func() bool { return e.m.st.vcBusy && e.m.st.vcWait >= 2 }, 5000, "a busy vector unit")
	snap := e.m.Snapshot()
	var ins, outs [][]uint64
	for i := 0; i < 400; i++ {
		e.step()
		ins = append(ins, slices.Clone(e.in))
		outs = append(outs, slices.Clone(e.out))
	}
	stats := e.m.Stats()
	for round := 0; round < 2; round++ {
		e.m.Restore(snap)
		out := make([]uint64, len(e.out))
		for i := range ins {
			if err := e.m.Step(ins[i], out); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out, outs[i]) {
				t.Fatalf("round %d: cycle %d after the snapshot differs", round, i)
			}
		}
		if e.m.Stats() != stats {
			t.Fatalf("round %d: stats differ after replay", round)
		}
	}
	e.runUntilDone(100000)
	e.finish()
}

// keysInBucket returns n distinct keys of length L whose index bucket is
// bucket.
func keysInBucket(cfg config.Config, rng *rand.Rand, bucket uint64, n, L int) [][]byte {
	h := keyhash.NewHasher(cfg)
	seen := map[string]bool{}
	var keys [][]byte
	for len(keys) < n {
		k := make([]byte, L)
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		if b, _, _ := h.Bytes(k); b == bucket && !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func cyclesFrom(evs []event) []uint64 {
	var c []uint64
	for _, e := range evs {
		c = append(c, e.cycle)
	}
	return c
}

func offsets(cs []uint64, t0 uint64) []int {
	var d []int
	for _, c := range cs {
		d = append(d, int(c)-int(t0))
	}
	return d
}

// PUT of a new out-of-line KV into an empty index bucket, everything
// answering at once: t+2 bucket read, beats t+3..4, EXEC t+5 (not found,
// fit = the index bucket) → ALLOC, slab load t+6, al transfer t+7, answer
// t+8 → WRITE, write load t+9, object beats t+10..13, bucket beats
// t+14..15 → RESP, response t+16.
func TestTimelinePutOutOfLine(t *testing.T) {
	cfg := simConfig(t)
	e := newEnv(t, cfg, readyOpts(), 2)
	key, value := []byte("ab"), make([]byte, 100) // 2+2+100 B: class 2 (128 B), 4 beats written
	r := e.send(e.newRequest(OpPut, key, value))
	e.runUntilDone(100)
	e.finish()
	t0 := r.accepted
	if got := offsets(cyclesFrom(e.rdReqs), t0); !slices.Equal(got, []int{2}) {
		t.Errorf("reads at t+%v, want t+2", got)
	}
	if got := offsets(cyclesFrom(e.alReqs), t0); !slices.Equal(got, []int{7}) || e.alReqs[0].a != AlAlloc || e.alReqs[0].b != 2 {
		t.Errorf("slab requests %v at t+%v, want an alloc of class 2 at t+7", e.alReqs, got)
	}
	if got := offsets(cyclesFrom(e.wrBeats), t0); !slices.Equal(got, []int{10, 11, 12, 13, 14, 15}) {
		t.Errorf("write beats at t+%v, want t+10..15", got)
	}
	if e.wrBeats[4].a != 64*r.bucket || e.wrBeats[5].a != 64*r.bucket+32 || e.wrBeats[1].a != e.wrBeats[0].a+32 {
		t.Errorf("write beats %v: want the object's 4 beats, then the index bucket's 2", e.wrBeats)
	}
	if got := offsets(cyclesFrom(e.responses), t0); !slices.Equal(got, []int{16}) {
		t.Errorf("response at t+%v, want t+16", got)
	}
}

// DELETE of an out-of-line KV alone in the chained bucket at position 1:
// reads of bucket 0 (t+2), bucket 1 (t+7), the object (t+12, 4 beats to
// t+16); EXEC t+17 → WRITE; bucket 0 rewritten (unlink) t+19..20 →
// FREEING; free of bucket 1 at t+22, of the object at t+24 → RESP; response
// t+25.
func TestTimelineDeleteUnlink(t *testing.T) {
	cfg := simConfig(t)
	e := newEnv(t, cfg, readyOpts(), 4)
	const b = 1234
	keys := keysInBucket(cfg, e.rng, b, 11, 3)
	for _, k := range keys[:10] {
		e.preload(k, []byte("vv")) // one slot each: bucket 0 full
	}
	e.preload(keys[10], make([]byte, 100)) // out-of-line, class 2, in a new chained bucket
	r := e.send(e.newRequest(OpDelete, keys[10], nil))
	e.runUntilDone(200)
	e.finish()
	t0 := r.accepted
	if got := offsets(cyclesFrom(e.rdReqs), t0); !slices.Equal(got, []int{2, 7, 12}) || e.rdReqs[0].a != 64*b || e.rdReqs[2].b != 4 {
		t.Errorf("reads %v at t+%v, want bucket 0, bucket 1 and a 4-beat object at t+2, 7, 12", e.rdReqs, got)
	}
	if got := offsets(cyclesFrom(e.wrBeats), t0); !slices.Equal(got, []int{19, 20}) || e.wrBeats[0].a != 64*b {
		t.Errorf("write beats %v at t+%v, want bucket 0 at t+19, 20", e.wrBeats, got)
	}
	bc := uint64(e.m.l.BucketClass)
	if got := offsets(cyclesFrom(e.alReqs), t0); !slices.Equal(got, []int{22, 24}) ||
		e.alReqs[0].a != AlFree || e.alReqs[0].b != bc || e.alReqs[1].a != AlFree || e.alReqs[1].b != 2 {
		t.Errorf("slab requests %v at t+%v, want frees of the bucket (class %d) at t+22 and the object (class 2) at t+24", e.alReqs, got, bc)
	}
	if got := offsets(cyclesFrom(e.responses), t0); !slices.Equal(got, []int{25}) {
		t.Errorf("response at t+%v, want t+25", got)
	}
}

// The write unit finishes a plan and loads the next one in the same cycle:
// three DELETEs waiting for the write port write six beats back to back, in
// RR order.
func TestWriteUnitBackToBack(t *testing.T) {
	cfg := simConfig(t)
	opt := readyOpts()
	opt.wrReady = 0
	e := newEnv(t, cfg, opt, 9)
	keys := distinctBucketKeys(cfg, e.rng, 3)
	var reqs []*request
	for _, k := range keys {
		e.preload(k, []byte("value"))
	}
	for _, k := range keys {
		reqs = append(reqs, e.send(e.newRequest(OpDelete, k, nil)))
	}
	for n := 0; ; n++ {
		w := 0
		for x := range e.m.st.c {
			if ph := e.m.st.c[x].phase; ph == phWrite || ph == phWBusy {
				w++
			}
		}
		if w == 3 {
			break
		}
		if n > 100 {
			t.Fatal("the DELETEs never all wait for the write port")
		}
		e.step()
	}
	s := e.cycle
	e.opt.wrReady = 1
	e.runUntilDone(100)
	e.finish()
	if got := offsets(cyclesFrom(e.wrBeats), s); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("write beats at s+%v, want s+0..5", got)
	}
	for i, r := range reqs {
		if e.wrBeats[2*i].a != 64*r.bucket {
			t.Fatalf("write beats %v: want the buckets of the DELETEs in order", e.wrBeats)
		}
	}
}

// Round robin (engine.md §3): the winner is the first candidate at or after
// rr, cyclically, and rr moves past it. White-box: contexts are put in the
// phases directly.
func TestRoundRobin(t *testing.T) {
	cfg := simConfig(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lay := model.MustLayout(m.Ports())
	o := &m.o
	in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
	step := func() {
		t.Helper()
		if err := m.Step(in, out); err != nil {
			t.Fatal(err)
		}
	}

	// The response unit: RESP contexts 1, 3, 6 with rr = 4 answer 6, 1, 3.
	for _, x := range []int{1, 3, 6} {
		m.st.c[x].phase, m.st.c[x].tag, m.st.c[x].status = phResp, uint16(100+x), StatusNotFound
	}
	m.st.rrRsp = 4
	var got []uint64
	for i := 0; i < 4; i++ {
		step()
		if out[o.oRspValid] == 1 {
			got = append(got, out[o.oRspTag])
		}
	}
	if !slices.Equal(got, []uint64{106, 101, 103}) {
		t.Errorf("response order %v, want 106, 101, 103", got)
	}

	// The read unit: READ contexts 2, 5, 7 with rr = 6 issue 7, 2, 5.
	m.Reset()
	for _, x := range []int{2, 5, 7} {
		c := &m.st.c[x]
		c.phase = phRead
		c.setRead(int64(64*(10+x)), 2, false)
	}
	m.st.rrRd = 6
	in[o.iRdReady] = 1
	got = got[:0]
	for i := 0; i < 5; i++ {
		step()
		if out[o.oRdValid] == 1 {
			got = append(got, out[o.oRdAddr]/64-10)
		}
	}
	if !slices.Equal(got, []uint64{7, 2, 5}) {
		t.Errorf("read order %v, want contexts 7, 2, 5", got)
	}

	// The slab unit: FREEING contexts 0, 4, 6 with rr = 5 free 6, 0, 4,
	// back to back (a free is posted: the next loads in its transfer cycle).
	m.Reset()
	clear(in)
	for _, x := range []int{0, 4, 6} {
		c := &m.st.c[x]
		c.phase = phFreeing
		c.frees[0], c.nFrees = hashtable.Slab{Ptr: uint64(0x1000 + x), Class: 1}, 1
	}
	m.st.rrSl = 5
	in[o.iAlReady] = 1
	got = got[:0]
	var cycles []uint64
	for i := 0; i < 6; i++ {
		step()
		if out[o.oAlValid] == 1 {
			got = append(got, out[o.oAlPtr]-0x1000)
			cycles = append(cycles, m.Cycle()-1)
		}
	}
	if !slices.Equal(got, []uint64{6, 0, 4}) || !slices.Equal(cycles, []uint64{1, 2, 3}) {
		t.Errorf("frees of contexts %v in cycles %v, want 6, 0, 4 in cycles 1, 2, 3", got, cycles)
	}
	for _, x := range []int{0, 4, 6} {
		if ph := m.Phase(x); ph != "RESP" && ph != "FREE" {
			t.Errorf("context %d is %s after its only free, want RESP (or FREE once answered)", x, ph)
		}
	}

	// rr moves past the winner: context 6 frees twice; when it is FREEING
	// again, context 7 (after it) is also FREEING and goes first.
	m.Reset()
	c6 := &m.st.c[6]
	c6.phase, c6.nFrees = phFreeing, 2
	c6.frees[0], c6.frees[1] = hashtable.Slab{Ptr: 0x1006, Class: 1}, hashtable.Slab{Ptr: 0x2006, Class: 1}
	m.st.rrSl = 5
	got = got[:0]
	for i := 0; i < 6; i++ {
		step()
		if out[o.oAlValid] == 1 {
			got = append(got, out[o.oAlPtr])
		}
		if m.Cycle() == 2 { // 6 transferred its first free in cycle 1
			c7 := &m.st.c[7]
			c7.phase, c7.nFrees, c7.fi = phFreeing, 1, 0
			c7.frees[0] = hashtable.Slab{Ptr: 0x1007, Class: 1}
		}
	}
	if !slices.Equal(got, []uint64{0x1006, 0x1007, 0x2006}) {
		t.Errorf("frees %#x, want 0x1006, 0x1007, 0x2006", got)
	}
}
