// Package wire is the client side of the KV processor's packet format
// (docs/wire-format.md): several KV operations per request packet, as the
// paper's client batching does, and their answers in response packets.
//
// DecodeRequest is also the transaction-level reference of the hardware
// packet decoder: for any byte string it gives the records and faults the
// document says the decoder answers, so a decoder testbench can compare
// against it packet by packet.
package wire

import (
	"encoding/binary"
	"fmt"
)

// Header constants (docs/wire-format.md §2).
const (
	Magic   = 0x564B // bytes "KV"
	Version = 1

	// RequestHeaderBytes and ResponseHeaderBytes differ by the response's
	// first field, which only split responses need.
	RequestHeaderBytes  = 12
	ResponseHeaderBytes = 14
	// ErrorResponseBytes is the whole error response: header, code, a zero
	// byte and the received length.
	ErrorResponseBytes = ResponseHeaderBytes + 4

	// MaxPacketBytes is what the 16-bit length field can say.
	MaxPacketBytes = 0xFFFF
	// MaxOps is what the 16-bit count field can say.
	MaxOps = 0xFFFF

	// DefaultMaxResponseBytes is MR of §6: a UDP payload in a 1500-byte MTU.
	DefaultMaxResponseBytes = 1472

	// ScalarBytes is the wire width of every λ operand and scalar result,
	// whatever atomic.scalar_bits is, so clients need no configuration.
	ScalarBytes = 8
)

// Packet types (header byte 3, bits 3:0) and the response's TRAILING bit.
const (
	TypeRequest       = 0x00
	TypeResponse      = 0x01
	TypeErrorResponse = 0x02
	TypeTrailing      = 0x80
)

// Opcode is bits 5:0 of an operation's first byte. Values 8..63 are
// representable so that tests and fuzzers can send what a buggy client
// would; the decoder answers them UNKNOWN_OPCODE.
type Opcode uint8

const (
	OpGet Opcode = iota
	OpPut
	OpDelete
	OpUpdateS2S
	OpUpdateS2V
	OpUpdateV2V
	OpReduce
	OpFilter

	// NumOpcodes is the first unknown opcode.
	NumOpcodes
	// MaxOpcode is the largest value the six opcode bits hold.
	MaxOpcode Opcode = 63
)

var opcodeNames = [...]string{"GET", "PUT", "DELETE", "UPDATE_S2S", "UPDATE_S2V", "UPDATE_V2V", "REDUCE", "FILTER"}

func (o Opcode) String() string {
	if o < NumOpcodes {
		return opcodeNames[o]
	}
	return fmt.Sprintf("OPCODE_%d", uint8(o))
}

// Lambda reports whether the opcode selects a λ through its fid.
func (o Opcode) Lambda() bool { return o >= OpUpdateS2S && o < NumOpcodes }

// Flags are the paper's two per-operation bits, in their positions of the
// operation's first byte.
type Flags uint8

const (
	// SameSizes: klen and vlen are the previous operation's (fields omitted).
	SameSizes Flags = 0x40
	// SameValue: the value bytes, and so vlen, are the previous operation's.
	SameValue Flags = 0x80

	flagMask = SameSizes | SameValue
)

func (f Flags) String() string {
	switch f & flagMask {
	case 0:
		return "-"
	case SameSizes:
		return "S"
	case SameValue:
		return "V"
	}
	return "SV"
}

// Status is an operation's answer (§5). Codes 0–7 are the hash-table
// engine's, 8–15 execution faults, 16 and up the decoder's framing faults.
type Status uint8

const (
	OK            Status = 0
	NotFound      Status = 1
	EmptyKey      Status = 2
	KeyTooLong    Status = 3
	ValueTooLong  Status = 4
	NoMemory      Status = 5
	MemError      Status = 6
	BadOp         Status = 7
	LambdaFault   Status = 8
	Truncated     Status = 16
	UnknownOpcode Status = 17
	LengthPastEnd Status = 18
)

func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case NotFound:
		return "NOT_FOUND"
	case EmptyKey:
		return "EMPTY_KEY"
	case KeyTooLong:
		return "KEY_TOO_LONG"
	case ValueTooLong:
		return "VALUE_TOO_LONG"
	case NoMemory:
		return "NO_MEMORY"
	case MemError:
		return "MEM_ERROR"
	case BadOp:
		return "BAD_OP"
	case LambdaFault:
		return "LAMBDA_FAULT"
	case Truncated:
		return "TRUNCATED"
	case UnknownOpcode:
		return "UNKNOWN_OPCODE"
	case LengthPastEnd:
		return "LENGTH_PAST_END"
	}
	return fmt.Sprintf("STATUS_%d", uint8(s))
}

// Delimited reports whether an operation with this decoder answer was
// delimited, i.e. the decoder knows where it ends and what it said.
func (s Status) Delimited() bool { return s != Truncated && s != LengthPastEnd }

// PacketError is an error response's code (§4.1); 0 means none.
type PacketError uint8

const (
	NoPacketError  PacketError = 0
	Short          PacketError = 1
	BadMagic       PacketError = 2
	BadVersion     PacketError = 3
	BadType        PacketError = 4
	LengthMismatch PacketError = 5
	FirstOpFlags   PacketError = 6
)

func (e PacketError) String() string {
	switch e {
	case NoPacketError:
		return "none"
	case Short:
		return "SHORT"
	case BadMagic:
		return "BAD_MAGIC"
	case BadVersion:
		return "BAD_VERSION"
	case BadType:
		return "BAD_TYPE"
	case LengthMismatch:
		return "LENGTH_MISMATCH"
	case FirstOpFlags:
		return "FIRST_OP_FLAGS"
	}
	return fmt.Sprintf("PACKET_ERROR_%d", uint8(e))
}

// Params are the processor sizes the decoder's checks depend on (§4.2, §6).
// They are plain numbers rather than a config.Config so that a client
// needs nothing of the processor's code base.
type Params struct {
	MaxKeyBytes   int // key.max_key_bytes
	MaxValueBytes int // key.max_value_bytes
	ElementBytes  int // vector.element_bits / 8
	// MaxResponseBytes is MR; 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int
}

// Validate refuses sizes the format cannot express.
func (p Params) Validate() error {
	switch {
	case p.MaxKeyBytes < 1 || p.MaxKeyBytes > 255:
		return fmt.Errorf("wire: max key bytes %d: the klen field holds 1..255", p.MaxKeyBytes)
	case p.MaxValueBytes < 1 || p.MaxValueBytes > MaxPacketBytes:
		return fmt.Errorf("wire: max value bytes %d: the vlen field holds 1..%d", p.MaxValueBytes, MaxPacketBytes)
	case p.ElementBytes != 1 && p.ElementBytes != 2 && p.ElementBytes != 4 && p.ElementBytes != 8:
		return fmt.Errorf("wire: element bytes %d: want 1, 2, 4 or 8", p.ElementBytes)
	case p.MaxResponseBytes != 0 && (p.MaxResponseBytes < ResponseHeaderBytes+3 || p.MaxResponseBytes > MaxPacketBytes):
		return fmt.Errorf("wire: max response bytes %d: want %d..%d", p.MaxResponseBytes, ResponseHeaderBytes+3, MaxPacketBytes)
	}
	return nil
}

func (p Params) maxResponse() int {
	if p.MaxResponseBytes == 0 {
		return DefaultMaxResponseBytes
	}
	return p.MaxResponseBytes
}

var le = binary.LittleEndian
