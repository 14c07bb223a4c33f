package design

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/lint"
)

func generate(t *testing.T, c config.Config) []File {
	t.Helper()
	mods, err := Modules(c)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(c, mods)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDeterministic(t *testing.T) {
	for _, p := range config.Presets() {
		c, _ := config.Preset(p)
		a, b := generate(t, c), generate(t, c)
		if len(a) != len(b) {
			t.Fatalf("%s: %d files then %d", p, len(a), len(b))
		}
		for i := range a {
			if a[i].Name != b[i].Name || !bytes.Equal(a[i].Text, b[i].Text) {
				t.Errorf("%s: %s differs between two runs", p, a[i].Name)
			}
		}
	}
}

// A configuration file whose keys come in another order must give the same
// bytes as the preset it spells out.
func TestKeyOrderDoesNotMatter(t *testing.T) {
	c, _ := config.Preset("sim")
	var tree map[string]json.RawMessage
	if err := json.Unmarshal(c.JSON(), &tree); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			buf.WriteString(",")
		}
		v := tree[k]
		kj, _ := json.Marshal(k)
		buf.Write(kj)
		buf.WriteString(":")
		buf.Write(v)
	}
	buf.WriteString("}")
	path := filepath.Join(t.TempDir(), "sim")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := generate(t, c), generate(t, fromFile)
	for i := range a {
		if !bytes.Equal(a[i].Text, b[i].Text) {
			t.Errorf("%s differs when the configuration's keys are reordered:\n%s", a[i].Name, cmp.Diff(string(a[i].Text), string(b[i].Text)))
		}
	}
}

func TestNoHostPathsOrTimes(t *testing.T) {
	c, _ := config.Preset("sim")
	wd, _ := os.Getwd()
	host, _ := os.Hostname()
	for _, f := range generate(t, c) {
		for _, bad := range []string{wd, host, "/tmp", "/home", "/root"} {
			if bad != "" && bytes.Contains(f.Text, []byte(bad)) {
				t.Errorf("%s contains %q", f.Name, bad)
			}
		}
	}
}

// Every module the project generates passes all three linters with zero
// warnings, for every preset.
func TestGeneratedRTLIsLintClean(t *testing.T) {
	for _, p := range config.Presets() {
		t.Run(p, func(t *testing.T) {
			c, _ := config.Preset(p)
			dir := t.TempDir()
			if _, err := Write(c, dir); err != nil {
				t.Fatal(err)
			}
			results, err := lint.All(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if !r.OK() {
					t.Errorf("%s: %v %q", r.Summary(), r.Err, r.Warnings)
				}
			}
		})
	}
}

func TestWriteRemovesStaleModules(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	stale := filepath.Join(dir, "kvd_gone.v")
	os.WriteFile(stale, []byte("module kvd_gone; endmodule\n"), 0o644)
	if _, err := Write(c, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("a module that is no longer generated was left in the tree")
	}
}
