package decoder

import (
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/hdlgen/ir"
)

type gen struct {
	z Sizes
	m *ir.Module
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

// fit zero-extends or truncates x (a signal or a slice of one) to w bits.
func fit(x ir.Expr, w int) ir.Expr {
	if x.Width() >= w {
		return ir.Bits(x, w-1, 0)
	}
	return ir.Zext(x, w)
}

// bytesOf is bytes lo .. lo+n-1 of a byte vector (byte i at [8i+7:8i]).
func bytesOf(s *ir.Signal, lo, n int) ir.Expr { return ir.Bits(s, 8*(lo+n)-1, 8*lo) }

// byteOf is byte i of a byte vector.
func byteOf(s *ir.Signal, i int) ir.Expr { return bytesOf(s, i, 1) }

// lowMask is the w-bit mask of the n low bits, n an expression:
// ~({w{1}} << n), a thermometer decoder.
func lowMask(w int, n ir.Expr) ir.Expr { return ir.Not(ir.Shl(ir.Ones(w), n)) }

// spread widens a per-byte mask to a per-bit one: bit i becomes 8 bits
// (a concatenation: for narrow masks only, Verilator builds it part by part).
func spread(mask *ir.Signal) ir.Expr {
	n := mask.Width()
	parts := make([]ir.Expr, n)
	for i := 0; i < n; i++ {
		parts[n-1-i] = ir.Rep(8, ir.Bit(mask, i))
	}
	return ir.Cat(parts...)
}

// shiftDown is x (xBytes bytes) moved down by amt bytes, zero filled, as
// a barrel shifter over byte lanes: one 2:1 mux stage per bit of amt, the
// largest first, the last stage named name. A stage keeps only the bytes
// that the remaining stages (at most 2^j - 1 bytes more) can still bring
// into the outBytes result, so each stage is a plain wire of constant
// slices.
func (g *gen) shiftDown(name, comment string, x *ir.Signal, xBytes int, amt *ir.Signal, outBytes int) *ir.Signal {
	prev, pw := x, xBytes
	for j := amt.Width() - 1; j >= 0; j-- {
		s := 1 << uint(j)
		w := min(outBytes+s-1, pw)
		var sh ir.Expr
		if s >= pw {
			sh = k(8*w, 0)
		} else {
			hi := min(pw, w+s)
			sh = ir.Zext(bytesOf(prev, s, hi-s), 8*w)
		}
		e := ir.Sel(ir.Bit(amt, j), sh, bytesOf(prev, 0, w))
		if j > 0 {
			prev, pw = g.wire(fmt.Sprintf("%s_s%d", name, j), "", e), w
			continue
		}
		if w < outBytes {
			e = ir.Zext(e, 8*outBytes)
		}
		prev = g.wire(name, comment, e)
	}
	return prev
}

// shiftUp is x (xBytes bytes) moved up by amt bytes, zero filled, cut to
// outBytes: the same barrel shifter, the smallest stage first, each stage
// as wide as it can have grown, the last one named name.
func (g *gen) shiftUp(name, comment string, x *ir.Signal, xBytes int, amt *ir.Signal, outBytes int) *ir.Signal {
	prev, pw := x, xBytes
	for j := 0; j < amt.Width(); j++ {
		s := 1 << uint(j)
		w := min(pw+s, outBytes)
		var sh ir.Expr
		if s >= w {
			sh = k(8*w, 0)
		} else {
			sh = ir.Cat(fit(prev, 8*(w-s)), k(8*s, 0))
		}
		e := ir.Sel(ir.Bit(amt, j), sh, fit(prev, 8*w))
		n, c := fmt.Sprintf("%s_s%d", name, j), ""
		if j == amt.Width()-1 {
			n, c = name, comment
		}
		prev, pw = g.wire(n, c, e), w
	}
	return prev
}

// popcount is the number of set bits of x, w bits wide: a balanced adder
// tree.
func popcount(x *ir.Signal, w int) ir.Expr {
	terms := make([]ir.Expr, x.Width())
	for i := range terms {
		terms[i] = ir.Zext(ir.Bit(x, i), w)
	}
	for len(terms) > 1 {
		var next []ir.Expr
		for i := 0; i+1 < len(terms); i += 2 {
			next = append(next, ir.Add(terms[i], terms[i+1]))
		}
		if len(terms)%2 == 1 {
			next = append(next, terms[len(terms)-1])
		}
		terms = next
	}
	return terms[0]
}

func (g *gen) doc() ir.Doc {
	z := g.z
	return ir.Doc{
		Title: fmt.Sprintf("Packet decoder: request frames of %d-byte beats to one record per operation, keys to %d B, values to %d B",
			z.B, z.K, z.V),
		Purpose: []string{
			"Decodes request packets of docs/wire-format.md with the timing of",
			"docs/microarch/decoder.md. Beats are appended to a byte window of",
			fmt.Sprintf("WB = 5 + 255 + V + B = %d bytes (win_reg, wcnt_reg bytes of the frame, window", z.WB),
			"byte 0 first); one combinational step a cycle decides on the window's front",
			"and consumes the bytes it has answered, so one operation is decoded per",
			"cycle. The header step checks section 4.1 of wire-format.md and answers",
			"PKT_ERROR or EMPTY, or latches seq and count. Each operation step resolves",
			"SAME_SIZES / SAME_VALUE against the previous operation (pk_reg, pv_reg,",
			"pval_reg), applies the TRUNCATED / LENGTH_PAST_END checks and the status",
			"rules (decoder.md 4.5), and answers the operation. An operation whose",
			"value is longer than V is answered from its fixed fields alone and its",
			"body dropped (skip_reg), so the window only ever holds operations whose",
			"value a SAME_VALUE successor can use. After the last operation, or a",
			"packet-level answer, the rest of the frame is dropped up to rx_last.",
			"Datapath: the beat is placed after the window's bytes by a byte-lane",
			"barrel shifter on wcnt_reg (a register, off the critical path), then the",
			"merged window is shifted down by the consumed byte count by a second",
			"one; key and value are cut out by a 3-way mux on the fixed-field size",
			"and a third barrel shifter on fixed fields + klen.",
		},
		Protocol: []string{
			"rx_*: AXI-Stream from a store-and-forward receive buffer. A frame is",
			"one packet; rx_len is its length L on every beat; rx_keep is all ones",
			"but on the rx_last beat, where it marks bytes 0 .. n-1. rx_ready",
			"depends on state only: low while the window has no room for a beat",
			"(wcnt_reg > WB - B) and from the frame's last beat until the frame",
			"is finished (the next frame waits).",
			"d_*: valid/ready; the record is registered and stable until taken.",
			"d_kind 0 OP (d_index, d_status: 0 issue or the fault code, and for an",
			"issued operation d_op, d_fid, d_klen, d_key, d_vlen, d_value with",
			"bytes past the lengths zero), 1 PKT_ERROR (d_status the code 1-6,",
			"d_received = L), 2 EMPTY (count 0). d_seq on every record; d_last on",
			"the request's last record, d_trailing with it when bytes follow the",
			"last operation. Fields a record does not use are 0. Every d_* output",
			"but d_valid is meaningful only while d_valid is 1.",
		},
		Latency: []string{
			"A step happens only in a cycle where the record register is free",
			"(!d_valid || d_ready); a record emitted in cycle t is on d_* from t+1.",
			"A frame's first beat taken in cycle t: header step at t+1 at the",
			"earliest (when 13 bytes, or all L, are in the window), then one",
			"operation per cycle while its bytes are in the window; the last",
			"record's step moves to DROP, which returns to HDR one cycle after",
			"the frame's last beat was taken, and the next frame's first beat can",
			"be taken the cycle after that: three cycles a packet beyond its",
			"operations. A long operation costs one cycle plus one per cycle of",
			"bytes to drop (up to the window's bytes each cycle).",
		},
	}
}

func (g *gen) build() (*ir.Module, error) {
	z := g.z
	B, K, KL, V, VL, WB, WL := z.B, z.K, z.KL, z.V, z.VL, z.WB, z.WL
	m := ir.NewModule(Name)
	g.m = m
	m.Doc = g.doc()

	// ---- ports (decoder.md section 2, in table order) ------------------------------
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	const rxG, dG = "Request frames (AXI-Stream, store-and-forward)", "Decoded records"
	rxValid := m.Input(rxG, "rx_valid", 1)
	rxReady := m.Output(rxG, "rx_ready", 1)
	rxData := m.Input(rxG, "rx_data", 8*B)
	rxKeep := m.Input(rxG, "rx_keep", B)
	rxLast := m.Input(rxG, "rx_last", 1)
	rxLen := m.Input(rxG, "rx_len", LenBits)
	dValid := m.Output(dG, "d_valid", 1)
	dReady := m.Input(dG, "d_ready", 1)
	dKind := m.Output(dG, "d_kind", KindBits)
	dSeq := m.Output(dG, "d_seq", SeqBits)
	dIndex := m.Output(dG, "d_index", IndexBits)
	dLast := m.Output(dG, "d_last", 1)
	dTrailing := m.Output(dG, "d_trailing", 1)
	dStatus := m.Output(dG, "d_status", StatusBits)
	dReceived := m.Output(dG, "d_received", LenBits)
	dOp := m.Output(dG, "d_op", OpBits)
	dFid := m.Output(dG, "d_fid", FidBits)
	dKlen := m.Output(dG, "d_klen", KL)
	dKey := m.Output(dG, "d_key", 8*K)
	dVlen := m.Output(dG, "d_vlen", VL)
	dValue := m.Output(dG, "d_value", 8*V)

	// ---- registers (decoder.md section 3) -------------------------------------------
	st, stN := m.RegPair("st", stBits)
	st.Comment = "0 HDR, 1 OPS, 2 DROP"
	win, winN := m.RegPair("win", 8*WB)
	win.Comment = "the window: frame bytes from pos on, byte 0 at [7:0]; bytes at or past wcnt_reg zero unless wcnt_reg = 0"
	wcnt, wcntN := m.RegPair("wcnt", WL)
	wcnt.Comment = "bytes in the window"
	infr, infrN := m.RegPair("infr", 1)
	infr.Comment = "the frame's first beat was taken"
	gotl, gotlN := m.RegPair("gotl", 1)
	gotl.Comment = "the frame's last beat was taken"
	flen, flenN := m.RegPair("len", LenBits)
	flen.Comment = "L: rx_len of the frame's first beat"
	rem, remN := m.RegPair("rem", LenBits)
	rem.Comment = "L - pos: the frame's bytes from window byte 0 to its end (pos itself is never needed)"
	seq, seqN := m.RegPair("seq", SeqBits)
	count, countN := m.RegPair("count", IndexBits)
	idx, idxN := m.RegPair("idx", IndexBits)
	idx.Comment = "index of the next operation"
	lost, lostN := m.RegPair("lost", 1)
	lost.Comment = "the framing is lost: every later operation is TRUNCATED"
	skip, skipN := m.RegPair("skip", 17)
	skip.Comment = "bytes of a long operation still to drop"
	pk, pkN := m.RegPair("pk", 8)
	pk.Comment = "the previous operation's klen"
	pv, pvN := m.RegPair("pv", 16)
	pv.Comment = "the previous operation's vlen"
	pval, pvalN := m.RegPair("pval", 8*V)
	pval.Comment = "the previous operation's value, bytes past pv_reg zero (held only when pv_reg <= V)"
	dValidR, dValidN := m.RegPair("d_valid", 1)
	dKindR, dKindN := m.RegPair("d_kind", KindBits)
	dSeqR, dSeqN := m.RegPair("d_seq", SeqBits)
	dIndexR, dIndexN := m.RegPair("d_index", IndexBits)
	dLastR, dLastN := m.RegPair("d_last", 1)
	dTrailingR, dTrailingN := m.RegPair("d_trailing", 1)
	dStatusR, dStatusN := m.RegPair("d_status", StatusBits)
	dReceivedR, dReceivedN := m.RegPair("d_received", LenBits)
	dOpR, dOpN := m.RegPair("d_op", OpBits)
	dFidR, dFidN := m.RegPair("d_fid", FidBits)
	dKlenR, dKlenN := m.RegPair("d_klen", KL)
	dKeyR, dKeyN := m.RegPair("d_key", 8*K)
	dVlenR, dVlenN := m.RegPair("d_vlen", VL)
	dValueR, dValueN := m.RegPair("d_value", 8*V)

	// ---- handshakes (decoder.md 4.1, 4.2) -------------------------------------------
	isHdr := g.wire("st_hdr", "", ir.Eq(st, k(stBits, stHdr)))
	isOps := g.wire("st_ops", "", ir.Eq(st, k(stBits, stOps)))
	isDrop := g.wire("st_drop", "", ir.Eq(st, k(stBits, stDrop)))
	free := g.wire("free", "the record register can take a record this cycle: a step may happen",
		ir.LOr(ir.LNot(dValidR), dReady))
	ready := g.wire("rx_ready_int", "DROP discards beats; otherwise a beat must fit after the window's bytes",
		ir.LAnd(ir.LNot(gotl), ir.LOr(isDrop, ir.Le(wcnt, k(WL, uint64(WB-B))))))
	xfer := g.wire("rx_xfer", "", ir.LAnd(rxValid, ready))
	nBeat := g.wire("rx_bytes", "bytes the beat marks (rx_keep is 0 .. n-1)", popcount(rxKeep, z.NL))

	// ---- header step (decoder.md 4.3) -----------------------------------------------
	b := func(i int) ir.Expr { return byteOf(win, i) }
	hNeed := g.wire("hdr_need", "min(L, 13): the header and the first op byte, or the whole frame",
		ir.Sel(ir.Lt(flen, k(LenBits, HeaderBytes+1)), ir.Bits(flen, 3, 0), k(4, HeaderBytes+1)))
	hdrGo := g.wire("hdr_go", "the header step happens this cycle",
		ir.LAnd(ir.LAnd(isHdr, free), ir.LAnd(infr, ir.Ge(wcnt, ir.Zext(hNeed, WL)))))
	hShort := g.wire("hdr_short", "", ir.Lt(flen, k(LenBits, HeaderBytes)))
	hMagic := g.wire("hdr_bad_magic", "", ir.Ne(ir.Cat(b(1), b(0)), k(16, Magic)))
	hVersion := g.wire("hdr_bad_version", "", ir.Ne(b(2), k(8, Version)))
	hType := g.wire("hdr_bad_type", "", ir.Ne(b(3), k(8, 0)))
	hLength := g.wire("hdr_bad_length", "", ir.Ne(ir.Cat(b(5), b(4)), flen))
	hCount := g.wire("hdr_count", "", ir.Cat(b(7), b(6)))
	hFlags := g.wire("hdr_first_flags", "a flag on operation 0 refers to no previous operation",
		ir.LAnd(ir.LAnd(ir.Ne(hCount, k(IndexBits, 0)), ir.Gt(flen, k(LenBits, HeaderBytes))),
			ir.OrR(ir.Bits(win, 8*HeaderBytes+7, 8*HeaderBytes+6))))
	hSeq := g.wire("hdr_seq", "bytes 8-11, or 0 when the frame is shorter than a header",
		ir.Sel(hShort, k(SeqBits, 0), bytesOf(win, 8, 4)))
	hErr := g.wire("hdr_err", "",
		ir.OrAll(hShort, hMagic, hVersion, hType, hLength, hFlags))
	hCode := g.wire("hdr_code", "the first failing check of wire-format.md 4.1",
		ir.Sel(hShort, k(StatusBits, ErrShort),
			ir.Sel(hMagic, k(StatusBits, ErrBadMagic),
				ir.Sel(hVersion, k(StatusBits, ErrBadVersion),
					ir.Sel(hType, k(StatusBits, ErrBadType),
						ir.Sel(hLength, k(StatusBits, ErrLengthMismatch), k(StatusBits, ErrFirstOpFlags)))))))
	hdrOps := g.wire("hdr_ops", "the header passed and declares operations: consume it, walk them",
		ir.LAnd(ir.LAnd(hdrGo, ir.LNot(hErr)), ir.Ne(hCount, k(IndexBits, 0))))

	// ---- operation step (decoder.md 4.4) --------------------------------------------
	ss := g.wire("op_ss", "SAME_SIZES", ir.Bit(win, 6))
	sv := g.wire("op_sv", "SAME_VALUE", ir.Bit(win, 7))
	opc := g.wire("op_code", "", ir.Bits(win, 5, 0))
	fid := g.wire("op_fid", "", b(1))
	fld := g.wire("op_fixed", "F: bytes of fixed fields the op byte announces",
		ir.Sel(ss, k(3, 2), ir.Sel(sv, k(3, 3), k(3, MaxFixed))))
	klen := g.wire("op_klen", "resolved klen", ir.Sel(ss, pk, b(2)))
	vlen := g.wire("op_vlen", "resolved vlen", ir.Sel(ir.LOr(ss, sv), pv, ir.Cat(b(4), b(3))))
	body := g.wire("op_body", "key and value bytes present",
		ir.Add(ir.Zext(klen, 17), ir.Sel(sv, k(17, 0), ir.Zext(vlen, 17))))
	need := g.wire("op_bytes", "F + body: the operation's bytes",
		ir.Add(ir.Zext(fld, 17), body))
	rem17 := ir.Zext(rem, 17)
	remLt2 := g.wire("rem_lt2", "", ir.Lt(rem, k(LenBits, 2)))
	wLt2 := g.wire("wcnt_lt2", "", ir.Lt(wcnt, k(WL, 2)))
	remLtF := g.wire("rem_lt_fixed", "", ir.Lt(rem, ir.Zext(fld, LenBits)))
	wLtF := g.wire("wcnt_lt_fixed", "", ir.Lt(wcnt, ir.Zext(fld, WL)))
	past := g.wire("op_past_end", "the key and value bytes run past L", ir.Lt(rem17, need))
	long := g.wire("op_long", "a value longer than V: answered from the fixed fields, body skipped",
		ir.LAnd(ir.LNot(sv), ir.Gt(vlen, k(16, uint64(V)))))
	wLtNeed := g.wire("wcnt_lt_op", "", ir.Lt(ir.Zext(wcnt, 17), need))
	trail := g.wire("op_trail", "bytes follow this operation before L", ir.Gt(rem17, need))
	opLast := g.wire("op_last", "operation idx is the request's last", ir.Eq(ir.Add(idx, k(IndexBits, 1)), count))

	// The cases of decoder.md 4.4, first that applies; each is a one-hot
	// term so the consumed byte count is a flat AND-OR.
	opsGo := g.wire("ops_go", "", ir.LAnd(isOps, free))
	cLost := g.wire("ops_lost", "case 1: TRUNCATED, the framing was lost before", ir.LAnd(opsGo, lost))
	live := g.wire("ops_live", "", ir.LAnd(opsGo, ir.LNot(lost)))
	cSkip := g.wire("ops_skip", "case 2: drop bytes of a long operation", ir.LAnd(live, ir.Ne(skip, k(17, 0))))
	walk := g.wire("ops_walk", "cases 3-10: an operation starts at window byte 0", ir.LAnd(live, ir.Eq(skip, k(17, 0))))
	cTrunc := g.wire("ops_trunc", "cases 3 and 5: fewer bytes remain than the fixed fields",
		ir.LAnd(walk, ir.LOr(remLt2, ir.LAnd(ir.LNot(wLt2), remLtF))))
	fixed := g.wire("ops_fixed", "the fixed fields are in the window (cases 7-10)",
		ir.LAnd(ir.LAnd(walk, ir.LNot(remLt2)), ir.LAnd(ir.LNot(wLt2), ir.LAnd(ir.LNot(remLtF), ir.LNot(wLtF)))))
	cPast := g.wire("ops_past", "case 7: LENGTH_PAST_END", ir.LAnd(fixed, past))
	cLong := g.wire("ops_long", "case 8: a long operation", ir.LAnd(ir.LAnd(fixed, ir.LNot(past)), long))
	cWhole := g.wire("ops_whole", "case 10: the whole operation is in the window",
		ir.LAnd(ir.LAnd(fixed, ir.LNot(past)), ir.LAnd(ir.LNot(long), ir.LNot(wLtNeed))))
	opsEmit := g.wire("ops_emit", "cases 1, 3, 5, 7, 8, 10 answer operation idx",
		ir.OrAll(cLost, cTrunc, cPast, cLong, cWhole))
	opsLose := g.wire("ops_lose", "cases 3, 5, 7: the framing is lost from here", ir.LOr(cTrunc, cPast))

	// Status of a delimited operation (decoder.md 4.5), on the resolved fields.
	o3 := g.wire("op_code3", "", ir.Bits(opc, 2, 0))
	opIs := func(codes ...uint64) ir.Expr {
		var t []ir.Expr
		for _, c := range codes {
			t = append(t, ir.Eq(o3, k(3, c)))
		}
		return ir.OrAll(t...)
	}
	unknown := g.wire("op_unknown", "opcode >= 8", ir.OrR(ir.Bits(opc, 5, 3)))
	vZero := g.wire("op_vlen_zero", "", ir.Eq(vlen, k(16, 0)))
	var ebBad ir.Expr = zero1
	if lg := bits.Len(uint(z.EB)) - 1; lg > 0 {
		ebBad = ir.OrR(ir.Bits(vlen, lg-1, 0))
	}
	badOp := g.wire("op_bad", "fid or operand length wrong for the opcode (wire-format.md 3.2)",
		ir.OrAll(
			ir.LAnd(opIs(OpGet, OpPut, OpDelete), ir.Ne(fid, k(8, 0))),
			ir.LAnd(opIs(OpGet, OpDelete), ir.LNot(vZero)),
			ir.LAnd(opIs(OpUpdateV2V), ir.LOr(vZero, ebBad)),
			ir.LAnd(opIs(OpUpdateS2S, OpUpdateS2V, OpReduce, OpFilter),
				ir.LOr(ir.OrR(ir.Bits(vlen, 2, 0)), ir.Gt(vlen, k(16, MinValueBytes))))))
	var keyLong ir.Expr = zero1 // K = 255: the klen field cannot exceed it
	if K < MaxKeyField {
		keyLong = ir.Gt(klen, k(8, uint64(K)))
	}
	status := g.wire("op_status", "0: issue",
		ir.Sel(unknown, k(StatusBits, StUnknownOpcode),
			ir.Sel(badOp, k(StatusBits, StBadOp),
				ir.Sel(ir.Eq(klen, k(8, 0)), k(StatusBits, StEmptyKey),
					ir.Sel(keyLong, k(StatusBits, StKeyTooLong),
						ir.Sel(ir.LAnd(opIs(OpPut, OpUpdateV2V), ir.Gt(vlen, k(16, uint64(V)))), k(StatusBits, StValueTooLong),
							k(StatusBits, StIssue)))))))
	issue := g.wire("op_issue", "the record carries the operation", ir.LAnd(cWhole, ir.Eq(status, k(StatusBits, StIssue))))
	opsStatus := g.wire("ops_status", "the answer of this step's operation",
		ir.Sel(ir.LOr(cLost, cTrunc), k(StatusBits, StTruncated),
			ir.Sel(cPast, k(StatusBits, StLengthPastEnd), status)))

	// Key and value. An issued key is at most K bytes at offset F; the value
	// follows the key, at offset F + klen up to 5 + 255: a SAME_VALUE
	// successor needs the value of any whole operation, even one refused
	// for its 255-byte key.
	keyF := g.wire("key_at_fixed", "window bytes F .. F+K-1",
		ir.Sel(ss, bytesOf(win, 2, K), ir.Sel(sv, bytesOf(win, 3, K), bytesOf(win, MaxFixed, K))))
	keyMask := g.wire("key_mask", "bit b of the key exists: b < 8 klen", lowMask(8*K, ir.Cat(klen, k(3, 0))))
	key := g.wire("key", "", ir.And(keyF, keyMask))
	voff := g.wire("val_off", "F + klen: the value's first window byte",
		ir.Add(ir.Zext(fld, 9), ir.Zext(klen, 9)))
	valSh := g.shiftDown("val_sh", "window bytes F + klen on", win, WB, voff, V)
	vlenV := g.wire("op_vlen_v", "vlen when it is at most V", ir.Bits(vlen, VL-1, 0))
	valMask := g.wire("val_mask", "bit b of the value exists: b < 8 vlen", lowMask(8*V, ir.Cat(vlenV, k(3, 0))))
	value := g.wire("val", "the operation's value bytes, zero past vlen (vlen <= V)", ir.And(valSh, valMask))

	// ---- window update (decoder.md 4.2) -----------------------------------------------
	skipTake := g.wire("skip_take", "min(skip, wcnt)",
		ir.Sel(ir.Gt(skip, ir.Zext(wcnt, 17)), wcnt, fit(skip, WL)))
	consume := g.wire("consume", "c: bytes this cycle's step consumes",
		ir.OrAll(
			ir.And(ir.Rep(WL, hdrOps), k(WL, HeaderBytes)),
			ir.And(ir.Rep(WL, cSkip), skipTake),
			ir.And(ir.Rep(WL, cLong), ir.Zext(fld, WL)),
			ir.And(ir.Rep(WL, cWhole), fit(need, WL))))
	// The beat goes after the window's bytes before the shift (window byte
	// wcnt on), which leaves the same bytes as appending after the shift
	// at wcnt - c but puts this barrel shifter on a register's output
	// instead of behind the step's decision. Window bytes at or past wcnt
	// are kept zero (the shifts fill zeros, a beat brings no unmarked
	// bytes), so the beat is merged by an OR; an empty window (after reset
	// or DROP, whose bytes are left as they were) is read as zeros.
	appendB := g.wire("rx_append_en", "the beat is appended", ir.LAnd(xfer, ir.LNot(isDrop)))
	beat := g.wire("beat", "the beat's marked bytes, zero when none is appended",
		ir.Sel(appendB, ir.And(rxData, spread(rxKeep)), k(8*B, 0)))
	beatSh := g.shiftUp("beat_sh", "the beat at window byte wcnt", beat, B, wcnt, WB)
	merged := g.wire("win_merged", "the window with the beat at byte wcnt",
		ir.Or(ir.Sel(ir.Eq(wcnt, k(WL, 0)), k(8*WB, 0), win), beatSh))
	shifted := g.shiftDown("win_shifted", "the merged window less the consumed bytes", merged, WB, consume, WB)
	taken := g.wire("rx_append", "bytes the intake appends", ir.Sel(appendB, fit(nBeat, WL), k(WL, 0)))

	// ---- next state -------------------------------------------------------------------
	m.Comb("next state: decoder.md section 4, every decision on this cycle's registers", func(bl *ir.Block) {
		bl.Set(stN, st)
		bl.Set(winN, shifted)
		bl.Set(wcntN, ir.Add(ir.Sub(wcnt, consume), taken))
		bl.Set(infrN, infr)
		bl.Set(gotlN, gotl)
		bl.Set(flenN, flen)
		bl.Set(remN, ir.Sub(rem, fit(consume, LenBits)))
		bl.Set(seqN, seq)
		bl.Set(countN, count)
		bl.Set(idxN, idx)
		bl.Set(lostN, lost)
		bl.Set(skipN, skip)
		bl.Set(pkN, pk)
		bl.Set(pvN, pv)
		bl.Set(pvalN, pval)
		bl.Note("a record taken and not replaced leaves the register empty")
		bl.Set(dValidN, ir.LAnd(dValidR, ir.LNot(dReady)))
		bl.Set(dKindN, dKindR)
		bl.Set(dSeqN, dSeqR)
		bl.Set(dIndexN, dIndexR)
		bl.Set(dLastN, dLastR)
		bl.Set(dTrailingN, dTrailingR)
		bl.Set(dStatusN, dStatusR)
		bl.Set(dReceivedN, dReceivedR)
		bl.Set(dOpN, dOpR)
		bl.Set(dFidN, dFidR)
		bl.Set(dKlenN, dKlenR)
		bl.Set(dKeyN, dKeyR)
		bl.Set(dVlenN, dVlenR)
		bl.Set(dValueN, dValueR)

		// emit loads a record; the operation fields are zero unless set.
		emit := func(bl *ir.Block, kind int, seqV, index, last, trailing, stat, received ir.Expr) {
			bl.Set(dValidN, one1)
			bl.Set(dKindN, k(KindBits, uint64(kind)))
			bl.Set(dSeqN, seqV)
			bl.Set(dIndexN, index)
			bl.Set(dLastN, last)
			bl.Set(dTrailingN, trailing)
			bl.Set(dStatusN, stat)
			bl.Set(dReceivedN, received)
			bl.Set(dOpN, k(OpBits, 0))
			bl.Set(dFidN, k(FidBits, 0))
			bl.Set(dKlenN, k(KL, 0))
			bl.Set(dKeyN, k(8*K, 0))
			bl.Set(dVlenN, k(VL, 0))
			bl.Set(dValueN, k(8*V, 0))
		}
		// drop leaves the frame to DROP; whatever the intake appends is void.
		drop := func(bl *ir.Block) {
			bl.Set(stN, k(stBits, stDrop))
			bl.Set(wcntN, k(WL, 0))
		}

		bl.If(xfer, func(bl *ir.Block) {
			bl.If(rxLast, func(bl *ir.Block) {
				bl.Set(gotlN, one1)
			}, nil)
			bl.If(ir.LAnd(ir.LNot(isDrop), ir.LNot(infr)), func(bl *ir.Block) {
				bl.Note("the frame's first beat: L from the sideband, window byte 0 is frame byte 0")
				bl.Set(infrN, one1)
				bl.Set(flenN, rxLen)
				bl.Set(remN, rxLen)
			}, nil)
		}, nil)

		bl.Case(st, []ir.CaseArm{
			{Match: []ir.Expr{k(stBits, stHdr)}, Body: func(bl *ir.Block) {
				bl.If(hdrGo, func(bl *ir.Block) {
					bl.If(hErr, func(bl *ir.Block) {
						bl.Note("the packet is refused whole")
						emit(bl, KindPktError, hSeq, k(IndexBits, 0), one1, zero1, hCode, flen)
						drop(bl)
					}, func(bl *ir.Block) {
						bl.If(ir.Eq(hCount, k(IndexBits, 0)), func(bl *ir.Block) {
							bl.Note("count 0: one response with no record; bytes after the header trail")
							emit(bl, KindEmpty, hSeq, k(IndexBits, 0), one1, ir.Gt(flen, k(LenBits, HeaderBytes)),
								k(StatusBits, 0), k(LenBits, 0))
							drop(bl)
						}, func(bl *ir.Block) {
							bl.Note("consume the header (consume = 12), walk the operations")
							bl.Set(stN, k(stBits, stOps))
							bl.Set(seqN, hSeq)
							bl.Set(countN, hCount)
							bl.Set(idxN, k(IndexBits, 0))
							bl.Set(lostN, zero1)
							bl.Set(skipN, k(17, 0))
						})
					})
				}, nil)
			}},
			{Match: []ir.Expr{k(stBits, stOps)}, Body: func(bl *ir.Block) {
				bl.If(opsEmit, func(bl *ir.Block) {
					emit(bl, KindOp, seq, idx, opLast,
						ir.LAnd(opLast, ir.LAnd(ir.LOr(cLong, cWhole), trail)), opsStatus, k(LenBits, 0))
					bl.If(issue, func(bl *ir.Block) {
						bl.Set(dOpN, ir.Bits(opc, OpBits-1, 0))
						bl.Set(dFidN, fid)
						bl.Set(dKlenN, fit(klen, KL))
						bl.Set(dKeyN, key)
						bl.Set(dVlenN, vlenV)
						bl.Set(dValueN, ir.Sel(sv, pval, value))
					}, nil)
					bl.Set(idxN, ir.Add(idx, k(IndexBits, 1)))
					bl.If(opLast, func(bl *ir.Block) {
						drop(bl)
					}, nil)
				}, nil)
				bl.If(opsLose, func(bl *ir.Block) {
					bl.Set(lostN, one1)
				}, nil)
				bl.If(cSkip, func(bl *ir.Block) {
					bl.Set(skipN, ir.Sub(skip, ir.Zext(skipTake, 17)))
				}, nil)
				bl.If(ir.LOr(cLong, cWhole), func(bl *ir.Block) {
					bl.Note("the operation is delimited: it is the previous one for the next")
					bl.Set(pkN, klen)
					bl.Set(pvN, vlen)
				}, nil)
				bl.If(cLong, func(bl *ir.Block) {
					bl.Note("consume = F; the body is dropped by case 2 (pval_reg is not held)")
					bl.Set(skipN, body)
				}, nil)
				bl.If(ir.LAnd(cWhole, ir.LNot(sv)), func(bl *ir.Block) {
					bl.Set(pvalN, value)
				}, nil)
			}},
			{Match: []ir.Expr{k(stBits, stDrop)}, Body: func(bl *ir.Block) {
				bl.If(gotl, func(bl *ir.Block) {
					bl.Note("the frame's last beat is in: the next beat starts a frame")
					bl.Set(stN, k(stBits, stHdr))
					bl.Set(infrN, zero1)
					bl.Set(gotlN, zero1)
				}, nil)
			}},
		}, func(bl *ir.Block) {
			bl.Set(stN, k(stBits, stHdr))
		})
	})

	m.Seq(clk, "registers; reset clears the control state only (microarch.md 1.1)", func(bl *ir.Block) {
		for _, p := range [][2]*ir.Signal{
			{st, stN}, {win, winN}, {wcnt, wcntN}, {infr, infrN}, {gotl, gotlN}, {flen, flenN}, {rem, remN},
			{seq, seqN}, {count, countN}, {idx, idxN}, {lost, lostN}, {skip, skipN}, {pk, pkN}, {pv, pvN},
			{pval, pvalN},
			{dValidR, dValidN}, {dKindR, dKindN}, {dSeqR, dSeqN}, {dIndexR, dIndexN}, {dLastR, dLastN},
			{dTrailingR, dTrailingN}, {dStatusR, dStatusN}, {dReceivedR, dReceivedN}, {dOpR, dOpN},
			{dFidR, dFidN}, {dKlenR, dKlenN}, {dKeyR, dKeyN}, {dVlenR, dVlenN}, {dValueR, dValueN},
		} {
			bl.Set(p[0], p[1])
		}
		bl.If(rst, func(bl *ir.Block) {
			bl.Set(st, k(stBits, stHdr))
			bl.Set(wcnt, k(WL, 0))
			bl.Set(infr, zero1)
			bl.Set(gotl, zero1)
			bl.Set(dValidR, zero1)
		}, nil)
	})

	// ---- outputs -----------------------------------------------------------------------
	m.Assign(rxReady, ready)
	m.Assign(dValid, dValidR)
	m.Assign(dKind, dKindR)
	m.Assign(dSeq, dSeqR)
	m.Assign(dIndex, dIndexR)
	m.Assign(dLast, dLastR)
	m.Assign(dTrailing, dTrailingR)
	m.Assign(dStatus, dStatusR)
	m.Assign(dReceived, dReceivedR)
	m.Assign(dOp, dOpR)
	m.Assign(dFid, dFidR)
	m.Assign(dKlen, dKlenR)
	m.Assign(dKey, dKeyR)
	m.Assign(dVlen, dVlenR)
	m.Assign(dValue, dValueR)
	return m, m.Err()
}
