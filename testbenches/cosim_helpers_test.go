package testbenches

import (
	"context"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
)

// coveredStimulus is a scenario's stimulus with its coverage points.
type coveredStimulus interface {
	cosim.Stimulus
	Points() map[string]uint64
}

// cosimCovered co-simulates the generated top of c against m driven by
// stim until stim ends, and fails on a divergence or on a point of points
// that was never hit. The caller checks its own counts against res.
func cosimCovered(t *testing.T, c config.Config, top string, m model.Model, stim coveredStimulus, points []string) *cosim.Result {
	t.Helper()
	bin := buildModel(t, c, top, nil)
	res, err := cosim.Run(context.Background(), bin, m, stim, cosim.Options{HangCycles: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	pts := stim.Points()
	for _, p := range points {
		if pts[p] == 0 {
			t.Errorf("coverage point %s not hit", p)
		}
	}
	t.Logf("coverage %v", pts)
	noLeftovers(t, bin)
	return res
}

// driveGolden runs m with stim for cycles cycles and no simulator: the
// stimulus's own checks run against the golden model's outputs. It fails
// on a stimulus error, a model error, or a point of points not hit.
func driveGolden(t *testing.T, m model.Model, stim coveredStimulus, cycles uint64, points []string) {
	t.Helper()
	l := model.MustLayout(m.Ports())
	in, out := make([]uint64, l.InWords), make([]uint64, l.OutWords)
	var prev []uint64
	m.Reset()
	for cyc := uint64(0); cyc < cycles; cyc++ {
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
	for _, p := range points {
		if pts[p] == 0 {
			t.Errorf("coverage point %s not hit in %d cycles", p, cycles)
		}
	}
}
