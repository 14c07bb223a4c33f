package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Run(args, &o, &e)
	return code, o.String(), e.String()
}

// Bad input is one clear line on stderr and a non-zero exit.
func TestBadInputIsOneLine(t *testing.T) {
	cases := [][]string{
		{"rtl", "--config", "no-such-file"},
		{"rtl", "--config", "./missing.json"},
		{"rtl", "--config", "unknownpreset"},
		{"rtl", "--set", "rs.slots=3"},
		{"rtl", "--set", "garbage"},
		{"lint", "/no/such/dir"},
		{"frobnicate"},
	}
	for _, args := range cases {
		code, _, stderr := run(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "kvd: ") {
			t.Errorf("kvd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("kvd %s: stack trace", strings.Join(args, " "))
		}
	}
}

func TestRTLThenLint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errs := run(t, "rtl", "--config", "sim", "--out", dir)
	if code != 0 {
		t.Fatalf("rtl: %d %s", code, errs)
	}
	if !strings.Contains(out, "wrote") {
		t.Fatalf("rtl said %q", out)
	}
	code, out, errs = run(t, "lint", dir)
	if code != 0 || strings.Count(out, "0 warnings") != 3 {
		t.Fatalf("lint: %d\n%s\n%s", code, out, errs)
	}
	// Break a file: lint must now fail and say which tool complained.
	path := filepath.Join(dir, "kvd_keyhash.v")
	src, _ := os.ReadFile(path)
	broken := strings.Replace(string(src), "assign out_valid = s3_valid_reg;", "assign out_valid = s3_tag_reg;", 1)
	os.WriteFile(path, []byte(broken), 0o644)
	code, out, _ = run(t, "lint", dir)
	if code == 0 || !strings.Contains(out, "verilator:") || strings.Count(out, "0 warnings") == 3 {
		t.Fatalf("lint passed a width error: %s", out)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Example == "" {
			t.Errorf("kvd %s has no example in --help", c.Name())
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.Contains(out, "kvd ") || !strings.Contains(out, "Verilator 5") {
		t.Fatalf("version: %d %q", code, out)
	}
}
