package wire

import (
	"fmt"
)

// Result is one operation's answer.
type Result struct {
	Status Status
	Value  []byte
}

// Response is the content of one response packet, or of an error response
// when Err is set.
type Response struct {
	Seq uint32
	// Err, Received: an error response (§4.1); no Results then.
	Err      PacketError
	Received int
	// Trailing echoes §4.3: the request had bytes after its operations.
	Trailing bool
	// First is the request index of Results[0]: a large response is split
	// over several packets (§6).
	First   int
	Results []Result
}

func recordBytes(r *Result) int { return 3 + len(r.Value) }

// EncodeResponse serializes one response packet (§6) or error response
// (§4.1).
func EncodeResponse(r Response) ([]byte, error) {
	if r.Err != NoPacketError {
		if len(r.Results) != 0 || r.First != 0 || r.Trailing {
			return nil, fmt.Errorf("wire: an error response carries no records, first or TRAILING")
		}
		b := make([]byte, ErrorResponseBytes)
		putHeader(b, TypeErrorResponse, ErrorResponseBytes, 0, r.Seq)
		b[14] = byte(r.Err)
		le.PutUint16(b[16:], uint16(min(max(r.Received, 0), MaxPacketBytes)))
		return b, nil
	}
	if len(r.Results) > MaxOps || r.First < 0 || r.First > MaxOps {
		return nil, fmt.Errorf("wire: response with first %d and %d records does not fit the 16-bit fields", r.First, len(r.Results))
	}
	size := ResponseHeaderBytes
	for i := range r.Results {
		if len(r.Results[i].Value) > MaxPacketBytes {
			return nil, fmt.Errorf("wire: record %d: %d-byte value does not fit the vlen field", i, len(r.Results[i].Value))
		}
		size += recordBytes(&r.Results[i])
	}
	if size > MaxPacketBytes {
		return nil, fmt.Errorf("wire: response of %d bytes: the length field holds at most %d", size, MaxPacketBytes)
	}
	typ := byte(TypeResponse)
	if r.Trailing {
		typ |= TypeTrailing
	}
	b := make([]byte, ResponseHeaderBytes, size)
	putHeader(b, typ, size, len(r.Results), r.Seq)
	le.PutUint16(b[12:], uint16(r.First))
	for _, res := range r.Results {
		b = append(b, byte(res.Status))
		b = le.AppendUint16(b, uint16(len(res.Value)))
		b = append(b, res.Value...)
	}
	return b, nil
}

// DecodeResponse parses a response or error response. Unlike the request
// decoder it is the client's, so it refuses anything malformed with an
// error instead of answering it.
func DecodeResponse(pkt []byte) (Response, error) {
	var r Response
	if len(pkt) < ResponseHeaderBytes {
		return r, fmt.Errorf("wire: response of %d bytes is shorter than its header", len(pkt))
	}
	if m := le.Uint16(pkt); m != Magic {
		return r, fmt.Errorf("wire: magic %#04x, want %#04x", m, Magic)
	}
	if pkt[2] != Version {
		return r, fmt.Errorf("wire: version %d, want %d", pkt[2], Version)
	}
	if n := int(le.Uint16(pkt[4:])); n != len(pkt) {
		return r, fmt.Errorf("wire: length field %d, packet of %d bytes", n, len(pkt))
	}
	r.Seq = le.Uint32(pkt[8:])
	count := int(le.Uint16(pkt[6:]))
	r.First = int(le.Uint16(pkt[12:]))
	switch pkt[3] {
	case TypeErrorResponse:
		if len(pkt) != ErrorResponseBytes || count != 0 || r.First != 0 || pkt[15] != 0 {
			return Response{}, fmt.Errorf("wire: malformed error response")
		}
		r.Err = PacketError(pkt[14])
		if r.Err == NoPacketError {
			return Response{}, fmt.Errorf("wire: error response with code 0")
		}
		r.Received = int(le.Uint16(pkt[16:]))
		return r, nil
	case TypeResponse, TypeResponse | TypeTrailing:
		r.Trailing = pkt[3]&TypeTrailing != 0
	default:
		return Response{}, fmt.Errorf("wire: type %#02x is not a response", pkt[3])
	}
	pos := ResponseHeaderBytes
	r.Results = make([]Result, count)
	for i := range r.Results {
		if len(pkt)-pos < 3 {
			return Response{}, fmt.Errorf("wire: response ends inside record %d", i)
		}
		n := int(le.Uint16(pkt[pos+1:]))
		if len(pkt)-pos-3 < n {
			return Response{}, fmt.Errorf("wire: record %d: %d-byte value runs past the end", i, n)
		}
		r.Results[i] = Result{Status: Status(pkt[pos])}
		if n > 0 {
			r.Results[i].Value = append([]byte(nil), pkt[pos+3:pos+3+n]...)
		}
		pos += 3 + n
	}
	if pos != len(pkt) {
		return Response{}, fmt.Errorf("wire: %d bytes after the last record", len(pkt)-pos)
	}
	return r, nil
}

// SplitResponse packs a request's results into response packets of at most
// maxBytes (§6: a record never splits; a packet holds at least one), in the
// order the hardware encoder sends them.
func SplitResponse(seq uint32, trailing bool, results []Result, maxBytes int) []Response {
	out := []Response{{Seq: seq}}
	size := ResponseHeaderBytes
	for i := range results {
		cur := &out[len(out)-1]
		n := recordBytes(&results[i])
		if len(cur.Results) > 0 && size+n > maxBytes {
			out = append(out, Response{Seq: seq, First: i})
			cur, size = &out[len(out)-1], ResponseHeaderBytes
		}
		cur.Results = append(cur.Results, results[i])
		size += n
	}
	// Only the last packet says TRAILING: the encoder learns it when the
	// decoder has delimited the request's last operation (§6).
	out[len(out)-1].Trailing = trailing
	return out
}

// ErrorResponse is the answer to a refused packet.
func (d Decoded) ErrorResponse() Response {
	return Response{Seq: d.Seq, Err: d.Err, Received: d.Received}
}

// Respond is the processor at transaction level, decoder and encoder
// around exec, which stands for everything behind the decoder: it gets
// each issued operation in request order. A test of the decoder and
// encoder RTL compares their frames with these.
func Respond(pkt []byte, p Params, exec func(Op) Result) ([][]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	d := DecodeRequest(pkt, p)
	var rs []Response
	if d.Err != NoPacketError {
		rs = []Response{d.ErrorResponse()}
	} else {
		results := make([]Result, len(d.Ops))
		for i, o := range d.Ops {
			if o.Status == OK {
				results[i] = exec(o.Op)
			} else {
				results[i] = Result{Status: o.Status}
			}
		}
		rs = SplitResponse(d.Seq, d.Trailing > 0, results, p.maxResponse())
	}
	out := make([][]byte, len(rs))
	for i, r := range rs {
		b, err := EncodeResponse(r)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
