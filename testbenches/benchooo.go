package testbenches

import (
	"context"
	"fmt"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/cosim/cache"
)

// OOORow is one workload of kvd bench ooo, with forwarding on or off.
type OOORow struct {
	Workload      string   `json:"workload"`            // "atomic" (hot keys) or "zipf"
	Keys          *int     `json:"keys,omitempty"`      // atomic rows: hot keys, in distinct slots
	PutRatio      *float64 `json:"put_ratio,omitempty"` // zipf rows: the fraction of PUTs
	Forwarding    bool     `json:"forwarding"`
	ConfigHash    string   `json:"config_hash"`
	Cycles        uint64   `json:"cycles"`        // measured, after the warm-up
	WarmupCycles  uint64   `json:"warmup_cycles"` // simulated before measuring
	Ops           uint64   `json:"ops"`           // responses in the measured cycles
	OpsPerCycle   float64  `json:"ops_per_cycle"`
	Mops          float64  `json:"mops"` // ops_per_cycle × clock_mhz
	PaperMops     *float64 `json:"paper_mops,omitempty"`
	Speedup       float64  `json:"speedup,omitempty"`       // forwarding rows: over the same workload without
	PaperSpeedup  float64  `json:"paper_speedup,omitempty"` // the paper's ratio, where it gives both figures
	MaxWaitCycles uint64   `json:"max_wait_cycles"`         // the longest a measured request waited, or an unanswered one has
	Unanswered    int      `json:"unanswered"`              // requests still waiting when the run ended
	Golden        bool     `json:"golden_only"`             // measured on golden/rs alone (--golden)
}

// OOOOptions shape kvd bench ooo.
type OOOOptions struct {
	Seed           uint64
	Cycles, Warmup uint64 // per run: simulated cycles, of which the first Warmup are not measured
	Keys           []int
	PutRatios      []float64
	LatMin, LatMax uint64 // the main pipeline's latency, cycles
	// Golden runs golden/rs alone, without the RTL: the same cycles a
	// co-simulation without divergence gives, for exploring
	// configurations and contract changes quickly.
	Golden   bool
	Progress func(string)
}

// The paper's figures (kv-direct.md §4): atomics on one key, and the
// long-tail workload with 1 % PUT, with and without the engine.
var oooPaper = map[string][2]float64{"atomic/1": {180, 0.94}, "zipf/0.01": {180, 19.2}}

// BenchOOO co-simulates kvd_rs (RTL against golden/rs, every response
// checked against the sequential reference) on each workload with
// forwarding on and off, and measures responses per cycle after a warm-up.
func BenchOOO(ctx context.Context, cfg config.Config, o OOOOptions) ([]OOORow, error) {
	if o.Warmup >= o.Cycles {
		return nil, fmt.Errorf("bench ooo: warm-up of %d cycles leaves nothing of %d to measure", o.Warmup, o.Cycles)
	}
	cfgs, bins := map[bool]config.Config{}, map[bool]string{}
	for _, fwd := range []bool{true, false} {
		c := cfg
		// The baseline has no cache at all (rs.idle_cache, §11, has no
		// effect without forwarding; clearing it keeps the row's config
		// hash that of the station it measures).
		c.RS.IdleCache = c.RS.IdleCache && fwd
		if err := c.Set(fmt.Sprintf("rs.forwarding=%v", fwd)); err != nil {
			return nil, err
		}
		cfgs[fwd] = c
		if o.Golden {
			continue
		}
		dir, mod, cleanup, err := RTLFor(c, "kvd_rs", "")
		if err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(fmt.Sprintf("building kvd_rs with forwarding=%v (cached after the first time)", fwd))
		}
		bin, err := cache.Build(ctx, cache.Request{Top: mod, RTLDir: dir})
		cleanup()
		if err != nil {
			return nil, err
		}
		cfgs[fwd], bins[fwd] = c, bin.Binary
	}

	type workload struct {
		name  string
		keys  int
		put   float64
		phase rsPhase
	}
	var wls []workload
	for _, n := range o.Keys {
		wls = append(wls, workload{name: "atomic", keys: n, phase: rsPhase{
			name: fmt.Sprintf("atomics (λ 0) on %d hot keys", n), mix: rsMix8(0, 0, 0, 1), rate: 1000,
			fids: []uint64{0}, keys: rsHotKeys(n, true),
		}})
	}
	for _, r := range o.PutRatios {
		wls = append(wls, workload{name: "zipf", put: r, phase: rsZipfPhase(r, 1000)})
	}

	var rows []OOORow
	for _, wl := range wls {
		var pair [2]OOORow
		for i, fwd := range []bool{true, false} {
			if o.Progress != nil {
				o.Progress(fmt.Sprintf("%s, forwarding=%v", wl.phase.name, fwd))
			}
			p := rsParams{
				phases: []rsPhase{wl.phase}, latMin: o.LatMin, latMax: o.LatMax,
				measureFrom: o.Warmup, noShadow: true,
				// Starvation is measured (max_wait_cycles), not refused.
				starveCycles: 1 << 62,
			}
			c := cfgs[fwd]
			m, err := newRSGolden(c)
			if err != nil {
				return nil, err
			}
			stim, err := newRSStim(c, m, p, o.Seed)
			if err != nil {
				return nil, err
			}
			// The stimulus sees a cycle's outputs in the next one: one more
			// cycle makes the measured window exactly Cycles - Warmup.
			if o.Golden {
				if _, err := stepGolden(ctx, m, stim, o.Cycles+1); err != nil {
					return nil, fmt.Errorf("%s, forwarding=%v: %v", wl.phase.name, fwd, err)
				}
			} else {
				res, err := cosim.Run(ctx, bins[fwd], m, stim, cosim.Options{Cycles: o.Cycles + 1})
				if err != nil {
					return nil, fmt.Errorf("%s, forwarding=%v: %v", wl.phase.name, fwd, err)
				}
				if d := res.Divergence; d != nil {
					return nil, fmt.Errorf("%s, forwarding=%v: the RTL diverged from golden/rs at cycle %d: benchmark a passing design (kvd sim rs_hot, rs_zipf)", wl.phase.name, fwd, d.Cycle)
				}
			}
			row := OOORow{Workload: wl.name, Forwarding: fwd, ConfigHash: c.Hash(), WarmupCycles: o.Warmup, Golden: o.Golden}
			if wl.name == "atomic" {
				row.Keys = &wl.keys
			} else {
				row.PutRatio = &wl.put
			}
			stim.mu.Lock()
			row.Cycles = stim.lastObserved + 1 - o.Warmup
			row.Ops = stim.winResp
			row.MaxWaitCycles = stim.maxWait
			row.Unanswered = stim.waiting
			for _, q := range stim.order {
				if !q.answered {
					row.MaxWaitCycles = max(row.MaxWaitCycles, stim.lastObserved-q.cycle)
					break
				}
			}
			stim.mu.Unlock()
			row.OpsPerCycle = float64(row.Ops) / float64(row.Cycles)
			row.Mops = row.OpsPerCycle * c.ClockMHz
			key := fmt.Sprintf("%s/%d", wl.name, wl.keys)
			if wl.name == "zipf" {
				key = fmt.Sprintf("%s/%g", wl.name, wl.put)
			}
			if paper, ok := oooPaper[key]; ok {
				v := paper[i]
				row.PaperMops = &v
				if fwd {
					row.PaperSpeedup = paper[0] / paper[1]
				}
			}
			pair[i] = row
		}
		if pair[1].OpsPerCycle > 0 {
			pair[0].Speedup = pair[0].OpsPerCycle / pair[1].OpsPerCycle
		}
		rows = append(rows, pair[0], pair[1])
	}
	return rows, nil
}
