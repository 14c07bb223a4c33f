package testbenches

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rob"
)

// The reorder-buffer scenario (docs/microarch/rob.md). The stimulus is the
// decoder in front (records of requests: issued operations, refused ones,
// refused and empty packets, with gaps), the pipeline behind (it takes
// issued operations under back-pressure and completes them out of order
// after random latencies, some longer than the buffer is deep) and the
// encoder (records taken under back-pressure). It checks, apart from the
// golden model, that every issued operation leaves unchanged with its entry
// as tag, exactly once, and that the encoder gets every record in the
// decoder's order carrying its own answer or its completion's.

func init() {
	register(Scenario{
		Name: "rob",
		Doc: "reorder buffer: requests of issued and refused operations, refused and empty packets, a pipeline completing " +
			"out of order after 1..3M cycles (M = entries) under issue back-pressure, encoder back-pressure; every issued " +
			"operation and every released record checked against the sequence sent",
		Top:           func(config.Config) string { return "kvd_rob" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, err := rob.New(cfg)
			if err != nil {
				return nil, nil, err
			}
			s, err := newROBStim(cfg, seed, 0)
			if err != nil {
				return nil, nil, err
			}
			return m, s, nil
		},
		Points: robPoints,
	})
}

var robPoints = []string{
	"rob.issued", "rob.refused_op", "rob.pkt_error", "rob.empty", "rob.trailing",
	"rob.out_of_order", "rob.full", "rob.iq_full", "rob.iss_backpressure", "rob.e_backpressure", "rob.d_gap",
	"rob.max_value",
}

type robRec struct {
	n        uint64 // decoder order
	entry    uint64
	kind     uint64
	seq      uint32
	last     bool
	trailing bool
	status   uint64 // the decoder's, or the completion's once done
	received uint64
	issued   bool
	op, fid  uint64
	key, val []byte
	// completion
	due       uint64 // earliest completion cycle (issued ones)
	completed bool
	cstatus   uint64
	cvalue    []byte
}

type robStim struct {
	rng          *rand.Rand
	m, k, v      int
	kw, vw       int // bus words of key and value
	p            map[string]model.Slot
	sl           struct{ dValid, dReady, issValid, issReady, cplValid, eValid, eReady int }
	todo         []*robRec // records to present, in order
	offered      bool
	holdFrom     uint64
	owed         []*robRec // accepted, not yet released, in order
	toIssue      []*robRec // accepted issued ones not yet seen on iss_*, in order
	inflight     []*robRec // issued and taken, not completed
	cpl          *robRec   // completion driven in the previous cycle
	lastIn       []uint64
	accepted     uint64
	released     uint64
	nreq         uint64
	target       uint64
	pts          map[string]uint64
	maxLatency   int
	latencySplit int
}

func newROBStim(cfg config.Config, seed, target uint64) (*robStim, error) {
	ports := rob.Ports(cfg)
	l, err := model.NewLayout(ports)
	if err != nil {
		return nil, err
	}
	s := &robStim{
		rng: rand.New(rand.NewPCG(seed, 0x726f62)),
		m:   cfg.ROB.Entries, k: cfg.Key.MaxKeyBytes, v: cfg.Key.MaxValueBytes,
		p:      map[string]model.Slot{},
		lastIn: make([]uint64, l.InWords),
		target: target,
		pts:    map[string]uint64{},
	}
	for _, pt := range ports {
		s.p[pt.Name] = l.MustSlot(pt.Name)
	}
	s.kw, s.vw = s.p["d_key"].Words, s.p["d_value"].Words
	s.sl.dValid, s.sl.dReady = s.p["d_valid"].Off, s.p["d_ready"].Off
	s.sl.issValid, s.sl.issReady = s.p["iss_valid"].Off, s.p["iss_ready"].Off
	s.sl.cplValid, s.sl.eValid, s.sl.eReady = s.p["cpl_valid"].Off, s.p["e_valid"].Off, s.p["e_ready"].Off
	s.maxLatency = 3 * s.m
	return s, nil
}

func (s *robStim) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return b
}

// request queues the records of the next request.
func (s *robStim) request() {
	r := s.rng
	seq := r.Uint32()
	s.nreq++
	switch x := r.IntN(100); {
	case x < 5:
		s.todo = append(s.todo, &robRec{kind: 1, seq: seq, last: true, status: uint64(1 + r.IntN(6)), received: uint64(r.IntN(0x10000))})
		return
	case x < 9:
		s.todo = append(s.todo, &robRec{kind: 2, seq: seq, last: true, trailing: r.IntN(2) == 0})
		return
	}
	n := 1 + r.IntN(8)
	tr := r.IntN(5) == 0
	for i := range n {
		rec := &robRec{seq: seq, last: i == n-1, trailing: tr && i == n-1}
		if r.IntN(8) == 0 {
			rec.status = []uint64{2, 3, 4, 7, 16, 17, 18}[r.IntN(7)]
		} else {
			rec.issued = true
			rec.op, rec.fid = uint64(r.IntN(8)), uint64(r.IntN(256))
			rec.key = s.bytes(1 + r.IntN(s.k))
			rec.val = s.bytes(r.IntN(s.v + 1))
		}
		s.todo = append(s.todo, rec)
	}
}

// pickDue picks uniformly one of the n entries for which due holds, or
// returns -1: two passes and no allocation, since it runs every cycle.
func pickDue(n int, due func(int) bool, rng *rand.Rand) int {
	k := 0
	for j := range n {
		if due(j) {
			k++
		}
	}
	if k == 0 {
		return -1
	}
	k = rng.IntN(k)
	for j := range n {
		if due(j) {
			if k == 0 {
				return j
			}
			k--
		}
	}
	return -1
}

func (s *robStim) put(in []uint64, name string, v uint64) {
	sl := s.p[name]
	in[sl.Off] = v & model.Mask(min(64, sl.Width))
}

func (s *robStim) putBytes(in []uint64, name string, b []byte) {
	sl := s.p[name]
	packWords(in[sl.Off:sl.Off+sl.Words], b)
}

func (s *robStim) get(out []uint64, name string) uint64 {
	sl := s.p[name]
	return model.Get(out[sl.Off:sl.Off+sl.Words], 0, min(64, sl.Width))
}

func (s *robStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil {
		if err := s.observe(cycle-1, prev); err != nil {
			return false, err
		}
	}
	if s.target > 0 && s.released >= s.target {
		return false, nil
	}
	// decoder side
	if len(s.todo) == 0 {
		s.request()
	}
	if !s.offered && cycle >= s.holdFrom {
		s.offered = true
	}
	if s.offered {
		d := s.todo[0]
		in[s.sl.dValid] = 1
		s.put(in, "d_kind", d.kind)
		s.put(in, "d_seq", uint64(d.seq))
		s.put(in, "d_last", b2u(d.last))
		s.put(in, "d_trailing", b2u(d.trailing))
		s.put(in, "d_status", d.status)
		s.put(in, "d_received", d.received)
		if d.issued {
			s.put(in, "d_op", d.op)
			s.put(in, "d_fid", d.fid)
			s.put(in, "d_klen", uint64(len(d.key)))
			s.putBytes(in, "d_key", d.key)
			s.put(in, "d_vlen", uint64(len(d.val)))
			s.putBytes(in, "d_value", d.val)
		}
	}
	// pipeline: back-pressure, and one completion per cycle at most, any
	// of those due (out of order)
	if s.rng.IntN(6) != 0 {
		in[s.sl.issReady] = 1
	}
	s.cpl = nil
	if len(s.inflight) > 0 && s.rng.IntN(4) != 0 {
		if i := pickDue(len(s.inflight), func(j int) bool { return s.inflight[j].due <= cycle }, s.rng); i >= 0 {
			r := s.inflight[i]
			if i > 0 {
				s.pts["rob.out_of_order"]++
			}
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			r.completed, r.cstatus = true, uint64(s.rng.IntN(19))
			r.cvalue = s.bytes(s.rng.IntN(s.v + 1))
			if s.rng.IntN(10) == 0 {
				r.cvalue = s.bytes(s.v)
			}
			in[s.sl.cplValid] = 1
			s.put(in, "cpl_tag", r.entry)
			s.put(in, "cpl_status", r.cstatus)
			s.put(in, "cpl_vlen", uint64(len(r.cvalue)))
			// garbage past cpl_vlen must not reach e_value
			sl := s.p["cpl_value"]
			w := in[sl.Off : sl.Off+sl.Words]
			for j := range w {
				w[j] = s.rng.Uint64()
			}
			w[len(w)-1] &= model.Mask(sl.Width - 64*(len(w)-1))
			for j, b := range r.cvalue {
				w[j/8] = w[j/8]&^(0xff<<(8*uint(j%8))) | uint64(b)<<(8*uint(j%8))
			}
			s.cpl = r
		}
	}
	if s.rng.IntN(5) != 0 {
		in[s.sl.eReady] = 1
	}
	copy(s.lastIn, in)
	return true, nil
}

func (s *robStim) observe(c uint64, out []uint64) error {
	in := s.lastIn
	if in[s.sl.dValid] == 1 {
		if out[s.sl.dReady] == 1 {
			d := s.todo[0]
			s.todo = s.todo[1:]
			d.n, d.entry = s.accepted, s.accepted%uint64(s.m)
			s.accepted++
			s.owed = append(s.owed, d)
			if d.issued {
				s.toIssue = append(s.toIssue, d)
			}
			s.offered = false
			s.holdFrom = c + 1
			if s.rng.IntN(6) == 0 {
				s.holdFrom += uint64(1 + s.rng.IntN(5))
				s.pts["rob.d_gap"]++
			}
		} else if len(s.owed) == s.m {
			s.pts["rob.full"]++
		} else {
			s.pts["rob.iq_full"]++
		}
	}
	if out[s.sl.issValid] == 1 {
		if len(s.toIssue) == 0 {
			return fmt.Errorf("cycle %d: iss_valid with no issued record outstanding", c)
		}
		w := s.toIssue[0]
		if err := s.checkIssue(out, w); err != nil {
			return fmt.Errorf("cycle %d: issue of record #%d (entry %d): %v", c, w.n, w.entry, err)
		}
		if in[s.sl.issReady] == 1 {
			s.toIssue = s.toIssue[1:]
			lat := 1 + s.rng.IntN(8)
			if s.rng.IntN(3) == 0 {
				lat = 1 + s.rng.IntN(s.maxLatency)
			}
			w.due = c + uint64(lat)
			s.inflight = append(s.inflight, w)
		} else {
			s.pts["rob.iss_backpressure"]++
		}
	}
	if out[s.sl.eValid] == 0 {
		return nil
	}
	if in[s.sl.eReady] == 0 {
		s.pts["rob.e_backpressure"]++
		return nil
	}
	if len(s.owed) == 0 {
		return fmt.Errorf("cycle %d: a record was released but none is owed", c)
	}
	w := s.owed[0]
	s.owed = s.owed[1:]
	if err := s.checkRelease(out, w); err != nil {
		return fmt.Errorf("cycle %d: release of record #%d (entry %d, request seq %#x): %v", c, w.n, w.entry, w.seq, err)
	}
	s.released++
	switch {
	case w.kind == 1:
		s.pts["rob.pkt_error"]++
	case w.kind == 2:
		s.pts["rob.empty"]++
	case w.issued:
		s.pts["rob.issued"]++
		if len(w.cvalue) == s.v {
			s.pts["rob.max_value"]++
		}
	default:
		s.pts["rob.refused_op"]++
	}
	if w.trailing {
		s.pts["rob.trailing"]++
	}
	return nil
}

func (s *robStim) checkIssue(out []uint64, w *robRec) error {
	for _, f := range []struct {
		name string
		want uint64
	}{{"iss_tag", w.entry}, {"iss_op", w.op}, {"iss_fid", w.fid}, {"iss_klen", uint64(len(w.key))}, {"iss_vlen", uint64(len(w.val))}} {
		if got := s.get(out, f.name); got != f.want {
			return fmt.Errorf("%s = %d, want %d", f.name, got, f.want)
		}
	}
	if got := htGetBytes(out, s.p["iss_key"], len(w.key)); !bytes.Equal(got, w.key) {
		return fmt.Errorf("iss_key %x, want %x", got, w.key)
	}
	if got := htGetBytes(out, s.p["iss_value"], len(w.val)); !bytes.Equal(got, w.val) {
		return fmt.Errorf("iss_value %x, want %x", got, w.val)
	}
	return nil
}

func (s *robStim) checkRelease(out []uint64, w *robRec) error {
	status, val := w.status, []byte(nil)
	if w.issued {
		if !w.completed {
			return fmt.Errorf("released before its completion")
		}
		status, val = w.cstatus, w.cvalue
	}
	for _, f := range []struct {
		name string
		want uint64
	}{{"e_kind", w.kind}, {"e_seq", uint64(w.seq)}, {"e_last", b2u(w.last)}, {"e_trailing", b2u(w.trailing)},
		{"e_status", status}, {"e_received", w.received}, {"e_vlen", uint64(len(val))}} {
		if got := s.get(out, f.name); got != f.want {
			return fmt.Errorf("%s = %d, want %d", f.name, got, f.want)
		}
	}
	got := htGetBytes(out, s.p["e_value"], s.v)
	want := append(append([]byte(nil), val...), make([]byte, s.v-len(val))...)
	if !bytes.Equal(got, want) {
		return fmt.Errorf("e_value %x, want %x (zero past e_vlen)", got, want)
	}
	return nil
}

func (s *robStim) Progress() uint64 { return s.released }

// Requests is the number of records released and checked.
func (s *robStim) Requests() uint64 { return s.released }

func (s *robStim) Describe(cycle uint64) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d records accepted, %d released, %d awaiting issue, %d in the pipeline", s.accepted, s.released, len(s.toIssue), len(s.inflight))
	if len(s.owed) > 0 {
		w := s.owed[0]
		fmt.Fprintf(&b, "; oldest owed: record #%d (entry %d, kind %d, issued %v, completed %v)", w.n, w.entry, w.kind, w.issued, w.completed)
	}
	return b.String()
}

func (s *robStim) Points() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range robPoints {
		out[p] = s.pts[p]
	}
	return out
}
