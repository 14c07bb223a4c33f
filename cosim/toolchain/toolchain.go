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
	verilatorOnce.Do(func() { verilatorVer = versionOf(context.Background(), "verilator", "--version") })
	return verilatorVer
}

func versionOf(ctx context.Context, name string, args ...string) string {
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
		{"iverilog", versionOf(ctx, "iverilog", "-V")},
		{"yosys", versionOf(ctx, "yosys", "-V")},
		{"ccache", versionOf(ctx, "ccache", "--version")},
	}
}
