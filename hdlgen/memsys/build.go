package memsys

import (
	"fmt"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

type clientSig struct {
	rdValid, rdReady, rdAddr, rdBeats          *ir.Signal
	rdataValid, rdataReady, rdata, rLast, rErr *ir.Signal
	wrValid, wrReady, wrAddr, wrData           *ir.Signal
	iq                                         *queue
	rq                                         []*queue
	cq                                         *queue
	held, heldN, sd, sdN                       *ir.Signal
	head, headN, tail, tailN, used, usedN      *ir.Signal
	v, vN, e, eN, last, lastN, lvt             *ir.Signal
	lvtN                                       *ir.Signal
	ov, ovN, ol, olN, oe, oeN, osel, oselN     *ir.Signal
	banks                                      []*ir.Memory
	bwe, bdata                                 []*ir.Signal
	baddr                                      []*ir.Signal
	brd                                        []*ir.Signal
	load                                       *ir.Signal
	// A wide client's second beat: each bank's second read (at head+1),
	// its bank, and whether the transfer has it.
	brd2                   []*ir.Signal
	osel2, osel2N, o2, o2N *ir.Signal
}

type linkSig struct {
	reqValid, reqReady, reqWrite, reqAddr, reqBeats, reqTag, reqData, reqLast *ir.Signal
	cplValid, cplTag, cplData, cplLast, cplErr                                *ir.Signal
	xq                                                                        *queue
	iwq                                                                       *queue
	osB, osBN, osReq, osReqN, osTag, osTagN, osK, osKN                        *ir.Signal
	busy, busyN, sent, sentN, tout, toutN                                     []*ir.Signal
	bc, bcN, issued, issuedN, rec, recN                                       []*ir.Signal
	instRes, instResN, ia, iaN, sp, spN                                       *ir.Signal
	osFree                                                                    *ir.Signal
	arb                                                                       *arb
}

func (g *gen) build() (*ir.Module, error) {
	N, L, T, TW, A := g.N, g.L, g.T, g.TW, g.A
	p := g.p
	m := ir.NewModule(Name)
	g.m = m
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Memory system: %d client ports, %d PCIe links of %d tags, a direct-mapped DRAM cache of 2^%d lines", N, L, T, g.SB),
		Purpose: []string{
			"Merges the client host-memory ports onto the PCIe DMA link ports and the",
			"on-board DRAM port: load dispatcher, DRAM cache (write-back on hit,",
			"write-around on miss, swap-in on reads of swap-in ports), tag pools,",
			"per-client read buffers, timeouts and flush; docs/microarch/memory.md.",
		},
		Protocol: []string{
			"Client ports: docs/microarch.md section 1.7, memory side.",
			"Link and DRAM ports: memory.md sections 3 and 5. Every output is a",
			"function of the state only.",
		},
		Latency: []string{
			"Uncached read: link round trip + 5 cycles to its first beat;",
			"DRAM hit: DRAM latency + 6 (memory.md section 7).",
		},
	}
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	g.lr = g.newLayout("lreq").add("write", 1).add("addr", A).add("beats", 5).add("data", LineBits).
		add("flush", 1).add("client", g.CW).add("rbpos", g.RBW).add("skip", 1).add("n", 5).
		add("install", 1).add("pt", g.PW).add("line", A-6)
	tm := g.newLayout("tagrec").add("flush", 1).add("client", g.CW).add("rbpos", g.RBW).add("skip", 1).add("n", 5).
		add("install", 1).add("pt", g.PW).add("line", A-6)
	g.co = g.newLayout("cop").add("kind", 2).add("client", g.CW).add("line", A-6).add("o", 1).add("n", 2).
		add("rbpos", g.RBW).add("data", LineBits).add("pt", g.PW)
	g.iq = g.newLayout("iq").add("wr", 1).add("addr", A).add("beats", 5).add("rbpos", g.RBW).add("data", BeatBits)
	dw := g.newLayout("dwr").add("slot", g.SBW).add("data", LineBits).add("meta", g.MW).add("pt", g.PW)
	lr, co, iqL := g.lr, g.co, g.iq

	// ---- ports --------------------------------------------------------------------
	cs := make([]*clientSig, N)
	for c := range cs {
		x := fmt.Sprintf("c%d_mem_", c)
		grp := fmt.Sprintf("Client %d (%s)", c, p.Clients[c].Name)
		s := &clientSig{}
		s.rdValid = m.Input(grp, x+"rd_valid", 1)
		s.rdReady = m.Output(grp, x+"rd_ready", 1)
		s.rdAddr = m.Input(grp, x+"rd_addr", A)
		s.rdBeats = m.Input(grp, x+"rd_beats", BeatsBits)
		s.rdataValid = m.Output(grp, x+"rdata_valid", 1)
		s.rdataReady = m.Input(grp, x+"rdata_ready", 1)
		rw := BeatBits
		if p.Clients[c].Wide {
			rw = 2 * BeatBits
		}
		s.rdata = m.Output(grp, x+"rdata", rw)
		s.rLast = m.Output(grp, x+"rdata_last", 1)
		s.rErr = m.Output(grp, x+"rdata_err", 1)
		s.wrValid = m.Input(grp, x+"wr_valid", 1)
		s.wrReady = m.Output(grp, x+"wr_ready", 1)
		s.wrAddr = m.Input(grp, x+"wr_addr", A)
		s.wrData = m.Input(grp, x+"wr_data", BeatBits)
		cs[c] = s
	}
	ls := make([]*linkSig, L)
	for l := range ls {
		x := fmt.Sprintf("l%d_", l)
		grp := fmt.Sprintf("PCIe link %d", l)
		s := &linkSig{}
		s.reqValid = m.Output(grp, x+"req_valid", 1)
		s.reqReady = m.Input(grp, x+"req_ready", 1)
		s.reqWrite = m.Output(grp, x+"req_write", 1)
		s.reqAddr = m.Output(grp, x+"req_addr", A)
		s.reqBeats = m.Output(grp, x+"req_beats", BeatsBits)
		s.reqTag = m.Output(grp, x+"req_tag", TW)
		s.reqData = m.Output(grp, x+"req_data", BeatBits)
		s.reqLast = m.Output(grp, x+"req_last", 1)
		s.cplValid = m.Input(grp, x+"cpl_valid", 1)
		s.cplTag = m.Input(grp, x+"cpl_tag", TW)
		s.cplData = m.Input(grp, x+"cpl_data", BeatBits)
		s.cplLast = m.Input(grp, x+"cpl_last", 1)
		s.cplErr = m.Input(grp, x+"cpl_err", 1)
		ls[l] = s
	}
	const dg, fg = "DRAM", "Flush"
	dReqValid := m.Output(dg, "dram_req_valid", 1)
	dReqReady := m.Input(dg, "dram_req_ready", 1)
	dReqWrite := m.Output(dg, "dram_req_write", 1)
	dReqAddr := m.Output(dg, "dram_req_addr", g.SBW)
	dReqData := m.Output(dg, "dram_req_data", LineBits)
	dReqMeta := m.Output(dg, "dram_req_meta", g.MW)
	dRspValid := m.Input(dg, "dram_rsp_valid", 1)
	dRspData := m.Input(dg, "dram_rsp_data", LineBits)
	dRspMeta := m.Input(dg, "dram_rsp_meta", g.MW)
	fValid := m.Input(fg, "flush_valid", 1)
	fReady := m.Output(fg, "flush_ready", 1)
	fDone := m.Output(fg, "flush_done", 1)
	for _, s := range ls {
		m.MarkUnused(s.cplLast) // beats are counted; a legal link sets last on the final one
	}

	// ---- hashes -------------------------------------------------------------------
	linkOf := func(name string, block ir.Expr) ir.Expr { // block: A-9 bits
		if L == 1 {
			return k(2, 0)
		}
		h := g.wire(name+"_hl", g.h3(block, g.rowsL, 8))
		prod := ir.Mul(ir.Zext(h, 11), k(11, uint64(L)))
		return g.wire(name+"_link", g.bitsOf(prod, 9, 8))
	}
	tgc := min(g.TG, 16)
	// hD(x) for line x (A-6 bits).
	hD := func(name string, x ir.Expr) ir.Expr {
		x = g.sigOf(x)
		var parts []ir.Expr
		if A-6 > g.SB+tgc {
			parts = append(parts, g.bitsOf(x, A-7, g.SB+tgc))
		}
		parts = append(parts, k(tgc, 0), g.bitsOf(x, g.SB-1, 0))
		cleared := ir.Cat(parts...)
		base := g.h3(cleared, g.rowsD, 16)
		tagBits := make([]ir.Expr, 16) // msb first
		for j := 15; j >= 0; j-- {
			i := 15 - j // result bit j comes from tag bit i
			if i < tgc {
				tagBits[15-j] = g.bitOf(x, g.SB+i)
			} else {
				tagBits[15-j] = k(1, 0)
			}
		}
		return g.wire(name+"_hd", ir.Xor(base, ir.Cat(tagBits...)))
	}
	cacheable := func(h ir.Expr) ir.Expr {
		if g.LTH >= 65536 {
			return k(1, 1)
		}
		return ir.Lt(h, k(16, g.LTH))
	}
	xorJ := func(j int) uint64 { // hD contribution of line bits 0..2 = j
		var v uint64
		for b := 0; b < 3; b++ {
			if j>>uint(b)&1 != 0 {
				v ^= g.rowsD[b]
			}
		}
		return v
	}
	lk := func(e ir.Expr) ir.Expr { return g.fit(e, 2) }

	// ---- state --------------------------------------------------------------------
	for c, s := range cs {
		x := fmt.Sprintf("c%d_", c)
		s.iq = g.queue(x+"iq", iqL.W, p.Q, 2, 3)
		for l := 0; l < L; l++ {
			s.rq = append(s.rq, g.queue(fmt.Sprintf("%srq%d", x, l), lr.W, p.RQ, 1, 1))
		}
		s.cq = g.queue(x+"cq", co.W, p.RQ, 1, 1)
		s.held, s.heldN = g.state(x+"held", 1, true, 0)
		s.sd, s.sdN = g.state(x+"sd", 5, true, 0)
		s.head, s.headN = g.state(x+"rb_head", g.RBW, true, 0)
		s.tail, s.tailN = g.state(x+"rb_tail", g.RBW, true, 0)
		s.used, s.usedN = g.state(x+"rb_used", g.RBW+1, true, 0)
		s.v, s.vN = g.state(x+"rb_v", p.RB, true, 0)
		s.e, s.eN = g.state(x+"rb_e", p.RB, false, 0)
		s.last, s.lastN = g.state(x+"rb_last", p.RB, false, 0)
		s.lvt, s.lvtN = g.state(x+"rb_lvt", p.RB*g.LW, false, 0)
		s.ov, s.ovN = g.state(x+"ov", 1, true, 0)
		s.ol, s.olN = g.state(x+"ol", 1, false, 0)
		s.oe, s.oeN = g.state(x+"oe", 1, false, 0)
		s.osel, s.oselN = g.state(x+"osel", g.LW, false, 0)
		s.load = g.ev(x+"load", 1)
		for b := 0; b < L+2; b++ {
			s.banks = append(s.banks, m.Mem(fmt.Sprintf("%srb_bank%d", x, b), BeatBits, p.RB, true))
			s.bwe = append(s.bwe, g.ev(fmt.Sprintf("%srb_we%d", x, b), 1))
			s.baddr = append(s.baddr, g.ev(fmt.Sprintf("%srb_wa%d", x, b), g.RBW))
			s.bdata = append(s.bdata, g.ev(fmt.Sprintf("%srb_wd%d", x, b), BeatBits))
			s.brd = append(s.brd, m.Reg(fmt.Sprintf("%srb_rd%d", x, b), BeatBits))
			if p.Clients[c].Wide {
				s.brd2 = append(s.brd2, m.Reg(fmt.Sprintf("%srb_rd2_%d", x, b), BeatBits))
			}
		}
		if p.Clients[c].Wide {
			s.osel2, s.osel2N = g.state(x+"osel2", g.LW, false, 0)
			s.o2, s.o2N = g.state(x+"o2", 1, false, 0)
		}
	}
	for l, s := range ls {
		x := fmt.Sprintf("l%d_", l)
		s.xq = g.queue(x+"xq", lr.W, p.Q, 2, 1)
		s.iwq = g.queue(x+"iwq", dw.W, T, 1, 1)
		s.osB, s.osBN = g.state(x+"os_busy", 1, true, 0)
		s.osReq, s.osReqN = g.state(x+"os_req", lr.W, false, 0)
		s.osTag, s.osTagN = g.state(x+"os_tag", TW, false, 0)
		s.osK, s.osKN = g.state(x+"os_k", 1, true, 0)
		for t := 0; t < T; t++ {
			y := fmt.Sprintf("%stt%d_", x, t)
			r, n := g.state(y+"busy", 1, true, 0)
			s.busy, s.busyN = append(s.busy, r), append(s.busyN, n)
			r, n = g.state(y+"sent", 1, true, 0)
			s.sent, s.sentN = append(s.sent, r), append(s.sentN, n)
			r, n = g.state(y+"tout", 1, true, 0)
			s.tout, s.toutN = append(s.tout, r), append(s.toutN, n)
			r, n = g.state(y+"bc", 5, true, 0)
			s.bc, s.bcN = append(s.bc, r), append(s.bcN, n)
			r, n = g.state(y+"issued", 32, false, 0)
			s.issued, s.issuedN = append(s.issued, r), append(s.issuedN, n)
			r, n = g.state(y+"rec", tm.W, false, 0)
			s.rec, s.recN = append(s.rec, r), append(s.recN, n)
		}
		s.instRes, s.instResN = g.state(x+"inst_res", width(T), true, 0)
		s.ia, s.iaN = g.state(x+"ia", BeatBits, false, 0)
		s.sp, s.spN = g.state(x+"sp", TW, true, 0)
	}
	lq := g.queue("lq", co.W, p.LQ, 1, 1)
	rspq := g.queue("rspq", LineBits+g.MW, p.LQ, 1, 1)
	dwq := g.queue("dwq", dw.W, p.Q, 1, 1)
	lkSent, lkSentN := g.state("lk_sent", width(p.LQ)+1, true, 0)
	K := p.K
	ptB := make([]*ir.Signal, K)
	ptBN := make([]*ir.Signal, K)
	ptS := make([]*ir.Signal, K)
	ptSN := make([]*ir.Signal, K)
	ptF := make([]*ir.Signal, K) // br, bw, flush
	ptFN := make([]*ir.Signal, K)
	for i := 0; i < K; i++ {
		ptB[i], ptBN[i] = g.state(fmt.Sprintf("pt%d_busy", i), 1, true, 0)
		ptS[i], ptSN[i] = g.state(fmt.Sprintf("pt%d_slot", i), g.SBW, false, 0)
		ptF[i], ptFN[i] = g.state(fmt.Sprintf("pt%d_flags", i), 3, false, 0)
	}
	drB, drBN := g.state("dr_busy", 1, true, 0)
	drW, drWN := g.state("dr_write", 1, false, 0)
	drA, drAN := g.state("dr_addr", g.SBW, false, 0)
	drD, drDN := g.state("dr_data", LineBits, false, 0)
	drM, drMN := g.state("dr_meta", g.MW, false, 0)
	wlast, wlastN := g.state("dw_last", clog2(L+1), true, uint64(L))
	fst, fstN := g.state("fstate", 2, true, fsIdle)
	fsW := g.SB + 1
	fs, fsN := g.state("fs", fsW, true, 0)
	fcount, fcountN := g.state("fcount", width(K), true, 0)
	frc, frcN := g.state("frc", width(L), true, 0)
	done, doneN := g.state("done", 1, true, 0)
	cycle, cycleN := g.state("cycle", 32, true, 0)

	// ---- outputs ------------------------------------------------------------------
	for _, s := range cs {
		wr := ir.Le(s.iq.cnt, k(s.iq.aw+1, uint64(p.Q-2)))
		m.Assign(s.wrReady, wr)
		room := ir.Ge(ir.Sub(k(g.RBW+1, uint64(p.RB)), s.used), k(g.RBW+1, 16))
		m.Assign(s.rdReady, ir.LAnd(wr, room))
		m.Assign(s.rdataValid, s.ov)
		m.Assign(s.rLast, s.ol)
		m.Assign(s.rErr, s.oe)
		vals := make([]ir.Expr, L+2)
		for b := range vals {
			vals[b] = s.brd[b]
		}
		lo := g.pick(s.osel, vals)
		if s.brd2 == nil {
			m.Assign(s.rdata, ir.Sel(s.oe, k(BeatBits, 0), lo))
			continue
		}
		vals2 := make([]ir.Expr, L+2)
		for b := range vals2 {
			vals2[b] = s.brd2[b]
		}
		hi := ir.Sel(s.o2, g.pick(s.osel2, vals2), k(BeatBits, 0))
		m.Assign(s.rdata, ir.Sel(s.oe, k(2*BeatBits, 0), ir.Cat(hi, lo)))
	}
	for _, s := range ls {
		wr := lr.get(s.osReq, "write")
		beats := lr.get(s.osReq, "beats")
		m.Assign(s.reqValid, s.osB)
		m.Assign(s.reqWrite, ir.LAnd(s.osB, ir.Eq(wr, k(1, 1))))
		m.Assign(s.reqAddr, ir.Sel(s.osB, lr.get(s.osReq, "addr"), k(A, 0)))
		m.Assign(s.reqBeats, ir.Sel(s.osB, beats, k(5, 0)))
		m.Assign(s.reqTag, ir.Sel(ir.LAnd(s.osB, ir.Eq(wr, k(1, 0))), s.osTag, k(TW, 0)))
		data := lr.get(s.osReq, "data")
		beat := ir.Sel(ir.Eq(s.osK, k(1, 1)), g.bitsOf(data, 511, 256), g.bitsOf(data, 255, 0))
		m.Assign(s.reqData, ir.Sel(ir.LAnd(s.osB, ir.Eq(wr, k(1, 1))), beat, k(BeatBits, 0)))
		lastW := ir.Eq(ir.Zext(s.osK, 5), ir.Sub(beats, k(5, 1)))
		m.Assign(s.reqLast, ir.LAnd(s.osB, ir.LOr(ir.Eq(wr, k(1, 0)), lastW)))
	}
	m.Assign(dReqValid, drB)
	m.Assign(dReqWrite, ir.LAnd(drB, drW))
	m.Assign(dReqAddr, ir.Sel(drB, drA, k(g.SBW, 0)))
	m.Assign(dReqData, ir.Sel(ir.LAnd(drB, drW), drD, k(LineBits, 0)))
	m.Assign(dReqMeta, ir.Sel(ir.LAnd(drB, drW), drM, k(g.MW, 0)))
	m.Assign(fReady, ir.Eq(fst, k(2, fsIdle)))
	m.Assign(fDone, done)

	// ---- step 1: request transfers -------------------------------------------------
	for l, s := range ls {
		x := fmt.Sprintf("l%d_", l)
		wr := lr.get(s.osReq, "write")
		beats := lr.get(s.osReq, "beats")
		xfer := g.wire(x+"xfer", ir.LAnd(s.osB, s.reqReady))
		ends := ir.LOr(ir.Eq(wr, k(1, 0)), ir.Eq(ir.Zext(s.osK, 5), ir.Sub(beats, k(5, 1))))
		s.osFree = g.wire(x+"os_free", ir.LOr(ir.LNot(s.osB), ir.LAnd(xfer, ends)))
		s := s
		g.step(func(b *ir.Block) {
			b.If(xfer, func(b *ir.Block) {
				b.If(ir.Eq(wr, k(1, 0)), func(b *ir.Block) {
					for t := 0; t < T; t++ {
						b.If(ir.Eq(s.osTag, k(TW, uint64(t))), func(b *ir.Block) {
							b.Set(s.sentN[t], k(1, 1))
							b.Set(s.issuedN[t], cycle)
						}, nil)
					}
					b.Set(s.osBN, k(1, 0))
				}, func(b *ir.Block) {
					b.If(ends, func(b *ir.Block) {
						b.Set(s.osBN, k(1, 0))
						b.Set(s.osKN, k(1, 0))
					}, func(b *ir.Block) { b.Set(s.osKN, ir.Add(s.osK, k(1, 1))) })
				})
			}, nil)
		})
	}
	dxfer := g.wire("dr_xfer", ir.LAnd(drB, dReqReady))
	drFree := g.wire("dr_free", ir.LOr(ir.LNot(drB), dxfer))
	g.step(func(b *ir.Block) {
		b.If(dxfer, func(b *ir.Block) {
			b.Set(drBN, k(1, 0))
			b.If(ir.LNot(drW), func(b *ir.Block) { b.Set(lkSentN, ir.Add(lkSentN, k(lkSent.W, 1))) }, nil)
		}, nil)
	})

	// The reorder buffers' per-position flags are updated as whole vectors
	// under masks: a per-position loop would emit RB comparators per update
	// site (41 k lines of one always block at RB = 256), which Yosys and
	// Verilator both pay for. RB is a power of two, so positions wrap
	// modulo RB exactly as the RBW-bit pointer arithmetic does.
	rbOne := func(pos ir.Expr) ir.Expr { // the position pos, one-hot
		return g.sigOf(ir.Shl(k(p.RB, 1), pos))
	}
	rbRange := func(from, count ir.Expr) ir.Expr { // positions from .. from+count-1
		low := ir.Not(ir.Shl(ir.Ones(p.RB), count))
		// The upper half of {low, low} << from is low rotated left by from.
		return g.bitsOf(ir.Shl(ir.Cat(low, low), from), 2*p.RB-1, p.RB)
	}

	// ---- step 2: delivery ---------------------------------------------------------
	for c, s := range cs {
		x := fmt.Sprintf("c%d_", c)
		wide := p.Clients[c].Wide
		vh := g.wire(x+"v_head", ir.BitAt(s.v, s.head))
		var lh, h1, two ir.Expr = ir.BitAt(s.last, s.head), nil, nil
		avail := ir.Expr(vh)
		if wide {
			lh = g.wire(x+"last_head", lh)
			h1 = g.wire(x+"rb_head1", ir.Add(s.head, k(g.RBW, 1)))
			// Two entries at once unless the head ends its request
			// (memory.md §6 step 2, wide).
			avail = ir.LAnd(vh, ir.LOr(lh, ir.BitAt(s.v, h1)))
			two = g.wire(x+"deliver_two", ir.LNot(lh))
		}
		ld := g.wire(x+"deliver", ir.LAnd(ir.LOr(ir.LNot(s.ov), s.rdataReady), avail))
		lv := make([]ir.Expr, p.RB)
		for i := range lv {
			lv[i] = g.bitsOf(s.lvt, g.LW*i+g.LW-1, g.LW*i)
		}
		s := s
		g.step(func(b *ir.Block) {
			b.Set(s.load, ld)
			b.If(ld, func(b *ir.Block) {
				b.Set(s.ovN, k(1, 1))
				b.Set(s.olN, lh)
				b.Set(s.oeN, ir.BitAt(s.e, s.head))
				b.Set(s.oselN, g.pick(s.head, lv))
				b.Set(s.vN, ir.And(s.vN, ir.Not(rbOne(s.head))))
				b.Set(s.headN, ir.Add(s.head, k(g.RBW, 1)))
				b.Set(s.usedN, ir.Sub(s.usedN, k(g.RBW+1, 1)))
				if wide {
					b.Set(s.o2N, two)
					b.Set(s.osel2N, g.pick(h1, lv))
					b.If(two, func(b *ir.Block) {
						b.Set(s.olN, ir.BitAt(s.last, h1))
						b.Set(s.oeN, ir.LOr(ir.BitAt(s.e, s.head), ir.BitAt(s.e, h1)))
						b.Set(s.vN, ir.And(s.vN, ir.Not(ir.Or(rbOne(s.head), rbOne(h1)))))
						b.Set(s.headN, ir.Add(s.head, k(g.RBW, 2)))
						b.Set(s.usedN, ir.Sub(s.usedN, k(g.RBW+1, 1))) // the second of two
					}, nil)
				}
			}, func(b *ir.Block) {
				b.If(s.rdataReady, func(b *ir.Block) { b.Set(s.ovN, k(1, 0)) }, nil)
			})
		})
		g.seq(func(b *ir.Block) {
			b.If(s.load, func(b *ir.Block) {
				for i := range s.banks {
					b.Set(s.brd[i], s.banks[i].Read(s.head))
					if wide {
						b.Set(s.brd2[i], s.banks[i].Read(h1))
					}
				}
			}, nil)
			for i := range s.banks {
				b.If(s.bwe[i], func(b *ir.Block) { b.Write(s.banks[i], s.baddr[i], s.bdata[i]) }, nil)
			}
		})
	}
	// rbMark marks positions from .. from+count-1 (count 5 bits, 0..16) of
	// client cl: v <- 1, e <- errv.
	rbMark := func(b *ir.Block, cl ir.Expr, from ir.Expr, count ir.Expr, errv bool) {
		m := rbRange(from, count)
		for c, s := range cs {
			b.If(ir.Eq(cl, k(g.CW, uint64(c))), func(b *ir.Block) {
				b.Set(s.vN, ir.Or(s.vN, m))
				if errv {
					b.Set(s.eN, ir.Or(s.eN, m))
				} else {
					b.Set(s.eN, ir.And(s.eN, ir.Not(m)))
				}
			}, nil)
		}
	}
	// rbWrite writes beat data at position pos of client cl through bank bk.
	rbWrite := func(b *ir.Block, cl ir.Expr, pos ir.Expr, bk int, data ir.Expr) {
		oh := rbOne(pos)
		// The bank number's field in lvt, as a mask and as the value to put there.
		amt := ir.Mul(ir.Zext(pos, g.RBW+8), k(g.RBW+8, uint64(g.LW)))
		field := g.sigOf(ir.Shl(ir.Zext(ir.Ones(g.LW), p.RB*g.LW), amt))
		val := g.sigOf(ir.Shl(k(p.RB*g.LW, uint64(bk)), amt))
		for c, s := range cs {
			b.If(ir.Eq(cl, k(g.CW, uint64(c))), func(b *ir.Block) {
				b.Set(s.bwe[bk], k(1, 1))
				b.Set(s.baddr[bk], pos)
				b.Set(s.bdata[bk], data)
				b.Set(s.vN, ir.Or(s.vN, oh))
				b.Set(s.eN, ir.And(s.eN, ir.Not(oh)))
				b.Set(s.lvtN, ir.Or(ir.And(s.lvtN, ir.Not(field)), val))
			}, nil)
		}
	}
	// The flush flags of all entries as one vector, so that a release reads
	// its entry's flag through one multiplexer: decrementing fcount inside
	// the per-entry loop chained K conditional decrements (531 LUT levels,
	// pt1_slot_reg -> fcount_reg, on the paper preset).
	flushBits := make([]ir.Expr, K)
	for i := range flushBits {
		flushBits[K-1-i] = g.bitOf(ptF[i], 2)
	}
	ptFlush := g.wire("pt_flush_flags", ir.Cat(flushBits...))
	ptRelease := func(b *ir.Block, pt ir.Expr) {
		for i := 0; i < K; i++ {
			b.If(ir.Eq(pt, k(g.PW, uint64(i))), func(b *ir.Block) { b.Set(ptBN[i], k(1, 0)) }, nil)
		}
		b.If(ir.BitAt(ptFlush, pt), func(b *ir.Block) { b.Set(fcountN, ir.Sub(fcountN, k(fcount.W, 1))) }, nil)
	}

	// ---- step 3: link arbiters -----------------------------------------------------
	for l, s := range ls {
		x := fmt.Sprintf("l%d_", l)
		free := make([]ir.Expr, T)
		for t := range free {
			free[t] = ir.LNot(s.busy[t])
		}
		tagFree := g.wire(x+"tag_free", ir.OrAll(free...))
		var low ir.Expr = k(TW, uint64(T-1))
		for t := T - 1; t >= 0; t-- {
			low = ir.Sel(free[t], k(TW, uint64(t)), low)
		}
		lowTag := g.wire(x+"low_tag", low)
		heads := make([]ir.Expr, N+1)
		elig := make([]ir.Expr, N+1)
		high := make([]bool, N+1)
		canInst := ir.Lt(s.instRes, k(s.instRes.W, uint64(T)))
		for c := 0; c <= N; c++ {
			var q *queue
			if c < N {
				q, high[c] = cs[c].rq[l], p.Clients[c].High
			} else {
				q, high[c] = s.xq, true
			}
			heads[c] = q.head
			h := q.head
			ok := ir.LOr(ir.Eq(lr.get(h, "write"), k(1, 1)),
				ir.LAnd(tagFree, ir.LOr(ir.Eq(lr.get(h, "install"), k(1, 0)), canInst)))
			elig[c] = g.wire(fmt.Sprintf("%selig%d", x, c), ir.AndAll(s.osFree, q.nonEmpty, ok))
		}
		a := g.arbiter(x+"arb", elig, high)
		s.arb = a
		win := a.win
		wreq := g.wire(x+"win_req", g.pick(win, heads))
		s := s
		g.step(func(b *ir.Block) {
			b.If(a.grant, func(b *ir.Block) {
				a.commit(b)
				for c := 0; c <= N; c++ {
					q := s.xq
					if c < N {
						q = cs[c].rq[l]
					}
					b.If(ir.Eq(win, k(win.W, uint64(c))), func(b *ir.Block) { b.Set(q.pop, k(2, 1)) }, nil)
				}
				b.Set(s.osBN, k(1, 1))
				b.Set(s.osReqN, wreq)
				b.Set(s.osKN, k(1, 0))
				b.If(ir.Eq(lr.get(wreq, "write"), k(1, 0)), func(b *ir.Block) {
					b.Set(s.osTagN, lowTag)
					rec := tm.pack(map[string]ir.Expr{
						"flush": lr.get(wreq, "flush"), "client": lr.get(wreq, "client"), "rbpos": lr.get(wreq, "rbpos"),
						"skip": lr.get(wreq, "skip"), "n": lr.get(wreq, "n"), "install": lr.get(wreq, "install"),
						"pt": lr.get(wreq, "pt"), "line": lr.get(wreq, "line"),
					})
					for t := 0; t < T; t++ {
						b.If(ir.Eq(lowTag, k(TW, uint64(t))), func(b *ir.Block) {
							b.Set(s.busyN[t], k(1, 1))
							b.Set(s.sentN[t], k(1, 0))
							b.Set(s.toutN[t], k(1, 0))
							b.Set(s.bcN[t], k(5, 0))
							b.Set(s.recN[t], rec)
						}, nil)
					}
					b.If(ir.Eq(lr.get(wreq, "install"), k(1, 1)), func(b *ir.Block) {
						b.Set(s.instResN, ir.Add(s.instResN, k(s.instRes.W, 1)))
					}, nil)
				}, nil)
			}, nil)
		})
	}

	// ---- step 4: DRAM request ------------------------------------------------------
	wsrc := make([]ir.Expr, L+1)
	wsrcH := make([]bool, L+1)
	wheads := make([]ir.Expr, L+1)
	wsrc[0], wheads[0], wsrcH[0] = dwq.nonEmpty, dwq.head, true
	for l, s := range ls {
		wsrc[l+1], wheads[l+1], wsrcH[l+1] = s.iwq.nonEmpty, s.iwq.head, true
	}
	wpv := make([]ir.Expr, L+1)
	for i := range wsrc {
		wpv[L-i] = wsrc[i]
	}
	wvec := g.wire("dw_elig", ir.Cat(wpv...))
	anyW := g.wire("dw_any", ir.OrR(wvec))
	wwin := g.wire("dw_win", g.rr("dw_rr", wvec, wlast, L+1))
	whead := g.wire("dw_head", g.pick(wwin, wheads))
	// lookups
	ptFree := make([]ir.Expr, K)
	for i := range ptFree {
		ptFree[i] = ir.LNot(ptB[i])
	}
	anyPT := g.wire("pt_any_free", ir.OrAll(ptFree...))
	var lowPT ir.Expr = k(g.PW, uint64(K-1))
	for i := K - 1; i >= 0; i-- {
		lowPT = ir.Sel(ptFree[i], k(g.PW, uint64(i)), lowPT)
	}
	ptLow := g.wire("pt_low", lowPT)
	slotOf := func(line ir.Expr) ir.Expr { return g.bitsOf(line, g.SB-1, 0) }
	// requester ops: kind, slot
	type creq struct{ valid, kind, slot, isW ir.Expr }
	rqs := make([]creq, N+1)
	for c := 0; c < N; c++ {
		h := cs[c].cq.head
		kind := co.get(h, "kind")
		rqs[c] = creq{cs[c].cq.nonEmpty, kind, g.wire(fmt.Sprintf("c%d_cq_slot", c), slotOf(co.get(h, "line"))), nil}
		rqs[c].isW = g.wire(fmt.Sprintf("c%d_cq_isw", c), ir.LAnd(cs[c].cq.nonEmpty, ir.Eq(kind, k(2, opW))))
	}
	sweep := g.wire("sweep", ir.Eq(fst, k(2, fsSweep)))
	rqs[N] = creq{sweep, k(2, opF), g.wire("fs_slot", g.bitsOf(fs, g.SB-1, 0)), sweep}
	busyWith := func(name string, slot ir.Expr, flag int) ir.Expr {
		terms := make([]ir.Expr, K)
		for i := 0; i < K; i++ {
			terms[i] = ir.AndAll(ptB[i], ir.Eq(ptS[i], slot), g.bitOf(ptF[i], flag))
		}
		return g.wire(name, ir.OrAll(terms...))
	}
	lkOK := g.wire("lk_ok", ir.AndAll(drFree, ir.LNot(anyW), ir.Lt(lq.cnt, k(lq.aw+1, uint64(p.LQ))), anyPT))
	celig := make([]ir.Expr, N+1)
	chigh := make([]bool, N+1)
	for r := 0; r <= N; r++ {
		q := rqs[r]
		x := fmt.Sprintf("ce%d", r)
		bbr := busyWith(x+"_busy_br", q.slot, 0)
		bbw := busyWith(x+"_busy_bw", q.slot, 1)
		isWF := ir.LOr(ir.Eq(q.kind, k(2, opW)), ir.Eq(q.kind, k(2, opF)))
		var others []ir.Expr
		for r2 := 0; r2 <= N; r2++ {
			if r2 != r {
				others = append(others, ir.LAnd(rqs[r2].isW, ir.Eq(rqs[r2].slot, q.slot)))
			}
		}
		otherW := ir.OrAll(others...)
		okRS := ir.LAnd(ir.LNot(bbr), ir.LNot(ir.LAnd(otherW, bbw)))
		celig[r] = g.wire(x+"_elig", ir.AndAll(lkOK, q.valid, ir.Sel(isWF, ir.LNot(bbw), okRS)))
		if r < N {
			chigh[r] = p.Clients[r].High
		} else {
			chigh[r] = true
		}
	}
	ca := g.arbiter("ce_arb", celig, chigh)
	cheads := make([]ir.Expr, N+1)
	for c := 0; c < N; c++ {
		cheads[c] = cs[c].cq.head
	}
	cheads[N] = co.pack(map[string]ir.Expr{"kind": k(2, opF), "line": g.fit(rqs[N].slot, A-6)})
	cwin := g.wire("ce_win_op", g.pick(ca.win, cheads))
	cwinSlot := g.wire("ce_win_slot", slotOf(co.get(cwin, "line")))
	cwinKind := g.wire("ce_win_kind", co.get(cwin, "kind"))
	g.step(func(b *ir.Block) {
		b.If(ir.LAnd(drFree, anyW), func(b *ir.Block) {
			b.Set(wlastN, wwin)
			for i := 0; i <= L; i++ {
				q := dwq
				if i > 0 {
					q = ls[i-1].iwq
				}
				b.If(ir.Eq(wwin, k(wwin.W, uint64(i))), func(b *ir.Block) {
					b.Set(q.pop, k(2, 1))
					if i > 0 {
						s := ls[i-1]
						b.Set(s.instResN, ir.Sub(s.instResN, k(s.instRes.W, 1)))
					}
				}, nil)
			}
			b.Set(drBN, k(1, 1))
			b.Set(drWN, k(1, 1))
			b.Set(drAN, dw.get(whead, "slot"))
			b.Set(drDN, dw.get(whead, "data"))
			b.Set(drMN, dw.get(whead, "meta"))
			ptRelease(b, dw.get(whead, "pt"))
		}, nil)
		b.If(ca.grant, func(b *ir.Block) {
			ca.commit(b)
			for c := 0; c < N; c++ {
				b.If(ir.Eq(ca.win, k(ca.win.W, uint64(c))), func(b *ir.Block) { b.Set(cs[c].cq.pop, k(2, 1)) }, nil)
			}
			b.If(ir.Eq(ca.win, k(ca.win.W, uint64(N))), func(b *ir.Block) {
				b.Set(fsN, ir.Add(fs, k(fsW, 1)))
				b.Set(fcountN, ir.Add(fcountN, k(fcount.W, 1)))
				b.If(ir.Eq(fs, k(fsW, uint64(g.C-1))), func(b *ir.Block) { b.Set(fstN, k(2, fsDrain)) }, nil)
			}, nil)
			flags := ir.Cat(ir.Eq(cwinKind, k(2, opF)), ir.Ne(cwinKind, k(2, opR)), ir.Eq(cwinKind, k(2, opW)))
			for i := 0; i < K; i++ {
				b.If(ir.Eq(ptLow, k(g.PW, uint64(i))), func(b *ir.Block) {
					b.Set(ptBN[i], k(1, 1))
					b.Set(ptSN[i], cwinSlot)
					b.Set(ptFN[i], flags)
				}, nil)
			}
			b.Set(lq.push0, k(1, 1))
			b.Set(lq.data0, ir.Cat(ptLow, g.bitsOf(cwin, co.W-g.PW-1, 0)))
			b.Set(drBN, k(1, 1))
			b.Set(drWN, k(1, 0))
			b.Set(drAN, cwinSlot)
			b.Set(drDN, k(LineBits, 0))
			b.Set(drMN, k(g.MW, 0))
		}, nil)
	})

	// ---- step 5: resolver ----------------------------------------------------------
	{
		op := lq.head
		rsp := rspq.head
		D := g.wire("rs_d", g.bitsOf(rsp, LineBits-1, 0))
		meta := g.wire("rs_meta", g.bitsOf(rsp, LineBits+g.MW-1, LineBits))
		mValid := g.bitOf(meta, 0)
		mDirty := g.bitOf(meta, 1)
		rtag := g.wire("rs_rtag", g.bitsOf(meta, g.MW-1, 2))
		kind := g.wire("rs_kind", co.get(op, "kind"))
		line := g.wire("rs_line", co.get(op, "line"))
		slot := g.wire("rs_slot", g.bitsOf(line, g.SB-1, 0))
		ltag := g.wire("rs_tag", g.bitsOf(line, A-7, g.SB))
		o := g.wire("rs_o", co.get(op, "o"))
		n := g.wire("rs_n", co.get(op, "n"))
		cl := co.get(op, "client")
		rbpos := g.wire("rs_rbpos", co.get(op, "rbpos"))
		odata := g.wire("rs_odata", co.get(op, "data"))
		pt := g.wire("rs_pt", co.get(op, "pt"))
		hit := g.wire("rs_hit", ir.LAnd(mValid, ir.Eq(rtag, ltag)))
		dirty := g.wire("rs_dirty", ir.LAnd(mValid, mDirty))
		old := g.wire("rs_old", ir.Cat(rtag, slot))
		linkLine := lk(linkOf("rs_line", g.bitsOf(line, A-7, 3)))
		linkOld := lk(linkOf("rs_old", g.bitsOf(old, A-7, 3)))
		isR := ir.Eq(kind, k(2, opR))
		isS := ir.Eq(kind, k(2, opS))
		isW := ir.Eq(kind, k(2, opW))
		isF := ir.Eq(kind, k(2, opF))
		wbS := g.wire("rs_s_wb", ir.AndAll(isS, ir.LNot(hit), dirty))
		wbF := g.wire("rs_f_wb", ir.LAnd(isF, dirty))
		// link pushes: the read/write-around on linkLine; the write-back on linkOld.
		pushLine := g.wire("rs_push_line", ir.LAnd(ir.LNot(hit), ir.OrAll(isR, isS, isW)))
		pushOld := g.wire("rs_push_old", ir.LOr(wbS, wbF))
		pushDW := g.wire("rs_push_dw", ir.LOr(ir.LAnd(isW, hit), wbF))
		var roomTerms []ir.Expr
		for l, s := range ls {
			nl := ir.Add(ir.Zext(ir.LAnd(pushLine, ir.Eq(linkLine, k(2, uint64(l)))), 2),
				ir.Zext(ir.LAnd(pushOld, ir.Eq(linkOld, k(2, uint64(l)))), 2))
			ok := ir.Sel(ir.Eq(nl, k(2, 2)), s.xq.room(2), ir.Sel(ir.Eq(nl, k(2, 1)), s.xq.room(1), k(1, 1)))
			roomTerms = append(roomTerms, ok)
		}
		roomTerms = append(roomTerms, ir.LOr(ir.LNot(pushDW), dwq.room(1)))
		resolve := g.wire("rs_go", ir.AndAll(append([]ir.Expr{rspq.nonEmpty}, roomTerms...)...))
		beatOf := func(i ir.Expr) ir.Expr { return ir.Sel(ir.Eq(i, k(1, 1)), g.bitsOf(D, 511, 256), g.bitsOf(D, 255, 0)) }
		// merged line for a W hit: beats o..o+n-1 from the op
		ob0 := g.bitsOf(odata, 255, 0)
		ob1 := g.bitsOf(odata, 511, 256)
		w0 := ir.LAnd(ir.Eq(o, k(1, 0)), ir.Ne(n, k(2, 0)))
		w1 := ir.LOr(ir.Eq(o, k(1, 1)), ir.Eq(n, k(2, 2)))
		merged := g.wire("rs_merged", ir.Cat(ir.Sel(w1, ob1, g.bitsOf(D, 511, 256)), ir.Sel(w0, ob0, g.bitsOf(D, 255, 0))))
		// write-around data in request order
		waData := g.wire("rs_wa_data", ir.Sel(ir.Eq(o, k(1, 1)), ir.Cat(k(256, 0), ob1), odata))
		addrLine := g.wire("rs_addr_line", ir.Cat(line, k(6, 0)))
		addrO := g.wire("rs_addr_o", ir.Cat(line, o, k(5, 0)))
		addrOld := g.wire("rs_addr_old", ir.Cat(old, k(6, 0)))
		n5 := ir.Zext(n, 5)
		rdReq := g.wire("rs_rd_req", ir.Sel(isS,
			lr.pack(map[string]ir.Expr{"addr": addrLine, "beats": k(5, 2), "client": cl, "rbpos": rbpos, "skip": o, "n": n5,
				"install": k(1, 1), "pt": pt, "line": line}),
			lr.pack(map[string]ir.Expr{"addr": addrO, "beats": n5, "client": cl, "rbpos": rbpos, "n": n5})))
		lineReq := g.wire("rs_line_req", ir.Sel(isW,
			lr.pack(map[string]ir.Expr{"write": k(1, 1), "addr": addrO, "beats": n5, "data": waData}), rdReq))
		wbReq := g.wire("rs_wb_req", lr.pack(map[string]ir.Expr{"write": k(1, 1), "addr": addrOld, "beats": k(5, 2), "data": D}))
		dwEnt := g.wire("rs_dw_ent", ir.Sel(isW,
			dw.pack(map[string]ir.Expr{"slot": slot, "data": merged, "meta": ir.Cat(ltag, k(2, 3)), "pt": pt}),
			dw.pack(map[string]ir.Expr{"slot": slot, "data": D, "meta": ir.Cat(rtag, k(2, 1)), "pt": pt})))
		relNow := g.wire("rs_release", ir.OrAll(isR, ir.LAnd(isS, hit), ir.LAnd(isW, ir.LNot(hit)), ir.LAnd(isF, ir.LNot(dirty))))
		g.step(func(b *ir.Block) {
			b.If(resolve, func(b *ir.Block) {
				b.Set(lq.pop, k(2, 1))
				b.Set(rspq.pop, k(2, 1))
				b.If(ir.LAnd(hit, ir.LOr(isR, isS)), func(b *ir.Block) {
					rbWrite(b, cl, rbpos, L, beatOf(o))
					b.If(ir.Eq(n, k(2, 2)), func(b *ir.Block) {
						rbWrite(b, cl, ir.Add(rbpos, k(g.RBW, 1)), L+1, g.bitsOf(D, 511, 256))
					}, nil)
				}, nil)
				for l, s := range ls {
					// write-back first, then the line's request
					onOld := ir.LAnd(pushOld, ir.Eq(linkOld, k(2, uint64(l))))
					onLine := ir.LAnd(pushLine, ir.Eq(linkLine, k(2, uint64(l))))
					b.If(onOld, func(b *ir.Block) {
						b.Set(s.xq.push0, k(1, 1))
						b.Set(s.xq.data0, wbReq)
						b.If(onLine, func(b *ir.Block) {
							b.Set(s.xq.push1, k(1, 1))
							b.Set(s.xq.data1, lineReq)
						}, nil)
					}, func(b *ir.Block) {
						b.If(onLine, func(b *ir.Block) {
							b.Set(s.xq.push0, k(1, 1))
							b.Set(s.xq.data0, lineReq)
						}, nil)
					})
				}
				b.If(pushDW, func(b *ir.Block) {
					b.Set(dwq.push0, k(1, 1))
					b.Set(dwq.data0, dwEnt)
				}, nil)
				b.If(relNow, func(b *ir.Block) { ptRelease(b, pt) }, nil)
			}, nil)
		})
	}

	// ---- step 6: DRAM data ---------------------------------------------------------
	g.step(func(b *ir.Block) {
		b.If(dRspValid, func(b *ir.Block) {
			b.Set(lkSentN, ir.Sub(lkSentN, k(lkSent.W, 1)))
			b.Set(rspq.push0, k(1, 1))
			b.Set(rspq.data0, ir.Cat(dRspMeta, dRspData))
		}, nil)
	})

	// ---- step 7: completions, then timeouts -------------------------------------------
	for l, s := range ls {
		x := fmt.Sprintf("l%d_", l)
		recs := make([]ir.Expr, T)
		for t := range recs {
			recs[t] = s.rec[t]
		}
		tsel := func(v []*ir.Signal, sel ir.Expr) ir.Expr {
			e := make([]ir.Expr, len(v))
			for i := range v {
				e[i] = v[i]
			}
			return g.pick(sel, e)
		}
		crec := g.wire(x+"cpl_rec", g.pick(s.cplTag, recs))
		ctout := g.wire(x+"cpl_tout", tsel(s.tout, s.cplTag))
		cbc := g.wire(x+"cpl_bc", tsel(s.bc, s.cplTag))
		srec := g.wire(x+"scan_rec", g.pick(s.sp, recs))
		sbc := g.wire(x+"scan_bc", tsel(s.bc, s.sp))
		age := ir.Sub(cycle, tsel(s.issued, s.sp))
		scanHit := g.wire(x+"scan_timeout", ir.AndAll(tsel(s.busy, s.sp), tsel(s.sent, s.sp), ir.LNot(tsel(s.tout, s.sp)),
			ir.LNot(ir.LAnd(s.cplValid, ir.Eq(s.cplTag, s.sp))), ir.Ge(age, k(32, uint64(p.TO)))))
		fail := func(b *ir.Block, rec, from ir.Expr) {
			isFl := ir.Eq(tm.get(rec, "flush"), k(1, 1))
			b.If(isFl, func(b *ir.Block) { b.Set(frcN, ir.Add(frcN, k(frc.W, 1))) }, func(b *ir.Block) {
				skip := ir.Zext(tm.get(rec, "skip"), 5)
				nn := tm.get(rec, "n")
				// first failed offset (relative to rbpos): max(from-skip, 0)
				var off ir.Expr = k(5, 0)
				if _, zero := from.(*ir.Const); !zero {
					off = ir.Sel(ir.Gt(from, skip), ir.Sub(from, skip), k(5, 0))
				}
				cnt := ir.Sel(ir.Gt(nn, off), ir.Sub(nn, off), k(5, 0))
				start := ir.Add(tm.get(rec, "rbpos"), g.fit(off, g.RBW))
				rbMark(b, tm.get(rec, "client"), start, cnt, true)
				b.If(ir.Eq(tm.get(rec, "install"), k(1, 1)), func(b *ir.Block) {
					ptRelease(b, tm.get(rec, "pt"))
					b.Set(s.instResN, ir.Sub(s.instResN, k(s.instRes.W, 1)))
				}, nil)
			})
		}
		s := s
		l := l
		g.step(func(b *ir.Block) {
			b.If(s.cplValid, func(b *ir.Block) {
				freeTag := func(b *ir.Block) {
					for t := 0; t < T; t++ {
						b.If(ir.Eq(s.cplTag, k(TW, uint64(t))), func(b *ir.Block) {
							b.Set(s.busyN[t], k(1, 0))
							b.Set(s.sentN[t], k(1, 0))
							b.Set(s.toutN[t], k(1, 0))
							b.Set(s.bcN[t], k(5, 0))
						}, nil)
					}
				}
				b.If(s.cplErr, func(b *ir.Block) {
					b.If(ir.LNot(ctout), func(b *ir.Block) { fail(b, crec, k(5, 0)) }, nil)
					freeTag(b)
				}, func(b *ir.Block) {
					b.If(ir.LNot(ctout), func(b *ir.Block) {
						skip := ir.Zext(tm.get(crec, "skip"), 5)
						nn := tm.get(crec, "n")
						isFl := ir.Eq(tm.get(crec, "flush"), k(1, 1))
						inRange := ir.AndAll(ir.LNot(isFl), ir.Le(skip, cbc), ir.Lt(cbc, ir.Add(skip, nn)))
						b.If(inRange, func(b *ir.Block) {
							pos := ir.Add(tm.get(crec, "rbpos"), g.fit(ir.Sub(cbc, skip), g.RBW))
							rbWrite(b, tm.get(crec, "client"), pos, l, s.cplData)
						}, nil)
						isInst := ir.Eq(tm.get(crec, "install"), k(1, 1))
						b.If(ir.LAnd(isInst, ir.Eq(cbc, k(5, 0))), func(b *ir.Block) { b.Set(s.iaN, s.cplData) }, nil)
						for t := 0; t < T; t++ {
							b.If(ir.Eq(s.cplTag, k(TW, uint64(t))), func(b *ir.Block) { b.Set(s.bcN[t], ir.Add(s.bc[t], k(5, 1))) }, nil)
						}
						b.If(s.cplLast, func(b *ir.Block) {
							b.If(isInst, func(b *ir.Block) {
								ln := tm.get(crec, "line")
								b.Set(s.iwq.push0, k(1, 1))
								b.Set(s.iwq.data0, dw.pack(map[string]ir.Expr{"slot": g.bitsOf(ln, g.SB-1, 0),
									"data": ir.Cat(s.cplData, s.ia), "meta": ir.Cat(g.bitsOf(ln, A-7, g.SB), k(2, 1)),
									"pt": tm.get(crec, "pt")}))
							}, nil)
							b.If(isFl, func(b *ir.Block) { b.Set(frcN, ir.Add(frcN, k(frc.W, 1))) }, nil)
						}, nil)
					}, nil)
					b.If(s.cplLast, freeTag, nil)
				})
			}, nil)
			b.Set(s.spN, ir.Add(s.sp, k(TW, 1)))
			b.If(scanHit, func(b *ir.Block) {
				for t := 0; t < T; t++ {
					b.If(ir.Eq(s.sp, k(TW, uint64(t))), func(b *ir.Block) { b.Set(s.toutN[t], k(1, 1)) }, nil)
				}
				fail(b, srec, sbc)
			}, nil)
		})
	}

	// ---- step 8: splitters ---------------------------------------------------------
	for c, s := range cs {
		x := fmt.Sprintf("c%d_", c)
		h := s.iq.head
		isWr := g.wire(x+"sp_wr", ir.Eq(iqL.get(h, "wr"), k(1, 1)))
		haddr := iqL.get(h, "addr")
		beats := iqL.get(h, "beats")
		a := g.wire(x+"sp_a", ir.Sel(isWr, haddr, ir.Add(haddr, ir.Cat(k(A-10, 0), s.sd, k(5, 0)))))
		ln := g.wire(x+"sp_line", g.bitsOf(a, A-1, 6))
		o := g.wire(x+"sp_o", g.bitOf(a, 5))
		blk := g.bitsOf(a, A-1, 9)
		link := lk(linkOf(x+"sp", blk))
		base := hD(x+"sp_base", ir.Cat(g.bitsOf(a, A-1, 9), k(3, 0)))
		cacheJ := make([]*ir.Signal, 8)
		for j := 0; j < 8; j++ {
			cacheJ[j] = g.wire(fmt.Sprintf("%ssp_cache%d", x, j), cacheable(ir.Xor(base, k(16, xorJ(j)))))
		}
		j0 := g.bitsOf(a, 8, 6)
		cj := make([]ir.Expr, 8)
		for j := range cj {
			cj[j] = cacheJ[j]
		}
		headCache := g.wire(x+"sp_cacheable", g.pick(j0, cj))
		// non-cacheable lines after j0 in the block (run extension), 0..7
		kv := make([]ir.Expr, 8)
		for j := 0; j < 8; j++ {
			var sum ir.Expr = k(5, 0)
			run := ir.Expr(k(1, 1))
			for mm := j + 1; mm < 8; mm++ {
				run = ir.LAnd(run, ir.LNot(cacheJ[mm]))
				sum = ir.Add(sum, ir.Zext(run, 5))
			}
			kv[j] = sum
		}
		kRun := g.wire(x+"sp_krun", g.pick(j0, kv))
		rem := g.wire(x+"sp_rem", ir.Sub(beats, s.sd))
		first := ir.Sub(k(5, 2), ir.Zext(o, 5))
		nCache := g.wire(x+"sp_ncache", ir.Sel(ir.Lt(rem, first), rem, first))
		runMax := ir.Add(ir.Zext(first, 6), ir.Cat(kRun, k(1, 0)))
		nRun := g.wire(x+"sp_nrun", ir.Sel(ir.Lt(ir.Zext(rem, 6), runMax), rem, g.fit(runMax, 5)))
		rbp := g.wire(x+"sp_rbpos", ir.Add(iqL.get(h, "rbpos"), g.fit(s.sd, g.RBW)))
		kindR := uint64(opR)
		if p.Clients[c].SwapIn {
			kindR = opS
		}
		// writes
		sec, thr := s.iq.second, s.iq.third
		two := ir.Ge(s.iq.cnt, k(s.iq.aw+1, 2))
		three := ir.Ge(s.iq.cnt, k(s.iq.aw+1, 3))
		o0 := ir.Eq(o, k(1, 0))
		half := ir.Add(haddr, k(A, 32))
		pair := g.wire(x+"sp_pair", ir.AndAll(o0, two, ir.Eq(iqL.get(sec, "wr"), k(1, 1)),
			ir.Eq(iqL.get(sec, "addr"), half)))
		// The second entry is a read none of whose beats is in the head's
		// line: the line's second half may go ahead of it (§6 step 8, §9).
		// Reads never run past the top of host memory (step 9), so the
		// last beat's address fits in A bits.
		raddr := iqL.get(sec, "addr")
		rlast := ir.Add(raddr, ir.Sub(ir.Cat(k(A-10, 0), iqL.get(sec, "beats"), k(5, 0)), k(A, 1)))
		secMiss := g.wire(x+"sp_sec_miss", ir.AndAll(ir.Eq(iqL.get(sec, "wr"), k(1, 0)),
			ir.LOr(ir.Lt(ln, g.bitsOf(raddr, A-1, 6)), ir.Gt(ln, g.bitsOf(g.wire(x+"sp_sec_last", rlast), A-1, 6)))))
		pairOver := g.wire(x+"sp_pair_over", ir.AndAll(o0, three, secMiss, ir.Eq(iqL.get(thr, "wr"), k(1, 1)),
			ir.Eq(iqL.get(thr, "addr"), half)))
		paired := g.wire(x+"sp_paired", ir.LOr(pair, pairOver))
		hold := g.wire(x+"sp_hold", ir.AndAll(o0, ir.LNot(s.held),
			ir.LOr(ir.Eq(s.iq.cnt, k(s.iq.aw+1, 1)), ir.LAnd(ir.Eq(s.iq.cnt, k(s.iq.aw+1, 2)), secMiss))))
		hdata := iqL.get(h, "data")
		pdata := g.wire(x+"sp_pdata", ir.Sel(pairOver, iqL.get(thr, "data"), iqL.get(sec, "data")))
		wn := g.wire(x+"sp_wn", ir.Sel(paired, k(2, 2), k(2, 1)))
		wOpData := g.wire(x+"sp_wopdata", ir.Sel(paired, ir.Cat(pdata, hdata),
			ir.Sel(ir.Eq(o, k(1, 1)), ir.Cat(hdata, k(256, 0)), ir.Cat(k(256, 0), hdata))))
		wLinkData := g.wire(x+"sp_wlinkdata", ir.Sel(paired, ir.Cat(pdata, hdata), ir.Cat(k(256, 0), hdata)))
		n := g.wire(x+"sp_n", ir.Sel(isWr, ir.Zext(wn, 5), ir.Sel(headCache, nCache, nRun)))
		cop := g.wire(x+"sp_cop", co.pack(map[string]ir.Expr{
			"kind": ir.Sel(isWr, k(2, opW), k(2, kindR)), "client": k(g.CW, uint64(c)), "line": ln, "o": o,
			"n": g.fit(n, 2), "rbpos": rbp, "data": wOpData}))
		lreq := g.wire(x+"sp_lreq", lr.pack(map[string]ir.Expr{
			"write": isWr, "addr": a, "beats": n, "data": ir.Sel(isWr, wLinkData, k(LineBits, 0)),
			"client": k(g.CW, uint64(c)), "rbpos": rbp, "n": ir.Sel(isWr, k(5, 0), n)}))
		roomC := s.cq.room(1)
		roomsL := make([]ir.Expr, L)
		for l := range roomsL {
			roomsL[l] = s.rq[l].room(1)
		}
		room := g.wire(x+"sp_room", ir.Sel(headCache, roomC, g.pick(link, roomsL)))
		act := g.wire(x+"sp_act", ir.AndAll(s.iq.nonEmpty, ir.LNot(ir.LAnd(isWr, hold)), room))
		s := s
		g.step(func(b *ir.Block) {
			b.If(ir.AndAll(s.iq.nonEmpty, isWr, hold), func(b *ir.Block) { b.Set(s.heldN, k(1, 1)) }, nil)
			b.If(act, func(b *ir.Block) {
				b.If(headCache, func(b *ir.Block) {
					b.Set(s.cq.push0, k(1, 1))
					b.Set(s.cq.data0, cop)
				}, func(b *ir.Block) {
					for l := 0; l < L; l++ {
						b.If(ir.Eq(link, k(2, uint64(l))), func(b *ir.Block) {
							b.Set(s.rq[l].push0, k(1, 1))
							b.Set(s.rq[l].data0, lreq)
						}, nil)
					}
				})
				b.If(isWr, func(b *ir.Block) {
					b.Set(s.iq.pop, ir.Sel(paired, k(2, 2), k(2, 1)))
					b.Set(s.iq.move, pairOver)
					b.Set(s.heldN, k(1, 0))
				}, func(b *ir.Block) {
					nsd := ir.Add(s.sd, n)
					b.If(ir.Eq(nsd, beats), func(b *ir.Block) {
						b.Set(s.iq.pop, k(2, 1))
						b.Set(s.sdN, k(5, 0))
						b.Set(s.heldN, k(1, 0))
					}, func(b *ir.Block) { b.Set(s.sdN, nsd) })
				})
			}, nil)
		})
	}

	// ---- step 9: intake ------------------------------------------------------------
	for c, s := range cs {
		x := fmt.Sprintf("c%d_", c)
		wacc := g.wire(x+"wr_acc", ir.LAnd(s.wrValid, s.wrReady))
		racc := g.wire(x+"rd_acc", ir.LAnd(s.rdValid, s.rdReady))
		went := iqL.pack(map[string]ir.Expr{"wr": k(1, 1), "addr": s.wrAddr, "data": s.wrData})
		rent := iqL.pack(map[string]ir.Expr{"addr": s.rdAddr, "beats": s.rdBeats, "rbpos": s.tail})
		s := s
		g.step(func(b *ir.Block) {
			b.If(wacc, func(b *ir.Block) {
				b.Set(s.iq.push0, k(1, 1))
				b.Set(s.iq.data0, went)
				b.If(racc, func(b *ir.Block) {
					b.Set(s.iq.push1, k(1, 1))
					b.Set(s.iq.data1, rent)
				}, nil)
			}, func(b *ir.Block) {
				b.If(racc, func(b *ir.Block) {
					b.Set(s.iq.push0, k(1, 1))
					b.Set(s.iq.data0, rent)
				}, nil)
			})
			b.If(racc, func(b *ir.Block) {
				endp := ir.Add(s.tail, g.fit(ir.Sub(s.rdBeats, k(5, 1)), g.RBW))
				m := rbRange(s.tail, s.rdBeats)
				b.Set(s.vN, ir.And(s.vN, ir.Not(m)))
				b.Set(s.eN, ir.And(s.eN, ir.Not(m)))
				b.Set(s.lastN, ir.Or(ir.And(s.lastN, ir.Not(m)), ir.And(rbOne(endp), m)))
				b.Set(s.tailN, ir.Add(s.tail, g.fit(s.rdBeats, g.RBW)))
				b.Set(s.usedN, ir.Add(s.usedN, ir.Zext(s.rdBeats, g.RBW+1)))
			}, nil)
		})
	}

	// ---- step 10: flush ------------------------------------------------------------
	{
		var quiet []ir.Expr
		for _, s := range cs {
			quiet = append(quiet, ir.LNot(s.iq.nonEmpty), ir.LNot(s.cq.nonEmpty))
			for _, q := range s.rq {
				quiet = append(quiet, ir.LNot(q.nonEmpty))
			}
		}
		for _, s := range ls {
			quiet = append(quiet, ir.LNot(s.xq.nonEmpty), ir.LNot(s.iwq.nonEmpty), ir.LNot(s.osB),
				ir.Eq(s.instRes, k(s.instRes.W, 0)))
		}
		quiet = append(quiet, ir.LNot(lq.nonEmpty), ir.LNot(rspq.nonEmpty), ir.LNot(dwq.nonEmpty), ir.LNot(drB),
			ir.Eq(lkSent, k(lkSent.W, 0)))
		q := g.wire("quiet", ir.AndAll(quiet...))
		startDrain := g.wire("flush_reads", ir.AndAll(ir.Eq(fst, k(2, fsDrain)), ir.Eq(fcount, k(fcount.W, 0)), q))
		frd := lr.pack(map[string]ir.Expr{"addr": k(A, 0), "beats": k(5, 1), "flush": k(1, 1)})
		g.step(func(b *ir.Block) {
			b.If(ir.LAnd(ir.Eq(fst, k(2, fsIdle)), fValid), func(b *ir.Block) {
				b.Set(fstN, k(2, fsSweep))
				b.Set(fsN, k(fsW, 0))
			}, nil)
			b.If(startDrain, func(b *ir.Block) {
				for _, s := range ls {
					b.Set(s.xq.push0, k(1, 1))
					b.Set(s.xq.data0, frd)
				}
				b.Set(frcN, k(frc.W, 0))
				b.Set(fstN, k(2, fsWait))
			}, nil)
			b.If(ir.LAnd(ir.Eq(fst, k(2, fsWait)), ir.Eq(frcN, k(frc.W, uint64(L)))), func(b *ir.Block) {
				b.Set(fstN, k(2, fsIdle))
				b.Set(doneN, k(1, 1))
			}, func(b *ir.Block) { b.Set(doneN, k(1, 0)) })
			b.Set(cycleN, ir.Add(cycle, k(32, 1)))
		})
	}

	// ---- assemble ------------------------------------------------------------------
	queues := []*queue{lq, rspq, dwq}
	for _, s := range cs {
		queues = append(queues, s.iq, s.cq)
		queues = append(queues, s.rq...)
	}
	for _, s := range ls {
		queues = append(queues, s.xq, s.iwq)
	}
	m.Comb("one cycle of memory.md section 6.4", func(b *ir.Block) {
		for _, r := range g.regs {
			if r.r != nil {
				b.Set(r.n, r.r)
			} else {
				b.Set(r.n, k(r.n.W, 0))
			}
		}
		for _, f := range g.steps {
			f(b)
		}
		for _, q := range queues {
			q.finish(b)
		}
	})
	m.Seq(clk, "registers, memories", func(b *ir.Block) {
		for _, r := range g.regs {
			if r.r != nil {
				b.Set(r.r, r.n)
			}
		}
		for _, f := range g.seqs {
			f(b)
		}
		b.If(rst, func(b *ir.Block) {
			for _, r := range g.regs {
				if r.r != nil && r.reset {
					b.Set(r.r, k(r.r.W, r.rv))
				}
			}
		}, nil)
	})
	_ = dRspValid
	return m, m.Err()
}
