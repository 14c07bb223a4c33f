package rob

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// The closed loop: a random decoder in front of the model, a random
// pipeline on iss_*/cpl_* that answers out of order, a random encoder on
// e_*. Every record must come out on e_* in the decoder's order with the
// fields rob.md §4 gives it, every issued operation must be issued once,
// unchanged, tagged with its entry index, and the buffer must never hold
// more than M records.

// info is one decoder record and what the loop learnt about it.
type info struct {
	drec
	n     int // record number, in decoder order
	entry int // entry index (the record number mod M: tail counts accepts)
	// The completion, for an issued record.
	completed            bool
	cStatus, cVlen       int
	cValue               []uint64
	issuedAt, completeAt int
}

type pend struct {
	rec *info
	due int
}

// knobs are the loop's random rates, changed every few thousand cycles.
type knobs struct {
	gap    int // % of cycles the decoder does not offer a record when it could
	issue  int // % of cycles with iss_ready
	enc    int // % of cycles with e_ready
	cpl    int // % of cycles a due completion is sent
	latMax int // completion latency 1 … latMax
	issued int // % of OP records issued
	whole  int // % of requests that are PKT_ERROR or EMPTY
}

type loop struct {
	t     testing.TB
	b     *bench
	r     *rand.Rand
	p     Params
	cycle int
	k     knobs
	// fixedLat > 0: every completion exactly fixedLat cycles after its
	// issue, in order (the throughput test); knobs stay as set.
	fixedLat int
	vary     bool

	kw, vw     int
	zeroK      []uint64
	zeroV      []uint64
	seq        uint32
	gen        []*info // generated, not yet presented, in order
	made       int     // records generated
	cur        *info   // on d_* (d_valid), until taken
	recs       []*info // by record number; nil once seen on e_*
	accepted   int
	issueQ     []*info // accepted issued records not yet taken by the pipeline
	pending    []pend  // taken by the pipeline, not completed
	eNext      int     // next record number expected on e_*
	nIssued    int
	nTaken     int
	held       []uint64 // e_* outputs of a cycle with e_valid && !e_ready
	acceptedAt []int    // cycle of each accept (throughput test)
	eTakenAt   []int
	lastEvent  int
	maxCount   int
	kindsSeen  [3]int
	refused    int
	maxOut     int
}

func newLoop(t testing.TB, cfg config.Config, seed uint64) *loop {
	b := newBench(t, cfg)
	p := b.m.P
	l := &loop{
		t: t, b: b, r: rand.New(rand.NewPCG(seed, 0x726f62)), p: p, vary: true,
		kw: model.Words(8 * p.K), vw: model.Words(8 * p.V),
	}
	l.zeroK, l.zeroV = make([]uint64, l.kw), make([]uint64, l.vw)
	l.newKnobs()
	return l
}

func (l *loop) newKnobs() {
	r := l.r
	pick := func(v ...int) int { return v[r.IntN(len(v))] }
	l.k = knobs{
		gap:    pick(0, 0, 10, 50, 90),
		issue:  pick(100, 100, 70, 30, 5),
		enc:    pick(100, 100, 70, 30, 5),
		cpl:    pick(100, 80, 30),
		latMax: pick(1, 2, 4, l.p.M, 3*l.p.M+3),
		issued: pick(90, 70, 30),
		whole:  pick(10, 10, 40),
	}
}

// randWords fills n bytes of a w-word value with random bytes, the rest 0.
func (l *loop) randWords(w, n int) []uint64 {
	v := make([]uint64, w)
	for i := 0; i < n/8; i++ {
		v[i] = l.r.Uint64()
	}
	if n%8 != 0 {
		v[n/8] = l.r.Uint64() & model.Mask(8*(n%8))
	}
	return v
}

// vlen draws a value length in 0 … V, mostly small, sometimes V itself.
func (l *loop) vlen() int {
	r, v := l.r, l.p.V
	switch x := r.IntN(100); {
	case x < 50:
		return r.IntN(min(v, 8) + 1)
	case x < 80:
		return r.IntN(min(v, 64) + 1)
	case x < 95:
		return r.IntN(v + 1)
	default:
		return v - r.IntN(min(v, 3)+1)
	}
}

var faults = []int{2, 3, 4, 7, 16, 17, 18}

// request appends one request's records as decoder.md §2 makes them.
func (l *loop) request() {
	r := l.r
	l.seq += 1 + uint32(r.IntN(3))
	if r.IntN(20) == 0 {
		l.seq = r.Uint32()
	}
	add := func(d drec) {
		if d.key == nil {
			d.key, d.value = l.zeroK, l.zeroV
		}
		l.gen = append(l.gen, &info{drec: d, n: l.made})
		l.made++
	}
	switch x := r.IntN(100); {
	case x < l.k.whole/2:
		add(drec{kind: KindPktError, seq: l.seq, last: true, status: 1 + r.IntN(6), received: r.IntN(0x10000)})
		return
	case x < l.k.whole:
		add(drec{kind: KindEmpty, seq: l.seq, last: true, trailing: r.IntN(2) == 0})
		return
	}
	n := 1 + r.IntN(4)
	if r.IntN(4) == 0 {
		n = 1 + r.IntN(40)
	}
	for i := 0; i < n; i++ {
		d := drec{kind: KindOp, seq: l.seq, last: i == n-1}
		d.trailing = d.last && r.IntN(3) == 0
		if r.IntN(100) < l.k.issued {
			d.op, d.fid, d.klen, d.vlen = r.IntN(8), r.IntN(256), 1+r.IntN(l.p.K), l.vlen()
			d.key, d.value = l.randWords(l.kw, d.klen), l.randWords(l.vw, d.vlen)
		} else {
			d.status = faults[r.IntN(len(faults))]
		}
		add(d)
	}
}

// step runs one cycle: drive, Step, check.
func (l *loop) step() {
	t, b, r, p := l.t, l.b, l.r, l.p
	t.Helper()
	if l.vary && l.cycle%3000 == 0 && l.cycle > 0 {
		l.newKnobs()
	}

	// Drive.
	if l.cur == nil && r.IntN(100) >= l.k.gap {
		if len(l.gen) == 0 {
			l.request()
		}
		l.cur, l.gen = l.gen[0], l.gen[1:]
		l.recs = append(l.recs, l.cur)
	}
	if l.cur != nil {
		b.present(&l.cur.drec)
	} else {
		b.set("d_valid", 0)
	}
	b.set("iss_ready", b2u(r.IntN(100) < l.k.issue))
	b.set("e_ready", b2u(r.IntN(100) < l.k.enc))
	var sent *info
	b.set("cpl_valid", 0)
	if len(l.pending) > 0 {
		i := -1
		if l.fixedLat > 0 {
			if l.pending[0].due == l.cycle {
				i = 0
			} else if l.pending[0].due < l.cycle {
				t.Fatalf("cycle %d: completion due in %d not sent", l.cycle, l.pending[0].due)
			}
		} else if r.IntN(100) < l.k.cpl {
			// A random due one: out of order.
			var due []int
			for j, q := range l.pending {
				if q.due <= l.cycle {
					due = append(due, j)
				}
			}
			if len(due) > 0 {
				i = due[r.IntN(len(due))]
			}
		}
		if i >= 0 {
			sent = l.pending[i].rec
			l.pending = slices.Delete(l.pending, i, i+1)
			sent.completed, sent.completeAt = true, l.cycle
			sent.cStatus = r.IntN(256)
			sent.cVlen = l.vlen()
			// Garbage past cpl_vlen: the buffer must not keep it.
			sent.cValue = l.randWords(l.vw, p.V)
			b.complete(sent.entry, sent.cStatus, sent.cVlen, sent.cValue)
		}
	}

	b.step()

	// Check.
	if name := b.aboveWidth(); name != "" {
		t.Fatalf("cycle %d: %s has bits above its width", l.cycle, name)
	}
	eValid := b.get("e_valid") == 1
	eOut := b.out[b.slot("e_kind").Off:]
	if l.held != nil {
		if !eValid || !slices.Equal(l.held, eOut) {
			t.Fatalf("cycle %d: e_* changed or dropped before it was taken (%s)", l.cycle, b.m.DescribeState())
		}
	}
	l.held = nil
	eTaken := eValid && b.in[b.slot("e_ready").Off] == 1
	if eValid && !eTaken {
		l.held = slices.Clone(eOut)
	}

	if l.cur != nil && b.get("d_ready") == 1 {
		c := l.cur
		l.cur = nil
		c.entry = l.accepted % p.M
		if c.issued() {
			l.issueQ = append(l.issueQ, c)
		} else {
			l.refused++
		}
		l.kindsSeen[c.kind]++
		l.accepted++
		l.acceptedAt = append(l.acceptedAt, l.cycle)
		l.lastEvent = l.cycle
	}

	if b.get("iss_valid") == 1 && b.in[b.slot("iss_ready").Off] == 1 {
		if len(l.issueQ) == 0 {
			t.Fatalf("cycle %d: an operation issued, none expected (%s)", l.cycle, b.m.DescribeState())
		}
		c := l.issueQ[0]
		l.issueQ = l.issueQ[1:]
		if g, w := int(b.get("iss_tag")), c.entry; g != w {
			t.Fatalf("cycle %d: record %d issued with tag %d, its entry is %d", l.cycle, c.n, g, w)
		}
		if b.get("iss_op") != uint64(c.op) || b.get("iss_fid") != uint64(c.fid) || b.get("iss_klen") != uint64(c.klen) ||
			b.get("iss_vlen") != uint64(c.vlen) || !slices.Equal(b.words("iss_key"), c.key) || !slices.Equal(b.words("iss_value"), c.value) {
			t.Fatalf("cycle %d: record %d issued as op %d fid %d klen %d vlen %d, want op %d fid %d klen %d vlen %d (or key/value differ)",
				l.cycle, c.n, b.get("iss_op"), b.get("iss_fid"), b.get("iss_klen"), b.get("iss_vlen"), c.op, c.fid, c.klen, c.vlen)
		}
		c.issuedAt = l.cycle
		lat := l.fixedLat
		if lat == 0 {
			lat = 1 + r.IntN(l.k.latMax)
		}
		l.pending = append(l.pending, pend{rec: c, due: l.cycle + lat})
		l.nIssued++
		l.maxOut = max(l.maxOut, len(l.pending))
		l.lastEvent = l.cycle
	}

	if eTaken {
		if l.eNext >= len(l.recs) {
			t.Fatalf("cycle %d: a record on e_*, none expected", l.cycle)
		}
		c := l.recs[l.eNext]
		if c == nil || c.n != l.eNext {
			t.Fatalf("cycle %d: record %d out of place", l.cycle, l.eNext)
		}
		if err := l.checkE(c); err != nil {
			t.Fatalf("cycle %d: record %d (kind %d status %d issued %v) on e_*: %v (%s)", l.cycle, c.n, c.kind, c.status, c.issued(), err, b.m.DescribeState())
		}
		l.recs[l.eNext] = nil
		l.eNext++
		l.nTaken++
		l.eTakenAt = append(l.eTakenAt, l.cycle)
		l.lastEvent = l.cycle
	}

	// The buffer never holds more than M: inside, and as seen from outside
	// (accepted, not yet on e_* or sitting in the e_* register).
	inside := l.accepted - l.eNext
	if l.held != nil {
		inside--
	}
	if s := b.m.s.count; s > p.M || inside > p.M {
		t.Fatalf("cycle %d: the buffer holds %d (seen from outside %d), M = %d", l.cycle, s, inside, p.M)
	}
	l.maxCount = max(l.maxCount, inside)
	if l.cycle-l.lastEvent > 100_000 {
		t.Fatalf("cycle %d: nothing moved for 100000 cycles (%s)", l.cycle, b.m.DescribeState())
	}
	l.cycle++
}

// checkE compares e_* with what rob.md §4 makes of record c.
func (l *loop) checkE(c *info) error {
	b := l.b
	status, vlen, recv := c.status, 0, c.received
	value := l.zeroV
	if c.issued() {
		if !c.completed || c.completeAt+2 > l.cycle {
			return fmt.Errorf("released before its completion had time (completed %v in %d)", c.completed, c.completeAt)
		}
		status, vlen = c.cStatus, c.cVlen // received: every record's own (§4.4)
		value = slices.Clone(c.cValue)
		clear(value[(vlen+7)/8:])
		if vlen%8 != 0 {
			value[vlen/8] &= model.Mask(8 * (vlen % 8))
		}
	}
	got := []uint64{b.get("e_kind"), b.get("e_seq"), b.get("e_last"), b.get("e_trailing"), b.get("e_status"), b.get("e_received"), b.get("e_vlen")}
	want := []uint64{uint64(c.kind), uint64(c.seq), b2u(c.last), b2u(c.trailing), uint64(status), uint64(recv), uint64(vlen)}
	if !slices.Equal(got, want) {
		return fmt.Errorf("kind seq last trailing status received vlen %v, want %v", got, want)
	}
	if !slices.Equal(b.words("e_value"), value) {
		return fmt.Errorf("e_value differs (bytes ≥ e_vlen %d must be zero)", vlen)
	}
	return nil
}

// run steps until n records have left on e_*, then drains.
func (l *loop) run(n int) {
	l.t.Helper()
	for l.eNext < n {
		l.step()
	}
}

func (l *loop) finish(t *testing.T) {
	// Nothing left behind: stop offering records and drain.
	l.k.gap, l.vary = 100, false
	l.k.issue, l.k.enc, l.k.cpl = 100, 100, 100
	if l.cur != nil {
		for l.cur != nil {
			l.step()
		}
	}
	for l.eNext < l.accepted {
		l.step()
	}
	if len(l.issueQ) != 0 || len(l.pending) != 0 {
		t.Fatalf("drained with %d queued and %d pending", len(l.issueQ), len(l.pending))
	}
	if want := l.accepted - l.refused; l.nIssued != want {
		t.Fatalf("%d operations issued, %d records were issued ones", l.nIssued, want)
	}
	if s := &l.b.m.s; s.count != 0 || s.iqn != 0 {
		t.Fatalf("drained: %s", l.b.m.DescribeState())
	}
}

func TestClosedLoop(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for _, c := range []struct {
		name string
		m    int
		n    int
	}{
		{"sim M=64", 64, n},
		{"M=1", 1, n},
		{"M=5", 5, n},
		{"M=3", 3, n / 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			l := newLoop(t, withM(t, c.m), uint64(c.m)*7919+1)
			l.run(c.n)
			l.finish(t)
			t.Logf("M = %d: %d records (%d OP, %d PKT_ERROR, %d EMPTY; %d answered at once, %d issued) in %d cycles; at most %d in the buffer, %d in the pipeline; %v",
				c.m, l.eNext, l.kindsSeen[0], l.kindsSeen[1], l.kindsSeen[2], l.refused, l.nIssued, l.cycle, l.maxCount, l.maxOut, time.Since(start).Round(time.Millisecond))
			if l.maxCount != c.m {
				t.Errorf("the buffer never filled (%d of %d)", l.maxCount, c.m)
			}
		})
	}
}

// The paper preset (K = 32, M = 256) in a shorter loop.
func TestClosedLoopPaper(t *testing.T) {
	l := newLoop(t, preset(t, "paper"), 5)
	l.run(20_000)
	l.finish(t)
}

// §5's throughput: with iss_ready = e_ready = 1, a record offered every
// cycle and a pipeline of fixed latency L, an entry is taken in t, issued
// in t+1, completed in t+1+L, released in t+2+L, and free for a record
// again in t+3+L: a round trip of L+3 cycles. One record per cycle when
// M ≥ L+3; otherwise M records per L+3 cycles.
func TestThroughput(t *testing.T) {
	for _, c := range []struct{ m, l int }{
		{64, 1}, {64, 30}, {64, 61}, {64, 62}, {64, 100}, {8, 5}, {8, 6}, {8, 20}, {5, 2}, {5, 3}, {5, 40}, {1, 1}, {1, 7},
	} {
		l := newLoop(t, withM(t, c.m), 1)
		l.vary, l.fixedLat = false, c.l
		l.k = knobs{gap: 0, issue: 100, enc: 100, cpl: 100, issued: 100}
		rt := c.l + 3
		warm, periods := 4*rt+10, 20
		end := warm + periods*rt
		for l.cycle < end+rt+5 {
			l.step()
		}
		count := func(at []int, from, to int) int {
			n := 0
			for _, x := range at {
				if x >= from && x < to {
					n++
				}
			}
			return n
		}
		want := periods * min(c.m, rt)
		if got := count(l.acceptedAt, warm, end); got != want {
			t.Errorf("M = %d, L = %d: %d records taken in %d cycles, want %d", c.m, c.l, got, end-warm, want)
		}
		// The encoder side runs at the same rate, L+3 cycles behind.
		if got := count(l.eTakenAt, warm+rt, end+rt); got != want {
			t.Errorf("M = %d, L = %d: %d records on e_* in %d cycles, want %d", c.m, c.l, got, end-warm, want)
		}
		// And the first record's round trip is §5's.
		if len(l.eTakenAt) == 0 || l.eTakenAt[0] != l.acceptedAt[0]+c.l+3 {
			t.Errorf("M = %d, L = %d: first record taken in %d, on e_* in %v, want %d", c.m, c.l, l.acceptedAt[0], l.eTakenAt[:1], l.acceptedAt[0]+c.l+3)
		}
	}
}
