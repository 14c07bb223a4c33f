// Package htengine is the golden model of the timed hash-table engine,
// kvd_ht (docs/microarch/engine.md for the timing, docs/microarch/hashtable.md
// for what each operation reads, writes, allocates, frees and answers, with
// the conventions of docs/microarch.md §1, and docs/microarch/vector.md for
// the vector unit the engine holds), written from those documents only.
//
// C contexts each hold one operation from acceptance to its response; they
// compete for one read unit (with its return queue), one execute unit, one
// slab unit, one vector unit (kvd_vec, engine.md §8A), one write unit and
// one response unit. Operations on the same index bucket run one at a time,
// in arrival order. The read data arrives engine.read_bytes at a time
// (engine.md §5.3): a 32 B beat a transfer, or two on the wide port of
// docs/microarch.md §1.7.
//
// The vector unit's values are golden/vector's Exec (vector.md §3, the λs
// evaluated by expr at the element width); its timing as the engine sees it
// (engine.md §8A, vector.md §4) is modelled here.
package htengine

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/vector"
)

// Module is the name of the block this model describes.
const Module = "kvd_ht"

// Operation codes (req_op, engine.md §1: the wire opcodes).
const (
	OpGet       = 0
	OpPut       = 1
	OpDelete    = 2
	OpBad       = 3 // UPDATE_S2S, the reservation station's: refused with BAD_OP
	OpUpdateS2V = 4 // vector operations (4–7, engine.md §6.7): in_op = req_op − 4
	OpUpdateV2V = 5
	OpReduce    = 6
	OpFilter    = 7
)

// isVector reports whether op is a vector operation (engine.md §1).
func isVector(op uint8) bool { return op >= OpUpdateS2V }

// Status codes (rsp_status, engine.md §1; 0..5 are hashtable.md §4.5's).
const (
	StatusOK           = 0
	StatusNotFound     = 1
	StatusEmptyKey     = 2
	StatusKeyTooLong   = 3
	StatusValueTooLong = 4
	StatusNoMemory     = 5
	StatusMemError     = 6
	StatusBadOp        = 7
	StatusLambdaFault  = 8
)

// Slab request operations (al_op).
const (
	AlAlloc = 0
	AlFree  = 1
)

// Fixed widths (engine.md §2, docs/microarch.md §1.7). DataBits is a beat:
// mem_wr_data's width, and mem_rdata's unless the read port is wide
// (Params.RW).
const (
	TagBits    = 16
	OpBits     = 3
	StatusBits = 4
	ClassBits  = 3
	BeatsBits  = 5
	BeatBytes  = 32
	DataBits   = 8 * BeatBytes
)

// Params are the sizes of engine.md §1 for one configuration.
type Params struct {
	C  int // contexts
	RW int // bytes per read-data transfer: 32, or 64 (the wide port, docs/microarch.md §1.7)
	K  int // max key bytes
	KL int // key-length width
	V  int // max value bytes
	VL int // value-length width
	OB int // object buffer bytes: the largest class
	BI int // bucket index width
	H  int // secondary hash bits
	P  int // pointer bits
	AW int // host address width
	NC int // slab classes
	BC int // the bucket class
	E  int // vector element bits
	EB int // vector element bytes
	F  int // λ function-id width
	N  int // registered λs
}

// ParamsOf derives the sizes from cfg and refuses what hashtable.md §2.5
// refuses (through hashtable.NewLayout).
func ParamsOf(cfg config.Config) (Params, *hashtable.Layout, error) {
	l, err := hashtable.NewLayout(cfg)
	if err != nil {
		return Params{}, nil, fmt.Errorf("htengine: %v", err)
	}
	p := paramsOf(cfg)
	p.BC = l.BucketClass
	if p.V < vector.ReduceBytes {
		// vector.md §1: the unit the engine builds answers 8-byte REDUCEs.
		return p, nil, fmt.Errorf("htengine: key.max_value_bytes = %d: the engine's vector unit needs at least %d (vector.md §1)",
			p.V, vector.ReduceBytes)
	}
	if p.RW != BeatBytes && p.RW != 2*BeatBytes {
		return p, nil, fmt.Errorf("htengine: engine.read_bytes = %d: must be %d or %d (engine.md §1)", p.RW, BeatBytes, 2*BeatBytes)
	}
	if p.E != 8 && p.E != 16 && p.E != 32 && p.E != 64 {
		return p, nil, fmt.Errorf("htengine: vector.element_bits = %d: must be 8, 16, 32 or 64", p.E)
	}
	for i, c := range cfg.Slab.Classes {
		if c < BeatBytes || c > 16*BeatBytes {
			return p, nil, fmt.Errorf("htengine: slab.classes[%d] = %d: an object is read in one request of 1..16 beats of %d B (engine.md §1, hashtable.md §3.5)",
				i, c, BeatBytes)
		}
	}
	return p, l, nil
}

func paramsOf(cfg config.Config) Params {
	p := Params{
		C: cfg.Engine.Contexts, RW: cfg.Engine.ReadBytes, K: cfg.Key.MaxKeyBytes, KL: bits.Len(uint(cfg.Key.MaxKeyBytes)),
		V: cfg.Key.MaxValueBytes, VL: bits.Len(uint(cfg.Key.MaxValueBytes)),
		BI: cfg.BucketIndexBits(), H: cfg.Bucket.SecHashBits, P: cfg.Bucket.PointerBits,
		AW: bits.Len64(uint64(cfg.Memory.HostBytes)) - 1, NC: len(cfg.Slab.Classes),
	}
	vp := vector.ParamsOf(cfg)
	p.E, p.EB, p.F, p.N = vp.E, vp.EB, vp.F, vp.N
	for _, c := range cfg.Slab.Classes {
		p.OB = max(p.OB, c)
	}
	return p
}

// Ports returns the ports of kvd_ht for cfg, in the order of engine.md §2.
func Ports(cfg config.Config) []model.Port {
	p := paramsOf(cfg)
	in := func(name string, w int) model.Port { return model.Port{Name: name, Dir: model.In, Width: w} }
	out := func(name string, w int, q string) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	return []model.Port{
		in("req_valid", 1),
		out("req_ready", 1, ""),
		in("req_op", OpBits),
		in("req_tag", TagBits),
		in("req_key", 8*p.K),
		in("req_klen", p.KL),
		in("req_vlen", p.VL),
		in("req_value", 8*p.V),
		in("req_bucket", p.BI),
		in("req_sec", p.H),
		in("req_fid", p.F),
		in("req_delta", p.E),
		in("req_cmp", p.E),
		in("req_swap", p.E),
		out("rsp_valid", 1, ""),
		out("rsp_tag", TagBits, "rsp_valid"),
		out("rsp_status", StatusBits, "rsp_valid"),
		out("rsp_vlen", p.VL, "rsp_valid"),
		out("rsp_value", 8*p.V, "rsp_valid"),
		out("al_valid", 1, ""),
		in("al_ready", 1),
		out("al_op", 1, "al_valid"),
		out("al_class", ClassBits, "al_valid"),
		out("al_ptr", p.P, "al_valid"),
		in("al_rsp_valid", 1),
		in("al_rsp_ok", 1),
		in("al_rsp_ptr", p.P),
		out("mem_rd_valid", 1, ""),
		in("mem_rd_ready", 1),
		out("mem_rd_addr", p.AW, "mem_rd_valid"),
		out("mem_rd_beats", BeatsBits, "mem_rd_valid"),
		in("mem_rdata_valid", 1),
		out("mem_rdata_ready", 1, ""),
		in("mem_rdata", 8*p.RW),
		in("mem_rdata_last", 1),
		in("mem_rdata_err", 1),
		out("mem_wr_valid", 1, ""),
		in("mem_wr_ready", 1),
		out("mem_wr_addr", p.AW, "mem_wr_valid"),
		out("mem_wr_data", DataBits, "mem_wr_valid"),
	}
}

// portOffsets are the word offsets of every port in the input and output
// vectors.
type portOffsets struct {
	iReqValid, iReqOp, iReqTag, iReqKey, iReqKlen, iReqVlen, iReqValue, iReqBucket, iReqSec int
	iReqFid, iReqDelta, iReqCmp, iReqSwap                                                   int
	iAlReady, iAlRspValid, iAlRspOK, iAlRspPtr                                              int
	iRdReady, iRdataValid, iRdata, iRdataLast, iRdataErr, iWrReady                          int
	oReqReady, oRspValid, oRspTag, oRspStatus, oRspVlen, oRspValue                          int
	oAlValid, oAlOp, oAlClass, oAlPtr                                                       int
	oRdValid, oRdAddr, oRdBeats, oRdataReady, oWrValid, oWrAddr, oWrData                    int
	keyWords, valueWords, rdataWords                                                        int
	inWords, outWords                                                                       int
}

func offsetsOf(lay *model.Layout) portOffsets {
	off := func(name string) int { return lay.MustSlot(name).Off }
	return portOffsets{
		iReqValid: off("req_valid"), iReqOp: off("req_op"), iReqTag: off("req_tag"), iReqKey: off("req_key"),
		iReqKlen: off("req_klen"), iReqVlen: off("req_vlen"), iReqValue: off("req_value"),
		iReqBucket: off("req_bucket"), iReqSec: off("req_sec"),
		iReqFid: off("req_fid"), iReqDelta: off("req_delta"), iReqCmp: off("req_cmp"), iReqSwap: off("req_swap"),
		iAlReady: off("al_ready"), iAlRspValid: off("al_rsp_valid"), iAlRspOK: off("al_rsp_ok"), iAlRspPtr: off("al_rsp_ptr"),
		iRdReady: off("mem_rd_ready"), iRdataValid: off("mem_rdata_valid"), iRdata: off("mem_rdata"),
		iRdataLast: off("mem_rdata_last"), iRdataErr: off("mem_rdata_err"), iWrReady: off("mem_wr_ready"),
		oReqReady: off("req_ready"), oRspValid: off("rsp_valid"), oRspTag: off("rsp_tag"), oRspStatus: off("rsp_status"),
		oRspVlen: off("rsp_vlen"), oRspValue: off("rsp_value"),
		oAlValid: off("al_valid"), oAlOp: off("al_op"), oAlClass: off("al_class"), oAlPtr: off("al_ptr"),
		oRdValid: off("mem_rd_valid"), oRdAddr: off("mem_rd_addr"), oRdBeats: off("mem_rd_beats"),
		oRdataReady: off("mem_rdata_ready"), oWrValid: off("mem_wr_valid"), oWrAddr: off("mem_wr_addr"),
		oWrData:  off("mem_wr_data"),
		keyWords: lay.MustSlot("req_key").Words, valueWords: lay.MustSlot("req_value").Words,
		rdataWords: lay.MustSlot("mem_rdata").Words,
		inWords:    lay.InWords, outWords: lay.OutWords,
	}
}
