// Package ir is the typed Verilog IR that every block generator builds and
// the one emitter (hdlgen/verilog) prints. Widths are checked as the IR is
// built, so a mismatch is a Go error naming both ends rather than a lint
// warning found later.
package ir

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Dir is a port direction.
type Dir int

const (
	In Dir = iota
	Out
)

func (d Dir) String() string {
	if d == In {
		return "input"
	}
	return "output"
}

// Role tells the bridge which ports it owns.
type Role int

const (
	Data Role = iota
	Clock
	Reset
)

// Kind is how a signal is declared.
type Kind int

const (
	Wire Kind = iota
	Reg
)

// Signal is a port, wire or register.
type Signal struct {
	Name    string
	W       int
	Signed  bool // declared signed: comparisons and shifts are arithmetic
	Unused  bool // deliberately never read (a port some configurations do not need)
	Kind    Kind
	Comment string
	port    *Port
	mod     *Module
}

func (s *Signal) Width() int     { return s.W }
func (s *Signal) String() string { return s.Name }

// Port returns the port record of s, or nil for an internal signal.
func (s *Signal) Port() *Port { return s.port }

// Field names a bit range of a port that carries a record, so reports can
// decode it.
type Field struct {
	Name  string
	Lo, W int
}

// Port is a module port.
type Port struct {
	Sig    *Signal
	Dir    Dir
	Role   Role
	Group  string // ports of one interface are emitted together
	Fields []Field
}

// Param is a module parameter (a 32-bit integer).
type Param struct {
	Name    string
	Default int64
	Comment string
}

// Ref is an expression reading the parameter.
func (p *Param) Ref() Expr { return &ParamRef{P: p} }

// Memory is an array meant to be inferred as RAM.
type Memory struct {
	Name  string
	Width int
	Depth int
	Block bool // ask for block RAM rather than distributed RAM
}

// AddrWidth is the width of an address into m.
func (m *Memory) AddrWidth() int {
	w := 0
	for (1 << uint(w)) < m.Depth {
		w++
	}
	if w == 0 {
		w = 1
	}
	return w
}

// Doc is the module's header comment: purpose, interface protocol, latency.
type Doc struct {
	Title    string
	Purpose  []string
	Protocol []string
	Latency  []string
}

// ContAssign is `assign LHS = RHS;`.
type ContAssign struct {
	LHS, RHS Expr
}

// BlockKind says whether an always block is combinational or clocked.
type BlockKind int

const (
	Comb BlockKind = iota
	Seq
)

// Always is an always block.
type Always struct {
	Kind    BlockKind
	Clock   *Signal
	Comment string
	Body    []Stmt
}

// Stmt is a statement inside an always block.
type Stmt interface{ stmt() }

// Set is LHS = RHS (blocking in combinational blocks, non-blocking in clocked
// ones; the emitter chooses).
type Set struct{ LHS, RHS Expr }

// MemWrite is Mem[Addr] <= Data.
type MemWrite struct {
	Mem        *Memory
	Addr, Data Expr
}

// If is if/else.
type If struct {
	Cond       Expr
	Then, Else []Stmt
}

// Case is a case statement; Default is always emitted.
type Case struct {
	Subject Expr
	Items   []CaseItem
	Default []Stmt
}

// CaseItem is one arm of a case.
type CaseItem struct {
	Match []Expr
	Body  []Stmt
}

// Comment is a comment line inside a block.
type Comment struct{ Text string }

func (*Set) stmt()      {}
func (*MemWrite) stmt() {}
func (*If) stmt()       {}
func (*Case) stmt()     {}
func (*Comment) stmt()  {}

// Instance is a submodule instance.
type Instance struct {
	Name   string
	Mod    *Module
	Params []ParamValue
	Conns  []Conn
}

// ParamValue overrides a submodule parameter.
type ParamValue struct {
	Name  string
	Value int64
}

// Conn connects a submodule port; Expr nil leaves an output unconnected.
type Conn struct {
	Port string
	Expr Expr
}

// Module is one Verilog module.
type Module struct {
	Name      string
	Doc       Doc
	Params    []*Param
	Ports     []*Port
	Signals   []*Signal // internal wires and registers, in declaration order
	Memories  []*Memory
	Assigns   []*ContAssign
	Blocks    []*Always
	Instances []*Instance

	names *Namer
	errs  []error
}

// NewModule starts a module.
func NewModule(name string) *Module {
	m := &Module{Name: name, names: NewNamer()}
	if err := checkIdent(name); err != nil {
		m.errf("module name: %v", err)
	}
	return m
}

func (m *Module) errf(format string, args ...any) {
	m.errs = append(m.errs, fmt.Errorf("module %s: "+format, append([]any{m.Name}, args...)...))
}

func (m *Module) use(ctx string, xs ...Expr) bool {
	ok := true
	for _, x := range xs {
		if x == nil {
			m.errf("%s: nil expression", ctx)
			ok = false
			continue
		}
		if b, isBad := x.(*Bad); isBad {
			m.errf("%s: %v", ctx, b.Err)
			ok = false
			continue
		}
		Walk(x, func(e Expr) {
			if s, isSig := e.(*Signal); isSig && s.mod != m {
				m.errf("%s: signal %s belongs to another module", ctx, s.Name)
				ok = false
			}
		})
	}
	return ok
}

func (m *Module) declare(name string, w int, k Kind) *Signal {
	if err := m.names.Claim(name); err != nil {
		m.errf("%v", err)
	}
	if w < 1 {
		m.errf("signal %s: width %d is not positive", name, w)
		w = 1
	}
	return &Signal{Name: name, W: w, Kind: k, mod: m}
}

func (m *Module) port(name string, w int, d Dir, r Role, group string) *Signal {
	s := m.declare(name, w, Wire)
	p := &Port{Sig: s, Dir: d, Role: r, Group: group}
	s.port = p
	m.Ports = append(m.Ports, p)
	return s
}

// Clock declares the clock input.
func (m *Module) Clock(name string) *Signal { return m.port(name, 1, In, Clock, "") }

// Reset declares the synchronous, active-high reset input.
func (m *Module) Reset(name string) *Signal { return m.port(name, 1, In, Reset, "") }

// Input declares a data input in an interface group.
func (m *Module) Input(group, name string, w int) *Signal { return m.port(name, w, In, Data, group) }

// Output declares a data output (a wire, driven by a continuous assignment).
func (m *Module) Output(group, name string, w int) *Signal { return m.port(name, w, Out, Data, group) }

// MarkUnused declares that s may legitimately go unread, e.g. an operand
// port that no configured function uses; the emitter tells the linter so.
func (m *Module) MarkUnused(s *Signal) { s.Unused = true }

// SetSigned declares s signed. Operators refuse to mix signed and unsigned
// operands, so Verilog's silent unsigned fallback never happens.
func (m *Module) SetSigned(s *Signal) { s.Signed = true }

// SetFields records how a port's bits decode into named fields.
func (m *Module) SetFields(s *Signal, fields ...Field) {
	if s.port == nil {
		m.errf("fields for %s: not a port", s.Name)
		return
	}
	used := make([]bool, s.W)
	for _, f := range fields {
		if f.Lo < 0 || f.W < 1 || f.Lo+f.W > s.W {
			m.errf("field %s.%s [%d +: %d] is outside its %d bits", s.Name, f.Name, f.Lo, f.W, s.W)
			return
		}
		for i := f.Lo; i < f.Lo+f.W; i++ {
			if used[i] {
				m.errf("field %s.%s overlaps another field at bit %d", s.Name, f.Name, i)
				return
			}
			used[i] = true
		}
	}
	s.port.Fields = append([]Field(nil), fields...)
}

// Wire declares an internal wire.
func (m *Module) Wire(name string, w int) *Signal {
	s := m.declare(name, w, Wire)
	m.Signals = append(m.Signals, s)
	return s
}

// Reg declares an internal register (a variable assigned in an always block).
func (m *Module) Reg(name string, w int) *Signal {
	s := m.declare(name, w, Reg)
	m.Signals = append(m.Signals, s)
	return s
}

// RegPair declares NAME_reg and NAME_next: the register and the value the
// combinational block computes for it.
func (m *Module) RegPair(name string, w int) (reg, next *Signal) {
	return m.Reg(name+"_reg", w), m.Reg(name+"_next", w)
}

// Param declares a parameter.
func (m *Module) Param(name string, def int64, comment string) *Param {
	if err := m.names.Claim(name); err != nil {
		m.errf("%v", err)
	}
	p := &Param{Name: name, Default: def, Comment: comment}
	m.Params = append(m.Params, p)
	return p
}

// Mem declares a memory.
func (m *Module) Mem(name string, width, depth int, block bool) *Memory {
	if err := m.names.Claim(name); err != nil {
		m.errf("%v", err)
	}
	if width < 1 || depth < 2 {
		m.errf("memory %s: width %d, depth %d: want width >= 1 and depth >= 2", name, width, depth)
	}
	mem := &Memory{Name: name, Width: width, Depth: depth, Block: block}
	m.Memories = append(m.Memories, mem)
	return mem
}

// Assign adds `assign lhs = rhs;`.
func (m *Module) Assign(lhs *Signal, rhs Expr) {
	ctx := "assign " + lhs.Name
	if !m.use(ctx, lhs, rhs) {
		return
	}
	if lhs.W != rhs.Width() {
		m.errf("%s = %s: %s is %d bits, the value is %d bits", ctx, rhs, lhs.Name, lhs.W, rhs.Width())
		return
	}
	if lhs.Kind != Wire {
		m.errf("%s: %s is a register; continuous assignments drive wires", ctx, lhs.Name)
		return
	}
	m.Assigns = append(m.Assigns, &ContAssign{LHS: lhs, RHS: rhs})
}

// Block builds statements for an always block.
type Block struct {
	m     *Module
	kind  BlockKind
	stmts *[]Stmt
}

// Comb adds a combinational block built by f.
func (m *Module) Comb(comment string, f func(b *Block)) {
	a := &Always{Kind: Comb, Comment: comment}
	f(&Block{m: m, kind: Comb, stmts: &a.Body})
	m.Blocks = append(m.Blocks, a)
}

// Seq adds a block clocked on the rising edge of clk, built by f.
func (m *Module) Seq(clk *Signal, comment string, f func(b *Block)) {
	if clk.port == nil || clk.port.Role != Clock {
		m.errf("clocked block: %s is not a clock port", clk.Name)
	}
	a := &Always{Kind: Seq, Clock: clk, Comment: comment}
	f(&Block{m: m, kind: Seq, stmts: &a.Body})
	m.Blocks = append(m.Blocks, a)
}

// Set assigns lhs (a register or a constant slice of one) in the block.
func (b *Block) Set(lhs, rhs Expr) {
	ctx := "set " + lhs.String()
	if !b.m.use(ctx, lhs, rhs) {
		return
	}
	if lhs.Width() != rhs.Width() {
		b.m.errf("%s = %s: %s is %d bits, the value is %d bits", ctx, rhs, lhs, lhs.Width(), rhs.Width())
		return
	}
	target := targetSignal(lhs)
	if target == nil {
		b.m.errf("%s: can only assign a register or a slice of one", ctx)
		return
	}
	if target.Kind != Reg {
		b.m.errf("%s: %s is a wire; always blocks assign registers", ctx, target.Name)
		return
	}
	*b.stmts = append(*b.stmts, &Set{LHS: lhs, RHS: rhs})
}

// Write writes data to mem[addr]; only clocked blocks write memories.
func (b *Block) Write(mem *Memory, addr, data Expr) {
	ctx := "write " + mem.Name
	if !b.m.use(ctx, addr, data) {
		return
	}
	if b.kind != Seq {
		b.m.errf("%s: memories are written in clocked blocks only", ctx)
		return
	}
	if addr.Width() != mem.AddrWidth() || data.Width() != mem.Width {
		b.m.errf("%s[%s] = %s: address %d bits (want %d), data %d bits (want %d)",
			ctx, addr, data, addr.Width(), mem.AddrWidth(), data.Width(), mem.Width)
		return
	}
	*b.stmts = append(*b.stmts, &MemWrite{Mem: mem, Addr: addr, Data: data})
}

// If adds if (cond) then [else els]; els may be nil.
func (b *Block) If(cond Expr, then func(b *Block), els func(b *Block)) {
	if !b.m.use("if", cond) {
		return
	}
	if cond.Width() != 1 {
		b.m.errf("if (%s): condition is %d bits, want 1", cond, cond.Width())
		return
	}
	st := &If{Cond: cond}
	then(&Block{m: b.m, kind: b.kind, stmts: &st.Then})
	if els != nil {
		els(&Block{m: b.m, kind: b.kind, stmts: &st.Else})
	}
	*b.stmts = append(*b.stmts, st)
}

// Case adds a case statement. Each arm is built by its function; def builds
// the default arm (it may add nothing).
func (b *Block) Case(subject Expr, arms []CaseArm, def func(b *Block)) {
	if !b.m.use("case", subject) {
		return
	}
	st := &Case{Subject: subject}
	for _, a := range arms {
		for _, v := range a.Match {
			if !b.m.use("case item", v) {
				return
			}
			if v.Width() != subject.Width() {
				b.m.errf("case (%s): item %s is %d bits, subject is %d", subject, v, v.Width(), subject.Width())
				return
			}
		}
		it := CaseItem{Match: a.Match}
		a.Body(&Block{m: b.m, kind: b.kind, stmts: &it.Body})
		st.Items = append(st.Items, it)
	}
	if def != nil {
		def(&Block{m: b.m, kind: b.kind, stmts: &st.Default})
	}
	*b.stmts = append(*b.stmts, st)
}

// CaseArm is one arm for Block.Case.
type CaseArm struct {
	Match []Expr
	Body  func(b *Block)
}

// Note adds a comment line.
func (b *Block) Note(text string) { *b.stmts = append(*b.stmts, &Comment{Text: text}) }

func targetSignal(e Expr) *Signal {
	switch x := e.(type) {
	case *Signal:
		return x
	case *Slice:
		s, _ := x.X.(*Signal)
		return s
	case *Index:
		s, _ := x.X.(*Signal)
		return s
	}
	return nil
}

// Instantiate adds an instance of sub. Every port must be connected, with
// the port's exact width; outputs may be left open with a nil Expr.
func (m *Module) Instantiate(name string, sub *Module, params []ParamValue, conns []Conn) {
	if err := m.names.Claim(name); err != nil {
		m.errf("%v", err)
	}
	ctx := fmt.Sprintf("instance %s of %s", name, sub.Name)
	byName := map[string]*Port{}
	for _, p := range sub.Ports {
		byName[p.Sig.Name] = p
	}
	seen := map[string]bool{}
	for _, c := range conns {
		p, ok := byName[c.Port]
		if !ok {
			m.errf("%s: %s has no port %q", ctx, sub.Name, c.Port)
			continue
		}
		if seen[c.Port] {
			m.errf("%s: port %s connected twice", ctx, c.Port)
			continue
		}
		seen[c.Port] = true
		if c.Expr == nil {
			if p.Dir == In {
				m.errf("%s: input port %s is left unconnected", ctx, c.Port)
			}
			continue
		}
		if !m.use(ctx+" port "+c.Port, c.Expr) {
			continue
		}
		if c.Expr.Width() != p.Sig.W {
			m.errf("%s: port %s.%s is %d bits, connected %s is %d bits", ctx, sub.Name, c.Port, p.Sig.W, c.Expr, c.Expr.Width())
		}
		if p.Dir == Out {
			t, isSig := c.Expr.(*Signal)
			if !isSig || t.Kind != Wire {
				m.errf("%s: output port %s must drive a wire, not %s", ctx, c.Port, c.Expr)
			}
		}
	}
	for _, p := range sub.Ports {
		if !seen[p.Sig.Name] && p.Dir == In {
			m.errf("%s: input port %s is not connected", ctx, p.Sig.Name)
		}
	}
	pnames := map[string]bool{}
	for _, p := range sub.Params {
		pnames[p.Name] = true
	}
	for _, pv := range params {
		if !pnames[pv.Name] {
			m.errf("%s: %s has no parameter %q", ctx, sub.Name, pv.Name)
		}
	}
	m.Instances = append(m.Instances, &Instance{Name: name, Mod: sub, Params: params, Conns: conns})
}

// Err returns every error found while building, and the structural checks:
// one driver per signal, no latches, nothing read that is never driven.
func (m *Module) Err() error {
	errs := append([]error(nil), m.errs...)
	if len(errs) == 0 {
		errs = append(errs, m.check()...)
	}
	return errors.Join(errs...)
}

// check runs the structural rules that lint tools would otherwise report.
func (m *Module) check() []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("module %s: "+format, append([]any{m.Name}, args...)...))
	}
	drivers := map[*Signal][]string{}
	reads := map[*Signal]bool{}
	readExpr := func(e Expr) {
		Walk(e, func(x Expr) {
			if s, ok := x.(*Signal); ok {
				reads[s] = true
			}
		})
	}
	for _, a := range m.Assigns {
		drivers[a.LHS.(*Signal)] = append(drivers[a.LHS.(*Signal)], "a continuous assignment")
		readExpr(a.RHS)
	}
	for i, blk := range m.Blocks {
		what := fmt.Sprintf("always block %d", i+1)
		if blk.Comment != "" {
			what = fmt.Sprintf("always block %q", blk.Comment)
		}
		if blk.Clock != nil {
			reads[blk.Clock] = true
		}
		targets := map[*Signal]bool{}
		var walk func([]Stmt)
		walk = func(ss []Stmt) {
			for _, s := range ss {
				switch st := s.(type) {
				case *Set:
					targets[targetSignal(st.LHS)] = true
					readExpr(st.RHS)
					if ix, ok := st.LHS.(*Index); ok {
						readExpr(ix.I)
					}
				case *MemWrite:
					readExpr(st.Addr)
					readExpr(st.Data)
				case *If:
					readExpr(st.Cond)
					walk(st.Then)
					walk(st.Else)
				case *Case:
					readExpr(st.Subject)
					for _, it := range st.Items {
						walk(it.Body)
					}
					walk(st.Default)
				}
			}
		}
		walk(blk.Body)
		for t := range targets {
			drivers[t] = append(drivers[t], what)
		}
		if blk.Kind == Comb {
			// Every target must get a full-width default before any
			// condition, or synthesis infers a latch.
			full := map[*Signal]bool{}
			for _, s := range blk.Body {
				if st, ok := s.(*Set); ok {
					if sig, isSig := st.LHS.(*Signal); isSig {
						full[sig] = true
					}
				}
			}
			for _, t := range sortedSignals(targets) {
				if !full[t] {
					fail("%s: %s is not assigned a default at the top of the combinational block (a latch)", what, t.Name)
				}
			}
		}
	}
	for _, inst := range m.Instances {
		for _, c := range inst.Conns {
			if c.Expr == nil {
				continue
			}
			var p *Port
			for _, sp := range inst.Mod.Ports {
				if sp.Sig.Name == c.Port {
					p = sp
				}
			}
			if p != nil && p.Dir == Out {
				s := c.Expr.(*Signal)
				drivers[s] = append(drivers[s], "instance "+inst.Name)
			} else {
				readExpr(c.Expr)
			}
		}
	}
	all := append([]*Signal(nil), m.Signals...)
	for _, p := range m.Ports {
		all = append(all, p.Sig)
	}
	for _, s := range all {
		d := drivers[s]
		isIn := s.port != nil && s.port.Dir == In
		switch {
		case isIn && len(d) > 0:
			fail("input %s is driven inside the module by %s", s.Name, d[0])
		case !isIn && len(d) == 0:
			fail("%s is never driven", s.Name)
		case len(d) > 1:
			fail("%s is driven by %s and %s", s.Name, d[0], d[1])
		}
		isOut := s.port != nil && s.port.Dir == Out
		if !isOut && !reads[s] && !s.Unused {
			fail("%s is never read", s.Name)
		}
	}
	return errs
}

func sortedSignals(set map[*Signal]bool) []*Signal {
	out := make([]*Signal, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DataPorts returns the ports the bridge drives and samples: all but clock
// and reset, in declaration order.
func (m *Module) DataPorts() []*Port {
	var out []*Port
	for _, p := range m.Ports {
		if p.Role == Data {
			out = append(out, p)
		}
	}
	return out
}

// PortByRole returns the first port with role r, or nil.
func (m *Module) PortByRole(r Role) *Port {
	for _, p := range m.Ports {
		if p.Role == r {
			return p
		}
	}
	return nil
}

// Submodules returns m and every module it instantiates, each once, in a
// deterministic order (depth first, m last).
func (m *Module) Submodules() []*Module {
	var out []*Module
	seen := map[*Module]bool{}
	var visit func(*Module)
	visit = func(x *Module) {
		if seen[x] {
			return
		}
		seen[x] = true
		for _, in := range x.Instances {
			visit(in.Mod)
		}
		out = append(out, x)
	}
	visit(m)
	return out
}

// String describes the module for messages.
func (m *Module) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s (", m.Name)
	for i, p := range m.Ports {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s[%d]", p.Dir, p.Sig.Name, p.Sig.W)
	}
	b.WriteString(")")
	return b.String()
}
