// Package glue generates kvd_glue, the logic between the processor's front
// end, the key-hash unit, the reservation station and the hash-table engine
// (docs/microarch/processor.md §4): it hashes each issued operation's key,
// presents it to the station with its hashes, queues the station's pipeline
// operations for the engine, and carries values longer than the station's
// 8 bytes by reference — a request's value kept here by tag when it is
// issued, a response's value by tag when the engine answers.
package glue

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/fifo"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/lambda"
)

// Name is the module name.
const Name = "kvd_glue"

// Fixed sizes of processor.md §4.1.
const (
	DA = 8 // arrival credits
	DE = 4 // engine queue capacity
)

// Fixed port widths (processor.md §4.2, rob.md §2, rs.md §2, engine.md §2,
// microarch.md §2.1).
const (
	TagBits       = 16
	OpBits        = 3
	IssFidBits    = 8 // the wire's fid on iss_fid
	CplStatusBits = 8 // the front end's cpl_status
	StatusBits    = 4 // the station's and the engine's status
	ScalarBytes   = 8 // the station's value: a length and the first 8 bytes
)

// Sizes are the names of processor.md §4.1 for one configuration.
type Sizes struct {
	T, TW int // tags (reorder-buffer entries, rob.entries); tag index width (log2 T rounded up, >= 1)
	M, MW int // the station's operation ids (rs.max_inflight); their index width (log2 M rounded up, >= 1)
	R, S  int // station slots; slot index width
	I     int // station id width: bits to hold 0..M+R-1
	K, KL int // max key bytes; key-length width
	V, VL int // max value bytes; value-length width
	W, E  int // atomic.scalar_bits; vector.element_bits
	N, F  int // λs; function-id width (bits to hold 0..N)
	BI, H int // bucket index width; secondary hash width
	A     int // the station's aux width, BI + H
	CW    int // credit counter width: bits to hold 0..DA
}

func width(n int) int { return max(1, bits.Len(uint(n))) } // bits to hold 0..n

// SizesOf computes processor.md §4.1 for cfg and refuses what the glue
// cannot carry, naming the configuration key.
func SizesOf(cfg config.Config) (Sizes, error) {
	if err := cfg.Validate(); err != nil {
		return Sizes{}, err
	}
	z := Sizes{
		T: cfg.ROB.Entries, M: cfg.RS.MaxInflight, R: cfg.RS.Slots, S: cfg.RSSlotBits(),
		K: cfg.Key.MaxKeyBytes, KL: cfg.KeyLenBits(),
		V: cfg.Key.MaxValueBytes,
		W: cfg.Atomic.ScalarBits, E: cfg.Vector.ElementBits,
		N:  len(cfg.Atomic.Lambdas),
		BI: cfg.BucketIndexBits(), H: cfg.Bucket.SecHashBits,
	}
	z.TW = max(1, bits.Len(uint(z.T-1)))
	z.MW = max(1, bits.Len(uint(z.M-1)))
	z.I = width(z.M + z.R - 1)
	z.VL = width(max(z.V, ScalarBytes))
	z.F = lambda.FidBits(z.N)
	z.A = z.BI + z.H
	z.CW = width(DA)
	switch {
	case z.E > z.W:
		return z, fmt.Errorf("vector.element_bits = %d: more than atomic.scalar_bits = %d; vector operands cross the station's %d-bit operand path (docs/microarch/processor.md §4.1)",
			z.E, z.W, z.W)
	case z.I > TagBits:
		return z, fmt.Errorf("rs.slots = %d, rs.max_inflight = %d: station ids need %d bits (0..%d), more than the engine's %d-bit tag that carries them (docs/microarch/processor.md §4.1)",
			z.R, z.M, z.I, z.M+z.R-1, TagBits)
	case z.V < 3*ScalarBytes:
		return z, fmt.Errorf("key.max_value_bytes = %d: the glue takes an issued operation's three scalars from bytes 0-23 of its value, so it needs at least 24 (docs/microarch/processor.md §4.5)",
			z.V)
	case z.F > IssFidBits:
		return z, fmt.Errorf("atomic.lambdas: %d λs need %d-bit function ids, more than the wire's %d", z.N, z.F, IssFidBits)
	}
	return z, nil
}

// Port is one row of processor.md §4.2's port table.
type Port struct {
	Name string
	Out  bool
	W    int
}

// Ports lists the data ports of kvd_glue for cfg in processor.md §4.2's
// order, each grouped row in the order written (clk and rst come first in
// the module).
func Ports(cfg config.Config) ([]Port, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	return z.ports(), nil
}

func (z Sizes) ports() []Port {
	K8, V8 := 8*z.K, 8*z.V
	return []Port{
		{"iss_valid", false, 1}, {"iss_ready", true, 1}, {"iss_tag", false, TagBits}, {"iss_op", false, OpBits},
		{"iss_fid", false, IssFidBits}, {"iss_klen", false, z.KL}, {"iss_key", false, K8},
		{"iss_vlen", false, z.VL}, {"iss_value", false, V8},
		{"cpl_valid", true, 1}, {"cpl_tag", true, TagBits}, {"cpl_status", true, CplStatusBits},
		{"cpl_vlen", true, z.VL}, {"cpl_value", true, V8},
		{"kh_in_valid", true, 1}, {"kh_in_key", true, K8}, {"kh_in_len", true, z.KL}, {"kh_in_tag", true, TagBits},
		{"kh_out_valid", false, 1}, {"kh_out_bucket", false, z.BI}, {"kh_out_sec", false, z.H},
		{"kh_out_slot", false, z.S}, {"kh_out_tag", false, TagBits},
		{"rs_req_valid", true, 1}, {"rs_req_ready", false, 1}, {"rs_req_op", true, OpBits}, {"rs_req_fid", true, z.F},
		{"rs_req_key", true, K8}, {"rs_req_klen", true, z.KL}, {"rs_req_slot", true, z.S}, {"rs_req_vlen", true, z.VL},
		{"rs_req_value", true, 64}, {"rs_req_delta", true, z.W}, {"rs_req_cmp", true, z.W}, {"rs_req_swap", true, z.W},
		{"rs_req_aux", true, z.A}, {"rs_req_tag", true, TagBits},
		{"rs_pipe_valid", false, 1}, {"rs_pipe_ready", true, 1}, {"rs_pipe_id", false, z.I}, {"rs_pipe_tag", false, TagBits},
		{"rs_pipe_op", false, OpBits}, {"rs_pipe_fid", false, z.F}, {"rs_pipe_key", false, K8}, {"rs_pipe_klen", false, z.KL},
		{"rs_pipe_vlen", false, z.VL}, {"rs_pipe_value", false, 64}, {"rs_pipe_delta", false, z.W},
		{"rs_pipe_cmp", false, z.W}, {"rs_pipe_swap", false, z.W}, {"rs_pipe_aux", false, z.A},
		{"rs_cpl_valid", true, 1}, {"rs_cpl_id", true, z.I}, {"rs_cpl_status", true, StatusBits},
		{"rs_cpl_vlen", true, z.VL}, {"rs_cpl_value", true, 64},
		{"rs_resp_valid", false, 1}, {"rs_resp_tag", false, TagBits}, {"rs_resp_status", false, StatusBits},
		{"rs_resp_vlen", false, z.VL}, {"rs_resp_value", false, 64},
		{"ht_req_valid", true, 1}, {"ht_req_ready", false, 1}, {"ht_req_op", true, OpBits}, {"ht_req_tag", true, TagBits},
		{"ht_req_key", true, K8}, {"ht_req_klen", true, z.KL}, {"ht_req_vlen", true, z.VL}, {"ht_req_value", true, V8},
		{"ht_req_bucket", true, z.BI}, {"ht_req_sec", true, z.H}, {"ht_req_fid", true, z.F},
		{"ht_req_delta", true, z.E}, {"ht_req_cmp", true, z.E}, {"ht_req_swap", true, z.E},
		{"ht_rsp_valid", false, 1}, {"ht_rsp_tag", false, TagBits}, {"ht_rsp_status", false, StatusBits},
		{"ht_rsp_vlen", false, z.VL}, {"ht_rsp_value", false, V8},
	}
}

// Generate builds kvd_glue for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	g := &gen{z: z, bigMem: z.T > fifo.BlockRAMThreshold}
	return g.build()
}
