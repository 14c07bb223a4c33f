package slabd

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kvdirect/kvd/golden/hashtable"
)

// Place is where a heap granule can be (slab.md §9).
type Place uint8

// The places, in the order Check visits them.
const (
	PlaceNone Place = iota
	PlaceDaemon
	PlaceRefill
	PlaceNIC
	PlaceFlush
	PlaceClient
	numPlaces
)

var placeName = [...]string{"nowhere", "daemon free list", "refill ring", "NIC stack", "flush ring", "client"}

func (p Place) String() string { return placeName[p] }

// Report is the accounting Check makes of the heap.
type Report struct {
	TotalGranules int64
	// Granules per place (a granule in two places counts in the first).
	Granules [numPlaces]int64
	// Free granules are those in the daemon, the rings and the NIC; used
	// are the clients'. Free + Used + Lost = Total.
	Free, Used, Lost int64
	GranuleBytes     int64

	// Problem counts, in slabs (Lost: in runs of granules).
	LostRuns, Duplicated, FreeAndUsed, UsedTwice, Misplaced, BitmapMismatch int
	// Problems describes the first few problems.
	Problems []string
}

// OK is true when every granule is in exactly one place.
func (r *Report) OK() bool {
	return r.LostRuns+r.Duplicated+r.FreeAndUsed+r.UsedTwice+r.Misplaced+r.BitmapMismatch == 0
}

const maxProblems = 12

type checker struct {
	d     *Daemon
	mem   Memory
	owner []uint16 // per granule: place<<8 | class+1, 0 = none
	r     *Report
}

func (k *checker) bad(count *int, format string, args ...any) {
	*count++
	if len(k.r.Problems) < maxProblems {
		k.r.Problems = append(k.r.Problems, fmt.Sprintf(format, args...))
	}
}

// Check accounts for every granule of d's heap (slab.md §9): the daemon's
// free lists, the unconsumed entries of every refill and flush ring in mem
// (between the indices of the control lines), nic (the slabs in the NIC's
// stacks, e.g. slab.Model.Held) and clients (the slabs handed out and not
// freed). It must be called when no batch is half moved (the NIC's sync
// engine idle). The error, when not nil, names the first problems; the
// report is returned either way.
func Check(d *Daemon, mem Memory, nic, clients []hashtable.Slab) (*Report, error) {
	r := &Report{TotalGranules: d.granules(), GranuleBytes: d.unit}
	k := &checker{d: d, mem: mem, owner: make([]uint16, d.granules()), r: r}
	for c, l := range d.free {
		for _, p := range l {
			k.use(PlaceDaemon, c, p, "")
		}
	}
	buf := make([]byte, 4*d.rn)
	for c := 0; c < d.nc; c++ {
		rfCons, flProd := mem.U32(d.nl(c)), mem.U32(d.nl(c)+4)
		rfProd, flCons := mem.U32(d.hl(c)), mem.U32(d.hl(c)+4)
		k.ring(PlaceRefill, c, d.rr(c), rfCons, rfProd, buf, true)
		k.ring(PlaceFlush, c, d.fr(c), flCons, flProd, buf, false)
	}
	for _, s := range nic {
		k.use(PlaceNIC, s.Class, s.Ptr, "")
	}
	for _, s := range clients {
		k.use(PlaceClient, s.Class, s.Ptr, "")
	}
	// The bitmap must say "held by the daemon" exactly for the granules of
	// its free lists.
	for g := int64(0); g < r.TotalGranules; g++ {
		o := k.owner[g]
		inLists := Place(o>>8) == PlaceDaemon
		if d.bit(g) != inLists {
			k.bad(&r.BitmapMismatch, "granule %#x: free bitmap says %v, free lists say %v", d.base+g*d.unit, d.bit(g), inLists)
		}
		if o == 0 {
			e := g
			for e < r.TotalGranules && k.owner[e] == 0 {
				e++
			}
			k.bad(&r.LostRuns, "lost: bytes [%#x, %#x) are in no place", d.base+g*d.unit, d.base+e*d.unit)
			r.Lost += e - g
			for ; g < e-1; g++ {
				if d.bit(g + 1) {
					k.bad(&r.BitmapMismatch, "granule %#x: free bitmap set, in no free list", d.base+(g+1)*d.unit)
				}
			}
			continue
		}
		r.Granules[Place(o>>8)]++
	}
	r.Used = r.Granules[PlaceClient]
	r.Free = r.TotalGranules - r.Used - r.Lost
	if r.OK() {
		return r, nil
	}
	return r, fmt.Errorf("slab invariants: %d lost runs (%d granules), %d duplicated, %d both free and in use, %d in use twice, %d misplaced, %d bitmap mismatches:\n  %s",
		r.LostRuns, r.Lost, r.Duplicated, r.FreeAndUsed, r.UsedTwice, r.Misplaced, r.BitmapMismatch, strings.Join(r.Problems, "\n  "))
}

func (k *checker) ring(place Place, c int, base int64, cons, prod uint32, buf []byte, nullsOK bool) {
	d := k.d
	n := prod - cons
	if n > uint32(d.rn) || n%uint32(d.b) != 0 {
		k.bad(&k.r.Misplaced, "%s %d: indices %d..%d are not whole batches within %d entries", place, c, cons, prod, d.rn)
		return
	}
	d0 := int64(cons % uint32(d.rn))
	// The unconsumed entries, possibly wrapping the ring's end.
	first := min(int64(n), int64(d.rn)-d0)
	k.mem.Read(base+4*d0, buf[:4*first])
	if rest := int64(n) - first; rest > 0 {
		k.mem.Read(base, buf[4*first:4*(first+rest)])
	}
	for i := uint32(0); i < n; i++ {
		p := uint64(binary.LittleEndian.Uint32(buf[4*i:]))
		if p == 0 {
			if !nullsOK {
				k.bad(&k.r.Misplaced, "%s %d: entry %d is null", place, c, cons+i)
			}
			continue
		}
		k.use(place, c, p, fmt.Sprintf(" entry %d", cons+i))
	}
}

func (k *checker) use(place Place, c int, ptr uint64, where string) {
	d, r := k.d, k.r
	if c < 0 || c >= d.nc {
		k.bad(&r.Misplaced, "%s%s: slab %#x of class %d, which does not exist", place, where, ptr, c)
		return
	}
	size := d.sizes[c]
	addr := int64(ptr) * d.unit
	if addr < d.base || addr+size > d.limit || addr%size != 0 {
		k.bad(&r.Misplaced, "%s %d%s: slab %#x (%d B at %#x) is outside the heap [%#x, %#x) or not aligned to its size",
			place, c, where, ptr, size, addr, d.base, d.limit)
		return
	}
	g, n := (addr-d.base)/d.unit, size/d.unit
	tag := uint16(place)<<8 | uint16(c+1)
	reported := false
	for i := g; i < g+n; i++ {
		if o := k.owner[i]; o != 0 && !reported {
			reported = true
			other, oc := Place(o>>8), int(o&0xff)-1
			msg := "%s %d%s: slab %#x (%d B) overlaps a slab in %s %d"
			args := []any{place, c, where, ptr, size, other, oc}
			switch {
			case place == PlaceClient && other == PlaceClient:
				k.bad(&r.UsedTwice, "in use twice: "+msg, args...)
			case place == PlaceClient || other == PlaceClient:
				k.bad(&r.FreeAndUsed, "both free and in use: "+msg, args...)
			default:
				k.bad(&r.Duplicated, "duplicated: "+msg, args...)
			}
			continue
		}
		if k.owner[i] == 0 {
			k.owner[i] = tag
		}
	}
}
