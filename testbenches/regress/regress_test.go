package regress

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/design"
)

func quick(t *testing.T) []Entry {
	t.Helper()
	all, err := Catalogue(Quick)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func TestCorrectTreePassesWithEveryPointHit(t *testing.T) {
	out := t.TempDir()
	s, err := Run(context.Background(), quick(t), Options{Out: out, Coverage: true, Shrink: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed != 0 || s.Passed != s.Scenarios || s.Scenarios < 15 {
		for _, r := range s.Results {
			if !r.Passed {
				t.Errorf("%s: %s", r.Name, r.Error)
			}
		}
		t.Fatalf("%d of %d failed", s.Failed, s.Scenarios)
	}
	if s.CoveragePointsHit != s.CoveragePointsTotal || s.CoveragePointsTotal < 8 {
		t.Errorf("functional coverage %d/%d", s.CoveragePointsHit, s.CoveragePointsTotal)
	}
	if !strings.HasPrefix(s.CodeCoverage, "lines ") {
		t.Errorf("code coverage %q", s.CodeCoverage)
	}
	for _, f := range []string{"summary.json", "junit.xml", "coverage-points.txt", "coverage/coverage.info", "coverage/html/index.html"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	junit, _ := os.ReadFile(filepath.Join(out, "junit.xml"))
	if strings.Count(string(junit), "<testcase ") != s.Scenarios || strings.Contains(string(junit), "<failure") {
		t.Errorf("junit.xml does not list %d passing cases", s.Scenarios)
	}
}

func TestBrokenTreeIsReportedAndShrunk(t *testing.T) {
	c, _ := config.Preset("sim")
	rtl := filepath.Join(t.TempDir(), "rtl")
	if _, err := design.Write(c, rtl); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(rtl, "kvd_keyhash.v")
	src, _ := os.ReadFile(path)
	const from = "in_len > 5'd7,"
	if !strings.Contains(string(src), from) {
		t.Fatalf("no %q in %s", from, path)
	}
	os.WriteFile(path, []byte(strings.Replace(string(src), from, "in_len >= 5'd7,", 1)), 0o644)

	out := t.TempDir()
	entries := Select(quick(t), regexp.MustCompile(`^keyhash/s[12]$`), 1, 1)
	s, err := Run(context.Background(), entries, Options{Out: out, RTLDir: rtl, Shrink: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed != len(entries) {
		t.Fatalf("%d of %d failed", s.Failed, len(entries))
	}
	for _, r := range s.Results {
		if !strings.Contains(r.Replay, "kvd sim keyhash") || !strings.Contains(r.Replay, "--rtl "+rtl) {
			t.Errorf("%s: replay %q", r.Name, r.Replay)
		}
		if r.Shrunk == "" {
			t.Fatalf("%s was not shrunk: %s", r.Name, r.Error)
		}
		d, err := LoadDirected(os.DirFS(filepath.Dir(r.Shrunk)), filepath.Base(r.Shrunk))
		if err != nil {
			t.Fatal(err)
		}
		// One key and the pipeline's three cycles are all a length bug needs.
		if len(d.Cycles) > 8 {
			t.Errorf("%s shrunk only to %d cycles", r.Name, len(d.Cycles))
		}
		recs, err := d.Records(c)
		if err != nil {
			t.Fatal(err)
		}
		// The shrunk case still fails on the broken tree and passes on the
		// correct one: it is a regression test of exactly this bug.
		for _, tc := range []struct {
			dir  string
			fail bool
		}{{rtl, true}, {"", false}} {
			e := Entry{Name: "shrunk", Kind: "file", Scenario: d.Scenario, Config: d.Config, Seed: 1, Cycles: uint64(len(recs))}
			got := runRecords(t, e, recs, tc.dir)
			if got != tc.fail {
				t.Errorf("%s on %q: failed=%v, want %v", r.Shrunk, tc.dir, got, tc.fail)
			}
		}
	}
	junit, _ := os.ReadFile(filepath.Join(out, "junit.xml"))
	if strings.Count(string(junit), "<failure") != len(entries) || !strings.Contains(string(junit), "replay: kvd sim") {
		t.Errorf("junit.xml lacks the failures or their replay commands")
	}
}

func runRecords(t *testing.T, e Entry, recs [][]uint64, rtl string) bool {
	t.Helper()
	c, err := e.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := rtl
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "rtl")
		if _, err := design.Write(c, dir); err != nil {
			t.Fatal(err)
		}
	}
	r := runEntryRecords(context.Background(), e, recs, dir, t.TempDir())
	return !r.Passed
}

func TestShardsCoverTheCatalogueOnceAndMerge(t *testing.T) {
	all := Select(quick(t), regexp.MustCompile(`^(keyhash|fifo_w64_d16|directed|file)`), 1, 1)
	full := t.TempDir()
	want, err := Run(context.Background(), all, Options{Out: full, Coverage: true})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		part := Select(quick(t), regexp.MustCompile(`^(keyhash|fifo_w64_d16|directed|file)`), i, 3)
		for _, e := range part {
			seen[e.Name]++
		}
		d := t.TempDir()
		if _, err := Run(context.Background(), part, Options{Out: d, Coverage: true}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, e := range all {
		if seen[e.Name] != 1 {
			t.Errorf("%s ran in %d shards", e.Name, seen[e.Name])
		}
	}
	if len(seen) != len(all) {
		t.Errorf("shards ran %d entries, the catalogue has %d", len(seen), len(all))
	}
	got, err := Merge(dirs, t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	ignore := cmpopts.IgnoreFields(Result{}, "Seconds", "RunDir")
	if d := cmp.Diff(want, got, ignore, cmpopts.IgnoreFields(Summary{}, "Seconds")); d != "" {
		t.Errorf("merged shards differ from one full run (-full +merged):\n%s", d)
	}
}

// An entry that overrides keys runs, and replays, with them: the replay
// command a failure prints must rebuild the same configuration.
func TestEntriesWithOverridesReplayWithThem(t *testing.T) {
	entries, err := Catalogue(Quick)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if len(e.Set) == 0 {
			continue
		}
		n++
		c, err := e.LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := config.Load(e.Config)
		if !c.RS.IdleCache || c.Hash() == plain.Hash() {
			t.Errorf("%s: idle_cache %v, hash %s (preset %s)", e.Name, c.RS.IdleCache, c.Hash(), plain.Hash())
		}
		if cmd := replayCommand(e, ""); !strings.Contains(cmd, "--set rs.idle_cache=true") {
			t.Errorf("%s: replay %q drops the override", e.Name, cmd)
		}
		if e.ConfigLabel() == plain.Name || e.ConfigLabel() == e.Config {
			t.Errorf("%s: shares its RTL tree key %q with the preset", e.Name, e.ConfigLabel())
		}
	}
	if n == 0 {
		t.Fatal("no entry overrides a key")
	}
}
