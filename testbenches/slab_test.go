package testbenches

import (
	"context"
	"testing"

	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/slab"
)

// The generated kvd_slab and golden/slab's model announce the same ports.
func TestSlabPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_slab", slab.Ports)
}

// Random allocs and frees with a shifting class mix, exhaustion and
// recovery: the RTL matches the golden model every cycle, and the heap's
// invariants hold at every epoch's quiet point and at the end.
func TestSlabCosimRandom(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_slab", nil)
	budget := requestBudget(t, "KVD_SLAB_REQUESTS", 30_000_000)
	stim, err := newSlabStim(c, 11, slabRandom, budget)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, stim.shadow, stim, cosim.Options{HangCycles: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if !stim.done {
		t.Fatalf("the stimulus did not finish: %d requests accepted", stim.Progress())
	}
	r := stim.LastReport()
	if r == nil || !r.OK() {
		t.Fatalf("invariant checker at the end: %+v", r)
	}
	cs := stim.sim.Stats()
	t.Logf("%d requests (%d allocs answered, %d no memory, %d frees), %d cycles, 0 divergences, %.2f M cycles/s, %.1f s; %d invariant checks clean (last: %d granules, %d used, %d free, %d lost); peak utilization %.1f %%",
		cs.Accepted, cs.Allocated, cs.NoMemory, cs.Frees, res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds(),
		stim.checks, r.TotalGranules, r.Used, r.Free, r.Lost, 100*stim.maxUtil)
	pts := stim.Points()
	t.Logf("coverage: %v", pts)
	for _, p := range slabPoints {
		if pts[p] == 0 {
			t.Errorf("coverage point %s not hit", p)
		}
	}
	noLeftovers(t, bin)
}

// Filling the heap to 100 % and freeing it, twice.
func TestSlabCosimExhaust(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_slab", nil)
	stim, err := newSlabStim(c, 1, slabExhaust, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, stim.shadow, stim, cosim.Options{HangCycles: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if !stim.done || stim.round != 2 || stim.checks != 2 {
		t.Fatalf("the sequence did not complete: round %d, %d checks", stim.round, stim.checks)
	}
	cs := stim.sim.Stats()
	t.Logf("%d requests (%d allocs answered, %d no memory, %d frees), %d cycles, 0 divergences, %.2f M cycles/s; coverage %v",
		cs.Accepted, cs.Allocated, cs.NoMemory, cs.Frees, res.Cycles, res.CyclesPerSec/1e6, stim.Points())
	noLeftovers(t, bin)
}
