package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim/toolchain"
	"github.com/kvdirect/kvd/handoff"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/synth"
	"github.com/kvdirect/kvd/testbenches/regress"
)

func newHandoffCmd() *cobra.Command {
	var cf configFlags
	var out, doc string
	var noGate, noRegress, jsonOut bool
	cmd := &cobra.Command{
		Use:   "handoff",
		Short: "Write the FPGA handoff bundle: RTL, file list, FuseSoC core, constraints, vendor scripts, manifest",
		Long: `handoff writes a reproducible bundle for a configuration (default paper): the
generated RTL, a file list, a FuseSoC CAPI2 core, SDC and XDC clock
constraints, Vivado and Quartus scripts, and manifest.json with the generator
version, the configuration and its hash, every file's sha256, the Verilator
and Yosys versions, the regression runs this exact RTL passed, and the
synthesis gate's table. The gate fails the handoff on a latch, a
combinational loop, a multiply-driven net or a memory meant for block RAM
that did not get it.`,
		Example: `  kvd handoff
  kvd handoff --config sim --out /tmp/handoff --json
  make handoff`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("config") {
				cf.config = "paper"
			}
			c, err := cf.load()
			if err != nil {
				return err
			}
			log := cmd.ErrOrStderr()
			root := "kvd_" + filepath.Base(c.Name) + "_" + c.Hash()
			in := handoff.Inputs{Config: c, Top: handoff.Top, Verilator: toolchain.VerilatorVersion(), Yosys: yosysVersion(cmd.Context())}
			files, err := handoff.Build(in)
			if err != nil {
				return err
			}
			// Gate and regression run on the bundle's own RTL.
			rtl := filepath.Join(out, root, "rtl")
			if _, _, err := handoff.Write(out, root, files); err != nil {
				return err
			}
			var gateFailed []string
			if !noGate {
				mods, err := design.Modules(c)
				if err != nil {
					return err
				}
				var rows []synth.Result
				for _, m := range mods {
					fmt.Fprintf(log, "  gate: synthesising %s …\n", m.Name)
					r, err := synth.Block(cmd.Context(), rtl, m.Name, synth.Options{})
					if err != nil {
						return err
					}
					rows = append(rows, r)
					in.Gate = append(in.Gate, handoff.GateRow{Block: r.Block, LUTs: r.LUTs, FFs: r.FFs, BRAMs: r.BRAMs, DSPs: r.DSPs, LUTLevels: r.LUTLevels, Problems: r.Problems})
					if !r.OK() {
						gateFailed = append(gateFailed, r.Block)
					}
				}
				if doc != "" {
					if err := writeSynthDoc(doc, c.Name, c.Hash(), false, rows); err != nil {
						return err
					}
				}
			}
			if !noRegress {
				in.Regressions, err = regressOn(cmd.Context(), c, rtl, filepath.Join(out, root+"-regress"), log)
				if err != nil {
					return err
				}
			}
			files, err = handoff.Build(in)
			if err != nil {
				return err
			}
			path, sum, err := handoff.Write(out, root, files)
			if err != nil {
				return err
			}
			if jsonOut {
				json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
					"bundle": path, "sha256": sum, "config": c.Name, "config_hash": c.Hash(), "rows": in.Gate,
					"regressions": len(in.Regressions),
				})
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "bundle %s (sha256 %s): %d files, %d regression runs, %d blocks through the gate\n",
					path, sum, len(files), len(in.Regressions), len(in.Gate))
			}
			for _, r := range in.Regressions {
				if !r.Passed {
					return fmt.Errorf("handoff: regression %s failed on this RTL", r.Name)
				}
			}
			if len(gateFailed) > 0 {
				return fmt.Errorf("handoff: the synthesis gate failed for %s", strings.Join(gateFailed, ", "))
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&out, "out", "build/handoff", "directory for the bundle and its archive")
	cmd.Flags().StringVar(&doc, "doc", "", "also write the gate's table to this file (make handoff: docs/synthesis.md)")
	cmd.Flags().BoolVar(&noGate, "no-gate", false, "skip the synthesis gate")
	cmd.Flags().BoolVar(&noRegress, "no-regress", false, "skip the regression on the bundle's RTL")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object: the gate's rows, the bundle's path and hash")
	return cmd
}

// regressOn runs the quick catalogue's entries for this configuration on the
// bundle's RTL, so the manifest records what this exact tree passed.
func regressOn(ctx context.Context, c config.Config, rtl, out string, log interface{ Write([]byte) (int, error) }) ([]handoff.Regression, error) {
	all, err := regress.Catalogue(regress.Quick)
	if err != nil {
		return nil, err
	}
	var entries []regress.Entry
	for _, e := range all {
		if e.Config == filepath.Base(c.Name) && e.Kind != "file" {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	s, err := regress.Run(ctx, entries, regress.Options{Out: out, RTLDir: rtl, Log: log})
	if err != nil {
		return nil, err
	}
	var rs []handoff.Regression
	for _, r := range s.Results {
		rs = append(rs, handoff.Regression{Name: r.Name, Seed: r.Seed, Cycles: r.Cycles, Passed: r.Passed})
	}
	os.RemoveAll(out)
	return rs, nil
}

func yosysVersion(ctx context.Context) string {
	for _, t := range toolchain.Versions(ctx) {
		if t.Name == "yosys" {
			return t.Version
		}
	}
	return ""
}
