package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// A short run: two links × read and write, and the dispatch rows at
// l = 0 and 0.5 for both distributions, with the fields the JSON promises.
func TestBenchMemoryJSON(t *testing.T) {
	code, out, errs := run(t, "bench", "memory", "--json", "--cycles", "30000", "--warmup", "8000",
		"--dispatch-cycles", "12000", "--dispatch-warmup", "4000", "--l", "0,0.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Bench      string           `json:"bench"`
		ConfigHash string           `json:"config_hash"`
		Config     string           `json:"config"`
		Seed       float64          `json:"seed"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if got.Bench != "memory" || got.ConfigHash == "" || got.Config != "paper" || got.Seed != 1 || len(got.Rows) != 8 {
		t.Fatalf("got %+v", got)
	}
	links, dispatch := 0, 0
	for _, r := range got.Rows {
		switch r["row"] {
		case "link":
			links++
			for _, k := range []string{"link", "kind", "requests_per_cycle", "bound_per_cycle", "mops", "paper_mops"} {
				if _, ok := r[k]; !ok {
					t.Errorf("link row %v lacks %q", r, k)
				}
			}
			kind, _ := r["kind"].(string)
			paper := map[string]float64{"read": 60, "write": 62.5}[kind]
			if r["paper_mops"] != paper {
				t.Errorf("link row %v: paper_mops, want %v", r, paper)
			}
			rpc, _ := r["requests_per_cycle"].(float64)
			bound, _ := r["bound_per_cycle"].(float64)
			if rpc < 0.9*bound || rpc > bound {
				t.Errorf("link row %v: %v requests per cycle against a bound of %v", r, rpc, bound)
			}
			if mops, _ := r["mops"].(float64); mops != rpc*180 {
				t.Errorf("link row %v: mops is not requests_per_cycle × 180 MHz", r)
			}
		case "dispatch":
			dispatch++
			for _, k := range []string{"kind", "l", "distribution", "requests_per_cycle", "mops", "paper_mops"} {
				if _, ok := r[k]; !ok {
					t.Errorf("dispatch row %v lacks %q", r, k)
				}
			}
			if d := r["distribution"]; d != "uniform" && d != "zipf0.99" {
				t.Errorf("dispatch row %v: distribution", r)
			}
			if r["distribution"] == "zipf0.99" && r["l"] == 0.5 {
				if r["paper_mops"] != 180.0 {
					t.Errorf("long-tail row at l=0.5: %v", r)
				}
				if m, _ := r["mops"].(float64); m < 150 {
					t.Errorf("long-tail row at l=0.5: %v Mops", m)
				}
			}
		default:
			t.Errorf("row %v has no known \"row\"", r)
		}
	}
	if links != 4 || dispatch != 4 {
		t.Errorf("%d link rows, %d dispatch rows, want 4 and 4", links, dispatch)
	}
}

func TestBenchMemoryBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "memory", "--l", "1.5"},
		{"bench", "memory", "--cycles", "1000", "--warmup", "1000"},
		{"bench", "memory", "--config", "paper", "--set", "dram.bytes=3"},
		{"bench", "memory", "--set", "memory.index_buckets=268435456", "--set", "memory.host_bytes=68719476736"},
	} {
		code, _, stderr := run(t, args...)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "kvd: ") {
			t.Errorf("kvd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
}
