package testbenches

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/cosim/cache"
	"github.com/kvdirect/kvd/golden/fifo"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/hdlgen/design"
)

func preset(t *testing.T, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// buildModel compiles (or reuses) the shim of top from a tree, optionally
// after editing one file of it.
func buildModel(t *testing.T, c config.Config, top string, edit func(dir string)) string {
	t.Helper()
	rtl, mod, cleanup, err := RTLFor(c, top, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if edit != nil {
		edit(rtl)
	}
	m, err := cache.Build(context.Background(), cache.Request{Top: mod, RTLDir: rtl})
	if err != nil {
		t.Fatal(err)
	}
	return m.Binary
}

// running lists live processes executing binary.
func running(binary string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if exe == binary {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue
			}
			var pid int
			for _, ch := range e.Name() {
				pid = pid*10 + int(ch-'0')
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

func noLeftovers(t *testing.T, binary string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(running(binary)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := running(binary); len(p) > 0 {
		t.Errorf("simulator processes left behind: %v", p)
	}
}

// The hash unit's RTL matches its independent Go reference on over a
// million random keys covering every allowed length, for both presets.
func TestKeyhashMatchesReferenceOnAMillionKeys(t *testing.T) {
	for _, p := range []string{"sim", "paper"} {
		t.Run(p, func(t *testing.T) {
			c := preset(t, p)
			bin := buildModel(t, c, "kvd_keyhash", nil)
			m := keyhash.New(c)
			stim := newKeyhashStim(c, m, 42)
			res, err := cosim.Run(context.Background(), bin, m, stim, cosim.Options{Cycles: 1_250_000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Divergence != nil {
				t.Fatalf("divergence at cycle %d: %+v", res.Divergence.Cycle, res.Divergence.Mismatches)
			}
			if stim.completed < 1_000_000 {
				t.Fatalf("only %d keys compared", stim.completed)
			}
			for l := 0; l <= c.Key.MaxKeyBytes; l++ {
				if stim.lengths[l] < 1000 {
					t.Errorf("length %d: only %d keys", l, stim.lengths[l])
				}
			}
			t.Logf("%s: %d keys compared, %d cycles, %.1f M cycles/s", p, stim.completed, res.Cycles, res.CyclesPerSec/1e6)
			noLeftovers(t, bin)
		})
	}
}

func TestFIFOsWithBackPressure(t *testing.T) {
	c := preset(t, "sim")
	for _, sc := range []string{"fifo_w64_d16", "fifo_w72_d64"} {
		run, err := Sim(context.Background(), SimOptions{Scenario: sc, Config: c, Seed: 3, Cycles: 1_000_000, RunDir: t.TempDir(), TCP: sc == "fifo_w72_d64"})
		if err != nil {
			t.Fatal(err)
		}
		if run.Record.Divergences != 0 || run.Record.Cycles != 1_000_000 {
			t.Fatalf("%s: %d divergences in %d cycles", sc, run.Record.Divergences, run.Record.Cycles)
		}
	}
}

// Deliberately broken copies of the RTL are reported at their first wrong
// cycle, with a replay command and a waveform of the window.
func TestBrokenRTLIsReported(t *testing.T) {
	c := preset(t, "sim")
	cases := []struct {
		name, scenario, file, from, to, port string
	}{
		{"operator changed", "keyhash", "kvd_keyhash.v", "s3_tag_reg <= s2_tag_reg;", "s3_tag_reg <= s2_tag_reg ^ 16'd1;", "out_tag"},
		{"off by one", "keyhash", "kvd_keyhash.v", "in_len > 5'd7,", "in_len >= 5'd7,", "out_bucket"},
		{"ready stuck", "fifo_w64_d16", "kvd_fifo_w64_d16.v", "assign in_ready = !full;", "assign in_ready = 1'b1;", "in_ready"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rtl := filepath.Join(dir, "rtl")
			os.MkdirAll(rtl, 0o755)
			if _, err := writeDesign(c, rtl); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(rtl, tc.file)
			src, _ := os.ReadFile(path)
			if !strings.Contains(string(src), tc.from) {
				t.Fatalf("%s has no %q", tc.file, tc.from)
			}
			os.WriteFile(path, []byte(strings.Replace(string(src), tc.from, tc.to, 1)), 0o644)
			runDir := filepath.Join(dir, "run")
			run, err := Sim(context.Background(), SimOptions{Scenario: tc.scenario, Config: c, Seed: 5, Cycles: 200_000, RTLDir: rtl, RunDir: runDir, Replay: "kvd sim " + tc.scenario + " --rtl " + rtl})
			if err != nil {
				t.Fatal(err)
			}
			d := run.Record.Divergence
			if d == nil {
				t.Fatal("the broken RTL passed")
			}
			found := false
			for _, m := range d.Mismatches {
				found = found || m.Port == tc.port
			}
			if !found {
				t.Errorf("mismatches %+v do not include %s", d.Mismatches, tc.port)
			}
			// Every cycle before the divergence in the window agreed: it is
			// the first wrong one.
			l := model.MustLayout(run.Record.Ports)
			for _, cr := range d.Window {
				if cr.Cycle < d.Cycle && !l.Equal(cr.Expected, cr.Actual) {
					t.Errorf("cycle %d before the reported one already differs", cr.Cycle)
				}
			}
			if run.Record.Cycles != d.Cycle+1 {
				t.Errorf("the run went on to cycle %d after diverging at %d", run.Record.Cycles, d.Cycle)
			}
			if st, err := os.Stat(filepath.Join(runDir, "wave.fst")); err != nil || st.Size() == 0 {
				t.Errorf("no waveform: %v", err)
			}
			var b strings.Builder
			run.Record.WriteReport(&b, 8)
			for _, want := range []string{"DIVERGENCE at cycle", "replay:", "waveform:", tc.port, "seed 5"} {
				if !strings.Contains(b.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, b.String())
				}
			}
			rec, err := cosim.LoadRecord(runDir)
			if err != nil || rec.Divergence == nil || rec.Divergence.Cycle != d.Cycle {
				t.Fatalf("record on disk: %v", err)
			}
			var diff strings.Builder
			if err := rec.WriteDiff(&diff, cosim.DiffOptions{Ports: []string{tc.port}}); err != nil || !strings.Contains(diff.String(), "≠") {
				t.Errorf("kvd diff: %v\n%s", err, diff.String())
			}
		})
	}
}

func writeDesign(c config.Config, dir string) ([]string, error) {
	tmp, _, cleanup, err := RTLFor(c, "kvd_keyhash", "")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	files, _ := filepath.Glob(filepath.Join(tmp, "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func TestSimulatorKilledMidRun(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_keyhash", nil)
	m := keyhash.New(c)
	go func() {
		time.Sleep(300 * time.Millisecond)
		for _, pid := range running(bin) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	_, err := cosim.Run(context.Background(), bin, m, newKeyhashStim(c, m, 1), cosim.Options{Cycles: 1 << 40})
	var se *cosim.SimError
	if !errors.As(err, &se) || !strings.Contains(se.Status, "signal killed") {
		t.Fatalf("want a simulator error naming the signal, got %v", err)
	}
	noLeftovers(t, bin)
}

func TestShimOfAnotherDesignIsRefused(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_fifo_w64_d16", nil)
	m := keyhash.New(c)
	_, err := cosim.Run(context.Background(), bin, m, newKeyhashStim(c, m, 1), cosim.Options{Cycles: 1000})
	if err == nil || !strings.Contains(err.Error(), "does not match the golden model") || !strings.Contains(err.Error(), "in_key") {
		t.Fatalf("got %v", err)
	}
	noLeftovers(t, bin)
}

type failingModel struct {
	model.Model
	at, n uint64
}

func (f *failingModel) Step(in, out []uint64) error {
	f.n++
	if f.n == f.at {
		return errors.New("state machine reached an impossible state")
	}
	return f.Model.Step(in, out)
}

func TestGoldenErrorStopsTheRun(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_keyhash", nil)
	m := keyhash.New(c)
	_, err := cosim.Run(context.Background(), bin, &failingModel{Model: m, at: 50_000}, newKeyhashStim(c, m, 1), cosim.Options{Cycles: 1_000_000})
	var ge *cosim.GoldenError
	if !errors.As(err, &ge) || ge.Cycle != 49_999 || !strings.Contains(err.Error(), "impossible state") {
		t.Fatalf("got %v", err)
	}
	noLeftovers(t, bin)
}

// A FIFO whose reader never reads stops making progress: a hang, reported
// with the golden model's state.
type stalledStim struct{ s *fifoStim }

func (st stalledStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	more, err := st.s.Next(cycle, prev, in)
	in[st.s.outReady.Off] = 0
	st.s.lastOutReady = false
	return more, err
}
func (st stalledStim) Progress() uint64 { return st.s.Progress() }

func TestHangIsReported(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_fifo_w64_d16", nil)
	m, _ := fifo.New(64, 16)
	_, err := cosim.Run(context.Background(), bin, m, stalledStim{newFIFOStim(m, 64, 1)}, cosim.Options{Cycles: 1 << 30, HangCycles: 20_000})
	var he *cosim.HangError
	if !errors.As(err, &he) || he.State == "" {
		t.Fatalf("got %v", err)
	}
	noLeftovers(t, bin)
}

func TestInterruptStopsBothSides(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_keyhash", nil)
	m := keyhash.New(c)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := cosim.Run(ctx, bin, m, newKeyhashStim(c, m, 1), cosim.Options{Cycles: 1 << 40})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("got %v", err)
	}
	noLeftovers(t, bin)
}

// Verilator's $fatal aborts the simulator; the report carries the exit
// status and its last words.
func TestFatalInRTLIsReported(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_fifo_w64_d16", func(dir string) {
		path := filepath.Join(dir, "kvd_fifo_w64_d16.v")
		src, _ := os.ReadFile(path)
		inject := "always @(posedge clk) begin\n    if (!rst && wr_ptr_reg == 5'd20) $fatal(1, \"fifo wrapped: injected failure\");\nend\n\nendmodule"
		os.WriteFile(path, []byte(strings.Replace(string(src), "endmodule", inject, 1)), 0o644)
	})
	m, _ := fifo.New(64, 16)
	_, err := cosim.Run(context.Background(), bin, m, newFIFOStim(m, 64, 1), cosim.Options{Cycles: 1_000_000})
	var se *cosim.SimError
	if !errors.As(err, &se) || !strings.Contains(se.Stderr, "injected failure") || se.Status == "" {
		t.Fatalf("got %v", err)
	}
	t.Logf("report: %v", err)
	noLeftovers(t, bin)
}

func TestSecondRunReusesTheModel(t *testing.T) {
	c := preset(t, "sim")
	o := SimOptions{Scenario: "keyhash", Config: c, Seed: 9, Cycles: 10_000, RunDir: t.TempDir()}
	if _, err := Sim(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	run, err := Sim(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Record.ModelCached || run.Record.BuildSec != 0 {
		t.Fatalf("second run rebuilt the model: cached=%v build=%.2fs", run.Record.ModelCached, run.Record.BuildSec)
	}
}

func TestEditedPortWidthIsRefused(t *testing.T) {
	c := preset(t, "sim")
	rtl, mod, cleanup, err := RTLFor(c, "kvd_keyhash", "")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	path := filepath.Join(rtl, "kvd_keyhash.v")
	src, _ := os.ReadFile(path)
	src = []byte(strings.Replace(string(src), "output wire [15:0]  out_tag", "output wire [16:0]  out_tag", 1))
	src = []byte(strings.Replace(string(src), "assign out_tag = s3_tag_reg;", "assign out_tag = {1'b0, s3_tag_reg};", 1))
	os.WriteFile(path, src, 0o644)
	_, err = cache.Build(context.Background(), cache.Request{Top: mod, RTLDir: rtl})
	if err == nil || !strings.Contains(err.Error(), "port out_tag is output 17 bits, the design's is output 16 bits") {
		t.Fatalf("got %v", err)
	}
}

// portsMatchGolden checks, for both presets, that the generator's data
// ports are the golden model's (name, direction, width, order) before any
// simulator is built: a mismatch is a document disagreement, not a bug to
// find by divergence.
func portsMatchGolden(t *testing.T, top string, golden func(config.Config) []model.Port) {
	t.Helper()
	for _, p := range []string{"sim", "paper"} {
		c := preset(t, p)
		mod, err := design.Module(c, top)
		if err != nil {
			t.Fatal(err)
		}
		want := golden(c)
		got := mod.DataPorts()
		if len(got) != len(want) {
			t.Fatalf("%s: %d data ports, golden has %d", p, len(got), len(want))
		}
		for i, w := range want {
			g := got[i].Sig
			if g.Name != w.Name || g.W != w.Width || (got[i].Dir == 0) != (w.Dir == 0) {
				t.Errorf("%s: port %d is %s[%d], golden %s[%d]", p, i, g.Name, g.W, w.Name, w.Width)
			}
		}
	}
}

// requestBudget is a long co-simulation's request count: env overrides it,
// -short takes a twentieth.
func requestBudget(t *testing.T, env string, def uint64) uint64 {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, v, err)
		}
		return n
	}
	if testing.Short() {
		return def / 20
	}
	return def
}
