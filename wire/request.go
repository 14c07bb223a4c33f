package wire

import (
	"bytes"
	"fmt"
)

// Request is the content of one request packet.
type Request struct {
	Seq uint32
	Ops []Op
	// Flags, when not nil, are the flag bits of each operation exactly as
	// they are to be sent; nil sets every flag that applies. Explicit flags
	// exist so that a decoded packet re-encodes to its own bytes whatever
	// form its sender chose, and so that tests can send every form.
	Flags []Flags
}

// applicable is the set of flags an operation may carry after prev: the
// encoder sets all of them when left to itself, since each one only
// removes bytes.
func applicable(prev, op *Op) Flags {
	var f Flags
	if len(prev.Key) == len(op.Key) && len(prev.Value) == len(op.Value) {
		f |= SameSizes
	}
	if bytes.Equal(prev.Value, op.Value) {
		f |= SameValue
	}
	return f
}

// opBytes is an operation's length on the wire under flags f (§3.1).
func opBytes(op *Op, f Flags) int {
	n := 2 + len(op.Key)
	if f&SameSizes == 0 {
		n++
		if f&SameValue == 0 {
			n += 2
		}
	}
	if f&SameValue == 0 {
		n += len(op.Value)
	}
	return n
}

// representable refuses what no field of the format can hold; what the
// decoder would refuse (an empty key, an unknown opcode) stays encodable so
// that its answers can be tested.
func representable(op *Op) error {
	switch {
	case op.Code > MaxOpcode:
		return fmt.Errorf("opcode %d does not fit 6 bits", op.Code)
	case len(op.Key) > 255:
		return fmt.Errorf("%d-byte key does not fit the klen field", len(op.Key))
	case len(op.Value) > MaxPacketBytes:
		return fmt.Errorf("%d-byte value does not fit the vlen field", len(op.Value))
	}
	return nil
}

// EncodeRequest serializes a request packet (docs/wire-format.md §2–§3).
func EncodeRequest(r Request) ([]byte, error) {
	if len(r.Ops) > MaxOps {
		return nil, fmt.Errorf("wire: %d operations: the count field holds at most %d", len(r.Ops), MaxOps)
	}
	if r.Flags != nil && len(r.Flags) != len(r.Ops) {
		return nil, fmt.Errorf("wire: %d flags for %d operations", len(r.Flags), len(r.Ops))
	}
	flags := make([]Flags, len(r.Ops))
	size := RequestHeaderBytes
	for i := range r.Ops {
		op := &r.Ops[i]
		if err := representable(op); err != nil {
			return nil, fmt.Errorf("wire: operation %d: %v", i, err)
		}
		var ok Flags
		if i > 0 {
			ok = applicable(&r.Ops[i-1], op)
		}
		f := ok
		if r.Flags != nil {
			f = r.Flags[i]
			if f&^flagMask != 0 || f&^ok != 0 {
				return nil, fmt.Errorf("wire: operation %d: flags %#x do not apply (applicable: %v)", i, uint8(f), ok)
			}
		}
		flags[i] = f
		size += opBytes(op, f)
	}
	if size > MaxPacketBytes {
		return nil, fmt.Errorf("wire: request of %d bytes: the length field holds at most %d", size, MaxPacketBytes)
	}
	b := make([]byte, RequestHeaderBytes, size)
	putHeader(b, TypeRequest, size, len(r.Ops), r.Seq)
	for i := range r.Ops {
		b = appendOp(b, &r.Ops[i], flags[i])
	}
	return b, nil
}

func putHeader(b []byte, typ byte, length, count int, seq uint32) {
	le.PutUint16(b[0:], Magic)
	b[2] = Version
	b[3] = typ
	le.PutUint16(b[4:], uint16(length))
	le.PutUint16(b[6:], uint16(count))
	le.PutUint32(b[8:], seq)
}

func appendOp(b []byte, op *Op, f Flags) []byte {
	b = append(b, byte(op.Code)|byte(f), op.Fid)
	if f&SameSizes == 0 {
		b = append(b, byte(len(op.Key)))
		if f&SameValue == 0 {
			b = le.AppendUint16(b, uint16(len(op.Value)))
		}
	}
	b = append(b, op.Key...)
	if f&SameValue == 0 {
		b = append(b, op.Value...)
	}
	return b
}

// Decoded is everything the hardware decoder concludes about one frame.
type Decoded struct {
	// Seq is header bytes 8–11, also when the packet is refused: the error
	// response echoes it.
	Seq uint32
	// Err refuses the whole packet; then Ops is nil and nothing executes.
	Err PacketError
	// Received is the frame length L.
	Received int
	// Ops has exactly one entry per declared operation.
	Ops []DecodedOp
	// Trailing counts ignored bytes after the last operation (§4.3).
	Trailing int
}

// DecodedOp is the decoder's record of one operation.
type DecodedOp struct {
	// Op is the operation with its flags resolved. For TRUNCATED and
	// LENGTH_PAST_END it holds only what was read (possibly nothing).
	Op    Op
	Flags Flags
	// Offset and Size locate the operation's bytes in the packet; after the
	// decoder lost the framing, Offset is L and Size 0.
	Offset, Size int
	// Status is OK when the operation is issued to the pipeline, else the
	// decoder's answer for it.
	Status Status
}

// checkHeader is §4.1, in its order.
func checkHeader(pkt []byte) PacketError {
	switch {
	case len(pkt) < RequestHeaderBytes:
		return Short
	case le.Uint16(pkt) != Magic:
		return BadMagic
	case pkt[2] != Version:
		return BadVersion
	case pkt[3] != TypeRequest:
		return BadType
	case int(le.Uint16(pkt[4:])) != len(pkt):
		return LengthMismatch
	case le.Uint16(pkt[6:]) >= 1 && len(pkt) > RequestHeaderBytes && Flags(pkt[RequestHeaderBytes])&flagMask != 0:
		return FirstOpFlags
	}
	return NoPacketError
}

// DecodeRequest answers a frame as the hardware decoder does (§4): a
// packet-level error, or one record per declared operation. It never fails:
// every byte string has a defined answer, which is what makes it usable as
// the decoder's reference. Keys and values are copies, never pkt itself.
// p must pass Validate: a bad p is the caller's bug, not the packet's.
func DecodeRequest(pkt []byte, p Params) Decoded {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	d := Decoded{Received: len(pkt)}
	if len(pkt) >= RequestHeaderBytes {
		d.Seq = le.Uint32(pkt[8:])
	}
	if d.Err = checkHeader(pkt); d.Err != NoPacketError {
		return d
	}
	d.Ops = make([]DecodedOp, le.Uint16(pkt[6:]))
	end, pos := len(pkt), RequestHeaderBytes
	var prev Op
	lost := false
	for i := range d.Ops {
		r := &d.Ops[i]
		if lost {
			*r = DecodedOp{Offset: end, Status: Truncated}
			continue
		}
		r.Offset = pos
		var ok bool
		if pos, ok = decodeOp(pkt, pos, &prev, r); !ok {
			lost = true
			r.Size = end - r.Offset
			continue
		}
		r.Size = pos - r.Offset
		r.Status = r.Op.Check(p)
		prev = r.Op
	}
	if !lost {
		d.Trailing = end - pos
	}
	return d
}

// decodeOp reads the operation at pos into r; false means the framing is
// lost (r.Status says how) and the operation is not delimited.
func decodeOp(pkt []byte, pos int, prev *Op, r *DecodedOp) (int, bool) {
	end := len(pkt)
	if end-pos < 2 {
		r.Status = Truncated
		return pos, false
	}
	r.Op.Code = Opcode(pkt[pos] & 0x3f)
	r.Flags = Flags(pkt[pos]) & flagMask
	r.Op.Fid = pkt[pos+1]
	pos += 2
	klen, vlen := len(prev.Key), len(prev.Value)
	if r.Flags&SameSizes == 0 {
		fields := 1
		if r.Flags&SameValue == 0 {
			fields = 3
		}
		if end-pos < fields {
			r.Status = Truncated
			return pos, false
		}
		klen = int(pkt[pos])
		if fields == 3 {
			vlen = int(le.Uint16(pkt[pos+1:]))
		}
		pos += fields
	}
	body := klen
	if r.Flags&SameValue == 0 {
		body += vlen
	}
	if end-pos < body {
		r.Status = LengthPastEnd
		return pos, false
	}
	r.Op.Key = bytes.Clone(pkt[pos : pos+klen])
	pos += klen
	if r.Flags&SameValue != 0 {
		r.Op.Value = prev.Value
	} else if vlen > 0 {
		r.Op.Value = bytes.Clone(pkt[pos : pos+vlen])
		pos += vlen
	}
	return pos, true
}

// Request returns the decoded packet as a Request with the flags it was
// sent with, so that EncodeRequest reproduces its bytes (but trailing
// ones); false when the packet or its framing was lost.
func (d Decoded) Request() (Request, bool) {
	if d.Err != NoPacketError {
		return Request{}, false
	}
	r := Request{Seq: d.Seq, Ops: make([]Op, len(d.Ops)), Flags: make([]Flags, len(d.Ops))}
	for i, o := range d.Ops {
		if !o.Status.Delimited() {
			return Request{}, false
		}
		r.Ops[i], r.Flags[i] = o.Op, o.Flags
	}
	return r, true
}
