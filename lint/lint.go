// Package lint runs Verilator, Icarus Verilog and Yosys over a Verilog tree
// and collects every warning, so that generated RTL is held to zero.
package lint

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Result is one tool's verdict.
type Result struct {
	Tool     string
	Files    int
	Warnings []string
	Err      error // the tool could not run, or failed without a warning line
}

// OK reports whether the tool ran clean.
func (r Result) OK() bool { return r.Err == nil && len(r.Warnings) == 0 }

// Summary is the one-line report.
func (r Result) Summary() string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%-10s FAILED: %v", r.Tool+":", r.Err)
	case len(r.Warnings) > 0:
		return fmt.Sprintf("%-10s %d files, %d warnings", r.Tool+":", r.Files, len(r.Warnings))
	}
	return fmt.Sprintf("%-10s %d files, 0 warnings", r.Tool+":", r.Files)
}

// Files lists the Verilog files of dir in a stable order.
func Files(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("lint %s: %v", dir, unwrap(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("lint %s: not a directory", dir)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.v"))
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("lint %s: no .v files", dir)
	}
	return files, nil
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// All runs the three tools over dir.
func All(ctx context.Context, dir string) ([]Result, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	return []Result{Verilator(ctx, dir, files), Icarus(ctx, files), Yosys(ctx, files)}, nil
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

var verilatorWarning = regexp.MustCompile(`^%(Warning|Error)`)

// Verilator lints each file as its own top module with -Wall, the other
// files of the tree available as a library.
func Verilator(ctx context.Context, dir string, files []string) Result {
	r := Result{Tool: "verilator", Files: len(files)}
	for _, f := range files {
		top := strings.TrimSuffix(filepath.Base(f), ".v")
		out, err := run(ctx, "verilator", "--lint-only", "-Wall", "--top-module", top, "-y", dir, f)
		for _, l := range strings.Split(out, "\n") {
			if verilatorWarning.MatchString(l) {
				r.Warnings = append(r.Warnings, l)
			}
		}
		if err != nil && len(r.Warnings) == 0 {
			r.Err = fmt.Errorf("%s: %v: %s", top, err, tail(out))
			return r
		}
	}
	return r
}

// Icarus elaborates the whole tree as Verilog-2005 with every warning on.
func Icarus(ctx context.Context, files []string) Result {
	r := Result{Tool: "iverilog", Files: len(files)}
	args := append([]string{"-g2005", "-Wall", "-o", os.DevNull}, files...)
	out, err := run(ctx, "iverilog", args...)
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			r.Warnings = append(r.Warnings, l)
		}
	}
	if err != nil && len(r.Warnings) == 0 {
		r.Err = fmt.Errorf("%v", err)
	}
	return r
}

// Yosys reads the tree, builds the hierarchy, lowers processes and runs its
// structural checks (multiple drivers, undriven nets, logic loops).
func Yosys(ctx context.Context, files []string) Result {
	r := Result{Tool: "yosys", Files: len(files)}
	script := "read_verilog -noautowire " + strings.Join(quote(files), " ") + "; hierarchy -check; proc; check"
	out, err := run(ctx, "yosys", "-q", "-p", script)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Warning:") || strings.HasPrefix(l, "ERROR:") {
			r.Warnings = append(r.Warnings, l)
		}
	}
	if err != nil && len(r.Warnings) == 0 {
		r.Err = fmt.Errorf("%v: %s", err, tail(out))
	}
	return r
}

func quote(files []string) []string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = "\"" + f + "\""
	}
	return q
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}
