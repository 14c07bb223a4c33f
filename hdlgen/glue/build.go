package glue

import (
	"fmt"
	"strings"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

type gen struct {
	z      Sizes
	m      *ir.Module
	bigMem bool // the per-tag memories ask for block RAM (T above the FIFO threshold)
	p      map[string]*ir.Signal
}

func k(w int, v uint64) ir.Expr { return ir.C(w, v) }

var (
	zero1 = ir.C(1, 0)
	one1  = ir.C(1, 1)
)

// wire declares a wire driven by e.
func (g *gen) wire(name, comment string, e ir.Expr) *ir.Signal {
	s := g.m.Wire(name, max(1, e.Width()))
	s.Comment = comment
	g.m.Assign(s, e)
	return s
}

// queue is a small FIFO held in distributed RAM with combinational reads:
// the head drives outputs in the cycle it is at the front (a read of state
// addressed by state), and the head of the next cycle is known before the
// edge, so a per-tag block memory can be read one cycle ahead.
type queue struct {
	name           string
	depth, aw      int
	mem            *ir.Memory
	rp, rpN        *ir.Signal
	wp, wpN        *ir.Signal
	empty          *ir.Signal
	head           *ir.Signal // the word at the front (state)
	push, pop      *ir.Signal
	rpAfter        *ir.Signal // rp after this cycle's pop
	nextFromPushed *ir.Signal // the next cycle's head is the word pushed this cycle
	nextStored     *ir.Signal // the word at rpAfter (in memory)
}

func (g *gen) queue(name string, w, depth int, comment string) *queue {
	m := g.m
	q := &queue{name: name, depth: depth}
	for 1<<uint(q.aw) < depth {
		q.aw++
	}
	q.mem = m.Mem(name+"_mem", w, depth, false)
	q.rp, q.rpN = m.RegPair(name+"_rd_ptr", q.aw+1)
	q.rp.Comment = comment + ": read pointer (one bit wider than the address)"
	q.wp, q.wpN = m.RegPair(name+"_wr_ptr", q.aw+1)
	q.wp.Comment = comment + ": write pointer"
	q.empty = g.wire(name+"_empty", "", ir.Eq(q.wp, q.rp))
	q.head = g.wire(name+"_head", comment+": the word at the front", q.mem.Read(ir.Bits(q.rp, q.aw-1, 0)))
	return q
}

// full is the queue's full flag: the pointers differ only in the wrap bit.
func (g *gen) full(q *queue) *ir.Signal {
	return g.wire(q.name+"_full", fmt.Sprintf("%d entries", q.depth), ir.Eq(ir.Xor(q.wp, q.rp), ir.Cat(one1, k(q.aw, 0))))
}

// advance declares the queue's push and pop and the read-ahead of the next
// head, once both are known.
func (g *gen) advance(q *queue, push, pop ir.Expr) {
	q.push = g.wire(q.name+"_push", "", push)
	q.pop = g.wire(q.name+"_pop", "", pop)
	q.rpAfter = g.wire(q.name+"_rd_ptr_after", "the read pointer after this cycle's pop",
		ir.Add(q.rp, ir.Zext(q.pop, q.aw+1)))
	q.nextFromPushed = g.wire(q.name+"_next_is_pushed", "next cycle's head is the word pushed now (or the queue will be empty)",
		ir.Eq(q.rpAfter, q.wp))
	q.nextStored = g.wire(q.name+"_next_stored", "next cycle's head when it is already stored",
		q.mem.Read(ir.Bits(q.rpAfter, q.aw-1, 0)))
	g.m.MarkUnused(q.nextStored) // only its tag field is read
}

// comb and seq blocks of a queue: pointer updates, the write and the reset.
func (q *queue) combine(b *ir.Block) {
	b.Set(q.rpN, q.rp)
	b.Set(q.wpN, q.wp)
	b.If(q.push, func(b *ir.Block) { b.Set(q.wpN, ir.Add(q.wp, k(q.aw+1, 1))) }, nil)
	b.If(q.pop, func(b *ir.Block) { b.Set(q.rpN, ir.Add(q.rp, k(q.aw+1, 1))) }, nil)
}

func (q *queue) clock(b *ir.Block, data ir.Expr) {
	b.Set(q.rp, q.rpN)
	b.Set(q.wp, q.wpN)
	b.If(q.push, func(b *ir.Block) { b.Write(q.mem, ir.Bits(q.wp, q.aw-1, 0), data) }, nil)
}

func (q *queue) reset(b *ir.Block) {
	b.Set(q.rp, k(q.aw+1, 0))
	b.Set(q.wp, k(q.aw+1, 0))
}

// ahead is a per-tag memory read one cycle ahead: at each edge its read
// register loads the word at the address the next cycle's queue head will
// have, so in that cycle it holds mem[head] as a combinational read would —
// a registered read (block RAM) with exactly the timing of processor.md
// §4.4. A write in the same edge to that same address (which the §4.5 tag
// rules exclude) is bypassed from a copy of the written word, so the value
// is the written one in every case, as a combinational read of the state
// after the edge would give.
type ahead struct {
	q, byp, bypN, wd *ir.Signal
	out              *ir.Signal
	addr, hit        *ir.Signal
}

func (g *gen) ahead(name string, mem *ir.Memory, addr ir.Expr, wen ir.Expr, waddr ir.Expr) *ahead {
	m := g.m
	a := &ahead{}
	a.addr = g.wire(name+"_rd_addr", "the tag at the front of the queue next cycle", addr)
	a.q = m.Reg(name+"_rd_reg", mem.Width)
	a.q.Comment = fmt.Sprintf("read register of %s, loaded at %s_rd_addr each edge", mem.Name, name)
	a.byp, a.bypN = m.RegPair(name+"_byp", 1)
	a.byp.Comment = "the same edge wrote that address: the word is in " + name + "_wd_reg"
	a.wd = m.Reg(name+"_wd_reg", mem.Width)
	a.wd.Comment = "the word written in that case"
	a.hit = g.wire(name+"_wr_hit", "a write this edge to the address read ahead", ir.LAnd(wen, ir.Eq(waddr, a.addr)))
	a.out = g.wire(name+"_rd", mem.Name+"[the head's tag]", ir.Sel(a.byp, a.wd, a.q))
	return a
}

func (a *ahead) clock(b *ir.Block, mem *ir.Memory, wdata ir.Expr) {
	b.Set(a.q, mem.Read(a.addr))
	b.Set(a.byp, a.bypN)
	b.If(a.hit, func(b *ir.Block) { b.Set(a.wd, wdata) }, nil)
}

func (g *gen) build() (*ir.Module, error) {
	z := g.z
	T, TW, M, MW, I, K, KL, V, VL, W, E, F, BI, H, A, S, CW := z.T, z.TW, z.M, z.MW, z.I, z.K, z.KL, z.V, z.VL, z.W, z.E, z.F, z.BI, z.H, z.A, z.S, z.CW
	m := ir.NewModule(Name)
	g.m = m

	// ---- records --------------------------------------------------------------------------
	afRec := ir.NewRecord().Add("sec", H).Add("bucket", BI).Add("slot", S).Add("tag", TagBits)
	oprRec := ir.NewRecord().Add("op", OpBits).Add("fid", F).Add("klen", KL).Add("key", 8*K).Add("vlen", VL).
		Add("v64", 64).Add("cmp", W).Add("swap", W)
	efRec := ir.NewRecord().Add("id", I).Add("tag", TW).Add("op", OpBits).Add("fid", F).Add("key", 8*K).Add("klen", KL).
		Add("vlen", VL).Add("value", 64).Add("delta", E).Add("cmp", E).Add("swap", E).Add("aux", A)
	m.Doc = g.doc(afRec, oprRec, efRec)

	// ---- ports (processor.md 4.2, in table order) -------------------------------------------
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	groups := []struct{ prefix, name string }{
		{"iss_", "Operations from the front end (valid/ready)"},
		{"cpl_", "Completions to the front end (no back-pressure)"},
		{"kh_in_", "Key-hash unit: keys in"},
		{"kh_out_", "Key-hash unit: hashes out"},
		{"rs_req_", "Station: requests (valid/ready)"},
		{"rs_pipe_", "Station: pipeline operations (valid/ready)"},
		{"rs_cpl_", "Station: pipeline completions (no back-pressure)"},
		{"rs_resp_", "Station: responses (no back-pressure)"},
		{"ht_req_", "Engine: requests (valid/ready)"},
		{"ht_rsp_", "Engine: responses (no back-pressure)"},
	}
	g.p = map[string]*ir.Signal{}
	for _, pt := range z.ports() {
		grp := ""
		for _, gr := range groups {
			if strings.HasPrefix(pt.Name, gr.prefix) {
				grp = gr.name
				break
			}
		}
		if pt.Out {
			g.p[pt.Name] = m.Output(grp, pt.Name, pt.W)
		} else {
			g.p[pt.Name] = m.Input(grp, pt.Name, pt.W)
		}
	}
	p := func(name string) *ir.Signal {
		s, ok := g.p[name]
		if !ok {
			panic("glue: no port " + name)
		}
		return s
	}
	// Only the low TW bits of a station tag name a tag (it is < T): the
	// engine queue keeps those. Vector operands reach the engine as their
	// low E bits.
	m.MarkUnused(p("rs_pipe_tag"))
	if E < W {
		for _, n := range []string{"rs_pipe_delta", "rs_pipe_cmp", "rs_pipe_swap"} {
			m.MarkUnused(p(n))
		}
	}

	// ---- per-tag memories (processor.md 4.3) ------------------------------------------------
	depth := max(2, T) // the IR's memories are never a single word
	oprMem := m.Mem("opr_mem", oprRec.W, depth, g.bigMem)
	reqvMem := m.Mem("reqv_mem", 8*V, depth, true)
	rspvMem := m.Mem("rspv_mem", 8*V, depth, true)
	// etag is per station operation id (processor.md 4.3), not per tag.
	etagMem := m.Mem("etag_mem", TW, max(2, M), false)
	tagIdx := func(name string, tag *ir.Signal) *ir.Signal {
		return g.wire(name, "", ir.Bits(tag, TW-1, 0))
	}

	// ---- 1. issue, the key-hash register and the credits --------------------------------------
	credits, creditsN := m.RegPair("credits", CW)
	credits.Comment = fmt.Sprintf("arrival credits, 0..%d: operations issued and not yet taken by the station", DA)
	khValid, khValidN := m.RegPair("kh_valid", 1)
	khKey, khKeyN := m.RegPair("kh_key", 8*K)
	khLen, khLenN := m.RegPair("kh_len", KL)
	khTag, khTagN := m.RegPair("kh_tag", TagBits)
	issRdy := g.wire("iss_rdy", "processor.md 4.4: credits > 0 (state only)", ir.Ne(credits, k(CW, 0)))
	issue := g.wire("issue", "4.5.1: an operation is taken", ir.LAnd(p("iss_valid"), issRdy))
	issIdx := tagIdx("iss_idx", p("iss_tag"))
	issValue := p("iss_value")
	byteW := func(x *ir.Signal, i, w int) ir.Expr { return ir.Bits(x, 64*i+w-1, 64*i) }
	fidCl := g.wire("iss_fid_clamped", fmt.Sprintf("min(iss_fid, N = %d)", z.N),
		ir.Sel(ir.Gt(p("iss_fid"), k(IssFidBits, uint64(z.N))), k(F, uint64(z.N)), ir.Bits(p("iss_fid"), F-1, 0)))
	oprWord := g.wire("opr_word", "opr[g] as written at issue", oprRec.Pack(map[string]ir.Expr{
		"op": p("iss_op"), "fid": fidCl, "klen": p("iss_klen"), "key": p("iss_key"), "vlen": p("iss_vlen"),
		"v64": byteW(issValue, 0, 64), "cmp": byteW(issValue, 1, W), "swap": byteW(issValue, 2, W),
	}))

	// ---- 2./3. AF: hashed operations waiting for the station ----------------------------------
	af := g.queue("af", afRec.W, DA, "AF")
	afPush := p("kh_out_valid") // it has room: credits
	afPop := ir.LAnd(ir.LNot(af.empty), p("rs_req_ready"))
	g.advance(af, afPush, afPop)
	afWord := g.wire("af_word", "{tag, slot, bucket, sec} of the key hashed this cycle",
		afRec.Pack(map[string]ir.Expr{"tag": p("kh_out_tag"), "slot": p("kh_out_slot"), "bucket": p("kh_out_bucket"), "sec": p("kh_out_sec")}))
	afNextTag := ir.Sel(af.nextFromPushed, ir.Bits(p("kh_out_tag"), TW-1, 0), ir.Bits(afRec.Get(af.nextStored, "tag"), TW-1, 0))
	opr := g.ahead("opr", oprMem, afNextTag, issue, issIdx)
	oprHead := opr.out
	afHead := af.head

	m.Comb("issue, key-hash register and credits (processor.md 4.5.1, 4.5.3)", func(b *ir.Block) {
		b.Set(creditsN, credits)
		b.Set(khValidN, zero1)
		b.Set(khKeyN, khKey)
		b.Set(khLenN, khLen)
		b.Set(khTagN, khTag)
		b.If(issue, func(b *ir.Block) {
			b.Set(khValidN, one1)
			b.Set(khKeyN, p("iss_key"))
			b.Set(khLenN, p("iss_klen"))
			b.Set(khTagN, p("iss_tag"))
		}, nil)
		b.If(ir.LAnd(issue, ir.LNot(af.pop)), func(b *ir.Block) {
			b.Set(creditsN, ir.Sub(credits, k(CW, 1)))
		}, func(b *ir.Block) {
			b.If(ir.LAnd(af.pop, ir.LNot(issue)), func(b *ir.Block) {
				b.Set(creditsN, ir.Add(credits, k(CW, 1)))
			}, nil)
		})
	})
	m.Seq(clk, "issue: registers and the per-tag request memories", func(b *ir.Block) {
		b.Set(credits, creditsN)
		b.Set(khValid, khValidN)
		b.Set(khKey, khKeyN)
		b.Set(khLen, khLenN)
		b.Set(khTag, khTagN)
		b.If(issue, func(b *ir.Block) {
			b.Write(oprMem, issIdx, oprWord)
			b.Write(reqvMem, issIdx, issValue)
		}, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(credits, k(CW, DA))
			b.Set(khValid, zero1)
		}, nil)
	})

	m.Comb("AF: pointers (processor.md 4.5.2, 4.5.3)", func(b *ir.Block) {
		af.combine(b)
		b.Set(opr.bypN, opr.hit)
	})
	m.Seq(clk, "AF: registers, its memory, and opr read one cycle ahead", func(b *ir.Block) {
		af.clock(b, afWord)
		opr.clock(b, oprMem, oprWord)
		b.If(rst, func(b *ir.Block) {
			af.reset(b)
			b.Set(opr.byp, zero1)
		}, nil)
	})

	// ---- 4. EF: station pipeline operations waiting for the engine -----------------------------
	ef := g.queue("ef", efRec.W, DE, "EF")
	pipeRdy := g.wire("pipe_rdy", fmt.Sprintf("processor.md 4.4: |EF| < %d (state only)", DE), ir.LNot(g.full(ef)))
	efPush := ir.LAnd(p("rs_pipe_valid"), pipeRdy)
	efPop := ir.LAnd(ir.LNot(ef.empty), p("ht_req_ready"))
	g.advance(ef, efPush, efPop)
	efWord := g.wire("ef_word", "the station's pipeline record", efRec.Pack(map[string]ir.Expr{
		"id": p("rs_pipe_id"), "tag": ir.Bits(p("rs_pipe_tag"), TW-1, 0), "op": p("rs_pipe_op"), "fid": p("rs_pipe_fid"),
		"key": p("rs_pipe_key"), "klen": p("rs_pipe_klen"), "vlen": p("rs_pipe_vlen"), "value": p("rs_pipe_value"),
		"delta": ir.Bits(p("rs_pipe_delta"), E-1, 0), "cmp": ir.Bits(p("rs_pipe_cmp"), E-1, 0),
		"swap": ir.Bits(p("rs_pipe_swap"), E-1, 0), "aux": p("rs_pipe_aux"),
	}))
	efNextTag := ir.Sel(ef.nextFromPushed, ir.Bits(p("rs_pipe_tag"), TW-1, 0), efRec.Get(ef.nextStored, "tag"))
	reqv := g.ahead("reqv", reqvMem, efNextTag, issue, issIdx)
	efHead := ef.head
	efID := g.wire("ef_head_id", "", efRec.Get(efHead, "id"))
	etagWen := g.wire("etag_wen", fmt.Sprintf("4.5.4: etag[e.id] = e.tag; only ids < M = %d are ever read back (write-backs are not)", M),
		ir.LAnd(ef.pop, ir.Lt(efID, k(I, uint64(M)))))
	m.Comb("EF: pointers (processor.md 4.5.4)", func(b *ir.Block) {
		ef.combine(b)
		b.Set(reqv.bypN, reqv.hit)
	})
	m.Seq(clk, "EF: registers, its memory, etag, and reqv read one cycle ahead", func(b *ir.Block) {
		ef.clock(b, efWord)
		reqv.clock(b, reqvMem, issValue)
		b.If(etagWen, func(b *ir.Block) {
			b.Write(etagMem, ir.Bits(efID, MW-1, 0), efRec.Get(efHead, "tag"))
		}, nil)
		b.If(rst, func(b *ir.Block) {
			ef.reset(b)
			b.Set(reqv.byp, zero1)
		}, nil)
	})

	// ---- 5./6. answers: c1 (engine to station), c2 (station to front end) -----------------------
	c1Valid, c1ValidN := m.RegPair("c1_valid", 1)
	c1ID, c1IDN := m.RegPair("c1_id", I)
	c1Status, c1StatusN := m.RegPair("c1_status", StatusBits)
	c1Vlen, c1VlenN := m.RegPair("c1_vlen", VL)
	c1Value, c1ValueN := m.RegPair("c1_value", 64)
	c2Valid, c2ValidN := m.RegPair("c2_valid", 1)
	c2Tag, c2TagN := m.RegPair("c2_tag", TagBits)
	c2Status, c2StatusN := m.RegPair("c2_status", StatusBits)
	c2Vlen, c2VlenN := m.RegPair("c2_vlen", VL)
	c2V64, c2V64N := m.RegPair("c2_v64", 64)
	c2V64.Comment = "rs_resp_value: c2's value when it is short"
	rspvQ := m.Reg("rspv_rd_reg", 8*V)
	rspvQ.Comment = "read register of rspv_mem at rs_resp_tag: c2's value when it is long"
	htTag := p("ht_rsp_tag")
	htValue := p("ht_rsp_value")
	rspvWen := g.wire("rspv_wen", fmt.Sprintf("4.5.5: an engine answer for a tag's operation (ht_rsp_tag < M = %d, not a write-back)", M),
		ir.LAnd(p("ht_rsp_valid"), ir.Lt(htTag, k(TagBits, uint64(M)))))
	etagRd := g.wire("etag_rd", "etag[ht_rsp_tag]: the tag of the operation the engine answers",
		etagMem.Read(ir.Bits(htTag, MW-1, 0)))
	respIdx := tagIdx("resp_idx", p("rs_resp_tag"))
	m.Comb("answers: c1 and c2 (processor.md 4.5.5, 4.5.6)", func(b *ir.Block) {
		b.Set(c1ValidN, p("ht_rsp_valid"))
		b.Set(c1IDN, c1ID)
		b.Set(c1StatusN, c1Status)
		b.Set(c1VlenN, c1Vlen)
		b.Set(c1ValueN, c1Value)
		b.Set(c2ValidN, p("rs_resp_valid"))
		b.Set(c2TagN, c2Tag)
		b.Set(c2StatusN, c2Status)
		b.Set(c2VlenN, c2Vlen)
		b.Set(c2V64N, c2V64)
		b.If(p("ht_rsp_valid"), func(b *ir.Block) {
			b.Set(c1IDN, ir.Bits(htTag, I-1, 0))
			b.Set(c1StatusN, p("ht_rsp_status"))
			b.Set(c1VlenN, p("ht_rsp_vlen"))
			b.Set(c1ValueN, ir.Bits(htValue, 63, 0))
		}, nil)
		b.If(p("rs_resp_valid"), func(b *ir.Block) {
			b.Set(c2TagN, p("rs_resp_tag"))
			b.Set(c2StatusN, p("rs_resp_status"))
			b.Set(c2VlenN, p("rs_resp_vlen"))
			b.Set(c2V64N, p("rs_resp_value"))
		}, nil)
	})
	m.Seq(clk, "answers: registers and the per-tag response memory", func(b *ir.Block) {
		b.Set(c1Valid, c1ValidN)
		b.Set(c1ID, c1IDN)
		b.Set(c1Status, c1StatusN)
		b.Set(c1Vlen, c1VlenN)
		b.Set(c1Value, c1ValueN)
		b.Set(c2Valid, c2ValidN)
		b.Set(c2Tag, c2TagN)
		b.Set(c2Status, c2StatusN)
		b.Set(c2Vlen, c2VlenN)
		b.Set(c2V64, c2V64N)
		b.If(rspvWen, func(b *ir.Block) { b.Write(rspvMem, etagRd, htValue) }, nil)
		b.If(p("rs_resp_valid"), func(b *ir.Block) { b.Set(rspvQ, rspvMem.Read(respIdx)) }, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(c1Valid, zero1)
			b.Set(c2Valid, zero1)
		}, nil)
	})

	// ---- outputs (processor.md 4.4): registers, or reads of state addressed by state -----------
	long := func(vlen ir.Expr) ir.Expr { return ir.Gt(vlen, k(VL, ScalarBytes)) }
	m.Assign(p("iss_ready"), issRdy)
	m.Assign(p("cpl_valid"), c2Valid)
	m.Assign(p("cpl_tag"), c2Tag)
	m.Assign(p("cpl_status"), ir.Zext(c2Status, CplStatusBits))
	m.Assign(p("cpl_vlen"), c2Vlen)
	m.Assign(p("cpl_value"), ir.Sel(long(c2Vlen), rspvQ, ir.Zext(c2V64, 8*V)))
	m.Assign(p("kh_in_valid"), khValid)
	m.Assign(p("kh_in_key"), khKey)
	m.Assign(p("kh_in_len"), khLen)
	m.Assign(p("kh_in_tag"), khTag)
	m.Assign(p("rs_req_valid"), ir.LNot(af.empty))
	m.Assign(p("rs_req_op"), oprRec.Get(oprHead, "op"))
	m.Assign(p("rs_req_fid"), oprRec.Get(oprHead, "fid"))
	m.Assign(p("rs_req_key"), oprRec.Get(oprHead, "key"))
	m.Assign(p("rs_req_klen"), oprRec.Get(oprHead, "klen"))
	m.Assign(p("rs_req_slot"), afRec.Get(afHead, "slot"))
	m.Assign(p("rs_req_vlen"), oprRec.Get(oprHead, "vlen"))
	oprV64 := g.wire("opr_v64", "bytes 0-7 of the value: rs_req_value, and its low W bits rs_req_delta", oprRec.Get(oprHead, "v64"))
	m.Assign(p("rs_req_value"), oprV64)
	m.Assign(p("rs_req_delta"), ir.Bits(oprV64, W-1, 0))
	m.Assign(p("rs_req_cmp"), oprRec.Get(oprHead, "cmp"))
	m.Assign(p("rs_req_swap"), oprRec.Get(oprHead, "swap"))
	m.Assign(p("rs_req_aux"), ir.Bits(afHead, A-1, 0)) // {bucket, sec}: bucket * 2^H + sec
	m.Assign(p("rs_req_tag"), afRec.Get(afHead, "tag"))
	m.Assign(p("rs_pipe_ready"), pipeRdy)
	m.Assign(p("rs_cpl_valid"), c1Valid)
	m.Assign(p("rs_cpl_id"), c1ID)
	m.Assign(p("rs_cpl_status"), c1Status)
	m.Assign(p("rs_cpl_vlen"), c1Vlen)
	m.Assign(p("rs_cpl_value"), c1Value)
	m.Assign(p("ht_req_valid"), ir.LNot(ef.empty))
	m.Assign(p("ht_req_op"), efRec.Get(efHead, "op"))
	m.Assign(p("ht_req_tag"), ir.Zext(efID, TagBits))
	m.Assign(p("ht_req_key"), efRec.Get(efHead, "key"))
	m.Assign(p("ht_req_klen"), efRec.Get(efHead, "klen"))
	efVlen := g.wire("ef_head_vlen", "", efRec.Get(efHead, "vlen"))
	m.Assign(p("ht_req_vlen"), efVlen)
	efValue := g.wire("ef_head_value", "", efRec.Get(efHead, "value"))
	m.Assign(p("ht_req_value"), ir.Sel(long(efVlen), reqv.out, ir.Zext(efValue, 8*V)))
	efAux := g.wire("ef_head_aux", "", efRec.Get(efHead, "aux"))
	m.Assign(p("ht_req_bucket"), ir.Bits(efAux, A-1, H))
	m.Assign(p("ht_req_sec"), ir.Bits(efAux, H-1, 0))
	m.Assign(p("ht_req_fid"), efRec.Get(efHead, "fid"))
	m.Assign(p("ht_req_delta"), efRec.Get(efHead, "delta"))
	m.Assign(p("ht_req_cmp"), efRec.Get(efHead, "cmp"))
	m.Assign(p("ht_req_swap"), efRec.Get(efHead, "swap"))
	if err := m.Err(); err != nil {
		return nil, err
	}
	return m, nil
}
