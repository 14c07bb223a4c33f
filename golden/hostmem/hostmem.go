// Package hostmem models the host's memory as the NIC sees it over PCIe: a
// sparse, byte-addressed array of a fixed size (docs/microarch.md §1.6).
// Golden models, the host daemon and testbenches share one instance per run.
package hostmem

import (
	"encoding/binary"
	"fmt"
	"sort"
)

const pageBits = 12

// Memory is sparse host memory; untouched bytes read as zero.
type Memory struct {
	size  int64
	pages map[int64]*[1 << pageBits]byte
}

// New returns a zeroed memory of size bytes.
func New(size int64) *Memory {
	return &Memory{size: size, pages: map[int64]*[1 << pageBits]byte{}}
}

// PageBytes is the granularity of Written.
const PageBytes = 1 << pageBits

// Written reports whether any byte of the PageBytes-aligned page holding
// addr was ever written. An unwritten page reads as zero, which lets a
// checker skip the untouched bulk of a large memory without reading it.
func (m *Memory) Written(addr int64) bool { return m.pages[addr>>pageBits] != nil }

// Size is the memory's size in bytes.
func (m *Memory) Size() int64 { return m.size }

func (m *Memory) check(addr int64, n int) {
	if addr < 0 || addr+int64(n) > m.size {
		panic(fmt.Sprintf("hostmem: access [%#x, %#x) outside %#x bytes", addr, addr+int64(n), m.size))
	}
}

// Read copies len(p) bytes from addr.
func (m *Memory) Read(addr int64, p []byte) {
	m.check(addr, len(p))
	for len(p) > 0 {
		pg, off := addr>>pageBits, addr&(1<<pageBits-1)
		n := min(len(p), int(1<<pageBits-off))
		if page := m.pages[pg]; page != nil {
			copy(p[:n], page[off:])
		} else {
			clear(p[:n])
		}
		p, addr = p[n:], addr+int64(n)
	}
}

// Write copies p to addr.
func (m *Memory) Write(addr int64, p []byte) {
	m.check(addr, len(p))
	for len(p) > 0 {
		pg, off := addr>>pageBits, addr&(1<<pageBits-1)
		n := min(len(p), int(1<<pageBits-off))
		page := m.pages[pg]
		if page == nil {
			page = new([1 << pageBits]byte)
			m.pages[pg] = page
		}
		copy(page[off:], p[:n])
		p, addr = p[n:], addr+int64(n)
	}
}

// U32 reads a little-endian 32-bit word.
func (m *Memory) U32(addr int64) uint32 {
	var b [4]byte
	m.Read(addr, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// U64 reads a little-endian 64-bit word.
func (m *Memory) U64(addr int64) uint64 {
	var b [8]byte
	m.Read(addr, b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// PutU32 writes a little-endian 32-bit word.
func (m *Memory) PutU32(addr int64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	m.Write(addr, b[:])
}

// PutU64 writes a little-endian 64-bit word.
func (m *Memory) PutU64(addr int64, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.Write(addr, b[:])
}

// BeatBytes is one beat of the host-memory port (docs/microarch.md §1.7).
const BeatBytes = 32

// ReadBeat reads the 32-byte beat at addr as the port carries it: four
// little-endian words, byte i of the beat at bits [8i+7:8i].
func (m *Memory) ReadBeat(addr int64) (d [4]uint64) {
	var b [BeatBytes]byte
	m.Read(addr, b[:])
	for w := range d {
		d[w] = binary.LittleEndian.Uint64(b[8*w:])
	}
	return d
}

// WriteBeat writes a beat laid out as ReadBeat returns it.
func (m *Memory) WriteBeat(addr int64, d [4]uint64) {
	var b [BeatBytes]byte
	for w := range d {
		binary.LittleEndian.PutUint64(b[8*w:], d[w])
	}
	m.Write(addr, b[:])
}

// Clone is a deep copy (for snapshots and reference comparisons).
func (m *Memory) Clone() *Memory {
	c := New(m.size)
	for k, p := range m.pages {
		cp := *p
		c.pages[k] = &cp
	}
	return c
}

// Diff returns the first few byte ranges where m and o differ, in address
// order, or nil when they are equal.
func (m *Memory) Diff(o *Memory, limit int) []string {
	keys := map[int64]bool{}
	for k := range m.pages {
		keys[k] = true
	}
	for k := range o.pages {
		keys[k] = true
	}
	sorted := make([]int64, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var out []string
	var a, b [1 << pageBits]byte
	for _, k := range sorted {
		m.Read(k<<pageBits, a[:])
		o.Read(k<<pageBits, b[:])
		for i := 0; i < len(a); i++ {
			if a[i] != b[i] {
				out = append(out, fmt.Sprintf("byte %#x: %#02x != %#02x", k<<pageBits+int64(i), a[i], b[i]))
				if len(out) >= limit {
					return out
				}
			}
		}
	}
	return out
}
