// Package model is the interface every cycle-accurate golden model
// implements, and the port-value layout the bridge and plain Go tests share.
//
// A model declares its own ports (from docs/microarch.md, not from the
// generator); the bridge checks them against the ports the compiled RTL
// announces, so a model and an RTL of different designs never run together.
package model

import (
	"fmt"
	"strings"
)

// Dir is a port direction, seen from the block.
type Dir int

const (
	In Dir = iota
	Out
)

func (d Dir) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// Field names a bit range of a port that carries a record.
type Field struct {
	Name  string
	Lo, W int
}

// Port is one data port of a block (clock and reset belong to the bridge).
type Port struct {
	Name  string
	Dir   Dir
	Width int
	// QualifiedBy names a 1-bit output; when set, this output is compared
	// only in cycles where that output is 1 (docs/microarch.md §1.2).
	QualifiedBy string
	Fields      []Field
}

// Words is the number of 64-bit words a value of width w occupies.
func Words(w int) int { return (w + 63) / 64 }

// Model is a cycle-accurate model of one block.
//
// Step follows docs/microarch.md §1.1: given the inputs of the current cycle
// it writes the outputs of that cycle into out and then advances its state
// over the clock edge. in and out are laid out by Layout (each port in
// Words(width) little-endian words, in port order); Step must write every
// output word, and bits above a port's width must be zero. An error means
// the model itself found the stimulus or its state impossible; the run stops.
type Model interface {
	Ports() []Port
	Reset()
	Step(in, out []uint64) error
	Snapshot() any
	Restore(snapshot any)
}

// Slot locates one port inside an input or output vector.
type Slot struct {
	Port  int // index into Layout.Ports
	Off   int // first word
	Words int
	Width int
}

// Layout maps ports to word offsets of the input and output vectors.
type Layout struct {
	Ports    []Port
	In, Out  []Slot
	InWords  int
	OutWords int
	byName   map[string]Slot
	qual     []int // per output slot: index of its qualifying output slot, or -1
}

// NewLayout validates ports and assigns offsets.
func NewLayout(ports []Port) (*Layout, error) {
	l := &Layout{Ports: ports, byName: map[string]Slot{}}
	for i, p := range ports {
		if p.Name == "" || p.Width < 1 {
			return nil, fmt.Errorf("port %d: name %q width %d", i, p.Name, p.Width)
		}
		if _, dup := l.byName[p.Name]; dup {
			return nil, fmt.Errorf("port %s declared twice", p.Name)
		}
		s := Slot{Port: i, Words: Words(p.Width), Width: p.Width}
		if p.Dir == In {
			s.Off = l.InWords
			l.InWords += s.Words
			l.In = append(l.In, s)
		} else {
			s.Off = l.OutWords
			l.OutWords += s.Words
			l.Out = append(l.Out, s)
		}
		l.byName[p.Name] = s
	}
	for _, s := range l.Out {
		q := -1
		if name := ports[s.Port].QualifiedBy; name != "" {
			for j, t := range l.Out {
				if ports[t.Port].Name == name {
					q = j
				}
			}
			if q < 0 || ports[l.Out[q].Port].Width != 1 {
				return nil, fmt.Errorf("port %s: qualified by %q, which is not a 1-bit output", ports[s.Port].Name, name)
			}
		}
		l.qual = append(l.qual, q)
	}
	return l, nil
}

// MustLayout is NewLayout for port lists fixed in code.
func MustLayout(ports []Port) *Layout {
	l, err := NewLayout(ports)
	if err != nil {
		panic(err)
	}
	return l
}

// Slot returns the slot of the named port.
func (l *Layout) Slot(name string) (Slot, bool) {
	s, ok := l.byName[name]
	return s, ok
}

// MustSlot returns the slot of a port the caller declared itself.
func (l *Layout) MustSlot(name string) Slot {
	s, ok := l.byName[name]
	if !ok {
		panic("model: no port " + name)
	}
	return s
}

// Mismatch is one output that differs.
type Mismatch struct {
	Port     string
	Expected []uint64
	Actual   []uint64
}

// Compare checks actual outputs against expected ones under the
// qualification rules, appending mismatches to dst.
func (l *Layout) Compare(expected, actual []uint64, dst []Mismatch) []Mismatch {
	for i, s := range l.Out {
		if q := l.qual[i]; q >= 0 && expected[l.Out[q].Off] == 0 {
			continue
		}
		e := expected[s.Off : s.Off+s.Words]
		a := actual[s.Off : s.Off+s.Words]
		for w := range e {
			if e[w] != a[w] {
				dst = append(dst, Mismatch{Port: l.Ports[s.Port].Name, Expected: append([]uint64(nil), e...), Actual: append([]uint64(nil), a...)})
				break
			}
		}
	}
	return dst
}

// Equal reports whether actual matches expected; it allocates nothing, for
// the bridge's per-cycle loop.
func (l *Layout) Equal(expected, actual []uint64) bool {
	for i, s := range l.Out {
		if q := l.qual[i]; q >= 0 && expected[l.Out[q].Off] == 0 {
			continue
		}
		for w := s.Off; w < s.Off+s.Words; w++ {
			if expected[w] != actual[w] {
				return false
			}
		}
	}
	return true
}

// Hex formats a port value as Verilog-style hex of its width.
func Hex(words []uint64, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d'h", width)
	digits := (width + 3) / 4
	for d := digits - 1; d >= 0; d-- {
		w := words[d/16]
		nib := (w >> (uint(d%16) * 4)) & 0xf
		b.WriteByte("0123456789abcdef"[nib])
	}
	return b.String()
}

// Get extracts width bits starting at bit lo of a multi-word value (width ≤ 64).
func Get(words []uint64, lo, width int) uint64 {
	wi, bi := lo/64, uint(lo%64)
	v := words[wi] >> bi
	if bi != 0 && wi+1 < len(words) {
		v |= words[wi+1] << (64 - bi)
	}
	if width < 64 {
		v &= (1 << uint(width)) - 1
	}
	return v
}

// Mask returns the mask of the low w bits (w ≤ 64).
func Mask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return (1 << uint(w)) - 1
}

// Handshake counts the cycles of one valid/ready pair since reset: Fire,
// valid and ready (a transfer); Stall, valid and not ready (the taker held
// the offerer back). The cycles without valid are idle. Compositions
// (golden/front, golden/top) count their blocks' handshakes so that a
// bench can say which block holds the pipeline back.
type Handshake struct {
	Name        string
	Fire, Stall uint64
}

// HandshakeProbe watches one pair: bit 0 of the words its pointers name,
// in the port vectors of a composition's blocks.
type HandshakeProbe struct {
	Handshake
	valid, ready *uint64
}

// NewHandshakeProbe watches the pair whose valid and ready bits are bit 0
// of *valid and *ready.
func NewHandshakeProbe(name string, valid, ready *uint64) HandshakeProbe {
	return HandshakeProbe{Handshake: Handshake{Name: name}, valid: valid, ready: ready}
}

// Count adds the cycle whose values the vectors hold now.
func (p *HandshakeProbe) Count() {
	if *p.valid&1 != 0 {
		if *p.ready&1 != 0 {
			p.Fire++
		} else {
			p.Stall++
		}
	}
}

// TakenHandshakes lists the pairs a block takes — each 1-bit input X_valid
// beside an output X_ready — as probes on its port vectors, named
// prefix+X, but those whose X_valid input watch says not to.
func TakenHandshakes(prefix string, lay *Layout, in, out []uint64, watch func(validInput string) bool) []HandshakeProbe {
	var ps []HandshakeProbe
	for _, s := range lay.In {
		name := lay.Ports[s.Port].Name
		stem, ok := strings.CutSuffix(name, "_valid")
		if !ok || s.Width != 1 || !watch(name) {
			continue
		}
		if r, ok := lay.Slot(stem + "_ready"); ok && lay.Ports[r.Port].Dir == Out && r.Width == 1 {
			ps = append(ps, NewHandshakeProbe(prefix+stem, &in[s.Off], &out[r.Off]))
		}
	}
	return ps
}
