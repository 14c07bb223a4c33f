package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/cosim"
)

func newDiffCmd() *cobra.Command {
	var o cosim.DiffOptions
	var ports string
	cmd := &cobra.Command{
		Use:   "diff RUN",
		Short: "The golden-model diff: expected against actual, side by side, for a run's window",
		Example: `  kvd diff runs/keyhash-1
  kvd diff runs/fifo_w64_d16-3 --from 1200 --to 1210 --ports out_valid,out_data --all`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := cosim.LoadRecord(args[0])
			if err != nil {
				return err
			}
			if ports != "" {
				o.Ports = strings.Split(ports, ",")
			}
			if rec.Divergence != nil {
				rec.WriteReport(cmd.OutOrStdout(), 4)
				cmd.Println()
			}
			return rec.WriteDiff(cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().Uint64Var(&o.From, "from", 0, "first cycle (default: the start of the recorded window)")
	cmd.Flags().Uint64Var(&o.To, "to", 0, "last cycle (default: the end of the recorded window)")
	cmd.Flags().StringVar(&ports, "ports", "", "comma-separated ports to show (default: every output)")
	cmd.Flags().BoolVar(&o.All, "all", false, "show values that agree too")
	return cmd
}
