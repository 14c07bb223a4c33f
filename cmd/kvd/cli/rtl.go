package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/synth"
)

func newRTLCmd() *cobra.Command {
	var cf configFlags
	var out string
	cmd := &cobra.Command{
		Use:   "rtl",
		Short: "Write the Verilog of a configuration",
		Example: `  kvd rtl                           # the sim preset into rtl/sim/
  kvd rtl --config paper            # the paper preset into rtl/paper/
  kvd rtl --config my.json --set rs.slots=512 --out /tmp/rtl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			dir := out
			if dir == "" {
				dir = filepath.Join("rtl", filepath.Base(c.Name))
			}
			files, err := design.Write(c, dir)
			if err != nil {
				return err
			}
			digest, err := synth.Digest(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files to %s (config %s, hash %s; RTL digest %s)\n", len(files), dir, c.Name, c.Hash(), digest)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "output directory (default rtl/<config name>)")
	return cmd
}
