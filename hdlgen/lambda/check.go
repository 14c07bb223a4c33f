// Package lambda compiles the registered λ functions (expressions in expr's
// language) into fixed-width combinational logic, and generates kvd_atomic,
// the unit that applies one of them per request (docs/microarch/lambda.md).
//
// Checking is separate from building: Check parses every λ with expr's own
// parser and type-checks the syntax tree against the subset hardware can
// build, so a λ outside it is refused before any Verilog exists, with its
// position and the reason.
package lambda

import (
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/kvdirect/kvd/config"
)

// Operands are the λ variables, in port order (docs/microarch/lambda.md §1).
var Operands = []string{"old", "delta", "cmp", "swap"}

// typ is the type of a checked node: a W-bit integer or a 1-bit boolean.
type typ int

const (
	tVal typ = iota
	tBool
)

func (t typ) String() string {
	if t == tVal {
		return "an integer"
	}
	return "a boolean"
}

// op is what a checked node computes.
type op int

const (
	opOperand   op = iota // node.operand names the variable
	opConst               // node.value
	opBoolConst           // node.value is 0 or 1
	opRef                 // a use of a let variable: args[0] is its value
	opLet                 // args[0] is the value, args[1] the body
	opNeg
	opNot
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opAnd
	opOr
	opXor
	opAndNot
	opBitNot
	opShl
	opShr
	opUShr
	opEq
	opNe
	opLt
	opLe
	opGt
	opGe
	opLAnd
	opLOr
	opMax
	opMin
	opAbs
	opCond
)

// node is one checked, typed node of a λ.
type node struct {
	op      op
	typ     typ
	operand int    // index into Operands for opOperand
	value   uint64 // the W-bit pattern of a constant
	name    string // of a let
	args    []*node
}

// Func is one checked λ.
type Func struct {
	Index int    // its function id
	Name  string // from the configuration
	Src   string
	// Uses[i] tells whether Operands[i] appears in the λ.
	Uses [4]bool
	// Bool is set when the λ's value is a boolean (it yields 0 or 1).
	Bool bool
	root *node
}

// Error is a λ that cannot be built, with where and why.
type Error struct {
	Index     int
	Name, Src string
	Line, Col int    // 1-based, in runes
	Near      string // the source text of the offending construct
	Why       string
}

func (e *Error) Error() string {
	near := ""
	if e.Near != "" {
		near = fmt.Sprintf(" at %q", e.Near)
	}
	return fmt.Sprintf("atomic.lambdas[%d] %s = %q: %d:%d%s: %s", e.Index, e.Name, oneLine(e.Src), e.Line, e.Col, near, e.Why)
}

// oneLine flattens a λ's source for messages and Verilog comments; "*/"
// (expr has block comments) would end the module's header comment.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "*/", "* /")
}

// builtins are expr's built-in functions the subset keeps, with their
// argument counts (-2: two or more).
var builtins = map[string]int{
	"bitand": 2, "bitor": 2, "bitxor": 2, "bitnand": 2, "bitnot": 1,
	"bitshl": 2, "bitshr": 2, "bitushr": 2,
	"max": -2, "min": -2, "abs": 1,
}

func builtinNames() string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Check parses and type-checks every λ of cfg.
func Check(cfg config.Config) ([]*Func, error) {
	var fns []*Func
	for i, l := range cfg.Atomic.Lambdas {
		f, err := checkOne(i, l, cfg.Atomic.ScalarBits, cfg.Atomic.Division)
		if err != nil {
			return nil, err
		}
		fns = append(fns, f)
	}
	return fns, nil
}

type checker struct {
	f        *Func
	w        int
	division bool
	runes    []rune
	scope    []*binding
}

type binding struct {
	name  string
	value *node
	used  bool
}

type refusal struct {
	loc file.Location
	why string
}

func (c *checker) fail(n ast.Node, format string, args ...any) {
	panic(refusal{loc: n.Location(), why: fmt.Sprintf(format, args...)})
}

func checkOne(index int, l config.Lambda, w int, division bool) (f *Func, err error) {
	f = &Func{Index: index, Name: l.Name, Src: l.Expr}
	c := &checker{f: f, w: w, division: division, runes: []rune(f.Src)}
	tree, perr := parser.Parse(f.Src)
	if perr != nil {
		e := &Error{Index: index, Name: l.Name, Src: f.Src, Why: "syntax: " + perr.Error()}
		if fe, ok := perr.(*file.Error); ok {
			e.Why = "syntax: " + fe.Message
			e.Line, e.Col = c.position(fe.From)
			e.Near = c.near(fe.Location)
		}
		return nil, e
	}
	defer func() {
		if r := recover(); r != nil {
			ref, ok := r.(refusal)
			if !ok {
				panic(r)
			}
			e := &Error{Index: index, Name: l.Name, Src: f.Src, Why: ref.why, Near: c.near(ref.loc)}
			e.Line, e.Col = c.position(ref.loc.From)
			f, err = nil, e
		}
	}()
	f.root = c.check(tree.Node)
	f.Bool = f.root.typ == tBool
	return f, nil
}

// position turns a rune offset into a 1-based line and column.
func (c *checker) position(off int) (line, col int) {
	line, col = 1, 1
	for i, r := range c.runes {
		if i == off {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func (c *checker) near(loc file.Location) string {
	from, to := loc.From, loc.To
	if from < 0 || from >= len(c.runes) {
		return ""
	}
	if to <= from || to > len(c.runes) {
		to = from + 1
	}
	return string(c.runes[from:to])
}

func (c *checker) want(n ast.Node, t typ, what string) *node {
	x := c.check(n)
	if x.typ != t {
		if t == tBool {
			c.fail(n, "%s needs a boolean, got an integer (compare it, e.g. x != 0)", what)
		}
		c.fail(n, "%s needs an integer, got a boolean (booleans become 0/1 only as a λ's whole result, or through c ? 1 : 0)", what)
	}
	return x
}

func (c *checker) check(n ast.Node) *node {
	switch x := n.(type) {
	case *ast.IntegerNode:
		return c.literal(n, x.Value)
	case *ast.BoolNode:
		v := uint64(0)
		if x.Value {
			v = 1
		}
		return &node{op: opBoolConst, typ: tBool, value: v}
	case *ast.IdentifierNode:
		for i := len(c.scope) - 1; i >= 0; i-- {
			if b := c.scope[i]; b.name == x.Value {
				b.used = true
				return &node{op: opRef, typ: b.value.typ, args: []*node{b.value}}
			}
		}
		for i, name := range Operands {
			if name == x.Value {
				c.f.Uses[i] = true
				return &node{op: opOperand, typ: tVal, operand: i}
			}
		}
		c.fail(n, "unknown name %q (the operands are %s)", x.Value, strings.Join(Operands, ", "))
	case *ast.UnaryNode:
		switch x.Operator {
		case "-":
			return &node{op: opNeg, typ: tVal, args: []*node{c.want(x.Node, tVal, "unary -")}}
		case "+":
			return c.want(x.Node, tVal, "unary +")
		case "!", "not":
			return &node{op: opNot, typ: tBool, args: []*node{c.want(x.Node, tBool, x.Operator)}}
		}
		c.fail(n, "unary %s is not supported", x.Operator)
	case *ast.BinaryNode:
		return c.binary(x)
	case *ast.BuiltinNode:
		return c.builtin(x)
	case *ast.ConditionalNode:
		// The parser places a ?: node after its last branch; point at the
		// parts instead.
		cond := c.want(x.Cond, tBool, "the condition of ?:")
		a, b := c.check(x.Exp1), c.check(x.Exp2)
		if a.typ != b.typ {
			c.fail(x.Exp2, "this branch of ?: is %s but the other is %s; both must be integers or both booleans", b.typ, a.typ)
		}
		return &node{op: opCond, typ: a.typ, args: []*node{cond, a, b}}
	case *ast.VariableDeclaratorNode:
		for _, name := range Operands {
			if name == x.Name {
				c.fail(n, "let %s hides the operand %s; choose another name", x.Name, x.Name)
			}
		}
		for _, b := range c.scope {
			if b.name == x.Name {
				c.fail(n, "let %s is already declared", x.Name)
			}
		}
		if _, isBuiltin := builtins[x.Name]; isBuiltin {
			c.fail(n, "let %s hides the function %s; choose another name", x.Name, x.Name)
		}
		val := c.check(x.Value)
		b := &binding{name: x.Name, value: val}
		c.scope = append(c.scope, b)
		body := c.check(x.Expr)
		c.scope = c.scope[:len(c.scope)-1]
		if !b.used {
			c.fail(n, "let %s is never used", x.Name)
		}
		return &node{op: opLet, typ: body.typ, name: x.Name, args: []*node{val, body}}
	case *ast.FloatNode:
		c.fail(n, "floating-point literal: λs compute on %d-bit integers", c.w)
	case *ast.StringNode, *ast.BytesNode:
		c.fail(n, "strings are not supported: λs compute on %d-bit integers", c.w)
	case *ast.NilNode:
		c.fail(n, "nil is not supported: every λ value is a %d-bit integer or a boolean", c.w)
	case *ast.CallNode:
		c.fail(n, "unknown function %s (hardware λs may call %s)", x.Callee, builtinNames())
	case *ast.MemberNode, *ast.ChainNode:
		c.fail(n, "member access and indexing are not supported: operands are plain integers")
	case *ast.SliceNode:
		c.fail(n, "slices are not supported: operands are plain integers")
	case *ast.ArrayNode:
		c.fail(n, "arrays are not supported: operands are plain integers")
	case *ast.MapNode, *ast.PairNode:
		c.fail(n, "maps are not supported: operands are plain integers")
	case *ast.PredicateNode, *ast.PointerNode:
		c.fail(n, "predicates are not supported")
	case *ast.SequenceNode:
		c.fail(n, "a sequence (;) is not supported: a λ is one expression (use let to name a part)")
	}
	c.fail(n, "%T is not supported", n)
	return nil
}

// literal checks that v fits W bits, as a signed value or as a bit pattern,
// and returns its W-bit pattern.
func (c *checker) literal(n ast.Node, v int) *node {
	if c.w < 64 {
		lo, hi := -(int64(1) << (c.w - 1)), int64(1)<<c.w-1
		if int64(v) < lo || int64(v) > hi {
			c.fail(n, "literal %d does not fit in %d bits (%d..%d)", v, c.w, lo, hi)
		}
	}
	return &node{op: opConst, typ: tVal, value: uint64(v) & mask(c.w)}
}

func mask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(w) - 1
}

var binaryOps = map[string]op{
	"+": opAdd, "-": opSub, "*": opMul, "/": opDiv, "%": opMod,
	"==": opEq, "!=": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe,
	"&&": opLAnd, "and": opLAnd, "||": opLOr, "or": opLOr,
}

func (c *checker) binary(x *ast.BinaryNode) *node {
	o, ok := binaryOps[x.Operator]
	if !ok {
		switch x.Operator {
		case "^", "**":
			c.fail(x, "%s is exponentiation in expr and yields a float; for exclusive or use bitxor(a, b)", x.Operator)
		case "??":
			c.fail(x, "?? (nil coalescing) has no meaning for integers that are never nil")
		case "..":
			c.fail(x, ".. builds an array; arrays are not supported")
		default:
			c.fail(x, "operator %s works on strings or arrays, which λs do not have", x.Operator)
		}
	}
	switch o {
	case opDiv, opMod:
		if !c.division {
			c.fail(x, "division is not enabled (atomic.division=false; enabling it builds a %d-stage divider per / and %%)", c.w)
		}
		a, b := c.want(x.Left, tVal, x.Operator), c.want(x.Right, tVal, x.Operator)
		if v, ok := c.constant(b); ok && v == 0 {
			c.fail(x.Right, "%s by the constant 0 always fails", x.Operator)
		}
		return &node{op: o, typ: tVal, args: []*node{a, b}}
	case opEq, opNe:
		a, b := c.check(x.Left), c.check(x.Right)
		if a.typ != b.typ {
			c.fail(x, "%s compares %s with %s", x.Operator, a.typ, b.typ)
		}
		return &node{op: o, typ: tBool, args: []*node{a, b}}
	case opLt, opLe, opGt, opGe:
		return &node{op: o, typ: tBool, args: []*node{c.want(x.Left, tVal, x.Operator), c.want(x.Right, tVal, x.Operator)}}
	case opLAnd, opLOr:
		return &node{op: o, typ: tBool, args: []*node{c.want(x.Left, tBool, x.Operator), c.want(x.Right, tBool, x.Operator)}}
	}
	return &node{op: o, typ: tVal, args: []*node{c.want(x.Left, tVal, x.Operator), c.want(x.Right, tVal, x.Operator)}}
}

var builtinOps = map[string]op{
	"bitand": opAnd, "bitor": opOr, "bitxor": opXor, "bitnand": opAndNot, "bitnot": opBitNot,
	"bitshl": opShl, "bitshr": opShr, "bitushr": opUShr,
	"max": opMax, "min": opMin, "abs": opAbs,
}

func (c *checker) builtin(x *ast.BuiltinNode) *node {
	want, ok := builtins[x.Name]
	if !ok {
		c.fail(x, "function %s is not supported in hardware (supported: %s)", x.Name, builtinNames())
	}
	switch {
	case want == -2 && len(x.Arguments) < 2:
		c.fail(x, "%s takes two or more integers here, got %d argument(s) (arrays are not supported)", x.Name, len(x.Arguments))
	case want > 0 && len(x.Arguments) != want:
		c.fail(x, "%s takes %d argument(s), got %d", x.Name, want, len(x.Arguments))
	}
	args := make([]*node, len(x.Arguments))
	for i, a := range x.Arguments {
		args[i] = c.want(a, tVal, x.Name)
	}
	o := builtinOps[x.Name]
	if o == opShl || o == opShr || o == opUShr {
		if v, ok := c.constant(args[1]); ok && v>>(uint(c.w)-1)&1 == 1 {
			c.fail(x.Arguments[1], "%s by a negative constant always fails", x.Name)
		}
	}
	return &node{op: o, typ: tVal, args: args}
}

// constant folds a literal, possibly negated, to its W-bit pattern: enough
// to refuse the operations that would fail on every request.
func (c *checker) constant(n *node) (uint64, bool) {
	switch n.op {
	case opConst:
		return n.value, true
	case opNeg:
		if v, ok := c.constant(n.args[0]); ok {
			return -v & mask(c.w), true
		}
	}
	return 0, false
}
