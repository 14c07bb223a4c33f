// Package lambda is the golden model of kvd_atomic, the unit that applies
// registered λ functions (docs/microarch/lambda.md). It does not interpret
// the λs itself: each one is compiled once with expr and evaluated by expr's
// virtual machine, so the RTL is checked against expr's own semantics. The
// only things added to expr are those §2 of the document lists: operands
// bound as W-bit two's-complement integers, results reduced to W bits, and
// / defined as integer division.
package lambda

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/kvdirect/kvd/config"
)

// Operands are the λ variables, in port order (§1).
var Operands = [4]string{"old", "delta", "cmp", "swap"}

// env is the environment every λ is compiled against and run in. A struct
// rather than a map: expr reads its fields without hashing, and writing an
// operand is a plain store.
type env struct {
	Old   int `expr:"old"`
	Delta int `expr:"delta"`
	Cmp   int `expr:"cmp"`
	Swap  int `expr:"swap"`
}

// Func is one compiled λ.
type Func struct {
	Name, Src string
	Uses      [4]bool // which operands it names
	prog      *vm.Program
}

// Evaluator evaluates registered λs on W-bit operands. It is not safe for
// concurrent use: it reuses one environment and one virtual machine.
type Evaluator struct {
	W    int
	Fns  []*Func
	mask uint64
	env  env
	vm   vm.VM
}

// errDivZero is what the golden model's integer division reports; expr's
// own % reports Go's run-time error.
var errDivZero = errors.New("integer divide by zero")

// NewEvaluator compiles every λ of cfg with expr.
func NewEvaluator(cfg config.Config) (*Evaluator, error) {
	a := cfg.Atomic
	if a.ScalarBits < 1 || a.ScalarBits > 64 {
		return nil, fmt.Errorf("atomic.scalar_bits = %d: must be 1..64", a.ScalarBits)
	}
	e := &Evaluator{W: a.ScalarBits, mask: mask(a.ScalarBits)}
	for i, l := range a.Lambdas {
		f, err := e.compile(l)
		if err != nil {
			return nil, fmt.Errorf("atomic.lambdas[%d] %s: %v", i, l.Name, oneLine(err.Error()))
		}
		e.Fns = append(e.Fns, f)
	}
	return e, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (e *Evaluator) compile(l config.Lambda) (*Func, error) {
	f := &Func{Name: l.Name, Src: l.Expr}
	tree, err := parser.Parse(l.Expr)
	if err != nil {
		return nil, err
	}
	ast.Find(tree.Node, func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok {
			for i, name := range Operands {
				f.Uses[i] = f.Uses[i] || id.Value == name
			}
		}
		return false
	})
	opts := []expr.Option{
		expr.Env(env{}),
		// Constant folding could turn a failing operation on constants into
		// a compile error; the hardware fails per request instead.
		expr.Optimize(false),
		expr.Function("kvd_div", func(args ...any) (any, error) {
			a, b := args[0].(int), args[1].(int)
			if b == 0 {
				return nil, errDivZero
			}
			// Go's / truncates toward zero and gives MinInt64 / -1 = MinInt64.
			return a / b, nil
		}, new(func(int, int) int)),
		expr.Patch(divPatch{}),
	}
	if e.W < 64 {
		w := e.W
		opts = append(opts,
			expr.Function("kvd_wrap", func(args ...any) (any, error) {
				return sext(uint64(args[0].(int)), w), nil
			}, new(func(int) int)),
			expr.Function("kvd_zext", func(args ...any) (any, error) {
				return int(uint64(args[0].(int)) & mask(w)), nil
			}, new(func(int) int)),
			expr.Patch(wrapPatch{w: w}),
		)
	}
	prog, err := expr.Compile(l.Expr, opts...)
	if err != nil {
		return nil, err
	}
	switch t := prog.Node().Type(); t.Kind() {
	case reflect.Int, reflect.Bool, reflect.Interface:
	default:
		return nil, fmt.Errorf("its value is a %s; a λ yields an integer or a boolean", t)
	}
	f.prog = prog
	return f, nil
}

// divPatch makes / Go's integer division: expr's / always yields a float.
// It runs before wrapPatch, which then wraps the call.
type divPatch struct{}

func (divPatch) Visit(n *ast.Node) {
	if b, ok := (*n).(*ast.BinaryNode); ok && b.Operator == "/" {
		ast.Patch(n, call("kvd_div", b.Left, b.Right))
	}
}

// wrapPatch reduces every integer an operation produces to W bits read
// signed, as a W-bit machine would (§2.2), and hands bitushr the W-bit
// pattern of its operand so that it shifts in zeros at bit W-1, not 63.
type wrapPatch struct{ w int }

func (p wrapPatch) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IntegerNode:
		x.Value = sext(uint64(x.Value), p.w)
	case *ast.UnaryNode:
		if x.Operator == "-" {
			ast.Patch(n, call("kvd_wrap", x))
		}
	case *ast.BinaryNode:
		switch x.Operator {
		case "+", "-", "*", "%":
			ast.Patch(n, call("kvd_wrap", x))
		}
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok && id.Value == "kvd_div" {
			ast.Patch(n, call("kvd_wrap", x))
		}
	case *ast.BuiltinNode:
		switch x.Name {
		case "bitushr":
			if len(x.Arguments) > 0 {
				x.Arguments[0] = call("kvd_zext", x.Arguments[0])
			}
			ast.Patch(n, call("kvd_wrap", x))
		case "bitand", "bitor", "bitxor", "bitnand", "bitnot", "bitshl", "bitshr", "abs":
			ast.Patch(n, call("kvd_wrap", x))
		}
	}
}

func call(fn string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: args}
}

// mask returns the low w bits set.
func mask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(w) - 1
}

// sext reads the low w bits of v as a two's-complement integer.
func sext(v uint64, w int) int {
	return int(int64(v<<uint(64-w)) >> uint(64-w))
}

// Eval applies λ fid to W-bit operands (bits above W are ignored). fault
// reports an unknown fid or a failing operation, and then new is old. err
// is set only when expr produced something the subset cannot: a float, a
// string, or a failure other than the ones §2.3 defines.
func (e *Evaluator) Eval(fid uint64, old, delta, cmp, swap uint64) (nv uint64, fault bool, err error) {
	old &= e.mask
	if fid >= uint64(len(e.Fns)) {
		return old, true, nil
	}
	f := e.Fns[fid]
	e.env.Old = sext(old, e.W)
	if f.Uses[1] {
		e.env.Delta = sext(delta, e.W)
	}
	if f.Uses[2] {
		e.env.Cmp = sext(cmp, e.W)
	}
	if f.Uses[3] {
		e.env.Swap = sext(swap, e.W)
	}
	out, rerr := e.vm.Run(f.prog, &e.env)
	if rerr != nil {
		if isFault(rerr) {
			return old, true, nil
		}
		return 0, false, fmt.Errorf("λ %s (%s): %v", f.Name, oneLine(f.Src), oneLine(rerr.Error()))
	}
	switch v := out.(type) {
	case int:
		return uint64(v) & e.mask, false, nil
	case bool:
		if v {
			return 1, false, nil
		}
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("λ %s (%s) yielded %v (%T); λs yield integers or booleans", f.Name, oneLine(f.Src), out, out)
}

// isFault tells the failures §2.3 defines from anything else. expr wraps
// the cause in a *file.Error whose message is the cause's text, so the text
// is all there is to go by; the expr version is pinned in go.mod.
func isFault(err error) bool {
	if errors.Is(err, errDivZero) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "negative shift count") || strings.Contains(msg, "integer divide by zero")
}
