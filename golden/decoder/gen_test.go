package decoder

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"

	"github.com/kvdirect/kvd/wire"
)

// workedExample is wire-format.md §8's request.
var workedExample = mustHex(`
	4b 56 01 00 3d 00 05 00 07 00 00 00
	01 00 04 02 00 6b 65 79 31 68 69
	c1 00 6b 65 79 32
	00 00 04 00 00 6b 65 79 31
	03 00 04 08 00 6b 65 79 33
	05 00 00 00 00 00 00 00
	c3 00 6b 65 79 34`)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// genOp draws one operation: mostly well-formed, with every fault of
// wire-format.md §4.2 step 3 and long values (vlen > V, some > WB) in the
// mix, and often the previous operation's sizes or value so that the
// encoder's flags apply.
func genOp(r *rand.Rand, p Params, prev *wire.Op) wire.Op {
	var op wire.Op
	if r.IntN(100) < 5 {
		op.Code = wire.Opcode(8 + r.IntN(56))
	} else {
		op.Code = wire.Opcode(r.IntN(8))
	}
	if prev != nil && r.IntN(4) == 0 {
		op.Code = prev.Code
	}
	switch {
	case op.Code.Lambda() || op.Code >= wire.NumOpcodes:
		op.Fid = uint8(r.IntN(8))
	case r.IntN(25) == 0:
		op.Fid = uint8(1 + r.IntN(255))
	}
	klen := 1 + r.IntN(p.K)
	switch x := r.IntN(100); {
	case x < 3:
		klen = 0
	case x < 8 && p.K < 255:
		klen = p.K + 1 + r.IntN(255-p.K)
	case prev != nil && x < 40:
		klen = len(prev.Key)
	}
	op.Key = randBytes(r, klen)

	if prev != nil && r.IntN(3) == 0 {
		op.Value = bytes.Clone(prev.Value)
		return op
	}
	long := func() int {
		if r.IntN(2) == 0 {
			return p.V + 1 + r.IntN(40)
		}
		return p.V + 1 + r.IntN(2*p.WB) // often more than the window
	}
	vlen := 0
	x := r.IntN(100)
	switch op.Code {
	case wire.OpGet, wire.OpDelete:
		if x < 5 {
			vlen = 1 + r.IntN(30)
		} else if x < 6 {
			vlen = long()
		}
	case wire.OpPut:
		switch {
		case x < 85:
			vlen = r.IntN(p.V + 1)
		default:
			vlen = long()
		}
	case wire.OpUpdateV2V:
		switch {
		case x < 80:
			vlen = p.EB * (1 + r.IntN(p.V/p.EB))
		case x < 92:
			vlen = r.IntN(p.V + 1)
		default:
			vlen = long()
		}
	case wire.OpUpdateS2S, wire.OpUpdateS2V, wire.OpReduce, wire.OpFilter:
		switch {
		case x < 85:
			vlen = 8 * r.IntN(4)
		case x < 96:
			vlen = r.IntN(41)
		default:
			vlen = long()
		}
	default:
		if x < 90 {
			vlen = r.IntN(41)
		} else {
			vlen = long()
		}
	}
	if prev != nil && r.IntN(5) == 0 {
		vlen = len(prev.Value) // SAME_SIZES without SAME_VALUE
	}
	op.Value = randBytes(r, vlen)
	return op
}

// applicable mirrors the encoder's rule for the flags an operation may
// carry after prev (wire-format.md §3.1).
func applicable(prev, op *wire.Op) wire.Flags {
	var f wire.Flags
	if len(prev.Key) == len(op.Key) && len(prev.Value) == len(op.Value) {
		f |= wire.SameSizes
	}
	if bytes.Equal(prev.Value, op.Value) {
		f |= wire.SameValue
	}
	return f
}

// genRequest encodes a random batch, with the encoder's flags or a random
// subset of them.
func genRequest(r *rand.Rand, p Params) []byte {
	n := 1 + r.IntN(8)
	switch x := r.IntN(100); {
	case x < 30:
		n = 1 + r.IntN(30)
	case x < 35:
		n = 1 + r.IntN(150)
	}
	for {
		req := wire.Request{Seq: r.Uint32(), Ops: make([]wire.Op, n)}
		for i := range req.Ops {
			var prev *wire.Op
			if i > 0 {
				prev = &req.Ops[i-1]
			}
			req.Ops[i] = genOp(r, p, prev)
		}
		if r.IntN(2) == 0 {
			req.Flags = make([]wire.Flags, n)
			for i := 1; i < n; i++ {
				req.Flags[i] = applicable(&req.Ops[i-1], &req.Ops[i]) & wire.Flags(r.IntN(4)<<6)
			}
		}
		pkt, err := wire.EncodeRequest(req)
		if err == nil {
			return pkt
		}
		n = max(1, n/2)
	}
}

func setLength(pkt []byte) {
	if len(pkt) >= 6 {
		binary.LittleEndian.PutUint16(pkt[4:], uint16(len(pkt)))
	}
}

// genPacket draws one frame (1 … 65535 bytes): requests, mutated requests
// and short or random frames.
func genPacket(r *rand.Rand, p Params) []byte {
	switch x := r.IntN(100); {
	case x < 3: // 1 … 13 bytes: random, or a header's prefix
		n := 1 + r.IntN(13)
		if r.IntN(2) == 0 {
			return randBytes(r, n)
		}
		pkt := genRequest(r, p)[:min(n, 12)]
		if n == 13 || r.IntN(2) == 0 {
			pkt = append(pkt, randBytes(r, n-len(pkt))...)
			setLength(pkt)
		}
		return pkt
	case x < 6: // count 0, with or without trailing bytes
		pkt, _ := wire.EncodeRequest(wire.Request{Seq: r.Uint32()})
		if r.IntN(2) == 0 {
			pkt = append(pkt, randBytes(r, 1+r.IntN(60))...)
			setLength(pkt)
		}
		return pkt
	case x < 9: // a header and random operation bytes
		pkt := genRequest(r, p)[:12]
		pkt = append(pkt, randBytes(r, r.IntN(200))...)
		if len(pkt) > 12 {
			pkt[12] &^= 0xc0
		}
		binary.LittleEndian.PutUint16(pkt[6:], uint16(r.IntN(12)))
		setLength(pkt)
		return pkt
	}
	pkt := genRequest(r, p)
	if r.IntN(10) == 0 { // truncated frame, its length field fixed or not
		pkt = pkt[:1+r.IntN(len(pkt))]
		if r.IntN(10) < 7 {
			setLength(pkt)
		}
	}
	if r.IntN(12) == 0 && len(pkt)+60 <= wire.MaxPacketBytes { // bytes after the last operation
		pkt = append(pkt, randBytes(r, 1+r.IntN(60))...)
		setLength(pkt)
	}
	if len(pkt) >= 8 && r.IntN(20) == 0 { // declared count off
		c := int(binary.LittleEndian.Uint16(pkt[6:])) + r.IntN(9) - 3
		binary.LittleEndian.PutUint16(pkt[6:], uint16(max(0, c)))
	}
	if len(pkt) >= 14 && r.IntN(30) == 0 { // a byte of the operations corrupted
		pkt[12+r.IntN(len(pkt)-12)] = byte(r.Uint32())
	}
	switch y := r.IntN(100); {
	case y < 2:
		pkt[r.IntN(min(2, len(pkt)))] ^= byte(1 + r.IntN(255)) // magic
	case y < 4 && len(pkt) > 2:
		pkt[2] = byte(r.Uint32()) // version (may stay 1)
	case y < 6 && len(pkt) > 3:
		pkt[3] = byte(r.Uint32()) // type (may stay 0)
	case y < 8 && len(pkt) > 5:
		pkt[4+r.IntN(2)] ^= byte(1 + r.IntN(255)) // length field
	case y < 10 && len(pkt) > 12:
		pkt[12] |= byte(1+r.IntN(3)) << 6 // first-op flags
	}
	return pkt
}
