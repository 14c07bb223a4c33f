package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// A short run on the sim preset: one hot key and the paper's long-tail row,
// forwarding on and off, with the fields the JSON promises.
func TestBenchOOOJSON(t *testing.T) {
	code, out, errs := run(t, "bench", "ooo", "--json", "--config", "sim", "--cycles", "40000", "--warmup", "10000", "--keys", "1", "--put", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Bench      string           `json:"bench"`
		ConfigHash string           `json:"config_hash"`
		Seed       float64          `json:"seed"`
		Verilator  string           `json:"verilator"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if got.Bench != "ooo" || got.ConfigHash == "" || got.Seed != 1 || !strings.Contains(got.Verilator, "Verilator") || len(got.Rows) != 4 {
		t.Fatalf("got %+v", got)
	}
	type key struct {
		workload string
		fwd      bool
	}
	rows := map[key]map[string]any{}
	for _, r := range got.Rows {
		for _, k := range []string{"workload", "forwarding", "config_hash", "cycles", "ops", "ops_per_cycle", "mops", "max_wait_cycles"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v lacks %q", r, k)
			}
		}
		_, hasKeys := r["keys"]
		_, hasPut := r["put_ratio"]
		if hasKeys == hasPut {
			t.Errorf("row %v: want exactly one of keys and put_ratio", r)
		}
		if r["cycles"].(float64) != 30000 {
			t.Errorf("row %v: measured %v cycles, want 40000 - 10000", r, r["cycles"])
		}
		if opc, mops := r["ops_per_cycle"].(float64), r["mops"].(float64); mops != opc*180 {
			t.Errorf("row %v: mops %v is not ops_per_cycle × 180 MHz", r, mops)
		}
		rows[key{r["workload"].(string), r["forwarding"].(bool)}] = r
	}
	paper := map[key]float64{{"atomic", true}: 180, {"atomic", false}: 0.94, {"zipf", true}: 180, {"zipf", false}: 19.2}
	for k, want := range paper {
		r := rows[k]
		if r == nil || r["paper_mops"] != want {
			t.Errorf("%v: paper_mops %v, want %v", k, r["paper_mops"], want)
		}
	}
	if r := rows[key{"atomic", true}]; r["keys"] != 1.0 || r["ops_per_cycle"].(float64) < 0.95 || r["speedup"].(float64) < 150 {
		t.Errorf("one hot key with forwarding: %v", r)
	}
	if r := rows[key{"zipf", false}]; r["put_ratio"] != 0.01 {
		t.Errorf("long-tail row: %v", r)
	}

	// --golden steps golden/rs alone; a co-simulation without divergence
	// runs the same cycles, so every row's figures must be the same.
	code, gout, errs := run(t, "bench", "ooo", "--json", "--golden", "--config", "sim", "--cycles", "40000", "--warmup", "10000", "--keys", "1", "--put", "1")
	if code != 0 {
		t.Fatalf("--golden: exit %d: %s", code, errs)
	}
	var g struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(gout), &g); err != nil {
		t.Fatalf("--golden: not one JSON object: %v\n%s", err, gout)
	}
	if len(g.Rows) != len(got.Rows) {
		t.Fatalf("--golden: %d rows, co-simulation %d", len(g.Rows), len(got.Rows))
	}
	for i, r := range g.Rows {
		if r["golden_only"] != true || got.Rows[i]["golden_only"] != false {
			t.Errorf("row %d: golden_only %v (--golden) and %v (co-simulated)", i, r["golden_only"], got.Rows[i]["golden_only"])
		}
		for _, k := range []string{"workload", "forwarding", "cycles", "ops", "max_wait_cycles", "unanswered"} {
			if r[k] != got.Rows[i][k] {
				t.Errorf("row %d: %s %v with --golden, %v co-simulated", i, k, r[k], got.Rows[i][k])
			}
		}
	}
}

func TestBenchOOOBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "ooo", "--latency", "9"},
		{"bench", "ooo", "--latency", "0:10"},
		{"bench", "ooo", "--put", "150"},
		{"bench", "ooo", "--cycles", "1000", "--warmup", "1000"},
	} {
		code, _, stderr := run(t, args...)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "kvd: ") {
			t.Errorf("kvd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
}
