package htengine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/kvdirect/kvd/config"
)

// The vector operations' expected results, written here from
// docs/microarch/vector.md §3 and the preset λs of docs/microarch/lambda.md
// (evaluated at the element width E, two's complement, signed order), so
// the smoke tests check kvd_ht against the documents rather than against
// another model.

// presetLambdas are the names of the preset λs, by fid (lambda.md).
var presetLambdas = []string{"fetch_add", "cas", "max", "min", "fetch_xor", "set_bit", "sat_add"}

// usesPresetLambdas fails the test when cfg registers other λs than the
// ones this file knows.
func usesPresetLambdas(t *testing.T, cfg config.Config) {
	t.Helper()
	if len(cfg.Atomic.Lambdas) != len(presetLambdas) {
		t.Fatalf("the smoke oracle knows the %d preset λs, the configuration has %d", len(presetLambdas), len(cfg.Atomic.Lambdas))
	}
	for i, l := range cfg.Atomic.Lambdas {
		if l.Name != presetLambdas[i] {
			t.Fatalf("λ %d is %s, the smoke oracle knows %s", i, l.Name, presetLambdas[i])
		}
	}
}

// lam is preset λ fid at E bits: operands and result are E-bit patterns.
// It fails (lambda.md §2.3) only where expr does: set_bit's shift by a
// negative amount.
func lam(fid, e int, old, delta, cmp, swap uint64) (uint64, bool) {
	mask := ^uint64(0)
	if e < 64 {
		mask = 1<<uint(e) - 1
	}
	sx := func(v uint64) int64 { return int64(v<<uint(64-e)) >> uint(64-e) }
	old, delta, cmp, swap = old&mask, delta&mask, cmp&mask, swap&mask
	var r uint64
	switch presetLambdas[fid] {
	case "fetch_add":
		r = old + delta
	case "cas":
		r = old
		if old == cmp {
			r = swap
		}
	case "max":
		r = old
		if sx(delta) > sx(old) {
			r = delta
		}
	case "min":
		r = old
		if sx(delta) < sx(old) {
			r = delta
		}
	case "fetch_xor":
		r = old ^ delta
	case "set_bit": // a negative amount fails; W or more gives 0
		if sx(delta) < 0 {
			return old, true
		}
		if delta < uint64(e) {
			r = old | 1<<delta
		} else {
			r = old
		}
	case "sat_add":
		s := (old + delta) & mask
		maxV, minV := mask>>1, (mask>>1)+1
		r = s
		if sx(delta) >= 0 {
			if sx(s) < sx(old) {
				r = maxV
			}
		} else if sx(s) > sx(old) {
			r = minV
		}
	}
	return r & mask, false
}

type vecResult struct {
	fault      bool
	newv, resp []byte
}

// vecOp is vector.md §3 on the stored value v.
func vecOp(z Sizes, x op, v []byte) vecResult {
	eb := z.E / 8
	if x.fid >= len(presetLambdas) {
		return vecResult{fault: true}
	}
	get := func(b []byte, i int) uint64 {
		var buf [8]byte
		copy(buf[:], b[i*eb:(i+1)*eb])
		return binary.LittleEndian.Uint64(buf[:])
	}
	put := func(b []byte, i int, val uint64) {
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], val)
		copy(b[i*eb:(i+1)*eb], buf[:eb])
	}
	fault := false
	f := func(a, b, c, d uint64) uint64 {
		r, bad := lam(x.fid, z.E, a, b, c, d)
		fault = fault || bad
		return r
	}
	n := len(v) / eb
	out := vecResult{newv: append([]byte{}, v...)}
	switch x.op {
	case OpUpdateS2V:
		for i := 0; i < n; i++ {
			put(out.newv, i, f(get(v, i), x.delta, x.cmp, x.swap))
		}
		out.resp = append([]byte{}, v...)
	case OpUpdateV2V:
		dv := make([]byte, z.V+8)
		copy(dv, x.value[:min(len(x.value), x.vlen)])
		for i := 0; i < n; i++ {
			var d uint64
			if eb*(i+1) <= x.vlen {
				d = get(dv, i)
			}
			put(out.newv, i, f(get(v, i), d, 0, 0))
		}
		out.resp = append([]byte{}, v...)
	case OpReduce:
		acc := x.delta
		for i := 0; i < n; i++ {
			acc = f(acc, get(v, i), x.cmp, x.swap)
		}
		out.resp = make([]byte, 8)
		binary.LittleEndian.PutUint64(out.resp, acc&lamMask(z.E))
	case OpFilter:
		out.resp = []byte{}
		for i := 0; i < n; i++ {
			if f(get(v, i), x.delta, x.cmp, x.swap) != 0 {
				out.resp = append(out.resp, v[i*eb:(i+1)*eb]...)
			}
		}
	}
	if fault {
		return vecResult{fault: true}
	}
	return out
}

func lamMask(e int) uint64 {
	if e >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(e) - 1
}

// checkWrites checks the beats operation x wrote (those of its context
// between its acceptance and its response) against engine.md §6.7: an
// update that succeeded writes its KV in place — the bucket with only the
// value bytes changed, or the object image at its pointer — and GET,
// REDUCE, FILTER and every operation that did not succeed write nothing.
// PUT and DELETE are checked through the table's contents instead.
func checkWrites(z Sizes, res simOut, x op, want result, old []byte, o *oracle) string {
	acc, okA := res.accept[x.tag]
	rsp, okR := res.respond[x.tag]
	if !okA || !okR {
		return ""
	}
	var wr []write
	for _, w := range res.writes {
		if w.ctx == res.ctx[x.tag] && w.cyc > acc && w.cyc < rsp {
			wr = append(wr, w)
		}
	}
	update := x.op == OpUpdateS2V || x.op == OpUpdateV2V
	if !(update && want.status == StOK) {
		if (x.op != OpPut && x.op != OpDelete) || want.status != StOK {
			if len(wr) > 0 {
				return fmt.Sprintf("status %d: wrote %d beats (first word %d), want none", want.status, len(wr), wr[0].word)
			}
		}
		return ""
	}
	key := x.key[:x.klen]
	newv := o.kv[string(key)]
	kl, vl := x.klen, len(old)
	if len(wr) == 0 {
		return "an update that succeeded wrote nothing"
	}
	// Host memory just before the first beat: every earlier write replayed.
	c0 := wr[0].cyc
	before := func(word int) []byte {
		b := make([]byte, 32)
		for _, w := range res.writes {
			if w.cyc >= c0 {
				break
			}
			if w.word == word {
				copy(b, w.data)
			}
		}
		return b
	}
	var img, was []byte
	for i, w := range wr {
		if w.word != wr[0].word+i {
			return fmt.Sprintf("update wrote words %d then %d: not one consecutive image", wr[0].word, w.word)
		}
		img = append(img, w.data...)
		was = append(was, before(w.word)...)
	}
	if kl+vl <= z.Threshold {
		// Inline: the bucket, 2 beats, with the value bytes replaced.
		if len(wr) != 2 || wr[0].word%2 != 0 {
			return fmt.Sprintf("inline update wrote %d beats from word %d, want one bucket (2 beats)", len(wr), wr[0].word)
		}
		for j := 0; j < z.S; j++ {
			off := z.SB * j
			if off+kl+vl > z.A || !bytes.Equal(was[off:off+kl], key) || !bytes.Equal(was[off+kl:off+kl+vl], old) {
				continue
			}
			exp := append([]byte{}, was...)
			copy(exp[off+kl:], newv)
			if !bytes.Equal(img, exp) {
				return fmt.Sprintf("inline update of the KV at slot %d:\n was %x\n got %x\nwant %x", j, was, img, exp)
			}
			return ""
		}
		return fmt.Sprintf("inline update wrote bucket word %d, which does not hold the KV:\n%x", wr[0].word, was)
	}
	// Out of line: the object image HT §3.5 at its pointer, ceil((2+kl+vl)/32) beats.
	nb := (2 + kl + vl + 31) / 32
	if len(wr) != nb {
		return fmt.Sprintf("out-of-line update wrote %d beats, want %d", len(wr), nb)
	}
	hdr := []byte{byte(kl | vl<<uint(z.KL)), byte((kl | vl<<uint(z.KL)) >> 8)}
	oldImg := append(append(append([]byte{}, hdr...), key...), old...)
	if !bytes.Equal(was[:len(oldImg)], oldImg) {
		return fmt.Sprintf("out-of-line update wrote word %d, which does not hold the KV's object:\n%x", wr[0].word, was)
	}
	exp := make([]byte, 32*nb)
	copy(exp, append(append(append([]byte{}, hdr...), key...), newv...))
	if !bytes.Equal(img, exp) {
		return fmt.Sprintf("out-of-line update:\n got %x\nwant %x", img, exp)
	}
	return ""
}

// Each vector operation on an inline and an out-of-line KV, the refusals
// and failures, the write-back of updates and no write for the others, and
// engine.md §10's vector timeline, in an environment that answers at once.
func TestSmokeVector(t *testing.T) {
	needIcarus(t)
	cfg, z := simConfig(t)
	usesPresetLambdas(t, cfg)
	const b = 0x31
	seq := func(n int, f func(i int) byte) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	le32 := func(xs ...uint32) []byte {
		var out []byte
		for _, x := range xs {
			out = binary.LittleEndian.AppendUint32(out, x)
		}
		return out
	}
	v1 := le32(1, 2, 3)                                      // inline, 3 elements
	big := seq(101, func(i int) byte { return byte(i + 7) }) // out of line, 25 elements and a trailing byte
	five := le32(5, 5, 5, 5)                                 // inline
	var ops []op
	add := func(o op) int {
		o.tag = len(ops)
		if o.key == nil {
			o.key = []byte{}
		}
		if o.value == nil {
			o.value = []byte{}
		}
		if o.gap == 0 {
			o.gap = 60
		}
		ops = append(ops, o)
		return o.tag
	}
	kv := func(opc int, key string, value []byte) op {
		return op{op: opc, klen: len(key), key: []byte(key), vlen: len(value), value: value, bucket: b, sec: 3}
	}
	vop := func(opc int, key string, fid int, delta, cmp, swap uint64) op {
		o := kv(opc, key, nil)
		o.fid, o.delta, o.cmp, o.swap = fid, delta, cmp, swap
		return o
	}
	add(kv(OpPut, "v1", v1))
	add(kv(OpPut, "big", big))
	add(kv(OpPut, "five", five))
	add(kv(OpPut, "z", []byte{9, 9}))                               // 0 elements
	add(kv(OpPut, "t", append(le32(0x7ffffffe), 0xaa, 0xbb, 0xcc))) // 1 element, 3 trailing bytes
	reduceV1 := add(vop(OpReduce, "v1", 0, 10, 0, 0))               // 10+1+2+3
	updV1 := add(vop(OpUpdateS2V, "v1", 0, 0xffffffff, 0, 0))       // each element - 1
	add(kv(OpGet, "v1", nil))
	v2v := kv(OpUpdateV2V, "v1", le32(0x10, 0x20, 0x30, 0x40)[:6]) // Δ shorter than the vector: 0x10, then 0
	v2v.fid = 4                                                    // fetch_xor
	add(v2v)
	add(kv(OpGet, "v1", nil))
	add(vop(OpFilter, "v1", 1, 0, 1, 0)) // cas(e, _, 1, 0): drops the elements equal to 1 (and 0)
	// the out-of-line KV
	add(vop(OpReduce, "big", 2, 0, 0, 0))             // max
	add(vop(OpFilter, "big", 4, 0x26252423, 0, 0))    // fetch_xor: drops element 7 (bytes 35..38) only
	add(vop(OpUpdateS2V, "big", 5, 31, 0, 0))         // set_bit 31
	add(vop(OpUpdateS2V, "big", 1, 0, 0x96151413, 5)) // cas: element 3 (bytes 19..22, bit 31 now set) becomes 5
	ov := kv(OpUpdateV2V, "big", seq(130, func(i int) byte { return byte(3 * i) }))
	ov.fid = 0 // fetch_add, Δ longer than the vector
	add(ov)
	add(kv(OpGet, "big", nil))
	// FILTER keeping none and all, sat_add, 0 elements, trailing bytes
	add(vop(OpFilter, "five", 4, 5, 0, 0))
	add(vop(OpFilter, "five", 0, 0, 0, 0))
	add(vop(OpUpdateS2V, "t", 6, 5, 0, 0)) // saturates at 0x7fffffff
	add(vop(OpUpdateS2V, "t", 3, 0x80000000, 0, 0))
	add(kv(OpGet, "t", nil))
	add(vop(OpReduce, "z", 0, 0x1234, 0, 0)) // no element: delta
	add(vop(OpUpdateS2V, "z", 0, 1, 0, 0))   // no element: written back unchanged
	add(vop(OpFilter, "z", 0, 1, 0, 0))
	// failures: unknown fid, not found, refused
	faultR := add(vop(OpReduce, "v1", 7, 0, 0, 0))
	faultU := add(vop(OpUpdateS2V, "big", 7, 0, 0, 0))
	add(vop(OpUpdateV2V, "nokey", 0, 0, 0, 0))
	add(vop(OpFilter, "nokey", 0, 0, 0, 0))
	add(vop(OpBad, "v1", 0, 0, 0, 0))
	long := kv(OpUpdateV2V, "v1", seq(z.V+1, func(i int) byte { return 1 }))
	add(long)
	ign := vop(OpUpdateS2V, "five", 0, 1, 0, 0) // req_vlen > V is ignored but for PUT and UPDATE_V2V
	ign.vlen = z.V + 20
	add(ign)
	add(vop(OpUpdateS2V, "five", 7, 1, 0, 0)) // 7 is no λ
	for _, k := range []string{"v1", "big", "five", "z", "t"} {
		add(kv(OpGet, k, nil))
	}
	res := runSim(t, cfg, ops, "+fast")
	check(t, z, ops, res, -1, nil)

	// Hand-computed answers (vector.md §3), so the oracle is checked too.
	for tag, want := range map[int]result{
		reduceV1:  {StOK, []byte{16, 0, 0, 0, 0, 0, 0, 0}},
		updV1:     {StOK, v1},
		updV1 + 1: {StOK, le32(0, 1, 2)},
		updV1 + 3: {StOK, le32(0x10, 1, 2)},
		updV1 + 4: {StOK, le32(0x10, 2)},
		faultR:    {StLambdaFault, nil},
		faultU:    {StLambdaFault, nil},
	} {
		if got := res.got[tag]; got.status != want.status || !bytes.Equal(got.value, want.value) {
			t.Errorf("tag %d: got %d %x, want %d %x", tag, got.status, got.value, want.status, want.value)
		}
	}
	// engine.md §10: REDUCE (FILTER) answers at t+8+n, an update at t+11+n.
	n := len(v1) / (z.E / 8)
	for tag, want := range map[int]int{reduceV1: 8 + n, updV1: 11 + n} {
		if got := res.respond[tag] - res.accept[tag]; got != want {
			t.Errorf("tag %d: response %d cycles after acceptance, want %d", tag, got, want)
		}
	}
	for _, c := range []string{"vec_inline", "vec_ool", "vec_fault", "vec_write"} {
		if res.cover[c] == 0 {
			t.Errorf("never exercised: %s (%v)", c, res.cover)
		}
	}
}
