package testbenches

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/kvdirect/kvd/config"
)

// BridgeRow is one scenario of the bridge benchmark.
type BridgeRow struct {
	Scenario           string  `json:"scenario"`
	Cycles             uint64  `json:"cycles"`
	NativeCyclesPerSec float64 `json:"native_cycles_per_sec"`
	CosimCyclesPerSec  float64 `json:"cosim_cycles_per_sec"`
	Ratio              float64 `json:"ratio"`
	CosimRTLEvalShare  float64 `json:"cosim_rtl_eval_share"`
	CosimGoldenSec     float64 `json:"cosim_golden_sec"`
	Repeats            int     `json:"repeats"`
	ModelCached        bool    `json:"model_cached"`
}

// BenchBridge runs one scenario two ways on the same recorded stimulus: the
// shim replaying the inputs free-running with no golden model (native), and
// the full co-simulation. Runs alternate and the median of each is kept, so
// both see the same machine noise.
func BenchBridge(ctx context.Context, cfg config.Config, scenario string, seed, cycles uint64, repeats int, progress func(string)) (BridgeRow, error) {
	row := BridgeRow{Scenario: scenario, Cycles: cycles, Repeats: repeats}
	tmp, err := os.MkdirTemp("", "kvd-bench-bridge")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(tmp)
	rec := filepath.Join(tmp, "inputs.bin")
	f, err := os.Create(rec)
	if err != nil {
		return row, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	base := SimOptions{Scenario: scenario, Config: cfg, Seed: seed, Cycles: cycles, NoWave: true, RunDir: filepath.Join(tmp, "run")}
	o := base
	o.RecordInputs = bw
	first, err := Sim(ctx, o)
	if err != nil {
		return row, err
	}
	if err := bw.Flush(); err != nil {
		return row, err
	}
	f.Close()
	if first.Record.Divergences != 0 {
		return row, fmt.Errorf("%s diverged at cycle %d: benchmark a passing design", scenario, first.Record.Divergence.Cycle)
	}
	row.ModelCached = first.Record.ModelCached
	var native, cosim, share, golden []float64
	for i := 0; i < repeats; i++ {
		if progress != nil {
			progress(fmt.Sprintf("%s: round %d of %d", scenario, i+1, repeats))
		}
		out, err := exec.CommandContext(ctx, first.Binary, "--replay", rec).Output()
		if err != nil {
			return row, fmt.Errorf("native replay of %s: %v", scenario, err)
		}
		var nr struct {
			Cycles uint64 `json:"cycles"`
			EvalNs uint64 `json:"eval_ns"`
		}
		if err := json.Unmarshal(out, &nr); err != nil || nr.Cycles != first.Record.Cycles {
			return row, fmt.Errorf("native replay of %s: %q (%v), want %d cycles", scenario, out, err, first.Record.Cycles)
		}
		native = append(native, float64(nr.Cycles)/(float64(nr.EvalNs)/1e9))
		run, err := Sim(ctx, base)
		if err != nil {
			return row, err
		}
		cosim = append(cosim, run.Record.CyclesPerSec)
		share = append(share, run.Record.RTLEvalSec/run.Record.WallSec)
		golden = append(golden, run.Record.GoldenSec)
	}
	row.NativeCyclesPerSec = median(native)
	row.CosimCyclesPerSec = median(cosim)
	row.Ratio = row.CosimCyclesPerSec / row.NativeCyclesPerSec
	row.CosimRTLEvalShare = median(share)
	row.CosimGoldenSec = median(golden)
	return row, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
