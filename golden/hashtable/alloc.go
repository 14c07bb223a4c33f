package hashtable

import (
	"fmt"
	"sort"

	"github.com/kvdirect/kvd/config"
)

// Allocator hands out slab objects. Pointers count memory.pointer_unit
// units from host address 0; class is an index into slab.classes. The real
// slab allocator (NIC stacks and host daemon) implements the same interface.
type Allocator interface {
	// Alloc returns a naturally aligned object of the class, or ok=false
	// when none is left.
	Alloc(class int) (ptr uint64, ok bool)
	// Free returns an object Alloc handed out, with the same class.
	Free(ptr uint64, class int)
}

// Slab is one allocated object.
type Slab struct {
	Ptr   uint64
	Class int
}

// Inspectable is what the checker and the benches need from an allocator:
// which objects are handed out, and how big the heap is (the denominator of
// memory utilization).
type Inspectable interface {
	Allocated() []Slab
	HeapBytes() int64
}

// SimpleAllocator carves objects from the slab heap with a bump pointer and
// keeps one LIFO free list per class. It never splits or merges freed
// objects: a freed 256 B slab serves only 256 B requests. Deterministic:
// the same calls give the same pointers.
type SimpleAllocator struct {
	classes     []int
	unit        int64
	base, limit int64 // heap [base, limit)
	bump        int64
	free        [][]uint64
	live        map[uint64]int
}

// NewSimpleAllocator manages heapBytes from cfg.HeapBase() (0: up to the end
// of host memory).
func NewSimpleAllocator(cfg config.Config, heapBytes int64) (*SimpleAllocator, error) {
	return NewSimpleAllocatorAt(cfg, cfg.HeapBase(), heapBytes)
}

// NewSimpleAllocatorAt manages heapBytes from base, inside the slab heap (0:
// up to the end of host memory). A processor testbench preloads its table
// from the top of the heap this way while the host slab daemon owns the
// rest.
func NewSimpleAllocatorAt(cfg config.Config, base, heapBytes int64) (*SimpleAllocator, error) {
	if heapBytes == 0 {
		heapBytes = cfg.Memory.HostBytes - base
	}
	if base < cfg.HeapBase() || base%4096 != 0 {
		return nil, fmt.Errorf("slab heap start %#x: must be 4 KiB aligned and at or above the heap base %#x", base, cfg.HeapBase())
	}
	if heapBytes < 0 || base+heapBytes > cfg.Memory.HostBytes {
		return nil, fmt.Errorf("slab heap of %d B from %#x does not fit memory.host_bytes = %d", heapBytes, base, cfg.Memory.HostBytes)
	}
	return &SimpleAllocator{
		classes: append([]int(nil), cfg.Slab.Classes...),
		unit:    int64(cfg.Memory.PointerUnit),
		base:    base, limit: base + heapBytes, bump: base,
		free: make([][]uint64, len(cfg.Slab.Classes)),
		live: map[uint64]int{},
	}, nil
}

// Alloc implements Allocator.
func (a *SimpleAllocator) Alloc(class int) (uint64, bool) {
	if class < 0 || class >= len(a.classes) {
		panic(fmt.Sprintf("hashtable: alloc of class %d, have %d classes", class, len(a.classes)))
	}
	var ptr uint64
	if fl := a.free[class]; len(fl) > 0 {
		ptr = fl[len(fl)-1]
		a.free[class] = fl[:len(fl)-1]
	} else {
		size := int64(a.classes[class])
		at := (a.bump + size - 1) / size * size
		if at+size > a.limit {
			return 0, false
		}
		a.fillGap(a.bump, at)
		a.bump = at + size
		ptr = uint64(at / a.unit)
	}
	a.live[ptr] = class
	return ptr, true
}

// fillGap turns the bytes skipped to align an object into free objects of
// smaller classes, so that alignment wastes (almost) nothing.
func (a *SimpleAllocator) fillGap(lo, hi int64) {
	for lo < hi {
		best := -1
		for c, size := range a.classes {
			s := int64(size)
			if lo%s == 0 && lo+s <= hi {
				best = c
			}
		}
		if best < 0 {
			lo += a.unit
			continue
		}
		a.free[best] = append(a.free[best], uint64(lo/a.unit))
		lo += int64(a.classes[best])
	}
}

// Free implements Allocator. Freeing an object that is not live, or with
// another class, is a bug in the caller and panics.
func (a *SimpleAllocator) Free(ptr uint64, class int) {
	c, ok := a.live[ptr]
	if !ok || c != class {
		panic(fmt.Sprintf("hashtable: free of %#x class %d, allocator has it live=%v class %d", ptr, class, ok, c))
	}
	delete(a.live, ptr)
	a.free[class] = append(a.free[class], ptr)
}

// Allocated implements Inspectable, in pointer order.
func (a *SimpleAllocator) Allocated() []Slab {
	out := make([]Slab, 0, len(a.live))
	for p, c := range a.live {
		out = append(out, Slab{p, c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ptr < out[j].Ptr })
	return out
}

// HeapBytes implements Inspectable.
func (a *SimpleAllocator) HeapBytes() int64 { return a.limit - a.base }

// Live is the number of objects handed out.
func (a *SimpleAllocator) Live() int { return len(a.live) }
