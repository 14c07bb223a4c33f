package wire

import "fmt"

// Packet is a request the batcher closed: its content, so that responses
// can be matched to operations, and its bytes.
type Packet struct {
	Request
	Bytes []byte
}

// Batcher packs a stream of operations into request packets, as the
// paper's client library does to amortize the network per operation. It
// keeps operations in order and sets both flag bits wherever they apply,
// so a run of same-sized operations costs two bytes plus the key each.
type Batcher struct {
	maxBytes, maxOps int
	seq              uint32
	ops              []Op
	size             int
}

// NewBatcher closes a packet when the next operation would make it longer
// than maxBytes or, if maxOps > 0, hold more than maxOps operations (a
// bound on the latency a batch adds and on the response's size).
// Sequence numbers start at firstSeq and wrap.
func NewBatcher(maxBytes, maxOps int, firstSeq uint32) (*Batcher, error) {
	if maxBytes < RequestHeaderBytes+3 || maxBytes > MaxPacketBytes {
		return nil, fmt.Errorf("wire: batch limit %d bytes: want %d..%d", maxBytes, RequestHeaderBytes+3, MaxPacketBytes)
	}
	if maxOps < 0 || maxOps > MaxOps {
		return nil, fmt.Errorf("wire: batch limit %d operations: want 0..%d", maxOps, MaxOps)
	}
	if maxOps == 0 {
		maxOps = MaxOps
	}
	return &Batcher{maxBytes: maxBytes, maxOps: maxOps, seq: firstSeq, size: RequestHeaderBytes}, nil
}

// Add appends op to the open packet. When op does not fit there, the open
// packet is closed and returned, and op opens the next one; an operation
// too large for any packet is refused without changing anything.
func (b *Batcher) Add(op Op) (*Packet, error) {
	if err := representable(&op); err != nil {
		return nil, fmt.Errorf("wire: %v", err)
	}
	alone := RequestHeaderBytes + opBytes(&op, 0)
	if alone > b.maxBytes {
		return nil, fmt.Errorf("wire: a %d-byte packet of one %v exceeds the batch limit of %d bytes", alone, op.Code, b.maxBytes)
	}
	if n := len(b.ops); n > 0 {
		if next := b.size + opBytes(&op, applicable(&b.ops[n-1], &op)); next <= b.maxBytes && n < b.maxOps {
			b.ops = append(b.ops, op)
			b.size = next
			return nil, nil
		}
	}
	closed := b.Flush()
	b.ops = append(b.ops, op)
	b.size = alone
	return closed, nil
}

// Flush closes the open packet; nil when it is empty.
func (b *Batcher) Flush() *Packet {
	if len(b.ops) == 0 {
		return nil
	}
	r := Request{Seq: b.seq, Ops: b.ops}
	bytes, err := EncodeRequest(r)
	if err != nil || len(bytes) != b.size {
		// Add admitted every operation on exactly these rules.
		panic(fmt.Sprintf("wire: batcher encoded %d bytes, expected %d: %v", len(bytes), b.size, err))
	}
	b.seq++
	b.ops, b.size = nil, RequestHeaderBytes
	return &Packet{Request: r, Bytes: bytes}
}

// Pending is the number of operations in the open packet.
func (b *Batcher) Pending() int { return len(b.ops) }
