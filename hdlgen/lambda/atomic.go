package lambda

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// ModuleName is the atomic unit's module.
const ModuleName = "kvd_atomic"

// TagBits is the width of the pass-through tag (docs/microarch/lambda.md §4).
const TagBits = 16

// Latency is the number of cycles from a request to its result.
const Latency = 2

// FidBits is the width of a function id for n registered λs: it holds n
// itself, so that "unknown" fits even when n is a power of two (lambda.md §2.4).
func FidBits(n int) int {
	return max(1, bits.Len(uint(n)))
}

// Generate builds kvd_atomic for cfg, or refuses a λ outside the subset.
func Generate(cfg config.Config) (*ir.Module, error) {
	fns, err := Check(cfg)
	if err != nil {
		return nil, err
	}
	w := cfg.Atomic.ScalarBits
	fb := FidBits(len(fns))
	// old is always a port: it is returned, and kept when a λ fails.
	used := [4]bool{true}
	for _, f := range fns {
		for i, u := range f.Uses {
			used[i] = used[i] || u
		}
	}

	m := ir.NewModule(ModuleName)
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Atomic unit: %d registered λ functions on %d-bit values", len(fns), w),
		Purpose: []string{
			"Applies the λ chosen by in_fid to the operands; docs/microarch/lambda.md.",
			"Function ids (position in atomic.lambdas):",
		},
		Protocol: []string{
			"in_*: one request per clock, no back-pressure.",
			"out_new: the λ's value, or out_old when out_fault is 1 (an unknown",
			"function id, a negative shift amount, a zero divisor).",
			"out_old returns in_old; out_tag returns in_tag. Data outputs are",
			"meaningful only while out_valid is 1.",
		},
		Latency: []string{
			fmt.Sprintf("%d cycles, fully pipelined: operands registered (stage 1); every", Latency),
			"λ evaluated in parallel and selected by function id (stage 2).",
		},
	}
	for _, f := range fns {
		m.Doc.Purpose = append(m.Doc.Purpose, fmt.Sprintf("  %d %s: %s", f.Index, f.Name, oneLine(f.Src)))
	}
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	const req, res = "Request", "Result"
	inValid := m.Input(req, "in_valid", 1)
	inFid := m.Input(req, "in_fid", fb)
	var inOps [4]*ir.Signal
	for i, name := range Operands {
		if used[i] {
			inOps[i] = m.Input(req, "in_"+name, w)
		}
	}
	inTag := m.Input(req, "in_tag", TagBits)
	outValid := m.Output(res, "out_valid", 1)
	outNew := m.Output(res, "out_new", w)
	outOld := m.Output(res, "out_old", w)
	outFault := m.Output(res, "out_fault", 1)
	outTag := m.Output(res, "out_tag", TagBits)

	s1Valid := m.Reg("s1_valid_reg", 1)
	s1Fid := m.Reg("s1_fid_reg", fb)
	var s1Ops [4]*ir.Signal
	for i, name := range Operands {
		if used[i] {
			s1Ops[i] = m.Reg("s1_"+name+"_reg", w)
		}
	}
	s1Tag := m.Reg("s1_tag_reg", TagBits)
	s2Valid := m.Reg("s2_valid_reg", 1)
	s2New := m.Reg("s2_new_reg", w)
	s2Old := m.Reg("s2_old_reg", w)
	s2Fault := m.Reg("s2_fault_reg", 1)
	s2Tag := m.Reg("s2_tag_reg", TagBits)

	// The same logic the reservation station chains in one cycle (Build),
	// here between two registers.
	var ops [4]ir.Expr
	for i, s := range s1Ops {
		if s != nil {
			ops[i] = s
		} else {
			ops[i] = ir.C(w, 0) // read by no λ
		}
	}
	val, fault, err := Build(m, cfg, "fn", s1Fid, ops)
	if err != nil {
		return nil, err
	}
	newNext := m.Wire("new_next", w)
	newNext.Comment = "the selected λ's value; old when it fails"
	faultNext := m.Wire("fault_next", 1)
	faultNext.Comment = "an unknown function id, or the λ failed for these operands"
	m.Assign(newNext, val)
	m.Assign(faultNext, fault)

	m.Seq(clk, "stage 1: operands; stage 2: the selected λ's result", func(b *ir.Block) {
		b.Set(s1Valid, inValid)
		b.Set(s1Fid, inFid)
		for i, s := range s1Ops {
			if s != nil {
				b.Set(s, inOps[i])
			}
		}
		b.Set(s1Tag, inTag)

		b.Set(s2Valid, s1Valid)
		b.Set(s2New, newNext)
		b.Set(s2Old, s1Ops[0])
		b.Set(s2Fault, faultNext)
		b.Set(s2Tag, s1Tag)

		b.If(rst, func(b *ir.Block) {
			b.Set(s1Valid, ir.C(1, 0))
			b.Set(s2Valid, ir.C(1, 0))
		}, nil)
	})
	m.Assign(outValid, s2Valid)
	m.Assign(outNew, s2New)
	m.Assign(outOld, s2Old)
	m.Assign(outFault, s2Fault)
	m.Assign(outTag, s2Tag)
	return m, m.Err()
}
