package synth

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/design"
)

func TestSmallBlocks(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	if _, err := design.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kvd_keyhash", "kvd_fifo_w72_d64"} {
		r, err := Block(context.Background(), dir, b, Options{Vendor: true, ICE40: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", r)
		if !r.OK() || r.LUTs == 0 || r.FFs == 0 || r.LUTLevels == 0 || (r.ICE40MHz == 0 && r.ICE40Note == "") {
			t.Errorf("%s: %+v", b, r)
		}
		if !strings.Contains(r.LUTPath, " -> ") || strings.Contains(r.LUTPath, "$abc$") {
			t.Errorf("%s: the longest path's ends are not named: %q", b, r.LUTPath)
		}
		// The key-hash unit is built to 3 levels a stage (docs/microarch.md
		// §2.3); the FIFO deeper than 32 must map to block RAM.
		if b == "kvd_keyhash" && r.LUTLevels > 6 {
			t.Errorf("kvd_keyhash: %d LUT levels, designed for at most 6", r.LUTLevels)
		}
		if b == "kvd_fifo_w72_d64" {
			if r.BRAMs == 0 || r.Intel == nil || r.Intel.M10Ks == 0 {
				t.Errorf("kvd_fifo_w72_d64: no block RAM inferred: %+v", r)
			}
			if len(r.Memories) != 1 || r.Memories[0] != (Memory{Name: "mem", Depth: 64, Width: 72, Want: "block", Got: "block"}) {
				t.Errorf("kvd_fifo_w72_d64 memories: %+v", r.Memories)
			}
			// The manifest records the gate: it must not change run to run.
			again, err := Block(context.Background(), dir, b, Options{Vendor: true, ICE40: true})
			if err != nil {
				t.Fatal(err)
			}
			r.Seconds, again.Seconds = 0, 0
			if diff := cmp.Diff(r, again); diff != "" {
				t.Errorf("two runs of the gate differ (-first +second):\n%s", diff)
			}
		}
	}
}

// A memory the generator meant for block RAM that cannot be one fails the
// gate, naming it; a deep memory left in flip-flops is a goal missed.
func TestGateChecksMemories(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mems.v"), []byte(`module mems(input wire clk, input wire we, input wire [6:0] a, input wire [15:0] d, output wire [15:0] q, output wire [15:0] q2);
(* ram_style = "distributed" *) reg [15:0] lut [0:127];
(* ram_style = "registers" *) reg [15:0] ffs [0:127];
always @(posedge clk) begin
  if (we) lut[a] <= d;
  if (we) ffs[a] <= d;
end
assign q = lut[a];
assign q2 = ffs[~a];
endmodule
`), 0o644)
	r, err := Block(context.Background(), dir, "mems", Options{Vendor: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Memory{{Name: "ffs", Depth: 128, Width: 16, Want: "registers", Got: "registers"}, {Name: "lut", Depth: 128, Width: 16, Want: "distributed", Got: "lutram"}}
	if diff := cmp.Diff(want, r.Memories); diff != "" {
		t.Errorf("memories (-want +got):\n%s", diff)
	}
	if !r.OK() || len(r.Goals) != 2 {
		t.Errorf("want no problem and two deep memories outside block RAM: %+v", r)
	}
	// Asking for block RAM with an asynchronous read cannot be met.
	os.WriteFile(filepath.Join(dir, "bad.v"), []byte(`module bad(input wire clk, input wire we, input wire [9:0] a, input wire [15:0] d, output wire [15:0] q);
(* ram_style = "block" *) reg [15:0] m [0:1023];
always @(posedge clk) if (we) m[a] <= d;
assign q = m[a];
endmodule
`), 0o644)
	r, err = Block(context.Background(), dir, "bad", Options{Vendor: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(strings.Join(r.Problems, ";"), "memory m cannot be mapped") {
		t.Fatalf("an asynchronous memory meant for block RAM passed: %+v", r)
	}
}

// A latch and a combinational loop must fail the gate with the block's name.
func TestGateCatchesLatchAndLoop(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "latchy.v"), []byte(
		"module latchy(input wire en, input wire d, output reg q);\n  always @* if (en) q = d;\nendmodule\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "loopy.v"), []byte(
		"module loopy(input wire a, output wire y);\n  wire b, c;\n  assign b = a ^ c;\n  assign c = ~b;\n  assign y = c;\nendmodule\n"), 0o644)
	for _, b := range []string{"latchy", "loopy"} {
		r, err := Block(context.Background(), dir, b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() {
			t.Errorf("%s passed the gate: %+v", b, r)
		}
		if !strings.Contains(Table([]Result{r}, 6), b) {
			t.Errorf("the table does not name %s", b)
		}
		t.Logf("%s: %v", b, r.Problems)
	}
}

// The gate covers the blocks with as few runs as it can, longest first: a
// block inside another chosen block is not synthesised again.
func TestRootsCoverBlocksOnce(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	if _, err := design.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	tr, err := readTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.roots(tr.modules); !cmp.Equal(got, []string{"kvd_top", "kvd_atomic", "kvd_fifo_w72_d64", "kvd_fifo_w64_d16"}) &&
		!cmp.Equal(got, []string{"kvd_top", "kvd_atomic", "kvd_fifo_w64_d16", "kvd_fifo_w72_d64"}) {
		t.Errorf("roots of the whole tree: %v", got)
	}
	if got := tr.roots([]string{"kvd_fifo_w86_d256", "kvd_keyhash", "kvd_rs"}); !cmp.Equal(got, []string{"kvd_rs", "kvd_keyhash"}) {
		t.Errorf("roots of rs, its queue and the key hash: %v", got)
	}
	if tr.children["kvd_rs"]["kvd_fifo_w86_d256"] != 1 || tr.children["kvd_top"]["kvd_rs"] != 1 || len(tr.children["kvd_keyhash"]) != 0 {
		t.Errorf("instances: %v", tr.children)
	}
}

// The depth report names the ends of the longest path (ABC's inner nodes
// carry no names an engineer could look up) and tells modules apart.
func TestParseLTP(t *testing.T) {
	report := `
4. Executing LTP pass (find longest path).

Longest topological path in kvd_slab (length=3):
    0: \req_class [2]
    1: $abc$1$new_n6_ (via $abc$1$auto$blifparse.cc:525:parse_blif$7)
    2: $abc$1$new_n5_ (via $abc$1$auto$blifparse.cc:525:parse_blif$8)
    3: $abc$1$c0_hi_next[11] (via $abc$1$auto$blifparse.cc:525:parse_blif$9)
   ff: \c0_hi_reg [11] (via $auto$ff.cc:266:slice$10)

Longest topological path in kvd_out (length=1):
    0: \a_reg
    1: \out_port [0] (via $abc$2$x)
`
	got := parseLTP(report)
	want := map[string]longestPath{
		"kvd_slab": {levels: 3, path: "req_class[2] -> c0_hi_reg[11]"},
		"kvd_out":  {levels: 1, path: "a_reg -> out_port[0]"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(longestPath{})); diff != "" {
		t.Errorf("parseLTP (-want +got):\n%s", diff)
	}
}

// A tool stopped by its timeout takes its children with it (Yosys runs ABC
// as a child, which outlived a killed Yosys).
func TestKillGroupTakesChildren(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "sh", "-c", "sleep 30 & echo $!; wait")
	cmd.Stdout = &out
	killGroup(cmd)
	start := time.Now()
	cmd.Run()
	if time.Since(start) > 15*time.Second {
		t.Fatal("the timed-out command was not stopped")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("child pid: %q", out.String())
	}
	for i := 0; ; i++ {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return
		}
		if i == 50 {
			t.Fatalf("the child %d outlived its timed-out parent", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A mapping that does not finish fails the blocks it covers, naming the
// mapping, instead of losing the whole table.
func TestGateKeepsTheTableWhenARunFails(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	if _, err := design.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	rows, err := Gate(context.Background(), dir, []string{"kvd_keyhash"}, Options{Timeout: time.Nanosecond}, 1, nil)
	if err != nil {
		t.Fatalf("a timed-out run made the gate return an error instead of a failed row: %v", err)
	}
	if len(rows) != 1 || rows[0].OK() || !strings.Contains(strings.Join(rows[0].Problems, "; "), "generic mapping (Yosys on kvd_keyhash) did not complete") {
		t.Fatalf("rows: %+v", rows)
	}
}

// The progress line names the pass Yosys is in even when that pass has
// logged more than one read window since its header (techmap after ABC on
// the paper preset logs megabytes of "Using template" lines).
func TestLastPassFindsAHeaderFarBack(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	filler := strings.Repeat("Using template $paramod$1621a3925ebc9a3e6ac5a340c9cbc5f3e45cd8de\\$lut for cells of type $lut.\n", 30000)
	for _, tc := range []struct {
		name, log, want string
	}{
		{"near", "21.43. Executing XILINX_SRL pass (x).\n21.44. Executing TECHMAP pass (map).\nUsing template\n", "TECHMAP"},
		{"far", "21.43. Executing XILINX_SRL pass (x).\n21.44. Executing TECHMAP pass (map).\n" + filler, "TECHMAP"},
		// the header straddles the edge of the last window
		{"edge", "21.44. Executing TECHMAP pass (map).\n" + strings.Repeat("x", 256<<10-20) + "\n21.45. Executing OPT_CLEAN pass (y).\n" + strings.Repeat("y", 256<<10-20) + "\n", "OPT_CLEAN"},
		{"none", "Reading the design\n" + filler, "reading the design"},
	} {
		if got := lastPass(write(tc.name, tc.log)); got != tc.want {
			t.Errorf("%s: lastPass = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := lastPass(filepath.Join(dir, "missing")); got != "not started" {
		t.Errorf("missing log: %q", got)
	}
}

// Each Yosys run is kept as soon as it finishes, so a gate stopped in one
// mapping keeps the others: a run is taken from the cache only when its
// script, RTL bytes and Yosys are the same, a run that did not finish is
// not kept, and a cached run gives the row a fresh run gives.
func TestRunCacheKeepsEachFinishedRun(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	if _, err := design.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	gate := func(o Options) (Result, []string) {
		t.Helper()
		var hits []string
		rows, err := Gate(context.Background(), dir, []string{"kvd_keyhash"}, o, 1, func(s string) {
			if strings.Contains(s, "(cached: ") {
				hits = append(hits, strings.Fields(s)[0])
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		rows[0].Seconds = 0
		return rows[0], hits
	}
	if _, hits := gate(Options{Cache: cacheDir, Timeout: time.Nanosecond}); len(hits) != 0 {
		t.Fatalf("hits from an empty cache: %v", hits)
	}
	if entries, _ := os.ReadDir(cacheDir); len(entries) != 0 {
		t.Fatalf("a run that timed out was kept: %v", entries)
	}
	// The generic run finishes and is kept; the vendor runs then find it.
	generic, hits := gate(Options{Cache: cacheDir})
	if len(hits) != 0 {
		t.Fatalf("hits from an empty cache: %v", hits)
	}
	vendor, hits := gate(Options{Cache: cacheDir, Vendor: true})
	if diff := cmp.Diff([]string{"generic"}, hits); diff != "" {
		t.Errorf("runs taken from the cache (-want +got):\n%s", diff)
	}
	if vendor.LUTLevels != generic.LUTLevels || vendor.LUTPath != generic.LUTPath || !vendor.OK() {
		t.Errorf("the cached generic run gave %+v, the fresh one %+v", vendor, generic)
	}
	// The vendor runs above were fresh: taken from the cache they give the
	// same row.
	again, hits := gate(Options{Cache: cacheDir, Vendor: true})
	if diff := cmp.Diff([]string{"generic", "intel", "xilinx"}, sorted(hits)); diff != "" {
		t.Errorf("runs taken from the cache (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(vendor, again); diff != "" {
		t.Errorf("the cached runs' row differs from the fresh runs' (-fresh +cached):\n%s", diff)
	}
	// One more byte in any file of the tree is another run.
	path := filepath.Join(dir, "kvd_fifo_w72_d64.v")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, "// one more byte\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, hits := gate(Options{Cache: cacheDir}); len(hits) != 0 {
		t.Errorf("a changed tree was taken from the cache: %v", hits)
	}
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

// The digest is of the .v files' names and bytes: a changed byte or name
// changes it, other files and the order of writing do not.
func TestDigest(t *testing.T) {
	write := func(dir string, files ...string) {
		for i := 0; i < len(files); i += 2 {
			if err := os.WriteFile(filepath.Join(dir, files[i]), []byte(files[i+1]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	digest := func(dir string) string {
		d, err := Digest(dir)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b, c, d := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	write(a, "x.v", "module x; endmodule\n", "y.v", "module y; endmodule\n")
	write(b, "y.v", "module y; endmodule\n", "x.v", "module x; endmodule\n", "kvd.f", "x.v\ny.v\n")
	write(c, "x.v", "module x; endmodule \n", "y.v", "module y; endmodule\n")
	write(d, "x.v", "module x; endmodule\n", "z.v", "module y; endmodule\n")
	if digest(a) != digest(b) {
		t.Errorf("same .v files, digests %s and %s", digest(a), digest(b))
	}
	if digest(a) == digest(c) || digest(a) == digest(d) {
		t.Errorf("a changed byte or name kept the digest %s", digest(a))
	}
	if _, err := Digest(t.TempDir()); err == nil {
		t.Error("an empty tree has a digest")
	}
}

// Intel's mapping runs module by module (the whole paper processor does
// not fit in memory as one run); a block's figures are then the sum over
// its module and those under it, which must be what one hierarchical run
// of synth_intel_alm counts.
func TestIntelPerModuleSumsToOneRun(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"cnt.v": "module cnt(input wire clk, input wire en, output reg [7:0] q);\n" +
			"  always @(posedge clk) if (en) q <= q + 8'd1;\nendmodule\n",
		"mix.v": "module mix(input wire clk, input wire [7:0] a, input wire [7:0] b, output reg [7:0] y);\n" +
			"  always @(posedge clk) y <= (a ^ {b[3:0], b[7:4]}) + (a & b);\nendmodule\n",
		"tiny_top.v": "module tiny_top(input wire clk, input wire en, input wire [7:0] b, output reg [7:0] y);\n" +
			"  wire [7:0] q, m;\n" +
			"  cnt u_cnt (.clk(clk), .en(en), .q(q));\n" +
			"  mix u_mix (.clk(clk), .a(q), .b(b), .y(m));\n" +
			"  always @(posedge clk) y <= m | q;\nendmodule\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var runs []string
	rows, err := Gate(context.Background(), dir, []string{"tiny_top", "mix"}, Options{Vendor: true}, 2, func(s string) {
		if f := strings.Fields(s); len(f) > 1 && f[0] == "intel" {
			runs = append(runs, f[1])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cnt", "mix", "tiny_top"}, sorted(runs)); diff != "" {
		t.Errorf("Intel runs (-want +got):\n%s", diff)
	}
	top, mix := rows[0], rows[1]
	if top.Intel == nil || mix.Intel == nil || !top.OK() {
		t.Fatalf("rows: %+v", rows)
	}
	// One hierarchical run of the whole tree, counted the same way.
	tr, err := readTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	stat := filepath.Join(work, "stat.txt")
	if _, err := yosysScript(context.Background(), time.Minute, work, []string{"read_verilog -noautowire " + quote(tr.files),
		"synth_intel_alm -top tiny_top -noflatten -noiopad -noclkbuf", "tee -q -o " + stat + " stat"}); err != nil {
		t.Fatal(err)
	}
	whole := Result{Block: "tiny_top"}
	fillIntel(&whole, tr, &perModule{cells: parseStat(stat)})
	if diff := cmp.Diff(whole.Intel, top.Intel); diff != "" {
		t.Errorf("per-module Intel figures differ from one run's (-one run +per module):\n%s", diff)
	}
	if !(mix.Intel.ALUTs > 0 && top.Intel.ALUTs > mix.Intel.ALUTs && top.Intel.FFs >= 24) {
		t.Errorf("tiny_top %+v, mix %+v", top.Intel, mix.Intel)
	}
}

// Only runs the named mappings and reports only theirs.
func TestOnlyRunsTheNamedMappings(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	if _, err := design.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	rows, err := Gate(context.Background(), dir, []string{"kvd_keyhash"}, Options{Only: []string{"intel"}}, 1, func(s string) {
		kinds = append(kinds, strings.Fields(s)[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if diff := cmp.Diff([]string{"intel"}, kinds); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	if r.Intel == nil || r.Intel.ALUTs == 0 || r.Mapping != "" || r.LUTs != 0 || r.LUTLevels != 0 || !r.OK() {
		t.Errorf("row: %+v", r)
	}
	if _, err := Gate(context.Background(), dir, []string{"kvd_keyhash"}, Options{Only: []string{"altera"}}, 1, nil); err == nil || !strings.Contains(err.Error(), `"altera"`) {
		t.Errorf("an unknown mapping: %v", err)
	}
}

// --record-runs writes the runs a gate used; a machine with an empty cache
// takes them from the records (synth/runs) and gives the same row, and
// says so; a changed byte of the tree misses them.
func TestRecordedRunsStandInForTheCache(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	if _, err := design.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	records := t.TempDir()
	gate := func(o Options) (Result, []string) {
		t.Helper()
		var notes []string
		rows, err := Gate(context.Background(), dir, []string{"kvd_keyhash"}, o, 1, func(s string) { notes = append(notes, s) })
		if err != nil {
			t.Fatal(err)
		}
		rows[0].Seconds = 0
		return rows[0], notes
	}
	fresh, _ := gate(Options{Cache: t.TempDir(), Vendor: true, Record: records})
	files, _ := filepath.Glob(filepath.Join(records, "*.json"))
	if len(files) != 3 { // generic, xilinx, intel
		t.Fatalf("records %v, want the three runs", files)
	}
	saved := recorded
	defer func() { recorded = saved }()
	recorded = os.DirFS(records)
	again, notes := gate(Options{Cache: t.TempDir(), Vendor: true})
	if diff := cmp.Diff(fresh, again); diff != "" {
		t.Errorf("the recorded runs' row differs (-fresh +recorded):\n%s", diff)
	}
	if n := strings.Count(strings.Join(notes, "\n"), "recorded in synth/runs"); n != 3 {
		t.Errorf("%d runs said they were recorded: %q", n, notes)
	}
	if _, notes := gate(Options{Vendor: true}); strings.Contains(strings.Join(notes, "\n"), "recorded") {
		t.Errorf("with no cache (--no-gate-cache) a record was taken: %q", notes)
	}
	path := filepath.Join(dir, "kvd_keyhash.v")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, "// one more byte\n"...), 0o644)
	if _, notes := gate(Options{Cache: t.TempDir(), Vendor: true}); strings.Contains(strings.Join(notes, "\n"), "recorded") {
		t.Errorf("a changed tree took a record: %q", notes)
	}
}

// A run is keyed by the files its script reads, with the generator's
// banner left out: turning on an option that changes one module (here
// rs.idle_cache, which changes kvd_rs only) must leave the key of every run
// that does not read kvd_rs as it was, and change the key of every run
// that does. The old key (every file's every byte) changed for all of them.
func TestRunKeysCountOnlyWhatARunReads(t *testing.T) {
	write := func(set ...string) *tree {
		c, _ := config.Preset("sim")
		for _, kv := range set {
			if err := c.Set(kv); err != nil {
				t.Fatal(err)
			}
		}
		dir := t.TempDir()
		if _, err := design.Write(c, dir); err != nil {
			t.Fatal(err)
		}
		tr, err := readTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	before, after := write(), write("rs.idle_cache=true")
	intelScript := func(tr *tree, m string) []string {
		s := []string{"read_verilog -noautowire " + quote([]string{tr.file(m)})}
		var kids []string
		for c := range tr.children[m] {
			kids = append(kids, tr.file(c))
		}
		sort.Strings(kids)
		if len(kids) > 0 {
			s = append(s, "read_verilog -lib "+quote(kids))
		}
		return append(s, "synth_intel_alm -top "+m)
	}
	readsRS := 0
	for _, m := range before.modules {
		reads := m == "kvd_rs" || before.children[m]["kvd_rs"] > 0
		kb, ka := before.runKey("/w", intelScript(before, m), ""), after.runKey("/w", intelScript(after, m), "")
		if reads != (kb != ka) {
			t.Errorf("%s (reads kvd_rs: %v): key changed %v", m, reads, kb != ka)
		}
		if reads {
			readsRS++
		}
		if before.legacyKey("/w", intelScript(before, m), "") == after.legacyKey("/w", intelScript(after, m), "") {
			t.Errorf("%s: the old key did not see the configuration change", m)
		}
	}
	if readsRS < 2 || readsRS == len(before.modules) {
		t.Fatalf("%d of %d modules read kvd_rs: the test does not separate the two cases", readsRS, len(before.modules))
	}
	whole := func(tr *tree) []string {
		return []string{"read_verilog -noautowire " + quote(tr.files), "synth -top kvd_top"}
	}
	if before.runKey("/w", whole(before), "") == after.runKey("/w", whole(after), "") {
		t.Error("a run that reads every file kept its key")
	}

	// A changed banner alone (another configuration's name and hash) keeps
	// the key; one byte more after it does not.
	f := before.file("kvd_keyhash")
	b, _ := os.ReadFile(f)
	s := intelScript(before, "kvd_keyhash")
	k0 := before.runKey("/w", s, "")
	nl := bytes.IndexByte(b, '\n')
	for _, tc := range []struct {
		text []byte
		same bool
	}{
		{append([]byte(`// Generated by kvd 9.9.9 from configuration "other" (hash 0123456789abcdef).`), b[nl:]...), true},
		{append([]byte(`// Generated by kvd 9.9.9 from configuration "other" (hash 0123456789abcdef). x`), b[nl:]...), false},
		{append(append([]byte{}, b...), "// one more line\n"...), false},
	} {
		if err := os.WriteFile(f, tc.text, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := readTree(before.dir)
		if err != nil {
			t.Fatal(err)
		}
		if same := tr.runKey("/w", s, "") == k0; same != tc.same {
			t.Errorf("first line %q: key unchanged %v, want %v", tc.text[:bytes.IndexByte(tc.text, '\n')], same, tc.same)
		}
	}
}

// A run cached or recorded under the key of an older kvd is found, and
// kept again under the new key.
func TestRunsUnderTheOldKeyAreFound(t *testing.T) {
	o := Options{Cache: t.TempDir()}
	if err := o.store("old", runRecord{Kept: "k", Seconds: 7}); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.load("new"); ok {
		t.Fatal("found under a key it was not stored under")
	}
	r, ok := o.load("new", "old")
	if !ok || r.Kept != "k" || r.Seconds != 7 {
		t.Fatalf("load(new, old) = %+v, %v", r, ok)
	}
	if _, ok := (Options{}).load("new", "old"); ok {
		t.Error("found with the cache off")
	}
}

// A block whose memories meant for block RAM outgrow an HX8K's 128 Kb is
// not placed, whatever its LUTs: synth_ice40 would build them from logic
// cells for hours. One that fits is placed.
func TestICE40SkipsBlocksPastItsBlockRAM(t *testing.T) {
	dir := t.TempDir()
	for name, depth := range map[string]int{"bigram": 4096, "smallram": 256} {
		os.WriteFile(filepath.Join(dir, name+".v"), []byte(fmt.Sprintf(`module %s(input wire clk, input wire we, input wire [11:0] a, input wire [63:0] d, output reg [63:0] q);
(* ram_style = "block" *) reg [63:0] m [0:%d];
always @(posedge clk) begin
  if (we) m[a] <= d;
  q <= m[a];
end
endmodule
`, name, depth-1)), 0o644)
	}
	for name, placed := range map[string]bool{"bigram": false, "smallram": true} {
		r, err := Block(context.Background(), dir, name, Options{Vendor: true, ICE40: true, Only: []string{"generic", "xilinx"}})
		if err != nil {
			t.Fatal(err)
		}
		skipped := strings.Contains(r.ICE40Note, "bits of block RAM, an HX8K has 131072")
		if skipped == placed || (placed && r.ICE40MHz == 0) {
			t.Errorf("%s: placed %v, fmax %.1f, note %q; want placed %v", name, !skipped, r.ICE40MHz, r.ICE40Note, placed)
		}
		t.Logf("%s: %d bits of block RAM: %.1f MHz %s", name, blockRAMBits(r), r.ICE40MHz, r.ICE40Note)
	}
}

// Yosys's Intel flow builds a true dual-port block RAM from logic, for
// hours; such a module is not mapped and its block says why, and a block
// containing it counts the modules that were mapped and names the one it
// left out.
func TestIntelSkipsTrueDualPortBlockRAM(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tdp.v"), []byte(`module tdp(input wire clk, input wire wa, input wire wb, input wire [9:0] aa, input wire [9:0] ab, input wire [15:0] d, output reg [15:0] qa, output reg [15:0] qb);
(* ram_style = "block" *)
reg [15:0] m [0:1023];
always @(posedge clk) begin
  if (wa) m[aa] <= d;
  qa <= m[aa];
end
always @(posedge clk) begin
  if (wb) m[ab] <= d;
  qb <= m[ab];
end
endmodule
`), 0o644)
	os.WriteFile(filepath.Join(dir, "sdp.v"), []byte(`module sdp(input wire clk, input wire we, input wire [9:0] wa, input wire [9:0] ra, input wire [15:0] d, output reg [15:0] q);
(* ram_style = "block" *)
reg [15:0] m [0:1023];
always @(posedge clk) begin
  if (we) m[wa] <= d;
  q <= m[ra];
end
endmodule
`), 0o644)
	os.WriteFile(filepath.Join(dir, "both.v"), []byte(`module both(input wire clk, input wire w, input wire [9:0] a, input wire [15:0] d, output wire [15:0] q1, output wire [15:0] q2, output wire [15:0] q3);
tdp u_t (.clk(clk), .wa(w), .wb(~w), .aa(a), .ab(~a), .d(d), .qa(q1), .qb(q2));
sdp u_s (.clk(clk), .we(w), .wa(a), .ra(~a), .d(d), .q(q3));
endmodule
`), 0o644)
	rows, err := Gate(context.Background(), dir, []string{"both", "sdp", "tdp"}, Options{Vendor: true, Only: []string{"intel"}}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		skipped := strings.Contains(r.IntelNote, "tdp has true dual-port block RAM (m)")
		if want := r.Block != "sdp"; skipped != want || (r.Intel == nil) != (r.Block == "tdp") {
			t.Errorf("%s: note %q, figures %+v; want skipped %v", r.Block, r.IntelNote, r.Intel, want)
		}
		if !strings.Contains(Table([]Result{r}, 6), "| "+r.Block+" |") {
			t.Errorf("%s missing from its table", r.Block)
		}
	}
	if rows[1].Intel == nil || rows[1].Intel.M10Ks == 0 {
		t.Errorf("sdp: %+v, want its memory in M10K", rows[1].Intel)
	}
	// The container counts what was mapped, sdp's, and says what it left out.
	// (both's own inverters add ALUTs; tdp's memory, 16 Kb, would add M10Ks.)
	if rows[0].Intel == nil || rows[0].Intel.M10Ks != rows[1].Intel.M10Ks || rows[0].Intel.ALUTs < rows[1].Intel.ALUTs ||
		!strings.HasPrefix(rows[0].IntelNote, "without tdp: ") {
		t.Errorf("both: %+v, note %q; want sdp's figures %+v without tdp", rows[0].Intel, rows[0].IntelNote, rows[1].Intel)
	}
}

// On the committed paper RTL only kvd_slab's stacks are true dual-port
// block RAM; the station's two-writer queues are registers.
func TestTrueDualPortOnThePaperRTL(t *testing.T) {
	tr, err := readTree("../rtl/paper")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range tr.modules {
		got := tr.tdp[m]
		if m == "kvd_slab" {
			if len(got) != 8 || got[0] != "stack_bank0" {
				t.Errorf("kvd_slab: %v, want its 8 stack banks", got)
			}
		} else if len(got) > 0 {
			t.Errorf("%s: %v", m, got)
		}
	}
}
