// Package cache builds Verilated shims and keeps them, keyed by everything
// that determines the binary: the Verilog, the shim's ABI and port list, the
// Verilator version and the flags. An unchanged design starts at once; a
// changed one is never run stale.
package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kvdirect/kvd/cosim/shim"
	"github.com/kvdirect/kvd/cosim/toolchain"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/version"
)

// Flags are the Verilator options every model is built with. Verilator
// 5.006's -CFLAGS -O3 is overridden by OPT_FAST=-Os, so optimisation goes
// through -MAKEFLAGS; --threads is left out because it slows small models.
var Flags = []string{
	"--cc", "--exe", "--build", "-j", "2",
	"-O3", "--x-assign", "fast", "--x-initial", "unique",
	"--unroll-count", "1024", "--unroll-stmts", "100000",
	"-Wno-fatal", "-Wno-lint", "-Wno-style",
	"-MAKEFLAGS", "OPT_FAST=-O3", "-MAKEFLAGS", "OPT_SLOW=-O1", "-MAKEFLAGS", "OPT_GLOBAL=-O2",
}

// TraceFlags are added for the waveform variant.
var TraceFlags = []string{"--trace-fst", "--trace-structs", "-CFLAGS", "-DKVD_TRACE"}

// CoverageFlags are added for the coverage variant: line and user coverage
// (toggle coverage costs too much speed for what it tells).
var CoverageFlags = []string{"--coverage-line", "--coverage-user", "-CFLAGS", "-DKVD_COVERAGE"}

// Request says what to build.
type Request struct {
	Top      *ir.Module // the design's top: the shim and the port check come from it
	RTLDir   string     // the Verilog tree to compile (generated, or a user's --rtl)
	Trace    bool
	Coverage bool
	Log      io.Writer // progress lines; may be nil
}

// Model is a built shim.
type Model struct {
	Binary    string
	Hash      string
	Cached    bool
	BuildTime time.Duration
}

// Root is the cache directory: $KVD_CACHE_DIR, else the user cache dir.
func Root() string {
	if d := os.Getenv("KVD_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kvd")
	}
	return filepath.Join(os.TempDir(), "kvd-cache")
}

// Key computes the model hash for req without building.
func Key(req Request) (string, error) {
	files, err := filepath.Glob(filepath.Join(req.RTLDir, "*.v"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("RTL tree %s: no .v files", req.RTLDir)
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "abi %d\nshim %s\nverilator %s\nflags %q\ntrace %v\ncoverage %v\ntop %s\n",
		version.ShimABI, shim.SourceHash(), toolchain.VerilatorVersion(), Flags, req.Trace, req.Coverage, req.Top.Name)
	if req.Coverage {
		// Coverage models record their sources' paths; a model built from
		// another directory would send reports to files that may be gone.
		abs, err := filepath.Abs(req.RTLDir)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "sources %s\n", abs)
	}
	ports, _, _ := shim.Ports(req.Top)
	for _, p := range ports {
		fmt.Fprintf(h, "port %s %v %d\n", p.Name, p.Out, p.Width)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// Build returns a shim for req, from the cache when it is there.
func Build(ctx context.Context, req Request) (*Model, error) {
	if _, err := exec.LookPath("verilator"); err != nil {
		return nil, fmt.Errorf("verilator not found: run tools/setup (or make setup)")
	}
	if _, err := os.Stat(filepath.Join(req.RTLDir, req.Top.Name+".v")); err != nil {
		return nil, fmt.Errorf("RTL tree %s has no %s.v", req.RTLDir, req.Top.Name)
	}
	key, err := Key(req)
	if err != nil {
		return nil, err
	}
	variant := ""
	if req.Trace {
		variant += "-trace"
	}
	if req.Coverage {
		variant += "-cov"
	}
	models := filepath.Join(Root(), "models")
	final := filepath.Join(models, req.Top.Name+variant+"-"+key)
	bin := filepath.Join(final, "shim")
	if _, err := os.Stat(bin); err == nil {
		return &Model{Binary: bin, Hash: key, Cached: true}, nil
	}
	if err := os.MkdirAll(models, 0o755); err != nil {
		return nil, err
	}
	// One builder per key at a time: parallel regressions share models.
	lock, err := os.OpenFile(final+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return &Model{Binary: bin, Hash: key, Cached: true}, nil
	}

	start := time.Now()
	tmp, err := os.MkdirTemp(models, filepath.Base(final)+".tmp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	src, err := shim.Generate(req.Top, key, toolchain.VerilatorVersion())
	if err != nil {
		return nil, err
	}
	cpp := filepath.Join(tmp, "kvd_shim.cpp")
	if err := os.WriteFile(cpp, src, 0o644); err != nil {
		return nil, err
	}
	rtl, err := filepath.Abs(req.RTLDir)
	if err != nil {
		return nil, err
	}
	args := append([]string(nil), Flags...)
	if req.Trace {
		args = append(args, TraceFlags...)
	}
	if req.Coverage {
		args = append(args, CoverageFlags...)
	}
	args = append(args, "--top-module", req.Top.Name, "-y", rtl, "--Mdir", filepath.Join(tmp, "obj"), "-o", "shim",
		filepath.Join(rtl, req.Top.Name+".v"), cpp)
	if req.Log != nil {
		what := "model"
		if req.Trace {
			what = "tracing model"
		}
		if req.Coverage {
			what = "coverage model"
		}
		fmt.Fprintf(req.Log, "building %s %s-%s with Verilator (once; cached in %s)\n", what, req.Top.Name, key, models)
	}
	cmd := exec.CommandContext(ctx, "verilator", args...)
	cmd.Dir = tmp
	cmd.Env = os.Environ()
	if _, err := exec.LookPath("ccache"); err == nil {
		cmd.Env = append(cmd.Env, "OBJCACHE=ccache")
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("verilator build of %s from %s failed: %v\n%s", req.Top.Name, req.RTLDir, err, tail(out.String(), 3000))
	}
	if err := checkPorts(filepath.Join(tmp, "obj", "V"+req.Top.Name+".h"), req.Top, req.RTLDir); err != nil {
		return nil, err
	}
	if err := os.Rename(filepath.Join(tmp, "obj", "shim"), filepath.Join(tmp, "shim")); err != nil {
		return nil, err
	}
	os.RemoveAll(filepath.Join(tmp, "obj"))
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	return &Model{Binary: bin, Hash: key, BuildTime: time.Since(start)}, nil
}

var portDecl = regexp.MustCompile(`VL_(IN|OUT)(8|16|64|W)?\(&(\w+),(\d+),(\d+)`)

// checkPorts compares the ports Verilator compiled (from its generated
// header) with the design's, so a hand-edited tree whose widths changed is
// refused instead of silently truncated by the shim.
func checkPorts(header string, top *ir.Module, rtlDir string) error {
	data, err := os.ReadFile(header)
	if err != nil {
		return fmt.Errorf("reading Verilator's header: %v", err)
	}
	got := map[string]string{}
	for _, m := range portDecl.FindAllStringSubmatch(string(data), -1) {
		msb, _ := strconv.Atoi(m[4])
		lsb, _ := strconv.Atoi(m[5])
		dir := "input"
		if m[1] == "OUT" {
			dir = "output"
		}
		got[m[3]] = fmt.Sprintf("%s %d bits", dir, msb-lsb+1)
	}
	var problems []string
	for _, p := range top.Ports {
		want := fmt.Sprintf("%s %d bits", p.Dir, p.Sig.W)
		if g, ok := got[p.Sig.Name]; !ok {
			problems = append(problems, fmt.Sprintf("port %s is missing (want %s)", p.Sig.Name, want))
		} else if g != want {
			problems = append(problems, fmt.Sprintf("port %s is %s, the design's is %s", p.Sig.Name, g, want))
		}
		delete(got, p.Sig.Name)
	}
	var extra []string
	for name := range got {
		extra = append(extra, name)
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("port %s is not in the design", name))
	}
	if len(problems) > 0 {
		return fmt.Errorf("RTL tree %s: module %s does not match the design: %s", rtlDir, top.Name, strings.Join(problems, "; "))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
