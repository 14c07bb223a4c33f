package lambda

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Latency is the atomic unit's latency in cycles (§4).
const Latency = 2

// TagBits is the width of in_tag / out_tag (§4).
const TagBits = 16

// FidBits is the width of in_fid for n registered λs (§4).
func FidBits(n int) int { return max(1, bits.Len(uint(n))) }

// stage is one result in flight. Only valid is a control register (§1.1).
type stage struct {
	valid         bool
	nv, old, tag  uint64
	fault         bool
	fid           uint64 // for reports
	delta, cmp, x uint64 // the other operands, for reports
}

// state holds no slices, so a copy is deep.
type state struct {
	pipe [Latency]stage
	head int // pipe[head] is the oldest entry: the outputs of this cycle
}

// Model is the cycle-accurate golden model of kvd_atomic.
type Model struct {
	Ev    *Evaluator
	ports []model.Port
	fidW  int

	inValid, inFid, inOld, inTag int
	inOps                        [4]int // -1: the design has no such port
	outValid, outNew, outOld     int
	outFault, outTag             int

	st state
}

// Ports returns the ports of kvd_atomic for cfg, in the order of §4: an
// operand has a port only if some λ names it (old always has one).
func Ports(cfg config.Config, ev *Evaluator) []model.Port {
	w := cfg.Atomic.ScalarBits
	ports := []model.Port{
		{Name: "in_valid", Dir: model.In, Width: 1},
		{Name: "in_fid", Dir: model.In, Width: FidBits(len(cfg.Atomic.Lambdas))},
	}
	for i, name := range Operands {
		if i == 0 || ev.uses(i) {
			ports = append(ports, model.Port{Name: "in_" + name, Dir: model.In, Width: w})
		}
	}
	return append(ports,
		model.Port{Name: "in_tag", Dir: model.In, Width: TagBits},
		model.Port{Name: "out_valid", Dir: model.Out, Width: 1},
		model.Port{Name: "out_new", Dir: model.Out, Width: w, QualifiedBy: "out_valid"},
		model.Port{Name: "out_old", Dir: model.Out, Width: w, QualifiedBy: "out_valid"},
		model.Port{Name: "out_fault", Dir: model.Out, Width: 1, QualifiedBy: "out_valid"},
		model.Port{Name: "out_tag", Dir: model.Out, Width: TagBits, QualifiedBy: "out_valid"},
	)
}

func (e *Evaluator) uses(i int) bool {
	for _, f := range e.Fns {
		if f.Uses[i] {
			return true
		}
	}
	return false
}

// New compiles cfg's λs and builds the model in its reset state.
func New(cfg config.Config) (*Model, error) {
	ev, err := NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	ports := Ports(cfg, ev)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("atomic: %v", err)
	}
	m := &Model{Ev: ev, ports: ports, fidW: FidBits(len(ev.Fns))}
	m.inValid = lay.MustSlot("in_valid").Off
	m.inFid = lay.MustSlot("in_fid").Off
	m.inOld = lay.MustSlot("in_old").Off
	for i, name := range Operands {
		m.inOps[i] = -1
		if s, ok := lay.Slot("in_" + name); ok {
			m.inOps[i] = s.Off
		}
	}
	m.inTag = lay.MustSlot("in_tag").Off
	m.outValid = lay.MustSlot("out_valid").Off
	m.outNew = lay.MustSlot("out_new").Off
	m.outOld = lay.MustSlot("out_old").Off
	m.outFault = lay.MustSlot("out_fault").Off
	m.outTag = lay.MustSlot("out_tag").Off
	return m, nil
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset clears the valid pipeline only.
func (m *Model) Reset() {
	for i := range m.st.pipe {
		m.st.pipe[i].valid = false
	}
	m.st.head = 0
}

func (m *Model) operand(in []uint64, i int) uint64 {
	if off := m.inOps[i]; off >= 0 {
		return in[off]
	}
	return 0
}

// Step implements model.Model (§1.1): the outputs of this cycle are the
// result of the request of two cycles ago; then this cycle's request
// enters. A λ is evaluated only for a valid request: the data outputs of
// an invalid one are never compared.
func (m *Model) Step(in, out []uint64) error {
	s := &m.st.pipe[m.st.head]
	out[m.outValid] = b2u(s.valid)
	out[m.outNew] = s.nv
	out[m.outOld] = s.old
	out[m.outFault] = b2u(s.fault)
	out[m.outTag] = s.tag

	s.valid = in[m.inValid]&1 != 0
	if s.valid {
		s.fid = in[m.inFid] & model.Mask(m.fidW)
		s.old = in[m.inOld] & m.Ev.mask
		s.delta, s.cmp, s.x = m.operand(in, 1), m.operand(in, 2), m.operand(in, 3)
		s.tag = in[m.inTag] & (1<<TagBits - 1)
		nv, fault, err := m.Ev.Eval(s.fid, s.old, s.delta, s.cmp, s.x)
		if err != nil {
			return err
		}
		s.nv, s.fault = nv, fault
	}
	if m.st.head++; m.st.head == Latency {
		m.st.head = 0
	}
	return nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// DescribeState describes the request whose result is due this cycle, for
// reports of a hung run.
func (m *Model) DescribeState() string {
	s := m.st.pipe[m.st.head]
	if !s.valid {
		return "no request"
	}
	name := "unknown"
	if s.fid < uint64(len(m.Ev.Fns)) {
		name = m.Ev.Fns[s.fid].Name
	}
	return fmt.Sprintf("fid %d (%s) old=%#x delta=%#x cmp=%#x swap=%#x -> new=%#x fault=%v", s.fid, name, s.old, s.delta, s.cmp, s.x, s.nv, s.fault)
}

// Snapshot implements model.Model; the value is an independent copy.
func (m *Model) Snapshot() any { return m.st }

// Restore implements model.Model.
func (m *Model) Restore(snapshot any) {
	st, ok := snapshot.(state)
	if !ok {
		panic(fmt.Sprintf("lambda: Restore of a %T, not an atomic-unit snapshot", snapshot))
	}
	m.st = st
}

var _ model.Model = (*Model)(nil)
