// Package dram is the on-board DRAM as the memory system's DRAM port sees
// it (docs/microarch/memory.md §5): whole 64 B lines with their metadata
// bits (the cache tag, dirty and valid bits the paper keeps in spare ECC
// bits), one request per transfer, read data returned in request order
// after a fixed latency, bandwidth limited to dram.gb_per_sec.
//
// Every line starts as zero data with zero metadata, which the memory
// system reads as "invalid": on the board the DRAM controller's ECC
// initialisation writes every line once before use, and all-zero is what it
// writes (memory.md §4.2).
package dram

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
)

// Config is the DRAM's parameters in cycles.
type Config struct {
	Lines    int64 // lines addressed by the port (the cache's C)
	MetaBits int
	Latency  int // cycles from the request transfer to its read data
	// LineCost is the data-bus time of one line in 1/1024 cycles.
	LineCost int64
	// NotReady makes req_ready fall with this probability in a cycle (from
	// Seed), to exercise the memory system's back-pressure.
	NotReady float64
	Seed     uint64
}

// ConfigFrom converts the configuration's dram section to cycles at
// clock_mhz for a port of lines lines and metaBits metadata bits.
func ConfigFrom(cfg config.Config, lines int64, metaBits int) Config {
	bytesPerCycle := cfg.DRAM.GBPerSec * 1000 / cfg.ClockMHz
	return Config{
		Lines: lines, MetaBits: metaBits,
		Latency:  cfg.NsToCycles(cfg.DRAM.LatencyNs),
		LineCost: int64(math.Ceil(64 * 1024 / bytesPerCycle)),
	}
}

// Req is what the memory system drives on the DRAM request channel.
type Req struct {
	Valid bool
	Write bool
	Addr  uint64 // line (cache slot)
	Data  [8]uint64
	Meta  uint64
}

// Out is the DRAM's outputs in one cycle (state only).
type Out struct {
	ReqReady bool
	RspValid bool
	RspData  [8]uint64
	RspMeta  uint64
}

// Line is one stored line.
type Line struct {
	Data [8]uint64
	Meta uint64
}

const pageLines = 256

type rsp struct {
	due  uint64
	line Line
}

// DRAM is the on-board memory.
type DRAM struct {
	cfg    Config
	pages  map[int64]*[pageLines]Line
	now    uint64
	bus    int64 // data bus busy until, in 1/1024 cycles
	rsps   []rsp // ring
	rHead  int
	rN     int
	rng    *rand.Rand
	nready bool // req_ready of the current cycle

	Reads, Writes uint64
}

// New returns a DRAM whose lines are all zero.
func New(cfg Config) *DRAM {
	if cfg.Lines < 1 || cfg.Latency < 1 {
		panic(fmt.Sprintf("dram: bad config %+v", cfg))
	}
	d := &DRAM{cfg: cfg, pages: map[int64]*[pageLines]Line{}, rsps: make([]rsp, cfg.Latency+2),
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x6472616d))}
	d.nready = d.drawReady()
	return d
}

// Config returns the parameters.
func (d *DRAM) Config() Config { return d.cfg }

// drawReady: the data bus must come free within the cycle (a line may
// start part-way through a cycle, so a cost below one cycle per line never
// throttles, and 1.5 cycles per line accepts two lines in three cycles).
func (d *DRAM) drawReady() bool {
	if d.bus >= int64(d.now+1)*1024 {
		return false
	}
	return d.cfg.NotReady == 0 || d.rng.Float64() >= d.cfg.NotReady
}

// Peek returns line a.
func (d *DRAM) Peek(a uint64) Line {
	if p := d.pages[int64(a/pageLines)]; p != nil {
		return p[a%pageLines]
	}
	return Line{}
}

// Poke stores line a (for tests that start from a prepared cache).
func (d *DRAM) Poke(a uint64, l Line) {
	p := d.pages[int64(a/pageLines)]
	if p == nil {
		p = new([pageLines]Line)
		d.pages[int64(a/pageLines)] = p
	}
	p[a%pageLines] = l
}

// Out is the outputs of the current cycle.
func (d *DRAM) Out() Out {
	o := Out{ReqReady: d.nready}
	if d.rN > 0 && d.rsps[d.rHead].due == d.now {
		o.RspValid = true
		o.RspData = d.rsps[d.rHead].line.Data
		o.RspMeta = d.rsps[d.rHead].line.Meta
	}
	return o
}

// Tick takes the request channel of the current cycle and advances.
func (d *DRAM) Tick(in Req) error {
	t := d.now
	if d.rN > 0 && d.rsps[d.rHead].due == t {
		d.rHead = (d.rHead + 1) % len(d.rsps)
		d.rN--
	}
	if in.Valid && d.nready {
		if in.Addr >= uint64(d.cfg.Lines) {
			return fmt.Errorf("dram: cycle %d: line %#x outside %d lines", t, in.Addr, d.cfg.Lines)
		}
		if in.Meta>>uint(d.cfg.MetaBits) != 0 {
			return fmt.Errorf("dram: cycle %d: metadata %#x wider than %d bits", t, in.Meta, d.cfg.MetaBits)
		}
		d.bus = max(d.bus, int64(t)*1024) + d.cfg.LineCost
		if in.Write {
			d.Poke(in.Addr, Line{Data: in.Data, Meta: in.Meta})
			d.Writes++
		} else {
			if d.rN == len(d.rsps) {
				return fmt.Errorf("dram: cycle %d: response queue overflow", t)
			}
			d.rsps[(d.rHead+d.rN)%len(d.rsps)] = rsp{due: t + uint64(d.cfg.Latency), line: d.Peek(in.Addr)}
			d.rN++
			d.Reads++
		}
	}
	d.now++
	d.nready = d.drawReady()
	return nil
}

// Idle reports that no read is waiting for its response.
func (d *DRAM) Idle() bool { return d.rN == 0 }
