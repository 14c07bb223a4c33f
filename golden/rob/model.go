// Package rob is the golden model of the reorder buffer kvd_rob
// (docs/microarch/rob.md), written from that document only.
//
// The buffer keeps one entry per decoder record, in the decoder's order,
// in a ring of M entries. Records the decoder accepted (kind OP, status 0)
// are issued to the pipeline through a two-entry issue queue with their
// entry index as the tag; every other record is answered at once. The
// pipeline's completions fill their entries in any order, and the oldest
// entry, once answered, is released to the encoder through the e_*
// register. The model follows §4 literally, register by register.
package rob

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Module is the name of the block this model describes.
const Module = "kvd_rob"

// Record kinds (rob.md §1: the decoder's, decoder.md §1).
const (
	KindOp       = 0
	KindPktError = 1
	KindEmpty    = 2
)

// Fixed widths of rob.md §2's port table.
const (
	KindBits     = 2
	SeqBits      = 32
	DStatusBits  = 5
	ReceivedBits = 16
	OpBits       = 3
	FidBits      = 8
	TagBits      = 16
	StatusBits   = 8
	// IQ is the issue queue's capacity (§1: fixed).
	IQ = 2
)

// Params are the sizes of rob.md §1 for one configuration.
type Params struct {
	M  int // entries (rob.entries)
	MW int // entry index width: log2 M rounded up, at least 1
	K  int // max key bytes (key.max_key_bytes)
	KL int // bits to hold 0..K
	V  int // max value bytes (key.max_value_bytes)
	VL int // bits to hold 0..V
	IQ int // issue queue capacity
}

// ParamsOf derives §1's sizes from cfg.
func ParamsOf(cfg config.Config) Params {
	m, k, v := cfg.ROB.Entries, cfg.Key.MaxKeyBytes, cfg.Key.MaxValueBytes
	return Params{
		M: m, MW: max(1, bits.Len(uint(max(m, 1)-1))),
		K: k, KL: bits.Len(uint(k)), V: v, VL: bits.Len(uint(v)), IQ: IQ,
	}
}

// Ports returns the ports of kvd_rob for cfg, in the order of rob.md §2's
// table, grouped rows expanded in the order written. iss_* are qualified
// by iss_valid, e_* by e_valid.
func Ports(cfg config.Config) []model.Port {
	p := ParamsOf(cfg)
	kl, vl := max(p.KL, 1), max(p.VL, 1)
	in := func(name string, w int) model.Port { return model.Port{Name: name, Dir: model.In, Width: w} }
	out := func(name string, w int, q string) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	return []model.Port{
		in("d_valid", 1), out("d_ready", 1, ""),
		in("d_kind", KindBits), in("d_seq", SeqBits), in("d_last", 1), in("d_trailing", 1),
		in("d_status", DStatusBits), in("d_received", ReceivedBits),
		in("d_op", OpBits), in("d_fid", FidBits), in("d_klen", kl), in("d_key", 8*p.K),
		in("d_vlen", vl), in("d_value", 8*p.V),
		out("iss_valid", 1, ""), in("iss_ready", 1),
		out("iss_tag", TagBits, "iss_valid"),
		out("iss_op", OpBits, "iss_valid"), out("iss_fid", FidBits, "iss_valid"),
		out("iss_klen", kl, "iss_valid"), out("iss_key", 8*p.K, "iss_valid"),
		out("iss_vlen", vl, "iss_valid"), out("iss_value", 8*p.V, "iss_valid"),
		in("cpl_valid", 1), in("cpl_tag", TagBits), in("cpl_status", StatusBits),
		in("cpl_vlen", vl), in("cpl_value", 8*p.V),
		out("e_valid", 1, ""), in("e_ready", 1),
		out("e_kind", KindBits, "e_valid"), out("e_seq", SeqBits, "e_valid"),
		out("e_last", 1, "e_valid"), out("e_trailing", 1, "e_valid"),
		out("e_status", StatusBits, "e_valid"), out("e_received", ReceivedBits, "e_valid"),
		out("e_vlen", vl, "e_valid"), out("e_value", 8*p.V, "e_valid"),
	}
}

// rec is the part of an entry (and of the e_* register) that is not the
// value: §3's kind, seq, last, trailing, status, received, vlen.
type rec struct {
	kind           int
	seq            uint32
	last, trailing bool
	status         int
	received       int
	vlen           int
}

// op is one issue-queue slot: the decoder's operation fields and its tag.
type op struct {
	op, fid, klen, vlen int
	key, value          []uint64
	tag                 int
}

func (o op) clone() op {
	c := o
	c.key = append([]uint64(nil), o.key...)
	c.value = append([]uint64(nil), o.value...)
	return c
}

// state is the buffer between two clock edges (§3).
type state struct {
	head, tail, count int
	done              []bool
	ent               []rec
	val               []uint64 // M values of vw words each, bytes ≥ vlen zero
	iq                [IQ]op
	iqn               int
	eValid            bool
	e                 rec
	eValue            []uint64

	// out is not a register of §3: the model uses it only to refuse
	// completions §2's assumptions rule out. out[i]: entry i's operation
	// was taken by the pipeline and has not completed yet.
	out []bool
}

func (s state) clone() state {
	c := s
	c.done = append([]bool(nil), s.done...)
	c.ent = append([]rec(nil), s.ent...)
	c.val = append([]uint64(nil), s.val...)
	for i := range s.iq {
		c.iq[i] = s.iq[i].clone()
	}
	c.eValue = append([]uint64(nil), s.eValue...)
	c.out = append([]bool(nil), s.out...)
	return c
}

// Model is the cycle-accurate golden model of kvd_rob.
type Model struct {
	P     Params
	ports []model.Port

	dValid, dReady, dKind, dSeq, dLast, dTrailing, dStatus, dReceived int
	dOp, dFid, dKlen, dKey, dVlen, dValue                             int
	issValid, issReady, issTag, issOp, issFid, issKlen, issKey        int
	issVlen, issValue                                                 int
	cplValid, cplTag, cplStatus, cplVlen, cplValue                    int
	eValid, eReady, eKind, eSeq, eLast, eTrailing, eStatus            int
	eReceived, eVlen, eValue                                          int

	kw, vw         int    // words of a key, of a value
	kTop, vTop     uint64 // masks of the top word of a key, of a value
	klMask, vlMask uint64

	s state
}

// New builds the model for cfg in its reset state.
func New(cfg config.Config) (*Model, error) {
	p := ParamsOf(cfg)
	switch {
	case p.M < 1 || p.M > 1<<TagBits:
		return nil, fmt.Errorf("rob.entries = %d: the reorder buffer needs 1 <= M <= %d (its entry index is the 16-bit tag, rob.md §2)", p.M, 1<<TagBits)
	case p.K < 1:
		return nil, fmt.Errorf("key.max_key_bytes = %d: must be at least 1", p.K)
	case p.V < 1:
		return nil, fmt.Errorf("key.max_value_bytes = %d: must be at least 1", p.V)
	}
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("rob: %v", err)
	}
	m := &Model{P: p, ports: ports}
	for _, s := range []struct {
		name string
		off  *int
	}{
		{"d_valid", &m.dValid}, {"d_ready", &m.dReady}, {"d_kind", &m.dKind}, {"d_seq", &m.dSeq},
		{"d_last", &m.dLast}, {"d_trailing", &m.dTrailing}, {"d_status", &m.dStatus},
		{"d_received", &m.dReceived}, {"d_op", &m.dOp}, {"d_fid", &m.dFid}, {"d_klen", &m.dKlen},
		{"d_key", &m.dKey}, {"d_vlen", &m.dVlen}, {"d_value", &m.dValue},
		{"iss_valid", &m.issValid}, {"iss_ready", &m.issReady}, {"iss_tag", &m.issTag},
		{"iss_op", &m.issOp}, {"iss_fid", &m.issFid}, {"iss_klen", &m.issKlen}, {"iss_key", &m.issKey},
		{"iss_vlen", &m.issVlen}, {"iss_value", &m.issValue},
		{"cpl_valid", &m.cplValid}, {"cpl_tag", &m.cplTag}, {"cpl_status", &m.cplStatus},
		{"cpl_vlen", &m.cplVlen}, {"cpl_value", &m.cplValue},
		{"e_valid", &m.eValid}, {"e_ready", &m.eReady}, {"e_kind", &m.eKind}, {"e_seq", &m.eSeq},
		{"e_last", &m.eLast}, {"e_trailing", &m.eTrailing}, {"e_status", &m.eStatus},
		{"e_received", &m.eReceived}, {"e_vlen", &m.eVlen}, {"e_value", &m.eValue},
	} {
		*s.off = lay.MustSlot(s.name).Off
	}
	m.kw, m.vw = model.Words(8*p.K), model.Words(8*p.V)
	m.kTop, m.vTop = topMask(8*p.K), topMask(8*p.V)
	m.klMask, m.vlMask = model.Mask(max(p.KL, 1)), model.Mask(max(p.VL, 1))
	s := &m.s
	// Data registers are not reset (microarch.md §1.1); they start at zero
	// here, as a simulator's do.
	s.done = make([]bool, p.M)
	s.ent = make([]rec, p.M)
	s.val = make([]uint64, p.M*m.vw)
	for i := range s.iq {
		s.iq[i].key = make([]uint64, m.kw)
		s.iq[i].value = make([]uint64, m.vw)
	}
	s.eValue = make([]uint64, m.vw)
	s.out = make([]bool, p.M)
	m.Reset()
	return m, nil
}

// topMask is the mask of the bits of a w-bit value's last word.
func topMask(w int) uint64 {
	if w%64 == 0 {
		return ^uint64(0)
	}
	return model.Mask(w % 64)
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset sets the control registers to §3's reset column (head, tail,
// count, every done bit, iqn, e_valid); the entries' records and values,
// the issue queue's slots and e_* keep theirs (microarch.md §1.1).
func (m *Model) Reset() {
	s := &m.s
	s.head, s.tail, s.count = 0, 0, 0
	clear(s.done)
	s.iqn = 0
	s.eValid = false
	clear(s.out)
}

// value returns entry i's value words.
func (m *Model) value(i int) []uint64 { return m.s.val[i*m.vw : (i+1)*m.vw] }

// Step implements model.Model (microarch.md §1.1): the outputs of this
// cycle from the state at its start, then the edge of rob.md §4.
func (m *Model) Step(in, out []uint64) error {
	s := &m.s
	p := m.P

	// Outputs, all functions of the state at the start of the cycle.
	dReady := s.count < p.M && s.iqn < IQ // §4.4
	out[m.dReady] = b2u(dReady)
	issValid := s.iqn > 0 // §4.3
	out[m.issValid] = b2u(issValid)
	issKey := out[m.issKey : m.issKey+m.kw]
	issValue := out[m.issValue : m.issValue+m.vw]
	if issValid {
		q := &s.iq[0]
		out[m.issTag] = uint64(q.tag)
		out[m.issOp] = uint64(q.op)
		out[m.issFid] = uint64(q.fid)
		out[m.issKlen] = uint64(q.klen)
		copy(issKey, q.key)
		out[m.issVlen] = uint64(q.vlen)
		copy(issValue, q.value)
	} else {
		// Qualified by iss_valid, so not compared; written as zeros.
		out[m.issTag], out[m.issOp], out[m.issFid], out[m.issKlen], out[m.issVlen] = 0, 0, 0, 0, 0
		clear(issKey)
		clear(issValue)
	}
	// e_* is a register: it is driven whatever e_valid says (qualified).
	out[m.eValid] = b2u(s.eValid)
	out[m.eKind] = uint64(s.e.kind)
	out[m.eSeq] = uint64(s.e.seq)
	out[m.eLast] = b2u(s.e.last)
	out[m.eTrailing] = b2u(s.e.trailing)
	out[m.eStatus] = uint64(s.e.status)
	out[m.eReceived] = uint64(s.e.received)
	out[m.eVlen] = uint64(s.e.vlen)
	copy(out[m.eValue:m.eValue+m.vw], s.eValue)

	// The edge. Refuse stimulus outside §2's assumptions before changing
	// anything.
	cpl := in[m.cplValid]&1 != 0
	if cpl {
		if err := m.checkCompletion(in); err != nil {
			return err
		}
	}
	eReady := in[m.eReady]&1 != 0
	efree := !s.eValid || eReady
	release := efree && s.count > 0 && s.done[s.head]
	take := issValid && in[m.issReady]&1 != 0
	accept := in[m.dValid]&1 != 0 && dReady

	// 2. Release, from entry head as it was at the start of the cycle:
	// step 1's completion cannot write it (checkCompletion: a done entry
	// has no operation outstanding), and step 4 writes tail ≠ head.
	if release {
		s.e = s.ent[s.head]
		copy(s.eValue, m.value(s.head))
		s.eValid = true
		s.done[s.head] = false
		s.head = (s.head + 1) % p.M
	} else if s.eValid && eReady {
		s.eValid = false
	}

	// 1. Completion.
	if cpl {
		tag := int(in[m.cplTag] & model.Mask(TagBits))
		vlen := int(in[m.cplVlen] & m.vlMask)
		e := &s.ent[tag]
		s.done[tag] = true
		s.out[tag] = false
		e.status = int(in[m.cplStatus] & model.Mask(StatusBits))
		e.vlen = vlen
		loadValue(m.value(tag), in[m.cplValue:m.cplValue+m.vw], vlen)
	}

	// 3. Issue: iq[0] leaves on a transfer; the pipeline owns it now.
	if take {
		s.out[s.iq[0].tag] = true
		s.iq[0], s.iq[1] = s.iq[1], s.iq[0]
		s.iqn--
	}

	// 4. Accept into entry tail.
	if accept {
		e := &s.ent[s.tail]
		e.kind = int(in[m.dKind] & model.Mask(KindBits))
		e.seq = uint32(in[m.dSeq])
		e.last = in[m.dLast]&1 != 0
		e.trailing = in[m.dTrailing]&1 != 0
		e.received = int(in[m.dReceived] & model.Mask(ReceivedBits))
		status := int(in[m.dStatus] & model.Mask(DStatusBits))
		if e.kind == KindOp && status == 0 {
			s.done[s.tail] = false
			q := &s.iq[s.iqn] // after step 3's removal; dReady made sure iqn < IQ
			q.op = int(in[m.dOp] & model.Mask(OpBits))
			q.fid = int(in[m.dFid] & model.Mask(FidBits))
			q.klen = int(in[m.dKlen] & m.klMask)
			copy(q.key, in[m.dKey:m.dKey+m.kw])
			q.key[m.kw-1] &= m.kTop
			q.vlen = int(in[m.dVlen] & m.vlMask)
			copy(q.value, in[m.dValue:m.dValue+m.vw])
			q.value[m.vw-1] &= m.vTop
			q.tag = s.tail
			s.iqn++
		} else {
			s.done[s.tail] = true
			e.status = status
			e.vlen = 0
			clear(m.value(s.tail))
		}
		s.tail = (s.tail + 1) % p.M
	}

	// 5. Count.
	if accept {
		s.count++
	}
	if release {
		s.count--
	}
	return nil
}

// loadValue copies the first vlen bytes of src into dst and zeroes the
// rest (§4.1: bytes ≥ cpl_vlen zero).
func loadValue(dst, src []uint64, vlen int) {
	full := vlen / 8
	copy(dst[:full], src[:full])
	if full < len(dst) {
		dst[full] = 0
		if r := vlen % 8; r != 0 {
			dst[full] = src[full] & model.Mask(8*r)
		}
		clear(dst[full+1:])
	}
}

// checkCompletion refuses a completion §2's assumptions rule out: one for
// a tag that is not an entry whose operation the pipeline took in an
// earlier cycle and has not completed yet (a tag ≥ M, an entry that is
// free, answered at once, still in the issue queue, taken this very cycle
// or completed already), and cpl_vlen > V.
func (m *Model) checkCompletion(in []uint64) error {
	s := &m.s
	tag := in[m.cplTag] & model.Mask(TagBits)
	vlen := in[m.cplVlen] & m.vlMask
	if tag >= uint64(m.P.M) {
		return fmt.Errorf("rob: completion for tag %d, but there are only M = %d entries (rob.md §2: only tags issued with iss_tag) (%s)", tag, m.P.M, m.DescribeState())
	}
	if !s.out[tag] {
		why := "the entry is free"
		switch {
		case s.count > 0 && (int(tag)-s.head+m.P.M)%m.P.M < s.count && s.done[tag]:
			why = "the entry holds its answer already (answered at once, or completed before)"
		case s.count > 0 && (int(tag)-s.head+m.P.M)%m.P.M < s.count:
			why = "its operation was not taken by the pipeline in an earlier cycle"
		}
		return fmt.Errorf("rob: completion for tag %d, which is not an outstanding issued operation: %s (rob.md §2: each issued operation completes exactly once, at least one cycle after it is taken) (%s)", tag, why, m.DescribeState())
	}
	if vlen > uint64(m.P.V) {
		return fmt.Errorf("rob: completion for tag %d with cpl_vlen = %d > V = %d, outside the contract (rob.md §2) (%s)", tag, vlen, m.P.V, m.DescribeState())
	}
	return nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

var kindNames = [...]string{"OP", "PKT_ERROR", "EMPTY", "kind3"}

func (r rec) String() string {
	return fmt.Sprintf("%s seq %#x last %d trailing %d status %d received %d vlen %d",
		kindNames[r.kind&3], r.seq, b2u(r.last), b2u(r.trailing), r.status, r.received, r.vlen)
}

// Occupancy is the number of entries in use (§3's count): records taken
// from the decoder and not yet sent to the encoder.
func (m *Model) Occupancy() int { return m.s.count }

// DescribeState describes the registers of §3, for divergence reports:
// the pointers, the done bits of the occupied entries (oldest first), the
// issue queue and the output register.
func (m *Model) DescribeState() string {
	s := &m.s
	var b strings.Builder
	fmt.Fprintf(&b, "head %d tail %d count %d done [", s.head, s.tail, s.count)
	const show = 64
	for i := 0; i < s.count && i < show; i++ {
		b.WriteByte("01"[b2u(s.done[(s.head+i)%m.P.M])])
	}
	if s.count > show {
		fmt.Fprintf(&b, "… %d more", s.count-show)
	}
	fmt.Fprintf(&b, "] iqn %d", s.iqn)
	for i := 0; i < s.iqn; i++ {
		q := &s.iq[i]
		fmt.Fprintf(&b, " iq[%d] (tag %d op %d fid %d klen %d vlen %d)", i, q.tag, q.op, q.fid, q.klen, q.vlen)
	}
	fmt.Fprintf(&b, " e_valid %d", b2u(s.eValid))
	if s.eValid {
		fmt.Fprintf(&b, " (%s)", s.e)
	}
	return b.String()
}

// Snapshot implements model.Model; the value is an independent copy,
// entries' values included.
func (m *Model) Snapshot() any { return m.s.clone() }

// Restore implements model.Model.
func (m *Model) Restore(snapshot any) {
	st, ok := snapshot.(state)
	if !ok {
		panic(fmt.Sprintf("rob: Restore of a %T, not a rob snapshot", snapshot))
	}
	m.s = st.clone()
}

var _ model.Model = (*Model)(nil)
