package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/synth"
	"github.com/kvdirect/kvd/testbenches/regress"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Run(args, &o, &e)
	return code, o.String(), e.String()
}

// Bad input is one clear line on stderr and a non-zero exit.
func TestBadInputIsOneLine(t *testing.T) {
	cases := [][]string{
		{"rtl", "--config", "no-such-file"},
		{"rtl", "--config", "./missing.json"},
		{"rtl", "--config", "unknownpreset"},
		{"rtl", "--set", "rs.slots=3"},
		{"rtl", "--set", "garbage"},
		{"lint", "/no/such/dir"},
		{"frobnicate"},
	}
	for _, args := range cases {
		code, _, stderr := run(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "kvd: ") {
			t.Errorf("kvd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("kvd %s: stack trace", strings.Join(args, " "))
		}
	}
}

func TestRTLThenLint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errs := run(t, "rtl", "--config", "sim", "--out", dir)
	if code != 0 {
		t.Fatalf("rtl: %d %s", code, errs)
	}
	if !strings.Contains(out, "wrote") {
		t.Fatalf("rtl said %q", out)
	}
	// The whole tree's lint is hdlgen/design's test; this one checks the
	// command on two of its modules (minutes fewer in make test).
	small := t.TempDir()
	for _, f := range []string{"kvd_keyhash.v", "kvd_fifo_w64_d16.v"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(small, f), b, 0o644)
	}
	code, out, errs = run(t, "lint", small)
	if code != 0 || strings.Count(out, "0 warnings") != 3 {
		t.Fatalf("lint: %d\n%s\n%s", code, out, errs)
	}
	// Break a file: lint must now fail and say which tool complained.
	path := filepath.Join(small, "kvd_keyhash.v")
	src, _ := os.ReadFile(path)
	broken := strings.Replace(string(src), "assign out_valid = s3_valid_reg;", "assign out_valid = s3_tag_reg;", 1)
	if broken == string(src) {
		t.Fatal("the line to break is not in kvd_keyhash.v any more")
	}
	os.WriteFile(path, []byte(broken), 0o644)
	code, out, _ = run(t, "lint", small)
	if code == 0 || !strings.Contains(out, "verilator:") || strings.Count(out, "0 warnings") == 3 {
		t.Fatalf("lint passed a width error: %s", out)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Example == "" {
			t.Errorf("kvd %s has no example in --help", c.Name())
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.Contains(out, "kvd ") || !strings.Contains(out, "Verilator 5") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestSimJSON(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "sim", "keyhash", "--cycles", "200000", "--seed", "3", "--json", "--run-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"scenario", "seed", "cycles", "divergences", "cycles_per_sec", "model_cached", "config_hash", "verilator", "replay"} {
		if _, ok := got[k]; !ok {
			t.Errorf("--json lacks %q", k)
		}
	}
	if got["cycles"].(float64) != 200000 || got["divergences"].(float64) != 0 || got["seed"].(float64) != 3 {
		t.Errorf("got %v", got)
	}
}

func TestSimDivergenceExitsNonZeroWithReplayAndDiff(t *testing.T) {
	dir := t.TempDir()
	rtl := filepath.Join(dir, "rtl")
	if code, _, errs := run(t, "rtl", "--out", rtl); code != 0 {
		t.Fatal(errs)
	}
	path := filepath.Join(rtl, "kvd_fifo_w72_d64.v")
	src, _ := os.ReadFile(path)
	const from = "rd_ptr_next = rd_ptr_reg + 7'd1;"
	if !strings.Contains(string(src), from) {
		t.Fatalf("%s has no %q", path, from)
	}
	os.WriteFile(path, []byte(strings.Replace(string(src), from, "rd_ptr_next = rd_ptr_reg + 7'd2;", 1)), 0o644)
	runDir := filepath.Join(dir, "run")
	code, out, errs := run(t, "sim", "fifo_w72_d64", "--rtl", rtl, "--run-dir", runDir, "--cycles", "100000")
	if code == 0 {
		t.Fatalf("a broken FIFO passed:\n%s", out)
	}
	for _, want := range []string{"DIVERGENCE at cycle", "replay:     kvd sim fifo_w72_d64 --config sim", "--rtl " + rtl, "waveform:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "kvd sim: divergence at cycle") {
		t.Errorf("stderr: %q", errs)
	}
	code, out, errs = run(t, "diff", runDir)
	if code != 0 || !strings.Contains(out, "expected (golden)") || !strings.Contains(out, "≠") {
		t.Fatalf("diff: %d %s %s", code, out, errs)
	}
	code, _, errs = run(t, "diff", runDir, "--from", "5000000", "--to", "5000001")
	if code == 0 || !strings.Contains(errs, "outside the recorded window") {
		t.Errorf("diff outside the window: %d %q", code, errs)
	}
}

func TestSimBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "nosuch"},
		{"sim"},
		{"sim", "keyhash", "--trace-window", "9:3"},
		{"diff", "/no/such/run"},
	} {
		code, _, stderr := run(t, args...)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("kvd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestBenchBridgeJSON(t *testing.T) {
	code, out, errs := run(t, "bench", "bridge", "--json", "--cycles", "100000", "--repeats", "1", "--scenario", "fifo_w64_d16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Bench      string           `json:"bench"`
		ConfigHash string           `json:"config_hash"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Bench != "bridge" || got.ConfigHash == "" || len(got.Rows) != 1 {
		t.Fatalf("got %+v", got)
	}
	for _, k := range []string{"native_cycles_per_sec", "cosim_cycles_per_sec", "ratio"} {
		if v, ok := got.Rows[0][k].(float64); !ok || v <= 0 {
			t.Errorf("row %s = %v", k, got.Rows[0][k])
		}
	}
}

func TestSynthJSONAndBadBlock(t *testing.T) {
	t.Setenv("KVD_CACHE_DIR", t.TempDir()) // Yosys runs: no table from an earlier test run
	code, out, errs := run(t, "synth", "--block", "kvd_fifo_w64_d16", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		ConfigHash string           `json:"config_hash"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Rows) != 1 || got.ConfigHash == "" {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"block", "luts", "ffs", "brams", "dsps", "lut_levels"} {
		if _, ok := got.Rows[0][k]; !ok {
			t.Errorf("row lacks %q", k)
		}
	}
	code, _, errs = run(t, "synth", "--block", "kvd_nope")
	if code == 0 || !strings.Contains(errs, `no block "kvd_nope"`) {
		t.Errorf("unknown block: %d %q", code, errs)
	}
}

// make handoff twice gives identical bytes: the CLI end to end, with the
// regression on the bundle's RTL (the gate is covered by package synth).
func TestHandoffTwiceIsIdentical(t *testing.T) {
	// The sim catalogue's every entry is testbenches/regress's test; here
	// the key-hash and FIFO entries stand for it (the manifest records
	// which ran), so that two handoffs cost minutes, not a quarter hour.
	const match = `^(directed/)?(keyhash|fifo_w64_d16)`
	all, err := regress.Catalogue(regress.Quick)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, e := range regress.Select(all, regexp.MustCompile(match), 1, 1) {
		if e.Config == "sim" && e.Kind != "file" {
			want++
		}
	}
	var sums []string
	for i := 0; i < 2; i++ {
		out := t.TempDir()
		code, stdout, errs := run(t, "handoff", "--config", "sim", "--out", out, "--no-gate", "--regress-match", match, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		if n := int(got["regressions"].(float64)); n != want || n < 6 {
			t.Errorf("%d regression runs recorded, want the %d that match %s", n, want, match)
		}
		sums = append(sums, got["sha256"].(string))
	}
	if sums[0] != sums[1] {
		t.Fatalf("two handoffs differ: %s vs %s", sums[0], sums[1])
	}
	if code, _, errs := run(t, "handoff", "--config", "sim", "--out", t.TempDir(), "--no-gate", "--regress-match", "^nothing$"); code == 0 || !strings.Contains(errs, "no regression entry") {
		t.Errorf("a --regress-match that selects nothing: exit %d, %s", code, errs)
	}
}

// A block with an injected latch, and one with an injected combinational
// loop, fail the gate with their names (issue 10's acceptance), on a real
// generated tree gated through --rtl.
func TestSynthGateNamesInjectedFaults(t *testing.T) {
	t.Setenv("KVD_CACHE_DIR", t.TempDir()) // Yosys runs: no table from an earlier test run
	dir := t.TempDir()
	if code, _, errs := run(t, "rtl", "--config", "sim", "--out", dir); code != 0 {
		t.Fatalf("rtl: %s", errs)
	}
	inject := func(file, text string) {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndex(string(b), "endmodule")
		if err := os.WriteFile(path, []byte(string(b[:i])+text+string(b[i:])), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inject("kvd_keyhash.v", "reg inject_latch_q;\nalways @* if (rst) inject_latch_q = clk;\n")
	inject("kvd_fifo_w64_d16.v", "wire inject_loop_a, inject_loop_b;\nassign inject_loop_a = inject_loop_b ^ rst;\nassign inject_loop_b = ~inject_loop_a;\n")
	code, out, errs := run(t, "synth", "--rtl", dir, "--no-vendor", "--block", "kvd_keyhash,kvd_fifo_w64_d16,kvd_fifo_w72_d64")
	if code == 0 {
		t.Fatalf("the gate passed a latch and a loop:\n%s", out)
	}
	for _, want := range []string{"kvd_keyhash (1 latch cells", "kvd_fifo_w64_d16 (combinational loop through kvd_fifo_w64_d16.v:"} {
		if !strings.Contains(errs, want) {
			t.Errorf("the error does not say %q:\n%s", want, errs)
		}
	}
	if strings.Contains(strings.SplitN(errs, "failed for", 2)[1], "kvd_fifo_w72_d64") {
		t.Errorf("the clean block is blamed too:\n%s", errs)
	}
}

// docs/synthesis.md carries the table, the goals each block misses and
// where every memory went.
func TestSynthMarkdown(t *testing.T) {
	rows := []synth.Result{
		{Block: "kvd_rs", Mapping: "xilinx", LUTs: 100, FFs: 50, BRAMs: 2, LUTLevels: 43,
			Intel:    &synth.Intel{ALUTs: 90, FFs: 50, M10Ks: 4},
			Memories: []synth.Memory{{Name: "slot_mem", Depth: 1024, Width: 400, Want: "registers", Got: "registers"}},
			Goals:    []string{"43 LUT levels, goal 6", "slot_mem (1024 x 400) in registers, not block RAM"}},
		{Block: "kvd_keyhash", Mapping: "xilinx", LUTs: 600, LUTLevels: 2, Problems: []string{"1 latch cells ($dlatch)"}},
	}
	var b strings.Builder
	writeSynthMarkdown(&b, "kvd handoff --doc docs/synthesis.md", "configuration paper (hash x)", rows)
	doc := b.String()
	for _, want := range []string{
		"Generated by `kvd handoff --doc docs/synthesis.md`",
		"| kvd_rs | 100 | 50 | 2 | 0 | 43 (over 6) | 90 / 50 / 4 / 0 | - | ok |",
		"| kvd_keyhash | 600 | 0 | 0 | 0 | 2 | - | - | **FAIL**: 1 latch cells ($dlatch) |",
		"- kvd_rs: slot_mem (1024 x 400) in registers, not block RAM",
		"| kvd_rs | slot_mem | 1024 x 400 | registers | **registers** |",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the document lacks %q:\n%s", want, doc)
		}
	}
}

// A Yosys run whose inputs are all the same as an earlier one's is taken
// from the cache; a changed byte of RTL, or --no-gate-cache, runs Yosys
// again.
func TestGateCacheReusesOnlyIdenticalRuns(t *testing.T) {
	t.Setenv("KVD_CACHE_DIR", t.TempDir())
	dir := t.TempDir()
	if code, _, errs := run(t, "rtl", "--config", "sim", "--out", dir); code != 0 {
		t.Fatalf("rtl: %s", errs)
	}
	gate := func(extra ...string) (rows string, reused bool) {
		t.Helper()
		args := append([]string{"synth", "--rtl", dir, "--no-vendor", "--block", "kvd_keyhash", "--json"}, extra...)
		code, out, errs := run(t, args...)
		if code != 0 {
			t.Fatalf("synth: %s", errs)
		}
		var v struct{ Rows []synth.Result }
		if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Rows) != 1 {
			t.Fatalf("synth --json: %v: %s", err, out)
		}
		v.Rows[0].Seconds = 0
		b, _ := json.Marshal(v.Rows)
		return string(b), strings.Contains(errs, "(cached: ")
	}
	first, reused := gate()
	if reused {
		t.Fatal("the first run reused a table from an empty cache")
	}
	second, reused := gate()
	if !reused || second != first {
		t.Fatalf("an identical run was not reused (reused %v):\n%s\n%s", reused, first, second)
	}
	if _, reused := gate("--no-gate-cache"); reused {
		t.Error("--no-gate-cache reused the table")
	}
	path := filepath.Join(dir, "kvd_keyhash.v")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, "// one more byte of RTL\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, reused := gate(); reused {
		t.Error("a changed RTL tree reused the old table")
	}
}

// The handoff's regression runs on the bundle's RTL, so it takes only the
// entries of the bundle's configuration as it is: one that overrides a key
// (rs_hot/idle_cache/s1) would run another design's golden model on it.
func TestHandoffRegressionTakesNoOverriddenEntry(t *testing.T) {
	c, err := config.Preset("sim")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := regressEntries(c, "^rs_hot/")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no rs_hot entry selected")
	}
	for _, e := range entries {
		if len(e.Set) > 0 || strings.Contains(e.Name, "idle_cache") {
			t.Errorf("%s (set %v) taken for the sim bundle", e.Name, e.Set)
		}
	}
}
