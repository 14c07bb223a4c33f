package memsys

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

func width(n int) int { return max(1, bits.Len(uint(n))) } // bits to hold 0..n

func clog2(n int) int { // bits to index 0..n-1
	return max(1, bits.Len(uint(n-1)))
}

func k(w int, v uint64) ir.Expr { return ir.C(w, v) }

func c1(v bool) ir.Expr {
	if v {
		return ir.C(1, 1)
	}
	return ir.C(1, 0)
}

// fit zero-extends or truncates x to w bits.
func (g *gen) fit(x ir.Expr, w int) ir.Expr {
	switch {
	case x.Width() == w:
		return x
	case x.Width() < w:
		return ir.Zext(x, w)
	}
	return g.bitsOf(x, w-1, 0)
}

// sigOf returns x as a signal, declaring a wire for an expression.
func (g *gen) sigOf(x ir.Expr) ir.Expr {
	switch x.(type) {
	case *ir.Signal, *ir.Const:
		return x
	}
	g.tmp++
	return g.wire(fmt.Sprintf("tmp%d", g.tmp), x)
}

func (g *gen) bitsOf(x ir.Expr, hi, lo int) ir.Expr { return ir.Bits(g.sigOf(x), hi, lo) }
func (g *gen) bitOf(x ir.Expr, i int) ir.Expr       { return ir.Bit(g.sigOf(x), i) }

// pick selects vals[sel] by a balanced mux tree; out-of-range selects the last.
func (g *gen) pick(sel ir.Expr, vals []ir.Expr) ir.Expr {
	if len(vals) == 1 {
		return vals[0]
	}
	var rec func(bit int, base int, n int) ir.Expr
	rec = func(bit, base, n int) ir.Expr {
		if bit < 0 || n <= 1 {
			return vals[min(base, len(vals)-1)]
		}
		half := 1 << uint(bit)
		if base+half >= len(vals) {
			return rec(bit-1, base, n)
		}
		return ir.Sel(g.bitOf(sel, bit), rec(bit-1, base+half, n-half), rec(bit-1, base, half))
	}
	w := sel.Width()
	return rec(w-1, 0, 1<<uint(w))
}

// splitmix64 is the matrix generator of docs/microarch.md §2.2.
type splitmix64 struct{ state uint64 }

func (s *splitmix64) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// rows returns n rows of w bits of hash function f.
func rows(seed uint64, f, n, w int) []uint64 {
	g := splitmix64{state: seed ^ (uint64(f+1) * 0xD1B54A32D192ED03)}
	out := make([]uint64, n)
	for i := range out {
		out[i] = g.next() & (1<<uint(w) - 1)
	}
	return out
}

// h3 is the XOR of rows[i] over the set bits i of x (len(rows) = x's width),
// as an expression of w bits.
func (g *gen) h3(x ir.Expr, rws []uint64, w int) ir.Expr {
	parts := make([]ir.Expr, w)
	for j := 0; j < w; j++ {
		var terms []ir.Expr
		for i, r := range rws {
			if r>>uint(j)&1 != 0 {
				terms = append(terms, g.bitOf(x, i))
			}
		}
		if len(terms) == 0 {
			parts[w-1-j] = k(1, 0)
		} else {
			parts[w-1-j] = ir.XorAll(terms...)
		}
	}
	return ir.Cat(parts...)
}

// layout packs named fields into a vector, the first field lowest.
type layout struct {
	g     *gen // slices of an expression need wires in its module
	name  string
	order []string
	lo    map[string]int
	w     map[string]int
	W     int
}

func (g *gen) newLayout(name string) *layout {
	return &layout{g: g, name: name, lo: map[string]int{}, w: map[string]int{}}
}

func (l *layout) add(name string, w int) *layout {
	l.order = append(l.order, name)
	l.lo[name] = l.W
	l.w[name] = w
	l.W += w
	return l
}

func (l *layout) get(e ir.Expr, name string) ir.Expr {
	w, ok := l.w[name]
	if !ok {
		panic(fmt.Sprintf("layout %s: no field %s", l.name, name))
	}
	return l.g.bitsOf(e, l.lo[name]+w-1, l.lo[name])
}

func (l *layout) pack(vals map[string]ir.Expr) ir.Expr {
	parts := make([]ir.Expr, 0, len(l.order))
	for i := len(l.order) - 1; i >= 0; i-- {
		n := l.order[i]
		v, ok := vals[n]
		if !ok {
			v = k(l.w[n], 0)
		} else if v.Width() != l.w[n] {
			panic(fmt.Sprintf("layout %s: field %s is %d bits, value %d", l.name, n, l.w[n], v.Width()))
		}
		parts = append(parts, v)
	}
	for n := range vals {
		if _, ok := l.w[n]; !ok {
			panic(fmt.Sprintf("layout %s: no field %s", l.name, n))
		}
	}
	return ir.Cat(parts...)
}
