package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/htengine"
	"github.com/kvdirect/kvd/plot"
	"github.com/kvdirect/kvd/testbenches"
	"github.com/kvdirect/kvd/testbenches/workload"
	"github.com/kvdirect/kvd/wire"
)

// paperWorkload is one row of the paper's throughput table (kv-direct.md
// §7) and its published figures per KV size (5, 10, 15, 62, 254 B).
type paperWorkload struct {
	Name  string
	Dist  workload.Dist
	Mix   workload.Mix
	Paper [5]float64
}

var paperTable = []paperWorkload{
	{"uniform, 100 % GET", workload.Uniform, workload.MixC, [5]float64{122.7, 111.2, 98.7, 61.3, 18.5}},
	{"uniform, 50 % PUT", workload.Uniform, workload.MixA, [5]float64{81.8, 74.1, 65.5, 49.0, 18.5}},
	{"uniform, 100 % PUT", workload.Uniform, workload.MixPut, [5]float64{61.3, 55.5, 49.1, 40.9, 18.5}},
	{"long-tail, 100 % GET", workload.Zipf, workload.MixC, [5]float64{180, 180, 179, 74.7, 18.5}},
	{"long-tail, 50 % PUT", workload.Zipf, workload.MixA, [5]float64{154.8, 139.5, 122.4, 74.7, 18.5}},
	{"long-tail, 100 % PUT", workload.Zipf, workload.MixPut, [5]float64{114.1, 102.9, 90.2, 74.1, 18.5}},
}

// paperRow is one cell of `kvd bench paper --json`.
type paperRow struct {
	Workload         string  `json:"workload"`
	KVBytes          int     `json:"kv_bytes"`
	Mops             float64 `json:"mops"`
	PaperMops        float64 `json:"paper_mops"`
	Ratio            float64 `json:"ratio"`
	OpsPerCycle      float64 `json:"ops_per_cycle"`
	Ops              uint64  `json:"ops"`
	Cycles           uint64  `json:"cycles"`
	LatencyP50Cycles uint64  `json:"latency_p50_cycles"`
	LatencyP99Cycles uint64  `json:"latency_p99_cycles"`
	LatencyP50Us     float64 `json:"latency_p50_us"`
	LatencyP99Us     float64 `json:"latency_p99_us"`
	PCIePerOp        float64 `json:"pcie_accesses_per_op"`
	DRAMPerOp        float64 `json:"dram_accesses_per_op"`
	Divergences      int     `json:"divergences"`
	Golden           bool    `json:"golden_only"` // measured on the golden model alone (--golden)
	// Where the time went (golden/top's counters up to the last answer):
	// the mean number of engine contexts in each phase (engine.md §3; the
	// phases with any), the engine's read-data transfers per cycle (its one
	// read port's load), and the share of cycles in which the memory
	// system's cache path had a request waiting on its pending table.
	EngineContexts map[string]float64 `json:"engine_contexts_by_phase"`
	EngineReadBusy float64            `json:"engine_read_port_busy"`
	MemHazardStall float64            `json:"mem_hazard_stall"`
	// Every valid/ready handshake of the processor (golden/top), named by
	// the block that takes it: the share of cycles it transferred and the
	// share its taker held it back. The first held-back stream along the
	// pipeline names the block that binds when the engine does not.
	Streams []streamRow `json:"streams,omitempty"`
	// The share of cycles the station's arrival stage held a request
	// (rs.md §10.1 B), in all ("held") and by each term that held it:
	// no_id (all M ids in flight), pq, rq (its queues full), walk (its
	// slot being walked), line (a completion for its slot in D1/D2). A
	// cycle counts under every term that held it.
	StationWaits map[string]float64 `json:"station_waits,omitempty"`
	// With --sweep: the key's value for this row and the configuration it
	// made (the top-level config_hash is the configuration swept from).
	SweepValue      string `json:"sweep_value,omitempty"`
	SweepConfigHash string `json:"sweep_config_hash,omitempty"`
	latency         []uint64
	busy            float64 // mean contexts not FREE, from the counters (not the map: no float sum in map order)
}

// streamRow is one handshake's shares of the cycles to the last answer.
type streamRow struct {
	Name  string  `json:"name"`
	Fire  float64 `json:"fire"`
	Stall float64 `json:"stall"`
}

// paperBenchMemory shrinks the paper preset's memories (not its timing) so
// that a 50 % preload is at most a few million keys the golden models hold.
// The index is 2 MiB, so that the preload region of out-of-line KVs (seven
// times the index, testbenches/proc.go) leaves the slab daemon half of
// host memory; on-board DRAM is the paper's 1/16 of host memory.
var paperBenchMemory = []string{"memory.index_buckets=32768", "dram.bytes=2097152", "memory.host_bytes=33554432"}

func newBenchPaperCmd() *cobra.Command {
	var cf configFlags
	var seed, ops uint64
	var batch int
	var sizes []int
	var only []string
	var jsonOut, golden bool
	var plots, sweep string
	cmd := &cobra.Command{
		Use:   "paper",
		Short: "The paper's throughput table (kv-direct.md §7), co-simulated on the whole processor",
		Long: `Runs each cell of the paper's throughput table — uniform and long-tail (Zipf
0.99) keys, 100 % GET, 50 % PUT and 100 % PUT, KVs of 5, 10, 15, 62 and 254 B —
as a co-simulation of kvd_top (the RTL against golden/top, every response
checked against the reference store, the table checked after each run), on
a table preloaded to 50 % memory utilization. Each cell reports Mops
(operations per cycle × the clock) beside the paper's, and the request-packet
latency p50/p99, and the run writes plots: throughput against KV size per
workload, and the latency distributions.

A second table says where the time went, from the golden processor's
counters up to the last answer: the engine's contexts in use and the phases
holding most of them (engine.md §3: RWAIT waits on memory, WRITE on the
write unit, BLOCKED behind an operation on the same bucket, ...), the
engine read port's transfers per cycle (its bound is 1), and the share of
cycles in which the memory system's cache path had a request waiting on its
pending table (memory.md §4.4). --json gives them per row as
engine_contexts_by_phase, engine_read_port_busy and mem_hazard_stall.

A third table names the handshakes held back most: every valid/ready pair
between the blocks (and out of the processor), named by the block that
takes it, with the share of cycles it was offered and not taken and its
transfers per cycle. When the engine is not what binds, the first stream
held back along the pipeline (u_front.rx, u_glue.iss, u_rs.req, u_ht.req)
names the block that does. --json gives every stream as streams: name,
fire, stall.

By default the configuration is the paper preset with its memories shrunk
(` + strings.Join(paperBenchMemory, ", ") + `): the timing of PCIe, DRAM and the
network are the paper's; only capacities shrink, so that a 50 % preload fits
the golden models.

--sweep KEY=V1,V2,… runs the chosen cells once per value of one
configuration key and plots throughput against it (throughput.svg), with
the latency distribution of the first cell at each value (latency.svg): a
design-space scan, e.g. of the engine's contexts, best with --golden.`,
		Example: `  kvd bench paper
  kvd bench paper --json --ops 5000 --kv 10 --workload "long-tail, 100 % GET"
  kvd bench paper --golden --kv 10 --workload "uniform, 100 % GET" --sweep engine.contexts=16,32,64,128`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("config") {
				cf.config = "paper"
				cf.sets = append(append([]string(nil), paperBenchMemory...), cf.sets...)
			}
			base, err := cf.load()
			if err != nil {
				return err
			}
			key, values, err := parseSweep(sweep)
			if err != nil {
				return err
			}
			if batch < 1 || batch > wire.MaxOps {
				return fmt.Errorf("--batch %d: want 1..%d operations per request packet", batch, wire.MaxOps)
			}
			col := map[int]int{}
			for i, k := range workload.KVSizes {
				col[k] = i
			}
			for _, k := range sizes {
				if _, ok := col[k]; !ok {
					return fmt.Errorf("--kv %d: the paper measured %v", k, workload.KVSizes)
				}
			}
			var table []paperWorkload
			for _, wl := range paperTable {
				if len(only) == 0 || containsFold(only, wl.Name) {
					table = append(table, wl)
				}
			}
			if len(table) == 0 {
				var names []string
				for _, wl := range paperTable {
					names = append(names, fmt.Sprintf("%q", wl.Name))
				}
				return fmt.Errorf("--workload %q: none of %s", only, strings.Join(names, ", "))
			}
			log := cmd.ErrOrStderr()
			var rows []paperRow
			for _, value := range values {
				c := base
				set := ""
				if key != "" {
					set = " --set " + key + "=" + value
					if err := c.Set(key + "=" + value); err != nil {
						return fmt.Errorf("--sweep: %v", err)
					}
					fmt.Fprintf(log, "  bench paper: %s = %s (config hash %s)\n", key, value, c.Hash())
				}
				rtl := ""
				if !golden {
					dir, _, cleanup, err := testbenches.RTLFor(c, "kvd_top", "")
					if err != nil {
						return err
					}
					defer cleanup()
					rtl = dir
				}
				for _, wl := range table {
					for _, kv := range sizes {
						start := time.Now()
						spec := testbenches.ProcSpec{Mix: wl.Mix, Dist: wl.Dist, KVBytes: kv, Util: 0.5, Ops: ops, BatchOps: batch}
						o := testbenches.SimOptions{Config: c, Seed: seed, RTLDir: rtl, Log: log, NoWave: true,
							RunDir: filepath.Join(plots, fmt.Sprintf("run-%s-%d", slug(wl.Name), kv)),
							Replay: fmt.Sprintf("kvd bench paper --seed %d --ops %d --batch %d --kv %d --workload %q%s", seed, ops, batch, kv, wl.Name, set)}
						var st testbenches.ProcStats
						divergences := 0
						if golden {
							if st, err = testbenches.RunProcGolden(c, seed, spec, 1_000_000+2_000*ops); err != nil {
								return fmt.Errorf("bench paper: %s, %d B: %v", wl.Name, kv, err)
							}
						} else {
							run, err := testbenches.RunProc(cmd.Context(), o, spec, nil)
							if err != nil {
								return fmt.Errorf("bench paper: %s, %d B: %v", wl.Name, kv, err)
							}
							r := run.Run.Record
							if r.Divergence != nil {
								r.WriteReport(log, 2)
								return fmt.Errorf("bench paper: %s, %d B: the processor diverged at cycle %d (replay: %s)", wl.Name, kv, r.Divergence.Cycle, o.Replay)
							}
							st, divergences = run.Stats, r.Divergences
						}
						if !st.Checked {
							return fmt.Errorf("bench paper: %s, %d B: the run ended before the table was checked (%d of %d operations)", wl.Name, kv, st.Ops, ops)
						}
						opc := st.OpsPerCycle()
						n := float64(max(st.Ops, 1))
						row := paperRow{Workload: wl.Name, KVBytes: kv, Mops: opc * c.ClockMHz, PaperMops: wl.Paper[col[kv]],
							OpsPerCycle: opc, Ops: st.Ops, Cycles: st.Cycles + 1,
							LatencyP50Cycles: testbenches.Percentile(st.Latency, 50), LatencyP99Cycles: testbenches.Percentile(st.Latency, 99),
							PCIePerOp: float64(st.PCIeReads+st.PCIeWrites) / n, DRAMPerOp: float64(st.DRAMReads+st.DRAMWrites) / n,
							Divergences: divergences, Golden: golden, latency: st.Latency}
						row.Ratio = row.Mops / row.PaperMops
						row.EngineContexts, row.busy, row.EngineReadBusy, row.MemHazardStall = whereTimeGoes(st)
						row.Streams = streamShares(st)
						row.StationWaits = stationWaits(st)
						if key != "" {
							row.SweepValue, row.SweepConfigHash = value, c.Hash()
						}
						row.LatencyP50Us = float64(row.LatencyP50Cycles) / c.ClockMHz
						row.LatencyP99Us = float64(row.LatencyP99Cycles) / c.ClockMHz
						rows = append(rows, row)
						fmt.Fprintf(log, "  bench paper: %-22s %3d B  %7.1f Mops (paper %6.1f)  p50 %6.2f µs  %.0f s\n",
							wl.Name, kv, row.Mops, row.PaperMops, row.LatencyP50Us, time.Since(start).Seconds())
					}
				}
			}
			c := base
			var files []string
			if key != "" {
				files, err = sweepPlots(plots, key, rows, c, golden)
			} else {
				files, err = paperPlots(plots, rows, c, golden)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(w).Encode(benchOutput{Bench: "paper", ConfigHash: c.Hash(), Config: c.Name, Seed: seed, Verilator: verilatorVersion(), Rows: rows})
			}
			how := "co-simulated (RTL against golden/top)"
			if golden {
				how = "golden model alone (--golden)"
			}
			fmt.Fprintf(w, "bench paper: config %s (hash %s), seed %d, %d operations per cell in packets of up to %d, table preloaded to 50 %%, %.0f MHz, %s\n", c.Name, c.Hash(), seed, ops, batch, c.ClockMHz, how)
			if key != "" {
				fmt.Fprintf(w, "%-*s ", max(len(key), 5), key)
			}
			fmt.Fprintf(w, "%-22s %4s %9s %9s %6s %8s %10s %10s %9s %9s\n", "workload", "KV", "Mops", "paper", "ratio", "op/cyc", "p50 µs", "p99 µs", "PCIe/op", "DRAM/op")
			for _, r := range rows {
				if key != "" {
					fmt.Fprintf(w, "%-*s ", max(len(key), 5), r.SweepValue)
				}
				fmt.Fprintf(w, "%-22s %4d %9.1f %9.1f %6.2f %8.3f %10.2f %10.2f %9.2f %9.2f\n", r.Workload, r.KVBytes, r.Mops, r.PaperMops, r.Ratio,
					r.OpsPerCycle, r.LatencyP50Us, r.LatencyP99Us, r.PCIePerOp, r.DRAMPerOp)
			}
			fmt.Fprintf(w, "\nwhere the time went (to the last answer): engine contexts in use, its read port's transfers per cycle, cycles the cache path waited on its pending table, and the mean contexts in the busiest phases\n")
			if key != "" {
				fmt.Fprintf(w, "%-*s ", max(len(key), 5), key)
			}
			fmt.Fprintf(w, "%-22s %4s %9s %10s %8s  %s\n", "workload", "KV", "contexts", "read port", "hazard", "phases")
			for _, r := range rows {
				if key != "" {
					fmt.Fprintf(w, "%-*s ", max(len(key), 5), r.SweepValue)
				}
				fmt.Fprintf(w, "%-22s %4d %9.1f %10s %8s  %s\n", r.Workload, r.KVBytes, r.busy, fmt.Sprintf("%.0f %%", 100*r.EngineReadBusy), fmt.Sprintf("%.1f %%", 100*r.MemHazardStall), topPhases(r.EngineContexts, 3))
			}
			fmt.Fprintf(w, "\nhandshakes held back most (share of cycles offered and not taken; transfers per cycle in brackets), named by the block that takes them\n")
			if key != "" {
				fmt.Fprintf(w, "%-*s ", max(len(key), 5), key)
			}
			fmt.Fprintf(w, "%-22s %4s  %-28s  %s\n", "workload", "KV", "station held (by term, %)", "streams")
			for _, r := range rows {
				if key != "" {
					fmt.Fprintf(w, "%-*s ", max(len(key), 5), r.SweepValue)
				}
				fmt.Fprintf(w, "%-22s %4d  %-28s  %s\n", r.Workload, r.KVBytes, stationWhy(r.StationWaits), mostStalled(r.Streams, 4))
			}
			for _, f := range files {
				fmt.Fprintf(w, "plot: %s\n", f)
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().Lookup("config").DefValue = "paper, memories shrunk"
	cmd.Flags().Uint64Var(&seed, "seed", 1, "stimulus seed")
	cmd.Flags().Uint64Var(&ops, "ops", 20_000, "operations per cell")
	cmd.Flags().IntVar(&batch, "batch", 32, "operations per request packet at most (the client's batching; a packet also ends at the response size limit); the decoder spends 3 cycles between packets (decoder.md §6)")
	cmd.Flags().IntSliceVar(&sizes, "kv", workload.KVSizes, "KV sizes (bytes)")
	cmd.Flags().StringArrayVar(&only, "workload", nil, "run only these rows (repeatable; default: all six)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&golden, "golden", false, "run the golden model alone, without Verilator (cycle-exact where the RTL co-simulates clean; for exploring configurations)")
	cmd.Flags().StringVar(&plots, "out", filepath.Join("runs", "bench-paper"), "where the plots and run records go")
	cmd.Flags().StringVar(&sweep, "sweep", "", "run the cells once per value of one configuration key, KEY=V1,V2,… (e.g. engine.contexts=16,32,64), and plot throughput against it")
	return cmd
}

func containsFold(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

// slug makes a workload name a file name.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// paperPlots writes throughput against KV size per workload (beside the
// paper's, dashed) and the latency distributions.
func paperPlots(dir string, rows []paperRow, c config.Config, golden bool) ([]string, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// one chart of Mops against KV size, a series per workload with the
	// paper's figures dashed beside it; sizes in the order measured
	var ticks []string
	seen := map[int]bool{}
	for _, r := range rows {
		if !seen[r.KVBytes] {
			seen[r.KVBytes] = true
			ticks = append(ticks, fmt.Sprint(r.KVBytes))
		}
	}
	var series []plot.Series
	idx := map[string]int{}
	var dists []plot.Distribution
	for _, r := range rows {
		i, ok := idx[r.Workload]
		if !ok {
			i = len(series)
			idx[r.Workload] = i
			series = append(series, plot.Series{Name: r.Workload})
		}
		series[i].Y = append(series[i].Y, r.Mops)
		series[i].RefY = append(series[i].RefY, r.PaperMops)
	}
	// Thirty overlaid distributions read as noise: the latency plot shows
	// the cells that tell the story (uniform and long-tail GET and PUT at
	// 10 B, long-tail GET at 62 B), or the first four of a partial run.
	pick := func(name string, kv int) bool {
		for _, w := range []struct {
			n  string
			kv int
		}{{"uniform, 100 % GET", 10}, {"long-tail, 100 % GET", 10}, {"uniform, 100 % PUT", 10}, {"long-tail, 100 % GET", 62}} {
			if w.n == name && w.kv == kv {
				return true
			}
		}
		return false
	}
	for _, r := range rows {
		if pick(r.Workload, r.KVBytes) && len(r.latency) > 0 {
			dists = append(dists, plot.Distribution{Name: fmt.Sprintf("%s, %d B", r.Workload, r.KVBytes), Samples: r.latency})
		}
	}
	for i := 0; len(dists) == 0 && i < len(rows) && i < 4; i++ {
		if len(rows[i].latency) > 0 {
			dists = append(dists, plot.Distribution{Name: fmt.Sprintf("%s, %d B", rows[i].Workload, rows[i].KVBytes), Samples: rows[i].latency})
		}
	}
	for _, s := range series {
		if len(s.Y) != len(ticks) {
			return nil, fmt.Errorf("bench paper: plot: workload %q has %d of the %d KV sizes", s.Name, len(s.Y), len(ticks))
		}
	}
	how := "co-simulated"
	if golden {
		how = "golden model"
	}
	tp := plot.LineChart{Title: fmt.Sprintf("kvd_top throughput (%s %s, %s) vs the paper", c.Name, c.Hash(), how),
		XLabel: "KV size (bytes)", YLabel: fmt.Sprintf("Mops at %.0f MHz", c.ClockMHz), XTicks: ticks, Series: series}
	return writeBenchPlots(dir, tp, plot.Histogram{Title: "request-packet latency (last request beat in to last response beat out)",
		Dists: dists, Scale: 1 / c.ClockMHz, Unit: "µs"})
}

// writeBenchPlots draws the throughput chart and, when it has samples, the
// latency histogram into dir.
func writeBenchPlots(dir string, tp plot.LineChart, h plot.Histogram) ([]string, error) {
	names, draw := []string{"throughput.svg"}, []func() ([]byte, error){tp.Render}
	if len(h.Dists) > 0 {
		names, draw = append(names, "latency.svg"), append(draw, h.Render)
	}
	var files []string
	for i, name := range names {
		svg, err := draw[i]()
		if err != nil {
			return nil, err
		}
		f := filepath.Join(dir, name)
		if err := plot.WriteFile(f, svg); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// parseSweep reads --sweep KEY=V1,V2,…; no sweep is one run with no key.
func parseSweep(s string) (key string, values []string, err error) {
	if s == "" {
		return "", []string{""}, nil
	}
	key, list, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v != "" {
			values = append(values, v)
		}
	}
	if !ok || key == "" || len(values) == 0 {
		return "", nil, fmt.Errorf("--sweep %q: want KEY=V1,V2,…, e.g. engine.contexts=16,32,64", s)
	}
	return key, values, nil
}

// sweepPlots writes throughput against the swept key's values, a series
// per cell with the paper's figure dashed beside it, and the latency
// distribution of the first cell at each value.
func sweepPlots(dir, key string, rows []paperRow, c config.Config, golden bool) ([]string, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	var ticks []string
	var series []plot.Series
	idx := map[string]int{}
	var dists []plot.Distribution
	first := rows[0].Workload + fmt.Sprint(rows[0].KVBytes)
	for _, r := range rows {
		if len(ticks) == 0 || ticks[len(ticks)-1] != r.SweepValue {
			ticks = append(ticks, r.SweepValue)
		}
		name := fmt.Sprintf("%s, %d B", r.Workload, r.KVBytes)
		i, ok := idx[name]
		if !ok {
			i = len(series)
			idx[name] = i
			series = append(series, plot.Series{Name: name})
		}
		series[i].Y = append(series[i].Y, r.Mops)
		series[i].RefY = append(series[i].RefY, r.PaperMops)
		if r.Workload+fmt.Sprint(r.KVBytes) == first && len(r.latency) > 0 {
			dists = append(dists, plot.Distribution{Name: fmt.Sprintf("%s = %s", key, r.SweepValue), Samples: r.latency})
		}
	}
	how := "co-simulated"
	if golden {
		how = "golden model"
	}
	tp := plot.LineChart{Title: fmt.Sprintf("kvd_top vs %s: %s %s, %s", key, c.Name, c.Hash(), how),
		XLabel: key, YLabel: fmt.Sprintf("Mops at %.0f MHz", c.ClockMHz), XTicks: ticks, Series: series}
	return writeBenchPlots(dir, tp, plot.Histogram{Title: fmt.Sprintf("request-packet latency, %s, %d B, against %s", rows[0].Workload, rows[0].KVBytes, key),
		Dists: dists, Scale: 1 / c.ClockMHz, Unit: "µs"})
}

// whereTimeGoes turns a run's golden counters into the row's breakdown.
// busy is the mean number of contexts in use (in any phase but FREE).
func whereTimeGoes(st testbenches.ProcStats) (by map[string]float64, busy, readPort, hazard float64) {
	e := st.Engine
	if e.Cycles == 0 {
		return nil, 0, 0, 0
	}
	n := float64(e.Cycles)
	by = map[string]float64{}
	var used uint64
	for p, c := range e.PhaseCycles {
		if c > 0 {
			by[htengine.PhaseName(p)] = float64(c) / n
		}
		if htengine.PhaseName(p) != "FREE" {
			used += c
		}
	}
	return by, float64(used) / n, float64(e.ReadTransfers) / n, float64(st.MemHazardStalls) / n
}

// streamShares turns golden/top's handshake counts into shares of the
// cycles to the last answer.
func streamShares(st testbenches.ProcStats) []streamRow {
	n := float64(st.Cycles + 1)
	var rows []streamRow
	for _, s := range st.Streams {
		rows = append(rows, streamRow{Name: s.Name, Fire: float64(s.Fire) / n, Stall: float64(s.Stall) / n})
	}
	return rows
}

// stationWaits turns the station's wait counts into shares of the cycles
// to the last answer.
func stationWaits(st testbenches.ProcStats) map[string]float64 {
	w, n := st.StationWaits, float64(st.Cycles+1)
	if w.Held == 0 {
		return nil
	}
	return map[string]float64{"held": float64(w.Held) / n, "no_id": float64(w.NoID) / n, "pq": float64(w.PQ) / n,
		"rq": float64(w.RQ) / n, "walk": float64(w.Walk) / n, "line": float64(w.Line) / n}
}

// stationWhy says, for the text table, why the station held requests.
func stationWhy(w map[string]float64) string {
	if w["held"] == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.0f %%:", 100*w["held"])
	for _, k := range []string{"no_id", "pq", "rq", "walk", "line"} {
		if w[k] >= 0.005 {
			s += fmt.Sprintf(" %s %.0f", k, 100*w[k])
		}
	}
	return s
}

// mostStalled lists the k streams held back most, most first (ties in
// golden/top's order, so that the text is the same run to run).
func mostStalled(rows []streamRow, k int) string {
	rows = slices.Clone(rows)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Stall > rows[j].Stall })
	var b strings.Builder
	for i, r := range rows[:min(k, len(rows))] {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "%s %.0f %% (%.2f)", r.Name, 100*r.Stall, r.Fire)
	}
	return b.String()
}

// topPhases lists the k phases other than FREE with the most contexts,
// most first (ties by name, so that the text is the same run to run).
func topPhases(by map[string]float64, k int) string {
	var ps []string
	for p := range by {
		if p != "FREE" {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if by[ps[i]] != by[ps[j]] {
			return by[ps[i]] > by[ps[j]]
		}
		return ps[i] < ps[j]
	})
	var b strings.Builder
	for i, p := range ps[:min(k, len(ps))] {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "%s %.1f", p, by[p])
	}
	return b.String()
}
