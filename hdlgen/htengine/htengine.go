// Package htengine generates kvd_ht, the timed hash-table engine of
// docs/microarch/engine.md: C contexts that each carry one GET, PUT or
// DELETE of docs/microarch/hashtable.md §4, or one vector operation
// (engine.md §6.7), from acceptance to its response, and the shared units
// they compete for — the read unit with its return queue, one execute unit,
// the slab unit, the vector unit (one kvd_vec instance, hdlgen/vector), the
// write unit and the response unit — each arbitrating among the contexts
// round robin.
package htengine

import (
	"fmt"
	"math/big"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/vector"
)

// Name is the module name.
const Name = "kvd_ht"

// Fixed widths of engine.md §2.
const (
	TagBits    = 16
	OpBits     = 3
	StatusBits = 4
	ClassBits  = 3
	BeatsBits  = 5
	BeatBits   = 256
	LineBits   = 512 // a bucket
)

// Operation codes (engine.md §1): the wire opcodes. 3 (UPDATE_S2S) is the
// reservation station's and refused here; 4–7 are the vector operations,
// kvd_vec's in_op plus 4.
const (
	OpGet       = 0
	OpPut       = 1
	OpDelete    = 2
	OpBad       = 3
	OpUpdateS2V = 4
	OpUpdateV2V = 5
	OpReduce    = 6
	OpFilter    = 7
)

// Status codes (engine.md §1, hashtable.md §4.5).
const (
	StOK           = 0
	StNotFound     = 1
	StEmptyKey     = 2
	StKeyTooLong   = 3
	StValueTooLong = 4
	StNoMemory     = 5
	StMemError     = 6
	StBadOp        = 7
	StLambdaFault  = 8
)

// Sizes are the names of engine.md §1 for one configuration.
type Sizes struct {
	C, CW     int // contexts, context index width
	K, KL     int // max key bytes, key-length width
	V, VL     int // max value bytes, value-length width
	OB        int // object buffer bytes (largest class)
	BI        int // bucket index width
	H, P, T   int // secondary hash, pointer, type bits
	S, SB, A  int // slots, slot bytes, slot-area bytes
	AW        int // host address width
	NC, BC    int // classes, the bucket class
	Threshold int // bucket.inline_threshold
	PUL       int // log2 memory.pointer_unit: a pointer counts units of 2^PUL bytes
	Classes   []int
	E, F      int // vector element bits, λ function-id width (vector.md §1)
}

func bitsFor(n int) int { return max(1, bits.Len(uint(n))) }   // bits to hold 0..n
func idxBits(n int) int { return max(1, bits.Len(uint(n-1))) } // bits to index 0..n-1

// SizesOf derives the sizes of cfg and checks the rules the engine relies on
// beyond config.Validate (hashtable.md §2.5).
func SizesOf(cfg config.Config) (Sizes, error) {
	if err := cfg.Validate(); err != nil {
		return Sizes{}, err
	}
	vz, err := vector.SizesOf(cfg)
	if err != nil {
		return Sizes{}, err
	}
	b := cfg.Bucket
	z := Sizes{
		C: cfg.Engine.Contexts, K: cfg.Key.MaxKeyBytes, V: cfg.Key.MaxValueBytes,
		BI: cfg.BucketIndexBits(), H: b.SecHashBits, P: b.PointerBits, T: b.SlabTypeBits,
		S: b.Slots, SB: b.SlotBytes, AW: bits.Len64(uint64(cfg.Memory.HostBytes)) - 1,
		NC: len(cfg.Slab.Classes), Threshold: b.InlineThreshold,
		PUL:     bits.Len(uint(cfg.Memory.PointerUnit)) - 1,
		Classes: append([]int(nil), cfg.Slab.Classes...),
		E:       vz.E, F: vz.F,
	}
	z.CW = idxBits(z.C)
	z.KL = cfg.KeyLenBits()
	z.VL = bitsFor(z.V)
	z.A = z.S * z.SB
	z.OB = z.Classes[z.NC-1]
	z.BC = -1
	for i, c := range z.Classes {
		if c >= 64 {
			z.BC = i
			break
		}
	}
	switch {
	case z.NC > (1<<uint(z.T))-2:
		return z, fmt.Errorf("slab.classes: %d classes need two spare type codes in bucket.slab_type_bits = %d (hashtable.md §2.5 rule 1)", z.NC, z.T)
	case z.VL > 16-z.KL:
		return z, fmt.Errorf("key.max_value_bytes = %d: value size does not fit the object header beside a %d-bit key size (hashtable.md §2.5 rule 2)", z.V, z.KL)
	case z.BC < 0:
		return z, fmt.Errorf("slab.classes: no class of at least 64 B for chained buckets (hashtable.md §2.5 rule 3)")
	case z.NC > 1<<ClassBits:
		return z, fmt.Errorf("slab.classes: %d classes do not fit al_class (%d bits)", z.NC, ClassBits)
	}
	for i, c := range z.Classes {
		if c < 32 || c > 512 {
			return z, fmt.Errorf("slab.classes[%d] = %d: every class must be 32..512 B, one read of 1..16 beats (engine.md 1)", i, c)
		}
	}
	return z, nil
}

// Port is one row of engine.md §2's port table.
type Port struct {
	Name string
	Out  bool
	W    int
}

// Ports lists the data ports of kvd_ht for cfg in engine.md §2's order,
// except that the vector operands req_fid, req_delta, req_cmp and req_swap
// follow req_sec, after every port the engine had before them (clk and rst
// come first in the module).
func Ports(cfg config.Config) ([]Port, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	return []Port{
		{"req_valid", false, 1}, {"req_ready", true, 1}, {"req_op", false, OpBits}, {"req_tag", false, TagBits},
		{"req_key", false, 8 * z.K}, {"req_klen", false, z.KL}, {"req_vlen", false, z.VL}, {"req_value", false, 8 * z.V},
		{"req_bucket", false, z.BI}, {"req_sec", false, z.H},
		{"req_fid", false, z.F}, {"req_delta", false, z.E}, {"req_cmp", false, z.E}, {"req_swap", false, z.E},
		{"rsp_valid", true, 1}, {"rsp_tag", true, TagBits}, {"rsp_status", true, StatusBits}, {"rsp_vlen", true, z.VL},
		{"rsp_value", true, 8 * z.V},
		{"al_valid", true, 1}, {"al_ready", false, 1}, {"al_op", true, 1}, {"al_class", true, ClassBits}, {"al_ptr", true, z.P},
		{"al_rsp_valid", false, 1}, {"al_rsp_ok", false, 1}, {"al_rsp_ptr", false, z.P},
		{"mem_rd_valid", true, 1}, {"mem_rd_ready", false, 1}, {"mem_rd_addr", true, z.AW}, {"mem_rd_beats", true, BeatsBits},
		{"mem_rdata_valid", false, 1}, {"mem_rdata_ready", true, 1}, {"mem_rdata", false, BeatBits * max(1, cfg.Engine.ReadBytes/32)},
		{"mem_rdata_last", false, 1}, {"mem_rdata_err", false, 1},
		{"mem_wr_valid", true, 1}, {"mem_wr_ready", false, 1}, {"mem_wr_addr", true, z.AW}, {"mem_wr_data", true, BeatBits},
	}, nil
}

// Generate builds kvd_ht for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	g := &gen{z: z, cfg: cfg}
	return g.build()
}

// ---- small builders -------------------------------------------------------------

func k(w int, v uint64) ir.Expr { return ir.C(w, v) }

var (
	zero1 = ir.C(1, 0)
	one1  = ir.C(1, 1)
)

// wire declares a wire driven by e.
func (g *gen) wire(name string, e ir.Expr) *ir.Signal {
	s := g.m.Wire(name, max(1, e.Width()))
	g.m.Assign(s, e)
	return s
}

// part declares a wire of which only some bits are read (a record, or a
// vector read in slices).
func (g *gen) part(name string, e ir.Expr) *ir.Signal {
	s := g.wire(name, e)
	g.m.MarkUnused(s)
	return s
}

// fit zero-extends or truncates a signal (or a slice of one) to w bits.
func fit(x ir.Expr, w int) ir.Expr {
	if x.Width() >= w {
		return ir.Bits(x, w-1, 0)
	}
	return ir.Zext(x, w)
}

// lowest is the one-hot of the lowest set bit of v (0 when v is 0).
func (g *gen) lowest(name string, v ir.Expr) *ir.Signal {
	return g.wire(name, ir.And(v, ir.Add(ir.Not(v), k(v.Width(), 1))))
}

// encode turns a one-hot vector into the index of its bit, w bits wide.
func (g *gen) encode(name string, oh *ir.Signal, w int) *ir.Signal {
	n := oh.Width()
	parts := make([]ir.Expr, w)
	for b := 0; b < w; b++ {
		mask := new(big.Int)
		for i := 0; i < n; i++ {
			if i>>uint(b)&1 == 1 {
				mask.SetBit(mask, i, 1)
			}
		}
		if mask.Sign() == 0 {
			parts[w-1-b] = zero1
		} else {
			parts[w-1-b] = ir.OrR(ir.And(oh, ir.CBig(n, mask)))
		}
	}
	return g.wire(name, ir.Cat(parts...))
}

// rrPick is engine.md §3's round-robin choice: the first member of set at or
// after ptr in cyclic order.
func (g *gen) rrPick(name string, set, ptr *ir.Signal) (any, oh, idx *ir.Signal) {
	oh, idx = g.rrChoice(name, set, ptr)
	any = g.wire(name+"_any", ir.OrR(set))
	return any, oh, idx
}

// rrChoice is rrPick without the "any" bit: the one-hot and the index of
// the choice (0 when set is empty).
func (g *gen) rrChoice(name string, set, ptr *ir.Signal) (oh, idx *ir.Signal) {
	n := set.Width()
	hi := g.wire(name+"_hi", ir.And(set, ir.Shl(ir.Ones(n), ptr)))
	sel := g.wire(name+"_sel", ir.Sel(ir.OrR(hi), hi, set))
	oh = g.lowest(name+"_oh", sel)
	idx = g.encode(name+"_idx", oh, ptr.Width())
	return oh, idx
}

// rrNext is the round-robin choice a unit will make in the next cycle: the
// same choice over the next-state set and pointer (engine.md §13), the
// address of the unit's block-RAM reads.
func (g *gen) rrNext(name string, setN, ptrN *ir.Signal) *ir.Signal {
	_, idx := g.rrChoice(name, setN, ptrN)
	idx.Comment = "the unit's round-robin choice next cycle: its block-RAM read address"
	return idx
}

// after is idx + 1 modulo C.
func (g *gen) after(idx ir.Expr) ir.Expr {
	return ir.Sel(ir.Eq(idx, k(g.z.CW, uint64(g.z.C-1))), k(g.z.CW, 0), ir.Add(idx, k(g.z.CW, 1)))
}

// andOr selects vals[i] for the set bit i of the one-hot oh.
func andOr(oh *ir.Signal, vals []ir.Expr) ir.Expr {
	terms := make([]ir.Expr, len(vals))
	for i, v := range vals {
		terms[i] = ir.And(ir.Rep(v.Width(), ir.Bit(oh, i)), v)
	}
	return ir.OrAll(terms...)
}

// vec builds a vector from one bit per index, index 0 lowest.
func vec(n int, f func(i int) ir.Expr) ir.Expr {
	parts := make([]ir.Expr, n)
	for i := 0; i < n; i++ {
		parts[n-1-i] = f(i)
	}
	return ir.Cat(parts...)
}

// lowMask is the mask of the n low bits of a w-bit vector, n an expression:
// ~({w{1}} << n).
func lowMask(w int, n ir.Expr) ir.Expr { return ir.Not(ir.Shl(ir.Ones(w), n)) }

// bytes8 turns a byte count or offset into a bit count: {n, 3'b0}.
func bytes8(n ir.Expr) ir.Expr { return ir.Cat(n, k(3, 0)) }
