package verilog

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/lint"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var hdr = Header{Generator: "kvd test", ConfigName: "test", ConfigHash: "0000000000000000"}

// counterFSM exercises every IR construct once: parameters, ports in groups,
// a _reg/_next state machine with case and if/else-if, a memory with a
// registered read, concatenation, replication, slices and constants.
func counterFSM() (*ir.Module, *ir.Module) {
	leaf := ir.NewModule("leaf_inv")
	leaf.Doc = ir.Doc{Title: "Inverter", Purpose: []string{"A leaf for the instance test."}}
	a := leaf.Input("", "a", 4)
	y := leaf.Output("", "y", 4)
	mask := leaf.Param("MASK", 1, "0 passes a through, anything else inverts it")
	leaf.Assign(y, ir.Sel(ir.Eq(mask.Ref(), ir.C(32, 0)), a, ir.Not(a)))
	neg := leaf.Output("", "below", 1)
	sa := leaf.Input("", "sa", 8)
	sb := leaf.Input("", "sb", 8)
	leaf.SetSigned(sa)
	leaf.SetSigned(sb)
	leaf.Assign(neg, ir.Lt(sa, sb))

	m := ir.NewModule("counter_fsm")
	m.Doc = ir.Doc{
		Title:    "Example state machine",
		Purpose:  []string{"Golden-text test of the emitter."},
		Protocol: []string{"start pulses; done follows after the count."},
		Latency:  []string{"LIMIT cycles."},
	}
	limit := m.Param("LIMIT", 5, "cycles to count")
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	start := m.Input("Control", "start", 1)
	waddr := m.Input("Memory", "waddr", 3)
	wdata := m.Input("Memory", "wdata", 4)
	done := m.Output("Control", "done", 1)
	rdata := m.Output("Memory", "rdata", 8)

	state, stateNext := m.RegPair("state", 2)
	count, countNext := m.RegPair("count", 32)
	rd := m.Reg("rd_reg", 4)
	inv := m.Wire("inv", 4)
	mem := m.Mem("mem", 4, 8, false)

	const idle, run, fin = 0, 1, 2
	m.Comb("state machine", func(b *ir.Block) {
		b.Set(stateNext, state)
		b.Set(countNext, count)
		b.Case(state, []ir.CaseArm{
			{Match: []ir.Expr{ir.C(2, idle)}, Body: func(b *ir.Block) {
				b.If(start, func(b *ir.Block) {
					b.Set(stateNext, ir.C(2, run))
					b.Set(countNext, ir.C(32, 0))
				}, nil)
			}},
			{Match: []ir.Expr{ir.C(2, run)}, Body: func(b *ir.Block) {
				b.If(ir.Ge(count, limit.Ref()), func(b *ir.Block) {
					b.Set(stateNext, ir.C(2, fin))
				}, func(b *ir.Block) {
					b.If(ir.Eq(ir.Bits(count, 1, 0), ir.C(2, 3)), func(b *ir.Block) {
						b.Note("every fourth cycle counts twice")
						b.Set(countNext, ir.Add(count, ir.C(32, 2)))
					}, func(b *ir.Block) {
						b.Set(countNext, ir.Add(count, ir.C(32, 1)))
					})
				})
			}},
		}, func(b *ir.Block) {
			b.Set(stateNext, ir.C(2, idle))
		})
	})
	m.Seq(clk, "registers", func(b *ir.Block) {
		b.Set(state, stateNext)
		b.Set(count, countNext)
		b.Write(mem, waddr, wdata)
		b.Set(rd, mem.Read(ir.Bits(count, 2, 0)))
		b.If(rst, func(b *ir.Block) {
			b.Set(state, ir.C(2, idle))
			b.Set(count, ir.C(32, 0))
		}, nil)
	})
	below := m.Wire("below", 1)
	m.Instantiate("u_inv", leaf, []ir.ParamValue{{Name: "MASK", Value: 5}}, []ir.Conn{
		{Port: "a", Expr: rd}, {Port: "y", Expr: inv}, {Port: "below", Expr: below},
		{Port: "sa", Expr: ir.Cat(ir.C(4, 0), wdata)}, {Port: "sb", Expr: ir.Cat(ir.Bits(count, 3, 0), wdata)},
	})
	m.Assign(done, ir.Eq(state, ir.C(2, fin)))
	m.Assign(rdata, ir.Cat(ir.Sel(ir.LAnd(ir.AndR(inv), below), ir.Rep(2, ir.Bits(inv, 1, 0)), ir.Ones(4)), inv))
	return m, leaf
}

func TestGoldenText(t *testing.T) {
	top, leaf := counterFSM()
	for _, m := range []*ir.Module{top, leaf} {
		got, err := Emit(m, hdr)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", m.Name+".v")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./hdlgen/verilog -update)", err)
		}
		if d := cmp.Diff(string(want), string(got)); d != "" {
			t.Errorf("%s differs from its golden file (-want +got); if intended, run go test ./hdlgen/verilog -update:\n%s", path, d)
		}
	}
}

// The golden files must themselves pass the three linters: they are the
// emitter's reference output.
func TestGoldenTextIsLintClean(t *testing.T) {
	results, err := lint.All(context.Background(), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.OK() {
			t.Errorf("%s: %v %q", r.Summary(), r.Err, r.Warnings)
		}
	}
}

func TestSignedMixIsRefused(t *testing.T) {
	m := ir.NewModule("mix")
	a := m.Input("", "a", 8)
	b := m.Input("", "b", 8)
	m.SetSigned(a)
	o := m.Output("", "o", 1)
	m.Assign(o, ir.Lt(a, b))
	if err := m.Err(); err == nil {
		t.Fatal("a signed/unsigned comparison was accepted")
	}
}

func TestEmitRefusesBrokenModule(t *testing.T) {
	m := ir.NewModule("broken")
	a := m.Input("", "a", 3)
	o := m.Output("", "o", 4)
	m.Assign(o, a)
	if _, err := Emit(m, hdr); err == nil {
		t.Fatal("Emit printed a module with a width error")
	}
}
