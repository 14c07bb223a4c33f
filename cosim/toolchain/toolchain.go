// Package toolchain finds the external simulators and reports their
// versions, which every run record carries.
package toolchain

import (
	"context"
	"os/exec"
	"strings"
	"sync"
)

// Tool is a found (or missing) tool and its version line.
type Tool struct {
	Name    string
	Version string
}

var (
	verilatorOnce sync.Once
	verilatorVer  string
)

// VerilatorVersion is `verilator --version`'s line, or "missing".
func VerilatorVersion() string {
	verilatorOnce.Do(func() { verilatorVer = VersionOf(context.Background(), "verilator", "--version") })
	return verilatorVer
}

// VersionOf is the first line a tool prints for its version (or says it
// is missing or failed).
func VersionOf(ctx context.Context, name string, args ...string) string {
	if _, err := exec.LookPath(name); err != nil {
		return "missing (run tools/setup)"
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	line := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if err != nil && line == "" {
		return "error: " + err.Error()
	}
	return line
}

// Versions reports Verilator, Icarus, Yosys and ccache.
func Versions(ctx context.Context) []Tool {
	return []Tool{
		{"verilator", VerilatorVersion()},
		{"iverilog", VersionOf(ctx, "iverilog", "-V")},
		{"yosys", VersionOf(ctx, "yosys", "-V")},
		{"ccache", VersionOf(ctx, "ccache", "--version")},
	}
}
