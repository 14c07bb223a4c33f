package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// A small index keeps the test to a fraction of a second; the paper's
// layout is unchanged.
var smallHashtable = []string{"--set", "memory.index_buckets=1024", "--set", "memory.host_bytes=1048576", "--ops", "500"}

func TestBenchHashtableJSON(t *testing.T) {
	code, out, errs := run(t, append([]string{"bench", "hashtable", "--json", "--seed", "3"}, smallHashtable...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Bench      string           `json:"bench"`
		ConfigHash string           `json:"config_hash"`
		Config     string           `json:"config"`
		Seed       uint64           `json:"seed"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Bench != "hashtable" || got.ConfigHash == "" || got.Config != "paper" || got.Seed != 3 || len(got.Rows) != 8 {
		t.Fatalf("got %+v", got)
	}
	sizes := map[float64]int{}
	for i, r := range got.Rows {
		for _, k := range []string{"kv_bytes", "utilization", "get_accesses_per_op", "put_accesses_per_op", "paper_get", "paper_put"} {
			if v, ok := r[k].(float64); !ok || v <= 0 {
				t.Errorf("row %d: %s = %v", i, k, r[k])
			}
		}
		kv, _ := r["kv_bytes"].(float64)
		sizes[kv]++
		floor := 1.0 // an inline GET reads at least the bucket
		if kv == 254 {
			floor = 2 // and an out-of-line one the object too
		}
		if g, _ := r["get_accesses_per_op"].(float64); g < floor || g > floor+1 {
			t.Errorf("row %d: %v accesses per GET of %v B KVs", i, g, kv)
		}
		if p, _ := r["put_accesses_per_op"].(float64); p < floor+1 {
			t.Errorf("row %d: %v accesses per PUT", i, p)
		}
		if u, m := r["utilization"].(float64), r["measured_utilization"].(float64); m < u || m > u+0.01 {
			t.Errorf("row %d: utilization %v measured %v", i, u, m)
		}
	}
	if sizes[10] != 4 || sizes[254] != 4 {
		t.Errorf("rows by KV size: %v", sizes)
	}
}

func TestBenchHashtableText(t *testing.T) {
	code, out, errs := run(t, append([]string{"bench", "hashtable"}, smallHashtable...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"config paper (hash ", "seed 1", "GET", "paper", "interpolated"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 12 {
		t.Errorf("%d lines, want a header, a column line, 8 rows and 2 notes:\n%s", n, out)
	}
}

func TestBenchHashtableBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "hashtable", "--set", "memory.index_buckets=3"},
		{"bench", "hashtable", "--config", "paper", "--set", "memory.index_buckets=268435456"},              // the paper's own: too slow
		{"bench", "hashtable", "--set", "memory.index_buckets=16384", "--set", "memory.host_bytes=2097152"}, // no room for 1/8
	} {
		code, _, stderr := run(t, args...)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "kvd: ") {
			t.Errorf("kvd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
}
