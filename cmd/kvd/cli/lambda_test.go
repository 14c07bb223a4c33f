package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A λ outside the subset makes `kvd rtl` fail with one line naming the λ,
// the line and column of the construct, the construct and the reason, and
// write nothing.
func TestRTLRefusesAnUnsupportedLambda(t *testing.T) {
	cases := []struct {
		name, lambdas string
		want          []string
	}{
		{"division", `[{"name": "fetch_add", "expr": "old + delta"}, {"name": "halve", "expr": "old / 2"}]`,
			[]string{"atomic.lambdas[1] halve", `"old / 2"`, "1:5", `at "/"`, "division is not enabled"}},
		{"string", `[{"name": "tag", "expr": "old + \"x\""}]`,
			[]string{"atomic.lambdas[0] tag", "1:7", `at "\"x\""`, "strings are not supported"}},
		{"unsupported call", `[{"name": "root", "expr": "old +\n  ceil(delta)"}]`,
			[]string{"atomic.lambdas[0] root", "2:3", `at "ceil"`, "function ceil is not supported in hardware"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "bad.json")
			body := `{"base": "paper", "atomic": {"lambdas": ` + tc.lambdas + `}}`
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "rtl")
			code, _, stderr := run(t, "rtl", "--config", cfg, "--out", out)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "kvd: ") {
				t.Fatalf("exit %d, stderr %q: want one line and a failure", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q does not say %q", stderr, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("rtl wrote %s for a refused configuration", out)
			}
		})
	}
}

// The same file with the λ fixed (and division enabled) generates the unit,
// and the configuration's other keys stay the preset's.
func TestRTLWithUserLambdas(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ok.json")
	body := `{"base": "paper", "atomic": {"division": true, "lambdas": [{"name": "halve", "expr": "old / 2"}, {"name": "cas", "expr": "old == cmp ? swap : old"}]}}`
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rtl")
	if code, _, stderr := run(t, "rtl", "--config", cfg, "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	src, err := os.ReadFile(filepath.Join(out, "kvd_atomic.v"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"0 halve: old / 2", "1 cas: old == cmp ? swap : old", "input  wire [63:0] in_swap"} {
		if !strings.Contains(string(src), w) {
			t.Errorf("kvd_atomic.v lacks %q", w)
		}
	}
	if strings.Contains(string(src), "in_delta") {
		t.Error("kvd_atomic.v has an in_delta port no λ reads")
	}
}

// Configuration rules on the λ list are one line each; a file's λ never
// inherits a field it leaves out from the preset's λ at the same position.
func TestLambdaListRules(t *testing.T) {
	cases := []struct{ lambdas, want string }{
		{`[{"name": "fetch_add"}]`, "atomic.lambdas[0].expr = \"\": must be an expression"},
		{`[{"name": "a", "expr": "old"}, {"name": "a", "expr": "delta"}]`, "atomic.lambdas[1].name = a: is already the name of atomic.lambdas[0]"},
		{`[{"name": "2x", "expr": "old"}]`, `atomic.lambdas[0].name = "2x": must be an identifier`},
		{`[]`, "atomic.lambdas = 0: must register 1..16 λ functions"},
		{`[{"name": "a", "expr": "old", "kind": "reduce"}]`, `unknown field "kind"`},
	}
	for _, tc := range cases {
		cfg := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(cfg, []byte(`{"base": "paper", "atomic": {"lambdas": `+tc.lambdas+`}}`), 0o644)
		code, _, stderr := run(t, "rtl", "--config", cfg, "--out", filepath.Join(t.TempDir(), "rtl"))
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want one line saying %q", tc.lambdas, code, stderr, tc.want)
		}
	}
}
