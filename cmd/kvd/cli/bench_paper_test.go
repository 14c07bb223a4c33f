package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A short run of two cells on the sim preset: the fields the JSON
// promises, figures that are measurements (positive, the paper's beside
// them), and the plots written.
func TestBenchPaperJSON(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "bench", "paper", "--json", "--config", "sim", "--ops", "400", "--kv", "10,62",
		"--workload", "long-tail, 100 % GET", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Bench      string           `json:"bench"`
		ConfigHash string           `json:"config_hash"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Bench != "paper" || got.ConfigHash == "" || len(got.Rows) != 2 {
		t.Fatalf("got %+v", got)
	}
	for i, want := range []float64{180, 74.7} {
		r := got.Rows[i]
		if r["workload"] != "long-tail, 100 % GET" || r["paper_mops"] != want || r["divergences"] != 0.0 || r["ops"] != 400.0 {
			t.Errorf("row %d: %v", i, r)
		}
		for _, k := range []string{"mops", "ops_per_cycle", "latency_p50_cycles", "latency_p99_cycles", "latency_p50_us", "pcie_accesses_per_op"} {
			if v, ok := r[k].(float64); !ok || v <= 0 {
				t.Errorf("row %d: %s = %v", i, k, r[k])
			}
		}
	}
	for _, f := range []string{"throughput.svg", "latency.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !strings.Contains(string(b), "<svg") {
			t.Errorf("%s: %v", f, err)
		}
	}
	// --golden measures the same cycles without the simulator: the RTL
	// co-simulated clean above, so the figures must be identical.
	code, gout, errs := run(t, "bench", "paper", "--json", "--golden", "--config", "sim", "--ops", "400", "--kv", "10,62",
		"--workload", "long-tail, 100 % GET", "--out", t.TempDir())
	if code != 0 {
		t.Fatalf("--golden: exit %d: %s", code, errs)
	}
	var gold struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(gout), &gold); err != nil {
		t.Fatal(err)
	}
	for i := range got.Rows {
		g, c := gold.Rows[i], got.Rows[i]
		if g["golden_only"] != true || g["cycles"] != c["cycles"] || g["latency_p99_cycles"] != c["latency_p99_cycles"] {
			t.Errorf("row %d: golden %v cycles, p99 %v; co-simulated %v, %v", i, g["cycles"], g["latency_p99_cycles"], c["cycles"], c["latency_p99_cycles"])
		}
	}
	if code, _, errs := run(t, "bench", "paper", "--kv", "11"); code == 0 || !strings.Contains(errs, "--kv 11") {
		t.Errorf("a KV size the paper did not measure: exit %d, %q", code, errs)
	}
}

// --sweep runs the cells once per value of one key: a row per value with
// the value and the configuration it made, throughput plotted against the
// key; a malformed sweep or a value the configuration refuses is one line
// naming it.
func TestBenchPaperSweep(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "bench", "paper", "--json", "--golden", "--config", "sim", "--ops", "300", "--kv", "10",
		"--workload", "uniform, 100 % GET", "--sweep", "engine.contexts=2,4", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		ConfigHash string     `json:"config_hash"`
		Rows       []paperRow `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 2 {
		t.Fatalf("%d rows, want one per value: %s", len(got.Rows), out)
	}
	a, b := got.Rows[0], got.Rows[1]
	if a.SweepValue != "2" || b.SweepValue != "4" || a.SweepConfigHash == b.SweepConfigHash ||
		a.SweepConfigHash == got.ConfigHash || b.SweepConfigHash == got.ConfigHash {
		t.Errorf("sweep fields: %+v, %+v (swept from %s)", a, b, got.ConfigHash)
	}
	// Two and four contexts keep the engine far from its port bound: more
	// contexts must be faster, or the sweep did not reach the configuration.
	if !(b.OpsPerCycle > a.OpsPerCycle) {
		t.Errorf("4 contexts %.3f op/cycle, 2 contexts %.3f", b.OpsPerCycle, a.OpsPerCycle)
	}
	// The breakdown: every context is in one phase every cycle, so the
	// means add up to the contexts swept; the engine waits on its reads
	// (RWAIT) most, and its read port carries less than a beat a cycle.
	for i, r := range got.Rows {
		sum := 0.0
		for _, n := range r.EngineContexts {
			sum += n
		}
		want := float64(2 + 2*i)
		if math.Abs(sum-want) > 1e-9 || r.EngineContexts["RWAIT"] < 0.5*want || !(r.EngineReadBusy > 0 && r.EngineReadBusy <= 1) {
			t.Errorf("row %d: contexts by phase %v (sum %g, want %g), read port %g", i, r.EngineContexts, sum, want, r.EngineReadBusy)
		}
	}
	// The handshakes: every operation passes the station's request port
	// once (write-backs start inside it), and nothing waits on the
	// outside's ready, which the bench holds at 1.
	for i, r := range got.Rows {
		names := map[string]streamRow{}
		for _, s := range r.Streams {
			names[s.Name] = s
		}
		req, ok := names["u_rs.req"]
		if !ok || math.Abs(req.Fire*float64(r.Cycles)-float64(r.Ops)) > 0.5 {
			t.Errorf("row %d: u_rs.req %+v over %d cycles, want %d transfers; streams %+v", i, req, r.Cycles, r.Ops, r.Streams)
		}
		if tx := names["u_front.tx (out)"]; !(tx.Fire > 0) || tx.Stall != 0 {
			t.Errorf("row %d: u_front.tx (out) %+v", i, tx)
		}
		// Inside the front end, every operation is one decoder record.
		if d := names["u_front.u_rob.d"]; math.Abs(d.Fire*float64(r.Cycles)-float64(r.Ops)) > 0.5 {
			t.Errorf("row %d: u_front.u_rob.d %+v over %d cycles, want %d transfers", i, d, r.Cycles, r.Ops)
		}
		// Two or four engine contexts take requests slowly: the engine
		// holds the station's pipe port back, so the station's queue to
		// it is full (pq) in nearly every cycle its arrival stage waits.
		w := r.StationWaits
		if ht := names["u_ht.req"]; !(ht.Stall > 0.5) || !(w["held"] > 0.5) || !(w["pq"] >= 0.9*w["held"]) || w["no_id"] != 0 {
			t.Errorf("row %d: u_ht.req %+v, station waits %v: want the engine holding the station back", i, ht, w)
		}
	}
	if !strings.Contains(out, "engine_contexts_by_phase") {
		t.Errorf("--json has no engine_contexts_by_phase: %s", out)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "throughput.svg"))
	if err != nil || !strings.Contains(string(svg), "engine.contexts") {
		t.Errorf("throughput.svg: %v", err)
	}
	for _, tc := range []struct{ sweep, want string }{
		{"engine.contexts", "want KEY=V1,V2"},
		{"engine.contexts=", "want KEY=V1,V2"},
		{"nope=1,2", "unknown key"},
		{"engine.contexts=8,1", "engine.contexts = 1: must be 2..256"},
	} {
		code, _, errs := run(t, "bench", "paper", "--golden", "--config", "sim", "--ops", "50", "--kv", "10",
			"--workload", "uniform, 100 % GET", "--sweep", tc.sweep, "--out", t.TempDir())
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 2 {
			t.Errorf("--sweep %q: exit %d, %q; want an error saying %q", tc.sweep, code, errs, tc.want)
		}
	}
}
