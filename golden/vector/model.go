package vector

import (
	"encoding/hex"
	"fmt"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
)

// Ports returns the ports of kvd_vec for cfg, in the order of vector.md §2.
func Ports(cfg config.Config) []model.Port {
	p := ParamsOf(cfg)
	bus := 8 * p.V
	return []model.Port{
		{Name: "in_valid", Dir: model.In, Width: 1},
		{Name: "in_ready", Dir: model.Out, Width: 1},
		{Name: "in_op", Dir: model.In, Width: OpBits},
		{Name: "in_fid", Dir: model.In, Width: p.F},
		{Name: "in_vlen", Dir: model.In, Width: p.VL},
		{Name: "in_value", Dir: model.In, Width: bus},
		{Name: "in_delta", Dir: model.In, Width: p.E},
		{Name: "in_cmp", Dir: model.In, Width: p.E},
		{Name: "in_swap", Dir: model.In, Width: p.E},
		{Name: "in_dlen", Dir: model.In, Width: p.VL},
		{Name: "in_dvec", Dir: model.In, Width: bus},
		{Name: "out_valid", Dir: model.Out, Width: 1},
		{Name: "out_fault", Dir: model.Out, Width: 1, QualifiedBy: "out_valid"},
		{Name: "out_new", Dir: model.Out, Width: bus, QualifiedBy: "out_valid"},
		{Name: "out_rlen", Dir: model.Out, Width: p.VL, QualifiedBy: "out_valid"},
		{Name: "out_resp", Dir: model.Out, Width: bus, QualifiedBy: "out_valid"},
	}
}

// state is the unit between two clock edges. busy and wait are the
// control registers (§4); the rest is the operation in flight, whose
// result the model computes when it is accepted.
type state struct {
	busy bool
	// wait counts the element cycles still to go; the result is on the
	// outputs in the busy cycle where it is 0.
	wait int
	req  Request
	res  Result
	// newW and respW are out_new and out_resp of the result, as port words.
	newW, respW []uint64
}

func (s state) clone() state {
	c := s
	c.req.Value = append([]byte(nil), s.req.Value...)
	c.req.Dvec = append([]byte(nil), s.req.Dvec...)
	c.res.New = append([]byte(nil), s.res.New...)
	c.res.Resp = append([]byte(nil), s.res.Resp...)
	c.newW = append([]uint64(nil), s.newW...)
	c.respW = append([]uint64(nil), s.respW...)
	return c
}

// Model is the cycle-accurate golden model of kvd_vec.
type Model struct {
	Ev    *lambda.Evaluator
	P     Params
	ports []model.Port

	inValid, inOp, inFid, inVlen, inValue  int
	inDelta, inCmp, inSwap, inDlen, inDvec int
	inReady, outValid, outFault, outNew    int
	outRlen, outResp, busWords             int

	st state
}

// New compiles cfg's λs at the element width and builds the model in its
// reset state.
func New(cfg config.Config) (*Model, error) {
	p := ParamsOf(cfg)
	if p.E != 8 && p.E != 16 && p.E != 32 && p.E != 64 {
		return nil, fmt.Errorf("vector.element_bits = %d: must be 8, 16, 32 or 64", p.E)
	}
	if p.V < ReduceBytes {
		// vector.md §1: REDUCE answers 8 bytes.
		return nil, fmt.Errorf("key.max_value_bytes = %d: the vector unit needs at least %d (REDUCE answers 8 bytes)", p.V, ReduceBytes)
	}
	ev, err := NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("vector: %v", err)
	}
	m := &Model{Ev: ev, P: p, ports: ports, busWords: model.Words(8 * p.V)}
	for _, s := range []struct {
		name string
		off  *int
	}{
		{"in_valid", &m.inValid}, {"in_op", &m.inOp}, {"in_fid", &m.inFid}, {"in_vlen", &m.inVlen},
		{"in_value", &m.inValue}, {"in_delta", &m.inDelta}, {"in_cmp", &m.inCmp}, {"in_swap", &m.inSwap},
		{"in_dlen", &m.inDlen}, {"in_dvec", &m.inDvec}, {"in_ready", &m.inReady}, {"out_valid", &m.outValid},
		{"out_fault", &m.outFault}, {"out_new", &m.outNew}, {"out_rlen", &m.outRlen}, {"out_resp", &m.outResp},
	} {
		*s.off = lay.MustSlot(s.name).Off
	}
	m.st.newW = make([]uint64, m.busWords)
	m.st.respW = make([]uint64, m.busWords)
	return m, nil
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset clears the control state only (§4, microarch.md §1.1).
func (m *Model) Reset() {
	m.st.busy = false
	m.st.wait = 0
}

// Step implements model.Model (microarch.md §1.1). in_ready is 1 iff the
// unit is idle; a request accepted in cycle t with n elements has its
// result on the outputs in cycle t+1+n, and the unit is idle (ready) again
// from t+2+n.
func (m *Model) Step(in, out []uint64) error {
	st := &m.st
	out[m.inReady] = b2u(!st.busy)
	due := st.busy && st.wait == 0
	out[m.outValid] = b2u(due)
	newW, respW := out[m.outNew:m.outNew+m.busWords], out[m.outResp:m.outResp+m.busWords]
	if due {
		out[m.outFault] = b2u(st.res.Fault)
		out[m.outRlen] = uint64(len(st.res.Resp)) & model.Mask(m.P.VL)
		copy(newW, st.newW)
		copy(respW, st.respW)
	} else {
		// Not compared (qualified by out_valid); written all the same.
		out[m.outFault] = 0
		out[m.outRlen] = 0
		clear(newW)
		clear(respW)
	}

	switch {
	case st.busy && st.wait == 0:
		st.busy = false
	case st.busy:
		st.wait--
	case in[m.inValid]&1 != 0:
		if err := m.accept(in); err != nil {
			return err
		}
	}
	return nil
}

// accept latches a request and computes its result.
func (m *Model) accept(in []uint64) error {
	st := &m.st
	p := m.P
	vlen := int(in[m.inVlen] & model.Mask(p.VL))
	if vlen > p.V {
		return fmt.Errorf("vector: request accepted with in_vlen = %d > V = %d, outside the contract (vector.md §1)", vlen, p.V)
	}
	dlen := min(int(in[m.inDlen]&model.Mask(p.VL)), p.V)
	r := &st.req
	r.Op = Op(in[m.inOp] & model.Mask(OpBits))
	r.Fid = in[m.inFid] & model.Mask(p.F)
	r.Value = busBytes(r.Value[:0], in[m.inValue:m.inValue+m.busWords], vlen)
	r.Delta = in[m.inDelta] & model.Mask(p.E)
	r.Cmp = in[m.inCmp] & model.Mask(p.E)
	r.Swap = in[m.inSwap] & model.Mask(p.E)
	r.Dvec = busBytes(r.Dvec[:0], in[m.inDvec:m.inDvec+m.busWords], dlen)
	res, err := Exec(m.Ev, *r)
	if err != nil {
		return err
	}
	st.res = res
	busWords(st.newW, res.New)
	busWords(st.respW, res.Resp)
	st.busy = true
	st.wait = res.N
	return nil
}

// busBytes appends the first n bytes of a little-endian bus to dst.
func busBytes(dst []byte, words []uint64, n int) []byte {
	for i := 0; i < n; i++ {
		dst = append(dst, byte(words[i/8]>>(8*(i%8))))
	}
	return dst
}

// busWords packs b little-endian into words, zero above len(b).
func busWords(words []uint64, b []byte) {
	clear(words)
	for i, x := range b {
		words[i/8] |= uint64(x) << (8 * (i % 8))
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Describe formats a request and its result for reports.
func Describe(ev *lambda.Evaluator, r Request, res Result) string {
	name := "unknown fid"
	if r.Fid < uint64(len(ev.Fns)) {
		name = ev.Fns[r.Fid].Name
	}
	s := fmt.Sprintf("%s fid %d (%s) vlen %d (%d elements) delta=%#x cmp=%#x swap=%#x value=%s",
		r.Op, r.Fid, name, len(r.Value), res.N, r.Delta, r.Cmp, r.Swap, hex.EncodeToString(r.Value))
	if r.Op == V2V {
		s += fmt.Sprintf(" dlen %d dvec=%s", len(r.Dvec), hex.EncodeToString(r.Dvec))
	}
	s += fmt.Sprintf(" -> fault=%v", res.Fault)
	if res.Fault {
		s += fmt.Sprintf(" (at element %d)", res.FaultAt)
	}
	return s + fmt.Sprintf(" new=%s rlen %d resp=%s", hex.EncodeToString(res.New), len(res.Resp), hex.EncodeToString(res.Resp))
}

// DescribeState describes the operation in flight, for reports of a hung
// run.
func (m *Model) DescribeState() string {
	st := &m.st
	if !st.busy {
		return "idle"
	}
	return fmt.Sprintf("busy, result due in %d cycles: %s", st.wait, Describe(m.Ev, st.req, st.res))
}

// Snapshot implements model.Model; the value is an independent copy.
func (m *Model) Snapshot() any { return m.st.clone() }

// Restore implements model.Model.
func (m *Model) Restore(snapshot any) {
	st, ok := snapshot.(state)
	if !ok {
		panic(fmt.Sprintf("vector: Restore of a %T, not a vector-unit snapshot", snapshot))
	}
	m.st = st.clone()
}

var _ model.Model = (*Model)(nil)
