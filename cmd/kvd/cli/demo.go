package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/lint"
)

func newDemoCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The main job on the default configuration: generate, lint and co-simulate",
		Example: `  kvd demo
  make demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			c, err := config.Preset("sim")
			if err != nil {
				return err
			}
			dir := filepath.Join(out, "sim")
			files, err := design.Write(c, dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "generated %d files into %s (config sim, hash %s)\n", len(files), dir, c.Hash())
			results, err := lint.All(cmd.Context(), dir)
			if err != nil {
				return err
			}
			for _, r := range results {
				fmt.Fprintln(w, "  "+r.Summary())
				if !r.OK() {
					return fmt.Errorf("demo: lint of %s failed (%s)", dir, r.Tool)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "rtl", "directory to generate into")
	return cmd
}
