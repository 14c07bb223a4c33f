package memsys

import (
	"fmt"
	"slices"
	"testing"
)

// Outputs, called between two steps, writes exactly what the next Step
// writes: the outputs depend on the state only.
func TestOutputsEqualStep(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run(fmt.Sprintf("wide=%v", wide), func(t *testing.T) { testOutputsEqualStep(t, wide) })
	}
}

func testOutputsEqualStep(t *testing.T, wide bool) {
	cfg := preset(t, "sim")
	p := smallParams(cfg, 0.5)
	if wide {
		p = wideParams(cfg, 0.5)
	}
	d := newDriver(t, cfg, p, 11, bp{0.3, 0.2, 0.2})
	d.Gen = randomGen(0.6, 0.4)
	pre := make([]uint64, len(d.Out()))
	have := false
	checked := 0
	d.Observe = func(d *Driver) error {
		if have {
			if !slices.Equal(pre, d.Out()) {
				t.Fatalf("cycle %d: Outputs gave %x before the step, Step %x", d.Cycle, pre, d.Out())
			}
			checked++
		}
		for i := range pre {
			pre[i] = 0xdeadbeefdeadbeef // Outputs must write every word
		}
		d.M.Outputs(pre)
		have = true
		return nil
	}
	if err := d.Run(20000); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(1 << 20); err != nil {
		t.Fatal(err)
	}
	if checked < 20000 {
		t.Fatalf("checked %d cycles", checked)
	}
}
