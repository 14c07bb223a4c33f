package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/cosim/cache"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/synth"
)

// MaxLUTLevels is the design goal between registers (issue 10: the paper
// closed timing at 180 MHz on a Stratix V).
const MaxLUTLevels = 6

func newSynthCmd() *cobra.Command {
	var cf configFlags
	var blocks []string
	var jsonOut, noVendor, ice40, noCache bool
	var doc, rtlDir string
	var only []string
	var jobs int
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "The synthesis gate: Yosys resources, LUT levels, block RAM and structural checks per block",
		Long: `synth generates a configuration (or takes a tree with --rtl) and synthesises
each block with Yosys: a generic 6-LUT mapping gives the longest
register-to-register path in LUT levels (the timing proxy; goal: at most 6),
synth_xilinx gives LUTs, flip-flops, block RAMs, DSPs and where each memory
went, and synth_intel_alm the same on Intel's ALMs (one module at a time,
the modules it instantiates read as black boxes: the whole paper processor
in one Intel run needs more than 17 GB; a module with true dual-port block
RAM is not mapped, since Yosys's Intel flow would build it from logic, and
the Intel column says so). Blocks are placed and routed on an iCE40 HX8K
when their LUTs and block RAM fit one. The gate fails on
latches, multiply-driven nets, combinational loops, or a memory meant for
block RAM that was not inferred as one; the goals a block misses (depth,
deep memories outside block RAM) are reported beside it.`,
		Example: `  kvd synth --block kvd_keyhash
  kvd synth --config paper --json
  kvd synth --rtl my-edited-rtl/ --block kvd_rs
  kvd synth --doc docs/synthesis.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			dir := rtlDir
			if dir == "" {
				tmp, err := os.MkdirTemp("", "kvd-synth-rtl")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				if _, err := design.Write(c, tmp); err != nil {
					return err
				}
				dir = tmp
			}
			names, err := synth.Blocks(dir)
			if err != nil {
				return err
			}
			if len(blocks) > 0 {
				known := map[string]bool{}
				for _, n := range names {
					known[n] = true
				}
				for _, b := range blocks {
					if !known[b] {
						return fmt.Errorf("synth: no block %q in %s (blocks: %s)", b, dir, strings.Join(names, ", "))
					}
				}
				names = blocks
			}
			o := synth.Options{Vendor: !noVendor, ICE40: ice40, ClockMHz: c.ClockMHz, MaxLUTLevels: MaxLUTLevels, Only: only}
			rows, err := runGate(cmd, dir, names, o, jobs, noCache)
			if err != nil {
				return err
			}
			digest, err := synth.Digest(dir)
			if err != nil {
				return err
			}
			source := fmt.Sprintf("configuration %s (hash %s; RTL digest %s, as `kvd rtl --config %s` prints it)", c.Name, c.Hash(), digest, filepath.Base(c.Name))
			if rtlDir != "" {
				source = fmt.Sprintf("the tree %s (RTL digest %s)", rtlDir, digest)
			}
			if doc != "" {
				args := fmt.Sprintf("kvd synth --config %s", c.Name)
				if noVendor {
					args += " --no-vendor"
				}
				if ice40 {
					args += " --ice40"
				}
				if err := writeSynthDoc(doc, args+" --doc "+doc, source, rows); err != nil {
					return err
				}
			}
			if jsonOut {
				json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
					"config": c.Name, "config_hash": c.Hash(), "rtl": rtlDir, "max_lut_levels": MaxLUTLevels, "rows": rows,
				})
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "synthesis gate: %s\n\n%s", source, synth.Table(rows, MaxLUTLevels))
			}
			return gateError("synth", rows)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringSliceVar(&blocks, "block", nil, "only these blocks (default: every block)")
	cmd.Flags().StringVar(&rtlDir, "rtl", "", "gate this tree of .v files (e.g. a hand-edited one) instead of generating the configuration")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object with a row per block")
	cmd.Flags().StringSliceVar(&only, "only", nil, "run only these mappings (generic, xilinx, intel), e.g. to fill the gate's cache for a handoff one mapping at a time")
	cmd.Flags().BoolVar(&noVendor, "no-vendor", false, "skip the Xilinx and Intel mappings (no BRAM/DSP counts, no block-RAM check; faster)")
	cmd.Flags().BoolVar(&ice40, "ice40", false, "also place and route each block that fits an iCE40 HX8K with nextpnr for a post-route Fmax")
	cmd.Flags().StringVar(&doc, "doc", "", "also write the tables as Markdown to this file (e.g. docs/synthesis.md)")
	cmd.Flags().IntVar(&jobs, "jobs", runtime.NumCPU(), "blocks synthesised at once")
	cmd.Flags().BoolVar(&noCache, "no-gate-cache", false, "run Yosys even when an identical run's table is cached")
	return cmd
}

// runGate runs the synthesis gate with a progress line per Yosys run.
// Unless noCache, each finished run is kept in the cache and an identical
// one (the same script, RTL bytes and tool versions) is taken from it, so
// an interrupted handoff keeps the mappings that had finished.
func runGate(cmd *cobra.Command, dir string, names []string, o synth.Options, jobs int, noCache bool) ([]synth.Result, error) {
	log := cmd.ErrOrStderr()
	if !noCache {
		o.Cache = filepath.Join(cache.Root(), "yosys")
	}
	fmt.Fprintf(log, "  gate: %d blocks, %d Yosys runs at a time: %s\n", len(names), jobs, strings.Join(names, ", "))
	if o.Cache != "" {
		fmt.Fprintf(log, "  gate: finished runs are kept in %s (--no-gate-cache: run Yosys regardless)\n", o.Cache)
	}
	start := time.Now()
	return synth.Gate(cmd.Context(), dir, names, o, jobs, func(s string) {
		fmt.Fprintf(log, "  gate %5.0f s  %s\n", time.Since(start).Seconds(), s)
	})
}

// gateError names every block that failed a check.
func gateError(what string, rows []synth.Result) error {
	var bad []string
	for _, r := range rows {
		if !r.OK() {
			bad = append(bad, r.Block+" ("+strings.Join(r.Problems, "; ")+")")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: the synthesis gate failed for %s", what, strings.Join(bad, ", "))
	}
	return nil
}

func writeSynthDoc(path, command, source string, rows []synth.Result) error {
	var b strings.Builder
	writeSynthMarkdown(&b, command, source, rows)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeSynthMarkdown(b io.Writer, command, source string, rows []synth.Result) {
	fmt.Fprintf(b, "# Synthesis gate\n\nGenerated by `%s`; do not edit.\n\n", command)
	fmt.Fprintf(b, "Source: %s, through Yosys. Resources: `synth_xilinx` (LUTs include LUT RAM; block RAM\n", source)
	fmt.Fprintf(b, "in 18 Kb halves) and `synth_intel_alm` (Cyclone V cells; M10K blocks). LUT levels: the longest\n")
	fmt.Fprintf(b, "register-to-register path of a generic `synth -flatten -lut 6` mapping (`ltp -noff`); the goal\n")
	fmt.Fprintf(b, "is at most %d; for a block over it, the goals below name the two ends of one longest path. A\n", MaxLUTLevels)
	fmt.Fprintf(b, "block fails the gate on a latch, a combinational loop, a multiply-driven net or a\n")
	fmt.Fprintf(b, "memory meant for block RAM that did not get it. Rows without a vendor mapping count memories as\nflip-flops.\n\n")
	io.WriteString(b, synth.Table(rows, MaxLUTLevels))
	var goals []string
	for _, r := range rows {
		for _, g := range r.Goals {
			goals = append(goals, "- "+r.Block+": "+g)
		}
	}
	if len(goals) > 0 {
		fmt.Fprintf(b, "\n## Goals not met\n\nThe design goals (issue 10: at most %d LUT levels; block RAM for the reservation station, the\nslab stacks and every memory deeper than 32), block by block:\n\n%s\n", MaxLUTLevels, strings.Join(goals, "\n"))
	}
	if mt := synth.MemoryTable(rows); strings.Count(mt, "\n") > 2 {
		fmt.Fprintf(b, "\n## Memories\n\nEvery inferred memory, what the generator asked for (`ram_style`) and where `synth_xilinx` put it.\n\n%s", mt)
	}
}
