package glue

import (
	"math/rand/v2"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
)

// loop is a closed loop around the glue: a front end, the real key-hash
// unit, a station and an engine, the last three stand-ins that keep their
// contracts (each tag once in flight, ids once in the pipeline, answers at
// least a cycle after the request, a long station response only after the
// engine gave the value) at random rates and latencies. It checks what
// crosses the glue: every request's value reaches the engine whole when
// long and as the station's 8 bytes when short, every response's value
// reaches the front end whole when long, keys, hashes and tags
// end to end.
type loop struct {
	t   *testing.T
	cfg config.Config
	d   *driver
	r   *rand.Rand
	p   Params

	freeTags []int
	ops      map[int]*lop // by tag
	atRS     [][2]int     // tags the station took (and the cycle), not yet sent to the pipeline
	freeIDs  []int
	offer    *pipeRec // the station's offered pipeline record
	wbBusy   map[int]bool
	inEngine []eng // taken by the engine, to answer
	rsResp   []sresp
	pending  map[int]sresp // by id: the station's response once the completion arrives
	idTag    map[int]int   // ids in EF or at the engine: their tags

	issued, answered, longReq, longRsp, writeBacks int
}

type lop struct {
	op         int
	key, value []byte
	rsp        []byte // the engine's answer
	fid        int
	aux        uint64
	delta      uint64 // the station's operands, as sent to the pipeline
	cmp, swap  uint64
}

type eng struct {
	id, tag int
	due     int
	rsp     []byte
}

type sresp struct {
	tag, due int
	status   uint64
	value    []byte
}

func newLoop(t *testing.T, cfg config.Config, seed uint64) *loop {
	l := &loop{t: t, cfg: cfg, d: newDriver(t, cfg), r: rand.New(rand.NewPCG(seed, 1)),
		ops: map[int]*lop{}, idTag: map[int]int{}, wbBusy: map[int]bool{}, pending: map[int]sresp{}}
	l.d.withHash(cfg)
	l.p = l.d.m.Params()
	for i := 0; i < l.p.M; i++ {
		l.freeTags = append(l.freeTags, i)
		l.freeIDs = append(l.freeIDs, i)
	}
	return l
}

func (l *loop) out(name string) uint64 { return l.d.peek(name) }

func (l *loop) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(l.r.IntN(256))
	}
	return b
}

func (l *loop) cycle() {
	d, r, p := l.d, l.r, l.p
	c := d.cyc

	// Front end: offer an operation with a free tag.
	if len(l.freeTags) > 0 && r.IntN(4) != 0 {
		i := r.IntN(len(l.freeTags))
		tag := l.freeTags[i]
		o := &lop{op: []int{opGet, opPut, opS2S, opV2V}[r.IntN(4)], key: l.bytes(1 + r.IntN(p.K))}
		switch o.op {
		case opPut, opV2V:
			if r.IntN(2) == 0 {
				o.value = l.bytes(r.IntN(9))
			} else {
				o.value = l.bytes(9 + r.IntN(p.V-8))
			}
		case opS2S:
			o.value = l.bytes(24)
		}
		o.fid = r.IntN(256)
		d.issue(tag, o.op, o.fid, o.key, o.value)
		if l.out("iss_ready") == 1 {
			l.freeTags = append(l.freeTags[:i], l.freeTags[i+1:]...)
			l.ops[tag] = o
			l.issued++
		}
	}

	// Station, arrival side.
	if l.out("rs_req_valid") == 1 && r.IntN(3) != 0 {
		tag := int(l.out("rs_req_tag"))
		o := l.ops[tag]
		if o == nil {
			l.t.Fatalf("cycle %d: rs_req_tag %d not issued", c, tag)
		}
		bucket, sec, slot := keyhash.Hash(l.cfg, o.key)
		o.aux = bucket<<uint(p.H) | sec
		if l.out("rs_req_slot") != slot || l.out("rs_req_aux") != o.aux || l.out("rs_req_vlen") != uint64(len(o.value)) ||
			l.out("rs_req_value") != pack(o.value, 1)[0] || l.out("rs_req_op") != uint64(o.op) ||
			l.out("rs_req_fid") != uint64(min(o.fid, p.N)) || l.out("rs_req_klen") != uint64(len(o.key)) ||
			!equalWords(d.peekWords("rs_req_key"), pack(o.key, d.m.kw)) {
			l.t.Fatalf("cycle %d: rs_req_* for tag %d wrong", c, tag)
		}
		d.set("rs_req_ready", 1)
		if o.op == opGet && r.IntN(4) == 0 {
			// served from the station's cache: a short answer, no pipeline
			l.rsResp = append(l.rsResp, sresp{tag: tag, due: c + 1 + r.IntN(3), value: l.bytes(r.IntN(9))})
		} else {
			l.atRS = append(l.atRS, [2]int{tag, c})
		}
	}

	// Station, pipeline side: a request's operation or a write-back.
	if l.offer == nil {
		if i := r.IntN(len(l.atRS) + 1); i < len(l.atRS) && l.atRS[i][1] < c && len(l.freeIDs) > 0 && r.IntN(2) == 0 {
			tag := l.atRS[i][0]
			l.atRS = append(l.atRS[:i], l.atRS[i+1:]...)
			j := r.IntN(len(l.freeIDs))
			id := l.freeIDs[j]
			l.freeIDs = append(l.freeIDs[:j], l.freeIDs[j+1:]...)
			o := l.ops[tag]
			rec := pipeRec{id: uint64(id), tag: uint64(tag), op: uint64(o.op), key: o.key, aux: o.aux, fid: uint64(min(o.fid, p.N)),
				delta: l.r.Uint64() & model.Mask(p.W), cmp: l.r.Uint64() & model.Mask(p.W), swap: l.r.Uint64() & model.Mask(p.W)}
			o.delta, o.cmp, o.swap = rec.delta, rec.cmp, rec.swap
			if o.op == opS2S {
				rec.op = opGet
			} else if o.op != opGet {
				rec.vlen, rec.value = uint64(len(o.value)), pack(o.value, 1)[0]
			}
			l.offer = &rec
		} else if s := r.IntN(p.R); !l.wbBusy[s] && r.IntN(20) == 0 {
			l.wbBusy[s] = true
			v := l.bytes(r.IntN(9))
			l.offer = &pipeRec{id: uint64(p.M + s), op: opPut, key: l.bytes(1), vlen: uint64(len(v)), value: pack(v, 1)[0]}
		}
	}
	if l.offer != nil {
		d.pipe(*l.offer)
		if l.out("rs_pipe_ready") == 1 {
			if l.offer.id < uint64(p.M) {
				l.idTag[int(l.offer.id)] = int(l.offer.tag)
			}
			l.offer = nil
		}
	}

	// Engine: take a request, check it, answer later.
	if l.out("ht_req_valid") == 1 && r.IntN(3) != 0 {
		id := int(l.out("ht_req_tag"))
		vlen := l.out("ht_req_vlen")
		got := d.peekWords("ht_req_value")
		e := eng{id: id, due: c + 1 + r.IntN(8)}
		if id < p.M {
			tag, ok := l.idTag[id]
			if !ok {
				l.t.Fatalf("cycle %d: ht_req for id %d, which the station did not send", c, id)
			}
			delete(l.idTag, id)
			o := l.ops[tag]
			e.tag = tag
			if !equalWords(d.peekWords("ht_req_key"), pack(o.key, l.d.m.kw)) || l.out("ht_req_klen") != uint64(len(o.key)) {
				l.t.Fatalf("cycle %d: ht_req_key for id %d (tag %d) wrong", c, id, tag)
			}
			want := pack(nil, l.d.m.vw)
			if o.op == opPut || o.op == opV2V {
				// the request's value: whole by reference when long, the
				// station's 8 bytes when short
				want = pack(o.value, l.d.m.vw)
				if vlen != uint64(len(o.value)) {
					l.t.Fatalf("cycle %d: ht_req_vlen %d for tag %d of vlen %d", c, vlen, tag, len(o.value))
				}
				if vlen > 8 {
					l.longReq++
				}
			}
			if !equalWords(got, want) {
				l.t.Fatalf("cycle %d: ht_req_value for id %d (tag %d, vlen %d) wrong", c, id, tag, vlen)
			}
			em := model.Mask(p.E)
			if l.out("ht_req_bucket") != o.aux>>uint(p.H) || l.out("ht_req_sec") != o.aux&model.Mask(p.H) ||
				l.out("ht_req_fid") != uint64(min(o.fid, p.N)) || l.out("ht_req_delta") != o.delta&em ||
				l.out("ht_req_cmp") != o.cmp&em || l.out("ht_req_swap") != o.swap&em {
				l.t.Fatalf("cycle %d: ht_req_* for id %d (tag %d) wrong", c, id, tag)
			}
			if r.IntN(2) == 0 {
				e.rsp = l.bytes(r.IntN(9))
			} else {
				e.rsp = l.bytes(9 + r.IntN(p.V-8))
			}
		}
		d.set("ht_req_ready", 1)
		l.inEngine = append(l.inEngine, e)
	}
	for i, e := range l.inEngine {
		if e.due <= c {
			l.inEngine = append(l.inEngine[:i], l.inEngine[i+1:]...)
			d.engineRsp(uint64(e.id), 0, e.rsp)
			if e.id < p.M {
				l.pending[e.id] = sresp{tag: e.tag, value: e.rsp}
			}
			break
		}
	}

	// Station, completion side: a completion in c1 is answered later.
	if l.out("rs_cpl_valid") == 1 {
		id := int(l.out("rs_cpl_id"))
		if id >= p.M {
			l.wbBusy[id-p.M] = false
			l.writeBacks++
		} else {
			s, ok := l.pending[id]
			if !ok {
				l.t.Fatalf("cycle %d: rs_cpl_id %d not answered by the engine", c, id)
			}
			delete(l.pending, id)
			if l.out("rs_cpl_vlen") != uint64(len(s.value)) || l.out("rs_cpl_value") != pack(s.value, 1)[0] {
				l.t.Fatalf("cycle %d: rs_cpl_* for id %d wrong", c, id)
			}
			s.due = c + 1 + r.IntN(4)
			l.rsResp = append(l.rsResp, s)
			l.freeIDs = append(l.freeIDs, id)
		}
	}
	for i, s := range l.rsResp {
		if s.due <= c {
			l.rsResp = append(l.rsResp[:i], l.rsResp[i+1:]...)
			d.stationResp(uint64(s.tag), s.status, uint64(len(s.value)), first8(s.value))
			l.ops[s.tag].rsp = s.value
			break
		}
	}

	// Front end: completions.
	if l.out("cpl_valid") == 1 {
		tag := int(l.out("cpl_tag"))
		o := l.ops[tag]
		if o == nil {
			l.t.Fatalf("cycle %d: cpl_tag %d not in flight", c, tag)
		}
		if l.out("cpl_vlen") != uint64(len(o.rsp)) || !equalWords(d.peekWords("cpl_value"), pack(o.rsp, l.d.m.vw)) {
			l.t.Fatalf("cycle %d: cpl_* for tag %d (vlen %d, want %d) wrong", c, tag, l.out("cpl_vlen"), len(o.rsp))
		}
		if len(o.rsp) > 8 {
			l.longRsp++
		}
		delete(l.ops, tag)
		l.freeTags = append(l.freeTags, tag)
		l.answered++
	}
	d.step()
}

// run runs n cycles and checks that the loop did what it should: issued
// and answered operations, long values both ways, write-backs.
func (l *loop) run(n int) {
	for range n {
		l.cycle()
	}
	if l.answered < n/8 || l.longReq < n/100 || l.longRsp < n/100 || l.writeBacks < n/400 {
		l.t.Fatalf("%d cycles: %d issued, %d answered, %d long requests, %d long responses, %d write-backs",
			n, l.issued, l.answered, l.longReq, l.longRsp, l.writeBacks)
	}
	l.t.Logf("%s: %d cycles: %d issued, %d answered, %d long requests, %d long responses, %d write-backs",
		l.cfg.Name, n, l.issued, l.answered, l.longReq, l.longRsp, l.writeBacks)
}

func TestClosedLoop(t *testing.T) {
	for i, cfg := range []config.Config{preset(t, "sim"), preset(t, "paper"), narrow(t)} {
		newLoop(t, cfg, uint64(i+1)).run(20000)
	}
}
