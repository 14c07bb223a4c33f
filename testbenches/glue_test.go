package testbenches

import (
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/glue"
)

// The generated kvd_glue and golden/glue's model announce the same ports.
func TestGluePortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, glue.Module, glue.Ports)
}

// runGlue co-simulates kvd_glue for c until ops operations have completed
// and been checked at the front end, with every coverage point hit.
func runGlue(t *testing.T, c config.Config, seed, ops uint64) {
	t.Helper()
	m, err := glue.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newGlueStim(c, seed, ops)
	if err != nil {
		t.Fatal(err)
	}
	res := cosimCovered(t, c, glue.Module, m, stim, gluePoints)
	if stim.completed < ops {
		t.Fatalf("%d operations completed and checked, want %d", stim.completed, ops)
	}
	t.Logf("%s (T = %d, M = %d, K = %d, V = %d): %d operations issued, %d completed and checked, %d engine answers (%d write-backs), "+
		"%d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		c.Name, c.ROB.Entries, c.RS.MaxInflight, c.Key.MaxKeyBytes, c.Key.MaxValueBytes, stim.pts["glue.issued"], stim.completed,
		stim.engDone, stim.pts["glue.write_back"], res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
}

// The four neighbours with random timing: every field at every port and
// every completion's value checked. make test runs 150 k operations
// (about 320 k cycles) at sim; KVD_GLUE_OPS raises it.
func TestGlueCosim(t *testing.T) {
	runGlue(t, preset(t, "sim"), 31, requestBudget(t, "KVD_GLUE_OPS", 150_000))
}

// The paper's sizes: 256 tags, 32-byte keys, 28-bit bucket indices.
func TestGlueCosimPaper(t *testing.T) {
	runGlue(t, preset(t, "paper"), 32, 50_000)
}

// Tags and station ids sized apart (processor.md §2.1): more tags than
// ids, not a power of two, so requests wait at the station for ids while
// the per-tag memories are indexed past M; and fewer tags than ids.
func TestGlueCosimTagsApartFromIds(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags int
	}{{"T200_M64", 200}, {"T12_M64", 12}} {
		t.Run(tc.name, func(t *testing.T) {
			c := preset(t, "sim")
			c.ROB.Entries = tc.tags
			runGlue(t, c, 33, 30_000)
		})
	}
}

// The scenario's stimulus and checks against the golden model alone.
func TestGlueStimulusAgreesWithGolden(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		c := preset(t, name)
		m, err := glue.New(c)
		if err != nil {
			t.Fatal(err)
		}
		stim, err := newGlueStim(c, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		driveGolden(t, m, stim, 200_000, gluePoints)
		t.Logf("%s: %d operations issued, %d completed and checked; %v", name, stim.pts["glue.issued"], stim.completed, stim.Points())
	}
}
