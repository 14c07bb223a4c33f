package rob

import (
	"slices"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/golden/model"
)

// rob.md §2's table, port by port, at the sim and paper presets.
func TestPorts(t *testing.T) {
	type pw struct {
		name string
		dir  model.Dir
		w    int
		q    string
	}
	for _, c := range []struct {
		preset        string
		m, mw, k, kl  int
		v, vl         int
		wantPortCount int
	}{
		{"sim", 64, 6, 16, 5, 478, 9, 38},
		{"paper", 1024, 10, 32, 6, 478, 9, 38},
	} {
		cfg := preset(t, c.preset)
		p := ParamsOf(cfg)
		if want := (Params{M: c.m, MW: c.mw, K: c.k, KL: c.kl, V: c.v, VL: c.vl, IQ: 2}); p != want {
			t.Errorf("%s: params %+v, want %+v", c.preset, p, want)
		}
		const i, o = model.In, model.Out
		iv, ev := "iss_valid", "e_valid"
		want := []pw{
			{"d_valid", i, 1, ""}, {"d_ready", o, 1, ""},
			{"d_kind", i, 2, ""}, {"d_seq", i, 32, ""}, {"d_last", i, 1, ""}, {"d_trailing", i, 1, ""},
			{"d_status", i, 5, ""}, {"d_received", i, 16, ""},
			{"d_op", i, 3, ""}, {"d_fid", i, 8, ""}, {"d_klen", i, c.kl, ""}, {"d_key", i, 8 * c.k, ""},
			{"d_vlen", i, c.vl, ""}, {"d_value", i, 8 * c.v, ""},
			{"iss_valid", o, 1, ""}, {"iss_ready", i, 1, ""}, {"iss_tag", o, 16, iv},
			{"iss_op", o, 3, iv}, {"iss_fid", o, 8, iv}, {"iss_klen", o, c.kl, iv}, {"iss_key", o, 8 * c.k, iv},
			{"iss_vlen", o, c.vl, iv}, {"iss_value", o, 8 * c.v, iv},
			{"cpl_valid", i, 1, ""}, {"cpl_tag", i, 16, ""}, {"cpl_status", i, 8, ""},
			{"cpl_vlen", i, c.vl, ""}, {"cpl_value", i, 8 * c.v, ""},
			{"e_valid", o, 1, ""}, {"e_ready", i, 1, ""},
			{"e_kind", o, 2, ev}, {"e_seq", o, 32, ev}, {"e_last", o, 1, ev}, {"e_trailing", o, 1, ev},
			{"e_status", o, 8, ev}, {"e_received", o, 16, ev}, {"e_vlen", o, c.vl, ev}, {"e_value", o, 8 * c.v, ev},
		}
		if len(want) != c.wantPortCount {
			t.Fatalf("the table has %d ports, the brief %d", len(want), c.wantPortCount)
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Ports()
		if len(got) != len(want) {
			t.Fatalf("%s: %d ports, want %d", c.preset, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.Name != w.name || g.Dir != w.dir || g.Width != w.w || g.QualifiedBy != w.q {
				t.Errorf("%s port %d: %s %v %d %q, want %s %v %d %q", c.preset, i, g.Name, g.Dir, g.Width, g.QualifiedBy, w.name, w.dir, w.w, w.q)
			}
		}
		if _, err := model.NewLayout(got); err != nil {
			t.Fatal(err)
		}
	}
	// MW at the edges of §1's rule.
	for _, c := range []struct{ m, mw int }{{1, 1}, {2, 1}, {3, 2}, {5, 3}, {64, 6}, {65, 7}, {4096, 12}} {
		if got := ParamsOf(withM(t, c.m)).MW; got != c.mw {
			t.Errorf("M = %d: MW %d, want %d", c.m, got, c.mw)
		}
	}
}

// The §5 timeline cycle by cycle: a GET taken in t, issued in t+1, its
// completion L cycles later, released in t+2+L, on e_* in t+3+L.
func TestTimeline(t *testing.T) {
	for _, L := range []int{1, 2, 5} {
		b := newBench(t, preset(t, "sim"))
		p := b.m.P
		key := make([]uint64, model.Words(8*p.K))
		key[0] = 0x6f6c6c6568 // "hello"
		get := &drec{kind: KindOp, seq: 0x01020304, last: true, op: 0, fid: 7, klen: 5, key: key, value: make([]uint64, model.Words(8*p.V))}
		val := make([]uint64, model.Words(8*p.V))
		val[0] = 0xffff_ff00_6968 // "hi" and bytes past vlen 2 the pipeline may leave behind
		b.set("iss_ready", 1)
		b.set("e_ready", 1)
		type row struct {
			dReady, issValid, eValid bool
			head, count              int // after the edge
		}
		for c := 0; c <= L+4; c++ {
			b.set("d_valid", 0)
			b.set("cpl_valid", 0)
			if c == 0 {
				b.present(get)
			}
			if c == 1+L {
				b.complete(0, 0, 2, val)
			}
			b.step()
			got := row{b.get("d_ready") == 1, b.get("iss_valid") == 1, b.get("e_valid") == 1, b.m.s.head, b.m.s.count}
			want := row{dReady: true, count: 1}
			switch {
			case c == 0:
			case c == 1:
				want.issValid = true
			case c < 2+L:
			case c == 2+L: // released
				want.head, want.count = 1, 0
			case c == 3+L:
				want.head, want.count, want.eValid = 1, 0, true
			default:
				want.head, want.count = 1, 0
			}
			if got != want {
				t.Errorf("L = %d, cycle t+%d: %+v, want %+v (%s)", L, c, got, want, b.m.DescribeState())
			}
			if c == 1 {
				if b.get("iss_tag") != 0 || b.get("iss_fid") != 7 || b.get("iss_klen") != 5 || b.words("iss_key")[0] != key[0] || b.get("iss_op") != 0 {
					t.Errorf("L = %d: iss_* tag %d op %d fid %d klen %d", L, b.get("iss_tag"), b.get("iss_op"), b.get("iss_fid"), b.get("iss_klen"))
				}
			}
			if c == 3+L {
				if b.get("e_kind") != KindOp || b.get("e_seq") != 0x01020304 || b.get("e_last") != 1 || b.get("e_status") != 0 || b.get("e_vlen") != 2 || b.words("e_value")[0] != 0x6968 {
					t.Errorf("L = %d: e_* kind %d seq %#x last %d status %d vlen %d value %#x", L, b.get("e_kind"), b.get("e_seq"), b.get("e_last"), b.get("e_status"), b.get("e_vlen"), b.words("e_value")[0])
				}
			}
		}
	}
}

// §5: a refused operation taken in t with an empty buffer is on e_* in t+2,
// with its status, vlen 0 and a zero value; it is never issued.
func TestRefusedTimeline(t *testing.T) {
	b := newBench(t, withM(t, 1))
	p := b.m.P
	b.set("iss_ready", 1)
	b.set("e_ready", 1)
	// A full value in entry 0 first (M = 1): the refused record, which
	// takes the same entry, must clear it.
	key := make([]uint64, model.Words(8*p.K))
	key[0] = 'k'
	b.present(&drec{kind: KindOp, seq: 9, last: true, op: 1, klen: 1, key: key, value: make([]uint64, model.Words(8*p.V))})
	b.step()
	b.set("d_valid", 0)
	b.step()
	full := make([]uint64, model.Words(8*p.V))
	for i := range full {
		full[i] = ^uint64(0)
	}
	full[len(full)-1] = topMask(8 * p.V)
	b.complete(0, 0, p.V, full)
	for b.get("e_valid") == 0 {
		b.step()
		b.set("cpl_valid", 0)
	}
	if b.words("e_value")[0] != ^uint64(0) || b.get("e_vlen") != uint64(p.V) {
		t.Fatalf("setup: e_vlen %d", b.get("e_vlen"))
	}
	b.set("e_ready", 1)
	b.step() // taken

	refused := &drec{kind: KindOp, seq: 0xabcdef01, last: true, trailing: true, status: 17, key: make([]uint64, model.Words(8*p.K)), value: make([]uint64, model.Words(8*p.V))}
	for c := 0; c <= 3; c++ {
		b.set("d_valid", 0)
		if c == 0 {
			b.present(refused)
		}
		b.step()
		if b.get("iss_valid") != 0 {
			t.Errorf("cycle t+%d: iss_valid for a refused operation", c)
		}
		if got, want := b.get("e_valid") == 1, c == 2; got != want {
			t.Errorf("cycle t+%d: e_valid %v, want %v (%s)", c, got, want, b.m.DescribeState())
		}
		if c == 2 {
			if b.get("e_kind") != KindOp || b.get("e_seq") != 0xabcdef01 || b.get("e_last") != 1 || b.get("e_trailing") != 1 ||
				b.get("e_status") != 17 || b.get("e_received") != 0 || b.get("e_vlen") != 0 {
				t.Errorf("e_* kind %d seq %#x last %d trailing %d status %d received %d vlen %d", b.get("e_kind"), b.get("e_seq"),
					b.get("e_last"), b.get("e_trailing"), b.get("e_status"), b.get("e_received"), b.get("e_vlen"))
			}
			for i, w := range b.words("e_value") {
				if w != 0 {
					t.Errorf("e_value word %d = %#x, want 0", i, w)
				}
			}
		}
	}
}

// §4.4: d_ready is 0 when the issue queue holds IQ operations and when the
// buffer holds M entries, and depends on nothing else.
func TestDReady(t *testing.T) {
	b := newBench(t, withM(t, 5))
	p := b.m.P
	op := &drec{kind: KindOp, last: true, klen: 1, key: make([]uint64, model.Words(8*p.K)), value: make([]uint64, model.Words(8*p.V))}
	// iss_ready = 0: two operations fill the issue queue.
	b.present(op)
	for c, want := range []uint64{1, 1, 0, 0} {
		b.step()
		if b.get("d_ready") != want {
			t.Errorf("issue queue: cycle %d: d_ready %d, want %d (%s)", c, b.get("d_ready"), want, b.m.DescribeState())
		}
	}
	// d_valid does not matter.
	b.set("d_valid", 0)
	b.step()
	if b.get("d_ready") != 0 || b.m.s.count != 2 {
		t.Fatalf("d_ready %d with a full issue queue (%s)", b.get("d_ready"), b.m.DescribeState())
	}
	// One taken: room for one more, issued ones then refused ones fill M.
	b.set("iss_ready", 1)
	b.present(&drec{kind: KindPktError, last: true, status: 2, received: 300, key: op.key, value: op.value})
	for c := 0; c < 5; c++ {
		b.step()
	}
	if b.get("d_ready") != 0 || b.m.s.count != 5 {
		t.Fatalf("full buffer: d_ready %d (%s)", b.get("d_ready"), b.m.DescribeState())
	}
	// The head is issued and not answered: nothing leaves, nothing enters.
	b.set("e_ready", 1)
	for c := 0; c < 4; c++ {
		b.step()
		if b.get("d_ready") != 0 || b.get("e_valid") != 0 {
			t.Fatalf("cycle %d: d_ready %d e_valid %d before the head is answered (%s)", c, b.get("d_ready"), b.get("e_valid"), b.m.DescribeState())
		}
	}
}

// Completions §2 rules out, and cpl_vlen > V, stop the run with an error
// naming the problem; the same fields with cpl_valid = 0 are ignored.
func TestRefusesBadCompletions(t *testing.T) {
	cfg := withM(t, 8)
	p := ParamsOf(cfg)
	vw := model.Words(8 * p.V)
	issued := &drec{kind: KindOp, last: true, klen: 1, key: make([]uint64, model.Words(8*p.K)), value: make([]uint64, vw)}
	refused := &drec{kind: KindOp, last: true, status: 3, key: issued.key, value: issued.value}
	// setup runs cycles: records accepted one per cycle (iss_ready as given).
	type scen struct {
		name  string
		recs  []*drec
		issue bool // iss_ready during the setup
		extra int  // cycles after the records
		tag   int
		vlen  int
		twice bool // complete once correctly first
		want  string
	}
	for _, c := range []scen{
		{"tag >= M", []*drec{issued}, true, 2, 8, 0, false, "only M = 8 entries"},
		{"tag 0xffff", []*drec{issued}, true, 2, 0xffff, 0, false, "tag 65535"},
		{"free entry", []*drec{issued}, true, 2, 3, 0, false, "the entry is free"},
		// refused 0 goes to e_* and stays (e_ready = 0), refused 1 waits done.
		{"answered at once", []*drec{refused, refused, issued}, true, 0, 1, 0, false, "holds its answer already"},
		{"still queued", []*drec{issued}, false, 2, 0, 0, false, "not taken by the pipeline in an earlier cycle"},
		{"same cycle as issue", []*drec{issued}, true, 0, 0, 0, false, "not taken by the pipeline in an earlier cycle"},
		{"twice", []*drec{issued}, true, 1, 0, 0, true, "holds its answer already"},
		{"vlen > V", []*drec{issued}, true, 1, 0, p.V + 1, false, "cpl_vlen = 479 > V = 478"},
	} {
		b := newBench(t, cfg)
		b.set("iss_ready", b2u(c.issue))
		for _, r := range c.recs {
			b.present(r)
			b.step()
		}
		b.set("d_valid", 0)
		for i := 0; i < c.extra; i++ {
			b.step()
		}
		if c.twice {
			b.complete(c.tag, 0, 0, issued.value)
			b.step()
		}
		b.complete(c.tag, 1, c.vlen, issued.value)
		before := b.m.DescribeState()
		err := b.m.Step(b.in, b.out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one saying %q", c.name, err, c.want)
		}
		if after := b.m.DescribeState(); after != before {
			t.Errorf("%s: the refused cycle changed the state: %s, was %s", c.name, after, before)
		}
	}
	// Not valid: ignored.
	b := newBench(t, cfg)
	b.complete(0xffff, 1, 511, issued.value)
	b.set("cpl_valid", 0)
	for i := 0; i < 3; i++ {
		b.step()
	}
}

// Snapshot and Restore are deep: a restored model replays the same cycles
// exactly, twice, whatever the live model did to its entries meanwhile.
func TestSnapshotRestore(t *testing.T) {
	l := newLoop(t, withM(t, 6), 11)
	for l.cycle < 500 {
		l.step()
	}
	b := l.b
	snap := b.m.Snapshot()
	desc := b.m.DescribeState()
	var ins, outs [][]uint64
	for i := 0; i < 2000; i++ {
		l.step()
		ins = append(ins, slices.Clone(b.in))
		outs = append(outs, slices.Clone(b.out))
	}
	for round := 0; round < 2; round++ {
		b.m.Restore(snap)
		if d := b.m.DescribeState(); d != desc {
			t.Fatalf("round %d: restored state %s, snapshot was %s", round, d, desc)
		}
		out := make([]uint64, len(b.out))
		for i, in := range ins {
			if err := b.m.Step(in, out); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out, outs[i]) {
				t.Fatalf("round %d, cycle %d after the snapshot: outputs differ", round, i)
			}
		}
	}
	// Reset: control registers only, then it works from scratch.
	b.m.Reset()
	s := &b.m.s
	if s.head != 0 || s.tail != 0 || s.count != 0 || s.iqn != 0 || s.eValid || slices.Contains(s.done, true) {
		t.Fatalf("after Reset: %s", b.m.DescribeState())
	}
	l2 := newLoop(t, withM(t, 6), 12)
	l2.b.m = b.m
	l2.run(300)
}
