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

// testEval: fid 0 fetch-add, 1 compare-and-swap, 2 unsigned max, 3 divide
// (faults on a zero divisor), others xor.
func testEval(fid int, old, delta, cmp, swap uint64) (uint64, bool) {
	switch fid {
	case 0:
		return old + delta, false
	case 1:
		if old == cmp {
			return swap, false
		}
		return old, false
	case 2:
		return max(old, delta), false
	case 3:
		if delta == 0 {
			return old, true
		}
		return old / delta, false
	}
	return old ^ delta, false
}

type testEvaluator struct{}

func (testEvaluator) Eval(fid int, old, delta, cmp, swap uint64) (uint64, bool, error) {
	v, f := testEval(fid, old, delta, cmp, swap)
	return v, f, nil
}

func newModel(t testing.TB, cfg config.Config) *Model {
	t.Helper()
	m, err := New(cfg, testEvaluator{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// val is a stored value: its length and first 8 bytes.
type val struct{ vlen, value uint64 }

// vecApply is the test pipeline's (and the reference's) meaning of the
// vector operations, which the station never executes: any deterministic
// rule will do. It returns the response and the value left (nil: unchanged).
func vecApply(op int, cur val, found bool, delta uint64) (status uint64, resp val, left *val) {
	if !found {
		return StatusNotFound, val{}, nil
	}
	switch op {
	case OpUpdateS2V:
		return StatusOK, cur, &val{cur.vlen, maskValue(cur.value+delta, cur.vlen)}
	case OpUpdateV2V:
		return StatusOK, cur, &val{cur.vlen, maskValue(cur.value^delta, cur.vlen)}
	case OpReduce:
		return StatusOK, val{8, cur.value + delta}, nil
	}
	return StatusOK, val{cur.vlen, cur.value & delta}, nil // FILTER
}

// ---------------------------------------------------------------------------
// The harness: drives the model through its port vectors and plays the main
// pipeline (a map, completions after a latency).

type req struct {
	op, fid               int
	key                   string // the key's klen bytes
	raw                   []byte // K bytes on req_key: key, then junk past klen
	slot                  int
	vlen                  uint64 // req_vlen
	value                 uint64 // the value, bytes past vlen zero (the port gets junk there)
	delta, cmp, swap, aux uint64
	tag                   uint16
}

type event struct {
	cycle                 int
	id, op, fid, klen     uint64
	vlen, value           uint64
	delta, cmp, swap, aux uint64
	key                   string
	tag, status           uint64
	wb                    bool
}

type pending struct {
	id, status, vlen, value uint64
	slot, due, seq          int
	aux                     uint64
	sets                    bool // a non-vector request op that succeeds: it sets the cache key (and caux)
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
	mem      map[string]val
	pend     []pending
	seq      int
	inPipe   map[int]bool // slots with an operation in the pipeline
	latency  func() int
	random   bool // complete eligible operations in random order
	hold     bool // complete nothing
	errOp    float64
	errWB    float64
	force    func(e event) uint64 // deterministic error injection: a status, or 0 for none
	vecJunk  bool                 // a failed vector operation completes with a nonzero vlen/value
	errTags  map[uint16]uint64    // operations the pipeline failed, by request tag: the status
	pready   func() bool          // pipe_ready; nil: always 1
	everHeld bool                 // pipe_ready has been 0 in some cycle
	accepted map[uint16]*req      // accepted requests, by tag (for checking pipe_*)
	caux     map[int]uint64       // per slot: the aux a write-back must carry
	taken    bool                 // pipe_* was taken last cycle (or was not valid)
	lastPipe event
	maxPQ    int

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
	probe   func() // called with h.in set, just before the model steps
}

func newHarness(t testing.TB, cfg config.Config, seed uint64) *harness {
	m := newModel(t, cfg)
	lay := model.MustLayout(m.Ports())
	h := &harness{
		t: t, m: m, p: m.Params(), lay: lay,
		in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords),
		rng:      rand.New(rand.NewPCG(seed, 0x5eed)),
		slot:     map[string]int{},
		mem:      map[string]val{},
		inPipe:   map[int]bool{},
		errTags:  map[uint16]uint64{},
		accepted: map[uint16]*req{},
		caux:     map[int]uint64{},
		taken:    true,
		log:      true,
	}
	h.latency = func() int { return 4 }
	return h
}

func (h *harness) set(name string, v uint64) { h.in[h.lay.MustSlot(name).Off] = v }
func (h *harness) get(name string) uint64    { return h.out[h.lay.MustSlot(name).Off] }

// newReq builds a request; the slot comes from h.slot (which must know
// key). value is a PUT's value (8 bytes), an ATOMIC's or a vector
// operation's delta. aux is random.
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
	r := &req{op: op, key: key, raw: raw, slot: s, tag: tag, aux: h.rng.Uint64() & model.Mask(h.p.A)}
	switch {
	case op == OpPut:
		r.vlen, r.value = 8, value
	case op == OpAtomic:
		r.delta = value
		r.vlen = uint64(8 * h.rng.IntN(4)) // the wire's operand bytes: ignored by the station
	case IsVector(op):
		r.delta = value
		r.vlen = uint64(h.rng.IntN(4))
		r.value = maskValue(h.rng.Uint64(), r.vlen)
	}
	return r
}

// newPut is a PUT of a value of vlen bytes whose first 8 bytes are value.
func (h *harness) newPut(key string, vlen, value uint64, tag uint16) *req {
	r := h.newReq(OpPut, key, 0, tag)
	r.vlen, r.value = vlen, maskValue(value, vlen)
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
	h.set("req_vlen", r.vlen)
	// Bytes at i >= vlen are junk the station must ignore.
	h.set("req_value", r.value|^maskValue(^uint64(0), r.vlen)&0xa5c3_96e1_7b2d_f048)
	mw := model.Mask(h.p.W)
	h.set("req_delta", r.delta&mw)
	h.set("req_cmp", r.cmp&mw)
	h.set("req_swap", r.swap&mw)
	h.set("req_aux", r.aux)
	h.set("req_tag", uint64(r.tag))
}

// pipeEvent reads pipe_* into an event.
func (h *harness) pipeEvent() event {
	e := event{cycle: h.cyc, id: h.get("pipe_id"), tag: h.get("pipe_tag"), op: h.get("pipe_op"), fid: h.get("pipe_fid"),
		klen: h.get("pipe_klen"), vlen: h.get("pipe_vlen"), value: h.get("pipe_value"),
		delta: h.get("pipe_delta"), cmp: h.get("pipe_cmp"), swap: h.get("pipe_swap"), aux: h.get("pipe_aux")}
	ks := h.lay.MustSlot("pipe_key")
	kb := make([]byte, h.p.K)
	for i := range kb {
		kb[i] = byte(h.out[ks.Off+i/8] >> (8 * (i % 8)))
		if uint64(i) >= e.klen && kb[i] != 0 {
			h.t.Fatalf("cycle %d: pipe_key byte %d is %#x past klen %d: not masked", h.cyc, i, kb[i], e.klen)
		}
	}
	if e.klen < 1 || e.klen > uint64(h.p.K) {
		h.t.Fatalf("cycle %d: pipe_klen %d", h.cyc, e.klen)
	}
	e.key = string(kb[:e.klen])
	e.wb = e.id >= uint64(h.p.M)
	return e
}

// step runs one cycle with request r (nil: req_valid = 0) and reports
// whether r was accepted.
func (h *harness) step(r *req) bool {
	t := h.t
	clear(h.in)
	if r != nil {
		h.putReq(r)
	}
	pready := h.pready == nil || h.pready()
	h.set("pipe_ready", b2u(pready))
	h.everHeld = h.everHeld || !pready
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
			if p.sets {
				h.caux[p.slot] = p.aux
			}
			h.set("cpl_valid", 1)
			h.set("cpl_id", p.id)
			h.set("cpl_status", p.status)
			h.set("cpl_vlen", p.vlen)
			h.set("cpl_value", p.value)
			if h.log {
				h.cplSent = append(h.cplSent, event{cycle: h.cyc, id: p.id, status: p.status, vlen: p.vlen, value: p.value})
			}
		}
	}
	if h.probe != nil {
		h.probe()
	}
	if err := h.m.Step(h.in, h.out); err != nil {
		t.Fatalf("cycle %d: %v\n%s", h.cyc, err, h.m.DescribeState())
	}
	if h.rec {
		h.ins = append(h.ins, append([]uint64(nil), h.in...))
		h.outs = append(h.outs, append([]uint64(nil), h.out...))
	}
	st := &h.m.st
	h.maxPQ = max(h.maxPQ, st.pqN)
	if st.pqN > QueueCap || st.rqN > QueueCap-1 {
		t.Fatalf("cycle %d: PQ %d RQ %d after the edge, want at most %d and %d", h.cyc, st.pqN, st.rqN, QueueCap, QueueCap-1)
	}
	if !h.everHeld && (st.pqN > QueueCap-1 || st.stalls != 0) {
		// pipe_ready always 1: the first version's behaviour (rs.md §5 C).
		t.Fatalf("cycle %d: PQ %d after the edge, %d completion-side stalls, with pipe_ready always 1", h.cyc, st.pqN, st.stalls)
	}
	h.ready = h.get("req_ready") == 1
	if !h.ready {
		h.notRdy = append(h.notRdy, h.cyc)
	}
	if r != nil && h.ready {
		h.accepted[r.tag] = r
	}
	if h.get("pipe_valid") == 1 {
		e := h.pipeEvent()
		if !h.taken {
			// AXI-Stream: held data stays unchanged until the transfer.
			w := h.lastPipe
			w.cycle = e.cycle
			if e != w {
				t.Fatalf("cycle %d: pipe_* changed while held by pipe_ready = 0: %+v, was %+v", h.cyc, e, h.lastPipe)
			}
		}
		h.lastPipe, h.taken = e, pready
		if pready {
			h.issue(e)
		}
	} else if !h.taken {
		t.Fatalf("cycle %d: pipe_valid fell while held by pipe_ready = 0", h.cyc)
	}
	if h.get("resp_valid") == 1 {
		e := event{cycle: h.cyc, tag: h.get("resp_tag"), status: h.get("resp_status"), vlen: h.get("resp_vlen"), value: h.get("resp_value")}
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

// issue takes the operation e on pipe_* into the pipeline, checking it
// against the request it came from (by pipe_tag) or the write-back rules.
func (h *harness) issue(e event) {
	t := h.t
	s, ok := h.slot[e.key]
	if !ok {
		t.Fatalf("cycle %d: pipe carries unknown key %q", h.cyc, e.key)
	}
	mw := model.Mask(h.p.W)
	var r *req
	if e.wb {
		if uint64(s) != e.id-uint64(h.p.M) {
			t.Fatalf("cycle %d: write-back id %d for key %q of slot %d", h.cyc, e.id, e.key, s)
		}
		if e.op != OpPut && e.op != OpDelete {
			t.Fatalf("cycle %d: write-back with op %d", h.cyc, e.op)
		}
		if e.tag != 0 || e.fid != 0 || e.delta != 0 || e.cmp != 0 || e.swap != 0 {
			t.Fatalf("cycle %d: write-back %+v: tag, fid, delta, cmp, swap not 0", h.cyc, e)
		}
		if e.op == OpDelete && (e.vlen != 0 || e.value != 0) || e.op == OpPut && e.vlen > 8 {
			t.Fatalf("cycle %d: write-back %+v", h.cyc, e)
		}
		if a, ok := h.caux[s]; !ok || e.aux != a {
			t.Fatalf("cycle %d: write-back aux %#x, want %#x (the aux of the operation that set slot %d's cache key)", h.cyc, e.aux, a, s)
		}
	} else {
		r = h.accepted[uint16(e.tag)]
		if r == nil || r.key != e.key {
			t.Fatalf("cycle %d: pipe op %+v matches no accepted request", h.cyc, e)
		}
		wop, wvlen, wval := uint64(r.op), uint64(0), uint64(0)
		if r.op == OpAtomic {
			wop = OpGet
		}
		if r.op == OpPut || IsVector(r.op) {
			wvlen, wval = r.vlen, r.value
		}
		if e.op != wop || e.fid != uint64(r.fid) || e.vlen != wvlen || e.value != wval || e.delta != r.delta&mw ||
			e.cmp != r.cmp&mw || e.swap != r.swap&mw || e.aux != r.aux || e.id >= uint64(h.p.M) {
			t.Fatalf("cycle %d: pipe op %+v for request %+v", h.cyc, e, *r)
		}
	}
	if h.inPipe[s] {
		t.Fatalf("cycle %d: a second operation of slot %d in the pipeline\n%s", h.cyc, s, h.m.DescribeState())
	}
	h.inPipe[s] = true
	var fail uint64
	if h.force != nil {
		fail = h.force(e)
	} else if e.wb && h.errWB > 0 && h.rng.Float64() < h.errWB || !e.wb && h.errOp > 0 && h.rng.Float64() < h.errOp {
		fail = []uint64{StatusNoMemory, StatusMemError}[h.rng.IntN(2)]
	}
	p := pending{id: e.id, slot: s, due: h.cyc + h.latency(), seq: h.seq, aux: e.aux}
	h.seq++
	if fail != 0 {
		p.status = fail
		if !e.wb {
			h.errTags[uint16(e.tag)] = fail
			if IsVector(int(e.op)) && h.vecJunk {
				p.vlen, p.value = 3, 0xbad
			}
		}
	} else {
		v, found := h.mem[e.key]
		p.sets = !e.wb && !IsVector(int(e.op))
		switch {
		case e.op == OpGet:
			if found {
				p.vlen, p.value = v.vlen, v.value
			} else {
				p.status = StatusNotFound
			}
		case e.op == OpPut:
			h.mem[e.key] = val{e.vlen, e.value}
		case e.op == OpDelete:
			if !found {
				p.status = StatusNotFound
			}
			delete(h.mem, e.key)
		default:
			st, resp, left := vecApply(int(e.op), v, found, e.delta)
			p.status, p.vlen, p.value = st, resp.vlen, resp.value
			if left != nil {
				h.mem[e.key] = *left
			}
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

// seqReqs offers the requests one after another, each until it is accepted.
func (h *harness) seqReqs(rs []*req, accept func(*req)) {
	i := 0
	h.drive(len(rs), func() *req {
		if i < len(rs) {
			i++
			return rs[i-1]
		}
		return nil
	}, accept)
	for i < len(rs) {
		h.drive(1, func() *req { i++; return rs[i-1] }, accept)
	}
}

func (h *harness) idle() bool {
	st := &h.m.st
	return len(h.pend) == 0 && st.busyN == 0 && st.pqN == 0 && st.rqN == 0 && h.m.cq.Len() == 0 && !st.walkActive && st.freeN == h.p.M &&
		!st.xValid && !st.d1.valid && !st.d2.valid
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

// ---------------------------------------------------------------------------
// The sequential reference: a map, operations applied in each key's request
// order.

type checker struct {
	t       testing.TB
	n       int
	mask    uint64
	ref     map[string]val
	reqs    map[uint16]*req
	order   map[string][]uint16
	errTags map[uint16]uint64
	checked int
	errs    int
}

func newChecker(t testing.TB, h *harness) *checker {
	c := &checker{t: t, n: h.p.N, mask: model.Mask(h.p.W), ref: map[string]val{},
		reqs: map[uint16]*req{}, order: map[string][]uint16{}, errTags: h.errTags}
	for k, v := range h.mem { // the store as the test set it up
		c.ref[k] = v
	}
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

// apply is one operation on the reference: its response (status, vlen,
// value).
func (c *checker) apply(r *req) (uint64, uint64, uint64) {
	v, found := c.ref[r.key]
	switch {
	case r.op == OpGet:
		if found {
			return StatusOK, v.vlen, v.value
		}
		return StatusNotFound, 0, 0
	case r.op == OpPut:
		c.ref[r.key] = val{r.vlen, r.value}
		return StatusOK, 0, 0
	case r.op == OpDelete:
		delete(c.ref, r.key)
		if found {
			return StatusOK, 0, 0
		}
		return StatusNotFound, 0, 0
	case IsVector(r.op):
		st, resp, left := vecApply(r.op, v, found, r.delta&c.mask)
		if left != nil {
			c.ref[r.key] = *left
		}
		return st, resp.vlen, resp.value
	}
	if r.fid >= c.n {
		return StatusLambdaFault, 0, 0
	}
	old := v.value & c.mask
	nv, fault := testEval(r.fid, old, r.delta&c.mask, r.cmp&c.mask, r.swap&c.mask)
	if fault {
		return StatusLambdaFault, 0, 0
	}
	c.ref[r.key] = val{8, nv & c.mask}
	if found {
		return StatusOK, 8, old
	}
	return StatusNotFound, 8, 0
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
	var ws, wl, wv uint64
	if st, ok := c.errTags[tag]; ok {
		delete(c.errTags, tag)
		ws = st
		c.errs++
	} else {
		ws, wl, wv = c.apply(r)
	}
	if e.status != ws || e.vlen != wl || e.value != wv {
		c.t.Fatalf("cycle %d: tag %d (op %d fid %d key %q vlen %d): response (%d, %d, %#x), want (%d, %d, %#x)",
			e.cycle, tag, r.op, r.fid, r.key, r.vlen, e.status, e.vlen, e.value, ws, wl, wv)
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
	// sim: K = 16, KL = 5, R = 256 (S = 8), M = 64, I = bits(319) = 9,
	// VM = 478 (VL = 9), W = 64, N = 7 (F = 3), A = BI + H = 14 + 9 = 23.
	const pv, rv = "pipe_valid", "resp_valid"
	want := []pw{
		{"req_valid", model.In, 1, ""},
		{"req_ready", model.Out, 1, ""},
		{"req_op", model.In, 3, ""},
		{"req_fid", model.In, 3, ""},
		{"req_key", model.In, 128, ""},
		{"req_klen", model.In, 5, ""},
		{"req_slot", model.In, 8, ""},
		{"req_vlen", model.In, 9, ""},
		{"req_value", model.In, 64, ""},
		{"req_delta", model.In, 64, ""},
		{"req_cmp", model.In, 64, ""},
		{"req_swap", model.In, 64, ""},
		{"req_aux", model.In, 23, ""},
		{"req_tag", model.In, 16, ""},
		{"pipe_valid", model.Out, 1, ""},
		{"pipe_ready", model.In, 1, ""},
		{"pipe_id", model.Out, 9, pv},
		{"pipe_tag", model.Out, 16, pv},
		{"pipe_op", model.Out, 3, pv},
		{"pipe_fid", model.Out, 3, pv},
		{"pipe_key", model.Out, 128, pv},
		{"pipe_klen", model.Out, 5, pv},
		{"pipe_vlen", model.Out, 9, pv},
		{"pipe_value", model.Out, 64, pv},
		{"pipe_delta", model.Out, 64, pv},
		{"pipe_cmp", model.Out, 64, pv},
		{"pipe_swap", model.Out, 64, pv},
		{"pipe_aux", model.Out, 23, pv},
		{"cpl_valid", model.In, 1, ""},
		{"cpl_id", model.In, 9, ""},
		{"cpl_status", model.In, 4, ""},
		{"cpl_vlen", model.In, 9, ""},
		{"cpl_value", model.In, 64, ""},
		{"resp_valid", model.Out, 1, ""},
		{"resp_tag", model.Out, 16, rv},
		{"resp_status", model.Out, 4, rv},
		{"resp_vlen", model.Out, 9, rv},
		{"resp_value", model.Out, 64, rv},
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
	if !reflect.DeepEqual(got, Ports(simCfg(t, true))) {
		t.Error("Model.Ports and Ports(cfg) differ")
	}
}

func TestPortWidthsOtherConfigs(t *testing.T) {
	paper, _ := config.Preset("paper")
	lam := func(n int) []config.Lambda {
		var l []config.Lambda
		for i := range n {
			l = append(l, config.Lambda{Name: fmt.Sprintf("f%d", i), Expr: "old + delta"})
		}
		return l
	}
	for _, tc := range []struct {
		name                      string
		mut                       func(*config.Config)
		aux                       int // 0: the default
		i, s, kl, k8, w, vl, f, a int
	}{
		{"paper", func(*config.Config) {}, 0, 11, 10, 6, 256, 64, 9, 3, 37},                                        // M+R-1 = 1279; VM 478; N 7; 28 + 9
		{"M=1,R=2", func(c *config.Config) { c.RS.MaxInflight, c.RS.Slots = 1, 2 }, 0, 2, 1, 6, 256, 64, 9, 3, 37}, // 0..2
		{"M=4,R=4", func(c *config.Config) { c.RS.MaxInflight, c.RS.Slots = 4, 4 }, 0, 3, 2, 6, 256, 64, 9, 3, 37}, // 0..7
		{"N=8", func(c *config.Config) { c.Atomic.Lambdas = lam(8) }, 0, 11, 10, 6, 256, 64, 9, 4, 37},             // F holds N itself
		{"N=1", func(c *config.Config) { c.Atomic.Lambdas = lam(1) }, 0, 11, 10, 6, 256, 64, 9, 1, 37},             // 0..1
		{"VM=8", func(c *config.Config) { c.Key.MaxValueBytes = 8 }, 0, 11, 10, 6, 256, 64, 4, 3, 37},              // 0..8
		{"aux 5", func(*config.Config) {}, 5, 11, 10, 6, 256, 64, 9, 3, 5},                                         // NewWithAux
		{"BI=1,H=1", func(c *config.Config) { c.Memory.IndexBuckets, c.Bucket.SecHashBits = 2, 1 }, 0, 11, 10, 6, 256, 64, 9, 3, 2},
		{"M=5,R=4,W=8,K=1", func(c *config.Config) {
			c.RS.MaxInflight, c.RS.Slots, c.Atomic.ScalarBits, c.Key.MaxKeyBytes = 5, 4, 8, 1
		}, 0, 4, 2, 1, 8, 8, 9, 3, 37}, // 0..8
	} {
		c := paper
		c.Atomic.Lambdas = append([]config.Lambda(nil), paper.Atomic.Lambdas...)
		tc.mut(&c)
		var m *Model
		var err error
		if tc.aux > 0 {
			m, err = NewWithAux(c, testEvaluator{}, tc.aux)
		} else {
			m, err = New(c, testEvaluator{})
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		lay := model.MustLayout(m.Ports())
		w := func(n string) int { return lay.MustSlot(n).Width }
		got := []int{w("pipe_id"), w("req_slot"), w("req_klen"), w("req_key"), w("req_delta"), w("req_vlen"), w("req_fid"), w("req_aux")}
		want := []int{tc.i, tc.s, tc.kl, tc.k8, tc.w, tc.vl, tc.f, tc.a}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: I S KL key W VL F A = %v, want %v", tc.name, got, want)
		}
		pairs := [][2]string{{"pipe_id", "cpl_id"}, {"req_klen", "pipe_klen"}, {"req_key", "pipe_key"}, {"req_delta", "pipe_swap"},
			{"req_vlen", "pipe_vlen"}, {"req_vlen", "cpl_vlen"}, {"req_vlen", "resp_vlen"}, {"req_fid", "pipe_fid"}, {"req_aux", "pipe_aux"}}
		for _, pr := range pairs {
			if w(pr[0]) != w(pr[1]) {
				t.Errorf("%s: %s is %d bits, %s %d", tc.name, pr[0], w(pr[0]), pr[1], w(pr[1]))
			}
		}
		if tc.aux == 0 && ParamsOf(c).A != tc.a {
			t.Errorf("%s: ParamsOf A = %d, want %d", tc.name, ParamsOf(c).A, tc.a)
		}
	}
}

func TestNewRejects(t *testing.T) {
	c := simCfg(t, true)
	if _, err := New(c, nil); err == nil {
		t.Error("nil evaluator accepted")
	}
	for _, a := range []int{0, 65} {
		if _, err := NewWithAux(c, testEvaluator{}, a); err == nil {
			t.Errorf("aux width %d accepted", a)
		}
	}
	if _, err := NewWithAux(c, FuncEvaluator(func(fid int, old, delta, cmp, swap uint64) uint64 { return old }), 64); err != nil {
		t.Errorf("aux width 64: %v", err)
	}
	c.RS.Slots = 3
	if _, err := New(c, testEvaluator{}); err == nil {
		t.Error("rs.slots = 3 accepted")
	}
}

// ---------------------------------------------------------------------------
// req_ready.

// req_ready (§9.2, §10.1) = !X.valid || X goes, on the state at the start of the
// cycle: with X empty it is 1 whatever the rest; with X full it is the
// condition of X going. The states are set by hand; only the outputs of the
// cycle matter (the advance may find the hand-made state impossible, which
// is ignored here).
func TestReqReadyRule(t *testing.T) {
	cfg := simCfg(t, true)
	M := uint64(cfg.RS.MaxInflight)
	probe := func(mut func(st *state), valid bool, reqSlot uint64) (ready, pipe uint64) {
		m := newModel(t, cfg)
		m.st.cycle = 10
		mut(&m.st)
		lay := model.MustLayout(m.Ports())
		in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
		in[lay.MustSlot("req_slot").Off] = reqSlot
		if valid {
			in[lay.MustSlot("req_valid").Off] = 1
			in[lay.MustSlot("req_klen").Off] = 1
		}
		_ = m.Step(in, out)
		return out[lay.MustSlot("req_ready").Off], out[lay.MustSlot("pipe_valid").Off]
	}
	x := func(slot int32) func(st *state) { // X holds a GET for slot
		return func(st *state) { st.xValid, st.x = true, opRec{klen: 1, slot: slot, tag: 9} }
	}
	and := func(fs ...func(st *state)) func(st *state) {
		return func(st *state) {
			for _, f := range fs {
				f(st)
			}
		}
	}
	walk := func(slot int32) func(st *state) {
		return func(st *state) {
			st.walkActive, st.walkSlot = true, slot
			st.ops[63].life, st.ops[63].slot, st.walkCur = idChained, slot, 63
			st.slots[slot].n, st.slots[slot].head, st.slots[slot].tail = 1, 63, 63
		}
	}
	d2 := func(id uint64, slot int32) func(st *state) {
		return func(st *state) {
			st.d2 = lineEnt{valid: true, id: id}
			if id < M {
				st.ops[id].slot = slot
			}
		}
	}
	d1 := func(id uint64, slot int32) func(st *state) {
		return func(st *state) {
			st.d1 = lineEnt{valid: true, id: id}
			if id < M {
				st.ops[id].slot = slot
			}
		}
	}
	pq := func(n int, at uint64) func(st *state) { // n entries pushed in cycle at
		return func(st *state) {
			st.pqN = n
			for i := range n {
				st.pq[i].at = at
			}
		}
	}
	for _, tc := range []struct {
		name string
		mut  func(st *state)
		want uint64
	}{
		{"reset", func(*state) {}, 1},
		// X empty: req_ready = 1, whatever the rest of the state.
		{"X empty, no free id", func(st *state) { st.freeN = 0 }, 1},
		{"X empty, PQ Q", pq(QueueCap, 0), 1},
		{"X empty, RQ Q-1", func(st *state) { st.rqN = QueueCap - 1 }, 1},
		{"X empty, walk on slot 0", walk(0), 1},
		{"X empty, D1 for slot 0", d1(3, 0), 1},
		{"X empty, D2 for slot 0", d2(3, 0), 1},
		// X full: req_ready = X goes.
		{"X goes", x(0), 1},
		{"X, walk on its slot", and(x(0), walk(0)), 0},
		{"X, walk on another slot", and(x(0), walk(1)), 1},
		{"X, D2 operation of its slot", and(x(5), d2(3, 5)), 0},
		{"X, D2 operation of another slot", and(x(5), d2(3, 6)), 1},
		{"X, D2 write-back of its slot", and(x(5), d2(M+5, 0)), 0},
		{"X, D2 write-back of another slot", and(x(5), d2(M+6, 0)), 1},
		// §10.1: the D1 term, read like D2's.
		{"X, D1 operation of its slot", and(x(5), d1(3, 5)), 0},
		{"X, D1 operation of another slot", and(x(5), d1(3, 6)), 1},
		{"X, D1 write-back of its slot", and(x(5), d1(M+5, 0)), 0},
		{"X, D1 write-back of another slot", and(x(5), d1(M+6, 0)), 1},
		{"X, D1 and D2 of other slots", and(x(5), d1(3, 6), d2(4, 7)), 1},
		{"X, one free id", and(x(0), func(st *state) { st.freeN = 1 }), 1},
		{"X, no free id", and(x(0), func(st *state) { st.freeN = 0 }), 0},
		{"X, PQ Q-2", and(x(0), pq(QueueCap-2, 0)), 1},
		{"X, PQ Q-1", and(x(0), pq(QueueCap-1, 0)), 0},
		{"X, PQ Q-1, none visible yet", and(x(0), pq(QueueCap-1, 9)), 0}, // |PQ| counts invisible entries
		{"X, PQ Q", and(x(0), pq(QueueCap, 0)), 0},
		{"X, RQ Q-2", and(x(0), func(st *state) { st.rqN = QueueCap - 2 }), 1},
		{"X, RQ Q-1", and(x(0), func(st *state) { st.rqN = QueueCap - 1 }), 0},
	} {
		for _, valid := range []bool{false, true} {
			// §9.2: req_ready depends on state only, not on req_slot.
			for _, rs := range []uint64{0, 1, 5, 6, 255} {
				if got, _ := probe(tc.mut, valid, rs); got != tc.want {
					t.Errorf("%s (req_valid %v, req_slot %d): req_ready %d, want %d", tc.name, valid, rs, got, tc.want)
				}
			}
		}
	}
	// §9.2 C: PQ's head drives pipe_valid from the second cycle after its
	// push (the model is at cycle 10).
	for _, tc := range []struct {
		at   uint64
		want uint64
	}{{10, 0}, {9, 0}, {8, 1}, {0, 1}} {
		if _, got := probe(pq(1, tc.at), false, 0); got != tc.want {
			t.Errorf("PQ head pushed in cycle %d, now cycle 10: pipe_valid %d, want %d", tc.at, got, tc.want)
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
	h.seqReqs(reqs, nil)
	h.step(nil)
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
// One operation, exact cycles (pipe_ready always 1, short values). The
// v3 / v3.1 path (§9, unchanged by §10): accepted into X in cycle 0; X goes in 1 and pushes to PQ; the
// entry drives pipe_* from 3 (t+2); the pipeline completes it at 3+L; CQ's
// output has it at 5+L (microarch.md §3) and ADVANCE pops it to D1; it is in
// D2 at 7+L, where COMPLETE acts on it; the response is seen at 8+L.

func TestSingleOperationPath(t *testing.T) {
	for _, fwd := range []bool{true, false} {
		t.Run(fmt.Sprintf("fwd=%v", fwd), func(t *testing.T) {
			const L = 4
			h := newHarness(t, simCfg(t, fwd), 2)
			h.latency = func() int { return L }
			h.slot["hello"] = 3
			put := h.newPut("hello", 5, 42, 7)
			if !h.step(put) { // cycle 0
				t.Fatal("PUT not accepted at cycle 0")
			}
			for h.cyc < 20 {
				h.step(nil)
			}
			if len(h.pipes) != 1 || h.pipes[0] != (event{cycle: 3, id: 0, tag: 7, op: OpPut, klen: 5, vlen: 5, value: 42, key: "hello", aux: put.aux}) {
				t.Fatalf("pipe: %+v", h.pipes)
			}
			if len(h.cplSent) != 1 || h.cplSent[0].cycle != 3+L {
				t.Fatalf("completions: %+v", h.cplSent)
			}
			if len(h.resps) != 1 || h.resps[0] != (event{cycle: 8 + L, tag: 7, status: StatusOK}) {
				t.Fatalf("responses: %+v", h.resps)
			}
			if !h.idle() {
				t.Fatalf("not idle: %s", h.m.DescribeState())
			}
			// A GET of the same key at cycle 20: the slot went idle (a PUT
			// leaves nothing dirty), so it goes to the pipeline with the
			// next free id, 1 (0 went to the back of the free FIFO).
			get := h.newReq(OpGet, "hello", 0, 8)
			if !h.step(get) {
				t.Fatal("GET not accepted")
			}
			for h.cyc < 40 {
				h.step(nil)
			}
			if len(h.pipes) != 2 || h.pipes[1] != (event{cycle: 23, id: 1, tag: 8, op: OpGet, klen: 5, key: "hello", aux: get.aux}) {
				t.Fatalf("pipe: %+v", h.pipes)
			}
			if len(h.resps) != 2 || h.resps[1] != (event{cycle: 28 + L, tag: 8, status: StatusOK, vlen: 5, value: 42}) {
				t.Fatalf("responses: %+v", h.resps)
			}
		})
	}
}

// An ATOMIC goes to the pipeline as a GET (with its fid, operands and aux);
// its response leaves in the cycle after COMPLETE (7+L), its write-back PUT
// two cycles after (§9.2 C).
func TestSingleAtomicPath(t *testing.T) {
	const L = 6
	h := newHarness(t, simCfg(t, true), 3)
	h.latency = func() int { return L }
	h.slot["ctr"] = 200
	h.mem["ctr"] = val{8, 10}
	a := h.newReq(OpAtomic, "ctr", 5, 99)
	a.cmp, a.swap = 3, 4
	if !h.step(a) {
		t.Fatal("not accepted")
	}
	h.drain(100)
	wantPipes := []event{
		{cycle: 3, id: 0, tag: 99, op: OpGet, klen: 3, key: "ctr", delta: 5, cmp: 3, swap: 4, aux: a.aux},
		{cycle: 9 + L, id: uint64(h.p.M + 200), op: OpPut, klen: 3, vlen: 8, value: 15, key: "ctr", wb: true, aux: a.aux},
	}
	if !reflect.DeepEqual(h.pipes, wantPipes) {
		t.Fatalf("pipe: %+v\nwant %+v", h.pipes, wantPipes)
	}
	if len(h.resps) != 1 || h.resps[0] != (event{cycle: 8 + L, tag: 99, status: StatusOK, vlen: 8, value: 10}) {
		t.Fatalf("responses: %+v", h.resps)
	}
	if h.mem["ctr"] != (val{8, 15}) {
		t.Fatalf("memory %+v, want 15", h.mem["ctr"])
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
	h.seqReqs(rs, c.accept)
	h.drain(1000)
	if c.checked != len(rs) {
		t.Fatalf("%d responses, want %d", c.checked, len(rs))
	}
	if !reflect.DeepEqual(h.mem, c.ref) {
		t.Fatalf("memory %v, reference %v", h.mem, c.ref)
	}
}

// Values are masked: bytes at i >= req_vlen are ignored, on the pipeline
// and in the cache.
func TestValueMasking(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 40)
	h.slot["v"] = 2
	// An atomic caches "v" and leaves a write-back in flight; a 3-byte PUT
	// is absorbed at arrival and a GET reads it from the cache.
	a := h.newReq(OpAtomic, "v", 1, 1)
	h.step(a)
	for len(h.resps) < 1 {
		h.step(nil)
	}
	p := h.newPut("v", 3, 0x00ab_cdef, 2)
	g := h.newReq(OpGet, "v", 0, 3)
	if !h.step(p) || !h.step(g) {
		t.Fatal("not accepted")
	}
	h.drain(100)
	if len(h.resps) != 3 || h.resps[2] != (event{cycle: h.resps[1].cycle + 1, tag: 3, status: StatusOK, vlen: 3, value: 0xabcdef}) {
		t.Fatalf("responses %+v", h.resps)
	}
	if h.mem["v"] != (val{3, 0xabcdef}) {
		t.Fatalf("memory %+v", h.mem["v"])
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
	nresp := 0
	for _, e := range h.resps {
		if e.cycle < cycles {
			nresp++
		}
	}
	h.drain(10 * L)
	if c.checked != len(acc) {
		t.Fatalf("%d responses for %d requests", c.checked, len(acc))
	}
	// Values: fetch-add of 1 from nothing: 0 (NOT_FOUND), 1, 2, …
	for i, e := range h.resps {
		if e.value != uint64(i) || e.vlen != 8 {
			t.Fatalf("response %d: value %d vlen %d", i, e.value, e.vlen)
		}
	}
	if h.mem["hot"] != (val{8, uint64(len(acc))}) {
		t.Fatalf("memory %+v after %d fetch-adds", h.mem["hot"], len(acc))
	}
	rate := float64(nresp) / float64(cycles)
	t.Logf("forwarding, latency %d: %d ops in %d cycles = %.4f ops/cycle (§10.2: 1 - 2/(L+6) = %.4f); %d pipeline ops",
		L, nresp, cycles, rate, 1-2.0/(L+6), len(h.pipes))
	if rate < 0.9 {
		t.Errorf("%.4f ops/cycle, want at least 0.9", rate)
	}
	// The first operation: accepted at 0, goes from X at 1, on the pipe at
	// 3, completed at 3+L, at CQ's output (popped into D1) at 5+L, in D1 at
	// 6+L, in D2 at c0 = 7+L (COMPLETE), response at 8+L. Requests
	// accepted in cycles 1 .. 4+L went from X in 2 .. 5+L and were chained
	// (4+L of them). The one accepted at 5+L waits in X: D1 holds the
	// slot's completion at 6+L (§10.1), D2 at 7+L, then the walk is active:
	// its steps at 8+L .. 11+2L, one per cycle, the first the cycle after
	// COMPLETE. So req_ready = 0 in 6+L .. 11+2L.
	c0 := 7 + L
	we := 11 + 2*L // the walk's last step: END pushes the first write-back
	if h.resps[0].cycle != c0+1 || h.resps[1].cycle != c0+2 {
		t.Fatalf("first responses at %d, %d; want %d (COMPLETE + 1) and %d (the walk's first step the cycle after COMPLETE)", h.resps[0].cycle, h.resps[1].cycle, c0+1, c0+2)
	}
	wantNR := []int{}
	for cy := c0 - 1; cy <= we; cy++ {
		wantNR = append(wantNR, cy)
	}
	// Then each write-back round trip (pushed at END in cycle w, on the
	// pipe at w+2, completed at w+2+L, at CQ's output at w+4+L, in D1 at
	// w+5+L, in D2 at w+6+L where COMPLETE pushes the next one) holds X
	// for two cycles: the cycles its completion is in D1 and D2 (§10.1 B,
	// §10.2). Period L+6.
	var wbCpl []int
	for _, e := range h.cplSent {
		if e.id >= uint64(h.p.M) {
			wbCpl = append(wbCpl, e.cycle)
		}
	}
	for k, w := 0, we; w+6+L < cycles; k, w = k+1, w+6+L {
		if k >= len(wbCpl) || wbCpl[k] != w+2+L {
			t.Fatalf("write-back completion %d at %v, want %d (write-backs: %v)", k, wbCpl[min(k, len(wbCpl)-1)], w+2+L, wbCpl)
		}
		wantNR = append(wantNR, w+5+L, w+6+L)
	}
	var gotNR []int
	for _, cy := range h.notRdy {
		if cy < cycles {
			gotNR = append(gotNR, cy)
		}
	}
	if !reflect.DeepEqual(gotNR, wantNR) {
		t.Fatalf("req_ready = 0 in cycles %v\nwant %v", gotNR, wantNR)
	}
	// held(c) is how many cycles X is held from cycle c on.
	nr := map[int]bool{}
	for _, cy := range wantNR {
		nr[cy] = true
	}
	held := func(c int) int {
		n := 0
		for nr[c+n] {
			n++
		}
		return n
	}
	// After the walk, one response every cycle except the two cycles after
	// X was held by D1 and D2: X went in cycle p-1, answered in p, and the
	// next X goes after the hold, answered held(p) cycles later than
	// otherwise.
	for i := 1; i < nresp; i++ {
		p, e := h.resps[i-1].cycle, h.resps[i].cycle
		if p <= c0+1 {
			continue
		}
		want := 1
		if p > we+1 {
			want += held(p)
		}
		if e-p != want {
			t.Fatalf("response %d at %d, previous at %d; want a gap of %d", i, e, p, want)
		}
	}
	// Arrivals after the walk execute when X goes: the response leaves two
	// cycles after acceptance, later by the cycles D1 and D2 held X after.
	for _, e := range h.resps {
		a := acc[uint16(e.tag)]
		want := a + 2 + held(a+1)
		if a > we && e.cycle != want {
			t.Fatalf("tag %d accepted at %d answered at %d, want %d", e.tag, a, e.cycle, want)
		}
	}
	// The pipeline sees the first GET and then only write-backs, one per
	// round trip of L+6 cycles.
	for i, p := range h.pipes[1:] {
		if !p.wb || p.op != OpPut || p.vlen != 8 {
			t.Fatalf("pipe op %d: %+v, want a write-back PUT", i+1, p)
		}
	}
	if max := cycles/(L+6) + 3; len(h.pipes) > max {
		t.Errorf("%d pipeline ops, want at most %d", len(h.pipes), max)
	}
}

// TestHotKeyThroughput measures §10.2's claim: one hot key, atomics,
// forwarding on, a pipeline answering in ~200 cycles (the paper preset, as
// §8's bench): each write-back completion holds X two cycles (its D1 and
// D2 cycles), so the rate is 1 - 2/(L+6) ≈ 0.990 at L = 200 (v3, §9.3:
// 1 - 1/(L+6)). The sim preset at L = 20 checks the formula where the
// two held cycles weigh more.
func TestHotKeyThroughput(t *testing.T) {
	paper, _ := config.Preset("paper")
	for _, tc := range []struct {
		name   string
		preset string
		lat    func(h *harness) int
		expect float64 // 0: not predicted exactly
		min    float64
	}{
		{"latency 200", "paper", func(*harness) int { return 200 }, 1 - 2.0/206, 0.985},
		{"latency 150-250", "paper", func(h *harness) int { return 150 + h.rng.IntN(101) }, 0, 0.985},
		{"latency 20", "sim", func(*harness) int { return 20 }, 1 - 2.0/26, 0.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const warm, window = 5000, 200000
			cfg := paper
			if tc.preset == "sim" {
				cfg = simCfg(t, true)
			}
			h := newHarness(t, cfg, 30)
			h.log = false
			h.latency = func() int { return tc.lat(h) }
			h.slot["hot"] = 77
			c := newChecker(t, h)
			n := 0
			h.onResp = func(e event) {
				c.resp(e)
				if e.cycle >= warm && e.cycle < warm+window {
					n++
				}
			}
			tag := uint16(0)
			h.drive(warm+window, func() *req {
				r := h.newReq(OpAtomic, "hot", 1, tag)
				tag++
				return r
			}, c.accept)
			h.drain(2000)
			if len(c.reqs) != 0 {
				t.Fatalf("%d requests unanswered", len(c.reqs))
			}
			rate := float64(n) / window
			t.Logf("%s preset, one hot key, atomics, forwarding, %s: %d responses in %d cycles (after %d of warm-up) = %.4f op/cycle (§10.2: 1 - 2/(L+6))",
				tc.preset, tc.name, n, window, warm, rate)
			if tc.expect > 0 && (rate < tc.expect-2.0/window || rate > tc.expect+2.0/window) {
				t.Errorf("%.5f op/cycle, want %.5f (1 - 2/(L+6))", rate, tc.expect)
			}
			if rate < tc.min {
				t.Errorf("%.4f op/cycle, want at least %.3f", rate, tc.min)
			}
		})
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
	// Each atomic is a GET round trip and a write-back round trip of L+6
	// cycles each (END's push at c, on the pipe at c+2, completed at
	// c+2+L, at CQ's output at c+4+L, COMPLETE from D2 at c+6+L):
	// responses exactly 2(L+6) apart.
	if h.resps[0].cycle != L+8 {
		t.Fatalf("first response at %d", h.resps[0].cycle)
	}
	for i := 1; i < len(h.resps); i++ {
		if d := h.resps[i].cycle - h.resps[i-1].cycle; d != 2*(L+6) {
			t.Fatalf("responses %d and %d are %d cycles apart, want %d", i-1, i, d, 2*(L+6))
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
	t.Logf("no forwarding, latency %d: %d ops in %d cycles = %.4f ops/cycle (1/%d)", L, nresp, cycles, rate, 2*(L+6))
	// The chain fills every id, so req_ready falls on free-id exhaustion.
	if len(h.notRdy) < cycles/2 {
		t.Fatalf("req_ready = 0 in only %d cycles", len(h.notRdy))
	}
	if h.m.st.freeN != h.p.M {
		t.Fatalf("ids not all free after drain")
	}
}

// GETs without forwarding: one per round trip of L+6 cycles, no
// write-backs.
func TestHotKeyNoForwardingGets(t *testing.T) {
	const L = 10
	h := newHarness(t, simCfg(t, false), 6)
	h.latency = func() int { return L }
	h.slot["k"] = 1
	tag := uint16(0)
	h.drive(1000, func() *req { r := h.newReq(OpGet, "k", 0, tag); tag++; return r }, nil)
	for i := 1; i < len(h.resps); i++ {
		if d := h.resps[i].cycle - h.resps[i-1].cycle; d != L+6 {
			t.Fatalf("responses %d apart, want %d", d, L+6)
		}
	}
	for _, p := range h.pipes {
		if p.wb {
			t.Fatal("write-back without a change")
		}
	}
}

// ---------------------------------------------------------------------------
// v3 and v3.1 (rs.md §9, §10): one test per rule. Each fixes the cycles
// the document gives; a model without the rule (or with §5's or v3's
// timing) fails it. The TestV3 tests are §9's rules that v3.1 keeps (their
// cycles updated where the walk now starts a cycle earlier); the TestV31
// tests are §10's.

// runUntil steps with no request until cycle c (the next step is cycle c).
func (h *harness) runUntil(c int) {
	for h.cyc < c {
		h.step(nil)
	}
}

// pipeAt is the cycle the operation with request tag tag was on pipe_*.
func pipeAt(t *testing.T, h *harness, tag uint64, wb bool) int {
	t.Helper()
	for _, e := range h.pipes {
		if e.wb == wb && (wb || e.tag == tag) {
			return e.cycle
		}
	}
	t.Fatalf("tag %d (write-back %v) never on the pipe: %+v", tag, wb, h.pipes)
	return 0
}

// respAt is the cycle of the response with tag tag.
func respAt(t *testing.T, h *harness, tag uint64) int {
	t.Helper()
	for _, e := range h.resps {
		if e.tag == tag {
			return e.cycle
		}
	}
	t.Fatalf("no response for tag %d: %+v", tag, h.resps)
	return 0
}

// §9.2 B, rule 1: X for slot s waits while D2 holds a completion for s
// (an operation's, or s's write-back's) and goes in the cycle after it
// leaves D2; X for another slot is not held.
func TestV3XWaitsWhileD2HoldsItsSlot(t *testing.T) { xHeldByLine(t, 2) }

// xHeldByLine checks the hold of X by the completion-line entry in D1
// (stage 1, §10.1 B) or D2 (stage 2, §9.2 B) for an operation's and a
// write-back's completion, with the request for that entry's slot or
// another.
func xHeldByLine(t *testing.T, stage int) {
	const L = 10
	for _, tc := range []struct {
		name string
		wb   bool // the completion in the line is a write-back's
		same bool // the request's slot is the entry's
	}{
		{"operation, same slot", false, true},
		{"operation, other slot", false, false},
		{"write-back, same slot", true, true},
		{"write-back, other slot", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := map[int]uint64{1: 58, 2: 50}[stage]
			h := newHarness(t, simCfg(t, true), seed)
			h.latency = func() int { return L }
			h.slot["k"], h.slot["o"] = 5, 6
			h.mem["k"], h.mem["o"] = val{8, 7}, val{8, 8}
			c := newChecker(t, h)
			// An operation accepted at 0 completes at 3+L, is at CQ's
			// output (popped) at 5+L, in D1 at 6+L and in D2 at 7+L
			// (COMPLETE). An ATOMIC's write-back, pushed there, is on the
			// pipe at 9+L, completes at 9+2L and is in D1 at 12+2L, in D2
			// at 13+2L. d is the cycle the entry is in the stage tested.
			first := h.newReq(OpGet, "k", 0, 1)
			d := 5 + stage + L
			if tc.wb {
				first = h.newReq(OpAtomic, "k", 1, 1)
				d = 11 + stage + 2*L
			}
			c.accept(first)
			h.step(first)
			h.runUntil(d - 1)
			key := "o"
			if tc.same {
				key = "k"
			}
			b := h.newReq(OpGet, key, 0, 2) // enters X at d-1
			if !h.step(b) {
				t.Fatal("refused with X empty")
			}
			c.accept(b)
			st := &h.m.st
			if stage == 1 && (!st.d1.valid || h.m.lineSlot(&st.d1) != 5 || st.d2.valid || !st.xValid || st.walkActive) {
				t.Fatalf("cycle %d: want D1 holding slot 5's completion, D2 empty, X full: %s", h.cyc, h.m.DescribeState())
			}
			if stage == 2 && (!st.d2.valid || h.m.lineSlot(&st.d2) != 5 || !st.xValid) {
				t.Fatalf("cycle %d: want D2 holding slot 5's completion and X full: %s", h.cyc, h.m.DescribeState())
			}
			cr := h.newReq(OpGet, key, 0, 3)
			acc := -1
			for range 5 {
				if h.step(cr) {
					acc = h.cyc - 1
					break
				}
			}
			c.accept(cr)
			h.drain(500)
			if len(c.reqs) != 0 {
				t.Fatalf("%d unanswered", len(c.reqs))
			}
			// Same slot: req_ready = 0 from d until the entry has left D2
			// (D1 then D2 for stage 1; D2 for stage 2), then X goes and
			// the next request enters X. Other slot: X goes at d.
			wantAcc, goes := d, d
			if tc.same {
				wantAcc, goes = d+3-stage, d+3-stage
			}
			if acc != wantAcc {
				t.Fatalf("next request accepted at %d, want %d; req_ready = 0 in %v", acc, wantAcc, h.notRdy)
			}
			// The slot is idle after the COMPLETE (nothing dirty, no
			// chain), so b goes to the pipeline, pushed when X goes, on the
			// pipe two cycles later (without the D1 term, stage 1's b would
			// join slot 5's chain and be served by a walk).
			if got := pipeAt(t, h, 2, false); got != goes+2 {
				t.Fatalf("b on the pipe at %d, want %d (X went at %d)", got, goes+2, goes)
			}
		})
	}
}

// §10.1 B, rule 1a (v3.1): X for slot s also waits while D1 holds a
// completion for s (an operation's, or s's write-back's), read from the
// state at the start of the cycle; it is then held by D2 the next cycle
// and goes the cycle after. X for another slot is not held. D1 does not
// move while a walk is active, so X waits for the whole walk of another
// slot when the entry it waits for sits in D1.
func TestV31XWaitsWhileD1HoldsItsSlot(t *testing.T) {
	const L = 10
	xHeldByLine(t, 1)
	for _, same := range []bool{true, false} {
		t.Run(fmt.Sprintf("D1 frozen by a walk, same slot %v", same), func(t *testing.T) {
			const n = 4 // operations chained behind A1
			h := newHarness(t, simCfg(t, true), 59)
			h.latency = func() int { return L }
			h.slot["a"], h.slot["b"], h.slot["o"] = 5, 6, 7
			h.mem["a"], h.mem["b"], h.mem["o"] = val{8, 1}, val{8, 2}, val{8, 3}
			c := newChecker(t, h)
			// A1 (0) to the pipe, completed at 3+L, COMPLETE at 7+L, which
			// starts a walk of A2..A5 (accepted 2..5, chained): steps 8+L
			// .. 7+L+n. B1 (1, slot 6) is completed at 5+L, at CQ's output
			// at 7+L and popped into D1 by that ADVANCE; it stays in D1
			// through the walk, moves to D2 at 8+L+n (the first ADVANCE)
			// and is COMPLETEd at 9+L+n.
			h.onPipe = func(e event) {
				if e.tag == 2 {
					h.pend[len(h.pend)-1].due = 5 + L
				}
			}
			rs := []*req{h.newReq(OpGet, "a", 0, 1), h.newReq(OpGet, "b", 0, 2)}
			for i := range n {
				rs = append(rs, h.newReq(OpGet, "a", 0, uint16(i+3)))
			}
			h.seqReqs(rs, c.accept)
			h.runUntil(7 + L)
			key := "o"
			if same {
				key = "b"
			}
			e := h.newReq(OpGet, key, 0, 10) // enters X at 7+L
			if !h.step(e) {
				t.Fatal("refused with X empty")
			}
			c.accept(e)
			if st := &h.m.st; !st.walkActive || st.walkSlot != 5 || !st.d1.valid || h.m.lineSlot(&st.d1) != 6 || st.d2.valid {
				t.Fatalf("cycle %d: want a walk of slot 5 and B1 (slot 6) in D1: %s", h.cyc, h.m.DescribeState())
			}
			f := h.newReq(OpGet, "o", 0, 11)
			acc := -1
			for range 3 * n {
				if h.step(f) {
					acc = h.cyc - 1
					break
				}
			}
			c.accept(f)
			h.drain(500)
			if len(c.reqs) != 0 {
				t.Fatalf("%d unanswered", len(c.reqs))
			}
			if same {
				// X held 8+L .. 8+L+n by D1, 9+L+n by D2; goes at 10+L+n
				// to the pipeline (B1's COMPLETE left slot 6 idle: END with
				// no chain clears busy and cv), on the pipe two cycles
				// later.
				if acc != 10+L+n {
					t.Fatalf("next request accepted at %d, want %d; req_ready = 0 in %v", acc, 10+L+n, h.notRdy)
				}
				if got := pipeAt(t, h, 10, false); got != 12+L+n {
					t.Fatalf("E on the pipe at %d, want %d", got, 12+L+n)
				}
			} else {
				// Another slot: X goes at 8+L, during the walk, to the
				// pipeline.
				if acc != 8+L {
					t.Fatalf("next request accepted at %d, want %d; req_ready = 0 in %v", acc, 8+L, h.notRdy)
				}
				if got := pipeAt(t, h, 10, false); got != 10+L {
					t.Fatalf("E on the pipe at %d, want %d", got, 10+L)
				}
			}
		})
	}
}

// §9.2 B, rule 2: a request for the walked slot waits in X until the walk
// has ended (it never joins the walked chain); a request for another slot
// goes during the walk.
func TestV3WalkedSlotRequestWaitsForWalkEnd(t *testing.T) {
	const L = 10
	for _, same := range []bool{true, false} {
		t.Run(fmt.Sprintf("walked slot %v", same), func(t *testing.T) {
			h := newHarness(t, simCfg(t, true), 51)
			h.latency = func() int { return L }
			h.slot["k"], h.slot["o"] = 5, 6
			c := newChecker(t, h)
			// A1 (accepted 0) to the pipeline; A2..A4 (1..3) chained.
			// COMPLETE of A1 at 7+L starts the walk: steps at 8+L, 9+L,
			// 10+L (§10.1: the first the cycle after COMPLETE); the last
			// step ends it (END pushes the write-back, the cache stays
			// valid).
			var rs []*req
			for i := range 4 {
				rs = append(rs, h.newReq(OpAtomic, "k", 1, uint16(i+1)))
			}
			h.seqReqs(rs, c.accept)
			h.runUntil(8 + L)
			key := "o"
			if same {
				key = "k"
			}
			e := h.newReq(OpAtomic, key, 1, 5) // enters X at 8+L
			if !h.step(e) {
				t.Fatal("refused with X empty")
			}
			c.accept(e)
			f := h.newReq(OpGet, "o", 0, 6)
			acc := -1
			for range 10 {
				if h.step(f) {
					acc = h.cyc - 1
					break
				}
			}
			c.accept(f)
			h.drain(500)
			if len(c.reqs) != 0 {
				t.Fatalf("%d unanswered", len(c.reqs))
			}
			if same {
				// X held in 9+L .. 10+L (walk.active), goes at 11+L: served
				// from the cache the walk left, response at 12+L. The next
				// request enters X at 11+L.
				if acc != 11+L {
					t.Fatalf("next request accepted at %d, want %d; req_ready = 0 in %v", acc, 11+L, h.notRdy)
				}
				// The two cycles count as X held by the walk, and only so.
				if w := h.m.Waits(); w != (Waits{Held: 2, Walk: 2}) {
					t.Fatalf("waits %+v, want two cycles held by the walk", w)
				}
				if got := respAt(t, h, 5); got != 12+L {
					t.Fatalf("E answered at %d, want %d", got, 12+L)
				}
				if h.resps[4].tag != 5 { // A1, the walk's A2..A4, then E
					t.Fatalf("E not answered right after the walk: %+v", h.resps)
				}
				for _, p := range h.pipes {
					if p.tag == 5 {
						t.Fatalf("E went to the pipeline: %+v", p)
					}
				}
			} else {
				// Another slot: X goes at 9+L during the walk (to the
				// pipeline: on the pipe at 11+L); the next enters X at 9+L.
				if acc != 9+L {
					t.Fatalf("next request accepted at %d, want %d; req_ready = 0 in %v", acc, 9+L, h.notRdy)
				}
				if w := h.m.Waits(); w != (Waits{}) {
					t.Fatalf("waits %+v, want none", w)
				}
				if got := pipeAt(t, h, 5, false); got != 11+L {
					t.Fatalf("E on the pipe at %d, want %d", got, 11+L)
				}
			}
		})
	}
}

// §10.1 A, rule 3: a walk's first step comes in the cycle after the
// COMPLETE that starts it (v3.1: no WAIT cycle between; v3, §9.2 A: two
// cycles after), then one step per cycle.
func TestV31WalkFirstStepNextCycle(t *testing.T) {
	const L, n = 10, 6
	h := newHarness(t, simCfg(t, true), 52)
	h.latency = func() int { return L }
	h.slot["k"] = 5
	c := newChecker(t, h)
	var rs []*req
	for i := range n {
		rs = append(rs, h.newReq(OpAtomic, "k", 1, uint16(i+1)))
	}
	h.seqReqs(rs, c.accept)
	h.runUntil(7 + L) // the next step is COMPLETE of the first
	h.step(nil)
	if st := &h.m.st; !st.walkActive || st.walkSlot != 5 || st.walkCur != st.slots[5].head || st.slots[5].n != n-1 {
		t.Fatalf("after COMPLETE: want a walk of slot 5 at its chain's head, no step yet: %s", h.m.DescribeState())
	}
	h.step(nil) // the first step
	if st := &h.m.st; !st.walkActive || st.slots[5].n != n-2 || st.rqN != 1 {
		t.Fatalf("the cycle after COMPLETE: want the walk's first step taken (one served, %d left, its response in RQ): %s", n-2, h.m.DescribeState())
	}
	h.drain(500)
	if c.checked != n {
		t.Fatalf("%d checked", c.checked)
	}
	// COMPLETE at 7+L (response 8+L); steps at 8+L, 9+L, …, 6+L+n
	// (responses a cycle later).
	want := []int{8 + L}
	for i := 1; i < n; i++ {
		want = append(want, 8+L+i)
	}
	var got []int
	for _, e := range h.resps {
		got = append(got, e.cycle)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("responses at %v, want %v", got, want)
	}
	// The walk ends at its last step (6+L+n), whose END pushes the
	// write-back: on the pipe two cycles later.
	if wb := pipeAt(t, h, 0, true); wb != 8+L+n {
		t.Fatalf("write-back on the pipe at %d, want %d", wb, 8+L+n)
	}
}

// §9.2 C, rule 4: a PQ entry pushed in cycle t drives pipe_valid first in
// cycle t+2, for each kind of push: an arrival's (X going), a write-back
// (END after COMPLETE), a chain head (END after a write-back's COMPLETE).
// |PQ| counts the entry in t+1 though pipe_valid is 0.
func TestV3PipeVisibleTwoCyclesAfterPush(t *testing.T) {
	const L = 10
	h := newHarness(t, simCfg(t, false), 53)
	h.latency = func() int { return L }
	h.slot["a"], h.slot["b"] = 5, 5
	pv := map[int]bool{}
	pqAtStart := map[int]int{}
	h.probe = func() { pqAtStart[h.cyc] = h.m.st.pqN }
	// ATOMIC a accepted at 0 (X goes at 1: push); PUT b accepted at 1
	// (chained at 2).
	h.seqReqs([]*req{h.newReq(OpAtomic, "a", 1, 1), h.newReq(OpPut, "b", 2, 2)}, nil)
	for h.cyc < 30+2*L {
		h.step(nil)
		pv[h.cyc-1] = h.get("pipe_valid") == 1
	}
	pushes := []int{1, 7 + L, 13 + 2*L} // X goes; COMPLETE of the GET; COMPLETE of the write-back
	wantPipe := []event{
		{cycle: 3, tag: 1, op: OpGet},
		{cycle: 9 + L, wb: true, op: OpPut},
		{cycle: 15 + 2*L, tag: 2, op: OpPut},
	}
	if len(h.pipes) != 3 {
		t.Fatalf("pipe %+v", h.pipes)
	}
	for i, w := range wantPipe {
		g := h.pipes[i]
		if g.cycle != w.cycle || g.wb != w.wb || g.op != w.op || !w.wb && g.tag != w.tag {
			t.Fatalf("pipe op %d: %+v, want cycle %d tag %d wb %v op %d", i, g, w.cycle, w.tag, w.wb, w.op)
		}
	}
	for _, p := range pushes {
		if pqAtStart[p+1] != 1 || pv[p+1] {
			t.Fatalf("cycle %d (push at %d): |PQ| %d at its start, pipe_valid %v; want 1 and false", p+1, p, pqAtStart[p+1], pv[p+1])
		}
		if !pv[p+2] {
			t.Fatalf("cycle %d (push at %d): pipe_valid 0", p+2, p)
		}
	}
}

// §9.2, rule 5: req_ready depends on state only. Every cycle of random
// runs (walks, D2 holds, full PQs, no free ids), the outputs are the same
// for other values of req_slot and req_valid — and for any request at all.
func TestV3ReqReadyIgnoresReqSlot(t *testing.T) {
	for _, fwd := range []bool{true, false} {
		t.Run(fmt.Sprintf("fwd=%v", fwd), func(t *testing.T) {
			cfg := simCfg(t, fwd)
			cfg.RS.Slots, cfg.RS.MaxInflight = 4, 6
			h := newHarness(t, cfg, 54)
			h.log = false
			h.random = true
			h.latency = func() int { return 1 + h.rng.IntN(12) }
			h.pready = func() bool { return h.rng.IntN(4) != 0 }
			keys := []string{"a", "b", "c", "d", "e"}
			for i, k := range keys {
				h.slot[k] = i % 4
			}
			c := newChecker(t, h)
			lay := h.lay
			sl, vl := lay.MustSlot("req_slot").Off, lay.MustSlot("req_valid").Off
			alt := make([]uint64, len(h.in))
			o1, o2 := make([]uint64, len(h.out)), make([]uint64, len(h.out))
			checked, held := 0, 0
			h.probe = func() {
				snap := h.m.Snapshot()
				if err := h.m.Step(h.in, o1); err != nil {
					t.Fatal(err)
				}
				if o1[h.lay.MustSlot("req_ready").Off] == 0 {
					held++
				}
				for v := range 6 {
					h.m.Restore(snap)
					copy(alt, h.in)
					alt[sl] = uint64(v % 4)
					alt[vl] = uint64(v / 4 % 2)
					if v == 5 { // another request altogether
						for i := range lay.MustSlot("pipe_ready").Off {
							alt[i] = h.rng.Uint64()
						}
						alt[sl] &= 3
					}
					if err := h.m.Step(alt, o2); err != nil && v != 5 {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(o1, o2) {
						t.Fatalf("cycle %d: outputs change with req_slot %d req_valid %d: %v vs %v", h.cyc, alt[sl], alt[vl], o1, o2)
					}
				}
				h.m.Restore(snap)
				checked++
			}
			tag := uint16(0)
			h.drive(4000, func() *req {
				if h.rng.IntN(6) == 0 {
					return nil
				}
				k := keys[h.rng.IntN(len(keys))]
				if h.rng.IntN(2) == 0 {
					k = "a"
				}
				r := h.newReq([]int{OpGet, OpPut, OpAtomic, OpAtomic, OpDelete}[h.rng.IntN(5)], k, h.rng.Uint64N(9), tag)
				tag++
				return r
			}, c.accept)
			h.probe = nil
			h.pready = nil
			h.drain(10000)
			if len(c.reqs) != 0 {
				t.Fatalf("%d unanswered", len(c.reqs))
			}
			t.Logf("%d cycles probed, req_ready = 0 in %d; %d responses checked", checked, held, c.checked)
			if held < 100 {
				t.Fatalf("req_ready = 0 in only %d cycles: the probe saw too little", held)
			}
		})
	}
}

// Rule 6: a completion is acted on (COMPLETE, its response pushed) two
// cycles after CQ pops it into D1 — also when a walk held it at CQ's
// output.
func TestV3CompletionActedTwoCyclesAfterPop(t *testing.T) {
	const L = 10
	t.Run("alone", func(t *testing.T) {
		h := newHarness(t, simCfg(t, true), 55)
		h.latency = func() int { return L }
		h.slot["a"] = 5
		h.step(h.newReq(OpGet, "a", 0, 1))
		cq, d1, d2 := map[int]int{}, map[int]bool{}, map[int]bool{}
		h.probe = func() { cq[h.cyc], d1[h.cyc], d2[h.cyc] = h.m.cq.Len(), h.m.st.d1.valid, h.m.st.d2.valid }
		h.drain(100)
		cp := h.cplSent[0].cycle // 3+L; at CQ's output at cp+2, popped then
		if cp != 3+L || cq[cp+2] != 1 || cq[cp+3] != 0 || !d1[cp+3] || d2[cp+3] || !d2[cp+4] || d1[cp+4] {
			t.Fatalf("completion at %d; CQ %v D1 %v D2 %v", cp, cq, d1, d2)
		}
		if got := respAt(t, h, 1); got != cp+5 { // COMPLETE at pop+2 = cp+4
			t.Fatalf("response at %d, want %d", got, cp+5)
		}
	})
	t.Run("held by a walk", func(t *testing.T) {
		h := newHarness(t, simCfg(t, true), 56)
		h.latency = func() int { return L }
		h.slot["a"], h.slot["b"] = 5, 6
		c := newChecker(t, h)
		// A1 (0) to the pipe; B1 (1, slot 6) to the pipe, completed at
		// tc+1 = 8+L; A2..A5 (2..5) chained on slot 5. COMPLETE of A1 at
		// tc = 7+L starts the walk: steps 8+L .. 11+L (§10.1). B1 is at
		// CQ's output from 10+L but popped only at 12+L, when ADVANCE
		// resumes; D2 at 13+L, COMPLETE at 14+L, response at 15+L.
		h.onPipe = func(e event) {
			if e.tag == 2 {
				h.pend[len(h.pend)-1].due = 8 + L
			}
		}
		rs := []*req{h.newReq(OpGet, "a", 0, 1), h.newReq(OpGet, "b", 0, 2)}
		for i := range 4 {
			rs = append(rs, h.newReq(OpGet, "a", 0, uint16(i+3)))
		}
		h.seqReqs(rs, c.accept)
		cq := map[int]int{}
		h.probe = func() { cq[h.cyc] = h.m.cq.Len() }
		h.drain(200)
		if c.checked != 6 {
			t.Fatalf("%d checked", c.checked)
		}
		if cq[10+L] != 1 || cq[12+L] != 1 || cq[13+L] != 0 {
			t.Fatalf("CQ length by cycle %v: want B1 held at its output 10+L .. 12+L, popped at 12+L", cq)
		}
		want := map[uint64]int{1: 8 + L, 3: 9 + L, 4: 10 + L, 5: 11 + L, 6: 12 + L, 2: 15 + L}
		for tag, cy := range want {
			if got := respAt(t, h, tag); got != cy {
				t.Fatalf("tag %d answered at %d, want %d (all: %+v)", tag, got, cy, h.resps)
			}
		}
	})
}

// Liveness (the golden side of the testbench's
// TestRSKeyBehindAHotKeyIsServed): a key that shares its slot with a hot
// key, forwarding on, is answered within a few round trips, while the hot
// key keeps being served.
func TestKeyBehindAHotKeyIsServed(t *testing.T) {
	for _, L := range []int{5, 40} {
		t.Run(fmt.Sprintf("L=%d", L), func(t *testing.T) {
			h := newHarness(t, simCfg(t, true), 57)
			h.log = false
			h.latency = func() int { return L }
			h.slot["hot"], h.slot["cold"] = 3, 3
			c := newChecker(t, h)
			accAt := map[uint16]int{}
			worst, colds, coldAcc := 0, 0, 0
			h.onResp = func(e event) {
				c.resp(e)
				if r := accAt[uint16(e.tag)]; e.tag%50 == 7 {
					worst = max(worst, e.cycle-r)
					colds++
				}
			}
			tag := uint16(0)
			const cycles = 20000
			h.drive(cycles, func() *req {
				k, op := "hot", OpAtomic
				if tag%50 == 7 {
					k, op = "cold", []int{OpGet, OpPut, OpAtomic}[tag/50%3]
				}
				r := h.newReq(op, k, 1, tag)
				tag++
				return r
			}, func(r *req) {
				accAt[r.tag] = h.cyc - 1
				if r.key == "cold" {
					coldAcc++
				}
				c.accept(r)
			})
			h.drain(100000)
			if len(c.reqs) != 0 {
				t.Fatalf("%d unanswered", len(c.reqs))
			}
			// A cold request waits behind at most the hot key's write-back in
			// flight and the one dirtied meanwhile, then its own round
			// trip, then the chain behind it: a few round trips of L+6 plus
			// the walk of at most M ids.
			bound := 5*(L+6) + 2*h.p.M
			t.Logf("L=%d: %d responses in %d cycles, %d cold requests, worst cold latency %d cycles (bound %d)", L, c.checked, h.cyc, colds, worst, bound)
			if colds != coldAcc || colds < 50 || worst > bound {
				t.Fatalf("%d of %d cold requests answered, worst latency %d, bound %d", colds, coldAcc, worst, bound)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// v4a (rs.md §11, rs.idle_cache): idle slots keep their cache for GETs. One
// test per rule, with the cycles of §9 / §10 for what is not served; each
// runs IC off too where that tells the rule from its absence.

// icCfg is the sim preset with forwarding and rs.idle_cache = ic.
func icCfg(t testing.TB, ic bool) config.Config {
	t.Helper()
	c := simCfg(t, true)
	c.RS.IdleCache = ic
	return c
}

// §11: IC comes from rs.idle_cache, has no effect without forwarding
// (nothing sets cv then), and adds no port.
func TestV4aParams(t *testing.T) {
	if p := ParamsOf(icCfg(t, true)); !p.IC || !p.FWD {
		t.Fatalf("ParamsOf with rs.idle_cache: IC %v FWD %v", p.IC, p.FWD)
	}
	if ParamsOf(icCfg(t, false)).IC {
		t.Fatal("IC without rs.idle_cache")
	}
	if !reflect.DeepEqual(Ports(icCfg(t, true)), Ports(icCfg(t, false))) {
		t.Fatal("rs.idle_cache changes the ports")
	}
	c := icCfg(t, true)
	c.RS.Forwarding = false
	if p := ParamsOf(c); p.IC || p.FWD {
		t.Fatalf("rs.idle_cache without forwarding: IC %v FWD %v", p.IC, p.FWD)
	}
	if _, err := New(c, testEvaluator{}); err != nil {
		t.Fatalf("rs.idle_cache without forwarding refused: %v", err)
	}
}

// §11 END and B's first case: a slot whose last operation completes goes
// idle and keeps its cache (cv stays 1 with IC), and a GET of the cached
// key accepted at c is answered from it: it acts from X at c+1 and its
// response is seen at c+2, with no pipeline operation and no id (the next
// request that does go to the pipeline gets the id the GET would have
// taken). Without IC it goes to the pipeline (pipe_* at c+3, the response
// at c+8+L). A long value leaves cv = 0 at COMPLETE, so it is not served
// from an idle slot either.
func TestV4aIdleSlotAnswersGet(t *testing.T) {
	const L = 4
	for _, tc := range []struct {
		name   string
		mem    *val                  // the key's value before the first operation
		first  func(h *harness) *req // tag 1
		resp   event                 // its response (status, vlen, value), at 8+L
		pipes  int                   // the pipeline operations it causes (an ATOMIC: its GET and write-back)
		get    event                 // the later GET's response
		served bool                  // with IC, the GET is answered from the idle cache
	}{
		{"GET", &val{5, 42}, func(h *harness) *req { return h.newReq(OpGet, "hello", 0, 1) },
			event{status: StatusOK, vlen: 5, value: 42}, 1, event{status: StatusOK, vlen: 5, value: 42}, true},
		{"GET not found", nil, func(h *harness) *req { return h.newReq(OpGet, "hello", 0, 1) },
			event{status: StatusNotFound}, 1, event{status: StatusNotFound}, true},
		{"PUT", nil, func(h *harness) *req { return h.newPut("hello", 5, 42, 1) },
			event{status: StatusOK}, 1, event{status: StatusOK, vlen: 5, value: 42}, true},
		{"DELETE", &val{5, 42}, func(h *harness) *req { return h.newReq(OpDelete, "hello", 0, 1) },
			event{status: StatusOK}, 1, event{status: StatusNotFound}, true},
		{"ATOMIC", &val{8, 10}, func(h *harness) *req { return h.newReq(OpAtomic, "hello", 5, 1) },
			event{status: StatusOK, vlen: 8, value: 10}, 2, event{status: StatusOK, vlen: 8, value: 15}, true},
		{"GET of a long value", &val{20, 0xabc}, func(h *harness) *req { return h.newReq(OpGet, "hello", 0, 1) },
			event{status: StatusOK, vlen: 20, value: 0xabc}, 1, event{status: StatusOK, vlen: 20, value: 0xabc}, false},
	} {
		for _, ic := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/ic=%v", tc.name, ic), func(t *testing.T) {
				h := newHarness(t, icCfg(t, ic), 60)
				h.latency = func() int { return L }
				h.slot["hello"] = 3
				if tc.mem != nil {
					h.mem["hello"] = *tc.mem
				}
				c := newChecker(t, h)
				first := tc.first(h)
				c.accept(first)
				if !h.step(first) { // cycle 0
					t.Fatal("first operation not accepted")
				}
				h.runUntil(40) // an ATOMIC's write-back completes at 9+2L, acted on at 13+2L
				sl := &h.m.st.slots[3]
				if !h.idle() || sl.busy || sl.cv != (ic && tc.served) {
					t.Fatalf("cycle %d: busy %v cv %v, want an idle slot with cv %v: %s", h.cyc, sl.busy, sl.cv, ic && tc.served, h.m.DescribeState())
				}
				if len(h.pipes) != tc.pipes || len(h.resps) != 1 {
					t.Fatalf("first operation: pipe %+v responses %+v", h.pipes, h.resps)
				}
				want := tc.resp
				want.cycle, want.tag = 8+L, 1
				if h.resps[0] != want {
					t.Fatalf("first response %+v, want %+v", h.resps[0], want)
				}
				get := h.newReq(OpGet, "hello", 0, 2)
				put := h.newReq(OpPut, "hello", 9, 3)
				c.accept(get)
				if !h.step(get) { // cycle 40
					t.Fatal("GET not accepted")
				}
				h.runUntil(60)
				c.accept(put)
				if !h.step(put) { // cycle 60
					t.Fatal("PUT not accepted")
				}
				h.drain(100)
				if c.checked != 3 {
					t.Fatalf("%d responses checked", c.checked)
				}
				wantGet := tc.get
				wantGet.tag = 2
				// The PUT takes id 1 when the GET took none (0 went to the
				// back of the free FIFO), id 2 when the GET took 1.
				putID := uint64(1)
				var wantPipes []event
				if ic && tc.served {
					wantGet.cycle = 42
				} else {
					wantGet.cycle = 48 + L
					wantPipes = append(wantPipes, event{cycle: 43, id: 1, tag: 2, op: OpGet, klen: 5, key: "hello", aux: get.aux})
					putID = 2
				}
				wantPipes = append(wantPipes, event{cycle: 63, id: putID, tag: 3, op: OpPut, klen: 5, vlen: 8, value: 9, key: "hello", aux: put.aux})
				if h.resps[1] != wantGet {
					t.Fatalf("GET response %+v, want %+v", h.resps[1], wantGet)
				}
				if got := h.pipes[tc.pipes:]; !reflect.DeepEqual(got, wantPipes) {
					t.Fatalf("pipe after the first operation %+v\nwant %+v", got, wantPipes)
				}
				hits := uint64(0)
				if ic && tc.served {
					hits = 1
				}
				if h.m.IdleHits() != hits {
					t.Fatalf("IdleHits %d, want %d", h.m.IdleHits(), hits)
				}
			})
		}
	}
}

// §11 B: an idle slot answers only GETs. A PUT, an ATOMIC or a DELETE of
// the cached key goes to the pipeline (accepted at 20: pipe_* at 23, its
// response at 28+L), and its push clears cv: a GET of the key accepted at
// 21 finds the slot busy and uncached, joins the chain, and is served by
// the walk the operation's COMPLETE starts (response at 29+L) with the
// value that operation left, not the one cached before it. The slot then
// goes idle cached again, and a GET is answered from it.
func TestV4aIdleSlotSendsOtherOpsToPipeline(t *testing.T) {
	const L = 4
	for _, tc := range []struct {
		name   string
		op     int
		arg    uint64 // a PUT's value, an ATOMIC's delta (fetch-add)
		pipeOp uint64
		resp   event // the operation's response
		get    event // the GET's behind it, and the last GET's
		wb     bool  // it leaves a write-back
	}{
		{"PUT", OpPut, 7, OpPut, event{status: StatusOK}, event{status: StatusOK, vlen: 8, value: 7}, false},
		{"ATOMIC", OpAtomic, 1, OpGet, event{status: StatusOK, vlen: 8, value: 100}, event{status: StatusOK, vlen: 8, value: 101}, true},
		{"DELETE", OpDelete, 0, OpDelete, event{status: StatusOK}, event{status: StatusNotFound}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, icCfg(t, true), 61)
			h.latency = func() int { return L }
			h.slot["k"] = 5
			h.mem["k"] = val{8, 100}
			c := newChecker(t, h)
			g1 := h.newReq(OpGet, "k", 0, 1)
			c.accept(g1)
			h.step(g1)
			h.runUntil(20)
			if sl := &h.m.st.slots[5]; sl.busy || !sl.cv {
				t.Fatalf("cycle %d: want slot 5 idle and cached: %s", h.cyc, h.m.DescribeState())
			}
			u := h.newReq(tc.op, "k", tc.arg, 2)
			g := h.newReq(OpGet, "k", 0, 3)
			c.accept(u)
			c.accept(g)
			if !h.step(u) || !h.step(g) { // cycles 20, 21
				t.Fatal("not accepted")
			}
			h.step(nil) // 22: g acts from X
			if sl := &h.m.st.slots[5]; !sl.busy || sl.cv || sl.n != 1 {
				t.Fatalf("cycle %d: busy %v cv %v len %d, want the operation pushed, cv cleared and the GET chained", h.cyc, sl.busy, sl.cv, sl.n)
			}
			h.drain(200)
			if c.checked != 3 {
				t.Fatalf("%d responses checked", c.checked)
			}
			wantTags := []int{1, 2}
			if tc.wb {
				wantTags = append(wantTags, -1)
			}
			if got := pipeTags(h.pipes); !reflect.DeepEqual(got, wantTags) {
				t.Fatalf("pipe ops %v, want %v", got, wantTags)
			}
			if e := h.pipes[1]; e.cycle != 23 || e.id != 1 || e.op != tc.pipeOp {
				t.Fatalf("operation on the pipe %+v, want cycle 23, id 1, op %d", e, tc.pipeOp)
			}
			wantResp := tc.resp
			wantResp.cycle, wantResp.tag = 28+L, 2
			wantGet := tc.get
			wantGet.cycle, wantGet.tag = 29+L, 3
			if !reflect.DeepEqual(h.resps[1:], []event{wantResp, wantGet}) {
				t.Fatalf("responses %+v\nwant %+v, %+v", h.resps[1:], wantResp, wantGet)
			}
			// Idle again, cached with what the operation left.
			at := h.cyc
			last := h.newReq(OpGet, "k", 0, 4)
			c.accept(last)
			h.step(last)
			h.runUntil(at + 5)
			wantGet.cycle, wantGet.tag = at+2, 4
			if len(h.pipes) != len(wantTags) || h.resps[3] != wantGet {
				t.Fatalf("last GET: response %+v, want %+v; pipe %+v", h.resps[3], wantGet, h.pipes)
			}
		})
	}
}

// §11 B: the idle cache serves only its own key. GETs of another key of
// the same slot, and of the cached key's zero-extended neighbour (same
// bytes, other klen), go to the pipeline (accepted at c: pipe_* at c+3) and
// each completion caches its own key; the cached key is then served again
// only once its own GET has re-cached it.
func TestV4aIdleSlotOtherKeyGoesToPipeline(t *testing.T) {
	const L = 4
	h := newHarness(t, icCfg(t, true), 62)
	h.latency = func() int { return L }
	h.slot["k"], h.slot["j"], h.slot["k\x00"] = 5, 5, 5
	h.mem["k"], h.mem["j"], h.mem["k\x00"] = val{8, 1}, val{8, 2}, val{8, 3}
	c := newChecker(t, h)
	keys := []string{"k", "j", "k\x00", "k", "k"}
	var rs []*req
	for i, k := range keys {
		r := h.newReq(OpGet, k, 0, uint16(i+1))
		rs = append(rs, r)
		c.accept(r)
		h.runUntil(20 * i)
		if !h.step(r) {
			t.Fatalf("tag %d not accepted", i+1)
		}
	}
	h.drain(100)
	if c.checked != len(keys) {
		t.Fatalf("%d responses checked", c.checked)
	}
	// The first four each find another key cached (none, k, j, k\0); the
	// last finds k, cached by the fourth.
	if got, want := pipeTags(h.pipes), []int{1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pipe ops %v, want %v", got, want)
	}
	for i, e := range h.pipes {
		if e.cycle != 20*i+3 {
			t.Fatalf("tag %d on the pipe at %d, want %d", e.tag, e.cycle, 20*i+3)
		}
	}
	for i, e := range h.resps {
		want := 20*i + 8 + L
		if i == 4 {
			want = 20*i + 2
		}
		if e.cycle != want {
			t.Fatalf("tag %d answered at %d, want %d (all %+v)", e.tag, e.cycle, want, h.resps)
		}
	}
	if h.m.IdleHits() != 1 {
		t.Fatalf("IdleHits %d, want 1", h.m.IdleHits())
	}
}

// §11.2: a PUT served from a busy slot's cache (an ATOMIC's write-back in
// flight, cv = 1) dirties it; END then sends a second write-back, and only
// its completion lets the slot go idle (at 19+3L), cached. A GET after that
// is answered from the idle cache with the PUT's value (IC off: through the
// pipeline, c+3).
func TestV4aIdleAfterWriteBackOfServedPut(t *testing.T) {
	const L = 10
	for _, ic := range []bool{true, false} {
		t.Run(fmt.Sprintf("ic=%v", ic), func(t *testing.T) {
			h := newHarness(t, icCfg(t, ic), 63)
			h.latency = func() int { return L }
			h.slot["k"] = 5
			h.mem["k"] = val{8, 100}
			c := newChecker(t, h)
			cacheWithWriteBackInFlight(t, h, c, "k") // fetch-add 1: 101, the write-back on the pipe at 9+L
			p := h.newReq(OpPut, "k", 55, 2)
			c.accept(p)
			if !h.step(p) {
				t.Fatal("PUT not accepted")
			}
			h.runUntil(19 + 3*L)
			sl := &h.m.st.slots[5]
			if !sl.busy || !sl.wb {
				t.Fatalf("cycle %d: the second write-back is not in flight: %s", h.cyc, h.m.DescribeState())
			}
			h.step(nil) // 19+3L: its COMPLETE
			if sl.busy || sl.dirty || sl.cv != ic {
				t.Fatalf("cycle %d: busy %v dirty %v cv %v, want idle, clean, cv %v", h.cyc, sl.busy, sl.dirty, sl.cv, ic)
			}
			wbs := []event{
				{cycle: 9 + L, id: uint64(h.p.M + 5), op: OpPut, klen: 1, vlen: 8, value: 101, key: "k", wb: true},
				{cycle: 15 + 2*L, id: uint64(h.p.M + 5), op: OpPut, klen: 1, vlen: 8, value: 55, key: "k", wb: true},
			}
			for i, w := range wbs {
				w.aux = h.pipes[1+i].aux // the ATOMIC's, checked by the harness
				if h.pipes[1+i] != w {
					t.Fatalf("write-back %d: %+v, want %+v", i, h.pipes[1+i], w)
				}
			}
			h.runUntil(30 + 3*L)
			g := h.newReq(OpGet, "k", 0, 3)
			c.accept(g)
			h.step(g)
			h.drain(100)
			if c.checked != 3 {
				t.Fatalf("%d responses checked", c.checked)
			}
			want := event{cycle: 32 + 3*L, tag: 3, status: StatusOK, vlen: 8, value: 55}
			wantPipes := 3
			if !ic {
				want.cycle = 38 + 4*L
				wantPipes = 4
			}
			if h.resps[2] != want || len(h.pipes) != wantPipes {
				t.Fatalf("GET response %+v, want %+v; pipe %+v", h.resps[2], want, h.pipes)
			}
		})
	}
}

// §11.2: an operation's error completion clears cv (§5 A.2), so the idle
// slot it leaves sends the next GET to the pipeline: a failed GET leaves
// nothing cached, and a failed PUT on an idle cached slot does not leave
// its value (or the old one) to be served. A failed write-back is not an
// operation's completion: it sets dirty, the slot stays busy until the
// write-back is redone, and then goes idle with its cache, which memory
// equals again.
func TestV4aErrorClearsIdleCache(t *testing.T) {
	const L = 4
	t.Run("failed GET", func(t *testing.T) {
		h := newHarness(t, icCfg(t, true), 64)
		h.latency = func() int { return L }
		h.slot["e"] = 6
		h.mem["e"] = val{8, 100}
		h.force = func(e event) uint64 {
			if e.tag == 1 {
				return StatusMemError
			}
			return 0
		}
		c := newChecker(t, h)
		rs := []*req{h.newReq(OpGet, "e", 0, 1), h.newReq(OpGet, "e", 0, 2), h.newReq(OpGet, "e", 0, 3)}
		for i, r := range rs {
			c.accept(r)
			h.runUntil(20 * i)
			h.step(r)
		}
		h.drain(100)
		want := []event{
			{cycle: 8 + L, tag: 1, status: StatusMemError},
			{cycle: 28 + L, tag: 2, status: StatusOK, vlen: 8, value: 100}, // through the pipeline
			{cycle: 42, tag: 3, status: StatusOK, vlen: 8, value: 100},     // cached by tag 2
		}
		if c.checked != 3 || !reflect.DeepEqual(h.resps, want) {
			t.Fatalf("responses %+v\nwant %+v", h.resps, want)
		}
		if got := pipeTags(h.pipes); !reflect.DeepEqual(got, []int{1, 2}) {
			t.Fatalf("pipe ops %v", got)
		}
	})
	t.Run("failed PUT", func(t *testing.T) {
		h := newHarness(t, icCfg(t, true), 65)
		h.latency = func() int { return L }
		h.slot["e"] = 6
		h.mem["e"] = val{8, 100}
		h.force = func(e event) uint64 {
			if e.tag == 2 {
				return StatusNoMemory
			}
			return 0
		}
		c := newChecker(t, h)
		rs := []*req{h.newReq(OpGet, "e", 0, 1), h.newReq(OpPut, "e", 7, 2), h.newReq(OpGet, "e", 0, 3), h.newReq(OpGet, "e", 0, 4)}
		for i, r := range rs {
			c.accept(r)
			h.runUntil(20 * i)
			h.step(r)
		}
		h.drain(100)
		want := []event{
			{cycle: 8 + L, tag: 1, status: StatusOK, vlen: 8, value: 100},
			{cycle: 28 + L, tag: 2, status: StatusNoMemory},
			{cycle: 48 + L, tag: 3, status: StatusOK, vlen: 8, value: 100}, // through the pipeline
			{cycle: 62, tag: 4, status: StatusOK, vlen: 8, value: 100},     // cached by tag 3
		}
		if c.checked != 4 || !reflect.DeepEqual(h.resps, want) {
			t.Fatalf("responses %+v\nwant %+v", h.resps, want)
		}
		if got := pipeTags(h.pipes); !reflect.DeepEqual(got, []int{1, 2, 3}) {
			t.Fatalf("pipe ops %v", got)
		}
	})
	t.Run("failed write-back", func(t *testing.T) {
		h := newHarness(t, icCfg(t, true), 66)
		h.latency = func() int { return L }
		h.slot["e"] = 6
		h.mem["e"] = val{8, 10}
		failed := false
		h.force = func(e event) uint64 {
			if e.wb && !failed {
				failed = true
				return StatusMemError
			}
			return 0
		}
		c := newChecker(t, h)
		a := h.newReq(OpAtomic, "e", 5, 1)
		c.accept(a)
		h.step(a)
		// The write-back fails (on the pipe at 9+L, acted on at 13+2L), is
		// redone (on the pipe at 15+2L) and its completion, acted on at
		// 19+3L, leaves the slot idle.
		h.runUntil(40)
		g := h.newReq(OpGet, "e", 0, 2)
		c.accept(g)
		h.step(g)
		h.drain(100)
		want := []event{
			{cycle: 8 + L, tag: 1, status: StatusOK, vlen: 8, value: 10},
			{cycle: 42, tag: 2, status: StatusOK, vlen: 8, value: 15},
		}
		if c.checked != 2 || !reflect.DeepEqual(h.resps, want) {
			t.Fatalf("responses %+v\nwant %+v", h.resps, want)
		}
		if got := pipeTags(h.pipes); !reflect.DeepEqual(got, []int{1, -1, -1}) || h.pipes[2].cycle != 15+2*L || h.mem["e"] != (val{8, 15}) {
			t.Fatalf("pipe %+v, memory %+v", h.pipes, h.mem["e"])
		}
	})
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
	wide         bool    // v2 operations: long values, vector operations
	pready       float64 // probability of pipe_ready = 1 in a cycle; 0: always 1
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
		c.Key.MaxValueBytes = 12
		return c
	}
	sim := func(fwd bool) func(t testing.TB) config.Config {
		return func(t testing.TB) config.Config { return simCfg(t, fwd) }
	}
	paper := func(t testing.TB) config.Config { c, _ := config.Preset("paper"); return c }
	cases := []mixCfg{
		// The first version's mix: short values, pipe_ready always 1.
		{"sim-fwd", sim(true), 12, 2, 0, 0, false, 30, false, 0},
		{"sim-fwd-ooo", sim(true), 12, 2, 0, 0, true, 30, false, 0},
		{"sim-nofwd-ooo", sim(false), 12, 2, 0, 0, true, 30, false, 0},
		{"sim-fwd-errors", sim(true), 12, 2, 0.05, 0.2, true, 30, false, 0},
		{"sim-nofwd-errors", sim(false), 12, 2, 0.05, 0.2, true, 30, false, 0},
		{"R2M4-fwd", small(true), 6, 2, 0.02, 0.1, true, 12, false, 0},
		{"R2M4-nofwd", small(false), 6, 2, 0.02, 0.1, true, 12, false, 0},
		{"narrow-W8-K3", narrow, 8, 3, 0.02, 0.1, true, 20, false, 0},
		{"paper", paper, 16, 4, 0.02, 0.05, true, 40, false, 0},
		// v2: long values, vector operations, back-pressure.
		{"v2-sim-fwd", sim(true), 12, 2, 0, 0, true, 30, true, 0},
		{"v2-sim-fwd-errors", sim(true), 12, 2, 0.05, 0.2, true, 30, true, 0},
		{"v2-sim-nofwd-errors", sim(false), 12, 2, 0.05, 0.2, true, 30, true, 0},
		{"v2-sim-fwd-pready", sim(true), 12, 2, 0.02, 0.1, true, 30, true, 0.5},
		{"v2-sim-fwd-pready-low", sim(true), 40, 4, 0.02, 0.1, true, 10, true, 0.15},
		{"v2-sim-nofwd-pready", sim(false), 12, 2, 0.02, 0.1, true, 30, true, 0.4},
		{"v2-R2M4-fwd-pready", small(true), 6, 2, 0.02, 0.1, true, 12, true, 0.5},
		{"v2-narrow-pready", narrow, 8, 3, 0.02, 0.1, true, 20, true, 0.6},
		{"v2-paper-pready", paper, 16, 4, 0.02, 0.05, true, 40, true, 0.7},
	}
	for ci, mc := range cases {
		t.Run(mc.name, func(t *testing.T) {
			runMix(t, mc, uint64(ci+10), 20000)
		})
	}
}

func runMix(t *testing.T, mc mixCfg, seed uint64, cycles int) *harness {
	cfg := mc.cfg(t)
	h := newHarness(t, cfg, seed)
	h.log = false
	h.random = mc.random
	h.errOp, h.errWB = mc.errOp, mc.errWB
	h.latency = func() int { return 1 + h.rng.IntN(mc.maxLat) }
	if mc.pready > 0 {
		h.pready = func() bool { return h.rng.Float64() < mc.pready }
	}
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
	var nLong, nVec int
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
		x := h.rng.IntN(20)
		if mc.wide && x < 4 {
			if x < 2 {
				// A PUT of any length, long ones included.
				r = h.newPut(k, uint64(h.rng.IntN(p.VM+1)), h.rng.Uint64(), tag)
				if r.vlen > 8 {
					nLong++
				}
			} else {
				r = h.newReq(OpUpdateS2V+h.rng.IntN(4), k, h.rng.Uint64N(1000), tag)
				r.fid = h.rng.IntN(p.N)
				nVec++
			}
			tag++
			return r
		}
		switch x = h.rng.IntN(20); {
		case x < 6:
			r = h.newReq(OpGet, k, 0, tag)
		case x < 10:
			r = h.newReq(OpPut, k, h.rng.Uint64N(100), tag)
			if mc.wide {
				r = h.newPut(k, uint64(h.rng.IntN(9)), h.rng.Uint64(), tag)
			}
		case x < 12:
			r = h.newReq(OpDelete, k, 0, tag)
		default:
			r = h.newReq(OpAtomic, k, h.rng.Uint64N(5), tag)
			switch y := h.rng.IntN(20); {
			case y == 0:
				r.fid = p.N + h.rng.IntN(1<<p.F-p.N) // fid >= N
			case y < 4:
				r.fid = 1
				r.cmp, r.swap = h.rng.Uint64N(4), h.rng.Uint64N(100)
			case y < 6:
				r.fid = 2
			case y < 7:
				r.fid = 3 // faults on delta 0
			}
		}
		tag++
		return r
	}
	h.drive(cycles, gen, c.accept)
	h.errOp, h.errWB = 0, 0 // let the last write-backs through
	h.pready = nil
	h.drain(100000)
	if len(c.reqs) != 0 {
		t.Fatalf("%d requests never answered", len(c.reqs))
	}
	if !reflect.DeepEqual(h.mem, c.ref) {
		t.Fatalf("memory after drain %v\nreference %v", h.mem, c.ref)
	}
	t.Logf("%d responses checked (%d injected errors, %d long PUTs, %d vector ops) in %d cycles; max |PQ| %d, %d completion-side stalls",
		c.checked, c.errs, nLong, nVec, h.cyc, h.maxPQ, h.m.st.stalls)
	if c.checked < cycles/20 {
		t.Fatalf("only %d responses", c.checked)
	}
	if mc.pready > 0 && mc.pready < 0.2 && h.m.st.stalls == 0 {
		t.Errorf("pipe_ready %.2f: the completion side never waited on a full PQ", mc.pready)
	}
	return h
}

// §11 against the reference: TestRandomAgainstReference's forwarding mixes
// (half the requests on one hot key, errors, out-of-order completions,
// back-pressure, long values and vector operations) with IC on, three
// seeds each. A run that never answered a GET from an idle slot would not
// test §11, so each must have.
func TestV4aRandomAgainstReference(t *testing.T) {
	ic := func(f func(t testing.TB) config.Config) func(t testing.TB) config.Config {
		return func(t testing.TB) config.Config {
			c := f(t)
			c.RS.IdleCache = true
			return c
		}
	}
	sim := ic(func(t testing.TB) config.Config { return simCfg(t, true) })
	small := ic(func(t testing.TB) config.Config {
		c := simCfg(t, true)
		c.RS.Slots, c.RS.MaxInflight = 2, 4
		return c
	})
	narrow := ic(func(t testing.TB) config.Config {
		c := simCfg(t, true)
		c.Atomic.ScalarBits = 8
		c.Key.MaxKeyBytes = 3
		c.Key.MaxValueBytes = 12
		return c
	})
	paper := ic(func(t testing.TB) config.Config { c, _ := config.Preset("paper"); return c })
	cases := []mixCfg{
		{"sim", sim, 12, 2, 0, 0, false, 30, false, 0},
		{"sim-ooo", sim, 12, 2, 0, 0, true, 30, false, 0},
		{"sim-errors", sim, 12, 2, 0.05, 0.2, true, 30, false, 0},
		{"R2M4", small, 6, 2, 0.02, 0.1, true, 12, false, 0},
		{"narrow-W8-K3", narrow, 8, 3, 0.02, 0.1, true, 20, false, 0},
		{"paper", paper, 16, 4, 0.02, 0.05, true, 40, false, 0},
		{"v2-sim-errors", sim, 12, 2, 0.05, 0.2, true, 30, true, 0},
		// Fewer operations reach the pipeline than without IC: a lower
		// pipe_ready than TestRandomAgainstReference's still fills PQ.
		{"v2-sim-pready-low", sim, 40, 4, 0.02, 0.1, true, 10, true, 0.1},
		{"v2-R2M4-pready", small, 6, 2, 0.02, 0.1, true, 12, true, 0.5},
		{"v2-paper-pready", paper, 16, 4, 0.02, 0.05, true, 40, true, 0.7},
	}
	for ci, mc := range cases {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed=%d", mc.name, seed), func(t *testing.T) {
				h := runMix(t, mc, 100+10*uint64(ci)+seed, 20000)
				if !h.p.IC {
					t.Fatal("rs.idle_cache did not reach the model")
				}
				t.Logf("%d GETs answered by idle slots", h.m.IdleHits())
				if h.m.IdleHits() == 0 {
					t.Fatal("no GET answered from an idle slot: the run did not exercise §11")
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// v2: long values, vector operations, aux, pipe_ready.

// pipeTags lists the pipeline operations as request tags, -1 for a
// write-back.
func pipeTags(es []event) []int {
	var r []int
	for _, e := range es {
		if e.wb {
			r = append(r, -1)
		} else {
			r = append(r, int(e.tag))
		}
	}
	return r
}

// cacheWithWriteBackInFlight runs an ATOMIC (fetch-add 1, tag 1) on key k
// to its response: the slot then caches k, cv = 1, and its write-back is in
// flight (latency L), so arrivals for k are served from the cache. c, if
// not nil, checks it.
func cacheWithWriteBackInFlight(t *testing.T, h *harness, c *checker, k string) *req {
	a := h.newReq(OpAtomic, k, 1, 1)
	if c != nil {
		c.accept(a)
	}
	if !h.step(a) {
		t.Fatal("ATOMIC not accepted")
	}
	for len(h.resps) < 1 {
		h.step(nil)
	}
	if sl := &h.m.st.slots[h.slot[k]]; !sl.cv || !sl.wb {
		t.Fatalf("slot not caching with a write-back in flight: %s", h.m.DescribeState())
	}
	return a
}

// A long PUT is never absorbed into the cache: on a cached key with no
// chain it joins the chain (the slot is busy), and the GET behind it is not
// served from the cache either. A short PUT in its place is absorbed.
func TestLongPutNeverAbsorbed(t *testing.T) {
	for _, vlen := range []uint64{20, 9, 8} {
		t.Run(fmt.Sprintf("vlen=%d", vlen), func(t *testing.T) {
			h := newHarness(t, simCfg(t, true), 20)
			h.latency = func() int { return 10 }
			h.slot["k"] = 5
			h.mem["k"] = val{8, 100}
			c := newChecker(t, h)
			cacheWithWriteBackInFlight(t, h, c, "k")
			p := h.newPut("k", vlen, 0x1122_3344_5566_7788, 2)
			g := h.newReq(OpGet, "k", 0, 3)
			if !h.step(p) {
				t.Fatal("PUT not accepted")
			}
			c.accept(p)
			// The PUT acts from X in the next cycle (§9.2 B), while the GET
			// enters X.
			if !h.step(g) {
				t.Fatal("GET not accepted")
			}
			c.accept(g)
			sl := &h.m.st.slots[5]
			long := vlen > 8
			if absorbed := sl.cval != 101; absorbed == long {
				t.Fatalf("vlen %d: cache value %#x after the PUT's arrival (len %d)", vlen, sl.cval, sl.n)
			}
			h.drain(200)
			if c.checked != 3 {
				t.Fatalf("%d responses checked", c.checked)
			}
			want := []int{1, -1, -1} // short: both served, a second write-back
			if long {
				want = []int{1, -1, 2, 3} // long: the PUT and the GET through the pipeline
			}
			if got := pipeTags(h.pipes); !reflect.DeepEqual(got, want) {
				t.Fatalf("pipe ops %v, want %v: %+v", got, want, h.pipes)
			}
			if long && (h.pipes[2].vlen != vlen || h.pipes[2].value != 0x1122_3344_5566_7788) {
				t.Fatalf("long PUT on the pipe: %+v", h.pipes[2])
			}
			if h.resps[2] != (event{cycle: h.resps[2].cycle, tag: 3, status: StatusOK, vlen: vlen, value: p.value}) {
				t.Fatalf("GET response %+v", h.resps[2])
			}
			if !reflect.DeepEqual(h.mem, c.ref) {
				t.Fatalf("memory %v, reference %v", h.mem, c.ref)
			}
		})
	}
}

// A GET that reads a long value leaves the cache invalid (cv = 0): the
// operations queued behind it go to the pipeline, not served from it. An
// ATOMIC on the long value reads its first 8 bytes and leaves 8 bytes,
// after which the cache serves again.
func TestLongValueNeverServed(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 21)
	h.latency = func() int { return 10 }
	h.slot["k"] = 9
	h.mem["k"] = val{30, 0xabc}
	c := newChecker(t, h)
	rs := []*req{h.newReq(OpGet, "k", 0, 1), h.newReq(OpGet, "k", 0, 2), h.newReq(OpAtomic, "k", 1, 3), h.newReq(OpGet, "k", 0, 4)}
	h.seqReqs(rs, c.accept)
	sawInvalid := false
	for range 200 {
		if h.idle() {
			break
		}
		h.step(nil)
		if len(h.resps) == 1 && len(h.pipes) == 2 {
			// The first GET completed, the second is in the pipeline.
			sl := &h.m.st.slots[9]
			if sl.cv || !sl.cfound || sl.cvlen != 30 || sl.cval != 0xabc {
				t.Fatalf("after a long GET: cv %v cfound %v cvlen %d cval %#x", sl.cv, sl.cfound, sl.cvlen, sl.cval)
			}
			sawInvalid = true
		}
	}
	if !sawInvalid || c.checked != 4 {
		t.Fatalf("saw the invalid cache %v, %d responses checked", sawInvalid, c.checked)
	}
	if got, want := pipeTags(h.pipes), []int{1, 2, 3, -1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pipe ops %v, want %v", got, want)
	}
	wantResp := []event{
		{tag: 1, status: StatusOK, vlen: 30, value: 0xabc},
		{tag: 2, status: StatusOK, vlen: 30, value: 0xabc},
		{tag: 3, status: StatusOK, vlen: 8, value: 0xabc},
		{tag: 4, status: StatusOK, vlen: 8, value: 0xabd}, // served by the walk
	}
	for i := range h.resps {
		h.resps[i].cycle = 0
	}
	if !reflect.DeepEqual(h.resps, wantResp) {
		t.Fatalf("responses %+v\nwant %+v", h.resps, wantResp)
	}
	if h.mem["k"] != (val{8, 0xabd}) || h.pipes[3].vlen != 8 {
		t.Fatalf("memory %+v, write-back %+v", h.mem["k"], h.pipes[3])
	}
}

// A walk that reaches an operation of the cached key it cannot serve (a
// long PUT, a vector operation) ends there: the later operations of that
// key stay queued behind it, other keys' operations keep their place.
func TestWalkEndsAtUnservableSameKey(t *testing.T) {
	for _, variant := range []string{"long PUT", "vector"} {
		t.Run(variant, func(t *testing.T) {
			h := newHarness(t, simCfg(t, true), 22)
			h.latency = func() int { return 8 }
			h.slot["k"], h.slot["k2"] = 7, 7
			h.mem["k"] = val{8, 1}
			c := newChecker(t, h)
			var u *req
			if variant == "long PUT" {
				u = h.newPut("k", 20, 0x77, 4)
			} else {
				u = h.newReq(OpUpdateS2V, "k", 10, 4)
			}
			rs := []*req{
				h.newReq(OpGet, "k", 0, 1),    // to the pipeline
				h.newReq(OpGet, "k2", 0, 2),   // another key: skipped by the walk
				h.newReq(OpPut, "k", 5, 3),    // served by the walk
				u,                             // the walk ends here
				h.newReq(OpGet, "k", 0, 5),    // not served: it would overtake u
				h.newReq(OpAtomic, "k", 1, 6), // likewise
			}
			h.seqReqs(rs, c.accept)
			var walkEnd []int32
			for range 400 {
				if h.idle() {
					break
				}
				was := h.m.st.walkActive
				h.step(nil)
				if was && !h.m.st.walkActive && walkEnd == nil {
					sl := &h.m.st.slots[7]
					for i := sl.head; len(walkEnd) < int(sl.n); i = h.m.st.ops[i].next {
						walkEnd = append(walkEnd, int32(h.m.st.ops[i].tag))
					}
				}
			}
			h.drain(10)
			if c.checked != len(rs) {
				t.Fatalf("%d responses checked", c.checked)
			}
			// After the first walk the chain holds k2's GET and u, and
			// k's later operations, in arrival order.
			if !reflect.DeepEqual(walkEnd, []int32{2, 4, 5, 6}) {
				t.Fatalf("chain after the first walk: tags %v, want [2 4 5 6]", walkEnd)
			}
			want := []int{1, -1, 2, 4, 5, 6, -1} // long PUT: the cache stays invalid, so 5 and 6 go to the pipeline
			if variant == "vector" {
				want = []int{1, -1, 2, 4, 5, -1} // 5 re-reads the key; its walk serves 6
			}
			if got := pipeTags(h.pipes); !reflect.DeepEqual(got, want) {
				t.Fatalf("pipe ops %v, want %v", got, want)
			}
			if !reflect.DeepEqual(h.mem, c.ref) {
				t.Fatalf("memory %v, reference %v", h.mem, c.ref)
			}
		})
	}
}

// Vector operations go to the pipeline unchanged (op 4–7, fid, operands,
// aux), in their slot's order; their completion is passed through
// unchanged, whatever its status, and invalidates the cache.
func TestVectorOps(t *testing.T) {
	t.Run("pass through", func(t *testing.T) {
		for op := OpUpdateS2V; op <= OpFilter; op++ {
			for _, found := range []bool{true, false} {
				h := newHarness(t, simCfg(t, true), 23)
				h.slot["v"] = 3
				if found {
					h.mem["v"] = val{16, 0x0f0f_0f0f_0000_1234}
				}
				r := h.newReq(op, "v", 0xff, 1)
				r.fid, r.cmp, r.swap = 2, 7, 8
				r.vlen, r.value = 5, 0x12_3456_789a
				if !h.step(r) {
					t.Fatal("not accepted")
				}
				h.drain(100)
				st, resp, _ := vecApply(op, h.mem["v"], found, 0xff)
				if found && op <= OpUpdateV2V {
					st, resp = StatusOK, val{16, 0x0f0f_0f0f_0000_1234} // the original value
				}
				if len(h.pipes) != 1 || h.pipes[0].op != uint64(op) || h.pipes[0].fid != 2 || h.pipes[0].vlen != 5 ||
					h.pipes[0].value != 0x12_3456_789a || h.pipes[0].aux != r.aux {
					t.Fatalf("op %d: pipe %+v", op, h.pipes)
				}
				if len(h.resps) != 1 || h.resps[0] != (event{cycle: h.resps[0].cycle, tag: 1, status: st, vlen: resp.vlen, value: resp.value}) {
					t.Fatalf("op %d found %v: responses %+v, want (%d, %+v)", op, found, h.resps, st, resp)
				}
			}
		}
	})
	t.Run("errors pass through", func(t *testing.T) {
		for _, status := range []uint64{StatusNoMemory, StatusMemError, StatusLambdaFault, 13} {
			h := newHarness(t, simCfg(t, true), 24)
			h.slot["v"] = 3
			h.vecJunk = true
			h.force = func(e event) uint64 { return status }
			if !h.step(h.newReq(OpReduce, "v", 1, 1)) {
				t.Fatal("not accepted")
			}
			h.drain(100)
			if len(h.resps) != 1 || h.resps[0] != (event{cycle: h.resps[0].cycle, tag: 1, status: status, vlen: 3, value: 0xbad}) {
				t.Fatalf("status %d: responses %+v", status, h.resps)
			}
		}
	})
	t.Run("slot order, cache invalidated", func(t *testing.T) {
		h := newHarness(t, simCfg(t, true), 25)
		h.latency = func() int { return 10 }
		h.slot["k"] = 4
		h.mem["k"] = val{8, 40}
		c := newChecker(t, h)
		cacheWithWriteBackInFlight(t, h, c, "k")
		// Cached, no chain: a vector operation is still not served, and
		// the GET behind it waits for it and then for the pipeline.
		v := h.newReq(OpUpdateS2V, "k", 100, 2)
		g := h.newReq(OpGet, "k", 0, 3)
		h.seqReqs([]*req{v, g}, c.accept)
		h.step(nil) // g acts from X
		if sl := &h.m.st.slots[4]; sl.n != 2 {
			t.Fatalf("chain length %d, want 2", sl.n)
		}
		invalid := false
		for !h.idle() {
			n := len(h.resps)
			h.step(nil)
			if n == 1 && len(h.resps) == 2 {
				// the vector operation's response: the cache is invalid
				invalid = !h.m.st.slots[4].cv
			}
			if h.cyc > 500 {
				t.Fatal("not idle")
			}
		}
		if !invalid || c.checked != 3 {
			t.Fatalf("cache invalid after the vector op %v; %d checked", invalid, c.checked)
		}
		if got, want := pipeTags(h.pipes), []int{1, -1, 2, 3}; !reflect.DeepEqual(got, want) {
			t.Fatalf("pipe ops %v, want %v", got, want)
		}
		if h.resps[2].value != 141 || h.mem["k"] != (val{8, 141}) {
			t.Fatalf("responses %+v memory %+v", h.resps, h.mem["k"])
		}
	})
}

// req_aux is given back with every pipeline operation of the request; a
// write-back carries the aux of the operation that last set the slot's
// cache key, not that of the operations the cache served.
func TestAuxCarried(t *testing.T) {
	cfg := simCfg(t, true)
	h := newHarness(t, cfg, 26)
	m, err := NewWithAux(cfg, testEvaluator{}, 64)
	if err != nil {
		t.Fatal(err)
	}
	h.m, h.p, h.lay = m, m.Params(), model.MustLayout(m.Ports())
	h.in, h.out = make([]uint64, h.lay.InWords), make([]uint64, h.lay.OutWords)
	h.latency = func() int { return 10 }
	h.slot["k"], h.slot["j"] = 11, 11
	a := cacheWithWriteBackInFlight(t, h, nil, "k")
	a2 := h.newReq(OpAtomic, "k", 1, 2) // served at arrival
	a2.aux = 0xfedc_ba98_7654_3210
	if !h.step(a2) {
		t.Fatal("not accepted")
	}
	h.drain(200)
	if got := pipeTags(h.pipes); !reflect.DeepEqual(got, []int{1, -1, -1}) {
		t.Fatalf("pipe ops %v", got)
	}
	for i, p := range h.pipes {
		if p.aux != a.aux {
			t.Fatalf("pipe op %d aux %#x, want %#x (the first atomic's)", i, p.aux, a.aux)
		}
	}
	// Another key of the slot through the pipeline takes the cache key and
	// its aux; its write-back carries it.
	j := h.newReq(OpAtomic, "j", 3, 3)
	j.aux = 1 << 63
	h.step(j)
	h.drain(200)
	if n := len(h.pipes); n != 5 || h.pipes[3].aux != 1<<63 || !h.pipes[4].wb || h.pipes[4].aux != 1<<63 {
		t.Fatalf("pipe %+v", h.pipes[3:])
	}
}

// pipe_ready = 0 holds PQ's head on pipe_* (checked by the harness every
// cycle); PQ fills to Q and the completion side then waits, completions
// piling up in CQ, until pipe_ready rises.
func TestPipeReadyHold(t *testing.T) {
	h := newHarness(t, simCfg(t, false), 27)
	h.latency = func() int { return 1000 }
	for s := 0; s < 20; s++ {
		h.slot[fmt.Sprintf("a%d", s)] = s
		h.slot[fmt.Sprintf("b%d", s)] = s
	}
	c := newChecker(t, h)
	var reqs []*req
	for s := 0; s < 20; s++ {
		reqs = append(reqs, h.newReq(OpPut, fmt.Sprintf("a%d", s), uint64(s), uint16(2*s)), h.newReq(OpGet, fmt.Sprintf("b%d", s), 0, uint16(2*s+1)))
	}
	h.seqReqs(reqs, c.accept)
	h.step(nil) // the last request acts from X
	h.step(nil) // the last push reaches pipe_* (t+2)
	if st := &h.m.st; st.busyN != 20 || st.chainN != 20 || st.pqN != 0 {
		t.Fatalf("after phase 1: %s", h.m.DescribeState())
	}
	// Hold the pipeline and release the 20 operations, one completion a
	// cycle: each COMPLETE pushes its slot's next operation.
	hold := true
	h.pready = func() bool { return !hold }
	for j := range h.pend {
		h.pend[j].due = h.cyc
	}
	for range 60 {
		h.step(nil)
	}
	// X is empty, so one request is accepted (§9.2: req_ready = !X.valid
	// || X goes); it cannot go with |PQ| = Q, so the next ones are not.
	x := h.newReq(OpGet, "a0", 0, 999)
	if !h.step(x) {
		t.Fatalf("cycle %d: request refused with X empty", h.cyc-1)
	}
	c.accept(x)
	for range 5 {
		if h.step(h.newReq(OpGet, "a1", 0, 998)) {
			t.Fatalf("cycle %d: request accepted with |PQ| %d and X full", h.cyc-1, h.m.st.pqN)
		}
	}
	st := &h.m.st
	if st.pqN != QueueCap || h.maxPQ != QueueCap || len(h.resps) != QueueCap || !st.xValid {
		t.Fatalf("|PQ| %d (max %d), %d responses, X valid %v; want Q = %d of each, X valid", st.pqN, h.maxPQ, len(h.resps), st.xValid, QueueCap)
	}
	// The 4 completions not acted on: 2 in the completion line (D1, D2,
	// frozen while the side waits), 2 in CQ.
	if h.m.cq.Len() != 2 || !st.d1.valid || !st.d2.valid || st.stalls == 0 {
		t.Fatalf("CQ holds %d, D1 %v D2 %v, %d stalls: %s", h.m.cq.Len(), st.d1.valid, st.d2.valid, st.stalls, h.m.DescribeState())
	}
	if d := h.m.DescribeState(); !strings.Contains(d, "completion side waiting") {
		t.Errorf("DescribeState does not say the completion side waits:\n%s", d)
	}
	// Release: everything completes, in per-key order, against the
	// reference.
	hold = false
	h.latency = func() int { return 3 }
	h.drain(1000)
	if c.checked != 41 || len(h.pipes) != 41 {
		t.Fatalf("%d responses checked, %d pipeline ops", c.checked, len(h.pipes))
	}
	if !reflect.DeepEqual(h.mem, c.ref) {
		t.Fatalf("memory %v, reference %v", h.mem, c.ref)
	}
}

// pipe_ready toggling on a hot key with forwarding: the results are those
// of the reference, and per-key order holds (the checker), with PQ's head
// held whenever pipe_ready is 0 (the harness).
func TestPipeReadyToggleHotKey(t *testing.T) {
	h := newHarness(t, simCfg(t, true), 28)
	h.latency = func() int { return 5 + h.rng.IntN(10) }
	h.random = true
	n := 0
	h.pready = func() bool { n++; return n%7 < 3 }
	h.slot["hot"] = 1
	h.slot["cold"] = 1
	c := newChecker(t, h)
	tag := uint16(0)
	h.drive(5000, func() *req {
		k := "hot"
		if tag%5 == 0 {
			k = "cold"
		}
		r := h.newReq([]int{OpAtomic, OpGet, OpPut, OpAtomic, OpUpdateS2V}[tag%5], k, uint64(tag%9), tag)
		tag++
		return r
	}, c.accept)
	h.pready = nil
	h.drain(10000)
	if len(c.reqs) != 0 || c.checked < 400 {
		t.Fatalf("%d checked, %d unanswered", c.checked, len(c.reqs))
	}
	if !reflect.DeepEqual(h.mem, c.ref) {
		t.Fatalf("memory %v, reference %v", h.mem, c.ref)
	}
	t.Logf("%d responses in %d cycles; max |PQ| %d", c.checked, h.cyc, h.maxPQ)
}

// ---------------------------------------------------------------------------
// Error completions: the pipeline's codes pass through unchanged.

func TestErrorOnOperation(t *testing.T) {
	const L = 5
	h := newHarness(t, simCfg(t, true), 7)
	h.latency = func() int { return L }
	h.slot["e"] = 4
	h.mem["e"] = val{8, 100}
	c := newChecker(t, h)
	h.force = func(e event) uint64 { // the first GET fails
		if e.id == 0 && e.op == OpGet {
			return StatusMemError
		}
		return 0
	}
	// GET (fails), then PUT 7 and GET behind it in the chain.
	rs := []*req{h.newReq(OpGet, "e", 0, 1), h.newReq(OpPut, "e", 7, 2), h.newReq(OpGet, "e", 0, 3)}
	h.seqReqs(rs, c.accept)
	h.drain(200)
	if len(h.resps) != 3 || h.resps[0].status != StatusMemError || h.resps[0].value != 0 || h.resps[0].vlen != 0 {
		t.Fatalf("responses %+v", h.resps)
	}
	// After the error the cache is invalid: no walk; the PUT goes to the
	// pipeline two cycles after COMPLETE (7+L), and then the GET is served
	// from the cache the PUT left (a walk, whose first step is the cycle
	// after the PUT's COMPLETE, §10.1).
	wantOps := []uint64{OpGet, OpPut}
	if len(h.pipes) != 2 || h.pipes[0].op != wantOps[0] || h.pipes[1].op != wantOps[1] || h.pipes[1].cycle != 9+L {
		t.Fatalf("pipe %+v", h.pipes)
	}
	if h.resps[2].value != 7 || h.resps[2].vlen != 8 || h.resps[2].cycle != h.resps[1].cycle+1 {
		t.Fatalf("GET after PUT: %+v", h.resps)
	}
}

func TestErrorOnAtomicOperation(t *testing.T) {
	for _, status := range []uint64{StatusNoMemory, StatusMemError, 15} {
		h := newHarness(t, simCfg(t, true), 8)
		h.slot["a"] = 4
		h.mem["a"] = val{8, 3}
		h.force = func(e event) uint64 {
			if !e.wb {
				return status
			}
			return 0
		}
		if !h.step(h.newReq(OpAtomic, "a", 1, 1)) {
			t.Fatal("not accepted")
		}
		h.drain(100)
		if len(h.resps) != 1 || h.resps[0] != (event{cycle: h.resps[0].cycle, tag: 1, status: status}) || len(h.pipes) != 1 || h.mem["a"] != (val{8, 3}) {
			t.Fatalf("status %d: responses %+v pipe %+v mem %+v", status, h.resps, h.pipes, h.mem["a"])
		}
	}
}

// Every error code of every non-vector operation is answered (code, 0, 0)
// and leaves the cache invalid: the next operation of the key goes to the
// pipeline.
func TestErrorStatusesPassThrough(t *testing.T) {
	for _, status := range []uint64{2, 3, 4, StatusNoMemory, StatusMemError, 7, StatusLambdaFault, 9, 15} {
		for _, op := range []int{OpGet, OpPut, OpDelete, OpAtomic} {
			h := newHarness(t, simCfg(t, true), 80)
			h.slot["e"] = 6
			h.mem["e"] = val{4, 0x01020304}
			h.force = func(e event) uint64 {
				if e.tag == 1 {
					return status
				}
				return 0
			}
			first := h.newReq(op, "e", 9, 1)
			get := h.newReq(OpGet, "e", 0, 2)
			h.seqReqs([]*req{first, get}, nil)
			h.drain(200)
			want := []event{{tag: 1, status: status}, {tag: 2, status: StatusOK, vlen: 4, value: 0x01020304}}
			if len(h.resps) == 2 {
				want[0].cycle, want[1].cycle = h.resps[0].cycle, h.resps[1].cycle
			}
			if !reflect.DeepEqual(h.resps, want) || len(h.pipes) != 2 || h.pipes[1].op != OpGet || h.pipes[1].tag != 2 {
				t.Fatalf("status %d op %d: responses %+v, want %+v; pipe %+v", status, op, h.resps, want, h.pipes)
			}
		}
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
			h.force = func(e event) uint64 {
				if e.wb && failed < 2 {
					failed++
					return []uint64{StatusMemError, StatusNoMemory}[failed-1]
				}
				return 0
			}
			if !h.step(h.newReq(OpAtomic, "w", 9, 1)) {
				t.Fatal("not accepted")
			}
			h.drain(200)
			// GET, then the write-back three times (two errors), each two
			// cycles after the previous one's COMPLETE: L+6 after it.
			if len(h.pipes) != 4 || h.pipes[0].op != OpGet {
				t.Fatalf("pipe %+v", h.pipes)
			}
			for i, p := range h.pipes[1:] {
				if !p.wb || p.op != OpPut || p.vlen != 8 || p.value != 9 || p.id != uint64(h.p.M+250) {
					t.Fatalf("write-back %d: %+v", i, p)
				}
				if p.cycle != h.pipes[i].cycle+L+6 {
					t.Fatalf("write-back %d at %d, previous op at %d", i, p.cycle, h.pipes[i].cycle)
				}
			}
			if len(h.resps) != 1 || h.resps[0] != (event{cycle: 8 + L, tag: 1, status: StatusNotFound, vlen: 8, value: 0}) {
				t.Fatalf("responses %+v", h.resps)
			}
			if h.mem["w"] != (val{8, 9}) {
				t.Fatalf("memory %+v", h.mem["w"])
			}
		})
	}
}

// ---------------------------------------------------------------------------
// λ faults: fid >= N, and a λ whose evaluation fails. Answered 8
// LAMBDA_FAULT, the value unchanged.

func TestFidOutOfRange(t *testing.T) {
	const L = 5
	h := newHarness(t, simCfg(t, true), 10)
	h.latency = func() int { return L }
	h.slot["f"] = 8
	h.mem["f"] = val{8, 50}
	n := h.p.N
	if n >= 1<<h.p.F {
		t.Fatalf("F = %d cannot carry an unknown fid for N = %d", h.p.F, n)
	}
	// Idle slot: it goes to the pipeline as a GET, answers LAMBDA_FAULT, and leaves
	// nothing to write back.
	bad := h.newReq(OpAtomic, "f", 1, 1)
	bad.fid = n
	if !h.step(bad) {
		t.Fatal("not accepted")
	}
	h.drain(100)
	if len(h.pipes) != 1 || h.pipes[0].op != OpGet || h.pipes[0].fid != uint64(n) || len(h.resps) != 1 ||
		h.resps[0] != (event{cycle: h.resps[0].cycle, tag: 1, status: StatusLambdaFault}) {
		t.Fatalf("pipe %+v responses %+v", h.pipes, h.resps)
	}
	// Cached key: a good atomic (its write-back keeps the cache), then a bad
	// one executed at arrival: LAMBDA_FAULT, the value unchanged; then a
	// λ that faults on these operands (fid 3, delta 0), likewise.
	good := h.newReq(OpAtomic, "f", 2, 2)
	h.step(good)
	for len(h.resps) < 2 {
		h.step(nil)
	}
	bad2 := h.newReq(OpAtomic, "f", 1, 3)
	bad2.fid = 1<<h.p.F - 1
	acc := h.cyc
	if !h.step(bad2) {
		t.Fatal("not accepted")
	}
	div0 := h.newReq(OpAtomic, "f", 0, 4)
	div0.fid = 3
	get := h.newReq(OpGet, "f", 0, 5)
	if !h.step(div0) || !h.step(get) {
		t.Fatal("not accepted")
	}
	h.drain(100)
	if len(h.resps) != 5 || h.resps[2] != (event{cycle: acc + 2, tag: 3, status: StatusLambdaFault}) ||
		h.resps[3] != (event{cycle: acc + 3, tag: 4, status: StatusLambdaFault}) ||
		h.resps[4] != (event{cycle: acc + 4, tag: 5, status: StatusOK, vlen: 8, value: 52}) {
		t.Fatalf("responses %+v", h.resps)
	}
	if h.mem["f"] != (val{8, 52}) {
		t.Fatalf("memory %+v", h.mem["f"])
	}
	// A λ that faults at COMPLETE (the key's value came from the
	// pipeline): LAMBDA_FAULT, nothing written back.
	np := len(h.pipes)
	div1 := h.newReq(OpAtomic, "f", 0, 6)
	div1.fid = 3
	h.step(div1)
	h.drain(100)
	if len(h.resps) != 6 || h.resps[5].status != StatusLambdaFault || len(h.pipes) != np+1 || h.pipes[np].op != OpGet {
		t.Fatalf("responses %+v pipe %+v", h.resps[5:], h.pipes[np:])
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
	// The last request takes the last id when it goes from X; one more
	// is accepted into X (req_ready = !X.valid || X goes) and stays there.
	last := h.newReq(OpGet, fmt.Sprintf("s%d", M), 0, uint16(M))
	if !h.step(last) {
		t.Fatal("refused with X empty")
	}
	h.slot[fmt.Sprintf("s%d", M+1)] = M + 1
	extra := h.newReq(OpGet, fmt.Sprintf("s%d", M+1), 0, uint16(M+1))
	for range 10 {
		if h.step(extra) {
			t.Fatal("accepted with X full and no free id")
		}
	}
	if st := &h.m.st; st.freeN != 0 || !st.xValid || st.x.tag != uint16(M) {
		t.Fatalf("want no free id and X holding the last request: %s", h.m.DescribeState())
	}
	// Complete id 5 only, at cycle x: at CQ's output at x+2, D1, D2, and
	// COMPLETE at x+4 frees it; X goes at x+5 (req_ready = 1: the extra
	// request enters X), takes id 5 and pushes it; on the pipe at x+7.
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
	for !h.step(extra) {
		if h.cyc > x+10 {
			t.Fatal("never ready")
		}
	}
	if got := h.cyc - 1; got != x+5 {
		t.Fatalf("accepted at %d, completion at %d; want %d", got, x, x+5)
	}
	h.step(nil)
	h.step(nil)
	if p := h.pipes[len(h.pipes)-1]; p.id != 5 || p.key != fmt.Sprintf("s%d", M) || p.cycle != x+7 {
		t.Fatalf("issued %+v, want id 5 at cycle %d", p, x+7)
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
		{"still in X", true, []cpl{{1, 0, 0}}, "free"},             // accepted at 0, in X
		{"not yet issued", true, []cpl{{2, 0, 0}}, "queued in PQ"}, // pushed at 1, on the pipe at 3
		{"twice", true, []cpl{{4, 0, 0}, {5, 0, 0}}, "completed (in CQ)"},
		{"twice, in D2", true, []cpl{{4, 0, 0}, {8, 0, 0}}, "completed (in CQ)"}, // CQ out 6 → D1, D2 at 8, COMPLETE at 8
		{"twice later", true, []cpl{{4, 0, 0}, {9, 0, 0}}, "free"},
		{"write-back not in flight", false, []cpl{{0, uint64(M + 3), 0}}, "not in flight"},
		{"id out of range", false, []cpl{{0, 400, 0}}, "out of range"},
		{"held by pipe_ready", true, []cpl{{4, 0, 0}}, "queued in PQ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, cfg)
			lay := model.MustLayout(m.Ports())
			in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
			var err error
			for cy := 0; cy < 12 && err == nil; cy++ {
				clear(in)
				if tc.name != "held by pipe_ready" {
					in[lay.MustSlot("pipe_ready").Off] = 1
				}
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
	h.pready = func() bool { return h.rng.IntN(3) != 0 }
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
		r := h.newReq(h.rng.IntN(8), k, h.rng.Uint64N(9), tag)
		if h.rng.IntN(4) == 0 {
			r = h.newPut(k, uint64(h.rng.IntN(20)), h.rng.Uint64(), tag)
		}
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
	if !strings.Contains(d, "X holds tag 5 for slot 1") {
		t.Errorf("DescribeState lacks X:\n%s", d)
	}
	h.step(nil) // the last request acts from X
	d = h.m.DescribeState()
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
	off     struct{ reqValid, cplValid, cplID, cplStatus, cplVlen, cplValue, pipeValid, pipeReady, pipeID, ready int }
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
	d.off.cplVlen = lay.MustSlot("cpl_vlen").Off
	d.off.cplValue = lay.MustSlot("cpl_value").Off
	d.off.pipeReady = lay.MustSlot("pipe_ready").Off
	d.off.pipeValid = lay.MustSlot("pipe_valid").Off
	d.off.pipeID = lay.MustSlot("pipe_id").Off
	d.off.ready = lay.MustSlot("req_ready").Off
	d.reqEnd = d.off.pipeReady // req_* come first among the inputs
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 4096 {
		v := make([]uint64, d.reqEnd)
		k := rng.IntN(64)
		if i%4 == 0 {
			k = 0
		}
		v[d.off.reqValid] = 1
		v[lay.MustSlot("req_op").Off] = uint64(rng.IntN(4))
		if i%16 == 5 {
			v[lay.MustSlot("req_op").Off] = uint64(OpUpdateS2V + rng.IntN(4))
		}
		v[lay.MustSlot("req_vlen").Off] = uint64(rng.IntN(12))
		v[lay.MustSlot("req_aux").Off] = uint64(k)
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
	d.in[d.off.pipeReady] = 1
	if d.rn > 0 && d.ring[d.rh].due <= d.cyc {
		d.in[d.off.cplValid] = 1
		d.in[d.off.cplID] = d.ring[d.rh].id
		d.in[d.off.cplStatus] = StatusOK
		d.in[d.off.cplVlen] = 8
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
