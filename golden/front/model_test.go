package front

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/decoder"
	"github.com/kvdirect/kvd/golden/encoder"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rob"
)

// processor.md §3's table, each row in the order written, with the widths
// of decoder.md §2 and rob.md §2 (B bytes per beat, K and V max key and
// value bytes, KL and VL the bits to hold 0..K and 0..V).
func wantPorts(cfg config.Config) []model.Port {
	b, k, v := cfg.Net.BytesPerCycle, cfg.Key.MaxKeyBytes, cfg.Key.MaxValueBytes
	kl, vl := bits.Len(uint(k)), bits.Len(uint(v))
	in := func(n string, w int) model.Port { return model.Port{Name: n, Dir: model.In, Width: w} }
	out := func(n string, w int, q string) model.Port {
		return model.Port{Name: n, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	return []model.Port{
		in("rx_valid", 1), out("rx_ready", 1, ""), in("rx_data", 8*b), in("rx_keep", b),
		in("rx_last", 1), in("rx_len", 16),
		out("iss_valid", 1, ""), in("iss_ready", 1), out("iss_tag", 16, "iss_valid"),
		out("iss_op", 3, "iss_valid"), out("iss_fid", 8, "iss_valid"), out("iss_klen", kl, "iss_valid"),
		out("iss_key", 8*k, "iss_valid"), out("iss_vlen", vl, "iss_valid"), out("iss_value", 8*v, "iss_valid"),
		in("cpl_valid", 1), in("cpl_tag", 16), in("cpl_status", 8), in("cpl_vlen", vl), in("cpl_value", 8*v),
		out("tx_valid", 1, ""), in("tx_ready", 1), out("tx_data", 8*b, "tx_valid"),
		out("tx_keep", b, "tx_valid"), out("tx_last", 1, "tx_valid"),
	}
}

func TestPorts(t *testing.T) {
	for _, cfg := range []config.Config{preset(t, "paper"), preset(t, "sim"), narrow(t), wide(t)} {
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, want := m.Ports(), wantPorts(cfg)
		if !slices.EqualFunc(got, Ports(cfg), portEq) {
			t.Fatalf("%s: Model.Ports and Ports(cfg) differ", cfg.Name)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d ports, want %d", cfg.Name, len(got), len(want))
		}
		for i := range want {
			if !portEq(got[i], want[i]) {
				t.Errorf("%s: port %d = %+v, want %+v", cfg.Name, i, got[i], want[i])
			}
		}
		// Each is the port of the same name of the block §3 connects it to.
		subs := [][]model.Port{decoder.Ports(cfg), rob.Ports(cfg), encoder.Ports(cfg)}
		for _, p := range got {
			n := 0
			for _, ports := range subs {
				if q, ok := findPort(ports, p.Name); ok {
					n++
					if !portEq(p, q) {
						t.Errorf("%s: port %+v, the block's is %+v", cfg.Name, p, q)
					}
				}
			}
			if n != 1 {
				t.Errorf("%s: port %s is a port of %d blocks", cfg.Name, p.Name, n)
			}
		}
		if _, err := model.NewLayout(got); err != nil {
			t.Fatal(err)
		}
	}
}

func portEq(a, b model.Port) bool {
	return a.Name == b.Name && a.Dir == b.Dir && a.Width == b.Width && a.QualifiedBy == b.QualifiedBy &&
		slices.Equal(a.Fields, b.Fields)
}

// §3's internal wiring: d_* (but d_index) decoder → buffer, d_ready back;
// e_* buffer → encoder, e_ready back; nothing else between blocks.
func TestWiring(t *testing.T) {
	m, err := New(preset(t, "sim"))
	if err != nil {
		t.Fatal(err)
	}
	names := func(i int) []string {
		var s []string
		for _, c := range m.b[i].conns {
			if c.fromBlock >= 0 {
				s = append(s, blockModule[c.fromBlock]+"."+portAt(m.b[c.fromBlock].lay, c.src, true)+"→"+portAt(m.b[i].lay, c.dst, false))
			}
		}
		return s
	}
	want := [][]string{
		{"kvd_rob.d_ready→d_ready"},
		{"kvd_dec.d_valid→d_valid", "kvd_dec.d_kind→d_kind", "kvd_dec.d_seq→d_seq", "kvd_dec.d_last→d_last",
			"kvd_dec.d_trailing→d_trailing", "kvd_dec.d_status→d_status", "kvd_dec.d_received→d_received",
			"kvd_dec.d_op→d_op", "kvd_dec.d_fid→d_fid", "kvd_dec.d_klen→d_klen", "kvd_dec.d_key→d_key",
			"kvd_dec.d_vlen→d_vlen", "kvd_dec.d_value→d_value", "kvd_enc.e_ready→e_ready"},
		{"kvd_rob.e_valid→e_valid", "kvd_rob.e_kind→e_kind", "kvd_rob.e_seq→e_seq", "kvd_rob.e_last→e_last",
			"kvd_rob.e_trailing→e_trailing", "kvd_rob.e_status→e_status", "kvd_rob.e_received→e_received",
			"kvd_rob.e_vlen→e_vlen", "kvd_rob.e_value→e_value"},
	}
	for i := range want {
		if got := names(i); !slices.Equal(got, want[i]) {
			t.Errorf("%s's internal inputs:\n got  %v\n want %v", blockModule[i], got, want[i])
		}
	}
}

// portAt names the port at word offset off of a layout's outputs or inputs.
func portAt(l *model.Layout, off int, out bool) string {
	slots := l.In
	if out {
		slots = l.Out
	}
	for _, s := range slots {
		if s.Off == off {
			return l.Ports[s.Port].Name
		}
	}
	return "?"
}

// New fails with the sub-blocks' errors, naming the instance.
func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		set  func(*config.Config)
		want string
	}{
		{func(c *config.Config) { c.Key.MaxValueBytes = 20 }, "u_dec (kvd_dec): key.max_value_bytes = 20"},
		{func(c *config.Config) { c.ROB.Entries = 0 }, "u_rob (kvd_rob): rob.entries = 0"},
		{func(c *config.Config) { c.Key.MaxValueBytes = 1456 }, "u_enc (kvd_enc): key.max_value_bytes = 1456"},
	} {
		cfg := preset(t, "sim")
		c.set(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want an error containing %q", err, c.want)
		}
	}
}

// leaky is a sub-model whose output at word outOff follows its input at
// word inOff in the same cycle: what a combinational path would do.
type leaky struct {
	model.Model
	inOff, outOff int
}

func (l leaky) Step(in, out []uint64) error {
	err := l.Model.Step(in, out)
	out[l.outOff] ^= in[l.inOff] & 1
	return err
}

// If the decoder or the encoder ever gets an output that follows a
// same-cycle input, Step refuses to compose instead of mis-composing.
func TestCombinationalPathRefused(t *testing.T) {
	for _, c := range []struct {
		block           int
		inPort, outPort string
		drive           string // the kvd_front input that makes the input 1
	}{
		{bDec, "rx_valid", "rx_ready", "rx_valid"},
		{bDec, "d_ready", "d_valid", ""}, // the buffer's d_ready is 1 after reset
		{bEnc, "tx_ready", "tx_valid", "tx_ready"},
		{bEnc, "e_valid", "e_ready", ""}, // the buffer offers a record (below)
	} {
		cfg := preset(t, "sim")
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b := &m.b[c.block]
		b.m = leaky{b.m, b.lay.MustSlot(c.inPort).Off, b.lay.MustSlot(c.outPort).Off}
		l := newLoop(t, cfg, 9)
		l.m = m
		l.k = knobs{issue: 100, tx: 0, cpl: 100, latMax: 1}
		if c.drive != "" {
			l.set(c.drive, 1)
		}
		l.addFrame()
		var stepErr error
		for l.cycle < 200 && stepErr == nil {
			l.drive()
			if c.drive != "" {
				l.set(c.drive, 1)
			}
			if stepErr = m.Step(l.in, l.out); stepErr == nil {
				l.observe()
			}
			l.cycle++
		}
		want := blockInst[c.block] + " (" + blockModule[c.block] + "): outputs " + c.outPort + "="
		if stepErr == nil || !strings.Contains(stepErr.Error(), want) {
			t.Errorf("%s: %s following %s: Step: %v, want an error containing %q", blockModule[c.block], c.outPort, c.inPort, stepErr, want)
		}
	}
}

// The assumption the composition rests on, block by block: at states the
// closed loop reaches, each sub-model's outputs are the same whatever its
// inputs of the cycle (all zero, random, or those of the cycle before).
// (Step itself checks the decoder's and the encoder's outputs with the
// cycle's real inputs against those with all-zero inputs, every cycle.)
func TestSubModelOutputsDependOnStateOnly(t *testing.T) {
	for _, cfg := range []config.Config{preset(t, "sim"), narrow(t), wide(t)} {
		l := newLoop(t, cfg, 5)
		for range 300 {
			l.addFrame()
		}
		r := rand.New(rand.NewPCG(6, 7))
		checked := [nBlocks]int{}
		for l.got < len(l.want) {
			if l.cycle%1000 == 999 {
				l.newKnobs()
			}
			l.drive()
			if l.cycle%7 == 0 {
				for i := range l.m.b {
					checkBlock(t, &l.m.b[i], blockModule[i], r, l.cycle)
					checked[i]++
				}
			}
			if err := l.m.Step(l.in, l.out); err != nil {
				t.Fatalf("cycle %d: %v", l.cycle, err)
			}
			l.observe()
			l.cycle++
			if l.cycle > 2_000_000 {
				t.Fatal("no progress")
			}
		}
		t.Logf("%s: %d cycles, states checked per block %v", cfg.Name, l.cycle, checked)
	}
}

// checkBlock steps block b from its current state with several input
// vectors and checks the outputs are the same; the state is left as it
// was.
func checkBlock(t *testing.T, b *blk, name string, r *rand.Rand, cycle int) {
	t.Helper()
	snap := b.m.Snapshot()
	ref := make([]uint64, b.lay.OutWords)
	out := make([]uint64, b.lay.OutWords)
	for k := 0; k < 4; k++ {
		in := randomInputs(r, b.lay)
		switch k {
		case 0:
			clear(in)
		case 1:
			copy(in, b.in) // the inputs it had in the last cycle
		}
		dst := out
		if k == 0 {
			dst = ref
		}
		// Random inputs may break the block's contract; its outputs are
		// written before it looks at its inputs whatever it answers.
		_ = b.m.Step(in, dst)
		b.m.Restore(snap)
		if k > 0 && !slices.Equal(ref, out) {
			t.Fatalf("cycle %d: %s's outputs change with its inputs of the same cycle:%s", cycle, name, diffPorts(b.lay, ref, out))
		}
	}
}

// Snapshot and Restore: a run from a snapshot repeats itself, output for
// output, and Reset brings back the reset outputs.
func TestSnapshotRestoreReset(t *testing.T) {
	cfg := preset(t, "sim")
	l := newLoop(t, cfg, 11)
	for range 200 {
		l.addFrame()
	}
	for range 3000 {
		l.drive()
		if err := l.m.Step(l.in, l.out); err != nil {
			t.Fatal(err)
		}
		l.observe()
		l.cycle++
	}
	snap := l.m.Snapshot()
	r := rand.New(rand.NewPCG(1, 2))
	var ins, outs [][]uint64
	for range 500 {
		in := randomInputs(r, l.lay)
		for _, p := range []string{"rx_valid", "cpl_valid"} { // no transfers the contract forbids
			in[l.lay.MustSlot(p).Off] = 0
		}
		out := make([]uint64, l.lay.OutWords)
		if err := l.m.Step(in, out); err != nil {
			t.Fatal(err)
		}
		ins, outs = append(ins, in), append(outs, out)
	}
	state := l.m.DescribeState()
	for _, inst := range []string{"u_dec: ", "; u_rob: ", "; u_enc: "} {
		if !strings.Contains(state, inst) {
			t.Errorf("DescribeState %q does not label %q", state, inst)
		}
	}
	l.m.Restore(snap)
	out := make([]uint64, l.lay.OutWords)
	for i := range ins {
		if err := l.m.Step(ins[i], out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out, outs[i]) {
			t.Fatalf("after Restore, cycle %d:%s", i, diffPorts(l.lay, outs[i], out))
		}
	}
	if l.m.DescribeState() != state {
		t.Fatalf("after Restore and the same inputs: %s, want %s", l.m.DescribeState(), state)
	}

	fresh, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.m.Reset()
	zero := make([]uint64, l.lay.InWords)
	a, b := make([]uint64, l.lay.OutWords), make([]uint64, l.lay.OutWords)
	for i := range 50 {
		if err := l.m.Step(zero, a); err != nil {
			t.Fatal(err)
		}
		if err := fresh.Step(zero, b); err != nil {
			t.Fatal(err)
		}
		if !l.lay.Equal(b, a) {
			t.Fatalf("cycle %d after Reset:%s", i, diffPorts(l.lay, b, a))
		}
	}
	if got := model.Get(a, l.lay.MustSlot("rx_ready").Off*64, 1); got != 1 {
		t.Errorf("rx_ready = %d after reset", got)
	}
}
