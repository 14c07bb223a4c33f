package rs

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// ---------------------------------------------------------------------------
// Configurations and the test λs.

func simCfg(t testing.TB, fwd bool) config.Config {
	t.Helper()
	c, err := config.Preset("sim")
	if err != nil {
		t.Fatal(err)
	}
	c.RS.Forwarding = fwd
	return c
}

// testEval: fid 0 fetch-add, 1 compare-and-swap, 2 unsigned max, others xor.
func testEval(fid int, old, delta, cmp, swap uint64) uint64 {
	switch fid {
	case 0:
		return old + delta
	case 1:
		if old == cmp {
			return swap
		}
		return old
	case 2:
		return max(old, delta)
	}
	return old ^ delta
}

func newModel(t testing.TB, cfg config.Config) *Model {
	t.Helper()
	m, err := New(cfg, FuncEvaluator(testEval))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ---------------------------------------------------------------------------
// The harness: drives the model through its port vectors and plays the main
// pipeline (a map, completions after a latency).

type req struct {
	op, fid                 int
	key                     string // the key's klen bytes
	raw                     []byte // K bytes on req_key: key, then junk past klen
	slot                    int
	value, delta, cmp, swap uint64
	tag                     uint16
}

type event struct {
	cycle               int
	id, op, klen, value uint64
	key                 string
	tag, status         uint64
	wb                  bool
}

type pending struct {
	id, status, value uint64
	slot, due, seq    int
}

type harness struct {
	t    testing.TB
	m    *Model
	p    Params
	lay  *model.Layout
	in   []uint64
	out  []uint64
	cyc  int
	rng  *rand.Rand
	slot map[string]int // the key-hash unit, as far as the test is concerned

	// the pipeline
	mem     map[string]uint64
	pend    []pending
	seq     int
	inPipe  map[int]bool // slots with an operation in the pipeline
	latency func() int
	random  bool // complete eligible operations in random order
	hold    bool // complete nothing
	errOp   float64
	errWB   float64
	force   func(e event) bool // deterministic error injection
	errTags map[uint16]bool    // operations the pipeline failed, by request tag

	ready   bool
	rec     bool
	ins     [][]uint64
	outs    [][]uint64
	log     bool
	pipes   []event
	resps   []event
	onResp  func(e event)
	onPipe  func(e event)
	notRdy  []int
	cplSent []event
}

func newHarness(t testing.TB, cfg config.Config, seed uint64) *harness {
	m := newModel(t, cfg)
	lay := model.MustLayout(m.Ports())
	h := &harness{
		t: t, m: m, p: m.Params(), lay: lay,
		in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords),
		rng:     rand.New(rand.NewPCG(seed, 0x5eed)),
		slot:    map[string]int{},
		mem:     map[string]uint64{},
		inPipe:  map[int]bool{},
		errTags: map[uint16]bool{},
		log:     true,
	}
	h.latency = func() int { return 4 }
	return h
}

func (h *harness) set(name string, v uint64) { h.in[h.lay.MustSlot(name).Off] = v }
func (h *harness) get(name string) uint64    { return h.out[h.lay.MustSlot(name).Off] }

// newReq builds a request; the slot comes from h.slot (which must know key).
func (h *harness) newReq(op int, key string, value uint64, tag uint16) *req {
	s, ok := h.slot[key]
	if !ok {
		h.t.Fatalf("no slot for key %q", key)
	}
	raw := make([]byte, h.p.K)
	copy(raw, key)
	for i := len(key); i < h.p.K; i++ {
		raw[i] = byte(h.rng.IntN(256)) // junk the station must ignore
	}
	r := &req{op: op, key: key, raw: raw, slot: s, tag: tag}
	if op == OpAtomic {
		r.delta = value
	} else {
		r.value = value
	}
	return r
}

func (h *harness) putReq(r *req) {
	h.set("req_valid", 1)
	h.set("req_op", uint64(r.op))
	h.set("req_fid", uint64(r.fid))
	ks := h.lay.MustSlot("req_key")
	for i, b := range r.raw {
		h.in[ks.Off+i/8] |= uint64(b) << (8 * (i % 8))
	}
	h.set("req_klen", uint64(len(r.key)))
	h.set("req_slot", uint64(r.slot))
	mv := model.Mask(h.p.V)
	h.set("req_value", r.value&mv)
	h.set("req_delta", r.delta&mv)
	h.set("req_cmp", r.cmp&mv)
	h.set("req_swap", r.swap&mv)
	h.set("req_tag", uint64(r.tag))
}

// step runs one cycle with request r (nil: req_valid = 0) and reports
// whether r was accepted.
func (h *harness) step(r *req) bool {
	t := h.t
	clear(h.in)
	if r != nil {
		h.putReq(r)
	}
	if !h.hold {
		best := -1
		var elig []int
		for i, p := range h.pend {
			if p.due > h.cyc {
				continue
			}
			if h.random {
				elig = append(elig, i)
			} else if best < 0 || p.due < h.pend[best].due || p.due == h.pend[best].due && p.seq < h.pend[best].seq {
				best = i
			}
		}
		if h.random && len(elig) > 0 {
			best = elig[h.rng.IntN(len(elig))]
		}
		if best >= 0 {
			p := h.pend[best]
			h.pend = append(h.pend[:best], h.pend[best+1:]...)
			delete(h.inPipe, p.slot)
			h.set("cpl_valid", 1)
			h.set("cpl_id", p.id)
			h.set("cpl_status", p.status)
			h.set("cpl_value", p.value)
			if h.log {
				h.cplSent = append(h.cplSent, event{cycle: h.cyc, id: p.id, status: p.status, value: p.value})
			}
		}
	}
	if err := h.m.Step(h.in, h.out); err != nil {
		t.Fatalf("cycle %d: %v\n%s", h.cyc, err, h.m.DescribeState())
	}
	if h.rec {
		h.ins = append(h.ins, append([]uint64(nil), h.in...))
		h.outs = append(h.outs, append([]uint64(nil), h.out...))
	}
	st := &h.m.st
	if st.pqN > QueueCap-1 || st.rqN > QueueCap-1 {
		t.Fatalf("cycle %d: PQ %d RQ %d after the edge, want at most %d", h.cyc, st.pqN, st.rqN, QueueCap-1)
	}
	h.ready = h.get("req_ready") == 1
	if !h.ready {
		h.notRdy = append(h.notRdy, h.cyc)
	}
	if h.get("pipe_valid") == 1 {
		h.issue()
	}
	if h.get("resp_valid") == 1 {
		e := event{cycle: h.cyc, tag: h.get("resp_tag"), status: h.get("resp_status"), value: h.get("resp_value")}
		if h.log {
			h.resps = append(h.resps, e)
		}
		if h.onResp != nil {
			h.onResp(e)
		}
	}
	h.cyc++
	return r != nil && h.ready
}

// issue takes the operation on pipe_* into the pipeline.
func (h *harness) issue() {
	t := h.t
	ks := h.lay.MustSlot("pipe_key")
	e := event{cycle: h.cyc, id: h.get("pipe_id"), op: h.get("pipe_op"), klen: h.get("pipe_klen"), value: h.get("pipe_value")}
	if e.klen < 1 || e.klen > uint64(h.p.K) {
		t.Fatalf("cycle %d: pipe_klen %d", h.cyc, e.klen)
	}
	kb := make([]byte, h.p.K)
	for i := range kb {
		kb[i] = byte(h.out[ks.Off+i/8] >> (8 * (i % 8)))
		if uint64(i) >= e.klen && kb[i] != 0 {
			t.Fatalf("cycle %d: pipe_key byte %d is %#x past klen %d: not masked", h.cyc, i, kb[i], e.klen)
		}
	}
	e.key = string(kb[:e.klen])
	e.wb = e.id >= uint64(h.p.M)
	s, ok := h.slot[e.key]
	if !ok {
		t.Fatalf("cycle %d: pipe carries unknown key %q", h.cyc, e.key)
	}
	if e.wb && uint64(s) != e.id-uint64(h.p.M) {
		t.Fatalf("cycle %d: write-back id %d for key %q of slot %d", h.cyc, e.id, e.key, s)
	}
	if e.wb && e.op != OpPut && e.op != OpDelete {
		t.Fatalf("cycle %d: write-back with op %d", h.cyc, e.op)
	}
	if e.op == OpAtomic {
		t.Fatalf("cycle %d: ATOMIC sent to the pipeline", h.cyc)
	}
	if e.op != OpPut && e.value != 0 {
		t.Fatalf("cycle %d: pipe_value %d for op %d, want 0", h.cyc, e.value, e.op)
	}
	if h.inPipe[s] {
		t.Fatalf("cycle %d: a second operation of slot %d in the pipeline\n%s", h.cyc, s, h.m.DescribeState())
	}
	h.inPipe[s] = true
	fail := false
	if h.force != nil {
		fail = h.force(e)
	} else if e.wb {
		fail = h.errWB > 0 && h.rng.Float64() < h.errWB
	} else {
		fail = h.errOp > 0 && h.rng.Float64() < h.errOp
	}
	p := pending{id: e.id, slot: s, due: h.cyc + h.latency(), seq: h.seq}
	h.seq++
	if fail {
		p.status = StatusError
		if !e.wb {
			h.errTags[h.m.st.ops[e.id].tag] = true // white-box: which request failed
		}
	} else {
		v, found := h.mem[e.key]
		switch e.op {
		case OpGet:
			if found {
				p.value = v
			} else {
				p.status = StatusNotFound
			}
		case OpPut:
			h.mem[e.key] = e.value
		case OpDelete:
			if !found {
				p.status = StatusNotFound
			}
			delete(h.mem, e.key)
		}
	}
	h.pend = append(h.pend, p)
	if h.log {
		h.pipes = append(h.pipes, e)
	}
	if h.onPipe != nil {
		h.onPipe(e)
	}
}

// drive offers requests from gen (nil: an idle cycle) for n cycles,
// keeping a request on the port until it is accepted.
func (h *harness) drive(n int, gen func() *req, accept func(*req)) {
	var cur *req
	for range n {
		if cur == nil {
			cur = gen()
		}
		if h.step(cur) {
			if accept != nil {
				accept(cur)
			}
			cur = nil
		}
	}
	if cur != nil {
		// A valid request must stay until it is accepted.
		for i := 0; !h.step(cur); i++ {
			if i > 100000 {
				h.t.Fatalf("request never accepted:\n%s", h.m.DescribeState())
			}
		}
		if accept != nil {
			accept(cur)
		}
	}
}

func (h *harness) idle() bool {
	st := &h.m.st
	return len(h.pend) == 0 && st.busyN == 0 && st.pqN == 0 && st.rqN == 0 && h.m.cq.Len() == 0 && !st.walkActive && st.freeN == h.p.M
}

func (h *harness) drain(limit int) {
	for range limit {
		if h.idle() {
			return
		}
		h.step(nil)
	}
	h.t.Fatalf("not idle after %d cycles:\n%s", limit, h.m.DescribeState())
}

func (h *harness) respAt(c int) *event {
	for i := range h.resps {
		if h.resps[i].cycle == c {
			return &h.resps[i]
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// The sequential reference: a map, operations applied in each key's request
// order.

type checker struct {
	t       testing.TB
	n       int
	mask    uint64
	ref     map[string]uint64
	reqs    map[uint16]*req
	order   map[string][]uint16
	errTags map[uint16]bool
	checked int
	errs    int
}

func newChecker(t testing.TB, h *harness) *checker {
	c := &checker{t: t, n: h.p.N, mask: model.Mask(h.p.V), ref: map[string]uint64{},
		reqs: map[uint16]*req{}, order: map[string][]uint16{}, errTags: h.errTags}
	h.onResp = c.resp
	return c
}

func (c *checker) accept(r *req) {
	if _, dup := c.reqs[r.tag]; dup {
		c.t.Fatalf("tag %d reused while outstanding", r.tag)
	}
	c.reqs[r.tag] = r
	c.order[r.key] = append(c.order[r.key], r.tag)
}

func (c *checker) apply(r *req) (uint64, uint64) {
	v, found := c.ref[r.key]
	switch r.op {
	case OpGet:
		if found {
			return StatusOK, v
		}
		return StatusNotFound, 0
	case OpPut:
		c.ref[r.key] = r.value & c.mask
		return StatusOK, 0
	case OpDelete:
		delete(c.ref, r.key)
		if found {
			return StatusOK, 0
		}
		return StatusNotFound, 0
	}
	if r.fid >= c.n {
		return StatusError, 0
	}
	c.ref[r.key] = testEval(r.fid, v, r.delta&c.mask, r.cmp&c.mask, r.swap&c.mask) & c.mask
	if found {
		return StatusOK, v
	}
	return StatusNotFound, 0
}

func (c *checker) resp(e event) {
	tag := uint16(e.tag)
	r, ok := c.reqs[tag]
	if !ok {
		c.t.Fatalf("cycle %d: response with tag %d, which no outstanding request has", e.cycle, tag)
	}
	q := c.order[r.key]
	if q[0] != tag {
		c.t.Fatalf("cycle %d: response for tag %d on key %q before tag %d, which came first", e.cycle, tag, r.key, q[0])
	}
	c.order[r.key] = q[1:]
	delete(c.reqs, tag)
	var ws, wv uint64
	if c.errTags[tag] {
		delete(c.errTags, tag)
		ws, wv = StatusError, 0
		c.errs++
	} else {
		ws, wv = c.apply(r)
	}
	if e.status != ws || e.value != wv {
		c.t.Fatalf("cycle %d: tag %d (op %d fid %d key %q): response (%d, %d), want (%d, %d)", e.cycle, tag, r.op, r.fid, r.key, e.status, e.value, ws, wv)
	}
	c.checked++
}

// ---------------------------------------------------------------------------
// Ports.

func TestPortsSim(t *testing.T) {
	m := newModel(t, simCfg(t, true))
	type pw struct {
		name string
		dir  model.Dir
		w    int
		q    string
	}
	// sim: K = 16, KL = 5, R = 256 (S = 8), M = 64, I = bits(319) = 9, V = 64.
	want := []pw{
		{"req_valid", model.In, 1, ""},
		{"req_ready", model.Out, 1, ""},
		{"req_op", model.In, 2, ""},
		{"req_fid", model.In, 4, ""},
		{"req_key", model.In, 128, ""},
		{"req_klen", model.In, 5, ""},
		{"req_slot", model.In, 8, ""},
		{"req_value", model.In, 64, ""},
		{"req_delta", model.In, 64, ""},
		{"req_cmp", model.In, 64, ""},
		{"req_swap", model.In, 64, ""},
		{"req_tag", model.In, 16, ""},
		{"pipe_valid", model.Out, 1, ""},
		{"pipe_id", model.Out, 9, "pipe_valid"},
		{"pipe_op", model.Out, 2, "pipe_valid"},
		{"pipe_key", model.Out, 128, "pipe_valid"},
		{"pipe_klen", model.Out, 5, "pipe_valid"},
		{"pipe_value", model.Out, 64, "pipe_valid"},
		{"cpl_valid", model.In, 1, ""},
		{"cpl_id", model.In, 9, ""},
		{"cpl_status", model.In, 2, ""},
		{"cpl_value", model.In, 64, ""},
		{"resp_valid", model.Out, 1, ""},
		{"resp_tag", model.Out, 16, "resp_valid"},
		{"resp_status", model.Out, 2, "resp_valid"},
		{"resp_value", model.Out, 64, "resp_valid"},
	}
	got := m.Ports()
	if len(got) != len(want) {
		t.Fatalf("%d ports, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Dir != w.dir || g.Width != w.w || g.QualifiedBy != w.q {
			t.Errorf("port %d: %s %v %d q=%q, want %s %v %d q=%q", i, g.Name, g.Dir, g.Width, g.QualifiedBy, w.name, w.dir, w.w, w.q)
		}
	}
	if _, err := model.NewLayout(got); err != nil {
		t.Fatal(err)
	}
}

func TestPortWidthsOtherConfigs(t *testing.T) {
	paper, _ := config.Preset("paper")
	for _, tc := range []struct {
		name            string
		mut             func(*config.Config)
		i, s, kl, k8, v int
	}{
		{"paper", func(*config.Config) {}, 11, 10, 6, 256, 64},                                        // M+R-1 = 1279
		{"M=1,R=2", func(c *config.Config) { c.RS.MaxInflight, c.RS.Slots = 1, 2 }, 2, 1, 6, 256, 64}, // 0..2
		{"M=4,R=4", func(c *config.Config) { c.RS.MaxInflight, c.RS.Slots = 4, 4 }, 3, 2, 6, 256, 64}, // 0..7
		{"M=5,R=4,V=8,K=1", func(c *config.Config) {
			c.RS.MaxInflight, c.RS.Slots, c.Atomic.ScalarBits, c.Key.MaxKeyBytes = 5, 4, 8, 1
		}, 4, 2, 1, 8, 8}, // 0..8
	} {
		c := paper
		c.Atomic.Lambdas = append([]config.Lambda(nil), paper.Atomic.Lambdas...)
		tc.mut(&c)
		m := newModel(t, c)
		lay := model.MustLayout(m.Ports())
		w := func(n string) int { return lay.MustSlot(n).Width }
		if w("pipe_id") != tc.i || w("cpl_id") != tc.i || w("req_slot") != tc.s || w("req_klen") != tc.kl ||
			w("pipe_klen") != tc.kl || w("req_key") != tc.k8 || w("pipe_key") != tc.k8 || w("resp_value") != tc.v {
			t.Errorf("%s: I %d S %d KL %d key %d V %d, want %d %d %d %d %d", tc.name, w("pipe_id"), w("req_slot"),
				w("req_klen"), w("req_key"), w("resp_value"), tc.i, tc.s, tc.kl, tc.k8, tc.v)
		}
	}
}

func TestNewRejects(t *testing.T) {
	c := simCfg(t, true)
	if _, err := New(c, nil); err == nil {
		t.Error("nil evaluator accepted")
	}
	c.RS.Slots = 3
	if _, err := New(c, FuncEvaluator(testEval)); err == nil {
		t.Error("rs.slots = 3 accepted")
	}
}

// ---------------------------------------------------------------------------
// req_ready.

func TestReqReadyRule(t *testing.T) {
	cfg := simCfg(t, true)
	probe := func(mut func(st *state), valid bool) uint64 {
		m := newModel(t, cfg)
		mut(&m.st)
		lay := model.MustLayout(m.Ports())
		in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
		if valid {
			in[lay.MustSlot("req_valid").Off] = 1
			in[lay.MustSlot("req_klen").Off] = 1
		}
		if err := m.Step(in, out); err != nil {
			t.Fatal(err)
		}
		return out[lay.MustSlot("req_ready").Off]
	}
	for _, tc := range []struct {
		name string
		mut  func(st *state)
		want uint64
	}{
		{"reset", func(*state) {}, 1},
		{"walk active", func(st *state) { st.walkActive = true; st.ops[0].life = idChained; st.freeN--; st.slots[0].n = 1 }, 0},
		{"one free id", func(st *state) { st.freeN = 1 }, 1},
		{"no free id", func(st *state) { st.freeN = 0 }, 0},
		{"PQ Q-2", func(st *state) { st.pqN = QueueCap - 2 }, 1},
		{"PQ Q-1", func(st *state) { st.pqN = QueueCap - 1 }, 0},
		{"RQ Q-2", func(st *state) { st.rqN = QueueCap - 2 }, 1},
		{"RQ Q-1", func(st *state) { st.rqN = QueueCap - 1 }, 0},
	} {
		for _, valid := range []bool{false, true} {
			if got := probe(tc.mut, valid); got != tc.want {
				t.Errorf("%s (req_valid %v): req_ready %d, want %d", tc.name, valid, got, tc.want)
			}
		}
	}
}

// PQ fills when completions and arrivals both push every cycle; req_ready
// falls at |PQ| = Q-1 with ids free and no walk, and PQ never reaches Q.
func TestReqReadyFallsOnFullPQ(t *testing.T) {
	h := newHarness(t, simCfg(t, false), 1)
	h.latency = func() int { return 1000 }
	for s := 0; s < 20; s++ {
		h.slot[fmt.Sprintf("a%d", s)] = s
		h.slot[fmt.Sprintf("b%d", s)] = s
	}
	for s := 100; s < 200; s++ {
		h.slot[fmt.Sprintf("n%d", s)] = s
	}
	tag := uint16(0)
	var reqs []*req
	for s := 0; s < 20; s++ {
		reqs = append(reqs, h.newReq(OpPut, fmt.Sprintf("a%d", s), 1, tag), h.newReq(OpPut, fmt.Sprintf("b%d", s), 2, tag+1))
		tag += 2
	}
	i := 0
	h.drive(len(reqs)+2, func() *req {
		if i < len(reqs) {
			i++
			return reqs[i-1]
		}
		return nil
	}, nil)
	if st := &h.m.st; st.busyN != 20 || st.chainN != 20 || st.freeN != h.p.M-40 {
		t.Fatalf("after phase 1: %s", h.m.DescribeState())
	}
	// Release the 20 held operations, one completion per cycle, and offer
	// a new request on a fresh slot every cycle.
	for j := range h.pend {
		h.pend[j].due = h.cyc
	}
	h.latency = func() int { return 200 }
	next := 100
	sawFull := false
	for range 40 {
		pq, free, walk := h.m.st.pqN, h.m.st.freeN, h.m.st.walkActive
		r := h.newReq(OpGet, fmt.Sprintf("n%d", next), 0, tag)
		if h.step(r) {
			next++
			tag++
		}
		if !h.ready {
			if pq != QueueCap-1 || free == 0 || walk {
				t.Fatalf("cycle %d: req_ready 0 with |PQ| %d, %d free ids, walk %v", h.cyc-1, pq, free, walk)
			}
			sawFull = true
		}
	}
	if !sawFull {
		t.Fatal("PQ never reached Q-1")
	}
}

// ---------------------------------------------------------------------------
// One operation, exact cycles.

func TestSingleOperationPath(t *testing.T) {
	for _, fwd := range []bool{true, false} {
		t.Run(fmt.Sprintf("fwd=%v", fwd), func(t *testing.T) {
			const L = 4
			h := newHarness(t, simCfg(t, fwd), 2)
			h.latency = func() int { return L }
			h.slot["hello"] = 3
			put := h.newReq(OpPut, "hello", 42, 7)
			if !h.step(put) { // cycle 0
				t.Fatal("PUT not accepted at cycle 0")
			}
			for h.cyc < 10 {
				h.step(nil)
			}
			// arrival 0 → pipe 1 → completion 1+L → CQ output 3+L (COMPLETE)
			// → response 4+L.
			if len(h.pipes) != 1 || h.pipes[0] != (event{cycle: 1, id: 0, op: OpPut, klen: 5, value: 42, key: "hello"}) {
				t.Fatalf("pipe: %+v", h.pipes)
			}
			if len(h.cplSent) != 1 || h.cplSent[0].cycle != 1+L {
				t.Fatalf("completions: %+v", h.cplSent)
			}
			if len(h.resps) != 1 || h.resps[0] != (event{cycle: 4 + L, tag: 7, status: StatusOK}) {
				t.Fatalf("responses: %+v", h.resps)
			}
			if !h.idle() {
				t.Fatalf("not idle: %s", h.m.DescribeState())
			}
			// A GET of the same key at cycle 10: the slot went idle (a PUT
			// leaves nothing dirty), so it goes to the pipeline with the
			// next free id, 1 (0 went to the back of the free FIFO).
			get := h.newReq(OpGet, "hello", 0, 8)
			if !h.step(get) {
				t.Fatal("GET not accepted")
			}
			for h.cyc < 20 {
				h.step(nil)
			}
			if len(h.pipes) != 2 || h.pipes[1] != (event{cycle: 11, id: 1, op: OpGet, klen: 5, key: "hello"}) {
				t.Fatalf("pipe: %+v", h.pipes)
			}
			if len(h.resps) != 2 || h.resps[1] != (event{cycle: 14 + L, tag: 8, status: StatusOK, value: 42}) {
				t.Fatalf("responses: %+v", h.resps)
			}
		})
	}
}

// An ATOMIC goes to the pipeline as a GET; its response and its write-back
// PUT leave in the cycle after COMPLETE.
func TestSingleAtomicPath(t *testing.T) {
	const L = 6
	h := newHarness(t, simCfg(t, true), 3)
	h.latency = func() int { return L }
	h.slot["ctr"] = 200
	h.mem["ctr"] = 10
	a := h.newReq(OpAtomic, "ctr", 5, 99)
	if !h.step(a) {
		t.Fatal("not accepted")
	}
	h.drain(100)
	wantPipes := []event{
		{cycle: 1, id: 0, op: OpGet, klen: 3, key: "ctr"},
		{cycle: 4 + L, id: uint64(h.p.M + 200), op: OpPut, klen: 3, value: 15, key: "ctr", wb: true},
	}
	if !reflect.DeepEqual(h.pipes, wantPipes) {
		t.Fatalf("pipe: %+v\nwant %+v", h.pipes, wantPipes)
	}
	if len(h.resps) != 1 || h.resps[0] != (event{cycle: 4 + L, tag: 99, status: StatusOK, value: 10}) {
		t.Fatalf("responses: %+v", h.resps)
	}
	if h.mem["ctr"] != 15 {
		t.Fatalf("memory %d, want 15", h.mem["ctr"])
	}
}

// Keys are masked: junk past klen never reaches the pipeline, and a key is
// told from its zero-extended neighbour by klen.
func TestKeyMasking(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 4)
	h.slot["x"] = 9
	h.slot["x\x00"] = 9
	c := newChecker(t, h)
	var rs []*req
	for i := range 40 {
		k := "x"
		if i%3 == 0 {
			k = "x\x00"
		}
		r := h.newReq([]int{OpPut, OpAtomic, OpGet}[i%3], k, uint64(i), uint16(i))
		rs = append(rs, r)
	}
	i := 0
	h.drive(200, func() *req {
		if i < len(rs) {
			i++
			return rs[i-1]
		}
		return nil
	}, c.accept)
	h.drain(1000)
	if c.checked != len(rs) {
		t.Fatalf("%d responses, want %d", c.checked, len(rs))
	}
	if !reflect.DeepEqual(h.mem, c.ref) {
		t.Fatalf("memory %v, reference %v", h.mem, c.ref)
	}
}

// ---------------------------------------------------------------------------
// A hot key.

func hotKeyRun(t *testing.T, fwd bool, L, cycles int) (*harness, *checker, map[uint16]int) {
	h := newHarness(t, simCfg(t, fwd), 5)
	h.latency = func() int { return L }
	h.slot["hot"] = 77
	c := newChecker(t, h)
	acceptedAt := map[uint16]int{}
	tag := uint16(0)
	h.drive(cycles, func() *req {
		r := h.newReq(OpAtomic, "hot", 1, tag)
		tag++
		return r
	}, func(r *req) {
		acceptedAt[r.tag] = h.cyc - 1
		c.accept(r)
	})
	return h, c, acceptedAt
}

func TestHotKeyForwarding(t *testing.T) {
	const L, cycles = 20, 20000
	h, c, acc := hotKeyRun(t, true, L, cycles)
	nresp := len(h.resps)
	h.drain(10 * L)
	if c.checked != len(acc) {
		t.Fatalf("%d responses for %d requests", c.checked, len(acc))
	}
	// Values: fetch-add of 1 from nothing: 0 (NOT_FOUND), 1, 2, …
	for i, e := range h.resps {
		if e.value != uint64(i) {
			t.Fatalf("response %d: value %d", i, e.value)
		}
	}
	if h.mem["hot"] != uint64(len(acc)) {
		t.Fatalf("memory %d after %d fetch-adds", h.mem["hot"], len(acc))
	}
	rate := float64(nresp) / float64(cycles)
	t.Logf("forwarding, latency %d: %d ops in %d cycles = %.4f ops/cycle; %d pipeline ops", L, nresp, cycles, rate, len(h.pipes))
	if rate < 0.95 {
		t.Errorf("%.4f ops/cycle, want at least 0.95", rate)
	}
	// The first operation: accepted at 0, on the pipe at 1, completed at
	// 1+L, COMPLETE at 3+L, response at 4+L. Requests accepted in cycles
	// 1 .. 3+L were chained (3+L of them); COMPLETE starts the walk, which
	// runs in cycles 4+L .. 6+2L, one per cycle, with req_ready = 0.
	c0 := 3 + L
	n := c0
	if h.resps[0].cycle != c0+1 {
		t.Fatalf("first response at %d, want %d", h.resps[0].cycle, c0+1)
	}
	wantNR := []int{}
	for cy := c0 + 1; cy <= c0+n; cy++ {
		wantNR = append(wantNR, cy)
	}
	if !reflect.DeepEqual(h.notRdy, wantNR) {
		t.Fatalf("req_ready = 0 in cycles %v, want %v", h.notRdy, wantNR)
	}
	// After the first response, one response every cycle while requests
	// keep coming.
	for i := 1; i < nresp; i++ {
		if h.resps[i].cycle != h.resps[i-1].cycle+1 {
			t.Fatalf("response %d at %d, previous at %d", i, h.resps[i].cycle, h.resps[i-1].cycle)
		}
	}
	// Arrivals after the walk execute at arrival: the response leaves the
	// next cycle.
	for _, e := range h.resps {
		a := acc[uint16(e.tag)]
		if a > c0+n && e.cycle != a+1 {
			t.Fatalf("tag %d accepted at %d answered at %d", e.tag, a, e.cycle)
		}
	}
	// The pipeline sees the first GET and then only write-backs, one per
	// round trip of L+3 cycles.
	for i, p := range h.pipes[1:] {
		if !p.wb || p.op != OpPut {
			t.Fatalf("pipe op %d: %+v, want a write-back PUT", i+1, p)
		}
	}
	if max := cycles/(L+3) + 3; len(h.pipes) > max {
		t.Errorf("%d pipeline ops, want at most %d", len(h.pipes), max)
	}
}

func TestHotKeyNoForwarding(t *testing.T) {
	const L, cycles = 20, 5000
	h, c, acc := hotKeyRun(t, false, L, cycles)
	nresp := len(h.resps)
	h.drain(200 * L)
	if c.checked != len(acc) {
		t.Fatalf("%d responses for %d requests", c.checked, len(acc))
	}
	// Each atomic is a GET round trip and a write-back round trip of L+3
	// cycles each: responses exactly 2(L+3) apart.
	if h.resps[0].cycle != L+4 {
		t.Fatalf("first response at %d", h.resps[0].cycle)
	}
	for i := 1; i < len(h.resps); i++ {
		if d := h.resps[i].cycle - h.resps[i-1].cycle; d != 2*(L+3) {
			t.Fatalf("responses %d and %d are %d cycles apart, want %d", i-1, i, d, 2*(L+3))
		}
		if h.resps[i].value != uint64(i) {
			t.Fatalf("response %d: value %d", i, h.resps[i].value)
		}
	}
	// GET, write-back PUT of the new value, GET, …
	for i, p := range h.pipes {
		if i%2 == 0 && (p.wb || p.op != OpGet) || i%2 == 1 && (!p.wb || p.op != OpPut || p.value != uint64(i/2+1)) {
			t.Fatalf("pipe op %d: %+v", i, p)
		}
	}
	rate := float64(nresp) / float64(cycles)
	t.Logf("no forwarding, latency %d: %d ops in %d cycles = %.4f ops/cycle (1/%d)", L, nresp, cycles, rate, 2*(L+3))
	// The chain fills every id, so req_ready falls on free-id exhaustion.
	if len(h.notRdy) < cycles/2 {
		t.Fatalf("req_ready = 0 in only %d cycles", len(h.notRdy))
	}
	if h.m.st.freeN != h.p.M {
		t.Fatalf("ids not all free after drain")
	}
}

// GETs without forwarding: one per round trip, no write-backs.
func TestHotKeyNoForwardingGets(t *testing.T) {
	const L = 10
	h := newHarness(t, simCfg(t, false), 6)
	h.latency = func() int { return L }
	h.slot["k"] = 1
	tag := uint16(0)
	h.drive(1000, func() *req { r := h.newReq(OpGet, "k", 0, tag); tag++; return r }, nil)
	for i := 1; i < len(h.resps); i++ {
		if d := h.resps[i].cycle - h.resps[i-1].cycle; d != L+3 {
			t.Fatalf("responses %d apart, want %d", d, L+3)
		}
	}
	for _, p := range h.pipes {
		if p.wb {
			t.Fatal("write-back without a change")
		}
	}
}

// ---------------------------------------------------------------------------
// Random mixes against the sequential reference.

type mixCfg struct {
	name         string
	cfg          func(t testing.TB) config.Config
	keys         int
	slotsShared  int // the first keys share this many slots
	errOp, errWB float64
	random       bool
	maxLat       int
}

func TestRandomAgainstReference(t *testing.T) {
	small := func(fwd bool) func(t testing.TB) config.Config {
		return func(t testing.TB) config.Config {
			c := simCfg(t, fwd)
			c.RS.Slots, c.RS.MaxInflight = 2, 4
			return c
		}
	}
	narrow := func(t testing.TB) config.Config {
		c := simCfg(t, true)
		c.Atomic.ScalarBits = 8
		c.Key.MaxKeyBytes = 3
		return c
	}
	paper := func(t testing.TB) config.Config { c, _ := config.Preset("paper"); return c }
	cases := []mixCfg{
		{"sim-fwd", func(t testing.TB) config.Config { return simCfg(t, true) }, 12, 2, 0, 0, false, 30},
		{"sim-fwd-ooo", func(t testing.TB) config.Config { return simCfg(t, true) }, 12, 2, 0, 0, true, 30},
		{"sim-nofwd-ooo", func(t testing.TB) config.Config { return simCfg(t, false) }, 12, 2, 0, 0, true, 30},
		{"sim-fwd-errors", func(t testing.TB) config.Config { return simCfg(t, true) }, 12, 2, 0.05, 0.2, true, 30},
		{"sim-nofwd-errors", func(t testing.TB) config.Config { return simCfg(t, false) }, 12, 2, 0.05, 0.2, true, 30},
		{"R2M4-fwd", small(true), 6, 2, 0.02, 0.1, true, 12},
		{"R2M4-nofwd", small(false), 6, 2, 0.02, 0.1, true, 12},
		{"narrow-V8-K3", narrow, 8, 3, 0.02, 0.1, true, 20},
		{"paper", paper, 16, 4, 0.02, 0.05, true, 40},
	}
	for ci, mc := range cases {
		t.Run(mc.name, func(t *testing.T) {
			runMix(t, mc, uint64(ci+10), 20000)
		})
	}
}

func runMix(t *testing.T, mc mixCfg, seed uint64, cycles int) {
	cfg := mc.cfg(t)
	h := newHarness(t, cfg, seed)
	h.log = false
	h.random = mc.random
	h.errOp, h.errWB = mc.errOp, mc.errWB
	h.latency = func() int { return 1 + h.rng.IntN(mc.maxLat) }
	p := h.p
	// Keys: short and long, some only differing by a trailing zero byte;
	// the first ones share mc.slotsShared slots (false dependencies).
	var keys []string
	for i := 0; i < mc.keys; i++ {
		k := fmt.Sprintf("k%d", i)
		if i == 1 {
			k = "k0\x00"
		}
		if len(k) > p.K {
			k = k[len(k)-p.K:]
		}
		if i == 3 && p.K >= 5 {
			k = strings.Repeat("z", p.K)
		}
		keys = append(keys, k)
		if i < 2*mc.slotsShared {
			h.slot[k] = i % mc.slotsShared
		} else {
			h.slot[k] = (i*37 + 5) % p.R
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
	c := newChecker(t, h)
	tag := uint16(0)
	gen := func() *req {
		if h.rng.IntN(5) == 0 {
			return nil
		}
		var k string
		if h.rng.IntN(2) == 0 {
			k = keys[0] // hot
		} else {
			k = keys[h.rng.IntN(len(keys))]
		}
		var r *req
		switch x := h.rng.IntN(20); {
		case x < 6:
			r = h.newReq(OpGet, k, 0, tag)
		case x < 10:
			r = h.newReq(OpPut, k, h.rng.Uint64N(100), tag)
		case x < 12:
			r = h.newReq(OpDelete, k, 0, tag)
		default:
			r = h.newReq(OpAtomic, k, h.rng.Uint64N(5), tag)
			switch y := h.rng.IntN(20); {
			case y == 0:
				r.fid = p.N + h.rng.IntN(16-p.N) // fid >= N
			case y < 4:
				r.fid = 1
				r.cmp, r.swap = h.rng.Uint64N(4), h.rng.Uint64N(100)
			case y < 6:
				r.fid = 2
			}
		}
		tag++
		return r
	}
	h.drive(cycles, gen, c.accept)
	h.errOp, h.errWB = 0, 0 // let the last write-backs through
	h.drain(100000)
	if len(c.reqs) != 0 {
		t.Fatalf("%d requests never answered", len(c.reqs))
	}
	if !reflect.DeepEqual(h.mem, c.ref) {
		t.Fatalf("memory after drain %v\nreference %v", h.mem, c.ref)
	}
	t.Logf("%d responses checked (%d injected errors) in %d cycles", c.checked, c.errs, h.cyc)
	if c.checked < cycles/20 {
		t.Fatalf("only %d responses", c.checked)
	}
}

// ---------------------------------------------------------------------------
// ERROR completions.

func TestErrorOnOperation(t *testing.T) {
	const L = 5
	h := newHarness(t, simCfg(t, true), 7)
	h.latency = func() int { return L }
	h.slot["e"] = 4
	h.mem["e"] = 100
	c := newChecker(t, h)
	h.force = func(e event) bool { return e.id == 0 && e.op == OpGet } // the first GET fails
	// GET (fails), then PUT 7 and GET behind it in the chain.
	rs := []*req{h.newReq(OpGet, "e", 0, 1), h.newReq(OpPut, "e", 7, 2), h.newReq(OpGet, "e", 0, 3)}
	i := 0
	h.drive(3, func() *req { i++; return rs[i-1] }, c.accept)
	h.drain(200)
	if len(h.resps) != 3 || h.resps[0].status != StatusError || h.resps[0].value != 0 {
		t.Fatalf("responses %+v", h.resps)
	}
	// After the ERROR the cache is invalid: no walk; the PUT goes to the
	// pipeline in the cycle after COMPLETE, and then the GET is served
	// from the cache the PUT left (a walk).
	wantOps := []uint64{OpGet, OpPut}
	if len(h.pipes) != 2 || h.pipes[0].op != wantOps[0] || h.pipes[1].op != wantOps[1] || h.pipes[1].cycle != 1+L+3 {
		t.Fatalf("pipe %+v", h.pipes)
	}
	if h.resps[2].value != 7 || h.resps[2].cycle != h.resps[1].cycle+1 {
		t.Fatalf("GET after PUT: %+v", h.resps)
	}
}

func TestErrorOnAtomicOperation(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 8)
	h.slot["a"] = 4
	h.mem["a"] = 3
	h.force = func(e event) bool { return !e.wb }
	if !h.step(h.newReq(OpAtomic, "a", 1, 1)) {
		t.Fatal("not accepted")
	}
	h.drain(100)
	if len(h.resps) != 1 || h.resps[0].status != StatusError || h.resps[0].value != 0 || len(h.pipes) != 1 || h.mem["a"] != 3 {
		t.Fatalf("responses %+v pipe %+v mem %d", h.resps, h.pipes, h.mem["a"])
	}
}

func TestErrorOnWriteBack(t *testing.T) {
	const L = 5
	for _, fwd := range []bool{true, false} {
		t.Run(fmt.Sprintf("fwd=%v", fwd), func(t *testing.T) {
			h := newHarness(t, simCfg(t, fwd), 9)
			h.latency = func() int { return L }
			h.slot["w"] = 250
			failed := 0
			h.force = func(e event) bool {
				if e.wb && failed < 2 {
					failed++
					return true
				}
				return false
			}
			if !h.step(h.newReq(OpAtomic, "w", 9, 1)) {
				t.Fatal("not accepted")
			}
			h.drain(200)
			// GET, then the write-back three times (two ERRORs), each in the
			// cycle after the previous one's COMPLETE.
			if len(h.pipes) != 4 || h.pipes[0].op != OpGet {
				t.Fatalf("pipe %+v", h.pipes)
			}
			for i, p := range h.pipes[1:] {
				if !p.wb || p.op != OpPut || p.value != 9 || p.id != uint64(h.p.M+250) {
					t.Fatalf("write-back %d: %+v", i, p)
				}
				if p.cycle != h.pipes[i].cycle+L+3 {
					t.Fatalf("write-back %d at %d, previous op at %d", i, p.cycle, h.pipes[i].cycle)
				}
			}
			if len(h.resps) != 1 || h.resps[0] != (event{cycle: 4 + L, tag: 1, status: StatusNotFound, value: 0}) {
				t.Fatalf("responses %+v", h.resps)
			}
			if h.mem["w"] != 9 {
				t.Fatalf("memory %d", h.mem["w"])
			}
		})
	}
}

// ---------------------------------------------------------------------------
// fid >= N.

func TestFidOutOfRange(t *testing.T) {
	const L = 5
	h := newHarness(t, simCfg(t, true), 10)
	h.latency = func() int { return L }
	h.slot["f"] = 8
	h.mem["f"] = 50
	n := h.p.N
	if n >= 16 {
		t.Skip("every fid is registered")
	}
	// Idle slot: it goes to the pipeline as a GET, answers ERROR, and leaves
	// nothing to write back.
	bad := h.newReq(OpAtomic, "f", 1, 1)
	bad.fid = n
	if !h.step(bad) {
		t.Fatal("not accepted")
	}
	h.drain(100)
	if len(h.pipes) != 1 || h.pipes[0].op != OpGet || len(h.resps) != 1 || h.resps[0].status != StatusError || h.resps[0].value != 0 {
		t.Fatalf("pipe %+v responses %+v", h.pipes, h.resps)
	}
	// Cached key: a good atomic (its write-back keeps the cache), then a bad
	// one executed at arrival: ERROR, the value unchanged.
	good := h.newReq(OpAtomic, "f", 2, 2)
	h.step(good)
	for len(h.resps) < 2 {
		h.step(nil)
	}
	bad2 := h.newReq(OpAtomic, "f", 1, 3)
	bad2.fid = 15
	acc := h.cyc
	if !h.step(bad2) {
		t.Fatal("not accepted")
	}
	get := h.newReq(OpGet, "f", 0, 4)
	h.step(get)
	h.drain(100)
	if len(h.resps) != 4 || h.resps[2] != (event{cycle: acc + 1, tag: 3, status: StatusError}) || h.resps[3].value != 52 {
		t.Fatalf("responses %+v", h.resps)
	}
	if h.mem["f"] != 52 {
		t.Fatalf("memory %d", h.mem["f"])
	}
}

// ---------------------------------------------------------------------------
// Free-id exhaustion.

func TestFreeIDExhaustion(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 11)
	h.hold = true
	M := h.p.M
	for s := 0; s < M+1; s++ {
		h.slot[fmt.Sprintf("s%d", s)] = s
	}
	for s := 0; s < M; s++ {
		if !h.step(h.newReq(OpGet, fmt.Sprintf("s%d", s), 0, uint16(s))) {
			t.Fatalf("request %d refused at cycle %d", s, h.cyc-1)
		}
	}
	last := h.newReq(OpGet, fmt.Sprintf("s%d", M), 0, uint16(M))
	for range 10 {
		if h.step(last) {
			t.Fatal("accepted with no free id")
		}
	}
	// Complete id 5 only: COMPLETE two cycles later frees it; req_ready
	// rises the cycle after, and the waiting request gets id 5.
	h.hold = false
	var keep []pending
	for _, p := range h.pend {
		if p.id == 5 {
			p.due = 0
			keep = append([]pending{p}, keep...)
		} else {
			p.due = 1 << 30
			keep = append(keep, p)
		}
	}
	h.pend = keep
	x := h.cyc
	for !h.step(last) {
		if h.cyc > x+10 {
			t.Fatal("never ready")
		}
	}
	if got := h.cyc - 1; got != x+3 {
		t.Fatalf("accepted at %d, completion at %d; want %d", got, x, x+3)
	}
	h.step(nil)
	if p := h.pipes[len(h.pipes)-1]; p.id != 5 || p.key != fmt.Sprintf("s%d", M) {
		t.Fatalf("issued %+v, want id 5", p)
	}
}

// ---------------------------------------------------------------------------
// Impossible stimulus.

func TestImpossibleCompletions(t *testing.T) {
	cfg := simCfg(t, true)
	M := cfg.RS.MaxInflight
	type cpl struct {
		at     int
		id     uint64
		status uint64
	}
	for _, tc := range []struct {
		name string
		reqs bool // a GET at cycle 0
		cpls []cpl
		want string
	}{
		{"unknown id", false, []cpl{{0, 3, 0}}, "not in the pipeline"},
		{"not yet issued", true, []cpl{{1, 0, 0}}, "queued in PQ"},
		{"twice", true, []cpl{{2, 0, 0}, {3, 0, 0}}, "completed (in CQ)"},
		{"twice later", true, []cpl{{2, 0, 0}, {9, 0, 0}}, "free"},
		{"write-back not in flight", false, []cpl{{0, uint64(M + 3), 0}}, "not in flight"},
		{"id out of range", false, []cpl{{0, 400, 0}}, "out of range"},
		{"status 3", true, []cpl{{2, 0, 3}}, "status 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, cfg)
			lay := model.MustLayout(m.Ports())
			in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
			var err error
			for cy := 0; cy < 12 && err == nil; cy++ {
				clear(in)
				if tc.reqs && cy == 0 {
					in[lay.MustSlot("req_valid").Off] = 1
					in[lay.MustSlot("req_klen").Off] = 1
					in[lay.MustSlot("req_key").Off] = 'a'
				}
				for _, c := range tc.cpls {
					if c.at == cy {
						in[lay.MustSlot("cpl_valid").Off] = 1
						in[lay.MustSlot("cpl_id").Off] = c.id
						in[lay.MustSlot("cpl_status").Off] = c.status
					}
				}
				err = m.Step(in, out)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Snapshot, Restore, Reset, DescribeState.

func TestSnapshotRestore(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 12)
	h.log = false
	h.random = true
	h.errWB = 0.1
	h.latency = func() int { return 1 + h.rng.IntN(20) }
	for _, k := range []string{"a", "b", "c", "d"} {
		h.slot[k] = int(k[0]) % 3
	}
	tag := uint16(0)
	gen := func() *req {
		if h.rng.IntN(4) == 0 {
			return nil
		}
		k := []string{"a", "b", "c", "d"}[h.rng.IntN(4)]
		r := h.newReq(h.rng.IntN(4), k, h.rng.Uint64N(9), tag)
		tag++
		return r
	}
	h.drive(3000, gen, nil)
	snap := h.m.Snapshot()
	// Record 2000 cycles of inputs and outputs.
	h.rec = true
	h.drive(2000, gen, nil)
	h.rec = false
	ins, outs := h.ins, h.outs
	end := h.m.Snapshot()
	m := h.m
	for pass := 0; pass < 2; pass++ {
		m.Restore(snap)
		out := make([]uint64, len(outs[0]))
		for i := range ins {
			if err := m.Step(ins[i], out); err != nil {
				t.Fatalf("pass %d cycle %d: %v", pass, i, err)
			}
			if !reflect.DeepEqual(out, outs[i]) {
				t.Fatalf("pass %d cycle %d: outputs %v, recorded %v", pass, i, out, outs[i])
			}
		}
		if !reflect.DeepEqual(m.Snapshot(), end) {
			t.Fatalf("pass %d: state after replay differs", pass)
		}
	}
	// The snapshot is not aliased by the model: running on does not change it.
	m.Restore(snap)
	again := m.Snapshot()
	zero, o := make([]uint64, len(ins[0])), make([]uint64, len(outs[0]))
	for range 500 {
		if err := m.Step(zero, o); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(again, snap) {
		t.Fatal("snapshot changed under the running model")
	}
}

func TestResetAndDescribe(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 13)
	h.hold = true
	h.slot["a"], h.slot["b"] = 1, 1
	for i := range 6 {
		h.step(h.newReq(OpPut, []string{"a", "b"}[i%2], 1, uint16(i)))
	}
	d := h.m.DescribeState()
	for _, want := range []string{"busy slots 1/256", "chained ops 5", "free ids 58/64", "in pipeline 1 ops", "req_ready 1", "[1: len 5"} {
		if !strings.Contains(d, want) {
			t.Errorf("DescribeState lacks %q:\n%s", want, d)
		}
	}
	h.m.Reset()
	fresh := newModel(t, simCfg(t, true))
	if !reflect.DeepEqual(h.m.st, fresh.st) || h.m.cq.Len() != 0 {
		t.Fatal("Reset does not restore the initial state")
	}
	t.Log(fresh.DescribeState())
}

func TestStepDoesNotAllocate(t *testing.T) {
	d := newDriver(t, simCfg(t, true))
	for range 1000 {
		d.step()
	}
	if a := testing.AllocsPerRun(5000, d.step); a != 0 {
		t.Fatalf("%v allocations per Step", a)
	}
}

// ---------------------------------------------------------------------------
// An allocation-free driver for the benchmark: 64 keys (a quarter of the
// requests on one), a fixed-latency in-order pipeline.

type driver struct {
	t       testing.TB
	m       *Model
	in, out []uint64
	reqs    [][]uint64 // prebuilt request input words (the req_* part)
	ri      int
	ring    [64]struct{ id, due uint64 }
	rh, rn  int
	cyc     uint64
	off     struct{ reqValid, cplValid, cplID, cplStatus, cplValue, pipeValid, pipeID, ready int }
	reqEnd  int
}

func newDriver(t testing.TB, cfg config.Config) *driver {
	m := newModel(t, cfg)
	lay := model.MustLayout(m.Ports())
	d := &driver{t: t, m: m, in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords)}
	d.off.reqValid = lay.MustSlot("req_valid").Off
	d.off.cplValid = lay.MustSlot("cpl_valid").Off
	d.off.cplID = lay.MustSlot("cpl_id").Off
	d.off.cplStatus = lay.MustSlot("cpl_status").Off
	d.off.cplValue = lay.MustSlot("cpl_value").Off
	d.off.pipeValid = lay.MustSlot("pipe_valid").Off
	d.off.pipeID = lay.MustSlot("pipe_id").Off
	d.off.ready = lay.MustSlot("req_ready").Off
	d.reqEnd = d.off.cplValid // req_* come first among the inputs
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 4096 {
		v := make([]uint64, d.reqEnd)
		k := rng.IntN(64)
		if i%4 == 0 {
			k = 0
		}
		v[d.off.reqValid] = 1
		v[lay.MustSlot("req_op").Off] = uint64(rng.IntN(4))
		v[lay.MustSlot("req_key").Off] = uint64(k + 1)
		v[lay.MustSlot("req_klen").Off] = 2
		v[lay.MustSlot("req_slot").Off] = uint64(k * 3)
		v[lay.MustSlot("req_value").Off] = uint64(i)
		v[lay.MustSlot("req_delta").Off] = 1
		v[lay.MustSlot("req_tag").Off] = uint64(i)
		d.reqs = append(d.reqs, v)
	}
	return d
}

func (d *driver) step() {
	copy(d.in, d.reqs[d.ri])
	d.in[d.off.cplValid] = 0
	if d.rn > 0 && d.ring[d.rh].due <= d.cyc {
		d.in[d.off.cplValid] = 1
		d.in[d.off.cplID] = d.ring[d.rh].id
		d.in[d.off.cplStatus] = StatusOK
		d.in[d.off.cplValue] = 5
		d.rh = (d.rh + 1) % len(d.ring)
		d.rn--
	}
	if err := d.m.Step(d.in, d.out); err != nil {
		d.t.Fatal(err)
	}
	if d.out[d.off.ready] == 1 {
		d.ri = (d.ri + 1) % len(d.reqs)
	}
	if d.out[d.off.pipeValid] == 1 {
		d.ring[(d.rh+d.rn)%len(d.ring)] = struct{ id, due uint64 }{d.out[d.off.pipeID], d.cyc + 16}
		d.rn++
	}
	d.cyc++
}

func BenchmarkStep(b *testing.B) {
	d := newDriver(b, simCfg(b, true))
	b.ReportAllocs()
	for b.Loop() {
		d.step()
	}
}

func BenchmarkStepIdle(b *testing.B) {
	m := newModel(b, simCfg(b, true))
	lay := model.MustLayout(m.Ports())
	in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Step(in, out); err != nil {
			b.Fatal(err)
		}
	}
}
