package testbenches

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/encoder"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// The response-encoder scenario (docs/microarch/encoder.md). The stimulus
// is the reorder buffer in front of the encoder and the network behind
// it: it presents each request's records in order with random gaps, takes
// beats with random back-pressure, reassembles the packets and checks each
// one, byte for byte, against wire.SplitResponse and wire.EncodeResponse
// (the client library's reading of wire-format.md §6 and §4.1, written
// apart from both the RTL and the golden model) — beside the bridge's
// cycle-by-cycle comparison of the two.

func init() {
	register(Scenario{
		Name: "enc",
		Doc: "response encoder: requests of 1..300 records with values of 0..V bytes, splits at 1472 bytes (exact fills " +
			"and one byte over), TRAILING, error responses, empty requests, record gaps and tx back-pressure; every packet " +
			"checked byte for byte against wire.SplitResponse/EncodeResponse",
		Top:           func(config.Config) string { return "kvd_enc" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, err := encoder.New(cfg)
			if err != nil {
				return nil, nil, err
			}
			s, err := newEncStim(cfg, seed, 0)
			if err != nil {
				return nil, nil, err
			}
			return m, s, nil
		},
		Points: encPoints,
	})
}

var encPoints = []string{
	"enc.single", "enc.split", "enc.exact_fill", "enc.trailing", "enc.pkt_error", "enc.empty", "enc.empty_trailing",
	"enc.max_value", "enc.multi_beat", "enc.backpressure", "enc.e_gap", "enc.e_stall",
}

// encMR is wire-format.md §6's largest response packet.
const encMR = wire.DefaultMaxResponseBytes

type encRec struct {
	req      uint64
	kind     uint64
	seq      uint32
	last     bool
	trailing bool
	status   uint64
	received uint64
	value    []byte
}

type encPkt struct {
	req   uint64
	bytes []byte
	what  string
}

type encStim struct {
	rng  *rand.Rand
	v, b int
	p    struct {
		eValid, eReady, eKind, eSeq, eLast, eTrailing, eStatus, eReceived, eVlen, eValue model.Slot
		txValid, txReady, txData, txKeep, txLast                                         model.Slot
	}

	recs     []encRec // records not yet taken, in order
	holdFrom uint64
	offered  bool
	want     []encPkt // packets owed, in order
	got      []byte   // the packet being received
	lastIn   []uint64
	nreq     uint64
	target   uint64 // packets (0: the run's cycle count decides)
	packets  uint64
	pts      map[string]uint64
}

func newEncStim(cfg config.Config, seed, target uint64) (*encStim, error) {
	l, err := model.NewLayout(encoder.Ports(cfg))
	if err != nil {
		return nil, err
	}
	s := &encStim{
		rng:    rand.New(rand.NewPCG(seed, 0x656e636f646572)),
		v:      cfg.Key.MaxValueBytes,
		b:      cfg.Net.BytesPerCycle,
		lastIn: make([]uint64, l.InWords),
		target: target,
		pts:    map[string]uint64{},
	}
	m := l.MustSlot
	p := &s.p
	p.eValid, p.eReady, p.eKind, p.eSeq, p.eLast = m("e_valid"), m("e_ready"), m("e_kind"), m("e_seq"), m("e_last")
	p.eTrailing, p.eStatus, p.eReceived, p.eVlen, p.eValue = m("e_trailing"), m("e_status"), m("e_received"), m("e_vlen"), m("e_value")
	p.txValid, p.txReady, p.txData, p.txKeep, p.txLast = m("tx_valid"), m("tx_ready"), m("tx_data"), m("tx_keep"), m("tx_last")
	return s, nil
}

func (s *encStim) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return b
}

// request draws the next request and queues its records and the packets
// it owes.
func (s *encStim) request() {
	r := s.rng
	n := s.nreq
	s.nreq++
	seq := r.Uint32()
	switch x := r.IntN(100); {
	case x < 4:
		code := wire.PacketError(1 + r.IntN(6))
		recv := r.IntN(0x10000)
		s.recs = append(s.recs, encRec{req: n, kind: 1, seq: seq, last: true, status: uint64(code), received: uint64(recv)})
		pkt, _ := wire.EncodeResponse(wire.Response{Seq: seq, Err: code, Received: recv})
		s.want = append(s.want, encPkt{req: n, bytes: pkt, what: "error response"})
		return
	case x < 8:
		tr := r.IntN(2) == 0
		s.recs = append(s.recs, encRec{req: n, kind: 2, seq: seq, last: true, trailing: tr})
		pkt, _ := wire.EncodeResponse(wire.Response{Seq: seq, Trailing: tr})
		s.want = append(s.want, encPkt{req: n, bytes: pkt, what: "empty request"})
		return
	}
	count := 1 + r.IntN(12)
	exact := r.IntN(6) == 0
	if exact || r.IntN(5) == 0 {
		count = 30 + r.IntN(270)
	}
	results := make([]wire.Result, count)
	for i := range results {
		vl := 0
		switch y := r.IntN(10); {
		case y < 4:
			vl = r.IntN(12)
		case y < 6:
			vl = 8
		case y < 8:
			vl = r.IntN(s.v + 1)
		case y < 9:
			vl = s.v
		}
		results[i] = wire.Result{Status: wire.Status(r.IntN(19)), Value: s.bytes(vl)}
	}
	if exact {
		// make the first packet end exactly at MR, or want one byte more
		used, i := wire.ResponseHeaderBytes, 0
		for ; i < count-1 && used < encMR-3-s.v; i++ {
			used += 3 + len(results[i].Value)
		}
		if fill := encMR - used - 3 + r.IntN(2); fill >= 0 && fill <= s.v {
			results[i].Value = s.bytes(fill)
		}
	}
	tr := r.IntN(4) == 0
	for i, res := range results {
		s.recs = append(s.recs, encRec{req: n, seq: seq, last: i == count-1, trailing: tr && i == count-1,
			status: uint64(res.Status), value: res.Value})
	}
	for _, resp := range wire.SplitResponse(seq, tr, results, encMR) {
		pkt, err := wire.EncodeResponse(resp)
		if err != nil {
			panic(fmt.Sprintf("enc stimulus: %v", err))
		}
		s.want = append(s.want, encPkt{req: n, bytes: pkt, what: fmt.Sprintf("records %d..%d of %d", resp.First, resp.First+len(resp.Results)-1, count)})
	}
}

func (s *encStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil {
		if err := s.observe(cycle-1, prev); err != nil {
			return false, err
		}
	}
	if s.target > 0 && s.packets >= s.target {
		return false, nil
	}
	if len(s.recs) == 0 {
		s.request()
		s.offered, s.holdFrom = false, cycle+s.gap()
	}
	p := &s.p
	if !s.offered && cycle >= s.holdFrom {
		s.offered = true
	}
	if s.offered {
		e := &s.recs[0]
		in[p.eValid.Off] = 1
		in[p.eKind.Off] = e.kind
		in[p.eSeq.Off] = uint64(e.seq)
		in[p.eLast.Off] = b2u(e.last)
		in[p.eTrailing.Off] = b2u(e.trailing)
		in[p.eStatus.Off] = e.status
		in[p.eReceived.Off] = e.received
		in[p.eVlen.Off] = uint64(len(e.value))
		// bytes past e_vlen are garbage: the encoder must ignore them
		w := in[p.eValue.Off : p.eValue.Off+p.eValue.Words]
		packWords(w, e.value)
		if k := len(e.value); k < s.v && s.rng.IntN(2) == 0 {
			w[k/8] |= s.rng.Uint64() << (8 * uint(k%8))
			for j := k/8 + 1; j < len(w); j++ {
				w[j] = s.rng.Uint64()
			}
			w[len(w)-1] &= model.Mask(8*s.v - 64*(len(w)-1))
		}
	}
	if s.rng.IntN(5) != 0 {
		in[p.txReady.Off] = 1
	}
	copy(s.lastIn, in)
	return true, nil
}

func (s *encStim) gap() uint64 {
	if s.rng.IntN(5) == 0 {
		return uint64(1 + s.rng.IntN(4))
	}
	return 0
}

func (s *encStim) observe(c uint64, out []uint64) error {
	p := &s.p
	in := s.lastIn
	if in[p.eValid.Off] == 1 {
		if out[p.eReady.Off] == 1 {
			s.recs = s.recs[1:]
			s.offered = false
			s.holdFrom = c + 1 + s.gap()
			if s.holdFrom > c+1 {
				s.pts["enc.e_gap"]++
			}
		} else {
			s.pts["enc.e_stall"]++
		}
	}
	if out[p.txValid.Off] == 1 && in[p.txReady.Off] == 0 {
		s.pts["enc.backpressure"]++
	}
	if out[p.txValid.Off] == 0 || in[p.txReady.Off] == 0 {
		return nil
	}
	keep := model.Get(out[p.txKeep.Off:p.txKeep.Off+p.txKeep.Words], 0, p.txKeep.Width)
	got, err := txBeat(c, &s.got, htGetBytes(out, p.txData, s.b), keep, out[p.txLast.Off] == 1)
	if err != nil || got == nil {
		return err
	}
	if len(s.want) == 0 {
		return fmt.Errorf("cycle %d: a packet of %d bytes was sent but none is owed: %x", c, len(got), got)
	}
	w := s.want[0]
	s.want = s.want[1:]
	if !bytes.Equal(got, w.bytes) {
		return fmt.Errorf("cycle %d: packet of request #%d (%s): sent %d bytes\n  %x\nwire.SplitResponse/EncodeResponse give %d bytes\n  %x",
			c, w.req, w.what, len(got), got, len(w.bytes), w.bytes)
	}
	s.packets++
	s.count(got)
	return nil
}

func (s *encStim) count(pkt []byte) {
	r, err := wire.DecodeResponse(pkt)
	if err != nil {
		return
	}
	switch {
	case r.Err != wire.NoPacketError:
		s.pts["enc.pkt_error"]++
	case len(r.Results) == 0 && r.Trailing:
		s.pts["enc.empty_trailing"]++
	case len(r.Results) == 0:
		s.pts["enc.empty"]++
	case r.First > 0:
		s.pts["enc.split"]++
	default:
		s.pts["enc.single"]++
	}
	if r.Trailing {
		s.pts["enc.trailing"]++
	}
	if len(pkt) == encMR {
		s.pts["enc.exact_fill"]++
	}
	if len(pkt) > s.b {
		s.pts["enc.multi_beat"]++
	}
	for _, res := range r.Results {
		if len(res.Value) == s.v {
			s.pts["enc.max_value"]++
		}
	}
}

func (s *encStim) Progress() uint64 { return s.packets }

// Requests is the number of packets checked.
func (s *encStim) Requests() uint64 { return s.packets }

func (s *encStim) Describe(cycle uint64) string {
	var b bytes.Buffer
	if len(s.recs) > 0 {
		fmt.Fprintf(&b, "next record to present: request #%d (kind %d, %d value bytes, last %v); ", s.recs[0].req, s.recs[0].kind, len(s.recs[0].value), s.recs[0].last)
	}
	if len(s.want) > 0 {
		fmt.Fprintf(&b, "next packet owed: request #%d, %s, %d bytes (%d received so far)", s.want[0].req, s.want[0].what, len(s.want[0].bytes), len(s.got))
	}
	return b.String()
}

func (s *encStim) Points() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range encPoints {
		out[p] = s.pts[p]
	}
	return out
}

// txBeat takes one response beat (encoder.md §2: tx_keep all ones, or a
// prefix on the last beat, and zero bytes above it), appends its bytes to
// *got and, on the last beat, returns the whole packet and empties *got.
func txBeat(c uint64, got *[]byte, data []byte, keep uint64, last bool) ([]byte, error) {
	b := len(data)
	n := 0
	for n < b && keep>>uint(n)&1 == 1 {
		n++
	}
	if keep != model.Mask(n) || n == 0 || (!last && n != b) {
		return nil, fmt.Errorf("cycle %d: tx_keep %#x (last %v): must be all ones, or bytes 0..n-1 on the last beat", c, keep, last)
	}
	if bytes.ContainsFunc(data[n:], func(r rune) bool { return r != 0 }) {
		return nil, fmt.Errorf("cycle %d: tx_data has non-zero bytes above tx_keep: %x", c, data)
	}
	*got = append(*got, data[:n]...)
	if !last {
		return nil, nil
	}
	pkt := *got
	*got = nil
	return pkt, nil
}
