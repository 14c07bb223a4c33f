package testbenches

import (
	"context"
	"fmt"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
)

// ProcRun is one co-simulation of the processor with a given client side.
type ProcRun struct {
	Run   *SimRun
	Stats ProcStats
}

// OpsPerCycle is the throughput: operations answered over the cycles up to
// the last answer (from cycle 0, so the pipeline's fill counts against it).
func (s ProcStats) OpsPerCycle() float64 {
	if s.Cycles == 0 {
		return 0
	}
	return float64(s.Ops) / float64(s.Cycles+1)
}

// RunProc co-simulates spec on the processor (scenario proc) with o's
// configuration, seed and RTL; o.Cycles 0 means "until every operation is
// answered and the table checked" (with a generous cap). progress, when
// set, is called about once a second with the cycles and operations done.
func RunProc(ctx context.Context, o SimOptions, spec ProcSpec, progress func(cycles, ops uint64)) (*ProcRun, error) {
	o.Scenario = "proc"
	var first *procStim
	o.Make = func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
		m, s, err := NewProc(cfg, seed, spec)
		if err != nil {
			return nil, nil, err
		}
		if first == nil { // a divergence's traced replay builds another
			first = s
		}
		return m, s, nil
	}
	if o.Cycles == 0 {
		o.Cycles = 1_000_000 + 2_000*spec.Ops
	}
	if progress != nil {
		o.Progress = func(c uint64) {
			var n uint64
			if first != nil {
				n = first.opsDone.Load()
			}
			progress(c, n)
		}
	}
	run, err := Sim(ctx, o)
	pr := &ProcRun{Run: run}
	if first != nil {
		pr.Stats = first.Stats()
	}
	return pr, err
}

// RunProcGolden runs spec on the golden processor alone, without a
// simulator: the same cycles the RTL takes when a co-simulation shows no
// divergence, in a fraction of the time — for exploring configurations
// whose RTL has not been co-simulated (the figures say which they are).
func RunProcGolden(cfg config.Config, seed uint64, spec ProcSpec, limit uint64) (ProcStats, error) {
	m, s, err := NewProc(cfg, seed, spec)
	if err != nil {
		return ProcStats{}, err
	}
	n, err := stepGolden(context.Background(), m, s, limit)
	if err == nil && n == limit {
		err = fmt.Errorf("proc: not done after %d cycles: %s", limit, s.Describe(limit))
	}
	return s.Stats(), err
}
