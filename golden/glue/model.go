// Package glue is the golden model of kvd_glue (docs/microarch/processor.md
// §4), the logic between the front end, the key-hash unit, the reservation
// station and the hash-table engine, written from that section (and, for
// port widths, the documents it cites) only.
//
// The glue hashes each issued operation's key, presents it to the station,
// queues the station's pipeline operations for the engine (EF) and carries
// values longer than the station's 8 bytes by reference: a request's value
// by tag (reqv) from its issue, a response's value by tag (rspv) from the
// engine's answer. Every output depends on the state only, so Outputs gives
// the outputs of a cycle before its inputs are known (the top level's
// composition, golden/top, needs exactly that).
//
// Besides §4.3's registers the model keeps bookkeeping that is not part of
// the block — the life of every tag and station id — only to refuse
// stimulus the contract rules out (an answer for an id never sent to the
// engine, a hash result for a tag never issued, …), naming the port.
package glue

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
)

// Module is the name of the block this model describes.
const Module = "kvd_glue"

// Fixed sizes (processor.md §4.1, §4.2).
const (
	DA         = 8  // arrival credits
	DE         = 4  // engine queue capacity
	TagBits    = 16 // iss_tag, cpl_tag, kh_*_tag, rs_req_tag, rs_pipe_tag, ht_req_tag, ht_rsp_tag
	OpBits     = 3
	WireFid    = 8 // iss_fid: the wire's function id
	CplStatus  = 8 // cpl_status (the front end's)
	StatBits   = 4 // rs_cpl_status, rs_resp_status, ht_rsp_status
	ValueBits  = 64
	ShortBytes = 8 // a value is short when vlen ≤ 8 bytes
)

// Params are the sizes of processor.md §4.1 for one configuration.
type Params struct {
	T          int // tags: the reorder buffer's entries (rob.entries)
	M, R, S, I int // the station's operation ids (rs.max_inflight), slots, slot width, id width (0..M+R−1)
	K, KL      int // max key bytes; bits to hold 0..K
	V, VL      int // max value bytes; bits to hold 0..V
	W, E       int // atomic.scalar_bits; vector.element_bits
	N, F       int // λs; function-id width (bits to hold 0..N)
	BI, H      int // log2 memory.index_buckets; bucket.sec_hash_bits
	A          int // BI + H
}

// ParamsOf derives §4.1's sizes from cfg.
func ParamsOf(cfg config.Config) Params {
	m, r := cfg.RS.MaxInflight, cfg.RS.Slots
	n := len(cfg.Atomic.Lambdas)
	p := Params{
		T: cfg.ROB.Entries, M: m, R: r, S: cfg.RSSlotBits(), I: bits.Len(uint(max(m+r-1, 0))),
		K: cfg.Key.MaxKeyBytes, KL: cfg.KeyLenBits(),
		V: cfg.Key.MaxValueBytes, VL: bits.Len(uint(max(cfg.Key.MaxValueBytes, 0))),
		W: cfg.Atomic.ScalarBits, E: cfg.Vector.ElementBits,
		N: n, F: lambda.FidBits(n),
		BI: cfg.BucketIndexBits(), H: cfg.Bucket.SecHashBits,
	}
	p.A = p.BI + p.H
	return p
}

// Ports returns the ports of kvd_glue for cfg, in §4.2's order.
func Ports(cfg config.Config) []model.Port { return ParamsOf(cfg).Ports() }

// Ports returns the ports of kvd_glue for these sizes: §4.2's groups in
// order, each row in the order written, qualified as §4.2 says.
func (p Params) Ports() []model.Port {
	in := func(name string, w int) model.Port { return model.Port{Name: name, Dir: model.In, Width: w} }
	out := func(name string, w int, q string) model.Port {
		return model.Port{Name: name, Dir: model.Out, Width: w, QualifiedBy: q}
	}
	const cv, kv, rv, pv, hv = "cpl_valid", "kh_in_valid", "rs_req_valid", "rs_cpl_valid", "ht_req_valid"
	return []model.Port{
		// the front end's issue port
		in("iss_valid", 1), out("iss_ready", 1, ""), in("iss_tag", TagBits), in("iss_op", OpBits),
		in("iss_fid", WireFid), in("iss_klen", p.KL), in("iss_key", 8*p.K), in("iss_vlen", p.VL),
		in("iss_value", 8*p.V),
		// the front end's completion port
		out("cpl_valid", 1, ""), out("cpl_tag", TagBits, cv), out("cpl_status", CplStatus, cv),
		out("cpl_vlen", p.VL, cv), out("cpl_value", 8*p.V, cv),
		// kvd_keyhash's in_*
		out("kh_in_valid", 1, ""), out("kh_in_key", 8*p.K, kv), out("kh_in_len", p.KL, kv),
		out("kh_in_tag", TagBits, kv),
		// kvd_keyhash's out_*
		in("kh_out_valid", 1), in("kh_out_bucket", p.BI), in("kh_out_sec", p.H), in("kh_out_slot", p.S),
		in("kh_out_tag", TagBits),
		// kvd_rs's req_*
		out("rs_req_valid", 1, ""), in("rs_req_ready", 1), out("rs_req_op", OpBits, rv),
		out("rs_req_fid", p.F, rv), out("rs_req_key", 8*p.K, rv), out("rs_req_klen", p.KL, rv),
		out("rs_req_slot", p.S, rv), out("rs_req_vlen", p.VL, rv), out("rs_req_value", ValueBits, rv),
		out("rs_req_delta", p.W, rv), out("rs_req_cmp", p.W, rv), out("rs_req_swap", p.W, rv),
		out("rs_req_aux", p.A, rv), out("rs_req_tag", TagBits, rv),
		// kvd_rs's pipe_*
		in("rs_pipe_valid", 1), out("rs_pipe_ready", 1, ""), in("rs_pipe_id", p.I),
		in("rs_pipe_tag", TagBits), in("rs_pipe_op", OpBits), in("rs_pipe_fid", p.F),
		in("rs_pipe_key", 8*p.K), in("rs_pipe_klen", p.KL), in("rs_pipe_vlen", p.VL),
		in("rs_pipe_value", ValueBits), in("rs_pipe_delta", p.W), in("rs_pipe_cmp", p.W),
		in("rs_pipe_swap", p.W), in("rs_pipe_aux", p.A),
		// kvd_rs's cpl_*
		out("rs_cpl_valid", 1, ""), out("rs_cpl_id", p.I, pv), out("rs_cpl_status", StatBits, pv),
		out("rs_cpl_vlen", p.VL, pv), out("rs_cpl_value", ValueBits, pv),
		// kvd_rs's resp_*
		in("rs_resp_valid", 1), in("rs_resp_tag", TagBits), in("rs_resp_status", StatBits),
		in("rs_resp_vlen", p.VL), in("rs_resp_value", ValueBits),
		// kvd_ht's req_*
		out("ht_req_valid", 1, ""), in("ht_req_ready", 1), out("ht_req_op", OpBits, hv),
		out("ht_req_tag", TagBits, hv), out("ht_req_key", 8*p.K, hv), out("ht_req_klen", p.KL, hv),
		out("ht_req_vlen", p.VL, hv), out("ht_req_value", 8*p.V, hv), out("ht_req_bucket", p.BI, hv),
		out("ht_req_sec", p.H, hv), out("ht_req_fid", p.F, hv), out("ht_req_delta", p.E, hv),
		out("ht_req_cmp", p.E, hv), out("ht_req_swap", p.E, hv),
		// kvd_ht's rsp_*
		in("ht_rsp_valid", 1), in("ht_rsp_tag", TagBits), in("ht_rsp_status", StatBits),
		in("ht_rsp_vlen", p.VL), in("ht_rsp_value", 8*p.V),
	}
}

// opr is one tag's operation (§4.3 opr[g]); its key is in state.oprKey.
type opr struct {
	op, fid, klen, vlen   uint64
	v64, delta, cmp, swap uint64
}

// afEnt is one AF entry {tag, slot, bucket, sec}.
type afEnt struct{ tag, slot, bucket, sec uint64 }

// efEnt is one EF entry: a station pipeline record; its key is in
// state.efKey.
type efEnt struct {
	id, tag, op, fid, klen, vlen, value uint64
	delta, cmp, swap, aux               uint64
}

// Bookkeeping phases (not registers of §4.3; used only to refuse stimulus).
const (
	tagFree    = iota // no operation of this tag in the glue or behind it
	tagHashing        // issued (kh or the key-hash unit), not yet in AF
	tagQueued         // in AF
	tagStation        // taken by the station, not yet answered
)

const (
	idFree   = iota
	idQueued // in EF
	idEngine // taken by the engine, not yet answered
)

var tagPhaseName = [...]string{"free", "hashing", "in AF", "at the station"}
var idPhaseName = [...]string{"free", "in EF", "at the engine"}

// state is the block between two clock edges (§4.3) plus bookkeeping.
type state struct {
	opr    []opr    // T
	oprKey []uint64 // T × kw
	reqv   values   // T values of 8V bits
	rspv   values
	etag   []uint64 // M+R

	khValid bool
	khLen   uint64
	khTag   uint64
	khKey   []uint64 // kw
	af      [DA]afEnt
	afHead  int
	afN     int
	credits int
	ef      [DE]efEnt
	efKey   []uint64 // DE × kw
	efHead  int
	efN     int
	c1Valid bool
	c1      struct{ id, status, vlen, value uint64 }
	c2Valid bool
	c2      struct{ tag, status, vlen uint64 }
	c2Value []uint64 // vw
	tagPh   []uint8  // T: bookkeeping
	rspvSet []bool   // T: rspv[g] written by an engine answer since g's issue
	idPh    []uint8  // M+R: bookkeeping
}

// values is an array of per-tag values, copy-on-write: v[i] is nil (all
// zero) or a buffer of vw words that this state may write in place only
// when own[i] is set. A snapshot shares every buffer and clears own on
// both sides, so taking one copies T slice headers, not T × 8V bits; the
// next write of a shared tag allocates that tag's buffer afresh.
type values struct {
	v   [][]uint64
	own []bool
}

func newValues(n int) values { return values{v: make([][]uint64, n), own: make([]bool, n)} }

// get returns value i (nil means zero).
func (a *values) get(i int) []uint64 { return a.v[i] }

// set writes value i from src (vw words, already masked).
func (a *values) set(i int, src []uint64) {
	if !a.own[i] {
		a.v[i] = make([]uint64, len(src))
		a.own[i] = true
	}
	copy(a.v[i], src)
}

// share returns a copy sharing every buffer, and makes this one give up
// writing them in place.
func (a *values) share() values {
	clear(a.own)
	return values{v: append([][]uint64(nil), a.v...), own: make([]bool, len(a.own))}
}

func (s *state) clone() state {
	c := *s
	c.opr = append([]opr(nil), s.opr...)
	c.oprKey = append([]uint64(nil), s.oprKey...)
	c.reqv = s.reqv.share()
	c.rspv = s.rspv.share()
	c.etag = append([]uint64(nil), s.etag...)
	c.khKey = append([]uint64(nil), s.khKey...)
	c.efKey = append([]uint64(nil), s.efKey...)
	c.c2Value = append([]uint64(nil), s.c2Value...)
	c.tagPh = append([]uint8(nil), s.tagPh...)
	c.rspvSet = append([]bool(nil), s.rspvSet...)
	c.idPh = append([]uint8(nil), s.idPh...)
	return c
}

// Model is the cycle-accurate golden model of kvd_glue.
type Model struct {
	p     Params
	ports []model.Port

	// word offsets of the ports in the input and output vectors
	issValid, issReady, issTag, issOp, issFid, issKlen, issKey, issVlen, issValue int
	cplValid, cplTag, cplStatus, cplVlen, cplValue                                int
	khInValid, khInKey, khInLen, khInTag                                          int
	khOutValid, khOutBucket, khOutSec, khOutSlot, khOutTag                        int
	reqValid, reqReady, reqOp, reqFid, reqKey, reqKlen, reqSlot, reqVlen          int
	reqValue, reqDelta, reqCmp, reqSwap, reqAux, reqTag                           int
	pipeValid, pipeReady, pipeID, pipeTag, pipeOp, pipeFid, pipeKey, pipeKlen     int
	pipeVlen, pipeValue, pipeDelta, pipeCmp, pipeSwap, pipeAux                    int
	rcValid, rcID, rcStatus, rcVlen, rcValue                                      int
	rrValid, rrTag, rrStatus, rrVlen, rrValue                                     int
	htValid, htReady, htOp, htTag, htKey, htKlen, htVlen, htValue                 int
	htBucket, htSec, htFid, htDelta, htCmp, htSwap                                int
	hrValid, hrTag, hrStatus, hrVlen, hrValue                                     int
	outWords                                                                      int

	kw, vw     int    // words of a key, of a value
	kTop, vTop uint64 // masks of the top word of a key, of a value

	s   state
	tmp []uint64 // vw words: a masked value being stored
}

// New builds the model for cfg in its reset state.
func New(cfg config.Config) (*Model, error) {
	p := ParamsOf(cfg)
	switch {
	case p.T < 1 || p.T > 1<<TagBits:
		return nil, fmt.Errorf("glue: rob.entries = %d: tags are 16 bits, so 1 <= T <= %d", p.T, 1<<TagBits)
	case p.M < 1:
		return nil, fmt.Errorf("glue: rs.max_inflight = %d: want at least 1", p.M)
	case p.M+p.R > 1<<TagBits:
		return nil, fmt.Errorf("glue: M + R = %d station ids do not fit ht_req_tag's 16 bits", p.M+p.R)
	case p.K < 1 || p.V < 1:
		return nil, fmt.Errorf("glue: key.max_key_bytes = %d, key.max_value_bytes = %d: both must be at least 1", p.K, p.V)
	case p.W < 1 || p.W > 64:
		return nil, fmt.Errorf("glue: atomic.scalar_bits = %d: want 1..64", p.W)
	case p.E > p.W:
		return nil, fmt.Errorf("glue: vector.element_bits = %d > atomic.scalar_bits = %d: vector operands cross the station's W-bit operand path (processor.md §4.1)", p.E, p.W)
	case p.A > 64:
		return nil, fmt.Errorf("glue: aux width BI + H = %d: the model holds it in 64 bits", p.A)
	}
	ports := p.Ports()
	lay, err := model.NewLayout(ports)
	if err != nil {
		return nil, fmt.Errorf("glue: %v", err)
	}
	m := &Model{p: p, ports: ports, outWords: lay.OutWords}
	for _, s := range []struct {
		name string
		off  *int
	}{
		{"iss_valid", &m.issValid}, {"iss_ready", &m.issReady}, {"iss_tag", &m.issTag}, {"iss_op", &m.issOp},
		{"iss_fid", &m.issFid}, {"iss_klen", &m.issKlen}, {"iss_key", &m.issKey}, {"iss_vlen", &m.issVlen},
		{"iss_value", &m.issValue},
		{"cpl_valid", &m.cplValid}, {"cpl_tag", &m.cplTag}, {"cpl_status", &m.cplStatus},
		{"cpl_vlen", &m.cplVlen}, {"cpl_value", &m.cplValue},
		{"kh_in_valid", &m.khInValid}, {"kh_in_key", &m.khInKey}, {"kh_in_len", &m.khInLen}, {"kh_in_tag", &m.khInTag},
		{"kh_out_valid", &m.khOutValid}, {"kh_out_bucket", &m.khOutBucket}, {"kh_out_sec", &m.khOutSec},
		{"kh_out_slot", &m.khOutSlot}, {"kh_out_tag", &m.khOutTag},
		{"rs_req_valid", &m.reqValid}, {"rs_req_ready", &m.reqReady}, {"rs_req_op", &m.reqOp},
		{"rs_req_fid", &m.reqFid}, {"rs_req_key", &m.reqKey}, {"rs_req_klen", &m.reqKlen},
		{"rs_req_slot", &m.reqSlot}, {"rs_req_vlen", &m.reqVlen}, {"rs_req_value", &m.reqValue},
		{"rs_req_delta", &m.reqDelta}, {"rs_req_cmp", &m.reqCmp}, {"rs_req_swap", &m.reqSwap},
		{"rs_req_aux", &m.reqAux}, {"rs_req_tag", &m.reqTag},
		{"rs_pipe_valid", &m.pipeValid}, {"rs_pipe_ready", &m.pipeReady}, {"rs_pipe_id", &m.pipeID},
		{"rs_pipe_tag", &m.pipeTag}, {"rs_pipe_op", &m.pipeOp}, {"rs_pipe_fid", &m.pipeFid},
		{"rs_pipe_key", &m.pipeKey}, {"rs_pipe_klen", &m.pipeKlen}, {"rs_pipe_vlen", &m.pipeVlen},
		{"rs_pipe_value", &m.pipeValue}, {"rs_pipe_delta", &m.pipeDelta}, {"rs_pipe_cmp", &m.pipeCmp},
		{"rs_pipe_swap", &m.pipeSwap}, {"rs_pipe_aux", &m.pipeAux},
		{"rs_cpl_valid", &m.rcValid}, {"rs_cpl_id", &m.rcID}, {"rs_cpl_status", &m.rcStatus},
		{"rs_cpl_vlen", &m.rcVlen}, {"rs_cpl_value", &m.rcValue},
		{"rs_resp_valid", &m.rrValid}, {"rs_resp_tag", &m.rrTag}, {"rs_resp_status", &m.rrStatus},
		{"rs_resp_vlen", &m.rrVlen}, {"rs_resp_value", &m.rrValue},
		{"ht_req_valid", &m.htValid}, {"ht_req_ready", &m.htReady}, {"ht_req_op", &m.htOp},
		{"ht_req_tag", &m.htTag}, {"ht_req_key", &m.htKey}, {"ht_req_klen", &m.htKlen},
		{"ht_req_vlen", &m.htVlen}, {"ht_req_value", &m.htValue}, {"ht_req_bucket", &m.htBucket},
		{"ht_req_sec", &m.htSec}, {"ht_req_fid", &m.htFid}, {"ht_req_delta", &m.htDelta},
		{"ht_req_cmp", &m.htCmp}, {"ht_req_swap", &m.htSwap},
		{"ht_rsp_valid", &m.hrValid}, {"ht_rsp_tag", &m.hrTag}, {"ht_rsp_status", &m.hrStatus},
		{"ht_rsp_vlen", &m.hrVlen}, {"ht_rsp_value", &m.hrValue},
	} {
		*s.off = lay.MustSlot(s.name).Off
	}
	m.kw, m.vw = model.Words(8*p.K), model.Words(8*p.V)
	m.kTop, m.vTop = topMask(8*p.K), topMask(8*p.V)
	m.tmp = make([]uint64, m.vw)
	s := &m.s
	// Data registers are not reset (microarch.md §1.1); they start at zero
	// here, as a simulator's do.
	s.opr = make([]opr, p.T)
	s.oprKey = make([]uint64, p.T*m.kw)
	s.reqv, s.rspv = newValues(p.T), newValues(p.T)
	s.etag = make([]uint64, p.M+p.R)
	s.khKey = make([]uint64, m.kw)
	s.efKey = make([]uint64, DE*m.kw)
	s.c2Value = make([]uint64, m.vw)
	s.tagPh = make([]uint8, p.T)
	s.rspvSet = make([]bool, p.T)
	s.idPh = make([]uint8, p.M+p.R)
	m.Reset()
	return m, nil
}

// topMask is the mask of the bits of a w-bit value's last word.
func topMask(w int) uint64 {
	if w%64 == 0 {
		return ^uint64(0)
	}
	return model.Mask(w % 64)
}

// Params returns the model's sizes.
func (m *Model) Params() Params { return m.p }

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset sets every control register to zero but credits (= DA): kh.valid,
// AF and EF empty, c1.valid, c2.valid (§4.3). The per-tag arrays, etag and
// the data registers keep their contents (microarch.md §1.1). The
// bookkeeping starts afresh: nothing is in flight.
func (m *Model) Reset() {
	s := &m.s
	s.khValid = false
	s.afHead, s.afN = 0, 0
	s.credits = DA
	s.efHead, s.efN = 0, 0
	s.c1Valid, s.c2Valid = false, false
	clear(s.tagPh)
	clear(s.rspvSet)
	clear(s.idPh)
}

func (m *Model) key(i int) []uint64   { return m.s.oprKey[i*m.kw : (i+1)*m.kw] }
func (m *Model) efkey(i int) []uint64 { return m.s.efKey[i*m.kw : (i+1)*m.kw] }

// Outputs writes the outputs of the cycle (§4.4) from the state at its
// start, without advancing: every output of the glue depends on its state
// only. It writes every output word; data outputs whose valid is 0 carry
// the registers' contents (kh, c1, c2) or zero (AF's and EF's heads when
// empty) — they are qualified, so never compared.
func (m *Model) Outputs(out []uint64) {
	s := &m.s
	p := &m.p
	clear(out[:m.outWords])

	out[m.issReady] = b2u(s.credits > 0)

	// cpl_* = c2
	out[m.cplValid] = b2u(s.c2Valid)
	out[m.cplTag] = s.c2.tag
	out[m.cplStatus] = s.c2.status
	out[m.cplVlen] = s.c2.vlen
	copy(out[m.cplValue:m.cplValue+m.vw], s.c2Value)

	// kh_in_* = kh
	out[m.khInValid] = b2u(s.khValid)
	copy(out[m.khInKey:m.khInKey+m.kw], s.khKey)
	out[m.khInLen] = s.khLen
	out[m.khInTag] = s.khTag

	// rs_req_* from AF's head and opr[head.tag]
	if s.afN > 0 {
		h := &s.af[s.afHead]
		o := &s.opr[h.tag]
		out[m.reqValid] = 1
		out[m.reqOp] = o.op
		out[m.reqFid] = o.fid
		copy(out[m.reqKey:m.reqKey+m.kw], m.key(int(h.tag)))
		out[m.reqKlen] = o.klen
		out[m.reqSlot] = h.slot
		out[m.reqVlen] = o.vlen
		out[m.reqValue] = o.v64
		out[m.reqDelta] = o.delta
		out[m.reqCmp] = o.cmp
		out[m.reqSwap] = o.swap
		out[m.reqAux] = h.bucket<<uint(p.H) | h.sec
		out[m.reqTag] = h.tag
	}

	out[m.pipeReady] = b2u(s.efN < DE)

	// rs_cpl_* = c1
	out[m.rcValid] = b2u(s.c1Valid)
	out[m.rcID] = s.c1.id
	out[m.rcStatus] = s.c1.status
	out[m.rcVlen] = s.c1.vlen
	out[m.rcValue] = s.c1.value

	// ht_req_* from EF's head
	if s.efN > 0 {
		e := &s.ef[s.efHead]
		out[m.htValid] = 1
		out[m.htOp] = e.op
		out[m.htTag] = e.id
		copy(out[m.htKey:m.htKey+m.kw], m.efkey(s.efHead))
		out[m.htKlen] = e.klen
		out[m.htVlen] = e.vlen
		if e.vlen > ShortBytes {
			if v := s.reqv.get(int(e.tag)); v != nil {
				copy(out[m.htValue:m.htValue+m.vw], v)
			}
		} else {
			out[m.htValue] = e.value
			out[m.htValue+m.vw-1] &= m.vTop // only when V < 8
		}
		out[m.htBucket] = e.aux >> uint(p.H)
		out[m.htSec] = e.aux & model.Mask(p.H)
		out[m.htFid] = e.fid
		em := model.Mask(p.E)
		out[m.htDelta] = e.delta & em
		out[m.htCmp] = e.cmp & em
		out[m.htSwap] = e.swap & em
	}
}

// Step implements model.Model (microarch.md §1.1): the outputs of the
// cycle from the state at its start (Outputs), then §4.5's updates, all
// from that state. Stimulus the contract rules out is refused before any
// state changes, so a refused Step leaves the model as it was.
func (m *Model) Step(in, out []uint64) error {
	m.Outputs(out)
	if err := m.check(in); err != nil {
		return err
	}
	m.advance(in)
	return nil
}

// Inputs of one cycle, decoded.
type cycle struct {
	issue, hashed, toRS, push, pop, engRsp, rsResp bool
}

func (m *Model) decode(in []uint64) cycle {
	s := &m.s
	return cycle{
		issue:  in[m.issValid]&1 != 0 && s.credits > 0,
		hashed: in[m.khOutValid]&1 != 0,
		toRS:   s.afN > 0 && in[m.reqReady]&1 != 0,
		push:   in[m.pipeValid]&1 != 0 && s.efN < DE,
		pop:    s.efN > 0 && in[m.htReady]&1 != 0,
		engRsp: in[m.hrValid]&1 != 0,
		rsResp: in[m.rrValid]&1 != 0,
	}
}

// check refuses stimulus outside the contract (§4.2's connections and the
// neighbours' documents), naming the port and its value.
func (m *Model) check(in []uint64) error {
	s := &m.s
	p := &m.p
	c := m.decode(in)
	fail := func(format string, a ...any) error {
		return fmt.Errorf("glue: "+format+" (%s)", append(a, m.DescribeState())...)
	}
	if in[m.issValid]&1 != 0 {
		g := in[m.issTag] & model.Mask(TagBits)
		if g >= uint64(p.T) {
			return fail("iss_tag = %d with iss_valid = 1, but tags are reorder-buffer entries 0..T−1 = %d (rob.md §2)", g, p.T-1)
		}
		if c.issue {
			if ph := s.tagPh[g]; ph != tagFree {
				return fail("iss_tag = %d issued while that tag's operation is still %s (a tag is reused only after its response, processor.md §4.5)", g, tagPhaseName[ph])
			}
			klen := in[m.issKlen] & model.Mask(p.KL)
			if i := firstNonzeroByte(in[m.issKey:m.issKey+m.kw], int(klen), p.K); i >= 0 {
				return fail("iss_key byte %d is nonzero with iss_klen = %d (processor.md §4.2: key bytes past the length are zero)", i, klen)
			}
			vlen := in[m.issVlen] & model.Mask(p.VL)
			if i := firstNonzeroByte(in[m.issValue:m.issValue+m.vw], int(vlen), p.V); i >= 0 {
				return fail("iss_value byte %d is nonzero with iss_vlen = %d (processor.md §4.2: value bytes past the length are zero)", i, vlen)
			}
		}
	}
	if c.hashed {
		g := in[m.khOutTag] & model.Mask(TagBits)
		switch {
		case g >= uint64(p.T):
			return fail("kh_out_tag = %d with kh_out_valid = 1: no tag ≥ T = %d is ever presented to the key-hash unit", g, p.T)
		case s.tagPh[g] != tagHashing:
			return fail("kh_out_valid = 1 with kh_out_tag = %d, but that tag is %s, not being hashed", g, tagPhaseName[s.tagPh[g]])
		case s.afN == DA:
			return fail("kh_out_valid = 1 (tag %d) pushes to a full AF (DA = %d): the credits rule it out", g, DA)
		}
	}
	if c.push {
		id := in[m.pipeID] & model.Mask(p.I)
		tag := in[m.pipeTag] & model.Mask(TagBits)
		switch {
		case id >= uint64(p.M+p.R):
			return fail("rs_pipe_id = %d: station ids are 0..M+R−1 = %d (rs.md §1)", id, p.M+p.R-1)
		case s.idPh[id] != idFree:
			return fail("rs_pipe_id = %d taken while that id is still %s (the station sends an id again only after its completion)", id, idPhaseName[s.idPh[id]])
		case id < uint64(p.M) && tag >= uint64(p.T):
			return fail("rs_pipe_tag = %d for id %d < M: a request's tag is < T = %d", tag, id, p.T)
		case id < uint64(p.M) && s.tagPh[tag] != tagStation:
			return fail("rs_pipe_tag = %d (id %d), but that tag is %s, not at the station", tag, id, tagPhaseName[s.tagPh[tag]])
		}
	}
	if c.engRsp {
		id := in[m.hrTag] & model.Mask(TagBits)
		switch {
		case id >= uint64(p.M+p.R):
			return fail("ht_rsp_tag = %d with ht_rsp_valid = 1: no such id was ever sent to the engine (ids are 0..%d)", id, p.M+p.R-1)
		case s.idPh[id] != idEngine:
			return fail("ht_rsp_valid = 1 with ht_rsp_tag = %d, but that id is %s, not at the engine (engine.md §2: each request answered once, after it was taken)", id, idPhaseName[s.idPh[id]])
		}
	}
	if c.rsResp {
		g := in[m.rrTag] & model.Mask(TagBits)
		vlen := in[m.rrVlen] & model.Mask(p.VL)
		switch {
		case g >= uint64(p.T):
			return fail("rs_resp_tag = %d with rs_resp_valid = 1: the glue sends the station tags < T = %d only", g, p.T)
		case s.tagPh[g] != tagStation:
			return fail("rs_resp_valid = 1 with rs_resp_tag = %d, but that tag is %s, not at the station", g, tagPhaseName[s.tagPh[g]])
		case vlen > ShortBytes && !s.rspvSet[g]:
			return fail("rs_resp_vlen = %d > 8 for tag %d, but the engine gave no value for that tag's operation (rs.md §2: a long response's value comes with its pipeline completion)", vlen, g)
		}
	}
	return nil
}

// firstNonzeroByte returns the index of the first nonzero byte at or past
// n among the first total bytes of words, or -1.
func firstNonzeroByte(words []uint64, n, total int) int {
	for i := n; i < total; i++ {
		if i%8 == 0 && i+8 <= total && words[i/8] == 0 {
			i += 7
			continue
		}
		if words[i/8]>>(8*uint(i%8))&0xff != 0 {
			return i
		}
	}
	return -1
}

// advance applies §4.5 to the state, every step reading the state at the
// start of the cycle.
func (m *Model) advance(in []uint64) {
	s := &m.s
	p := &m.p
	c := m.decode(in)

	// Station answers (6) reads rspv before the engine's answer (5)
	// writes it: both from the start-of-cycle state.
	rrTag := in[m.rrTag] & model.Mask(TagBits)
	rrVlen := in[m.rrVlen] & model.Mask(p.VL)
	c2Value := s.c2Value
	clear(c2Value)
	if rrVlen > ShortBytes {
		if rrTag < uint64(p.T) {
			if v := s.rspv.get(int(rrTag)); v != nil {
				copy(c2Value, v)
			}
		}
	} else {
		c2Value[0] = in[m.rrValue]
		c2Value[m.vw-1] &= m.vTop // only when V < 8: the port is narrower than 64 bits
	}
	s.c2Valid = c.rsResp
	s.c2.tag = rrTag
	s.c2.status = in[m.rrStatus] & model.Mask(StatBits)
	s.c2.vlen = rrVlen
	if c.rsResp {
		s.tagPh[rrTag] = tagFree
	}

	// 5. Engine answers: etag read before step 4 writes it.
	hrTag := in[m.hrTag] & model.Mask(TagBits)
	s.c1Valid = c.engRsp
	s.c1.id = hrTag & model.Mask(p.I)
	s.c1.status = in[m.hrStatus] & model.Mask(StatBits)
	s.c1.vlen = in[m.hrVlen] & model.Mask(p.VL)
	s.c1.value = in[m.hrValue]
	if c.engRsp {
		s.idPh[hrTag] = idFree
		if hrTag < uint64(p.M) {
			g := int(s.etag[hrTag])
			copy(m.tmp, in[m.hrValue:m.hrValue+m.vw])
			m.tmp[m.vw-1] &= m.vTop
			s.rspv.set(g, m.tmp)
			s.rspvSet[g] = true
		}
	}

	// 4. To the engine: pop (the start-of-cycle head), then push.
	if c.pop {
		e := &s.ef[s.efHead]
		s.etag[e.id] = e.tag
		s.idPh[e.id] = idEngine
		s.efHead = (s.efHead + 1) % DE
		s.efN--
	}
	if c.push {
		i := (s.efHead + s.efN) % DE
		e := &s.ef[i]
		e.id = in[m.pipeID] & model.Mask(p.I)
		e.tag = in[m.pipeTag] & model.Mask(TagBits)
		e.op = in[m.pipeOp] & model.Mask(OpBits)
		e.fid = in[m.pipeFid] & model.Mask(p.F)
		copy(m.efkey(i), in[m.pipeKey:m.pipeKey+m.kw])
		m.efkey(i)[m.kw-1] &= m.kTop
		e.klen = in[m.pipeKlen] & model.Mask(p.KL)
		e.vlen = in[m.pipeVlen] & model.Mask(p.VL)
		e.value = in[m.pipeValue]
		e.delta = in[m.pipeDelta] & model.Mask(p.W)
		e.cmp = in[m.pipeCmp] & model.Mask(p.W)
		e.swap = in[m.pipeSwap] & model.Mask(p.W)
		e.aux = in[m.pipeAux] & model.Mask(p.A)
		s.efN++
		s.idPh[e.id] = idQueued
	}

	// 3. To the station: pop AF, return a credit.
	if c.toRS {
		s.tagPh[s.af[s.afHead].tag] = tagStation
		s.afHead = (s.afHead + 1) % DA
		s.afN--
		s.credits++
	}

	// 2. Hashed: push to AF.
	if c.hashed {
		g := in[m.khOutTag] & model.Mask(TagBits)
		s.af[(s.afHead+s.afN)%DA] = afEnt{
			tag:    g,
			slot:   in[m.khOutSlot] & model.Mask(p.S),
			bucket: in[m.khOutBucket] & model.Mask(p.BI),
			sec:    in[m.khOutSec] & model.Mask(p.H),
		}
		s.afN++
		s.tagPh[g] = tagQueued
	}

	// 1. Issue.
	if c.issue {
		g := int(in[m.issTag] & model.Mask(TagBits))
		key := in[m.issKey : m.issKey+m.kw]
		val := in[m.issValue : m.issValue+m.vw]
		o := &s.opr[g]
		o.op = in[m.issOp] & model.Mask(OpBits)
		o.fid = min(in[m.issFid]&model.Mask(WireFid), uint64(p.N))
		o.klen = in[m.issKlen] & model.Mask(p.KL)
		copy(m.key(g), key)
		m.key(g)[m.kw-1] &= m.kTop
		o.vlen = in[m.issVlen] & model.Mask(p.VL)
		copy(m.tmp, val)
		m.tmp[m.vw-1] &= m.vTop
		wm := model.Mask(p.W)
		o.v64 = m.tmp[0]
		o.delta = m.tmp[0] & wm
		o.cmp, o.swap = 0, 0
		if m.vw > 1 {
			o.cmp = m.tmp[1] & wm
		}
		if m.vw > 2 {
			o.swap = m.tmp[2] & wm
		}
		s.reqv.set(g, m.tmp)
		s.khValid = true
		copy(s.khKey, m.key(g))
		s.khLen = o.klen
		s.khTag = uint64(g)
		s.credits--
		s.tagPh[g] = tagHashing
		s.rspvSet[g] = false
	} else {
		s.khValid = false
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Credits is §4.3's credits (0..DA).
func (m *Model) Credits() int { return m.s.credits }

// AFLen and EFLen are the queues' occupancies.
func (m *Model) AFLen() int { return m.s.afN }

// EFLen is |EF|.
func (m *Model) EFLen() int { return m.s.efN }

// DescribeState describes §4.3's control state, for divergence and hang
// reports: credits, kh, AF and EF (oldest first), c1, c2, and how many
// tags and ids are in flight.
func (m *Model) DescribeState() string {
	s := &m.s
	var b strings.Builder
	fmt.Fprintf(&b, "credits %d kh ", s.credits)
	if s.khValid {
		fmt.Fprintf(&b, "(tag %d len %d)", s.khTag, s.khLen)
	} else {
		b.WriteByte('-')
	}
	b.WriteString(" AF [")
	for i := 0; i < s.afN; i++ {
		e := &s.af[(s.afHead+i)%DA]
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "tag %d slot %d", e.tag, e.slot)
	}
	b.WriteString("] EF [")
	for i := 0; i < s.efN; i++ {
		e := &s.ef[(s.efHead+i)%DE]
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "id %d tag %d op %d vlen %d", e.id, e.tag, e.op, e.vlen)
	}
	b.WriteString("] c1 ")
	if s.c1Valid {
		fmt.Fprintf(&b, "(id %d status %d vlen %d)", s.c1.id, s.c1.status, s.c1.vlen)
	} else {
		b.WriteByte('-')
	}
	b.WriteString(" c2 ")
	if s.c2Valid {
		fmt.Fprintf(&b, "(tag %d status %d vlen %d)", s.c2.tag, s.c2.status, s.c2.vlen)
	} else {
		b.WriteByte('-')
	}
	var tags [4]int
	for _, ph := range s.tagPh {
		tags[ph]++
	}
	var ids [3]int
	for _, ph := range s.idPh {
		ids[ph]++
	}
	fmt.Fprintf(&b, "; tags hashing %d in AF %d at the station %d; ids in EF %d at the engine %d",
		tags[tagHashing], tags[tagQueued], tags[tagStation], ids[idQueued], ids[idEngine])
	return b.String()
}

// Snapshot implements model.Model. The per-tag value arrays reqv and rspv
// (T × 8V bits each) are shared copy-on-write: a snapshot copies their T
// slice headers, and the first write of a tag's value after a snapshot or
// a restore allocates that tag's buffer; everything else is copied.
func (m *Model) Snapshot() any { return m.s.clone() }

// Restore implements model.Model; the snapshot stays valid for further
// restores.
func (m *Model) Restore(snapshot any) {
	st, ok := snapshot.(state)
	if !ok {
		panic(fmt.Sprintf("glue: Restore of a %T, not a glue snapshot", snapshot))
	}
	m.s = st.clone()
}

var _ model.Model = (*Model)(nil)
