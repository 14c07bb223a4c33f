package regress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim/cache"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/testbenches"
)

// Options configure a regression run.
type Options struct {
	Out      string // output directory
	Jobs     int    // parallel runs (default: the number of cores)
	RTLDir   string // a user's tree instead of the generated one
	Coverage bool   // build coverage models and merge their data
	Shrink   bool   // shrink failing random runs into directed cases
	// ShrinkRuns bounds the simulator runs one shrink may take.
	ShrinkRuns int
	Log        io.Writer
}

// Result is one entry's outcome.
type Result struct {
	Entry
	Passed     bool              `json:"passed"`
	Cycles     uint64            `json:"cycles_run"`
	Seconds    float64           `json:"seconds"`
	Divergence *uint64           `json:"divergence_cycle,omitempty"`
	Error      string            `json:"error,omitempty"`
	Replay     string            `json:"replay"`
	RunDir     string            `json:"run_dir"`
	Points     map[string]uint64 `json:"coverage_points,omitempty"`
	Coverage   string            `json:"coverage_file,omitempty"` // relative to the output directory
	Shrunk     string            `json:"shrunk,omitempty"`
}

// Summary is the regression's verdict; summary.json holds it.
type Summary struct {
	Scenarios           int                 `json:"scenarios"`
	Passed              int                 `json:"passed"`
	Failed              int                 `json:"failed"`
	CoveragePointsHit   int                 `json:"coverage_points_hit"`
	CoveragePointsTotal int                 `json:"coverage_points_total"`
	PointsHitBy         map[string][]string `json:"points_hit_by"`
	CodeCoverage        string              `json:"code_coverage,omitempty"` // e.g. "lines 97.1% (340 of 350)"
	Seconds             float64             `json:"seconds"`
	Results             []Result            `json:"results"`
}

// Run executes entries and writes summary.json, junit.xml and the coverage
// reports into o.Out.
func Run(ctx context.Context, entries []Entry, o Options) (*Summary, error) {
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	if o.ShrinkRuns <= 0 {
		o.ShrinkRuns = 200
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	rtl, err := prepareRTL(entries, o)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(entries))
	var mu sync.Mutex
	done := 0
	sem := make(chan struct{}, o.Jobs)
	var wg sync.WaitGroup
	for i := range entries {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			r := runEntry(ctx, entries[i], rtl[entries[i].ConfigLabel()], o)
			mu.Lock()
			results[i] = r
			done++
			if o.Log != nil {
				verdict := "PASS"
				if !r.Passed {
					verdict = "FAIL"
				}
				fmt.Fprintf(o.Log, "[%d/%d] %-36s %s %6.1fs\n", done, len(entries), r.Name, verdict, r.Seconds)
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted")
	}
	labelResetBugs(results)
	s := summarize(results)
	s.Seconds = time.Since(start).Seconds()
	if o.Shrink {
		for i := range s.Results {
			r := &s.Results[i]
			if r.Passed || r.Divergence == nil || (r.Kind != "random" && r.Kind != "xsens") {
				continue
			}
			path, err := shrink(ctx, r, rtl[r.ConfigLabel()], o)
			if err != nil {
				r.Error += "; shrinking failed: " + err.Error()
				continue
			}
			r.Shrunk = path
		}
	}
	if err := finish(s, o.Out, o.Coverage); err != nil {
		return s, err
	}
	return s, nil
}

// prepareRTL generates each configuration's tree once, into a directory of
// the cache named by the configuration's hash. Verilator bakes source paths
// into coverage models, and the cache shares models by content: a stable
// path keeps the baked paths valid for every run that reuses the model.
func prepareRTL(entries []Entry, o Options) (map[string]string, error) {
	dirs := map[string]string{}
	for _, e := range entries {
		if _, ok := dirs[e.ConfigLabel()]; ok {
			continue
		}
		if o.RTLDir != "" {
			dirs[e.ConfigLabel()] = o.RTLDir
			continue
		}
		c, err := e.LoadConfig()
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(cache.Root(), "rtl", filepath.Base(e.Config)+"-"+c.Hash())
		if _, err := design.Write(c, dir); err != nil {
			return nil, err
		}
		dirs[e.ConfigLabel()] = dir
	}
	return dirs, nil
}

func replayCommand(e Entry, rtlDir string) string {
	parts := []string{"kvd", "sim", e.Scenario, "--config", e.Config}
	for _, kv := range e.Set {
		parts = append(parts, "--set", kv)
	}
	parts = append(parts, "--seed", fmt.Sprint(e.Seed), "--cycles", fmt.Sprint(e.Cycles))
	if e.XSeed > 0 {
		parts = append(parts, "--xseed", fmt.Sprint(e.XSeed))
	}
	if e.Inputs != "" {
		parts = append(parts, "--inputs", filepath.Join("testbenches/regress", e.Inputs))
	}
	if rtlDir != "" {
		parts = append(parts, "--rtl", rtlDir)
	}
	return strings.Join(parts, " ")
}

// XSeedArgs randomise the model's initial state (it is built with
// --x-initial unique): a design that depends on an unreset register then
// differs from the golden model.
func XSeedArgs(x int) []string {
	return []string{"+verilator+rand+reset+2", fmt.Sprintf("+verilator+seed+%d", x)}
}

// runEntryRecords runs one entry on explicit input records (shrunk cases).
func runEntryRecords(ctx context.Context, e Entry, recs [][]uint64, rtl, out string) Result {
	c, err := e.LoadConfig()
	if err != nil {
		return Result{Entry: e, Error: err.Error()}
	}
	run, err := testbenches.Sim(ctx, testbenches.SimOptions{Scenario: e.Scenario, Config: c, Seed: e.Seed,
		Cycles: uint64(len(recs)), RTLDir: rtl, RunDir: out, Inputs: recs, NoWave: true})
	r := Result{Entry: e}
	if err != nil {
		r.Error = err.Error()
	} else if run.Record.Divergence != nil {
		r.Error = fmt.Sprintf("divergence at cycle %d", run.Record.Divergence.Cycle)
	}
	r.Passed = r.Error == ""
	return r
}

func runEntry(ctx context.Context, e Entry, rtl string, o Options) Result {
	t0 := time.Now()
	runDir := filepath.Join(o.Out, "runs", strings.ReplaceAll(e.Name, "/", "_"))
	userRTL := ""
	if o.RTLDir != "" {
		userRTL = o.RTLDir
	}
	r := Result{Entry: e, RunDir: runDir, Replay: replayCommand(e, userRTL)}
	c, err := e.LoadConfig()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	so := testbenches.SimOptions{
		Scenario: e.Scenario, Config: c, Seed: e.Seed, Cycles: e.Cycles, RTLDir: rtl, RunDir: runDir,
		Replay: r.Replay, HangCycles: 100_000,
	}
	if e.XSeed > 0 {
		so.ShimArgs = XSeedArgs(e.XSeed)
	}
	if e.Inputs != "" {
		d, err := LoadDirected(directedFS, e.Inputs)
		if err == nil {
			so.Inputs, err = d.Records(c)
		}
		if err != nil {
			r.Error = err.Error()
			return r
		}
	}
	if o.Coverage {
		r.Coverage = filepath.Join("coverage", "data", strings.ReplaceAll(e.Name, "/", "_")+".dat")
		so.CoverageFile = filepath.Join(o.Out, r.Coverage)
	}
	run, err := testbenches.Sim(ctx, so)
	r.Seconds = time.Since(t0).Seconds()
	if run != nil {
		r.Cycles = run.Record.Cycles
		r.Points = run.Record.Points
		if d := run.Record.Divergence; d != nil {
			c := d.Cycle
			r.Divergence = &c
			var ports []string
			for _, m := range d.Mismatches {
				ports = append(ports, m.Port)
			}
			what := "divergence"
			if e.XSeed > 0 {
				what = fmt.Sprintf("reset bug (X-sensitivity, +verilator+seed+%d)", e.XSeed)
			}
			r.Error = fmt.Sprintf("%s at cycle %d on %s", what, c, strings.Join(ports, ", "))
		}
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.Passed = r.Error == ""
	return r
}

// Records turns the case's hex values into input records laid out for the
// scenario's golden model.
func (d *Directed) Records(c config.Config) ([][]uint64, error) {
	sc, err := testbenches.Lookup(d.Scenario)
	if err != nil {
		return nil, err
	}
	m, _, err := sc.New(c, 1)
	if err != nil {
		return nil, err
	}
	l, err := model.NewLayout(m.Ports())
	if err != nil {
		return nil, err
	}
	slots := make([]model.Slot, len(d.Ports))
	for i, p := range d.Ports {
		s, ok := l.Slot(p)
		if !ok || l.Ports[s.Port].Dir != model.In {
			return nil, fmt.Errorf("directed case for %s: %q is not an input port", d.Scenario, p)
		}
		slots[i] = s
	}
	recs := make([][]uint64, len(d.Cycles))
	for cyc, vals := range d.Cycles {
		if len(vals) != len(slots) {
			return nil, fmt.Errorf("directed case for %s: cycle %d has %d values for %d ports", d.Scenario, cyc, len(vals), len(slots))
		}
		rec := make([]uint64, l.InWords)
		for i, v := range vals {
			n, ok := new(big.Int).SetString(v, 16)
			if !ok || n.BitLen() > slots[i].Width {
				return nil, fmt.Errorf("directed case for %s: cycle %d port %s: %q is not a %d-bit hex value", d.Scenario, cyc, d.Ports[i], v, slots[i].Width)
			}
			for w := 0; w < slots[i].Words; w++ {
				rec[slots[i].Off+w] = new(big.Int).Rsh(n, uint(64*w)).Uint64()
			}
		}
		recs[cyc] = rec
	}
	return recs, nil
}

// labelResetBugs keeps the name "reset bug" for X-sensitivity failures
// whose seed passes with zeroed initial state; when both fail, the bug does
// not depend on the initial state at all.
func labelResetBugs(results []Result) {
	plain := map[string]bool{}
	for _, r := range results {
		if r.Kind == "random" {
			plain[fmt.Sprintf("%s/%s/%d", r.Scenario, r.ConfigLabel(), r.Seed)] = r.Passed
		}
	}
	for i := range results {
		r := &results[i]
		if r.Kind != "xsens" || r.Passed {
			continue
		}
		if passed, ok := plain[fmt.Sprintf("%s/%s/%d", r.Scenario, r.ConfigLabel(), r.Seed)]; ok && !passed {
			r.Error = strings.Replace(r.Error, fmt.Sprintf("reset bug (X-sensitivity, +verilator+seed+%d)", r.XSeed),
				fmt.Sprintf("divergence with randomised initial state (+verilator+seed+%d) and without it, so not a reset bug,", r.XSeed), 1)
		}
	}
}

func summarize(results []Result) *Summary {
	s := &Summary{Results: results, PointsHitBy: map[string][]string{}}
	total := map[string]bool{}
	for _, r := range results {
		s.Scenarios++
		if r.Passed {
			s.Passed++
		} else {
			s.Failed++
		}
		if sc, err := testbenches.Lookup(r.Scenario); err == nil {
			for _, p := range sc.Points {
				total[p] = true
			}
		}
		names := make([]string, 0, len(r.Points))
		for p := range r.Points {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			total[p] = true
			if r.Points[p] > 0 && r.Passed {
				s.PointsHitBy[p] = append(s.PointsHitBy[p], r.Name)
			}
		}
	}
	s.CoveragePointsTotal = len(total)
	s.CoveragePointsHit = len(s.PointsHitBy)
	for p := range total {
		if _, ok := s.PointsHitBy[p]; !ok {
			s.PointsHitBy[p] = nil
		}
	}
	return s
}

// finish writes summary.json, junit.xml, the functional coverage report and
// the merged code coverage.
func finish(s *Summary, out string, coverage bool) error {
	var covErr error
	if coverage {
		s.CodeCoverage, covErr = mergeCoverage(s, out)
	}
	if err := writeSummary(s, out); err != nil {
		return err
	}
	return covErr
}

func writeSummary(s *Summary, out string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "summary.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeJUnit(s, filepath.Join(out, "junit.xml")); err != nil {
		return err
	}
	return writePoints(s, filepath.Join(out, "coverage-points.txt"))
}

func writePoints(s *Summary, path string) error {
	var b strings.Builder
	names := make([]string, 0, len(s.PointsHitBy))
	for p := range s.PointsHitBy {
		names = append(names, p)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "functional coverage: %d of %d points hit\n", s.CoveragePointsHit, s.CoveragePointsTotal)
	for _, p := range names {
		by := s.PointsHitBy[p]
		if len(by) == 0 {
			fmt.Fprintf(&b, "  MISS %s\n", p)
			continue
		}
		fmt.Fprintf(&b, "  hit  %-26s by %s\n", p, strings.Join(by, ", "))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// mergeCoverage merges every run's Verilator coverage into one lcov file and
// an HTML report.
func mergeCoverage(s *Summary, out string) (string, error) {
	var files []string
	for _, r := range s.Results {
		if r.Coverage == "" {
			continue
		}
		p := filepath.Join(out, r.Coverage)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return "", nil
	}
	dir := filepath.Join(out, "coverage")
	info := filepath.Join(dir, "coverage.info")
	args := append([]string{"--write-info", info}, files...)
	if o, err := exec.Command("verilator_coverage", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("verilator_coverage: %v: %s", err, o)
	}
	if _, err := exec.LookPath("genhtml"); err != nil {
		return "", fmt.Errorf("genhtml not found: run tools/setup (it installs lcov)")
	}
	o, err := exec.Command("genhtml", "--quiet", "--output-directory", filepath.Join(dir, "html"), info).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("genhtml: %v: %s", err, o)
	}
	return lineSummary(info)
}

// lineSummary counts lcov line records (DA:line,hits): verilator_coverage
// writes no LF/LH totals.
func lineSummary(info string) (string, error) {
	data, err := os.ReadFile(info)
	if err != nil {
		return "", err
	}
	type key struct {
		file string
		line int
	}
	hits := map[key]int{}
	file := ""
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "SF:") {
			file = l[3:]
			continue
		}
		var line, n int
		if _, err := fmt.Sscanf(l, "DA:%d,%d", &line, &n); err == nil {
			hits[key{file, line}] += n
		}
	}
	if len(hits) == 0 {
		return "no lines", nil
	}
	hit := 0
	for _, n := range hits {
		if n > 0 {
			hit++
		}
	}
	return fmt.Sprintf("lines %.1f%% (%d of %d)", 100*float64(hit)/float64(len(hits)), hit, len(hits)), nil
}

// Load reads a summary.json from a regression's output directory.
func Load(dir string) (*Summary, error) {
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, fmt.Errorf("regression %s: %v", dir, unwrap(err))
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("regression %s: summary.json: %v", dir, err)
	}
	return &s, nil
}

func unwrap(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// Merge combines shard outputs into out, as if one run had made them: the
// same summary, one JUnit file, one coverage report.
func Merge(dirs []string, out string, coverage bool) (*Summary, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var results []Result
	seen := map[string]string{}
	secs := 0.0
	for _, d := range dirs {
		s, err := Load(d)
		if err != nil {
			return nil, err
		}
		secs = max(secs, s.Seconds)
		for _, r := range s.Results {
			if prev, dup := seen[r.Name]; dup {
				return nil, fmt.Errorf("merge: %s ran in both %s and %s: shards overlap", r.Name, prev, d)
			}
			seen[r.Name] = d
			if r.Coverage != "" {
				src := filepath.Join(d, r.Coverage)
				dst := filepath.Join(out, r.Coverage)
				if src != dst {
					if err := copyFile(src, dst); err != nil {
						return nil, err
					}
				}
			}
			results = append(results, r)
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Name < results[j].Name })
	s := summarize(results)
	s.Seconds = secs
	return s, finish(s, out, coverage)
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
