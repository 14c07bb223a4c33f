package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/testbenches"
)

func newBenchOOOCmd() *cobra.Command {
	var cf configFlags
	var seed, cycles, warmup uint64
	var keys []int
	var puts []float64
	var latency string
	var jsonOut, golden bool
	cmd := &cobra.Command{
		Use:   "ooo",
		Short: "Reservation-station throughput with and without data forwarding, beside the paper's figures",
		Long: `Co-simulates kvd_rs (the RTL against golden/rs, every response checked
against a sequential reference) on atomics to 1, 2, 4 and 16 hot keys (in
distinct slots) and on Zipf 0.99 over a million keys with 0, 1, 10, 50 and
100 % PUT, each with rs.forwarding on and off, behind a main pipeline that
answers after a PCIe-like latency. It reports responses per cycle after a
warm-up, and Mops at the configuration's clock, beside the paper's figures
(kv-direct.md §4) where it gives them.

The default configuration is the paper preset: its 256 operation ids and
1024 slots are what the paper measured; the sim preset's 64 ids cap keys
that miss the station at about a third of an operation per cycle.

--golden runs golden/rs alone, without building or simulating the RTL: the
same cycles a co-simulation without divergence gives, for exploring
configurations quickly.`,
		Example: `  kvd bench ooo
  kvd bench ooo --json --cycles 100000 --keys 1 --put 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			lo, hi, err := parseLatency(latency)
			if err != nil {
				return err
			}
			if warmup == 0 {
				warmup = cycles / 5
			}
			ratios := make([]float64, len(puts))
			for i, p := range puts {
				if p < 0 || p > 100 {
					return fmt.Errorf("--put %g: want a percentage, 0..100", p)
				}
				ratios[i] = p / 100
			}
			for _, k := range keys {
				if k < 1 || k > c.RS.Slots {
					return fmt.Errorf("--keys %d: want 1..rs.slots (%d), one slot per key", k, c.RS.Slots)
				}
			}
			rows, err := testbenches.BenchOOO(cmd.Context(), c, testbenches.OOOOptions{
				Seed: seed, Cycles: cycles, Warmup: warmup, Keys: keys, PutRatios: ratios, LatMin: lo, LatMax: hi, Golden: golden,
				Progress: func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "  bench ooo: "+s) },
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(w).Encode(benchOutput{Bench: "ooo", ConfigHash: c.Hash(), Config: c.Name, Seed: seed, Verilator: verilatorVersion(), Rows: rows})
			}
			how := "co-simulated (kvd_rs against golden/rs)"
			if golden {
				how = "golden/rs alone (--golden; no RTL)"
			}
			fmt.Fprintf(w, "bench ooo: config %s (hash %s), seed %d, %d cycles per run of which %d warm-up, pipeline latency %d..%d cycles, %g MHz, %s\n",
				c.Name, c.Hash(), seed, cycles, warmup, lo, hi, c.ClockMHz, how)
			fmt.Fprintf(w, "%-22s %-4s %9s %8s %10s %8s %8s %9s\n", "workload", "fwd", "ops/cyc", "Mops", "paper Mops", "speedup", "(paper)", "max wait")
			short, noWin := []string{}, 1.0
			for _, r := range rows {
				name := fmt.Sprintf("atomics, %d hot keys", derefInt(r.Keys))
				if r.Keys != nil && *r.Keys == 1 {
					name = "atomics, 1 hot key"
				}
				if r.PutRatio != nil {
					name = fmt.Sprintf("Zipf 0.99, %g %% PUT", 100**r.PutRatio)
				}
				fwd, paper, speedup, paperSpeedup := "off", "", "", ""
				if r.Forwarding {
					fwd = "on"
					speedup = fmt.Sprintf("%.0fx", r.Speedup)
					if r.OpsPerCycle < 0.95 {
						short = append(short, name)
					}
					if r.Keys != nil && *r.Keys == 1 {
						noWin = r.Speedup
					}
				}
				if r.PaperMops != nil {
					paper = strconv.FormatFloat(*r.PaperMops, 'g', -1, 64)
				}
				if r.PaperSpeedup > 0 {
					paperSpeedup = fmt.Sprintf("%.0fx", r.PaperSpeedup)
				}
				fmt.Fprintf(w, "%-22s %-4s %9.4f %8.2f %10s %8s %8s %9d\n", name, fwd, r.OpsPerCycle, r.Mops, paper, speedup, paperSpeedup, r.MaxWaitCycles)
			}
			fmt.Fprintln(w, "max wait: the longest a measured request waited for its response (or an unanswered one has), in cycles")
			if len(short) == 0 {
				fmt.Fprintln(w, "goal >= 0.95 ops/cycle with forwarding: met on every row")
			} else {
				fmt.Fprintf(w, "goal >= 0.95 ops/cycle with forwarding: NOT met on %s\n", strings.Join(short, "; "))
			}
			if len(keys) > 0 && keys[0] == 1 {
				verdict := "met"
				if noWin < 150 {
					verdict = "NOT met"
				}
				fmt.Fprintf(w, "goal >= 150x over no forwarding on one key: %s (%.0fx; the paper: 191x)\n", verdict, noWin)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cf.config, "config", "paper", "preset name or JSON file")
	cmd.Flags().StringArrayVar(&cf.sets, "set", nil, "override one key, e.g. --set rs.max_inflight=128 (repeatable)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "stimulus seed (the same for every row, so forwarding on and off see the same requests)")
	cmd.Flags().Uint64Var(&cycles, "cycles", 200_000, "cycles simulated per row")
	cmd.Flags().Uint64Var(&warmup, "warmup", 0, "cycles simulated before measuring (default: a fifth of --cycles)")
	cmd.Flags().IntSliceVar(&keys, "keys", []int{1, 2, 4, 16}, "hot-key counts of the atomic rows")
	cmd.Flags().Float64SliceVar(&puts, "put", []float64{0, 1, 10, 50, 100}, "PUT percentages of the Zipf rows")
	cmd.Flags().StringVar(&latency, "latency", "150:250", "main-pipeline latency MIN:MAX in cycles (uniform; 1 µs PCIe round trip ≈ 180 cycles at 180 MHz)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&golden, "golden", false, "run golden/rs alone, without the RTL")
	return cmd
}

func parseLatency(s string) (lo, hi uint64, err error) {
	a, b, ok := strings.Cut(s, ":")
	lo, err1 := strconv.ParseUint(a, 10, 64)
	hi, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi < lo {
		return 0, 0, fmt.Errorf("--latency %q: want MIN:MAX cycles, 1 <= MIN <= MAX (e.g. 150:250)", s)
	}
	return lo, hi, nil
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
