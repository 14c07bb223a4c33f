package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/golden/memsys"
)

// benchMemorySets keep the paper's timing and its size ratios (host memory
// 16× the DRAM, the index 4× the DRAM) at 1/256 of its sizes, so that the
// dispatch bench can start from a warm cache (it walks every bucket).
var benchMemorySets = []string{"memory.index_buckets=1048576", "memory.host_bytes=268435456", "dram.bytes=16777216"}

func newBenchMemoryCmd() *cobra.Command {
	var cf configFlags
	var seed, cycles, warmup, dCycles, dWarmup uint64
	var ls []float64
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "PCIe link throughput against Little's law, and the load dispatcher's gain, on the golden memory-system models",
		Long: `Runs the memory system's golden model (golden/memsys) against the host-side
models of the PCIe links and the on-board DRAM (golden/pcie, golden/dram);
the RTL comes later. Every read beat is checked against a reference memory.

Link rows: the three default clients offer 64 B random reads (then writes)
every cycle with nothing cacheable; each link's requests per cycle beside
its bound: for reads Little's law, dma.tags_per_link ÷ the mean round trip
of the latency distribution, for writes (posted, no tag) the transmit path,
dma.data_bytes ÷ (64 + dma.tlp_overhead_bytes) per cycle; and the paper's
figures (60 Mops reads, 62.5 Mops writes per link, kv-direct.md §5).

Dispatch rows: one 64 B bucket read per cycle (the pipeline's rate) over the
hash index, uniform or Zipf 0.99, from four swap-in bucket ports, with a
fraction l of host memory cacheable in DRAM, starting from a warm cache;
the paper's long-tail figures are 120 Mops without and 180 Mops with load
dispatch at l = 0.5.

The default configuration is the paper preset at 1/256 of its memory sizes
(--set memory.index_buckets=1048576 --set memory.host_bytes=268435456
--set dram.bytes=16777216); giving --set replaces those three.`,
		Example: `  kvd bench memory
  kvd bench memory --json --cycles 60000 --l 0,0.5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			for _, l := range ls {
				if l < 0 || l > 1 {
					return fmt.Errorf("--l %g: want a fraction of host memory, 0..1", l)
				}
			}
			if warmup >= cycles || dWarmup >= dCycles {
				return fmt.Errorf("--warmup %d / --dispatch-warmup %d must be below --cycles %d / --dispatch-cycles %d", warmup, dWarmup, cycles, dCycles)
			}
			if c.Memory.IndexBuckets > memsys.MaxDispatchLines {
				return fmt.Errorf("bench memory: memory.index_buckets = %d: the dispatch bench warms the cache bucket by bucket; use at most %d, e.g. --set %s", c.Memory.IndexBuckets, memsys.MaxDispatchLines, strings.Join(benchMemorySets, " --set "))
			}
			rows, err := memsys.MeasureLinks(c, memsys.BenchSpec{Cycles: cycles, Warmup: warmup, Seed: seed})
			if err != nil {
				return err
			}
			var dRows []memsys.DispatchRow
			for _, theta := range []float64{0, 0.99} {
				var base float64
				for i, l := range ls {
					r, err := memsys.MeasureDispatch(c, l, theta, memsys.BenchSpec{Cycles: dCycles, Warmup: dWarmup, Seed: seed})
					if err != nil {
						return err
					}
					if i == 0 || l == 0 {
						base = r.Mops
					}
					if base > 0 {
						r.Gain = r.Mops / base
					}
					if theta > 0 && l == 0 {
						r.PaperMops = memPaperMops(memsys.PaperNoDispatch)
					}
					if theta > 0 && l == 0.5 {
						r.PaperMops = memPaperMops(memsys.PaperDispatchHalf)
					}
					dRows = append(dRows, r)
				}
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				all := make([]any, 0, len(rows)+len(dRows))
				for _, r := range rows {
					all = append(all, r)
				}
				for _, r := range dRows {
					all = append(all, r)
				}
				return json.NewEncoder(w).Encode(benchOutput{Bench: "memory", ConfigHash: c.Hash(), Config: c.Name, Seed: seed, Verilator: "not used (golden models)", Rows: all})
			}
			fmt.Fprintf(w, "bench memory: config %s (hash %s), seed %d, golden models (golden/memsys, golden/pcie, golden/dram), %g MHz\n", c.Name, c.Hash(), seed, c.ClockMHz)
			fmt.Fprintf(w, "links: 64 B random requests, %d cycles of which %d warm-up\n", cycles, warmup)
			fmt.Fprintf(w, "%-5s %-6s %9s %9s %-17s %7s %7s %7s\n", "link", "kind", "req/cyc", "bound", "", "of bnd", "Mops", "paper")
			short := []string{}
			for _, r := range rows {
				fmt.Fprintf(w, "%-5d %-6s %9.4f %9.4f %-17s %6.1f%% %7.1f %7.1f\n", r.Link, r.Kind, r.RequestsPerCycle, r.BoundPerCycle, "("+r.Bound+")", 100*r.OfBound, r.Mops, r.PaperMops)
				if r.OfBound < 0.95 {
					short = append(short, fmt.Sprintf("link %d %s", r.Link, r.Kind))
				}
			}
			if len(short) == 0 {
				fmt.Fprintln(w, "goal: every link within 5 % of its bound: met")
			} else {
				fmt.Fprintf(w, "goal: every link within 5 %% of its bound: NOT met on %s\n", strings.Join(short, ", "))
			}
			fmt.Fprintf(w, "load dispatch: one 64 B bucket read offered per cycle, %d cycles of which %d warm-up, warm cache\n", dCycles, dWarmup)
			fmt.Fprintf(w, "%-9s %5s %9s %7s %6s %8s %7s %7s\n", "dist", "l", "req/cyc", "Mops", "gain", "hit rate", "DRAM", "paper")
			for _, r := range dRows {
				paper := ""
				if r.PaperMops != nil {
					paper = fmt.Sprintf("%.0f", *r.PaperMops)
				}
				fmt.Fprintf(w, "%-9s %5.2f %9.4f %7.1f %5.2fx %7.1f%% %6.1f%% %7s\n", r.Distribution, r.L, r.RequestsPerCycle, r.Mops, r.Gain, 100*r.HitRate, 100*r.DRAMShare, paper)
			}
			fmt.Fprintln(w, "hit rate: of cacheable reads; DRAM: share of all reads served from on-board DRAM")
			return nil
		},
	}
	cmd.Flags().StringVar(&cf.config, "config", "paper", "preset name or JSON file")
	cmd.Flags().StringArrayVar(&cf.sets, "set", append([]string(nil), benchMemorySets...), "override one key (repeatable; replaces the defaults)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the link latencies and the addresses")
	cmd.Flags().Uint64Var(&cycles, "cycles", 120_000, "cycles simulated per link run (reads, writes)")
	cmd.Flags().Uint64Var(&warmup, "warmup", 20_000, "cycles of each link run not measured")
	cmd.Flags().Uint64Var(&dCycles, "dispatch-cycles", 120_000, "cycles simulated per dispatch row")
	cmd.Flags().Uint64Var(&dWarmup, "dispatch-warmup", 20_000, "cycles of each dispatch row not measured")
	cmd.Flags().Float64SliceVar(&ls, "l", []float64{0, 0.25, 0.5, 0.75}, "cache fractions of the dispatch rows (dram.cache_fraction)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object")
	return cmd
}

func memPaperMops(v float64) *float64 { return &v }
