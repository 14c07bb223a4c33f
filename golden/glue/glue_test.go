package glue

import (
	"fmt"
	"testing"

	"github.com/kvdirect/kvd/golden/keyhash"
)

const (
	opGet = 0
	opPut = 1
	opS2S = 3
	opV2V = 5
)

// valids returns the valid outputs (and the two readies) of the current
// cycle as a string, for the timeline table.
func (d *driver) valids() string {
	s := ""
	for _, n := range []string{"iss_ready", "kh_in_valid", "rs_req_valid", "rs_pipe_ready", "ht_req_valid", "rs_cpl_valid", "cpl_valid"} {
		s += fmt.Sprint(d.peek(n))
	}
	return s
}

// §4.6 cycle by cycle, with the real key-hash unit: issued in t, presented
// to the key-hash unit in t+1, hashed in t+4, offered to the station in
// t+5; a pipeline operation taken in t offered to the engine in t+1; an
// engine answer in t at the station in t+1; a station response in t at the
// front end in t+1.
func TestTimeline(t *testing.T) {
	cfg := preset(t, "sim")
	d := newDriver(t, cfg)
	d.withHash(cfg)
	p := d.m.Params()
	key := []byte("timeline-key")
	val := pattern(40, 1) // long: carried by reference
	rspVal := pattern(100, 7)
	bucket, sec, slot := keyhash.Hash(cfg, key)
	const tag, id = 5, 3

	// Columns: iss_ready kh_in_valid rs_req_valid rs_pipe_ready
	// ht_req_valid rs_cpl_valid cpl_valid, at the start of each cycle.
	want := []string{
		0:  "1001000", // issue taken
		1:  "1101000", // kh_in_valid (t+1)
		2:  "1001000",
		3:  "1001000",
		4:  "1001000", // the key-hash unit's out_valid (t+4)
		5:  "1011000", // offered to the station (t+5), taken
		6:  "1001000",
		7:  "1001000", // station's pipeline operation taken
		8:  "1001100", // offered to the engine (t+1); not ready
		9:  "1001100", // taken
		10: "1001000",
		11: "1001000",
		12: "1001000", // engine answers
		13: "1001010", // at the station (t+1)
		14: "1001000",
		15: "1001000", // station responds
		16: "1001001", // at the front end (t+1)
		17: "1001000",
	}
	for c, w := range want {
		if got := d.valids(); got != w {
			t.Fatalf("cycle %d: valids %s, want %s (%s)", c, got, w, d.m.DescribeState())
		}
		switch c {
		case 0:
			d.issue(tag, opPut, 2, key, val)
		case 1:
			if d.peek("kh_in_tag") != tag || d.peek("kh_in_len") != uint64(len(key)) ||
				!equalWords(d.peekWords("kh_in_key"), pack(key, 2)) {
				t.Fatalf("kh_in_* wrong")
			}
			if d.m.Credits() != DA-1 {
				t.Fatalf("credits %d after one issue", d.m.Credits())
			}
		case 5:
			if d.peek("rs_req_tag") != tag || d.peek("rs_req_slot") != slot ||
				d.peek("rs_req_aux") != bucket<<uint(p.H)|sec || d.peek("rs_req_op") != opPut ||
				d.peek("rs_req_vlen") != 40 || d.peek("rs_req_value") != pack(val, 1)[0] ||
				d.peek("rs_req_klen") != uint64(len(key)) || !equalWords(d.peekWords("rs_req_key"), pack(key, 2)) ||
				d.peek("rs_req_fid") != 2 {
				t.Fatalf("rs_req_* wrong: slot %d aux %#x", d.peek("rs_req_slot"), d.peek("rs_req_aux"))
			}
			d.set("rs_req_ready", 1)
		case 6:
			if d.m.Credits() != DA {
				t.Fatalf("credits %d after the station took it", d.m.Credits())
			}
		case 7:
			d.pipe(pipeRec{id: id, tag: tag, op: opPut, fid: 2, key: key, vlen: 40, value: pack(val, 1)[0], aux: bucket<<uint(p.H) | sec})
		case 8:
			d.set("ht_req_ready", 0)
		case 9:
			if d.peek("ht_req_tag") != id || d.peek("ht_req_bucket") != bucket || d.peek("ht_req_sec") != sec ||
				!equalWords(d.peekWords("ht_req_value"), pack(val, d.m.vw)) || d.peek("ht_req_vlen") != 40 {
				t.Fatalf("ht_req_* wrong")
			}
			d.set("ht_req_ready", 1)
		case 12:
			d.engineRsp(id, 0, rspVal)
		case 13:
			if d.peek("rs_cpl_id") != id || d.peek("rs_cpl_vlen") != 100 || d.peek("rs_cpl_value") != pack(rspVal, 1)[0] {
				t.Fatalf("rs_cpl_* wrong")
			}
		case 15:
			d.stationResp(tag, 0, 100, first8(rspVal))
		case 16:
			if d.peek("cpl_tag") != tag || d.peek("cpl_vlen") != 100 || d.peek("cpl_status") != 0 ||
				!equalWords(d.peekWords("cpl_value"), pack(rspVal, d.m.vw)) {
				t.Fatalf("cpl_* wrong")
			}
		}
		d.step()
	}
}

// The glue issues one operation per cycle when the station takes one per
// cycle: DA covers the credit loop (§4.6).
func TestFullRate(t *testing.T) {
	cfg := preset(t, "sim")
	d := newDriver(t, cfg)
	d.withHash(cfg)
	offered := 0
	for c := 0; c < 200; c++ {
		if d.peek("iss_ready") == 0 {
			t.Fatalf("cycle %d: iss_ready = 0 with the station taking every cycle", c)
		}
		if d.peek("rs_req_valid") == 1 {
			offered++
			// The station answers at once (the response stands in for a
			// served operation) — the tag is free again after this.
			d.set("rs_req_ready", 1)
		}
		if d.prev != nil && d.prev[d.lay.MustSlot("rs_req_valid").Off] == 1 {
			d.stationResp(d.prev[d.lay.MustSlot("rs_req_tag").Off], 0, 0, nil)
		}
		d.issue(c%d.m.Params().M, opGet, 0, []byte{byte(c), 1}, nil)
		d.step()
	}
	if offered != 200-5 {
		t.Fatalf("%d offered to the station in 200 cycles, want 195", offered)
	}
}

// Credits: with the station taking nothing, iss_ready drops after DA
// issues; one station acceptance returns one credit the next cycle.
func TestCredits(t *testing.T) {
	cfg := preset(t, "sim")
	d := newDriver(t, cfg)
	d.withHash(cfg)
	issued := 0
	for c := 0; c < 30; c++ {
		ready := d.peek("iss_ready") == 1
		if !ready && issued != DA {
			t.Fatalf("cycle %d: iss_ready = 0 after %d issues", c, issued)
		}
		// The front end keeps offering; the station takes nothing.
		d.issue(issued, opGet, 0, []byte{byte(issued), 9}, nil)
		if ready {
			issued++
		}
		d.step()
	}
	if issued != DA || d.m.Credits() != 0 || d.m.AFLen() != DA {
		t.Fatalf("issued %d credits %d |AF| %d", issued, d.m.Credits(), d.m.AFLen())
	}
	// iss_valid while not ready: not taken (same tag offered again).
	d.issue(DA, opGet, 0, []byte{DA, 9}, nil)
	d.step()
	if d.m.Credits() != 0 || d.m.AFLen() != DA {
		t.Fatal("an issue was taken without credits")
	}
	// The station takes one: a credit returns next cycle, not this one.
	if d.peek("rs_req_valid") != 1 || d.peek("rs_req_tag") != 0 {
		t.Fatal("AF's head is not tag 0")
	}
	d.set("rs_req_ready", 1)
	if d.peek("iss_ready") != 0 {
		t.Fatal("iss_ready in the cycle of the acceptance")
	}
	d.issue(DA, opGet, 0, []byte{DA, 9}, nil) // not taken: no credit at the start of the cycle
	d.step()
	if d.peek("iss_ready") != 1 || d.m.Credits() != 1 || d.m.AFLen() != DA-1 || d.peek("rs_req_tag") != 1 {
		t.Fatalf("after one acceptance: iss_ready %d credits %d |AF| %d head %d", d.peek("iss_ready"), d.m.Credits(), d.m.AFLen(), d.peek("rs_req_tag"))
	}
	// An issue and an acceptance in the same cycle: credits unchanged.
	d.issue(DA, opGet, 0, []byte{DA, 9}, nil)
	d.set("rs_req_ready", 1)
	d.step()
	if d.m.Credits() != 1 {
		t.Fatalf("credits %d after an issue and an acceptance in one cycle", d.m.Credits())
	}
	if d.peek("kh_in_valid") != 1 || d.peek("kh_in_tag") != DA {
		t.Fatal("the issue did not reach kh")
	}
}

// fid: the wire's 8-bit fid clamped to N (lambda.md §2.4).
func TestFidClamp(t *testing.T) {
	for _, c := range []struct {
		narrow  bool
		in, out uint64
	}{
		{false, 0, 0}, {false, 6, 6}, {false, 7, 7}, {false, 8, 7}, {false, 200, 7}, {false, 255, 7},
		{true, 2, 2}, {true, 3, 3}, {true, 4, 3}, {true, 255, 3},
	} {
		cfg := preset(t, "sim")
		if c.narrow {
			cfg = narrow(t)
		}
		d := newDriver(t, cfg)
		d.issue(1, opS2S, int(c.in), []byte("k"), nil)
		d.step()
		d.hashed(1, 0, 0, 0)
		d.step()
		if got := d.peek("rs_req_fid"); got != c.out {
			t.Errorf("N = %d: iss_fid %d gave rs_req_fid %d, want %d", d.m.Params().N, c.in, got, c.out)
		}
	}
}

// Operands: delta, cmp, swap are the low W bits of value bytes 0–7, 8–15,
// 16–23; rs_req_value is bytes 0–7 whole; the engine gets the low E bits
// of the station's operands.
func TestOperands(t *testing.T) {
	for _, cfg := range []string{"sim", "narrow"} {
		c := preset(t, "sim")
		if cfg == "narrow" {
			c = narrow(t)
		}
		d := newDriver(t, c)
		p := d.m.Params()
		val := pattern(24, 0x81)
		w := pack(val, 3)
		d.issue(9, opV2V, 1, []byte("vec"), val)
		d.step()
		d.hashed(9, 3, 77, 5)
		d.step()
		wm := uint64(1)<<uint(p.W) - 1
		if p.W == 64 {
			wm = ^uint64(0)
		}
		if d.peek("rs_req_value") != w[0] || d.peek("rs_req_delta") != w[0]&wm ||
			d.peek("rs_req_cmp") != w[1]&wm || d.peek("rs_req_swap") != w[2]&wm {
			t.Fatalf("%s: value %#x delta %#x cmp %#x swap %#x from %#x", cfg,
				d.peek("rs_req_value"), d.peek("rs_req_delta"), d.peek("rs_req_cmp"), d.peek("rs_req_swap"), w)
		}
		if d.peek("rs_req_aux") != 77<<uint(p.H)|5 || d.peek("rs_req_slot") != 3 {
			t.Fatalf("%s: aux %#x slot %d", cfg, d.peek("rs_req_aux"), d.peek("rs_req_slot"))
		}
		d.set("rs_req_ready", 1)
		d.step()
		// The station's operands (W bits) cut to E bits for the engine.
		d.pipe(pipeRec{id: 2, tag: 9, op: opV2V, fid: 1, key: []byte("vec"), vlen: 24, value: w[0],
			delta: 0xfedcba9876543210 & wm, cmp: 0x0123456789abcdef & wm, swap: ^uint64(0) & wm, aux: 77<<uint(p.H) | 5})
		d.step()
		em := uint64(1)<<uint(p.E) - 1
		if d.peek("ht_req_delta") != 0xfedcba9876543210&em || d.peek("ht_req_cmp") != 0x0123456789abcdef&em ||
			d.peek("ht_req_swap") != em || d.peek("ht_req_fid") != 1 || d.peek("ht_req_op") != opV2V {
			t.Fatalf("%s: ht_req delta %#x cmp %#x swap %#x", cfg, d.peek("ht_req_delta"), d.peek("ht_req_cmp"), d.peek("ht_req_swap"))
		}
		if d.peek("ht_req_bucket") != 77 || d.peek("ht_req_sec") != 5 {
			t.Fatalf("%s: bucket %d sec %d", cfg, d.peek("ht_req_bucket"), d.peek("ht_req_sec"))
		}
		// vlen 24 > 8: the whole request value, by reference.
		if !equalWords(d.peekWords("ht_req_value"), pack(val, d.m.vw)) {
			t.Fatalf("%s: ht_req_value is not reqv", cfg)
		}
	}
}

// toStation brings tag through issue, hash and the station's acceptance.
func (d *driver) toStation(tag, op int, key, val []byte) {
	d.t.Helper()
	d.issue(tag, op, 0, key, val)
	d.step()
	d.hashed(tag, tag%8, uint64(tag), uint64(tag%4))
	d.step()
	if d.peek("rs_req_valid") != 1 || d.peek("rs_req_tag") != uint64(tag) {
		d.t.Fatalf("tag %d not at AF's head", tag)
	}
	d.set("rs_req_ready", 1)
	d.step()
}

// Long request values go to the engine by reference, short ones as the
// station's 8 bytes zero-extended — also when reqv holds more (an
// UPDATE_S2S goes to the engine as a GET with vlen 0, and its 24 operand
// bytes stay behind); a write-back (tag 0) carries the station's value,
// never reqv[0].
func TestRequestValues(t *testing.T) {
	cfg := preset(t, "sim")
	d := newDriver(t, cfg)
	long := pattern(200, 3)
	d.toStation(0, opPut, []byte("a"), long)
	ops := pattern(24, 0x40)
	d.toStation(1, opS2S, []byte("b"), ops)
	d.toStation(2, opPut, []byte("c"), pattern(8, 0x90))

	d.pipe(pipeRec{id: 0, tag: 0, op: opPut, key: []byte("a"), vlen: 200, value: pack(long, 1)[0]})
	d.step()
	d.pipe(pipeRec{id: 1, tag: 1, op: opGet, key: []byte("b")})
	d.step()
	d.pipe(pipeRec{id: 2, tag: 2, op: opPut, key: []byte("c"), vlen: 8, value: pack(pattern(8, 0x90), 1)[0]})
	d.step()
	d.pipe(pipeRec{id: 64 + 5, tag: 0, op: opPut, key: []byte("a"), vlen: 8, value: 0x1122334455667788})
	d.step()
	if d.m.EFLen() != 4 || d.peek("rs_pipe_ready") != 0 {
		t.Fatalf("|EF| %d rs_pipe_ready %d", d.m.EFLen(), d.peek("rs_pipe_ready"))
	}
	wantVal := [][]uint64{
		pack(long, d.m.vw),
		pack(nil, d.m.vw),
		pack(pattern(8, 0x90), d.m.vw),
		pack([]byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, d.m.vw),
	}
	wantID := []uint64{0, 1, 2, 69}
	for i := range wantVal {
		if d.peek("ht_req_valid") != 1 || d.peek("ht_req_tag") != wantID[i] {
			t.Fatalf("EF entry %d: valid %d id %d", i, d.peek("ht_req_valid"), d.peek("ht_req_tag"))
		}
		if !equalWords(d.peekWords("ht_req_value"), wantVal[i]) {
			t.Fatalf("EF entry %d (id %d): ht_req_value %#x…, want %#x…", i, wantID[i], d.peekWords("ht_req_value")[:4], wantVal[i][:4])
		}
		d.set("ht_req_ready", 1)
		d.step()
	}
	if d.peek("ht_req_valid") != 0 {
		t.Fatal("EF not empty")
	}
}

// EF full: rs_pipe_ready = 0, and a record offered then is not taken; a
// pop makes room the next cycle (ready depends on state only, so not in
// the cycle of the pop).
func TestEngineQueueFull(t *testing.T) {
	d := newDriver(t, preset(t, "sim"))
	for i := 0; i < DE; i++ {
		if d.peek("rs_pipe_ready") != 1 {
			t.Fatalf("rs_pipe_ready = 0 with |EF| = %d", i)
		}
		d.pipe(pipeRec{id: uint64(64 + i), op: opPut, key: []byte{byte(i + 1)}, vlen: 1, value: uint64(i + 1)})
		d.step()
	}
	if d.peek("rs_pipe_ready") != 0 {
		t.Fatal("rs_pipe_ready = 1 with EF full")
	}
	// Offered while not ready, and the engine takes one in the same cycle.
	d.pipe(pipeRec{id: 64 + DE, op: opPut, key: []byte{9}, vlen: 1, value: 9})
	d.set("ht_req_ready", 1)
	d.step()
	if d.m.EFLen() != DE-1 || d.peek("rs_pipe_ready") != 1 {
		t.Fatalf("|EF| %d rs_pipe_ready %d", d.m.EFLen(), d.peek("rs_pipe_ready"))
	}
	// Push and pop in one cycle.
	d.pipe(pipeRec{id: 64 + DE, op: opPut, key: []byte{9}, vlen: 1, value: 9})
	d.set("ht_req_ready", 1)
	d.step()
	if d.m.EFLen() != DE-1 || d.peek("ht_req_tag") != 64+2 {
		t.Fatalf("|EF| %d head id %d", d.m.EFLen(), d.peek("ht_req_tag"))
	}
	for _, w := range [][2]uint64{{66, 3}, {67, 4}, {68, 9}} {
		if d.peek("ht_req_tag") != w[0] || d.peek("ht_req_value") != w[1] {
			t.Fatalf("head id %d value %d, want id %d value %d", d.peek("ht_req_tag"), d.peek("ht_req_value"), w[0], w[1])
		}
		d.set("ht_req_ready", 1)
		d.step()
	}
	if d.m.EFLen() != 0 {
		t.Fatal("EF not empty")
	}
}

// Response values: a long engine answer is kept by the tag recorded for
// its id at the engine handshake and reaches the front end by reference
// when the station answers with vlen > 8; a short station response is its
// own 8 bytes zero-extended even when rspv holds a long value; a
// write-back's answer (id ≥ M) writes no rspv.
func TestResponseValues(t *testing.T) {
	d := newDriver(t, preset(t, "sim"))
	const M = 64
	d.toStation(1, opGet, []byte("x"), nil)
	d.toStation(2, opGet, []byte("y"), nil)
	// EF: id 10 (tag 1); in the cycle the engine takes it, id 11 (tag 2)
	// is pushed — etag[10] must be the head's tag, 1.
	d.pipe(pipeRec{id: 10, tag: 1, op: opGet, key: []byte("x")})
	d.step()
	d.pipe(pipeRec{id: 11, tag: 2, op: opGet, key: []byte("y")})
	d.set("ht_req_ready", 1)
	d.step()
	// A write-back of tag 0's slot, taken, and id 11 taken.
	d.pipe(pipeRec{id: M + 3, tag: 0, op: opPut, key: []byte("x"), vlen: 8, value: 42})
	d.set("ht_req_ready", 1)
	d.step()
	d.set("ht_req_ready", 1)
	d.step()
	if d.m.EFLen() != 0 {
		t.Fatal("EF not empty")
	}
	v1, v2, wb := pattern(300, 0x10), pattern(9, 0xa0), pattern(400, 0x33)
	d.engineRsp(11, 0, v2) // id 11 → tag 2
	d.step()
	d.engineRsp(10, 0, v1) // id 10 → tag 1
	d.step()
	if d.peek("rs_cpl_valid") != 1 || d.peek("rs_cpl_id") != 10 || d.peek("rs_cpl_vlen") != 300 {
		t.Fatal("rs_cpl_* wrong")
	}
	// The write-back's answer, with a long (impossible but harmless) value:
	// must write no rspv (etag[M+3] is 0, so a bug would write rspv[0]).
	d.engineRsp(M+3, 5, wb)
	d.step()
	if d.peek("rs_cpl_id") != M+3 || d.peek("rs_cpl_status") != 5 {
		t.Fatal("write-back completion not passed on")
	}
	if d.m.s.rspv.get(0) != nil {
		t.Fatal("a write-back's answer wrote rspv[0]")
	}
	// Station: tag 1 long (by reference), tag 2 short although rspv[2]
	// holds 9 bytes (the station says 8: its own value, zero-extended).
	d.stationResp(1, 0, 300, first8(v1))
	d.step()
	if d.peek("cpl_tag") != 1 || d.peek("cpl_vlen") != 300 || !equalWords(d.peekWords("cpl_value"), pack(v1, d.m.vw)) {
		t.Fatal("long response not carried by reference")
	}
	d.stationResp(2, 1, 8, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	d.step()
	if d.peek("cpl_tag") != 2 || d.peek("cpl_status") != 1 || d.peek("cpl_vlen") != 8 ||
		!equalWords(d.peekWords("cpl_value"), pack([]byte{1, 2, 3, 4, 5, 6, 7, 8}, d.m.vw)) {
		t.Fatalf("short response: %#x", d.peekWords("cpl_value")[:2])
	}
	if d.peek("cpl_valid") != 1 {
		t.Fatal("cpl_valid")
	}
	d.step()
	if d.peek("cpl_valid") != 0 || d.peek("rs_cpl_valid") != 0 {
		t.Fatal("valid held")
	}
}

// rspv is read at the start of the cycle: an engine answer for another
// operation of the same tag in the cycle the station answers cannot
// happen, but the ordering is still §4.5's — checked by answering tag 4's
// engine op, then in one cycle a station response for tag 4 and an engine
// answer for tag 5.
func TestSameCycleAnswers(t *testing.T) {
	d := newDriver(t, preset(t, "sim"))
	d.toStation(4, opGet, []byte("p"), nil)
	d.toStation(5, opGet, []byte("q"), nil)
	d.pipe(pipeRec{id: 0, tag: 4, op: opGet, key: []byte("p")})
	d.step()
	d.pipe(pipeRec{id: 1, tag: 5, op: opGet, key: []byte("q")})
	d.set("ht_req_ready", 1)
	d.step()
	d.set("ht_req_ready", 1)
	d.step()
	a, b := pattern(50, 1), pattern(60, 2)
	d.engineRsp(0, 0, a)
	d.step()
	d.step()
	d.stationResp(4, 0, 50, first8(a))
	d.engineRsp(1, 0, b)
	d.step()
	if !equalWords(d.peekWords("cpl_value"), pack(a, d.m.vw)) || d.peek("rs_cpl_id") != 1 {
		t.Fatal("same-cycle answers mixed up")
	}
	d.stationResp(5, 0, 60, first8(b))
	d.step()
	if !equalWords(d.peekWords("cpl_value"), pack(b, d.m.vw)) {
		t.Fatal("tag 5's value")
	}
}
