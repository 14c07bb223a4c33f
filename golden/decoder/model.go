// Package decoder is the golden model of the packet decoder kvd_dec
// (docs/microarch/decoder.md for the cycles and ports, docs/wire-format.md
// for what a frame means), written from those documents only.
//
// The decoder takes request frames as AXI-Stream beats of B bytes into a
// byte window of WB bytes and answers each frame with records: one
// PKT_ERROR, one EMPTY, or one OP record per declared operation, at most
// one record per cycle. The model follows §4 literally, register by
// register; wire.DecodeRequest, the transaction-level reference, is used by
// the tests only.
package decoder

import (
	"encoding/hex"
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Module is the name of the block this model describes.
const Module = "kvd_dec"

// Record kinds (d_kind, decoder.md §1).
const (
	KindOp       = 0
	KindPktError = 1
	KindEmpty    = 2
)

// Operation statuses the decoder answers (d_status on OP records,
// wire-format.md §5).
const (
	StatusIssue         = 0
	StatusEmptyKey      = 2
	StatusKeyTooLong    = 3
	StatusValueTooLong  = 4
	StatusBadOp         = 7
	StatusTruncated     = 16
	StatusUnknownOpcode = 17
	StatusLengthPastEnd = 18
)

// Packet-level error codes (d_status on PKT_ERROR records, wire-format.md
// §4.1).
const (
	ErrShort          = 1
	ErrBadMagic       = 2
	ErrBadVersion     = 3
	ErrBadType        = 4
	ErrLengthMismatch = 5
	ErrFirstOpFlags   = 6
)

// Fixed sizes of the wire format and the port table (decoder.md §2).
const (
	HeaderBytes = 12     // request header (wire-format.md §2)
	Magic       = 0x564B // header bytes 0–1, little-endian
	Version     = 1
	TypeRequest = 0x00
	SameSizes   = 0x40 // op byte bit 6
	SameValue   = 0x80 // op byte bit 7
	OpcodeMask  = 0x3f
	ScalarBytes = 8
	// MinV is the smallest key.max_value_bytes the decoder accepts (§1):
	// three scalars, so that a long operation always has a fault (§4.5).
	MinV = 3 * ScalarBytes

	KindBits     = 2
	SeqBits      = 32
	IndexBits    = 16
	StatusBits   = 5
	ReceivedBits = 16
	LenBits      = 16 // rx_len
	OpBits       = 3
	FidBits      = 8
	// SkipMax is the largest skip (§3: 17 bits): a 255-byte key and a
	// 65535-byte value.
	SkipMax = 255 + 0xFFFF
)

// Params are the sizes of decoder.md §1 for one configuration.
type Params struct {
	B  int // bytes per beat (net.bytes_per_cycle)
	K  int // max key bytes
	KL int // bits to hold 0..K
	V  int // max value bytes
	VL int // bits to hold 0..V
	EB int // vector element bytes
	WB int // window bytes: 5 + 255 + V + B
}

// ParamsOf derives §1's sizes from cfg.
func ParamsOf(cfg config.Config) Params {
	b, k, v := cfg.Net.BytesPerCycle, cfg.Key.MaxKeyBytes, cfg.Key.MaxValueBytes
	return Params{
		B: b, K: k, KL: bits.Len(uint(k)), V: v, VL: bits.Len(uint(v)),
		EB: cfg.Vector.ElementBits / 8, WB: 5 + 255 + v + b,
	}
}

// Ports returns the ports of kvd_dec for cfg, in the order of decoder.md
// §2. Every d_* but d_valid is qualified by d_valid.
func Ports(cfg config.Config) []model.Port {
	p := ParamsOf(cfg)
	q := func(name string, w int) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: "d_valid"}
	}
	return []model.Port{
		{Name: "rx_valid", Dir: model.In, Width: 1},
		{Name: "rx_ready", Dir: model.Out, Width: 1},
		{Name: "rx_data", Dir: model.In, Width: 8 * p.B},
		{Name: "rx_keep", Dir: model.In, Width: p.B},
		{Name: "rx_last", Dir: model.In, Width: 1},
		{Name: "rx_len", Dir: model.In, Width: LenBits},
		{Name: "d_valid", Dir: model.Out, Width: 1},
		{Name: "d_ready", Dir: model.In, Width: 1},
		q("d_kind", KindBits),
		q("d_seq", SeqBits),
		q("d_index", IndexBits),
		q("d_last", 1),
		q("d_trailing", 1),
		q("d_status", StatusBits),
		q("d_received", ReceivedBits),
		q("d_op", OpBits),
		q("d_fid", FidBits),
		q("d_klen", p.KL),
		q("d_key", 8*p.K),
		q("d_vlen", p.VL),
		q("d_value", 8*p.V),
	}
}

// Decoder states (st, §3).
const (
	stHDR = iota
	stOPS
	stDROP
)

var stNames = [...]string{"HDR", "OPS", "DROP"}

// record is the d_* output register. key and value are the d_key and
// d_value port words, packed when the record is loaded.
type record struct {
	kind, index, status, received int
	seq                           uint32
	last, trailing                bool
	op, fid, klen, vlen           int
	key, value                    []uint64
}

// state is the decoder between two clock edges (§3).
type state struct {
	st int
	// win is the window: len(win) is wcnt, cap(win) is WB.
	win        []byte
	infr, gotl bool
	L, pos     int
	seq        uint32
	count, idx int
	lost       bool
	skip       int
	pk, pv     int
	pval       []byte // V bytes, zero past pv
	dValid     bool
	d          record
	// got counts the frame's bytes taken so far. It is not a register of
	// §3: the model uses it only to refuse stimulus that breaks §2's
	// assumptions on the environment.
	got int
}

func (s state) clone(wb int) state {
	c := s
	c.win = append(make([]byte, 0, wb), s.win...)
	c.pval = append([]byte(nil), s.pval...)
	c.d.key = append([]uint64(nil), s.d.key...)
	c.d.value = append([]uint64(nil), s.d.value...)
	return c
}

// Model is the cycle-accurate golden model of kvd_dec.
type Model struct {
	P     Params
	ports []model.Port

	rxValid, rxReady, rxData, rxKeep, rxLast, rxLen int
	dValid, dReady, dKind, dSeq, dIndex, dLast      int
	dTrailing, dStatus, dReceived, dOp, dFid, dKlen int
	dKey, dVlen, dValue                             int
	dataWords, keepWords, keyWords, valueWords      int

	s state
}

// New builds the model for cfg in its reset state. It refuses the sizes
// decoder.md §1 refuses.
func New(cfg config.Config) (*Model, error) {
	p := ParamsOf(cfg)
	switch {
	case p.V < MinV:
		return nil, fmt.Errorf("key.max_value_bytes = %d: the decoder needs at least %d (three scalars, decoder.md §1, wire-format.md §3.2)", p.V, MinV)
	case p.V > 0xFFFF:
		return nil, fmt.Errorf("key.max_value_bytes = %d: the vlen field holds at most %d", p.V, 0xFFFF)
	case p.K < 1 || p.K > 255:
		return nil, fmt.Errorf("key.max_key_bytes = %d: the klen field holds 1..255", p.K)
	case p.B < 1:
		return nil, fmt.Errorf("net.bytes_per_cycle = %d: must be at least 1", p.B)
	case p.EB != 1 && p.EB != 2 && p.EB != 4 && p.EB != 8:
		return nil, fmt.Errorf("vector.element_bits = %d: must be 8, 16, 32 or 64", cfg.Vector.ElementBits)
	}
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("decoder: %v", err)
	}
	m := &Model{P: p, ports: ports}
	for _, s := range []struct {
		name string
		off  *int
	}{
		{"rx_valid", &m.rxValid}, {"rx_ready", &m.rxReady}, {"rx_data", &m.rxData}, {"rx_keep", &m.rxKeep},
		{"rx_last", &m.rxLast}, {"rx_len", &m.rxLen}, {"d_valid", &m.dValid}, {"d_ready", &m.dReady},
		{"d_kind", &m.dKind}, {"d_seq", &m.dSeq}, {"d_index", &m.dIndex}, {"d_last", &m.dLast},
		{"d_trailing", &m.dTrailing}, {"d_status", &m.dStatus}, {"d_received", &m.dReceived},
		{"d_op", &m.dOp}, {"d_fid", &m.dFid}, {"d_klen", &m.dKlen}, {"d_key", &m.dKey},
		{"d_vlen", &m.dVlen}, {"d_value", &m.dValue},
	} {
		*s.off = lay.MustSlot(s.name).Off
	}
	m.dataWords, m.keepWords = model.Words(8*p.B), model.Words(p.B)
	m.keyWords, m.valueWords = model.Words(8*p.K), model.Words(8*p.V)
	m.s.win = make([]byte, 0, p.WB)
	m.s.pval = make([]byte, p.V)
	m.s.d.key = make([]uint64, m.keyWords)
	m.s.d.value = make([]uint64, m.valueWords)
	m.Reset()
	return m, nil
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset clears the control registers of §3 (st, wcnt, infr, gotl,
// d_valid); data registers keep their values (microarch.md §1.1).
func (m *Model) Reset() {
	s := &m.s
	s.st = stHDR
	s.win = s.win[:0]
	s.infr, s.gotl = false, false
	s.dValid = false
	s.got = 0
}

// rxReadyNow is §4.2's rx_ready: a function of the state only.
func (m *Model) rxReadyNow() bool {
	s := &m.s
	if s.st == stDROP {
		return !s.gotl
	}
	return !s.gotl && len(s.win) <= m.P.WB-m.P.B
}

// Outputs writes the outputs of the cycle — what Step writes — from the
// state alone, without advancing it (every output depends on the state
// only, §2). A composition reads them before it knows the inputs.
func (m *Model) Outputs(out []uint64) { m.outputs(out) }

// outputs writes the outputs of the cycle (§4.1, §4.2) and returns
// rx_ready.
func (m *Model) outputs(out []uint64) bool {
	s := &m.s
	rxReady := m.rxReadyNow()
	out[m.rxReady] = b2u(rxReady)
	out[m.dValid] = b2u(s.dValid)
	d := &s.d
	out[m.dKind] = uint64(d.kind)
	out[m.dSeq] = uint64(d.seq)
	out[m.dIndex] = uint64(d.index)
	out[m.dLast] = b2u(d.last)
	out[m.dTrailing] = b2u(d.trailing)
	out[m.dStatus] = uint64(d.status)
	out[m.dReceived] = uint64(d.received)
	out[m.dOp] = uint64(d.op)
	out[m.dFid] = uint64(d.fid)
	out[m.dKlen] = uint64(d.klen)
	copy(out[m.dKey:m.dKey+m.keyWords], d.key)
	out[m.dVlen] = uint64(d.vlen)
	copy(out[m.dValue:m.dValue+m.valueWords], d.value)
	return rxReady
}

// Step implements model.Model (microarch.md §1.1): the outputs of this
// cycle from the state at its start, then the edge of §4.
func (m *Model) Step(in, out []uint64) error {
	s := &m.s
	p := m.P

	// Outputs (§4.1, §4.2): rx_ready from the state, d_* the register.
	rxReady := m.outputs(out)

	// The edge. Everything below decides on the state at the start of the
	// cycle; stStart and infrStart keep what the step may change.
	stStart, infrStart := s.st, s.infr
	transfer := in[m.rxValid]&1 != 0 && rxReady
	var n int
	var last bool
	var rxLen int
	if transfer {
		var err error
		if n, last, rxLen, err = m.checkBeat(in); err != nil {
			return err
		}
	}
	free := !s.dValid || in[m.dReady]&1 != 0
	taken := s.dValid && in[m.dReady]&1 != 0

	emitted, c, toDrop := false, 0, false
	var err error
	switch s.st {
	case stHDR:
		if free && s.infr && len(s.win) >= min(s.L, HeaderBytes+1) {
			emitted, c, toDrop = m.hdrStep()
		}
	case stOPS:
		if free {
			if emitted, c, toDrop, err = m.opsStep(); err != nil {
				return err
			}
		}
	case stDROP:
		// §4.6 (not a step of §4.3/§4.4: it does not wait for free).
		if s.gotl {
			s.st = stHDR
			s.infr, s.gotl = false, false
		}
	}
	if emitted {
		s.dValid = true
	} else if taken {
		s.dValid = false
	}

	// Intake (§4.2): consume c, then append the beat's marked bytes.
	if c > len(s.win) {
		return fmt.Errorf("decoder: a step consumed %d bytes of a %d-byte window (%s)", c, len(s.win), m.DescribeState())
	}
	if c > 0 {
		copy(s.win, s.win[c:])
		s.win = s.win[:len(s.win)-c]
		s.pos += c
	}
	if transfer {
		if stStart != stDROP {
			if !infrStart {
				// The frame's first beat; window byte 0 is frame byte 0.
				s.infr = true
				s.L = rxLen
				s.pos = 0
			}
			if len(s.win)+n > p.WB {
				return fmt.Errorf("decoder: window overflow: %d + %d bytes > WB = %d (%s)", len(s.win), n, p.WB, m.DescribeState())
			}
			for j := 0; j < n; j++ {
				s.win = append(s.win, byte(in[m.rxData+j/8]>>(8*(j%8))))
			}
		}
		if last {
			s.gotl = true
		}
	}
	if toDrop {
		s.win = s.win[:0]
	}
	return nil
}

// checkBeat reads a taken beat's control inputs and refuses what §2's
// assumptions on the environment exclude: n marked bytes, rx_last, rx_len.
func (m *Model) checkBeat(in []uint64) (n int, last bool, rxLen int, err error) {
	s := &m.s
	p := m.P
	last = in[m.rxLast]&1 != 0
	rxLen = int(in[m.rxLen] & model.Mask(LenBits))
	for n < p.B && in[m.rxKeep+n/64]>>(n%64)&1 != 0 {
		n++
	}
	for j := n; j < p.B; j++ {
		if in[m.rxKeep+j/64]>>(j%64)&1 != 0 {
			return 0, false, 0, fmt.Errorf("decoder: rx_keep marks byte %d after unmarked byte %d: not bytes 0 … n−1 (decoder.md §2)", j, n)
		}
	}
	first := !s.infr
	switch {
	case n == 0:
		return 0, false, 0, fmt.Errorf("decoder: a beat with no byte marked (decoder.md §2: n ≥ 1)")
	case !last && n != p.B:
		return 0, false, 0, fmt.Errorf("decoder: a beat without rx_last marks %d of %d bytes (decoder.md §2)", n, p.B)
	case rxLen == 0:
		return 0, false, 0, fmt.Errorf("decoder: rx_len = 0 (frames are 1 … 65535 bytes, decoder.md §2)")
	case !first && rxLen != s.L:
		return 0, false, 0, fmt.Errorf("decoder: rx_len = %d on a frame that began with %d (decoder.md §2)", rxLen, s.L)
	}
	got := n
	if !first {
		got += s.got
	}
	switch {
	case got > rxLen:
		return 0, false, 0, fmt.Errorf("decoder: %d bytes taken of a %d-byte frame (decoder.md §2)", got, rxLen)
	case last && got != rxLen:
		return 0, false, 0, fmt.Errorf("decoder: the frame ends after %d bytes, rx_len says %d (decoder.md §2)", got, rxLen)
	}
	if last {
		s.got = 0
	} else {
		s.got = got
	}
	return n, last, rxLen, nil
}

func le16(b []byte) int { return int(b[0]) | int(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// load sets the output register to a record with no key or value.
func (m *Model) load(kind int, seq uint32) *record {
	d := &m.s.d
	key, value := d.key, d.value
	clear(key)
	clear(value)
	*d = record{kind: kind, seq: seq, key: key, value: value}
	return d
}

// hdrStep is §4.3; the caller checked that it happens this cycle.
func (m *Model) hdrStep() (emitted bool, c int, toDrop bool) {
	s := &m.s
	w, L := s.win, s.L
	var seq uint32
	if L >= HeaderBytes {
		seq = le32(w[8:12])
	}
	code := 0
	switch {
	case L < HeaderBytes:
		code = ErrShort
	case le16(w[0:2]) != Magic:
		code = ErrBadMagic
	case w[2] != Version:
		code = ErrBadVersion
	case w[3] != TypeRequest:
		code = ErrBadType
	case le16(w[4:6]) != L:
		code = ErrLengthMismatch
	case le16(w[6:8]) >= 1 && L >= HeaderBytes+1 && w[12]&(SameSizes|SameValue) != 0:
		code = ErrFirstOpFlags
	}
	if code != 0 {
		d := m.load(KindPktError, seq)
		d.status, d.received, d.last = code, L, true
		s.st = stDROP
		return true, 0, true
	}
	count := le16(w[6:8])
	if count == 0 {
		d := m.load(KindEmpty, seq)
		d.last, d.trailing = true, L > HeaderBytes
		s.st = stDROP
		return true, 0, true
	}
	s.seq, s.count = seq, count
	s.idx, s.lost, s.skip = 0, false, 0
	s.st = stOPS
	return false, HeaderBytes, false
}

// Status is §4.5: the answer to a delimited operation on its resolved
// fields, 0 when it is issued.
func (p Params) Status(opcode, fid, klen, vlen int) int {
	const get, put, del, s2s, s2v, v2v, reduce, filter = 0, 1, 2, 3, 4, 5, 6, 7
	if opcode >= 8 {
		return StatusUnknownOpcode
	}
	bad := false
	switch opcode {
	case get, del:
		bad = fid != 0 || vlen != 0
	case put:
		bad = fid != 0
	case v2v:
		bad = vlen == 0 || vlen%p.EB != 0
	case s2s, s2v, reduce, filter:
		bad = vlen%ScalarBytes != 0 || vlen > 3*ScalarBytes
	}
	switch {
	case bad:
		return StatusBadOp
	case klen == 0:
		return StatusEmptyKey
	case klen > p.K:
		return StatusKeyTooLong
	case vlen > p.V && (opcode == put || opcode == v2v):
		return StatusValueTooLong
	}
	return StatusIssue
}

// opRecord loads an OP record for operation idx and advances idx (§4.4's
// last paragraph). delimited says the framing holds after it (cases 8 and
// 10), end is then its end's frame offset. It reports whether the decoder
// enters DROP.
func (m *Model) opRecord(status int, delimited bool, end int) (*record, bool) {
	s := &m.s
	d := m.load(KindOp, s.seq)
	d.index, d.status = s.idx, status
	lastOp := s.idx == s.count-1
	s.idx++
	if lastOp {
		d.last = true
		d.trailing = delimited && end < s.L
		s.st = stDROP
	}
	return d, lastOp
}

// opsStep is §4.4, the first case that applies; the caller checked free.
func (m *Model) opsStep() (emitted bool, c int, toDrop bool, err error) {
	s := &m.s
	p := m.P
	w := s.win
	wcnt := len(w)
	rem := s.L - s.pos
	lose := func(status int) (bool, int, bool, error) {
		_, drop := m.opRecord(status, false, 0)
		s.lost = true
		return true, 0, drop, nil
	}
	// 1–4.
	switch {
	case s.lost:
		return lose(StatusTruncated)
	case s.skip > 0:
		n := min(s.skip, wcnt)
		s.skip -= n
		return false, n, false, nil
	case rem < 2:
		return lose(StatusTruncated)
	case wcnt < 2:
		return false, 0, false, nil
	}
	ss, sv := w[0]&SameSizes != 0, w[0]&SameValue != 0
	opcode, fid := int(w[0]&OpcodeMask), int(w[1])
	f := 5
	if ss {
		f = 2
	} else if sv {
		f = 3
	}
	// 5–6.
	switch {
	case rem < f:
		return lose(StatusTruncated)
	case wcnt < f:
		return false, 0, false, nil
	}
	// 7: resolve the sizes.
	klen, vlen := s.pk, s.pv
	if !ss {
		klen = int(w[2])
		if !sv {
			vlen = le16(w[3:5])
		}
	}
	body := klen
	if !sv {
		body += vlen
	}
	if rem-f < body {
		return lose(StatusLengthPastEnd)
	}
	status := p.Status(opcode, fid, klen, vlen)
	end := s.pos + f + body
	// 8: long.
	if !sv && vlen > p.V {
		if status == StatusIssue {
			return false, 0, false, fmt.Errorf("decoder: a long operation (vlen %d > V = %d) would be issued, which §4.5 excludes (%s)", vlen, p.V, m.DescribeState())
		}
		_, drop := m.opRecord(status, true, end)
		s.skip = body
		s.pk, s.pv = klen, vlen
		return true, f, drop, nil
	}
	// 9.
	if wcnt < f+body {
		return false, 0, false, nil
	}
	// 10: whole.
	d, drop := m.opRecord(status, true, end)
	if status == StatusIssue {
		d.op, d.fid, d.klen, d.vlen = opcode, fid, klen, vlen
		pack(d.key, w[f:f+klen])
		if sv {
			pack(d.value, s.pval[:vlen])
		} else {
			pack(d.value, w[f+klen:f+klen+vlen])
		}
	}
	s.pk, s.pv = klen, vlen
	if !sv {
		// vlen ≤ V here (case 8 took the others).
		copy(s.pval, w[f+klen:f+klen+vlen])
		clear(s.pval[vlen:])
	}
	return true, f + body, drop, nil
}

// pack writes b little-endian into words (which the caller cleared).
func pack(words []uint64, b []byte) {
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

// DescribeState describes the registers of §3, for divergence reports.
func (m *Model) DescribeState() string {
	s := &m.s
	head := s.win[:min(len(s.win), 32)]
	str := fmt.Sprintf("st %s wcnt %d infr %v gotl %v", stNames[s.st], len(s.win), b2u(s.infr), b2u(s.gotl))
	if s.infr {
		str += fmt.Sprintf(" L %d pos %d rem %d", s.L, s.pos, s.L-s.pos)
	}
	if s.st == stOPS {
		str += fmt.Sprintf(" seq %#x idx %d/%d lost %v skip %d pk %d pv %d", s.seq, s.idx, s.count, b2u(s.lost), s.skip, s.pk, s.pv)
	}
	str += fmt.Sprintf(" d_valid %d", b2u(s.dValid))
	if s.dValid {
		d := &s.d
		str += fmt.Sprintf(" (kind %d index %d status %d last %d)", d.kind, d.index, d.status, b2u(d.last))
	}
	return str + fmt.Sprintf(" win[0:%d] %s", len(head), hex.EncodeToString(head))
}

// Snapshot implements model.Model; the value is an independent copy.
func (m *Model) Snapshot() any { return m.s.clone(m.P.WB) }

// Restore implements model.Model.
func (m *Model) Restore(snapshot any) {
	st, ok := snapshot.(state)
	if !ok {
		panic(fmt.Sprintf("decoder: Restore of a %T, not a decoder snapshot", snapshot))
	}
	m.s = st.clone(m.P.WB)
}

var _ model.Model = (*Model)(nil)
