package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/testbenches/regress"
)

func newRegressCmd() *cobra.Command {
	var (
		quick, list, jsonOut, rerun, noCov, noShrink bool
		out, pattern, shard, rtl                     string
		jobs                                         int
	)
	cmd := &cobra.Command{
		Use:   "regress",
		Short: "Run the scenario catalogue: parallel, seeded, shardable, JUnit, coverage, X-sensitivity, shrinking",
		Example: `  kvd regress --quick
  kvd regress -run 'keyhash' --json
  kvd regress --shard 2/3 --out runs/shard2 && kvd regress merge --out runs/all runs/shard1 runs/shard2 runs/shard3
  kvd regress --rtl my-edited-rtl/ --quick
  kvd regress --rerun-failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			level := regress.Full
			if quick {
				level = regress.Quick
			}
			all, err := regress.Catalogue(level)
			if err != nil {
				return err
			}
			var re *regexp.Regexp
			if pattern != "" {
				if re, err = regexp.Compile(pattern); err != nil {
					return fmt.Errorf("-run %q: %v", pattern, err)
				}
			}
			i, n, err := parseShard(shard)
			if err != nil {
				return err
			}
			entries := regress.Select(all, re, i, n)
			if rerun {
				last, err := regress.Load(out)
				if err != nil {
					return fmt.Errorf("--rerun-failed: %v", err)
				}
				entries = nil
				for _, r := range last.Results {
					if !r.Passed {
						entries = append(entries, r.Entry)
					}
				}
				if len(entries) == 0 {
					fmt.Fprintf(w, "no failures in %s to rerun\n", out)
					return nil
				}
			}
			if list {
				for _, e := range entries {
					fmt.Fprintf(w, "%-40s %-8s config %-6s seed %-3d %d cycles\n", e.Name, e.Kind, e.ConfigLabel(), e.Seed, e.Cycles)
				}
				return nil
			}
			if len(entries) == 0 {
				return fmt.Errorf("regress: no catalogue entry matches")
			}
			log := cmd.ErrOrStderr()
			fmt.Fprintf(log, "kvd regress: %d runs, %d at a time, output in %s\n", len(entries), max(jobs, 0), out)
			s, err := regress.Run(cmd.Context(), entries, regress.Options{
				Out: out, Jobs: jobs, RTLDir: rtl, Coverage: !noCov, Shrink: !noShrink, Log: log,
			})
			if err != nil {
				return err
			}
			if jsonOut {
				writeRegressJSON(w, s, out)
			} else {
				writeRegressTable(w, s, out)
			}
			if s.Failed > 0 {
				return fmt.Errorf("regress: %d of %d runs failed", s.Failed, s.Scenarios)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&quick, "quick", false, "the quick subset (what make test runs)")
	f.BoolVar(&list, "list", false, "print the catalogue (after -run and --shard) and exit")
	f.BoolVar(&jsonOut, "json", false, "print one JSON summary")
	f.BoolVar(&rerun, "rerun-failed", false, "rerun the failures of the last regression in --out")
	f.BoolVar(&noCov, "no-coverage", false, "skip code coverage (faster models)")
	f.BoolVar(&noShrink, "no-shrink", false, "do not shrink failing random runs")
	f.StringVar(&out, "out", "runs/regress", "output directory: summary.json, junit.xml, coverage/, runs/, shrunk/")
	f.StringVar(&pattern, "run", "", "only entries whose name matches this regular expression (also -run)")
	f.StringVar(&shard, "shard", "", "run shard i of n (i/n), for CI matrices and Slurm arrays")
	f.StringVar(&rtl, "rtl", "", "regress an existing Verilog tree instead of freshly generated RTL")
	f.IntVarP(&jobs, "jobs", "j", 0, "parallel runs (default: the number of cores)")
	cmd.AddCommand(newRegressMergeCmd())
	return cmd
}

func parseShard(s string) (int, int, error) {
	if s == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 1 <= i <= n, e.g. 2/3", s)
	}
	return i, n, nil
}

func newRegressMergeCmd() *cobra.Command {
	var out string
	var jsonOut, noCov bool
	cmd := &cobra.Command{
		Use:     "merge DIR...",
		Short:   "Combine shard outputs into one summary, JUnit file and coverage report",
		Example: `  kvd regress merge --out runs/all runs/shard1 runs/shard2 runs/shard3`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := regress.Merge(args, out, !noCov)
			if err != nil {
				return err
			}
			if jsonOut {
				writeRegressJSON(cmd.OutOrStdout(), s, out)
			} else {
				writeRegressTable(cmd.OutOrStdout(), s, out)
			}
			if s.Failed > 0 {
				return fmt.Errorf("regress merge: %d of %d runs failed", s.Failed, s.Scenarios)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "runs/regress-merged", "output directory")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON summary")
	cmd.Flags().BoolVar(&noCov, "no-coverage", false, "do not merge code coverage")
	return cmd
}

func writeRegressJSON(w io.Writer, s *regress.Summary, out string) {
	json.NewEncoder(w).Encode(map[string]any{
		"scenarios": s.Scenarios, "passed": s.Passed, "failed": s.Failed,
		"coverage_points_hit": s.CoveragePointsHit, "coverage_points_total": s.CoveragePointsTotal,
		"code_coverage": s.CodeCoverage, "seconds": s.Seconds, "out": out,
	})
}

func writeRegressTable(w io.Writer, s *regress.Summary, out string) {
	fmt.Fprintf(w, "%-40s %5s %10s %-6s %7s\n", "scenario", "seed", "cycles", "result", "time")
	for _, r := range s.Results {
		verdict := "PASS"
		if !r.Passed {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%-40s %5d %10d %-6s %6.1fs\n", r.Name, r.Seed, r.Cycles, verdict, r.Seconds)
	}
	for _, r := range s.Results {
		if r.Passed {
			continue
		}
		fmt.Fprintf(w, "\nFAIL %s: %s\n  replay: %s\n", r.Name, r.Error, r.Replay)
		if r.Shrunk != "" {
			fmt.Fprintf(w, "  shrunk: %s (add it to testbenches/regress/directed/ to keep it)\n", r.Shrunk)
		}
	}
	fmt.Fprintf(w, "\n%d runs: %d passed, %d failed; functional coverage %d/%d points", s.Scenarios, s.Passed, s.Failed, s.CoveragePointsHit, s.CoveragePointsTotal)
	if s.CodeCoverage != "" {
		fmt.Fprintf(w, "; code coverage %s", s.CodeCoverage)
	}
	fmt.Fprintf(w, "; %.1f s\n", s.Seconds)
	fmt.Fprintf(w, "%s: summary.json junit.xml coverage-points.txt", out)
	if s.CodeCoverage != "" {
		fmt.Fprintf(w, " coverage/html/index.html")
	}
	fmt.Fprintln(w)
}
