package wire

import (
	"bytes"
	"fmt"
)

// Op is one KV operation as it travels: Value holds the PUT value or the
// operand bytes exactly as sent, so that a decoded operation re-encodes to
// the same bytes even when the client chose a longer operand form than
// needed.
type Op struct {
	Code  Opcode
	Fid   uint8
	Key   []byte
	Value []byte
}

// Get, Put and Delete build the store's plain operations.
func Get(key []byte) Op        { return Op{Code: OpGet, Key: key} }
func Put(key, value []byte) Op { return Op{Code: OpPut, Key: key, Value: value} }
func Delete(key []byte) Op     { return Op{Code: OpDelete, Key: key} }

func scalarOp(code Opcode, key []byte, fid uint8, s ...uint64) Op {
	return Op{Code: code, Fid: fid, Key: key, Value: Scalars(s...)}
}

// UpdateScalar is the paper's update_scalar2scalar(key, Δ, λ); cmp and swap
// are there because compare-and-swap needs two values besides the old one.
func UpdateScalar(key []byte, fid uint8, delta, cmp, swap uint64) Op {
	return scalarOp(OpUpdateS2S, key, fid, delta, cmp, swap)
}

// UpdateScalarToVector applies λ(element, delta, cmp, swap) to every element.
func UpdateScalarToVector(key []byte, fid uint8, delta, cmp, swap uint64) Op {
	return scalarOp(OpUpdateS2V, key, fid, delta, cmp, swap)
}

// UpdateVectorToVector applies λ(element i, Δ_i) to every element; deltas
// are raw elements of vector.element_bits, which the client knows.
func UpdateVectorToVector(key []byte, fid uint8, deltas []byte) Op {
	return Op{Code: OpUpdateV2V, Fid: fid, Key: key, Value: deltas}
}

// Reduce folds the elements into sigma with λ.
func Reduce(key []byte, fid uint8, sigma, cmp, swap uint64) Op {
	return scalarOp(OpReduce, key, fid, sigma, cmp, swap)
}

// Filter returns the elements for which λ is non-zero.
func Filter(key []byte, fid uint8, delta, cmp, swap uint64) Op {
	return scalarOp(OpFilter, key, fid, delta, cmp, swap)
}

// Scalars is the shortest operand form of §3.2: trailing zero scalars are
// left out, because the decoder reads them as zero and every byte counts on
// the port for small atomics.
func Scalars(s ...uint64) []byte {
	n := len(s)
	for n > 0 && s[n-1] == 0 {
		n--
	}
	if n == 0 {
		return nil
	}
	b := make([]byte, n*ScalarBytes)
	for i := range n {
		le.PutUint64(b[i*ScalarBytes:], s[i])
	}
	return b
}

// Operands reads delta, cmp and swap as the hardware does, missing scalars
// being zero. It is meaningful for the λ opcodes but UPDATE_V2V.
func (o Op) Operands() (delta, cmp, swap uint64) {
	var s [3]uint64
	for i := range s {
		if off := i * ScalarBytes; off+ScalarBytes <= len(o.Value) {
			s[i] = le.Uint64(o.Value[off:])
		}
	}
	return s[0], s[1], s[2]
}

// Equal compares operations by their wire content (nil and empty slices
// are the same on the wire).
func (o Op) Equal(p Op) bool {
	return o.Code == p.Code && o.Fid == p.Fid && bytes.Equal(o.Key, p.Key) && bytes.Equal(o.Value, p.Value)
}

func (o Op) String() string {
	return fmt.Sprintf("%v fid=%d key=%x value=%x", o.Code, o.Fid, o.Key, o.Value)
}

// Check is the decoder's verdict (§4.2 step 3) on a delimited operation:
// OK when it would be issued, else its answer. A client can use it to
// refuse an operation before spending a packet slot on it.
func (o Op) Check(p Params) Status {
	klen, vlen := len(o.Key), len(o.Value)
	if o.Code >= NumOpcodes {
		return UnknownOpcode
	}
	if !o.Code.Lambda() && o.Fid != 0 {
		return BadOp
	}
	switch o.Code {
	case OpGet, OpDelete:
		if vlen != 0 {
			return BadOp
		}
	case OpUpdateV2V:
		if vlen == 0 || vlen%p.ElementBytes != 0 {
			return BadOp
		}
	case OpUpdateS2S, OpUpdateS2V, OpReduce, OpFilter:
		if vlen%ScalarBytes != 0 || vlen > 3*ScalarBytes {
			return BadOp
		}
	}
	switch {
	case klen == 0:
		return EmptyKey
	case klen > p.MaxKeyBytes:
		return KeyTooLong
	case (o.Code == OpPut || o.Code == OpUpdateV2V) && vlen > p.MaxValueBytes:
		return ValueTooLong
	}
	return OK
}
