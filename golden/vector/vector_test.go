package vector

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
)

// testConfig is the sim preset at element width e with the λs of the
// tests: three of the preset's and three that show operand routing.
func testConfig(t testing.TB, e int) config.Config {
	t.Helper()
	c, err := config.Preset("sim")
	if err != nil {
		t.Fatal(err)
	}
	c.Vector.ElementBits = e
	c.Atomic.Lambdas = []config.Lambda{
		{Name: "fetch_add", Expr: "old + delta"},                // 0
		{Name: "max", Expr: "max(old, delta)"},                  // 1
		{Name: "set_bit", Expr: "bitor(old, bitshl(1, delta))"}, // 2: fails on delta < 0
		{Name: "gt", Expr: "old > delta"},                       // 3: a predicate
		{Name: "horner", Expr: "old * 2 + delta"},               // 4: order matters
		{Name: "operands", Expr: "old + delta + cmp + swap"},    // 5: sees cmp and swap
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	fetchAdd = iota
	maxFn
	setBit
	gt
	horner
	operands
	nFns
)

func evaluator(t testing.TB, e int) *lambda.Evaluator {
	t.Helper()
	ev, err := NewEvaluator(testConfig(t, e))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// vec32 packs 32-bit elements, then the trailing bytes.
func vec32(els []int64, trailing ...byte) []byte {
	var b []byte
	for _, e := range els {
		b = binary.LittleEndian.AppendUint32(b, uint32(e))
	}
	return append(b, trailing...)
}

func u64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

func u(v int64) uint64 { return uint64(v) }

func exec(t *testing.T, ev *lambda.Evaluator, r Request) Result {
	t.Helper()
	res, err := Exec(ev, r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func check(t *testing.T, what string, res Result, fault bool, nv, resp []byte) {
	t.Helper()
	if res.Fault != fault || !bytes.Equal(res.New, nv) || !bytes.Equal(res.Resp, resp) {
		t.Errorf("%s: fault=%v new=%x resp=%x (rlen %d), want fault=%v new=%x resp=%x (rlen %d)",
			what, res.Fault, res.New, res.Resp, len(res.Resp), fault, nv, resp, len(resp))
	}
}

// §1: the λs run at the element width, not atomic.scalar_bits (64 in the
// preset).
func TestEvaluatorAtElementWidth(t *testing.T) {
	for _, e := range []int{8, 16, 32, 64} {
		if ev := evaluator(t, e); ev.W != e {
			t.Errorf("element_bits %d: evaluator at %d bits", e, ev.W)
		}
	}
}

// §3, UPDATE_S2V: every element through λ(e, delta, cmp, swap), wrapping
// at E bits; the trailing bytes are stored back; the response is the
// stored value.
func TestS2V(t *testing.T) {
	ev := evaluator(t, 32)
	val := vec32([]int64{1, 2, -1, math.MaxInt32, math.MinInt32}, 0xaa, 0xbb, 0xcc)
	res := exec(t, ev, Request{Op: S2V, Fid: fetchAdd, Value: val, Delta: 1})
	check(t, "fetch_add +1", res, false, vec32([]int64{2, 3, 0, math.MinInt32, math.MinInt32 + 1}, 0xaa, 0xbb, 0xcc), val)
	if res.N != 5 {
		t.Errorf("n = %d, want 5", res.N)
	}
	// Scalars are E bits: bits above are ignored; cmp and swap are passed.
	res = exec(t, ev, Request{Op: S2V, Fid: operands, Value: vec32([]int64{10}), Delta: 0xffff_ffff_0000_0001, Cmp: 100, Swap: 1000})
	check(t, "operands", res, false, vec32([]int64{1111}), vec32([]int64{10}))
}

// §3, UPDATE_V2V: Δᵢ from in_dvec where EB·(i+1) ≤ in_dlen, else 0; extra
// Δ ignored; cmp and swap are 0 whatever the request's scalars.
func TestV2V(t *testing.T) {
	ev := evaluator(t, 32)
	val := vec32([]int64{-5, -6, -7, -8}, 0x11)
	// Two whole Δ elements and three bytes of a third: elements 2 and 3
	// get Δ = 0, which max makes visible (max(-7, 0) = 0).
	dvec := append(vec32([]int64{-10, 4}), 0x55, 0x55, 0x55)
	res := exec(t, ev, Request{Op: V2V, Fid: maxFn, Value: val, Dvec: dvec, Delta: 999})
	check(t, "max, short Δ", res, false, vec32([]int64{-5, 4, 0, 0}, 0x11), val)
	// A longer Δ: the extra elements are ignored.
	res = exec(t, ev, Request{Op: V2V, Fid: fetchAdd, Value: val, Dvec: vec32([]int64{1, 1, 1, 1, 1, 1, 1})})
	check(t, "fetch_add, long Δ", res, false, vec32([]int64{-4, -5, -6, -7}, 0x11), val)
	// cmp and swap are 0.
	res = exec(t, ev, Request{Op: V2V, Fid: operands, Value: vec32([]int64{1, 2}), Dvec: vec32([]int64{10, 20}), Cmp: 7, Swap: 9})
	check(t, "operands", res, false, vec32([]int64{11, 22}), vec32([]int64{1, 2}))
	// No Δ at all: every Δᵢ is 0.
	res = exec(t, ev, Request{Op: V2V, Fid: maxFn, Value: val})
	check(t, "max, empty Δ", res, false, vec32([]int64{0, 0, 0, 0}, 0x11), val)
}

// §3, REDUCE: Σ₀ = delta, Σᵢ₊₁ = λ(Σᵢ, eᵢ, cmp, swap) in element order;
// the response is Σₙ's E-bit pattern zero-extended to 8 bytes.
func TestReduce(t *testing.T) {
	ev := evaluator(t, 32)
	val := vec32([]int64{3, -7, 10, 2}, 0x7f)
	res := exec(t, ev, Request{Op: Reduce, Fid: maxFn, Value: val, Delta: u(-100)})
	check(t, "max", res, false, val, u64(10))
	// A negative Σ is zero-extended, not sign-extended.
	res = exec(t, ev, Request{Op: Reduce, Fid: maxFn, Value: vec32([]int64{-5, -3}), Delta: 1 << 31})
	check(t, "max negative", res, false, vec32([]int64{-5, -3}), u64(0xffff_fffd))
	// Order: Σ = 2Σ + e over 1, 2, 3 from 0 is 11 (reversed it would be 17).
	res = exec(t, ev, Request{Op: Reduce, Fid: horner, Value: vec32([]int64{1, 2, 3})})
	check(t, "horner", res, false, vec32([]int64{1, 2, 3}), u64(11))
	// cmp and swap are the request's.
	res = exec(t, ev, Request{Op: Reduce, Fid: operands, Value: vec32([]int64{1, 2}), Delta: 100, Cmp: 10, Swap: 1000})
	check(t, "operands", res, false, vec32([]int64{1, 2}), u64(100+1+1010+2+1010))
}

// §3, FILTER: the elements with λ(e, delta, cmp, swap) ≠ 0, packed in
// order; never the trailing bytes; the stored value unchanged.
func TestFilter(t *testing.T) {
	ev := evaluator(t, 32)
	val := vec32([]int64{5, 1, 3, -1, 2, math.MaxInt32}, 0x09, 0x09)
	res := exec(t, ev, Request{Op: Filter, Fid: gt, Value: val, Delta: 2})
	check(t, "old > 2", res, false, val, vec32([]int64{5, 3, math.MaxInt32}))
	if res.Kept != 3 {
		t.Errorf("kept %d, want 3", res.Kept)
	}
	res = exec(t, ev, Request{Op: Filter, Fid: gt, Value: val, Delta: math.MaxInt32})
	check(t, "none kept", res, false, val, []byte{})
	// An integer λ: kept where old + delta ≠ 0.
	res = exec(t, ev, Request{Op: Filter, Fid: fetchAdd, Value: val, Delta: 1})
	check(t, "old + 1 != 0", res, false, val, vec32([]int64{5, 1, 3, 2, math.MaxInt32}))
}

// §3, Fault: an unknown fid, or a λ failing on any element: the stored
// value unchanged, rlen 0, whichever the operation.
func TestFaults(t *testing.T) {
	ev := evaluator(t, 32)
	val := vec32([]int64{1, 2, 3}, 0xee)
	for op := S2V; op <= Filter; op++ {
		for _, fid := range []uint64{nFns, 7} {
			res := exec(t, ev, Request{Op: op, Fid: fid, Value: val, Dvec: vec32([]int64{1, 1, 1}), Delta: 1})
			check(t, op.String()+" unknown fid", res, true, val, []byte{})
			if res.FaultAt != -1 || res.N != 3 {
				t.Errorf("%s unknown fid: fault at %d, n %d", op, res.FaultAt, res.N)
			}
		}
	}
	// set_bit fails on a negative shift amount: in V2V only element 1's Δ
	// is negative, after element 0 succeeded.
	res := exec(t, ev, Request{Op: V2V, Fid: setBit, Value: val, Dvec: vec32([]int64{4, -1, 2})})
	check(t, "V2V set_bit Δ₁ = -1", res, true, val, []byte{})
	if res.FaultAt != 1 {
		t.Errorf("fault at %d, want 1", res.FaultAt)
	}
	res = exec(t, ev, Request{Op: S2V, Fid: setBit, Value: val, Delta: u(-3)})
	check(t, "S2V set_bit delta -3", res, true, val, []byte{})
	// REDUCE: the elements are the deltas; the last one fails.
	res = exec(t, ev, Request{Op: Reduce, Fid: setBit, Value: vec32([]int64{0, 5, math.MinInt32}), Delta: 0})
	check(t, "REDUCE set_bit", res, true, vec32([]int64{0, 5, math.MinInt32}), []byte{})
	if res.FaultAt != 2 {
		t.Errorf("fault at %d, want 2", res.FaultAt)
	}
	// Without the failing element, the same REDUCE succeeds.
	res = exec(t, ev, Request{Op: Reduce, Fid: setBit, Value: vec32([]int64{0, 5, 31})})
	check(t, "REDUCE set_bit ok", res, false, vec32([]int64{0, 5, 31}), u64(1<<31|1<<5|1))
	res = exec(t, ev, Request{Op: Filter, Fid: setBit, Value: val, Delta: u(math.MinInt32)})
	check(t, "FILTER set_bit", res, true, val, []byte{})
	// V2V: a Δ element past in_dlen is 0, so it cannot fail.
	res = exec(t, ev, Request{Op: V2V, Fid: setBit, Value: val, Dvec: vec32([]int64{4, -1})[:7]})
	check(t, "V2V set_bit, the bad Δ cut by dlen", res, false, vec32([]int64{1 | 16, 3, 3}, 0xee), val)
}

// §3: with n = 0 no λ is evaluated.
func TestEmpty(t *testing.T) {
	ev := evaluator(t, 32)
	for _, val := range [][]byte{{}, {1, 2, 3}} {
		res := exec(t, ev, Request{Op: S2V, Fid: setBit, Value: val, Delta: u(-1)})
		check(t, "S2V", res, false, val, val)
		res = exec(t, ev, Request{Op: V2V, Fid: setBit, Value: val, Dvec: vec32([]int64{-1})})
		check(t, "V2V", res, false, val, val)
		res = exec(t, ev, Request{Op: Reduce, Fid: setBit, Value: val, Delta: u(-2)})
		check(t, "REDUCE", res, false, val, u64(0xffff_fffe)) // delta, E bits zero-extended
		res = exec(t, ev, Request{Op: Filter, Fid: setBit, Value: val, Delta: u(-1)})
		check(t, "FILTER", res, false, val, []byte{})
		for op := S2V; op <= Filter; op++ {
			res = exec(t, ev, Request{Op: op, Fid: nFns, Value: val})
			check(t, op.String()+" unknown fid", res, true, val, []byte{})
			if res.N != 0 {
				t.Errorf("n = %d", res.N)
			}
		}
	}
}

// The other element widths: wrapping and signed order at E bits.
func TestElementWidths(t *testing.T) {
	ev8 := evaluator(t, 8)
	res := exec(t, ev8, Request{Op: S2V, Fid: fetchAdd, Value: []byte{0x7f, 0xff, 0x00}, Delta: 1})
	check(t, "E=8 fetch_add", res, false, []byte{0x80, 0x00, 0x01}, []byte{0x7f, 0xff, 0x00})
	res = exec(t, ev8, Request{Op: Reduce, Fid: maxFn, Value: []byte{0x80, 0x01, 0xff}, Delta: 0x80})
	check(t, "E=8 max signed", res, false, []byte{0x80, 0x01, 0xff}, u64(1))
	res = exec(t, ev8, Request{Op: V2V, Fid: setBit, Value: []byte{0, 0, 0}, Dvec: []byte{7, 8, 9}})
	check(t, "E=8 set_bit past the width", res, false, []byte{0x80, 0, 0}, []byte{0, 0, 0})

	ev16 := evaluator(t, 16)
	res = exec(t, ev16, Request{Op: Filter, Fid: gt, Value: []byte{0x00, 0x80, 0xff, 0x7f, 0x05}, Delta: 0})
	check(t, "E=16 filter > 0", res, false, []byte{0x00, 0x80, 0xff, 0x7f, 0x05}, []byte{0xff, 0x7f})

	ev64 := evaluator(t, 64)
	val := append(u64(math.MaxInt64), u64(-1)...)
	res = exec(t, ev64, Request{Op: S2V, Fid: fetchAdd, Value: append(val, 1, 2, 3, 4, 5, 6, 7), Delta: 1})
	check(t, "E=64", res, false, append(append(u64(math.MinInt64), u64(0)...), 1, 2, 3, 4, 5, 6, 7), append(val, 1, 2, 3, 4, 5, 6, 7))
	res = exec(t, ev64, Request{Op: Reduce, Fid: fetchAdd, Value: val, Delta: 5})
	check(t, "E=64 reduce", res, false, val, u64(math.MinInt64+3)) // 5 + MaxInt64 - 1 wraps
}

// A configuration the document forbids never reaches the evaluator.
func TestExecRefusesOddWidths(t *testing.T) {
	c := testConfig(t, 32)
	c.Atomic.ScalarBits = 13
	ev, err := lambda.NewEvaluator(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Exec(ev, Request{Value: []byte{1}}); err == nil {
		t.Error("a 13-bit element width was accepted")
	}
}

// §2: the ports, in the table's order, with the sim preset's widths
// (E = 32, V = 478, VL = 9, F = 3 for the preset's 7 λs).
func TestPorts(t *testing.T) {
	c, _ := config.Preset("sim")
	var got []string
	for _, p := range Ports(c) {
		s := p.Dir.String() + " " + p.Name + "[" + strconv.Itoa(p.Width) + "]"
		if p.QualifiedBy != "" {
			s += "/" + p.QualifiedBy
		}
		got = append(got, s)
	}
	want := []string{
		"in in_valid[1]", "out in_ready[1]", "in in_op[2]", "in in_fid[3]", "in in_vlen[9]", "in in_value[3824]",
		"in in_delta[32]", "in in_cmp[32]", "in in_swap[32]", "in in_dlen[9]", "in in_dvec[3824]",
		"out out_valid[1]", "out out_fault[1]/out_valid", "out out_new[3824]/out_valid", "out out_rlen[9]/out_valid",
		"out out_resp[3824]/out_valid",
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("ports\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	p := ParamsOf(c)
	if p != (Params{E: 32, EB: 4, V: 478, VL: 9, NE: 119, EL: 7, N: 7, F: 3}) {
		t.Errorf("params %+v", p)
	}
	if _, err := model.NewLayout(Ports(c)); err != nil {
		t.Error(err)
	}
}
