package decoder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/wire"
)

// A smoke test under Icarus Verilog, not the co-simulation: kvd_dec is fed
// frames (hand-written ones for each rule of wire-format.md §4 and
// decoder.md §4, and random ones built with the wire client library) with
// random gaps on rx_valid and random d_ready, and checked two ways:
//   - every cycle's rx_ready, d_valid and record against refDec, this
//     file's literal transcription of decoder.md §4 (a byte slice for the
//     window, pos rather than rem: a different shape from the RTL's);
//   - the records taken, frame by frame, against hand-written answers and
//     against wire.DecodeRequest, wire-format.md's transaction-level
//     reference.
// The golden model (golden/decoder) is written separately and checks the
// block cycle by cycle over the bridge.

// rec is one record on d_*.
type rec struct {
	kind, index, status, received int
	op, fid, klen, vlen           int
	seq                           uint32
	last, trailing                bool
	key, value                    []byte // the issued key and value (nil: zeros)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hexLE prints n bytes of b (zero past its end) most significant first, as
// Verilog's %h prints a byte vector.
func hexLE(b []byte, n int) string {
	var s strings.Builder
	for i := n - 1; i >= 0; i-- {
		var x byte
		if i < len(b) {
			x = b[i]
		}
		fmt.Fprintf(&s, "%02x", x)
	}
	return s.String()
}

// line is the record as the testbench prints it.
func (r rec) line(z Sizes) string {
	return fmt.Sprintf("%d %08x %d %d %d %d %d %d %d %d %d %s %s", r.kind, r.seq, r.index, b2i(r.last), b2i(r.trailing),
		r.status, r.received, r.op, r.fid, r.klen, r.vlen, hexLE(r.key, z.K), hexLE(r.value, z.V))
}

// short describes a record for messages and hand-written expectations.
func (r rec) short() string {
	s := fmt.Sprintf("k%d seq%d i%d st%d", r.kind, r.seq, r.index, r.status)
	if r.last {
		s += " last"
	}
	if r.trailing {
		s += " trail"
	}
	if r.received != 0 {
		s += fmt.Sprintf(" rcv%d", r.received)
	}
	if r.kind == KindOp && r.status == 0 {
		s += fmt.Sprintf(" op%d fid%d %q=%x", r.op, r.fid, r.key[:r.klen], r.value[:r.vlen])
	}
	return s
}

// ---- refDec: decoder.md §4 read literally -------------------------------------------

type refIn struct {
	valid, last bool
	data        []byte // the marked bytes of the beat
	len         int
	dReady      bool
}

type refOut struct {
	rxReady, dValid bool
	d               rec
}

type refDec struct {
	z          Sizes
	st         int
	win        []byte // wcnt = len(win)
	infr, gotl bool
	L, pos     int
	seq        uint32
	count, idx int
	lost       bool
	skip       int
	pk, pv     int
	pval       []byte
	dValid     bool
	d          rec
}

func le16(b []byte) int { return int(binary.LittleEndian.Uint16(b)) }

// status45 is decoder.md §4.5.
func (r *refDec) status45(opc, fid, klen, vlen int) int {
	z := r.z
	switch {
	case opc >= 8:
		return StUnknownOpcode
	case opc <= OpDelete && fid != 0,
		(opc == OpGet || opc == OpDelete) && vlen != 0,
		opc == OpUpdateV2V && (vlen == 0 || vlen%z.EB != 0),
		(opc == OpUpdateS2S || opc == OpUpdateS2V || opc == OpReduce || opc == OpFilter) && (vlen%8 != 0 || vlen > 24):
		return StBadOp
	case klen == 0:
		return StEmptyKey
	case klen > z.K:
		return StKeyTooLong
	case (opc == OpPut || opc == OpUpdateV2V) && vlen > z.V:
		return StValueTooLong
	}
	return StIssue
}

func (r *refDec) step(in refIn) refOut {
	z := r.z
	o := refOut{rxReady: !r.gotl && (r.st == stDrop || len(r.win) <= z.WB-z.B), dValid: r.dValid, d: r.d}
	free := !r.dValid || in.dReady
	st0, infr0 := r.st, r.infr
	var emit *rec
	c := 0
	toDrop := false
	w := r.win
	switch r.st {
	case stHdr:
		if free && r.infr && len(w) >= min(r.L, 13) {
			var seq uint32
			count := 0
			if r.L >= 12 {
				seq = binary.LittleEndian.Uint32(w[8:])
				count = le16(w[6:])
			}
			code := 0
			switch {
			case r.L < 12:
				code = ErrShort
			case le16(w) != Magic:
				code = ErrBadMagic
			case w[2] != Version:
				code = ErrBadVersion
			case w[3] != 0:
				code = ErrBadType
			case le16(w[4:]) != r.L:
				code = ErrLengthMismatch
			case count >= 1 && r.L >= 13 && w[12]&0xc0 != 0:
				code = ErrFirstOpFlags
			}
			switch {
			case code != 0:
				emit = &rec{kind: KindPktError, seq: seq, last: true, status: code, received: r.L}
				toDrop = true
			case count == 0:
				emit = &rec{kind: KindEmpty, seq: seq, last: true, trailing: r.L > 12}
				toDrop = true
			default:
				c = HeaderBytes
				r.seq, r.count, r.idx, r.lost, r.skip = seq, count, 0, false, 0
				r.st = stOps
			}
		}
	case stOps:
		if !free {
			break
		}
		rem := r.L - r.pos
		wc := len(w)
		// opEmit answers operation idx; framed says the framing is not
		// lost after it, and end is its end offset from window byte 0.
		opEmit := func(status int, framed bool, end int) *rec {
			e := &rec{kind: KindOp, seq: r.seq, index: r.idx, status: status}
			if r.idx == r.count-1 {
				e.last = true
				e.trailing = framed && r.pos+end < r.L
				toDrop = true
			}
			r.idx++
			return e
		}
		switch {
		case r.lost:
			emit = opEmit(StTruncated, false, 0)
		case r.skip > 0:
			n := min(r.skip, wc)
			c = n
			r.skip -= n
		case rem < 2:
			emit = opEmit(StTruncated, false, 0)
			r.lost = true
		case wc < 2:
		default:
			ss, sv := w[0]&0x40 != 0, w[0]&0x80 != 0
			F := 5
			if ss {
				F = 2
			} else if sv {
				F = 3
			}
			if rem < F {
				emit = opEmit(StTruncated, false, 0)
				r.lost = true
				break
			}
			if wc < F {
				break
			}
			opc, fid := int(w[0]&0x3f), int(w[1])
			klen, vlen := r.pk, r.pv
			if !ss {
				klen = int(w[2])
				if !sv {
					vlen = le16(w[3:])
				}
			}
			body := klen
			if !sv {
				body += vlen
			}
			switch {
			case rem-F < body:
				emit = opEmit(StLengthPastEnd, false, 0)
				r.lost = true
			case !sv && vlen > z.V:
				emit = opEmit(r.status45(opc, fid, klen, vlen), true, F+body)
				c = F
				r.skip = body
				r.pk, r.pv = klen, vlen
			case wc < F+body:
			default:
				status := r.status45(opc, fid, klen, vlen)
				emit = opEmit(status, true, F+body)
				value := make([]byte, z.V)
				if sv {
					copy(value, r.pval)
				} else {
					copy(value, w[F+klen:F+klen+vlen])
				}
				if status == StIssue {
					emit.op, emit.fid, emit.klen, emit.vlen = opc, fid, klen, vlen
					emit.key = append([]byte(nil), w[F:F+klen]...)
					emit.value = value
				}
				c = F + body
				r.pk, r.pv = klen, vlen
				if !sv {
					r.pval = value
				}
			}
		}
	case stDrop:
		if r.gotl {
			r.st, r.infr, r.gotl = stHdr, false, false
		}
	}
	r.win = append([]byte(nil), w[c:]...)
	r.pos += c
	if in.valid && o.rxReady {
		if st0 != stDrop {
			r.win = append(r.win, in.data...)
			if !infr0 {
				r.infr, r.L, r.pos = true, in.len, 0
			}
		}
		if in.last {
			r.gotl = true
		}
	}
	if toDrop {
		r.st = stDrop
		r.win = nil
	}
	if emit != nil {
		r.d, r.dValid = *emit, true
	} else if r.dValid && in.dReady {
		r.dValid = false
	}
	return o
}

// ---- expectations from wire.DecodeRequest ---------------------------------------------

func params(z Sizes) wire.Params {
	return wire.Params{MaxKeyBytes: z.K, MaxValueBytes: z.V, ElementBytes: z.EB}
}

// fromWire is the records wire-format.md's reference gives for a frame.
func fromWire(z Sizes, frame []byte) []rec {
	d := wire.DecodeRequest(frame, params(z))
	if d.Err != wire.NoPacketError {
		return []rec{{kind: KindPktError, seq: d.Seq, last: true, status: int(d.Err), received: len(frame)}}
	}
	if len(d.Ops) == 0 {
		return []rec{{kind: KindEmpty, seq: d.Seq, last: true, trailing: d.Trailing > 0}}
	}
	var out []rec
	for i, o := range d.Ops {
		r := rec{kind: KindOp, seq: d.Seq, index: i, status: int(o.Status), last: i == len(d.Ops)-1}
		r.trailing = r.last && d.Trailing > 0
		if o.Status == wire.OK {
			r.op, r.fid, r.klen, r.vlen = int(o.Op.Code), int(o.Op.Fid), len(o.Op.Key), len(o.Op.Value)
			r.key, r.value = o.Op.Key, o.Op.Value
		}
		out = append(out, r)
	}
	return out
}

// ---- the testbench --------------------------------------------------------------------

// beat is one AXI-Stream beat: the frame's bytes and garbage past them.
type beat struct {
	data       []byte // B bytes
	n          int    // marked bytes
	last       bool
	len, frame int
}

func beats(z Sizes, frames [][]byte, rng *rand.Rand) []beat {
	var out []beat
	for f, fr := range frames {
		for o := 0; o < len(fr); o += z.B {
			n := min(z.B, len(fr)-o)
			d := make([]byte, z.B)
			rng.Read(d) // unmarked bytes are garbage
			copy(d, fr[o:o+n])
			out = append(out, beat{data: d, n: n, last: o+n == len(fr), len: len(fr), frame: f})
		}
	}
	return out
}

func (z Sizes) beatBits() int { return 8*z.B + z.B + 1 + LenBits }

// pack is a beat as the testbench's memory holds it: {len, last, keep, data}.
func (z Sizes) pack(b beat) string {
	v := new(big.Int)
	put := func(x *big.Int, lo int) { v.Or(v, new(big.Int).Lsh(x, uint(lo))) }
	put(new(big.Int).SetBytes(reverse(b.data)), 0)
	put(new(big.Int).SetUint64(1<<uint(b.n)-1), 8*z.B)
	put(big.NewInt(int64(b2i(b.last))), 9*z.B)
	put(big.NewInt(int64(b.len)), 9*z.B+1)
	digits := (z.beatBits() + 3) / 4
	s := v.Text(16)
	return strings.Repeat("0", digits-len(s)) + s
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

func testbench(z Sizes, nb, nc int) string {
	return fmt.Sprintf("`timescale 1ns / 1ps\n`default_nettype none\n"+`
module tb;
localparam B = %d, K = %d, KL = %d, V = %d, VL = %d, W = %d, NB = %d, NC = %d;
reg clk = 1'b0;
reg rst = 1'b1;
always #5 clk = ~clk;
reg [W-1:0] beats [0:NB-1];
reg offer [0:NC];
reg rdy [0:NC];
integer k = 0, cyc = 0;
reg vreg = 1'b0;
wire [W-1:0] bw = beats[k < NB ? k : 0];
wire rx_valid = vreg;
wire rx_ready;
// Nothing is defined on the beat while rx_valid is low.
wire [8*B-1:0] rx_data = rx_valid ? bw[8*B-1:0] : {8*B{1'bx}};
wire [B-1:0] rx_keep = rx_valid ? bw[9*B-1:8*B] : {B{1'bx}};
wire rx_last = rx_valid ? bw[9*B] : 1'bx;
wire [15:0] rx_len = rx_valid ? bw[9*B+16:9*B+1] : 16'bx;
wire d_ready = rdy[cyc];
wire d_valid, d_last, d_trailing;
wire [1:0] d_kind;
wire [31:0] d_seq;
wire [15:0] d_index, d_received;
wire [4:0] d_status;
wire [2:0] d_op;
wire [7:0] d_fid;
wire [KL-1:0] d_klen;
wire [8*K-1:0] d_key;
wire [VL-1:0] d_vlen;
wire [8*V-1:0] d_value;

kvd_dec dut (
    .clk(clk), .rst(rst),
    .rx_valid(rx_valid), .rx_ready(rx_ready), .rx_data(rx_data), .rx_keep(rx_keep), .rx_last(rx_last), .rx_len(rx_len),
    .d_valid(d_valid), .d_ready(d_ready), .d_kind(d_kind), .d_seq(d_seq), .d_index(d_index), .d_last(d_last),
    .d_trailing(d_trailing), .d_status(d_status), .d_received(d_received), .d_op(d_op), .d_fid(d_fid),
    .d_klen(d_klen), .d_key(d_key), .d_vlen(d_vlen), .d_value(d_value)
);

initial begin
    $readmemh("beats.hex", beats);
    $readmemb("offer.mem", offer);
    $readmemb("ready.mem", rdy);
    repeat (4) @(posedge clk);
    rst <= 1'b0;
    wait (cyc == NC);
    $finish;
end

// The source: a beat once offered stays until taken (AXI-Stream).
always @(posedge clk) begin
    if (rst) begin
        vreg <= offer[0] && NB > 0;
    end else begin
        cyc <= cyc + 1;
        if (rx_valid && rx_ready) begin
            k <= k + 1;
            vreg <= offer[cyc + 1] && k + 1 < NB;
        end else if (!rx_valid) begin
            vreg <= offer[cyc + 1] && k < NB;
        end
    end
end

always @(negedge clk) if (!rst && cyc < NC) begin
    $write("C %%0d %%0d %%0d %%0d %%0d %%0d", cyc, rx_valid, k, rx_ready, d_ready, d_valid);
    if (d_valid)
        $write(" %%0d %%h %%0d %%0d %%0d %%0d %%0d %%0d %%0d %%0d %%0d %%h %%h", d_kind, d_seq, d_index, d_last, d_trailing,
            d_status, d_received, d_op, d_fid, d_klen, d_vlen, d_key, d_value);
    $write("\n");
end
endmodule
`, z.B, z.K, z.KL, z.V, z.VL, z.beatBits(), nb, nc)
}

type cycle struct {
	rxValid, rxReady, dReady, dValid bool
	k                                int
	rec                              string // the record's line when d_valid
}

// simulate runs kvd_dec of cfg under Icarus on frames; offer and ready
// give rx_valid's offers and d_ready per cycle (nil: always). It returns
// the printed cycles.
func simulate(t *testing.T, cfg config.Config, frames [][]byte, bs []beat, offer, ready []bool) []cycle {
	t.Helper()
	z, err := SizesOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nc := len(offer)
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var hex, of, rd strings.Builder
	for _, b := range bs {
		hex.WriteString(z.pack(b) + "\n")
	}
	for i := 0; i <= nc; i++ {
		fmt.Fprintf(&of, "%d\n", b2i(i < nc && offer[i]))
		fmt.Fprintf(&rd, "%d\n", b2i(i < nc && ready[i]))
	}
	write("beats.hex", hex.String())
	write("offer.mem", of.String())
	write("ready.mem", rd.String())
	write("tb.v", testbench(z, len(bs), nc))
	write(Name+".v", string(emit(t, cfg)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "iverilog", "-g2005", "-o", "sim.vvp", "tb.v", Name+".v")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("iverilog: %v\n%s", err, out)
	}
	run := exec.CommandContext(ctx, "vvp", "-n", "sim.vvp")
	run.Dir = dir
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("vvp: %v\n%s", err, out)
	}
	var trace []cycle
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 || f[0] != "C" {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		if n != len(trace) {
			t.Fatalf("cycle %s printed as number %d", f[1], len(trace))
		}
		k, _ := strconv.Atoi(f[3])
		c := cycle{rxValid: f[2] == "1", k: k, rxReady: f[4] == "1", dReady: f[5] == "1", dValid: f[6] == "1"}
		if len(f) > 7 {
			c.rec = strings.Join(f[7:], " ")
		}
		trace = append(trace, c)
	}
	if len(trace) != nc {
		t.Fatalf("%d cycles printed of %d\n%s", len(trace), nc, tail(string(out)))
	}
	return trace
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// check replays the printed inputs through refDec and compares every
// cycle; it returns the records taken, grouped by frame.
func check(t *testing.T, z Sizes, frames [][]byte, bs []beat, trace []cycle) [][]rec {
	t.Helper()
	ref := &refDec{z: z}
	got := make([][]rec, len(frames))
	frame := 0 // the frame whose records are being taken
	for n, c := range trace {
		in := refIn{valid: c.rxValid, dReady: c.dReady}
		if c.rxValid {
			if c.k >= len(bs) {
				t.Fatalf("cycle %d: rx_valid with no beat left", n)
			}
			b := bs[c.k]
			in.data, in.last, in.len = b.data[:b.n], b.last, b.len
		}
		o := ref.step(in)
		want := fmt.Sprintf("rx_ready %d d_valid %d", b2i(o.rxReady), b2i(o.dValid))
		gotS := fmt.Sprintf("rx_ready %d d_valid %d", b2i(c.rxReady), b2i(c.dValid))
		if o.dValid {
			want += " " + o.d.line(z)
			gotS += " " + c.rec
		}
		if want != gotS {
			t.Fatalf("cycle %d (rx_valid %v beat %d d_ready %v): got\n%s\nwant (decoder.md 4)\n%s",
				n, c.rxValid, c.k, c.dReady, shorten(gotS), shorten(want))
		}
		if o.dValid && c.dReady {
			for frame < len(frames) && len(got[frame]) > 0 && got[frame][len(got[frame])-1].last {
				frame++
			}
			if frame == len(frames) {
				t.Fatalf("cycle %d: a record after the last frame's last", n)
			}
			got[frame] = append(got[frame], o.d)
		}
	}
	return got
}

func shorten(s string) string {
	f := strings.Fields(s)
	for i, x := range f {
		if len(x) > 40 {
			f[i] = strings.TrimLeft(x, "0")
			if f[i] == "" {
				f[i] = "0"
			}
			f[i] = "…" + f[i]
		}
	}
	return strings.Join(f, " ")
}

func needIcarus(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("smoke simulation skipped in -short mode")
	}
	for _, tool := range []string{"iverilog", "vvp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: tools/setup (make test) installs it", tool)
		}
	}
}

func always(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

func randomBits(rng *rand.Rand, n int, p float64) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = rng.Float64() < p
	}
	return b
}

// ---- hand-written frames -------------------------------------------------------------

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, f := range strings.Fields(s) {
		x, err := strconv.ParseUint(f, 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, byte(x))
	}
	return out
}

// hdr is a request header.
func hdr(length, count int, seq uint32) []byte {
	b := []byte{0x4b, 0x56, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(b[4:], uint16(length))
	binary.LittleEndian.PutUint16(b[6:], uint16(count))
	binary.LittleEndian.PutUint32(b[8:], seq)
	return b
}

// req is a header with the right length before ops (raw operation bytes).
func req(count int, seq uint32, ops ...[]byte) []byte {
	body := bytes.Join(ops, nil)
	return append(hdr(HeaderBytes+len(body), count, seq), body...)
}

// op is an operation's bytes: the op byte, fid, then fields as given.
func op(b0, fid byte, rest ...[]byte) []byte {
	return append([]byte{b0, fid}, bytes.Join(rest, nil)...)
}

// sizes is klen and vlen as the fixed fields carry them.
func sizes(klen, vlen int) []byte { return []byte{byte(klen), byte(vlen), byte(vlen >> 8)} }

func fill(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }

const (
	ss = 0x40
	sv = 0x80
)

type handCase struct {
	name  string
	frame []byte
	want  []string // rec.short() of each record
}

func handCases(t *testing.T, z Sizes) []handCase {
	example := hexBytes(t, `4b 56 01 00 3d 00 05 00 07 00 00 00
		01 00 04 02 00 6b 65 79 31 68 69
		c1 00 6b 65 79 32
		00 00 04 00 00 6b 65 79 31
		03 00 04 08 00 6b 65 79 33
		05 00 00 00 00 00 00 00
		c3 00 6b 65 79 34`)
	mismatch := append([]byte(nil), example...)
	mismatch[4] = 0x3c
	withType := func(b3 byte) []byte { h := hdr(12, 0, 9); h[3] = b3; return h }
	badMagic := hdr(14, 1, 9)
	badMagic[1] = 0x57
	badVersion := hdr(12, 0, 9)
	badVersion[2] = 2
	long := 600 // > V: answered from its fixed fields, its 602 bytes skipped
	bigKey := fill(255, 'K')
	bigVal := fill(z.V, 'v')
	return []handCase{
		{"worked example (wire-format.md 8)", example, []string{
			`k0 seq7 i0 st0 op1 fid0 "key1"=6869`,
			`k0 seq7 i1 st0 op1 fid0 "key2"=6869`,
			`k0 seq7 i2 st0 op0 fid0 "key1"=`,
			`k0 seq7 i3 st0 op3 fid0 "key3"=0500000000000000`,
			`k0 seq7 i4 st0 last op3 fid0 "key4"=0500000000000000`}},
		{"LENGTH_MISMATCH", mismatch, []string{"k1 seq7 i0 st5 last rcv61"}},
		{"SHORT, no seq", hdr(12, 0, 0x01020304)[:11], []string{"k1 seq0 i0 st1 last rcv11"}},
		{"SHORT, one byte", []byte{0x4b}, []string{"k1 seq0 i0 st1 last rcv1"}},
		{"BAD_MAGIC", append(badMagic, 0, 0), []string{"k1 seq9 i0 st2 last rcv14"}},
		{"BAD_VERSION", badVersion, []string{"k1 seq9 i0 st3 last rcv12"}},
		{"BAD_TYPE (a response)", withType(1), []string{"k1 seq9 i0 st4 last rcv12"}},
		{"FIRST_OP_FLAGS, SAME_SIZES", req(1, 3, op(ss, 0, []byte("ab"))), []string{"k1 seq3 i0 st6 last rcv16"}},
		{"FIRST_OP_FLAGS, SAME_VALUE", req(2, 3, op(sv|1, 0, []byte{1}, []byte("ab"))), []string{"k1 seq3 i0 st6 last rcv17"}},
		{"flags on byte 12 with count 0: EMPTY, trailing", req(0, 4, []byte{0xc0, 0, 0}), []string{"k2 seq4 i0 st0 last trail"}},
		{"count 0, no trailing bytes", req(0, 5), []string{"k2 seq5 i0 st0 last"}},
		{"count 0 with trailing bytes", req(0, 6, fill(40, 0xee)), []string{"k2 seq6 i0 st0 last trail"}},
		{"count 1, L = 12: TRUNCATED (no byte)", req(1, 8), []string{"k0 seq8 i0 st16 last"}},
		{"TRUNCATED fixed fields, then every later op", req(3, 10, op(0, 0, []byte{3})), []string{
			"k0 seq10 i0 st16", "k0 seq10 i1 st16", "k0 seq10 i2 st16 last"}},
		{"TRUNCATED, one byte left", req(2, 11, op(0, 0, sizes(1, 0), []byte("a")), []byte{0}), []string{
			`k0 seq11 i0 st0 op0 fid0 "a"=`, "k0 seq11 i1 st16 last"}},
		{"LENGTH_PAST_END, then TRUNCATED", req(3, 12, op(0, 0, sizes(1, 0), []byte("a")), op(0, 0, sizes(10, 0), []byte("abcd"))), []string{
			`k0 seq12 i0 st0 op0 fid0 "a"=`, "k0 seq12 i1 st18", "k0 seq12 i2 st16 last"}},
		{"long PUT skipped, SAME_VALUE heirs refused, next op issued", req(5, 13,
			op(1, 0, sizes(2, long), []byte("lk"), fill(long, 0x5a)),
			op(sv|1, 0, []byte{1}, []byte("m")),   // PUT inherits vlen 600
			op(sv|ss|0, 0, []byte("n")),           // GET inherits klen 1, vlen 600: BAD_OP
			op(1, 0, sizes(1, 3), []byte("p123")), // PUT p=123
			op(2, 0, sizes(1, 0), []byte("q"))),   // DELETE q
			[]string{"k0 seq13 i0 st4", "k0 seq13 i1 st4", "k0 seq13 i2 st7",
				`k0 seq13 i3 st0 op1 fid0 "p"=313233`, `k0 seq13 i4 st0 last op2 fid0 "q"=`}},
		{"long GET (BAD_OP) is the last op, trailing bytes", req(1, 14, op(0, 0, sizes(1, 500), []byte("g"), fill(500, 1), fill(3, 0))),
			[]string{"k0 seq14 i0 st7 last trail"}},
		{"SAME_VALUE after a refused op (KEY_TOO_LONG)", req(3, 15,
			op(1, 0, sizes(z.K+1, 3), fill(z.K+1, 'k'), []byte("abc")),
			op(sv|1, 0, []byte{1}, []byte("x")),
			op(sv|ss|1, 0, []byte("y"))), []string{"k0 seq15 i0 st3",
			`k0 seq15 i1 st0 op1 fid0 "x"=616263`, `k0 seq15 i2 st0 last op1 fid0 "y"=616263`}},
		{"the longest delimited op (255-byte key, V-byte value), then its SAME_VALUE heir", req(2, 16,
			op(1, 0, sizes(255, z.V), bigKey, bigVal),
			op(sv|1, 0, []byte{2}, []byte("zz"))), []string{"k0 seq16 i0 st3",
			fmt.Sprintf(`k0 seq16 i1 st0 last op1 fid0 "zz"=%x`, bigVal)}},
		{"trailing bytes after the last op", req(1, 17, op(0, 0, sizes(1, 0), []byte("t")), []byte{9, 9, 9}), []string{
			`k0 seq17 i0 st0 last trail op0 fid0 "t"=`}},
		{"statuses of delimited ops", req(8, 18,
			op(9, 0, sizes(1, 0), []byte("u")),                        // UNKNOWN_OPCODE
			op(0, 1, sizes(1, 0), []byte("f")),                        // GET with a fid: BAD_OP
			op(5, 2, sizes(1, 6), []byte("v"), fill(6, 1)),            // UPDATE_V2V, 6 mod EB: BAD_OP
			op(3, 2, sizes(1, 32), []byte("s"), fill(32, 1)),          // UPDATE_S2S, 32 bytes: BAD_OP
			op(0, 0, sizes(0, 0)),                                     // EMPTY_KEY
			op(5, 1, sizes(2, 2*z.EB), []byte("vv"), fill(2*z.EB, 7)), // UPDATE_V2V issued
			op(7, 3, sizes(1, 16), []byte("F"), fill(16, 2)),          // FILTER issued
			op(ss|6, 4, []byte("R"), fill(16, 3))),                    // REDUCE, SAME_SIZES
			[]string{"k0 seq18 i0 st17", "k0 seq18 i1 st7", "k0 seq18 i2 st7", "k0 seq18 i3 st7", "k0 seq18 i4 st2",
				fmt.Sprintf(`k0 seq18 i5 st0 op5 fid1 "vv"=%x`, fill(2*z.EB, 7)),
				fmt.Sprintf(`k0 seq18 i6 st0 op7 fid3 "F"=%x`, fill(16, 2)),
				fmt.Sprintf(`k0 seq18 i7 st0 last op6 fid4 "R"=%x`, fill(16, 3))}},
	}
}

// TestSmokeHandWritten runs every hand-written frame back to back, at full
// speed and then with random gaps and back-pressure.
func TestSmokeHandWritten(t *testing.T) {
	needIcarus(t)
	cfg := preset(t, "sim")
	z, _ := SizesOf(cfg)
	cases := handCases(t, z)
	var frames [][]byte
	for _, c := range cases {
		frames = append(frames, c.frame)
	}
	for _, mode := range []string{"full speed", "gaps and back-pressure"} {
		t.Run(mode, func(t *testing.T) {
			rng := rand.New(rand.NewSource(1))
			bs := beats(z, frames, rng)
			nc := 3*len(bs) + 1500
			offer, ready := always(nc), always(nc)
			if mode != "full speed" {
				nc *= 3
				offer, ready = randomBits(rng, nc, 0.6), randomBits(rng, nc, 0.5)
			}
			trace := simulate(t, cfg, frames, bs, offer, ready)
			got := check(t, z, frames, bs, trace)
			t.Logf("%d frames, %d beats, %d cycles; records of frame 0: %d", len(frames), len(bs), len(trace), len(got[0]))
			for i, c := range cases {
				var g []string
				for _, r := range got[i] {
					g = append(g, r.short())
				}
				if strings.Join(g, "\n") != strings.Join(c.want, "\n") {
					t.Errorf("%s: records\n%s\nwant\n%s", c.name, strings.Join(g, "\n"), strings.Join(c.want, "\n"))
				}
				var w []string
				for _, r := range fromWire(z, c.frame) {
					w = append(w, r.short())
				}
				if strings.Join(g, "\n") != strings.Join(w, "\n") {
					t.Errorf("%s: wire.DecodeRequest says\n%s", c.name, strings.Join(w, "\n"))
				}
			}
			if trace[len(trace)-1].k != len(bs) {
				t.Errorf("%d beats of %d taken", trace[len(trace)-1].k, len(bs))
			}
		})
	}
}

// TestSmokeTimeline is decoder.md §5 at B = 28: the 34-byte request of two
// 11-byte GETs, then a steady stream of 10-byte operations at one a cycle
// and three cycles a packet.
func TestSmokeTimeline(t *testing.T) {
	needIcarus(t)
	cfg := preset(t, "sim", "net.bytes_per_cycle=28")
	z, _ := SizesOf(cfg)
	get := func(key string) []byte { return op(0, 0, sizes(6, 0), []byte(key)) }
	first := req(2, 1, get("key001"), get("key002"))
	if len(first) != 34 {
		t.Fatalf("%d bytes", len(first))
	}
	var ops [][]byte
	for i := 0; i < 40; i++ {
		ops = append(ops, op(byte(OpGet)|ss, 0, []byte(fmt.Sprintf("k%07d", i))))
	}
	ops[0] = op(0, 0, sizes(8, 0), []byte("k0000000")) // the first op carries the sizes: 13 bytes
	stream := req(len(ops), 2, ops...)
	frames := [][]byte{first, stream, first}
	bs := beats(z, frames, rand.New(rand.NewSource(2)))
	nc := 120
	trace := simulate(t, cfg, frames, bs, always(nc), always(nc))
	check(t, z, frames, bs, trace)
	var taken, valid []int
	for n, c := range trace {
		if c.rxValid && c.rxReady {
			taken = append(taken, n)
		}
		if c.dValid {
			valid = append(valid, n)
		}
	}
	// decoder.md §5 with t = 0: beats at t and t+1, records at t+3 and
	// t+4, the next frame's first beat at t+5.
	if taken[0] != 0 || taken[1] != 1 || taken[2] != 5 {
		t.Errorf("beats taken in cycles %v, want 0, 1, then 5", taken[:3])
	}
	if valid[0] != 3 || valid[1] != 4 {
		t.Errorf("records in cycles %v, want 3 and 4", valid[:2])
	}
	// The stream: its first beat at 5, header step at 6, op 0 emitted at 7
	// and on d_valid from 8, one record a cycle, the last at 8+39; its
	// frame then costs three cycles more than its operations.
	for i := 0; i < len(ops); i++ {
		if valid[2+i] != 8+i {
			t.Fatalf("stream record %d in cycle %d, want %d", i, valid[2+i], 8+i)
		}
	}
	nStream := (len(stream) + z.B - 1) / z.B
	if next := taken[2+nStream]; next != 5+len(ops)+3 {
		t.Errorf("the frame after the stream started in cycle %d, want %d (ops + 3 after %d)", next, 5+len(ops)+3, 5)
	}
}

// TestSmokeRandom: random requests from the wire library, some refused,
// some cut short, some with random bytes, under random gaps and
// back-pressure, every record against wire.DecodeRequest.
func TestSmokeRandom(t *testing.T) {
	needIcarus(t)
	for _, tc := range []struct {
		name string
		sets []string
		n    int
	}{
		{"sim", nil, 150},
		{"paper", []string{"key.max_key_bytes=32", "net.bytes_per_cycle=28"}, 40},
		{"narrow", []string{"key.max_value_bytes=24", "net.bytes_per_cycle=4", "vector.element_bits=8"}, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := preset(t, "sim", tc.sets...)
			z, _ := SizesOf(cfg)
			rng := rand.New(rand.NewSource(int64(len(tc.name))))
			var frames [][]byte
			for i := 0; i < tc.n; i++ {
				frames = append(frames, randomFrame(rng, z, uint32(i)))
			}
			bs := beats(z, frames, rng)
			nops := 0
			for _, f := range frames {
				nops += len(fromWire(z, f))
			}
			nc := 4 * (len(bs) + nops + 4*len(frames) + 200)
			trace := simulate(t, cfg, frames, bs, randomBits(rng, nc, 0.7), randomBits(rng, nc, 0.6))
			got := check(t, z, frames, bs, trace)
			hist := map[string]int{}
			for i, f := range frames {
				want := fromWire(z, f)
				for _, r := range want {
					hist[fmt.Sprintf("k%d/st%d", r.kind, r.status)]++
					if r.trailing {
						hist["trailing"]++
					}
				}
				if len(got[i]) != len(want) {
					t.Fatalf("frame %d (%d bytes): %d records, want %d", i, len(f), len(got[i]), len(want))
				}
				for j := range want {
					if g, w := got[i][j].line(z), want[j].line(z); g != w {
						t.Fatalf("frame %d record %d:\n got %s\nwant %s", i, j, got[i][j].short(), want[j].short())
					}
				}
			}
			t.Logf("%d frames, %d beats, %d cycles; records by kind/status: %v", len(frames), len(bs), len(trace), hist)
		})
	}
}

func randomFrame(rng *rand.Rand, z Sizes, seq uint32) []byte {
	key := func() []byte {
		n := 1 + rng.Intn(z.K)
		switch rng.Intn(10) {
		case 0:
			n = 0
		case 1:
			n = z.K + 1 + rng.Intn(255-z.K)
		}
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	val := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	var ops []wire.Op
	n := rng.Intn(8)
	if rng.Intn(10) == 0 {
		n = 20 + rng.Intn(40)
	}
	for i := 0; i < n; i++ {
		var o wire.Op
		switch rng.Intn(9) {
		case 0:
			o = wire.Get(key())
		case 1:
			o = wire.Put(key(), val(rng.Intn(z.V+1)))
		case 2:
			o = wire.Put(key(), val(z.V+1+rng.Intn(300))) // long
		case 3:
			o = wire.Delete(key())
		case 4:
			o = wire.UpdateScalar(key(), uint8(rng.Intn(3)), rng.Uint64(), uint64(rng.Intn(2)), 0)
		case 5:
			o = wire.UpdateVectorToVector(key(), 1, val(z.EB*(1+rng.Intn(z.V/z.EB))))
		case 6: // repeat the previous op's sizes or value: flags
			if i > 0 {
				p := ops[i-1]
				o = wire.Op{Code: wire.Opcode(rng.Intn(8)), Fid: p.Fid, Key: val(len(p.Key)), Value: p.Value}
			} else {
				o = wire.Get(key())
			}
		case 7: // anything, fid and value unchecked
			o = wire.Op{Code: wire.Opcode(rng.Intn(12)), Fid: uint8(rng.Intn(3)), Key: key(), Value: val(rng.Intn(40))}
		default:
			o = wire.Reduce(key(), 2, rng.Uint64(), rng.Uint64(), rng.Uint64())
		}
		ops = append(ops, o)
	}
	frame, err := wire.EncodeRequest(wire.Request{Seq: seq, Ops: ops})
	if err != nil {
		panic(err)
	}
	switch rng.Intn(14) {
	case 0: // cut short, header length fixed: TRUNCATED / LENGTH_PAST_END
		if len(frame) > 13 {
			frame = frame[:13+rng.Intn(len(frame)-13)]
			binary.LittleEndian.PutUint16(frame[4:], uint16(len(frame)))
		}
	case 1: // a byte flipped anywhere but count's high byte (thousands of TRUNCATED)
		if i := rng.Intn(len(frame)); i != 7 {
			frame[i] ^= byte(1 + rng.Intn(255))
		}
	case 2: // trailing bytes
		frame = append(frame, val(1+rng.Intn(30))...)
		binary.LittleEndian.PutUint16(frame[4:], uint16(len(frame)))
	case 3: // a count larger than the operations sent
		binary.LittleEndian.PutUint16(frame[6:], uint16(n+1+rng.Intn(3)))
	case 4: // random bytes
		frame = val(1 + rng.Intn(40))
	case 5: // a header byte changed: a packet-level error (or a changed seq)
		if i := rng.Intn(min(len(frame), HeaderBytes)); i != 7 {
			frame[i] ^= byte(1 + rng.Intn(255))
		}
	case 6: // a flag on operation 0
		if len(frame) > HeaderBytes {
			frame[HeaderBytes] |= byte(ss << uint(rng.Intn(2)))
		}
	}
	return frame
}
