// Package pcie is the host side of one PCIe DMA link as the memory system's
// link port sees it (docs/microarch/memory.md §3): read requests with tags,
// posted writes, read completions with a tag and an error status. It is the
// testbench's stand-in for the PCIe DMA engine, the link and the root
// complex, serving requests against a *hostmem.Memory.
//
// Timing (memory.md §8.1): each read's round trip is drawn from a seeded
// distribution (by default the reference's CDF, kv-direct.md §5). Upstream,
// read requests and writes pass the DMA engine's transmit path of
// cfg.DataBytes bytes per cycle, each TLP costing its data plus
// cfg.OverheadBytes (the header and framing): this is what caps 64 B writes
// near the reference's 62.5 Mops. Downstream, completions cross the PCIe
// wire (DownBytesPerCycle, Gen3 x8 by default, again with the overhead per
// TLP: the reference's "87 theoretical" for 64 B reads) and are presented
// one beat per cycle, so reads are limited by their tags, as the reference
// says. A write takes effect in host memory WriteLatency cycles after it
// crossed the transmit path. Host memory sees the link's requests in wire
// order: a read never passes an earlier write of the same link, and a later
// write never reaches memory before an earlier read has sampled it.
//
// The link is deterministic for a given seed and request sequence. It
// checks the protocol (tags in range and not in use, at most Tags reads
// outstanding, the beats of a write burst back to back) and returns an
// error from Tick when the memory system breaks it.
package pcie

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hostmem"
)

// BeatBytes is the width of the link port's data path (one beat).
const BeatBytes = 32

// MaxBeats is the largest request (512 B).
const MaxBeats = 16

// PCIeGen3x8BytesPerSec is the raw data rate of one PCIe Gen3 x8 link in
// each direction (8 GT/s × 8 lanes × 128/130 ÷ 8 bits). The configuration
// has no key for it (memory.md §12).
const PCIeGen3x8BytesPerSec = 8e9 * 8 * 128 / 130 / 8

// Config is one link's parameters, in cycles and bytes.
type Config struct {
	Tags          int // read tags (dma.tags_per_link)
	DataBytes     int // upstream: transmit-path bytes per cycle (dma.data_bytes)
	OverheadBytes int // per TLP (dma.tlp_overhead_bytes)
	// DownBytesPerCycle is the downstream wire's rate (completions).
	DownBytesPerCycle float64
	// Latency is the round-trip CDF: Latency[i] cycles at cumulative
	// probability LatencyP[i]; the distribution is linear in between.
	Latency  []float64
	LatencyP []float64
	// WriteLatency is how long after crossing the wire a posted write takes
	// effect in host memory (dma.write_latency_ns).
	WriteLatency int
	// BacklogBytes is how much the upstream wire may have queued before
	// req_ready falls: the DMA engine's request buffer.
	BacklogBytes int
	AddrBytes    int64 // host memory size; requests must lie inside
	// NotReady drops req_ready with this probability in a cycle, to
	// exercise the memory system's back-pressure (tests).
	NotReady float64
	Seed     uint64
}

// ConfigFrom converts the configuration's dma section to cycles at
// clock_mhz. Link i of a run should get its own seed.
func ConfigFrom(cfg config.Config, seed uint64) Config {
	d := cfg.DMA
	ns := func(v int) float64 { return float64(v) * cfg.ClockMHz / 1000 }
	return Config{
		Tags:          d.TagsPerLink,
		DataBytes:     d.DataBytes,
		OverheadBytes: d.TLPOverhead,
		// PCIe Gen3 x8: 8 GT/s × 8 lanes, 128b/130b coding.
		DownBytesPerCycle: PCIeGen3x8BytesPerSec / (cfg.ClockMHz * 1e6),
		Latency:           []float64{ns(d.LatencyMinNs), ns(d.LatencyP50Ns), ns(d.LatencyP99Ns), ns(d.LatencyMaxNs)},
		LatencyP:          []float64{0, 0.5, 0.99, 1},
		WriteLatency:      cfg.NsToCycles(d.WriteLatencyN),
		BacklogBytes:      8 * (2*BeatBytes + d.TLPOverhead),
		AddrBytes:         cfg.Memory.HostBytes,
		Seed:              seed,
	}
}

// LatencyCycles maps u in [0, 1) to a round trip in whole cycles (rounded
// up, at least 1) through the CDF.
func (c *Config) LatencyCycles(u float64) int {
	p, x := c.LatencyP, c.Latency
	v := x[len(x)-1]
	for i := 1; i < len(p); i++ {
		if u < p[i] {
			v = x[i-1] + (x[i]-x[i-1])*(u-p[i-1])/(p[i]-p[i-1])
			break
		}
	}
	n := int(math.Ceil(v - 1e-9))
	return max(n, 1)
}

// MeanLatency is the mean round trip in cycles of LatencyCycles over a
// uniform u (a midpoint rule fine enough to be exact to 1e-4 cycles).
func (c *Config) MeanLatency() float64 {
	const n = 1 << 18
	s := 0
	for i := 0; i < n; i++ {
		s += c.LatencyCycles((float64(i) + 0.5) / n)
	}
	return float64(s) / n
}

// Req is what the memory system drives on the link's request channel in
// one cycle (memory.md §3.1).
type Req struct {
	Valid bool
	Write bool
	Addr  uint64
	Beats int
	Tag   int
	Data  [4]uint64
	Last  bool
}

// Out is what the link drives in one cycle: the request channel's ready and
// the completion channel (no back-pressure).
type Out struct {
	ReqReady bool
	CplValid bool
	CplTag   int
	CplData  [4]uint64
	CplLast  bool
	CplErr   bool
}

// Stats are counts since New.
type Stats struct {
	Reads, Writes          uint64 // requests accepted (a write counts at its last beat)
	ReadBeats, WriteBeats  uint64
	Completions            uint64 // read completions finished (data or error)
	Errors                 uint64 // completions with error status
	MaxOutstanding         int    // most reads outstanding at once
	RoundTripSum           uint64 // request cycle to first completion beat, summed
	StallCycles            uint64
	UpBusyBytes, DownBytes uint64 // wire bytes used
}

type read struct {
	active  bool
	sampled bool
	err     bool
	addr    uint64
	beats   int
	seq     uint64
	issued  uint64
	readyAt uint64
	data    [MaxBeats][4]uint64
}

type write struct {
	addr  uint64
	beats int
	data  [MaxBeats][4]uint64
}

// hostEvent is one request reaching host memory, in wire order.
type hostEvent struct {
	isWrite bool
	tag     int
	widx    int
	at      uint64
}

// Link is one PCIe link.
type Link struct {
	cfg  Config
	mem  *hostmem.Memory
	rng  *rand.Rand
	now  uint64
	db   uint64 // DataBytes
	oh   uint64 // OverheadBytes
	up   uint64 // upstream path busy until, in bytes (cycle × DataBytes)
	down uint64 // downstream wire busy until, in 1/1024 cycles
	// downCost[b]: wire time of a completion of b beats (0: an error
	// completion, header only), in 1/1024 cycles
	downCost [MaxBeats + 1]uint64

	reads       []read
	outstanding int
	seq         uint64

	// the write burst being received
	burst      bool
	burstAddr  uint64
	burstBeats int
	burstK     int
	burstData  [MaxBeats][4]uint64

	writes    []write // ring
	wHead, wN int
	events    []hostEvent // ring, wire order
	eHead, eN int

	// the completion being presented
	cur     int // tag, -1 when none
	curBeat int

	busyNow bool // a NotReady draw for the current cycle
	bp      *rand.Rand

	// faults
	failSet   map[uint64]bool
	errRate   float64
	stallFrom uint64
	stallLen  uint64
	Failed    []Failure

	stats Stats
}

// Failure records a read answered with an error completion.
type Failure struct {
	Seq   uint64 // the read's index among the link's reads
	Tag   int
	Addr  uint64
	Beats int
}

// New returns an idle link at cycle 0 serving mem.
func New(cfg Config, mem *hostmem.Memory) *Link {
	if cfg.Tags < 1 || cfg.DataBytes < 1 || cfg.DownBytesPerCycle <= 0 || len(cfg.Latency) != len(cfg.LatencyP) || len(cfg.Latency) < 2 {
		panic(fmt.Sprintf("pcie: bad config %+v", cfg))
	}
	k := &Link{
		cfg: cfg, mem: mem,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x70636965)),
		db:      uint64(cfg.DataBytes),
		oh:      uint64(cfg.OverheadBytes),
		reads:   make([]read, cfg.Tags),
		writes:  make([]write, 64),
		events:  make([]hostEvent, 256),
		cur:     -1,
		failSet: map[uint64]bool{},
		bp:      rand.New(rand.NewPCG(cfg.Seed, 0x62616b70)),
	}
	for b := range k.downCost {
		k.downCost[b] = uint64(math.Ceil(float64(cfg.OverheadBytes+b*BeatBytes) * 1024 / cfg.DownBytesPerCycle))
	}
	return k
}

// Config returns the link's parameters.
func (k *Link) Config() Config { return k.cfg }

// FailRead makes the n-th read request the link accepts (0-based) complete
// with an error status instead of data.
func (k *Link) FailRead(n uint64) { k.failSet[n] = true }

// SetErrorRate makes each read fail with probability p (drawn from the
// link's seeded generator).
func (k *Link) SetErrorRate(p float64) { k.errRate = p }

// Stall stops the link for n cycles from cycle from: it accepts no request
// and starts no completion (a completion already being presented finishes).
// Round trips keep running, so the answers pile up behind the stall.
func (k *Link) Stall(from, n uint64) { k.stallFrom, k.stallLen = from, n }

func (k *Link) stalled(t uint64) bool {
	return k.stallLen > 0 && t >= k.stallFrom && t < k.stallFrom+k.stallLen
}

// Cycle is the cycle whose outputs Out returns.
func (k *Link) Cycle() uint64 { return k.now }

// Stats returns the counts so far.
func (k *Link) Stats() Stats { return k.stats }

// Outstanding is the number of reads accepted and not yet completed.
func (k *Link) Outstanding() int { return k.outstanding }

// Idle reports that nothing is in flight: no read outstanding, no write
// waiting to reach host memory, no burst half received.
func (k *Link) Idle() bool { return k.outstanding == 0 && k.eN == 0 && !k.burst }

func (k *Link) ready(t uint64) bool {
	return !k.stalled(t) && !k.busyNow && k.up <= t*k.db+uint64(k.cfg.BacklogBytes)
}

// Out is the link's outputs in the current cycle; they depend on its state
// only.
func (k *Link) Out() Out {
	o := Out{ReqReady: k.ready(k.now)}
	if k.cur >= 0 {
		r := &k.reads[k.cur]
		o.CplValid, o.CplTag = true, k.cur
		if r.err {
			o.CplErr, o.CplLast = true, true
		} else {
			o.CplData = r.data[k.curBeat]
			o.CplLast = k.curBeat == r.beats-1
		}
	}
	return o
}

// Tick takes the request channel of the current cycle (the transfer
// happens when in.Valid and Out().ReqReady) and advances one cycle.
func (k *Link) Tick(in Req) error {
	t := k.now
	// The completion beat of this cycle has been seen.
	if k.cur >= 0 {
		r := &k.reads[k.cur]
		k.curBeat++
		if r.err || k.curBeat == r.beats {
			r.active = false
			k.outstanding--
			k.stats.Completions++
			if r.err {
				k.stats.Errors++
			}
			k.cur = -1
		}
	}
	if k.stalled(t) {
		k.stats.StallCycles++
	}
	if in.Valid && k.ready(t) {
		if err := k.accept(t, in); err != nil {
			return err
		}
	}
	// Host memory: requests take effect in wire order.
	for k.eN > 0 {
		e := &k.events[k.eHead]
		if e.at > t {
			break
		}
		if e.isWrite {
			w := &k.writes[e.widx]
			for b := 0; b < w.beats; b++ {
				k.mem.WriteBeat(int64(w.addr)+int64(b*BeatBytes), w.data[b])
			}
			k.wHead = (k.wHead + 1) % len(k.writes)
			k.wN--
		} else {
			r := &k.reads[e.tag]
			if !r.err {
				for b := 0; b < r.beats; b++ {
					r.data[b] = k.mem.ReadBeat(int64(r.addr) + int64(b*BeatBytes))
				}
			}
			r.sampled = true
		}
		k.eHead = (k.eHead + 1) % len(k.events)
		k.eN--
	}
	// The completion to present next cycle: the earliest ready one, once the
	// downstream wire is free.
	n := t + 1
	if k.cur < 0 && !k.stalled(n) && k.down <= n*1024 {
		best := -1
		for tag := range k.reads {
			r := &k.reads[tag]
			if !r.active || !r.sampled || r.readyAt > n {
				continue
			}
			if best < 0 || r.readyAt < k.reads[best].readyAt || r.readyAt == k.reads[best].readyAt && r.seq < k.reads[best].seq {
				best = tag
			}
		}
		if best >= 0 {
			r := &k.reads[best]
			k.cur, k.curBeat = best, 0
			beats := 0
			if !r.err {
				beats = r.beats
			}
			// The TLP may have started crossing during the previous cycle (its
			// first beat is presented once it has crossed), but not before the
			// wire was free: back to back, TLPs use the wire without gaps.
			k.down = max(k.down, n*1024-1024) + k.downCost[beats]
			k.stats.DownBytes += k.oh + uint64(beats*BeatBytes)
			k.stats.RoundTripSum += n - r.issued
		}
	}
	k.now++
	k.busyNow = k.cfg.NotReady > 0 && k.bp.Float64() < k.cfg.NotReady
	return nil
}

// wire puts a TLP of b bytes on the upstream wire and returns the cycle in
// which it has crossed.
func (k *Link) wire(t, b uint64) uint64 {
	start := max(t*k.db, k.up)
	k.up = start + b
	k.stats.UpBusyBytes += b
	return (k.up + k.db - 1) / k.db
}

func (k *Link) pushEvent(e hostEvent) {
	if k.eN == len(k.events) {
		ev := make([]hostEvent, 2*len(k.events))
		for i := 0; i < k.eN; i++ {
			ev[i] = k.events[(k.eHead+i)%len(k.events)]
		}
		k.events, k.eHead = ev, 0
	}
	// Wire order is arrival order; a request behind a later-effective one
	// waits for it (host memory keeps the link's order).
	if k.eN > 0 {
		last := &k.events[(k.eHead+k.eN-1)%len(k.events)]
		e.at = max(e.at, last.at)
	}
	k.events[(k.eHead+k.eN)%len(k.events)] = e
	k.eN++
}

func (k *Link) accept(t uint64, in Req) error {
	if in.Addr%BeatBytes != 0 || in.Beats < 1 || in.Beats > MaxBeats || int64(in.Addr)+int64(in.Beats*BeatBytes) > k.cfg.AddrBytes {
		return fmt.Errorf("pcie: cycle %d: request addr %#x beats %d: want 32 B aligned, 1..16 beats, inside %#x bytes", t, in.Addr, in.Beats, k.cfg.AddrBytes)
	}
	if !in.Write {
		if k.burst {
			return fmt.Errorf("pcie: cycle %d: read request (tag %d) inside a write burst at %#x (beat %d of %d): bursts must not interleave", t, in.Tag, k.burstAddr, k.burstK, k.burstBeats)
		}
		if in.Tag < 0 || in.Tag >= k.cfg.Tags {
			return fmt.Errorf("pcie: cycle %d: read tag %d outside the pool of %d", t, in.Tag, k.cfg.Tags)
		}
		r := &k.reads[in.Tag]
		if r.active {
			return fmt.Errorf("pcie: cycle %d: read tag %d reused while outstanding (addr %#x)", t, in.Tag, r.addr)
		}
		if !in.Last {
			return fmt.Errorf("pcie: cycle %d: read request without last", t)
		}
		arr := k.wire(t, k.oh)
		lat := uint64(k.cfg.LatencyCycles(k.rng.Float64()))
		fail := k.failSet[k.seq] || k.errRate > 0 && k.rng.Float64() < k.errRate
		*r = read{active: true, err: fail, addr: in.Addr, beats: in.Beats, seq: k.seq, issued: t, readyAt: arr + lat - 1}
		if fail {
			k.Failed = append(k.Failed, Failure{Seq: k.seq, Tag: in.Tag, Addr: in.Addr, Beats: in.Beats})
		}
		k.seq++
		k.outstanding++
		k.stats.MaxOutstanding = max(k.stats.MaxOutstanding, k.outstanding)
		k.stats.Reads++
		k.stats.ReadBeats += uint64(in.Beats)
		k.pushEvent(hostEvent{tag: in.Tag, at: arr})
		return nil
	}
	if !k.burst {
		k.burst, k.burstAddr, k.burstBeats, k.burstK = true, in.Addr, in.Beats, 0
	} else if in.Addr != k.burstAddr || in.Beats != k.burstBeats {
		return fmt.Errorf("pcie: cycle %d: write beat for %#x/%d inside the burst at %#x/%d (beat %d): bursts must not interleave", t, in.Addr, in.Beats, k.burstAddr, k.burstBeats, k.burstK)
	}
	k.burstData[k.burstK] = in.Data
	k.burstK++
	if in.Last != (k.burstK == k.burstBeats) {
		return fmt.Errorf("pcie: cycle %d: write burst at %#x: last=%v on beat %d of %d", t, k.burstAddr, in.Last, k.burstK, k.burstBeats)
	}
	if !in.Last {
		return nil
	}
	k.burst = false
	if k.wN == len(k.writes) {
		ws := make([]write, 2*len(k.writes))
		for i := 0; i < k.wN; i++ {
			ws[i] = k.writes[(k.wHead+i)%len(k.writes)]
		}
		// Events refer to writes by index; renumber them.
		for i := 0; i < k.eN; i++ {
			e := &k.events[(k.eHead+i)%len(k.events)]
			if e.isWrite {
				e.widx = (e.widx - k.wHead + len(k.writes)) % len(k.writes)
			}
		}
		k.writes, k.wHead = ws, 0
	}
	wi := (k.wHead + k.wN) % len(k.writes)
	k.writes[wi] = write{addr: k.burstAddr, beats: k.burstBeats, data: k.burstData}
	k.wN++
	arr := k.wire(t, k.oh+uint64(k.burstBeats*BeatBytes))
	k.stats.Writes++
	k.stats.WriteBeats += uint64(k.burstBeats)
	k.pushEvent(hostEvent{isWrite: true, widx: wi, at: arr + uint64(k.cfg.WriteLatency) - 1})
	return nil
}
