package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/lint"
)

func newLintCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "lint DIR",
		Short: "Lint a Verilog tree with Verilator -Wall, Icarus and Yosys",
		Example: `  kvd lint rtl/sim
  kvd lint -v my-edited-rtl/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			results, err := lint.All(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				fmt.Fprintln(cmd.OutOrStdout(), r.Summary())
				if !r.OK() {
					failed++
					limit := 10
					if verbose {
						limit = len(r.Warnings)
					}
					for i, w := range r.Warnings {
						if i == limit {
							fmt.Fprintf(cmd.OutOrStdout(), "    … %d more (use -v)\n", len(r.Warnings)-limit)
							break
						}
						fmt.Fprintln(cmd.OutOrStdout(), "    "+w)
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("lint %s: %d of %d tools reported problems", args[0], failed, len(results))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every warning")
	return cmd
}
