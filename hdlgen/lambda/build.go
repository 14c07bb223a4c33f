package lambda

import (
	"fmt"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// Build compiles every registered λ of cfg into m as single-cycle
// combinational logic on the operand expressions ops (old, delta, cmp, swap;
// each atomic.scalar_bits wide) and selects one by fid. It returns the
// selected value and a 1-bit fault (an unknown fid, or a λ whose evaluation
// fails for these operands, docs/microarch/lambda.md); on a fault the value
// is old. prefix keeps the wires of several instances in one module apart.
// Blocks that chain dependent atomics back to back (the reservation station)
// need this in one cycle, where kvd_atomic registers around it.
func Build(m *ir.Module, cfg config.Config, prefix string, fid ir.Expr, ops [4]ir.Expr) (val, fault ir.Expr, err error) {
	fns, err := Check(cfg)
	if err != nil {
		return nil, nil, err
	}
	w := cfg.Atomic.ScalarBits
	for i, o := range ops {
		if o == nil || o.Width() != w {
			return nil, nil, fmt.Errorf("lambda.Build: operand %s must be %d bits", Operands[i], w)
		}
	}
	c := &compiler{m: m, w: w, lets: map[*node]ir.Expr{}, names: map[string]bool{}, ops: ops}
	val, fault = ops[0], ir.C(1, 1) // no λ matches: keep old, fault
	// A priority chain from the last λ back to the first: each fid compare is
	// a constant match, so synthesis sees a mux of depth log2(N) either way.
	for i := len(fns) - 1; i >= 0; i-- {
		if fid.Width() < 64 && uint64(i) >= 1<<uint(fid.Width()) {
			continue // unreachable with this fid width: build nothing for it
		}
		f := fns[i]
		c.prefix = prefix + "_" + f.Name
		c.divs = 0
		v := c.compile(f.root)
		e := v.e
		if f.Bool {
			e = ir.Zext(e, w)
		}
		sig := c.wire(c.prefix, w, e)
		sig.Comment = fmt.Sprintf("fid %d: %s", f.Index, oneLine(f.Src))
		fv, ff := ir.Expr(sig), ir.C(1, 0)
		if v.fault != nil {
			fs := c.wire(c.prefix+"_fault", 1, v.fault)
			fv, ff = ir.Sel(fs, ops[0], sig), fs
		}
		hit := ir.Eq(fid, ir.C(fid.Width(), uint64(i)))
		val = ir.Sel(hit, fv, val)
		fault = ir.Sel(hit, ff, fault)
	}
	return val, fault, nil
}

// Uses reports which operands (old, delta, cmp, swap) any registered λ of
// cfg reads, so blocks store and route only those.
func Uses(cfg config.Config) ([4]bool, error) {
	fns, err := Check(cfg)
	if err != nil {
		return [4]bool{}, err
	}
	used := [4]bool{true}
	for _, f := range fns {
		for i, u := range f.Uses {
			used[i] = used[i] || u
		}
	}
	return used, nil
}
