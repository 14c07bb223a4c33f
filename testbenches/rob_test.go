package testbenches

import (
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/rob"
)

// The generated kvd_rob and golden/rob's model announce the same ports.
func TestROBPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_rob", rob.Ports)
}

// runROB co-simulates kvd_rob for c until records have been released and
// checked, with every coverage point hit.
func runROB(t *testing.T, c config.Config, seed, records uint64) {
	t.Helper()
	m, err := rob.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newROBStim(c, seed, records)
	if err != nil {
		t.Fatal(err)
	}
	res := cosimCovered(t, c, "kvd_rob", m, stim, robPoints)
	if stim.released < records {
		t.Fatalf("%d records released and checked, want %d", stim.released, records)
	}
	t.Logf("%s (M = %d): %d requests, %d records released in order and checked, %d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		c.Name, c.ROB.Entries, stim.nreq, stim.released, res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
}

// Out-of-order completions released in the decoder's order. make test runs
// 200 k records at sim and 50 k at paper and at M = 5; KVD_ROB_RECORDS
// raises the first.
func TestROBCosim(t *testing.T) {
	runROB(t, preset(t, "sim"), 21, requestBudget(t, "KVD_ROB_RECORDS", 200_000))
}

func TestROBCosimPaper(t *testing.T) {
	runROB(t, preset(t, "paper"), 22, 50_000)
}

func TestROBCosimFiveEntries(t *testing.T) {
	c := preset(t, "sim")
	c.ROB.Entries = 5
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	runROB(t, c, 23, 50_000)
}

// The scenario's stimulus and checks against the golden model alone.
func TestROBStimulusAgreesWithGolden(t *testing.T) {
	c := preset(t, "sim")
	m, err := rob.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newROBStim(c, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	driveGolden(t, m, stim, 200_000, robPoints)
	t.Logf("%d records released and checked; %v", stim.released, stim.Points())
}
