// Package vector generates kvd_vec, the vector unit of
// docs/microarch/vector.md: UPDATE_S2V, UPDATE_V2V, REDUCE and FILTER on one
// stored value, one element per clock through one instance of the
// registered λs (hdlgen/lambda), compiled at the element width
// (vector.element_bits) instead of atomic.scalar_bits.
package vector

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/lambda"
)

// Name is the module name.
const Name = "kvd_vec"

// Operation codes on in_op (vector.md §1).
const (
	OpUpdateS2V = 0
	OpUpdateV2V = 1
	OpReduce    = 2
	OpFilter    = 3
	OpBits      = 2
)

// ReduceBytes is the length of REDUCE's response: Σ zero-extended to 8
// bytes (vector.md §3).
const ReduceBytes = 8

// Control states.
const (
	stIdle = iota // in_ready = 1
	stRun         // element cnt_reg goes through the λ this cycle
	stDone        // out_valid = 1
	stBits = 2
)

// Sizes are the names of vector.md §1 for one configuration.
type Sizes struct {
	E, EB int // element bits and bytes
	V, VL int // max value bytes; bits to hold 0..V
	NE    int // max elements, floor(V/EB)
	EL    int // bits to hold 0..NE
	N, F  int // registered λs; function-id width
}

// oneLine flattens a λ's source for the header comment; "*/" would end it.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "*/", "* /")
}

// width is the number of bits that hold 0..n (at least 1).
func width(n int) int { return max(1, bits.Len(uint(n))) }

// SizesOf computes vector.md §1 for cfg. It refuses a maximum value shorter
// than REDUCE's 8-byte response: out_resp (8V bits) and out_rlen (VL bits)
// could not carry it.
func SizesOf(cfg config.Config) (Sizes, error) {
	e := cfg.Vector.ElementBits
	z := Sizes{E: e, EB: e / 8, V: cfg.Key.MaxValueBytes}
	z.VL = width(z.V)
	if e != 8 && e != 16 && e != 32 && e != 64 {
		return z, fmt.Errorf("vector.element_bits = %d: must be 8, 16, 32 or 64", e)
	}
	if z.V < ReduceBytes {
		return z, fmt.Errorf("key.max_value_bytes = %d: the vector unit needs at least %d (REDUCE answers %d bytes in out_resp, docs/microarch/vector.md §3)",
			z.V, ReduceBytes, ReduceBytes)
	}
	z.NE = z.V / z.EB
	z.EL = width(z.NE)
	z.N = len(cfg.Atomic.Lambdas)
	z.F = lambda.FidBits(z.N)
	return z, nil
}

// ElementConfig is cfg with the λs' width set to the element width: the
// configuration the unit's λ instance is compiled for (vector.md §1).
func ElementConfig(cfg config.Config) config.Config {
	c := cfg
	c.Atomic.ScalarBits = cfg.Vector.ElementBits
	return c
}

// Generate builds kvd_vec for cfg, or refuses a λ that does not compile at
// the element width, naming it and vector.element_bits.
func Generate(cfg config.Config) (*ir.Module, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	z, err := SizesOf(cfg)
	if err != nil {
		return nil, err
	}
	ecfg := ElementConfig(cfg)
	fns, err := lambda.Check(ecfg)
	if err != nil {
		return nil, fmt.Errorf("vector.element_bits = %d: every λ is also compiled at the element width (docs/microarch/vector.md §1): %w", z.E, err)
	}
	// old is always read: it is the value a failing λ yields.
	uses := [4]bool{true}
	for _, f := range fns {
		for i, u := range f.Uses {
			uses[i] = uses[i] || u
		}
	}
	g := &gen{z: z, cfg: ecfg, uses: uses}
	m, err := g.build(fns)
	if err != nil {
		return nil, err
	}
	return m, nil
}

type gen struct {
	z    Sizes
	cfg  config.Config // the element-width configuration
	uses [4]bool       // operands some λ names (old, delta, cmp, swap)
	m    *ir.Module
}

// wire declares a wire driven by e.
func (g *gen) wire(name, comment string, e ir.Expr) *ir.Signal {
	s := g.m.Wire(name, max(1, e.Width()))
	s.Comment = comment
	g.m.Assign(s, e)
	return s
}

// elem is element i (E bits) of a signal holding elements from bit 0.
func (g *gen) elem(s ir.Expr, i int) ir.Expr {
	return ir.Bits(s, (i+1)*g.z.E-1, i*g.z.E)
}

func (g *gen) build(fns []*lambda.Func) (*ir.Module, error) {
	z := g.z
	E, V, VL, NE, EL, N, F := z.E, z.V, z.VL, z.NE, z.EL, z.N, z.F
	lgEB := bits.Len(uint(z.EB)) - 1
	usesDelta, usesCmp, usesSwap := g.uses[1], g.uses[2], g.uses[3]

	m := ir.NewModule(Name)
	g.m = m
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Vector unit: UPDATE_S2V, UPDATE_V2V, REDUCE, FILTER on values of up to %d bytes as %d-bit elements, one element per clock",
			V, E),
		Purpose: []string{
			fmt.Sprintf("Reads the stored value as n = in_vlen / %d little-endian elements (at most %d;", z.EB, NE),
			"trailing bytes are kept, never elements) and runs element i through the λ",
			"chosen by in_fid in cycle i: in_op 0 UPDATE_S2V e[i] := λ(e[i], delta, cmp,",
			"swap); 1 UPDATE_V2V e[i] := λ(e[i], dvec[i], 0, 0), dvec[i] = 0 past in_dlen;",
			"2 REDUCE s := delta, then s := λ(s, e[i], cmp, swap); 3 FILTER keeps the e[i]",
			"with λ(e[i], delta, cmp, swap) != 0, packed. docs/microarch/vector.md.",
			"val_reg holds the stored value as given; work_reg holds the operand vector",
			"(UPDATE_V2V), whose element i is replaced by e[i]' in cycle i (UPDATE_*),",
			"or the packed kept elements (FILTER). Both are read one element per cycle",
			"through a mux on the element counter; bytes past in_vlen are cleared on",
			"the way out.",
			fmt.Sprintf("Every λ is compiled at %d bits (vector.element_bits); function ids:", E),
		},
		Protocol: []string{
			"in_*: valid/ready; in_ready = 1 exactly when the unit is idle (state only).",
			"The request is captured when accepted; bytes of in_value and in_dvec at or",
			"past in_vlen and in_dlen are ignored.",
			"out_*: one result per request, no back-pressure. out_new is the value to",
			"store (UPDATE_*: updated; REDUCE, FILTER, fault: unchanged), bytes at or",
			"past in_vlen zero; out_resp/out_rlen the response: UPDATE_* the stored",
			"value, REDUCE the final s (8 bytes), FILTER the kept elements; out_fault",
			"(an unknown in_fid, or the λ failed on some element) forces out_rlen and",
			"out_resp to 0. out_fault, out_new, out_rlen and out_resp are meaningful",
			"only while out_valid is 1.",
		},
		Latency: []string{
			"A request with n elements accepted in cycle t evaluates element i in cycle",
			"t+1+i and has out_valid = 1 in cycle t+1+n (t+1 when n = 0); in_ready is",
			"1 again from cycle t+2+n. A fault stops nothing early: the latency",
			fmt.Sprintf("depends on in_vlen only, at most %d cycles per request.", NE+2),
		},
	}
	for _, f := range fns {
		m.Doc.Purpose = append(m.Doc.Purpose, fmt.Sprintf("  %d %s: %s", f.Index, f.Name, oneLine(f.Src)))
	}

	clk := m.Clock("clk")
	rst := m.Reset("rst")
	const reqG, resG = "Request", "Result"
	inValid := m.Input(reqG, "in_valid", 1)
	inReady := m.Output(reqG, "in_ready", 1)
	inOp := m.Input(reqG, "in_op", OpBits)
	inFid := m.Input(reqG, "in_fid", F)
	inVlen := m.Input(reqG, "in_vlen", VL)
	inValue := m.Input(reqG, "in_value", 8*V)
	inDelta := m.Input(reqG, "in_delta", E)
	inCmp := m.Input(reqG, "in_cmp", E)
	inSwap := m.Input(reqG, "in_swap", E)
	inDlen := m.Input(reqG, "in_dlen", VL)
	inDvec := m.Input(reqG, "in_dvec", 8*V)
	outValid := m.Output(resG, "out_valid", 1)
	outFault := m.Output(resG, "out_fault", 1)
	outNew := m.Output(resG, "out_new", 8*V)
	outRlen := m.Output(resG, "out_rlen", VL)
	outResp := m.Output(resG, "out_resp", 8*V)
	if !usesCmp {
		m.MarkUnused(inCmp) // no λ names cmp
	}
	if !usesSwap {
		m.MarkUnused(inSwap) // no λ names swap
	}
	switch {
	case !usesDelta:
		// No λ names delta, so the operand vector never matters.
		m.MarkUnused(inDlen)
		m.MarkUnused(inDvec)
	default:
		if lgEB > 0 {
			m.MarkUnused(inDlen) // only whole elements count: in_dlen / EB
		}
		if NE*E < 8*V {
			m.MarkUnused(inDvec) // bytes past the last whole element are never an operand
		}
	}

	// ---- registers -------------------------------------------------------------------
	state, stateN := m.RegPair("state", stBits)
	state.Comment = "0 IDLE, 1 RUN, 2 DONE"
	cnt, cntN := m.RegPair("cnt", EL)
	cnt.Comment = "RUN: the element evaluated this cycle"
	n, nN := m.RegPair("n", EL)
	n.Comment = "elements of the request: min(in_vlen / EB, NE)"
	op, opN := m.RegPair("op", OpBits)
	fid, fidN := m.RegPair("fid", F)
	var delta, deltaN, cmpR, cmpN, swap, swapN, dn, dnN *ir.Signal
	if usesDelta {
		delta, deltaN = m.RegPair("delta", E)
		dn, dnN = m.RegPair("dn", EL)
		dn.Comment = "whole elements of the operand vector: in_dlen / EB"
	}
	if usesCmp {
		cmpR, cmpN = m.RegPair("cmp", E)
	}
	if usesSwap {
		swap, swapN = m.RegPair("swap", E)
	}
	vlen, vlenN := m.RegPair("vlen", VL)
	val, valN := m.RegPair("val", 8*V)
	val.Comment = "the stored value as given (bytes past vlen_reg are cleared on output)"
	work, workN := m.RegPair("work", NE*E)
	work.Comment = "UPDATE_V2V: the operand vector; UPDATE_*: element i becomes e[i]' in step i; FILTER: the packed kept elements"
	acc, accN := m.RegPair("acc", E)
	acc.Comment = "REDUCE: the accumulator (starts as delta)"
	kcnt, kcntN := m.RegPair("kcnt", EL)
	kcnt.Comment = "FILTER: elements kept so far"
	fault, faultN := m.RegPair("fault", 1)
	fault.Comment = "sticky: an unknown fid, or the λ failed on some element"

	// ---- request decode ----------------------------------------------------------------
	// in_vlen / EB has exactly EL bits: V >= 8 >= EB.
	var nIn ir.Expr = ir.Bits(inVlen, VL-1, lgEB)
	if 1<<uint(EL)-1 > NE {
		q := g.wire("vlen_elems", "", nIn)
		nIn = ir.Sel(ir.Gt(q, ir.C(EL, uint64(NE))), ir.C(EL, uint64(NE)), q)
	}
	nInW := g.wire("n_in", "elements of the request being accepted", nIn)
	var badFid ir.Expr = ir.C(1, 0)
	if N < 1<<uint(F) {
		badFid = ir.Ge(inFid, ir.C(F, uint64(N)))
	}
	fidBad := g.wire("fid_bad", "in_fid names no registered λ: a fault even with no element", badFid)
	// FILTER packs into zeros; UPDATE_* overwrite elements 0..n-1 before
	// they are output, so only UPDATE_V2V's operand vector matters.
	var workIn ir.Expr = ir.C(NE*E, 0)
	if usesDelta {
		workIn = ir.Sel(ir.Eq(inOp, ir.C(OpBits, OpFilter)), ir.C(NE*E, 0), ir.Bits(inDvec, NE*E-1, 0))
	}

	// ---- element datapath ----------------------------------------------------------------
	opUpdate := g.wire("op_update", "UPDATE_S2V or UPDATE_V2V", ir.LNot(ir.Bit(op, 1)))
	var opV2V ir.Expr // read only through an operand some λ names
	if usesDelta || usesCmp || usesSwap {
		opV2V = g.wire("op_v2v", "", ir.Eq(op, ir.C(OpBits, OpUpdateV2V)))
	}
	opReduce := g.wire("op_reduce", "", ir.Eq(op, ir.C(OpBits, OpReduce)))
	opFilter := g.wire("op_filter", "", ir.Eq(op, ir.C(OpBits, OpFilter)))

	elem := m.Reg("elem", E)
	elem.Comment = "element cnt_reg of the stored value"
	var welem *ir.Signal
	if usesDelta {
		welem = m.Reg("work_elem", E)
		welem.Comment = "element cnt_reg of work_reg: UPDATE_V2V's operand"
	}
	m.Comb("element select: a mux on the element counter", func(b *ir.Block) {
		b.Set(elem, ir.C(E, 0))
		if usesDelta {
			b.Set(welem, ir.C(E, 0))
		}
		arms := make([]ir.CaseArm, NE)
		for i := range arms {
			arms[i] = ir.CaseArm{Match: []ir.Expr{ir.C(EL, uint64(i))}, Body: func(b *ir.Block) {
				b.Set(elem, g.elem(val, i))
				if usesDelta {
					b.Set(welem, g.elem(work, i))
				}
			}}
		}
		b.Case(cnt, arms, nil)
	})

	var ops [4]ir.Expr
	ops[0] = g.wire("lam_old", "REDUCE: the accumulator; otherwise the element", ir.Sel(opReduce, acc, elem))
	for i := 1; i < 4; i++ {
		ops[i] = ir.C(E, 0) // named by no λ
	}
	if usesDelta {
		dElem := g.wire("dvec_elem", "UPDATE_V2V: the operand, 0 past in_dlen",
			ir.Sel(ir.Lt(cnt, dn), welem, ir.C(E, 0)))
		ops[1] = g.wire("lam_delta", "REDUCE: the element; UPDATE_V2V: the operand vector's element",
			ir.Sel(opReduce, elem, ir.Sel(opV2V, dElem, delta)))
	}
	if usesCmp {
		ops[2] = g.wire("lam_cmp", "0 for UPDATE_V2V", ir.Sel(opV2V, ir.C(E, 0), cmpR))
	}
	if usesSwap {
		ops[3] = g.wire("lam_swap", "0 for UPDATE_V2V", ir.Sel(opV2V, ir.C(E, 0), swap))
	}
	lv, lf, err := lambda.Build(m, g.cfg, "fn", fid, ops)
	if err != nil {
		return nil, err
	}
	lamVal := g.wire("lam_val", "the selected λ on this step's operands; old when it fails", lv)
	lamFault := g.wire("lam_fault", "an unknown fid, or the λ failed on this step's operands", lf)
	keep := g.wire("keep", "FILTER: the element is kept", ir.Ne(lamVal, ir.C(E, 0)))
	workWe := g.wire("work_we", "this step writes an element of work_reg",
		ir.LOr(opUpdate, ir.LAnd(opFilter, keep)))
	workIdx := g.wire("work_idx", "UPDATE_*: the element's own place; FILTER: the next packed place",
		ir.Sel(opFilter, kcnt, cnt))
	workData := g.wire("work_data", "", ir.Sel(opFilter, elem, lamVal))
	cntInc := g.wire("cnt_inc", "", ir.Add(cnt, ir.C(EL, 1)))
	last := g.wire("last", "RUN: the last element", ir.Eq(cntInc, n))

	m.Comb("control and datapath (vector.md section 4)", func(b *ir.Block) {
		b.Set(stateN, state)
		b.Set(cntN, cnt)
		b.Set(nN, n)
		b.Set(opN, op)
		b.Set(fidN, fid)
		if usesDelta {
			b.Set(deltaN, delta)
			b.Set(dnN, dn)
		}
		if usesCmp {
			b.Set(cmpN, cmpR)
		}
		if usesSwap {
			b.Set(swapN, swap)
		}
		b.Set(vlenN, vlen)
		b.Set(valN, val)
		b.Set(workN, work)
		b.Set(accN, acc)
		b.Set(kcntN, kcnt)
		b.Set(faultN, fault)
		b.Case(state, []ir.CaseArm{
			{Match: []ir.Expr{ir.C(stBits, stIdle)}, Body: func(b *ir.Block) {
				b.If(inValid, func(b *ir.Block) {
					b.Note("accept: capture the request")
					b.Set(stateN, ir.Sel(ir.Eq(nInW, ir.C(EL, 0)), ir.C(stBits, stDone), ir.C(stBits, stRun)))
					b.Set(cntN, ir.C(EL, 0))
					b.Set(nN, nInW)
					b.Set(opN, inOp)
					b.Set(fidN, inFid)
					if usesDelta {
						b.Set(deltaN, inDelta)
						b.Set(dnN, ir.Bits(inDlen, VL-1, lgEB))
					}
					if usesCmp {
						b.Set(cmpN, inCmp)
					}
					if usesSwap {
						b.Set(swapN, inSwap)
					}
					b.Set(vlenN, inVlen)
					b.Set(valN, inValue)
					b.Set(workN, workIn)
					b.Set(accN, inDelta)
					b.Set(kcntN, ir.C(EL, 0))
					b.Set(faultN, fidBad)
				}, nil)
			}},
			{Match: []ir.Expr{ir.C(stBits, stRun)}, Body: func(b *ir.Block) {
				b.Note("one element through the λ")
				b.Set(cntN, cntInc)
				b.If(last, func(b *ir.Block) {
					b.Set(stateN, ir.C(stBits, stDone))
				}, nil)
				b.Set(faultN, ir.Or(fault, lamFault))
				b.If(opReduce, func(b *ir.Block) {
					b.Set(accN, lamVal)
				}, nil)
				b.If(ir.LAnd(opFilter, keep), func(b *ir.Block) {
					b.Set(kcntN, ir.Add(kcnt, ir.C(EL, 1)))
				}, nil)
				b.If(workWe, func(b *ir.Block) {
					arms := make([]ir.CaseArm, NE)
					for i := range arms {
						arms[i] = ir.CaseArm{Match: []ir.Expr{ir.C(EL, uint64(i))}, Body: func(b *ir.Block) {
							b.Set(g.elem(workN, i), workData)
						}}
					}
					b.Case(workIdx, arms, nil)
				}, nil)
			}},
			{Match: []ir.Expr{ir.C(stBits, stDone)}, Body: func(b *ir.Block) {
				b.Note("the result is on the outputs")
				b.Set(stateN, ir.C(stBits, stIdle))
			}},
		}, func(b *ir.Block) {
			b.Set(stateN, ir.C(stBits, stIdle))
		})
	})

	m.Seq(clk, "registers; reset clears the control state only", func(b *ir.Block) {
		b.Set(state, stateN)
		b.Set(cnt, cntN)
		b.Set(n, nN)
		b.Set(op, opN)
		b.Set(fid, fidN)
		if usesDelta {
			b.Set(delta, deltaN)
			b.Set(dn, dnN)
		}
		if usesCmp {
			b.Set(cmpR, cmpN)
		}
		if usesSwap {
			b.Set(swap, swapN)
		}
		b.Set(vlen, vlenN)
		b.Set(val, valN)
		b.Set(work, workN)
		b.Set(acc, accN)
		b.Set(kcnt, kcntN)
		b.Set(fault, faultN)
		b.If(rst, func(b *ir.Block) {
			b.Set(state, ir.C(stBits, stIdle))
			b.Set(cnt, ir.C(EL, 0))
			b.Set(kcnt, ir.C(EL, 0))
		}, nil)
	})

	// ---- outputs (combinational from registers) -------------------------------------------
	en := make([]ir.Expr, V)
	for i := 0; i < V; i++ {
		en[V-1-i] = ir.Gt(vlen, ir.C(VL, uint64(i))) // most significant byte first
	}
	byteEn := g.wire("byte_en", "byte i of the value exists: i < vlen_reg", ir.Cat(en...))
	spread := make([]ir.Expr, V)
	for i := 0; i < V; i++ {
		spread[V-1-i] = ir.Rep(8, ir.Bit(byteEn, i))
	}
	byteMask := g.wire("byte_mask", "", ir.Cat(spread...))
	stored := g.wire("stored", "the stored value, bytes past vlen_reg zero", ir.And(val, byteMask))
	upd := make([]ir.Expr, NE)
	for i := 0; i < NE; i++ {
		upd[NE-1-i] = ir.Gt(n, ir.C(EL, uint64(i)))
	}
	elemUpd := g.wire("elem_upd", "element i was updated: i < n_reg", ir.Cat(upd...))
	takeWork := g.wire("take_work", "out_new takes the updated elements from work_reg", ir.LAnd(opUpdate, ir.LNot(fault)))
	newParts := make([]ir.Expr, 0, NE+1)
	if NE*E < 8*V {
		newParts = append(newParts, ir.Bits(stored, 8*V-1, NE*E)) // trailing bytes
	}
	for i := NE - 1; i >= 0; i-- {
		newParts = append(newParts, ir.Sel(ir.LAnd(takeWork, ir.Bit(elemUpd, i)), g.elem(work, i), g.elem(stored, i)))
	}
	var kept ir.Expr = ir.Zext(kcnt, VL-lgEB)
	if lgEB > 0 {
		kept = ir.Cat(kept, ir.C(lgEB, 0))
	}
	m.Assign(inReady, ir.Eq(state, ir.C(stBits, stIdle)))
	m.Assign(outValid, ir.Eq(state, ir.C(stBits, stDone)))
	m.Assign(outFault, fault)
	m.Assign(outNew, ir.Cat(newParts...))
	m.Assign(outRlen, ir.Sel(fault, ir.C(VL, 0),
		ir.Sel(opUpdate, vlen, ir.Sel(opReduce, ir.C(VL, ReduceBytes), kept))))
	m.Assign(outResp, ir.Sel(fault, ir.C(8*V, 0),
		ir.Sel(opUpdate, stored, ir.Sel(opReduce, ir.Zext(acc, 8*V), ir.Zext(work, 8*V)))))
	return m, m.Err()
}
