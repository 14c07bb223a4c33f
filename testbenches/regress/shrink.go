package regress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/testbenches"
)

// shrink minimises a failing run's input sequence by delta debugging
// (Zeller's ddmin over cycles) and writes the smallest sequence that still
// diverges as a directed case. It returns the file's path.
func shrink(ctx context.Context, r *Result, rtl string, o Options) (string, error) {
	c, err := r.LoadConfig()
	if err != nil {
		return "", err
	}
	// Record the failing run's inputs up to the divergence: later cycles
	// cannot have caused it.
	var rec bytes.Buffer
	base := testbenches.SimOptions{Scenario: r.Scenario, Config: c, Seed: r.Seed, Cycles: *r.Divergence + 1,
		RTLDir: rtl, NoWave: true, RunDir: filepath.Join(o.Out, "shrink", "work"), RecordInputs: &rec}
	if r.XSeed > 0 {
		base.ShimArgs = XSeedArgs(r.XSeed)
	}
	first, err := testbenches.Sim(ctx, base)
	if err != nil {
		return "", err
	}
	if first.Record.Divergence == nil {
		return "", fmt.Errorf("the failure did not reproduce when recorded")
	}
	inWords := 0
	for _, p := range first.Record.Ports {
		if p.Dir == model.In {
			inWords += model.Words(p.Width)
		}
	}
	raw := rec.Bytes()
	n := len(raw) / (8 * inWords)
	recs := make([][]uint64, n)
	for i := range recs {
		recs[i] = make([]uint64, inWords)
		for w := range recs[i] {
			off := (i*inWords + w) * 8
			for b := 0; b < 8; b++ {
				recs[i][w] |= uint64(raw[off+b]) << (8 * b)
			}
		}
	}
	runs := 0
	fails := func(candidate [][]uint64) bool {
		if runs >= o.ShrinkRuns || ctx.Err() != nil {
			return false
		}
		runs++
		so := base
		so.RecordInputs = nil
		so.Inputs = candidate
		so.Cycles = uint64(len(candidate))
		run, err := testbenches.Sim(ctx, so)
		return err == nil && run.Record.Divergence != nil
	}
	min := ddmin(recs, fails)
	d := Directed{
		Scenario: r.Scenario, Config: r.Config, Set: r.Set, ConfigHash: c.Hash(),
		Description: fmt.Sprintf("shrunk from %s (%s): %d cycles to %d in %d runs", r.Name, r.Error, len(recs), len(min), runs),
	}
	var slots []model.Slot
	for i, p := range first.Record.Ports {
		if p.Dir == model.In {
			d.Ports = append(d.Ports, p.Name)
			slots = append(slots, model.Slot{Port: i, Width: p.Width, Words: model.Words(p.Width)})
		}
	}
	for _, rec := range min {
		var vals []string
		off := 0
		for _, s := range slots {
			h := model.Hex(rec[off:off+s.Words], s.Width)
			vals = append(vals, h[strings.Index(h, "h")+1:])
			off += s.Words
		}
		d.Cycles = append(d.Cycles, vals)
	}
	dir := filepath.Join(o.Out, "shrunk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, strings.ReplaceAll(r.Name, "/", "_")+".json")
	data, _ := json.MarshalIndent(d, "", "  ")
	return path, os.WriteFile(path, append(data, '\n'), 0o644)
}

// ddmin returns a 1-minimal subsequence of seq for which fails holds
// (assuming it holds for seq): removing any single remaining element makes
// the failure go away, unless the run budget ran out first.
func ddmin[T any](seq []T, fails func([]T) bool) []T {
	n := 2
	for len(seq) >= 2 {
		chunk := (len(seq) + n - 1) / n
		reduced := false
		for start := 0; start < len(seq); start += chunk {
			end := min(start+chunk, len(seq))
			complement := append(append([]T(nil), seq[:start]...), seq[end:]...)
			if len(complement) > 0 && fails(complement) {
				seq = complement
				n = max(n-1, 2)
				reduced = true
				break
			}
		}
		if !reduced {
			if n >= len(seq) {
				break
			}
			n = min(2*n, len(seq))
		}
	}
	return seq
}
