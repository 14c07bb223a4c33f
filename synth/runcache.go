package synth

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kvdirect/kvd/cosim/toolchain"
)

// The paper preset's processor keeps Yosys busy for one to two hours per
// mapping, and a handoff stopped in its third mapping lost the two that
// had finished (the gate's table was cached only whole). So each Yosys run
// is kept on its own, under Options.Cache, as soon as it finishes.
//
// What is kept is what Yosys wrote — the log lines the gate reads and the
// files its script tees — not what the gate made of them: the key is then
// everything Yosys read (its script, every RTL file's bytes, its version),
// and a change to how kvd reads a log needs no new key.

// runRecord is one finished Yosys run as the cache keeps it.
type runRecord struct {
	Kept    string            `json:"kept"`
	Files   map[string]string `json:"files"`
	Seconds float64           `json:"seconds"` // how long it took when it ran
	// recorded: found in the repository's runs/, not in the cache
	recorded bool
}

var yosysVersion = sync.OnceValue(func() string { return toolchain.VersionOf(context.Background(), "yosys", "-V") })

var nextpnrVersion = sync.OnceValue(func() string {
	return toolchain.VersionOf(context.Background(), "nextpnr-ice40", "--version")
})

// runKey names a run by its script, with the run's scratch directory and
// the tree's directory written as placeholders (the same RTL bytes gated
// from another checkout are the same run), the RTL files' bytes and the
// tool versions; extra carries what else the run's output depends on.
func (t *tree) runKey(work string, script []string, extra string) string {
	h := sha256.New()
	s := extra + "\n" + strings.Join(script, "\n")
	s = strings.ReplaceAll(s, work, "@WORK")
	s = strings.ReplaceAll(s, t.dir, "@RTL")
	fmt.Fprintf(h, "kvd yosys run 1\n%s\n%s\n", yosysVersion(), s)
	for _, f := range t.files {
		fmt.Fprintf(h, "file %s %s\n", filepath.Base(f), t.sums[f])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (o Options) cachePath(key string) string { return filepath.Join(o.Cache, key+".json") }

// recorded holds runs kept in the repository (runs/, see its README): the
// paper preset's processor takes Yosys hours on a 2-core machine, and a
// fresh machine has no cache. A record is found by the same key as a
// cached run — the script, every RTL file's bytes, the tool versions — so
// it answers only for exactly the RTL and the Yosys that made it.
//
//go:embed runs
var embedded embed.FS

// recorded is where load looks after the cache: embedded's runs/ (a
// variable so that a test can put a directory of its own there).
var recorded fs.FS = mustSub(embedded, "runs")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// load returns a cached run, if there is one: from the cache directory,
// else from the runs recorded in the repository (o.Cache == "" turns both
// off).
func (o Options) load(key string) (runRecord, bool) {
	var r runRecord
	if o.Cache == "" {
		return r, false
	}
	b, err := os.ReadFile(o.cachePath(key))
	if err != nil {
		if b, err = fs.ReadFile(recorded, key+".json"); err == nil {
			r.recorded = true
		}
	}
	if err != nil || json.Unmarshal(b, &r) != nil {
		return runRecord{}, false
	}
	return r, true
}

// store keeps a finished run. A failure to keep it costs a later run time,
// not correctness, so it is returned for the progress line, not as the
// run's error.
func (o Options) store(key string, r runRecord) error {
	if o.Cache == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Cache, 0o755); err != nil {
		return err
	}
	tmp := o.cachePath(key) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, o.cachePath(key))
}

// record writes a run the gate used, found or run, into o.Record (the
// repository's synth/runs, when refreshing it).
func (o Options) record(key string, r runRecord) error {
	if o.Record == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Record, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Record, key+".json"), append(b, '\n'), 0o644)
}

// cachedYosys runs script as yosysScript does, or, when an identical run
// is cached, puts that run's files back in work and returns its log lines.
// Only runs that finished are kept: a timeout or a Yosys error is run again
// next time.
func (o Options) cachedYosys(ctx context.Context, t *tree, work string, script []string) (kept string, from cacheNote, err error) {
	key := t.runKey(work, script, "")
	if r, ok := o.load(key); ok {
		for name, text := range r.Files {
			if err := os.WriteFile(filepath.Join(work, name), []byte(text), 0o644); err != nil {
				return "", from, err
			}
		}
		return r.Kept, cacheNote{hit: true, recorded: r.recorded, secs: r.Seconds, storeErr: o.record(key, r)}, nil
	}
	start := time.Now()
	kept, err = yosysScript(ctx, o.Timeout, work, script)
	if err != nil || o.Cache == "" {
		return kept, from, err
	}
	r := runRecord{Kept: kept, Files: map[string]string{}, Seconds: time.Since(start).Seconds()}
	entries, err := os.ReadDir(work)
	if err != nil {
		return kept, from, err
	}
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && n != "script.ys" && n != "yosys.log" {
			b, err := os.ReadFile(filepath.Join(work, n))
			if err != nil {
				return kept, from, err
			}
			r.Files[n] = string(b)
		}
	}
	if err := o.store(key, r); err != nil {
		from.storeErr = err
	}
	if err := o.record(key, r); err != nil {
		from.storeErr = err
	}
	return kept, from, nil
}

// cacheNote says where a run's result came from, for the progress line.
type cacheNote struct {
	hit      bool
	recorded bool    // the hit is a record of synth/runs
	secs     float64 // a hit's original run time
	storeErr error
}

func (c cacheNote) String() string {
	switch {
	case c.hit && c.storeErr != nil:
		return fmt.Sprintf("  (cached, but not recorded: %v)", c.storeErr)
	case c.hit && c.recorded:
		return fmt.Sprintf("  (recorded in synth/runs: an identical run took %.0f s)", c.secs)
	case c.hit:
		return fmt.Sprintf("  (cached: an identical run took %.0f s)", c.secs)
	case c.storeErr != nil:
		return fmt.Sprintf("  (not cached: %v)", c.storeErr)
	}
	return ""
}
