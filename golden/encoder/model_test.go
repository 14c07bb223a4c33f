package encoder

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// encoder.md §2's table, port by port, at the sim and paper presets.
func TestPorts(t *testing.T) {
	type pw struct {
		name string
		dir  model.Dir
		w    int
		q    string
	}
	for _, c := range []struct {
		preset string
		b, v   int
		vl     int
	}{
		{"sim", 16, 478, 9},
		{"paper", 28, 478, 9},
	} {
		cfg := preset(t, c.preset)
		p := ParamsOf(cfg)
		if want := (Params{B: c.b, V: c.v, VL: c.vl, MR: 1472, PB: 1472}); p != want {
			t.Errorf("%s: params %+v, want %+v", c.preset, p, want)
		}
		want := []pw{
			{"e_valid", model.In, 1, ""}, {"e_ready", model.Out, 1, ""}, {"e_kind", model.In, 2, ""},
			{"e_seq", model.In, 32, ""}, {"e_last", model.In, 1, ""}, {"e_trailing", model.In, 1, ""},
			{"e_status", model.In, 8, ""}, {"e_received", model.In, 16, ""}, {"e_vlen", model.In, c.vl, ""},
			{"e_value", model.In, 8 * c.v, ""}, {"tx_valid", model.Out, 1, ""}, {"tx_ready", model.In, 1, ""},
			{"tx_data", model.Out, 8 * c.b, "tx_valid"}, {"tx_keep", model.Out, c.b, "tx_valid"},
			{"tx_last", model.Out, 1, "tx_valid"},
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
}

// §1: 14 + 3 + V ≤ MR.
func TestNewRefusesLargeV(t *testing.T) {
	cfg := preset(t, "sim")
	cfg.Key.MaxValueBytes = MR - HeaderBytes - RecordBytes + 1
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "key.max_value_bytes") {
		t.Fatalf("V = %d: err %v, want a refusal naming key.max_value_bytes", cfg.Key.MaxValueBytes, err)
	}
	cfg.Key.MaxValueBytes--
	if _, err := New(cfg); err != nil {
		t.Fatalf("V = %d: %v", cfg.Key.MaxValueBytes, err)
	}
}

func ok(v string) wire.Result { return wire.Result{Status: wire.OK, Value: []byte(v)} }

// §5's timeline at B = 28, cycle by cycle: two GETs answered OK with
// 2-byte values.
func TestTimeline(t *testing.T) {
	b := newBench(t, preset(t, "paper"))
	b.add(request{seq: 0x01020304, results: []wire.Result{ok("ab"), ok("cd")}}, "req")
	if len(b.want) != 1 || len(b.want[0]) != 24 {
		t.Fatalf("want one 24-byte packet, have %d", len(b.want))
	}
	type row struct {
		eReady, taken    bool
		hValid           bool // after the edge
		len, cnt, acc    int  // after the edge
		full0            bool // after the edge
		txValid, txLast  bool
		keep             int
		txDone, finished bool
	}
	rows := []row{
		{eReady: true, taken: true, hValid: true, len: 14},                                                   // t: record 0 taken
		{eReady: true, taken: true, hValid: true, len: 19, cnt: 1},                                           // t+1: placed (len 19), record 1 taken
		{eReady: true, len: 14, acc: 1, full0: true},                                                         // t+2: placed (len 24), e_last: close
		{eReady: true, len: 14, acc: 1, txValid: true, txLast: true, keep: 24, txDone: true, finished: true}, // t+3: the whole packet
		{eReady: true, len: 14, acc: 1, finished: true},                                                      // t+4: idle
	}
	for c, w := range rows {
		b.step()
		keep := 0
		if b.txValid {
			keep = popcount(b.out[b.keepOff : b.keepOff+1])
		}
		s := &b.m.s
		got := row{
			eReady: b.eReady, taken: b.taken, hValid: s.hValid, len: s.len, cnt: s.cnt, acc: s.acc, full0: s.full[0],
			txValid: b.txValid, txLast: b.txValid && b.out[b.lastOff] == 1, keep: keep, txDone: b.txDone, finished: b.got == 1,
		}
		if got != w {
			t.Errorf("cycle t+%d: %+v\n                 want %+v (%s)", c, got, w, b.m.DescribeState())
		}
	}
	if !b.done() {
		t.Fatal("not done")
	}
}

func popcount(w []uint64) int {
	n := 0
	for _, x := range w {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// A split (§4.2 case 3, §5's last paragraph): six 249-byte records, five
// fit 14 + 5·249 = 1259 bytes; the sixth closes the first packet in t+6
// without being placed and is placed (and closes the second, TRAILING) in
// t+7 into the other buffer, while the first is sent in 45 beats.
func TestSplitTimeline(t *testing.T) {
	b := newBench(t, preset(t, "paper"))
	res := make([]wire.Result, 6)
	for i := range res {
		res[i] = wire.Result{Status: wire.Status(i), Value: bytes.Repeat([]byte{byte(0x10 + i)}, 246)}
	}
	b.add(request{seq: 9, trailing: true, results: res}, "req")
	if len(b.want) != 2 || len(b.want[0]) != 1259 || len(b.want[1]) != 263 || b.want[0][3] != 1 || b.want[1][3] != 0x81 {
		t.Fatalf("wire split: %d packets", len(b.want))
	}
	for c := 0; c < 70; c++ {
		b.step()
		s := &b.m.s
		switch {
		case c <= 5:
			if !b.eReady || !b.taken || b.txValid {
				t.Errorf("t+%d: e_ready %v taken %v tx_valid %v, want 1 1 0", c, b.eReady, b.taken, b.txValid)
			}
			if want := 14 + 249*c; s.len != want || s.cnt != c {
				t.Errorf("t+%d: len %d cnt %d after the edge, want %d %d", c, s.len, s.cnt, want, c)
			}
		case c == 6:
			if b.eReady || b.txValid || !s.full[0] || s.acc != 1 || s.cnt != 0 || !s.hValid || s.plen[0] != 1259 {
				t.Errorf("t+6: e_ready %v tx_valid %v, after the edge %s; want the split close", b.eReady, b.txValid, b.m.DescribeState())
			}
		case c == 7:
			if !b.eReady || !b.txValid || !s.full[1] || s.acc != 0 || s.hValid || s.plen[1] != 263 || s.first != 5 || s.ridx != 0 {
				t.Errorf("t+7: e_ready %v tx_valid %v, after the edge %s; want record 5 placed and closed", b.eReady, b.txValid, b.m.DescribeState())
			}
		case c <= 51:
			if !b.txDone || (c == 51) != (b.out[b.lastOff] == 1) {
				t.Errorf("t+%d: beat %d of packet 0: taken %v tx_last %d", c, c-7, b.txDone, b.out[b.lastOff])
			}
			if c == 51 && popcount(b.out[b.keepOff:b.keepOff+1]) != 1259-44*28 {
				t.Errorf("t+51: tx_keep %x", b.out[b.keepOff])
			}
		case c <= 61:
			if !b.txDone || (c == 61) != (b.out[b.lastOff] == 1) {
				t.Errorf("t+%d: beat %d of packet 1: taken %v tx_last %d", c, c-52, b.txDone, b.out[b.lastOff])
			}
		default:
			if b.txValid {
				t.Errorf("t+%d: tx_valid after both packets", c)
			}
		}
	}
	if !b.done() {
		t.Fatalf("not done: %d packets", b.got)
	}
}

// Both buffers full and tx_ready low: the holding register keeps the third
// record and e_ready stays 0 until a buffer is sent; it is placed in the
// cycle after the transfer of that buffer's last beat (§4.2 acts on full
// at the start of the cycle).
func TestBothBuffersFull(t *testing.T) {
	b := newBench(t, preset(t, "paper"))
	for i := 0; i < 4; i++ {
		b.add(request{seq: uint32(i), results: []wire.Result{ok("xyzzy")}}, "req") // 22 bytes, 1 beat
	}
	b.ready = func(c int) bool { return c >= 10 }
	wantReady := []bool{true, true, true, false, false, false, false, false, false, false, false, true, true, true}
	for c, w := range wantReady {
		b.step()
		if b.eReady != w {
			t.Errorf("t+%d: e_ready %v, want %v (%s)", c, b.eReady, w, b.m.DescribeState())
		}
		if c >= 3 && c <= 9 && (!b.m.s.full[0] || !b.m.s.full[1] || !b.m.s.hValid) {
			t.Errorf("t+%d: %s, want both buffers full and a record held", c, b.m.DescribeState())
		}
	}
	b.run(100)
}

// wire-format.md §8's worked example: the 47-byte response and the 18-byte
// error response, byte for byte from the document.
func TestWorkedExample(t *testing.T) {
	resp := mustHex(t, "4b 56 01 01 2f 00 05 00 07 00 00 00 00 00  00 00 00  00 00 00  00 02 00 68 69  01 08 00 00 00 00 00 00 00 00 00  01 08 00 00 00 00 00 00 00 00 00")
	errResp := mustHex(t, "4b 56 01 02 12 00 00 00 07 00 00 00 00 00  05 00 3d 00")
	zero8 := make([]byte, 8)
	for _, name := range []string{"paper", "sim"} {
		b := newBench(t, preset(t, name))
		b.add(request{seq: 7, results: []wire.Result{ok(""), ok(""), ok("hi"), {Status: wire.NotFound, Value: zero8}, {Status: wire.NotFound, Value: zero8}}}, "example")
		b.add(request{seq: 7, code: int(wire.LengthMismatch), received: 61}, "refused")
		if len(b.want) != 2 || !bytes.Equal(b.want[0], resp) || !bytes.Equal(b.want[1], errResp) {
			t.Fatalf("wire disagrees with wire-format.md §8: %x %x", b.want[0], b.want[1])
		}
		b.garbage = true
		b.run(100)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// §2's assumptions on the environment: stimulus outside them is an error
// of the run, not something the model answers.
func TestRefusesBadRecords(t *testing.T) {
	cfg := preset(t, "paper")
	for _, c := range []struct {
		name string
		recs []rec
		set  func(b *bench)
		want string
	}{
		{"vlen > V", []rec{{kind: KindOp, last: true}}, func(b *bench) { b.set("e_vlen", 479) }, "e_vlen = 479 > V = 478"},
		{"kind 3", []rec{{kind: 3, last: true}}, nil, "e_kind = 3"},
		{"EMPTY without e_last", []rec{{kind: KindEmpty}}, nil, "EMPTY record taken without e_last"},
		{"PKT_ERROR without e_last", []rec{{kind: KindPktError, status: 1}}, nil, "PKT_ERROR record taken without e_last"},
		{"EMPTY inside a request", []rec{{kind: KindOp, seq: 3}, {kind: KindEmpty, last: true}}, nil, "the whole of its request"},
		{"seq changes in a request", []rec{{kind: KindOp, seq: 3}, {kind: KindOp, seq: 4, last: true}}, nil, "carry its seq"},
	} {
		b := newBench(t, cfg)
		m := b.m
		var got error
		for i, r := range c.recs {
			b.present(r)
			if c.set != nil && i == len(c.recs)-1 {
				c.set(b)
			}
			b.set("e_valid", 1)
			if got = m.Step(b.in, b.out); got != nil {
				break
			}
		}
		if got == nil || !strings.Contains(got.Error(), c.want) {
			t.Errorf("%s: err %v, want one saying %q", c.name, got, c.want)
		}
	}
	// The same fields on cycles where nothing is taken are ignored.
	b := newBench(t, cfg)
	b.present(rec{kind: 3})
	b.set("e_vlen", 511)
	for i := 0; i < 3; i++ {
		if err := b.m.Step(b.in, b.out); err != nil {
			t.Fatal(err)
		}
	}
}

// Snapshot and Restore are deep: a restored model replays the same cycles
// exactly, twice, whatever the live model did to its buffers meanwhile.
func TestSnapshotRestore(t *testing.T) {
	b := newBench(t, preset(t, "sim"))
	g := newGen(3, b.p)
	for i := 0; i < 200; i++ {
		b.add(g.request(), "req")
	}
	b.gap = func(int) bool { return g.r.IntN(4) == 0 }
	b.ready = func(int) bool { return g.r.IntN(3) != 0 }
	for b.cycle < 500 {
		b.step()
	}
	snap := b.m.Snapshot()
	desc := b.m.DescribeState()
	var ins, outs [][]uint64
	for i := 0; i < 2000; i++ {
		b.step()
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
	if s := &b.m.s; s.hValid || s.full[0] || s.full[1] || s.acc != 0 || s.cnt != 0 || s.len != 14 || s.ridx != 0 || s.snd != 0 || s.sbeat != 0 {
		t.Fatalf("after Reset: %s", b.m.DescribeState())
	}
	c := newBench(t, preset(t, "sim"))
	c.m = b.m
	c.add(request{seq: 1, results: []wire.Result{ok("after reset")}}, "req")
	c.run(100)
}
