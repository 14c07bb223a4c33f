package htengine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/model"
)

// Vector operations in the engine (engine.md §4, §6.4, §6.5, §6.7, §8A,
// §10). The preset λs (lambda.md): 0 fetch_add, 1 cas, 2 max, 3 min,
// 4 fetch_xor, 5 set_bit (fails on a negative shift), 6 sat_add; 7 is
// unknown.
const (
	fidAdd     = 0
	fidMax     = 2
	fidMin     = 3
	fidSetBit  = 5
	fidUnknown = 7
)

// elems are the 32-bit elements of v (sim: E = 32), trailing bytes aside.
func elems(v []byte) []int32 {
	var e []int32
	for i := 0; i+4 <= len(v); i += 4 {
		e = append(e, int32(binary.LittleEndian.Uint32(v[i:])))
	}
	return e
}

// vec packs elements (and trailing bytes) little-endian.
func vec(es []int32, trailing ...byte) []byte {
	var b []byte
	for _, x := range es {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return append(b, trailing...)
}

func mapElems(v []byte, f func(i int, x int32) int32) []byte {
	es := elems(v)
	for i := range es {
		es[i] = f(i, es[i])
	}
	return vec(es, v[4*len(es):]...)
}

// located is where a key lives in the engine's memory.
type located struct {
	found   bool
	inline  bool
	bucket  int64 // the chain's bucket holding the key (or its slot)
	obj     int64 // out-of-line: the object's address
	objSize int   // its class size
	voff    int   // inline: the value's first byte in the bucket
	value   []byte
}

func (e *env) locate(key []byte) located {
	l := e.m.l
	b, sec, _ := e.hash.Bytes(key)
	addr := int64(b) * hashtable.BucketBytes
	for pos := 0; pos < 1000; pos++ {
		var raw [hashtable.BucketBytes]byte
		e.mem.Read(addr, raw[:])
		B := l.Decode(&raw)
		if j, ok := l.MatchInline(&B, key); ok {
			_, v, _, _ := l.InlineKV(&B, j)
			return located{found: true, inline: true, bucket: addr, voff: l.SlotBytes*j + len(key), value: slices.Clone(v)}
		}
		for j := 0; j < l.Slots; j++ {
			if l.Kind(&B, j) != hashtable.OutOfLine || l.SlotSec(&B, j) != sec {
				continue
			}
			size := l.Classes[B.Type[j]]
			obj := make([]byte, size)
			a := l.Addr(l.SlotPtr(&B, j))
			e.mem.Read(a, obj)
			if k, v, ok := l.ParseObject(obj); ok && bytes.Equal(k, key) {
				return located{found: true, bucket: addr, obj: a, objSize: size, value: slices.Clone(v)}
			}
		}
		if !B.Valid {
			break
		}
		addr = l.Addr(B.Next)
	}
	return located{}
}

func (e *env) bucketBytes(addr int64) []byte {
	b := make([]byte, hashtable.BucketBytes)
	e.mem.Read(addr, b)
	return b
}

// vecCase is one vector request on the KV "vk" and what it must do.
type vecCase struct {
	name   string
	op     int
	fid    uint64
	delta  uint64
	cmp    uint64
	swap   uint64
	dvec   []byte
	vlen   int // req_vlen when not len(dvec) (-1: len(dvec))
	status uint8
	// resp and newValue from the stored value (nil newValue: unchanged, no
	// write).
	resp     func(v []byte) []byte
	newValue func(v []byte) []byte
}

func vecCases() []vecCase {
	same := func(v []byte) []byte { return v }
	none := func([]byte) []byte { return nil }
	u32 := func(x int32) uint64 { return uint64(uint32(x)) }
	sum8 := func(acc int32, v []byte, f func(a, x int32) int32) []byte {
		for _, x := range elems(v) {
			acc = f(acc, x)
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(uint32(acc)))
	}
	filter := func(v []byte, keep func(x int32) bool) []byte {
		out := []byte{}
		for i, x := range elems(v) {
			if keep(x) {
				out = append(out, v[4*i:4*i+4]...)
			}
		}
		return out
	}
	return []vecCase{
		{name: "S2V fetch_add 10", op: OpUpdateS2V, fid: fidAdd, delta: 10, status: StatusOK, resp: same,
			newValue: func(v []byte) []byte { return mapElems(v, func(_ int, x int32) int32 { return x + 10 }) }},
		{name: "S2V fetch_add 0 still writes", op: OpUpdateS2V, fid: fidAdd, delta: 0, status: StatusOK, resp: same, newValue: same},
		{name: "S2V cas", op: OpUpdateS2V, fid: 1, cmp: u32(-3), swap: 77, status: StatusOK, resp: same,
			newValue: func(v []byte) []byte {
				return mapElems(v, func(_ int, x int32) int32 {
					if x == -3 {
						return 77
					}
					return x
				})
			}},
		{name: "S2V set_bit 4", op: OpUpdateS2V, fid: fidSetBit, delta: 4, status: StatusOK, resp: same,
			newValue: func(v []byte) []byte { return mapElems(v, func(_ int, x int32) int32 { return x | 16 }) }},
		// Δ of 9 bytes: elements 0 and 1, then one stray byte (element 2 of
		// Δ is missing: 0); the rest of the vector adds 0.
		{name: "V2V Δ shorter than the vector", op: OpUpdateV2V, fid: fidAdd, dvec: vec([]int32{1, 2}, 0x55), vlen: -1,
			status: StatusOK, resp: same,
			newValue: func(v []byte) []byte {
				return mapElems(v, func(i int, x int32) int32 { return x + []int32{1, 2, 0}[min(i, 2)] })
			}},
		{name: "V2V max, Δ of V bytes", op: OpUpdateV2V, fid: fidMax, dvec: vec(slices.Repeat([]int32{9}, 119), 1, 2), vlen: -1,
			status: StatusOK, resp: same,
			newValue: func(v []byte) []byte { return mapElems(v, func(_ int, x int32) int32 { return max(x, 9) }) }},
		{name: "REDUCE fetch_add", op: OpReduce, fid: fidAdd, delta: 1000, status: StatusOK,
			resp: func(v []byte) []byte { return sum8(1000, v, func(a, x int32) int32 { return a + x }) }},
		{name: "REDUCE min", op: OpReduce, fid: fidMin, delta: u32(1 << 30), status: StatusOK,
			resp: func(v []byte) []byte { return sum8(1<<30, v, func(a, x int32) int32 { return min(a, x) }) }},
		{name: "FILTER old+delta != 0", op: OpFilter, fid: fidAdd, delta: 3, status: StatusOK,
			resp: func(v []byte) []byte { return filter(v, func(x int32) bool { return x+3 != 0 }) }},
		{name: "FILTER max(old, 0) != 0", op: OpFilter, fid: fidMax, delta: 0, status: StatusOK,
			resp: func(v []byte) []byte { return filter(v, func(x int32) bool { return x > 0 }) }},
		// lambda.md §2.3: set_bit shifts by delta; a negative shift fails.
		{name: "S2V set_bit -1 fails", op: OpUpdateS2V, fid: fidSetBit, delta: u32(-1), status: StatusLambdaFault, resp: none},
		{name: "V2V set_bit with Δ1 = -1 fails", op: OpUpdateV2V, fid: fidSetBit, dvec: vec([]int32{1, -1, 2}), vlen: -1,
			status: StatusLambdaFault, resp: none},
		{name: "REDUCE set_bit fails on the element -3", op: OpReduce, fid: fidSetBit, delta: 0, status: StatusLambdaFault, resp: none},
		{name: "FILTER set_bit -5 fails", op: OpFilter, fid: fidSetBit, delta: u32(-5), status: StatusLambdaFault, resp: none},
		{name: "S2V unknown fid", op: OpUpdateS2V, fid: fidUnknown, delta: 1, status: StatusLambdaFault, resp: none},
		{name: "V2V unknown fid", op: OpUpdateV2V, fid: fidUnknown, dvec: vec([]int32{1}), vlen: -1, status: StatusLambdaFault, resp: none},
		{name: "REDUCE unknown fid", op: OpReduce, fid: fidUnknown, status: StatusLambdaFault, resp: none},
		{name: "FILTER unknown fid", op: OpFilter, fid: fidUnknown, status: StatusLambdaFault, resp: none},
		// req_vlen is S2V's to ignore, even above V.
		{name: "S2V ignores req_vlen > V", op: OpUpdateS2V, fid: fidAdd, delta: 1, vlen: 500, status: StatusOK, resp: same,
			newValue: func(v []byte) []byte { return mapElems(v, func(_ int, x int32) int32 { return x + 1 }) }},
	}
}

// Every vector operation on an inline and an out-of-line KV, each against
// hand-computed results: the response, the one in-place write of an update
// (and none otherwise), the stored value afterwards, and the table checker
// with the reference map updated to the new value.
func TestVectorOps(t *testing.T) {
	eachReadWidth(t, testVectorOps)
}

func testVectorOps(t *testing.T, rw int) {
	cfg := simConfig(t)
	cfg.Engine.ReadBytes = rw
	key := []byte("vk")
	forms := []struct {
		name  string
		value []byte
		beats int
	}{
		// 2 + 13 B: inline, 3 elements and a trailing byte; the element -3
		// makes set_bit fail in REDUCE.
		{"inline", vec([]int32{5, -3, 100}, 0xab), 2},
		// 2 + 2 + 102 B: class 2 (128 B), 25 elements, 2 trailing bytes;
		// written as ⌈106/32⌉ = 4 beats.
		{"out-of-line", vec(append([]int32{-3}, func() []int32 {
			var es []int32
			for i := 1; i < 25; i++ {
				es = append(es, int32(7*i-50))
			}
			return es
		}()...), 0xab, 0xcd), 4},
	}
	for _, f := range forms {
		for _, tc := range vecCases() {
			t.Run(f.name+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, cfg, readyOpts(), 21)
				e.preload([]byte("other"), []byte("x"))
				e.preload(key, f.value)
				before := e.locate(key)
				if before.inline != (f.name == "inline") {
					t.Fatalf("the KV is not %s", f.name)
				}
				bucketBefore := e.bucketBytes(before.bucket)
				r := e.newRequest(tc.op, key, tc.dvec)
				if tc.vlen >= 0 && tc.op != OpUpdateV2V {
					r.vlen = tc.vlen
				}
				r.fid, r.delta, r.cmp, r.swap = tc.fid, tc.delta, tc.cmp, tc.swap
				e.send(r)
				e.runUntilDone(1000)
				e.finish()
				if len(e.responses) != 1 || e.responses[0].b != uint64(tc.status) {
					t.Fatalf("responses %v, want status %d", e.responses, tc.status)
				}
				if got, want := e.rspValues[r.tag], tc.resp(f.value); !bytes.Equal(got, want) || (want != nil && got == nil) {
					t.Fatalf("response value %x, want %x", got, want)
				}
				after := e.locate(key)
				want := f.value
				if tc.newValue != nil && tc.status == StatusOK {
					want = tc.newValue(f.value)
					// One write, in place.
					if f.name == "inline" {
						if len(e.wrBeats) != 2 || e.wrBeats[0].a != uint64(before.bucket) || e.wrBeats[1].a != uint64(before.bucket)+32 {
							t.Fatalf("write beats %v, want the bucket at %#x", e.wrBeats, before.bucket)
						}
						// The value bytes replaced, every other byte unchanged.
						wantBucket := slices.Clone(bucketBefore)
						copy(wantBucket[before.voff:], want)
						if got := e.bucketBytes(before.bucket); !bytes.Equal(got, wantBucket) {
							t.Fatalf("bucket after the update\n%x\nwant\n%x", got, wantBucket)
						}
					} else {
						var addrs []uint64
						for _, w := range e.wrBeats {
							addrs = append(addrs, w.a)
						}
						o := uint64(before.obj)
						if !slices.Equal(addrs, []uint64{o, o + 32, o + 64, o + 96}) {
							t.Fatalf("write beats at %#x, want the object's 4 beats at %#x", addrs, o)
						}
						if after.obj != before.obj {
							t.Fatalf("the object moved from %#x to %#x", before.obj, after.obj)
						}
					}
					if s := e.m.Stats(); s.VecWriteBacks != 1 || s.Writes() != 1 {
						t.Fatalf("stats %+v: want one write-back", s)
					}
				} else if len(e.wrBeats) != 0 {
					t.Fatalf("write beats %v: want none", e.wrBeats)
				}
				if !after.found || after.inline != before.inline || !bytes.Equal(after.value, want) {
					t.Fatalf("stored value %x, want %x", after.value, want)
				}
				if s := e.m.Stats(); s.VecOps != 1 || s.Reads() != 1+b2u(!before.inline) || s.AllocsOK != 0 || s.Frees != 0 ||
					s.VecFaults != b2u(tc.status == StatusLambdaFault) || s.Ops[tc.op] != 1 || s.Status[tc.status] != 1 {
					t.Fatalf("stats %+v", s)
				}
			})
		}
	}
}

// A vector operation on a key that is absent walks as GET and answers
// NOT_FOUND without the vector unit; refused requests (§4): V2V with
// req_vlen > V, op 3, and an empty key.
func TestVectorNotFoundAndRefused(t *testing.T) {
	eachReadWidth(t, testVectorNotFoundAndRefused)
}

func testVectorNotFoundAndRefused(t *testing.T, rw int) {
	cfg := simConfig(t)
	cfg.Engine.ReadBytes = rw
	e := newEnv(t, cfg, readyOpts(), 22)
	keys := keysInBucket(cfg, e.rng, 77, 12, 3)
	for _, k := range keys[:10] {
		e.preload(k, []byte("vv")) // the index bucket full: the walk goes on
	}
	e.preload(keys[10], make([]byte, 60)) // out-of-line, in a chained bucket
	var reqs []*request
	for op := OpUpdateS2V; op <= OpFilter; op++ {
		r := e.newRequest(op, keys[11], []byte{1, 2, 3, 4}[:4*b2u(op == OpUpdateV2V)])
		r.fid = fidAdd
		reqs = append(reqs, e.send(r))
	}
	long := e.newRequest(OpUpdateV2V, keys[10], nil)
	long.vlen = e.p.V + 1
	long.refuse = StatusValueTooLong
	bad := e.newRequest(OpBad, keys[10], nil)
	bad.refuse = StatusBadOp
	empty := e.newRequest(OpReduce, nil, nil)
	empty.refuse = StatusEmptyKey
	for _, r := range []*request{long, bad, empty} {
		reqs = append(reqs, e.send(r))
	}
	e.runUntilDone(2000)
	e.finish()
	want := map[uint16]uint8{}
	for i, r := range reqs {
		want[r.tag] = []uint8{StatusNotFound, StatusNotFound, StatusNotFound, StatusNotFound,
			StatusValueTooLong, StatusBadOp, StatusEmptyKey}[i]
	}
	for _, rs := range e.responses {
		if uint8(rs.b) != want[uint16(rs.a)] {
			t.Errorf("tag %d: status %d, want %d", rs.a, rs.b, want[uint16(rs.a)])
		}
	}
	s := e.m.Stats()
	// Each NOT_FOUND read bucket 0, bucket 1 and the one object whose
	// secondary hash could match (at most): as GET does.
	if s.VecOps != 0 || s.Writes() != 0 || s.Status[StatusNotFound] != 4 {
		t.Fatalf("stats %+v: want 4 NOT_FOUND, nothing in the vector unit, no write", s)
	}
}

// phaseLog records, before every cycle, the phase of the context holding
// tag and whether kvd_vec is busy (in_ready = 0).
type phaseLog struct {
	start uint64   // the cycle of phase[0]
	phase []string // by cycle
	busy  []bool
}

func (e *env) runLogged(tags []uint16, limit int) map[uint16]*phaseLog {
	logs := map[uint16]*phaseLog{}
	for _, tg := range tags {
		logs[tg] = &phaseLog{start: e.cycle}
	}
	for n := 0; n < limit && (len(e.src) > 0 || e.cur != nil || len(e.pending) > 0 || !e.m.Idle()); n++ {
		for _, tg := range tags {
			ph := "FREE"
			for x := range e.m.st.c {
				if c := &e.m.st.c[x]; c.phase != phFree && c.tag == tg {
					ph = phName[c.phase]
				}
			}
			logs[tg].phase = append(logs[tg].phase, ph)
			logs[tg].busy = append(logs[tg].busy, e.m.st.vcBusy)
		}
		e.step()
	}
	return logs
}

// cyclesIn are the cycles (from t0) a log shows phase ph.
func (l *phaseLog) cyclesIn(ph string, t0 uint64) []int {
	var c []int
	for i, p := range l.phase {
		if p == ph {
			c = append(c, int(l.start)+i-int(t0))
		}
	}
	return c
}

func span(a, b int) []int {
	var s []int
	for i := a; i <= b; i++ {
		s = append(s, i)
	}
	return s
}

// engine.md §10: a vector operation on an inline KV found in the index
// bucket, memory answering at once, n elements: EXEC t+5 → VEC; loaded
// into kvd_vec in t+6 (→ VWAIT); result in t+7+n; REDUCE and FILTER answer
// in t+8+n; an UPDATE is loaded by the write unit in t+8+n, writes its two
// beats in t+9+n and t+10+n and answers in t+11+n. kvd_vec's in_ready is 0
// from t+7 through t+7+n.
func TestTimelineVector(t *testing.T) {
	cfg := simConfig(t)
	for _, tc := range []struct {
		op    int
		value []byte
	}{
		{OpReduce, vec([]int32{1, 2, 3})},
		{OpFilter, vec([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})},
		{OpUpdateS2V, vec([]int32{1, 2, 3}, 9)},
		{OpUpdateV2V, vec([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})},
		{OpReduce, []byte{1, 2, 3}},    // n = 0: the result in t+7
		{OpUpdateS2V, []byte{1, 2, 3}}, // n = 0, still written back
	} {
		n := len(tc.value) / 4
		t.Run(fmt.Sprintf("%s_n%d", opNames[tc.op], n), func(t *testing.T) {
			e := newEnv(t, cfg, readyOpts(), 23)
			key := []byte("id")
			e.preload(key, tc.value)
			for i := 0; i < 3; i++ {
				e.step()
			}
			r := e.newRequest(tc.op, key, vec([]int32{5}))
			r.fid, r.delta = fidAdd, 1
			e.send(r)
			lg := e.runLogged([]uint16{r.tag}, 200)[r.tag]
			e.finish()
			t0 := r.accepted
			if t0 != 3 {
				t.Fatalf("accepted in %d", t0)
			}
			check := func(what string, got, want []int) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Errorf("%s at t+%v, want t+%v", what, got, want)
				}
			}
			check("EXEC", lg.cyclesIn("EXEC", t0), []int{5})
			check("VEC", lg.cyclesIn("VEC", t0), []int{6})
			check("VWAIT", lg.cyclesIn("VWAIT", t0), span(7, 7+n))
			var busy []int
			for i, b := range lg.busy {
				if b {
					busy = append(busy, int(lg.start)+i-int(t0))
				}
			}
			check("kvd_vec busy (in_ready 0)", busy, span(7, 7+n))
			update := tc.op == OpUpdateS2V || tc.op == OpUpdateV2V
			if update {
				check("WRITE", lg.cyclesIn("WRITE", t0), []int{8 + n})
				check("WBUSY", lg.cyclesIn("WBUSY", t0), []int{9 + n, 10 + n})
				check("write beats", offsets(cyclesFrom(e.wrBeats), t0), []int{9 + n, 10 + n})
				check("response", offsets(cyclesFrom(e.responses), t0), []int{11 + n})
			} else {
				check("write beats", offsets(cyclesFrom(e.wrBeats), t0), nil)
				check("response", offsets(cyclesFrom(e.responses), t0), []int{8 + n})
			}
			check("reads", offsets(cyclesFrom(e.rdReqs), t0), []int{2})
			if s := e.m.Stats(); s.VecElements != uint64(n) || s.LatencyMax != uint64(offsets(cyclesFrom(e.responses), t0)[0]) {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// kvd_vec runs one operation at a time and is not ready in its result
// cycle: a second operation that reaches VEC while the first is in the
// unit waits, and is loaded in t1+2+n1 (t1 the first's load).
func TestVectorUnitOneAtATime(t *testing.T) {
	cfg := simConfig(t)
	e := newEnv(t, cfg, readyOpts(), 24)
	keys := distinctBucketKeys(cfg, e.rng, 2)
	e.preload(keys[0], vec([]int32{1, 2, 3, 4, 5}))       // n1 = 5
	e.preload(keys[1], vec([]int32{10, 20, 30}, 7, 7, 7)) // n2 = 3
	r1 := e.newRequest(OpReduce, keys[0], nil)
	r2 := e.newRequest(OpUpdateS2V, keys[1], nil)
	r1.fid, r2.fid = fidAdd, fidAdd
	e.send(r1)
	e.send(r2)
	logs := e.runLogged([]uint16{r1.tag, r2.tag}, 300)
	e.finish()
	t0 := r1.accepted
	if r2.accepted != t0+1 {
		t.Fatalf("accepted in %d and %d", t0, r2.accepted)
	}
	l1, l2 := logs[r1.tag], logs[r2.tag]
	// The second's read follows the first's on the port: beats t+5, t+6,
	// EXEC t+7 → VEC from t+8; the first is loaded in t+6, has its result
	// in t+12 (kvd_vec not ready), so the second is loaded in t+13.
	if got := l1.cyclesIn("VWAIT", t0); !slices.Equal(got, span(7, 12)) {
		t.Errorf("first VWAIT at t+%v, want t+7..12", got)
	}
	if got := l2.cyclesIn("VEC", t0); !slices.Equal(got, span(8, 13)) {
		t.Errorf("second VEC at t+%v, want t+8..13 (loaded in t+13)", got)
	}
	if got := l2.cyclesIn("VWAIT", t0); !slices.Equal(got, span(14, 17)) {
		t.Errorf("second VWAIT at t+%v, want t+14..17", got)
	}
	if s := e.m.Stats(); s.VecStalls != 5 || s.VecOps != 2 {
		t.Errorf("stats %+v: want 2 vector operations, the second waiting 5 cycles", s)
	}
}

// The vector unit's round robin (engine.md §8A, §3): VEC contexts 1, 4, 6
// with vc_rr = 5 are loaded 6, 1, 4, each in the cycle after the previous
// one's result. White-box: contexts are put in VEC directly.
func TestVectorRoundRobin(t *testing.T) {
	cfg := simConfig(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lay := model.MustLayout(m.Ports())
	in, out := make([]uint64, lay.InWords), make([]uint64, lay.OutWords)
	n := map[int]int{1: 2, 4: 0, 6: 3}
	for x, k := range n {
		c := &m.st.c[x]
		c.phase, c.op, c.fid, c.delta, c.tag = phVec, OpReduce, fidAdd, 0, uint16(100+x)
		c.rvlen = copy(c.rvalue, vec(slices.Repeat([]int32{int32(x)}, k)))
	}
	m.st.vcRR = 5
	if err := m.Step(in, out); err != nil {
		t.Fatal(err)
	}
	if d := m.DescribeState(); !strings.Contains(d, "[6 VWAIT op 6") || !strings.Contains(d, "[1 VEC op 6") ||
		!strings.Contains(d, "vector unit busy ctx 6 (3 elements") {
		t.Errorf("DescribeState does not show the vector unit: %s", d)
	}
	loads := map[int]int{6: 0}
	var rsp []uint64
	var sums []uint64
	for cyc := 1; cyc < 20; cyc++ {
		before := []uint8{}
		for x := range m.st.c {
			before = append(before, m.st.c[x].phase)
		}
		if err := m.Step(in, out); err != nil {
			t.Fatal(err)
		}
		if out[m.o.oRspValid] == 1 {
			rsp = append(rsp, out[m.o.oRspTag])
			sums = append(sums, out[m.o.oRspValue])
		}
		for x := range m.st.c {
			if before[x] == phVec && m.st.c[x].phase == phVWait {
				loads[x] = cyc
			}
		}
	}
	// 6 (n 3) loaded in 0, result 4; 1 (n 2) loaded in 5, result 8; 4 (n 0)
	// loaded in 9, result 10.
	if loads[6] != 0 || loads[1] != 5 || loads[4] != 9 {
		t.Errorf("loads %v, want context 6 in 0, 1 in 5, 4 in 9", loads)
	}
	if !slices.Equal(rsp, []uint64{106, 101, 104}) || !slices.Equal(sums, []uint64{18, 2, 0}) {
		t.Errorf("responses %v with sums %v, want 106, 101, 104 with 18, 2, 0", rsp, sums)
	}
	if m.st.vcRR != 5 {
		t.Errorf("vc_rr = %d, want 5 (past context 4)", m.st.vcRR)
	}
}

// The closed loop with many vector operations (engine.md §6.7): 20 % of
// the requests, on values of every length and form, every response checked
// against golden/vector's Exec on the reference value, every update's
// write in place, and the table checker on a map that took every update.
func TestRandomVector(t *testing.T) {
	eachReadWidth(t, testRandomVector)
}

func testRandomVector(t *testing.T, rw int) {
	for _, tc := range []struct {
		name string
		set  func(*config.Config)
		opt  func(*envOpts)
		ops  int
	}{
		{"sim", nil, func(*envOpts) {}, 48000},
		{"sim_colliding", nil, func(o *envOpts) { o.latMax = 20 }, 12000},
		{"sim_ready", nil, func(o *envOpts) { *o = readyOpts(); o.vecP = 0.2 }, 12000},
		{"sim_faults", nil, func(o *envOpts) { o.errP, o.noMemP = 0.02, 0.1 }, 6000},
		// Other element widths and λ lists: 64-bit elements and five λs
		// (fids 5..7 unknown); 8-bit elements with a division that fails on
		// a zero divisor (lambda.md §2.3).
		{"e64", func(c *config.Config) { c.Vector.ElementBits = 64; c.Atomic.Lambdas = c.Atomic.Lambdas[:5] }, func(*envOpts) {}, 6000},
		{"e8_division", func(c *config.Config) {
			c.Vector.ElementBits = 8
			c.Atomic.Division = true
			c.Atomic.Lambdas = []config.Lambda{{Name: "div", Expr: "old / delta"}, {Name: "mod", Expr: "old % delta"},
				{Name: "add", Expr: "old + delta"}}
		}, func(*envOpts) {}, 6000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simConfig(t)
			cfg.Engine.ReadBytes = rw
			if tc.set != nil {
				tc.set(&cfg)
			}
			cfg.Memory.IndexBuckets = 64
			opt := defaultOpts()
			opt.vecP = 0.2
			tc.opt(&opt)
			rng := rand.New(rand.NewPCG(uint64(tc.ops), 5))
			keys := randomKeys(cfg, rng, 80)
			if tc.name == "sim_colliding" {
				keys, _ = collidingKeys(cfg, rng, 3, 20)
			}
			e := runRandom(t, cfg, opt, uint64(len(tc.name)), keys, tc.ops)
			s := e.m.Stats()
			if int(s.VecOps) < tc.ops/20 || e.vecChecked != int(s.VecOps) {
				t.Errorf("%d vector operations through kvd_vec (%d checked) in %d requests", s.VecOps, e.vecChecked, tc.ops)
			}
			for _, op := range []string{"UPDATE_S2V", "UPDATE_V2V", "REDUCE", "FILTER"} {
				requireCoverage(t, e, op+" inline", op+" out-of-line", op+" status 0", op+" status 1", op+" status 8")
			}
			requireCoverage(t, e, "UPDATE_V2V status 4")
		})
	}
}
