package testbenches

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/decoder"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// The packet-decoder scenario (docs/microarch/decoder.md). The stimulus is
// the receive buffer and the decoder's consumer: it sends frames as beats
// of B bytes with random gaps, takes records with random back-pressure, and
// checks every record it takes against wire.DecodeRequest of the frame it
// sent — the client library's transaction-level reading of
// wire-format.md, written apart from both the RTL and the golden model —
// beside the bridge's cycle-by-cycle comparison of the two. Half the
// frames are well-formed batches (every flag combination, every opcode);
// the rest are malformed in every way §4 names, so that the decoder must
// answer each fault and resynchronise on the next frame.

func init() {
	register(Scenario{
		Name: "dec",
		Doc: "packet decoder: batched requests with every opcode and flag combination, and malformed frames (short, bad " +
			"magic/version/type, length mismatch, flags on the first op, truncated, lengths past the end, unknown opcodes, " +
			"bad fid/vlen, empty/long keys, values past V and past the window, SAME_VALUE after refused and long ops, " +
			"count 0, trailing bytes), random beat gaps and record back-pressure; every record checked against wire.DecodeRequest",
		Top:           func(config.Config) string { return "kvd_dec" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, err := decoder.New(cfg)
			if err != nil {
				return nil, nil, err
			}
			s, err := newDecStim(cfg, seed, 0)
			if err != nil {
				return nil, nil, err
			}
			return m, s, nil
		},
		Points: decPoints,
	})
}

var decPoints = []string{
	"dec.issue", "dec.issue_same_sizes", "dec.issue_same_value", "dec.issue_both_flags",
	"dec.truncated", "dec.length_past_end", "dec.unknown_opcode", "dec.bad_op",
	"dec.empty_key", "dec.key_too_long", "dec.value_too_long", "dec.long_skipped",
	"dec.same_value_after_refused", "dec.same_value_after_long",
	"dec.err_short", "dec.err_bad_magic", "dec.err_bad_version", "dec.err_bad_type",
	"dec.err_length_mismatch", "dec.err_first_op_flags",
	"dec.empty", "dec.trailing", "dec.backpressure", "dec.rx_gap", "dec.one_beat_frame",
}

// decRec is one record the decoder owes, as wire.DecodeRequest reads it.
type decRec struct {
	frame    uint64
	kind     uint64
	seq      uint32
	index    int
	last     bool
	trailing bool
	status   uint64
	received int
	op       wire.Op // issued operations only
}

type decFrame struct {
	n     uint64
	bytes []byte
	what  string
}

type decPorts struct {
	rxValid, rxReady, rxData, rxKeep, rxLast, rxLen                model.Slot
	dValid, dReady, dKind, dSeq, dIndex, dLast, dTrailing, dStatus model.Slot
	dReceived, dOp, dFid, dKlen, dKey, dVlen, dValue               model.Slot
}

type decStim struct {
	rng  *rand.Rand
	p    wire.Params
	b    int // bytes per beat
	port decPorts

	frames   []decFrame // sent or being sent, oldest first, kept for reports
	cur      *decFrame
	beat     int    // next beat of cur to offer
	holdFrom uint64 // the current beat is offered from this cycle (gap before it)
	offered  bool   // rx_valid was raised for the current beat
	exp      []decRec
	lastIn   []uint64
	target   uint64 // records (0: the run's cycle count decides)
	taken    uint64
	nframes  uint64
	keys     [][]byte
	pts      map[string]uint64
}

func newDecStim(cfg config.Config, seed, target uint64) (*decStim, error) {
	l, err := model.NewLayout(decoder.Ports(cfg))
	if err != nil {
		return nil, err
	}
	m := l.MustSlot
	s := &decStim{
		rng: rand.New(rand.NewPCG(seed, 0x6465636f646572)),
		p: wire.Params{MaxKeyBytes: cfg.Key.MaxKeyBytes, MaxValueBytes: cfg.Key.MaxValueBytes,
			ElementBytes: cfg.Vector.ElementBits / 8},
		b: cfg.Net.BytesPerCycle,
		port: decPorts{
			rxValid: m("rx_valid"), rxReady: m("rx_ready"), rxData: m("rx_data"), rxKeep: m("rx_keep"),
			rxLast: m("rx_last"), rxLen: m("rx_len"),
			dValid: m("d_valid"), dReady: m("d_ready"), dKind: m("d_kind"), dSeq: m("d_seq"), dIndex: m("d_index"),
			dLast: m("d_last"), dTrailing: m("d_trailing"), dStatus: m("d_status"), dReceived: m("d_received"),
			dOp: m("d_op"), dFid: m("d_fid"), dKlen: m("d_klen"), dKey: m("d_key"), dVlen: m("d_vlen"), dValue: m("d_value"),
		},
		lastIn: make([]uint64, l.InWords),
		target: target,
		pts:    map[string]uint64{},
	}
	if err := s.p.Validate(); err != nil {
		return nil, fmt.Errorf("dec scenario: %v", err)
	}
	for range 24 {
		s.keys = append(s.keys, s.bytes(1+s.rng.IntN(s.p.MaxKeyBytes)))
	}
	return s, nil
}

func (s *decStim) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return b
}

// op draws one operation that is usually well-formed: a pool key, the
// opcode's operand rule kept (scalars, whole Δ elements), and values
// repeated often enough that SAME_SIZES and SAME_VALUE apply.
func (s *decStim) op(prev *wire.Op) wire.Op {
	r := s.rng
	key := s.keys[r.IntN(len(s.keys))]
	if r.IntN(6) == 0 {
		key = s.bytes(1 + r.IntN(s.p.MaxKeyBytes))
	}
	switch x := r.IntN(100); {
	case prev != nil && x < 15: // same sizes, maybe the same value
		o := wire.Op{Code: prev.Code, Fid: prev.Fid, Key: s.bytes(len(prev.Key)), Value: prev.Value}
		if r.IntN(2) == 0 && len(prev.Value) > 0 {
			o.Value = s.bytes(len(prev.Value))
		}
		return o
	case x < 40:
		return wire.Get(key)
	case x < 65:
		n := r.IntN(64)
		if r.IntN(4) == 0 {
			n = r.IntN(s.p.MaxValueBytes + 1)
		}
		return wire.Put(key, s.bytes(n))
	case x < 72:
		return wire.Delete(key)
	case x < 80:
		return wire.UpdateScalar(key, uint8(r.IntN(4)), r.Uint64(), r.Uint64(), r.Uint64())
	case x < 85:
		return wire.UpdateScalarToVector(key, uint8(r.IntN(4)), r.Uint64(), r.Uint64(), r.Uint64())
	case x < 90:
		return wire.UpdateVectorToVector(key, uint8(r.IntN(4)), s.bytes(s.p.ElementBytes*(1+r.IntN(8))))
	case x < 95:
		return wire.Reduce(key, uint8(r.IntN(4)), r.Uint64(), r.Uint64(), r.Uint64())
	default:
		return wire.Filter(key, uint8(r.IntN(4)), r.Uint64(), r.Uint64(), r.Uint64())
	}
}

// faulty draws an operation the decoder must refuse (or skip): each
// operation-level fault of wire-format.md §4.2.
func (s *decStim) faulty() wire.Op {
	r := s.rng
	key := s.keys[r.IntN(len(s.keys))]
	switch r.IntN(8) {
	case 0:
		return wire.Op{Code: wire.Opcode(8 + r.IntN(56)), Key: key, Value: s.bytes(r.IntN(40))}
	case 1:
		return wire.Op{Code: wire.OpGet, Fid: uint8(1 + r.IntN(255)), Key: key}
	case 2:
		return wire.Op{Code: []wire.Opcode{wire.OpGet, wire.OpDelete}[r.IntN(2)], Key: key, Value: s.bytes(1 + r.IntN(30))}
	case 3:
		return wire.Op{Code: wire.OpUpdateS2S, Key: key, Value: s.bytes([]int{1, 7, 9, 32}[r.IntN(4)])}
	case 4:
		return wire.Op{Code: wire.OpUpdateV2V, Key: key, Value: s.bytes([]int{0, s.p.ElementBytes + 1}[r.IntN(2)])}
	case 5:
		return wire.Put(nil, s.bytes(r.IntN(8)))
	case 6:
		return wire.Put(s.bytes(s.p.MaxKeyBytes+1+r.IntN(255-s.p.MaxKeyBytes)), s.bytes(r.IntN(20)))
	default:
		// past V, sometimes past the whole window (5 + 255 + V + B)
		n := s.p.MaxValueBytes + 1 + r.IntN(16)
		if r.IntN(2) == 0 {
			n = 5 + 255 + s.p.MaxValueBytes + s.b + r.IntN(600)
		}
		return wire.Put(key, s.bytes(n))
	}
}

// frame draws the next frame and appends the records it owes.
func (s *decStim) frame() decFrame {
	r := s.rng
	n := 1 + r.IntN(12)
	if r.IntN(8) == 0 {
		n = 1 + r.IntN(120)
	}
	if r.IntN(40) == 0 {
		n = 0
	}
	req := wire.Request{Seq: r.Uint32(), Ops: make([]wire.Op, 0, n)}
	what := "batch"
	for i := 0; i < n; i++ {
		var prev *wire.Op
		if i > 0 {
			prev = &req.Ops[i-1]
		}
		o := s.op(prev)
		if r.IntN(10) == 0 {
			o = s.faulty()
			what = "batch with refused ops"
			if r.IntN(2) == 0 && i+1 < n {
				// the next one takes the refused one's value
				req.Ops = append(req.Ops, o)
				o = wire.Put(s.keys[r.IntN(len(s.keys))], o.Value)
				i++
			}
		}
		req.Ops = append(req.Ops, o)
	}
	if r.IntN(3) == 0 {
		// explicit flags: a random subset of those that apply
		req.Flags = make([]wire.Flags, len(req.Ops))
		for i := 1; i < len(req.Ops); i++ {
			var f wire.Flags
			if len(req.Ops[i-1].Key) == len(req.Ops[i].Key) && len(req.Ops[i-1].Value) == len(req.Ops[i].Value) && r.IntN(2) == 0 {
				f |= wire.SameSizes
			}
			if bytes.Equal(req.Ops[i-1].Value, req.Ops[i].Value) && r.IntN(3) != 0 {
				f |= wire.SameValue
			}
			req.Flags[i] = f
		}
	}
	pkt, err := wire.EncodeRequest(req)
	if err != nil {
		// too large for the length field: send a plain GET instead
		req = wire.Request{Seq: req.Seq, Ops: []wire.Op{wire.Get(s.keys[0])}}
		pkt, _ = wire.EncodeRequest(req)
	}
	if r.IntN(3) == 0 {
		pkt, what = s.mangle(pkt)
	}
	return decFrame{bytes: pkt, what: what}
}

// mangle breaks a well-formed packet in one of the ways §4 answers.
func (s *decStim) mangle(pkt []byte) ([]byte, string) {
	r := s.rng
	le := binary.LittleEndian
	setLen := func(p []byte) []byte {
		if len(p) >= 6 {
			le.PutUint16(p[4:], uint16(len(p)))
		}
		return p
	}
	switch r.IntN(11) {
	case 0:
		return s.bytes(1 + r.IntN(13)), "a few random bytes"
	case 1:
		pkt[r.IntN(2)] ^= byte(1 + r.IntN(255))
		return pkt, "bad magic"
	case 2:
		pkt[2] = byte(2 + r.IntN(254))
		return pkt, "bad version"
	case 3:
		pkt[3] = byte(1 + r.IntN(255))
		return pkt, "bad type"
	case 4:
		return pkt[:r.IntN(len(pkt))+1], "cut, length field kept"
	case 5:
		if len(pkt) > 12 {
			pkt[12] |= byte(wire.SameSizes) << r.IntN(2)
		}
		return pkt, "flags on the first op"
	case 6:
		if len(pkt) <= 13 {
			return pkt, "batch"
		}
		return setLen(pkt[:12+1+r.IntN(len(pkt)-13)]), "cut, length fixed (truncated / length past end)"
	case 7:
		le.PutUint16(pkt[6:], le.Uint16(pkt[6:])+uint16(1+r.IntN(3)))
		return pkt, "count too large"
	case 8:
		if c := le.Uint16(pkt[6:]); c > 0 {
			le.PutUint16(pkt[6:], uint16(r.IntN(int(c))))
		}
		return pkt, "count too small (trailing operations)"
	case 9:
		return setLen(append(pkt, s.bytes(1+r.IntN(40))...)), "trailing garbage"
	default:
		if len(pkt) > 12 {
			for range 1 + r.IntN(3) {
				pkt[12+r.IntN(len(pkt)-12)] = byte(r.Uint32())
			}
		}
		return pkt, "random bytes changed in the operations"
	}
}

// owe appends the records wire.DecodeRequest says f gets.
func (s *decStim) owe(f *decFrame) {
	d := wire.DecodeRequest(f.bytes, s.p)
	switch {
	case d.Err != wire.NoPacketError:
		s.exp = append(s.exp, decRec{frame: f.n, kind: 1, seq: d.Seq, last: true, status: uint64(d.Err), received: d.Received})
		return
	case len(d.Ops) == 0:
		s.exp = append(s.exp, decRec{frame: f.n, kind: 2, seq: d.Seq, last: true, trailing: d.Trailing > 0})
		return
	}
	for i, o := range d.Ops {
		rec := decRec{frame: f.n, seq: d.Seq, index: i, last: i == len(d.Ops)-1, status: uint64(o.Status)}
		rec.trailing = rec.last && d.Trailing > 0
		if o.Status == wire.OK {
			rec.op = o.Op
		}
		s.exp = append(s.exp, rec)
	}
}

func (s *decStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil {
		if err := s.observe(cycle-1, prev); err != nil {
			return false, err
		}
	}
	if s.target > 0 && s.taken >= s.target {
		return false, nil
	}
	p := &s.port
	if s.cur == nil {
		f := s.frame()
		f.n = s.nframes
		s.nframes++
		s.owe(&f)
		s.frames = append(s.frames, f)
		if len(s.frames) > 64 {
			s.frames = s.frames[1:]
		}
		s.cur, s.beat, s.offered = &s.frames[len(s.frames)-1], 0, false
		s.holdFrom = cycle + s.gap()
	}
	if !s.offered && cycle >= s.holdFrom {
		s.offered = true
	}
	if s.offered {
		f := s.cur.bytes
		lo := s.beat * s.b
		hi := min(lo+s.b, len(f))
		in[p.rxValid.Off] = 1
		packWords(in[p.rxData.Off:p.rxData.Off+p.rxData.Words], f[lo:hi])
		in[p.rxKeep.Off] = model.Mask(hi - lo)
		if hi == len(f) {
			in[p.rxLast.Off] = 1
		}
		in[p.rxLen.Off] = uint64(len(f))
	} else if s.rng.IntN(2) == 0 {
		// garbage on an idle bus must not matter
		in[p.rxData.Off] = s.rng.Uint64()
		in[p.rxLen.Off] = uint64(s.rng.Uint32() & 0xffff)
	}
	if s.rng.IntN(6) != 0 {
		in[p.dReady.Off] = 1
	}
	copy(s.lastIn, in)
	return true, nil
}

func (s *decStim) gap() uint64 {
	if s.rng.IntN(4) == 0 {
		return uint64(1 + s.rng.IntN(6))
	}
	return 0
}

// observe checks cycle c: the beat taken and the record taken, if any.
func (s *decStim) observe(c uint64, out []uint64) error {
	p := &s.port
	in := s.lastIn
	if in[p.rxValid.Off] == 1 && out[p.rxReady.Off] == 1 {
		s.beat++
		s.offered = false
		if s.beat*s.b >= len(s.cur.bytes) {
			if s.beat == 1 {
				s.pts["dec.one_beat_frame"]++
			}
			s.cur = nil
		} else {
			s.holdFrom = c + 1 + s.gap()
			if s.holdFrom > c+1 {
				s.pts["dec.rx_gap"]++
			}
		}
	}
	if out[p.dValid.Off] == 1 && in[p.dReady.Off] == 0 {
		s.pts["dec.backpressure"]++
	}
	if out[p.dValid.Off] == 0 || in[p.dReady.Off] == 0 {
		return nil
	}
	if len(s.exp) == 0 {
		return fmt.Errorf("cycle %d: a record was taken but none is owed (every frame sent is answered already)", c)
	}
	want := s.exp[0]
	s.exp = s.exp[1:]
	if err := s.check(out, &want); err != nil {
		return fmt.Errorf("cycle %d: record %d of frame #%d (%s): %v\n  frame: %x", c, want.index, want.frame, s.what(want.frame), err, s.frameBytes(want.frame))
	}
	s.taken++
	s.count(&want)
	return nil
}

func (s *decStim) check(out []uint64, w *decRec) error {
	p := &s.port
	g := func(sl model.Slot) uint64 { return model.Get(out[sl.Off:sl.Off+sl.Words], 0, min(64, sl.Width)) }
	kinds := []string{"OP", "PKT_ERROR", "EMPTY", "kind 3"}
	if k := g(p.dKind); k != w.kind {
		return fmt.Errorf("d_kind %s, wire.DecodeRequest says %s (status %d)", kinds[k&3], kinds[w.kind], w.status)
	}
	type field struct {
		name      string
		got, want uint64
	}
	fields := []field{
		{"d_seq", g(p.dSeq), uint64(w.seq)}, {"d_index", g(p.dIndex), uint64(w.index)},
		{"d_last", g(p.dLast), b2u(w.last)}, {"d_trailing", g(p.dTrailing), b2u(w.trailing)},
		{"d_status", g(p.dStatus), w.status}, {"d_received", g(p.dReceived), uint64(w.received)},
	}
	issued := w.kind == 0 && w.status == 0
	var op wire.Op
	if issued {
		op = w.op
	}
	fields = append(fields, field{"d_op", g(p.dOp), uint64(op.Code)}, field{"d_fid", g(p.dFid), uint64(op.Fid)},
		field{"d_klen", g(p.dKlen), uint64(len(op.Key))}, field{"d_vlen", g(p.dVlen), uint64(len(op.Value))})
	for _, f := range fields {
		if f.got != f.want {
			return fmt.Errorf("%s = %d, wire.DecodeRequest says %d", f.name, f.got, f.want)
		}
	}
	key := htGetBytes(out, p.dKey, s.p.MaxKeyBytes)
	if wk := append(slices.Clone(op.Key), make([]byte, s.p.MaxKeyBytes-len(op.Key))...); !bytes.Equal(key, wk) {
		return fmt.Errorf("d_key %x, want %x", key, wk)
	}
	val := htGetBytes(out, p.dValue, s.p.MaxValueBytes)
	if wv := append(slices.Clone(op.Value), make([]byte, s.p.MaxValueBytes-len(op.Value))...); !bytes.Equal(val, wv) {
		return fmt.Errorf("d_value %x, want %x", val, wv)
	}
	return nil
}

var decStatusPoint = map[uint64]string{
	uint64(wire.Truncated): "dec.truncated", uint64(wire.LengthPastEnd): "dec.length_past_end",
	uint64(wire.UnknownOpcode): "dec.unknown_opcode", uint64(wire.BadOp): "dec.bad_op",
	uint64(wire.EmptyKey): "dec.empty_key", uint64(wire.KeyTooLong): "dec.key_too_long",
	uint64(wire.ValueTooLong): "dec.value_too_long",
}

var decErrPoint = []string{"", "dec.err_short", "dec.err_bad_magic", "dec.err_bad_version", "dec.err_bad_type",
	"dec.err_length_mismatch", "dec.err_first_op_flags"}

// count records a checked record's coverage; the frame-level points
// (flags, long and refused predecessors) come from the frame's own
// decoding.
func (s *decStim) count(w *decRec) {
	if w.trailing {
		s.pts["dec.trailing"]++
	}
	switch w.kind {
	case 1:
		s.pts[decErrPoint[w.status]]++
		return
	case 2:
		s.pts["dec.empty"]++
		return
	}
	if w.status != 0 {
		s.pts[decStatusPoint[w.status]]++
	} else {
		s.pts["dec.issue"]++
	}
	if !w.last {
		return
	}
	d := wire.DecodeRequest(s.frameBytes(w.frame), s.p)
	for i := 1; i < len(d.Ops); i++ {
		o, pr := &d.Ops[i], &d.Ops[i-1]
		if !o.Status.Delimited() {
			break
		}
		if o.Status == wire.OK {
			switch o.Flags {
			case wire.SameSizes:
				s.pts["dec.issue_same_sizes"]++
			case wire.SameValue:
				s.pts["dec.issue_same_value"]++
			case wire.SameSizes | wire.SameValue:
				s.pts["dec.issue_both_flags"]++
			}
		}
		if o.Flags&wire.SameValue != 0 && pr.Status != wire.OK {
			if len(pr.Op.Value) > s.p.MaxValueBytes {
				s.pts["dec.same_value_after_long"]++
			} else if o.Status == wire.OK {
				s.pts["dec.same_value_after_refused"]++
			}
		}
	}
	for _, o := range d.Ops {
		if o.Status.Delimited() && o.Flags&wire.SameValue == 0 && len(o.Op.Value) > s.p.MaxValueBytes {
			s.pts["dec.long_skipped"]++
		}
	}
}

func (s *decStim) frameBytes(n uint64) []byte {
	for i := range s.frames {
		if s.frames[i].n == n {
			return s.frames[i].bytes
		}
	}
	return nil
}

func (s *decStim) what(n uint64) string {
	for i := range s.frames {
		if s.frames[i].n == n {
			return fmt.Sprintf("%s, %d bytes", s.frames[i].what, len(s.frames[i].bytes))
		}
	}
	return "no longer remembered"
}

func (s *decStim) Progress() uint64 { return s.taken }

// Requests is the number of records checked.
func (s *decStim) Requests() uint64 { return s.taken }

// Describe names the frame being sent and the record owed next.
func (s *decStim) Describe(cycle uint64) string {
	var b bytes.Buffer
	if s.cur != nil {
		fmt.Fprintf(&b, "sending frame #%d (%s), beat %d; ", s.cur.n, s.what(s.cur.n), s.beat)
	}
	if len(s.exp) > 0 {
		w := s.exp[0]
		fmt.Fprintf(&b, "next record owed: frame #%d record %d (kind %d, status %d)", w.frame, w.index, w.kind, w.status)
	}
	return b.String()
}

func (s *decStim) Points() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range decPoints {
		out[p] = s.pts[p]
	}
	return out
}
