// Package encoder generates kvd_enc, the response encoder of
// docs/microarch/encoder.md: records arrive in request order, one per
// operation (or one per refused or empty request), into a one-record
// holding register; one record a cycle is placed into the open packet of
// one of two packet buffers of MR bytes, a packet closes with its 14-byte
// header (docs/wire-format.md §2, §6; the error response of §4.1) and is
// sent from its buffer as AXI-Stream beats while the other buffer fills.
package encoder

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// Name is the module name.
const Name = "kvd_enc"

// Record kinds on e_kind (encoder.md §1, the decoder's).
const (
	KindOp       = 0
	KindPktError = 1
	KindEmpty    = 2
	KindBits     = 2
)

// Fixed port widths of encoder.md §2.
const (
	SeqBits      = 32
	StatusBits   = 8
	ReceivedBits = 16
)

// Wire-format constants (wire-format.md §2, §4.1, §6).
const (
	MR            = 1472 // largest response packet
	HeaderBytes   = 14   // response header
	ErrorBytes    = 18   // the whole error response
	RecordFixed   = 3    // status u8, vlen u16
	Magic         = 0x564B
	Version       = 1
	TypeResponse  = 0x01
	TypeError     = 0x02
	TypeTrailing  = 0x80
	FirstBits     = 16 // the header's first field
	CountBits     = 16 // the header's count field
	LengthBits    = 16 // the header's length field
	minWindow     = 32 // the record window holds at least bytes 14..17 in order
	thermGroupLg  = 4  // byte-lane thermometers decode 16 lanes per group
	thermGroup    = 1 << thermGroupLg
	maxValueFixed = MR - HeaderBytes - RecordFixed // 1455: the largest V
)

// Sizes are the names of encoder.md §1 for one configuration, and the
// widths the generator derives from them.
type Sizes struct {
	B      int // bytes per beat
	V, VL  int // max value bytes; bits to hold 0..V
	PB     int // packet buffer bytes (MR)
	PL     int // bits to hold 0..PB: packet lengths, len, room, 3 + V
	CW     int // bits to hold 0..(MR-14)/3: records in one packet
	NB, SW int // beats per buffer, ceil(PB/B); bits to index them
	W, WL  int // record window bytes (a power of two >= 3 + V, >= 32); log2 W
}

// width is the number of bits that hold 0..n (at least 1).
func width(n int) int { return max(1, bits.Len(uint(n))) }

// SizesOf computes encoder.md §1 for cfg. It refuses a maximum value whose
// record does not fit a packet with its header (14 + 3 + V > MR): the
// encoder never splits a record, and the case "one record longer than MR"
// of wire-format.md §6 is left out of the hardware (encoder.md §1).
func SizesOf(cfg config.Config) (Sizes, error) {
	if err := cfg.Validate(); err != nil {
		return Sizes{}, err
	}
	z := Sizes{B: cfg.Net.BytesPerCycle, V: cfg.Key.MaxValueBytes, PB: MR}
	if HeaderBytes+RecordFixed+z.V > MR {
		return z, fmt.Errorf("key.max_value_bytes = %d: the response encoder needs 14 + 3 + V <= %d (a record of the largest value must fit one response packet with its header, docs/microarch/encoder.md §1), so at most %d",
			z.V, MR, maxValueFixed)
	}
	z.VL = width(z.V)
	z.PL = width(z.PB)
	z.CW = width((MR - HeaderBytes) / RecordFixed)
	z.NB = (z.PB + z.B - 1) / z.B
	z.SW = width(z.NB - 1)
	z.W = minWindow
	for z.W < RecordFixed+z.V {
		z.W *= 2
	}
	z.WL = bits.Len(uint(z.W)) - 1
	return z, nil
}

// Port is one row of encoder.md §2's port table.
type Port struct {
	Name string
	Out  bool
	W    int
}

// Ports lists the data ports of kvd_enc for cfg in encoder.md §2's order
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
		{"e_valid", false, 1}, {"e_ready", true, 1}, {"e_kind", false, KindBits}, {"e_seq", false, SeqBits},
		{"e_last", false, 1}, {"e_trailing", false, 1}, {"e_status", false, StatusBits},
		{"e_received", false, ReceivedBits}, {"e_vlen", false, z.VL}, {"e_value", false, 8 * z.V},
		{"tx_valid", true, 1}, {"tx_ready", false, 1}, {"tx_data", true, 8 * z.B}, {"tx_keep", true, z.B},
		{"tx_last", true, 1},
	}
}

// Generate builds kvd_enc for cfg, or refuses a key.max_value_bytes whose
// record cannot fit one packet.
func Generate(cfg config.Config) (*ir.Module, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	g := &gen{z: z}
	return g.build()
}
