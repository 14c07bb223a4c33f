package testbenches

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rs"
)

// rsStub is the station shadow behind the ports of rs.md §2: a stand-in
// golden model that lets the stimulus and its checker be tested without
// golden/rs or the RTL.
type rsStub struct {
	st    *rsStation
	ports []model.Port
	p     rsPorts
	in    rsIn
	out   rsOut
}

// rsPortList is rs.md §2 (v2) for cfg with aux width a: the stand-in
// models' ports, and what the stimulus expects of golden/rs.
func rsPortList(cfg config.Config, a int) []model.Port {
	m, r := cfg.RS.MaxInflight, cfg.RS.Slots
	iw, sw := bits.Len(uint(m+r-1)), bits.Len(uint(r))-1
	kb, kl, w := 8*cfg.Key.MaxKeyBytes, cfg.KeyLenBits(), cfg.Atomic.ScalarBits
	fw := max(1, bits.Len(uint(len(cfg.Atomic.Lambdas))))
	vl := bits.Len(uint(max(cfg.Key.MaxValueBytes, 8)))
	in := func(n string, w int) model.Port { return model.Port{Name: n, Dir: model.In, Width: w} }
	out := func(n string, w int, q string) model.Port {
		return model.Port{Name: n, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	const pv, rv = "pipe_valid", "resp_valid"
	return []model.Port{
		in("req_valid", 1), out("req_ready", 1, ""), in("req_op", 3), in("req_fid", fw), in("req_key", kb),
		in("req_klen", kl), in("req_slot", sw), in("req_vlen", vl), in("req_value", 64), in("req_delta", w), in("req_cmp", w),
		in("req_swap", w), in("req_aux", a), in("req_tag", 16),
		out("pipe_valid", 1, ""), in("pipe_ready", 1), out("pipe_id", iw, pv), out("pipe_tag", 16, pv), out("pipe_op", 3, pv),
		out("pipe_fid", fw, pv), out("pipe_key", kb, pv), out("pipe_klen", kl, pv), out("pipe_vlen", vl, pv),
		out("pipe_value", 64, pv), out("pipe_delta", w, pv), out("pipe_cmp", w, pv), out("pipe_swap", w, pv), out("pipe_aux", a, pv),
		in("cpl_valid", 1), in("cpl_id", iw), in("cpl_status", 4), in("cpl_vlen", vl), in("cpl_value", 64),
		out("resp_valid", 1, ""), out("resp_tag", 16, rv), out("resp_status", 4, rv), out("resp_vlen", vl, rv), out("resp_value", 64, rv),
	}
}

// rsDefaultAux is A for the processor: BI + H (rs.md §1, processor.md §4).
func rsDefaultAux(cfg config.Config) int { return cfg.BucketIndexBits() + cfg.Bucket.SecHashBits }

func newRSStub(t testing.TB, cfg config.Config) *rsStub {
	t.Helper()
	ev, err := lambda.NewEvaluator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ports := rsPortList(cfg, rsDefaultAux(cfg))
	p, err := newRSPorts(model.MustLayout(ports))
	if err != nil {
		t.Fatal(err)
	}
	st := newRSStation(cfg, ev.Eval, p.vlW)
	kw := model.Words(8 * cfg.Key.MaxKeyBytes)
	return &rsStub{st: st, ports: ports, p: p, in: rsIn{req: rsOp{key: make([]uint64, kw)}}, out: rsOut{pipe: rsPipeOut{key: make([]uint64, kw)}}}
}

func (m *rsStub) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }
func (m *rsStub) Reset()              { m.st.reset() }
func (m *rsStub) Snapshot() any {
	return fmt.Sprintf("free %d, walk %v", m.st.freeLen, m.st.walkActive)
}
func (m *rsStub) Restore(any) { panic("rsStub: Restore is not supported") }

func (m *rsStub) Step(in, out []uint64) error {
	m.p.decodeIn(in, &m.in)
	if err := m.st.step(&m.in, &m.out); err != nil {
		return err
	}
	m.p.encodeOut(out, &m.out)
	return nil
}

func rsConfig(t testing.TB, preset string, fwd bool) config.Config {
	t.Helper()
	c, err := config.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(fmt.Sprintf("rs.forwarding=%v", fwd)); err != nil {
		t.Fatal(err)
	}
	return c
}

func rsScenarioParams(t testing.TB, name string, cfg config.Config) rsParams {
	t.Helper()
	for _, sc := range rsScenarios {
		if sc.name == name {
			return sc.params(cfg)
		}
	}
	t.Fatalf("no scenario %s", name)
	return rsParams{}
}

// Every scenario runs clean against the stub with forwarding on and off,
// drains and checks memory, and reaches its corners.
func TestRSScenariosAgainstTheStub(t *testing.T) {
	for _, sc := range rsScenarios {
		for _, fwd := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/fwd=%v", sc.name, fwd), func(t *testing.T) {
				c := rsConfig(t, "sim", fwd)
				m := newRSStub(t, c)
				stim, err := newRSStim(c, m, sc.params(c), 7)
				if err != nil {
					t.Fatal(err)
				}
				cycles, err := stepGolden(context.Background(), m, stim, 200_000)
				if err != nil {
					t.Fatalf("%v\n%s", err, stim.Describe(cycles))
				}
				if stim.ShadowLost() != "" {
					t.Fatalf("the shadow disagrees with itself: %s", stim.ShadowLost())
				}
				if stim.drains < 2 || stim.responses < 500 {
					t.Fatalf("%d drains, %d responses", stim.drains, stim.responses)
				}
				pts := stim.Points()
				want := []string{"rs.chain_ge_8"}
				if sc.name != "rs_hot" { // hot keys share a slot only by chance
					want = append(want, "rs.false_dependency")
				}
				if fwd {
					want = append(want, "rs.walk_forward", "rs.arrival_forward", "rs.writeback")
				}
				if sc.name != "rs_fast_pipe" {
					want = append(want, "rs.ids_exhausted")
				}
				if sc.name != "rs_zipf" {
					want = append(want, "rs.writeback", "rs.invalid_fid", "rs.lambda_fault", "rs.lambda.cas")
				}
				if sc.name == "rs_errors" {
					want = append(want, "rs.error_completion", "rs.writeback_error", "rs.error_passed")
				}
				if sc.name != "rs_zipf" && sc.name != "rs_hot" { // rs_hot's epochs may all be atomics
					want = append(want, "rs.vector_op", "rs.long_put_queued", "rs.long_value_read")
					if fwd {
						want = append(want, "rs.walk_stopped")
					}
				}
				switch sc.name {
				case "rs_errors", "rs_fast_pipe", "rs_backpressure":
					want = append(want, "rs.pipe_backpressure")
				}
				if sc.name == "rs_backpressure" && fwd { // without forwarding the ids run out first
					want = append(want, "rs.completion_stalled")
				}
				for _, p := range want {
					if pts[p] == 0 {
						t.Errorf("point %s not hit: %v", p, pts)
					}
				}
				t.Logf("%d cycles, %d responses (%.3f/cycle), %d drains, points %v", cycles, stim.responses, float64(stim.responses)/float64(cycles), stim.drains, pts)
			})
		}
	}
}

// The paper's sizes: wider keys, 1024 slots, 256 ids.
func TestRSMixedOnThePaperPresetAgainstTheStub(t *testing.T) {
	c := rsConfig(t, "paper", true)
	m := newRSStub(t, c)
	stim, err := newRSStim(c, m, rsScenarioParams(t, "rs_mixed", c), 3)
	if err != nil {
		t.Fatal(err)
	}
	if cycles, err := stepGolden(context.Background(), m, stim, 150_000); err != nil {
		t.Fatalf("%v\n%s", err, stim.Describe(cycles))
	}
	if stim.drains < 2 {
		t.Fatalf("%d drains", stim.drains)
	}
}

// rsBroken breaks one output of an otherwise correct model once, after
// `after` responses: the checker must notice each kind of damage.
type rsBroken struct {
	model.Model
	p       rsPorts
	kind    string
	after   int
	resps   int
	done    bool
	prev    []uint64
	tags    map[uint64]string // outstanding tag -> key, from the model's own handshakes
	tagSeq  map[uint64]int
	seq     int
	keyBits int
	wbID    uint64 // write-back ids start here (M)
	held    bool   // the previous cycle's pipeline operation was not taken
}

func (b *rsBroken) Step(in, out []uint64) error {
	if err := b.Model.Step(in, out); err != nil {
		return err
	}
	p := &b.p
	respValid := out[p.respValid.Off] == 1
	live := !b.done && b.resps >= b.after
	switch b.kind {
	case "value":
		if live && respValid && out[p.respStatus.Off] == rsOK && out[p.respValue.Off] != 0 {
			out[p.respValue.Off] ^= 1
			b.done = true
		}
	case "status":
		if live && respValid && out[p.respStatus.Off] == rsNotFound {
			out[p.respStatus.Off] = rsOK
			b.done = true
		}
	case "drop":
		if live && respValid {
			out[p.respValid.Off] = 0
			b.done = true
		}
	case "duplicate":
		if live && !respValid && b.prev != nil && b.prev[p.respValid.Off] == 1 {
			out[p.respValid.Off] = 1
			out[p.respTag.Off], out[p.respStatus.Off], out[p.respValue.Off] = b.prev[p.respTag.Off], b.prev[p.respStatus.Off], b.prev[p.respValue.Off]
			b.done = true
		}
	case "reorder":
		if live && respValid {
			tag := out[p.respTag.Off]
			for t, k := range b.tags {
				if t != tag && k == b.tags[tag] && b.tagSeq[t] > b.tagSeq[tag] {
					out[p.respTag.Off] = t
					b.done = true
					break
				}
			}
		}
	case "second op in slot":
		if live && out[p.pipeValid.Off] == 0 && b.prev != nil && b.prev[p.pipeValid.Off] == 1 {
			for _, sl := range []model.Slot{p.pipeValid, p.pipeID, p.pipeTag, p.pipeOp, p.pipeFid, p.pipeKey, p.pipeKlen,
				p.pipeVlen, p.pipeValue, p.pipeDelta, p.pipeCmp, p.pipeSwap, p.pipeAux} {
				copy(out[sl.Off:sl.Off+sl.Words], b.prev[sl.Off:sl.Off+sl.Words])
			}
			b.done = true
		}
	case "write-back value":
		// Every write-back: one that a later write-back overwrites before
		// anything reads memory is invisible to clients, and to the checker.
		if b.resps >= b.after && out[p.pipeValid.Off] == 1 && out[p.pipeOp.Off] == rsPut && out[p.pipeID.Off] >= b.wbID {
			out[p.pipeValue.Off] ^= 4
			b.done = true
		}
	case "aux":
		if live && out[p.pipeValid.Off] == 1 && out[p.pipeID.Off] < b.wbID && in[p.pipeReady.Off] == 1 {
			out[p.pipeAux.Off] ^= 1
			b.done = true
		}
	case "write-back aux":
		if live && out[p.pipeValid.Off] == 1 && out[p.pipeID.Off] >= b.wbID && in[p.pipeReady.Off] == 1 {
			out[p.pipeAux.Off] ^= 1 << 3
			b.done = true
		}
	case "long value":
		if live && respValid && out[p.respVlen.Off] > 8 {
			out[p.respVlen.Off]--
			b.done = true
		}
	case "unmasked value":
		if live && out[p.pipeValid.Off] == 1 && out[p.pipeOp.Off] == rsPut && out[p.pipeVlen.Off] < 8 && in[p.pipeReady.Off] == 1 {
			out[p.pipeValue.Off] |= 0x80 << (8 * out[p.pipeVlen.Off])
			b.done = true
		}
	case "held operation changes":
		if live && b.held && out[p.pipeValid.Off] == 1 {
			out[p.pipeTag.Off] ^= 1
			b.done = true
		}
	case "unmasked key":
		if live && out[p.pipeValid.Off] == 1 && int(out[p.pipeKlen.Off])*8 < b.keyBits {
			l := int(out[p.pipeKlen.Off])
			out[p.pipeKey.Off+l/8] |= 0x5a << (8 * (l % 8))
			b.done = true
		}
	}
	if out[p.respValid.Off] == 1 {
		b.resps++
		delete(b.tags, out[p.respTag.Off])
	}
	if in[p.reqValid.Off] == 1 && out[p.reqReady.Off] == 1 {
		key := fmt.Sprint(in[p.reqKey.Off:p.reqKey.Off+p.reqKey.Words], in[p.reqKlen.Off])
		b.tags[in[p.reqTag.Off]] = key
		b.tagSeq[in[p.reqTag.Off]] = b.seq
		b.seq++
	}
	b.held = out[p.pipeValid.Off] == 1 && in[p.pipeReady.Off] == 0
	b.prev = append(b.prev[:0], out...)
	return nil
}

func TestRSCheckerCatchesBrokenStations(t *testing.T) {
	cases := []struct {
		kind, scenario, want string
		after                int
	}{
		{"value", "rs_hot", "expected", 500},
		{"status", "rs_mixed", "expected NOT_FOUND", 200},
		{"drop", "rs_hot", "unanswered", 300},
		{"duplicate", "rs_mixed", "answered twice", 300},
		{"reorder", "rs_hot", "per-key order", 300},
		{"second op in slot", "rs_mixed", "pipeline", 100},
		{"write-back value", "rs_hot", "", 1000},
		{"unmasked key", "rs_mixed", "past pipe_klen", 50},
		{"aux", "rs_mixed", "aux", 100},
		{"write-back aux", "rs_hot", "aux", 300},
		{"long value", "rs_mixed", "expected", 100},
		{"unmasked value", "rs_mixed", "past pipe_vlen", 100},
		{"held operation changes", "rs_fast_pipe", "held it back", 100},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			c := rsConfig(t, "sim", true)
			stub := newRSStub(t, c)
			b := &rsBroken{Model: stub, p: stub.p, kind: tc.kind, after: tc.after, tags: map[uint64]string{}, tagSeq: map[uint64]int{},
				keyBits: 8 * c.Key.MaxKeyBytes, wbID: uint64(c.RS.MaxInflight)}
			stim, err := newRSStim(c, b, rsScenarioParams(t, tc.scenario, c), 11)
			if err != nil {
				t.Fatal(err)
			}
			cycles, err := stepGolden(context.Background(), b, stim, 2_000_000)
			if !b.done {
				t.Fatalf("the damage was never done (%d cycles, err %v)", cycles, err)
			}
			if err == nil {
				t.Fatalf("the checker passed a station with damage %q", tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if d := stim.Describe(cycles); !strings.Contains(d, "kvd_rs traffic") || !strings.Contains(d, "cycle") {
				t.Errorf("Describe: %q", d)
			}
			t.Logf("%s: caught at cycle %d: %v", tc.kind, cycles, err)
		})
	}
}

// Keys are distinct for distinct indices, of every length 1..K, and the
// stimulus's slots are the key-hash unit's.
func TestRSKeys(t *testing.T) {
	for _, k := range []int{1, 3, 4, 16, 32} {
		g := rsKeyGen{k: k}
		seen := map[string]uint64{}
		lens := map[int]bool{}
		r := rand.New(rand.NewPCG(1, 2))
		for n := 0; n < 20000; n++ {
			i := g.randomKey(r)
			if i >= g.capacity() {
				t.Fatalf("k=%d: index %d beyond capacity %d", k, i, g.capacity())
			}
			b := string(g.bytes(i, nil))
			if j, ok := seen[b]; ok && j != i {
				t.Fatalf("k=%d: indices %d and %d give the same key %x", k, i, j, b)
			}
			seen[b] = i
			if len(b) < 1 || len(b) > k {
				t.Fatalf("k=%d: key of %d bytes", k, len(b))
			}
			lens[len(b)] = true
		}
		if len(lens) != k {
			t.Errorf("k=%d: lengths %v", k, lens)
		}
	}
	c := rsConfig(t, "sim", true)
	s, err := newRSStim(c, newRSStub(t, c), rsScenarioParams(t, "rs_mixed", c), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 1000; i++ {
		key, slot := s.keyOf(rsLen4Base + i)
		_, _, want := keyhash.Hash(c, []byte(key))
		if slot != want {
			t.Fatalf("key %x: slot %d, keyhash says %d", key, slot, want)
		}
	}
	grp := s.collidingKeys(4)
	if len(grp) != 4 {
		t.Fatalf("found %d colliding keys", len(grp))
	}
	_, s0 := s.keyOf(grp[0])
	for _, i := range grp[1:] {
		if _, sl := s.keyOf(i); sl != s0 {
			t.Fatalf("keys %v do not share a slot", grp)
		}
	}
}

// The Zipf sampler follows 1/(i+1)^0.99 closely enough for a workload.
func TestRSZipf(t *testing.T) {
	const n = 1 << 20
	z := newRSZipf(n, 0.99)
	r := rand.New(rand.NewPCG(5, 6))
	counts := make([]int, 8)
	const draws = 2_000_000
	for i := 0; i < draws; i++ {
		if k := z.rank(r); k < 8 {
			counts[k]++
		} else if k >= n {
			t.Fatalf("rank %d of %d", k, n)
		}
	}
	for i, c := range counts[:2] {
		want := float64(draws) / math.Pow(float64(i+1), 0.99) / z.zetan
		if math.Abs(float64(c)-want) > 0.05*want {
			t.Errorf("rank %d: %d draws, want about %.0f", i, c, want)
		}
	}
	if counts[0] < counts[1] || counts[1] < counts[7] {
		t.Errorf("not decreasing: %v", counts)
	}
}

// golden/rs against the sequential reference, without RTL: every response
// and the final memory, and the shadow agreeing with it cycle by cycle (two
// independent readings of rs.md).
func TestRSGoldenModelAgainstTheReference(t *testing.T) {
	for _, tc := range []struct {
		preset, scenario string
		fwd              bool
		cycles           uint64
	}{
		{"sim", "rs_mixed", true, 400_000},
		{"sim", "rs_mixed", false, 200_000},
		{"sim", "rs_errors", true, 200_000},
		{"sim", "rs_fast_pipe", true, 200_000},
		{"sim", "rs_zipf", true, 200_000},
		{"paper", "rs_hot", true, 200_000},
	} {
		t.Run(fmt.Sprintf("%s/%s/fwd=%v", tc.preset, tc.scenario, tc.fwd), func(t *testing.T) {
			c := rsConfig(t, tc.preset, tc.fwd)
			m, err := newRSGolden(c)
			if err != nil {
				t.Fatal(err)
			}
			stim, err := newRSStim(c, m, rsScenarioParams(t, tc.scenario, c), 21)
			if err != nil {
				t.Fatal(err)
			}
			cycles, err := stepGolden(context.Background(), m, stim, tc.cycles)
			if err != nil {
				t.Fatalf("%v\n%s", err, stim.Describe(cycles))
			}
			if l := stim.ShadowLost(); l != "" {
				t.Errorf("golden/rs and the testbench's reading of rs.md differ at %s", l)
			}
			if stim.drains < 2 {
				t.Errorf("only %d drains", stim.drains)
			}
			t.Logf("%d responses checked, %d drains, points %v", stim.responses, stim.drains, stim.Points())
		})
	}
}

// rsAcceptanceParams: GET/PUT/DELETE/ATOMIC mixes with 1 % vector
// operations and 2 % of PUTs long, four fifths of them on three or four hot
// keys, the rest on keys sharing a slot and a small cold tail; a saturating
// client; drained and checked every 20 000 requests (which also ends any
// starvation, see TestRSKeyBehindAHotKeyIsServed). Every vector operation
// and long value on a hot key costs a round trip (rs.md §5: the walk ends
// before it, a long value is never served): measured on the RTL, 0.43
// op/cycle without them, 0.23 with the 1 % vector operations alone, 0.19
// with both.
func rsAcceptanceParams(ops uint64) rsParams {
	p := rsDefaults()
	keys := rsMixedKeysW(80, 16, 4)
	for _, mix := range [][4]uint32{{30, 25, 10, 35}, {10, 10, 5, 75}, {25, 25, 30, 20}} {
		p.phases = append(p.phases, rsPhase{name: fmt.Sprintf("acceptance mix %v", mix), rate: 1000, keys: keys,
			mix: rsMix8(4*mix[0], 4*mix[1], 4*mix[2], 4*mix[3], 1, 1, 1, 1)})
	}
	p.longPPM = 20_000
	p.maxOps = ops
	return p
}

// The same workload without RTL, against golden/rs: quick to run, and the
// first place a disagreement between golden/rs and the reference shows.
func TestRSAcceptanceWorkloadAgainstTheGoldenModel(t *testing.T) {
	c := rsConfig(t, "sim", true)
	m, err := newRSGolden(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newRSStim(c, m, rsAcceptanceParams(2_000_000), 42)
	if err != nil {
		t.Fatal(err)
	}
	cycles, err := stepGolden(context.Background(), m, stim, 20_000_000)
	if err != nil {
		t.Fatalf("%v\n%s", err, stim.Describe(cycles))
	}
	if !stim.done || stim.responses < 2_000_000 {
		t.Fatalf("the run ended after %d responses (done=%v)", stim.responses, stim.done)
	}
	if l := stim.ShadowLost(); l != "" {
		t.Errorf("golden/rs and the testbench's reading of rs.md differ at %s", l)
	}
	t.Logf("%d operations in %d cycles (%.2f/cycle), %d drains; points %v", stim.responses, cycles, float64(stim.responses)/float64(cycles), stim.drains, stim.Points())
}

// A request on a key that shares its slot with a hot key must be answered
// while the hot key stays hot. rs.md §5 as written starves it: each
// completion of the hot key's write-back finds the cache valid and the
// chain non-empty, so a walk forwards the hot key's newer requests (queued
// behind the cold one), which dirties the cache, so END sends another
// write-back instead of the chain's head — for as long as the hot key is
// requested. The other scenarios drain every epoch, which ends the
// starvation; this one never drains.
func TestRSKeyBehindAHotKeyIsServed(t *testing.T) {
	c := rsConfig(t, "sim", true)
	m, err := newRSGolden(c)
	if err != nil {
		t.Fatal(err)
	}
	p := rsDefaults()
	p.phases = []rsPhase{{name: "a hot key and a key sharing its slot", mix: rsMix8(20, 30, 0, 50), rate: 1000,
		keys: func(s *rsStim) rsPicker {
			grp := s.collidingKeys(2)
			w := &rsWeighted{}
			w.add(97, rsUniform{grp[0]})
			w.add(3, rsUniform{grp[1]})
			return w
		}}}
	p.epochOps, p.epochCycles, p.maxOps = 0, 0, 50_000
	// Behind at most M-1 others, each a read, a write-back and a walk, a
	// request waits a few hundred thousand cycles at worst; a fair station
	// answers this one within a few round trips.
	p.starveCycles = 20_000
	stim, err := newRSStim(c, m, p, 5)
	if err != nil {
		t.Fatal(err)
	}
	cycles, err := stepGolden(context.Background(), m, stim, 2_000_000)
	if err != nil {
		t.Fatalf("a key sharing its slot with a hot key starves (rs.md §5: a write-back's completion walks the chain, the walk forwards the hot key's newer requests, END writes back again, and the chain's head waits):\n%v\n%s", err, stim.Describe(cycles))
	}
	if !stim.done {
		t.Fatalf("the run did not finish: %d responses", stim.responses)
	}
}

// Small and odd sizes: one id, two slots, 1-byte keys, 8-bit values — the
// stimulus's assumptions and golden/rs's corners both show there first.
func TestRSOddSizesAgainstTheGoldenModel(t *testing.T) {
	for _, sets := range [][]string{
		{"rs.max_inflight=1", "rs.slots=2", "key.max_key_bytes=1", "atomic.scalar_bits=8"},
		{"rs.max_inflight=2", "rs.slots=4", "key.max_key_bytes=3", "atomic.scalar_bits=13"},
		{"rs.max_inflight=300", "rs.slots=8", "key.max_key_bytes=9", "atomic.scalar_bits=1"},
	} {
		for _, fwd := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/fwd=%v", strings.Join(sets, ","), fwd), func(t *testing.T) {
				c := rsConfig(t, "sim", fwd)
				for _, s := range sets {
					if err := c.Set(s); err != nil {
						t.Fatal(err)
					}
				}
				m, err := newRSGolden(c)
				if err != nil {
					t.Fatal(err)
				}
				for _, sc := range []string{"rs_mixed", "rs_errors", "rs_fast_pipe"} {
					stim, err := newRSStim(c, m, rsScenarioParams(t, sc, c), 9)
					if err != nil {
						t.Fatal(err)
					}
					cycles, err := stepGolden(context.Background(), m, stim, 150_000)
					if err != nil {
						t.Fatalf("%s: %v\n%s", sc, err, stim.Describe(cycles))
					}
					if l := stim.ShadowLost(); l != "" {
						t.Errorf("%s: golden/rs and the testbench's reading of rs.md differ at %s", sc, l)
					}
					if stim.drains < 1 || stim.responses < 500 {
						t.Errorf("%s: %d drains, %d responses", sc, stim.drains, stim.responses)
					}
				}
			})
		}
	}
}

// The acceptance run: RTL against golden/rs, every output every cycle, and
// every response and the final memory against the sequential reference,
// over two million operations concentrated on a few hot keys.
func TestRSMatchesSequentialReferenceOnTwoMillionOps(t *testing.T) {
	c := rsConfig(t, "sim", true)
	bin := buildModel(t, c, "kvd_rs", nil)
	m, err := newRSGolden(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newRSStim(c, m, rsAcceptanceParams(2_000_000), 42)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, m, stim, cosim.Options{Cycles: 20_000_000, HangCycles: 200_000})
	if err != nil {
		t.Fatalf("%v\n%s", err, stim.Describe(stim.lastObserved))
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if !stim.done || stim.responses < 2_000_000 {
		t.Fatalf("the run ended after %d responses (done=%v)", stim.responses, stim.done)
	}
	if l := stim.ShadowLost(); l != "" {
		t.Errorf("golden/rs and the testbench's reading of rs.md differ at %s", l)
	}
	t.Logf("%d operations, every response and %d drained memories checked; %d cycles (%.2f ops/cycle), %.1f M cycles/s; points %v",
		stim.responses, stim.drains, res.Cycles, float64(stim.responses)/float64(res.Cycles), res.CyclesPerSec/1e6, stim.Points())
	noLeftovers(t, bin)
}

// Every scenario through kvd sim's path, on both presets and without
// forwarding, with zero divergences.
func TestRSScenariosCosim(t *testing.T) {
	type run struct {
		scenario, preset string
		fwd              bool
		cycles           uint64
	}
	var runs []run
	for _, sc := range rsScenarios {
		runs = append(runs, run{sc.name, "sim", true, 200_000})
	}
	runs = append(runs, run{"rs_hot", "sim", false, 200_000}, run{"rs_errors", "sim", false, 200_000}, run{"rs_mixed", "paper", true, 100_000})
	for _, r := range runs {
		t.Run(fmt.Sprintf("%s/%s/fwd=%v", r.scenario, r.preset, r.fwd), func(t *testing.T) {
			c := rsConfig(t, r.preset, r.fwd)
			sr, err := Sim(context.Background(), SimOptions{Scenario: r.scenario, Config: c, Seed: 4, Cycles: r.cycles, RunDir: t.TempDir(), NoWave: true, HangCycles: 200_000})
			if err != nil {
				t.Fatal(err)
			}
			rec := sr.Record
			if rec.Divergences != 0 || rec.Error != "" || rec.Cycles != r.cycles {
				t.Fatalf("%d divergences, error %q, %d cycles", rec.Divergences, rec.Error, rec.Cycles)
			}
			t.Logf("points %v", rec.Points)
		})
	}
}

// The RTL against the testbench's own reading of rs.md (the station shadow
// behind rs.md §2's ports) rather than golden/rs: every output every cycle,
// and every response and drained memory against the sequential reference.
// Two independent readings agreeing with a third (golden/rs, in the tests
// above) is the point; this one also stands when golden/rs is being changed.
func TestRSMatchesTheShadowCosim(t *testing.T) {
	type run struct {
		scenario, preset string
		fwd              bool
		cycles           uint64
	}
	var runs []run
	for _, sc := range rsScenarios {
		runs = append(runs, run{sc.name, "sim", true, 150_000})
	}
	runs = append(runs, run{"rs_mixed", "sim", false, 100_000}, run{"rs_errors", "sim", false, 100_000}, run{"rs_mixed", "paper", true, 60_000})
	bins := map[string]string{}
	for _, r := range runs {
		t.Run(fmt.Sprintf("%s/%s/fwd=%v", r.scenario, r.preset, r.fwd), func(t *testing.T) {
			c := rsConfig(t, r.preset, r.fwd)
			key := fmt.Sprintf("%s/%v", r.preset, r.fwd)
			if bins[key] == "" {
				bins[key] = buildModel(t, c, "kvd_rs", nil)
			}
			m := newRSStub(t, c)
			stim, err := newRSStim(c, m, rsScenarioParams(t, r.scenario, c), 13)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cosim.Run(context.Background(), bins[key], m, stim, cosim.Options{Cycles: r.cycles, HangCycles: 200_000})
			if err != nil {
				t.Fatalf("%v\n%s", err, stim.Describe(stim.lastObserved))
			}
			if res.Divergence != nil {
				t.Fatalf("divergence at cycle %d: %+v\n%s\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight, stim.Describe(res.Divergence.Cycle))
			}
			if stim.drains < 1 {
				t.Errorf("%d drains", stim.drains)
			}
			t.Logf("%d cycles, %d responses checked, %d drains; points %v", res.Cycles, stim.responses, stim.drains, stim.Points())
		})
	}
}

// rs.md §11 (v4a, rs.idle_cache): the RTL against golden/rs, both built
// from §11 by different engineers, on every scenario; each run must take
// the idle-cache path, and the same RTL against v3.1's golden model must
// diverge, so that the agreement is about the new rule and not a run that
// never reaches it.
func TestRSIdleCacheCosim(t *testing.T) {
	type run struct {
		scenario, preset string
		cycles           uint64
	}
	var runs []run
	for _, sc := range rsScenarios {
		runs = append(runs, run{sc.name, "sim", 150_000})
	}
	runs = append(runs, run{"rs_mixed", "paper", 60_000})
	bins := map[string]string{}
	for _, r := range runs {
		t.Run(r.scenario+"/"+r.preset, func(t *testing.T) {
			c := rsConfig(t, r.preset, true)
			if err := c.Set("rs.idle_cache=true"); err != nil {
				t.Fatal(err)
			}
			if bins[r.preset] == "" {
				bins[r.preset] = buildModel(t, c, "kvd_rs", nil)
			}
			m, err := newRSGolden(c)
			if err != nil {
				t.Fatal(err)
			}
			stim, err := newRSStim(c, m, rsScenarioParams(t, r.scenario, c), 4)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cosim.Run(context.Background(), bins[r.preset], m, stim, cosim.Options{Cycles: r.cycles, HangCycles: 200_000})
			if err != nil {
				t.Fatalf("%v\n%s", err, stim.Describe(stim.lastObserved))
			}
			if res.Divergence != nil {
				t.Fatalf("divergence at cycle %d: %+v\n%s\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight, stim.Describe(res.Divergence.Cycle))
			}
			hits := m.(*rs.Model).IdleHits()
			if hits == 0 {
				t.Fatalf("%d cycles and no GET answered by an idle slot: the run does not test §11", res.Cycles)
			}
			t.Logf("%d cycles, %d responses checked, %d idle-slot hits; points %v", res.Cycles, stim.responses, hits, stim.Points())

			if r.scenario != "rs_zipf" {
				return
			}
			off := rsConfig(t, r.preset, true)
			v31, err := newRSGolden(off)
			if err != nil {
				t.Fatal(err)
			}
			stim, err = newRSStim(off, v31, rsScenarioParams(t, r.scenario, off), 4)
			if err != nil {
				t.Fatal(err)
			}
			res, err = cosim.Run(context.Background(), bins[r.preset], v31, stim, cosim.Options{Cycles: r.cycles, HangCycles: 200_000})
			if err == nil && res.Divergence == nil {
				t.Fatalf("the v4a RTL agrees with v3.1's golden model for %d cycles", res.Cycles)
			}
			if res != nil && res.Divergence != nil {
				t.Logf("against v3.1's golden model: diverges at cycle %d, as it should", res.Divergence.Cycle)
			}
		})
	}
}
