// Package refstore is the processor's untimed semantic oracle: the wire
// format's operations (docs/wire-format.md §3.2) executed one at a time, in
// request order, on a map. It knows nothing of buckets, slots or cycles —
// only what a client may observe — so a testbench can check every response
// of the whole processor against it, and the final map against host memory.
package refstore

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/vector"
	"github.com/kvdirect/kvd/wire"
)

// Store is the map and the λs it evaluates.
type Store struct {
	M map[string][]byte

	w      int               // atomic.scalar_bits
	n      int               // registered λs
	scalar *lambda.Evaluator // at W bits (UPDATE_S2S)
	vec    *lambda.Evaluator // at the element width (vector operations)
}

// New is an empty store for cfg's λs and widths.
func New(cfg config.Config) (*Store, error) {
	sc, err := lambda.NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	ve, err := vector.NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	return &Store{M: map[string][]byte{}, w: cfg.Atomic.ScalarBits, n: len(cfg.Atomic.Lambdas), scalar: sc, vec: ve}, nil
}

func mask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(w) - 1
}

// scalar i of an operand field: 8 bytes little-endian, 0 when absent.
func scalar(v []byte, i int) uint64 {
	if len(v) < 8*(i+1) {
		return 0
	}
	return binary.LittleEndian.Uint64(v[8*i:])
}

// first8 reads a stored value as a scalar: its first 8 bytes,
// little-endian, zero-extended (rs.md §4's note on UPDATE_S2S).
func first8(v []byte) uint64 {
	var b [8]byte
	copy(b[:], v)
	return binary.LittleEndian.Uint64(b[:])
}

// Exec applies one well-formed operation (the decoder's checks passed) and
// returns its result. It panics only on a golden-model error (a λ value
// expr should not produce).
func (s *Store) Exec(op wire.Op) wire.Result {
	k := string(op.Key)
	v, found := s.M[k]
	switch op.Code {
	case wire.OpGet:
		if !found {
			return wire.Result{Status: wire.NotFound}
		}
		return wire.Result{Status: wire.OK, Value: slices.Clone(v)}
	case wire.OpPut:
		s.M[k] = slices.Clone(op.Value)
		return wire.Result{Status: wire.OK}
	case wire.OpDelete:
		if !found {
			return wire.Result{Status: wire.NotFound}
		}
		delete(s.M, k)
		return wire.Result{Status: wire.OK}
	case wire.OpUpdateS2S:
		var old uint64
		if found {
			old = first8(v) & mask(s.w)
		}
		if int(op.Fid) >= s.n {
			return wire.Result{Status: wire.LambdaFault}
		}
		m := mask(s.w)
		nv, fault, err := s.scalar.Eval(uint64(op.Fid), old, scalar(op.Value, 0)&m, scalar(op.Value, 1)&m, scalar(op.Value, 2)&m)
		if err != nil {
			panic(fmt.Sprintf("refstore: λ %d: %v", op.Fid, err))
		}
		if fault {
			return wire.Result{Status: wire.LambdaFault}
		}
		s.M[k] = binary.LittleEndian.AppendUint64(nil, nv&m)
		st := wire.OK
		if !found {
			st = wire.NotFound
		}
		return wire.Result{Status: st, Value: binary.LittleEndian.AppendUint64(nil, old)}
	case wire.OpUpdateS2V, wire.OpUpdateV2V, wire.OpReduce, wire.OpFilter:
		if !found {
			return wire.Result{Status: wire.NotFound}
		}
		r := vector.Request{Op: vector.Op(op.Code - wire.OpUpdateS2V), Fid: uint64(op.Fid), Value: v}
		if op.Code == wire.OpUpdateV2V {
			r.Dvec = op.Value
		} else {
			r.Delta, r.Cmp, r.Swap = scalar(op.Value, 0), scalar(op.Value, 1), scalar(op.Value, 2)
		}
		res, err := vector.Exec(s.vec, r)
		if err != nil {
			panic(fmt.Sprintf("refstore: vector reference: %v", err))
		}
		if res.Fault {
			return wire.Result{Status: wire.LambdaFault}
		}
		if op.Code == wire.OpUpdateS2V || op.Code == wire.OpUpdateV2V {
			s.M[k] = slices.Clone(res.New)
		}
		return wire.Result{Status: wire.OK, Value: slices.Clone(res.Resp)}
	}
	panic(fmt.Sprintf("refstore: opcode %d reached execution", op.Code))
}
