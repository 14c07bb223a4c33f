// Package encoder is the golden model of the response encoder kvd_enc
// (docs/microarch/encoder.md for the cycles and ports, docs/wire-format.md
// §2, §4.1 and §6 for what a response packet is), written from those
// documents only.
//
// The encoder takes one record per cycle at most into a holding register,
// places it into the packet being built in one of two packet buffers of MR
// bytes, closes a packet when its request ends (or when the next record
// does not fit) and sends closed packets as AXI-Stream beats of B bytes.
// The model follows §4 literally, register by register; wire.SplitResponse
// and wire.EncodeResponse, the transaction-level reference, are used by the
// tests only.
package encoder

import (
	"encoding/hex"
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Module is the name of the block this model describes.
const Module = "kvd_enc"

// Record kinds (e_kind, encoder.md §1: the decoder's).
const (
	KindOp       = 0
	KindPktError = 1
	KindEmpty    = 2
)

// Fixed sizes of the wire format (wire-format.md §2, §4.1, §6) and of the
// port table (encoder.md §2).
const (
	// MR is the largest response packet (wire-format.md §6).
	MR = 1472
	// HeaderBytes is the response header: magic, version, type, length,
	// count, seq, first.
	HeaderBytes = 14
	// RecordBytes is a record's fixed part: status u8, vlen u16.
	RecordBytes = 3
	// ErrorBytes is the whole error response (§4.1).
	ErrorBytes = HeaderBytes + 4

	Magic             = 0x564B
	Version           = 1
	TypeResponse      = 0x01
	TypeErrorResponse = 0x02
	TypeTrailing      = 0x80

	KindBits     = 2
	SeqBits      = 32
	StatusBits   = 8
	ReceivedBits = 16
	// MaxRecords is what a request can hold (the 16-bit count of
	// wire-format.md §2), so what the 16-bit first field can index.
	MaxRecords = 0xFFFF
)

// Params are the sizes of encoder.md §1 for one configuration.
type Params struct {
	B  int // bytes per beat (net.bytes_per_cycle)
	V  int // max value bytes (key.max_value_bytes)
	VL int // bits to hold 0..V
	MR int // largest response packet
	PB int // packet buffer bytes: MR
}

// ParamsOf derives §1's sizes from cfg.
func ParamsOf(cfg config.Config) Params {
	v := cfg.Key.MaxValueBytes
	return Params{B: cfg.Net.BytesPerCycle, V: v, VL: bits.Len(uint(v)), MR: MR, PB: MR}
}

// Ports returns the ports of kvd_enc for cfg, in the order of encoder.md
// §2. tx_data, tx_keep and tx_last are qualified by tx_valid.
func Ports(cfg config.Config) []model.Port {
	p := ParamsOf(cfg)
	return []model.Port{
		{Name: "e_valid", Dir: model.In, Width: 1},
		{Name: "e_ready", Dir: model.Out, Width: 1},
		{Name: "e_kind", Dir: model.In, Width: KindBits},
		{Name: "e_seq", Dir: model.In, Width: SeqBits},
		{Name: "e_last", Dir: model.In, Width: 1},
		{Name: "e_trailing", Dir: model.In, Width: 1},
		{Name: "e_status", Dir: model.In, Width: StatusBits},
		{Name: "e_received", Dir: model.In, Width: ReceivedBits},
		{Name: "e_vlen", Dir: model.In, Width: max(p.VL, 1)},
		{Name: "e_value", Dir: model.In, Width: 8 * p.V},
		{Name: "tx_valid", Dir: model.Out, Width: 1},
		{Name: "tx_ready", Dir: model.In, Width: 1},
		{Name: "tx_data", Dir: model.Out, Width: 8 * p.B, QualifiedBy: "tx_valid"},
		{Name: "tx_keep", Dir: model.Out, Width: p.B, QualifiedBy: "tx_valid"},
		{Name: "tx_last", Dir: model.Out, Width: 1, QualifiedBy: "tx_valid"},
	}
}

// hold is the holding register h_* (§3). value holds the record's vlen
// bytes (the bytes of e_value at and above e_vlen are ignored, §2).
type hold struct {
	kind           int
	seq            uint32
	last, trailing bool
	status         int
	received       int
	vlen           int
	value          []byte
}

// state is the encoder between two clock edges (§3).
type state struct {
	hValid bool
	h      hold
	buf    [2][]byte // PB bytes each
	full   [2]bool
	plen   [2]int
	acc    int
	cnt    int
	len    int
	first  int
	seq    uint32
	ridx   int
	snd    int
	sbeat  int

	// inReq, reqSeq and reqN are not registers of §3: the model uses them
	// only to refuse stimulus that breaks §2's assumptions on the
	// environment. inReq: an OP record without e_last was taken, so the
	// request goes on; reqSeq its seq; reqN its records taken so far.
	inReq  bool
	reqSeq uint32
	reqN   int
}

func (s state) clone() state {
	c := s
	c.h.value = append([]byte(nil), s.h.value...)
	for i := range s.buf {
		c.buf[i] = append([]byte(nil), s.buf[i]...)
	}
	return c
}

// Model is the cycle-accurate golden model of kvd_enc.
type Model struct {
	P     Params
	ports []model.Port

	eValid, eReady, eKind, eSeq, eLast, eTrailing int
	eStatus, eReceived, eVlen, eValue             int
	txValid, txReady, txData, txKeep, txLast      int
	valueWords, dataWords, keepWords              int

	s state
}

// New builds the model for cfg in its reset state. It refuses the sizes
// encoder.md §1 refuses.
func New(cfg config.Config) (*Model, error) {
	p := ParamsOf(cfg)
	switch {
	case p.V < 1:
		return nil, fmt.Errorf("key.max_value_bytes = %d: must be at least 1", p.V)
	case HeaderBytes+RecordBytes+p.V > p.MR:
		return nil, fmt.Errorf("key.max_value_bytes = %d: the encoder needs %d + %d + V <= MR = %d, so V <= %d (a record with the largest value must fit one response packet, encoder.md §1)",
			p.V, HeaderBytes, RecordBytes, p.MR, p.MR-HeaderBytes-RecordBytes)
	case p.B < 1:
		return nil, fmt.Errorf("net.bytes_per_cycle = %d: must be at least 1", p.B)
	}
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("encoder: %v", err)
	}
	m := &Model{P: p, ports: ports}
	for _, s := range []struct {
		name string
		off  *int
	}{
		{"e_valid", &m.eValid}, {"e_ready", &m.eReady}, {"e_kind", &m.eKind}, {"e_seq", &m.eSeq},
		{"e_last", &m.eLast}, {"e_trailing", &m.eTrailing}, {"e_status", &m.eStatus},
		{"e_received", &m.eReceived}, {"e_vlen", &m.eVlen}, {"e_value", &m.eValue},
		{"tx_valid", &m.txValid}, {"tx_ready", &m.txReady}, {"tx_data", &m.txData},
		{"tx_keep", &m.txKeep}, {"tx_last", &m.txLast},
	} {
		*s.off = lay.MustSlot(s.name).Off
	}
	m.valueWords = model.Words(8 * p.V)
	m.dataWords, m.keepWords = model.Words(8*p.B), model.Words(p.B)
	for i := range m.s.buf {
		m.s.buf[i] = make([]byte, p.PB)
	}
	m.s.h.value = make([]byte, 0, p.V)
	m.Reset()
	return m, nil
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset sets the control registers to §3's reset column (h_valid, full,
// acc, cnt, len, ridx, snd, sbeat); the buffers, plen, first, seq and h_*
// keep their values (microarch.md §1.1).
func (m *Model) Reset() {
	s := &m.s
	s.hValid = false
	s.full = [2]bool{}
	s.acc = 0
	s.cnt, s.len = 0, HeaderBytes
	s.ridx = 0
	s.snd, s.sbeat = 0, 0
	s.inReq, s.reqN = false, 0
}

// Placer actions (§4.2), decided on the state at the start of a cycle.
const (
	actNone  = iota // no held record, or buf[acc] is full
	actError        // 1: PKT_ERROR, placed
	actEmpty        // 2: EMPTY, placed
	actSplit        // 3: close, not placed
	actPlace        // 4: OP placed (and closed if h_last)
)

// action is §4.2's choice, a function of the state only.
func (m *Model) action() int {
	s := &m.s
	if !s.hValid || s.full[s.acc] {
		return actNone
	}
	switch s.h.kind {
	case KindPktError:
		return actError
	case KindEmpty:
		return actEmpty
	}
	if s.cnt >= 1 && s.len+RecordBytes+s.h.vlen > m.P.MR {
		return actSplit
	}
	return actPlace
}

// Outputs writes the outputs of the cycle — what Step writes — from the
// state alone, without advancing it (every output depends on the state
// only, §2). A composition reads them before it knows the inputs.
func (m *Model) Outputs(out []uint64) { m.outputs(out) }

// outputs writes the outputs of the cycle: e_ready (§4.3) from the
// placer's decision, the beat (§4.1). It returns that decision, e_ready,
// tx_valid and tx_last.
func (m *Model) outputs(out []uint64) (act int, eReady, txValid, txLast bool) {
	s := &m.s
	p := m.P
	act = m.action()
	placed := act == actError || act == actEmpty || act == actPlace
	eReady = !s.hValid || placed
	out[m.eReady] = b2u(eReady)
	txValid = s.full[s.snd]
	out[m.txValid] = b2u(txValid)
	data := out[m.txData : m.txData+m.dataWords]
	keep := out[m.txKeep : m.txKeep+m.keepWords]
	clear(data)
	clear(keep)
	if txValid {
		lo := p.B * s.sbeat
		n := min(p.B, s.plen[s.snd]-lo)
		for j, x := range s.buf[s.snd][lo : lo+n] {
			data[j/8] |= uint64(x) << (8 * (j % 8))
		}
		for j := 0; j < n; j++ {
			keep[j/64] |= 1 << (j % 64)
		}
		txLast = p.B*(s.sbeat+1) >= s.plen[s.snd]
	}
	// Not compared when tx_valid is 0 (qualified); written as zeros.
	out[m.txLast] = b2u(txLast)
	return act, eReady, txValid, txLast
}

// Step implements model.Model (microarch.md §1.1): the outputs of this
// cycle from the state at its start, then the edge of §4.
func (m *Model) Step(in, out []uint64) error {
	s := &m.s

	// Outputs. e_ready (§4.3) from the placer's decision; the beat (§4.1).
	act, eReady, txValid, txLast := m.outputs(out)
	placed := act == actError || act == actEmpty || act == actPlace

	// The edge. Refuse stimulus outside the contract before changing
	// anything.
	eXfer := in[m.eValid]&1 != 0 && eReady
	if eXfer {
		if err := m.checkRecord(in); err != nil {
			return err
		}
	}

	// Sender (§4.1). The placer decided on full[] at the start of the
	// cycle (act), so clearing full[snd] here does not let it act early.
	if txValid && in[m.txReady]&1 != 0 {
		if txLast {
			s.full[s.snd] = false
			s.snd = 1 - s.snd
			s.sbeat = 0
		} else {
			s.sbeat++
		}
	}

	// Placer (§4.2).
	switch act {
	case actError:
		b := s.buf[s.acc]
		m.header(b, TypeErrorResponse, ErrorBytes, 0, s.h.seq, 0)
		b[14] = byte(s.h.status)
		b[15] = 0
		put16(b[16:], s.h.received)
		s.plen[s.acc] = ErrorBytes
		s.full[s.acc] = true
		s.acc = 1 - s.acc
	case actEmpty:
		s.seq, s.first = s.h.seq, 0
		m.close(TypeResponse | trailingBit(s.h.trailing))
	case actSplit:
		m.close(TypeResponse)
	case actPlace:
		if s.cnt == 0 {
			s.first = s.ridx
			s.seq = s.h.seq
		}
		b := s.buf[s.acc]
		b[s.len] = byte(s.h.status)
		put16(b[s.len+1:], s.h.vlen)
		copy(b[s.len+RecordBytes:], s.h.value)
		s.cnt++
		s.len += RecordBytes + s.h.vlen
		s.ridx++
		if s.h.last {
			m.close(TypeResponse | trailingBit(s.h.trailing))
			s.ridx = 0
		}
	}

	// Intake (§4.3).
	if eXfer {
		m.load(in)
		s.hValid = true
	} else if placed {
		s.hValid = false
	}
	return nil
}

// close is §4.2's "close with type t": the header into bytes 0–13 of
// buf[acc], and the buffer waits to be sent.
func (m *Model) close(typ int) {
	s := &m.s
	m.header(s.buf[s.acc], typ, s.len, s.cnt, s.seq, s.first)
	s.plen[s.acc] = s.len
	s.full[s.acc] = true
	s.acc = 1 - s.acc
	s.cnt, s.len = 0, HeaderBytes
}

// header writes the 14-byte response header (wire-format.md §2), every
// field little-endian.
func (m *Model) header(b []byte, typ, length, count int, seq uint32, first int) {
	put16(b[0:], Magic)
	b[2] = Version
	b[3] = byte(typ)
	put16(b[4:], length)
	put16(b[6:], count)
	b[8], b[9], b[10], b[11] = byte(seq), byte(seq>>8), byte(seq>>16), byte(seq>>24)
	put16(b[12:], first)
}

// checkRecord refuses a taken record that breaks §2's assumptions on the
// environment: a known kind, e_last on PKT_ERROR and EMPTY, which are the
// whole of their request, e_vlen ≤ V on OP, one seq per request, and at
// most 65535 records per request (wire-format.md §2's count).
func (m *Model) checkRecord(in []uint64) error {
	s := &m.s
	kind := int(in[m.eKind] & model.Mask(KindBits))
	seq := uint32(in[m.eSeq])
	last := in[m.eLast]&1 != 0
	switch kind {
	case KindOp:
		vlen := int(in[m.eVlen] & model.Mask(m.P.VL))
		if vlen > m.P.V {
			return fmt.Errorf("encoder: OP record taken with e_vlen = %d > V = %d, outside the contract (encoder.md §2) (%s)", vlen, m.P.V, m.DescribeState())
		}
		if s.inReq && seq != s.reqSeq {
			return fmt.Errorf("encoder: OP record %d of a request taken with e_seq %#x, the request's is %#x: records of a request carry its seq (encoder.md §2) (%s)", s.reqN, seq, s.reqSeq, m.DescribeState())
		}
		n := 1
		if s.inReq {
			n = s.reqN + 1
		}
		if n > MaxRecords {
			return fmt.Errorf("encoder: record %d of a request: a request holds at most %d (wire-format.md §2's count) (%s)", n-1, MaxRecords, m.DescribeState())
		}
		s.inReq, s.reqSeq, s.reqN = !last, seq, n
		if last {
			s.reqN = 0
		}
	case KindPktError, KindEmpty:
		name := [...]string{KindPktError: "PKT_ERROR", KindEmpty: "EMPTY"}[kind]
		if !last {
			return fmt.Errorf("encoder: %s record taken without e_last (encoder.md §2: always 1 on PKT_ERROR and EMPTY) (%s)", name, m.DescribeState())
		}
		if s.inReq {
			return fmt.Errorf("encoder: %s record taken after %d records of a request without e_last (encoder.md §2: a PKT_ERROR or EMPTY record is the whole of its request) (%s)", name, s.reqN, m.DescribeState())
		}
	default:
		return fmt.Errorf("encoder: record taken with e_kind = %d (encoder.md §1: 0 OP, 1 PKT_ERROR, 2 EMPTY) (%s)", kind, m.DescribeState())
	}
	return nil
}

// load takes the record on the e_* inputs into the holding register.
func (m *Model) load(in []uint64) {
	h := &m.s.h
	h.kind = int(in[m.eKind] & model.Mask(KindBits))
	h.seq = uint32(in[m.eSeq])
	h.last = in[m.eLast]&1 != 0
	h.trailing = in[m.eTrailing]&1 != 0
	h.status = int(in[m.eStatus] & model.Mask(StatusBits))
	h.received = int(in[m.eReceived] & model.Mask(ReceivedBits))
	h.vlen = 0
	h.value = h.value[:0]
	if h.kind == KindOp {
		// checkRecord made sure vlen ≤ V.
		h.vlen = int(in[m.eVlen] & model.Mask(m.P.VL))
		for i := 0; i < h.vlen; i++ {
			h.value = append(h.value, byte(in[m.eValue+i/8]>>(8*(i%8))))
		}
	}
}

func put16(b []byte, v int) { b[0], b[1] = byte(v), byte(v>>8) }

func trailingBit(t bool) int {
	if t {
		return TypeTrailing
	}
	return 0
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

var kindNames = [...]string{"OP", "PKT_ERROR", "EMPTY", "kind3"}

// DescribeState describes the registers of §3, for divergence reports.
func (m *Model) DescribeState() string {
	s := &m.s
	str := fmt.Sprintf("h_valid %d", b2u(s.hValid))
	if s.hValid {
		h := &s.h
		str += fmt.Sprintf(" (%s seq %#x last %d trailing %d status %d received %d vlen %d)",
			kindNames[h.kind&3], h.seq, b2u(h.last), b2u(h.trailing), h.status, h.received, h.vlen)
	}
	str += fmt.Sprintf(" acc %d cnt %d len %d first %d seq %#x ridx %d full [%d %d] plen [%d %d] snd %d sbeat %d",
		s.acc, s.cnt, s.len, s.first, s.seq, s.ridx, b2u(s.full[0]), b2u(s.full[1]), s.plen[0], s.plen[1], s.snd, s.sbeat)
	if s.full[s.snd] {
		head := s.buf[s.snd][:min(s.plen[s.snd], HeaderBytes)]
		str += fmt.Sprintf(" buf[snd][0:%d] %s", len(head), hex.EncodeToString(head))
	}
	return str
}

// Snapshot implements model.Model; the value is an independent copy,
// both packet buffers included.
func (m *Model) Snapshot() any { return m.s.clone() }

// Restore implements model.Model.
func (m *Model) Restore(snapshot any) {
	st, ok := snapshot.(state)
	if !ok {
		panic(fmt.Sprintf("encoder: Restore of a %T, not an encoder snapshot", snapshot))
	}
	m.s = st.clone()
}

var _ model.Model = (*Model)(nil)
