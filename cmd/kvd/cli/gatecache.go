package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kvdirect/kvd/cosim/cache"
	"github.com/kvdirect/kvd/cosim/toolchain"
	"github.com/kvdirect/kvd/synth"
)

// The gate of the whole processor takes Yosys more than an hour per
// mapping, and its table is a function of its inputs alone (Yosys and
// nextpnr are deterministic: synth's TestSmallBlocks runs a block twice and
// compares). So a run whose every input is identical to an earlier one's
// reuses that run's table instead of synthesising again — a handoff rerun
// for a changed script or document, or the second of two reproducibility
// runs. --no-gate-cache runs Yosys regardless.

// gateKey names a gate run by everything its table depends on: the bytes
// of every file in the RTL tree, the blocks asked for, the options that
// change a row, the Yosys and nextpnr versions, and this kvd build (its
// code writes the scripts and reads the logs, so any change to it is a new
// key).
func gateKey(ctx context.Context, dir string, names []string, o synth.Options) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "kvd gate cache 1\n")
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if err := hashFile(h, exe); err != nil {
		return "", fmt.Errorf("gate cache: hashing this kvd build: %v", err)
	}
	fmt.Fprintf(h, "\nyosys %s\nnextpnr %s\n", toolchain.VersionOf(ctx, "yosys", "-V"), toolchain.VersionOf(ctx, "nextpnr-ice40", "--version"))
	fmt.Fprintf(h, "vendor %v ice40 %v clock %g levels %d\nblocks %s\n", o.Vendor, o.ICE40, o.ClockMHz, o.MaxLUTLevels, strings.Join(names, ","))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(h, "file %s\n", f)
		if err := hashFile(h, filepath.Join(dir, f)); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fh := sha256.New()
	if _, err := io.Copy(fh, f); err != nil {
		return err
	}
	fmt.Fprintf(w, "%x\n", fh.Sum(nil))
	return nil
}

func gateCachePath(key string) string { return filepath.Join(cache.Root(), "gate", key+".json") }

// loadGate returns the table of an earlier run with this key, if any.
func loadGate(key string) ([]synth.Result, bool) {
	b, err := os.ReadFile(gateCachePath(key))
	if err != nil {
		return nil, false
	}
	var rows []synth.Result
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) == 0 {
		return nil, false
	}
	return rows, true
}

// storeGate keeps a finished run's table; a failure to keep it costs the
// next run time, not correctness, so it is reported and not returned.
func storeGate(key string, rows []synth.Result, log io.Writer) {
	path := gateCachePath(key)
	b, err := json.Marshal(rows)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		tmp := path + ".tmp"
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		fmt.Fprintf(log, "  gate: could not keep the table for reuse: %v\n", err)
	}
}
