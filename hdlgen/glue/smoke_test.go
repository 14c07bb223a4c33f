package glue

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kvdirect/kvd/config"
)

// A smoke test, not the co-simulation: kvd_glue (sim preset) under Icarus
// Verilog, driven cycle by cycle with a hand-written script and checked
// against hand-computed expectations from processor.md §4: the §4.6
// timeline of one operation (issue, key-hash, station, engine, answers),
// the long-value paths (a long response carried by tag to cpl_value, a
// long request value carried by tag to ht_req_value), a write-back's
// answer that must not touch the response memory, the credit loop with the
// station stalled, and the engine queue filling with the engine stalled.
// Unset inputs are 0 in every cycle; unset outputs are not checked.

type script struct {
	z   Sizes
	in  []map[string]*big.Int
	exp []map[string]*big.Int
}

func (s *script) grow(c int) {
	for len(s.in) <= c {
		s.in = append(s.in, map[string]*big.Int{})
		s.exp = append(s.exp, map[string]*big.Int{})
	}
}

func val(v any) *big.Int {
	switch x := v.(type) {
	case int:
		return big.NewInt(int64(x))
	case uint64:
		return new(big.Int).SetUint64(x)
	case *big.Int:
		return x
	case []byte:
		return le(x)
	}
	panic(fmt.Sprintf("val %T", v))
}

// drive sets inputs of cycle c: name, value pairs.
func (s *script) drive(c int, kv ...any) {
	s.grow(c)
	for i := 0; i < len(kv); i += 2 {
		s.in[c][kv[i].(string)] = val(kv[i+1])
	}
}

// want sets expected outputs of cycle c.
func (s *script) want(c int, kv ...any) {
	s.grow(c)
	for i := 0; i < len(kv); i += 2 {
		s.exp[c][kv[i].(string)] = val(kv[i+1])
	}
}

func le(b []byte) *big.Int {
	v := new(big.Int)
	for i := len(b) - 1; i >= 0; i-- {
		v.Lsh(v, 8)
		v.Or(v, big.NewInt(int64(b[i])))
	}
	return v
}

// pat is n bytes of a pattern seeded by seed (never zero).
func pat(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*37 + i*11 + 1)
		if b[i] == 0 {
			b[i] = 0x5a
		}
	}
	return b
}

func low(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

func (s *script) bench() string {
	var b strings.Builder
	ports := s.z.ports()
	fmt.Fprintf(&b, "`timescale 1ns / 1ps\n`default_nettype none\nmodule tb;\nreg clk = 1'b0;\nreg rst = 1'b1;\ninteger errors = 0;\nalways #5 clk = ~clk;\n")
	for _, p := range ports {
		kw := "reg "
		if p.Out {
			kw = "wire"
		}
		fmt.Fprintf(&b, "%s [%d:0] %s;\n", kw, p.W-1, p.Name)
	}
	b.WriteString("kvd_glue dut (\n    .clk(clk), .rst(rst)")
	for _, p := range ports {
		fmt.Fprintf(&b, ",\n    .%s(%s)", p.Name, p.Name)
	}
	b.WriteString("\n);\ninitial begin\n")
	zero := func() {
		for _, p := range ports {
			if !p.Out {
				fmt.Fprintf(&b, "    %s = %d'd0;\n", p.Name, p.W)
			}
		}
	}
	width := map[string]int{}
	for _, p := range ports {
		width[p.Name] = p.W
	}
	zero()
	b.WriteString("    repeat (4) @(posedge clk);\n    #1 rst = 1'b0;\n")
	for c := range s.in {
		fmt.Fprintf(&b, "    // cycle %d\n", c)
		if c > 0 {
			b.WriteString("    @(posedge clk); #1;\n")
		}
		zero()
		for _, n := range sorted(s.in[c]) {
			fmt.Fprintf(&b, "    %s = %d'h%s;\n", n, width[n], s.in[c][n].Text(16))
		}
		b.WriteString("    #3;\n")
		for _, n := range sorted(s.exp[c]) {
			v := s.exp[c][n].Text(16)
			fmt.Fprintf(&b, "    if (%s !== %d'h%s) begin errors = errors + 1; $display(\"FAIL cycle %d: %s = %%h, want %s\", %s); end\n",
				n, width[n], v, c, n, v, n)
		}
	}
	b.WriteString("    @(posedge clk);\n    $display(\"DONE errors=%0d\", errors);\n    $finish;\nend\nendmodule\n")
	return b.String()
}

func sorted(m map[string]*big.Int) []string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func TestSmokeIcarus(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke simulation skipped in -short mode")
	}
	for _, tool := range []string{"iverilog", "vvp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: tools/setup (make test) installs it", tool)
		}
	}
	c, _ := config.Preset("sim")
	z, err := SizesOf(c)
	if err != nil {
		t.Fatal(err)
	}
	s := &script{z: z}
	M := z.M
	aux := func(bucket, sec int) int { return bucket<<uint(z.H) | sec }

	// ---- A: a GET, §4.6's timeline; its long response carried by tag -------------------------
	keyA := low([]byte("keyA"), z.K)
	s.drive(0, "iss_valid", 1, "iss_tag", 5, "iss_op", 0, "iss_klen", 4, "iss_key", keyA)
	s.want(0, "iss_ready", 1, "kh_in_valid", 0, "rs_req_valid", 0, "ht_req_valid", 0, "cpl_valid", 0, "rs_cpl_valid", 0, "rs_pipe_ready", 1)
	s.want(1, "kh_in_valid", 1, "kh_in_key", keyA, "kh_in_len", 4, "kh_in_tag", 5, "iss_ready", 1)
	s.want(2, "kh_in_valid", 0)
	s.drive(4, "kh_out_valid", 1, "kh_out_bucket", 0x1234, "kh_out_sec", 0x155, "kh_out_slot", 0xab, "kh_out_tag", 5)
	s.want(4, "rs_req_valid", 0)
	s.want(5, "rs_req_valid", 1, "rs_req_op", 0, "rs_req_fid", 0, "rs_req_key", keyA, "rs_req_klen", 4,
		"rs_req_slot", 0xab, "rs_req_vlen", 0, "rs_req_value", 0, "rs_req_delta", 0, "rs_req_cmp", 0, "rs_req_swap", 0,
		"rs_req_aux", aux(0x1234, 0x155), "rs_req_tag", 5)
	s.drive(5, "rs_req_ready", 1)
	s.want(6, "rs_req_valid", 0, "iss_ready", 1)
	s.drive(7, "rs_pipe_valid", 1, "rs_pipe_id", 3, "rs_pipe_tag", 5, "rs_pipe_op", 0, "rs_pipe_key", keyA, "rs_pipe_klen", 4,
		"rs_pipe_aux", aux(0x1234, 0x155))
	s.want(7, "rs_pipe_ready", 1, "ht_req_valid", 0)
	for _, cy := range []int{8, 9} { // the engine stalls once: the request holds
		s.want(cy, "ht_req_valid", 1, "ht_req_op", 0, "ht_req_tag", 3, "ht_req_key", keyA, "ht_req_klen", 4, "ht_req_vlen", 0,
			"ht_req_value", 0, "ht_req_bucket", 0x1234, "ht_req_sec", 0x155, "ht_req_fid", 0, "ht_req_delta", 0, "ht_req_cmp", 0, "ht_req_swap", 0)
	}
	s.drive(9, "ht_req_ready", 1)
	s.want(10, "ht_req_valid", 0)
	valR := pat(1, 20)
	s.drive(10, "ht_rsp_valid", 1, "ht_rsp_tag", 3, "ht_rsp_status", 0, "ht_rsp_vlen", 20, "ht_rsp_value", valR)
	s.want(11, "rs_cpl_valid", 1, "rs_cpl_id", 3, "rs_cpl_status", 0, "rs_cpl_vlen", 20, "rs_cpl_value", low(valR, 8))
	s.want(12, "rs_cpl_valid", 0)
	// A write-back's answer (id M+3: its low bits alias id 3, whose etag is
	// tag 5) between the engine's answer and the station's response: it is
	// not a tag's operation and must leave rspv[5] alone.
	valG := pat(2, 40)
	s.drive(12, "ht_rsp_valid", 1, "ht_rsp_tag", M+3, "ht_rsp_status", 0, "ht_rsp_vlen", 0, "ht_rsp_value", valG)
	s.want(13, "rs_cpl_valid", 1, "rs_cpl_id", M+3, "rs_cpl_status", 0, "rs_cpl_vlen", 0, "rs_cpl_value", low(valG, 8))
	s.drive(13, "rs_resp_valid", 1, "rs_resp_tag", 5, "rs_resp_status", 0, "rs_resp_vlen", 20, "rs_resp_value", low(valR, 8))
	s.want(13, "cpl_valid", 0)
	s.want(14, "cpl_valid", 1, "cpl_tag", 5, "cpl_status", 0, "cpl_vlen", 20, "cpl_value", valR, "rs_cpl_valid", 0)
	s.want(15, "cpl_valid", 0)

	// ---- B: a PUT of a long value carried by tag; fid clamped; scalars -------------------------
	keyB := low([]byte("kB\x07"), z.K)
	valB := pat(3, 30)
	s.drive(20, "iss_valid", 1, "iss_tag", 9, "iss_op", 1, "iss_fid", 200, "iss_klen", 3, "iss_key", keyB,
		"iss_vlen", 30, "iss_value", valB)
	s.want(21, "kh_in_valid", 1, "kh_in_key", keyB, "kh_in_len", 3, "kh_in_tag", 9)
	s.drive(24, "kh_out_valid", 1, "kh_out_bucket", 2, "kh_out_sec", 1, "kh_out_slot", 0x10, "kh_out_tag", 9)
	for _, cy := range []int{25, 26} { // the station stalls once
		s.want(cy, "rs_req_valid", 1, "rs_req_op", 1, "rs_req_fid", z.N, "rs_req_key", keyB, "rs_req_klen", 3, "rs_req_slot", 0x10,
			"rs_req_vlen", 30, "rs_req_value", low(valB, 8), "rs_req_delta", low(valB, 8), "rs_req_cmp", le(valB[8:16]),
			"rs_req_swap", le(valB[16:24]), "rs_req_aux", aux(2, 1), "rs_req_tag", 9)
	}
	s.drive(26, "rs_req_ready", 1)
	s.want(27, "rs_req_valid", 0)
	dB, cB, wB := uint64(0x1122334455667788), uint64(0x99aabbccddeeff00), uint64(0x0123456789abcdef)
	s.drive(28, "rs_pipe_valid", 1, "rs_pipe_id", 17, "rs_pipe_tag", 9, "rs_pipe_op", 1, "rs_pipe_fid", 7, "rs_pipe_key", keyB,
		"rs_pipe_klen", 3, "rs_pipe_vlen", 30, "rs_pipe_value", low(valB, 8), "rs_pipe_delta", dB, "rs_pipe_cmp", cB,
		"rs_pipe_swap", wB, "rs_pipe_aux", aux(2, 1))
	mask := func(v uint64) uint64 { return v & (1<<uint(z.E) - 1) }
	s.want(29, "ht_req_valid", 1, "ht_req_op", 1, "ht_req_tag", 17, "ht_req_key", keyB, "ht_req_klen", 3, "ht_req_vlen", 30,
		"ht_req_value", valB, "ht_req_bucket", 2, "ht_req_sec", 1, "ht_req_fid", 7,
		"ht_req_delta", mask(dB), "ht_req_cmp", mask(cB), "ht_req_swap", mask(wB))
	s.drive(29, "ht_req_ready", 1,
		"rs_pipe_valid", 1, "rs_pipe_id", M+5, "rs_pipe_tag", 0, "rs_pipe_op", 1, "rs_pipe_key", keyB, "rs_pipe_klen", 3,
		"rs_pipe_vlen", 4, "rs_pipe_value", 0xdeadbeef, "rs_pipe_aux", aux(2, 1)) // a write-back, short
	s.want(30, "ht_req_valid", 1, "ht_req_op", 1, "ht_req_tag", M+5, "ht_req_vlen", 4, "ht_req_value", 0xdeadbeef,
		"ht_req_bucket", 2, "ht_req_sec", 1, "ht_req_fid", 0, "ht_req_delta", 0)
	s.drive(30, "ht_req_ready", 1)
	s.want(31, "ht_req_valid", 0)
	s.drive(31, "ht_rsp_valid", 1, "ht_rsp_tag", 17, "ht_rsp_status", 0, "ht_rsp_vlen", 0, "ht_rsp_value", 0)
	s.want(32, "rs_cpl_valid", 1, "rs_cpl_id", 17, "rs_cpl_vlen", 0, "rs_cpl_value", 0)
	s.drive(33, "rs_resp_valid", 1, "rs_resp_tag", 9, "rs_resp_status", 0, "rs_resp_vlen", 0, "rs_resp_value", 0)
	s.want(34, "cpl_valid", 1, "cpl_tag", 9, "cpl_status", 0, "cpl_vlen", 0, "cpl_value", 0)
	// An error status passes through zero-extended; an 8-byte value is short.
	s.drive(35, "rs_resp_valid", 1, "rs_resp_tag", 7, "rs_resp_status", 8, "rs_resp_vlen", 8, "rs_resp_value", 0x0807060504030201)
	s.want(36, "cpl_valid", 1, "cpl_tag", 7, "cpl_status", 8, "cpl_vlen", 8, "cpl_value", 0x0807060504030201)

	// ---- C: the credit loop with the station stalled; opr read ahead as AF drains ---------------
	type op struct {
		tag, vlen int
		key, val  []byte
	}
	ops := map[int]op{}
	for tag := 20; tag < 30; tag++ {
		vl := 4
		if tag%2 == 0 {
			vl = 12
		}
		ops[tag] = op{tag, vl, low(pat(tag, 1+tag%7), z.K), pat(tag+100, vl)}
	}
	issueAt := map[int]int{}
	for i := 0; i < 8; i++ { // tags 20..27 taken in 40..47: the credits run out
		issueAt[20+i] = 40 + i
	}
	issueAt[28] = 56 // the first pop (55) returns a credit
	issueAt[29] = 57
	// Tag 28 waits on iss_* from 48 (valid and data held) until taken.
	for cy := 40; cy <= 57; cy++ {
		tag := 0
		for tg, at := range issueAt {
			if at == cy || (tg == 28 && cy >= 48 && cy <= 56) {
				tag = tg
			}
		}
		o := ops[tag]
		s.drive(cy, "iss_valid", 1, "iss_tag", tag, "iss_op", tag%3, "iss_klen", 1+tag%7, "iss_key", o.key,
			"iss_vlen", o.vlen, "iss_value", o.val)
		rdy := 1
		if cy >= 48 && cy <= 55 {
			rdy = 0
		}
		s.want(cy, "iss_ready", rdy)
	}
	for tag, at := range issueAt {
		s.want(at+1, "kh_in_valid", 1, "kh_in_tag", tag, "kh_in_key", ops[tag].key)
		s.drive(at+4, "kh_out_valid", 1, "kh_out_tag", tag, "kh_out_slot", tag, "kh_out_bucket", 100+tag, "kh_out_sec", tag)
	}
	s.want(45, "rs_req_valid", 1, "rs_req_tag", 20)
	s.want(52, "rs_req_valid", 1, "rs_req_tag", 20)
	popAt := map[int]int{20: 55, 21: 56, 22: 57, 23: 58, 24: 59, 25: 60, 26: 61, 27: 62, 28: 63, 29: 64}
	for tag, cy := range popAt {
		o := ops[tag]
		s.want(cy, "rs_req_valid", 1, "rs_req_tag", tag, "rs_req_op", tag%3, "rs_req_klen", 1+tag%7, "rs_req_key", o.key,
			"rs_req_vlen", o.vlen, "rs_req_value", low(o.val, 8), "rs_req_slot", tag, "rs_req_aux", aux(100+tag, tag))
		s.drive(cy, "rs_req_ready", 1)
	}
	for cy := 58; cy <= 66; cy++ {
		s.want(cy, "iss_ready", 1)
	}
	s.want(65, "rs_req_valid", 0)

	// ---- D: EF fills with the engine stalled; long request values by tag -------------------------
	pipe := func(cy, id, tag int) {
		o := ops[tag]
		s.drive(cy, "rs_pipe_valid", 1, "rs_pipe_id", id, "rs_pipe_tag", tag, "rs_pipe_op", 1, "rs_pipe_key", o.key,
			"rs_pipe_klen", 1+tag%7, "rs_pipe_vlen", o.vlen, "rs_pipe_value", low(o.val, 8), "rs_pipe_aux", aux(100+tag, tag))
	}
	for i := 0; i < 4; i++ {
		pipe(70+i, 30+i, 20+i)
		s.want(70+i, "rs_pipe_ready", 1)
	}
	for cy := 74; cy <= 77; cy++ { // id 34 waits (EF full) until the first pop
		pipe(cy, 34, 24)
	}
	s.want(74, "rs_pipe_ready", 0)
	s.want(75, "rs_pipe_ready", 0)
	s.want(76, "rs_pipe_ready", 0)
	s.want(77, "rs_pipe_ready", 1)
	for i := 0; i < 5; i++ {
		cy, tag := 76+i, 20+i
		o := ops[tag]
		want := low(o.val, 8)
		if o.vlen > 8 {
			want = o.val
		}
		s.want(cy, "ht_req_valid", 1, "ht_req_tag", 30+i, "ht_req_vlen", o.vlen, "ht_req_value", want,
			"ht_req_bucket", 100+tag, "ht_req_sec", tag)
		s.drive(cy, "ht_req_ready", 1)
	}
	s.want(72, "ht_req_valid", 1, "ht_req_tag", 30, "ht_req_value", ops[20].val)
	s.want(81, "ht_req_valid", 0, "rs_pipe_ready", 1)
	s.grow(83)

	dir := t.TempDir()
	text := emit(t, c)
	if err := os.WriteFile(filepath.Join(dir, Name+".v"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tb.v"), []byte(s.bench()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	if !strings.Contains(string(out), "DONE errors=0") {
		t.Fatalf("kvd_glue smoke bench:\n%s", out)
	}
}
