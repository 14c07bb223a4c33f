package vector

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A smoke test under Icarus Verilog: random requests through kvd_vec at
// several element widths, each result and its cycle checked against this
// file's own reading of vector.md §3–§4 (the golden model is written
// separately and checks the unit cycle by cycle over the bridge).

// smokeLambdas are the λs of the smoke test; ref evaluates them.
var smokeLambdas = []string{"old + delta", "old == cmp ? swap : old", "old > delta", "bitshl(old, delta)", "bitxor(old, delta)"}

type vreq struct {
	op, fid, vlen, dlen int
	value, dvec         []byte // V bytes each, garbage past the lengths
	delta, cmp, swap    uint64 // E-bit patterns
	gap                 int    // idle cycles after the previous acceptance
}

type vres struct {
	fault bool
	newv  []byte
	rlen  int
	resp  []byte
	n     int
}

type refUnit struct{ E, EB, V int }

func (u refUnit) mask() uint64 {
	if u.E == 64 {
		return ^uint64(0)
	}
	return 1<<uint(u.E) - 1
}

func (u refUnit) signed(x uint64) int64 { return int64(x<<uint(64-u.E)) >> uint(64-u.E) }

// lambda evaluates smokeLambdas[fid] at E bits (lambda.md §2).
func (u refUnit) lambda(fid int, old, delta, cmp, swap uint64) (uint64, bool) {
	switch fid {
	case 0:
		return (old + delta) & u.mask(), false
	case 1:
		if old == cmp {
			return swap, false
		}
		return old, false
	case 2:
		if u.signed(old) > u.signed(delta) {
			return 1, false
		}
		return 0, false
	case 3:
		if u.signed(delta) < 0 {
			return old, true
		}
		if delta >= uint64(u.E) {
			return 0, false
		}
		return (old << delta) & u.mask(), false
	case 4:
		return old ^ delta, false
	}
	return old, true
}

func (u refUnit) get(b []byte, i int) uint64 {
	var x uint64
	for j := u.EB - 1; j >= 0; j-- {
		x = x<<8 | uint64(b[i*u.EB+j])
	}
	return x
}

func (u refUnit) put(b []byte, i int, x uint64) {
	for j := 0; j < u.EB; j++ {
		b[i*u.EB+j] = byte(x >> uint(8*j))
	}
}

// run is vector.md §3 for one request.
func (u refUnit) run(r vreq) vres {
	n := r.vlen / u.EB
	stored := make([]byte, u.V)
	copy(stored, r.value[:r.vlen])
	fault := r.fid >= len(smokeLambdas)
	out := vres{n: n, newv: stored, resp: make([]byte, u.V)}
	switch r.op {
	case OpUpdateS2V, OpUpdateV2V:
		upd := append([]byte(nil), stored...)
		for i := 0; i < n; i++ {
			d, c, s := r.delta, r.cmp, r.swap
			if r.op == OpUpdateV2V {
				d, c, s = 0, 0, 0
				if u.EB*(i+1) <= r.dlen {
					d = u.get(r.dvec, i)
				}
			}
			v, f := u.lambda(r.fid, u.get(stored, i), d, c, s)
			fault = fault || f
			u.put(upd, i, v)
		}
		if !fault {
			out.newv = upd
		}
		copy(out.resp, stored)
		out.rlen = r.vlen
	case OpReduce:
		acc := r.delta
		for i := 0; i < n; i++ {
			v, f := u.lambda(r.fid, acc, u.get(stored, i), r.cmp, r.swap)
			fault = fault || f
			acc = v
		}
		for j := 0; j < 8; j++ {
			out.resp[j] = byte(acc >> uint(8*j))
		}
		out.rlen = 8
	case OpFilter:
		kept := 0
		for i := 0; i < n; i++ {
			e := u.get(stored, i)
			v, f := u.lambda(r.fid, e, r.delta, r.cmp, r.swap)
			fault = fault || f
			if v != 0 {
				u.put(out.resp, kept, e)
				kept++
			}
		}
		out.rlen = u.EB * kept
	}
	if fault {
		out.fault, out.rlen, out.resp = true, 0, make([]byte, u.V)
	}
	return out
}

func hexLE(b []byte) string {
	var s strings.Builder
	for i := len(b) - 1; i >= 0; i-- {
		fmt.Fprintf(&s, "%02x", b[i])
	}
	return s.String()
}

func (u refUnit) randReq(rng *rand.Rand) vreq {
	r := vreq{op: rng.Intn(4), fid: rng.Intn(5), gap: 0}
	if rng.Intn(8) == 0 {
		r.fid = 5 + rng.Intn(3)
	}
	switch rng.Intn(4) {
	case 0:
		r.vlen = u.V
	case 1:
		r.vlen = rng.Intn(u.EB + 1)
	default:
		r.vlen = rng.Intn(u.V + 1)
	}
	r.dlen = rng.Intn(u.V + 1)
	if rng.Intn(3) == 0 {
		r.dlen = u.V
	}
	r.value = make([]byte, u.V)
	r.dvec = make([]byte, u.V)
	rng.Read(r.value)
	rng.Read(r.dvec)
	pat := func() uint64 {
		switch rng.Intn(4) {
		case 0:
			return rng.Uint64() & u.mask()
		case 1:
			return uint64(-1-rng.Int63n(3)) & u.mask() // small negative
		}
		return uint64(rng.Intn(u.E + 2))
	}
	r.delta, r.cmp, r.swap = pat(), pat(), pat()
	if rng.Intn(3) == 0 && r.vlen >= u.EB {
		r.cmp = u.get(r.value, rng.Intn(r.vlen/u.EB))
	}
	if rng.Intn(4) == 0 {
		r.gap = 1 + rng.Intn(3)
	}
	return r
}

// testbench drives reqs back to back (after each one's gap) and prints
// every cycle's outputs, sampled mid-cycle.
func (u refUnit) testbench(reqs []vreq, f, vl, cycles int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	nr := len(reqs)
	w("`timescale 1ns / 1ps")
	w("`default_nettype none")
	w("module tb;")
	w("reg clk = 1'b0;")
	w("reg rst = 1'b1;")
	w("reg [1:0] op_m [0:%d];", nr-1)
	w("reg [%d:0] fid_m [0:%d];", f-1, nr-1)
	w("reg [%d:0] vlen_m [0:%d];", vl-1, nr-1)
	w("reg [%d:0] dlen_m [0:%d];", vl-1, nr-1)
	w("reg [%d:0] value_m [0:%d];", 8*u.V-1, nr-1)
	w("reg [%d:0] dvec_m [0:%d];", 8*u.V-1, nr-1)
	w("reg [%d:0] delta_m [0:%d];", u.E-1, nr-1)
	w("reg [%d:0] cmp_m [0:%d];", u.E-1, nr-1)
	w("reg [%d:0] swap_m [0:%d];", u.E-1, nr-1)
	w("reg [3:0] gap_m [0:%d];", nr)
	w("integer k = 0;")
	w("integer cyc = 0;")
	w("reg [3:0] gap = 4'd0;")
	w("wire in_ready, out_valid, out_fault;")
	w("wire [%d:0] out_new, out_resp;", 8*u.V-1)
	w("wire [%d:0] out_rlen;", vl-1)
	w("wire in_valid = !rst && k < %d && gap == 4'd0;", nr)
	w("wire [31:0] kk = (k < %d) ? k : 0;", nr)
	w("kvd_vec dut (.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_op(op_m[kk]), .in_fid(fid_m[kk]),")
	w("  .in_vlen(vlen_m[kk]), .in_value(value_m[kk]), .in_delta(delta_m[kk]), .in_cmp(cmp_m[kk]), .in_swap(swap_m[kk]),")
	w("  .in_dlen(dlen_m[kk]), .in_dvec(dvec_m[kk]), .out_valid(out_valid), .out_fault(out_fault), .out_new(out_new),")
	w("  .out_rlen(out_rlen), .out_resp(out_resp));")
	w("always #5 clk = ~clk;")
	w("initial begin")
	for i, r := range reqs {
		w("  op_m[%d] = %d; fid_m[%d] = %d; vlen_m[%d] = %d; dlen_m[%d] = %d;", i, r.op, i, r.fid, i, r.vlen, i, r.dlen)
		w("  value_m[%d] = %d'h%s; dvec_m[%d] = %d'h%s;", i, 8*u.V, hexLE(r.value), i, 8*u.V, hexLE(r.dvec))
		w("  delta_m[%d] = %d'h%x; cmp_m[%d] = %d'h%x; swap_m[%d] = %d'h%x; gap_m[%d] = %d;", i, u.E, r.delta, i, u.E, r.cmp, i, u.E, r.swap, i, r.gap)
	}
	w("  gap_m[%d] = 0;", nr)
	w("  gap = gap_m[0];")
	w("  repeat (4) @(posedge clk);")
	w("  rst <= 1'b0;")
	w("  repeat (%d) @(posedge clk);", cycles)
	w("  $finish;")
	w("end")
	w("always @(posedge clk) if (!rst) begin")
	w("  cyc <= cyc + 1;")
	w("  if (in_valid && in_ready) begin k <= k + 1; gap <= gap_m[k + 1]; end")
	w("  else if (gap != 4'd0) gap <= gap - 4'd1;")
	w("end")
	w("always @(negedge clk) if (!rst)")
	w("  $display(\"C %%0d %%0d %%0d %%0d %%0d %%0d %%h %%h\", cyc, in_valid, in_ready, out_valid, out_fault, out_rlen, out_new, out_resp);")
	w("endmodule")
	return b.String()
}

func TestSmokeIcarus(t *testing.T) {
	for _, tool := range []string{"iverilog", "vvp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: tools/setup (make test) installs it", tool)
		}
	}
	cases := []struct{ e, v, reqs int }{{8, 22, 150}, {16, 9, 150}, {32, 22, 150}, {64, 22, 150}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("e%d_v%d", tc.e, tc.v), func(t *testing.T) {
			c := withLambdas(tc.e, tc.v, smokeLambdas...)
			z, err := SizesOf(c)
			if err != nil {
				t.Fatal(err)
			}
			u := refUnit{E: z.E, EB: z.EB, V: z.V}
			rng := rand.New(rand.NewSource(int64(tc.e*1000 + tc.v)))
			reqs := make([]vreq, tc.reqs)
			want := make([]vres, len(reqs))
			cycles := 10
			for i := range reqs {
				reqs[i] = u.randReq(rng)
				want[i] = u.run(reqs[i])
				cycles += reqs[i].gap + want[i].n + 2
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, Name+".v"), emit(t, c), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "tb.v"), []byte(u.testbench(reqs, z.F, z.VL, cycles)), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
			u.check(t, out, reqs, want)
		})
	}
}

// check walks the printed cycles: each acceptance, the result exactly
// 1+n cycles later, in_ready low in between and high again after.
func (u refUnit) check(t *testing.T, out []byte, reqs []vreq, want []vres) {
	t.Helper()
	type cycle struct {
		inValid, inReady, outValid, outFault bool
		rlen                                 int
		newv, resp                           string
	}
	var trace []cycle
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
		rlen, _ := strconv.Atoi(f[6])
		trace = append(trace, cycle{f[2] == "1", f[3] == "1", f[4] == "1", f[5] == "1", rlen, f[7], f[8]})
	}
	k, results := 0, 0
	busyUntil := -1 // the cycle with out_valid of the request in flight
	for cyc, c := range trace {
		if c.inReady == (cyc <= busyUntil) {
			t.Fatalf("cycle %d: in_ready = %v (busy until %d)", cyc, c.inReady, busyUntil)
		}
		if c.outValid != (cyc == busyUntil) {
			t.Fatalf("cycle %d: out_valid = %v, the result is due in %d", cyc, c.outValid, busyUntil)
		}
		if c.outValid {
			w := want[results]
			r := reqs[results]
			got := fmt.Sprintf("fault %v rlen %d new %s resp %s", c.outFault, c.rlen, c.newv, c.resp)
			exp := fmt.Sprintf("fault %v rlen %d new %s resp %s", w.fault, w.rlen, hexLE(w.newv), hexLE(w.resp))
			if got != exp {
				t.Fatalf("request %d (op %d fid %d vlen %d dlen %d delta %x cmp %x swap %x value %s dvec %s), result in cycle %d:\n got %s\nwant %s",
					results, r.op, r.fid, r.vlen, r.dlen, r.delta, r.cmp, r.swap, hexLE(r.value), hexLE(r.dvec), cyc, got, exp)
			}
			results++
		}
		if c.inValid && c.inReady {
			busyUntil = cyc + 1 + want[k].n
			k++
		}
	}
	if results != len(reqs) {
		t.Fatalf("%d results of %d requests in %d cycles", results, len(reqs), len(trace))
	}
}
