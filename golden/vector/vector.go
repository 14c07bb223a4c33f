// Package vector is the golden model of kvd_vec, the vector unit
// (docs/microarch/vector.md): UPDATE_S2V, UPDATE_V2V, REDUCE and FILTER on
// one stored value, one element per clock.
//
// It does not interpret λs: every element step is golden/lambda's
// evaluator, that is expr itself, built at the element width
// (vector.element_bits instead of atomic.scalar_bits). Exec is the untimed
// result of one operation (§3); Model adds the timing of §4.
package vector

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/lambda"
)

// Op is an operation code, the value of in_op (§1).
type Op uint8

const (
	S2V    Op = 0 // UPDATE_S2V
	V2V    Op = 1 // UPDATE_V2V
	Reduce Op = 2 // REDUCE
	Filter Op = 3 // FILTER
)

// OpBits is the width of in_op.
const OpBits = 2

// ReduceBytes is out_rlen of a REDUCE that did not fail: Σ zero-extended
// to 8 bytes (§3).
const ReduceBytes = 8

func (o Op) String() string {
	switch o {
	case S2V:
		return "UPDATE_S2V"
	case V2V:
		return "UPDATE_V2V"
	case Reduce:
		return "REDUCE"
	case Filter:
		return "FILTER"
	}
	return fmt.Sprintf("op%d", uint8(o))
}

// Params are the sizes of §1, derived from a configuration.
type Params struct {
	E  int // element bits
	EB int // element bytes
	V  int // max value bytes
	VL int // width of in_vlen, in_dlen, out_rlen: bits to hold 0..V
	NE int // max elements ⌊V/EB⌋
	EL int // bits to hold 0..NE
	N  int // registered λs
	F  int // width of in_fid (lambda.md §2.4)
}

// ParamsOf derives §1's sizes from cfg.
func ParamsOf(cfg config.Config) Params {
	e := cfg.Vector.ElementBits
	eb := e / 8
	v := cfg.Key.MaxValueBytes
	p := Params{E: e, EB: eb, V: v, VL: bits.Len(uint(v)), N: len(cfg.Atomic.Lambdas), F: lambda.FidBits(len(cfg.Atomic.Lambdas))}
	if eb > 0 {
		p.NE = v / eb
	}
	p.EL = max(1, bits.Len(uint(p.NE)))
	return p
}

// NewEvaluator compiles cfg's λs at the element width: a copy of cfg with
// atomic.scalar_bits = vector.element_bits (§1: lambda.md with W = E).
func NewEvaluator(cfg config.Config) (*lambda.Evaluator, error) {
	c := cfg
	c.Atomic.ScalarBits = cfg.Vector.ElementBits
	ev, err := lambda.NewEvaluator(c)
	if err != nil {
		return nil, fmt.Errorf("vector (vector.element_bits = %d): %v", cfg.Vector.ElementBits, err)
	}
	return ev, nil
}

// Request is one operation's operands, as the unit sees them.
type Request struct {
	Op  Op
	Fid uint64
	// Value is the stored value: its length is in_vlen.
	Value []byte
	// Delta, Cmp, Swap are the E-bit scalar operands; bits above E are
	// ignored.
	Delta, Cmp, Swap uint64
	// Dvec is UPDATE_V2V's operand vector Δ: its length is in_dlen. Δᵢ is
	// element i of Dvec when EB·(i+1) ≤ len(Dvec), else 0. (A Dvec cut to
	// the bus's V bytes gives the same Δ as any longer in_dlen: no element
	// index reaches past V.)
	Dvec []byte
}

// Result is what the unit returns for one operation (§3).
type Result struct {
	Fault bool
	// New is out_new's bytes below in_vlen: the value to store.
	New []byte
	// Resp is the response value; its length is out_rlen.
	Resp []byte
	// N is the number of elements ⌊in_vlen/EB⌋: the operation's cycles
	// (§4: the result is due N+1 cycles after acceptance).
	N int
	// FaultAt is the element whose λ step failed first, or -1 (no fault,
	// or an unknown function id).
	FaultAt int
	// Kept is the number of elements FILTER kept.
	Kept int
}

// Exec is the untimed result of one operation (vector.md §3), with the
// λs of ev at ev's width (which must be 8, 16, 32 or 64: the element
// width; see NewEvaluator). err is set only when ev reports a golden-model
// error (a λ value expr should not produce); a λ failure is Result.Fault.
func Exec(ev *lambda.Evaluator, r Request) (Result, error) {
	e := ev.W
	if e != 8 && e != 16 && e != 32 && e != 64 {
		return Result{}, fmt.Errorf("vector: element width %d bits: must be 8, 16, 32 or 64", e)
	}
	eb := e / 8
	n := len(r.Value) / eb
	res := Result{N: n, FaultAt: -1}
	// A fault returns the stored value unchanged, rlen 0.
	fault := func(at int) (Result, error) {
		res.Fault, res.FaultAt = true, at
		res.New = append([]byte(nil), r.Value...)
		res.Resp = []byte{}
		res.Kept = 0
		return res, nil
	}
	if r.Fid >= uint64(len(ev.Fns)) {
		return fault(-1)
	}
	delta, cmp, swap := r.Delta&mask(e), r.Cmp&mask(e), r.Swap&mask(e)
	switch r.Op {
	case S2V, V2V:
		nv := append([]byte(nil), r.Value...) // trailing bytes stay
		for i := 0; i < n; i++ {
			el := get(r.Value, i, eb)
			var v uint64
			var f bool
			var err error
			if r.Op == S2V {
				v, f, err = ev.Eval(r.Fid, el, delta, cmp, swap)
			} else {
				var d uint64
				if eb*(i+1) <= len(r.Dvec) {
					d = get(r.Dvec, i, eb)
				}
				v, f, err = ev.Eval(r.Fid, el, d, 0, 0)
			}
			if err != nil {
				return Result{}, err
			}
			if f {
				return fault(i)
			}
			put(nv, i, eb, v)
		}
		res.New = nv
		res.Resp = append([]byte(nil), r.Value...)
	case Reduce:
		acc := delta
		for i := 0; i < n; i++ {
			v, f, err := ev.Eval(r.Fid, acc, get(r.Value, i, eb), cmp, swap)
			if err != nil {
				return Result{}, err
			}
			if f {
				return fault(i)
			}
			acc = v
		}
		res.New = append([]byte(nil), r.Value...)
		res.Resp = binary.LittleEndian.AppendUint64(nil, acc)
	case Filter:
		res.Resp = []byte{}
		for i := 0; i < n; i++ {
			el := get(r.Value, i, eb)
			v, f, err := ev.Eval(r.Fid, el, delta, cmp, swap)
			if err != nil {
				return Result{}, err
			}
			if f {
				return fault(i)
			}
			if v != 0 {
				res.Resp = append(res.Resp, r.Value[eb*i:eb*(i+1)]...)
				res.Kept++
			}
		}
		res.New = append([]byte(nil), r.Value...)
	default:
		return Result{}, fmt.Errorf("vector: operation code %d: in_op is %d bits", r.Op, OpBits)
	}
	return res, nil
}

// get reads element i (eb bytes, little-endian) of b.
func get(b []byte, i, eb int) uint64 {
	var v uint64
	for k := eb - 1; k >= 0; k-- {
		v = v<<8 | uint64(b[eb*i+k])
	}
	return v
}

// put writes the low eb bytes of v as element i of b.
func put(b []byte, i, eb int, v uint64) {
	for k := 0; k < eb; k++ {
		b[eb*i+k] = byte(v >> (8 * k))
	}
}

func mask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(w) - 1
}
