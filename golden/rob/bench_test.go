package rob

import (
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withM is the sim preset with M entries.
func withM(t testing.TB, m int) config.Config {
	t.Helper()
	c := preset(t, "sim")
	c.ROB.Entries = m
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// bench drives one model through its port vectors by name.
type bench struct {
	t       testing.TB
	m       *Model
	lay     *model.Layout
	in, out []uint64
}

func newBench(t testing.TB, cfg config.Config) *bench {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lay, err := model.NewLayout(m.Ports())
	if err != nil {
		t.Fatal(err)
	}
	return &bench{t: t, m: m, lay: lay, in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords)}
}

func (b *bench) slot(name string) model.Slot { return b.lay.MustSlot(name) }

// set writes a port of at most 64 bits.
func (b *bench) set(name string, v uint64) {
	s := b.slot(name)
	b.in[s.Off] = v & model.Mask(s.Width)
	clear(b.in[s.Off+1 : s.Off+s.Words])
}

// setWords writes a wide input port.
func (b *bench) setWords(name string, w []uint64) {
	s := b.slot(name)
	clear(b.in[s.Off : s.Off+s.Words])
	copy(b.in[s.Off:s.Off+s.Words], w)
}

// get reads an output port of at most 64 bits.
func (b *bench) get(name string) uint64 { return b.out[b.slot(name).Off] }

// words reads a wide output port.
func (b *bench) words(name string) []uint64 {
	s := b.slot(name)
	return b.out[s.Off : s.Off+s.Words]
}

// step runs one cycle and fails the test on an error.
func (b *bench) step() {
	b.t.Helper()
	if err := b.m.Step(b.in, b.out); err != nil {
		b.t.Fatal(err)
	}
}

// present puts a decoder record on d_* (d_valid included).
func (b *bench) present(r *drec) {
	b.set("d_valid", 1)
	b.set("d_kind", uint64(r.kind))
	b.set("d_seq", uint64(r.seq))
	b.set("d_last", b2u(r.last))
	b.set("d_trailing", b2u(r.trailing))
	b.set("d_status", uint64(r.status))
	b.set("d_received", uint64(r.received))
	b.set("d_op", uint64(r.op))
	b.set("d_fid", uint64(r.fid))
	b.set("d_klen", uint64(r.klen))
	b.setWords("d_key", r.key)
	b.set("d_vlen", uint64(r.vlen))
	b.setWords("d_value", r.value)
}

// complete puts a completion on cpl_* (cpl_valid included).
func (b *bench) complete(tag int, status, vlen int, value []uint64) {
	b.set("cpl_valid", 1)
	b.set("cpl_tag", uint64(tag))
	b.set("cpl_status", uint64(status))
	b.set("cpl_vlen", uint64(vlen))
	b.setWords("cpl_value", value)
}

// drec is a decoder record as decoder.md §2 makes it: the operation's
// fields are zero unless it is issued (OP, status 0), key and value bytes
// past their lengths zero.
type drec struct {
	kind           int
	seq            uint32
	last, trailing bool
	status         int
	received       int
	op, fid        int
	klen, vlen     int
	key, value     []uint64
}

func (r *drec) issued() bool { return r.kind == KindOp && r.status == 0 }

// aboveWidth reports an output port with bits set above its width.
func (b *bench) aboveWidth() string {
	for _, s := range b.lay.Out {
		w := b.out[s.Off : s.Off+s.Words]
		if s.Width%64 != 0 && w[s.Words-1]&^model.Mask(s.Width%64) != 0 {
			return b.lay.Ports[s.Port].Name
		}
	}
	return ""
}
