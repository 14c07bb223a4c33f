package testbenches

import (
	"context"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rob"
)

// The generated kvd_rob and golden/rob's model announce the same ports.
func TestROBPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_rob", rob.Ports)
}

// runROB co-simulates kvd_rob for c until records have been released and
// checked, and checks that every coverage point was hit.
func runROB(t *testing.T, c config.Config, seed, records uint64) {
	t.Helper()
	bin := buildModel(t, c, "kvd_rob", nil)
	m, err := rob.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newROBStim(c, seed, records)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, m, stim, cosim.Options{HangCycles: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if stim.released < records {
		t.Fatalf("%d records released and checked, want %d", stim.released, records)
	}
	pts := stim.Points()
	for _, p := range robPoints {
		if pts[p] == 0 {
			t.Errorf("coverage point %s not hit", p)
		}
	}
	t.Logf("%s (M = %d): %d requests, %d records released in order and checked, %d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		c.Name, c.RS.MaxInflight, stim.nreq, stim.released, res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
	t.Logf("coverage %v", pts)
	noLeftovers(t, bin)
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
	c.RS.MaxInflight = 5
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
	l := model.MustLayout(m.Ports())
	in, out := make([]uint64, l.InWords), make([]uint64, l.OutWords)
	var prev []uint64
	m.Reset()
	for cyc := uint64(0); cyc < 200_000; cyc++ {
		clear(in)
		if _, err := stim.Next(cyc, prev, in); err != nil {
			t.Fatal(err)
		}
		if err := m.Step(in, out); err != nil {
			t.Fatalf("golden model at cycle %d: %v", cyc, err)
		}
		prev = out
	}
	pts := stim.Points()
	for _, p := range robPoints {
		if pts[p] == 0 {
			t.Errorf("coverage point %s not hit in 200 k cycles", p)
		}
	}
	t.Logf("%d records released and checked; %v", stim.released, pts)
}
