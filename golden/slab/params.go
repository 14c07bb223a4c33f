// Package slab is the golden model of the slab allocator's NIC block,
// kvd_slab (docs/microarch/slab.md, with the conventions of
// docs/microarch.md §1), written from that document only; a host-side
// harness that serves its host-memory port from golden/hostmem and runs the
// host daemon (golden/slabd) beside it; and the allocator bench.
package slab

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Request operations (slab.md §2).
const (
	OpAlloc = 0
	OpFree  = 1
)

// Fixed widths and sizes (slab.md §1, docs/microarch.md §1.7).
const (
	ClassBits  = 3  // CW: the 8 class slots of the host memory map
	BeatBytes  = 32 // one beat of the host-memory port
	Lanes      = 8  // 4-byte ring entries per beat
	MaxBeats   = 16 // beats of one read request
	BeatsBits  = 5
	EntryBytes = 4
)

// Params are the sizes of slab.md §1 for one configuration, and the host
// addresses of §3.1 that depend on it.
type Params struct {
	NC    int     // classes
	Sizes []int64 // S_c in bytes
	D     int     // NIC stack entries
	LW    int     // low watermark
	HW    int     // high watermark
	B     int     // entries per batch
	RN    int     // entries per ring
	U     int64   // pointer unit
	P     int     // pointer width
	AW    int     // host address width
	NB    int     // beats per batch
	NR    int     // read requests per batch
	Retry int     // host-line re-read interval in cycles
	DW    int     // stack pointer width

	CtrlBase, RingBase, HeapBase int64
	HostBytes                    int64
}

// ParamsOf derives the sizes of slab.md §1 from cfg and checks the rules
// the block adds to config.Validate.
func ParamsOf(cfg config.Config) (Params, error) {
	s := cfg.Slab
	p := Params{
		NC: len(s.Classes), D: s.NICStack, LW: s.LowWatermark, HW: s.HighWatermark,
		B: s.DMABatch, RN: s.HostRing, U: int64(cfg.Memory.PointerUnit),
		P: cfg.Bucket.PointerBits, AW: bits.Len64(uint64(cfg.Memory.HostBytes)) - 1,
		CtrlBase: cfg.SlabCtrlBase(), RingBase: cfg.SlabRingBase(), HeapBase: cfg.HeapBase(),
		HostBytes: cfg.Memory.HostBytes,
	}
	for _, c := range s.Classes {
		p.Sizes = append(p.Sizes, int64(c))
	}
	p.NB = p.B / Lanes
	p.NR = (p.NB + MaxBeats - 1) / MaxBeats
	p.Retry = max(1, cfg.NsToCycles(s.DaemonPeriodNs))
	p.DW = bits.Len(uint(p.D))
	switch {
	case p.NC < 1 || p.NC > config.MaxSlabClasses:
		return p, fmt.Errorf("slab: slab.classes has %d classes, want 1..%d", p.NC, config.MaxSlabClasses)
	case p.D < 16 || p.D&(p.D-1) != 0:
		return p, fmt.Errorf("slab: slab.nic_stack_entries = %d, want a power of two, at least 16", p.D)
	case p.B < Lanes || p.B%Lanes != 0 || p.LW < p.B || p.LW >= p.HW || p.HW > p.D-p.B:
		return p, fmt.Errorf("slab: watermarks %d/%d, batch %d, stack %d: want B a multiple of 8, B <= LW < HW <= D-B",
			p.LW, p.HW, p.B, p.D)
	case p.RN < 2*p.B || p.RN%p.B != 0 || p.RN&(p.RN-1) != 0:
		return p, fmt.Errorf("slab: slab.host_ring_entries = %d, want a power of two holding at least two batches of %d", p.RN, p.B)
	case cfg.Memory.HostBytes/p.U > 1<<32:
		return p, fmt.Errorf("slab: memory.host_bytes / memory.pointer_unit = %d: a 4-byte ring entry holds at most 2^32 pointers (slab.md §1)",
			cfg.Memory.HostBytes/p.U)
	case p.P < 1 || p.P > 64:
		return p, fmt.Errorf("slab: bucket.pointer_bits = %d", p.P)
	}
	return p, nil
}

// NL is the address of class c's NIC-owned control line (slab.md §3.1).
func (p Params) NL(c int) int64 { return p.CtrlBase + 128*int64(c) }

// HL is the address of class c's host-owned control line.
func (p Params) HL(c int) int64 { return p.CtrlBase + 128*int64(c) + 64 }

// RR is the address of class c's refill ring.
func (p Params) RR(c int) int64 { return p.RingBase + 8*int64(p.RN)*int64(c) }

// FR is the address of class c's flush ring.
func (p Params) FR(c int) int64 { return p.RR(c) + 4*int64(p.RN) }

// Ports returns the ports of kvd_slab for cfg, in the order of slab.md §2.
func Ports(cfg config.Config) []model.Port {
	p, _ := ParamsOf(cfg)
	in := func(name string, w int) model.Port { return model.Port{Name: name, Dir: model.In, Width: w} }
	out := func(name string, w int, q string) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	return []model.Port{
		in("req_valid", 1),
		out("req_ready", 1, ""),
		in("req_op", 1),
		in("req_class", ClassBits),
		in("req_ptr", p.P),
		out("rsp_valid", 1, ""),
		out("rsp_ok", 1, "rsp_valid"),
		out("rsp_ptr", p.P, "rsp_valid"),
		out("mem_rd_valid", 1, ""),
		in("mem_rd_ready", 1),
		out("mem_rd_addr", p.AW, "mem_rd_valid"),
		out("mem_rd_beats", BeatsBits, "mem_rd_valid"),
		in("mem_rdata_valid", 1),
		out("mem_rdata_ready", 1, ""),
		in("mem_rdata", 8*BeatBytes),
		in("mem_rdata_last", 1),
		in("mem_rdata_err", 1),
		out("mem_wr_valid", 1, ""),
		in("mem_wr_ready", 1),
		out("mem_wr_addr", p.AW, "mem_wr_valid"),
		out("mem_wr_data", 8*BeatBytes, "mem_wr_valid"),
	}
}

// portOffsets are the word offsets of every port in the input and output
// vectors; the model and the host harness share them.
type portOffsets struct {
	iReqValid, iReqOp, iReqClass, iReqPtr                int
	iRdReady, iRdataValid, iRdata, iRdataLast, iRdataErr int
	iWrReady                                             int
	oReqReady, oRspValid, oRspOK, oRspPtr                int
	oRdValid, oRdAddr, oRdBeats, oRdataReady             int
	oWrValid, oWrAddr, oWrData                           int
	inWords, outWords                                    int
}

func offsetsOf(lay *model.Layout) portOffsets {
	off := func(name string) int { return lay.MustSlot(name).Off }
	return portOffsets{
		iReqValid: off("req_valid"), iReqOp: off("req_op"), iReqClass: off("req_class"), iReqPtr: off("req_ptr"),
		iRdReady: off("mem_rd_ready"), iRdataValid: off("mem_rdata_valid"), iRdata: off("mem_rdata"),
		iRdataLast: off("mem_rdata_last"), iRdataErr: off("mem_rdata_err"), iWrReady: off("mem_wr_ready"),
		oReqReady: off("req_ready"), oRspValid: off("rsp_valid"), oRspOK: off("rsp_ok"), oRspPtr: off("rsp_ptr"),
		oRdValid: off("mem_rd_valid"), oRdAddr: off("mem_rd_addr"), oRdBeats: off("mem_rd_beats"),
		oRdataReady: off("mem_rdata_ready"), oWrValid: off("mem_wr_valid"), oWrAddr: off("mem_wr_addr"),
		oWrData: off("mem_wr_data"), inWords: lay.InWords, outWords: lay.OutWords,
	}
}
