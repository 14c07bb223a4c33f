package fifo

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kvdirect/kvd/golden/model"
)

// harness drives a FIFO through its port vectors.
type harness struct {
	t       testing.TB
	m       *Model
	lay     *model.Layout
	in, out []uint64
	cycle   int
}

func newHarness(t testing.TB, width, depth int) *harness {
	t.Helper()
	m, err := New(width, depth)
	if err != nil {
		t.Fatal(err)
	}
	lay := model.MustLayout(m.Ports())
	return &harness{t: t, m: m, lay: lay, in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords)}
}

func (h *harness) port(v []uint64, name string) []uint64 {
	s := h.lay.MustSlot(name)
	return v[s.Off : s.Off+s.Words]
}

// step runs one cycle; data may be nil when inValid is false.
func (h *harness) step(inValid bool, data []uint64, outReady bool) {
	h.t.Helper()
	for i := range h.in {
		h.in[i] = 0
	}
	h.port(h.in, "in_valid")[0] = b2u(inValid)
	h.port(h.in, "out_ready")[0] = b2u(outReady)
	copy(h.port(h.in, "in_data"), data)
	if err := h.m.Step(h.in, h.out); err != nil {
		h.t.Fatal(err)
	}
	h.cycle++
}

func (h *harness) inReady() bool     { return h.port(h.out, "in_ready")[0] == 1 }
func (h *harness) outValid() bool    { return h.port(h.out, "out_valid")[0] == 1 }
func (h *harness) outData() []uint64 { return h.port(h.out, "out_data") }

// word makes a distinct, width-masked data value from n.
func word(width int, n uint64) []uint64 {
	w := make([]uint64, model.Words(width))
	for i := range w {
		w[i] = n*0x9E3779B97F4A7C15 + uint64(i)*0x1234567 + n
	}
	w[len(w)-1] &= model.Mask(width - 64*(len(w)-1))
	return w
}

func TestNew(t *testing.T) {
	for _, c := range []struct {
		w, d int
		ok   bool
	}{
		{1, 2, true}, {8, 4, true}, {512, 64, true}, {130, 1024, true},
		{0, 4, false}, {-1, 4, false}, {8, 0, false}, {8, 1, false}, {8, 3, false}, {8, 6, false}, {8, -4, false},
	} {
		m, err := New(c.w, c.d)
		if (err == nil) != c.ok {
			t.Errorf("New(%d, %d): err = %v, want ok = %v", c.w, c.d, err, c.ok)
		}
		if err == nil && (m.Width() != c.w || m.Depth() != c.d) {
			t.Errorf("New(%d, %d): got %d x %d", c.w, c.d, m.Width(), m.Depth())
		}
	}
}

func TestPorts(t *testing.T) {
	m, err := New(100, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Port{
		{Name: "in_valid", Dir: model.In, Width: 1},
		{Name: "in_ready", Dir: model.Out, Width: 1},
		{Name: "in_data", Dir: model.In, Width: 100},
		{Name: "out_valid", Dir: model.Out, Width: 1},
		{Name: "out_ready", Dir: model.In, Width: 1},
		{Name: "out_data", Dir: model.Out, Width: 100, QualifiedBy: "out_valid"},
	}
	got := m.Ports()
	if len(got) != len(want) {
		t.Fatalf("%d ports, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Dir != w.Dir || g.Width != w.Width || g.QualifiedBy != w.QualifiedBy {
			t.Errorf("port %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestLatency: a word written into an empty FIFO is on out_data exactly two
// cycles later, whatever out_ready does meanwhile.
func TestLatency(t *testing.T) {
	for _, width := range []int{1, 64, 65, 200} {
		for _, ready := range []bool{false, true} {
			h := newHarness(t, width, 4)
			// Some idle cycles first.
			for i := 0; i < 3; i++ {
				h.step(false, nil, ready)
				if h.outValid() || !h.inReady() {
					t.Fatalf("w=%d: idle cycle %d: out_valid=%v in_ready=%v", width, i, h.outValid(), h.inReady())
				}
			}
			d := word(width, 42)
			h.step(true, d, ready) // cycle t
			if h.outValid() {
				t.Fatalf("w=%d ready=%v: out_valid in the write cycle", width, ready)
			}
			h.step(false, nil, ready) // t+1
			if h.outValid() {
				t.Fatalf("w=%d ready=%v: out_valid 1 cycle after the write", width, ready)
			}
			h.step(false, nil, ready) // t+2
			if !h.outValid() || !slices.Equal(h.outData(), d) {
				t.Fatalf("w=%d ready=%v: cycle t+2: out_valid=%v out_data=%x, want 1, %x", width, ready, h.outValid(), h.outData(), d)
			}
			h.step(false, nil, ready) // t+3
			if h.outValid() != !ready {
				t.Fatalf("w=%d ready=%v: cycle t+3: out_valid=%v", width, ready, h.outValid())
			}
		}
	}
}

// TestCapacity: with the reader stalled, exactly D+1 words go in, in_ready
// falls in the first cycle where |Q| = D, and the words come out in order.
func TestCapacity(t *testing.T) {
	for _, depth := range []int{2, 4, 32, 64} {
		const width = 70
		h := newHarness(t, width, depth)
		accepted := 0
		for c := 0; c < 3*depth+10; c++ {
			q := h.m.st.count // |Q| in this cycle
			h.step(true, word(width, uint64(accepted)), false)
			if h.inReady() != (q < depth) {
				t.Fatalf("D=%d cycle %d: in_ready=%v with |Q|=%d", depth, c, h.inReady(), q)
			}
			if h.inReady() {
				accepted++
			}
		}
		if accepted != depth+1 {
			t.Fatalf("D=%d: accepted %d words with the reader stalled, want %d", depth, accepted, depth+1)
		}
		if h.m.st.count != depth || !h.m.st.ov || h.m.Len() != depth+1 {
			t.Fatalf("D=%d: full FIFO has |Q|=%d ov=%v", depth, h.m.st.count, h.m.st.ov)
		}
		// Drain: one word per cycle, in order.
		for i := 0; i < depth+1; i++ {
			h.step(false, nil, true)
			if !h.outValid() || !slices.Equal(h.outData(), word(width, uint64(i))) {
				t.Fatalf("D=%d: drain %d: out_valid=%v out_data=%x, want %x", depth, i, h.outValid(), h.outData(), word(width, uint64(i)))
			}
			// With the reader taking a word, in_ready rises the cycle after.
			if i == 0 && h.inReady() {
				t.Fatalf("D=%d: in_ready in the first drain cycle, |Q| was D", depth)
			}
		}
		h.step(false, nil, true)
		if h.outValid() || h.m.Len() != 0 {
			t.Fatalf("D=%d: not empty after draining", depth)
		}
	}
}

// TestThroughput: with neither side stalling, one word per clock passes.
func TestThroughput(t *testing.T) {
	h := newHarness(t, 16, 2)
	const n = 1000
	got := 0
	for c := 0; c < n+2; c++ {
		if !h.inReady() && c > 0 {
			t.Fatalf("cycle %d: in_ready fell with the reader always ready", c)
		}
		h.step(c < n, word(16, uint64(c)), true)
		if c >= 2 {
			if !h.outValid() || !slices.Equal(h.outData(), word(16, uint64(c-2))) {
				t.Fatalf("cycle %d: out_valid=%v out_data=%x, want word %d", c, h.outValid(), h.outData(), c-2)
			}
			got++
		}
	}
	if got != n {
		t.Fatalf("%d words out, want %d", got, n)
	}
}

// refFIFO is §3.2 read literally, with a Go slice as Q.
type refFIFO struct {
	d  int
	q  [][]uint64
	ov bool
	od []uint64
}

func (r *refFIFO) step(inValid bool, inData []uint64, outReady bool) (inReady, outValid bool, outData []uint64) {
	inReady, outValid, outData = len(r.q) < r.d, r.ov, r.od
	if (!r.ov || outReady) && len(r.q) > 0 {
		r.od, r.q = r.q[0], r.q[1:]
		r.ov = true
	} else if outReady {
		r.ov = false
	}
	if inValid && inReady {
		r.q = append(r.q, append([]uint64(nil), inData...))
	}
	return
}

// TestRandomTraffic drives random valid/ready traffic that follows the
// AXI-Stream rules, checks every word is delivered exactly once and in order
// (a scoreboard), and that every output matches a literal reading of §3.2
// in every cycle.
func TestRandomTraffic(t *testing.T) {
	for i, c := range []struct{ w, d int }{{1, 2}, {8, 2}, {32, 4}, {64, 8}, {65, 16}, {130, 64}, {512, 4}} {
		rng := rand.New(rand.NewPCG(uint64(i), 77))
		h := newHarness(t, c.w, c.d)
		ref := &refFIFO{d: c.d}
		var scoreboard [][]uint64 // words accepted and not yet delivered
		var next uint64           // the next word the source will offer
		sent, delivered, fullCycles, emptyCycles := 0, 0, 0, 0
		var srcValid bool
		var srcData []uint64
		// Bias the duty cycles so the FIFO spends time empty, full and between.
		const cycles = 60_000
		for cyc := 0; cyc < cycles+200; cyc++ {
			phase := (cyc / 2000) % 3
			pIn, pOut := []int{90, 50, 20}[phase], []int{20, 50, 90}[phase]
			if cyc >= cycles {
				pIn, pOut = 0, 100 // drain
			}
			if !srcValid && rng.IntN(100) < pIn {
				srcValid, srcData = true, word(c.w, next)
				next++
			}
			outReady := rng.IntN(100) < pOut
			rReady, rValid, rData := ref.step(srcValid, srcData, outReady)
			h.step(srcValid, srcData, outReady)
			if h.inReady() != rReady || h.outValid() != rValid || (rValid && !slices.Equal(h.outData(), rData)) {
				t.Fatalf("W=%d D=%d cycle %d: in_ready=%v out_valid=%v out_data=%x; §3.2 says %v %v %x",
					c.w, c.d, cyc, h.inReady(), h.outValid(), h.outData(), rReady, rValid, rData)
			}
			if !h.inReady() {
				fullCycles++
			}
			if !h.outValid() {
				emptyCycles++
			}
			if srcValid && h.inReady() {
				scoreboard = append(scoreboard, srcData)
				sent++
				srcValid = false // the source may offer a new word next cycle
			}
			if h.outValid() && outReady {
				if len(scoreboard) == 0 {
					t.Fatalf("W=%d D=%d cycle %d: word %x delivered that was never sent", c.w, c.d, cyc, h.outData())
				}
				if !slices.Equal(h.outData(), scoreboard[0]) {
					t.Fatalf("W=%d D=%d cycle %d: delivered %x, expected %x", c.w, c.d, cyc, h.outData(), scoreboard[0])
				}
				scoreboard = scoreboard[1:]
				delivered++
			}
			if len(scoreboard) > c.d+1 {
				t.Fatalf("W=%d D=%d cycle %d: %d words inside, capacity is D+1", c.w, c.d, cyc, len(scoreboard))
			}
		}
		if len(scoreboard) != 0 || srcValid {
			t.Fatalf("W=%d D=%d: %d words never delivered", c.w, c.d, len(scoreboard))
		}
		if fullCycles < 1000 || emptyCycles < 1000 {
			t.Fatalf("W=%d D=%d: traffic too tame: %d cycles full, %d empty", c.w, c.d, fullCycles, emptyCycles)
		}
		if sent < cycles/4 {
			t.Fatalf("W=%d D=%d: only %d words in %d cycles", c.w, c.d, sent, cycles)
		}
		t.Logf("W=%d D=%d: %d words sent and delivered exactly once, in order (%d cycles full, %d empty)", c.w, c.d, delivered, fullCycles, emptyCycles)
	}
}

// TestInReadyFromStateOnly: in_ready does not depend on this cycle's inputs.
func TestInReadyFromStateOnly(t *testing.T) {
	h := newHarness(t, 8, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	for c := 0; c < 2000; c++ {
		snap := h.m.Snapshot()
		var r [4]bool
		for k := 0; k < 4; k++ {
			h.m.Restore(snap)
			h.step(k&1 != 0, word(8, 1), k&2 != 0)
			r[k] = h.inReady()
		}
		if r[0] != r[1] || r[0] != r[2] || r[0] != r[3] {
			t.Fatalf("cycle %d: in_ready varies with the inputs: %v", c, r)
		}
		h.m.Restore(snap)
		h.step(rng.IntN(2) == 0, word(8, uint64(c)), rng.IntN(3) == 0)
	}
}

func TestReset(t *testing.T) {
	h := newHarness(t, 8, 4)
	for c := 0; c < 10; c++ {
		h.step(true, word(8, uint64(c)), false)
	}
	h.m.Reset()
	h.step(false, nil, true)
	if h.outValid() || !h.inReady() || h.m.Len() != 0 {
		t.Fatalf("after reset: out_valid=%v in_ready=%v len=%d", h.outValid(), h.inReady(), h.m.Len())
	}
}

// TestHighBitsMasked: garbage above W on in_data never reaches out_data.
func TestHighBitsMasked(t *testing.T) {
	for _, width := range []int{1, 7, 65, 100} {
		h := newHarness(t, width, 2)
		dirty := make([]uint64, model.Words(width))
		for i := range dirty {
			dirty[i] = ^uint64(0)
		}
		h.step(true, dirty, true)
		h.step(false, nil, true)
		h.step(false, nil, true)
		want := word(width, 0)
		for i := range want {
			want[i] = ^uint64(0)
		}
		want[len(want)-1] = model.Mask(width - 64*(len(want)-1))
		if !h.outValid() || !slices.Equal(h.outData(), want) {
			t.Fatalf("W=%d: out_data=%x, want %x", width, h.outData(), want)
		}
	}
}

func TestSnapshot(t *testing.T) {
	h := newHarness(t, 100, 8)
	rng := rand.New(rand.NewPCG(9, 9))
	n := uint64(0)
	drive := func() {
		n++
		h.step(rng.IntN(3) != 0, word(100, n), rng.IntN(3) == 0)
	}
	for c := 0; c < 500; c++ {
		drive()
	}
	snap := h.m.Snapshot()
	var ins, outs [][]uint64
	for c := 0; c < 500; c++ {
		drive()
		ins = append(ins, slices.Clone(h.in))
		outs = append(outs, slices.Clone(h.out))
	}
	for round := 0; round < 2; round++ {
		h.m.Restore(snap)
		for c := range ins {
			if err := h.m.Step(ins[c], h.out); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.out, outs[c]) {
				t.Fatalf("round %d, cycle %d after restore: %x, first run %x", round, c, h.out, outs[c])
			}
		}
	}
	// A fresh model restored from the snapshot behaves the same.
	m2, _ := New(100, 8)
	m2.Restore(snap)
	for c := range ins {
		if err := m2.Step(ins[c], h.out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h.out, outs[c]) {
			t.Fatalf("fresh model, cycle %d after restore: %x, want %x", c, h.out, outs[c])
		}
	}
	// A snapshot of another shape is refused.
	defer func() {
		if recover() == nil {
			t.Fatal("restoring a 100x8 snapshot into a 100x4 FIFO did not panic")
		}
	}()
	m3, _ := New(100, 4)
	m3.Restore(snap)
}

func TestStepAllocatesNothing(t *testing.T) {
	h := newHarness(t, 130, 16)
	rng := rand.New(rand.NewPCG(3, 3))
	allocs := testing.AllocsPerRun(2000, func() {
		for i := range h.in {
			h.in[i] = rng.Uint64()
		}
		_ = h.m.Step(h.in, h.out)
	})
	if allocs != 0 {
		t.Fatalf("Step allocates %.1f times per call", allocs)
	}
}

func BenchmarkStep(b *testing.B) {
	h := newHarness(b, 64, 16)
	rng := rand.New(rand.NewPCG(4, 4))
	const nv = 1024
	ins := make([][]uint64, nv)
	for i := range ins {
		ins[i] = make([]uint64, h.lay.InWords)
		for j := range ins[i] {
			ins[i][j] = rng.Uint64()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = h.m.Step(ins[i&(nv-1)], h.out)
	}
}
