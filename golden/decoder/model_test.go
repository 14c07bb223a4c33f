package decoder

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// decoder.md §2's table, port by port, at the sim and paper presets.
func TestPorts(t *testing.T) {
	type pw struct {
		name string
		dir  model.Dir
		w    int
	}
	for _, c := range []struct {
		preset           string
		b, k, kl, v, vl  int
		wb               int
		eb               int
		keyBits, valBits int
	}{
		{"sim", 16, 16, 5, 478, 9, 5 + 255 + 478 + 16, 4, 128, 3824},
		{"paper", 28, 32, 6, 478, 9, 766, 4, 256, 3824},
	} {
		cfg := preset(t, c.preset)
		p := ParamsOf(cfg)
		if want := (Params{B: c.b, K: c.k, KL: c.kl, V: c.v, VL: c.vl, EB: c.eb, WB: c.wb}); p != want {
			t.Errorf("%s: params %+v, want %+v", c.preset, p, want)
		}
		want := []pw{
			{"rx_valid", model.In, 1}, {"rx_ready", model.Out, 1}, {"rx_data", model.In, 8 * c.b},
			{"rx_keep", model.In, c.b}, {"rx_last", model.In, 1}, {"rx_len", model.In, 16},
			{"d_valid", model.Out, 1}, {"d_ready", model.In, 1}, {"d_kind", model.Out, 2},
			{"d_seq", model.Out, 32}, {"d_index", model.Out, 16}, {"d_last", model.Out, 1},
			{"d_trailing", model.Out, 1}, {"d_status", model.Out, 5}, {"d_received", model.Out, 16},
			{"d_op", model.Out, 3}, {"d_fid", model.Out, 8}, {"d_klen", model.Out, c.kl},
			{"d_key", model.Out, c.keyBits}, {"d_vlen", model.Out, c.vl}, {"d_value", model.Out, c.valBits},
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
			if g.Name != w.name || g.Dir != w.dir || g.Width != w.w {
				t.Errorf("%s port %d: %s %v %d, want %s %v %d", c.preset, i, g.Name, g.Dir, g.Width, w.name, w.dir, w.w)
			}
			// §2: every d_* but d_valid is qualified by d_valid; nothing else.
			wantQ := ""
			if strings.HasPrefix(w.name, "d_") && w.dir == model.Out && w.name != "d_valid" {
				wantQ = "d_valid"
			}
			if g.QualifiedBy != wantQ {
				t.Errorf("%s port %s: qualified by %q, want %q", c.preset, g.Name, g.QualifiedBy, wantQ)
			}
		}
		if _, err := model.NewLayout(got); err != nil {
			t.Fatal(err)
		}
	}
}

// §1: V ≥ 24.
func TestNewRefusesSmallV(t *testing.T) {
	cfg := preset(t, "sim")
	cfg.Key.MaxValueBytes = MinV - 1
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "key.max_value_bytes") {
		t.Fatalf("V = %d: err %v, want a refusal naming key.max_value_bytes", MinV-1, err)
	}
	cfg.Key.MaxValueBytes = MinV
	if _, err := New(cfg); err != nil {
		t.Fatalf("V = %d: %v", MinV, err)
	}
}

// twoGets is §5's request: 34 bytes, two 11-byte GETs with klen 6 and no
// flags.
func twoGets(t *testing.T, seq uint32) []byte {
	t.Helper()
	req := wire.Request{Seq: seq, Ops: []wire.Op{wire.Get([]byte("abcdef")), wire.Get([]byte("ghijkl"))}, Flags: []wire.Flags{0, 0}}
	pkt, err := wire.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkt) != 34 {
		t.Fatalf("request of %d bytes, want 34", len(pkt))
	}
	return pkt
}

// §5's timeline at B = 28, cycle by cycle, with the next frame offered as
// soon as the first one's last beat is taken.
func TestTimeline(t *testing.T) {
	b := newBench(t, preset(t, "paper"))
	b.widths = true
	pkt := twoGets(t, 0x01020304)
	b.add(pkt, "frame 0")
	b.add(twoGets(t, 5), "frame 1")
	type row struct {
		rxReady, taken, dValid bool
		st                     int // st after the edge
		wcnt                   int // wcnt after the edge
		index                  int // d_index when dValid
	}
	// cycle t = 0.
	rows := []row{
		{rxReady: true, taken: true, st: stHDR, wcnt: 28},             // t: beat 0, infr, L = 34
		{rxReady: true, taken: true, st: stOPS, wcnt: 22},             // t+1: HDR consumes 12; beat 1: 16 + 6
		{rxReady: false, st: stOPS, wcnt: 11},                         // t+2: emit op 0, consume 11
		{rxReady: false, dValid: true, index: 0, st: stDROP, wcnt: 0}, // t+3: op 0 out; emit op 1 → DROP
		{rxReady: false, dValid: true, index: 1, st: stHDR, wcnt: 0},  // t+4: op 1 out; DROP with gotl → HDR
		{rxReady: true, taken: true, st: stHDR, wcnt: 28},             // t+5: the next frame's beat 0
		{rxReady: true, taken: true, st: stOPS, wcnt: 22},             // t+6
		{rxReady: false, st: stOPS, wcnt: 11},                         // t+7
		{rxReady: false, dValid: true, index: 0, st: stDROP, wcnt: 0}, // t+8
		{rxReady: false, dValid: true, index: 1, st: stHDR, wcnt: 0},  // t+9
		{rxReady: true, st: stHDR, wcnt: 0},                           // t+10: idle
	}
	for c, w := range rows {
		if err := b.step(); err != nil {
			t.Fatal(err)
		}
		got := row{
			rxReady: b.out[b.m.rxReady] == 1, taken: b.beatTaken,
			dValid: b.out[b.m.dValid] == 1, st: b.m.s.st, wcnt: len(b.m.s.win),
		}
		if got.dValid {
			got.index = int(b.out[b.m.dIndex])
		}
		if got != w {
			t.Errorf("cycle t+%d: %+v, want %+v (%s)", c, got, w, b.m.DescribeState())
		}
		switch c {
		case 0:
			if !b.m.s.infr || b.m.s.L != 34 {
				t.Errorf("t: infr %v L %d", b.m.s.infr, b.m.s.L)
			}
		case 1:
			if !b.m.s.gotl {
				t.Errorf("t+1: gotl 0 after the last beat")
			}
		case 4:
			r := b.record()
			if !r.Last || r.Trailing || r.Status != 0 || r.Kind != KindOp {
				t.Errorf("t+4: record %v: want op 1, last, not trailing, issued", r)
			}
		}
	}
	if b.taken != 4 || b.fi != 2 {
		t.Fatalf("%d records, %d frames taken", b.taken, b.fi)
	}
}

// §5: a steady stream of 10-byte operations in 1472-byte packets, d_ready
// always 1 and beats always offered: one operation per cycle, and each
// packet costs three cycles more than its operations.
func TestThroughput(t *testing.T) {
	for _, name := range []string{"paper", "sim"} {
		b := newBench(t, preset(t, name))
		const packets, ops = 20, 146 // 12 + 146 × 10 = 1472
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < packets; i++ {
			req := wire.Request{Seq: uint32(i), Ops: make([]wire.Op, ops), Flags: make([]wire.Flags, ops)}
			for j := range req.Ops {
				req.Ops[j] = wire.Get(randBytes(r, 5)) // 5 fixed bytes + 5: 10 bytes
			}
			pkt, err := wire.EncodeRequest(req)
			if err != nil || len(pkt) != 1472 {
				t.Fatalf("packet of %d bytes: %v", len(pkt), err)
			}
			b.add(pkt, fmt.Sprintf("packet %d", i))
		}
		var validCycles []int
		for b.taken < len(b.want) {
			if b.cycle > packets*(ops+3)+10 {
				t.Fatalf("%s: too slow: %d records in %d cycles", name, b.taken, b.cycle)
			}
			if err := b.step(); err != nil {
				t.Fatal(err)
			}
			if b.out[b.m.dValid] == 1 {
				validCycles = append(validCycles, b.cycle-1)
			}
		}
		for i := 1; i < len(b.firstBeat); i++ {
			if d := b.firstBeat[i] - b.firstBeat[i-1]; d != ops+3 {
				t.Errorf("%s: packet %d starts %d cycles after packet %d, want %d", name, i, d, i-1, ops+3)
			}
		}
		// The records of one packet leave on consecutive cycles.
		for i := 0; i < packets; i++ {
			first := validCycles[i*ops]
			if last := validCycles[i*ops+ops-1]; last-first != ops-1 {
				t.Errorf("%s: packet %d's %d records over %d cycles", name, i, ops, last-first+1)
			}
			if want := b.firstBeat[i] + 3; first != want {
				t.Errorf("%s: packet %d's first record in cycle %d, want %d (first beat + 3)", name, i, first, want)
			}
		}
		t.Logf("%s: %d packets of %d operations in %d cycles", name, packets, ops, b.cycle)
	}
}

// coverage names the corners of wire-format.md §4 a closed-loop run must
// reach, from the frames and wire.DecodeRequest's conclusions.
func coverage(cov map[string]int, pkt []byte, p Params) {
	d := wire.DecodeRequest(pkt, wireParams(p))
	if len(pkt) <= 13 {
		cov[fmt.Sprintf("frame of %d bytes", len(pkt))]++
	}
	if d.Err != wire.NoPacketError {
		cov["packet error "+d.Err.String()]++
		return
	}
	if len(d.Ops) == 0 {
		cov[fmt.Sprintf("empty, trailing %v", d.Trailing > 0)]++
		return
	}
	if d.Trailing > 0 {
		cov["trailing after the last op"]++
	}
	if len(d.Ops) > 1 && d.Ops[len(d.Ops)-1].Status.Delimited() && d.Trailing == 0 {
		cov["no trailing after the last op"]++
	}
	for i, o := range d.Ops {
		cov["status "+o.Status.String()]++
		if o.Flags != 0 {
			cov["flags "+o.Flags.String()]++
		}
		if !o.Status.Delimited() {
			continue
		}
		if o.Flags&wire.SameValue == 0 && len(o.Op.Value) > p.V {
			cov["long op (skipped)"]++
			if len(o.Op.Value) > p.WB {
				cov["long op, vlen > WB"]++
			}
		}
		if len(o.Op.Key) > p.K {
			cov["key > K"]++
		}
		if i > 0 && o.Flags&wire.SameValue != 0 {
			prev := d.Ops[i-1]
			if prev.Status != wire.OK {
				cov["SAME_VALUE after a refused op"]++
			}
			if len(prev.Op.Value) > p.V {
				cov["SAME_VALUE after a long op"]++
			}
			if o.Status == wire.OK && len(o.Op.Value) > 0 {
				cov["issued SAME_VALUE with a value"]++
			}
		}
	}
}

// The closed loop: random frames as beats with random gaps and random
// d_ready, every record against wire.DecodeRequest.
func TestClosedLoop(t *testing.T) {
	total := 200_000
	if testing.Short() {
		total = 10_000
	}
	runs := []struct {
		cfg       config.Config
		share     int // per cent of the packets
		gap, busy float64
	}{
		{preset(t, "sim"), 35, 0.2, 0.3},
		{preset(t, "paper"), 35, 0.05, 0.1},
		{narrow(t), 15, 0.3, 0.5},
		{wide(t), 15, 0, 0},
	}
	start := time.Now()
	for ri, run := range runs {
		name := run.cfg.Name
		b := newBench(t, run.cfg)
		r := rand.New(rand.NewPCG(uint64(ri), 0x6465636f646572))
		b.randomTiming(r, run.gap, run.busy)
		b.widths = ri == 0
		n := total * run.share / 100
		cov := map[string]int{}
		const chunk = 500
		for done := 0; done < n; done += chunk {
			for i := done; i < min(n, done+chunk); i++ {
				pkt := genPacket(r, b.p)
				coverage(cov, pkt, b.p)
				b.add(pkt, fmt.Sprintf("packet %d (%d bytes %x…)", i, len(pkt), pkt[:min(len(pkt), 16)]))
			}
			if err := b.run(b.cycle + 50_000_000); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b.frames, b.want, b.wtag, b.fi, b.taken = b.frames[:0], b.want[:0], b.wtag[:0], 0, 0
		}
		t.Logf("%s: %d packets, %d cycles", name, n, b.cycle)
		var missing []string
		for _, k := range mustCover(b.p) {
			if cov[k] == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 && !testing.Short() {
			t.Errorf("%s: not reached: %s\ncoverage: %v", name, strings.Join(missing, "; "), cov)
		}
	}
	t.Logf("%d packets in %v", total, time.Since(start).Round(time.Millisecond))
}

func mustCover(p Params) []string {
	var c []string
	for n := 1; n <= 13; n++ {
		c = append(c, fmt.Sprintf("frame of %d bytes", n))
	}
	for _, e := range []wire.PacketError{wire.Short, wire.BadMagic, wire.BadVersion, wire.BadType, wire.LengthMismatch, wire.FirstOpFlags} {
		c = append(c, "packet error "+e.String())
	}
	for _, s := range []wire.Status{wire.OK, wire.EmptyKey, wire.ValueTooLong, wire.BadOp, wire.Truncated, wire.UnknownOpcode, wire.LengthPastEnd} {
		c = append(c, "status "+s.String())
	}
	if p.K < 255 {
		c = append(c, "status "+wire.KeyTooLong.String(), "key > K")
	}
	return append(c, "empty, trailing true", "empty, trailing false", "trailing after the last op",
		"no trailing after the last op", "flags S", "flags V", "flags SV", "long op (skipped)",
		"long op, vlen > WB", "SAME_VALUE after a refused op", "SAME_VALUE after a long op",
		"issued SAME_VALUE with a value")
}

// Every output of kvd_dec is a function of the state (rx_ready by §4.2,
// d_* registers): the outputs of a cycle do not change with its inputs.
// Snapshot and Restore are deep: a replay from a snapshot repeats the run.
func TestStateOnlyOutputsAndSnapshot(t *testing.T) {
	b := newBench(t, preset(t, "sim"))
	r := rand.New(rand.NewPCG(7, 7))
	b.randomTiming(r, 0.2, 0.3)
	for i := 0; i < 300; i++ {
		b.add(genPacket(r, b.p), fmt.Sprintf("packet %d", i))
	}
	alt := make([]uint64, len(b.in))
	altOut := make([]uint64, len(b.out))
	type cyc struct{ in, out []uint64 }
	var trace []cyc
	var snap any
	snapAt := 2000
	for b.fi < len(b.frames) || b.taken < len(b.want) {
		if b.cycle == snapAt {
			snap = b.m.Snapshot()
		}
		// The same state with other inputs gives the same outputs.
		s := b.m.Snapshot()
		for i := range alt {
			alt[i] = r.Uint64()
		}
		alt[b.m.rxValid], alt[b.m.dReady] = 0, r.Uint64()&1
		if err := b.m.Step(alt, altOut); err != nil {
			t.Fatal(err)
		}
		b.m.Restore(s)
		if err := b.step(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(altOut, b.out) {
			t.Fatalf("cycle %d: outputs depend on the inputs of the cycle", b.cycle-1)
		}
		if b.cycle > snapAt && len(trace) < 3000 {
			trace = append(trace, cyc{slices.Clone(b.in), slices.Clone(b.out)})
		}
	}
	if snap == nil {
		t.Fatal("run shorter than the snapshot point")
	}
	b.m.Restore(snap)
	out := make([]uint64, len(b.out))
	for i, c := range trace {
		if err := b.m.Step(c.in, out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out, c.out) {
			t.Fatalf("replay cycle %d differs", snapAt+i)
		}
	}
}

// Stimulus outside §2's assumptions is refused, not decoded.
func TestStimulusErrors(t *testing.T) {
	pkt := twoGets(t, 1)
	for _, c := range []struct {
		name string
		mod  func(b *bench)
		want string
	}{
		{"keep gap", func(b *bench) { b.in[b.l.MustSlot("rx_keep").Off] = 0b101 }, "rx_keep"},
		{"no byte", func(b *bench) { b.in[b.l.MustSlot("rx_keep").Off] = 0 }, "no byte"},
		{"short beat", func(b *bench) { b.in[b.l.MustSlot("rx_keep").Off] = 1 }, "without rx_last"},
		{"zero length", func(b *bench) { b.in[b.m.rxLen] = 0 }, "rx_len = 0"},
		{"early last", func(b *bench) { b.in[b.m.rxLast] = 1 }, "frame ends"},
	} {
		b := newBench(t, preset(t, "sim"))
		b.add(pkt, "frame")
		b.present()
		c.mod(b)
		b.in[b.m.dReady] = 1
		err := b.m.Step(b.in, b.out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one about %q", c.name, err, c.want)
		}
	}
	// rx_len changing within a frame.
	b := newBench(t, preset(t, "sim"))
	b.add(pkt, "frame")
	if err := b.step(); err != nil {
		t.Fatal(err)
	}
	b.present()
	b.in[b.m.rxLen] = 35
	if err := b.m.Step(b.in, b.out); err == nil || !strings.Contains(err.Error(), "began with 34") {
		t.Errorf("rx_len change: err %v", err)
	}
}

// A count of 65535 on a frame with no operation bytes: every operation
// answered TRUNCATED, one per cycle, and the last one last.
func TestAllTruncated(t *testing.T) {
	b := newBench(t, preset(t, "sim"))
	pkt, _ := wire.EncodeRequest(wire.Request{Seq: 9})
	pkt[6], pkt[7] = 0xff, 0xff
	b.add(pkt, "count 65535")
	if err := b.run(70_000); err != nil {
		t.Fatal(err)
	}
	if b.taken != 65535 || b.cycle > 65535+8 {
		t.Fatalf("%d records in %d cycles", b.taken, b.cycle)
	}
}

// The worked example of wire-format.md §8, and its length-mismatch twin.
func TestWorkedExample(t *testing.T) {
	b := newBench(t, preset(t, "sim"))
	b.add(workedExample, "§8")
	bad := bytes.Clone(workedExample)
	bad[4] = 0x3c
	b.add(bad, "§8 length 0x3c")
	if err := b.run(1000); err != nil {
		t.Fatal(err)
	}
	if b.taken != 6 {
		t.Fatalf("%d records", b.taken)
	}
	if !strings.Contains(b.m.DescribeState(), "st HDR") {
		t.Fatalf("state %s", b.m.DescribeState())
	}
}

// runFor steps b cycles times, calling each after every cycle.
func (b *bench) runFor(t *testing.T, cycles int, each func(c int)) {
	t.Helper()
	for c := 0; c < cycles; c++ {
		if err := b.step(); err != nil {
			t.Fatal(err)
		}
		if each != nil {
			each(c)
		}
	}
}

// §4.2 at the paper preset, hand-computed: with d_ready held at 0 the
// decoder emits operation 0 and then takes beats only while wcnt ≤ WB − B
// = 738; 6-byte operations make wcnt hit 738 exactly.
func TestWindowFills(t *testing.T) {
	b := newBench(t, preset(t, "paper"))
	const n = 200
	req := wire.Request{Ops: make([]wire.Op, n), Flags: make([]wire.Flags, n)}
	for i := range req.Ops {
		req.Ops[i] = wire.Get([]byte{byte(i)}) // 5 + 1 bytes
	}
	pkt, err := wire.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	b.add(pkt, "6-byte GETs")
	b.ready = func(int) bool { return false }
	// t: 28. t+1: 28 − 12 + 28 = 44. t+2: op 0 emitted, 44 − 6 + 28 = 66.
	// Then +28 a cycle while wcnt ≤ 738: 66 + 28·24 = 738 is taken (→ 766
	// = WB, the window exactly full), nothing after. 3 + 25 beats.
	beats := 0
	b.runFor(t, 100, func(int) {
		if b.beatTaken {
			beats++
		}
	})
	if beats != 28 || len(b.m.s.win) != b.p.WB || b.out[b.m.rxReady] != 0 {
		t.Fatalf("%d beats taken, wcnt %d (WB %d), rx_ready %d; want 28 beats and a full window", beats, len(b.m.s.win), b.p.WB, b.out[b.m.rxReady])
	}
	// Released, it answers everything.
	b.ready = func(int) bool { return true }
	if err := b.run(b.cycle + 1000); err != nil {
		t.Fatal(err)
	}
}

// A long operation (§4.4 case 8, then case 2), hand-computed at B = 28 with
// beats offered every cycle: PUT klen 4, vlen 1000 > V, then a 9-byte GET;
// L = 12 + 1009 + 9 = 1030, 37 beats taken in cycles 0 … 36.
//
//	t+2: the PUT answered VALUE_TOO_LONG from its 5 fixed bytes; skip ←
//	     1004; wcnt 44 − 5 + 28 = 67
//	t+3: skip 67 (bytes 17 … 83); t+4 … t+36: 28 a cycle (beats 3 … 35,
//	     to byte 1007)
//	t+37: skip the last 13 of beat 36's 22 bytes; wcnt 9
//	t+38: the GET, whole: its record is out in t+39.
func TestLongOpTiming(t *testing.T) {
	b := newBench(t, preset(t, "paper"))
	req := wire.Request{Seq: 3, Ops: []wire.Op{wire.Put([]byte("long"), make([]byte, 1000)), wire.Get([]byte("next"))}, Flags: []wire.Flags{0, 0}}
	pkt, err := wire.EncodeRequest(req)
	if err != nil || len(pkt) != 1030 {
		t.Fatalf("%d bytes, %v", len(pkt), err)
	}
	b.add(pkt, "long PUT, GET")
	var out []int
	b.runFor(t, 45, func(c int) {
		if b.out[b.m.dValid] == 1 {
			out = append(out, c)
		}
		if c == 3 && b.m.s.skip != 1004-67 {
			t.Errorf("t+3: skip %d, want %d", b.m.s.skip, 1004-67)
		}
	})
	if !slices.Equal(out, []int{3, 39}) {
		t.Fatalf("records out in cycles %v, want [3 39]", out)
	}
	if b.taken != 2 {
		t.Fatalf("%d records", b.taken)
	}
}

// §4.6 reads DROP as no step of §4.3/§4.4: it leaves for HDR on gotl even
// while the last record waits, and the next frame's first beat is taken;
// its HDR step waits for free.
func TestDropDoesNotWaitForOutput(t *testing.T) {
	// §5's frame 0 with op 1 held from t+4 to t+9: DROP (t+4) leaves for
	// HDR at once and frame 1's beats are taken in t+5 and t+6 while op 1
	// still waits (a DROP waiting for free would take them in t+11, t+12).
	b := newBench(t, preset(t, "paper"))
	b.add(twoGets(t, 1), "frame 0")
	b.add(twoGets(t, 2), "frame 1")
	b.ready = func(c int) bool { return c == 3 || c >= 10 }
	var taken []int
	b.runFor(t, 20, func(c int) {
		if b.beatTaken {
			taken = append(taken, c)
		}
	})
	if !slices.Equal(taken, []int{0, 1, 5, 6}) {
		t.Errorf("beats taken in %v, want [0 1 5 6]", taken)
	}
	if b.taken != 4 {
		t.Errorf("%d records", b.taken)
	}
}
