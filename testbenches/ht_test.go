package testbenches

import (
	"context"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/htengine"
	"github.com/kvdirect/kvd/golden/model"
)

// The generated kvd_ht and golden/htengine's model announce the same ports.
func TestHTPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_ht", func(c config.Config) []model.Port {
		m, err := htengine.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return m.Ports()
	})
}

// The hash-table engine issue's acceptance: mixed operations (vector ones
// included) with 0 divergences, every response equal to the sequential
// reference, and the table checker clean after every epoch. make test runs
// 300 k operations (about 30 s, every point hit, six epoch checks);
// KVD_HT_OPS=1000000 is the million-operation run engine.md §12 reports
// (13.3 M cycles, about 100 s since the vector unit).
func TestHTCosim(t *testing.T) {
	htCosim(t, preset(t, "sim"), 5, requestBudget(t, "KVD_HT_OPS", 300_000))
}

// The wide read port (engine.read_bytes = 64, docs/microarch.md §1.7): two
// beats a transfer, the odd last beat of an object alone.
func TestHTCosimWide(t *testing.T) {
	c := preset(t, "sim")
	c.Engine.ReadBytes = 64
	htCosim(t, c, 6, requestBudget(t, "KVD_HT_OPS", 100_000))
}

func htCosim(t *testing.T, c config.Config, seed, budget uint64) {
	t.Helper()
	bin := buildModel(t, c, "kvd_ht", nil)
	stim, err := newHTStim(c, seed, budget)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, stim.m, stim, cosim.Options{HangCycles: 500_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if !stim.done {
		t.Fatalf("the stimulus did not finish: %d responses", stim.responses)
	}
	pts := stim.Points()
	t.Logf("%d operations, %d cycles (%.3f ops/cycle), 0 divergences, %.2f M cycles/s, %.1f s; longest chain %d; coverage %v",
		stim.responses, res.Cycles, float64(stim.responses)/float64(res.Cycles), res.CyclesPerSec/1e6, res.Wall.Seconds(),
		stim.points["ht.max_chain"], pts)
	for _, p := range htPoints {
		if pts[p] == 0 {
			t.Errorf("coverage point %s not hit", p)
		}
	}
	noLeftovers(t, bin)
}
