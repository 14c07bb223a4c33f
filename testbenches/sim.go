package testbenches

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/cosim/cache"
	"github.com/kvdirect/kvd/cosim/toolchain"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/version"
)

// SimOptions configure one scenario run.
type SimOptions struct {
	Scenario   string
	Config     config.Config
	Seed       uint64
	Cycles     uint64 // 0: the scenario's default
	Ops        uint64 // stop after this many operations (0: off)
	RTLDir     string // co-simulate this tree instead of freshly generated RTL
	RunDir     string // where the record goes (default runs/<scenario>-<seed>)
	Trace      *[2]uint64
	NoWave     bool // do not replay a divergence with tracing
	TCP        bool
	HangCycles uint64
	Timeout    time.Duration
	Replay     string // the command that replays this run, for reports
	ShimArgs   []string
	Log        io.Writer
	Progress   func(cycles uint64)
	// RecordInputs, when set, receives every input record (for the bridge
	// benchmark's native replay).
	RecordInputs io.Writer
	// Inputs, when set, replaces the scenario's stimulus with these input
	// records, one per cycle (directed cases and the shrinker).
	Inputs [][]uint64
	// CoverageFile, when set, builds the coverage variant of the model and
	// writes Verilator's line and user coverage there.
	CoverageFile string
	// Make, when set, builds the model and stimulus instead of the
	// scenario's New (a bench or the demo running one scenario with its own
	// parameters).
	Make func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error)
}

// SimRun is a finished run: its record and where it lives.
type SimRun struct {
	Record *cosim.Record
	Dir    string
	Binary string
}

// RTLFor returns the directory holding the RTL to simulate and the design's
// IR of the scenario's top module; a generated tree goes to a temporary
// directory that cleanup removes.
func RTLFor(cfg config.Config, top string, rtlDir string) (dir string, mod *ir.Module, cleanup func(), err error) {
	mod, err = design.Module(cfg, top)
	if err != nil {
		return "", nil, nil, err
	}
	if rtlDir != "" {
		if _, err := os.Stat(rtlDir); err != nil {
			return "", nil, nil, fmt.Errorf("--rtl %s: %v", rtlDir, err)
		}
		return rtlDir, mod, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "kvd-rtl")
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := design.WriteFor(cfg, tmp, top); err != nil {
		os.RemoveAll(tmp)
		return "", nil, nil, err
	}
	return tmp, mod, func() { os.RemoveAll(tmp) }, nil
}

// Sim runs a scenario against the RTL and writes its record. A divergence
// is a successful run with Divergences = 1 (and, unless NoWave, a waveform
// of the window around it); errors are failures of the bridge, the
// simulator or the golden model.
func Sim(ctx context.Context, o SimOptions) (*SimRun, error) {
	sc, err := Lookup(o.Scenario)
	if err != nil {
		return nil, err
	}
	if o.Cycles == 0 {
		o.Cycles = sc.DefaultCycles
	}
	if o.RunDir == "" {
		o.RunDir = filepath.Join("runs", fmt.Sprintf("%s-%d", o.Scenario, o.Seed))
	}
	top := sc.Top(o.Config)
	rtl, mod, cleanup, err := RTLFor(o.Config, top, o.RTLDir)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	trace := o.Trace != nil
	coverage := o.CoverageFile != "" && !trace
	bin, err := cache.Build(ctx, cache.Request{Top: mod, RTLDir: rtl, Trace: trace, Coverage: coverage, Log: o.Log})
	if err != nil {
		return nil, err
	}
	mk := sc.New
	if o.Make != nil {
		mk = o.Make
	}
	m, stim, err := mk(o.Config, o.Seed)
	if err != nil {
		return nil, err
	}
	if o.Inputs != nil {
		stim = &replayStim{recs: o.Inputs}
	}
	rec := &cosim.Record{
		Scenario: o.Scenario, Seed: o.Seed, ConfigName: o.Config.Name, ConfigHash: o.Config.Hash(),
		Config: o.Config.JSON(), Kvd: version.Version, Verilator: toolchain.VerilatorVersion(),
		ModelHash: bin.Hash, ModelCached: bin.Cached, RTLDir: o.RTLDir, Replay: o.Replay,
		Ports: m.Ports(), BuildSec: bin.BuildTime.Seconds(),
	}
	opt := cosim.Options{
		Cycles: o.Cycles, Ops: o.Ops, HangCycles: o.HangCycles, Timeout: o.Timeout, TCP: o.TCP,
		ShimArgs: o.ShimArgs, Progress: o.Progress, RecordInputs: o.RecordInputs,
	}
	if coverage {
		abs, err := filepath.Abs(o.CoverageFile)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return nil, err
		}
		opt.ShimArgs = append(append([]string(nil), opt.ShimArgs...), "--coverage-file", abs)
	}
	if trace {
		if err := os.MkdirAll(o.RunDir, 0o755); err != nil {
			return nil, err
		}
		wave, _ := filepath.Abs(filepath.Join(o.RunDir, "wave.fst"))
		opt.TracePath, opt.TraceFrom, opt.TraceTo = wave, o.Trace[0], o.Trace[1]
		opt.KeepGoing = true
		if opt.Cycles == 0 || opt.Cycles > o.Trace[1]+1 {
			opt.Cycles = o.Trace[1] + 1
		}
		rec.Wave = filepath.Join(o.RunDir, "wave.fst")
		rec.Window = []uint64{o.Trace[0], o.Trace[1]}
	}
	res, runErr := cosim.Run(ctx, bin.Binary, m, stim, opt)
	if res != nil {
		rec.Cycles = res.Cycles
		rec.CyclesPerSec = res.CyclesPerSec
		rec.WallSec = res.Wall.Seconds()
		rec.RTLEvalSec = res.RTLEval.Seconds()
		rec.GoldenSec = res.Golden.Seconds()
		rec.CompareSec = res.Compare.Seconds()
		rec.WaitRTLSec = res.WaitRTL.Seconds()
		rec.Divergence = res.Divergence
		if res.Divergence != nil {
			rec.Divergences = 1
		}
	}
	if runErr != nil {
		rec.Error = runErr.Error()
	}
	if p, ok := stim.(Pointer); ok {
		rec.Points = p.Points()
	}
	run := &SimRun{Record: rec, Dir: o.RunDir, Binary: bin.Binary}
	if trace && rec.Divergence != nil {
		rec.WaveSave = filepath.Join(o.RunDir, "wave.gtkw")
		cosim.WriteGTKWSave(rec.WaveSave, rec.Wave, rec.Ports, mismatchedPorts(rec.Divergence))
	}
	if err := rec.Save(o.RunDir); err != nil {
		return run, err
	}
	if runErr != nil {
		return run, runErr
	}
	if rec.Divergence != nil && !trace && !o.NoWave {
		// Replay deterministically with tracing over a window around the
		// failing cycle; the run without tracing stays fast.
		c := rec.Divergence.Cycle
		from := uint64(0)
		if c > 32 {
			from = c - 32
		}
		w := [2]uint64{from, c + 4}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "divergence at cycle %d: replaying cycles %d..%d with FST tracing\n", c, w[0], w[1])
		}
		wo := o
		wo.Trace = &w
		wo.Cycles = 0
		wo.RecordInputs = nil
		wo.CoverageFile = ""
		traced, err := Sim(ctx, wo)
		if err != nil {
			return run, fmt.Errorf("replaying with tracing: %v", err)
		}
		if traced.Record.Divergence == nil || traced.Record.Divergence.Cycle != c {
			return run, fmt.Errorf("the traced replay did not diverge at cycle %d: the run is not deterministic", c)
		}
		rec.Wave, rec.WaveSave, rec.Window = traced.Record.Wave, traced.Record.WaveSave, traced.Record.Window
		if err := rec.Save(o.RunDir); err != nil {
			return run, err
		}
	}
	return run, nil
}

func mismatchedPorts(d *cosim.Divergence) []string {
	var names []string
	for _, m := range d.Mismatches {
		names = append(names, m.Port)
	}
	return names
}

// Pointer is implemented by stimuli that count functional coverage points:
// named corners of their block (docs/microarch.md), hit when the predicted
// (and, since the run did not diverge before, actual) behaviour reached them.
type Pointer interface{ Points() map[string]uint64 }

// replayStim feeds recorded input records, one per cycle.
type replayStim struct{ recs [][]uint64 }

func (r *replayStim) Next(cycle uint64, _, in []uint64) (bool, error) {
	if cycle >= uint64(len(r.recs)) {
		return false, nil
	}
	copy(in, r.recs[cycle])
	return true, nil
}
