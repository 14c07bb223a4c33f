// Package fifo is the golden model of the streaming FIFO, kvd_fifo
// (docs/microarch.md §3), written from that document only.
//
// State (§3.2): a queue Q of at most D words and an output register (ov, od).
// Capacity is D+1 words; a word written into an empty FIFO appears on
// out_data two cycles later.
package fifo

import (
	"fmt"

	"github.com/kvdirect/kvd/golden/model"
)

// state is the model state. Its slices are owned by one Model or one
// snapshot, never shared.
type state struct {
	mem   []uint64 // D entries of words uint64 each; a ring buffer
	head  int      // entry index of the head of Q
	count int      // |Q|
	ov    bool
	od    []uint64
}

func (s *state) clone() state {
	c := *s
	c.mem = append([]uint64(nil), s.mem...)
	c.od = append([]uint64(nil), s.od...)
	return c
}

// Model is the cycle-accurate golden model of kvd_fifo.
type Model struct {
	width, depth, words int
	top                 uint64 // mask of the valid bits of the last data word
	ports               []model.Port

	// word offsets in the input and output vectors
	inValid, inData, outReady     int
	inReady, outValid, outDataOff int

	st state
}

// Ports returns the ports of kvd_fifo of data width w, in the order of §3.1.
func Ports(width int) []model.Port {
	return []model.Port{
		{Name: "in_valid", Dir: model.In, Width: 1},
		{Name: "in_ready", Dir: model.Out, Width: 1},
		{Name: "in_data", Dir: model.In, Width: width},
		{Name: "out_valid", Dir: model.Out, Width: 1},
		{Name: "out_ready", Dir: model.In, Width: 1},
		{Name: "out_data", Dir: model.Out, Width: width, QualifiedBy: "out_valid"},
	}
}

// New builds a FIFO of data width W = width bits and memory depth D = depth
// entries, in its reset state. D must be a power of two, at least 2, and W
// at least 1.
func New(width, depth int) (*Model, error) {
	if width < 1 {
		return nil, fmt.Errorf("fifo: width %d, want at least 1", width)
	}
	if depth < 2 || depth&(depth-1) != 0 {
		return nil, fmt.Errorf("fifo: depth %d, want a power of two, at least 2", depth)
	}
	ports := Ports(width)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("fifo: %v", err)
	}
	words := model.Words(width)
	m := &Model{
		width: width, depth: depth, words: words,
		top:   model.Mask(width - 64*(words-1)),
		ports: ports,
		st: state{
			mem: make([]uint64, depth*words),
			od:  make([]uint64, words),
		},
	}
	m.inValid = lay.MustSlot("in_valid").Off
	m.inData = lay.MustSlot("in_data").Off
	m.outReady = lay.MustSlot("out_ready").Off
	m.inReady = lay.MustSlot("in_ready").Off
	m.outValid = lay.MustSlot("out_valid").Off
	m.outDataOff = lay.MustSlot("out_data").Off
	return m, nil
}

// Width is W.
func (m *Model) Width() int { return m.width }

// Depth is D.
func (m *Model) Depth() int { return m.depth }

// Len is the number of words the FIFO holds: |Q| plus the output register.
func (m *Model) Len() int {
	if m.st.ov {
		return m.st.count + 1
	}
	return m.st.count
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset empties Q and clears ov (§3.2). The memory contents and od are data
// and keep their values (§1.1).
func (m *Model) Reset() {
	m.st.head, m.st.count, m.st.ov = 0, 0, false
}

// Step implements model.Model (§1.1, §3.2). It allocates nothing.
func (m *Model) Step(in, out []uint64) error {
	st := &m.st
	w := m.words

	// Outputs of this cycle, from the state alone.
	inReady := st.count < m.depth
	out[m.inReady] = b2u(inReady)
	out[m.outValid] = b2u(st.ov)
	copy(out[m.outDataOff:m.outDataOff+w], st.od)

	inValid := in[m.inValid]&1 != 0
	outReady := in[m.outReady]&1 != 0

	// The edge, everything evaluated on this cycle's state.
	// 1. The output register.
	if (!st.ov || outReady) && st.count > 0 {
		copy(st.od, st.mem[st.head*w:st.head*w+w])
		st.head = (st.head + 1) & (m.depth - 1)
		st.count--
		st.ov = true
	} else if outReady {
		st.ov = false
	}
	// 2. The write. Only when |Q| < D was true this cycle, so (after any
	// read above) there is always a free entry.
	if inValid && inReady {
		tail := (st.head + st.count) & (m.depth - 1)
		e := st.mem[tail*w : tail*w+w]
		copy(e, in[m.inData:m.inData+w])
		e[w-1] &= m.top
		st.count++
	}
	return nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Snapshot implements model.Model; the value shares nothing with the model.
func (m *Model) Snapshot() any { return m.st.clone() }

// Restore implements model.Model. The snapshot stays valid for further
// restores.
func (m *Model) Restore(snapshot any) {
	s, ok := snapshot.(state)
	if !ok || len(s.mem) != len(m.st.mem) || len(s.od) != len(m.st.od) {
		panic(fmt.Sprintf("fifo: Restore of a %T that is not a snapshot of a %d x %d FIFO", snapshot, m.width, m.depth))
	}
	copy(m.st.mem, s.mem)
	copy(m.st.od, s.od)
	m.st.head, m.st.count, m.st.ov = s.head, s.count, s.ov
}

var _ model.Model = (*Model)(nil)
