package encoder

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// request is one request as the encoder's environment sees it: a refused
// packet (code ≠ 0), an empty one (no results, not refused), or the
// results of its operations.
type request struct {
	seq      uint32
	code     int // PKT_ERROR: the §4.1 code
	received int // PKT_ERROR: the request's length
	empty    bool
	trailing bool
	results  []wire.Result
}

// rec is one record on the e_* ports.
type rec struct {
	kind           int
	seq            uint32
	last, trailing bool
	status         int
	received       int
	value          []byte
}

// records are the request's records, in order (encoder.md §2).
func (r request) records() []rec {
	switch {
	case r.code != 0:
		return []rec{{kind: KindPktError, seq: r.seq, last: true, status: r.code, received: r.received}}
	case r.empty:
		return []rec{{kind: KindEmpty, seq: r.seq, last: true, trailing: r.trailing}}
	}
	out := make([]rec, len(r.results))
	for i, res := range r.results {
		out[i] = rec{kind: KindOp, seq: r.seq, status: int(res.Status), value: res.Value}
	}
	out[len(out)-1].last = true
	out[len(out)-1].trailing = r.trailing
	return out
}

// packets are the request's response packets by the transaction-level
// reference: wire.SplitResponse at MR and wire.EncodeResponse, or the
// error response of wire-format.md §4.1.
func (r request) packets(t testing.TB) [][]byte {
	t.Helper()
	var rs []wire.Response
	switch {
	case r.code != 0:
		rs = []wire.Response{{Seq: r.seq, Err: wire.PacketError(r.code), Received: r.received}}
	case r.empty:
		rs = wire.SplitResponse(r.seq, r.trailing, nil, wire.DefaultMaxResponseBytes)
	default:
		rs = wire.SplitResponse(r.seq, r.trailing, r.results, wire.DefaultMaxResponseBytes)
	}
	out := make([][]byte, len(rs))
	for i, x := range rs {
		b, err := wire.EncodeResponse(x)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	if r.code != 0 {
		// wire-format.md §4.1 by hand: the header (type 2, length 18,
		// count 0, first 0), code, a zero byte, received.
		want := []byte{0x4b, 0x56, 1, 2, 18, 0, 0, 0, byte(r.seq), byte(r.seq >> 8), byte(r.seq >> 16), byte(r.seq >> 24), 0, 0,
			byte(r.code), 0, byte(r.received), byte(r.received >> 8)}
		if !bytes.Equal(out[0], want) {
			t.Fatalf("wire's error response %x, §4.1 says %x", out[0], want)
		}
	}
	return out
}

// bench drives a model with records and reassembles its packets.
type bench struct {
	t       testing.TB
	m       *Model
	l       *model.Layout
	in, out []uint64
	p       Params
	rnd     *rand.Rand

	// gap says whether the source idles this cycle before raising e_valid
	// for its next record; ready is tx_ready of the cycle.
	gap, ready func(cycle int) bool
	// garbage fills ignored inputs (e_* while e_valid is 0, bytes of
	// e_value at and above e_vlen, fields the kind does not use) with
	// random bits.
	garbage bool
	// probe: every probe cycles, check that e_ready and the tx outputs do
	// not depend on the inputs, through Snapshot and Restore.
	probe int

	recs       []rec
	ri         int
	presenting bool
	taken      bool // a record was taken in the last cycle
	takenAt    []int

	want    [][]byte // packets expected, in order
	wtag    []string
	got     int // packets received
	cur     []byte
	beats   int
	txIdle  int // cycles with tx_valid = 0 since the first beat
	txBusy  bool
	cycle   int
	lastTx  []uint64 // last cycle's tx outputs when it stalled
	stalled bool
	eReady  bool // e_ready of the last cycle
	txValid bool // tx_valid of the last cycle
	txDone  bool // a beat was taken in the last cycle

	txOff, keepOff, lastOff, validOff, readyOff int
}

func newBench(t testing.TB, cfg config.Config) *bench {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := model.MustLayout(m.Ports())
	b := &bench{t: t, m: m, l: l, p: m.P, in: make([]uint64, l.InWords), out: make([]uint64, l.OutWords),
		rnd: rand.New(rand.NewPCG(7, 7))}
	b.gap = func(int) bool { return false }
	b.ready = func(int) bool { return true }
	b.txOff, b.keepOff, b.lastOff = l.MustSlot("tx_data").Off, l.MustSlot("tx_keep").Off, l.MustSlot("tx_last").Off
	b.validOff, b.readyOff = l.MustSlot("tx_valid").Off, l.MustSlot("e_ready").Off
	return b
}

func (b *bench) add(r request, tag string) {
	b.recs = append(b.recs, r.records()...)
	for i, p := range r.packets(b.t) {
		b.want = append(b.want, p)
		b.wtag = append(b.wtag, fmt.Sprintf("%s packet %d", tag, i))
	}
}

func (b *bench) set(name string, v uint64) { b.in[b.l.MustSlot(name).Off] = v }

// present puts record r on the e_* inputs.
func (b *bench) present(r rec) {
	p := b.p
	s := b.l.MustSlot("e_value")
	val := b.in[s.Off : s.Off+s.Words]
	clear(val)
	b.set("e_kind", uint64(r.kind))
	b.set("e_seq", uint64(r.seq))
	b.set("e_last", b2u(r.last))
	b.set("e_trailing", b2u(r.trailing))
	b.set("e_status", uint64(r.status))
	b.set("e_received", uint64(r.received))
	b.set("e_vlen", uint64(len(r.value)))
	for i, x := range r.value {
		val[i/8] |= uint64(x) << (8 * (i % 8))
	}
	if !b.garbage {
		return
	}
	// Bytes at and above e_vlen, and fields the kind ignores (§2).
	for i := len(r.value); i < p.V && i < len(r.value)+24; i++ {
		val[i/8] |= uint64(b.rnd.IntN(256)) << (8 * (i % 8))
	}
	if r.kind != KindOp {
		b.set("e_vlen", b.rnd.Uint64()&model.Mask(p.VL))
	}
	if r.kind != KindPktError {
		b.set("e_received", b.rnd.Uint64()&0xffff)
	}
	if !r.last {
		b.set("e_trailing", b.rnd.Uint64()&1)
	}
}

// scramble fills the e_* inputs with random bits (e_valid is 0).
func (b *bench) scramble() {
	b.set("e_kind", b.rnd.Uint64()&3)
	b.set("e_seq", b.rnd.Uint64()&0xffffffff)
	b.set("e_last", b.rnd.Uint64()&1)
	b.set("e_vlen", b.rnd.Uint64()&model.Mask(b.p.VL))
	b.set("e_status", b.rnd.Uint64()&0xff)
}

func (b *bench) done() bool { return b.got == len(b.want) && b.ri == len(b.recs) }

// step runs one cycle and checks the tx port's rules.
func (b *bench) step() {
	t := b.t
	t.Helper()
	m := b.m
	if !b.presenting && b.ri < len(b.recs) && !b.gap(b.cycle) {
		b.presenting = true
		b.present(b.recs[b.ri])
	}
	if !b.presenting && b.garbage {
		b.scramble()
	}
	b.set("e_valid", b2u(b.presenting))
	txReady := b.ready(b.cycle)
	b.set("tx_ready", b2u(txReady))

	if b.probe > 0 && b.cycle%b.probe == 0 {
		// The same state under other inputs: e_ready and the tx outputs
		// must not change (§2: e_ready depends on state only).
		snap := m.Snapshot()
		alt := slices.Clone(b.in)
		// e_valid falls (a raised one may not, but e_ready must not care);
		// tx_ready flips.
		alt[b.l.MustSlot("e_valid").Off] = 0
		alt[b.l.MustSlot("tx_ready").Off] ^= 1
		altOut := make([]uint64, len(b.out))
		if err := m.Step(alt, altOut); err != nil {
			t.Fatalf("cycle %d (probe): %v", b.cycle, err)
		}
		m.Restore(snap)
		defer func() {
			if altOut[b.readyOff] != b.out[b.readyOff] || !b.l.Equal(b.out, altOut) {
				t.Fatalf("cycle %d: outputs depend on e_valid/tx_ready: %x vs %x", b.cycle-1, b.out, altOut)
			}
		}()
	}

	if err := m.Step(b.in, b.out); err != nil {
		t.Fatalf("cycle %d: %v", b.cycle, err)
	}
	for _, s := range b.l.Out {
		w := b.l.Ports[s.Port].Width
		if w%64 != 0 && b.out[s.Off+s.Words-1]>>(w%64) != 0 {
			t.Fatalf("cycle %d: %s has bits above its width %d", b.cycle, b.l.Ports[s.Port].Name, w)
		}
	}
	b.eReady = b.out[b.readyOff] == 1
	b.taken = b.presenting && b.eReady
	if b.taken {
		b.takenAt = append(b.takenAt, b.cycle)
		b.ri++
		b.presenting = false
	}
	b.tx(txReady)
	b.cycle++
}

// tx checks this cycle's beat and takes it if tx_ready.
func (b *bench) tx(txReady bool) {
	t := b.t
	t.Helper()
	p := b.p
	valid := b.out[b.validOff] == 1
	b.txValid = valid
	b.txDone = valid && txReady
	dw, kw := model.Words(8*p.B), model.Words(p.B)
	txOut := b.out[b.txOff : b.txOff+dw]
	keep := b.out[b.keepOff : b.keepOff+kw]
	last := b.out[b.lastOff] == 1
	if b.stalled {
		// AXI-Stream: a raised tx_valid stays, its beat unchanged.
		if !valid || !slices.Equal(b.lastTx[:dw], txOut) || !slices.Equal(b.lastTx[dw:dw+kw], keep) || b.lastTx[dw+kw] != b2u(last) {
			t.Fatalf("cycle %d: the beat changed or tx_valid fell before it was taken", b.cycle)
		}
	}
	if b.txBusy && !valid {
		b.txIdle++
	}
	if !valid {
		b.stalled = false
		return
	}
	b.txBusy = true
	n := 0
	for n < p.B && keep[n/64]>>(n%64)&1 != 0 {
		n++
	}
	for j := n; j < p.B; j++ {
		if keep[j/64]>>(j%64)&1 != 0 {
			t.Fatalf("cycle %d: tx_keep %x is not bytes 0 … n−1", b.cycle, keep)
		}
	}
	if n == 0 || (!last && n != p.B) {
		t.Fatalf("cycle %d: tx_keep marks %d bytes, tx_last %v", b.cycle, n, last)
	}
	for j := n; j < p.B; j++ {
		if txOut[j/8]>>(8*(j%8))&0xff != 0 {
			t.Fatalf("cycle %d: tx_data byte %d is not zero above the %d kept", b.cycle, j, n)
		}
	}
	if !txReady {
		b.stalled = true
		b.lastTx = append(append(append(b.lastTx[:0], txOut...), keep...), b2u(last))
		return
	}
	b.stalled = false
	b.beats++
	for j := 0; j < n; j++ {
		b.cur = append(b.cur, byte(txOut[j/8]>>(8*(j%8))))
	}
	if !last {
		return
	}
	if b.got >= len(b.want) {
		t.Fatalf("cycle %d: packet %x not expected (%s)", b.cycle, b.cur, b.m.DescribeState())
	}
	if w := b.want[b.got]; !bytes.Equal(b.cur, w) {
		t.Fatalf("cycle %d: %s:\n got %s\nwant %s", b.cycle, b.wtag[b.got], hex.EncodeToString(b.cur), hex.EncodeToString(w))
	}
	b.got++
	b.cur = b.cur[:0]
}

// run steps until every record is taken and every packet sent.
func (b *bench) run(limit int) {
	b.t.Helper()
	for !b.done() {
		if b.cycle >= limit {
			b.t.Fatalf("no progress: %d of %d records taken, %d of %d packets after %d cycles (%s)",
				b.ri, len(b.recs), b.got, len(b.want), b.cycle, b.m.DescribeState())
		}
		b.step()
	}
}

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// widest is the largest V the encoder allows (14 + 3 + V = MR: a record
// with the largest value fills a packet) on beats wider than a word of
// tx_keep, of a size that divides no packet evenly.
func widest(t testing.TB) config.Config {
	t.Helper()
	c := preset(t, "sim")
	c.Name = "widest"
	c.Key.MaxValueBytes = MR - HeaderBytes - RecordBytes
	c.Net.BytesPerCycle = 100
	return c
}

// narrowest has 4-byte beats (the configuration's least) and a short V.
func narrowest(t testing.TB) config.Config {
	t.Helper()
	c := preset(t, "sim")
	c.Name = "narrowest"
	c.Key.MaxValueBytes = 24
	c.Net.BytesPerCycle = 4
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
