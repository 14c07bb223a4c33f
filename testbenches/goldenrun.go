package testbenches

import (
	"context"
	"fmt"

	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
)

// stepGolden drives m with stim as cosim.Run would, without a simulator:
// the stimulus sees each cycle's model outputs in the next cycle. It stops
// when the stimulus ends or after cycles cycles and returns the cycles
// stepped (fewer than cycles: the stimulus ended); an error of the model
// names its cycle.
func stepGolden(ctx context.Context, m model.Model, stim cosim.Stimulus, cycles uint64) (uint64, error) {
	l, err := model.NewLayout(m.Ports())
	if err != nil {
		return 0, err
	}
	in, out := make([]uint64, l.InWords), make([]uint64, l.OutWords)
	var prev []uint64
	m.Reset()
	for cyc := uint64(0); cyc < cycles; cyc++ {
		if cyc&0xffff == 0 && ctx.Err() != nil {
			return cyc, fmt.Errorf("interrupted at cycle %d", cyc)
		}
		clear(in)
		more, err := stim.Next(cyc, prev, in)
		if err != nil {
			return cyc, err
		}
		if !more {
			return cyc, nil
		}
		if err := m.Step(in, out); err != nil {
			return cyc, fmt.Errorf("golden model at cycle %d: %v", cyc, err)
		}
		prev = out
	}
	return cycles, nil
}
