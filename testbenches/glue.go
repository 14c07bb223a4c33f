package testbenches

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/glue"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
)

// The glue scenario (docs/microarch/processor.md §4). The stimulus plays
// the glue's four neighbours with random timing:
//
//   - the front end's issue port: operations of random opcodes, keys of
//     every length, short and long values, fids past N, tags from a pool of
//     M freed when their completion leaves cpl_*; iss_valid held until
//     taken;
//   - the key-hash unit: kh_out_* exactly 3 cycles after kh_in_*, computed
//     by golden/keyhash's Hasher from the glue's own kh_in_* (as
//     kvd_keyhash would);
//   - the station: takes rs_req_* under random back-pressure and checks
//     every field against what was issued for that tag; offers pipeline
//     records on rs_pipe_* (held until taken) with ids from its own pool of
//     M+R — requests below M, write-backs at M+slot with tag 0 and short
//     values — in any order; answers each tag once on rs_resp_* after the
//     engine completed it, with the engine's (long or short) value or a
//     short result of its own;
//   - the engine: takes ht_req_* under random back-pressure, checks it
//     against the record the station sent (the full issued value by
//     reference when vlen > 8), and answers in any order after random
//     latencies with random statuses and values of random length.
//
// Besides the golden model, the stimulus checks every output against §4.4
// from its own model of AF, EF and the credits, and that the front end
// receives, for every tag, exactly one completion carrying the engine's
// full long value or the station's short one.

func init() {
	register(Scenario{
		Name: "glue",
		Doc: "processor glue: random issues (every opcode, key length, short and long values, fids past N) under credit " +
			"back-pressure, a key-hash unit answering 3 cycles later, a station taking requests and sending pipeline records " +
			"and write-backs in any order, an engine answering out of order with long and short values; every field at every " +
			"port and every completion's value (by reference) checked",
		Top:           func(config.Config) string { return glue.Module },
		DefaultCycles: 1_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, err := glue.New(cfg)
			if err != nil {
				return nil, nil, err
			}
			s, err := newGlueStim(cfg, seed, 0)
			if err != nil {
				return nil, nil, err
			}
			return m, s, nil
		},
		Points: gluePoints,
	})
}

var gluePoints = []string{
	"glue.issued", "glue.credits_exhausted", "glue.ef_full", "glue.long_request", "glue.long_response",
	"glue.write_back", "glue.fid_clamped", "glue.out_of_order",
}

// An operation's life, as the stimulus follows it.
const (
	gpOffered  = iota // on iss_*, not yet taken
	gpHashing         // taken: kh_in_* next cycle, then the key-hash unit
	gpAF              // hashed: in AF
	gpStation         // taken by the station, no pipeline record yet
	gpPipe            // its pipeline record sent (EF, the engine)
	gpDone            // its engine completion seen on rs_cpl_*
	gpAnswered        // the station answered: cpl_* next cycle
)

// glueOp is one issued operation.
type glueOp struct {
	n                 uint64
	tag               int
	op, fid           uint64
	key, val          []byte
	keyW, valW        []uint64 // kw and vw words
	phase             int
	takenAt           uint64
	bucket, sec, slot uint64
	// the engine's answer for it
	estatus uint64
	evalue  []byte
	due     uint64 // earliest station response
	// the station's response, and the completion the front end expects
	rstatus uint64
	rvlen   int
	rvalue  uint64   // rs_resp_value
	cplW    []uint64 // the expected cpl_value (vw words)
	respAt  uint64
}

// gluePipe is one pipeline record the station sent.
type gluePipe struct {
	id                      int
	op                      *glueOp // nil: a write-back
	tag, opc, fid, klen     uint64
	vlen, value             uint64
	delta, cmp, swap, aux   uint64
	keyW, htValW            []uint64 // the key, the expected ht_req_value
	due                     uint64   // earliest engine answer
	status                  uint64
	ans                     []byte
	ansAt                   uint64
	longReq, longAns, wback bool
}

type khAns struct {
	op                *glueOp
	due               uint64
	bucket, sec, slot uint64
}

type glueStim struct {
	rng          *rand.Rand
	p            glue.Params
	h            *keyhash.Hasher
	sl           map[string]model.Slot
	kw, vw       int
	wmask, emask uint64
	lastIn       []uint64
	target       uint64
	pts          map[string]uint64

	// front end
	freeTags  []int
	cur       *glueOp // offered on iss_*, held until taken
	nextIssue uint64
	burst     int // issue pacing mode, changed now and then
	nops      uint64
	completed uint64
	inGlue    int     // taken by the glue, not yet by the station: DA − credits
	toKh      *glueOp // taken in the previous cycle: on kh_in_* now

	// key-hash unit
	khQ      []khAns
	khDriven *glueOp // kh_out_* driven in the last cycle
	afQ      []*glueOp

	// station
	reqStall   uint64 // rs_req_ready low until this cycle
	atStation  []*glueOp
	freeIDs    []int // < M: requests
	freeWB     []int // ≥ M: write-backs
	pipeCur    *gluePipe
	pipeFrom   uint64
	efQ        []*gluePipe
	answerable []*glueOp // engine done, not yet answered
	stResp     []*glueOp // answered, cpl_* due
	wbacks     uint64

	// engine
	htStall uint64
	engine  []*gluePipe // taken by the engine, not answered
	engAns  []*gluePipe // answered, rs_cpl_* due
	engDone uint64
}

func newGlueStim(cfg config.Config, seed, target uint64) (*glueStim, error) {
	p := glue.ParamsOf(cfg)
	ports := p.Ports()
	l, err := model.NewLayout(ports)
	if err != nil {
		return nil, err
	}
	s := &glueStim{
		rng:    rand.New(rand.NewPCG(seed, 0x676c7565)),
		p:      p,
		h:      keyhash.NewHasher(cfg),
		sl:     map[string]model.Slot{},
		kw:     model.Words(8 * p.K),
		vw:     model.Words(8 * p.V),
		wmask:  model.Mask(p.W),
		emask:  model.Mask(p.E),
		lastIn: make([]uint64, l.InWords),
		target: target,
		pts:    map[string]uint64{},
	}
	for _, pt := range ports {
		s.sl[pt.Name] = l.MustSlot(pt.Name)
	}
	// Tags (the reorder buffer's) and the station's ids are apart: with
	// more tags than ids, requests wait at the station for a free id.
	for g := range p.T {
		s.freeTags = append(s.freeTags, g)
	}
	for i := range p.M {
		s.freeIDs = append(s.freeIDs, i)
	}
	for i := range p.R {
		s.freeWB = append(s.freeWB, p.M+i)
	}
	return s, nil
}

func (s *glueStim) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return b
}

func (s *glueStim) words(b []byte, n int) []uint64 {
	w := make([]uint64, n)
	packWords(w, b)
	return w
}

// le64 is bytes off..off+7 of b, little-endian, zero past its end.
func le64(b []byte, off int) uint64 {
	var x uint64
	for i := 0; i < 8 && off+i < len(b); i++ {
		x |= uint64(b[off+i]) << (8 * uint(i))
	}
	return x
}

// take removes and returns a random element of a pool.
func take(rng *rand.Rand, pool *[]int) int {
	q := *pool
	i := rng.IntN(len(q))
	x := q[i]
	q[i] = q[len(q)-1]
	*pool = q[:len(q)-1]
	return x
}

// valueLen draws a value length: short, long or the longest.
func (s *glueStim) valueLen() int {
	switch x := s.rng.IntN(20); {
	case x < 8:
		return s.rng.IntN(min(8, s.p.V) + 1)
	case x < 10:
		return s.p.V
	default:
		return s.rng.IntN(s.p.V + 1)
	}
}

func (s *glueStim) newOp(tag int) *glueOp {
	r := s.rng
	o := &glueOp{n: s.nops, tag: tag, op: uint64(r.IntN(8))}
	s.nops++
	if r.IntN(4) == 0 {
		o.fid = uint64(s.p.N + 1 + r.IntN(255-s.p.N))
	} else {
		o.fid = uint64(r.IntN(s.p.N + 1))
	}
	o.key = s.bytes(1 + r.IntN(s.p.K))
	o.val = s.bytes(s.valueLen())
	o.keyW, o.valW = s.words(o.key, s.kw), s.words(o.val, s.vw)
	return o
}

func (s *glueStim) put(in []uint64, name string, v uint64) {
	sl := s.sl[name]
	in[sl.Off] = v & model.Mask(min(64, sl.Width))
}

func (s *glueStim) putWords(in []uint64, name string, w []uint64) {
	sl := s.sl[name]
	copy(in[sl.Off:sl.Off+sl.Words], w)
}

func (s *glueStim) get(out []uint64, name string) uint64 {
	sl := s.sl[name]
	return model.Get(out[sl.Off:sl.Off+sl.Words], 0, min(64, sl.Width))
}

func (s *glueStim) getWords(out []uint64, name string) []uint64 {
	sl := s.sl[name]
	return out[sl.Off : sl.Off+sl.Words]
}

type glueField struct {
	name string
	want uint64
}

// check compares scalar outputs, each want cut to its port's width.
func (s *glueStim) check(out []uint64, fs ...glueField) error {
	for _, f := range fs {
		want := f.want & model.Mask(min(64, s.sl[f.name].Width))
		if got := s.get(out, f.name); got != want {
			return fmt.Errorf("%s = %#x, want %#x", f.name, got, want)
		}
	}
	return nil
}

func (s *glueStim) checkWords(out []uint64, name string, want []uint64) error {
	got := s.getWords(out, name)
	for i := range got {
		if got[i] != want[i] {
			if len(got) <= 4 {
				return fmt.Errorf("%s = %x, want %x", name, got, want)
			}
			return fmt.Errorf("%s word %d (bytes %d..%d) = %#x, want %#x", name, i, 8*i, 8*i+7, got[i], want[i])
		}
	}
	return nil
}

func (s *glueStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil {
		if err := s.observe(cycle-1, prev); err != nil {
			return false, fmt.Errorf("cycle %d: %v", cycle-1, err)
		}
	}
	if s.target > 0 && s.completed >= s.target {
		return false, nil
	}
	r := s.rng
	p := &s.p

	// Front end: offer the next operation when its time has come and a
	// tag is free; hold it until taken.
	if cycle%512 == 0 {
		s.burst = r.IntN(4)
	}
	if s.cur == nil && cycle >= s.nextIssue && len(s.freeTags) > 0 {
		s.cur = s.newOp(take(r, &s.freeTags))
	}
	if o := s.cur; o != nil {
		in[s.sl["iss_valid"].Off] = 1
		s.put(in, "iss_tag", uint64(o.tag))
		s.put(in, "iss_op", o.op)
		s.put(in, "iss_fid", o.fid)
		s.put(in, "iss_klen", uint64(len(o.key)))
		s.putWords(in, "iss_key", o.keyW)
		s.put(in, "iss_vlen", uint64(len(o.val)))
		s.putWords(in, "iss_value", o.valW)
	}

	// Key-hash unit: the answer due this cycle.
	s.khDriven = nil
	if len(s.khQ) > 0 && s.khQ[0].due == cycle {
		a := s.khQ[0]
		s.khQ = s.khQ[1:]
		in[s.sl["kh_out_valid"].Off] = 1
		s.put(in, "kh_out_bucket", a.bucket)
		s.put(in, "kh_out_sec", a.sec)
		s.put(in, "kh_out_slot", a.slot)
		s.put(in, "kh_out_tag", uint64(a.op.tag))
		a.op.bucket, a.op.sec, a.op.slot = a.bucket, a.sec, a.slot
		s.khDriven = a.op
	}

	// Station, request side: random back-pressure with stalls long enough
	// to use up the credits.
	if cycle >= s.reqStall && r.IntN(400) == 0 {
		s.reqStall = cycle + uint64(4+r.IntN(40))
	}
	if cycle >= s.reqStall && r.IntN(5) != 0 {
		in[s.sl["rs_req_ready"].Off] = 1
	}

	// Station, pipeline side: a request's record (any of those taken) or
	// a write-back, held until taken.
	if s.pipeCur == nil && cycle >= s.pipeFrom {
		switch {
		case len(s.freeWB) > 0 && r.IntN(10) == 0:
			s.pipeCur = s.writeBack()
		case len(s.atStation) > 0 && len(s.freeIDs) > 0:
			i := r.IntN(len(s.atStation))
			o := s.atStation[i]
			s.atStation[i] = s.atStation[len(s.atStation)-1]
			s.atStation = s.atStation[:len(s.atStation)-1]
			s.pipeCur = s.requestRecord(o)
		}
	}
	if e := s.pipeCur; e != nil {
		in[s.sl["rs_pipe_valid"].Off] = 1
		s.put(in, "rs_pipe_id", uint64(e.id))
		s.put(in, "rs_pipe_tag", e.tag)
		s.put(in, "rs_pipe_op", e.opc)
		s.put(in, "rs_pipe_fid", e.fid)
		s.putWords(in, "rs_pipe_key", e.keyW)
		s.put(in, "rs_pipe_klen", e.klen)
		s.put(in, "rs_pipe_vlen", e.vlen)
		s.put(in, "rs_pipe_value", e.value)
		s.put(in, "rs_pipe_delta", e.delta)
		s.put(in, "rs_pipe_cmp", e.cmp)
		s.put(in, "rs_pipe_swap", e.swap)
		s.put(in, "rs_pipe_aux", e.aux)
	}

	// Engine: back-pressure with stalls that fill EF; one answer per cycle
	// at most, any of those due.
	if cycle >= s.htStall && r.IntN(150) == 0 {
		s.htStall = cycle + uint64(4+r.IntN(30))
	}
	if cycle >= s.htStall && r.IntN(4) != 0 {
		in[s.sl["ht_req_ready"].Off] = 1
	}
	if len(s.engine) > 0 && r.IntN(4) != 0 {
		if i := pickDue(len(s.engine), func(j int) bool { return s.engine[j].due <= cycle }, r); i >= 0 {
			e := s.engine[i]
			if i > 0 { // an older request is still unanswered
				s.pts["glue.out_of_order"]++
			}
			s.engine = append(s.engine[:i], s.engine[i+1:]...)
			e.status = uint64(r.IntN(16))
			e.ans = s.bytes(s.valueLen())
			e.ansAt = cycle
			e.longAns = len(e.ans) > 8
			s.engAns = append(s.engAns, e)
			in[s.sl["ht_rsp_valid"].Off] = 1
			s.put(in, "ht_rsp_tag", uint64(e.id))
			s.put(in, "ht_rsp_status", e.status)
			s.put(in, "ht_rsp_vlen", uint64(len(e.ans)))
			s.putWords(in, "ht_rsp_value", s.words(e.ans, s.vw))
		}
	}

	// Station, response side: one response per cycle at most, for any tag
	// whose engine completion has been seen.
	if len(s.answerable) > 0 && r.IntN(3) != 0 {
		if i := pickDue(len(s.answerable), func(j int) bool { return s.answerable[j].due <= cycle }, r); i >= 0 {
			o := s.answerable[i]
			s.answerable[i] = s.answerable[len(s.answerable)-1]
			s.answerable = s.answerable[:len(s.answerable)-1]
			var cpl []byte
			if r.IntN(4) == 0 {
				// a short result of the station's own (an atomic's, a fault)
				o.rstatus = uint64(r.IntN(16))
				cpl = s.bytes(r.IntN(min(8, p.V) + 1))
			} else {
				o.rstatus = o.estatus
				cpl = o.evalue
			}
			o.rvlen = len(cpl)
			o.rvalue = le64(cpl, 0)
			o.cplW = s.words(cpl, s.vw)
			o.phase, o.respAt = gpAnswered, cycle
			s.stResp = append(s.stResp, o)
			in[s.sl["rs_resp_valid"].Off] = 1
			s.put(in, "rs_resp_tag", uint64(o.tag))
			s.put(in, "rs_resp_status", o.rstatus)
			s.put(in, "rs_resp_vlen", uint64(o.rvlen))
			s.put(in, "rs_resp_value", o.rvalue)
		}
	}
	copy(s.lastIn, in)
	return true, nil
}

// requestRecord is the station's pipeline record for a request it took:
// an ATOMIC goes to the pipeline as a GET (rs.md §2: never ATOMIC), and
// only PUTs and vector operations carry their value.
func (s *glueStim) requestRecord(o *glueOp) *gluePipe {
	e := &gluePipe{
		id: take(s.rng, &s.freeIDs), op: o, tag: uint64(o.tag), opc: o.op, fid: min(o.fid, uint64(s.p.N)),
		klen: uint64(len(o.key)), keyW: o.keyW,
		delta: le64(o.val, 0) & s.wmask, cmp: le64(o.val, 8) & s.wmask, swap: le64(o.val, 16) & s.wmask,
		aux: o.bucket<<uint(s.p.H) | o.sec,
	}
	if e.opc == 3 {
		e.opc = 0
	}
	if e.opc == 1 || e.opc >= 4 {
		e.vlen, e.value = uint64(len(o.val)), le64(o.val, 0)
	}
	if e.vlen > 8 {
		e.htValW, e.longReq = o.valW, true
	} else {
		e.htValW = make([]uint64, s.vw)
		e.htValW[0] = e.value
	}
	return e
}

// writeBack is a write-back of a random slot: id M+slot, tag 0, a PUT of
// a short value.
func (s *glueStim) writeBack() *gluePipe {
	r := s.rng
	key := s.bytes(1 + r.IntN(s.p.K))
	val := s.bytes(r.IntN(min(8, s.p.V) + 1))
	e := &gluePipe{
		id: take(r, &s.freeWB), opc: 1, klen: uint64(len(key)), keyW: s.words(key, s.kw),
		vlen: uint64(len(val)), value: le64(val, 0), aux: r.Uint64() & model.Mask(s.p.A), wback: true,
	}
	e.htValW = make([]uint64, s.vw)
	e.htValW[0] = e.value
	return e
}

// observe checks the outputs of cycle c (from the state after cycle c−1)
// against §4.4, then follows the transfers of cycle c.
func (s *glueStim) observe(c uint64, out []uint64) error {
	in := s.lastIn
	p := &s.p

	// iss_ready = credits > 0.
	if err := s.check(out, glueField{"iss_ready", b2u(s.inGlue < glue.DA)}); err != nil {
		return fmt.Errorf("%v (%d operations between issue and the station)", err, s.inGlue)
	}

	// kh_in_*: the operation taken in c−1.
	if o := s.toKh; o != nil {
		if err := s.check(out, glueField{"kh_in_valid", 1}, glueField{"kh_in_len", uint64(len(o.key))},
			glueField{"kh_in_tag", uint64(o.tag)}); err != nil {
			return fmt.Errorf("kh_in of op #%d (tag %d, taken in %d): %v", o.n, o.tag, o.takenAt, err)
		}
		if err := s.checkWords(out, "kh_in_key", o.keyW); err != nil {
			return fmt.Errorf("kh_in of op #%d: %v", o.n, err)
		}
		// what kvd_keyhash computes from its in_* bus, 3 cycles later
		b, sec, sl := s.h.Bus(s.getWords(out, "kh_in_key"), s.get(out, "kh_in_len"))
		s.khQ = append(s.khQ, khAns{op: o, due: c + keyhash.Latency, bucket: b, sec: sec, slot: sl})
		s.toKh = nil
	} else if out[s.sl["kh_in_valid"].Off] != 0 {
		return fmt.Errorf("kh_in_valid = 1 with no operation taken in cycle %d", c-1)
	}

	// rs_req_* = AF's head and its operation.
	if len(s.afQ) > 0 {
		o := s.afQ[0]
		if err := s.checkReq(out, o); err != nil {
			return fmt.Errorf("rs_req of op #%d (tag %d): %v", o.n, o.tag, err)
		}
	} else if out[s.sl["rs_req_valid"].Off] != 0 {
		return fmt.Errorf("rs_req_valid = 1 with AF empty")
	}

	// rs_pipe_ready = |EF| < DE; ht_req_* = EF's head.
	if err := s.check(out, glueField{"rs_pipe_ready", b2u(len(s.efQ) < glue.DE)}); err != nil {
		return fmt.Errorf("%v (|EF| = %d)", err, len(s.efQ))
	}
	if len(s.efQ) > 0 {
		e := s.efQ[0]
		if err := s.checkHt(out, e); err != nil {
			return fmt.Errorf("ht_req of id %d (%s): %v", e.id, s.recName(e), err)
		}
	} else if out[s.sl["ht_req_valid"].Off] != 0 {
		return fmt.Errorf("ht_req_valid = 1 with EF empty")
	}

	// rs_cpl_* = the engine's answer of c−1.
	var done *gluePipe
	if len(s.engAns) > 0 && s.engAns[0].ansAt == c-1 {
		done = s.engAns[0]
		s.engAns = s.engAns[1:]
		if err := s.check(out, glueField{"rs_cpl_valid", 1}, glueField{"rs_cpl_id", uint64(done.id)},
			glueField{"rs_cpl_status", done.status}, glueField{"rs_cpl_vlen", uint64(len(done.ans))},
			glueField{"rs_cpl_value", le64(done.ans, 0)}); err != nil {
			return fmt.Errorf("rs_cpl of id %d (%s, answered in %d): %v", done.id, s.recName(done), done.ansAt, err)
		}
	} else if out[s.sl["rs_cpl_valid"].Off] != 0 {
		return fmt.Errorf("rs_cpl_valid = 1 with no engine answer in cycle %d", c-1)
	}

	// cpl_* = the station's response of c−1, its long value by reference.
	var cpl *glueOp
	if len(s.stResp) > 0 && s.stResp[0].respAt == c-1 {
		cpl = s.stResp[0]
		s.stResp = s.stResp[1:]
		if cpl.phase != gpAnswered {
			return fmt.Errorf("a second completion of op #%d (tag %d)", cpl.n, cpl.tag)
		}
		if err := s.check(out, glueField{"cpl_valid", 1}, glueField{"cpl_tag", uint64(cpl.tag)},
			glueField{"cpl_status", cpl.rstatus}, glueField{"cpl_vlen", uint64(cpl.rvlen)}); err != nil {
			return fmt.Errorf("completion of op #%d (tag %d): %v", cpl.n, cpl.tag, err)
		}
		if err := s.checkWords(out, "cpl_value", cpl.cplW); err != nil {
			return fmt.Errorf("completion of op #%d (tag %d, vlen %d): %v", cpl.n, cpl.tag, cpl.rvlen, err)
		}
	} else if out[s.sl["cpl_valid"].Off] != 0 {
		return fmt.Errorf("cpl_valid = 1 (tag %d) with no station response in cycle %d", s.get(out, "cpl_tag"), c-1)
	}

	// The transfers of cycle c.
	if in[s.sl["iss_valid"].Off] != 0 {
		if out[s.sl["iss_ready"].Off] != 0 {
			o := s.cur
			s.cur = nil
			o.phase, o.takenAt = gpHashing, c
			s.toKh = o
			s.inGlue++
			s.pts["glue.issued"]++
			s.nextIssue = c + 1
			switch s.burst {
			case 0: // back to back
			case 1:
				s.nextIssue += uint64(s.rng.IntN(3))
			default:
				if s.rng.IntN(3) == 0 {
					s.nextIssue += uint64(1 + s.rng.IntN(6))
				}
			}
		} else {
			s.pts["glue.credits_exhausted"]++
		}
	}
	if len(s.afQ) > 0 && in[s.sl["rs_req_ready"].Off] != 0 && out[s.sl["rs_req_valid"].Off] != 0 {
		o := s.afQ[0]
		s.afQ = s.afQ[1:]
		o.phase = gpStation
		s.inGlue--
		s.atStation = append(s.atStation, o)
		if o.fid > uint64(p.N) {
			s.pts["glue.fid_clamped"]++
		}
	}
	if o := s.khDriven; o != nil {
		o.phase = gpAF
		s.afQ = append(s.afQ, o)
	}
	popped := len(s.efQ) > 0 && in[s.sl["ht_req_ready"].Off] != 0
	if in[s.sl["rs_pipe_valid"].Off] != 0 {
		if out[s.sl["rs_pipe_ready"].Off] != 0 {
			e := s.pipeCur
			s.pipeCur = nil
			if e.op != nil {
				e.op.phase = gpPipe
			}
			s.efQ = append(s.efQ, e)
			s.pipeFrom = c + 1
			if s.rng.IntN(4) == 0 {
				s.pipeFrom += uint64(1 + s.rng.IntN(4))
			}
		} else {
			s.pts["glue.ef_full"]++
		}
	}
	if popped {
		e := s.efQ[0]
		s.efQ = s.efQ[1:]
		lat := 1 + s.rng.IntN(6)
		if s.rng.IntN(5) == 0 {
			lat = 1 + s.rng.IntN(4*p.M)
		}
		e.due = c + uint64(lat)
		s.engine = append(s.engine, e)
		if e.wback {
			s.pts["glue.write_back"]++
		}
		if e.longReq {
			s.pts["glue.long_request"]++
		}
	}
	if done != nil {
		s.engDone++
		if done.wback {
			s.freeWB = append(s.freeWB, done.id)
		} else {
			s.freeIDs = append(s.freeIDs, done.id)
			o := done.op
			o.phase = gpDone
			o.estatus, o.evalue = done.status, done.ans
			o.due = c + 1
			if s.rng.IntN(4) == 0 {
				o.due += uint64(s.rng.IntN(20))
			}
			s.answerable = append(s.answerable, o)
		}
	}
	if cpl != nil {
		cpl.phase = gpOffered // free: the tag goes back to the pool
		if cpl.rvlen > 8 {
			s.pts["glue.long_response"]++
		}
		s.completed++
		s.freeTags = append(s.freeTags, cpl.tag)
	}
	return nil
}

func (s *glueStim) recName(e *gluePipe) string {
	if e.wback {
		return "a write-back"
	}
	return fmt.Sprintf("op #%d, tag %d", e.op.n, e.op.tag)
}

// checkReq checks rs_req_* against §4.4: the operation as issued, its fid
// clamped to N, operands cut to W bits, its hash as the key-hash unit gave
// it.
func (s *glueStim) checkReq(out []uint64, o *glueOp) error {
	p := &s.p
	if err := s.check(out,
		glueField{"rs_req_valid", 1}, glueField{"rs_req_tag", uint64(o.tag)}, glueField{"rs_req_op", o.op},
		glueField{"rs_req_fid", min(o.fid, uint64(p.N))}, glueField{"rs_req_klen", uint64(len(o.key))},
		glueField{"rs_req_slot", o.slot}, glueField{"rs_req_vlen", uint64(len(o.val))},
		glueField{"rs_req_value", le64(o.val, 0)}, glueField{"rs_req_delta", le64(o.val, 0) & s.wmask},
		glueField{"rs_req_cmp", le64(o.val, 8) & s.wmask}, glueField{"rs_req_swap", le64(o.val, 16) & s.wmask},
		glueField{"rs_req_aux", o.bucket<<uint(p.H) | o.sec}); err != nil {
		return err
	}
	return s.checkWords(out, "rs_req_key", o.keyW)
}

// checkHt checks ht_req_* against the record the station sent: the value
// by reference when it is long, operands cut to E bits, aux split into
// bucket and sec.
func (s *glueStim) checkHt(out []uint64, e *gluePipe) error {
	p := &s.p
	if err := s.check(out,
		glueField{"ht_req_valid", 1}, glueField{"ht_req_tag", uint64(e.id)}, glueField{"ht_req_op", e.opc},
		glueField{"ht_req_klen", e.klen}, glueField{"ht_req_vlen", e.vlen},
		glueField{"ht_req_bucket", e.aux >> uint(p.H)}, glueField{"ht_req_sec", e.aux & model.Mask(p.H)},
		glueField{"ht_req_fid", e.fid}, glueField{"ht_req_delta", e.delta & s.emask},
		glueField{"ht_req_cmp", e.cmp & s.emask}, glueField{"ht_req_swap", e.swap & s.emask}); err != nil {
		return err
	}
	if err := s.checkWords(out, "ht_req_key", e.keyW); err != nil {
		return err
	}
	if err := s.checkWords(out, "ht_req_value", e.htValW); err != nil {
		return fmt.Errorf("vlen %d: %v", e.vlen, err)
	}
	return nil
}

func (s *glueStim) Progress() uint64 { return s.completed }

// Requests is the number of operations completed and checked.
func (s *glueStim) Requests() uint64 { return s.completed }

func (s *glueStim) Describe(cycle uint64) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d operations issued, %d completed; %d between issue and the station (AF %d), %d at the station, "+
		"EF %d, %d at the engine, %d awaiting the station's response; %d write-backs",
		s.pts["glue.issued"], s.completed, s.inGlue, len(s.afQ), len(s.atStation), len(s.efQ), len(s.engine),
		len(s.answerable), s.pts["glue.write_back"])
	if len(s.efQ) > 0 {
		fmt.Fprintf(&b, "; EF head: id %d (%s)", s.efQ[0].id, s.recName(s.efQ[0]))
	}
	return b.String()
}

func (s *glueStim) Points() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range gluePoints {
		out[p] = s.pts[p]
	}
	return out
}
