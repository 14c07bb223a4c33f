package wire

import (
	"bytes"
	"testing"
)

// FuzzDecodeRequest checks the decoder's contract on arbitrary frames:
// it never panics, never reads outside the frame, answers every declared
// operation exactly once, and re-encodes what it delimited to the same
// bytes. The seeds are testdata/fuzz/FuzzDecodeRequest plus the malformed
// cases.
func FuzzDecodeRequest(f *testing.F) {
	for _, c := range malformedCases() {
		if len(c.pkt) <= 4096 {
			f.Add(c.pkt)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A slice whose capacity ends where the frame ends: reading past
		// it panics instead of seeing whatever follows.
		pkt := bytes.Clone(data)[:len(data):len(data)]
		d := DecodeRequest(pkt, simParams)
		if !bytes.Equal(pkt, data) {
			t.Fatal("the decoder wrote to the frame")
		}
		if d.Received != len(pkt) {
			t.Fatalf("received %d, frame of %d", d.Received, len(pkt))
		}
		if d.Err != NoPacketError {
			if d.Ops != nil || d.Trailing != 0 {
				t.Fatalf("refused packet (%v) with %d records", d.Err, len(d.Ops))
			}
			checkRespond(t, pkt, d)
			return
		}
		if want := int(le.Uint16(pkt[6:])); len(d.Ops) != want {
			t.Fatalf("%d records for %d declared operations", len(d.Ops), want)
		}
		pos, lost := RequestHeaderBytes, false
		for i, o := range d.Ops {
			switch {
			case lost:
				if o.Status != Truncated || o.Offset != len(pkt) || o.Size != 0 {
					t.Fatalf("op %d after the framing was lost: %+v", i, o)
				}
				continue
			case o.Offset != pos || o.Size < 0 || o.Offset+o.Size > len(pkt):
				t.Fatalf("op %d at [%d, +%d) in a %d-byte frame, expected at %d", i, o.Offset, o.Size, len(pkt), pos)
			case !o.Status.Delimited():
				if o.Offset+o.Size != len(pkt) {
					t.Fatalf("op %d %v does not reach the frame's end", i, o.Status)
				}
				lost = true
				continue
			}
			if o.Size < 2 || o.Flags&^flagMask != 0 || i == 0 && o.Flags != 0 {
				t.Fatalf("op %d: size %d flags %#x", i, o.Size, uint8(o.Flags))
			}
			if o.Status != o.Op.Check(simParams) {
				t.Fatalf("op %d answered %v, its check says %v", i, o.Status, o.Op.Check(simParams))
			}
			pos += o.Size
		}
		if lost {
			if d.Trailing != 0 {
				t.Fatalf("%d trailing bytes after lost framing", d.Trailing)
			}
		} else if pos+d.Trailing != len(pkt) {
			t.Fatalf("operations end at %d, %d trailing, frame of %d", pos, d.Trailing, len(pkt))
		}
		if r, ok := d.Request(); ok != !lost {
			t.Fatalf("Request() ok = %v with framing lost = %v", ok, lost)
		} else if ok {
			again, err := EncodeRequest(r)
			if err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			want := bytes.Clone(pkt[:len(pkt)-d.Trailing])
			le.PutUint16(want[4:], uint16(len(want)))
			if !bytes.Equal(again, want) {
				t.Fatalf("re-encoded\n%x\nwant\n%x", again, want)
			}
		}
		checkRespond(t, pkt, d)
	})
}

// checkRespond checks that the answer to any frame is well-formed response
// packets carrying exactly the decoder's verdicts.
func checkRespond(t *testing.T, pkt []byte, d Decoded) {
	t.Helper()
	rsp, err := Respond(pkt, simParams, func(o Op) Result { return Result{Status: NotFound, Value: o.Key} })
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for i, b := range rsp {
		r, err := DecodeResponse(b)
		if err != nil {
			t.Fatalf("response %x: %v", b, err)
		}
		if r.Seq != d.Seq || r.Err != d.Err || r.First != next || r.Trailing != (d.Trailing > 0 && i == len(rsp)-1) {
			t.Fatalf("response header %+v for decoded %+v", r, d)
		}
		if len(b) > DefaultMaxResponseBytes && len(r.Results) > 1 {
			t.Fatalf("response of %d bytes with %d records", len(b), len(r.Results))
		}
		for _, res := range r.Results {
			if o := d.Ops[next]; res.Status != o.Status && !(o.Status == OK && res.Status == NotFound) {
				t.Fatalf("record %d: %v, decoder said %v", next, res.Status, o.Status)
			}
			next++
		}
	}
	if next != len(d.Ops) {
		t.Fatalf("%d records answered, %d declared", next, len(d.Ops))
	}
}
