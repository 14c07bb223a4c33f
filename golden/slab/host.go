package slab

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/golden/hostmem"
)

// HostOptions shape how Host serves the host-memory port.
type HostOptions struct {
	// LatMin..LatMax: cycles from a read request's acceptance to its first
	// beat, uniform (seeded); 0 means 1.
	LatMin, LatMax int
	Seed           uint64
	// Percent chances, per cycle, that mem_rd_ready / mem_wr_ready is 1 and
	// that a due read beat is offered; 0 means 100 (no back-pressure).
	RdReadyPct, WrReadyPct, RdataPct int
	// MaxReads bounds the read requests in flight (DMA tags); 0 means 64.
	MaxReads int
	// ErrBeat, when set, is asked about every beat a read returns; true
	// returns it with mem_rdata_err (and its data zero).
	ErrBeat func(addr int64) bool
	// Trace, when set, sees every accepted request and write beat.
	Trace func(DMA)
}

// DMA is one accepted read request or write beat.
type DMA struct {
	Cycle uint64
	Write bool
	Addr  int64
	Beats int      // a read's beats; 1 for a write
	Data  [32]byte // a write's bytes
}

func (d DMA) String() string {
	if d.Write {
		return fmt.Sprintf("cycle %d: write %#x", d.Cycle, d.Addr)
	}
	return fmt.Sprintf("cycle %d: read %#x x%d", d.Cycle, d.Addr, d.Beats)
}

// HostStats count the port's traffic. DMAOps counts as the paper does
// (slab.md §10): a read request counts the 64 B lines it covers, a write
// beat one, unless it is the upper half of the 64 B line whose lower half
// was the previous write beat.
type HostStats struct {
	DMAOps, ReadOps, WriteOps        uint64
	ReadReqs, ReadBeats, WriteBeats  uint64
	IndexReads, CtrlWrites, ErrBeats uint64
}

type hostRead struct {
	addr  int64
	beats int
	sent  int
	due   uint64
	errs  uint16 // beat i returns with mem_rdata_err
}

// Host serves kvd_slab's host-memory port from a hostmem.Memory: reads
// return in order after a seeded latency with their data as memory held
// when the request was accepted; writes take effect when accepted
// (docs/microarch.md §1.7).
type Host struct {
	mem      *hostmem.Memory
	o        portOffsets
	opt      HostOptions
	src      *rand.PCG
	rng      *rand.Rand
	ctrlLo   int64 // the slab control lines, for HostStats
	ctrlHi   int64
	q        []hostRead
	data     []byte // per queue slot MaxBeats beats
	qh, qn   int
	offering bool
	rdReady  bool
	wrReady  bool
	lastWr   int64
	stats    HostStats
}

type hostSnapshot struct {
	q                        []hostRead
	data                     []byte
	qh, qn                   int
	offering, rdReady, wrRdy bool
	lastWr                   int64
	stats                    HostStats
	rng                      rand.PCG
}

func newHost(mem *hostmem.Memory, o portOffsets, p Params, opt HostOptions) *Host {
	if opt.LatMin < 1 {
		opt.LatMin = 1
	}
	opt.LatMax = max(opt.LatMax, opt.LatMin)
	if opt.MaxReads <= 0 {
		opt.MaxReads = 64
	}
	for _, pct := range []*int{&opt.RdReadyPct, &opt.WrReadyPct, &opt.RdataPct} {
		if *pct <= 0 || *pct > 100 {
			*pct = 100
		}
	}
	src := rand.NewPCG(opt.Seed, 0x6b76642d686f7374) // "kvd-host"
	return &Host{
		mem: mem, o: o, opt: opt, src: src, rng: rand.New(src),
		ctrlLo: p.CtrlBase, ctrlHi: p.RingBase,
		q:      make([]hostRead, opt.MaxReads),
		data:   make([]byte, opt.MaxReads*MaxBeats*BeatBytes),
		lastWr: -1,
	}
}

// Stats returns the traffic so far.
func (h *Host) Stats() HostStats { return h.stats }

// Outstanding is the number of read requests not yet fully returned.
func (h *Host) Outstanding() int { return h.qn }

func (h *Host) chance(pct int) bool { return pct >= 100 || h.rng.IntN(100) < pct }

// drive sets the memory-side inputs of this cycle.
func (h *Host) drive(cycle uint64, in []uint64) {
	o := &h.o
	h.rdReady = h.qn < len(h.q) && h.chance(h.opt.RdReadyPct)
	h.wrReady = h.chance(h.opt.WrReadyPct)
	in[o.iRdReady] = b2u(h.rdReady)
	in[o.iWrReady] = b2u(h.wrReady)
	if !h.offering && h.qn > 0 && cycle >= h.q[h.qh].due && h.chance(h.opt.RdataPct) {
		h.offering = true
	}
	d := in[o.iRdata : o.iRdata+4]
	if !h.offering {
		in[o.iRdataValid], in[o.iRdataLast], in[o.iRdataErr] = 0, 0, 0
		d[0], d[1], d[2], d[3] = 0, 0, 0, 0
		return
	}
	r := &h.q[h.qh]
	in[o.iRdataValid] = 1
	in[o.iRdataLast] = b2u(r.sent == r.beats-1)
	if r.errs>>uint(r.sent)&1 != 0 {
		in[o.iRdataErr] = 1
		d[0], d[1], d[2], d[3] = 0, 0, 0, 0
		return
	}
	in[o.iRdataErr] = 0
	b := h.data[(h.qh*MaxBeats+r.sent)*BeatBytes:]
	for w := 0; w < 4; w++ {
		d[w] = le64(b[8*w:])
	}
}

// observe applies this cycle's transfers, seen on the model's outputs.
// Writes go first: a read accepted in the same cycle sees them.
func (h *Host) observe(cycle uint64, out []uint64) {
	o := &h.o
	if out[o.oWrValid] != 0 && h.wrReady {
		addr := int64(out[o.oWrAddr])
		var ev DMA
		for w := 0; w < 4; w++ {
			putLE64(ev.Data[8*w:], out[o.oWrData+w])
		}
		h.mem.Write(addr, ev.Data[:])
		h.stats.WriteBeats++
		if !(addr%64 == 32 && h.lastWr == addr-32) {
			h.stats.WriteOps++
			h.stats.DMAOps++
		}
		if addr >= h.ctrlLo && addr < h.ctrlHi {
			h.stats.CtrlWrites++
		}
		h.lastWr = addr
		if h.opt.Trace != nil {
			ev.Cycle, ev.Write, ev.Addr, ev.Beats = cycle, true, addr, 1
			h.opt.Trace(ev)
		}
	}
	if out[o.oRdValid] != 0 && h.rdReady {
		addr, beats := int64(out[o.oRdAddr]), int(out[o.oRdBeats])
		slot := (h.qh + h.qn) % len(h.q)
		lat := h.opt.LatMin
		if h.opt.LatMax > h.opt.LatMin {
			lat += h.rng.IntN(h.opt.LatMax - h.opt.LatMin + 1)
		}
		r := hostRead{addr: addr, beats: beats, due: cycle + uint64(lat)}
		h.mem.Read(addr, h.data[slot*MaxBeats*BeatBytes:(slot*MaxBeats+beats)*BeatBytes])
		if h.opt.ErrBeat != nil {
			for i := 0; i < beats; i++ {
				if h.opt.ErrBeat(addr + int64(i*BeatBytes)) {
					r.errs |= 1 << uint(i)
					h.stats.ErrBeats++
				}
			}
		}
		h.q[slot] = r
		h.qn++
		lines := uint64((addr+int64(beats*BeatBytes)-1)/64 - addr/64 + 1)
		h.stats.ReadReqs++
		h.stats.ReadBeats += uint64(beats)
		h.stats.ReadOps += lines
		h.stats.DMAOps += lines
		if addr >= h.ctrlLo && addr < h.ctrlHi {
			h.stats.IndexReads++
		}
		if h.opt.Trace != nil {
			h.opt.Trace(DMA{Cycle: cycle, Addr: addr, Beats: beats})
		}
	}
	if h.offering && out[o.oRdataReady] != 0 {
		h.offering = false
		r := &h.q[h.qh]
		r.sent++
		if r.sent == r.beats {
			h.qh = (h.qh + 1) % len(h.q)
			h.qn--
		}
	}
}

func (h *Host) snapshot() hostSnapshot {
	return hostSnapshot{
		q: append([]hostRead(nil), h.q...), data: append([]byte(nil), h.data...),
		qh: h.qh, qn: h.qn, offering: h.offering, rdReady: h.rdReady, wrRdy: h.wrReady,
		lastWr: h.lastWr, stats: h.stats, rng: *h.src,
	}
}

func (h *Host) restore(s hostSnapshot) {
	copy(h.q, s.q)
	copy(h.data, s.data)
	h.qh, h.qn, h.offering, h.rdReady, h.wrReady = s.qh, s.qn, s.offering, s.rdReady, s.wrRdy
	h.lastWr, h.stats = s.lastWr, s.stats
	*h.src = s.rng
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func putLE64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
