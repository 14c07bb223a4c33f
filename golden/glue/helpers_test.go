package glue

import (
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
)

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	cfg, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// narrow is sim with a 32-bit scalar, 16-bit vector elements and three
// λs (F = 2), so that every cut and clamp of §4 cuts something.
func narrow(t testing.TB) config.Config {
	cfg := preset(t, "sim")
	cfg.Atomic.ScalarBits = 32
	cfg.Vector.ElementBits = 16
	cfg.Atomic.Lambdas = cfg.Atomic.Lambdas[:3]
	cfg.Name = "narrow"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// driver steps a Model with named inputs. Inputs are cleared after every
// step: a cycle's inputs are set afresh.
type driver struct {
	t    testing.TB
	m    *Model
	lay  *model.Layout
	in   []uint64
	out  []uint64
	prev []uint64 // outputs of the last step
	cyc  int
	rec  [][2][]uint64 // when non-nil: every cycle's inputs and outputs

	// hash, when set, is a real key-hash unit wired as processor.md §5
	// says: the glue's kh_in_* drive its in_*, its out_* the glue's
	// kh_out_* (of the same cycle: both depend on state only).
	hash            *keyhash.Model
	hashLay         *model.Layout
	hashIn, hashOut []uint64
}

// withHash wires a real kvd_keyhash model to the glue.
func (d *driver) withHash(cfg config.Config) {
	d.hash = keyhash.New(cfg)
	d.hashLay = model.MustLayout(d.hash.Ports())
	d.hashIn = make([]uint64, d.hashLay.InWords)
	d.hashOut = make([]uint64, d.hashLay.OutWords)
}

// runHash steps the key-hash unit with the glue's outputs of this cycle
// and sets the glue's kh_out_* from its outputs.
func (d *driver) runHash() {
	d.t.Helper()
	g := make([]uint64, d.lay.OutWords)
	d.m.Outputs(g)
	for _, x := range []string{"valid", "key", "len", "tag"} {
		src, dst := d.lay.MustSlot("kh_in_"+x), d.hashLay.MustSlot("in_"+x)
		copy(d.hashIn[dst.Off:dst.Off+dst.Words], g[src.Off:src.Off+src.Words])
	}
	if err := d.hash.Step(d.hashIn, d.hashOut); err != nil {
		d.t.Fatal(err)
	}
	for _, x := range []string{"valid", "bucket", "sec", "slot", "tag"} {
		src, dst := d.hashLay.MustSlot("out_"+x), d.lay.MustSlot("kh_out_"+x)
		copy(d.in[dst.Off:dst.Off+dst.Words], d.hashOut[src.Off:src.Off+src.Words])
	}
}

func newDriver(t testing.TB, cfg config.Config) *driver {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lay := model.MustLayout(m.Ports())
	return &driver{t: t, m: m, lay: lay, in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords)}
}

func (d *driver) slot(name string, dir model.Dir) model.Slot {
	d.t.Helper()
	s, ok := d.lay.Slot(name)
	if !ok || d.lay.Ports[s.Port].Dir != dir {
		d.t.Fatalf("no %v port %s", dir, name)
	}
	return s
}

func (d *driver) set(name string, v uint64) {
	s := d.slot(name, model.In)
	clear(d.in[s.Off : s.Off+s.Words])
	d.in[s.Off] = v & model.Mask(s.Width)
}

func (d *driver) setWords(name string, w []uint64) {
	s := d.slot(name, model.In)
	clear(d.in[s.Off : s.Off+s.Words])
	copy(d.in[s.Off:s.Off+s.Words], w)
}

func (d *driver) setBytes(name string, b []byte) {
	d.setWords(name, pack(b, d.slot(name, model.In).Words))
}

// peek gives the outputs of the current cycle without stepping.
func (d *driver) peek(name string) uint64 {
	d.m.Outputs(d.out)
	return d.out[d.slot(name, model.Out).Off]
}

func (d *driver) peekWords(name string) []uint64 {
	d.m.Outputs(d.out)
	s := d.slot(name, model.Out)
	return append([]uint64(nil), d.out[s.Off:s.Off+s.Words]...)
}

// step runs one cycle with the inputs set, checks that Step's outputs
// equal Outputs' and that no bit above a port's width is set, and clears
// the inputs.
func (d *driver) step() {
	d.t.Helper()
	if err := d.try(); err != nil {
		d.t.Fatalf("cycle %d: %v", d.cyc, err)
	}
}

func (d *driver) try() error {
	d.t.Helper()
	if d.hash != nil {
		d.runHash()
	}
	pre := make([]uint64, d.lay.OutWords)
	d.m.Outputs(pre)
	err := d.m.Step(d.in, d.out)
	for i := range pre {
		if pre[i] != d.out[i] {
			d.t.Fatalf("cycle %d: Step's outputs differ from Outputs' at word %d", d.cyc, i)
		}
	}
	for _, s := range d.lay.Out {
		if s.Width%64 != 0 && d.out[s.Off+s.Words-1]>>uint(s.Width%64) != 0 {
			d.t.Fatalf("cycle %d: output %s has bits above its width", d.cyc, d.lay.Ports[s.Port].Name)
		}
	}
	d.prev = append(d.prev[:0], d.out...)
	if d.rec != nil && err == nil {
		d.rec = append(d.rec, [2][]uint64{append([]uint64(nil), d.in...), append([]uint64(nil), d.out...)})
	}
	clear(d.in)
	if err == nil {
		d.cyc++
	}
	return err
}

// wantErr steps expecting an error mentioning every fragment.
func (d *driver) wantErr(frags ...string) {
	d.t.Helper()
	err := d.try()
	if err == nil {
		d.t.Fatalf("cycle %d: no error, want one mentioning %q", d.cyc, frags)
	}
	for _, f := range frags {
		if !strings.Contains(err.Error(), f) {
			d.t.Fatalf("cycle %d: error %q does not mention %q", d.cyc, err, f)
		}
	}
}

// pack puts bytes little-endian into n words.
func pack(b []byte, n int) []uint64 {
	w := make([]uint64, n)
	for i, x := range b {
		if i/8 >= n {
			break
		}
		w[i/8] |= uint64(x) << (8 * uint(i%8))
	}
	return w
}

// pattern returns n bytes seed, seed+1, … (never 0 for small n and seed ≥ 1).
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
		if b[i] == 0 {
			b[i] = 0x5a
		}
	}
	return b
}

func equalWords(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// issue sets the issue port for one operation.
func (d *driver) issue(tag, op, fid int, key, value []byte) {
	d.set("iss_valid", 1)
	d.set("iss_tag", uint64(tag))
	d.set("iss_op", uint64(op))
	d.set("iss_fid", uint64(fid))
	d.set("iss_klen", uint64(len(key)))
	d.setBytes("iss_key", key)
	d.set("iss_vlen", uint64(len(value)))
	d.setBytes("iss_value", value)
}

// hashed sets the key-hash unit's output for tag.
func (d *driver) hashed(tag, slot int, bucket, sec uint64) {
	d.set("kh_out_valid", 1)
	d.set("kh_out_tag", uint64(tag))
	d.set("kh_out_slot", uint64(slot))
	d.set("kh_out_bucket", bucket)
	d.set("kh_out_sec", sec)
}

// pipeRec is a station pipeline record.
type pipeRec struct {
	id, tag, op, fid uint64
	key              []byte
	vlen, value      uint64
	delta, cmp, swap uint64
	aux              uint64
}

func (d *driver) pipe(r pipeRec) {
	d.set("rs_pipe_valid", 1)
	d.set("rs_pipe_id", r.id)
	d.set("rs_pipe_tag", r.tag)
	d.set("rs_pipe_op", r.op)
	d.set("rs_pipe_fid", r.fid)
	d.setBytes("rs_pipe_key", r.key)
	d.set("rs_pipe_klen", uint64(len(r.key)))
	d.set("rs_pipe_vlen", r.vlen)
	d.set("rs_pipe_value", r.value)
	d.set("rs_pipe_delta", r.delta)
	d.set("rs_pipe_cmp", r.cmp)
	d.set("rs_pipe_swap", r.swap)
	d.set("rs_pipe_aux", r.aux)
}

// engineRsp sets the engine's response port.
func (d *driver) engineRsp(id uint64, status uint64, value []byte) {
	d.set("ht_rsp_valid", 1)
	d.set("ht_rsp_tag", id)
	d.set("ht_rsp_status", status)
	d.set("ht_rsp_vlen", uint64(len(value)))
	d.setBytes("ht_rsp_value", value)
}

// stationResp sets the station's response port; value is its first 8
// bytes (the caller cuts).
func (d *driver) stationResp(tag, status, vlen uint64, first8 []byte) {
	d.set("rs_resp_valid", 1)
	d.set("rs_resp_tag", tag)
	d.set("rs_resp_status", status)
	d.set("rs_resp_vlen", vlen)
	d.setBytes("rs_resp_value", first8)
}

func first8(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}
