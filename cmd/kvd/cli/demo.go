package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/lint"
	"github.com/kvdirect/kvd/testbenches"
	"github.com/kvdirect/kvd/testbenches/workload"
)

func newDemoCmd() *cobra.Command {
	var cycles, seed, ops uint64
	var blocks bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The main job on the default configuration: the processor under YCSB-B, co-simulated",
		Long: `demo generates the default (sim) configuration, lints it with Verilator, Icarus
and Yosys, builds the processor (kvd_top) and runs a YCSB-B workload (95 % GET,
5 % PUT, Zipf 0.99 keys) over a table preloaded to 50 % memory utilization,
comparing every output of the RTL with the golden model every cycle and every
response with the reference store. It prints throughput, latency percentiles,
memory accesses per operation and the divergence count. Then it co-simulates
every block scenario on its own (--blocks=false skips them).`,
		Example: `  kvd demo
  make demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			c, err := config.Preset("sim")
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "kvd-demo")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			files, err := design.Write(c, dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "1. generated %d files of configuration sim (hash %s)\n", len(files), c.Hash())
			results, err := lint.All(cmd.Context(), dir)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "2. lint:")
			for _, r := range results {
				fmt.Fprintln(w, "     "+r.Summary())
				if !r.OK() {
					return fmt.Errorf("demo: lint failed (%s)", r.Tool)
				}
			}
			if err := demoProcessor(cmd, w, c, dir, seed, ops); err != nil {
				return err
			}
			if !blocks {
				return nil
			}
			fmt.Fprintf(w, "4. every block on its own, RTL against its golden model (seed %d, %d cycles each):\n", seed, cycles)
			failed := 0
			for _, sc := range testbenches.Scenarios() {
				if sc.Name == "proc" {
					continue // step 3
				}
				start := time.Now()
				o := testbenches.SimOptions{
					Scenario: sc.Name, Config: c, Seed: seed, Cycles: cycles, RTLDir: dir,
					Log: cmd.ErrOrStderr(), Replay: fmt.Sprintf("kvd sim %s --seed %d --cycles %d", sc.Name, seed, cycles),
					Progress: func(n uint64) {
						fmt.Fprintf(cmd.ErrOrStderr(), "     %s: %d / %d cycles\n", sc.Name, n, cycles)
					},
				}
				run, err := testbenches.Sim(cmd.Context(), o)
				if err != nil {
					return err
				}
				r := run.Record
				verdict := "PASS"
				if r.Divergences > 0 {
					verdict = "FAIL"
					failed++
				}
				fmt.Fprintf(w, "     %-24s %s  %9d cycles  %d divergences  %6.2f M cycles/s  (%.1f s)\n",
					sc.Name, verdict, r.Cycles, r.Divergences, r.CyclesPerSec/1e6, time.Since(start).Seconds())
				if r.Divergence != nil {
					r.WriteReport(w, 4)
				}
			}
			if failed > 0 {
				return fmt.Errorf("demo: %d scenarios diverged", failed)
			}
			return nil
		},
	}
	cmd.Flags().Uint64Var(&cycles, "cycles", 1_000_000, "cycles per block scenario")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "stimulus seed")
	cmd.Flags().Uint64Var(&ops, "ops", 200_000, "operations of the YCSB-B run on the processor")
	cmd.Flags().BoolVar(&blocks, "blocks", true, "after the processor, co-simulate every block scenario on its own")
	return cmd
}

// demoProcessor is the main job: YCSB-B on the whole processor.
func demoProcessor(cmd *cobra.Command, w io.Writer, c config.Config, rtl string, seed, ops uint64) error {
	spec := testbenches.ProcSpec{Mix: workload.MixB, Dist: workload.Zipf, KVBytes: 10, Util: 0.5, Ops: ops, BatchOps: 16}
	fmt.Fprintf(w, "3. the processor (kvd_top) under YCSB-B: 95 %% GET, 5 %% PUT, Zipf 0.99 keys, 10-byte KVs, %d operations\n", ops)
	fmt.Fprintf(w, "   in request packets of up to %d, on a table preloaded to %.0f %% memory utilization (seed %d)\n", spec.BatchOps, 100*spec.Util, seed)
	start := time.Now()
	last := time.Now()
	o := testbenches.SimOptions{Config: c, Seed: seed, RTLDir: rtl, Log: cmd.ErrOrStderr(),
		Replay: fmt.Sprintf("kvd demo --seed %d --ops %d", seed, ops)}
	run, err := testbenches.RunProc(cmd.Context(), o, spec, func(cyc, n uint64) {
		if time.Since(last) < 2*time.Second && n < ops {
			return
		}
		last = time.Now()
		fmt.Fprintf(cmd.ErrOrStderr(), "     %7d / %d operations  %9d cycles  %5.1f s\n", n, ops, cyc, time.Since(start).Seconds())
	})
	if err != nil {
		return err
	}
	r, st := run.Run.Record, run.Stats
	if r.Divergence != nil {
		r.WriteReport(w, 4)
		return fmt.Errorf("demo: the processor diverged from its golden model at cycle %d", r.Divergence.Cycle)
	}
	us := func(cyc uint64) float64 { return float64(cyc) / c.ClockMHz }
	opc := st.OpsPerCycle()
	fmt.Fprintf(w, "     throughput      %.3f operations/cycle = %.1f Mops at %.0f MHz (%d operations in %d cycles)\n",
		opc, opc*c.ClockMHz, c.ClockMHz, st.Ops, st.Cycles+1)
	fmt.Fprintf(w, "     latency         request packet in → its response out, %d packets:\n", len(st.Latency))
	for _, p := range []float64{50, 90, 99, 99.9} {
		v := testbenches.Percentile(st.Latency, p)
		fmt.Fprintf(w, "                     p%-5v %6d cycles  %8.2f µs\n", p, v, us(v))
	}
	n := float64(max(st.Ops, 1))
	fmt.Fprintf(w, "     memory          per operation: %.2f PCIe reads, %.2f PCIe writes, %.2f DRAM reads, %.2f DRAM writes\n",
		float64(st.PCIeReads)/n, float64(st.PCIeWrites)/n, float64(st.DRAMReads)/n, float64(st.DRAMWrites)/n)
	fmt.Fprintf(w, "     divergences     %d over %d cycles (every output of kvd_top, every cycle; %.0f k cycles/s)\n",
		r.Divergences, r.Cycles, r.CyclesPerSec/1e3)
	fmt.Fprintf(w, "     semantics       every response equal to the reference store's; host memory equal to it after the flush\n")
	fmt.Fprintf(w, "     reproduce       %s   (config %s, hash %s, %s, %.0f s)\n", o.Replay, c.Name, c.Hash(), r.Verilator, time.Since(start).Seconds())
	return nil
}
