package verilog

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kvdirect/kvd/hdlgen/ir"
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
	leaf.Assign(y, ir.Not(a))

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
	m.Instantiate("u_inv", leaf, nil, []ir.Conn{{Port: "a", Expr: rd}, {Port: "y", Expr: inv}})
	m.Assign(done, ir.Eq(state, ir.C(2, fin)))
	m.Assign(rdata, ir.Cat(ir.Sel(ir.AndR(inv), ir.Rep(2, ir.Bits(inv, 1, 0)), ir.Ones(4)), inv))
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

func TestEmitRefusesBrokenModule(t *testing.T) {
	m := ir.NewModule("broken")
	a := m.Input("", "a", 3)
	o := m.Output("", "o", 4)
	m.Assign(o, a)
	if _, err := Emit(m, hdr); err == nil {
		t.Fatal("Emit printed a module with a width error")
	}
}
