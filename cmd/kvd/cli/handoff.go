package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim/toolchain"
	"github.com/kvdirect/kvd/handoff"
	"github.com/kvdirect/kvd/lint"
	"github.com/kvdirect/kvd/synth"
	"github.com/kvdirect/kvd/testbenches/regress"
)

func newHandoffCmd() *cobra.Command {
	var cf configFlags
	var out, doc, regressMatch, recordRuns string
	var noGate, noRegress, jsonOut, noCache bool
	var jobs int
	var gateTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "handoff",
		Short: "Write the FPGA handoff bundle: RTL, file list, FuseSoC core, constraints, vendor scripts, manifest",
		Long: `handoff writes a reproducible bundle for a configuration (default paper): the
generated RTL, a file list, a FuseSoC CAPI2 core, SDC and XDC clock
constraints, Vivado and Quartus scripts, and manifest.json with the generator
version, the configuration and its hash, every file's sha256, the Verilator
and Yosys versions, the regression runs this exact RTL passed, and the
synthesis gate's table. The bundle's RTL is linted (Verilator -Wall,
Icarus, Yosys) and every block goes through the gate (kvd synth): a lint
warning, a latch, a combinational loop, a multiply-driven net or a memory
meant for block RAM that did not get it fails the handoff, naming the
block.`,
		Example: `  kvd handoff
  kvd handoff --config sim --out /tmp/handoff --json
  make handoff`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			log := cmd.ErrOrStderr()
			// A bad selection is found before an hour of lint and synthesis.
			var entries []regress.Entry
			if !noRegress {
				if entries, err = regressEntries(c, regressMatch); err != nil {
					return err
				}
			}
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
			// Lint first: it is quick, and a tree that does not lint is not
			// worth synthesising.
			lints, err := lint.All(cmd.Context(), rtl)
			if err != nil {
				return err
			}
			var lintFailed []string
			for _, l := range lints {
				fmt.Fprintln(log, "  lint: "+l.Summary())
				row := handoff.Lint{Tool: l.Tool, Files: l.Files, Warnings: l.Warnings}
				if row.Warnings == nil {
					row.Warnings = []string{}
				}
				if l.Err != nil {
					row.Error = l.Err.Error()
				}
				in.Lint = append(in.Lint, row)
				if !l.OK() {
					lintFailed = append(lintFailed, l.Tool)
				}
			}
			if !noGate {
				names, err := synth.Blocks(rtl)
				if err != nil {
					return err
				}
				o := synth.Options{Vendor: true, ICE40: true, ClockMHz: c.ClockMHz, MaxLUTLevels: MaxLUTLevels, Timeout: gateTimeout, Record: recordRuns}
				in.Gate, err = runGate(cmd, rtl, names, o, jobs, noCache)
				if err != nil {
					return err
				}
				if doc != "" {
					command := "kvd handoff --config " + filepath.Base(c.Name) + " --doc " + doc
					digest, err := synth.Digest(rtl)
					if err != nil {
						return err
					}
					source := fmt.Sprintf("configuration %s (hash %s; RTL digest %s, as `kvd rtl --config %s` prints it)", c.Name, c.Hash(), digest, filepath.Base(c.Name))
					if err := writeSynthDoc(doc, command, source, in.Gate); err != nil {
						return err
					}
				}
			}
			if !noRegress {
				in.Regressions, err = regressOn(cmd.Context(), entries, rtl, filepath.Join(out, root+"-regress"), log)
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
				rows := make([]map[string]any, 0, len(in.Gate))
				for _, r := range in.Gate {
					rows = append(rows, map[string]any{"block": r.Block, "luts": r.LUTs, "ffs": r.FFs, "brams": r.BRAMs,
						"dsps": r.DSPs, "lut_levels": r.LUTLevels, "lut_path": r.LUTPath, "ok": r.OK(), "problems": r.Problems, "goals": r.Goals})
				}
				json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
					"bundle": path, "sha256": sum, "config": c.Name, "config_hash": c.Hash(), "rows": rows,
					"regressions": len(in.Regressions), "lint_ok": len(lintFailed) == 0,
				})
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "bundle %s (sha256 %s): %d files, %d regression runs, %d blocks through the gate\n",
					path, sum, len(files), len(in.Regressions), len(in.Gate))
				if len(in.Gate) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "\n%s", synth.Table(in.Gate, MaxLUTLevels))
				}
			}
			for _, r := range in.Regressions {
				if !r.Passed {
					return fmt.Errorf("handoff: regression %s failed on this RTL", r.Name)
				}
			}
			if len(lintFailed) > 0 {
				return fmt.Errorf("handoff: lint failed (%s) on %s", strings.Join(lintFailed, ", "), rtl)
			}
			if err := gateError("handoff", in.Gate); err != nil {
				return err
			}
			return nil
		},
	}
	cf.register(cmd)
	// The handoff's subject is the paper processor; --help says so.
	cf.config = "paper"
	cmd.Flags().Lookup("config").DefValue = "paper"
	cmd.Flags().StringVar(&out, "out", "build/handoff", "directory for the bundle and its archive")
	cmd.Flags().StringVar(&doc, "doc", "", "also write the gate's table to this file (make handoff: docs/synthesis.md)")
	cmd.Flags().BoolVar(&noGate, "no-gate", false, "skip the synthesis gate")
	cmd.Flags().BoolVar(&noRegress, "no-regress", false, "skip the regression on the bundle's RTL")
	cmd.Flags().StringVar(&regressMatch, "regress-match", "", "run only the regression entries whose names match this regexp (the manifest lists those that ran)")
	cmd.Flags().IntVar(&jobs, "jobs", runtime.NumCPU(), "blocks the gate synthesises at once")
	cmd.Flags().DurationVar(&gateTimeout, "gate-timeout", 4*time.Hour, "bound on one Yosys run (the paper preset's processor takes Yosys over 90 minutes per mapping on 2 cores)")
	cmd.Flags().StringVar(&recordRuns, "record-runs", "", "also write every Yosys run the gate used into this directory (synth/runs: the records kvd takes when the cache has nothing)")
	cmd.Flags().BoolVar(&noCache, "no-gate-cache", false, "run Yosys even when an identical run's gate table is cached")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object: the gate's rows, the bundle's path and hash")
	return cmd
}

// regressEntries are the quick catalogue's entries for this configuration
// (but the stored directed files), those matching match if it is set.
func regressEntries(c config.Config, match string) ([]regress.Entry, error) {
	all, err := regress.Catalogue(regress.Quick)
	if err != nil {
		return nil, err
	}
	var re *regexp.Regexp
	if match != "" {
		if re, err = regexp.Compile(match); err != nil {
			return nil, fmt.Errorf("--regress-match %q: %v", match, err)
		}
	}
	var entries []regress.Entry
	for _, e := range regress.Select(all, re, 1, 1) {
		// An entry that overrides keys tests another configuration than
		// the bundle's, whose RTL it would not match.
		if e.Config == filepath.Base(c.Name) && e.Kind != "file" && len(e.Set) == 0 {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 && re != nil {
		return nil, fmt.Errorf("--regress-match %q: no regression entry of configuration %s matches", match, filepath.Base(c.Name))
	}
	return entries, nil
}

// regressOn runs entries on the bundle's RTL, so the manifest records what
// this exact tree passed.
func regressOn(ctx context.Context, entries []regress.Entry, rtl, out string, log interface{ Write([]byte) (int, error) }) ([]handoff.Regression, error) {
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
