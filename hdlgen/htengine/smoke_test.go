package htengine

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
	"github.com/kvdirect/kvd/hdlgen/verilog"
)

// A smoke test, not the co-simulation: kvd_ht of the sim preset under
// Icarus Verilog, with a behavioural host memory (random latency and
// back-pressure, in-order beats), a behavioural slab allocator and a
// testbench driving a list of operations; the responses are checked
// against a Go map (the table's contents), and the host memory and the
// allocator's books at the end against what the operations leave.

type op struct {
	op, tag, klen, vlen, bucket, sec int
	key, value                       []byte
	gap                              int // cycles after the previous acceptance
	fid                              int // vector operations: the λ
	delta, cmp, swap                 uint64
}

type result struct {
	status int
	value  []byte
}

// write is one beat the engine wrote, by the context that wrote it.
type write struct {
	cyc, word, ctx int
	data           []byte
}

type simOut struct {
	accept, respond map[int]int // tag -> cycle
	ctx             map[int]int // tag -> the context that took it
	writes          []write     // every beat written, in order
	got             map[int]result
	mem             map[int][]byte // 32 B word index -> bytes (non-zero index words)
	live            int
	cover           map[string]int
	errors          []string
}

const tbTimeout = 400000

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

func simConfig(t *testing.T) (config.Config, Sizes) {
	return sizes(t, preset(t, "sim"))
}

func sizes(t *testing.T, c config.Config) (config.Config, Sizes) {
	t.Helper()
	z, err := SizesOf(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, z
}

func (z Sizes) opBits() int {
	return OpBits + 16 + z.KL + z.VL + z.BI + z.H + z.F + 3*z.E + 8*z.K + 8*z.V
}

// pack lays out an operation as the testbench reads it (least significant
// field first: op, tag, klen, vlen, bucket, sec, fid, delta, cmp, swap, key,
// value).
func (z Sizes) pack(o op) string {
	v := new(big.Int)
	pos := 0
	put := func(x *big.Int, w int) {
		v.Or(v, new(big.Int).Lsh(x, uint(pos)))
		pos += w
	}
	le := func(b []byte, n int) *big.Int {
		x := new(big.Int)
		for i := min(len(b), n) - 1; i >= 0; i-- {
			x.Lsh(x, 8)
			x.Or(x, big.NewInt(int64(b[i])))
		}
		return x
	}
	u := func(x uint64, w int) *big.Int {
		if w < 64 {
			x &= 1<<uint(w) - 1
		}
		return new(big.Int).SetUint64(x)
	}
	put(big.NewInt(int64(o.op)), OpBits)
	put(big.NewInt(int64(o.tag)), 16)
	put(big.NewInt(int64(o.klen)), z.KL)
	put(big.NewInt(int64(o.vlen)), z.VL)
	put(big.NewInt(int64(o.bucket)), z.BI)
	put(big.NewInt(int64(o.sec)), z.H)
	put(u(uint64(o.fid), z.F), z.F)
	put(u(o.delta, z.E), z.E)
	put(u(o.cmp, z.E), z.E)
	put(u(o.swap, z.E), z.E)
	put(le(o.key, z.K), 8*z.K)
	put(le(o.value, z.V), 8*z.V)
	digits := (z.opBits() + 3) / 4
	s := v.Text(16)
	return strings.Repeat("0", digits-len(s)) + s
}

func testbench(z Sizes, cfg config.Config, nops int) string {
	words := 1 << 16 // 2 MiB of host memory modelled
	heapEnd := int64(words * 32)
	var classes []string
	for i, c := range z.Classes {
		classes = append(classes, fmt.Sprintf("            %d: csize = %d;", i, c))
	}
	var retBucket []string
	for c := 0; c < z.C; c++ {
		retBucket = append(retBucket, fmt.Sprintf("        %d: ret_bucket = dut.bucket%d_reg;", c, c))
	}
	return fmt.Sprintf(`
`+"`"+`timescale 1ns / 1ps
`+"`"+`default_nettype none
module tb;
localparam K = %d, KL = %d, V = %d, VL = %d, BI = %d, H = %d, P = %d, AW = %d, F = %d, E = %d;
localparam NOPS = %d, OPW = %d, WORDS = %d, NCL = %d, NUNITS = %d;
localparam HEAP = %d, HEAPEND = %d, TIMEOUT = %d, PU = %d;

reg clk = 1'b0;
reg rst = 1'b1;
always #5 clk = ~clk;
integer trace = 0;
integer cyc = 0, seed = 1, fast = 0, failmask = 0, poison = -1, fd, i, a, nrsp = 0, ip = 0, last_acc = 0;

reg [OPW-1:0] ops [0:NOPS-1];
reg [15:0] gaps [0:NOPS-1];
reg [255:0] mem [0:WORDS-1];

reg req_valid = 1'b0; wire req_ready; reg [2:0] req_op = 0; reg [15:0] req_tag = 0; reg [8*K-1:0] req_key = 0;
reg [KL-1:0] req_klen = 0; reg [VL-1:0] req_vlen = 0; reg [8*V-1:0] req_value = 0; reg [BI-1:0] req_bucket = 0;
reg [H-1:0] req_sec = 0; reg [F-1:0] req_fid = 0; reg [E-1:0] req_delta = 0, req_cmp = 0, req_swap = 0;
wire rsp_valid; wire [15:0] rsp_tag; wire [3:0] rsp_status; wire [VL-1:0] rsp_vlen; wire [8*V-1:0] rsp_value;
wire al_valid; reg al_ready = 1'b0; wire al_op; wire [2:0] al_class; wire [P-1:0] al_ptr;
reg al_rsp_valid = 1'b0; reg al_rsp_ok = 1'b0; reg [P-1:0] al_rsp_ptr = 0;
wire mem_rd_valid; reg mem_rd_ready = 1'b0; wire [AW-1:0] mem_rd_addr; wire [4:0] mem_rd_beats;
reg mem_rdata_valid = 1'b0; wire mem_rdata_ready; reg [255:0] mem_rdata = 0; reg mem_rdata_last = 1'b0; reg mem_rdata_err = 1'b0;
wire mem_wr_valid; reg mem_wr_ready = 1'b0; wire [AW-1:0] mem_wr_addr; wire [255:0] mem_wr_data;

kvd_ht dut (
    .clk(clk), .rst(rst),
    .req_valid(req_valid), .req_ready(req_ready), .req_op(req_op), .req_tag(req_tag), .req_key(req_key),
    .req_klen(req_klen), .req_vlen(req_vlen), .req_value(req_value), .req_bucket(req_bucket), .req_sec(req_sec),
    .req_fid(req_fid), .req_delta(req_delta), .req_cmp(req_cmp), .req_swap(req_swap),
    .rsp_valid(rsp_valid), .rsp_tag(rsp_tag), .rsp_status(rsp_status), .rsp_vlen(rsp_vlen), .rsp_value(rsp_value),
    .al_valid(al_valid), .al_ready(al_ready), .al_op(al_op), .al_class(al_class), .al_ptr(al_ptr),
    .al_rsp_valid(al_rsp_valid), .al_rsp_ok(al_rsp_ok), .al_rsp_ptr(al_rsp_ptr),
    .mem_rd_valid(mem_rd_valid), .mem_rd_ready(mem_rd_ready), .mem_rd_addr(mem_rd_addr), .mem_rd_beats(mem_rd_beats),
    .mem_rdata_valid(mem_rdata_valid), .mem_rdata_ready(mem_rdata_ready), .mem_rdata(mem_rdata),
    .mem_rdata_last(mem_rdata_last), .mem_rdata_err(mem_rdata_err),
    .mem_wr_valid(mem_wr_valid), .mem_wr_ready(mem_wr_ready), .mem_wr_addr(mem_wr_addr), .mem_wr_data(mem_wr_data)
);

function integer csize(input integer c);
    begin
        case (c)
%s
            default: csize = 0;
        endcase
    end
endfunction

initial begin
    if (!$value$plusargs("seed=%%d", seed)) seed = 1;
    fast = $test$plusargs("fast");
    trace = $test$plusargs("trace");
    if (!$value$plusargs("failmask=%%d", failmask)) failmask = 0;
    if (!$value$plusargs("poison=%%d", poison)) poison = -1;
    $readmemh("ops.hex", ops);
    $readmemh("gaps.hex", gaps);
    fd = $fopen("out.txt", "w");
    for (i = 0; i < WORDS; i = i + 1) mem[i] = 256'd0;
    repeat (4) @(posedge clk);
    rst <= 1'b0;
end

always @(posedge clk) if (!rst) cyc <= cyc + 1;

// ---- requests ----
always @(posedge clk) begin
    if (!rst) begin
        if (req_valid && req_ready) begin
            $fwrite(fd, "A %%0d %%0d %%0d\n", cyc, req_tag, dut.acc_ctx);
            ip = ip + 1;
            last_acc = cyc;
            req_valid <= 1'b0;
        end
        if ((!req_valid || req_ready) && ip < NOPS && cyc + 1 >= last_acc + gaps[ip] && (fast || ($random(seed) & 3) != 0)) begin
            {req_value, req_key, req_swap, req_cmp, req_delta, req_fid, req_sec, req_bucket, req_vlen, req_klen, req_tag, req_op} <= ops[ip];
            req_valid <= 1'b1;
        end
    end
end

// ---- responses ----
always @(posedge clk) begin
    if (!rst && rsp_valid) begin
        $fwrite(fd, "R %%0d %%0d %%0d %%0d %%h\n", cyc, rsp_tag, rsp_status, rsp_vlen, rsp_value);
        nrsp = nrsp + 1;
    end
end

// ---- host memory: writes, then reads (one block, so no ordering race) ----
reg [AW-1:0] q_addr [0:255];
reg [4:0] q_beats [0:255];
integer q_due [0:255];
integer q_h = 0, q_t = 0, rb = 0;
always @(posedge clk) begin
    if (!rst) begin
        if (mem_wr_valid && mem_wr_ready) begin
            if (mem_wr_addr[4:0] != 0 || mem_wr_addr >= WORDS * 32) $fwrite(fd, "E write address %%h\n", mem_wr_addr);
            else mem[mem_wr_addr / 32] = mem_wr_data;
            $fwrite(fd, "W %%0d %%0d %%0d %%h\n", cyc, mem_wr_addr / 32, dut.wr_ctx_reg, mem_wr_data);
        end
        if (mem_rd_valid && mem_rd_ready) begin
            if (mem_rd_addr[4:0] != 0 || mem_rd_beats == 0 || mem_rd_beats > 16) $fwrite(fd, "E read request %%h %%0d\n", mem_rd_addr, mem_rd_beats);
            q_addr[q_t %% 256] = mem_rd_addr;
            q_beats[q_t %% 256] = mem_rd_beats;
            q_due[q_t %% 256] = cyc + (fast ? 0 : ($random(seed) & 31));
            q_t = q_t + 1;
        end
        mem_rd_ready <= fast ? 1'b1 : (($random(seed) & 3) != 0);
        mem_wr_ready <= fast ? 1'b1 : (($random(seed) & 3) != 0);
        mem_rdata_valid <= 1'b0;
        mem_rdata_err <= 1'b0;
        mem_rdata_last <= 1'b0;
        if (q_h != q_t && q_due[q_h %% 256] <= cyc && (fast || ($random(seed) & 7) != 0)) begin
            a = q_addr[q_h %% 256] / 32 + rb;
            mem_rdata_valid <= 1'b1;
            mem_rdata_last <= (rb == q_beats[q_h %% 256] - 1);
            if (poison >= 0 && q_addr[q_h %% 256] == poison * 64) begin
                mem_rdata_err <= 1'b1;
                mem_rdata <= {8{$random(seed)}};
            end else begin
                mem_rdata <= (a < WORDS) ? mem[a] : {8{$random(seed)}};
            end
            if (rb == q_beats[q_h %% 256] - 1) begin
                rb = 0;
                q_h = q_h + 1;
            end else begin
                rb = rb + 1;
            end
        end
    end
end

// ---- slab allocator: bump pointer and per-class LIFO free lists ----
reg [P-1:0] fl [0:NCL*4096-1];
integer fl_n [0:7];
reg live [0:NUNITS-1];
reg [2:0] live_cls [0:NUNITS-1];
integer bump = HEAP, nlive = 0, ans_cnt = 0, sz, u, ok;
reg [P-1:0] ptr;
initial begin
    for (i = 0; i < 8; i = i + 1) fl_n[i] = 0;
    for (i = 0; i < NUNITS; i = i + 1) live[i] = 1'b0;
end
always @(posedge clk) begin
    if (!rst) begin
        al_rsp_valid <= 1'b0;
        al_ready <= fast ? 1'b1 : (($random(seed) & 3) != 0);
        if (ans_cnt > 0) begin
            ans_cnt = ans_cnt - 1;
            if (ans_cnt == 0) al_rsp_valid <= 1'b1;
        end
        if (al_valid && al_ready) begin
            if (al_class >= NCL) $fwrite(fd, "E class %%0d\n", al_class);
            sz = csize(al_class);
            if (al_op == 1'b0) begin
                if (ans_cnt != 0 || al_ptr != 0) $fwrite(fd, "E alloc while one is outstanding or with a pointer\n");
                ok = 0;
                if (((failmask >> al_class) & 1) == 0) begin
                    if (fl_n[al_class] > 0) begin
                        fl_n[al_class] = fl_n[al_class] - 1;
                        ptr = fl[al_class * 4096 + fl_n[al_class]];
                        ok = 1;
                    end else begin
                        bump = (bump + sz - 1) / sz * sz;
                        if (bump + sz <= HEAPEND) begin
                            ptr = bump / PU;
                            bump = bump + sz;
                            ok = 1;
                        end
                    end
                end
                if (ok) begin
                    u = (ptr * PU - HEAP) / 32;
                    live[u] = 1'b1;
                    live_cls[u] = al_class;
                    nlive = nlive + 1;
                end
                al_rsp_ok <= ok;
                al_rsp_ptr <= ok ? ptr : 0;
                ans_cnt = fast ? 1 : 1 + ($random(seed) & 1);
                if (ans_cnt == 1) begin
                    ans_cnt = 0;
                    al_rsp_valid <= 1'b1;
                end
            end else begin
                u = (al_ptr * PU - HEAP) / 32;
                if (al_ptr * PU < HEAP || u >= NUNITS || !live[u] || live_cls[u] != al_class) begin
                    $fwrite(fd, "E bad free %%h class %%0d\n", al_ptr, al_class);
                end else begin
                    live[u] = 1'b0;
                    nlive = nlive - 1;
                    fl[al_class * 4096 + fl_n[al_class]] = al_ptr;
                    fl_n[al_class] = fl_n[al_class] + 1;
                end
            end
        end
    end
end

// ---- valid/ready stability (docs/microarch.md 1.3) ----
reg p_rv = 0, p_rr = 0, p_av = 0, p_ar = 0, p_wv = 0, p_wr = 0;
reg [AW-1:0] p_ra = 0, p_wa = 0; reg [4:0] p_rb = 0; reg p_ao = 0; reg [2:0] p_ac = 0; reg [P-1:0] p_ap = 0; reg [255:0] p_wd = 0;
always @(posedge clk) begin
    if (!rst) begin
        if (p_rv && !p_rr && !(mem_rd_valid && mem_rd_addr == p_ra && mem_rd_beats == p_rb)) $fwrite(fd, "E mem_rd changed before its transfer\n");
        if (p_av && !p_ar && !(al_valid && al_op == p_ao && al_class == p_ac && al_ptr == p_ap)) $fwrite(fd, "E al changed before its transfer\n");
        if (p_wv && !p_wr && !(mem_wr_valid && mem_wr_addr == p_wa && mem_wr_data == p_wd)) $fwrite(fd, "E mem_wr changed before its transfer\n");
        if (!mem_rdata_ready) $fwrite(fd, "E mem_rdata_ready low\n");
        p_rv <= mem_rd_valid; p_rr <= mem_rd_ready; p_ra <= mem_rd_addr; p_rb <= mem_rd_beats;
        p_av <= al_valid; p_ar <= al_ready; p_ao <= al_op; p_ac <= al_class; p_ap <= al_ptr;
        p_wv <= mem_wr_valid; p_wr <= mem_wr_ready; p_wa <= mem_wr_addr; p_wd <= mem_wr_data;
    end
end

// ---- coverage of the engine's decisions (hierarchical probes) ----
reg [BI-1:0] ret_bucket;
always @* begin
    case (dut.rsp_pick_idx)
%s
        default: ret_bucket = 0;
    endcase
end
integer cv_block = 0, cv_collide = 0, cv_place = 0, cv_place_run = 0, cv_place_new = 0, cv_unlink = 0, cv_same = 0;
integer cv_fit_found = 0, cv_newb = 0, cv_nomem_held = 0, cv_memerr = 0, cv_ool_hit = 0, cv_inline_hit = 0, cv_excl = 0;
integer cv_vec_inline = 0, cv_vec_ool = 0, cv_vec_wait = 0, cv_vec_fault = 0, cv_vec_write = 0;
always @(posedge clk) begin
    if (!rst) begin
        if (dut.acc_fire && dut.acc_ok && dut.acc_link) cv_block = cv_block + 1;
        if (dut.acc_fire && dut.acc_ok && !dut.acc_link && dut.rsp_pick_any
            && dut.lock_reg[dut.rsp_pick_idx] && !dut.has_succ_reg[dut.rsp_pick_idx]
            && req_bucket == ret_bucket) cv_excl = cv_excl + 1;
        if (dut.exec_valid_reg && !dut.err_reg[dut.exec_ctx_reg]) begin
            if (!dut.ex_bucket && !dut.ex_found) cv_collide = cv_collide + 1;
            if (dut.ex_to_place) cv_place = cv_place + 1;
            if (dut.ex_place && dut.ex_phase != 0 && dut.ex_tgt == 0) cv_place_run = cv_place_run + 1;
            if (dut.ex_place && dut.ex_phase != 0 && dut.ex_tgt == 2) cv_place_new = cv_place_new + 1;
            if (dut.ex_unlink) cv_unlink = cv_unlink + 1;
            if (dut.ex_same) cv_same = cv_same + 1;
            if (dut.ex_found && dut.ex_put && dut.ex_tgt == 1) cv_fit_found = cv_fit_found + 1;
            if (dut.ex_pl_new) cv_newb = cv_newb + 1;
            if (dut.ex_found && !dut.ex_bucket) cv_ool_hit = cv_ool_hit + 1;
            if (dut.ex_found && dut.ex_bucket) cv_inline_hit = cv_inline_hit + 1;
            if (dut.ex_found && dut.ex_vec && dut.ex_bucket) cv_vec_inline = cv_vec_inline + 1;
            if (dut.ex_found && dut.ex_vec && !dut.ex_bucket) cv_vec_ool = cv_vec_ool + 1;
        end
        if (dut.exec_valid_reg && dut.err_reg[dut.exec_ctx_reg]) cv_memerr = cv_memerr + 1;
        if (al_rsp_valid && !al_rsp_ok && dut.hold_reg[dut.sl_wctx_reg]) cv_nomem_held = cv_nomem_held + 1;
        if (dut.ph_vec_reg != 0 && !dut.vc_in_ready) cv_vec_wait = cv_vec_wait + 1;
        if (dut.vc_out_valid && dut.vc_out_fault) cv_vec_fault = cv_vec_fault + 1;
        if (dut.vc_to_write) cv_vec_write = cv_vec_write + 1;
    end
end

// ---- the end ----
always @(posedge clk) begin
    if (!rst && (nrsp == NOPS || cyc > TIMEOUT)) begin
        repeat (20) @(posedge clk);
        if (nrsp != NOPS) $fwrite(fd, "E timeout: %%0d responses of %%0d\n", nrsp, NOPS);
        if (al_valid || mem_rd_valid || mem_wr_valid || ans_cnt != 0 || q_h != q_t) $fwrite(fd, "E busy after the last response\n");
        $fwrite(fd, "L %%0d\n", nlive);
        $fwrite(fd, "C block %%0d\nC collide %%0d\nC place %%0d\nC place_run %%0d\nC place_new %%0d\nC unlink %%0d\n", cv_block, cv_collide, cv_place, cv_place_run, cv_place_new, cv_unlink);
        $fwrite(fd, "C same %%0d\nC fit_found %%0d\nC new_bucket %%0d\nC nomem_held %%0d\nC memerr %%0d\nC ool_hit %%0d\nC inline_hit %%0d\nC exclude %%0d\n", cv_same, cv_fit_found, cv_newb, cv_nomem_held, cv_memerr, cv_ool_hit, cv_inline_hit, cv_excl);
        $fwrite(fd, "C vec_inline %%0d\nC vec_ool %%0d\nC vec_wait %%0d\nC vec_fault %%0d\nC vec_write %%0d\n", cv_vec_inline, cv_vec_ool, cv_vec_wait, cv_vec_fault, cv_vec_write);
        for (i = 0; i < WORDS; i = i + 1)
            if (mem[i] != 256'd0) $fwrite(fd, "M %%0d %%h\n", i, mem[i]);
        $fclose(fd);
        $finish;
    end
end
endmodule
`, z.K, z.KL, z.V, z.VL, z.BI, z.H, z.P, z.AW, z.F, z.E, nops, z.opBits(), words, z.NC, (heapEnd-cfg.HeapBase())/32,
		cfg.HeapBase(), heapEnd, tbTimeout, cfg.Memory.PointerUnit, strings.Join(classes, "\n"), strings.Join(retBucket, "\n"))
}

// runSim simulates the operations and returns what the testbench saw.
func runSim(t *testing.T, cfg config.Config, ops []op, args ...string) simOut {
	t.Helper()
	_, z := sizes(t, cfg)
	m, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if keep := os.Getenv("HTSIM_KEEP"); keep != "" {
		dir = filepath.Join(keep, t.Name())
		os.MkdirAll(dir, 0o755)
	}
	var opsHex, gapsHex bytes.Buffer
	for _, o := range ops {
		opsHex.WriteString(z.pack(o) + "\n")
		fmt.Fprintf(&gapsHex, "%04x\n", o.gap)
	}
	files := map[string][]byte{
		"tb.v": []byte(testbench(z, cfg, len(ops))), "ops.hex": opsHex.Bytes(), "gaps.hex": gapsHex.Bytes(),
	}
	srcs := []string{"tb.v"}
	for _, sub := range m.Submodules() { // kvd_vec, then kvd_ht
		rtl, err := verilog.Emit(sub, verilog.Header{Generator: "test", ConfigName: "sim", ConfigHash: "0"})
		if err != nil {
			t.Fatal(err)
		}
		files[sub.Name+".v"] = rtl
		srcs = append(srcs, sub.Name+".v")
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "iverilog", append([]string{"-g2005", "-o", "sim.vvp"}, srcs...)...)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("iverilog: %v\n%s", err, out)
	}
	run := exec.CommandContext(ctx, "vvp", append([]string{"-n", "sim.vvp"}, args...)...)
	run.Dir = dir
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("vvp: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := simOut{accept: map[int]int{}, respond: map[int]int{}, ctx: map[int]int{}, got: map[int]result{}, mem: map[int][]byte{}, live: -1, cover: map[string]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		num := func(i int) int {
			v, err := strconv.Atoi(fs[i])
			if err != nil {
				t.Fatalf("bad line %q", line)
			}
			return v
		}
		switch fs[0] {
		case "A":
			res.accept[num(2)] = num(1)
			res.ctx[num(2)] = num(3)
		case "W":
			res.writes = append(res.writes, write{cyc: num(1), word: num(2), ctx: num(3), data: leBytes(fs[4], 32)})
		case "R":
			tag := num(2)
			if _, dup := res.got[tag]; dup {
				res.errors = append(res.errors, fmt.Sprintf("tag %d answered twice", tag))
			}
			res.respond[tag] = num(1)
			res.got[tag] = result{status: num(3), value: leBytes(fs[5], z.V)[:min(num(4), z.V)]}
			if !allZero(leBytes(fs[5], z.V)[min(num(4), z.V):]) {
				res.errors = append(res.errors, fmt.Sprintf("tag %d: rsp_value bytes past rsp_vlen are not zero", tag))
			}
		case "M":
			res.mem[num(1)] = leBytes(fs[2], 32)
		case "L":
			res.live = num(1)
		case "C":
			res.cover[fs[1]] = num(2)
		case "E":
			res.errors = append(res.errors, line)
		}
	}
	return res
}

// leBytes decodes a hex number printed by $fwrite into n little-endian bytes.
func leBytes(h string, n int) []byte {
	v, ok := new(big.Int).SetString(h, 16)
	out := make([]byte, n)
	if !ok {
		for i := range out {
			out[i] = 0xee
		}
		return out
	}
	b := v.Bytes() // big-endian
	for i := 0; i < len(b) && i < n; i++ {
		out[i] = b[len(b)-1-i]
	}
	return out
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// oracle is the table's meaning: a map from key to value, with the length
// checks of engine.md §4.
type oracle struct {
	z      Sizes
	kv     map[string][]byte
	poison int
	// nomem: allocations of these classes fail; nomemBucket counts keys
	// per bucket (all out of line), so a new key in a full index bucket
	// needs a chained bucket.
	failClass map[int]bool
	perBucket map[int]int
}

func (o *oracle) class(n int) int {
	for i, c := range o.z.Classes {
		if 2+n <= c {
			return i
		}
	}
	return -1
}

func (o *oracle) apply(x op) result {
	z := o.z
	switch {
	case x.op == OpBad:
		return result{status: StBadOp}
	case x.klen == 0:
		return result{status: StEmptyKey}
	case x.klen > z.K:
		return result{status: StKeyTooLong}
	case (x.op == OpPut || x.op == OpUpdateV2V) && x.vlen > z.V:
		return result{status: StValueTooLong}
	case x.bucket == o.poison:
		return result{status: StMemError}
	}
	key := string(x.key[:x.klen])
	old, found := o.kv[key]
	switch x.op {
	case OpGet:
		if !found {
			return result{status: StNotFound}
		}
		return result{status: StOK, value: old}
	case OpDelete:
		if !found {
			return result{status: StNotFound}
		}
		delete(o.kv, key)
		o.perBucket[x.bucket]--
		return result{status: StOK}
	case OpUpdateS2V, OpUpdateV2V, OpReduce, OpFilter:
		if !found {
			return result{status: StNotFound}
		}
		v := vecOp(z, x, old)
		switch {
		case v.fault:
			return result{status: StLambdaFault}
		case x.op == OpUpdateS2V || x.op == OpUpdateV2V:
			o.kv[key] = v.newv
		}
		return result{status: StOK, value: v.resp}
	}
	if o.failClass != nil {
		if o.failClass[o.class(x.klen+x.vlen)] || (!found && o.perBucket[x.bucket] == z.S) {
			return result{status: StNoMemory}
		}
	}
	o.kv[key] = append([]byte(nil), x.value[:x.vlen]...)
	if !found {
		o.perBucket[x.bucket]++
	}
	return result{status: StOK}
}

func check(t *testing.T, z Sizes, ops []op, res simOut, poison int, failClass map[int]bool) {
	t.Helper()
	for _, e := range res.errors {
		t.Error(e)
	}
	o := &oracle{z: z, kv: map[string][]byte{}, poison: poison, failClass: failClass, perBucket: map[int]int{}}
	bad := 0
	printed := false
	for _, x := range ops {
		var old []byte
		if x.klen <= len(x.key) {
			old = o.kv[string(x.key[:x.klen])]
		}
		want := o.apply(x)
		if msg := checkWrites(z, res, x, want, old, o); msg != "" {
			t.Errorf("tag %d (op %d, key %q): %s", x.tag, x.op, x.key[:min(x.klen, len(x.key))], msg)
			bad++
		}
		got, ok := res.got[x.tag]
		if !ok {
			t.Errorf("tag %d (op %d): no response", x.tag, x.op)
			bad++
		} else if got.status != want.status || !bytes.Equal(got.value, want.value) {
			t.Errorf("tag %d (op %d, key %q, bucket %d): got status %d value %d B %x, want status %d value %d B %x",
				x.tag, x.op, x.key[:min(x.klen, len(x.key))], x.bucket, got.status, len(got.value), got.value, want.status, len(want.value), want.value)
			bad++
		}
		if bad == 1 && !printed && os.Getenv("HTSIM_KEEP") != "" {
			printed = true
			for _, y := range ops {
				if y.tag > x.tag {
					break
				}
				if y.klen == x.klen && bytes.Equal(y.key, x.key) {
					g := res.got[y.tag]
					t.Logf("  history tag %d op %d vlen %d: acc %d rsp %d got %d %d B", y.tag, y.op, y.vlen, res.accept[y.tag], res.respond[y.tag], g.status, len(g.value))
				}
			}
		}
		if bad > 10 {
			t.Fatal("too many mismatches")
		}
	}
}

type keyDef struct {
	key         []byte
	bucket, sec int
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Intn(255) + 1)
	}
	return b
}

// Random GET/PUT/DELETE on a few index buckets (long chains, secondary-hash
// collisions, inline and out-of-line values of every class, the refused
// requests, reads returning errors), then DELETE of every key: the index
// must end empty and every slab allocated must have been freed. Also for
// configurations of other widths.
func TestSmokeRandom(t *testing.T) {
	needIcarus(t)
	for _, tc := range []struct {
		name string
		cfg  config.Config
		seed int64
	}{
		{"sim", preset(t, "sim"), 1}, // a seed whose mix reaches every coverage point below
		{"sim_seed21", preset(t, "sim"), 21},
		{"c5", preset(t, "sim", "engine.contexts=5"), 3},
		{"k255", preset(t, "sim", "key.max_value_bytes=255", "key.max_key_bytes=255"), 4},
		{"pointer_unit64", preset(t, "sim", "slab.classes=[64,128,256,512]", "memory.pointer_unit=64"), 6},
		{"pointer_unit16", preset(t, "sim", "memory.pointer_unit=16"), 8},
		{"slots12x4", func() config.Config {
			c := preset(t, "sim")
			c.Bucket = config.BucketConfig{Slots: 12, SlotBytes: 4, PointerBits: 24, SecHashBits: 8, SlabTypeBits: 3, InlineThreshold: 40}
			return c
		}(), 5},
	} {
		t.Run(tc.name, func(t *testing.T) { smokeRandom(t, tc.cfg, tc.seed, tc.name == "sim") })
	}
}

func smokeRandom(t *testing.T, cfg config.Config, seed int64, cover bool) {
	_, z := sizes(t, cfg)
	usesPresetLambdas(t, cfg)
	r := rand.New(rand.NewSource(seed))
	const poison = 13
	var keys []keyDef
	buckets := []int{3, 7, 11, poison}
	seen := map[string]bool{}
	for len(keys) < 44 {
		kd := keyDef{key: randBytes(r, 1+r.Intn(z.K)), bucket: buckets[r.Intn(len(buckets))], sec: r.Intn(2)}
		if !seen[string(kd.key)] {
			seen[string(kd.key)] = true
			keys = append(keys, kd)
		}
	}
	vlen := func() int {
		switch r.Intn(4) {
		case 0:
			return r.Intn(6)
		case 1:
			return 6 + r.Intn(40)
		case 2:
			return 46 + r.Intn(100)
		}
		return r.Intn(z.V + 1)
	}
	var ops []op
	add := func(o op) {
		o.tag = len(ops)
		if o.key == nil {
			o.key = []byte{}
		}
		if o.value == nil {
			o.value = []byte{}
		}
		ops = append(ops, o)
	}
	for i := 0; i < 900; i++ {
		kd := keys[r.Intn(len(keys))]
		o := op{klen: len(kd.key), key: kd.key, bucket: kd.bucket, sec: kd.sec}
		o.fid = r.Intn(min(len(presetLambdas)+1, 1<<uint(z.F))) // the last one is no λ
		o.delta, o.cmp, o.swap = r.Uint64(), r.Uint64()&3, r.Uint64()
		if r.Intn(2) == 0 {
			o.delta = uint64(r.Intn(z.E + 8)) // shift amounts for set_bit
		}
		if r.Intn(4) == 0 {
			o.op = OpUpdateS2V + r.Intn(4)
			if o.op == OpUpdateV2V {
				o.vlen = min(vlen(), z.V)
				o.value = randBytes(r, o.vlen)
			} else {
				o.vlen = r.Intn(1 << z.VL) // ignored
			}
			add(o)
			continue
		}
		switch p := r.Intn(20); {
		case p < 9:
			o.op = OpPut
			o.vlen = min(vlen(), z.V)
			o.value = randBytes(r, o.vlen)
		case p < 15:
			o.op = OpGet
			o.vlen = r.Intn(1 << z.VL) // ignored
		case p < 19:
			o.op = OpDelete
		default:
			switch r.Intn(4) {
			case 0:
				o.op = OpBad
			case 1:
				o.op = r.Intn(8)
				o.klen = 0
			case 2:
				o.op = r.Intn(8)
				if room := (1 << z.KL) - z.K - 1; room > 0 {
					o.klen = z.K + 1 + r.Intn(room)
				} else {
					o.klen = 0
				}
			default:
				o.op = []int{OpPut, OpUpdateV2V}[r.Intn(2)]
				if room := (1 << z.VL) - z.V - 1; room > 0 {
					o.vlen = z.V + 1 + r.Intn(room)
				} else {
					o.op = OpBad
				}
			}
		}
		add(o)
	}
	for _, kd := range keys {
		add(op{op: OpDelete, klen: len(kd.key), key: kd.key, bucket: kd.bucket, sec: kd.sec})
	}
	res := runSim(t, cfg, ops, fmt.Sprintf("+poison=%d", poison))
	check(t, z, ops, res, poison, nil)
	if res.live != 0 {
		t.Errorf("%d slabs still allocated after every key was deleted", res.live)
	}
	for w, data := range res.mem {
		if w < 2<<uint(z.BI) {
			t.Errorf("index word %d (bucket %d) is not empty after every key was deleted: %x", w, w/2, data)
		}
	}
	for _, c := range []string{"block", "collide", "place", "place_run", "place_new", "unlink", "same", "new_bucket", "memerr", "ool_hit", "inline_hit", "exclude",
		"vec_inline", "vec_ool", "vec_wait", "vec_fault", "vec_write"} {
		if cover && res.cover[c] == 0 {
			t.Errorf("never exercised: %s (%v)", c, res.cover)
		}
	}
}

// The allocator refuses some classes: a PUT whose object cannot be
// allocated, and one whose chained bucket cannot (after its object was
// allocated, which must then be freed), answer NO_MEMORY and leave the
// table as it was.
func TestSmokeNoMemory(t *testing.T) {
	needIcarus(t)
	_, z := simConfig(t)
	r := rand.New(rand.NewSource(11))
	var keys []keyDef
	seen := map[string]bool{}
	for len(keys) < 26 {
		kd := keyDef{key: randBytes(r, 1+r.Intn(z.K)), bucket: 20 + r.Intn(2), sec: r.Intn(3)}
		if !seen[string(kd.key)] {
			seen[string(kd.key)] = true
			keys = append(keys, kd)
		}
	}
	var ops []op
	for i := 0; i < 400; i++ {
		kd := keys[r.Intn(len(keys))]
		o := op{tag: len(ops), klen: len(kd.key), key: kd.key, bucket: kd.bucket, sec: kd.sec, value: []byte{}}
		switch p := r.Intn(10); {
		case p < 6:
			o.op = OpPut
			// out of line always: classes 2, 3 and the failing 4
			u := 63 + r.Intn(448-63)
			o.vlen = max(0, min(z.V, u-o.klen))
			o.value = randBytes(r, o.vlen)
		case p < 8:
			o.op = OpGet
		default:
			o.op = OpDelete
		}
		ops = append(ops, o)
	}
	for _, kd := range keys {
		ops = append(ops, op{op: OpDelete, tag: len(ops), klen: len(kd.key), key: kd.key, bucket: kd.bucket, sec: kd.sec, value: []byte{}})
	}
	fail := map[int]bool{z.BC: true, 4: true}
	res := runSim(t, preset(t, "sim"), ops, fmt.Sprintf("+failmask=%d", 1<<uint(z.BC)|1<<4))
	check(t, z, ops, res, -1, fail)
	if res.live != 0 {
		t.Errorf("%d slabs still allocated after every key was deleted", res.live)
	}
}

// engine.md §10's timeline and hashtable.md §2.6's layout, in an
// environment that answers at once.
func TestSmokeTimingAndLayout(t *testing.T) {
	needIcarus(t)
	cfg, z := simConfig(t)
	const b = 0x20
	long := make([]byte, 60)
	for i := range long {
		long[i] = byte(0x80 + i)
	}
	ops := []op{
		{op: OpPut, klen: 2, key: []byte("id"), vlen: 2, value: []byte("42"), bucket: b, sec: 1},
		{op: OpPut, klen: 4, key: []byte("user"), vlen: 5, value: []byte("alice"), bucket: b, sec: 2, gap: 30},
		{op: OpPut, klen: 2, key: []byte("k3"), vlen: 60, value: long, bucket: b, sec: 0x1a5, gap: 30},
		{op: OpGet, klen: 2, key: []byte("id"), bucket: b, sec: 1, gap: 30},
		{op: OpGet, klen: 2, key: []byte("k3"), bucket: b, sec: 0x1a5, gap: 30},
	}
	for i := range ops {
		ops[i].tag = i
	}
	res := runSim(t, cfg, ops, "+fast")
	check(t, z, ops, res, -1, nil)
	for tag, want := range map[int]int{0: 9, 1: 9, 2: 14, 3: 6, 4: 11} {
		if got := res.respond[tag] - res.accept[tag]; got != want {
			t.Errorf("tag %d: response %d cycles after acceptance, want %d", tag, got, want)
		}
	}
	line := append(append([]byte(nil), res.mem[2*b]...), res.mem[2*b+1]...)
	if len(line) != 64 {
		t.Fatalf("bucket %d not written", b)
	}
	ptr := uint64(cfg.HeapBase() / 32) // the first slab of class 1
	slot3 := ptr | 0x1a5<<31
	want := []byte{0x69, 0x64, 0x34, 0x32, 0, 0x75, 0x73, 0x65, 0x72, 0x61, 0x6c, 0x69, 0x63, 0x65, 0,
		byte(slot3), byte(slot3 >> 8), byte(slot3 >> 16), byte(slot3 >> 24), byte(slot3 >> 32)}
	want = append(want, make([]byte, 64-len(want))...)
	want[50], want[51] = 0xbf, 0x03 // types 7, 7, 6, 1
	want[53], want[54], want[55] = 0x80, 0x42, 0x08
	if !bytes.Equal(line, want) {
		t.Errorf("bucket:\n got %x\nwant %x", line, want)
	}
	obj := append(append([]byte(nil), res.mem[int(ptr)]...), res.mem[int(ptr)+1]...)
	h := 60<<uint(z.KL) | 2
	wantObj := append([]byte{byte(h), byte(h >> 8), 'k', '3'}, long...)
	if !bytes.Equal(obj, wantObj) {
		t.Errorf("object:\n got %x\nwant %x", obj, wantObj)
	}
}

// Directed chains in a random environment: a key found in a chained bucket
// that has no room for its larger new copy moves to the run recorded in an
// earlier bucket (engine.md §6.4 "else the recorded fit"); a bucket that
// empties is unlinked; a place walk continues past the found bucket.
func TestSmokeDirectedChains(t *testing.T) {
	needIcarus(t)
	_, z := simConfig(t)
	const b = 40
	var ops []op
	val := func(n int, c byte) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = c + byte(i)
		}
		return v
	}
	kv := func(o int, name string, vlen int, c byte) {
		ops = append(ops, op{op: o, tag: len(ops), klen: len(name), key: []byte(name), vlen: vlen, value: val(vlen, c), bucket: b, sec: 5})
	}
	for i := 1; i <= 5; i++ {
		kv(OpPut, fmt.Sprintf("k%d", i), 8, byte(16*i)) // 2 slots each: the index bucket is full
	}
	kv(OpPut, "k6", 8, 0x60)  // a chained bucket, slots 0-1
	kv(OpPut, "k7", 38, 0x70) // its slots 2-9
	kv(OpDelete, "k1", 0, 0)
	kv(OpDelete, "k2", 0, 0)  // the index bucket has slots 0-3 free
	kv(OpPut, "k6", 13, 0x66) // 3 slots: not in its own bucket; moves to the index bucket
	kv(OpGet, "k6", 0, 0)
	kv(OpGet, "k7", 0, 0)
	kv(OpPut, "k8", 8, 0x80)  // the index bucket's slots 3-4
	kv(OpPut, "k9", 8, 0x90)  // a chained bucket again? no: slots after k6 in bucket 1
	kv(OpPut, "k3", 30, 0x33) // 7 slots: found in the index bucket, place walk to the end, a new bucket
	for _, n := range []string{"k3", "k4", "k5", "k6", "k7", "k8", "k9"} {
		kv(OpGet, n, 0, 0)
	}
	for _, n := range []string{"k7", "k9", "k3", "k4", "k5", "k6", "k8"} {
		kv(OpDelete, n, 0, 0)
	}
	kv(OpGet, "k5", 0, 0)
	res := runSim(t, preset(t, "sim"), ops)
	check(t, z, ops, res, -1, nil)
	if res.cover["fit_found"] == 0 || res.cover["unlink"] == 0 || res.cover["place"] == 0 || res.cover["new_bucket"] < 2 {
		t.Errorf("directed paths not taken: %v", res.cover)
	}
	if res.live != 0 {
		t.Errorf("%d slabs still allocated after every key was deleted", res.live)
	}
	for w, data := range res.mem {
		if w < 2<<uint(z.BI) {
			t.Errorf("index word %d is not empty after every key was deleted: %x", w, data)
		}
	}
}
