package encoder

import (
	"bufio"
	"bytes"
	"context"
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

// A smoke test, not the co-simulation: kvd_enc under Icarus Verilog, fed
// records with gaps and drained with a tx_ready pattern. Every frame sent
// is checked byte for byte against the client library (wire.SplitResponse
// and wire.EncodeResponse, the error response of wire-format.md §4.1), and
// every cycle's e_ready, tx_valid, tx_last, tx_keep and tx_data against
// this file's own reading of encoder.md §4 (tb below). The golden model is
// written separately and checks the block cycle by cycle over the bridge.

// erec is one record as the testbench presents it.
type erec struct {
	kind, status, received, vlen int
	seq                          uint32
	last, trailing               bool
	value                        []byte // V bytes, garbage past vlen
	gap                          int    // idle cycles before it is presented, after the previous transfer
}

// cyc is one cycle's outputs (and the e_valid/tx_ready the bench applied).
type cyc struct {
	eValid, eReady, txValid, txReady, txLast bool
	keep                                     uint64
	data                                     []byte // B bytes
}

// frames is the transaction-level answer: the response packets of the
// records' requests, in order.
func frames(t *testing.T, recs []erec) [][]byte {
	t.Helper()
	var out [][]byte
	var ops []wire.Result
	enc := func(r wire.Response) {
		b, err := wire.EncodeResponse(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, r := range recs {
		switch r.kind {
		case KindPktError:
			enc(wire.Response{Seq: r.seq, Err: wire.PacketError(r.status), Received: r.received})
		case KindEmpty:
			for _, p := range wire.SplitResponse(r.seq, r.trailing, nil, wire.DefaultMaxResponseBytes) {
				enc(p)
			}
		default:
			ops = append(ops, wire.Result{Status: wire.Status(r.status), Value: append([]byte(nil), r.value[:r.vlen]...)})
			if r.last {
				for _, p := range wire.SplitResponse(r.seq, r.trailing, ops, wire.DefaultMaxResponseBytes) {
					enc(p)
				}
				ops = nil
			}
		}
	}
	return out
}

// coverage counts the situations the smoke test is meant to reach.
type coverage map[string]int

// tb is encoder.md §4 read for the test: it produces every cycle's
// expected outputs for the records and the tx_ready pattern, with the
// testbench's e_valid (record k presented once its gap has elapsed).
// Frame contents come from frames(); the model checks each packet it
// closes has that frame's length.
func tb(t *testing.T, B int, recs []erec, ready []bool, want [][]byte) ([]cyc, coverage) {
	t.Helper()
	cov := coverage{}
	var (
		k, gap       = 0, 0
		hv           bool
		h            int
		full         [2]bool
		plen, fidx   [2]int
		acc, snd     int
		cnt, ln      = 0, HeaderBytes
		sbeat, nclos int
	)
	if len(recs) > 0 {
		gap = recs[0].gap
	}
	var out []cyc
	doneAt := -1
	for c := 0; doneAt < 0 || c < doneAt+8; c++ {
		if c == len(ready) {
			t.Fatalf("model: %d of %d packets closed, %d of %d records taken, still busy after %d cycles", nclos, len(want), k, len(recs), c)
		}
		if doneAt < 0 && nclos == len(want) && !full[0] && !full[1] && !hv && k == len(recs) {
			doneAt = c
		}
		o := cyc{eValid: k < len(recs) && gap == 0, txReady: c < len(ready) && ready[c]}
		act := hv && !full[acc]
		var placeOp, split, placeErr, placeEmpty bool
		var r int
		if act {
			hr := recs[h]
			r = RecordFixed + hr.vlen
			switch hr.kind {
			case KindPktError:
				placeErr = true
			case KindEmpty:
				placeEmpty = true
			default:
				if cnt >= 1 && ln+r > MR {
					split = true
				} else {
					placeOp = true
				}
			}
		}
		placed := placeOp || placeErr || placeEmpty
		o.eReady = !hv || placed
		o.txValid = full[snd]
		if o.txValid {
			f := want[fidx[snd]]
			lo := B * sbeat
			o.txLast = lo+B >= plen[snd]
			o.data = make([]byte, B)
			n := copy(o.data, f[lo:min(lo+B, plen[snd])])
			o.keep = 1<<uint(n) - 1
		}
		out = append(out, o)

		// coverage
		if full[0] && full[1] {
			cov["both buffers full"]++
		}
		if placeOp && o.txValid && acc != snd {
			cov["a packet fills while another is sent"]++
		}
		if o.txValid && !o.txReady {
			cov["tx_ready back-pressure"]++
		}
		if hv && full[acc] {
			cov["placer waits for a buffer"]++
		}
		if !o.eValid && k < len(recs) {
			cov["e_valid gap"]++
		}
		if split {
			cov["split"]++
		}

		// sender
		if o.txValid && o.txReady {
			if o.txLast {
				full[snd] = false
				snd ^= 1
				sbeat = 0
			} else {
				sbeat++
			}
		}
		// placer
		closeWith := func(L int) {
			if nclos >= len(want) || L != len(want[nclos]) {
				t.Fatalf("model: packet %d closes with %d bytes, want frame of %d", nclos, L, len(want[min(nclos, len(want)-1)]))
			}
			if L == MR {
				cov["a packet of exactly MR bytes"]++
			}
			full[acc], plen[acc], fidx[acc] = true, L, nclos
			nclos++
			acc ^= 1
		}
		switch {
		case placeErr:
			closeWith(ErrorBytes)
			cov["PKT_ERROR"]++
		case placeEmpty:
			closeWith(ln)
			cnt, ln = 0, HeaderBytes
			cov["EMPTY"]++
			if recs[h].trailing {
				cov["EMPTY with TRAILING"]++
			}
		case split:
			closeWith(ln)
			cnt, ln = 0, HeaderBytes
		case placeOp:
			cnt++
			ln += r
			if recs[h].last {
				closeWith(ln)
				cnt, ln = 0, HeaderBytes
				if recs[h].trailing {
					cov["TRAILING"]++
				}
			}
		}
		// intake (and the bench's gap counter)
		if o.eValid && o.eReady {
			hv, h = true, k
			k++
			if k < len(recs) {
				gap = recs[k].gap
			}
		} else {
			if placed {
				hv = false
			}
			if gap > 0 {
				gap--
			}
		}
	}
	return out, cov
}

// testbench reads the records (one hex word each, gap lowest) and the
// tx_ready pattern, and prints each cycle's ports mid-cycle.
func testbench(z Sizes) string {
	recW := 8 + KindBits + SeqBits + 2 + StatusBits + ReceivedBits + z.VL + 8*z.V
	return fmt.Sprintf("`timescale 1ns / 1ps\n`default_nettype none\n"+`module tb;
localparam B = %d, VL = %d, V = %d, RW = %d, MAXR = %d, MAXC = %d;
reg clk = 1'b0;
reg rst = 1'b1;
always #5 clk = ~clk;
reg [RW-1:0] recs [0:MAXR-1];
reg ready_m [0:MAXC-1];
integer n = 0, cycles = 0, k = 0, cyc = 0;
reg [7:0] gap = 8'd0;
wire [RW-1:0] rec = recs[(k < n) ? k : 0];
wire e_valid = !rst && k < n && gap == 8'd0;
wire e_ready, tx_valid, tx_last;
wire tx_ready = !rst && cyc < MAXC && ready_m[cyc];
wire [8*B-1:0] tx_data;
wire [B-1:0] tx_keep;
kvd_enc dut (
    .clk(clk), .rst(rst),
    .e_valid(e_valid), .e_ready(e_ready), .e_kind(rec[9:8]), .e_seq(rec[41:10]), .e_last(rec[42]),
    .e_trailing(rec[43]), .e_status(rec[51:44]), .e_received(rec[67:52]), .e_vlen(rec[68+VL-1:68]),
    .e_value(rec[RW-1:68+VL]),
    .tx_valid(tx_valid), .tx_ready(tx_ready), .tx_data(tx_data), .tx_keep(tx_keep), .tx_last(tx_last)
);
initial begin
    if (!$value$plusargs("n=%%d", n)) n = 0;
    if (!$value$plusargs("cycles=%%d", cycles)) cycles = 0;
    $readmemh("recs.hex", recs, 0, n - 1);
    $readmemb("ready.bin", ready_m, 0, cycles - 1);
    gap = recs[0][7:0];
    repeat (4) @(posedge clk);
    rst <= 1'b0;
    repeat (cycles) @(posedge clk);
    $finish;
end
always @(posedge clk) if (!rst) begin
    cyc <= cyc + 1;
    if (e_valid && e_ready) begin
        k <= k + 1;
        gap <= recs[k + 1][7:0];
    end else if (gap != 8'd0) begin
        gap <= gap - 8'd1;
    end
end
always @(negedge clk) if (!rst)
    $display("C %%0d %%0d %%0d %%0d %%0d %%0d %%h %%h", cyc, e_valid, e_ready, tx_valid, tx_ready, tx_last, tx_keep, tx_data);
endmodule
`, z.B, z.VL, z.V, recW, maxRecords, maxCycles)
}

// pack lays a record out as the testbench reads it: gap, kind, seq, last,
// trailing, status, received, vlen, value, least significant first.
func (z Sizes) pack(r erec) string {
	v := new(big.Int)
	pos := 0
	put := func(x *big.Int, w int) {
		v.Or(v, new(big.Int).Lsh(x, uint(pos)))
		pos += w
	}
	b2i := func(b bool) int64 {
		if b {
			return 1
		}
		return 0
	}
	put(big.NewInt(int64(r.gap)), 8)
	put(big.NewInt(int64(r.kind)), KindBits)
	put(big.NewInt(int64(r.seq)), SeqBits)
	put(big.NewInt(b2i(r.last)), 1)
	put(big.NewInt(b2i(r.trailing)), 1)
	put(big.NewInt(int64(r.status)), StatusBits)
	put(big.NewInt(int64(r.received)), ReceivedBits)
	put(big.NewInt(int64(r.vlen)), z.VL)
	val := new(big.Int)
	for i := len(r.value) - 1; i >= 0; i-- {
		val.Lsh(val, 8)
		val.Or(val, big.NewInt(int64(r.value[i])))
	}
	put(val, 8*z.V)
	return v.Text(16)
}

// Bench capacity: records per scenario and cycles.
const (
	maxRecords = 4096
	maxCycles  = 1 << 19
)

// sim builds the bench for cfg once; run simulates one scenario with it.
type sim struct {
	z   Sizes
	dir string
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

func newSim(t *testing.T, c config.Config) *sim {
	t.Helper()
	z, err := SizesOf(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, Name+".v"), emit(t, c), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tb.v"), []byte(testbench(z)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "iverilog", "-g2005", "-o", "sim.vvp", "tb.v", Name+".v")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("iverilog: %v\n%s", err, out)
	}
	return &sim{z: z, dir: dir}
}

// run simulates the records under the tx_ready pattern (repeated as needed)
// and checks every cycle against tb and every frame against wire. It
// returns the trace and the coverage.
func (s *sim) run(t *testing.T, name string, recs []erec, readyPat func(c int) bool) ([]cyc, coverage) {
	t.Helper()
	z := s.z
	want := frames(t, recs)
	// The model says when the last beat has left; the bench runs as long.
	ready := make([]bool, maxCycles)
	for c := range ready {
		ready[c] = readyPat(c)
	}
	exp, cov := tb(t, z.B, recs, ready, want)
	cycles := len(exp)
	ready = ready[:cycles]

	dir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var rb strings.Builder
	for _, r := range recs {
		rb.WriteString(z.pack(r) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "recs.hex"), []byte(rb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var bb strings.Builder
	for _, r := range ready {
		if r {
			bb.WriteString("1\n")
		} else {
			bb.WriteString("0\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ready.bin"), []byte(bb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, "vvp", "-n", filepath.Join(s.dir, "sim.vvp"), fmt.Sprintf("+n=%d", len(recs)), fmt.Sprintf("+cycles=%d", cycles))
	run.Dir = dir
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("vvp: %v\n%s", err, out)
	}
	got := parse(t, out, z.B)
	if len(got) != cycles {
		t.Fatalf("%d cycles printed, want %d\n%s", len(got), cycles, tail(out))
	}
	s.compare(t, recs, exp, got, want)
	return got, cov
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func parse(t *testing.T, out []byte, B int) []cyc {
	t.Helper()
	var trace []cyc
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 9 || f[0] != "C" {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		if n != len(trace) {
			t.Fatalf("cycle %s printed as number %d", f[1], len(trace))
		}
		c := cyc{eValid: f[2] == "1", eReady: f[3] == "1", txValid: f[4] == "1", txReady: f[5] == "1", txLast: f[6] == "1"}
		if c.txValid {
			keep, err := strconv.ParseUint(f[7], 16, 64)
			if err != nil {
				t.Fatalf("cycle %d: tx_keep %q", n, f[7])
			}
			c.keep = keep
			c.data = make([]byte, B)
			hx := f[8]
			if len(hx) != 2*B {
				t.Fatalf("cycle %d: tx_data %q is not %d bytes", n, hx, B)
			}
			for i := 0; i < B; i++ {
				x, err := strconv.ParseUint(hx[len(hx)-2*i-2:len(hx)-2*i], 16, 8)
				if err != nil {
					t.Fatalf("cycle %d: tx_data byte %d of %q", n, i, hx)
				}
				c.data[i] = byte(x)
			}
		}
		trace = append(trace, c)
	}
	return trace
}

// compare checks the trace against the model cycle by cycle, the AXI-Stream
// rules, and the frames reassembled from the transfers against wire's.
func (s *sim) compare(t *testing.T, recs []erec, exp, got []cyc, want [][]byte) {
	t.Helper()
	B := s.z.B
	show := func(c cyc) string {
		if !c.txValid {
			return fmt.Sprintf("e_valid %v e_ready %v tx_valid 0", c.eValid, c.eReady)
		}
		return fmt.Sprintf("e_valid %v e_ready %v tx_valid 1 tx_last %v keep %x data %x", c.eValid, c.eReady, c.txLast, c.keep, c.data)
	}
	var frame []byte
	var sent [][]byte
	for i := range got {
		g, e := got[i], exp[i]
		if g.eValid != e.eValid || g.txReady != e.txReady {
			t.Fatalf("cycle %d: the bench applied e_valid %v tx_ready %v, the model %v %v", i, g.eValid, g.txReady, e.eValid, e.txReady)
		}
		same := g.eReady == e.eReady && g.txValid == e.txValid
		if same && g.txValid {
			same = g.txLast == e.txLast && g.keep == e.keep && bytes.Equal(g.data, e.data)
		}
		if !same {
			t.Fatalf("cycle %d:\n got %s\nwant %s", i, show(g), show(e))
		}
		if i > 0 && got[i-1].txValid && !got[i-1].txReady {
			p := got[i-1]
			if !g.txValid || g.txLast != p.txLast || g.keep != p.keep || !bytes.Equal(g.data, p.data) {
				t.Fatalf("cycle %d: the beat changed before its transfer", i)
			}
		}
		if g.txValid {
			n := 0
			for g.keep>>uint(n)&1 == 1 {
				n++
			}
			if g.keep != 1<<uint(n)-1 || n == 0 || (!g.txLast && n != B) {
				t.Fatalf("cycle %d: tx_keep %x (tx_last %v)", i, g.keep, g.txLast)
			}
			for j := n; j < B; j++ {
				if g.data[j] != 0 {
					t.Fatalf("cycle %d: tx_data byte %d is %#x above tx_keep", i, j, g.data[j])
				}
			}
			if g.txReady {
				frame = append(frame, g.data[:n]...)
				if g.txLast {
					sent = append(sent, frame)
					frame = nil
				}
			}
		}
	}
	if len(sent) != len(want) {
		t.Fatalf("%d frames sent, want %d", len(sent), len(want))
	}
	for i := range want {
		if !bytes.Equal(sent[i], want[i]) {
			t.Fatalf("frame %d:\n got % x\nwant % x", i, sent[i], want[i])
		}
	}
}

// ---- records ------------------------------------------------------------------------

func (s *sim) op(rng *rand.Rand, seq uint32, vlen int, last, trailing bool) erec {
	r := erec{kind: KindOp, seq: seq, status: rng.Intn(256), vlen: vlen, last: last, trailing: trailing && last,
		value: make([]byte, s.z.V), received: rng.Intn(1 << 16)}
	rng.Read(r.value) // bytes past vlen are garbage the encoder must ignore
	return r
}

// request is one request's records: OP records of the given lengths (the
// last with e_last), or one PKT_ERROR or EMPTY record.
func (s *sim) request(rng *rand.Rand, seq uint32, trailing bool, vlens ...int) []erec {
	var out []erec
	for i, v := range vlens {
		out = append(out, s.op(rng, seq, v, i == len(vlens)-1, trailing))
	}
	return out
}

func (s *sim) pktError(rng *rand.Rand, seq uint32, code, received int) erec {
	r := s.op(rng, seq, rng.Intn(s.z.V+1), true, rng.Intn(2) == 0)
	r.kind, r.status, r.received = KindPktError, code, received
	return r
}

func (s *sim) empty(rng *rand.Rand, seq uint32, trailing bool) erec {
	r := s.op(rng, seq, rng.Intn(s.z.V+1), true, trailing)
	r.kind = KindEmpty
	return r
}

func (s *sim) random(rng *rand.Rand, nreq int, gaps bool) []erec {
	var recs []erec
	for i := 0; i < nreq; i++ {
		seq := rng.Uint32()
		switch x := rng.Intn(20); {
		case x < 2:
			recs = append(recs, s.pktError(rng, seq, 1+rng.Intn(6), rng.Intn(1<<16)))
		case x < 4:
			recs = append(recs, s.empty(rng, seq, rng.Intn(2) == 0))
		default:
			n := 1 + rng.Intn(6)
			if rng.Intn(6) == 0 {
				n = 1 + rng.Intn(30)
			}
			vl := make([]int, n)
			for j := range vl {
				switch y := rng.Intn(10); {
				case y < 5:
					vl[j] = rng.Intn(9)
				case y < 8:
					vl[j] = rng.Intn(s.z.V + 1)
				default:
					vl[j] = s.z.V
				}
			}
			recs = append(recs, s.request(rng, seq, rng.Intn(2) == 0, vl...)...)
		}
	}
	if gaps {
		for i := range recs {
			if rng.Intn(4) == 0 {
				recs[i].gap = 1 + rng.Intn(6)
			}
		}
	}
	return recs
}

func always(int) bool { return true }

func TestSmokeIcarus(t *testing.T) {
	needIcarus(t)
	for _, p := range []string{"sim", "paper"} {
		t.Run(p, func(t *testing.T) {
			c, err := config.Preset(p)
			if err != nil {
				t.Fatal(err)
			}
			s := newSim(t, c)
			B, V := s.z.B, s.z.V
			rng := rand.New(rand.NewSource(int64(B)))

			// encoder.md §5: two GETs answered OK with 2-byte values, the
			// second e_last; tx_ready = 1, both buffers empty. Record 0 is
			// taken in cycle t = 0.
			t.Run("timeline", func(t *testing.T) {
				recs := []erec{s.op(rng, 7, 2, false, false), s.op(rng, 7, 2, true, false)}
				recs[0].status, recs[1].status = 0, 0
				got, _ := s.run(t, "timeline", recs, always)
				for c := 0; c < 3; c++ {
					if got[c].txValid {
						t.Errorf("cycle t+%d: tx_valid before the packet closed", c)
					}
				}
				if !(got[0].eValid && got[0].eReady && got[1].eValid && got[1].eReady) {
					t.Errorf("records not taken in t and t+1: %+v %+v", got[0], got[1])
				}
				if g := got[3]; !g.txValid || g.txLast != (B >= 24) || g.keep != 1<<uint(min(B, 24))-1 {
					t.Errorf("cycle t+3: tx_valid %v tx_last %v tx_keep %x, want the first beat of the 24-byte packet", g.txValid, g.txLast, g.keep)
				}
				if B < 24 {
					if g := got[4]; !g.txValid || !g.txLast || g.keep != 1<<uint(24-B)-1 {
						t.Errorf("cycle t+4: %+v, want the last beat", g)
					}
				}
			})

			// A packet exactly MR bytes long, one a byte over (split, with
			// TRAILING on the second packet only), and a request split
			// four ways with TRAILING on the last.
			t.Run("split", func(t *testing.T) {
				fill := MR - HeaderBytes - 3*(RecordFixed+V) - RecordFixed // vlen that makes the fourth record end at MR
				var recs []erec
				recs = append(recs, s.request(rng, 100, false, V, V, V, fill)...)
				recs = append(recs, s.request(rng, 101, true, V, V, V, fill+1)...)
				recs = append(recs, s.request(rng, 102, true, V, V, V, V, V, V, V, V, V, V)...)
				want := frames(t, recs)
				lens := []int{}
				for _, f := range want {
					lens = append(lens, len(f))
				}
				if fmt.Sprint(lens[:3]) != fmt.Sprint([]int{MR, MR - RecordFixed - fill, HeaderBytes + RecordFixed + fill + 1}) {
					t.Fatalf("scenario: frames of %v bytes", lens)
				}
				for i, f := range want {
					tr := f[3]&TypeTrailing != 0
					if tr != (i == 2 || i == len(want)-1) {
						t.Fatalf("scenario: frame %d TRAILING %v", i, tr)
					}
				}
				_, cov := s.run(t, "split", recs, always)
				if cov["a packet of exactly MR bytes"] == 0 || cov["split"] < 4 {
					t.Errorf("coverage %v", cov)
				}
			})

			// Error responses and empty requests among ordinary ones.
			t.Run("errors_and_empties", func(t *testing.T) {
				var recs []erec
				recs = append(recs, s.pktError(rng, 7, 5, 61))
				recs = append(recs, s.empty(rng, 8, true), s.empty(rng, 9, false))
				recs = append(recs, s.request(rng, 10, true, 2, 0, 8)...)
				recs = append(recs, s.pktError(rng, 11, 1, 3), s.pktError(rng, 12, 6, 65535))
				recs = append(recs, s.empty(rng, 13, true))
				recs = append(recs, s.request(rng, 14, false, V)...)
				recs = append(recs, s.empty(rng, 15, false))
				_, cov := s.run(t, "errors", recs, always)
				if cov["PKT_ERROR"] != 3 || cov["EMPTY"] != 4 || cov["EMPTY with TRAILING"] != 2 {
					t.Errorf("coverage %v", cov)
				}
			})

			// Back-pressure: tx_ready mostly low, so both buffers fill
			// and the placer waits.
			t.Run("backpressure", func(t *testing.T) {
				recs := s.random(rng, 16, false)
				prng := rand.New(rand.NewSource(2))
				pat := make([]bool, maxCycles)
				for i := range pat {
					pat[i] = prng.Intn(10) < 3
				}
				_, cov := s.run(t, "backpressure", recs, func(c int) bool { return pat[c] })
				for _, p := range []string{"both buffers full", "placer waits for a buffer", "tx_ready back-pressure"} {
					if cov[p] == 0 {
						t.Errorf("%s not reached: %v", p, cov)
					}
				}
			})

			// A long random run with e_valid gaps and 70 % tx_ready.
			t.Run("random", func(t *testing.T) {
				recs := s.random(rng, 100, true)
				prng := rand.New(rand.NewSource(3))
				pat := make([]bool, maxCycles)
				for i := range pat {
					pat[i] = prng.Intn(10) < 7
				}
				_, cov := s.run(t, "random", recs, func(c int) bool { return pat[c] })
				for _, p := range []string{"both buffers full", "a packet fills while another is sent", "tx_ready back-pressure",
					"placer waits for a buffer", "e_valid gap", "split", "PKT_ERROR", "EMPTY", "EMPTY with TRAILING", "TRAILING"} {
					if cov[p] == 0 {
						t.Errorf("%s not reached: %v", p, cov)
					}
				}
				t.Logf("%d records: %v", len(recs), cov)
			})
		})
	}
}

// Odd sizes: a beat that divides nothing, a record window wider than the
// buffer (V = 1455: one record per packet at most), and a small V whose
// records pack hundreds to a packet.
func TestSmokeOddSizes(t *testing.T) {
	needIcarus(t)
	for _, tc := range []struct{ b, v, reqs int }{{7, 1455, 16}, {5, 30, 40}} {
		t.Run(fmt.Sprintf("b%d_v%d", tc.b, tc.v), func(t *testing.T) {
			s := newSim(t, sized(tc.b, tc.v))
			rng := rand.New(rand.NewSource(int64(tc.v)))
			recs := s.random(rng, tc.reqs, true)
			if tc.v == 30 {
				// One request of many records: more than one packet of
				// small records.
				var vl []int
				for i := 0; i < 120; i++ {
					vl = append(vl, rng.Intn(31))
				}
				recs = append(recs, s.request(rng, 77, true, vl...)...)
			}
			prng := rand.New(rand.NewSource(4))
			pat := make([]bool, maxCycles)
			for i := range pat {
				pat[i] = prng.Intn(10) < 8
			}
			_, cov := s.run(t, "random", recs, func(c int) bool { return pat[c] })
			if cov["split"] == 0 || cov["a packet fills while another is sent"] == 0 {
				t.Errorf("coverage %v", cov)
			}
			t.Logf("%d records: %v", len(recs), cov)
		})
	}
}
