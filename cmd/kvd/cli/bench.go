package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/testbenches"
)

// benchOutput is the one JSON object every `kvd bench NAME --json` prints.
type benchOutput struct {
	Bench      string `json:"bench"`
	ConfigHash string `json:"config_hash"`
	Config     string `json:"config"`
	Seed       uint64 `json:"seed"`
	Verilator  string `json:"verilator"`
	Rows       any    `json:"rows"`
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench NAME",
		Short: "Benchmarks that print figures and ratios measured side by side in one run",
		Example: `  kvd bench bridge
  kvd bench bridge --json --cycles 4000000`,
	}
	cmd.AddCommand(newBenchBridgeCmd(), newBenchHashtableCmd())
	cmd.AddCommand(newBenchOOOCmd())
	cmd.AddCommand(newBenchSlabCmd())
	cmd.AddCommand(newBenchMemoryCmd())
	cmd.AddCommand(newBenchPaperCmd())
	return cmd
}

func newBenchBridgeCmd() *cobra.Command {
	var cf configFlags
	var seed, cycles uint64
	var repeats int
	var jsonOut bool
	var scenarios []string
	cmd := &cobra.Command{
		Use:   "bridge",
		Short: "Co-simulation speed against the same model replaying the same stimulus natively",
		Example: `  kvd bench bridge
  kvd bench bridge --json --scenario keyhash --cycles 4000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var rows []testbenches.BridgeRow
			for _, sc := range scenarios {
				row, err := testbenches.BenchBridge(cmd.Context(), c, sc, seed, cycles, repeats, func(s string) {
					fmt.Fprintln(cmd.ErrOrStderr(), "  bench bridge: "+s)
				})
				if err != nil {
					return err
				}
				rows = append(rows, row)
			}
			if jsonOut {
				return json.NewEncoder(w).Encode(benchOutput{Bench: "bridge", ConfigHash: c.Hash(), Config: c.Name, Seed: seed, Verilator: verilatorVersion(), Rows: rows})
			}
			fmt.Fprintf(w, "bench bridge: config %s (hash %s), seed %d, %d cycles, median of %d alternating runs\n", c.Name, c.Hash(), seed, cycles, repeats)
			fmt.Fprintf(w, "%-16s %16s %16s %7s %12s\n", "scenario", "native cyc/s", "cosim cyc/s", "ratio", "RTL share")
			for _, r := range rows {
				fmt.Fprintf(w, "%-16s %16.0f %16.0f %7.2f %11.0f%%\n", r.Scenario, r.NativeCyclesPerSec, r.CosimCyclesPerSec, r.Ratio, 100*r.CosimRTLEvalShare)
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().Uint64Var(&seed, "seed", 1, "stimulus seed")
	cmd.Flags().Uint64Var(&cycles, "cycles", 2_000_000, "cycles per run")
	cmd.Flags().IntVar(&repeats, "repeats", 3, "alternating runs of each kind; the median is reported")
	cmd.Flags().StringSliceVar(&scenarios, "scenario", []string{"keyhash", "fifo_w64_d16", "fifo_w72_d64"}, "scenarios to measure")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object")
	return cmd
}
