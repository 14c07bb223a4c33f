package ir

import (
	"fmt"
	"math/big"
	"strings"
)

// Expr is a Verilog expression with a width known when it is built. A
// construction error (mismatched widths, a slice out of range) is carried in
// a *Bad node and reported by the module when the expression is used, so
// generators can build expressions fluently and still get every error.
type Expr interface {
	Width() int
	String() string // a short description for error messages
}

// Bad is an expression that could not be built.
type Bad struct{ Err error }

func (b *Bad) Width() int     { return 0 }
func (b *Bad) String() string { return "<error>" }

func bad(format string, args ...any) *Bad { return &Bad{Err: fmt.Errorf(format, args...)} }

// Const is a sized constant of any width.
type Const struct {
	W int
	V *big.Int
}

func (c *Const) Width() int     { return c.W }
func (c *Const) String() string { return fmt.Sprintf("%d'h%s", c.W, c.V.Text(16)) }

// C is a constant of width w; a value that does not fit is an error.
func C(w int, v uint64) Expr {
	return CBig(w, new(big.Int).SetUint64(v))
}

// CBig is a constant of width w from a big integer.
func CBig(w int, v *big.Int) Expr {
	if w <= 0 {
		return bad("constant %s: width %d is not positive", v.Text(16), w)
	}
	if v.Sign() < 0 || v.BitLen() > w {
		return bad("constant %s does not fit in %d bits", v.Text(16), w)
	}
	return &Const{W: w, V: new(big.Int).Set(v)}
}

// Ones is the all-ones constant of width w.
func Ones(w int) Expr {
	v := new(big.Int).Lsh(big.NewInt(1), uint(w))
	return CBig(w, v.Sub(v, big.NewInt(1)))
}

// Slice is X[Hi:Lo].
type Slice struct {
	X      Expr
	Hi, Lo int
}

func (s *Slice) Width() int     { return s.Hi - s.Lo + 1 }
func (s *Slice) String() string { return fmt.Sprintf("%s[%d:%d]", s.X, s.Hi, s.Lo) }

// Bits selects bits hi..lo of x.
func Bits(x Expr, hi, lo int) Expr {
	if b, ok := x.(*Bad); ok {
		return b
	}
	if lo < 0 || hi < lo || hi >= x.Width() {
		return bad("slice %s[%d:%d] is outside its %d bits", x, hi, lo, x.Width())
	}
	if lo == 0 && hi == x.Width()-1 {
		return x
	}
	if s, ok := x.(*Slice); ok {
		return &Slice{X: s.X, Hi: s.Lo + hi, Lo: s.Lo + lo}
	}
	if _, ok := x.(*Signal); !ok {
		// Verilog-2005 cannot slice an arbitrary expression.
		return bad("slice of %s: only signals can be sliced; assign it to a wire first", x)
	}
	return &Slice{X: x, Hi: hi, Lo: lo}
}

// Bit selects one constant bit.
func Bit(x Expr, i int) Expr { return Bits(x, i, i) }

// Index is X[I] with a variable bit index.
type Index struct {
	X Expr
	I Expr
}

func (x *Index) Width() int     { return 1 }
func (x *Index) String() string { return fmt.Sprintf("%s[%s]", x.X, x.I) }

// BitAt selects one bit by a variable index.
func BitAt(x, i Expr) Expr {
	if e := firstBad(x, i); e != nil {
		return e
	}
	if _, ok := x.(*Signal); !ok {
		return bad("index of %s: only signals can be indexed", x)
	}
	if 1<<uint(min(i.Width(), 30)) > 2*x.Width() && x.Width() > 1 {
		// A wider index than needed is legal but usually a mistake.
		return bad("index %s (%d bits) is wider than %s (%d bits) needs", i, i.Width(), x, x.Width())
	}
	return &Index{X: x, I: i}
}

// Concat is {Parts...}, most significant part first, as in Verilog.
type Concat struct{ Parts []Expr }

func (c *Concat) Width() int {
	w := 0
	for _, p := range c.Parts {
		w += p.Width()
	}
	return w
}
func (c *Concat) String() string {
	s := make([]string, len(c.Parts))
	for i, p := range c.Parts {
		s[i] = p.String()
	}
	return "{" + strings.Join(s, ", ") + "}"
}

// Cat concatenates, most significant first.
func Cat(parts ...Expr) Expr {
	if e := firstBad(parts...); e != nil {
		return e
	}
	if len(parts) == 0 {
		return bad("empty concatenation")
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return &Concat{Parts: append([]Expr(nil), parts...)}
}

// Repl is {N{X}}.
type Repl struct {
	N int
	X Expr
}

func (r *Repl) Width() int     { return r.N * r.X.Width() }
func (r *Repl) String() string { return fmt.Sprintf("{%d{%s}}", r.N, r.X) }

// Rep replicates x n times.
func Rep(n int, x Expr) Expr {
	if e := firstBad(x); e != nil {
		return e
	}
	if n < 1 {
		return bad("replication of %s %d times", x, n)
	}
	if n == 1 {
		return x
	}
	return &Repl{N: n, X: x}
}

// Zext widens x to w bits with zeros.
func Zext(x Expr, w int) Expr {
	if e := firstBad(x); e != nil {
		return e
	}
	switch {
	case w == x.Width():
		return x
	case w < x.Width():
		return bad("zero-extend %s from %d to %d bits narrows it", x, x.Width(), w)
	}
	return Cat(C(w-x.Width(), 0), x)
}

// Unary is a prefix operator: ~ ! - and the reductions & | ^.
type Unary struct {
	Op string
	X  Expr
}

func (u *Unary) Width() int {
	if u.Op == "~" || u.Op == "-" {
		return u.X.Width()
	}
	return 1
}
func (u *Unary) String() string { return u.Op + u.X.String() }

func unary(op string, x Expr) Expr {
	if e := firstBad(x); e != nil {
		return e
	}
	if op == "!" && x.Width() != 1 {
		return bad("!%s: logical not of %d bits; compare with zero instead", x, x.Width())
	}
	return &Unary{Op: op, X: x}
}

func Not(x Expr) Expr  { return unary("~", x) }
func LNot(x Expr) Expr { return unary("!", x) }
func Neg(x Expr) Expr  { return unary("-", x) }
func AndR(x Expr) Expr { return unary("&", x) }
func OrR(x Expr) Expr  { return unary("|", x) }
func XorR(x Expr) Expr { return unary("^", x) }

// Binary is an infix operator.
type Binary struct {
	Op   string
	A, B Expr
}

func (b *Binary) Width() int {
	switch b.Op {
	case "==", "!=", "<", "<=", ">", ">=", "&&", "||":
		return 1
	}
	return b.A.Width()
}
func (b *Binary) String() string { return "(" + b.A.String() + " " + b.Op + " " + b.B.String() + ")" }

func binary(op string, a, b Expr) Expr {
	if e := firstBad(a, b); e != nil {
		return e
	}
	if op != "<<" && op != ">>" && op != "&&" && op != "||" && signed(a) != signed(b) {
		return bad("%s %s %s: one operand is signed and the other is not", a, op, b)
	}
	switch op {
	case "<<", ">>":
		// The shift amount is self-determined in Verilog; any width is exact.
	case "&&", "||":
		if a.Width() != 1 || b.Width() != 1 {
			return bad("%s %s %s: logical operands must be 1 bit (got %d and %d)", a, op, b, a.Width(), b.Width())
		}
	default:
		if a.Width() != b.Width() {
			return bad("%s %s %s: operand widths differ (%d and %d bits)", a, op, b, a.Width(), b.Width())
		}
	}
	return &Binary{Op: op, A: a, B: b}
}

func Add(a, b Expr) Expr  { return binary("+", a, b) }
func Sub(a, b Expr) Expr  { return binary("-", a, b) }
func Mul(a, b Expr) Expr  { return binary("*", a, b) }
func And(a, b Expr) Expr  { return binary("&", a, b) }
func Or(a, b Expr) Expr   { return binary("|", a, b) }
func Xor(a, b Expr) Expr  { return binary("^", a, b) }
func Shl(a, n Expr) Expr  { return binary("<<", a, n) }
func Shr(a, n Expr) Expr  { return binary(">>", a, n) }
func Eq(a, b Expr) Expr   { return binary("==", a, b) }
func Ne(a, b Expr) Expr   { return binary("!=", a, b) }
func Lt(a, b Expr) Expr   { return binary("<", a, b) }
func Le(a, b Expr) Expr   { return binary("<=", a, b) }
func Gt(a, b Expr) Expr   { return binary(">", a, b) }
func Ge(a, b Expr) Expr   { return binary(">=", a, b) }
func LAnd(a, b Expr) Expr { return binary("&&", a, b) }
func LOr(a, b Expr) Expr  { return binary("||", a, b) }

// AndAll folds & over operands of equal width (one operand returns itself).
func AndAll(xs ...Expr) Expr { return fold("&", xs) }

// OrAll folds | over operands of equal width.
func OrAll(xs ...Expr) Expr { return fold("|", xs) }

// XorAll folds ^ over operands of equal width.
func XorAll(xs ...Expr) Expr { return fold("^", xs) }

func fold(op string, xs []Expr) Expr {
	if len(xs) == 0 {
		return bad("%s of no operands", op)
	}
	acc := xs[0]
	for _, x := range xs[1:] {
		acc = binary(op, acc, x)
	}
	return acc
}

// Mux is Cond ? T : F.
type Mux struct{ Cond, T, F Expr }

func (m *Mux) Width() int     { return m.T.Width() }
func (m *Mux) String() string { return fmt.Sprintf("(%s ? %s : %s)", m.Cond, m.T, m.F) }

// Sel is cond ? t : f.
func Sel(cond, t, f Expr) Expr {
	if e := firstBad(cond, t, f); e != nil {
		return e
	}
	if cond.Width() != 1 {
		return bad("%s ? ...: condition is %d bits, want 1", cond, cond.Width())
	}
	if t.Width() != f.Width() {
		return bad("%s ? %s : %s: branch widths differ (%d and %d bits)", cond, t, f, t.Width(), f.Width())
	}
	return &Mux{Cond: cond, T: t, F: f}
}

// MemRead is Mem[Addr].
type MemRead struct {
	Mem  *Memory
	Addr Expr
}

func (r *MemRead) Width() int     { return r.Mem.Width }
func (r *MemRead) String() string { return fmt.Sprintf("%s[%s]", r.Mem.Name, r.Addr) }

// Read is a read of memory m at addr.
func (m *Memory) Read(addr Expr) Expr {
	if e := firstBad(addr); e != nil {
		return e
	}
	if addr.Width() != m.AddrWidth() {
		return bad("%s[%s]: address is %d bits, memory needs %d", m.Name, addr, addr.Width(), m.AddrWidth())
	}
	return &MemRead{Mem: m, Addr: addr}
}

// ParamRef is a use of a parameter's value; parameters are 32-bit integers.
type ParamRef struct{ P *Param }

func (p *ParamRef) Width() int     { return 32 }
func (p *ParamRef) String() string { return p.P.Name }

// signed reports whether e is a signed signal (the only signed leaves).
func signed(e Expr) bool {
	switch x := e.(type) {
	case *Signal:
		return x.Signed
	case *Binary:
		return x.Op != "==" && x.Op != "!=" && x.Op != "<" && x.Op != "<=" && x.Op != ">" && x.Op != ">=" && signed(x.A)
	case *Unary:
		return (x.Op == "-" || x.Op == "~") && signed(x.X)
	case *Mux:
		return signed(x.T)
	}
	return false
}

func firstBad(xs ...Expr) Expr {
	for _, x := range xs {
		if x == nil {
			return bad("nil expression")
		}
		if b, ok := x.(*Bad); ok {
			return b
		}
	}
	return nil
}

// Walk calls f on e and every sub-expression, parents first.
func Walk(e Expr, f func(Expr)) {
	f(e)
	switch x := e.(type) {
	case *Slice:
		Walk(x.X, f)
	case *Index:
		Walk(x.X, f)
		Walk(x.I, f)
	case *Concat:
		for _, p := range x.Parts {
			Walk(p, f)
		}
	case *Repl:
		Walk(x.X, f)
	case *Unary:
		Walk(x.X, f)
	case *Binary:
		Walk(x.A, f)
		Walk(x.B, f)
	case *Mux:
		Walk(x.Cond, f)
		Walk(x.T, f)
		Walk(x.F, f)
	case *MemRead:
		Walk(x.Addr, f)
	}
}
