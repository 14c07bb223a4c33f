// Package slabd is the slab allocator's host daemon (docs/microarch/slab.md
// §8): software on the host CPU that owns the slab heap, keeps the per-class
// refill rings topped up, drains the flush rings, splits and merges slabs,
// and flags classes it cannot serve. It is a real component, written
// against a small memory interface so that it could run on a host's own
// memory; here it runs on golden/hostmem beside the NIC model. Check (§9)
// accounts for every granule of the heap.
package slabd

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
)

// Memory is host memory as the daemon uses it; *hostmem.Memory satisfies
// it. Multi-byte words are little-endian (docs/microarch.md §1.5).
type Memory interface {
	Read(addr int64, p []byte)
	Write(addr int64, p []byte)
	U32(addr int64) uint32
	U64(addr int64) uint64
	PutU32(addr int64, v uint32)
	PutU64(addr int64, v uint64)
}

// Options adjust the daemon; the zero value is the documented behaviour.
type Options struct {
	// HeapBytes limits the heap to [HeapBase, HeapBase+HeapBytes); 0 means up
	// to the end of host memory. A multiple of 4 KiB.
	HeapBytes int64
	// TargetBatches is T of slab.md §8.4, the refill-ring fill the daemon
	// keeps in batches; 0 means RN/(2B).
	TargetBatches int
}

// Stats are the daemon's statistics (slab.md §8.6).
type Stats struct {
	Polls          uint64 `json:"polls"`
	RefillBatches  uint64 `json:"refill_batches"`
	RefillEntries  uint64 `json:"refill_entries"`
	PadEntries     uint64 `json:"pad_entries"`
	FlushBatches   uint64 `json:"flush_batches"`
	FlushEntries   uint64 `json:"flush_entries"`
	Splits         uint64 `json:"splits"`
	Merges         uint64 `json:"merges"`
	MergePasses    uint64 `json:"merge_passes"`
	Exhausted      uint64 `json:"exhausted"` // times a class's flag went from 0 to 1
	Rejected       uint64 `json:"rejected"`  // flushed pointers refused (double free, corrupt)
	ProtocolErrors uint64 `json:"protocol_errors"`
	FreeBytes      int64  `json:"free_bytes"` // held in the free lists now
}

// FlagExhausted is bit 0 of a host line's flags word (slab.md §3.2).
const FlagExhausted = 1

// Daemon is the host daemon of one NIC's slab allocator.
type Daemon struct {
	mem   Memory
	nc    int
	sizes []int64
	unit  int64
	b, rn int
	ctrl  int64 // SlabCtrlBase
	ring  int64 // SlabRingBase
	base  int64 // heap [base, limit)
	limit int64

	period uint64
	next   uint64
	polled bool
	target int // entries

	free [][]uint64 // per class, LIFO: the last element pops first
	bits []uint64   // one bit per heap granule: held free by the daemon

	rfProd, flCons, flags [config.MaxSlabClasses]uint32
	pub                   [config.MaxSlabClasses][3]uint32 // values last stored in the host lines
	givenSinceMerge       bool

	stats Stats
	buf   []byte
	ptrs  []uint64
}

// New starts a daemon on mem for cfg (slab.md §8.1): it zeroes the slab
// control lines and carves the heap. The first Tick polls.
func New(cfg config.Config, mem Memory, opt Options) (*Daemon, error) {
	s := cfg.Slab
	d := &Daemon{
		mem: mem, nc: len(s.Classes), unit: int64(cfg.Memory.PointerUnit),
		b: s.DMABatch, rn: s.HostRing,
		ctrl: cfg.SlabCtrlBase(), ring: cfg.SlabRingBase(), base: cfg.HeapBase(),
		period: uint64(max(1, cfg.NsToCycles(s.DaemonPeriodNs))),
	}
	for _, c := range s.Classes {
		d.sizes = append(d.sizes, int64(c))
	}
	switch {
	case d.nc < 1 || d.nc > config.MaxSlabClasses:
		return nil, fmt.Errorf("slabd: %d slab classes, want 1..%d", d.nc, config.MaxSlabClasses)
	case d.b < 8 || d.rn < 2*d.b || d.rn%d.b != 0:
		return nil, fmt.Errorf("slabd: batch %d, ring %d: want rings of whole batches, at least two", d.b, d.rn)
	case cfg.Memory.HostBytes/d.unit > 1<<32:
		return nil, fmt.Errorf("slabd: memory.host_bytes / memory.pointer_unit = %d does not fit 4-byte ring entries", cfg.Memory.HostBytes/d.unit)
	}
	heap := opt.HeapBytes
	if heap == 0 {
		heap = cfg.Memory.HostBytes - d.base
	}
	d.limit = d.base + heap
	smallest := d.sizes[0]
	switch {
	case heap <= 0 || heap%4096 != 0 || d.limit > cfg.Memory.HostBytes:
		return nil, fmt.Errorf("slabd: heap of %d B from %#x: want a positive multiple of 4 KiB inside memory.host_bytes = %d", heap, d.base, cfg.Memory.HostBytes)
	case d.base%smallest != 0 || heap%smallest != 0:
		return nil, fmt.Errorf("slabd: heap [%#x, %#x) is not made of whole %d B slabs (the smallest class)", d.base, d.limit, smallest)
	}
	d.target = opt.TargetBatches * d.b
	if d.target == 0 {
		d.target = max(1, d.rn/(2*d.b)) * d.b
	}
	if d.target > d.rn {
		return nil, fmt.Errorf("slabd: target of %d batches does not fit a ring of %d entries", opt.TargetBatches, d.rn)
	}
	d.free = make([][]uint64, d.nc)
	d.bits = make([]uint64, (d.granules()+63)/64)
	d.buf = make([]byte, 4*d.b)
	d.ptrs = make([]uint64, d.b)

	mem.Write(d.ctrl, make([]byte, config.MaxSlabClasses*128))
	d.setBits(0, d.granules())
	d.rebuild()
	d.stats.FreeBytes = heap
	return d, nil
}

func (d *Daemon) granules() int64 { return (d.limit - d.base) / d.unit }

// HeapBase and HeapEnd bound the heap the daemon manages.
func (d *Daemon) HeapBase() int64 { return d.base }

// HeapEnd is the first byte after the heap.
func (d *Daemon) HeapEnd() int64 { return d.limit }

// HeapBytes is the heap's size; with hashtable.Inspectable's meaning.
func (d *Daemon) HeapBytes() int64 { return d.limit - d.base }

// Period is the poll period in cycles.
func (d *Daemon) Period() uint64 { return d.period }

// Stats returns the statistics so far.
func (d *Daemon) Stats() Stats { return d.stats }

// Exhausted reports class c's exhausted flag as last published.
func (d *Daemon) Exhausted(c int) bool { return d.flags[c]&FlagExhausted != 0 }

// FreeSlabs lists the slabs in the daemon's free lists.
func (d *Daemon) FreeSlabs() []hashtable.Slab {
	var out []hashtable.Slab
	for c, l := range d.free {
		for _, p := range l {
			out = append(out, hashtable.Slab{Ptr: p, Class: c})
		}
	}
	return out
}

// Clone copies the daemon onto another memory (whose contents the caller
// copies), for snapshots.
func (d *Daemon) Clone(mem Memory) *Daemon {
	c := *d
	c.mem = mem
	c.free = make([][]uint64, len(d.free))
	for i, l := range d.free {
		c.free[i] = append([]uint64(nil), l...)
	}
	c.bits = append([]uint64(nil), d.bits...)
	c.buf = make([]byte, len(d.buf))
	c.ptrs = make([]uint64, len(d.ptrs))
	return &c
}

// Tick runs a poll when cycle has reached the next poll time (slab.md §8.7)
// and reports whether it did. The first call polls.
func (d *Daemon) Tick(cycle uint64) bool {
	if d.polled && cycle < d.next {
		return false
	}
	d.polled = true
	d.next = cycle + d.period
	d.Poll()
	return true
}

func (d *Daemon) nl(c int) int64 { return d.ctrl + 128*int64(c) }
func (d *Daemon) hl(c int) int64 { return d.ctrl + 128*int64(c) + 64 }
func (d *Daemon) rr(c int) int64 { return d.ring + 8*int64(d.rn)*int64(c) }
func (d *Daemon) fr(c int) int64 { return d.rr(c) + 4*int64(d.rn) }

// Poll is one pass of slab.md §8.3: drain every flush ring, top up every
// refill ring, publish the host lines.
func (d *Daemon) Poll() {
	d.stats.Polls++
	for c := 0; c < d.nc; c++ {
		d.drain(c)
	}
	for c := 0; c < d.nc; c++ {
		d.topUp(c)
	}
	// The host lines go last: every batch they announce is already in
	// memory (slab.md §3.4).
	for c := 0; c < d.nc; c++ {
		v := [3]uint32{d.rfProd[c], d.flCons[c], d.flags[c]}
		for i := range v {
			if v[i] != d.pub[c][i] {
				d.mem.PutU32(d.hl(c)+4*int64(i), v[i])
			}
		}
		d.pub[c] = v
	}
}

func (d *Daemon) drain(c int) {
	prod := d.mem.U32(d.nl(c) + 4)
	n := prod - d.flCons[c]
	if n > uint32(d.rn) || n%uint32(d.b) != 0 {
		d.stats.ProtocolErrors++
		return
	}
	for d.flCons[c] != prod {
		d.mem.Read(d.fr(c)+4*int64(d.flCons[c]%uint32(d.rn)), d.buf)
		for i := 0; i < d.b; i++ {
			d.giveBack(c, uint64(binary.LittleEndian.Uint32(d.buf[4*i:])))
		}
		d.flCons[c] += uint32(d.b)
		d.stats.FlushBatches++
	}
}

// giveBack puts a flushed pointer on its free list, unless it cannot be a
// slab the daemon handed out: handing it out again would make two
// allocations of one granule.
func (d *Daemon) giveBack(c int, ptr uint64) {
	size := d.sizes[c]
	addr := int64(ptr) * d.unit
	if ptr == 0 || addr < d.base || addr+size > d.limit || addr%size != 0 {
		d.stats.Rejected++
		return
	}
	g, n := (addr-d.base)/d.unit, size/d.unit
	if !d.rangeClear(g, n) {
		d.stats.Rejected++
		return
	}
	d.setBits(g, n)
	d.free[c] = append(d.free[c], ptr)
	d.givenSinceMerge = true
	d.stats.FlushEntries++
	d.stats.FreeBytes += size
}

func (d *Daemon) topUp(c int) {
	cons := d.mem.U32(d.nl(c))
	fill := d.rfProd[c] - cons
	if fill > uint32(d.rn) || fill%uint32(d.b) != 0 {
		d.stats.ProtocolErrors++
		return
	}
	for int(fill) < d.target {
		n := d.take(c, d.ptrs)
		if n == 0 {
			d.setExhausted(c, true)
			return
		}
		for i := 0; i < d.b; i++ {
			var v uint32
			if i < n {
				v = uint32(d.ptrs[i])
			}
			binary.LittleEndian.PutUint32(d.buf[4*i:], v)
		}
		d.mem.Write(d.rr(c)+4*int64(d.rfProd[c]%uint32(d.rn)), d.buf)
		d.rfProd[c] += uint32(d.b)
		fill += uint32(d.b)
		d.stats.RefillBatches++
		d.stats.RefillEntries += uint64(n)
		d.stats.PadEntries += uint64(d.b - n)
		if n < d.b {
			d.setExhausted(c, true)
			return
		}
		d.setExhausted(c, false)
	}
}

func (d *Daemon) setExhausted(c int, on bool) {
	if on && d.flags[c]&FlagExhausted == 0 {
		d.stats.Exhausted++
	}
	if on {
		d.flags[c] |= FlagExhausted
	} else {
		d.flags[c] &^= FlagExhausted
	}
}

// take moves up to len(dst) slabs of class c out of the free lists
// (slab.md §8.4: pop, else split, else merge once) and returns how many.
func (d *Daemon) take(c int, dst []uint64) int {
	n := 0
	for n < len(dst) {
		if l := d.free[c]; len(l) > 0 {
			p := l[len(l)-1]
			d.free[c] = l[:len(l)-1]
			size := d.sizes[c]
			d.clearBits((int64(p)*d.unit-d.base)/d.unit, size/d.unit)
			d.stats.FreeBytes -= size
			dst[n] = p
			n++
			continue
		}
		if d.split(c) {
			continue
		}
		if d.givenSinceMerge {
			d.merge()
			continue
		}
		break
	}
	return n
}

// split cuts one slab of the smallest larger class that has one into slabs
// of class c, lowest address on top.
func (d *Daemon) split(c int) bool {
	for k := c + 1; k < d.nc; k++ {
		l := d.free[k]
		if len(l) == 0 {
			continue
		}
		p := l[len(l)-1]
		d.free[k] = l[:len(l)-1]
		step := uint64(d.sizes[c] / d.unit)
		for i := d.sizes[k]/d.sizes[c] - 1; i >= 0; i-- {
			d.free[c] = append(d.free[c], p+uint64(i)*step)
		}
		d.stats.Splits++
		return true
	}
	return false
}

// merge is the lazy merge of slab.md §8.4: every free list is rebuilt from
// the bitmap, each run of free granules carved into the largest naturally
// aligned slabs.
func (d *Daemon) merge() {
	before := 0
	for c := range d.free {
		before += len(d.free[c])
	}
	d.rebuild()
	after := 0
	for c := range d.free {
		after += len(d.free[c])
	}
	d.stats.Merges += uint64(before - after)
	d.stats.MergePasses++
	d.givenSinceMerge = false
}

// rebuild refills the free lists from the bitmap, lowest address popping
// first in every list.
func (d *Daemon) rebuild() {
	for c := range d.free {
		d.free[c] = d.free[c][:0]
	}
	total := d.granules()
	g := int64(0)
	for g < total {
		// Find the next run of set bits [g, e).
		w := d.bits[g/64] >> uint(g%64)
		if w == 0 {
			g = (g/64 + 1) * 64
			continue
		}
		g += int64(bits.TrailingZeros64(w))
		if g >= total {
			break
		}
		e := g
		for e < total {
			w := ^d.bits[e/64] >> uint(e%64)
			if w == 0 {
				e = (e/64 + 1) * 64
				continue
			}
			e += int64(bits.TrailingZeros64(w))
			break
		}
		e = min(e, total)
		d.carve(d.base+g*d.unit, d.base+e*d.unit)
		g = e
	}
	for _, l := range d.free {
		for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
			l[i], l[j] = l[j], l[i]
		}
	}
}

// carve appends [lo, hi) to the free lists as the largest naturally
// aligned slabs that fit, in address order.
func (d *Daemon) carve(lo, hi int64) {
	for lo < hi {
		best := -1
		for c, s := range d.sizes {
			if lo%s == 0 && lo+s <= hi {
				best = c
			}
		}
		if best < 0 {
			// Cannot happen: New keeps the heap in whole smallest slabs, and
			// the bitmap only ever holds whole slabs.
			panic(fmt.Sprintf("slabd: free granules at %#x fit no class", lo))
		}
		d.free[best] = append(d.free[best], uint64(lo/d.unit))
		lo += d.sizes[best]
	}
}

// Bitmap helpers over granule indices [g, g+n).

func (d *Daemon) setBits(g, n int64) {
	for n > 0 {
		i, o := g/64, uint(g%64)
		k := min(n, 64-int64(o))
		d.bits[i] |= maskBits(o, k)
		g, n = g+k, n-k
	}
}

func (d *Daemon) clearBits(g, n int64) {
	for n > 0 {
		i, o := g/64, uint(g%64)
		k := min(n, 64-int64(o))
		d.bits[i] &^= maskBits(o, k)
		g, n = g+k, n-k
	}
}

func (d *Daemon) rangeClear(g, n int64) bool {
	for n > 0 {
		i, o := g/64, uint(g%64)
		k := min(n, 64-int64(o))
		if d.bits[i]&maskBits(o, k) != 0 {
			return false
		}
		g, n = g+k, n-k
	}
	return true
}

func (d *Daemon) bit(g int64) bool { return d.bits[g/64]>>uint(g%64)&1 != 0 }

func maskBits(o uint, k int64) uint64 {
	if k >= 64 {
		return ^uint64(0)
	}
	return (1<<uint(k) - 1) << o
}
