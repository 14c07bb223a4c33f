package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kvdirect/kvd/golden/slab"
)

// benchSlabSets keep the paper's allocator (classes, stacks, watermarks,
// 512-entry batches) but shrink host memory so that a run fills its heap
// in seconds: the daemon's bitmap and the checker are per granule.
var benchSlabSets = []string{"memory.index_buckets=16384", "memory.host_bytes=67108864"}

func newBenchSlabCmd() *cobra.Command {
	var cf configFlags
	var seed uint64
	var requests int
	var utils []float64
	var latency string
	var jsonOut, check bool
	cmd := &cobra.Command{
		Use:   "slab",
		Short: "Slab allocator: DMA operations per alloc and free, allocs per cycle, splits and merges",
		Long: `Runs the slab allocator's golden models (golden/slab, the cycle-accurate
kvd_slab, beside golden/slabd, the host daemon) with the host-memory port
served after a PCIe-like read latency, on three workloads:

  alloc_burst  allocs only, one per cycle, from warm stacks, all classes
  steady       allocs and frees of all classes around a quarter of the heap
  shift        the two smallest classes, then the two largest, then the two
               smallest again, around --shift-util of the heap

and reports DMA operations per alloc or free as the paper counts them (one
per 64 B or part; the paper: < 0.07), allocs and requests per cycle (goal:
one request per clock), and the daemon's splits and merges. It measures the
golden models, not RTL (docs/microarch/slab.md §10, §12).

The default configuration is the paper's allocator with 64 MiB of host
memory (--config paper --set memory.index_buckets=16384 --set
memory.host_bytes=67108864); giving --set replaces those two.`,
		Example: `  kvd bench slab
  kvd bench slab --json --seed 7 --requests 500000 --shift-util 0.5,0.7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			if c.Memory.HostBytes > 1<<30 {
				return fmt.Errorf("bench slab: memory.host_bytes = %d would need a per-granule bitmap and checker of that heap; add --set memory.host_bytes=67108864 --set memory.index_buckets=16384", c.Memory.HostBytes)
			}
			if _, err := slab.ParamsOf(c); err != nil {
				return err
			}
			spec := slab.BenchSpec{Seed: seed, Requests: requests, ShiftUtilizations: utils, Check: check}
			if latency != "" {
				lo, hi, err := parseLatency(latency)
				if err != nil {
					return err
				}
				spec.LatMin, spec.LatMax = int(lo), int(hi)
			}
			rows, err := slab.Bench(c, spec)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(w).Encode(benchOutput{Bench: "slab", ConfigHash: c.Hash(), Config: c.Name, Seed: seed, Verilator: "not used", Rows: rows})
			}
			lat := fmt.Sprintf("%d..%d", c.NsToCycles(c.DMA.LatencyMinNs), c.NsToCycles(c.DMA.LatencyMaxNs))
			if latency != "" {
				lat = fmt.Sprintf("%d..%d", spec.LatMin, spec.LatMax)
			}
			fmt.Fprintf(w, "bench slab: config %s (hash %s), seed %d, %d cycles per workload or phase, read latency %s cycles, heap %.1f MiB, invariants checked: %v\n",
				c.Name, c.Hash(), seed, requests, lat, float64(rows[0].HeapBytes)/(1<<20), check)
			fmt.Fprintf(w, "measured on the %s\n", slab.MeasuredOn)
			fmt.Fprintf(w, "%-11s %-11s %-23s %5s %9s %8s %9s %8s %6s %8s %8s %7s %8s %4s\n",
				"workload", "phase", "classes", "util", "cycles", "req/cyc", "alloc/cyc", "DMA/op", "paper", "splits", "merges", "no-mem", "waits", "inv")
			var slow []string
			for _, r := range rows {
				fmt.Fprintf(w, "%-11s %-11s %-23s %4.0f%% %9d %8.4f %9.4f %8.4f %6s %8d %8d %7d %8d %4s\n",
					r.Workload, r.Phase, r.Classes, 100*r.TargetUtilization, r.Cycles, r.RequestsPerCycle, r.AllocsPerCycle,
					r.DMAPerAllocFree, fmt.Sprintf("<%.2f", r.PaperDMAPerAllocFree), r.Splits, r.Merges, r.NoMemory, r.WaitCycles, shortInv(r.Invariants))
				if r.RequestsPerCycle < 0.99 {
					slow = append(slow, r.Workload+"/"+r.Phase)
				}
			}
			fmt.Fprintln(w, "util = the live bytes the client steers toward (alloc_burst: allocates), as a share of the heap")
			fmt.Fprintln(w, "DMA/op = DMA operations (one per 64 B or part) per alloc answered or free accepted; waits = cycles a request waited in the block")
			if len(slow) == 0 {
				fmt.Fprintln(w, "goal one request per clock: met on every row")
			} else {
				fmt.Fprintf(w, "goal one request per clock: NOT met on %s\n", strings.Join(slow, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cf.config, "config", "paper", "preset name or JSON file")
	cmd.Flags().StringArrayVar(&cf.sets, "set", append([]string(nil), benchSlabSets...), "override one key (repeatable; replaces the defaults)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the workloads and of the host's latencies")
	cmd.Flags().IntVar(&requests, "requests", 2_000_000, "cycles each workload (each shift phase) runs, one request offered per cycle")
	cmd.Flags().Float64SliceVar(&utils, "shift-util", []float64{0.5}, "live bytes of the shift workload as shares of the heap, one run each")
	cmd.Flags().StringVar(&latency, "latency", "", "host read latency MIN:MAX in cycles (default: the configuration's dma.latency_min_ns..latency_max_ns)")
	cmd.Flags().BoolVar(&check, "check", true, "run the invariant checker at the end of every workload")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object")
	return cmd
}

func shortInv(s string) string {
	if s == "ok" {
		return "ok"
	}
	return "-"
}
