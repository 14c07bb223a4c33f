package vector

import (
	"bytes"
	"math"
	"math/bits"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/golden/model"
)

// harness drives the model one cycle at a time by port name.
type harness struct {
	t       *testing.T
	m       *Model
	l       *model.Layout
	in, out []uint64
}

func newHarness(t *testing.T, e int) *harness {
	t.Helper()
	m, err := New(testConfig(t, e))
	if err != nil {
		t.Fatal(err)
	}
	l := model.MustLayout(m.Ports())
	m.Reset()
	return &harness{t: t, m: m, l: l, in: make([]uint64, l.InWords), out: make([]uint64, l.OutWords)}
}

func (h *harness) set(name string, v uint64) { h.in[h.l.MustSlot(name).Off] = v }

func (h *harness) setBytes(name string, b []byte) {
	s := h.l.MustSlot(name)
	w := h.in[s.Off : s.Off+s.Words]
	busWords(w, b)
}

// present drives a request (in_valid = 1) on the inputs.
func (h *harness) present(r Request) {
	h.set("in_valid", 1)
	h.set("in_op", uint64(r.Op))
	h.set("in_fid", r.Fid)
	h.set("in_vlen", uint64(len(r.Value)))
	h.setBytes("in_value", r.Value)
	h.set("in_delta", r.Delta)
	h.set("in_cmp", r.Cmp)
	h.set("in_swap", r.Swap)
	h.set("in_dlen", uint64(len(r.Dvec)))
	h.setBytes("in_dvec", r.Dvec)
}

func (h *harness) step() {
	h.t.Helper()
	if err := h.m.Step(h.in, h.out); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(name string) uint64 { return h.out[h.l.MustSlot(name).Off] }

func (h *harness) bytesOf(name string, n int) []byte {
	s := h.l.MustSlot(name)
	return busBytes(nil, h.out[s.Off:s.Off+s.Words], n)
}

// every output word above a port's width is zero (microarch.md §1.4).
func (h *harness) checkWidths() {
	h.t.Helper()
	for _, s := range h.l.Out {
		for w := 0; w < s.Words; w++ {
			lo := 64 * w
			if lo+64 <= s.Width {
				continue
			}
			keep := uint64(0)
			if s.Width > lo {
				keep = model.Mask(s.Width - lo)
			}
			if v := h.out[s.Off+w]; v&^keep != 0 {
				h.t.Errorf("port %s word %d = %#x: bits above width %d", h.l.Ports[s.Port].Name, w, v, s.Width)
			}
		}
	}
}

// §4: a request with n elements accepted in cycle t: in_ready 0 in
// t+1 … t+1+n, the result in t+1+n only, in_ready 1 again in t+2+n. A
// request held valid meanwhile is accepted in exactly that cycle.
func TestTiming(t *testing.T) {
	for _, n := range []int{0, 1, 3, 119} {
		h := newHarness(t, 32)
		els := make([]int64, n)
		for i := range els {
			els[i] = int64(i) - 5
		}
		val := vec32(els, 0xab) // trailing byte: does not add a cycle
		r := Request{Op: S2V, Fid: fetchAdd, Value: val, Delta: 7}
		want := exec(t, h.m.Ev, r)
		// Cycles before the request: idle and ready.
		for c := 0; c < 2; c++ {
			h.step()
			if h.get("in_ready") != 1 || h.get("out_valid") != 0 {
				t.Fatalf("n=%d idle cycle %d: ready %d valid %d", n, c, h.get("in_ready"), h.get("out_valid"))
			}
		}
		// Cycle t: accepted. The same request then stays valid: the next
		// acceptance is at t+2+n.
		h.present(r)
		accepts := []int{}
		for c := 0; c <= 2*(n+2); c++ {
			h.step()
			h.checkWidths()
			ready, valid := h.get("in_ready"), h.get("out_valid")
			if ready == 1 {
				accepts = append(accepts, c)
			}
			// cycle c relative to the first acceptance at 0, period n+2.
			k := c % (n + 2)
			wantReady := k == 0
			wantValid := c > 0 && k == n+1
			if (ready == 1) != wantReady || (valid == 1) != wantValid {
				t.Fatalf("n=%d cycle t+%d: in_ready %d out_valid %d, want %v %v", n, c, ready, valid, wantReady, wantValid)
			}
			if valid == 1 {
				if h.get("out_fault") != 0 || h.get("out_rlen") != uint64(len(want.Resp)) ||
					!bytes.Equal(h.bytesOf("out_new", h.m.P.V)[:len(val)], want.New) ||
					!bytes.Equal(h.bytesOf("out_resp", len(want.Resp)), want.Resp) {
					t.Fatalf("n=%d cycle t+%d: wrong result", n, c)
				}
				// Bytes ≥ in_vlen of out_new and ≥ out_rlen of out_resp are 0.
				if b := h.bytesOf("out_new", h.m.P.V)[len(val):]; bytes.Count(b, []byte{0}) != len(b) {
					t.Fatalf("out_new has bytes past in_vlen")
				}
				if b := h.bytesOf("out_resp", h.m.P.V)[len(want.Resp):]; bytes.Count(b, []byte{0}) != len(b) {
					t.Fatalf("out_resp has bytes past out_rlen")
				}
			}
		}
		if len(accepts) != 3 || accepts[1] != n+2 {
			t.Errorf("n=%d: ready in cycles %v", n, accepts)
		}
	}
}

// §4: a fault stops nothing early; the latency is the element count's,
// and the outputs follow §3's fault rule.
func TestFaultTiming(t *testing.T) {
	h := newHarness(t, 32)
	val := vec32([]int64{1, 2, 3, 4, 5}, 0x01, 0x02)
	h.present(Request{Op: V2V, Fid: setBit, Value: val, Dvec: vec32([]int64{-1})})
	h.step()
	h.set("in_valid", 0)
	for c := 1; c <= 6; c++ {
		h.step()
		if got := h.get("out_valid"); got != map[bool]uint64{true: 1, false: 0}[c == 6] {
			t.Fatalf("cycle t+%d: out_valid %d", c, got)
		}
	}
	if h.get("out_fault") != 1 || h.get("out_rlen") != 0 || !bytes.Equal(h.bytesOf("out_new", len(val)), val) ||
		!bytes.Equal(h.bytesOf("out_resp", h.m.P.V), make([]byte, h.m.P.V)) {
		t.Errorf("fault outputs: fault %d rlen %d new %x", h.get("out_fault"), h.get("out_rlen"), h.bytesOf("out_new", len(val)))
	}
	// An unknown fid on an empty value: a fault in t+1.
	h.step()
	h.present(Request{Op: Reduce, Fid: 7, Value: []byte{9}})
	h.step()
	h.set("in_valid", 0)
	h.step()
	if h.get("out_valid") != 1 || h.get("out_fault") != 1 || h.get("out_rlen") != 0 || h.bytesOf("out_new", 1)[0] != 9 {
		t.Errorf("unknown fid, n = 0: valid %d fault %d rlen %d", h.get("out_valid"), h.get("out_fault"), h.get("out_rlen"))
	}
}

// The data inputs are read only in the accepting cycle: bytes at and past
// in_vlen and in_dlen, scalars above E bits, and the inputs of cycles
// without in_valid are ignored.
func TestInputsIgnored(t *testing.T) {
	h := newHarness(t, 16)
	garbage := bytes.Repeat([]byte{0x5a}, h.m.P.V)
	h.setBytes("in_value", garbage)
	h.setBytes("in_dvec", garbage)
	h.set("in_vlen", 5)
	h.set("in_dlen", 2)
	h.set("in_op", uint64(V2V))
	h.set("in_fid", fetchAdd)
	h.step() // in_valid = 0: nothing accepted
	h.step()
	if h.get("in_ready") != 1 {
		t.Fatal("a request was accepted without in_valid")
	}
	h.set("in_valid", 1)
	h.step()
	h.set("in_valid", 0)
	h.step()
	h.step()
	h.step()
	if h.get("out_valid") != 1 {
		t.Fatal("no result at t+1+n")
	}
	// elements 0x5a5a + 0x5a5a (Δ₀), 0x5a5a + 0 (dlen 2: Δ₁ = 0); then the trailing byte.
	want := []byte{0xb4, 0xb4, 0x5a, 0x5a, 0x5a}
	if got := h.bytesOf("out_new", h.m.P.V); !bytes.Equal(got[:5], want) || bytes.Count(got[5:], []byte{0}) != len(got)-5 {
		t.Errorf("out_new %x…, want %x then zeros", got[:8], want)
	}
	if h.get("out_rlen") != 5 {
		t.Errorf("rlen %d", h.get("out_rlen"))
	}
}

// Reset clears a request in flight; Snapshot and Restore replay a cycle.
func TestResetSnapshotRestore(t *testing.T) {
	h := newHarness(t, 32)
	h.present(Request{Op: Reduce, Fid: maxFn, Value: vec32([]int64{1, 2, 3, 4}), Delta: u(math.MinInt32)})
	h.step()
	h.set("in_valid", 0)
	h.step()
	snap := h.m.Snapshot()
	if !strings.Contains(h.m.DescribeState(), "REDUCE") {
		t.Errorf("state: %s", h.m.DescribeState())
	}
	var trace []uint64
	for c := 0; c < 5; c++ {
		h.step()
		trace = append(trace, h.get("out_valid")<<1|h.get("in_ready"))
	}
	h.m.Restore(snap)
	for c := 0; c < 5; c++ {
		h.step()
		if got := h.get("out_valid")<<1 | h.get("in_ready"); got != trace[c] {
			t.Fatalf("after Restore, cycle %d: %b, first time %b", c, got, trace[c])
		}
	}
	h.present(Request{Op: S2V, Fid: fetchAdd, Value: vec32([]int64{1, 2, 3, 4})})
	h.step()
	h.m.Reset()
	h.set("in_valid", 0)
	h.step()
	if h.get("in_ready") != 1 || h.get("out_valid") != 0 || h.m.DescribeState() != "idle" {
		t.Errorf("after Reset: ready %d valid %d", h.get("in_ready"), h.get("out_valid"))
	}
}

// vector.md §1: in_vlen > V is outside the contract; an accepted request
// beyond it stops the run. in_dlen has no such bound (§3 defines Δ for
// any length).
func TestVlenBeyondVIsAnError(t *testing.T) {
	h := newHarness(t, 32)
	h.set("in_valid", 1)
	h.set("in_vlen", uint64(h.m.P.V+1))
	if err := h.m.Step(h.in, h.out); err == nil {
		t.Error("in_vlen > V accepted")
	}
	// in_dlen may exceed V: Δ is then every element's.
	h = newHarness(t, 32)
	if h.m.P.VL != bits.Len(uint(h.m.P.V)) {
		t.Fatal("VL")
	}
	h.present(Request{Op: V2V, Fid: fetchAdd, Value: vec32([]int64{1, 2})})
	h.setBytes("in_dvec", vec32([]int64{10, 20}))
	h.set("in_dlen", model.Mask(h.m.P.VL))
	h.step()
	h.set("in_valid", 0)
	h.step()
	h.step()
	h.step()
	if h.get("out_valid") != 1 || !bytes.Equal(h.bytesOf("out_new", 8), vec32([]int64{11, 22})) {
		t.Errorf("dlen > V: valid %d new %x", h.get("out_valid"), h.bytesOf("out_new", 8))
	}
}

// vector.md §1: the unit needs V ≥ 8.
func TestSmallValuesRefused(t *testing.T) {
	c := testConfig(t, 32)
	c.Key.MaxValueBytes = 7
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "max_value_bytes") {
		t.Errorf("V = 7: %v", err)
	}
	c.Key.MaxValueBytes = 8
	if _, err := New(c); err != nil {
		t.Errorf("V = 8: %v", err)
	}
}
