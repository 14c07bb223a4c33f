package encoder

import (
	"fmt"

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

// bytesOf is bytes lo .. lo+n-1 of a byte vector (byte i at [8i+7:8i]).
func bytesOf(s ir.Expr, lo, n int) ir.Expr { return ir.Bits(s, 8*(lo+n)-1, 8*lo) }

// spread widens a per-byte mask to a per-bit one: bit i becomes 8 bits.
func spread(mask *ir.Signal) ir.Expr {
	n := mask.Width()
	parts := make([]ir.Expr, n)
	for i := 0; i < n; i++ {
		parts[n-1-i] = ir.Rep(8, ir.Bit(mask, i))
	}
	return ir.Cat(parts...)
}

// therm is the byte-lane thermometer of x over lanes lo .. hi: bit i is
// x > lo + i. Lanes are decoded 16 at a time — x's high bits against the
// group number (greater, or equal and then x's low 4 bits against the lane
// in the group) — so each lane is one 3-input function of shared terms
// instead of its own comparator or a stage of a shifter.
func (g *gen) therm(name, comment string, x *ir.Signal, lo, hi int) *ir.Signal {
	lg := thermGroupLg
	xl := g.wire(name+"_lo", fmt.Sprintf("bit k: %s[%d:0] > k", x.Name, lg-1), func() ir.Expr {
		// The last lane of a group is never passed by the low bits alone.
		parts := []ir.Expr{zero1}
		for j := thermGroup - 2; j >= 0; j-- {
			parts = append(parts, ir.Gt(ir.Bits(x, lg-1, 0), k(lg, uint64(j))))
		}
		return ir.Cat(parts...)
	}())
	xh := ir.Bits(x, x.Width()-1, lg)
	hw := x.Width() - lg
	var parts []ir.Expr // most significant group first
	for grp := hi >> lg; grp >= lo>>lg; grp-- {
		a, b := max(lo, grp<<lg), min(hi, grp<<lg+thermGroup-1)
		n := b - a + 1
		gt := ir.Rep(n, ir.Gt(xh, k(hw, uint64(grp))))
		eq := ir.Rep(n, ir.Eq(xh, k(hw, uint64(grp))))
		parts = append(parts, ir.Or(gt, ir.And(eq, ir.Bits(xl, b-grp<<lg, a-grp<<lg))))
	}
	return g.wire(name, comment, ir.Cat(parts...))
}

func (g *gen) build() (*ir.Module, error) {
	z := g.z
	B, V, VL, PB, PL, CW, NB, SW, W, WL := z.B, z.V, z.VL, z.PB, z.PL, z.CW, z.NB, z.SW, z.W, z.WL

	m := ir.NewModule(Name)
	g.m = m
	m.Doc = ir.Doc{
		Title: fmt.Sprintf("Response encoder: records in request order framed into response packets of at most %d bytes, sent as %d-byte AXI-Stream beats",
			MR, B),
		Purpose: []string{
			"docs/microarch/encoder.md; packet format docs/wire-format.md (2 header, 4.1 error",
			"response, 6 response packets). A plain serializer: statuses and values arrive",
			"decided, one record per operation (e_kind 0 OP) or per refused (1 PKT_ERROR)",
			"or empty (2 EMPTY) request.",
			"",
			"A record taken goes to the holding register (h_*). The placer puts the held",
			fmt.Sprintf("record into the open packet of buf[acc] (two buffers of %d bytes): an OP", PB),
			"record (status u8, vlen u16, vlen value bytes) is written at byte len, and the",
			"packet closes - its 14-byte header written at bytes 0..13, full[acc] set, acc",
			"flipped - when the record is its request's last (e_last), or, without placing",
			fmt.Sprintf("it, when the open packet has a record and this one would pass %d bytes", MR),
			"(the record then waits for the other buffer). PKT_ERROR writes the 18-byte",
			"error response, EMPTY a header-only packet; TRAILING (type bit 7) goes on the",
			"request's last packet only.",
			"",
			fmt.Sprintf("The record write: the record (3 + %d bytes) is rotated by len mod %d bytes", V, W),
			fmt.Sprintf("(log2 %d = %d stages of 2:1 byte muxes), so buffer byte j always reads", W, WL),
			fmt.Sprintf("rotated byte j mod %d, and every lane j >= len is written (a thermometer of", W),
			"len, 16 lanes a group). Lanes past the record take garbage: the next record",
			"overwrites them, or they lie past the packet's length and are never sent;",
			"no lane below len is touched. Each buffer byte is a register with its own",
			"enable - no shift across the whole buffer, no second bound to decode.",
			"The sender reads beat sbeat of buf[snd] through a binary mux tree on sbeat.",
			"room (MR - len), h_rlen (3 + vlen) and rem (packet bytes from the beat on)",
			"are kept in registers so the split decision and tx_keep/tx_last compare",
			"registers rather than the outputs of adders.",
		},
		Protocol: []string{
			"e_*: valid/ready (docs/microarch.md 1.3); e_ready = !h_valid || the held",
			"record is placed this cycle, a function of state only. Records come in",
			"request order; a request's records end with e_last (always 1 on PKT_ERROR",
			"and EMPTY); e_trailing counts with e_last; e_vlen <= V, value bytes at or",
			"past e_vlen are ignored; e_received counts on PKT_ERROR only.",
			"tx_*: AXI-Stream, one packet per frame: packet byte j of the beat at",
			"tx_data[8j+7:8j], tx_keep all ones but on the tx_last beat (bytes 0..n-1),",
			"tx_data zero above the kept bytes. tx_valid = the oldest buffer is full; it",
			"stays up with the beat unchanged until tx_ready. tx_data, tx_keep and",
			"tx_last are meaningful only while tx_valid is 1.",
		},
		Latency: []string{
			"A record taken in cycle t is placed in cycle t+1 if buf[acc] is not waiting",
			"to be sent (and, after a split, in the first cycle the other buffer is",
			"free); one record is placed per cycle whatever its size. A packet closes",
			"in the cycle its last record is placed (or, on a split, when the next one",
			"does not fit) and its first beat is on tx_* the next cycle. Example",
			"(encoder.md 5): two GETs with 2-byte values taken in t and t+1 are placed",
			"in t+1 and t+2, the packet closes in t+2 and its 24 bytes leave from t+3.",
			"Buffers fill 0, 1, 0, ... and are sent in that order, back to back: the",
			"beat after a tx_last is beat 0 of the other buffer if it is full.",
		},
	}

	clk := m.Clock("clk")
	rst := m.Reset("rst")
	const inG, outG = "Records, in request order", "Response packets (AXI-Stream)"
	eValid := m.Input(inG, "e_valid", 1)
	eReady := m.Output(inG, "e_ready", 1)
	eKind := m.Input(inG, "e_kind", KindBits)
	eSeq := m.Input(inG, "e_seq", SeqBits)
	eLast := m.Input(inG, "e_last", 1)
	eTrailing := m.Input(inG, "e_trailing", 1)
	eStatus := m.Input(inG, "e_status", StatusBits)
	eReceived := m.Input(inG, "e_received", ReceivedBits)
	eVlen := m.Input(inG, "e_vlen", VL)
	eValue := m.Input(inG, "e_value", 8*V)
	txValid := m.Output(outG, "tx_valid", 1)
	txReady := m.Input(outG, "tx_ready", 1)
	txData := m.Output(outG, "tx_data", 8*B)
	txKeep := m.Output(outG, "tx_keep", B)
	txLast := m.Output(outG, "tx_last", 1)

	// ---- registers (encoder.md §3) ------------------------------------------------------
	hValid, hValidN := m.RegPair("h_valid", 1)
	hValid.Comment = "the holding register holds a record not yet placed"
	hKind, hKindN := m.RegPair("h_kind", KindBits)
	hSeq, hSeqN := m.RegPair("h_seq", SeqBits)
	hLast, hLastN := m.RegPair("h_last", 1)
	hTrailing, hTrailingN := m.RegPair("h_trailing", 1)
	hStatus, hStatusN := m.RegPair("h_status", StatusBits)
	hReceived, hReceivedN := m.RegPair("h_received", ReceivedBits)
	hVlen, hVlenN := m.RegPair("h_vlen", VL)
	hRlen, hRlenN := m.RegPair("h_rlen", PL)
	hRlen.Comment = "r = 3 + h_vlen: the record's bytes, added at intake"
	hValue, hValueN := m.RegPair("h_value", 8*V)
	full0, full0N := m.RegPair("full0", 1)
	full0.Comment = "buf0 holds a closed packet waiting to be sent, or being sent"
	full1, full1N := m.RegPair("full1", 1)
	rem0, rem0N := m.RegPair("rem0", PL)
	rem0.Comment = fmt.Sprintf("plen[0] - %d * sbeat: buf0's packet bytes from its next beat on", B)
	rem1, rem1N := m.RegPair("rem1", PL)
	acc, accN := m.RegPair("acc", 1)
	acc.Comment = "the buffer being filled"
	cnt, cntN := m.RegPair("cnt", CW)
	cnt.Comment = "records in the open packet"
	lenR, lenN := m.RegPair("len", PL)
	lenR.Comment = "length of the open packet so far, header included"
	room, roomN := m.RegPair("room", PL)
	room.Comment = "MR - len: bytes the open packet can still take"
	first, firstN := m.RegPair("first", FirstBits)
	first.Comment = "the open packet's first record index"
	seq, seqN := m.RegPair("seq", SeqBits)
	seq.Comment = "the open packet's seq"
	ridx, ridxN := m.RegPair("ridx", FirstBits)
	ridx.Comment = "index in its request of the next OP record"
	snd, sndN := m.RegPair("snd", 1)
	snd.Comment = "the buffer being sent (the older full one)"
	sbeat, sbeatN := m.RegPair("sbeat", SW)
	sbeat.Comment = "its next beat"
	buf0 := m.Reg("buf0_reg", 8*PB)
	buf0.Comment = "packet buffer 0, header included (data: not reset)"
	buf1 := m.Reg("buf1_reg", 8*PB)
	buf1.Comment = "packet buffer 1"

	// ---- placer decision (encoder.md §4.2), from state only ------------------------------
	fullAcc := g.wire("full_acc", "buf[acc] is waiting to be sent: the placer stalls", ir.Sel(acc, full1, full0))
	act := g.wire("place_act", "the placer acts on the held record", ir.LAnd(hValid, ir.LNot(fullAcc)))
	isErr := g.wire("h_is_err", "", ir.Eq(hKind, k(KindBits, KindPktError)))
	isEmpty := g.wire("h_is_empty", "", ir.Eq(hKind, k(KindBits, KindEmpty)))
	isOp := g.wire("h_is_op", "any other kind is an OP record", ir.LAnd(ir.LNot(isErr), ir.LNot(isEmpty)))
	recEnd := g.wire("rec_end", "len + r: the open packet's length with the record (used when it fits)", ir.Add(lenR, hRlen))
	cntZero := g.wire("cnt_zero", "the open packet has no record yet", ir.Eq(cnt, k(CW, 0)))
	cntInc := g.wire("cnt_inc", "", ir.Add(cnt, k(CW, 1)))
	noRoom := g.wire("no_room", "case 3: the packet has a record and this one would pass MR",
		ir.LAnd(isOp, ir.LAnd(ir.LNot(cntZero), ir.Gt(hRlen, room))))
	placeOp := g.wire("place_op", "case 4: the OP record is written at len", ir.LAnd(act, ir.LAnd(isOp, ir.LNot(noRoom))))
	split := g.wire("place_split", "case 3: close without the record; it waits for the other buffer", ir.LAnd(act, noRoom))
	placeErr := g.wire("place_err", "case 1: the 18-byte error response", ir.LAnd(act, isErr))
	placeEmpty := g.wire("place_empty", "case 2: a header-only packet", ir.LAnd(act, isEmpty))
	placed := g.wire("placed", "the held record leaves the holding register",
		ir.LOr(placeOp, ir.LOr(placeErr, placeEmpty)))
	closePkt := g.wire("close_pkt", "a type-1 packet closes: EMPTY, a split, or the request's last OP record",
		ir.LOr(placeEmpty, ir.LOr(split, ir.LAnd(placeOp, hLast))))
	hdrWr := g.wire("hdr_wr", "bytes 0..13 of buf[acc] take the header: a packet closes (or an error response)",
		ir.LOr(closePkt, placeErr))
	eRdy := g.wire("e_rdy", "encoder.md 4.3: state only", ir.LOr(ir.LNot(hValid), placed))

	// ---- the header of the packet that closes this cycle -----------------------------------
	// Every field is chosen without act: hdr_wr says whether it is written.
	fits := g.wire("op_fits", "an OP record goes into this packet", ir.LAnd(isOp, ir.LNot(noRoom)))
	closeLen := g.wire("close_len", "the closing packet's length",
		ir.Sel(isErr, k(PL, ErrorBytes), ir.Sel(fits, recEnd, lenR)))
	closeCnt := g.wire("close_cnt", "its record count (0 for EMPTY and error responses)",
		ir.Sel(isOp, ir.Sel(noRoom, cnt, cntInc), k(CW, 0)))
	seqOpen := g.wire("seq_open", "an OP record joins a packet opened by an earlier record",
		ir.LAnd(isOp, ir.LNot(cntZero)))
	hdrType := ir.Sel(isErr, k(8, TypeError), ir.Cat(ir.LAnd(hTrailing, ir.LNot(noRoom)), k(7, TypeResponse)))
	hdrSeq := ir.Sel(seqOpen, seq, hSeq)
	hdrFirst := ir.Sel(isOp, ir.Sel(cntZero, ridx, first), k(FirstBits, 0))
	hdr := g.wire("hdr_bytes", "bytes 0..17: the 14-byte header, then the error response's code, 0, received",
		ir.Cat(hReceived, k(8, 0), hStatus,
			hdrFirst, hdrSeq, ir.Zext(closeCnt, CountBits), ir.Zext(closeLen, LengthBits),
			hdrType, k(8, Version), k(8, Magic>>8), k(8, Magic&0xff)))

	// ---- the record write: rotate, then byte-lane enables -----------------------------------
	rec := g.wire("rec_bytes", fmt.Sprintf("the OP record: status, vlen (u16), value, in a window of %d bytes; bytes past 3 + vlen are garbage, never sent", W),
		ir.Zext(ir.Cat(hValue, ir.Zext(hVlen, 16), hStatus), 8*W))
	rot := rec
	for j := 0; j < WL; j++ {
		s := 1 << uint(j)
		// Rotate left by s bytes when bit j of len is set: byte i moves to
		// byte i + s (mod W).
		rotl := ir.Cat(bytesOf(rot, 0, W-s), bytesOf(rot, W-s, s))
		name, comment := fmt.Sprintf("rec_rot%d", s), ""
		if j == WL-1 {
			name, comment = "rec_rot", fmt.Sprintf("byte (len + i) mod %d is record byte i", W)
		}
		rot = g.wire(name, comment, ir.Sel(ir.Bit(lenR, j), rotl, rot))
	}
	if W > PB {
		m.MarkUnused(rot) // window bytes past the buffer
	}
	// Write data of every byte lane: the header and error bytes at 0..17,
	// rotated record byte j mod W everywhere from 14 on.
	var wparts []ir.Expr // most significant first
	for j := PB - 1; j >= ErrorBytes; {
		lo := max(ErrorBytes, j-j%W)
		wparts = append(wparts, bytesOf(rot, lo%W, j-lo+1))
		j = lo - 1
	}
	wparts = append(wparts,
		ir.Sel(isErr, bytesOf(hdr, HeaderBytes, ErrorBytes-HeaderBytes), bytesOf(rot, HeaderBytes, ErrorBytes-HeaderBytes)),
		bytesOf(hdr, 0, HeaderBytes))
	wdata := g.wire("buf_wdata", "write data of each buffer byte lane", ir.Cat(wparts...))

	lenGt := g.therm("len_gt", "lane 14+i holds an earlier record: len > 14+i", lenR, HeaderBytes, PB-1)
	recLanes := g.wire("rec_lanes", "lane 14+i is written by the record write: 14+i >= len",
		ir.And(ir.Rep(PB-HeaderBytes, placeOp), ir.Not(lenGt)))
	laneWe := g.wire("lane_we", "byte lanes of buf[acc] written this cycle", ir.Cat(
		ir.Bits(recLanes, PB-HeaderBytes-1, ErrorBytes-HeaderBytes),
		ir.Or(ir.Bits(recLanes, ErrorBytes-HeaderBytes-1, 0), ir.Rep(ErrorBytes-HeaderBytes, placeErr)),
		ir.Rep(HeaderBytes, hdrWr)))
	buf0We := g.wire("buf0_we", "", ir.And(laneWe, ir.Rep(PB, ir.LNot(acc))))
	buf1We := g.wire("buf1_we", "", ir.And(laneWe, ir.Rep(PB, acc)))

	// ---- sender (encoder.md §4.1) -------------------------------------------------------------
	sValid := g.wire("snd_valid", "tx_valid: buf[snd] is full", ir.Sel(snd, full1, full0))
	sRem := g.wire("snd_rem", "packet bytes from this beat on (at least 1 while tx_valid)", ir.Sel(snd, rem1, rem0))
	sLast := g.wire("snd_last", fmt.Sprintf("the beat holds the packet's end: %d * (sbeat + 1) >= plen", B), ir.Le(sRem, k(PL, uint64(B))))
	keepParts := make([]ir.Expr, B)
	for i := 0; i < B; i++ {
		keepParts[B-1-i] = ir.Gt(sRem, k(PL, uint64(i)))
	}
	keep := g.wire("snd_keep", "byte i of the beat is below plen", ir.Cat(keepParts...))
	// Beat sbeat of each buffer through a binary tree of 2:1 muxes on the
	// bits of sbeat, least significant first: two levels of it fit one
	// 6-input LUT, where a case statement's one-hot decode and OR tree
	// would cost more levels. sbeat never passes the last beat, so a
	// missing right branch is the left one.
	beatTree := func(buf *ir.Signal) ir.Expr {
		nodes := make([]ir.Expr, NB)
		for i := range nodes {
			nodes[i] = ir.Zext(bytesOf(buf, B*i, min(B, PB-B*i)), 8*B)
		}
		for j := 0; len(nodes) > 1; j++ {
			var up []ir.Expr
			for i := 0; i < len(nodes); i += 2 {
				if i+1 < len(nodes) {
					up = append(up, ir.Sel(ir.Bit(sbeat, j), nodes[i+1], nodes[i]))
				} else {
					up = append(up, nodes[i])
				}
			}
			nodes = up
		}
		return nodes[0]
	}
	beat0 := g.wire("beat0", "beat sbeat of buf0", beatTree(buf0))
	beat1 := g.wire("beat1", "beat sbeat of buf1", beatTree(buf1))
	sBeat := g.wire("snd_beat", "", ir.Sel(snd, beat1, beat0))

	// ---- control ------------------------------------------------------------------------------
	m.Comb("control: the sender (encoder.md 4.1), the placer (4.2), intake (4.3)", func(b *ir.Block) {
		for _, p := range [][2]*ir.Signal{
			{hValidN, hValid}, {hKindN, hKind}, {hSeqN, hSeq}, {hLastN, hLast}, {hTrailingN, hTrailing},
			{hStatusN, hStatus}, {hReceivedN, hReceived}, {hVlenN, hVlen}, {hRlenN, hRlen}, {hValueN, hValue},
			{full0N, full0}, {full1N, full1}, {rem0N, rem0}, {rem1N, rem1}, {accN, acc},
			{cntN, cnt}, {lenN, lenR}, {roomN, room}, {firstN, first}, {seqN, seq}, {ridxN, ridx},
			{sndN, snd}, {sbeatN, sbeat},
		} {
			b.Set(p[0], p[1])
		}

		b.Note("sender: a beat leaves on tx_valid && tx_ready; the last frees the buffer")
		b.If(ir.LAnd(sValid, txReady), func(b *ir.Block) {
			b.If(sLast, func(b *ir.Block) {
				b.If(snd, func(b *ir.Block) {
					b.Set(full1N, zero1)
				}, func(b *ir.Block) {
					b.Set(full0N, zero1)
				})
				b.Set(sndN, ir.LNot(snd))
				b.Set(sbeatN, k(SW, 0))
			}, func(b *ir.Block) {
				b.Set(sbeatN, ir.Add(sbeat, k(SW, 1)))
				b.If(snd, func(b *ir.Block) {
					b.Set(rem1N, ir.Sub(rem1, k(PL, uint64(B))))
				}, func(b *ir.Block) {
					b.Set(rem0N, ir.Sub(rem0, k(PL, uint64(B))))
				})
			})
		}, nil)

		b.Note("placer, case 4: the OP record joins the open packet (its bytes: the buffer block)")
		b.If(placeOp, func(b *ir.Block) {
			b.If(cntZero, func(b *ir.Block) {
				b.Note("the packet's first record names its first index and seq")
				b.Set(firstN, ridx)
				b.Set(seqN, hSeq)
			}, nil)
			b.Set(cntN, cntInc)
			b.Set(lenN, recEnd)
			b.Set(roomN, ir.Sub(room, hRlen))
			b.Set(ridxN, ir.Sel(hLast, k(FirstBits, 0), ir.Add(ridx, k(FirstBits, 1))))
		}, nil)
		b.Note("a packet closes (cases 1, 2, 3, and 4 on e_last): it waits in buf[acc] to be sent")
		b.If(hdrWr, func(b *ir.Block) {
			b.If(acc, func(b *ir.Block) {
				b.Set(full1N, one1)
				b.Set(rem1N, closeLen)
			}, func(b *ir.Block) {
				b.Set(full0N, one1)
				b.Set(rem0N, closeLen)
			})
			b.Set(accN, ir.LNot(acc))
			b.If(closePkt, func(b *ir.Block) {
				b.Note("the next packet opens empty in the other buffer (an error response leaves cnt and len alone)")
				b.Set(cntN, k(CW, 0))
				b.Set(lenN, k(PL, HeaderBytes))
				b.Set(roomN, k(PL, MR-HeaderBytes))
			}, nil)
		}, nil)

		b.Note("intake: a record taken replaces the one placed; the holding register empties otherwise")
		b.If(ir.LAnd(eValid, eRdy), func(b *ir.Block) {
			b.Set(hValidN, one1)
			b.Set(hKindN, eKind)
			b.Set(hSeqN, eSeq)
			b.Set(hLastN, eLast)
			b.Set(hTrailingN, eTrailing)
			b.Set(hStatusN, eStatus)
			b.Set(hReceivedN, eReceived)
			b.Set(hVlenN, eVlen)
			b.Set(hRlenN, ir.Add(k(PL, RecordFixed), ir.Zext(eVlen, PL)))
			b.Set(hValueN, eValue)
		}, func(b *ir.Block) {
			b.If(placed, func(b *ir.Block) {
				b.Set(hValidN, zero1)
			}, nil)
		})
	})

	m.Seq(clk, "registers; reset clears the control state only (docs/microarch.md 1.1)", func(b *ir.Block) {
		for _, p := range [][2]*ir.Signal{
			{hValid, hValidN}, {hKind, hKindN}, {hSeq, hSeqN}, {hLast, hLastN}, {hTrailing, hTrailingN},
			{hStatus, hStatusN}, {hReceived, hReceivedN}, {hVlen, hVlenN}, {hRlen, hRlenN}, {hValue, hValueN},
			{full0, full0N}, {full1, full1N}, {rem0, rem0N}, {rem1, rem1N}, {acc, accN},
			{cnt, cntN}, {lenR, lenN}, {room, roomN}, {first, firstN}, {seq, seqN}, {ridx, ridxN},
			{snd, sndN}, {sbeat, sbeatN},
		} {
			b.Set(p[0], p[1])
		}
		b.If(rst, func(b *ir.Block) {
			b.Set(hValid, zero1)
			b.Set(full0, zero1)
			b.Set(full1, zero1)
			b.Set(acc, zero1)
			b.Set(cnt, k(CW, 0))
			b.Set(lenR, k(PL, HeaderBytes))
			b.Set(room, k(PL, MR-HeaderBytes))
			b.Set(ridx, k(FirstBits, 0))
			b.Set(snd, zero1)
			b.Set(sbeat, k(SW, 0))
		}, nil)
	})

	// One enable per byte lane: a flip-flop with a clock enable per buffer
	// byte, the way an FPGA builds it, rather than a buffer-wide mux.
	m.Seq(clk, "packet buffers: each byte lane is written when its enable is set (data: not reset)", func(b *ir.Block) {
		for _, bb := range []struct{ buf, we *ir.Signal }{{buf0, buf0We}, {buf1, buf1We}} {
			for j := 0; j < PB; j++ {
				lane := bytesOf(bb.buf, j, 1)
				b.Set(lane, ir.Sel(ir.Bit(bb.we, j), bytesOf(wdata, j, 1), lane))
			}
		}
	})

	// ---- outputs --------------------------------------------------------------------------------
	m.Assign(eReady, eRdy)
	m.Assign(txValid, sValid)
	m.Assign(txData, ir.And(sBeat, spread(keep)))
	m.Assign(txKeep, keep)
	m.Assign(txLast, sLast)
	return m, m.Err()
}
