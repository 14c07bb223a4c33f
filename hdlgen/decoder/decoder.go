// Package decoder generates kvd_dec, the packet decoder of
// docs/microarch/decoder.md: request frames of docs/wire-format.md arrive
// as AXI-Stream beats into a byte window, and one combinational step a
// cycle answers the header or one operation from the window's front — a
// packet-level error, an empty request, or one record per declared
// operation with its flags resolved — then shifts the bytes it consumed
// out. Long operations (vlen > V) are answered from their fixed fields and
// their remaining bytes skipped.
package decoder

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// Name is the module name.
const Name = "kvd_dec"

// Record kinds on d_kind (decoder.md §1).
const (
	KindOp       = 0
	KindPktError = 1
	KindEmpty    = 2
	KindBits     = 2
)

// Fixed port widths of decoder.md §2.
const (
	LenBits    = 16
	SeqBits    = 32
	IndexBits  = 16
	StatusBits = 5
	OpBits     = 3
	FidBits    = 8
)

// Operation statuses the decoder answers (wire-format.md §5).
const (
	StIssue         = 0
	StEmptyKey      = 2
	StKeyTooLong    = 3
	StValueTooLong  = 4
	StBadOp         = 7
	StTruncated     = 16
	StUnknownOpcode = 17
	StLengthPastEnd = 18
)

// Packet-level error codes (wire-format.md §4.1), in check order.
const (
	ErrShort          = 1
	ErrBadMagic       = 2
	ErrBadVersion     = 3
	ErrBadType        = 4
	ErrLengthMismatch = 5
	ErrFirstOpFlags   = 6
)

// Wire-format constants (wire-format.md §2–§3).
const (
	HeaderBytes = 12
	Magic       = 0x564B
	Version     = 1
	ScalarBytes = 8
	// MinValueBytes is the smallest V the decoder accepts: three scalars
	// (decoder.md §1), so that every operand rule of §4.5 is decided
	// inside the V bound and a long operation always has a fault.
	MinValueBytes = 3 * ScalarBytes
	// MaxKeyField is the largest klen the one-byte field can announce.
	MaxKeyField = 255
	// MaxFixed is the longest fixed-field run: op byte, fid, klen, vlen.
	MaxFixed = 5
)

// Opcodes (wire-format.md §3.2).
const (
	OpGet       = 0
	OpPut       = 1
	OpDelete    = 2
	OpUpdateS2S = 3
	OpUpdateS2V = 4
	OpUpdateV2V = 5
	OpReduce    = 6
	OpFilter    = 7
)

// Control states (decoder.md §3).
const (
	stHdr  = 0
	stOps  = 1
	stDrop = 2
	stBits = 2
)

// Sizes are the names of decoder.md §1 for one configuration.
type Sizes struct {
	B      int // bytes per beat
	NL     int // bits to hold 0..B (a beat's byte count)
	K, KL  int // max key bytes; bits to hold 0..K
	V, VL  int // max value bytes; bits to hold 0..V
	EB     int // vector element bytes
	WB, WL int // window bytes, 5 + 255 + V + B; bits to hold 0..WB
}

// width is the number of bits that hold 0..n (at least 1).
func width(n int) int { return max(1, bits.Len(uint(n))) }

// SizesOf computes decoder.md §1 for cfg, refusing what the decoder
// cannot carry.
func SizesOf(cfg config.Config) (Sizes, error) {
	if err := cfg.Validate(); err != nil {
		return Sizes{}, err
	}
	z := Sizes{
		B: cfg.Net.BytesPerCycle,
		K: cfg.Key.MaxKeyBytes, KL: cfg.KeyLenBits(),
		V: cfg.Key.MaxValueBytes, EB: cfg.Vector.ElementBits / 8,
	}
	z.NL = width(z.B)
	z.VL = width(z.V)
	z.WB = MaxFixed + MaxKeyField + z.V + z.B
	z.WL = width(z.WB)
	if z.V < MinValueBytes {
		return z, fmt.Errorf("key.max_value_bytes = %d: the packet decoder needs at least %d (three scalars, docs/wire-format.md §3.2; docs/microarch/decoder.md §1)",
			z.V, MinValueBytes)
	}
	if z.WL > LenBits {
		// Cannot happen under config.Validate (V < 2^15, B <= 256); the
		// window arithmetic shares L's 16 bits.
		return z, fmt.Errorf("key.max_value_bytes = %d, net.bytes_per_cycle = %d: a %d-byte window does not fit %d-bit lengths",
			z.V, z.B, z.WB, LenBits)
	}
	return z, nil
}

// Port is one row of decoder.md §2's port table.
type Port struct {
	Name string
	Out  bool
	W    int
}

// Ports lists the data ports of kvd_dec for cfg in decoder.md §2's order
// (clk and rst come first in the module).
func Ports(cfg config.Config) ([]Port, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	return z.ports(), nil
}

func (z Sizes) ports() []Port {
	return []Port{
		{"rx_valid", false, 1}, {"rx_ready", true, 1}, {"rx_data", false, 8 * z.B}, {"rx_keep", false, z.B},
		{"rx_last", false, 1}, {"rx_len", false, LenBits},
		{"d_valid", true, 1}, {"d_ready", false, 1}, {"d_kind", true, KindBits}, {"d_seq", true, SeqBits},
		{"d_index", true, IndexBits}, {"d_last", true, 1}, {"d_trailing", true, 1}, {"d_status", true, StatusBits},
		{"d_received", true, LenBits}, {"d_op", true, OpBits}, {"d_fid", true, FidBits}, {"d_klen", true, z.KL},
		{"d_key", true, 8 * z.K}, {"d_vlen", true, z.VL}, {"d_value", true, 8 * z.V},
	}
}

// Generate builds kvd_dec for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	g := &gen{z: z}
	return g.build()
}
