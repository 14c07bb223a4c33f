package lambda

import (
	"fmt"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

// value is a compiled node: its logic (W bits for an integer, 1 bit for a
// boolean) and the condition under which expr would fail evaluating it
// (nil: never). Faults follow expr's evaluation order: only what expr
// evaluates can fail, so the untaken branch of ?: and the right side of a
// short-circuited && or || do not count.
type value struct {
	e     ir.Expr
	fault ir.Expr
	// konst holds the W-bit pattern of an integer known when the RTL is
	// generated: constant shift amounts then need no fault logic, and
	// bounds such as bitushr(-1, 1) read as numbers in the Verilog.
	konst *uint64
}

func (c *compiler) constant(k uint64) value {
	k &= mask(c.w)
	return value{e: ir.C(c.w, k), konst: &k}
}

// compiler builds checked λs into module m, on W-bit operand signals.
type compiler struct {
	m      *ir.Module
	w      int
	ops    [4]ir.Expr // the registered operands, by index into Operands
	prefix string     // names of the current λ's wires start with it
	lets   map[*node]ir.Expr
	divs   int
	names  map[string]bool // wire names taken (λ and let names may combine alike)
}

func (c *compiler) wire(base string, w int, e ir.Expr) *ir.Signal {
	name := base
	for i := 2; c.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	c.names[name] = true
	s := c.m.Wire(name, w)
	c.m.Assign(s, e)
	return s
}

func (c *compiler) min() ir.Expr { return ir.C(c.w, 1<<uint(c.w-1)) }

// isNeg is the sign bit of a W-bit expression (only signals can be sliced).
func (c *compiler) isNeg(x ir.Expr) ir.Expr { return ir.Ge(x, c.min()) }

// slt is the signed a < b: flipping both sign bits turns it unsigned.
func (c *compiler) slt(a, b ir.Expr) ir.Expr {
	fa, fb := c.flipSign(a), c.flipSign(b)
	ka, aConst := fa.(*ir.Const)
	kb, bConst := fb.(*ir.Const)
	switch {
	case aConst && bConst:
		if ka.V.Cmp(kb.V) < 0 {
			return ir.C(1, 1)
		}
		return ir.C(1, 0)
	case aConst && ka.V.Uint64() == mask(c.w), bConst && kb.V.Sign() == 0:
		// Nothing is above the maximum or below the minimum; Verilator
		// warns about a comparison that cannot be true.
		return ir.C(1, 0)
	}
	return ir.Lt(fa, fb)
}

func (c *compiler) flipSign(x ir.Expr) ir.Expr {
	if k, ok := x.(*ir.Const); ok {
		return ir.C(c.w, k.V.Uint64()^(1<<uint(c.w-1)))
	}
	return ir.Xor(x, c.min())
}

func orFault(a, b ir.Expr) ir.Expr {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return ir.LOr(a, b)
}

func (c *compiler) compile(n *node) value {
	arg := func(i int) value { return c.compile(n.args[i]) }
	switch n.op {
	case opOperand:
		return value{e: c.ops[n.operand]}
	case opConst:
		return c.constant(n.value)
	case opBoolConst:
		return value{e: ir.C(1, n.value)}
	case opRef:
		return value{e: c.lets[n.args[0]]}
	case opLet:
		v := arg(0)
		c.lets[n.args[0]] = c.wire(c.prefix+"_"+n.name, v.e.Width(), v.e)
		body := arg(1)
		return value{e: body.e, fault: orFault(v.fault, body.fault)}
	case opNeg, opNot, opBitNot, opAbs:
		a := arg(0)
		if a.konst != nil && n.op == opNeg {
			return c.constant(-*a.konst)
		}
		if a.konst != nil && n.op == opBitNot {
			return c.constant(^*a.konst)
		}
		var e ir.Expr
		switch n.op {
		case opNeg:
			e = ir.Neg(a.e)
		case opNot:
			e = ir.LNot(a.e)
		case opBitNot:
			e = ir.Not(a.e)
		default:
			e = ir.Sel(c.isNeg(a.e), ir.Neg(a.e), a.e)
		}
		return value{e: e, fault: a.fault}
	case opLAnd, opLOr:
		a, b := arg(0), arg(1)
		fault := a.fault
		if b.fault != nil {
			// expr evaluates the right side only when the left does not
			// decide the result.
			taken := a.e
			if n.op == opLOr {
				taken = ir.LNot(a.e)
			}
			fault = orFault(fault, ir.LAnd(taken, b.fault))
		}
		if n.op == opLAnd {
			return value{e: ir.LAnd(a.e, b.e), fault: fault}
		}
		return value{e: ir.LOr(a.e, b.e), fault: fault}
	case opCond:
		cond, a, b := arg(0), arg(1), arg(2)
		var branch ir.Expr
		switch {
		case a.fault != nil && b.fault != nil:
			branch = ir.Sel(cond.e, a.fault, b.fault)
		case a.fault != nil:
			branch = ir.LAnd(cond.e, a.fault)
		case b.fault != nil:
			branch = ir.LAnd(ir.LNot(cond.e), b.fault)
		}
		return value{e: ir.Sel(cond.e, a.e, b.e), fault: orFault(cond.fault, branch)}
	case opMax, opMin:
		acc := arg(0)
		for i := 1; i < len(n.args); i++ {
			x := arg(i)
			var pick ir.Expr
			if n.op == opMax {
				pick = c.slt(acc.e, x.e)
			} else {
				pick = c.slt(x.e, acc.e)
			}
			e := ir.Sel(pick, x.e, acc.e)
			if i < len(n.args)-1 {
				// Each step reads acc twice: a wire keeps the text linear.
				e = c.wire(c.prefix+"_"+map[op]string{opMax: "max", opMin: "min"}[n.op], c.w, e)
			}
			acc = value{e: e, fault: orFault(acc.fault, x.fault)}
		}
		return acc
	}

	a, b := arg(0), arg(1)
	fault := orFault(a.fault, b.fault)
	var e ir.Expr
	switch n.op {
	case opAdd:
		e = ir.Add(a.e, b.e)
	case opSub:
		e = ir.Sub(a.e, b.e)
	case opMul:
		e = ir.Mul(a.e, b.e)
	case opAnd:
		e = ir.And(a.e, b.e)
	case opOr:
		e = ir.Or(a.e, b.e)
	case opXor:
		e = ir.Xor(a.e, b.e)
	case opAndNot:
		e = ir.And(a.e, ir.Not(b.e))
	case opShl, opShr, opUShr:
		// A shift amount is a W-bit value read unsigned: amounts of W or
		// more shift everything out, as Go's do; negative ones fail in expr
		// (Check refuses negative constants).
		if b.konst == nil {
			fault = orFault(fault, c.isNeg(b.e))
		} else if a.konst != nil {
			return c.constant(c.shiftConst(n.op, *a.konst, *b.konst))
		}
		switch n.op {
		case opShl:
			e = ir.Shl(a.e, b.e)
		case opUShr:
			e = ir.Shr(a.e, b.e)
		default:
			// Arithmetic: the bits shifted in from the top copy the sign.
			fill := ir.And(ir.Rep(c.w, c.isNeg(a.e)), ir.Not(ir.Shr(ir.Ones(c.w), b.e)))
			e = ir.Or(ir.Shr(a.e, b.e), fill)
		}
	case opEq:
		e = ir.Eq(a.e, b.e)
	case opNe:
		e = ir.Ne(a.e, b.e)
	case opLt:
		e = c.slt(a.e, b.e)
	case opGt:
		e = c.slt(b.e, a.e)
	case opLe:
		e = ir.LNot(c.slt(b.e, a.e))
	case opGe:
		e = ir.LNot(c.slt(a.e, b.e))
	case opDiv, opMod:
		fault = orFault(fault, ir.Eq(b.e, ir.C(c.w, 0)))
		e = c.divide(a.e, b.e, n.op == opMod)
	default:
		panic(fmt.Sprintf("lambda: op %d has no logic", n.op))
	}
	return value{e: e, fault: fault}
}

// divide builds Go's signed division (quotient truncated toward zero,
// remainder with the dividend's sign) from a restoring divider on the
// magnitudes: W stages, each a compare and a subtract. The result for a
// zero divisor is meaningless; the caller marks it as a fault.
func (c *compiler) divide(a, b ir.Expr, mod bool) ir.Expr {
	w := c.w
	p := fmt.Sprintf("%s_div%d", c.prefix, c.divs)
	c.divs++
	sa := c.wire(p+"_a_neg", 1, c.isNeg(a))
	sb := c.wire(p+"_b_neg", 1, c.isNeg(b))
	// |MIN| = 2^(W-1) still fits W bits read unsigned.
	ua := c.wire(p+"_ua", w, ir.Sel(sa, ir.Neg(a), a))
	ub := c.wire(p+"_ub", w, ir.Sel(sb, ir.Neg(b), b))
	ubWide := ir.Zext(ub, w+1)
	q := make([]ir.Expr, w) // most significant first
	var rem *ir.Signal
	for j := 0; j < w; j++ {
		var high ir.Expr = ir.C(w, 0)
		if rem != nil {
			high = rem
		}
		// The partial remainder is below |b|, so shifted it fits W+1 bits.
		sh := c.wire(fmt.Sprintf("%s_sh%d", p, j), w+1, ir.Cat(high, ir.Bit(ua, w-1-j)))
		ge := c.wire(fmt.Sprintf("%s_q%d", p, j), 1, ir.Ge(sh, ubWide))
		q[j] = ge
		if j < w-1 || mod {
			// When sh >= |b| the difference fits W bits, so the subtract
			// need not be wider.
			low := ir.Bits(sh, w-1, 0)
			rem = c.wire(fmt.Sprintf("%s_r%d", p, j), w, ir.Sel(ge, ir.Sub(low, ub), low))
		}
	}
	if mod {
		return ir.Sel(sa, ir.Neg(rem), rem)
	}
	uq := ir.Cat(q...)
	return ir.Sel(ir.Xor(sa, sb), ir.Neg(uq), uq)
}

// shiftConst shifts a constant W-bit pattern v by a non-negative amount.
func (c *compiler) shiftConst(o op, v, amount uint64) uint64 {
	if amount >= uint64(c.w) {
		if o == opShr && v>>uint(c.w-1)&1 == 1 {
			return mask(c.w)
		}
		return 0
	}
	switch o {
	case opShl:
		return v << amount
	case opUShr:
		return v >> amount
	}
	// Sign-extend to 64 bits, shift arithmetically, then keep W bits.
	sext := int64(v<<uint(64-c.w)) >> uint(64-c.w)
	return uint64(sext >> amount)
}
