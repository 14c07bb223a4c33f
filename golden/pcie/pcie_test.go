package pcie

import (
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hostmem"
)

func paper(t testing.TB) config.Config {
	c, err := config.Preset("paper")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fixed(t testing.TB, lat int) Config {
	c := ConfigFrom(paper(t), 1)
	c.Latency, c.LatencyP = []float64{float64(lat), float64(lat)}, []float64{0, 1}
	c.AddrBytes = 1 << 20
	return c
}

// The default distribution is the reference's CDF at clock_mhz: min 750,
// p50 960, p99 1220, max 1350 ns, i.e. 135, 173, 220, 243 cycles at 180 MHz.
func TestLatencyDistribution(t *testing.T) {
	c := ConfigFrom(paper(t), 1)
	const n = 200000
	s := make([]int, n)
	sum := 0
	for i := range s {
		s[i] = c.LatencyCycles((float64(i) + 0.5) / n)
		sum += s[i]
	}
	sort.Ints(s)
	q := func(p float64) int { return s[int(p*n)] }
	if c.LatencyCycles(0) != 135 || s[0] != 136 || q(0.5) != 173 || q(0.99) != 220 || s[n-1] != 243 {
		t.Errorf("min %d (%d sampled) p50 %d p99 %d max %d, want 135 (136) 173 220 243", c.LatencyCycles(0), s[0], q(0.5), q(0.99), s[n-1])
	}
	if m := c.MeanLatency(); math.Abs(m-float64(sum)/n) > 0.01 || m < 175 || m > 177 {
		t.Errorf("mean %.3f, sampled %.3f", m, float64(sum)/n)
	}
	// A seeded link draws the same latencies every run.
	a, b := New(c, hostmem.New(1<<20)), New(c, hostmem.New(1<<20))
	for i := 0; i < 50; i++ {
		ra, rb := a.rng.Float64(), b.rng.Float64()
		if ra != rb {
			t.Fatal("two links with one seed differ")
		}
	}
}

// step drives one cycle and returns the link's outputs of that cycle.
func step(t testing.TB, k *Link, r Req) Out {
	t.Helper()
	o := k.Out()
	if err := k.Tick(r); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRoundTripAndData(t *testing.T) {
	mem := hostmem.New(1 << 20)
	for i := 0; i < 64; i++ {
		mem.Write(int64(0x400+i), []byte{byte(i + 1)})
	}
	k := New(fixed(t, 100), mem)
	if o := step(t, k, Req{Valid: true, Addr: 0x400, Beats: 2, Tag: 5, Last: true}); !o.ReqReady {
		t.Fatal("not ready")
	}
	var beats []Out
	for c := 1; c < 110; c++ {
		if o := step(t, k, Req{}); o.CplValid {
			if len(beats) == 0 && c != 100 {
				t.Errorf("first beat at cycle %d, want 100", c)
			}
			beats = append(beats, o)
		}
	}
	if len(beats) != 2 || beats[0].CplTag != 5 || beats[0].CplLast || !beats[1].CplLast || beats[0].CplErr {
		t.Fatalf("beats %+v", beats)
	}
	if beats[0].CplData[0] != 0x0807060504030201 || beats[1].CplData[3]>>56 != 64 {
		t.Errorf("data %#x %#x", beats[0].CplData, beats[1].CplData)
	}
	if k.Outstanding() != 0 || !k.Idle() {
		t.Error("link not idle after the completion")
	}
}

// A read after a write of the same link sees it; a write after a read is
// not seen by it (host memory sees the link's requests in wire order).
func TestOrdering(t *testing.T) {
	mem := hostmem.New(1 << 20)
	c := fixed(t, 150)
	c.WriteLatency = 400 // longer than the round trip: the read must wait
	k := New(c, mem)
	w := Req{Valid: true, Write: true, Addr: 0x800, Beats: 1, Data: [4]uint64{0xaa}, Last: true}
	step(t, k, w)
	step(t, k, Req{Valid: true, Addr: 0x800, Beats: 1, Tag: 0, Last: true})
	w.Data[0] = 0xbb
	step(t, k, w)
	var got []uint64
	for i := 0; i < 1000; i++ {
		if o := step(t, k, Req{}); o.CplValid {
			got = append(got, o.CplData[0])
		}
	}
	if len(got) != 1 || got[0] != 0xaa {
		t.Errorf("read returned %#x, want the first write's 0xaa", got)
	}
	if mem.U64(0x800) != 0xbb {
		t.Errorf("memory holds %#x, want the second write's 0xbb", mem.U64(0x800))
	}
}

func TestProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		reqs []Req
		want string
	}{
		{[]Req{{Valid: true, Tag: 64, Beats: 1, Last: true}}, "outside the pool"},
		{[]Req{{Valid: true, Tag: 3, Beats: 1, Last: true}, {Valid: true, Tag: 3, Beats: 1, Last: true}}, "reused"},
		{[]Req{{Valid: true, Write: true, Beats: 2}, {Valid: true, Tag: 1, Beats: 1, Last: true}}, "interleave"},
		{[]Req{{Valid: true, Write: true, Beats: 2}, {Valid: true, Write: true, Addr: 0x40, Beats: 2, Last: true}}, "interleave"},
		{[]Req{{Valid: true, Write: true, Beats: 2, Last: true}}, "last=true on beat 1 of 2"},
		{[]Req{{Valid: true, Addr: 0x10, Beats: 1, Last: true}}, "aligned"},
		{[]Req{{Valid: true, Beats: 17, Last: true}}, "1..16"},
	} {
		k := New(fixed(t, 100), hostmem.New(1<<20))
		var err error
		for _, r := range tc.reqs {
			if err = k.Tick(r); err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.reqs, err, tc.want)
		}
	}
}

func TestFailReadAndStall(t *testing.T) {
	k := New(fixed(t, 50), hostmem.New(1<<20))
	k.FailRead(1)
	k.Stall(10, 100)
	step(t, k, Req{Valid: true, Addr: 0, Beats: 4, Tag: 0, Last: true})
	step(t, k, Req{Valid: true, Addr: 0x100, Beats: 4, Tag: 1, Last: true})
	var outs []Out
	for c := 2; c < 300; c++ {
		o := step(t, k, Req{})
		if c >= 10 && c < 110 && (o.ReqReady || o.CplValid) {
			t.Fatalf("cycle %d: ready %v completion %v during the stall", c, o.ReqReady, o.CplValid)
		}
		if o.CplValid {
			outs = append(outs, o)
		}
	}
	// Tag 0: four data beats; tag 1: one error beat.
	if len(outs) != 5 || outs[0].CplTag != 0 || outs[4].CplTag != 1 || !outs[4].CplErr || !outs[4].CplLast {
		t.Fatalf("%+v", outs)
	}
	if len(k.Failed) != 1 || k.Failed[0].Tag != 1 || k.Failed[0].Addr != 0x100 {
		t.Errorf("failures %+v", k.Failed)
	}
}

// Saturated with 64 B reads, a link reaches its tags ÷ round trip; with
// 64 B writes, its transmit path's bytes per cycle ÷ (64 + overhead).
func TestThroughput(t *testing.T) {
	cfg := paper(t)
	c := ConfigFrom(cfg, 3)
	c.AddrBytes = 1 << 30
	k := New(c, hostmem.New(1<<30))
	free := make([]bool, c.Tags)
	for i := range free {
		free[i] = true
	}
	const n = 100000
	addr := uint64(0)
	for cyc := 0; cyc < n; cyc++ {
		o := k.Out()
		r := Req{}
		for tag := range free {
			if free[tag] && o.ReqReady {
				r = Req{Valid: true, Addr: addr, Beats: 2, Tag: tag, Last: true}
				free[tag] = false
				addr = (addr + 4096) % (1 << 30)
				break
			}
		}
		if err := k.Tick(r); err != nil {
			t.Fatal(err)
		}
		if o.CplValid && o.CplLast {
			free[o.CplTag] = true
		}
	}
	got := float64(k.Stats().Completions) / n
	bound := float64(c.Tags) / c.MeanLatency()
	if got < 0.97*bound || got > bound {
		t.Errorf("reads: %.4f per cycle, bound %.4f", got, bound)
	}
	k = New(c, hostmem.New(1<<30))
	beat := 0
	for cyc := 0; cyc < n; cyc++ {
		o := k.Out()
		r := Req{Valid: true, Write: true, Addr: addr, Beats: 2, Last: beat == 1}
		if err := k.Tick(r); err != nil {
			t.Fatal(err)
		}
		if o.ReqReady {
			if beat == 1 {
				addr = (addr + 4096) % (1 << 30)
			}
			beat ^= 1
		}
	}
	got = float64(k.Stats().Writes) / n
	bound = float64(c.DataBytes) / float64(64+c.OverheadBytes)
	if got < 0.99*bound || got > bound*1.001 {
		t.Errorf("writes: %.4f per cycle, bound %.4f", got, bound)
	}
}
