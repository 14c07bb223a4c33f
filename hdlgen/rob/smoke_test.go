package rob

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
)

// A smoke test, not the co-simulation: kvd_rob under Icarus Verilog. The
// test computes every cycle's inputs and expected outputs from its own
// reading of rob.md §4 (model below) with a pipeline that answers each
// issued operation after a latency of the scenario's choosing, in any
// order; the bench replays the inputs and prints every output every
// cycle, and the outputs are compared cycle by cycle (qualified ones while
// their valid is 1), along with the handshake rules: iss_* and e_* stable
// while not taken, and e_value zero past e_vlen. The golden model is
// written separately and checks the block over the bridge.

// drec is one decoder record, with the pipeline's answer if it is issued.
type drec struct {
	kind, status, received int // status is d_status
	seq                    uint32
	last, trailing         bool
	op, fid, klen, vlen    int
	key, value             []byte // K and V bytes, zero past the lengths (decoder.md §2)
	gap                    int    // idle cycles before it is presented, after the previous transfer

	lat             int    // cycles from the issue transfer to the earliest completion (>= 1)
	cst, cvlen      int    // the completion's status and vlen
	cval            []byte // V bytes, garbage past cvlen
	tag             int    // filled by the model: the entry it took
	issueCycle, cyc int    // filled by the model: the issue transfer, the completion
}

func (r *drec) issued() bool { return r.kind == KindOp && r.status == 0 }

// entry is one entry of the model (rob.md §3).
type entry struct {
	done                    bool
	rec                     int // the record it holds, for the order checks
	kind, status, vlen, rcv int
	rcvKnown                bool // received was written (every accept writes it)
	prevRcv                 int  // the received of the entry's previous record
	seq                     uint32
	last, trailing          bool
	value                   []byte
}

// outs is one cycle's outputs as hex strings (Icarus %h), the qualified
// ones only where the valid is 1; an empty string is not compared.
type outs struct {
	dReady, issValid, eValid bool
	iss                      [7]string // tag, op, fid, klen, key, vlen, value
	e                        [8]string // kind, seq, last, trailing, status, received, vlen, value
}

// stim is one cycle's inputs.
type stim struct {
	dValid, issReady, cplValid, eReady bool
	dIdx, cplIdx                       int
}

type coverage map[string]int

// scen is a scenario: the records and the environment's patterns.
type scen struct {
	recs     []drec
	issReady func(c int) bool
	eReady   func(c int) bool
	rng      *rand.Rand // picks among due completions; nil: the oldest due first
}

// result is the model's run: inputs, expected outputs, the completions
// delivered (in order, as records), coverage and event cycles.
type result struct {
	in       []stim
	exp      []outs
	cpls     []int // record of the i-th completion delivered
	cov      coverage
	accepted []int // cycle each record was taken
	released []int // cycle each record's entry was released
}

func hexN(v *big.Int, w int) string {
	s := v.Text(16)
	n := (w + 3) / 4
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return s
}

func hexU(v uint64, w int) string { return hexN(new(big.Int).SetUint64(v), w) }

func leInt(b []byte) *big.Int {
	v := new(big.Int)
	for i := len(b) - 1; i >= 0; i-- {
		v.Lsh(v, 8)
		v.Or(v, big.NewInt(int64(b[i])))
	}
	return v
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// model runs rob.md §4 with the scenario's environment.
func model(t *testing.T, z Sizes, s scen) result {
	t.Helper()
	M := z.M
	ent := make([]entry, M)
	var (
		head, tail, count int
		iq                []int // records, oldest first
		eValid            bool
		e                 entry
		k, gap            int
		pend              []int // issued records not yet completed
	)
	if len(s.recs) > 0 {
		gap = s.recs[0].gap
	}
	res := result{cov: coverage{}, accepted: make([]int, len(s.recs)), released: make([]int, len(s.recs))}
	for i := range res.released {
		res.accepted[i], res.released[i] = -1, -1
	}
	nrel := 0
	idle := -1
	for c := 0; ; c++ {
		if c > 1<<15-16 {
			t.Fatalf("model: still busy after %d cycles (%d of %d records released)", c, nrel, len(s.recs))
		}
		if idle < 0 && k == len(s.recs) && count == 0 && !eValid && len(iq) == 0 && len(pend) == 0 {
			idle = c
		}
		if idle >= 0 && c >= idle+4 {
			break
		}
		// The environment's inputs for cycle c.
		in := stim{dValid: k < len(s.recs) && gap == 0, issReady: s.issReady(c), eReady: s.eReady(c)}
		if in.dValid {
			in.dIdx = k
		}
		var due []int
		for i, r := range pend {
			if c >= s.recs[r].issueCycle+s.recs[r].lat {
				due = append(due, i)
			}
		}
		cplRec := -1
		if len(due) > 0 {
			pick := due[0]
			if s.rng != nil {
				pick = due[s.rng.Intn(len(due))]
			}
			cplRec = pend[pick]
			pend = append(pend[:pick:pick], pend[pick+1:]...)
			in.cplValid, in.cplIdx = true, len(res.cpls)
			res.cpls = append(res.cpls, cplRec)
			s.recs[cplRec].cyc = c
		}

		// Outputs of cycle c: state only (rob.md §2: d_ready depends on state).
		o := outs{dReady: count < M && len(iq) < IQ, issValid: len(iq) > 0, eValid: eValid}
		if o.issValid {
			r := &s.recs[iq[0]]
			o.iss = [7]string{hexU(uint64(r.issTag()), TagBits), hexU(uint64(r.op), OpBits), hexU(uint64(r.fid), FidBits),
				hexU(uint64(r.klen), z.KL), hexN(leInt(r.key), 8*z.K), hexU(uint64(r.vlen), z.VL), hexN(leInt(r.value), 8*z.V)}
		}
		if eValid {
			rcv := ""
			if e.rcvKnown {
				rcv = hexU(uint64(e.rcv), ReceivedBits)
			}
			o.e = [8]string{hexU(uint64(e.kind), KindBits), hexU(uint64(e.seq), SeqBits), hexU(b2u(e.last), 1),
				hexU(b2u(e.trailing), 1), hexU(uint64(e.status), CplStatusBits), rcv, hexU(uint64(e.vlen), z.VL),
				hexN(leInt(e.value), 8*z.V)}
		}
		res.in = append(res.in, in)
		res.exp = append(res.exp, o)

		// Decisions on the state at the start of the cycle.
		efree := !eValid || in.eReady
		rel := efree && count > 0 && ent[head].done
		acc := in.dValid && o.dReady
		pop := o.issValid && in.issReady

		// Coverage.
		if in.dValid && count == M {
			res.cov["buffer full: d_ready low at count = M"]++
		}
		if in.dValid && len(iq) == IQ && count < M {
			res.cov["issue queue full: d_ready low at iqn = 2"]++
		}
		if o.issValid && !in.issReady {
			res.cov["iss_ready back-pressure"]++
		}
		if eValid && !in.eReady {
			res.cov["e_ready back-pressure"]++
		}
		if in.cplValid && len(pend) > 0 {
			oldest := true
			for _, r := range pend {
				if r < cplRec {
					oldest = false
				}
			}
			if !oldest {
				res.cov["completion out of order"]++
			}
		}
		if in.cplValid && acc {
			res.cov["accept and completion in one cycle"]++
		}
		if rel && acc {
			res.cov["accept and release in one cycle"]++
		}
		if rel && in.cplValid {
			res.cov["completion and release in one cycle"]++
		}
		if rel && pop {
			res.cov["issue and release in one cycle"]++
		}
		if rel && ent[head].kind == KindOp && ent[head].status != 0 && !s.recs[ent[head].rec].issued() {
			res.cov["refused operation released"]++
		}
		if rel && s.recs[ent[head].rec].issued() && ent[head].prevRcv != 0 {
			res.cov["issued record in an entry a PKT_ERROR used before"]++
		}

		// 1. Completion.
		if in.cplValid {
			r := &s.recs[cplRec]
			tag := r.issTag()
			x := &ent[tag]
			if x.done || x.rec != cplRec {
				t.Fatalf("model: completion of record %d for entry %d, which holds record %d (done %v)", cplRec, tag, x.rec, x.done)
			}
			x.done, x.status, x.vlen = true, r.cst, r.cvlen
			x.value = make([]byte, z.V)
			copy(x.value, r.cval[:min(r.cvlen, z.V)])
			for _, b := range r.cval[min(r.cvlen, z.V):] {
				if b != 0 {
					res.cov["completion value garbage past vlen"]++
					break
				}
			}
		}
		// 2. Release.
		if rel {
			x := &ent[head]
			if x.rec != nrel {
				t.Fatalf("model: entry %d releases record %d, want %d (decoder order)", head, x.rec, nrel)
			}
			e = *x
			e.value = append([]byte(nil), x.value...)
			eValid = true
			x.done = false
			res.released[x.rec] = c
			nrel++
			head = (head + 1) % M
		} else if eValid && in.eReady {
			eValid = false
		}
		// 3. Issue.
		if pop {
			r := iq[0]
			iq = iq[1:]
			s.recs[r].issueCycle = c
			pend = append(pend, r)
		}
		// 4. Accept.
		if acc {
			r := &s.recs[k]
			x := &ent[tail]
			x.rec, x.kind, x.seq, x.last, x.trailing = k, r.kind, r.seq, r.last, r.trailing
			x.prevRcv = x.rcv
			x.rcv, x.rcvKnown = r.received, true // every record's own (rob.md 4)
			if r.issued() {
				x.done = false
				r.tag = tail
				iq = append(iq, k)
			} else {
				x.done, x.status, x.vlen = true, r.status, 0
				x.value = make([]byte, z.V)
			}
			res.accepted[k] = c
			tail = (tail + 1) % M
		}
		// 5. Count.
		if acc {
			count++
		}
		if rel {
			count--
		}
		// The bench's record pointer.
		if acc {
			k++
			if k < len(s.recs) {
				gap = s.recs[k].gap
			}
		} else if gap > 0 {
			gap--
		}
	}
	if nrel != len(s.recs) {
		t.Fatalf("model: %d of %d records released", nrel, len(s.recs))
	}
	return res
}

// issTag is the entry an issued record took: its tag.
func (r *drec) issTag() int { return r.tag }

// ---- the bench ----------------------------------------------------------------------

const (
	stimBits = 36
	maxC     = 1 << 15
	maxR     = 4096
	maxP     = 4096
)

func (z Sizes) recBits() int {
	return KindBits + SeqBits + 2 + DStatusBits + ReceivedBits + OpBits + FidBits + z.KL + 8*z.K + z.VL + 8*z.V
}

func (z Sizes) cplBits() int { return TagBits + CplStatusBits + z.VL + 8*z.V }

func testbench(z Sizes) string {
	RW, PW := z.recBits(), z.cplBits()
	// Field offsets in a record word, least significant first.
	off := 0
	f := func(w int) string {
		s := fmt.Sprintf("r[%d:%d]", off+w-1, off)
		if w == 1 {
			s = fmt.Sprintf("r[%d]", off)
		}
		off += w
		return s
	}
	kind, seq, last, trailing, status, received := f(KindBits), f(SeqBits), f(1), f(1), f(DStatusBits), f(ReceivedBits)
	op, fid, klen, key, vlen, value := f(OpBits), f(FidBits), f(z.KL), f(8*z.K), f(z.VL), f(8*z.V)
	return fmt.Sprintf("`timescale 1ns / 1ps\n`default_nettype none\n"+`module tb;
localparam RW = %[1]d, PW = %[2]d, MAXC = %[3]d, MAXR = %[4]d, MAXP = %[5]d, KL = %[6]d, K = %[7]d, VL = %[8]d, V = %[9]d;
reg clk = 1'b0;
reg rst = 1'b1;
always #5 clk = ~clk;
reg [%[10]d:0] stim_m [0:MAXC-1];
reg [RW-1:0] recs [0:MAXR-1];
reg [PW-1:0] cpls [0:MAXP-1];
integer cycles = 0, nrec = 1, ncpl = 1, cyc = 0;
wire [%[10]d:0] s = rst ? %[11]d'd0 : stim_m[cyc];
wire [RW-1:0] r = recs[s[19:4]];
wire [PW-1:0] p = cpls[s[35:20]];
wire d_ready, iss_valid, e_valid, e_last, e_trailing;
wire [15:0] iss_tag;
wire [2:0] iss_op;
wire [7:0] iss_fid;
wire [KL-1:0] iss_klen;
wire [8*K-1:0] iss_key;
wire [VL-1:0] iss_vlen, e_vlen;
wire [8*V-1:0] iss_value, e_value;
wire [1:0] e_kind;
wire [31:0] e_seq;
wire [7:0] e_status;
wire [15:0] e_received;
kvd_rob dut (
    .clk(clk), .rst(rst),
    .d_valid(s[0]), .d_ready(d_ready), .d_kind(%[12]s), .d_seq(%[13]s), .d_last(%[14]s), .d_trailing(%[15]s),
    .d_status(%[16]s), .d_received(%[17]s), .d_op(%[18]s), .d_fid(%[19]s), .d_klen(%[20]s), .d_key(%[21]s),
    .d_vlen(%[22]s), .d_value(%[23]s),
    .iss_valid(iss_valid), .iss_ready(s[1]), .iss_tag(iss_tag), .iss_op(iss_op), .iss_fid(iss_fid),
    .iss_klen(iss_klen), .iss_key(iss_key), .iss_vlen(iss_vlen), .iss_value(iss_value),
    .cpl_valid(s[2]), .cpl_tag(p[15:0]), .cpl_status(p[23:16]), .cpl_vlen(p[24+VL-1:24]), .cpl_value(p[PW-1:24+VL]),
    .e_valid(e_valid), .e_ready(s[3]), .e_kind(e_kind), .e_seq(e_seq), .e_last(e_last), .e_trailing(e_trailing),
    .e_status(e_status), .e_received(e_received), .e_vlen(e_vlen), .e_value(e_value)
);
initial begin
    if (!$value$plusargs("cycles=%%d", cycles)) cycles = 0;
    if (!$value$plusargs("nrec=%%d", nrec)) nrec = 1;
    if (!$value$plusargs("ncpl=%%d", ncpl)) ncpl = 1;
    $readmemh("stim.hex", stim_m, 0, cycles - 1);
    $readmemh("recs.hex", recs, 0, nrec - 1);
    $readmemh("cpls.hex", cpls, 0, ncpl - 1);
    repeat (4) @(posedge clk);
    rst <= 1'b0;
    repeat (cycles) @(posedge clk);
    $finish;
end
always @(posedge clk) if (!rst) cyc <= cyc + 1;
always @(negedge clk) if (!rst)
    $display("C %%0d %%b %%b %%b %%h %%h %%h %%h %%h %%h %%h %%h %%h %%h %%h %%h %%h %%h %%h", cyc, d_ready, iss_valid, e_valid,
        iss_tag, iss_op, iss_fid, iss_klen, iss_key, iss_vlen, iss_value,
        e_kind, e_seq, e_last, e_trailing, e_status, e_received, e_vlen, e_value);
endmodule
`, RW, PW, maxC, maxR, maxP, z.KL, z.K, z.VL, z.V, stimBits-1, stimBits,
		kind, seq, last, trailing, status, received, op, fid, klen, key, vlen, value)
}

func (z Sizes) packRec(r drec) string {
	v := new(big.Int)
	pos := 0
	put := func(x *big.Int, w int) {
		v.Or(v, new(big.Int).Lsh(x, uint(pos)))
		pos += w
	}
	u := func(x uint64) *big.Int { return new(big.Int).SetUint64(x) }
	put(u(uint64(r.kind)), KindBits)
	put(u(uint64(r.seq)), SeqBits)
	put(u(b2u(r.last)), 1)
	put(u(b2u(r.trailing)), 1)
	put(u(uint64(r.status)), DStatusBits)
	put(u(uint64(r.received)), ReceivedBits)
	put(u(uint64(r.op)), OpBits)
	put(u(uint64(r.fid)), FidBits)
	put(u(uint64(r.klen)), z.KL)
	put(leInt(r.key), 8*z.K)
	put(u(uint64(r.vlen)), z.VL)
	put(leInt(r.value), 8*z.V)
	return v.Text(16)
}

func (z Sizes) packCpl(r drec) string {
	v := new(big.Int).Lsh(leInt(r.cval), uint(TagBits+CplStatusBits+z.VL))
	v.Or(v, new(big.Int).Lsh(big.NewInt(int64(r.cvlen)), TagBits+CplStatusBits))
	v.Or(v, new(big.Int).Lsh(big.NewInt(int64(r.cst)), TagBits))
	v.Or(v, big.NewInt(int64(r.tag)))
	return v.Text(16)
}

func packStim(s stim) string {
	v := b2u(s.dValid) | b2u(s.issReady)<<1 | b2u(s.cplValid)<<2 | b2u(s.eReady)<<3 | uint64(s.dIdx)<<4 | uint64(s.cplIdx)<<20
	return strconv.FormatUint(v, 16)
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

// sim is the bench compiled for one configuration.
type sim struct {
	z   Sizes
	dir string
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "iverilog", "-g2005", "-o", "sim.vvp", "tb.v", Name+".v")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("iverilog: %v\n%s", err, out)
	}
	return &sim{z: z, dir: dir}
}

// run models the scenario, replays its inputs under Icarus and compares
// every cycle. It returns the model's result (its event cycles, coverage).
func (s *sim) run(t *testing.T, name string, sc scen) result {
	t.Helper()
	z := s.z
	if len(sc.recs) > maxR {
		t.Fatalf("%d records: the bench holds %d", len(sc.recs), maxR)
	}
	res := model(t, z, sc)
	if len(res.cpls) > maxP {
		t.Fatalf("%d completions: the bench holds %d", len(res.cpls), maxP)
	}
	dir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(file string, lines []string) {
		if len(lines) == 0 {
			lines = []string{"0"}
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var sl, rl, pl []string
	for _, x := range res.in {
		sl = append(sl, packStim(x))
	}
	for _, r := range sc.recs {
		rl = append(rl, z.packRec(r))
	}
	for _, r := range res.cpls {
		pl = append(pl, z.packCpl(sc.recs[r]))
	}
	write("stim.hex", sl)
	write("recs.hex", rl)
	write("cpls.hex", pl)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "vvp", "-n", filepath.Join(s.dir, "sim.vvp"),
		fmt.Sprintf("+cycles=%d", len(res.in)), fmt.Sprintf("+nrec=%d", max(1, len(rl))), fmt.Sprintf("+ncpl=%d", max(1, len(pl))))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vvp: %v\n%s", err, tail(out))
	}
	got := parse(t, out)
	if len(got) != len(res.exp) {
		t.Fatalf("%d cycles printed, want %d\n%s", len(got), len(res.exp), tail(out))
	}
	compare(t, z, res, got)
	return res
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func parse(t *testing.T, out []byte) []outs {
	t.Helper()
	var trace []outs
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 20 || f[0] != "C" {
			continue
		}
		if n, _ := strconv.Atoi(f[1]); n != len(trace) {
			t.Fatalf("cycle %s printed as number %d", f[1], len(trace))
		}
		o := outs{dReady: f[2] == "1", issValid: f[3] == "1", eValid: f[4] == "1"}
		copy(o.iss[:], f[5:12])
		copy(o.e[:], f[12:20])
		trace = append(trace, o)
	}
	return trace
}

var issNames = [7]string{"iss_tag", "iss_op", "iss_fid", "iss_klen", "iss_key", "iss_vlen", "iss_value"}
var eNames = [8]string{"e_kind", "e_seq", "e_last", "e_trailing", "e_status", "e_received", "e_vlen", "e_value"}

// compare checks the trace against the model and the handshake rules.
func compare(t *testing.T, z Sizes, res result, got []outs) {
	t.Helper()
	for c := range got {
		g, x, in := got[c], res.exp[c], res.in[c]
		if g.dReady != x.dReady || g.issValid != x.issValid || g.eValid != x.eValid {
			t.Fatalf("cycle %d: d_ready %v iss_valid %v e_valid %v, want %v %v %v", c, g.dReady, g.issValid, g.eValid, x.dReady, x.issValid, x.eValid)
		}
		if x.issValid {
			for i := range x.iss {
				if x.iss[i] != g.iss[i] {
					t.Fatalf("cycle %d: %s = %s, want %s", c, issNames[i], g.iss[i], x.iss[i])
				}
			}
		}
		if x.eValid {
			for i := range x.e {
				if x.e[i] != "" && x.e[i] != g.e[i] {
					t.Fatalf("cycle %d: %s = %s, want %s", c, eNames[i], g.e[i], x.e[i])
				}
			}
			// e_value bytes at or past e_vlen are zero.
			vlen, err := strconv.ParseUint(g.e[6], 16, 32)
			if err != nil {
				t.Fatalf("cycle %d: e_vlen %q", c, g.e[6])
			}
			val, ok := new(big.Int).SetString(g.e[7], 16)
			if !ok || val.BitLen() > 8*int(min(vlen, uint64(z.V))) {
				t.Fatalf("cycle %d: e_value %s has bytes at or past e_vlen = %d", c, g.e[7], vlen)
			}
		}
		if c+1 < len(got) {
			n := got[c+1]
			if g.issValid && !in.issReady && (!n.issValid || n.iss != g.iss) {
				t.Fatalf("cycle %d: iss_* changed before the transfer", c+1)
			}
			if g.eValid && !in.eReady && (!n.eValid || n.e != g.e) {
				t.Fatalf("cycle %d: e_* changed before the transfer", c+1)
			}
		}
	}
}

// ---- records ------------------------------------------------------------------------

type gen2 struct {
	z   Sizes
	rng *rand.Rand
	seq uint32
}

func (g *gen2) bytesN(n, used int) []byte {
	b := make([]byte, n)
	g.rng.Read(b[:used])
	return b
}

// opRec is an issued operation answered after lat cycles.
func (g *gen2) opRec(lat int) drec {
	z := g.z
	r := drec{kind: KindOp, seq: g.seq, op: g.rng.Intn(8), fid: g.rng.Intn(256), klen: 1 + g.rng.Intn(z.K), lat: lat,
		cst: g.rng.Intn(256)}
	switch x := g.rng.Intn(4); x {
	case 0:
		r.vlen = 0
	case 1:
		r.vlen = z.V
	default:
		r.vlen = g.rng.Intn(z.V + 1)
	}
	r.key = g.bytesN(z.K, r.klen)
	r.value = g.bytesN(z.V, r.vlen)
	switch x := g.rng.Intn(4); x {
	case 0:
		r.cvlen = 0
	case 1:
		r.cvlen = z.V
	default:
		r.cvlen = g.rng.Intn(z.V + 1)
	}
	r.cval = g.bytesN(z.V, z.V) // garbage past cvlen the block must not pass on
	return r
}

var faults = []int{2, 3, 4, 7, 16, 17, 18}

// refused is an operation the decoder refused with a fault code.
func (g *gen2) refused() drec {
	r := drec{kind: KindOp, seq: g.seq, status: faults[g.rng.Intn(len(faults))]}
	r.key, r.value = make([]byte, g.z.K), make([]byte, g.z.V)
	return r
}

// request is one request's records: ops issued (lat >= 1) or refused (lat 0).
func (g *gen2) request(lats ...int) []drec {
	g.seq = g.rng.Uint32()
	var out []drec
	for i, l := range lats {
		var r drec
		if l == 0 {
			r = g.refused()
		} else {
			r = g.opRec(l)
		}
		r.last = i == len(lats)-1
		r.trailing = r.last && g.rng.Intn(3) == 0
		out = append(out, r)
	}
	return out
}

func (g *gen2) pktError() drec {
	g.seq = g.rng.Uint32()
	r := drec{kind: KindPktError, seq: g.seq, status: 1 + g.rng.Intn(6), received: 1 + g.rng.Intn(65535), last: true}
	r.key, r.value = make([]byte, g.z.K), make([]byte, g.z.V)
	return r
}

func (g *gen2) empty() drec {
	g.seq = g.rng.Uint32()
	r := drec{kind: KindEmpty, seq: g.seq, last: true, trailing: g.rng.Intn(2) == 0}
	r.key, r.value = make([]byte, g.z.K), make([]byte, g.z.V)
	return r
}

// random is n requests of every kind, latencies 1..maxLat, gaps if asked.
func (g *gen2) random(n, maxLat int, gaps bool) []drec {
	var recs []drec
	for i := 0; i < n; i++ {
		switch x := g.rng.Intn(20); {
		case x < 2:
			recs = append(recs, g.pktError())
		case x < 4:
			recs = append(recs, g.empty())
		default:
			lats := make([]int, 1+g.rng.Intn(5))
			for j := range lats {
				if g.rng.Intn(6) != 0 {
					lats[j] = 1 + g.rng.Intn(maxLat)
				}
			}
			recs = append(recs, g.request(lats...)...)
		}
	}
	if gaps {
		for i := range recs {
			if g.rng.Intn(5) == 0 {
				recs[i].gap = 1 + g.rng.Intn(4)
			}
		}
	}
	return recs
}

func always(int) bool { return true }

func pattern(seed int64, pct int) func(int) bool {
	r := rand.New(rand.NewSource(seed))
	p := make([]bool, maxC)
	for i := range p {
		p[i] = r.Intn(100) < pct
	}
	return func(c int) bool { return p[c] }
}

// configs are the sizes the smoke test runs: the presets, one entry, and a
// count that is not a power of two.
func configs() []struct {
	name string
	c    config.Config
} {
	simC, _ := config.Preset("sim")
	paper, _ := config.Preset("paper")
	m1, m5 := simC, simC
	m1.ROB.Entries = 1
	m5.ROB.Entries = 5
	return []struct {
		name string
		c    config.Config
	}{{"sim", simC}, {"paper", paper}, {"M1", m1}, {"M5", m5}}
}

func TestSmokeIcarus(t *testing.T) {
	needIcarus(t)
	for _, cc := range configs() {
		t.Run(cc.name, func(t *testing.T) {
			s := newSim(t, cc.c)
			M := s.z.M
			g := &gen2{z: s.z, rng: rand.New(rand.NewSource(int64(M)))}

			// rob.md §5: a GET taken in t (issued), iss_ready = 1, the
			// pipeline answering L cycles after it takes the operation,
			// e_ready = 1. t is cycle 0: the bench presents it at once.
			t.Run("timeline", func(t *testing.T) {
				const L = 4
				recs := g.request(L)
				recs[0].op = 0 // GET
				res := s.run(t, "timeline", scen{recs: recs, issReady: always, eReady: always})
				exp, r := res.exp, recs[0]
				if res.accepted[0] != 0 || !exp[0].dReady {
					t.Errorf("record taken in cycle %d, want t = 0", res.accepted[0])
				}
				if !exp[1].issValid || exp[1].iss[0] != "0000" || r.issueCycle != 1 {
					t.Errorf("t+1: iss_valid %v tag %s, issued in cycle %d", exp[1].issValid, exp[1].iss[0], r.issueCycle)
				}
				if r.cyc != 1+L {
					t.Errorf("completion in cycle %d, want t+1+L = %d", r.cyc, 1+L)
				}
				if res.released[0] != 2+L {
					t.Errorf("released in cycle %d, want t+2+L = %d", res.released[0], 2+L)
				}
				for c := 0; c < 3+L; c++ {
					if exp[c].eValid {
						t.Errorf("e_valid in cycle %d, before t+3+L", c)
					}
				}
				if !exp[3+L].eValid || exp[3+L].e[4] != hexU(uint64(r.cst), 8) {
					t.Errorf("t+3+L: e_valid %v status %s, want the completion's", exp[3+L].eValid, exp[3+L].e[4])
				}
			})

			// A refused operation taken in t with an empty buffer is on e_*
			// in t+2.
			t.Run("refused", func(t *testing.T) {
				recs := g.request(0)
				res := s.run(t, "refused", scen{recs: recs, issReady: always, eReady: always})
				if res.accepted[0] != 0 || res.released[0] != 1 {
					t.Errorf("taken in %d, released in %d; want 0 and 1", res.accepted[0], res.released[0])
				}
				for c := 0; c < 4; c++ {
					if want := c == 2; res.exp[c].eValid != want || res.exp[c].issValid {
						t.Errorf("cycle %d: e_valid %v iss_valid %v", c, res.exp[c].eValid, res.exp[c].issValid)
					}
				}
				if e := res.exp[2].e; e[0] != "0" || e[4] != hexU(uint64(recs[0].status), 8) || e[6] != hexU(0, s.z.VL) {
					t.Errorf("t+2: e_* = %v", e)
				}
			})

			// Completions in the reverse order of the operations, with
			// refused, empty and packet-error records among them: released
			// in decoder order (the model checks the order; the trace is
			// compared with it).
			t.Run("out_of_order", func(t *testing.T) {
				var recs []drec
				recs = append(recs, g.request(40, 35, 0, 30)...)
				recs = append(recs, g.empty())
				recs = append(recs, g.request(25, 20)...)
				recs = append(recs, g.pktError())
				recs = append(recs, g.request(15, 0, 10, 5, 1)...)
				res := s.run(t, "ooo", scen{recs: recs, issReady: always, eReady: always})
				if M >= 4 && res.cov["completion out of order"] < 4 {
					t.Errorf("coverage %v", res.cov)
				}
				if res.cov["refused operation released"] != 2 {
					t.Errorf("coverage %v", res.cov)
				}
			})

			// The head waits for a long completion while the buffer fills:
			// d_ready low at count = M.
			t.Run("full", func(t *testing.T) {
				lats := []int{4*M + 30}
				for i := 0; i < 2*M+3; i++ {
					lats = append(lats, 1+i%3)
				}
				res := s.run(t, "full", scen{recs: g.request(lats...), issReady: always, eReady: always})
				if res.cov["buffer full: d_ready low at count = M"] < 10 {
					t.Errorf("coverage %v", res.cov)
				}
			})

			// The pipeline takes nothing for 20 cycles: the issue queue
			// fills and d_ready drops with entries free (M > 2).
			t.Run("issue_queue_full", func(t *testing.T) {
				recs := g.request(3, 3, 3, 3, 3, 3, 3, 3)
				res := s.run(t, "iqfull", scen{recs: recs, issReady: func(c int) bool { return c >= 20 }, eReady: always})
				if M > 2 && res.cov["issue queue full: d_ready low at iqn = 2"] < 10 {
					t.Errorf("coverage %v", res.cov)
				}
				if res.cov["iss_ready back-pressure"] < 10 {
					t.Errorf("coverage %v", res.cov)
				}
			})

			// e_ready mostly low: e_* held until taken.
			t.Run("backpressure", func(t *testing.T) {
				recs := g.random(12, 6, false)
				res := s.run(t, "bp", scen{recs: recs, issReady: always, eReady: pattern(5, 25)})
				if res.cov["e_ready back-pressure"] < 10 {
					t.Errorf("coverage %v", res.cov)
				}
			})

			// Everything at once: gaps, iss_ready 70 %, e_ready 70 %,
			// latencies up to 3M, completions picked at random among
			// those due.
			t.Run("random", func(t *testing.T) {
				n := 120
				if M <= 8 {
					n = 60
				}
				// Enough records to wrap the entries: reuse is a goal.
				n = max(n, M/2+60)
				recs := g.random(n, 3*M+4, true)
				res := s.run(t, "random", scen{recs: recs, issReady: pattern(6, 70), eReady: pattern(7, 70),
					rng: rand.New(rand.NewSource(8))})
				want := []string{"e_ready back-pressure", "iss_ready back-pressure", "completion value garbage past vlen",
					"refused operation released", "issued record in an entry a PKT_ERROR used before"}
				if M > 1 {
					// One entry is never accepted and released, or issued
					// and released, or completed and accepted, in one cycle.
					want = append(want, "completion out of order", "accept and completion in one cycle",
						"completion and release in one cycle", "accept and release in one cycle", "issue and release in one cycle")
				}
				for _, w := range want {
					if res.cov[w] == 0 {
						t.Errorf("%s not reached: %v", w, res.cov)
					}
				}
				t.Logf("%d records, %d cycles: %v", len(recs), len(res.exp), res.cov)
			})
		})
	}
}
