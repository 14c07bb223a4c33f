package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/lint"
	"github.com/kvdirect/kvd/testbenches"
)

func newDemoCmd() *cobra.Command {
	var cycles uint64
	var seed uint64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The main job on the default configuration: generate, lint and co-simulate every block",
		Long: `demo generates the default (sim) configuration, lints it with Verilator, Icarus
and Yosys, and co-simulates every block scenario against its golden model,
every output every cycle. The full processor (YCSB workloads, the paper's
throughput table) joins as its blocks land.`,
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
			fmt.Fprintf(w, "3. co-simulation, RTL against golden models (seed %d):\n", seed)
			failed := 0
			for _, sc := range testbenches.Scenarios() {
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
			fmt.Fprintln(w, "4. next: the full processor (the station, engine, allocator and memory system behind kvd_front) under YCSB-B (docs/microarch/processor.md)")
			return nil
		},
	}
	cmd.Flags().Uint64Var(&cycles, "cycles", 2_000_000, "cycles per scenario")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "stimulus seed")
	return cmd
}
