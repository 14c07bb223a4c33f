package memsys

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
)

// Fixed sizes of memory.md §1.
const (
	BeatBytes = 32
	MaxBeats  = 16
	BeatsBits = 5  // mem_rd_beats, l*_req_beats
	HashBits  = 16 // the dispatch hash h_D (memory.md §4.1)
	LinkBits  = 8  // the link hash h_L (memory.md §2.6)
	BlockBits = 9  // link selection granularity: 512 B blocks

	// Function numbers of the two H3 hashes, continuing docs/microarch.md
	// §2.2's numbering (0-2 are the key hashes).
	FuncDispatch = 3
	FuncLink     = 4
)

// Client is one client port's generator parameters (memory.md §1).
type Client struct {
	Name   string
	High   bool // arbitrated in the high-priority class
	SwapIn bool // a read miss on a cacheable line installs the line
	// Wide: mem_rdata is 512 bits and a read-data transfer carries two
	// beats of one request, 2k and 2k+1 (docs/microarch.md §1.7; the
	// delivery of memory.md §6 step 2).
	Wide bool
}

// DefaultClients are the processor's three client ports (memory.md §1).
func DefaultClients() []Client {
	return []Client{
		{Name: "slab", High: true},
		{Name: "bucket", High: true, SwapIn: true},
		{Name: "object"},
	}
}

// Params are the generator parameters of kvd_memsys (memory.md §1).
type Params struct {
	Clients []Client
	Links   int // L, dma.links
	Tags    int // T, dma.tags_per_link

	AddrBits int // A = log2(memory.host_bytes)
	SlotBits int // log2 C, C = min(dram.bytes, host_bytes)/64 lines
	// Threshold is LTH = round(cache_fraction × 2^16): a line is cacheable
	// iff h_D(line) < LTH.
	Threshold uint32
	Seed      uint64 // key_hash.seed, which the two H3 matrices come from

	RBBeats       int    // RB, per-client read buffer (beats), a power of two ≥ 16
	QDepth        int    // Q, the depth of IQ, XQ and DWQ
	RQDepth       int    // RQ, the depth of each client's route queues
	LQDepth       int    // lookups in flight (LQ)
	PTEntries     int    // K, pending-table entries
	TimeoutCycles uint32 // TO, read completion timeout
}

// DefaultParams derives the parameters from a configuration with the
// default client list and queue sizes of memory.md §1. The bucket port
// (client 1) is wide iff engine.read_bytes = 64 (memory.md §1's client
// list; the engine's read port, engine.md §5.3).
func DefaultParams(cfg config.Config) Params {
	a := bits.Len64(uint64(cfg.Memory.HostBytes)) - 1
	c := min(cfg.DRAM.Bytes, cfg.Memory.HostBytes) / 64
	clients := DefaultClients()
	clients[1].Wide = cfg.Engine.ReadBytes == 64
	return Params{
		Clients:       clients,
		Links:         cfg.DMA.Links,
		Tags:          cfg.DMA.TagsPerLink,
		AddrBits:      a,
		SlotBits:      bits.Len64(uint64(c)) - 1,
		Threshold:     ThresholdOf(cfg.DRAM.CacheFraction),
		Seed:          cfg.KeyHash.Seed,
		RBBeats:       cfg.DMA.ReadBufferBeats,
		QDepth:        8,
		RQDepth:       16,
		LQDepth:       64,
		PTEntries:     128,
		TimeoutCycles: uint32(cfg.NsToCycles(50_000)),
	}
}

// ThresholdOf is LTH for a cache fraction l: round(l · 2^16).
func ThresholdOf(l float64) uint32 {
	return uint32(math.Round(math.Max(0, math.Min(1, l)) * (1 << HashBits)))
}

// Derived widths and sizes.
func (p *Params) n() int { return len(p.Clients) }

// RdataBits is the width of client c's mem_rdata: 256, or 512 if wide
// (memory.md §2.1).
func (p *Params) RdataBits(c int) int {
	if p.Clients[c].Wide {
		return 2 * 8 * BeatBytes
	}
	return 8 * BeatBytes
}

// LineBits is the width of a line address, A − 6.
func (p *Params) LineBits() int { return p.AddrBits - 6 }

// CacheTagBits is TG, the cache tag width: A − 6 − log2 C.
func (p *Params) CacheTagBits() int { return p.LineBits() - p.SlotBits }

// MetaBits is the DRAM metadata width: valid, dirty and the tag.
func (p *Params) MetaBits() int { return 2 + p.CacheTagBits() }

// TagWidth is the width of the link tag ports (at least 1, §1.4).
func (p *Params) TagWidth() int { return max(1, bits.Len(uint(p.Tags-1))) }

// SlotWidth is the width of dram_req_addr (at least 1).
func (p *Params) SlotWidth() int { return max(1, p.SlotBits) }

// Lines is C, the cache's lines.
func (p *Params) Lines() int64 { return 1 << p.SlotBits }

func (p *Params) validate() error {
	switch {
	case len(p.Clients) < 1 || len(p.Clients) > 8:
		return fmt.Errorf("memsys: %d clients, want 1..8", len(p.Clients))
	case p.Links < 1 || p.Links > 4:
		return fmt.Errorf("memsys: dma.links = %d, want 1..4", p.Links)
	case p.Tags < 1 || p.Tags > 1024 || p.Tags&(p.Tags-1) != 0:
		return fmt.Errorf("memsys: dma.tags_per_link = %d, want a power of two, 1..1024", p.Tags)
	case p.AddrBits < 16 || p.AddrBits > 48:
		return fmt.Errorf("memsys: address width %d, want 16..48", p.AddrBits)
	case p.SlotBits < 0 || p.SlotBits > p.LineBits():
		return fmt.Errorf("memsys: %d slot bits for %d line bits", p.SlotBits, p.LineBits())
	case p.MetaBits() > 64:
		return fmt.Errorf("memsys: %d metadata bits, want at most 64", p.MetaBits())
	case p.Threshold > 1<<HashBits:
		return fmt.Errorf("memsys: threshold %d above 2^16", p.Threshold)
	case p.RBBeats < 2*MaxBeats || p.RBBeats > 1<<16 || p.RBBeats&(p.RBBeats-1) != 0:
		return fmt.Errorf("memsys: read buffer of %d beats, want a power of two, 32..65536", p.RBBeats)
	case p.QDepth < 2 || p.RQDepth < 1:
		return fmt.Errorf("memsys: queue depths %d and %d, want at least 2 and 1", p.QDepth, p.RQDepth)
	case p.LQDepth < 1 || p.PTEntries < p.LQDepth:
		return fmt.Errorf("memsys: %d lookups and %d pending entries, want 1 <= lookups <= entries", p.LQDepth, p.PTEntries)
	case p.TimeoutCycles < 1 || p.TimeoutCycles >= 1<<31:
		return fmt.Errorf("memsys: timeout %d cycles, want 1..2^31-1", p.TimeoutCycles)
	}
	return nil
}

// Hashes are the two address hashes (memory.md §2.6, §4.1). h_D selects
// the cacheable lines: an H3 hash of the line address with its low
// TG' = min(TG, 16) cache-tag bits cleared, XOR those tag bits reversed
// into the top of the 16-bit value, so that of the 2^TG' lines that share a
// slot (and the higher tag bits) exactly ⌊l·2^TG'⌋ or ⌈l·2^TG'⌉ are
// cacheable. h_L, an 8-bit H3 hash of the 512 B block address, selects the
// link. H3 is linear over GF(2), so both are computed here with one
// 256-entry table per address byte.
type Hashes struct {
	links     int
	threshold uint32
	slotBits  uint
	tagLow    uint64 // mask of the low TG' tag bits, in place
	dTab      [][256]uint32
	lTab      [][256]uint32
}

// NewHashes builds the tables for p.
func NewHashes(p *Params) *Hashes {
	h := &Hashes{links: p.Links, threshold: p.Threshold, slotBits: uint(p.SlotBits)}
	h.tagLow = model.Mask(min(p.CacheTagBits(), HashBits)) << uint(p.SlotBits)
	h.dTab = tables(keyhash.Matrix(p.Seed, FuncDispatch, p.LineBits(), HashBits))
	h.lTab = tables(keyhash.Matrix(p.Seed, FuncLink, max(1, p.AddrBits-BlockBits), LinkBits))
	return h
}

func tables(rows []uint64) [][256]uint32 {
	t := make([][256]uint32, (len(rows)+7)/8)
	for i, r := range rows {
		for v := 0; v < 256; v++ {
			if v>>(i%8)&1 != 0 {
				t[i/8][v] ^= uint32(r)
			}
		}
	}
	return t
}

func apply(t [][256]uint32, x uint64) uint32 {
	var h uint32
	for i := range t {
		h ^= t[i][byte(x>>(8*i))]
	}
	return h
}

// Dispatch is h_D(line).
func (h *Hashes) Dispatch(line uint64) uint32 {
	tag := (line & h.tagLow) >> h.slotBits
	return apply(h.dTab, line&^h.tagLow) ^ uint32(bits.Reverse16(uint16(tag)))
}

// Cacheable reports whether a line may live in on-board DRAM: h_D < LTH.
func (h *Hashes) Cacheable(line uint64) bool { return h.Dispatch(line) < h.threshold }

// LinkHash is h_L(block).
func (h *Hashes) LinkHash(block uint64) uint32 { return apply(h.lTab, block) }

// Link is the link of a 512 B block: (h_L(block) · L) >> 8.
func (h *Hashes) Link(block uint64) int { return int(apply(h.lTab, block)) * h.links >> LinkBits }
