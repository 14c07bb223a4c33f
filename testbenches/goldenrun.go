package testbenches

import (
	"context"
	"fmt"

	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
)

// stepGolden drives m with stim as cosim.Run would, without a simulator:
// the stimulus sees each cycle's model outputs in the next cycle. It stops
// when the stimulus ends or after cycles cycles, and reports which; an
// error of the stimulus or the model names its cycle.
func stepGolden(ctx context.Context, m model.Model, stim cosim.Stimulus, cycles uint64) (ended bool, err error) {
	l, err := model.NewLayout(m.Ports())
	if err != nil {
		return false, err
	}
	in, out := make([]uint64, l.InWords), make([]uint64, l.OutWords)
	var prev []uint64
	m.Reset()
	for cyc := uint64(0); cyc < cycles; cyc++ {
		if cyc&0xffff == 0 && ctx.Err() != nil {
			return false, fmt.Errorf("interrupted at cycle %d", cyc)
		}
		clear(in)
		more, err := stim.Next(cyc, prev, in)
		if err != nil {
			return false, err
		}
		if !more {
			return true, nil
		}
		if err := m.Step(in, out); err != nil {
			return false, fmt.Errorf("golden model at cycle %d: %v", cyc, err)
		}
		prev = out
	}
	return false, nil
}
