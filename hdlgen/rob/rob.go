// Package rob generates kvd_rob, the reorder buffer of
// docs/microarch/rob.md: it takes the packet decoder's records into M
// entries in decoder order, issues the operations among them to the
// pipeline through a two-entry issue queue (the tag is the entry index),
// records each completion in its entry, answers refused records at once,
// and hands the encoder one record per entry, oldest first, once it holds
// its answer — so responses leave in request order whatever order the
// pipeline answers in.
package rob

import (
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// Name is the module name.
const Name = "kvd_rob"

// Record kinds on d_kind and e_kind (decoder.md §1).
const (
	KindOp       = 0
	KindPktError = 1
	KindEmpty    = 2
	KindBits     = 2
)

// Fixed port widths of rob.md §2.
const (
	SeqBits       = 32
	DStatusBits   = 5 // d_status, as decoder.md §2
	ReceivedBits  = 16
	OpBits        = 3
	FidBits       = 8
	TagBits       = 16 // iss_tag and cpl_tag
	CplStatusBits = 8  // cpl_status and e_status (wire-format.md §5)
)

// IQ is the issue queue's capacity (rob.md §1: fixed).
const IQ = 2

// Sizes are the names of rob.md §1 for one configuration, and the widths
// the generator derives from them.
type Sizes struct {
	M, MW int // entries; entry index width (log2 M rounded up, at least 1)
	CW    int // bits to hold 0..M (count)
	K, KL int // max key bytes; bits to hold 0..K
	V, VL int // max value bytes; bits to hold 0..V
}

// width is the number of bits that hold 0..n (at least 1).
func width(n int) int { return max(1, bits.Len(uint(n))) }

// SizesOf computes rob.md §1 for cfg.
func SizesOf(cfg config.Config) (Sizes, error) {
	if err := cfg.Validate(); err != nil {
		return Sizes{}, err
	}
	z := Sizes{
		M: cfg.ROB.Entries,
		K: cfg.Key.MaxKeyBytes, KL: cfg.KeyLenBits(),
		V: cfg.Key.MaxValueBytes,
	}
	z.MW = max(1, bits.Len(uint(z.M-1)))
	z.CW = width(z.M)
	z.VL = width(z.V)
	return z, nil
}

// Port is one row of rob.md §2's port table.
type Port struct {
	Name string
	Out  bool
	W    int
}

// Ports lists the data ports of kvd_rob for cfg in rob.md §2's order, the
// grouped rows expanded in the order written (clk and rst come first in the
// module).
func Ports(cfg config.Config) ([]Port, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	return z.ports(), nil
}

func (z Sizes) ports() []Port {
	return []Port{
		{"d_valid", false, 1}, {"d_ready", true, 1},
		{"d_kind", false, KindBits}, {"d_seq", false, SeqBits}, {"d_last", false, 1}, {"d_trailing", false, 1},
		{"d_status", false, DStatusBits}, {"d_received", false, ReceivedBits},
		{"d_op", false, OpBits}, {"d_fid", false, FidBits}, {"d_klen", false, z.KL}, {"d_key", false, 8 * z.K},
		{"d_vlen", false, z.VL}, {"d_value", false, 8 * z.V},
		{"iss_valid", true, 1}, {"iss_ready", false, 1}, {"iss_tag", true, TagBits},
		{"iss_op", true, OpBits}, {"iss_fid", true, FidBits}, {"iss_klen", true, z.KL}, {"iss_key", true, 8 * z.K},
		{"iss_vlen", true, z.VL}, {"iss_value", true, 8 * z.V},
		{"cpl_valid", false, 1}, {"cpl_tag", false, TagBits}, {"cpl_status", false, CplStatusBits},
		{"cpl_vlen", false, z.VL}, {"cpl_value", false, 8 * z.V},
		{"e_valid", true, 1}, {"e_ready", false, 1},
		{"e_kind", true, KindBits}, {"e_seq", true, SeqBits}, {"e_last", true, 1}, {"e_trailing", true, 1},
		{"e_status", true, CplStatusBits}, {"e_received", true, ReceivedBits}, {"e_vlen", true, z.VL},
		{"e_value", true, 8 * z.V},
	}
}

// Generate builds kvd_rob for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	g := &gen{z: z}
	return g.build()
}
