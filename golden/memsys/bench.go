package memsys

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/dram"
	"github.com/kvdirect/kvd/golden/pcie"
)

// The paper's figures (kv-direct.md §5): 64 B random DMA per link, and the
// long-tail throughput without and with load dispatch at l = 0.5.
const (
	PaperReadMops      = 60.0
	PaperWriteMops     = 62.5
	PaperNoDispatch    = 120.0
	PaperDispatchHalf  = 180.0
	benchStreamLinks   = 0x6c696e6b
	benchStreamDispach = 0x64697370
)

// LinkRow is one link's 64 B random read or write throughput, measured on
// the golden models (memory.md §11).
type LinkRow struct {
	Row              string  `json:"row"` // "link"
	Link             int     `json:"link"`
	Kind             string  `json:"kind"` // "read" or "write"
	Cycles           uint64  `json:"cycles"`
	Requests         uint64  `json:"requests"`
	RequestsPerCycle float64 `json:"requests_per_cycle"`
	// BoundPerCycle is Little's law for reads, tags ÷ mean round trip; a
	// posted write holds no tag, so for writes it is the wire's bound.
	BoundPerCycle  float64 `json:"bound_per_cycle"`
	Bound          string  `json:"bound"`                   // "tags/round_trip" or "bandwidth"
	LittlesBound   float64 `json:"littles_bound_per_cycle"` // tags ÷ mean round trip, on every row
	BandwidthBound float64 `json:"bandwidth_bound_per_cycle"`
	OfBound        float64 `json:"of_bound"`
	Mops           float64 `json:"mops"`
	PaperMops      float64 `json:"paper_mops"`
	MeanRoundTrip  float64 `json:"mean_round_trip_cycles,omitempty"` // the distribution's mean
	MeasuredRT     float64 `json:"measured_round_trip_cycles,omitempty"`
	MaxTags        int     `json:"max_tags_in_use,omitempty"`
}

// DispatchRow is the load dispatcher's effect on 64 B reads at one cache
// fraction l and address distribution.
type DispatchRow struct {
	Row              string   `json:"row"`  // "dispatch"
	Kind             string   `json:"kind"` // "read"
	L                float64  `json:"l"`
	Distribution     string   `json:"distribution"` // "uniform" or "zipf0.99"
	Cycles           uint64   `json:"cycles"`
	Requests         uint64   `json:"requests"`
	RequestsPerCycle float64  `json:"requests_per_cycle"`
	Mops             float64  `json:"mops"`
	PaperMops        *float64 `json:"paper_mops"` // where the paper gives one, else null
	Gain             float64  `json:"gain"`       // over l = 0, same distribution
	HitRate          float64  `json:"hit_rate"`
	DRAMShare        float64  `json:"dram_share"` // of client reads, served from DRAM
	Offered          float64  `json:"offered_per_cycle"`
}

// BenchSpec shapes a measurement.
type BenchSpec struct {
	Cycles, Warmup uint64
	Seed           uint64
}

// LinkBounds returns the bounds of a link's 64 B throughput in requests
// per cycle: tags ÷ mean round trip (Little's law, reads); the downstream
// wire and the port's one beat per cycle (reads); the transmit path,
// data_bytes per cycle over 64 B plus the TLP overhead (writes).
func LinkBounds(cfg config.Config) (littles, readBW, writeBW, meanRT float64) {
	lc := pcie.ConfigFrom(cfg, 0)
	meanRT = lc.MeanLatency()
	oh := float64(cfg.DMA.TLPOverhead)
	readBW = min(lc.DownBytesPerCycle/(64+oh), 0.5)
	return float64(cfg.DMA.TagsPerLink) / meanRT, readBW, float64(cfg.DMA.DataBytes) / (64 + oh), meanRT
}

// benchSpan is the address range of the link bench: a 64 MiB window keeps
// the sparse host memory small; the link model's timing does not depend on
// the address.
func benchSpan(cfg config.Config) uint64 { return uint64(min(cfg.Memory.HostBytes, 64<<20)) / 64 }

// MeasureLinks saturates every link with 64 B random reads, then with 64 B
// random writes, from the default clients (every client offering one
// request per cycle, nothing cacheable), and reports each link's
// throughput after a warm-up.
func MeasureLinks(cfg config.Config, s BenchSpec) ([]LinkRow, error) {
	if s.Warmup >= s.Cycles {
		return nil, fmt.Errorf("bench memory: warm-up of %d cycles leaves nothing of %d to measure", s.Warmup, s.Cycles)
	}
	littles, readBW, writeBW, meanRT := LinkBounds(cfg)
	var rows []LinkRow
	for _, kind := range []string{"read", "write"} {
		p := DefaultParams(cfg)
		p.Threshold = 0
		d, err := NewDriver(p, HostConfigFrom(cfg, p, s.Seed), nil, s.Seed^benchStreamLinks)
		if err != nil {
			return nil, err
		}
		span := benchSpan(cfg)
		write := kind == "write"
		d.Gen = func(_ int, rng *rand.Rand) (Op, bool) {
			return Op{Write: write, Addr: rng.Uint64N(span) * 64, Beats: 2}, true
		}
		if err := d.Run(s.Warmup); err != nil {
			return nil, err
		}
		before := make([]pcie.Stats, len(d.Links))
		for l, k := range d.Links {
			before[l] = k.Stats()
		}
		n := s.Cycles - s.Warmup
		if err := d.Run(n); err != nil {
			return nil, err
		}
		st := d.M.Stats()
		for l, k := range d.Links {
			a, b := before[l], k.Stats()
			row := LinkRow{Row: "link", Link: l, Kind: kind, Cycles: n, LittlesBound: littles, BandwidthBound: readBW, MaxTags: st.MaxTagsInUse[l]}
			if write {
				row.Requests = b.Writes - a.Writes
				row.BandwidthBound = writeBW
				row.BoundPerCycle, row.Bound, row.PaperMops = writeBW, "bandwidth", PaperWriteMops
			} else {
				row.Requests = b.Completions - a.Completions
				row.BoundPerCycle, row.Bound, row.PaperMops = littles, "tags/round_trip", PaperReadMops
				row.MeanRoundTrip = meanRT
				if row.Requests > 0 {
					row.MeasuredRT = float64(b.RoundTripSum-a.RoundTripSum) / float64(row.Requests)
				}
			}
			row.RequestsPerCycle = float64(row.Requests) / float64(n)
			row.OfBound = row.RequestsPerCycle / row.BoundPerCycle
			row.Mops = row.RequestsPerCycle * cfg.ClockMHz
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// DispatchClients is the client list of the dispatch bench: four bucket
// ports, since one §1.7 port delivers at most 32 B per cycle, half a 64 B
// read per cycle, and the bench offers one per cycle.
func DispatchClients() []Client {
	c := Client{Name: "bucket", High: true, SwapIn: true}
	return []Client{c, c, c, c}
}

// MaxDispatchLines bounds the hash index the dispatch bench walks to warm
// the cache.
const MaxDispatchLines = 1 << 22

// MeasureDispatch offers one 64 B bucket read per cycle (the hash-table
// engine's rate, one operation per clock) over the configuration's hash
// index, uniform or Zipf(theta) (theta = 0: uniform), with a fraction l of
// host memory cacheable, and reports the reads completed per cycle after a
// warm-up.
//
// The cache starts warm (warmCache), in the state a long run reaches, as
// the paper measured a running system: a cold 4 GiB cache would need tens
// of millions of cycles of traffic to fill.
func MeasureDispatch(cfg config.Config, l, theta float64, s BenchSpec) (DispatchRow, error) {
	if s.Warmup >= s.Cycles {
		return DispatchRow{}, fmt.Errorf("bench memory: warm-up of %d cycles leaves nothing of %d to measure", s.Warmup, s.Cycles)
	}
	n := uint64(cfg.Memory.IndexBuckets)
	if n > MaxDispatchLines {
		return DispatchRow{}, fmt.Errorf("bench memory: memory.index_buckets = %d: the dispatch bench walks every bucket to warm the cache; use at most %d (the defaults scale the paper's sizes by 1/256)", n, MaxDispatchLines)
	}
	p := DefaultParams(cfg)
	p.Clients = DispatchClients()
	p.Threshold = ThresholdOf(l)
	d, err := NewDriver(p, HostConfigFrom(cfg, p, s.Seed), nil, s.Seed^benchStreamDispach)
	if err != nil {
		return DispatchRow{}, err
	}
	var z *Zipf
	dist := "uniform"
	weight := func(uint64) float64 { return 1 }
	if theta > 0 {
		z = NewZipf(n, theta)
		dist = fmt.Sprintf("zipf%g", theta)
		weight = func(line uint64) float64 { return math.Pow(float64(unscatter(line, n)+1), -theta) }
	}
	warmCache(d, n, weight, rand.New(rand.NewPCG(s.Seed, benchStreamDispach+1)))
	var lastIssue uint64 = ^uint64(0)
	offered := uint64(0)
	d.Gen = func(_ int, rng *rand.Rand) (Op, bool) {
		if lastIssue == d.Cycle {
			return Op{}, false
		}
		lastIssue = d.Cycle
		offered++
		var line uint64
		if z != nil {
			line = scatter(z.Rank(rng), n)
		} else {
			line = rng.Uint64N(n)
		}
		return Op{Addr: line * 64, Beats: 2}, true
	}
	if err := d.Run(s.Warmup); err != nil {
		return DispatchRow{}, err
	}
	a := d.M.Stats()
	off0 := offered
	var done0 uint64
	for c := range p.Clients {
		done0 += d.Done(c)
	}
	m := s.Cycles - s.Warmup
	if err := d.Run(m); err != nil {
		return DispatchRow{}, err
	}
	b := d.M.Stats()
	var done uint64
	for c := range p.Clients {
		done += d.Done(c)
	}
	row := DispatchRow{Row: "dispatch", Kind: "read", L: l, Distribution: dist, Cycles: m, Requests: done - done0}
	row.RequestsPerCycle = float64(row.Requests) / float64(m)
	row.Mops = row.RequestsPerCycle * cfg.ClockMHz
	row.Offered = float64(offered-off0) / float64(m)
	if hits, misses := b.ReadHits-a.ReadHits, b.ReadMisses-a.ReadMisses; hits+misses > 0 {
		row.HitRate = float64(hits) / float64(hits+misses)
		if row.Requests > 0 {
			row.DRAMShare = float64(hits) / float64(row.Requests)
		}
	}
	return row, nil
}

// warmCache puts the DRAM in the stationary state of a direct-mapped cache
// that installs every line it misses on (all reads here swap in) under
// independent references: a slot holds the cacheable line that was read
// last among those that map to it, which is line i with probability
// proportional to i's access rate. Host memory is zero, so the lines are
// zero and clean.
func warmCache(d *Driver, n uint64, weight func(line uint64) float64, rng *rand.Rand) {
	p := &d.P
	c := uint64(p.Lines())
	w := map[uint64]float64{}
	pick := map[uint64]uint64{}
	h := d.M.Hashes()
	for line := uint64(0); line < n; line++ {
		if !h.Cacheable(line) {
			continue
		}
		s := line & (c - 1)
		x := weight(line)
		w[s] += x
		if rng.Float64()*w[s] < x {
			pick[s] = line
		}
	}
	for s, line := range pick {
		d.DRAM.Poke(s, dram.Line{Meta: 1 | (line>>uint(p.SlotBits))<<2})
	}
}

// unscatter inverts scatter.
func unscatter(line, n uint64) uint64 {
	const k = 0x9E3779B97F4A7C15
	inv := uint64(k)
	for i := 0; i < 6; i++ {
		inv *= 2 - k*inv
	}
	return ((line - 0x632BE59BD9B4E019) * inv) & (n - 1)
}
