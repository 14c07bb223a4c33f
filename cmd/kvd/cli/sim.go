package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/testbenches"
	"github.com/kvdirect/kvd/testbenches/regress"
)

// simFlags are shared by sim and the benchmarks that co-simulate.
type simFlags struct {
	cf         configFlags
	seed       uint64
	cycles     uint64
	ops        uint64
	rtl        string
	trace      string
	runDir     string
	noWave     bool
	tcp        bool
	hangCycles uint64
	timeout    time.Duration
	jsonOut    bool
	list       bool
	xseed      int
	inputs     string
}

func (f *simFlags) register(cmd *cobra.Command) {
	f.cf.register(cmd)
	fl := cmd.Flags()
	fl.Uint64Var(&f.seed, "seed", 1, "stimulus seed (every run is reproducible from its seed)")
	fl.Uint64Var(&f.cycles, "cycles", 0, "cycles to simulate (default: the scenario's)")
	fl.Uint64Var(&f.ops, "ops", 0, "stop once this many operations completed (with --cycles as the upper bound)")
	fl.StringVar(&f.rtl, "rtl", "", "co-simulate this Verilog tree instead of freshly generated RTL")
	fl.StringVar(&f.trace, "trace-window", "", "write an FST waveform of cycles A:B (replays deterministically)")
	fl.StringVar(&f.runDir, "run-dir", "", "where to write the run record (default runs/<scenario>-<seed>)")
	fl.BoolVar(&f.noWave, "no-wave", false, "on a divergence, do not replay it with tracing")
	fl.BoolVar(&f.tcp, "tcp", false, "talk to the simulator over TCP on loopback instead of a Unix socket")
	fl.Uint64Var(&f.hangCycles, "hang-cycles", 100000, "cycles without progress that count as a hang (0: off)")
	fl.DurationVar(&f.timeout, "timeout", 60*time.Second, "simulator silence that counts as stopped answering")
	fl.BoolVar(&f.jsonOut, "json", false, "print one JSON object instead of text")
	fl.IntVar(&f.xseed, "xseed", 0, "randomise the model's initial state with this seed (X-sensitivity; 0: zeros)")
	fl.StringVar(&f.inputs, "inputs", "", "replay a directed case (JSON input records) instead of the scenario's stimulus")
}

func parseWindow(s string) (*[2]uint64, error) {
	if s == "" {
		return nil, nil
	}
	a, b, ok := strings.Cut(s, ":")
	from, err1 := strconv.ParseUint(a, 10, 64)
	to, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || from > to {
		return nil, fmt.Errorf("--trace-window %q: want FROM:TO cycles, FROM <= TO (e.g. 1000:1100)", s)
	}
	return &[2]uint64{from, to}, nil
}

// replayCommand is the one command that reproduces a run.
func (f *simFlags) replayCommand(scenario string, cycles uint64) string {
	parts := []string{"kvd", "sim", scenario, "--config", f.cf.config}
	for _, s := range f.cf.sets {
		parts = append(parts, "--set", s)
	}
	parts = append(parts, "--seed", strconv.FormatUint(f.seed, 10))
	if f.ops == 0 || f.cycles != 0 {
		parts = append(parts, "--cycles", strconv.FormatUint(cycles, 10))
	}
	if f.ops > 0 {
		parts = append(parts, "--ops", strconv.FormatUint(f.ops, 10))
	}
	if f.xseed > 0 {
		parts = append(parts, "--xseed", strconv.Itoa(f.xseed))
	}
	if f.inputs != "" {
		parts = append(parts, "--inputs", f.inputs)
	}
	if f.rtl != "" {
		parts = append(parts, "--rtl", f.rtl)
	}
	return strings.Join(parts, " ")
}

func (f *simFlags) options(cmd *cobra.Command, scenario string) (testbenches.SimOptions, error) {
	c, err := f.cf.load()
	if err != nil {
		return testbenches.SimOptions{}, err
	}
	sc, err := testbenches.Lookup(scenario)
	if err != nil {
		return testbenches.SimOptions{}, err
	}
	w, err := parseWindow(f.trace)
	if err != nil {
		return testbenches.SimOptions{}, err
	}
	cycles := f.cycles
	if cycles == 0 {
		cycles = sc.DefaultCycles
		if f.ops > 0 {
			cycles = 1 << 62 // bounded by --ops
		}
	}
	errw := cmd.ErrOrStderr()
	var first time.Time // the first progress report
	var firstN uint64
	var shimArgs []string
	if f.xseed > 0 {
		shimArgs = regress.XSeedArgs(f.xseed)
	}
	var inputs [][]uint64
	if f.inputs != "" {
		abs, err := filepath.Abs(f.inputs)
		if err != nil {
			return testbenches.SimOptions{}, err
		}
		d, err := regress.LoadDirected(os.DirFS(filepath.Dir(abs)), filepath.Base(abs))
		if err == nil {
			inputs, err = d.Records(c)
		}
		if err != nil {
			return testbenches.SimOptions{}, fmt.Errorf("--inputs %s: %v", f.inputs, err)
		}
		if d.Scenario != scenario {
			return testbenches.SimOptions{}, fmt.Errorf("--inputs %s: a case for scenario %s, not %s", f.inputs, d.Scenario, scenario)
		}
		if f.cycles == 0 {
			cycles = uint64(len(inputs))
		}
	}
	return testbenches.SimOptions{
		ShimArgs: shimArgs, Inputs: inputs,
		Scenario: scenario, Config: c, Seed: f.seed, Cycles: cycles, Ops: f.ops, RTLDir: f.rtl, RunDir: f.runDir,
		Trace: w, NoWave: f.noWave, TCP: f.tcp, HangCycles: f.hangCycles, Timeout: f.timeout,
		Replay: f.replayCommand(scenario, cycles), Log: errw,
		Progress: func(n uint64) {
			// the rate since the first report: the model's build is not
			// simulation time
			if first.IsZero() {
				first, firstN = time.Now(), n
			}
			rate := "…"
			if el := time.Since(first).Seconds(); el > 0 {
				rate = fmt.Sprintf("%.3f M cycles/s", float64(n-firstN)/el/1e6)
			}
			if f.ops > 0 {
				fmt.Fprintf(errw, "  %s: %d cycles, %s\n", scenario, n, rate)
				return
			}
			fmt.Fprintf(errw, "  %s: %d / %d cycles (%.0f%%), %s\n", scenario, n, cycles, 100*float64(n)/float64(cycles), rate)
		},
	}, nil
}

// divergenceError makes kvd exit 1 after the report is printed.
type divergenceError struct{ cycle uint64 }

func (e divergenceError) Error() string {
	return fmt.Sprintf("kvd sim: divergence at cycle %d", e.cycle)
}

func newSimCmd() *cobra.Command {
	var f simFlags
	cmd := &cobra.Command{
		Use:   "sim SCENARIO",
		Short: "Co-simulate a scenario: RTL against its golden model, every output every cycle",
		Example: `  kvd sim --list
  kvd sim keyhash --cycles 10000000
  kvd sim fifo_w64_d16 --seed 7 --json
  kvd sim keyhash --rtl my-edited-rtl/ --trace-window 1000:1100`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.list {
				return nil
			}
			if len(args) != 1 {
				return fmt.Errorf("sim: want one scenario name (kvd sim --list shows them)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if f.list {
				for _, s := range testbenches.Scenarios() {
					fmt.Fprintf(w, "%-26s %s\n", s.Name, s.Doc)
				}
				return nil
			}
			o, err := f.options(cmd, args[0])
			if err != nil {
				return err
			}
			if !f.jsonOut {
				fmt.Fprintf(w, "kvd sim %s: seed %d, config %s (hash %s), %d cycles\n", o.Scenario, o.Seed, o.Config.Name, o.Config.Hash(), o.Cycles)
			}
			run, err := testbenches.Sim(cmd.Context(), o)
			if run == nil {
				return err
			}
			rec := run.Record
			if f.jsonOut {
				writeSimJSON(w, rec, run.Dir)
			} else {
				writeSimText(w, rec, run.Dir)
			}
			if err != nil {
				return fmt.Errorf("kvd sim %s: %v\nreplay: %s", o.Scenario, err, rec.Replay)
			}
			if rec.Divergence != nil {
				return divergenceError{rec.Divergence.Cycle}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.list, "list", false, "list the scenarios")
	return cmd
}

func writeSimText(w io.Writer, r *cosim.Record, dir string) {
	cached := "built"
	if r.ModelCached {
		cached = "cached"
	}
	fmt.Fprintf(w, "  verilator %s; model %s (%s)\n", r.Verilator, r.ModelHash, cached)
	if r.Divergence != nil {
		r.WriteReport(w, 8)
	}
	verdict := "PASS"
	if r.Divergences > 0 || r.Error != "" {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d cycles, %d divergences, %.2f M cycles/s\n", verdict, r.Cycles, r.Divergences, r.CyclesPerSec/1e6)
	fmt.Fprintf(w, "  time: wall %.2f s = RTL eval %.2f s | golden+stimulus %.2f s | compare %.2f s | Go waiting on RTL %.2f s\n",
		r.WallSec, r.RTLEvalSec, r.GoldenSec, r.CompareSec, r.WaitRTLSec)
	fmt.Fprintf(w, "  record: %s/run.json   replay: %s\n", dir, r.Replay)
}

func writeSimJSON(w io.Writer, r *cosim.Record, dir string) {
	out := map[string]any{
		"scenario": r.Scenario, "seed": r.Seed, "cycles": r.Cycles, "divergences": r.Divergences,
		"cycles_per_sec": r.CyclesPerSec, "model_cached": r.ModelCached, "config": r.ConfigName,
		"config_hash": r.ConfigHash, "verilator": r.Verilator, "model_hash": r.ModelHash,
		"wall_sec": r.WallSec, "rtl_eval_sec": r.RTLEvalSec, "golden_sec": r.GoldenSec,
		"compare_sec": r.CompareSec, "wait_rtl_sec": r.WaitRTLSec, "build_sec": r.BuildSec,
		"replay": r.Replay, "run_dir": dir,
	}
	if r.Divergence != nil {
		out["divergence_cycle"] = r.Divergence.Cycle
		var ports []string
		for _, m := range r.Divergence.Mismatches {
			ports = append(ports, m.Port)
		}
		out["mismatching_ports"] = ports
		out["wave"] = r.Wave
	}
	if r.Error != "" {
		out["error"] = r.Error
	}
	enc := json.NewEncoder(w)
	enc.Encode(out)
}
