package wire

import (
	"bytes"
	"slices"
	"testing"
)

// frame builds a request whose header says count operations and the true
// length, around hand-written operation bytes.
func frame(count int, body ...byte) []byte {
	b := make([]byte, RequestHeaderBytes, RequestHeaderBytes+len(body))
	putHeader(b, TypeRequest, RequestHeaderBytes+len(body), count, 0xA1B2C3D4)
	return append(b, body...)
}

// cat joins operation byte strings.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	getK   = []byte{0x00, 0x00, 0x01, 0x00, 0x00, 'k'}                   // GET "k"
	putKV  = []byte{0x01, 0x00, 0x01, 0x02, 0x00, 'k', 'v', 'w'}         // PUT "k" = "vw"
	putSSV = []byte{0xC1, 0x00, 'j'}                                     // PUT | both flags, "j"
	big    = func(n int) []byte { return bytes.Repeat([]byte{0x5a}, n) } // filler
)

type malformedCase struct {
	name     string
	pkt      []byte
	err      PacketError
	statuses []Status
	trailing int
}

func malformedCases() []malformedCase {
	valid := frame(1, getK...)
	with := func(i int, v byte) []byte { p := slices.Clone(valid); p[i] = v; return p }
	length := func(n int) []byte { p := slices.Clone(valid); le.PutUint16(p[4:], uint16(n)); return p }
	huge := frame(1, cat(getK, big(MaxPacketBytes+1-RequestHeaderBytes-len(getK)))...)
	return []malformedCase{
		// §4.1: packet-level errors, in their order of precedence.
		{name: "empty frame", pkt: nil, err: Short},
		{name: "short header", pkt: valid[:11], err: Short},
		{name: "bad magic", pkt: with(0, 0x4c), err: BadMagic},
		{name: "bad magic and version", pkt: with(1, 0), err: BadMagic},
		{name: "bad version", pkt: with(2, 2), err: BadVersion},
		{name: "response sent as request", pkt: with(3, TypeResponse), err: BadType},
		{name: "length says more", pkt: length(len(valid) + 1), err: LengthMismatch},
		{name: "length says less", pkt: length(len(valid) - 1), err: LengthMismatch},
		{name: "frame over 64 KiB", pkt: huge, err: LengthMismatch},
		{name: "SAME_SIZES on op 0", pkt: frame(1, 0x40, 0, 'k'), err: FirstOpFlags},
		{name: "SAME_VALUE on op 0", pkt: frame(2, cat([]byte{0x80, 0, 1, 'k'}, getK)...), err: FirstOpFlags},
		{name: "flags on op 0 but length wrong", pkt: func() []byte { p := frame(1, 0xC0, 0, 'k'); p[4]++; return p }(), err: LengthMismatch},

		// §4.2: operation faults.
		{name: "no operation bytes", pkt: frame(1), statuses: []Status{Truncated}},
		{name: "count exceeds operations", pkt: frame(3, getK...), statuses: []Status{OK, Truncated, Truncated}},
		{name: "ends after op byte", pkt: frame(2, cat(getK, []byte{0x00})...), statuses: []Status{OK, Truncated}},
		{name: "ends inside vlen", pkt: frame(1, 0x01, 0x00, 0x01, 0x02), statuses: []Status{Truncated}},
		{name: "ends inside klen of SAME_VALUE op", pkt: frame(2, cat(putKV, []byte{0x81, 0x00})...), statuses: []Status{OK, Truncated}},
		{name: "key past end", pkt: frame(2, 0x00, 0x00, 0x05, 0x00, 0x00, 'a', 'b'), statuses: []Status{LengthPastEnd, Truncated}},
		{name: "value past end", pkt: frame(3, cat(getK, []byte{0x01, 0x00, 0x01, 0x09, 0x00, 'k', 'v'})...), statuses: []Status{OK, LengthPastEnd, Truncated}},
		{name: "inherited sizes past end", pkt: frame(2, cat(putKV, []byte{0x41, 0x00, 'j', 'v'})...), statuses: []Status{OK, LengthPastEnd}},
		{name: "unknown opcode is skipped", pkt: frame(3, cat([]byte{0x09, 0x03, 0x01, 0x02, 0x00, 'k', 'v', 'w'}, putSSV, getK)...), statuses: []Status{UnknownOpcode, OK, OK}},
		{name: "largest opcode", pkt: frame(1, 0x3f, 0x00, 0x01, 0x00, 0x00, 'k'), statuses: []Status{UnknownOpcode}},
		{name: "fid on GET", pkt: frame(1, 0x00, 0x01, 0x01, 0x00, 0x00, 'k'), statuses: []Status{BadOp}},
		{name: "fid on PUT", pkt: frame(1, 0x01, 0x02, 0x01, 0x00, 0x00, 'k'), statuses: []Status{BadOp}},
		{name: "value on GET", pkt: frame(1, 0x00, 0x00, 0x01, 0x01, 0x00, 'k', 'v'), statuses: []Status{BadOp}},
		{name: "value on DELETE", pkt: frame(2, cat(putKV, []byte{0x42, 0x00, 'k', 'v', 'w'})...), statuses: []Status{OK, BadOp}},
		{name: "S2S operands not whole scalars", pkt: frame(1, cat([]byte{0x03, 0x00, 0x01, 0x0c, 0x00, 'k'}, big(12))...), statuses: []Status{BadOp}},
		{name: "S2S four scalars", pkt: frame(1, cat([]byte{0x03, 0x00, 0x01, 0x20, 0x00, 'k'}, big(32))...), statuses: []Status{BadOp}},
		{name: "REDUCE operands not whole scalars", pkt: frame(1, cat([]byte{0x06, 0x01, 0x01, 0x07, 0x00, 'k'}, big(7))...), statuses: []Status{BadOp}},
		{name: "V2V empty", pkt: frame(1, 0x05, 0x00, 0x01, 0x00, 0x00, 'k'), statuses: []Status{BadOp}},
		{name: "V2V not whole elements", pkt: frame(1, cat([]byte{0x05, 0x00, 0x01, 0x06, 0x00, 'k'}, big(6))...), statuses: []Status{BadOp}},
		{name: "BAD_OP before EMPTY_KEY", pkt: frame(1, 0x00, 0x00, 0x00, 0x01, 0x00, 'v'), statuses: []Status{BadOp}},
		{name: "empty key", pkt: frame(1, 0x01, 0x00, 0x00, 0x01, 0x00, 'v'), statuses: []Status{EmptyKey}},
		{name: "EMPTY_KEY before VALUE_TOO_LONG", pkt: frame(1, cat([]byte{0x01, 0x00, 0x00, 0xdf, 0x01}, big(479))...), statuses: []Status{EmptyKey}},
		{name: "key too long", pkt: frame(1, cat([]byte{0x00, 0x00, 0x11, 0x00, 0x00}, big(17))...), statuses: []Status{KeyTooLong}},
		{name: "PUT value too long", pkt: frame(1, cat([]byte{0x01, 0x00, 0x01, 0xdf, 0x01, 'k'}, big(479))...), statuses: []Status{ValueTooLong}},
		{name: "V2V vector too long", pkt: frame(1, cat([]byte{0x05, 0x00, 0x01, 0xe0, 0x01, 'k'}, big(480))...), statuses: []Status{ValueTooLong}},
		{name: "faulted op is still the previous op", pkt: frame(2, cat([]byte{0x01, 0x00, 0x00, 0x01, 0x00, 'v'}, []byte{0xC1, 0x00})...), statuses: []Status{EmptyKey, EmptyKey}},

		// §4.3.
		{name: "trailing bytes", pkt: frame(1, cat(getK, []byte{1, 2, 3})...), statuses: []Status{OK}, trailing: 3},
		{name: "count zero with bytes", pkt: frame(0, getK...), statuses: []Status{}, trailing: len(getK)},
	}
}

func TestMalformed(t *testing.T) {
	for _, c := range malformedCases() {
		t.Run(c.name, func(t *testing.T) {
			d := DecodeRequest(c.pkt, simParams)
			if d.Err != c.err {
				t.Fatalf("packet error %v, want %v", d.Err, c.err)
			}
			rsp, err := Respond(c.pkt, simParams, func(Op) Result { return Result{Status: OK} })
			if err != nil {
				t.Fatal(err)
			}
			if c.err != NoPacketError {
				if d.Ops != nil {
					t.Errorf("a refused packet has %d operation records", len(d.Ops))
				}
				var seq uint32
				if len(c.pkt) >= RequestHeaderBytes {
					seq = 0xA1B2C3D4
				}
				want := make([]byte, ErrorResponseBytes)
				putHeader(want, TypeErrorResponse, ErrorResponseBytes, 0, seq)
				want[14] = byte(c.err)
				le.PutUint16(want[16:], uint16(min(len(c.pkt), MaxPacketBytes)))
				if len(rsp) != 1 || !bytes.Equal(rsp[0], want) {
					t.Errorf("answer %x, want the error response %x", rsp, want)
				}
				return
			}
			got := make([]Status, len(d.Ops))
			for i, o := range d.Ops {
				got[i] = o.Status
			}
			if !slices.Equal(got, c.statuses) || d.Trailing != c.trailing {
				t.Fatalf("statuses %v trailing %d, want %v trailing %d", got, d.Trailing, c.statuses, c.trailing)
			}
			if len(rsp) != 1 {
				t.Fatalf("%d response packets", len(rsp))
			}
			r, err := DecodeResponse(rsp[0])
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq != 0xA1B2C3D4 || r.Trailing != (c.trailing > 0) || len(r.Results) != len(c.statuses) {
				t.Fatalf("response %+v", r)
			}
			for i, res := range r.Results {
				if res.Status != c.statuses[i] {
					t.Errorf("record %d: %v, want %v", i, res.Status, c.statuses[i])
				}
			}
		})
	}
}

// TestUnknownOpcodeIsPrevious pins that a skipped operation still lends
// its sizes and value to the next one (§3.1: "whatever its opcode").
func TestUnknownOpcodeIsPrevious(t *testing.T) {
	pkt := frame(2, cat([]byte{0x09, 0x03, 0x01, 0x02, 0x00, 'k', 'v', 'w'}, putSSV)...)
	d := DecodeRequest(pkt, simParams)
	want := Put([]byte("j"), []byte("vw"))
	if len(d.Ops) != 2 || !d.Ops[1].Op.Equal(want) || d.Ops[0].Op.Fid != 3 || d.Ops[0].Op.Code != 9 {
		t.Fatalf("decoded %+v, want op 1 = %v", d.Ops, want)
	}
}

func TestDecodeResponseRefusals(t *testing.T) {
	good, _ := EncodeResponse(Response{Seq: 1, Results: []Result{{Status: OK, Value: []byte("ab")}}})
	errRsp, _ := EncodeResponse(Response{Seq: 1, Err: BadMagic, Received: 3})
	mut := func(p []byte, i int, v byte) []byte { p = slices.Clone(p); p[i] = v; return p }
	for name, pkt := range map[string][]byte{
		"short":            good[:13],
		"magic":            mut(good, 0, 0),
		"version":          mut(good, 2, 9),
		"request type":     mut(good, 3, TypeRequest),
		"length":           mut(good, 4, good[4]+1),
		"count too high":   mut(good, 6, 2),
		"value past end":   mut(good, 15, 9),
		"trailing":         append(mut(good, 4, good[4]+1), 0),
		"error with count": mut(errRsp, 6, 1),
		"error code 0":     mut(errRsp, 14, 0),
	} {
		if _, err := DecodeResponse(pkt); err == nil {
			t.Errorf("%s: accepted %x", name, pkt)
		}
	}
}
