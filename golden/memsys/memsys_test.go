package memsys

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/dram"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/pcie"
)

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testRegion is each client's share of host memory in the random tests:
// 2048 lines, twice the small cache below, and all clients' regions alias
// onto the same cache slots, so that hazards between clients happen.
const testRegion = 128 << 10

// smallParams keeps the sim preset's links and tags but a 1024-line cache,
// so that lines conflict in the cache and a flush sweeps quickly.
// Two of the three clients swap in, so that different clients' lines
// contend for the same slots (evictions of dirty lines).
func smallParams(cfg config.Config, l float64) Params {
	p := DefaultParams(cfg)
	p.Clients[2].SwapIn = true
	p.SlotBits = 10
	p.Threshold = ThresholdOf(l)
	return p
}

type bp struct{ client, link, dram float64 }

func newDriver(t testing.TB, cfg config.Config, p Params, seed uint64, back bp) *Driver {
	t.Helper()
	hc := HostConfigFrom(cfg, p, seed)
	for l := range hc.Link {
		hc.Link[l].NotReady = back.link
	}
	hc.DRAM.NotReady = back.dram
	d, err := NewDriver(p, hc, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	for c := range d.ReadyProb {
		d.ReadyProb[c] = 1 - back.client
	}
	// Host memory starts with data, so that a read of a stale copy shows.
	rng := rand.New(rand.NewPCG(seed, 99))
	buf := make([]byte, testRegion*len(p.Clients))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	d.Host.Write(0, buf)
	d.Shadow.Write(0, buf)
	return d
}

// randomGen: each client offers a request with probability rate per cycle,
// inside its own region: reads and writes, 1 to 16 beats, aligned 64 B
// lines and objects as the hash table issues, and unaligned ones.
func randomGen(rate, writeFrac float64) Gen {
	return func(c int, rng *rand.Rand) (Op, bool) {
		if rng.Float64() >= rate {
			return Op{}, false
		}
		var beats int
		var off uint64
		switch k := rng.IntN(10); {
		case k < 4: // a bucket
			beats, off = 2, uint64(rng.IntN(testRegion/64))*64
		case k < 6: // an object, naturally aligned
			size := 32 << rng.IntN(5)
			beats, off = size/32, uint64(rng.IntN(testRegion/size))*uint64(size)
		default: // anything
			beats = 1 + rng.IntN(16)
			off = uint64(rng.IntN(testRegion/32-beats)) * 32
		}
		return Op{Write: rng.Float64() < writeFrac, Addr: uint64(c)*testRegion + off, Beats: beats}, true
	}
}

func TestPorts(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		cfg := preset(t, name)
		p := DefaultParams(cfg)
		m, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		ports := m.Ports()
		if want := 13*3 + 13*cfg.DMA.Links + 9 + 3; len(ports) != want {
			t.Fatalf("%s: %d ports, want %d", name, len(ports), want)
		}
		lay := model.MustLayout(ports)
		w := func(n string) int { return lay.Ports[lay.MustSlot(n).Port].Width }
		a := int(cfg.Memory.HostBytes)
		aBits := 0
		for a > 1 {
			a >>= 1
			aBits++
		}
		if w("c1_mem_rd_addr") != aBits || w("c2_mem_wr_data") != 256 || w("l1_req_tag") != p.TagWidth() || w("dram_req_data") != 512 {
			t.Errorf("%s: widths %d %d %d %d", name, w("c1_mem_rd_addr"), w("c2_mem_wr_data"), w("l1_req_tag"), w("dram_req_data"))
		}
		if name == "paper" && (w("dram_req_meta") != 6 || w("dram_req_addr") != 26 || w("l0_req_tag") != 6) {
			t.Errorf("paper: meta %d addr %d tag %d, want 6 26 6", w("dram_req_meta"), w("dram_req_addr"), w("l0_req_tag"))
		}
		if name == "sim" && (w("dram_req_meta") != 4 || w("dram_req_addr") != 16 || w("l0_req_tag") != 4) {
			t.Errorf("sim: meta %d addr %d tag %d, want 4 16 4", w("dram_req_meta"), w("dram_req_addr"), w("l0_req_tag"))
		}
		for _, p := range ports {
			if p.Dir == model.Out && p.Width > 1 && p.QualifiedBy == "" {
				t.Errorf("%s: %s is not qualified", name, p.Name)
			}
		}
		// engine.read_bytes: the presets' 32 keeps every port narrow; 64
		// makes the bucket port (client 1), and only it, wide (memory.md §1).
		for _, rb := range []int{cfg.Engine.ReadBytes, 64} {
			cfg.Engine.ReadBytes = rb
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			p := DefaultParams(cfg)
			lay := model.MustLayout(Ports(p))
			for c := range p.Clients {
				wide := rb == 64 && c == 1
				want := map[bool]int{false: 256, true: 512}[wide]
				x := fmt.Sprintf("c%d_mem_rdata", c)
				if p.Clients[c].Wide != wide || lay.Ports[lay.MustSlot(x).Port].Width != want {
					t.Errorf("%s, engine.read_bytes = %d: client %d wide %v, %s %d bits; want %v, %d",
						name, rb, c, p.Clients[c].Wide, x, lay.Ports[lay.MustSlot(x).Port].Width, wide, want)
				}
			}
		}
	}
}

// Every client's reads come back to it, in order, with the right data
// (each beat checked against the client's own view of memory), under
// random back-pressure on every port, with and without the cache; after a
// flush host memory equals the reference.
func TestRandomTraffic(t *testing.T) {
	cfg := preset(t, "sim")
	for _, tc := range []struct {
		l          float64
		rate, wr   float64
		back       bp
		seed       uint64
		cycles     uint64
		fullLoaded bool
	}{
		{l: 0, rate: 0.5, wr: 0.4, back: bp{0.3, 0.2, 0.1}, seed: 1, cycles: 150000},
		{l: 0.5, rate: 0.5, wr: 0.4, back: bp{0.3, 0.2, 0.2}, seed: 2, cycles: 150000},
		{l: 1, rate: 0.5, wr: 0.4, back: bp{0.3, 0.2, 0.2}, seed: 3, cycles: 150000},
		{l: 0.5, rate: 1, wr: 0.3, back: bp{}, seed: 4, cycles: 150000, fullLoaded: true},
		{l: 0.75, rate: 1, wr: 0.6, back: bp{0.5, 0.5, 0.5}, seed: 5, cycles: 150000, fullLoaded: true},
		{l: 0.25, rate: 0.2, wr: 0.5, back: bp{0.1, 0, 0}, seed: 6, cycles: 150000},
	} {
		t.Run(fmt.Sprintf("l=%g,rate=%g,seed=%d", tc.l, tc.rate, tc.seed), func(t *testing.T) {
			p := smallParams(cfg, tc.l)
			d := newDriver(t, cfg, p, tc.seed, tc.back)
			d.Gen = randomGen(tc.rate, tc.wr)
			maxTags := 0
			d.Observe = func(d *Driver) error {
				for _, k := range d.Links {
					maxTags = max(maxTags, k.Outstanding())
				}
				return nil
			}
			if err := d.Run(tc.cycles); err != nil {
				t.Fatal(err)
			}
			if err := d.Flush(1 << 20); err != nil {
				t.Fatal(err)
			}
			if diff := d.Host.Diff(d.Shadow, 5); diff != nil {
				t.Fatalf("after the flush host memory differs from the reference: %v", diff)
			}
			st := d.M.Stats()
			for c := range p.Clients {
				if d.Done(c) == 0 || d.Outstanding(c) != 0 {
					t.Errorf("client %d: %d reads done, %d outstanding", c, d.Done(c), d.Outstanding(c))
				}
				if st.ClientErrBeats[c] != 0 {
					t.Errorf("client %d: %d error beats with no fault injected", c, st.ClientErrBeats[c])
				}
			}
			for l := range d.Links {
				if st.MaxTagsInUse[l] > p.Tags {
					t.Errorf("link %d: %d tags in use, pool %d", l, st.MaxTagsInUse[l], p.Tags)
				}
			}
			if maxTags > p.Tags {
				t.Errorf("a link saw %d reads outstanding, pool %d", maxTags, p.Tags)
			}
			if tc.fullLoaded && st.MaxTagsInUse[0] != p.Tags {
				t.Errorf("full load never used every tag of link 0 (%d of %d)", st.MaxTagsInUse[0], p.Tags)
			}
			if tc.l > 0 && (st.ReadHits == 0 || st.WriteHits == 0 || st.Installs == 0 || tc.l >= 0.5 && st.Evictions == 0) {
				t.Errorf("the cache path was not exercised: %+v", st)
			}
			t.Logf("reads %v, lookups %d, hits %d/%d, writes hit/around %d/%d, evictions %d, hazard stalls %d",
				st.ClientDone, st.Lookups, st.ReadHits, st.ReadHits+st.ReadMisses, st.WriteHits, st.WriteArounds, st.Evictions, st.HazardStalls)
		})
	}
}

// The link port carries one request at a time: the beats of a write burst
// are consecutive transfers with the same address and length, and the
// valid/ready rules hold (a request, once valid, stays unchanged until it
// is taken).
func TestBurstsNeverInterleave(t *testing.T) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0.5)
	d := newDriver(t, cfg, p, 7, bp{0.2, 0.5, 0.2})
	d.Gen = randomGen(0.8, 0.6)
	type linkSt struct {
		held   pcie.Req // the request on the port while not taken
		holds  bool
		inBurs bool
		burst  pcie.Req
		k      int
	}
	ls := make([]linkSt, p.Links)
	bursts := 0
	d.Observe = func(d *Driver) error {
		for l := range ls {
			s := &ls[l]
			r, ready := d.LinkReq(l)
			if s.holds && (!r.Valid || r != s.held) {
				return fmt.Errorf("link %d: request %+v changed to %+v before it was taken", l, s.held, r)
			}
			s.holds = r.Valid && !ready
			s.held = r
			if !r.Valid || !ready {
				continue
			}
			if s.inBurs {
				if !r.Write || r.Addr != s.burst.Addr || r.Beats != s.burst.Beats {
					return fmt.Errorf("link %d: %+v inside the burst %+v (beat %d)", l, r, s.burst, s.k)
				}
			} else if r.Write {
				s.inBurs, s.burst, s.k = true, r, 0
			}
			if r.Write {
				s.k++
				if r.Last != (s.k == r.Beats) {
					return fmt.Errorf("link %d: last=%v on beat %d of %d", l, r.Last, s.k, r.Beats)
				}
				if r.Last {
					s.inBurs = false
					if r.Beats > 1 {
						bursts++
					}
				}
			}
		}
		return nil
	}
	if err := d.Run(30000); err != nil {
		t.Fatal(err)
	}
	if err := d.Drain(1 << 20); err != nil {
		t.Fatal(err)
	}
	if bursts < 1000 {
		t.Errorf("only %d multi-beat write bursts", bursts)
	}
}

// An error completion marks exactly the beats of the request it belongs
// to: with 64 B reads and nothing cacheable, one failed TLP is one client
// request, both of whose beats carry mem_rdata_err; every other beat has
// its data.
func TestErrorCompletion(t *testing.T) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0)
	d := newDriver(t, cfg, p, 8, bp{0.2, 0.1, 0})
	d.Gen = func(c int, rng *rand.Rand) (Op, bool) {
		return Op{Addr: uint64(c)*testRegion + uint64(rng.IntN(testRegion/64))*64, Beats: 2}, rng.IntN(3) == 0
	}
	d.Links[0].FailRead(5)
	d.Links[0].FailRead(300)
	d.Links[1].FailRead(17)
	if err := d.Run(20000); err != nil {
		t.Fatal(err)
	}
	if err := d.Drain(1 << 20); err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, k := range d.Links {
		for _, f := range k.Failed {
			for b := 0; b < f.Beats; b++ {
				want = append(want, f.Addr+uint64(32*b))
			}
		}
	}
	if len(want) != 6 || len(d.Errs) != 6 {
		t.Fatalf("%d failed beats on the links, %d error beats delivered: %+v", len(want), len(d.Errs), d.Errs)
	}
	got := map[uint64]int{}
	for _, e := range d.Errs {
		got[e.Addr]++
	}
	for _, a := range want {
		if got[a] != 1 {
			t.Errorf("beat %#x of a failed read delivered with err %d times", a, got[a])
		}
	}
	st := d.M.Stats()
	if st.LinkErrors[0] != 2 || st.LinkErrors[1] != 1 {
		t.Errorf("error completions %v", st.LinkErrors)
	}
}

// Error completions through the cache path and on long reads: only the
// failed TLP's beats err, a failed swap-in installs nothing, and the data
// and the final memory are still right.
func TestErrorCompletionCached(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run(fmt.Sprintf("wide=%v", wide), func(t *testing.T) { testErrorCompletionCached(t, wide) })
	}
}

// testErrorCompletionCached: with wide ports, an error transfer's two
// beats both count as error beats, and one of them at least lies in a
// failed TLP.
func testErrorCompletionCached(t *testing.T, wide bool) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0.5)
	if wide {
		p = wideParams(cfg, 0.5)
	}
	d := newDriver(t, cfg, p, 9, bp{0.2, 0.1, 0.1})
	d.Gen = randomGen(0.5, 0.3)
	for _, k := range d.Links {
		k.SetErrorRate(0.01)
	}
	if err := d.Run(40000); err != nil {
		t.Fatal(err)
	}
	for _, k := range d.Links {
		k.SetErrorRate(0)
	}
	if err := d.Flush(1 << 20); err != nil {
		t.Fatal(err)
	}
	if diff := d.Host.Diff(d.Shadow, 5); diff != nil {
		t.Fatalf("host memory differs from the reference: %v", diff)
	}
	// Every error beat lies inside a failed TLP of its line's link.
	failed := map[uint64]bool{}
	n := 0
	for _, k := range d.Links {
		n += len(k.Failed)
		for _, f := range k.Failed {
			for b := 0; b < f.Beats; b++ {
				failed[f.Addr+uint64(32*b)] = true
			}
		}
	}
	if n < 20 || len(d.Errs) == 0 {
		t.Fatalf("%d failed TLPs, %d error beats", n, len(d.Errs))
	}
	type xferKey struct {
		client int
		cycle  uint64
	}
	xferFailed := map[xferKey]bool{} // an error transfer has a beat in a failed TLP
	for _, e := range d.Errs {
		xferFailed[xferKey{e.Client, e.Cycle}] = xferFailed[xferKey{e.Client, e.Cycle}] || failed[e.Addr]
	}
	wideErrs := 0
	for _, e := range d.Errs {
		if !p.Clients[e.Client].Wide && !failed[e.Addr] || !xferFailed[xferKey{e.Client, e.Cycle}] {
			t.Errorf("error beat at %#x for client %d (wide %v) is not in a failed TLP", e.Addr, e.Client, p.Clients[e.Client].Wide)
		}
		if p.Clients[e.Client].Wide {
			wideErrs++
		}
	}
	if wide && wideErrs == 0 {
		t.Error("no error beat on a wide port")
	}
}

// A link that stops for a long time: its reads time out with error beats,
// everything on the other link completes meanwhile, late completions are
// dropped, and once the link is back nothing hangs and the tags are all
// free again.
func TestStallTimesOut(t *testing.T) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0)
	p.TimeoutCycles = 3000
	d := newDriver(t, cfg, p, 10, bp{})
	d.Gen = func(c int, rng *rand.Rand) (Op, bool) {
		return Op{Addr: uint64(c)*testRegion + uint64(rng.IntN(testRegion/64))*64, Beats: 2}, rng.IntN(4) == 0
	}
	const from, stall = 2000, 12000
	d.Links[0].Stall(from, stall)
	if err := d.Run(from + 200); err != nil {
		t.Fatal(err)
	}
	l1 := d.Links[1].Stats().Completions
	if err := d.Run(stall / 2); err != nil {
		t.Fatal(err)
	}
	if got := d.Links[1].Stats().Completions - l1; got < 50 {
		t.Errorf("link 1 completed only %d reads while link 0 stalled", got)
	}
	if err := d.Run(stall); err != nil {
		t.Fatal(err)
	}
	if err := d.Drain(1 << 20); err != nil {
		t.Fatal(err)
	}
	st := d.M.Stats()
	if st.LinkTimeouts[0] == 0 || st.LinkTimeouts[1] != 0 {
		t.Errorf("timeouts %v, want some on link 0 only", st.LinkTimeouts)
	}
	if int(st.LinkTimeouts[0])*2 != len(d.Errs) {
		t.Errorf("%d timeouts but %d error beats", st.LinkTimeouts[0], len(d.Errs))
	}
	h := d.M.Hashes()
	for _, e := range d.Errs {
		if h.Link(e.Addr>>BlockBits) != 0 {
			t.Errorf("error beat at %#x, which is on link 1", e.Addr)
		}
	}
	t.Logf("link 0: %d reads timed out (%d error beats); link 1: %d completions during the stall; all drained by cycle %d",
		st.LinkTimeouts[0], len(d.Errs), d.Links[1].Stats().Completions-l1, d.Cycle)
	for l := range d.M.st.lk {
		if f := d.M.st.lk[l].tagsFree; f != p.Tags {
			t.Errorf("link %d: %d tags free after the drain, want %d", l, f, p.Tags)
		}
	}
}

// A stall shorter than the timeout only delays.
func TestStallWithoutTimeout(t *testing.T) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0.5)
	d := newDriver(t, cfg, p, 11, bp{0.2, 0, 0})
	d.Gen = randomGen(0.5, 0.3)
	d.Links[1].Stall(1000, 5000)
	if err := d.Run(10000); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(1 << 20); err != nil {
		t.Fatal(err)
	}
	if len(d.Errs) != 0 {
		t.Errorf("%d error beats", len(d.Errs))
	}
	if diff := d.Host.Diff(d.Shadow, 5); diff != nil {
		t.Fatal(diff)
	}
}

// A write to a cached line stays in DRAM (write-back) and reaches host
// memory only when the line is evicted or flushed.
func TestFlushWritesBackDirtyLines(t *testing.T) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 1)
	p.Clients = []Client{{Name: "bucket", High: true, SwapIn: true}}
	d := newDriver(t, cfg, p, 12, bp{})
	ops := []Op{{Addr: 0x1000, Beats: 2}, {Write: true, Addr: 0x1000, Beats: 2}, {Addr: 0x1000, Beats: 2}}
	d.Gen = func(int, *rand.Rand) (Op, bool) {
		if len(ops) == 0 {
			return Op{}, false
		}
		o := ops[0]
		ops = ops[1:]
		return o, true
	}
	if err := d.Run(2000); err != nil {
		t.Fatal(err)
	}
	st := d.M.Stats()
	if st.Installs != 1 || st.WriteHits != 1 || st.ReadHits != 1 {
		t.Fatalf("installs %d write hits %d read hits %d, want 1 1 1", st.Installs, st.WriteHits, st.ReadHits)
	}
	if d.Host.Diff(d.Shadow, 1) == nil {
		t.Fatal("the write reached host memory before the flush")
	}
	if err := d.Flush(1 << 16); err != nil {
		t.Fatal(err)
	}
	if diff := d.Host.Diff(d.Shadow, 5); diff != nil {
		t.Fatal(diff)
	}
	if st := d.M.Stats(); st.FlushWritebacks != 1 {
		t.Errorf("%d flush write-backs, want 1", st.FlushWritebacks)
	}
	slot := uint64(0x1000/64) & uint64(p.Lines()-1)
	if l := d.DRAM.Peek(slot); l.Meta&3 != 1 {
		t.Errorf("after the flush the line's metadata is %#x, want valid and clean", l.Meta)
	}
}

// The timelines of memory.md §7, cycle by cycle, with a link whose round
// trip is exactly 100 cycles.
func TestTimelines(t *testing.T) {
	cfg := preset(t, "sim")
	for _, tc := range []struct {
		name      string
		l         float64
		ops       []Op
		wantFirst uint64 // cycle of the first read beat on c0_mem_rdata
		wantLink  uint64 // cycle of the first transfer on a link port
		wide      bool
	}{
		{"read, not cacheable", 0, []Op{{Addr: 0x2000, Beats: 2}}, 105, 3, false},
		{"read, cached hit", 1, []Op{{Addr: 0x2000, Beats: 2}}, 42, 0, false},
		{"write, not cacheable", 0, []Op{{Write: true, Addr: 0x2000, Beats: 2}}, 0, 4, false},
		// A wide port (§6 step 2): the link's two beats arrive at 103 and
		// 104, the register loads at 105 when both are there, and the one
		// transfer is at 106, the cycle of the narrow port's last beat; a
		// hit writes both beats at 40 and the transfer is at 42, as the
		// narrow port's first beat.
		{"read, not cacheable, wide", 0, []Op{{Addr: 0x2000, Beats: 2}}, 106, 3, true},
		{"read, cached hit, wide", 1, []Op{{Addr: 0x2000, Beats: 2}}, 42, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := smallParams(cfg, tc.l)
			p.Clients = wideClient(tc.wide)
			hc := HostConfigFrom(cfg, p, 1)
			for l := range hc.Link {
				hc.Link[l].Latency = []float64{100, 100}
				hc.Link[l].LatencyP = []float64{0, 1}
			}
			d, err := NewDriver(p, hc, nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.l == 1 {
				line := tc.ops[0].Addr / 64
				d.DRAM.Poke(line&uint64(p.Lines()-1), dram.Line{Meta: 1 | line>>uint(p.SlotBits)<<2})
			}
			ops := tc.ops
			d.Gen = func(int, *rand.Rand) (Op, bool) {
				if len(ops) == 0 {
					return Op{}, false
				}
				o := ops[0]
				ops = ops[1:]
				return o, true
			}
			var first, link uint64
			seenLink := false
			d.Observe = func(d *Driver) error {
				o := d.Out()
				if first == 0 && o[d.M.co[0].rdataValid] != 0 {
					first = d.Cycle
				}
				for l := range d.Links {
					if r, ready := d.LinkReq(l); r.Valid && ready && !seenLink {
						link, seenLink = d.Cycle, true
					}
				}
				return nil
			}
			if err := d.Run(300); err != nil {
				t.Fatal(err)
			}
			if first != tc.wantFirst || tc.wantLink != 0 && link != tc.wantLink || tc.wantLink == 0 && seenLink {
				t.Errorf("first read beat at cycle %d (want %d), first link transfer at %d (seen %v, want %d)", first, tc.wantFirst, link, seenLink, tc.wantLink)
			}
		})
	}
}

// Snapshot and Restore: the model replays the same inputs to the same
// outputs, twice, and a fresh model restored from the snapshot does too.
func TestSnapshotRestore(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run(fmt.Sprintf("wide=%v", wide), func(t *testing.T) { testSnapshotRestore(t, wide) })
	}
}

func testSnapshotRestore(t *testing.T, wide bool) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0.5)
	if wide {
		p = wideParams(cfg, 0.5)
	}
	d := newDriver(t, cfg, p, 13, bp{0.3, 0.2, 0.2})
	d.Gen = randomGen(0.6, 0.4)
	if err := d.Run(3000); err != nil {
		t.Fatal(err)
	}
	snap := d.M.Snapshot()
	var ins, outs [][]uint64
	d.Observe = func(d *Driver) error {
		ins = append(ins, append([]uint64(nil), d.In()...))
		outs = append(outs, append([]uint64(nil), d.Out()...))
		return nil
	}
	if err := d.Run(3000); err != nil {
		t.Fatal(err)
	}
	replay := func(m *Model, what string) {
		out := make([]uint64, len(outs[0]))
		for c := range ins {
			if err := m.Step(ins[c], out); err != nil {
				t.Fatalf("%s, cycle %d: %v", what, c, err)
			}
			for w := range out {
				if out[w] != outs[c][w] {
					t.Fatalf("%s, cycle %d after restore: output word %d = %#x, first run %#x", what, c, w, out[w], outs[c][w])
				}
			}
		}
	}
	stats := d.M.Stats()
	for round := 0; round < 2; round++ {
		d.M.Restore(snap)
		replay(d.M, fmt.Sprintf("round %d", round))
		if d.M.Stats() != stats {
			t.Errorf("round %d: the replay's stats %+v differ from the first run's %+v", round, d.M.Stats(), stats)
		}
	}
	m2, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	m2.Restore(snap)
	replay(m2, "fresh model")
}

// Step allocates nothing, and every output keeps to its width.
func TestStepAllocatesNothing(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run(fmt.Sprintf("wide=%v", wide), func(t *testing.T) { testStepAllocatesNothing(t, wide) })
	}
}

func testStepAllocatesNothing(t *testing.T, wide bool) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0.5)
	if wide {
		p = wideParams(cfg, 0.5)
	}
	d := newDriver(t, cfg, p, 14, bp{0.3, 0.2, 0.2})
	d.Gen = randomGen(0.8, 0.4)
	if err := d.Run(2000); err != nil {
		t.Fatal(err)
	}
	snap := d.M.Snapshot()
	var ins [][]uint64
	lay := model.MustLayout(d.M.Ports())
	d.Observe = func(d *Driver) error {
		ins = append(ins, append([]uint64(nil), d.In()...))
		for _, s := range lay.Out {
			for w := 0; w < s.Words; w++ {
				width := min(64, s.Width-64*w)
				if d.Out()[s.Off+w]&^model.Mask(width) != 0 {
					return fmt.Errorf("port %s word %d = %#x wider than %d bits", lay.Ports[s.Port].Name, w, d.Out()[s.Off+w], s.Width)
				}
			}
		}
		return nil
	}
	if err := d.Run(2001); err != nil {
		t.Fatal(err)
	}
	d.M.Restore(snap)
	out := make([]uint64, lay.OutWords)
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		if err := d.M.Step(ins[i], out); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Step allocates %.2f times per call", allocs)
	}
}

// Stimulus the link or the DRAM can never produce is refused with an
// error naming it.
func TestBadStimulus(t *testing.T) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0)
	for _, tc := range []struct {
		set  func(in []uint64, m *Model)
		want string
	}{
		{func(in []uint64, m *Model) { in[m.lo[0].cplValid] = 1; in[m.lo[0].cplTag] = 3 }, "not outstanding"},
		{func(in []uint64, m *Model) { in[m.dRspValid] = 1 }, "no lookup outstanding"},
		{func(in []uint64, m *Model) { in[m.co[0].rdValid] = 1; in[m.co[0].rdBeats] = 0 }, "1..16 beats"},
		{func(in []uint64, m *Model) {
			in[m.co[1].rdValid] = 1
			in[m.co[1].rdBeats] = 2
			in[m.co[1].rdAddr] = 0x10
		}, "aligned"},
		{func(in []uint64, m *Model) { in[m.co[2].wrValid] = 1; in[m.co[2].wrAddr] = 0x08 }, "aligned"},
	} {
		m, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		lay := model.MustLayout(m.Ports())
		in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
		tc.set(in, m)
		if err := m.Step(in, out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error about %q", err, tc.want)
		}
	}
}

// h_D selects the configured fraction of lines, exactly ⌊l·2^TG'⌋ or
// ⌈l·2^TG'⌉ of the lines that share a slot; h_L spreads blocks evenly.
func TestHashes(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		cfg := preset(t, name)
		for _, l := range []float64{0, 0.25, 0.3, 0.5, 0.75, 1} {
			cfg.DRAM.CacheFraction = l
			p := DefaultParams(cfg)
			h := NewHashes(&p)
			tg := p.CacheTagBits()
			exact := l * float64(int(1)<<tg)
			lo, hi := int(exact), int(exact+0.999999)
			rng := rand.New(rand.NewPCG(1, 2))
			total := 0
			for i := 0; i < 2000; i++ {
				slot := rng.Uint64N(uint64(p.Lines()))
				k := 0
				for tag := uint64(0); tag < 1<<tg; tag++ {
					if h.Cacheable(tag<<uint(p.SlotBits) | slot) {
						k++
					}
				}
				if k < lo || k > hi {
					t.Fatalf("%s l=%g: slot %#x has %d cacheable lines of %d, want %d..%d", name, l, slot, k, 1<<tg, lo, hi)
				}
				total += k
			}
			if f := float64(total) / float64(2000*(int(1)<<tg)); f < l-0.03 || f > l+0.03 {
				t.Errorf("%s l=%g: fraction %.3f", name, l, f)
			}
		}
		p := DefaultParams(cfg)
		h := NewHashes(&p)
		count := make([]int, p.Links)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < 100000; i++ {
			count[h.Link(rng.Uint64N(1<<uint(p.AddrBits-BlockBits)))]++
		}
		for l, n := range count {
			if f := float64(n) / 100000; f < 0.48 || f > 0.52 {
				t.Errorf("%s: link %d gets %.3f of the blocks", name, l, f)
			}
		}
	}
}

// The bench's figures: each link within 5 % of its bound, the paper's
// long-tail gain from load dispatch.
func TestBenchFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("bench figures take a few seconds")
	}
	cfg := preset(t, "paper")
	for _, s := range []string{"memory.index_buckets=1048576", "memory.host_bytes=268435456", "dram.bytes=16777216"} {
		if err := cfg.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := MeasureLinks(cfg, BenchSpec{Cycles: 60000, Warmup: 15000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.OfBound < 0.95 || r.OfBound > 1.01 {
			t.Errorf("link %d %s: %.4f per cycle, %.3f of the bound %.4f", r.Link, r.Kind, r.RequestsPerCycle, r.OfBound, r.BoundPerCycle)
		}
	}
	base, err := MeasureDispatch(cfg, 0, 0.99, BenchSpec{Cycles: 40000, Warmup: 10000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	half, err := MeasureDispatch(cfg, 0.5, 0.99, BenchSpec{Cycles: 40000, Warmup: 10000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if base.Mops < 110 || base.Mops > 135 || half.Mops < 170 {
		t.Errorf("long tail: %.1f Mops at l=0, %.1f at l=0.5 (paper 120, 180)", base.Mops, half.Mops)
	}
}

// Reads of a hot line from several swap-in ports do not starve writes to
// it, nor do writes starve the reads, nor do they stop a flush (memory.md
// §4.4, the fairness rule).
func TestHotLineNoStarvation(t *testing.T) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 1)
	c := Client{Name: "bucket", High: true, SwapIn: true}
	p.Clients = []Client{c, c, c, c}
	d := newDriver(t, cfg, p, 15, bp{})
	d.Check = false // ports share the line: there is no order between them to check
	const hot = 0x4000
	d.Gen = func(c int, rng *rand.Rand) (Op, bool) {
		return Op{Write: c == 3, Addr: hot, Beats: 2}, true
	}
	if err := d.Run(20000); err != nil {
		t.Fatal(err)
	}
	st := d.M.Stats()
	if st.ClientWriteBeats[3] < 200 {
		t.Errorf("the writer got %d beats accepted in 20000 cycles while three ports read the line", st.ClientWriteBeats[3])
	}
	for c := 0; c < 3; c++ {
		if d.Done(c) < 100 {
			t.Errorf("reader %d completed %d reads in 20000 cycles while port 3 wrote the line", c, d.Done(c))
		}
	}
	d.flushOn = true
	for i := 0; ; i++ {
		if i == 100000 {
			t.Fatalf("no flush_done within 100000 cycles of hot-line traffic: %s", d.M.DescribeState())
		}
		if err := d.Step(); err != nil {
			t.Fatal(err)
		}
		if d.M.st.fstate == fDrain {
			break
		}
	}
	t.Logf("writes %d beats, reads %d %d %d", st.ClientWriteBeats[3], d.Done(0), d.Done(1), d.Done(2))
}

// Other generator parameters: one link, three links, one client, eight
// clients, tiny queues, a one-line cache.
func TestOtherShapes(t *testing.T) {
	cfg := preset(t, "sim")
	for _, tc := range []struct {
		name string
		mod  func(p *Params)
	}{
		{"1 link, 4 tags", func(p *Params) { p.Links, p.Tags = 1, 4 }},
		{"3 links, 1 tag", func(p *Params) { p.Links, p.Tags = 3, 1 }},
		{"1 client", func(p *Params) { p.Clients = p.Clients[1:2] }},
		{"8 clients", func(p *Params) {
			p.Clients = append(p.Clients, p.Clients...)
			p.Clients = append(p.Clients, p.Clients[:2]...)
		}},
		{"small queues", func(p *Params) { p.QDepth, p.RQDepth, p.LQDepth, p.PTEntries, p.RBBeats = 2, 1, 1, 1, 32 }},
		{"one-line cache", func(p *Params) { p.SlotBits = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := smallParams(cfg, 0.5)
			tc.mod(&p)
			d := newDriver(t, cfg, p, 16, bp{0.3, 0.3, 0.3})
			d.Gen = randomGen(0.5, 0.4)
			if err := d.Run(30000); err != nil {
				t.Fatal(err)
			}
			if err := d.Flush(1 << 20); err != nil {
				t.Fatal(err)
			}
			if diff := d.Host.Diff(d.Shadow, 5); diff != nil {
				t.Fatal(diff)
			}
			for c := range p.Clients {
				if d.Done(c) == 0 {
					t.Errorf("client %d completed no read", c)
				}
			}
		})
	}
}

// memory.md §6 step 8, "pair over a read": a client whose read is accepted
// in the cycle of a line's first write half (so that the read lands between
// the halves in IQ) still has the line written as one 2-beat piece when
// the read misses the line, with the read left as IQ's head; a read that
// touches the line keeps the order, so the halves go as two pieces and the
// read sees the first half and not the second. Cacheable (one W of 2
// beats) and not (one 2-beat link write).
func TestPairOverRead(t *testing.T) {
	cfg := preset(t, "sim")
	const w = 0x1000 // the line written: halves at 0x1000 and 0x1020
	r2 := Op{Addr: 0x5000, Beats: 2}
	for _, l := range []float64{0, 1} {
		for _, tc := range []struct {
			name string
			r1   Op
			miss bool
		}{
			{"another line", Op{Addr: 0x3000, Beats: 2}, true},
			{"ends just before the line", Op{Addr: 0x0fc0, Beats: 2}, true},
			{"starts just after the line", Op{Addr: 0x1040, Beats: 1}, true},
			{"the whole line", Op{Addr: w, Beats: 2}, false},
			{"into the first half", Op{Addr: 0x0fe0, Beats: 2}, false},
			{"the second half", Op{Addr: 0x1020, Beats: 1}, false},
			{"over the line", Op{Addr: 0x0fc0, Beats: 6}, false},
		} {
			t.Run(fmt.Sprintf("l=%g/%s", l, tc.name), func(t *testing.T) {
				p := smallParams(cfg, l)
				p.Clients = []Client{{Name: "bucket", High: true, SwapIn: true}}
				d := newDriver(t, cfg, p, 17, bp{})
				h := d.M.Hashes()
				if h.Cacheable(w>>6) != (l == 1) {
					t.Fatalf("line %#x cacheable %v at l=%g", w>>6, h.Cacheable(w>>6), l)
				}
				// The reads' beats, in order, as host memory holds them before
				// the write.
				initial := func(a uint64) [4]uint64 { return d.Host.ReadBeat(int64(a)) }
				var want [][4]uint64
				for _, r := range []Op{tc.r1, r2} {
					for b := 0; b < r.Beats; b++ {
						want = append(want, initial(r.Addr+uint64(BeatBytes*b)))
					}
				}
				old0, old1 := initial(w), initial(w+BeatBytes)
				// Cycle 0: the first half and r1; cycle 1: the second half
				// and r2 (the harness presents a write and a read at once).
				k := &d.cl[0]
				k.wr, k.wrOn = Op{Write: true, Addr: w, Beats: 2}, true
				k.rd, k.rdOn = tc.r1, true
				k.next, k.hasNext = r2, true
				var got [][4]uint64
				d.Observe = func(d *Driver) error {
					co := &d.M.co[0]
					if d.Out()[co.rdataValid] != 0 && d.In()[co.rdataReady] != 0 {
						got = append(got, [4]uint64(d.Out()[co.rdata:co.rdata+4]))
					}
					return nil
				}
				cs := &d.M.st.cl[0]
				if err := d.Run(2); err != nil {
					t.Fatal(err)
				}
				// Cycle 1 saw IQ = {first half, r1}: held, popping nothing, if
				// r1 misses the line; else the first half went alone.
				wantIQ := map[bool]int{true: 4, false: 3}[tc.miss]
				if st := d.M.Stats(); st.ClientWriteBeats[0] != 2 || st.ClientReads[0] != 2 || cs.iq.n != wantIQ || cs.held != tc.miss {
					t.Errorf("after cycle 1: %d write beats and %d reads accepted, IQ %d entries, held %v; want 2, 2, %d, %v",
						st.ClientWriteBeats[0], st.ClientReads[0], cs.iq.n, cs.held, wantIQ, tc.miss)
				}
				if err := d.Run(1); err != nil {
					t.Fatal(err)
				}
				if tc.miss {
					// Cycle 2: the pair over r1; r1 stays, as the head, then r2.
					if cs.iq.n != 2 || cs.held || cs.iq.peek(0).write || cs.iq.peek(0).addr != tc.r1.Addr || cs.iq.peek(1).addr != r2.Addr {
						t.Errorf("after the pair: IQ %d entries (head write %v at %#x), held %v; want r1 at %#x as the head, then r2",
							cs.iq.n, cs.iq.peek(0).write, cs.iq.peek(0).addr, cs.held, tc.r1.Addr)
					}
				}
				if err := d.Drain(1 << 16); err != nil {
					t.Fatal(err)
				}
				if err := d.Run(3000); err != nil { // the write reaches the link or the cache
					t.Fatal(err)
				}
				st := d.M.Stats()
				writes, beats := st.LinkWrites[0]+st.LinkWrites[1], st.LinkWrBeats[0]+st.LinkWrBeats[1]
				pieces := writes
				if l == 1 {
					pieces = st.WriteHits + st.WriteArounds // W operations
				}
				if wantPieces := map[bool]uint64{true: 1, false: 2}[tc.miss]; pieces != wantPieces {
					t.Errorf("the line went as %d pieces (W hits %d, arounds %d; link writes %d of %d beats), want %d",
						pieces, st.WriteHits, st.WriteArounds, writes, beats, wantPieces)
				}
				// Missed by both reads, the line's write goes to the link
				// (a write-around when cacheable: the cache starts empty).
				if tc.miss && (writes != 1 || beats != 2) {
					t.Errorf("%d link writes of %d beats, want one of 2", writes, beats)
				}
				// r1 sees the first half (written before it) and not the
				// second; r2 sees both. The harness checks the same
				// against its shadow; this spells it out.
				first, second := d.Shadow.ReadBeat(w), d.Shadow.ReadBeat(w+BeatBytes)
				if first == old0 || second == old1 {
					t.Fatal("the write did not change the line")
				}
				i := 0
				for _, r := range []Op{tc.r1, r2} {
					for b := 0; b < r.Beats; b++ {
						if a := r.Addr + uint64(BeatBytes*b); a == w {
							want[i] = first
						}
						i++
					}
				}
				if len(got) != len(want) {
					t.Fatalf("%d read beats delivered, want %d", len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("read beat %d: %#x, want %#x", i, got[i], want[i])
					}
					if got[i] == second {
						t.Errorf("read beat %d carries the second half, written after the read", i)
					}
				}
				if err := d.Flush(1 << 20); err != nil {
					t.Fatal(err)
				}
				if diff := d.Host.Diff(d.Shadow, 5); diff != nil {
					t.Fatal(diff)
				}
			})
		}
	}
}

// wideClient is a one-port client list whose port has the wide read-data
// port of docs/microarch.md §1.7.
func wideClient(wide bool) []Client {
	return []Client{{Name: "bucket", High: true, SwapIn: true, Wide: wide}}
}

// xfer is one read-data transfer a client took.
type xfer struct {
	cycle     uint64
	data      [8]uint64 // words 4-7 only on a wide port
	last, err bool
}

// recordXfers makes d record client c's transfers in *xs.
func recordXfers(d *Driver, c int, xs *[]xfer) {
	d.Observe = func(d *Driver) error {
		co := &d.M.co[c]
		if d.Out()[co.rdataValid] != 0 && d.In()[co.rdataReady] != 0 {
			x := xfer{cycle: d.Cycle, last: d.Out()[co.rdataLast] != 0, err: d.Out()[co.rdataEr] != 0}
			copy(x.data[:], d.Out()[co.rdata:co.rdata+co.rdataWords])
			*xs = append(*xs, x)
		}
		return nil
	}
}

// wantXfers is what a wide port delivers for reads of host memory h
// (docs/microarch.md §1.7): per request ⌈b/2⌉ transfers, transfer k
// carrying beats 2k (bits 255..0) and 2k+1, a request's odd last beat
// alone with 0 above it, last on the request's final transfer.
func wantXfers(read func(a uint64) [4]uint64, ops []Op) []xfer {
	var xs []xfer
	for _, o := range ops {
		for k := 0; k < (o.Beats+1)/2; k++ {
			var x xfer
			lo := read(o.Addr + uint64(64*k))
			copy(x.data[:4], lo[:])
			if 2*k+1 < o.Beats {
				hi := read(o.Addr + uint64(64*k+32))
				copy(x.data[4:], hi[:])
			}
			x.last = k == (o.Beats+1)/2-1
			xs = append(xs, x)
		}
	}
	return xs
}

// A wide port's transfers, each checked here independently of the
// harness's own check: reads of 1, 2, 3 and 16 beats, 64 B aligned or
// starting in a line's second half (so that a transfer's two beats lie in
// two lines, two 512 B blocks or two links), nothing cacheable, half,
// everything (the second pass hits in DRAM); each request gives ⌈b/2⌉
// transfers, beat 2k in bits 255..0, 0 above an odd last beat, last on
// the final transfer only.
func TestWideReads(t *testing.T) {
	cfg := preset(t, "sim")
	ops := []Op{
		{Addr: 0x1000, Beats: 1}, {Addr: 0x1040, Beats: 2}, {Addr: 0x1080, Beats: 3}, {Addr: 0x2000, Beats: 16},
		{Addr: 0x1120, Beats: 1}, {Addr: 0x1160, Beats: 2}, {Addr: 0x11a0, Beats: 3}, {Addr: 0x2420, Beats: 16},
		{Addr: 0x31e0, Beats: 2}, {Addr: 0x3fe0, Beats: 3}, {Addr: 0x4000, Beats: 1}, {Addr: 0x4100, Beats: 2},
	}
	for _, l := range []float64{0, 0.5, 1} {
		t.Run(fmt.Sprintf("l=%g", l), func(t *testing.T) {
			p := smallParams(cfg, l)
			p.Clients = wideClient(true)
			if w := model.MustLayout(Ports(p)); w.Ports[w.MustSlot("c0_mem_rdata").Port].Width != 512 {
				t.Fatal("c0_mem_rdata is not 512 bits wide")
			}
			d := newDriver(t, cfg, p, 21, bp{})
			all := append(append([]Op(nil), ops...), ops...)
			var got []xfer
			recordXfers(d, 0, &got)
			// Twice, the second pass after the first has drained (and its
			// swap-ins are in DRAM): it hits.
			for pass := 0; pass < 2; pass++ {
				next := ops
				d.Gen = func(int, *rand.Rand) (Op, bool) {
					if len(next) == 0 {
						return Op{}, false
					}
					o := next[0]
					next = next[1:]
					return o, true
				}
				for i := 0; len(next) > 0; i++ {
					if i == 1<<16 {
						t.Fatalf("pass %d: %d reads not accepted after %d cycles", pass, len(next), i)
					}
					if err := d.Step(); err != nil {
						t.Fatal(err)
					}
				}
				if err := d.Drain(1 << 16); err != nil {
					t.Fatal(err)
				}
				if err := d.Run(100); err != nil {
					t.Fatal(err)
				}
			}
			want := wantXfers(func(a uint64) [4]uint64 { return d.Shadow.ReadBeat(int64(a)) }, all)
			if len(got) != len(want) {
				t.Fatalf("%d transfers, want %d", len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.err || g.last != w.last || g.data != w.data {
					t.Errorf("transfer %d: last %v err %v data %#x, want last %v data %#x", i, g.last, g.err, g.data, w.last, w.data)
				}
			}
			if cs := &d.M.st.cl[0]; cs.rbUsed != 0 || cs.rbHead != cs.rbTail {
				t.Errorf("after the reads the read buffer has %d entries reserved, head %d, tail %d", cs.rbUsed, cs.rbHead, cs.rbTail)
			}
			st := d.M.Stats()
			beats := uint64(0)
			for _, o := range all {
				beats += uint64(o.Beats)
			}
			if st.ClientTransfers[0] != uint64(len(want)) || st.ClientBeats[0] != beats || st.ClientDone[0] != uint64(len(all)) {
				t.Errorf("stats: %d transfers, %d beats, %d reads; want %d, %d, %d",
					st.ClientTransfers[0], st.ClientBeats[0], st.ClientDone[0], len(want), beats, len(all))
			}
			if l == 0 && st.Lookups != 0 || l == 1 && (st.ReadHits == 0 || st.LinkReads[0]+st.LinkReads[1] == 0) ||
				l == 0.5 && (st.Lookups == 0 || st.LinkReads[0]+st.LinkReads[1] <= st.ReadMisses) {
				t.Errorf("l=%g: %d lookups, %d hits, %d misses, link reads %v", l, st.Lookups, st.ReadHits, st.ReadMisses, st.LinkReads)
			}
		})
	}
}

// rawBench drives the model alone, playing every link by hand: the test
// decides which completion arrives in which cycle. Nothing is cacheable.
type rawBench struct {
	t       *testing.T
	m       *Model
	in, out []uint64
	cycle   uint64
	reqs    []rawReq // link read requests transferred, in order
	xfers   []xfer   // client 0's transfers
}

type rawReq struct {
	link, tag int
	addr      uint64
	beats     int
}

func newRaw(t *testing.T, wide bool) *rawBench {
	t.Helper()
	p := smallParams(preset(t, "sim"), 0)
	p.Clients = wideClient(wide)
	m, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	lay := model.MustLayout(m.Ports())
	r := &rawBench{t: t, m: m, in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords)}
	for l := range m.lo {
		r.in[m.lo[l].reqReady] = 1
	}
	r.in[m.dReqReady] = 1
	r.in[m.co[0].rdataReady] = 1
	return r
}

// rawBeat is the data of the beat at host address a.
func rawBeat(a uint64) [4]uint64 { return [4]uint64{mix(a), mix(a + 1), mix(a + 2), mix(a + 3)} }

// step runs one cycle with the inputs set, then clears the one-cycle
// ones (a read request, a completion).
func (r *rawBench) step() {
	r.t.Helper()
	m := r.m
	if err := m.Step(r.in, r.out); err != nil {
		r.t.Fatal(err)
	}
	co := &m.co[0]
	if r.out[co.rdataValid] != 0 {
		x := xfer{cycle: r.cycle, last: r.out[co.rdataLast] != 0, err: r.out[co.rdataEr] != 0}
		copy(x.data[:], r.out[co.rdata:co.rdata+co.rdataWords])
		r.xfers = append(r.xfers, x)
	}
	for l := range m.lo {
		lo := &m.lo[l]
		if r.out[lo.reqValid] != 0 && r.out[lo.reqWrite] == 0 {
			r.reqs = append(r.reqs, rawReq{link: l, tag: int(r.out[lo.reqTag]), addr: r.out[lo.reqAddr], beats: int(r.out[lo.reqBeats])})
		}
		r.in[lo.cplValid] = 0
	}
	r.in[co.rdValid] = 0
	r.cycle++
}

func (r *rawBench) run(n int) {
	r.t.Helper()
	for i := 0; i < n; i++ {
		r.step()
	}
}

// read offers a read request for one cycle (the port is ready: nothing
// else is outstanding that could fill the buffer).
func (r *rawBench) read(addr uint64, beats int) {
	r.t.Helper()
	co := &r.m.co[0]
	r.in[co.rdValid], r.in[co.rdAddr], r.in[co.rdBeats] = 1, addr, uint64(beats)
	r.step()
}

// req is the link read request that starts at addr.
func (r *rawBench) req(addr uint64) rawReq {
	r.t.Helper()
	for _, q := range r.reqs {
		if q.addr == addr {
			return q
		}
	}
	r.t.Fatalf("no link read at %#x (reads %+v)", addr, r.reqs)
	return rawReq{}
}

// cpl presents completion beat i of q this cycle (then steps), or its
// error completion.
func (r *rawBench) cpl(q rawReq, i int, errCpl bool) {
	r.t.Helper()
	lo := &r.m.lo[q.link]
	r.in[lo.cplValid], r.in[lo.cplTag] = 1, uint64(q.tag)
	r.in[lo.cplLast], r.in[lo.cplErr] = b2u(errCpl || i == q.beats-1), b2u(errCpl)
	d := rawBeat(q.addr + uint64(32*i))
	copy(r.in[lo.cplData:lo.cplData+4], d[:])
	r.step()
}

// complete presents all of q's beats, one per cycle.
func (r *rawBench) complete(q rawReq) {
	r.t.Helper()
	for i := 0; i < q.beats; i++ {
		r.cpl(q, i, false)
	}
}

// pair is the transfer of beats at a and b (b = 0: a alone).
func pair(a, b uint64, last bool) xfer {
	x := xfer{last: last}
	lo := rawBeat(a)
	copy(x.data[:4], lo[:])
	if b != 0 {
		hi := rawBeat(b)
		copy(x.data[4:], hi[:])
	}
	return x
}

// checkXfers compares the transfers since index from with want (cycles
// not compared).
func (r *rawBench) checkXfers(from int, want ...xfer) {
	r.t.Helper()
	got := r.xfers[from:]
	if len(got) != len(want) {
		r.t.Fatalf("%d transfers, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		g.cycle = 0
		if g != want[i] {
			r.t.Errorf("transfer %d: last %v err %v data %#x; want last %v err %v data %#x",
				from+i, g.last, g.err, g.data, want[i].last, want[i].err, want[i].data)
		}
	}
}

// A wide transfer waits for its second beat: the two beats of a line that
// arrive ten cycles apart, and the two beats of a read that crosses a
// 512 B block (two link reads) completed in either order, go out together
// two cycles after the second arrives (delivery sees the read buffer as it
// was at the start of the cycle) and not before. And it never pairs the
// beats of two requests: a request's odd last beat goes alone, with 0
// above it, as soon as it is there — it does not wait for the next
// request's beats, nor take one of them, whichever order they arrive in.
func TestWideWaitsForSecondBeat(t *testing.T) {
	t.Run("one line, beats apart", func(t *testing.T) {
		r := newRaw(t, true)
		r.read(0x1000, 2)
		r.run(5)
		q := r.req(0x1000)
		r.cpl(q, 0, false)
		r.run(10)
		if len(r.xfers) != 0 {
			t.Fatalf("a transfer before the second beat arrived: %+v", r.xfers)
		}
		c := r.cycle
		r.cpl(q, 1, false)
		r.run(3)
		r.checkXfers(0, pair(0x1000, 0x1020, true))
		if r.xfers[0].cycle != c+2 {
			t.Errorf("the transfer at cycle %d, second beat at %d: want it 2 cycles later", r.xfers[0].cycle, c)
		}
	})
	for _, secondFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("two link reads, second first %v", secondFirst), func(t *testing.T) {
			r := newRaw(t, true)
			r.read(0x11e0, 2)
			r.run(6)
			a, b := r.req(0x11e0), r.req(0x1200)
			if secondFirst {
				a, b = b, a
			}
			r.complete(a)
			r.run(20)
			if len(r.xfers) != 0 {
				t.Fatalf("a transfer with one of its two beats: %+v", r.xfers)
			}
			c := r.cycle
			r.complete(b)
			r.run(3)
			r.checkXfers(0, pair(0x11e0, 0x1200, true))
			if r.xfers[0].cycle != c+2 {
				t.Errorf("the transfer at cycle %d, second beat at %d: want it 2 cycles later", r.xfers[0].cycle, c)
			}
		})
	}
	t.Run("requests never pair", func(t *testing.T) {
		r := newRaw(t, true)
		// A: 1 beat; B: 2; C: 3; D: 1; E: 1, F: 2 — positions 0, 1-2, 3-5,
		// 6, 7, 8-9 of the read buffer.
		r.read(0x2000, 1)
		r.read(0x3000, 2)
		r.read(0x4000, 3)
		r.read(0x5000, 1)
		r.read(0x6000, 1)
		r.read(0x7000, 2)
		r.run(10)
		// A alone, at once: it does not wait for B.
		c := r.cycle
		r.complete(r.req(0x2000))
		r.run(5)
		r.checkXfers(0, pair(0x2000, 0, true))
		if r.xfers[0].cycle != c+2 {
			t.Errorf("A's transfer at cycle %d, its beat at %d: want 2 cycles later", r.xfers[0].cycle, c)
		}
		// Then D, E, F and C before B: nothing moves until B's beats, then
		// B, C's pair, C's last beat alone, D alone, E alone, F, back to back.
		r.complete(r.req(0x5000))
		r.complete(r.req(0x6000))
		r.complete(r.req(0x7000))
		r.complete(r.req(0x4000))
		r.run(10)
		r.checkXfers(1)
		r.cpl(r.req(0x3000), 0, false)
		r.run(10)
		r.checkXfers(1)
		r.cpl(r.req(0x3000), 1, false)
		r.run(10)
		r.checkXfers(1, pair(0x3000, 0x3020, true), pair(0x4000, 0x4020, false), pair(0x4040, 0, true),
			pair(0x5000, 0, true), pair(0x6000, 0, true), pair(0x7000, 0x7020, true))
		for i := 2; i < len(r.xfers); i++ {
			if r.xfers[i].cycle != r.xfers[i-1].cycle+1 {
				t.Errorf("transfer %d at cycle %d, the one before at %d: want back to back", i, r.xfers[i].cycle, r.xfers[i-1].cycle)
			}
		}
	})
}

// An error on one beat of a wide transfer marks the transfer err, data 0,
// even when the other beat came back with data; the request's other
// transfers are unaffected. The reads cross a 512 B block, so their beats
// come from two link reads, one of which fails.
func TestWideErrorBeat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addr  uint64
		beats int
		fail  uint64 // the link read that fails
		want  []xfer
		errs  uint64 // beats counted in error transfers
	}{
		{"2 beats, first fails", 0x11e0, 2, 0x11e0, []xfer{{last: true, err: true}}, 2},
		{"2 beats, second fails", 0x11e0, 2, 0x1200, []xfer{{last: true, err: true}}, 2},
		{"4 beats, the last pair's second fails", 0x11a0, 4, 0x1200,
			[]xfer{pair(0x11a0, 0x11c0, false), {last: true, err: true}}, 2},
		{"4 beats, first three fail", 0x11a0, 4, 0x11a0,
			[]xfer{{err: true}, {last: true, err: true}}, 4},
		{"3 beats, the lone last beat fails", 0x11c0, 3, 0x1200,
			[]xfer{pair(0x11c0, 0x11e0, false), {last: true, err: true}}, 1},
		{"3 beats, the pair fails", 0x11c0, 3, 0x11c0,
			[]xfer{{err: true}, pair(0x1200, 0, true)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRaw(t, true)
			r.read(tc.addr, tc.beats)
			r.run(6)
			for _, q := range r.reqs {
				if q.addr == tc.fail {
					r.cpl(q, 0, true)
				} else {
					r.complete(q)
				}
			}
			if len(r.reqs) != 2 {
				t.Fatalf("link reads %+v, want two", r.reqs)
			}
			r.run(5)
			r.checkXfers(0, tc.want...)
			if st := r.m.Stats(); st.ClientErrBeats[0] != tc.errs {
				t.Errorf("%d error beats counted, want %d", st.ClientErrBeats[0], tc.errs)
			}
		})
	}
}

// wideParams is smallParams with clients 0 and 1 wide and client 2 narrow.
func wideParams(cfg config.Config, l float64) Params {
	p := smallParams(cfg, l)
	p.Clients[0].Wide, p.Clients[1].Wide = true, true
	return p
}

// TestRandomTraffic with wide ports beside a narrow one: every transfer
// checked against the clients' view of memory (two beats of one request,
// or an odd last beat alone with 0 above), under back-pressure on every
// port, the read buffers wrapping with requests of every length; after a
// flush host memory equals the reference.
func TestRandomTrafficWide(t *testing.T) {
	cfg := preset(t, "sim")
	for _, tc := range []struct {
		l        float64
		rate, wr float64
		back     bp
		seed     uint64
		cycles   uint64
	}{
		{l: 0, rate: 0.5, wr: 0.4, back: bp{0.3, 0.2, 0.1}, seed: 31, cycles: 100000},
		{l: 0.5, rate: 0.5, wr: 0.4, back: bp{0.3, 0.2, 0.2}, seed: 32, cycles: 100000},
		{l: 1, rate: 0.5, wr: 0.4, back: bp{0.3, 0.2, 0.2}, seed: 33, cycles: 100000},
		{l: 0.5, rate: 1, wr: 0.3, back: bp{}, seed: 34, cycles: 100000},
		{l: 0.75, rate: 1, wr: 0.6, back: bp{0.5, 0.5, 0.5}, seed: 35, cycles: 100000},
	} {
		t.Run(fmt.Sprintf("l=%g,rate=%g,seed=%d", tc.l, tc.rate, tc.seed), func(t *testing.T) {
			p := wideParams(cfg, tc.l)
			d := newDriver(t, cfg, p, tc.seed, tc.back)
			d.Gen = randomGen(tc.rate, tc.wr)
			if err := d.Run(tc.cycles); err != nil {
				t.Fatal(err)
			}
			if err := d.Flush(1 << 20); err != nil {
				t.Fatal(err)
			}
			if diff := d.Host.Diff(d.Shadow, 5); diff != nil {
				t.Fatalf("after the flush host memory differs from the reference: %v", diff)
			}
			st := d.M.Stats()
			for c := range p.Clients {
				if d.Done(c) == 0 || d.Outstanding(c) != 0 || st.ClientErrBeats[c] != 0 {
					t.Errorf("client %d: %d reads done, %d outstanding, %d error beats", c, d.Done(c), d.Outstanding(c), st.ClientErrBeats[c])
				}
				// A wide port: between half and all of its beats' count in
				// transfers (pairs and lone last beats); a narrow one: one each.
				tr, b := st.ClientTransfers[c], st.ClientBeats[c]
				if p.Clients[c].Wide && (2*tr < b || tr > b*3/4) || !p.Clients[c].Wide && tr != b {
					t.Errorf("client %d (wide %v): %d transfers for %d beats", c, p.Clients[c].Wide, tr, b)
				}
			}
			if tc.l > 0 && (st.ReadHits == 0 || st.Installs == 0) {
				t.Errorf("the cache path was not exercised: %+v", st)
			}
			t.Logf("reads %v, transfers %v, beats %v", st.ClientDone[:3], st.ClientTransfers[:3], st.ClientBeats[:3])
		})
	}
}

// The wide port's point (memory.md §12): a client reading 2-beat buckets
// back to back, all DRAM hits, takes about two beats a cycle through a
// wide port and at most one through a narrow one.
func TestWideBeatsPerCycle(t *testing.T) {
	cfg := preset(t, "sim")
	const lines = 512 // distinct slots of the 1024-line cache
	measure := func(wide bool) (perCycle float64, reads uint64) {
		p := smallParams(cfg, 1)
		p.Clients = wideClient(wide)
		d := newDriver(t, cfg, p, 41, bp{})
		i := 0
		d.Gen = func(int, *rand.Rand) (Op, bool) {
			o := Op{Addr: uint64(i%lines) * 64, Beats: 2}
			i++
			return o, true
		}
		// Warm up: every line read once (installed), then the steady state.
		for n := 0; i < 2*lines; n++ {
			if n == 1<<16 {
				t.Fatalf("wide %v: %d reads accepted in %d cycles", wide, i, n)
			}
			if err := d.Step(); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Run(2000); err != nil {
			t.Fatal(err)
		}
		st0 := d.M.Stats()
		const window = 20000
		if err := d.Run(window); err != nil {
			t.Fatal(err)
		}
		st := d.M.Stats()
		beats := st.ClientBeats[0] - st0.ClientBeats[0]
		if hits := st.ReadHits - st0.ReadHits; hits != st.Lookups-st0.Lookups {
			t.Errorf("wide %v: %d of %d lookups hit in the window", wide, hits, st.Lookups-st0.Lookups)
		}
		if err := d.Drain(1 << 16); err != nil {
			t.Fatal(err)
		}
		return float64(beats) / window, st.ClientDone[0] - st0.ClientDone[0]
	}
	narrow, nr := measure(false)
	wide, wr := measure(true)
	t.Logf("2-beat reads, all DRAM hits, back to back: narrow %.3f beats/cycle (%d reads in 20000 cycles), wide %.3f beats/cycle (%d reads)",
		narrow, nr, wide, wr)
	if narrow > 1 {
		t.Errorf("narrow port: %.3f beats a cycle, more than one", narrow)
	}
	if wide <= 1.0 {
		t.Errorf("wide port: %.3f beats a cycle, want more than one", wide)
	}
}
