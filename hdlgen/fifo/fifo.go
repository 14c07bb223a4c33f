// Package fifo generates kvd_fifo, the valid/ready FIFO of
// docs/microarch.md §3, specialised to a width and a depth.
package fifo

import (
	"fmt"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

// BlockRAMThreshold is the depth above which the memory asks for block RAM.
const BlockRAMThreshold = 32

// Name is the module name of a FIFO specialisation.
func Name(width, depth int) string { return fmt.Sprintf("kvd_fifo_w%d_d%d", width, depth) }

// Generate builds a FIFO of depth (a power of two >= 2) words of width bits.
func Generate(width, depth int) (*ir.Module, error) {
	if width < 1 {
		return nil, fmt.Errorf("fifo: width %d: must be at least 1", width)
	}
	if depth < 2 || depth&(depth-1) != 0 {
		return nil, fmt.Errorf("fifo: depth %d: must be a power of two, at least 2", depth)
	}
	aw := 0
	for 1<<uint(aw) < depth {
		aw++
	}
	block := depth > BlockRAMThreshold
	ram := "distributed RAM"
	if block {
		ram = "block RAM"
	}

	m := ir.NewModule(Name(width, depth))
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Streaming FIFO, %d words of %d bits (%s)", depth, width, ram),
		Purpose: []string{
			"Elastic buffer between valid/ready interfaces; docs/microarch.md section 3.",
		},
		Protocol: []string{
			"in_valid/in_ready/in_data and out_valid/out_ready/out_data: AXI-Stream",
			"style handshakes, a transfer in each cycle with valid && ready.",
			"in_ready depends on state only; out_data is registered (a block-RAM read).",
			fmt.Sprintf("Capacity %d words: %d in memory and 1 in the output register.", depth+1, depth),
		},
		Latency: []string{
			"A word written into an empty FIFO is on out_data 2 cycles later.",
			"Throughput: one word per clock in each direction.",
		},
	}
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	inValid := m.Input("Write side", "in_valid", 1)
	inReady := m.Output("Write side", "in_ready", 1)
	inData := m.Input("Write side", "in_data", width)
	outValid := m.Output("Read side", "out_valid", 1)
	outReady := m.Input("Read side", "out_ready", 1)
	outData := m.Output("Read side", "out_data", width)

	wrPtr, wrPtrNext := m.RegPair("wr_ptr", aw+1)
	rdPtr, rdPtrNext := m.RegPair("rd_ptr", aw+1)
	ov, ovNext := m.RegPair("out_valid", 1)
	od := m.Reg("out_data_reg", width)
	full := m.Wire("full", 1)
	empty := m.Wire("empty", 1)
	write := m.Wire("write", 1)
	read := m.Wire("read", 1)
	mem := m.Mem("mem", width, depth, block)

	// Full when the pointers differ only in the wrap bit.
	m.Assign(full, ir.Eq(ir.Xor(wrPtr, rdPtr), ir.Cat(ir.C(1, 1), ir.C(aw, 0))))
	m.Assign(empty, ir.Eq(wrPtr, rdPtr))
	m.Assign(write, ir.LAnd(inValid, ir.LNot(full)))
	m.Assign(read, ir.LAnd(ir.LOr(ir.LNot(ov), outReady), ir.LNot(empty)))

	m.Comb("pointer and output-register state", func(b *ir.Block) {
		b.Set(wrPtrNext, wrPtr)
		b.Set(rdPtrNext, rdPtr)
		b.Set(ovNext, ov)
		b.If(write, func(b *ir.Block) {
			b.Set(wrPtrNext, ir.Add(wrPtr, ir.C(aw+1, 1)))
		}, nil)
		b.If(read, func(b *ir.Block) {
			b.Set(rdPtrNext, ir.Add(rdPtr, ir.C(aw+1, 1)))
			b.Set(ovNext, ir.C(1, 1))
		}, func(b *ir.Block) {
			b.If(outReady, func(b *ir.Block) {
				b.Set(ovNext, ir.C(1, 0))
			}, nil)
		})
	})
	m.Seq(clk, "registers, memory write and registered memory read", func(b *ir.Block) {
		b.Set(wrPtr, wrPtrNext)
		b.Set(rdPtr, rdPtrNext)
		b.Set(ov, ovNext)
		b.If(write, func(b *ir.Block) {
			b.Write(mem, ir.Bits(wrPtr, aw-1, 0), inData)
		}, nil)
		b.If(read, func(b *ir.Block) {
			b.Set(od, mem.Read(ir.Bits(rdPtr, aw-1, 0)))
		}, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(wrPtr, ir.C(aw+1, 0))
			b.Set(rdPtr, ir.C(aw+1, 0))
			b.Set(ov, ir.C(1, 0))
		}, nil)
	})
	m.Assign(inReady, ir.LNot(full))
	m.Assign(outValid, ov)
	m.Assign(outData, od)
	return m, m.Err()
}
