package rob

import (
	"fmt"

	"github.com/kvdirect/kvd/hdlgen/fifo"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

type gen struct {
	z Sizes
	m *ir.Module

	head1, head1N, head1Inc *ir.Signal // head + 1 mod M (M >= 2)
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

// lowMask is the w-bit mask of the n low bits, n an expression:
// ~({w{1}} << n), a thermometer decoder.
func lowMask(w int, n ir.Expr) ir.Expr { return ir.Not(ir.Shl(ir.Rep(w, one1), n)) }

// Layout of the record memory's word (the fields an accept writes), least
// significant first.
const (
	recStatusLo   = 0
	recKindLo     = recStatusLo + DStatusBits
	recSeqLo      = recKindLo + KindBits
	recLastLo     = recSeqLo + SeqBits
	recTrailingLo = recLastLo + 1
	recRcvLo      = recTrailingLo + 1
	recBits       = recRcvLo + ReceivedBits
)

func (g *gen) doc() ir.Doc {
	z := g.z
	return ir.Doc{
		Title: fmt.Sprintf("Reorder buffer: %d entries between the packet decoder and the response encoder, records released in decoder order",
			z.M),
		Purpose: []string{
			"docs/microarch/rob.md. Every decoder record takes the entry at tail_reg, so",
			"entries are in decoder order (head_reg the oldest, count_reg in use). An",
			"operation the decoder issues (d_kind OP, d_status 0) goes to the two-entry",
			"issue queue (iq0_reg, iq1_reg) with its entry index as tag, and its entry",
			"waits for the completion with that tag. Any other record (a refused",
			"operation, a refused packet, an empty request) is answered at once: its",
			"entry is done when it is written, so its answer leaves between its",
			"neighbours' without a side path.",
			"",
			"Storage. The per-entry done bits are flip-flops (done_reg: completions,",
			"accepts and releases each decode their entry every cycle); done_reg at",
			"head_reg is also kept in head_done_reg, updated from the same decodes, so",
			"the release decision is two LUT levels whatever M rather than an M:1 mux.",
			"The record fields live in two memories, each with one write port and",
			"one synchronous read port at head_reg, so each can be a block RAM:",
			fmt.Sprintf("  %-8s %-42s %s", "rec_mem", "kind, seq, last, trailing, received, d_status", "written by accepts"),
			fmt.Sprintf("  %-8s %-42s %s", "cpl_mem", fmt.Sprintf("status, vlen, value (%d bits)", CplStatusBits+z.VL+8*z.V), "written by completions"),
			"An accept and a completion write different entries in the same cycle, so",
			"the fields two steps write (status, vlen, value) are split by writer",
			"instead of giving one memory two write ports: an answered-at-once entry",
			"never writes cpl_mem, and from_cpl_reg (one bit an entry) tells the",
			"release to load zeros instead - the read register's synchronous reset.",
			"e_status is then cpl status | d_status, one of them zero by construction",
			"(an issued record has d_status 0). Completion values are masked to vlen",
			"bytes as they are written. The memories' read registers are the e_*",
			"outputs, loaded only on a release, so they hold while e_ready is low.",
		},
		Protocol: []string{
			"d_*: valid/ready (docs/microarch.md 1.3); d_ready = count < M && iqn < 2,",
			"a function of state only. The decoder's records of one request come",
			"consecutively; d_op .. d_value count for issued records only.",
			"iss_*: valid/ready; iss_valid = the issue queue is not empty, iss_* its",
			"oldest operation, unchanged until taken; iss_tag is the entry index,",
			"zero-extended. iss_* but iss_valid are meaningful only while iss_valid.",
			"cpl_*: no back-pressure. Each issued operation is completed exactly once,",
			"at least one cycle after it was taken on iss_*, with its tag; cpl_value",
			"bytes at or past cpl_vlen are ignored.",
			"e_*: valid/ready; registered, stable until taken; e_value bytes at or",
			"past e_vlen are zero. e_* but e_valid are meaningful only while e_valid.",
			"e_received is the record's own d_received (0 but on PKT_ERROR, rob.md 4).",
		},
		Latency: []string{
			"rob.md 4-5. All decisions use the state at the start of the cycle.",
			"A record taken in cycle t: issued, it is on iss_* from t+1 (behind at",
			"most one older operation); answered at once into an empty buffer, it is",
			"released in t+1 and on e_* in t+2. A completion for the head entry in",
			"cycle t is released in t+1 and on e_* in t+2. Timeline of a GET taken in",
			"t with iss_ready = 1, a pipeline answering L cycles after taking it,",
			"e_ready = 1: t taken into entry 0; t+1 issued, tag 0; t+1+L completed;",
			"t+2+L released; t+3+L e_valid. One release per cycle when e_ready stays",
			"high. An entry taken in t is free again for a record taken in t+3+L, so",
			"one record per cycle in (iss_ready = 1) needs M >= L + 3 (Little's law);",
			"below that the rate is M records per L + 3 cycles.",
		},
	}
}

func (g *gen) build() (*ir.Module, error) {
	z := g.z
	M, MW, CW, K, KL, V, VL := z.M, z.MW, z.CW, z.K, z.KL, z.V, z.VL

	m := ir.NewModule(Name)
	g.m = m
	m.Doc = g.doc()

	// ---- ports (rob.md 2, in table order) --------------------------------------------
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	const dG, issG, cplG, eG = "Decoder records", "Operations to the pipeline", "Completions (no back-pressure)", "Records to the encoder"
	dValid := m.Input(dG, "d_valid", 1)
	dReady := m.Output(dG, "d_ready", 1)
	dKind := m.Input(dG, "d_kind", KindBits)
	dSeq := m.Input(dG, "d_seq", SeqBits)
	dLast := m.Input(dG, "d_last", 1)
	dTrailing := m.Input(dG, "d_trailing", 1)
	dStatus := m.Input(dG, "d_status", DStatusBits)
	dReceived := m.Input(dG, "d_received", ReceivedBits)
	dOp := m.Input(dG, "d_op", OpBits)
	dFid := m.Input(dG, "d_fid", FidBits)
	dKlen := m.Input(dG, "d_klen", KL)
	dKey := m.Input(dG, "d_key", 8*K)
	dVlen := m.Input(dG, "d_vlen", VL)
	dValue := m.Input(dG, "d_value", 8*V)
	issValid := m.Output(issG, "iss_valid", 1)
	issReady := m.Input(issG, "iss_ready", 1)
	issTag := m.Output(issG, "iss_tag", TagBits)
	issOp := m.Output(issG, "iss_op", OpBits)
	issFid := m.Output(issG, "iss_fid", FidBits)
	issKlen := m.Output(issG, "iss_klen", KL)
	issKey := m.Output(issG, "iss_key", 8*K)
	issVlen := m.Output(issG, "iss_vlen", VL)
	issValue := m.Output(issG, "iss_value", 8*V)
	cplValid := m.Input(cplG, "cpl_valid", 1)
	cplTag := m.Input(cplG, "cpl_tag", TagBits)
	// Tags name entries: only the low MW bits are ever non-zero.
	m.MarkUnused(cplTag)
	cplStatus := m.Input(cplG, "cpl_status", CplStatusBits)
	cplVlen := m.Input(cplG, "cpl_vlen", VL)
	cplValue := m.Input(cplG, "cpl_value", 8*V)
	eValid := m.Output(eG, "e_valid", 1)
	eReady := m.Input(eG, "e_ready", 1)
	eKind := m.Output(eG, "e_kind", KindBits)
	eSeq := m.Output(eG, "e_seq", SeqBits)
	eLast := m.Output(eG, "e_last", 1)
	eTrailing := m.Output(eG, "e_trailing", 1)
	eStatus := m.Output(eG, "e_status", CplStatusBits)
	eReceived := m.Output(eG, "e_received", ReceivedBits)
	eVlen := m.Output(eG, "e_vlen", VL)
	eValue := m.Output(eG, "e_value", 8*V)

	// ---- state (rob.md 3) ---------------------------------------------------------------
	head, headN := m.RegPair("head", MW)
	head.Comment = "the oldest entry in use"
	tail, tailN := m.RegPair("tail", MW)
	tail.Comment = "the entry the next record takes"
	count, countN := m.RegPair("count", CW)
	count.Comment = "entries in use"
	done, doneN := m.RegPair("done", M)
	done.Comment = "per entry: it holds its answer (flip-flops: all are decoded every cycle)"
	hd, hdN := m.RegPair("head_done", 1)
	hd.Comment = "done_reg[head_reg], kept in a register (always equal to it)"
	fromCpl, fromCplN := m.RegPair("from_cpl", M)
	fromCpl.Comment = "per entry: its answer comes from a completion (data: written with the entry, not reset)"
	iqn, iqnN := m.RegPair("iqn", 2)
	iqn.Comment = "operations in the issue queue (0..2)"
	iqW := OpBits + FidBits + KL + 8*K + VL + 8*V + MW
	iq0, iq0N := m.RegPair("iq0", iqW)
	iq0.Comment = "the oldest queued operation, on iss_*: {tag, value, vlen, key, klen, fid, op}"
	iq1, iq1N := m.RegPair("iq1", iqW)
	iq1.Comment = "the operation behind it"
	eValidR, eValidN := m.RegPair("e_valid", 1)
	eRec := m.Reg("e_rec_reg", recBits)
	eRec.Comment = "read register of rec_mem: {received, trailing, last, seq, kind, d_status}"
	cplW := CplStatusBits + VL + 8*V
	eCpl := m.Reg("e_cpl_reg", cplW)
	eCpl.Comment = "read register of cpl_mem: {status, vlen, value}; zero for an entry answered at once"

	// Block RAM above the FIFO's threshold for the record fields; the
	// values (M x 8V bits) always ask for block RAM (rob.md 6). Depth 2 at
	// least: the IR's memories are never a single word (M = 1 uses word 0).
	depth := max(2, M)
	recMem := m.Mem("rec_mem", recBits, depth, M > fifo.BlockRAMThreshold)
	cplMem := m.Mem("cpl_mem", cplW, depth, true)

	// ---- helpers ---------------------------------------------------------------------------
	// inc is an entry index plus one, mod M.
	inc := func(name string, x *ir.Signal) *ir.Signal {
		if M >= 2 && M&(M-1) == 0 {
			return g.wire(name, "", ir.Add(x, k(MW, 1)))
		}
		return g.wire(name, fmt.Sprintf("mod %d", M), ir.Sel(ir.Eq(x, k(MW, uint64(M-1))), k(MW, 0), ir.Add(x, k(MW, 1))))
	}
	// hot is the M-bit one-hot of entry idx when en, else zero.
	hot := func(name, comment string, en, idx ir.Expr) *ir.Signal {
		if M == 1 {
			return g.wire(name, comment, en)
		}
		return g.wire(name, comment, ir.Shl(ir.Zext(en, M), idx))
	}
	// bitOf is bit idx of an M-bit per-entry vector.
	bitOf := func(v *ir.Signal, idx ir.Expr) ir.Expr {
		if M == 1 {
			return v
		}
		return ir.BitAt(v, idx)
	}

	// ---- 2. release (state only) -----------------------------------------------------------
	eFree := g.wire("e_free", "the output register is empty or taken this cycle", ir.LOr(ir.LNot(eValidR), eReady))
	fromCplHead := g.wire("from_cpl_head", "", bitOf(fromCpl, head))
	// done[head] comes from head_done_reg rather than an M:1 mux on
	// head_reg, so the release - which steers head, count, done and the
	// memories' read enable - is two LUT levels from registers whatever M.
	release := g.wire("rel", "rob.md 4.2: entry head goes to e_* at the edge",
		ir.LAnd(eFree, ir.LAnd(ir.Ne(count, k(CW, 0)), hd)))
	headInc := inc("head_inc", head)

	// ---- 3./4. issue and accept ---------------------------------------------------------------
	pop := g.wire("iq_pop", "rob.md 4.3: iq[0] is taken", ir.LAnd(ir.Ne(iqn, k(2, 0)), issReady))
	dRdy := g.wire("d_rdy", "rob.md 4.4: state only",
		ir.LAnd(ir.Lt(count, k(CW, uint64(M))), ir.Lt(iqn, k(2, IQ))))
	accept := g.wire("accept", "a record is taken into entry tail", ir.LAnd(dValid, dRdy))
	dIssue := g.wire("d_issue", "the record is issued (OP, status 0); any other is answered at once",
		ir.LAnd(ir.Eq(dKind, k(KindBits, KindOp)), ir.Eq(dStatus, k(DStatusBits, 0))))
	push := g.wire("iq_push", "the operation joins the issue queue", ir.LAnd(accept, dIssue))
	// A push only happens with iqn < 2 (d_ready), so the slot after this
	// cycle's removal is iqn - pop: slot 0 unless one stays behind.
	push0 := g.wire("iq_push0", "it lands in iq[0]: the queue is empty after the removal",
		ir.LAnd(push, ir.LOr(ir.Eq(iqn, k(2, 0)), pop)))
	push1 := g.wire("iq_push1", "it lands in iq[1]", ir.LAnd(push, ir.LAnd(ir.Eq(iqn, k(2, 1)), ir.LNot(pop))))
	tailInc := inc("tail_inc", tail)
	dOpWord := g.wire("d_op_word", "the operation and its tag, as the issue queue holds it",
		ir.Cat(tail, dValue, dVlen, dKey, dKlen, dFid, dOp))
	recWord := g.wire("rec_word", "the record fields an accept writes",
		ir.Cat(dReceived, dTrailing, dLast, dSeq, dKind, dStatus))

	// ---- 1. completion ------------------------------------------------------------------------
	cplAddr := g.wire("cpl_addr", "the entry the completion answers", ir.Bits(cplTag, MW-1, 0))
	cplMask := g.wire("cpl_mask", "bit b of the value is kept: b < 8 cpl_vlen",
		lowMask(8*V, ir.Cat(cplVlen, k(3, 0))))
	cplWord := g.wire("cpl_word", "status, vlen and the value with bytes at or past vlen zero",
		ir.Cat(cplStatus, cplVlen, ir.And(cplValue, cplMask)))

	// Per-entry decodes of the three steps that touch done. They never name
	// the same entry in one cycle: a completion answers an entry issued
	// earlier and not yet done (so neither head when it is released nor
	// tail), and tail is not head while entries are in use.
	relHot := hot("rel_hot", "the entry released", release, head)
	accHot := hot("acc_hot", "the entry written by the accept", accept, tail)
	cplHot := hot("cpl_hot", "the entry completed", cplValid, cplAddr)

	// head_done_next = done_next[head_next], computed from registers and
	// inputs without muxing done_next: with no release the head stays and
	// its bit changes only by a completion or an accept into it (an empty
	// buffer's head); with a release the next entry's bit is read from
	// done_reg rotated by one (wiring) at head_reg, and changes the same
	// ways. The two cases meet in one final mux on rel.
	var hdNext ir.Expr
	if M == 1 {
		hdNext = doneN // the one entry is the head
	} else {
		head1, head1N := m.RegPair("head1", MW)
		head1.Comment = "head_reg + 1 mod M, for the completion that answers the next head"
		g.head1, g.head1N, g.head1Inc = head1, head1N, inc("head1_inc", head1)
		doneRot := g.wire("done_rot", "bit i: done_reg[i + 1 mod M]", ir.Cat(ir.Bit(done, 0), ir.Bits(done, M-1, 1)))
		stay := g.wire("head_done_stay", "done_next[head_reg]",
			ir.Sel(ir.LAnd(accept, ir.Eq(tail, head)), ir.LNot(dIssue),
				ir.LOr(hd, ir.LAnd(cplValid, ir.Eq(cplAddr, head)))))
		move := g.wire("head_done_move", "done_next[head_reg + 1 mod M]",
			ir.Sel(ir.LAnd(accept, ir.Eq(tail, head1)), ir.LNot(dIssue),
				ir.LOr(ir.BitAt(doneRot, head), ir.LAnd(cplValid, ir.Eq(cplAddr, head1)))))
		hdNext = ir.Sel(release, move, stay)
	}

	// ---- control ------------------------------------------------------------------------------
	m.Comb("next state: rob.md 4, steps 1-5", func(b *ir.Block) {
		for _, p := range [][2]*ir.Signal{
			{headN, head}, {tailN, tail}, {countN, count}, {doneN, done}, {fromCplN, fromCpl},
			{iqnN, iqn}, {iq0N, iq0}, {iq1N, iq1}, {eValidN, eValidR},
		} {
			b.Set(p[0], p[1])
		}
		if g.head1 != nil {
			b.Set(g.head1N, g.head1)
		}

		b.Note("1, 2, 4: done is set by a completion or an accept answered at once, cleared by a release or an issued accept")
		b.Set(doneN, ir.Or(ir.Or(ir.And(done, ir.Not(ir.Or(relHot, accHot))), cplHot),
			ir.And(accHot, ir.Rep(M, ir.LNot(dIssue)))))
		b.Set(hdN, hdNext)
		b.Set(fromCplN, ir.Or(ir.And(fromCpl, ir.Not(accHot)), ir.And(accHot, ir.Rep(M, dIssue))))

		b.Note("2. release: e_* load from the memories in the clocked block")
		b.If(release, func(b *ir.Block) {
			b.Set(eValidN, one1)
			b.Set(headN, headInc)
			if g.head1 != nil {
				b.Set(g.head1N, g.head1Inc)
			}
		}, func(b *ir.Block) {
			b.If(ir.LAnd(eValidR, eReady), func(b *ir.Block) {
				b.Set(eValidN, zero1)
			}, nil)
		})

		b.Note("3. issue: iq[1] moves up when iq[0] is taken (garbage if iq[1] is empty: iqn says so)")
		b.If(pop, func(b *ir.Block) {
			b.Set(iq0N, iq1)
		}, nil)
		b.Note("4. accept: an issued operation is appended after the removal")
		b.If(push0, func(b *ir.Block) {
			b.Set(iq0N, dOpWord)
		}, nil)
		b.If(push1, func(b *ir.Block) {
			b.Set(iq1N, dOpWord)
		}, nil)
		b.If(ir.LAnd(push, ir.LNot(pop)), func(b *ir.Block) {
			b.Set(iqnN, ir.Add(iqn, k(2, 1)))
		}, func(b *ir.Block) {
			b.If(ir.LAnd(pop, ir.LNot(push)), func(b *ir.Block) {
				b.Set(iqnN, ir.Sub(iqn, k(2, 1)))
			}, nil)
		})
		b.If(accept, func(b *ir.Block) {
			b.Set(tailN, tailInc)
		}, nil)

		b.Note("5. count + accepted - released")
		b.If(ir.LAnd(accept, ir.LNot(release)), func(b *ir.Block) {
			b.Set(countN, ir.Add(count, k(CW, 1)))
		}, func(b *ir.Block) {
			b.If(ir.LAnd(release, ir.LNot(accept)), func(b *ir.Block) {
				b.Set(countN, ir.Sub(count, k(CW, 1)))
			}, nil)
		})
	})

	m.Seq(clk, "registers, memory writes and the synchronous reads at head; reset clears the control state only (docs/microarch.md 1.1)", func(b *ir.Block) {
		for _, p := range [][2]*ir.Signal{
			{head, headN}, {tail, tailN}, {count, countN}, {done, doneN}, {fromCpl, fromCplN},
			{iqn, iqnN}, {iq0, iq0N}, {iq1, iq1N}, {eValidR, eValidN}, {hd, hdN},
		} {
			b.Set(p[0], p[1])
		}
		if g.head1 != nil {
			b.Set(g.head1, g.head1N)
		}
		b.Note("one write port per memory: accepts write rec_mem, completions cpl_mem")
		b.If(accept, func(b *ir.Block) {
			b.Write(recMem, tail, recWord)
		}, nil)
		b.If(cplValid, func(b *ir.Block) {
			b.Write(cplMem, cplAddr, cplWord)
		}, nil)
		b.Note("the read port: address head_reg, a register, so the release reads in its own cycle (rob.md 6)")
		b.Note("an entry answered at once never wrote cpl_mem: its status, vlen and value load as zero")
		b.If(release, func(b *ir.Block) {
			b.Set(eRec, recMem.Read(head))
			b.Set(eCpl, ir.Sel(fromCplHead, cplMem.Read(head), k(cplW, 0)))
		}, nil)
		b.If(rst, func(b *ir.Block) {
			b.Set(head, k(MW, 0))
			b.Set(tail, k(MW, 0))
			b.Set(count, k(CW, 0))
			b.Set(done, k(M, 0))
			b.Set(hd, zero1)
			if g.head1 != nil {
				b.Set(g.head1, k(MW, 1))
			}
			b.Set(iqn, k(2, 0))
			b.Set(eValidR, zero1)
		}, nil)
	})

	// ---- outputs --------------------------------------------------------------------------------
	m.Assign(dReady, dRdy)
	m.Assign(issValid, ir.Ne(iqn, k(2, 0)))
	lo := 0
	for _, f := range []struct {
		s *ir.Signal
		w int
	}{{issOp, OpBits}, {issFid, FidBits}, {issKlen, KL}, {issKey, 8 * K}, {issVlen, VL}, {issValue, 8 * V}} {
		m.Assign(f.s, ir.Bits(iq0, lo+f.w-1, lo))
		lo += f.w
	}
	m.Assign(issTag, ir.Zext(ir.Bits(iq0, lo+MW-1, lo), TagBits))
	m.Assign(eValid, eValidR)
	m.Assign(eKind, ir.Bits(eRec, recKindLo+KindBits-1, recKindLo))
	m.Assign(eSeq, ir.Bits(eRec, recSeqLo+SeqBits-1, recSeqLo))
	m.Assign(eLast, ir.Bit(eRec, recLastLo))
	m.Assign(eTrailing, ir.Bit(eRec, recTrailingLo))
	// One of the two is zero: an issued record has d_status 0, a record
	// answered at once loads a zero completion word.
	m.Assign(eStatus, ir.Or(ir.Bits(eCpl, cplW-1, cplW-CplStatusBits),
		ir.Zext(ir.Bits(eRec, recStatusLo+DStatusBits-1, recStatusLo), CplStatusBits)))
	m.Assign(eReceived, ir.Bits(eRec, recRcvLo+ReceivedBits-1, recRcvLo))
	m.Assign(eVlen, ir.Bits(eCpl, 8*V+VL-1, 8*V))
	m.Assign(eValue, ir.Bits(eCpl, 8*V-1, 0))
	return m, m.Err()
}
