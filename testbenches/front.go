package testbenches

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/front"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// The front-end scenario (processor.md §3): packets in, packets out. The
// stimulus sends the dec scenario's frames (good batches and every kind of
// malformed one) as beats with gaps, plays the pipeline behind the reorder
// buffer — it takes operations under back-pressure, executes them in issue
// order on a map and completes them out of order after random latencies —
// and takes the response beats under back-pressure. Every response packet
// is checked byte for byte against wire.Respond of its request, with the
// same execution: the client library's transaction-level processor.

func init() {
	register(Scenario{
		Name: "front",
		Doc: "front end (decoder, reorder buffer, encoder): good and malformed request frames, a pipeline stand-in " +
			"completing out of order, back-pressure on every port; every response packet checked byte for byte against wire.Respond",
		Top:           func(config.Config) string { return "kvd_front" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, err := front.New(cfg)
			if err != nil {
				return nil, nil, err
			}
			s, err := newFrontStim(cfg, seed, 0)
			if err != nil {
				return nil, nil, err
			}
			return m, s, nil
		},
		Points: frontPoints,
	})
}

var frontPoints = []string{
	"front.response", "front.split", "front.error_response", "front.empty", "front.trailing",
	"front.issued", "front.out_of_order", "front.iss_backpressure", "front.tx_backpressure",
}

// frontExec is the pipeline stand-in's semantics: GET, PUT and DELETE on a
// map; any other issued operation answers OK with its operand bytes
// reversed (the front end only moves results; what they are is the
// pipeline's business).
func frontExec(store map[string][]byte, op wire.Op) wire.Result {
	k := string(op.Key)
	switch op.Code {
	case wire.OpGet:
		if v, ok := store[k]; ok {
			return wire.Result{Status: wire.OK, Value: slices.Clone(v)}
		}
		return wire.Result{Status: wire.NotFound}
	case wire.OpPut:
		store[k] = slices.Clone(op.Value)
		return wire.Result{Status: wire.OK}
	case wire.OpDelete:
		if _, ok := store[k]; ok {
			delete(store, k)
			return wire.Result{Status: wire.OK}
		}
		return wire.Result{Status: wire.NotFound}
	}
	v := slices.Clone(op.Value)
	slices.Reverse(v)
	return wire.Result{Status: wire.OK, Value: v}
}

type frontOp struct {
	tag uint64
	due uint64
	res wire.Result
}

type frontStim struct {
	gen    *decStim // frames, beats and their gaps
	rng    *rand.Rand
	b, v   int
	p      map[string]model.Slot
	lastIn []uint64

	cur      *decFrame
	beat     int
	offered  bool
	holdFrom uint64
	nframes  uint64

	pipe, ref map[string][]byte // the pipeline's store, and the reference's
	inflight  []frontOp
	want      []encPkt
	got       []byte
	packets   uint64
	target    uint64
	pts       map[string]uint64
}

func newFrontStim(cfg config.Config, seed, target uint64) (*frontStim, error) {
	gen, err := newDecStim(cfg, seed, 0)
	if err != nil {
		return nil, err
	}
	ports := front.Ports(cfg)
	l, err := model.NewLayout(ports)
	if err != nil {
		return nil, err
	}
	s := &frontStim{
		gen: gen, rng: rand.New(rand.NewPCG(seed, 0x66726f6e74)),
		b: cfg.Net.BytesPerCycle, v: cfg.Key.MaxValueBytes,
		p: map[string]model.Slot{}, lastIn: make([]uint64, l.InWords),
		pipe: map[string][]byte{}, ref: map[string][]byte{},
		target: target, pts: map[string]uint64{},
	}
	for _, pt := range ports {
		s.p[pt.Name] = l.MustSlot(pt.Name)
	}
	return s, nil
}

func (s *frontStim) get(out []uint64, name string) uint64 {
	sl := s.p[name]
	return model.Get(out[sl.Off:sl.Off+sl.Words], 0, min(64, sl.Width))
}

func (s *frontStim) put(in []uint64, name string, v uint64) {
	sl := s.p[name]
	in[sl.Off] = v & model.Mask(min(64, sl.Width))
}

// newFrame draws the next request and queues the packets it owes.
func (s *frontStim) newFrame(cycle uint64) error {
	f := s.gen.frame()
	f.n = s.nframes
	s.nframes++
	pkts, err := wire.Respond(f.bytes, s.gen.p, func(op wire.Op) wire.Result { return frontExec(s.ref, op) })
	if err != nil {
		return err
	}
	for _, pk := range pkts {
		s.want = append(s.want, encPkt{req: f.n, bytes: pk, what: f.what})
	}
	s.cur, s.beat, s.offered = &f, 0, false
	s.holdFrom = cycle + s.gen.gap()
	return nil
}

func (s *frontStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil {
		if err := s.observe(cycle-1, prev); err != nil {
			return false, err
		}
	}
	if s.target > 0 && s.packets >= s.target {
		return false, nil
	}
	if s.cur == nil {
		if err := s.newFrame(cycle); err != nil {
			return false, err
		}
	}
	if !s.offered && cycle >= s.holdFrom {
		s.offered = true
	}
	if s.offered {
		f := s.cur.bytes
		lo := s.beat * s.b
		hi := min(lo+s.b, len(f))
		s.put(in, "rx_valid", 1)
		sl := s.p["rx_data"]
		packWords(in[sl.Off:sl.Off+sl.Words], f[lo:hi])
		s.put(in, "rx_keep", model.Mask(hi-lo))
		s.put(in, "rx_last", b2u(hi == len(f)))
		s.put(in, "rx_len", uint64(len(f)))
	}
	if s.rng.IntN(6) != 0 {
		s.put(in, "iss_ready", 1)
	}
	// one completion per cycle, any of those due: out of order
	if s.rng.IntN(5) != 0 {
		if i := pickDue(len(s.inflight), func(j int) bool { return s.inflight[j].due <= cycle }, s.rng); i >= 0 {
			s.complete(i, in)
		}
	}
	if s.rng.IntN(5) != 0 {
		s.put(in, "tx_ready", 1)
	}
	copy(s.lastIn, in)
	return true, nil
}

// complete drives the completion of the i-th operation in the pipeline
// stand-in and forgets it.
func (s *frontStim) complete(i int, in []uint64) {
	o := s.inflight[i]
	if i > 0 {
		s.pts["front.out_of_order"]++
	}
	s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
	s.put(in, "cpl_valid", 1)
	s.put(in, "cpl_tag", o.tag)
	s.put(in, "cpl_status", uint64(o.res.Status))
	s.put(in, "cpl_vlen", uint64(len(o.res.Value)))
	sl := s.p["cpl_value"]
	packWords(in[sl.Off:sl.Off+sl.Words], o.res.Value)
}

func (s *frontStim) observe(c uint64, out []uint64) error {
	in := s.lastIn
	if s.get(in, "rx_valid") == 1 && s.get(out, "rx_ready") == 1 {
		s.beat++
		s.offered = false
		if s.beat*s.b >= len(s.cur.bytes) {
			s.cur = nil
		} else {
			s.holdFrom = c + 1 + s.gen.gap()
		}
	}
	if s.get(out, "iss_valid") == 1 {
		if s.get(in, "iss_ready") == 1 {
			op := wire.Op{Code: wire.Opcode(s.get(out, "iss_op")), Fid: uint8(s.get(out, "iss_fid")),
				Key:   htGetBytes(out, s.p["iss_key"], int(s.get(out, "iss_klen"))),
				Value: htGetBytes(out, s.p["iss_value"], int(s.get(out, "iss_vlen")))}
			if len(op.Value) == 0 {
				op.Value = nil
			}
			lat := 1 + s.rng.IntN(8)
			if s.rng.IntN(3) == 0 {
				lat = 1 + s.rng.IntN(300)
			}
			s.inflight = append(s.inflight, frontOp{tag: s.get(out, "iss_tag"), due: c + uint64(lat), res: frontExec(s.pipe, op)})
			s.pts["front.issued"]++
		} else {
			s.pts["front.iss_backpressure"]++
		}
	}
	if s.get(out, "tx_valid") == 0 {
		return nil
	}
	if s.get(in, "tx_ready") == 0 {
		s.pts["front.tx_backpressure"]++
		return nil
	}
	got, err := txBeat(c, &s.got, htGetBytes(out, s.p["tx_data"], s.b), s.get(out, "tx_keep"), s.get(out, "tx_last") == 1)
	if err != nil || got == nil {
		return err
	}
	if len(s.want) == 0 {
		return fmt.Errorf("cycle %d: a %d-byte packet was sent but none is owed: %x", c, len(got), got)
	}
	w := s.want[0]
	s.want = s.want[1:]
	if !bytes.Equal(got, w.bytes) {
		return fmt.Errorf("cycle %d: response to request #%d (%s): sent %d bytes\n  %x\nwire.Respond gives %d bytes\n  %x",
			c, w.req, w.what, len(got), got, len(w.bytes), w.bytes)
	}
	s.packets++
	if r, err := wire.DecodeResponse(got); err == nil {
		switch {
		case r.Err != wire.NoPacketError:
			s.pts["front.error_response"]++
		case len(r.Results) == 0:
			s.pts["front.empty"]++
		case r.First > 0:
			s.pts["front.split"]++
		default:
			s.pts["front.response"]++
		}
		if r.Trailing {
			s.pts["front.trailing"]++
		}
	}
	return nil
}

func (s *frontStim) Progress() uint64 { return s.packets }

// Requests is the number of response packets checked.
func (s *frontStim) Requests() uint64 { return s.packets }

func (s *frontStim) Describe(cycle uint64) string {
	var b bytes.Buffer
	if s.cur != nil {
		fmt.Fprintf(&b, "sending frame #%d (%s, %d bytes), beat %d; ", s.cur.n, s.cur.what, len(s.cur.bytes), s.beat)
	}
	fmt.Fprintf(&b, "%d operations in the pipeline stand-in", len(s.inflight))
	if len(s.want) > 0 {
		fmt.Fprintf(&b, "; next packet owed: response to request #%d, %d bytes (%d received)", s.want[0].req, len(s.want[0].bytes), len(s.got))
	}
	return b.String()
}

func (s *frontStim) Points() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range frontPoints {
		out[p] = s.pts[p]
	}
	return out
}
