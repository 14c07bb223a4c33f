// Package cli is the kvd command line: one file per command, each thin over
// the packages that do the work, all runnable in process for tests.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/config"
)

// Run executes kvd with args and returns the process exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(goStyleRun(args))
	if err := root.ExecuteContext(ctx); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "kvd") {
			msg = "kvd: " + msg
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
	return 0
}

// goStyleRun accepts `kvd regress -run PATTERN`, as go test spells it; pflag
// would read -run as the shorthands -r -u -n.
func goStyleRun(args []string) []string {
	if len(args) == 0 || args[0] != "regress" {
		return args
	}
	out := append([]string(nil), args...)
	for i, a := range out {
		if a == "-run" || strings.HasPrefix(a, "-run=") {
			out[i] = "-" + a
		}
	}
	return out
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "kvd",
		Short: "Build and verify the KV-Direct key-value processor",
		Long: `kvd generates the Verilog of a KV-Direct-style key-value processor from a
configuration, lints it, and checks it cycle by cycle against Go golden models.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newRTLCmd(),
		newLintCmd(),
		newVersionCmd(),
		newDemoCmd(),
		newSimCmd(),
		newDiffCmd(),
		newBenchCmd(),
		newRegressCmd(),
		newSynthCmd(),
		newHandoffCmd(),
	)
	return root
}

// configFlags are the --config and --set flags every command that builds a
// design shares.
type configFlags struct {
	config string
	sets   []string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "sim", "preset name ("+strings.Join(config.Presets(), ", ")+") or JSON file")
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override one key, e.g. --set rs.slots=512 (repeatable)")
}

func (f *configFlags) load() (config.Config, error) {
	c, err := config.Load(f.config)
	if err != nil {
		return c, err
	}
	for _, s := range f.sets {
		if err := c.Set(s); err != nil {
			return c, err
		}
	}
	return c, nil
}
