package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/cosim/toolchain"
	"github.com/kvdirect/kvd/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print kvd's version and the simulators it finds",
		Example: "  kvd version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "kvd %s (shim ABI %d)\n", version.Version, version.ShimABI)
			for _, t := range toolchain.Versions(cmd.Context()) {
				fmt.Fprintf(w, "%-10s %s\n", t.Name+":", t.Version)
			}
			return nil
		},
	}
}

func verilatorVersion() string { return toolchain.VerilatorVersion() }
