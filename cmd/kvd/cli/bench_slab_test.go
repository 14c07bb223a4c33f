package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// The sim preset in 1 MiB of host memory, 20000 cycles per workload: a
// fraction of a second.
var smallSlab = []string{"bench", "slab", "--config", "sim", "--set", "memory.index_buckets=1024",
	"--set", "memory.host_bytes=1048576", "--requests", "20000", "--latency", "20:40"}

func TestBenchSlabJSON(t *testing.T) {
	code, out, errs := run(t, append(smallSlab, "--json", "--seed", "3")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Bench      string           `json:"bench"`
		ConfigHash string           `json:"config_hash"`
		Seed       uint64           `json:"seed"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if got.Bench != "slab" || got.ConfigHash == "" || got.Seed != 3 || len(got.Rows) != 6 {
		t.Fatalf("got %+v", got)
	}
	for i, r := range got.Rows {
		for _, k := range []string{"workload", "phase", "classes", "target_utilization", "cycles", "dma_per_alloc_free",
			"allocs_per_cycle", "requests_per_cycle", "splits", "merges", "no_memory"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %d lacks %q: %v", i, k, r)
			}
		}
		if r["invariants"] != "ok" || !strings.Contains(r["measured_on"].(string), "golden") || r["paper_dma_per_alloc_free"] != 0.07 {
			t.Errorf("row %d: %v", i, r)
		}
	}
	if r := got.Rows[0]; r["workload"] != "alloc_burst" || r["frees"] != 0.0 {
		t.Errorf("first row %v", r)
	}
}

func TestBenchSlabTextAndBadInput(t *testing.T) {
	code, out, errs := run(t, smallSlab...)
	if code != 0 || !strings.Contains(out, "measured on the golden models") || !strings.Contains(out, "DMA/op") {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	for _, args := range [][]string{
		append(append([]string(nil), smallSlab...), "--shift-util", "1.5"),
		{"bench", "slab", "--set", "memory.host_bytes=68719476736"},
	} {
		code, _, stderr := run(t, args...)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "kvd: ") {
			t.Errorf("kvd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
}
