package decoder

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// rec is one record as it left the d_* ports (or as expected there).
type rec struct {
	Kind, Index, Status, Received int
	Seq                           uint32
	Last, Trailing                bool
	Op, Fid, Klen, Vlen           int
	Key, Value                    []uint64
}

func (r rec) equal(o rec) bool {
	return r.Kind == o.Kind && r.Index == o.Index && r.Status == o.Status && r.Received == o.Received &&
		r.Seq == o.Seq && r.Last == o.Last && r.Trailing == o.Trailing && r.Op == o.Op && r.Fid == o.Fid &&
		r.Klen == o.Klen && r.Vlen == o.Vlen && slices.Equal(r.Key, o.Key) && slices.Equal(r.Value, o.Value)
}

func (r rec) String() string {
	return fmt.Sprintf("{kind %d seq %#x index %d last %v trailing %v status %d received %d op %d fid %d klen %d key %x vlen %d value %x}",
		r.Kind, r.Seq, r.Index, r.Last, r.Trailing, r.Status, r.Received, r.Op, r.Fid, r.Klen, r.Key, r.Vlen, r.Value)
}

func wireParams(p Params) wire.Params {
	return wire.Params{MaxKeyBytes: p.K, MaxValueBytes: p.V, ElementBytes: p.EB}
}

func words(b []byte, n int) []uint64 {
	w := make([]uint64, n)
	pack(w, b)
	return w
}

// expect is what the decoder must answer for a frame: wire.DecodeRequest's
// conclusions in d_* form (decoder.md §2).
func expect(pkt []byte, p Params) []rec {
	kw, vw := model.Words(8*p.K), model.Words(8*p.V)
	d := wire.DecodeRequest(pkt, wireParams(p))
	blank := func(kind int) rec {
		return rec{Kind: kind, Seq: d.Seq, Key: make([]uint64, kw), Value: make([]uint64, vw)}
	}
	if d.Err != wire.NoPacketError {
		r := blank(KindPktError)
		r.Status, r.Received, r.Last = int(d.Err), d.Received, true
		return []rec{r}
	}
	if len(d.Ops) == 0 {
		r := blank(KindEmpty)
		r.Last, r.Trailing = true, d.Trailing > 0
		return []rec{r}
	}
	out := make([]rec, len(d.Ops))
	for i, o := range d.Ops {
		r := blank(KindOp)
		r.Index, r.Status = i, int(o.Status)
		if i == len(d.Ops)-1 {
			r.Last, r.Trailing = true, d.Trailing > 0
		}
		if o.Status == wire.OK {
			r.Op, r.Fid, r.Klen, r.Vlen = int(o.Op.Code), int(o.Op.Fid), len(o.Op.Key), len(o.Op.Value)
			r.Key, r.Value = words(o.Op.Key, kw), words(o.Op.Value, vw)
		}
		out[i] = r
	}
	return out
}

// bench drives a model with frames as beats and takes its records.
type bench struct {
	t       testing.TB
	m       *Model
	l       *model.Layout
	in, out []uint64
	p       Params

	// gap says whether the source idles this cycle before raising
	// rx_valid for its next beat; ready is d_ready of the cycle.
	gap, ready func(cycle int) bool

	frames     [][]byte
	fi, off    int
	presenting bool
	beatTaken  bool  // a beat was taken in the last cycle
	firstBeat  []int // cycle in which each frame's first beat was taken

	want  []rec // records still expected, in order
	wtag  []string
	taken int
	cycle int

	held    bool // last cycle: d_valid && !d_ready
	heldOut []uint64
	widths  bool // check bits above port widths every cycle
}

func newBench(t testing.TB, cfg config.Config) *bench {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := model.MustLayout(m.Ports())
	b := &bench{t: t, m: m, l: l, p: m.P, in: make([]uint64, l.InWords), out: make([]uint64, l.OutWords)}
	b.gap = func(int) bool { return false }
	b.ready = func(int) bool { return true }
	return b
}

// randomTiming gives the source gaps with probability gap and holds
// d_ready low with probability busy.
func (b *bench) randomTiming(r *rand.Rand, gap, busy float64) {
	b.gap = func(int) bool { return r.Float64() < gap }
	b.ready = func(int) bool { return r.Float64() >= busy }
}

// add queues a frame and its expected records.
func (b *bench) add(pkt []byte, tag string) {
	b.frames = append(b.frames, pkt)
	for _, r := range expect(pkt, b.p) {
		b.want = append(b.want, r)
		b.wtag = append(b.wtag, tag)
	}
}

func (b *bench) set(s int, v uint64) { b.in[s] = v }

// present puts the next beat of the current frame on rx_*.
func (b *bench) present() {
	p := b.p
	f := b.frames[b.fi]
	n := min(p.B, len(f)-b.off)
	rs, ks := b.l.MustSlot("rx_data"), b.l.MustSlot("rx_keep")
	data := b.in[rs.Off : rs.Off+rs.Words]
	clear(data)
	pack(data, f[b.off:b.off+n])
	keep := b.in[ks.Off : ks.Off+ks.Words]
	clear(keep)
	for j := 0; j < n; j++ {
		keep[j/64] |= 1 << (j % 64)
	}
	b.in[b.m.rxValid] = 1
	b.in[b.m.rxLast] = b2u(b.off+n == len(f))
	b.in[b.m.rxLen] = uint64(len(f))
	b.presenting = true
}

// step runs one cycle.
func (b *bench) step() error {
	if !b.presenting && b.fi < len(b.frames) && !b.gap(b.cycle) {
		b.present()
	}
	if !b.presenting {
		b.in[b.m.rxValid] = 0
	}
	ready := b.ready(b.cycle)
	b.in[b.m.dReady] = b2u(ready)
	if err := b.m.Step(b.in, b.out); err != nil {
		return fmt.Errorf("cycle %d: %v", b.cycle, err)
	}
	if b.widths {
		if err := checkWidths(b.l, b.out); err != nil {
			return fmt.Errorf("cycle %d: %v", b.cycle, err)
		}
	}
	b.beatTaken = b.presenting && b.out[b.m.rxReady] == 1
	if b.beatTaken {
		if b.off == 0 {
			b.firstBeat = append(b.firstBeat, b.cycle)
		}
		b.off += b.p.B
		if b.off >= len(b.frames[b.fi]) {
			b.fi++
			b.off = 0
		}
		b.presenting = false
	}
	valid := b.out[b.m.dValid] == 1
	if b.held {
		if !valid {
			return fmt.Errorf("cycle %d: d_valid fell before the record was taken", b.cycle)
		}
		// d_valid and every d_* port follow rx_ready in the output
		// vector (§2's order).
		if !slices.Equal(b.heldOut, b.out[b.m.dValid:]) {
			return fmt.Errorf("cycle %d: d_* changed while held (§2: stable until taken)", b.cycle)
		}
	}
	b.held = valid && !ready
	if b.held {
		b.heldOut = append(b.heldOut[:0], b.out[b.m.dValid:]...)
	}
	if valid && ready {
		got := b.record()
		if b.taken >= len(b.want) {
			return fmt.Errorf("cycle %d: unexpected record %v", b.cycle, got)
		}
		if w := b.want[b.taken]; !got.equal(w) {
			return fmt.Errorf("cycle %d, %s, record %d:\n got  %v\n want %v\nstate: %s", b.cycle, b.wtag[b.taken], b.taken, got, w, b.m.DescribeState())
		}
		b.taken++
	}
	b.cycle++
	return nil
}

// record reads the d_* ports.
func (b *bench) record() rec {
	m, o := b.m, b.out
	return rec{
		Kind: int(o[m.dKind]), Seq: uint32(o[m.dSeq]), Index: int(o[m.dIndex]), Last: o[m.dLast] == 1,
		Trailing: o[m.dTrailing] == 1, Status: int(o[m.dStatus]), Received: int(o[m.dReceived]),
		Op: int(o[m.dOp]), Fid: int(o[m.dFid]), Klen: int(o[m.dKlen]), Vlen: int(o[m.dVlen]),
		Key:   slices.Clone(o[m.dKey : m.dKey+m.keyWords]),
		Value: slices.Clone(o[m.dValue : m.dValue+m.valueWords]),
	}
}

// run steps until every frame is taken and answered, then checks that the
// decoder is back in HDR, empty, ready for a next frame.
func (b *bench) run(limit int) error {
	for b.fi < len(b.frames) || b.taken < len(b.want) || b.out[b.m.dValid] == 1 || b.m.s.st != stHDR {
		if b.cycle >= limit {
			return fmt.Errorf("no progress after %d cycles: %d/%d frames taken, %d/%d records; %s", b.cycle, b.fi, len(b.frames), b.taken, len(b.want), b.m.DescribeState())
		}
		if err := b.step(); err != nil {
			return err
		}
	}
	s := &b.m.s
	if s.st != stHDR || len(s.win) != 0 || s.infr || s.gotl || s.dValid {
		return fmt.Errorf("after the last frame: %s", b.m.DescribeState())
	}
	return nil
}

// checkWidths: bits above a port's width are zero (microarch.md §1.4).
func checkWidths(l *model.Layout, out []uint64) error {
	for _, s := range l.Out {
		for w := 0; w < s.Words; w++ {
			lo := 64 * w
			if lo+64 <= s.Width {
				continue
			}
			if v := out[s.Off+w] &^ model.Mask(s.Width-lo); v != 0 {
				return fmt.Errorf("port %s word %d = %#x: bits above width %d", l.Ports[s.Port].Name, w, out[s.Off+w], s.Width)
			}
		}
	}
	return nil
}

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// narrow is the smallest decoder the documents allow: V = 24, 4-byte
// beats, 8-bit elements, a short K.
func narrow(t testing.TB) config.Config {
	t.Helper()
	c := preset(t, "sim")
	c.Name = "narrow"
	c.Key.MaxKeyBytes = 7
	c.Key.MaxValueBytes = MinV
	c.Net.BytesPerCycle = 4
	c.Vector.ElementBits = 8
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// wide has beats wider than a 64-bit word of rx_keep and a large V.
func wide(t testing.TB) config.Config {
	t.Helper()
	c := preset(t, "paper")
	c.Name = "wide"
	c.Key.MaxKeyBytes = 255
	c.Key.MaxValueBytes = 200
	c.Net.BytesPerCycle = 100
	c.Vector.ElementBits = 64
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}
