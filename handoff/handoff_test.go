package handoff

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/synth"
)

func build(t *testing.T) []byte {
	t.Helper()
	c, _ := config.Preset("sim")
	files, err := Build(Inputs{Config: c, Top: Top, Verilator: "v", Yosys: "y",
		Regressions: []Regression{{Name: "keyhash/s1", Seed: 1, Cycles: 10, Passed: true}},
		Lint:        []Lint{{Tool: "verilator", Files: 17, Warnings: []string{}}},
		Gate:        []synth.Result{{Block: "kvd_keyhash", LUTs: 1, LUTLevels: 2, Seconds: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := Archive("bundle", files)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Two builds give the same bytes: no time, host, order or owner leaks in.
func TestReproducible(t *testing.T) {
	a, b := build(t), build(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same bundle differ")
	}
}

func TestContentsAndManifest(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(build(t)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.IsZero() && h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s carries a time or an owner", h.Name)
		}
		data, _ := io.ReadAll(tr)
		got[strings.TrimPrefix(h.Name, "bundle/")] = data
	}
	for _, want := range []string{"rtl/kvd_rs.v", "kvd_sim.f", "kvd_sim.core", "constraints/kvd_sim.sdc",
		"constraints/kvd_sim.xdc", "scripts/vivado.tcl", "scripts/quartus.tcl", "manifest.json", "README.md"} {
		if len(got[want]) == 0 {
			t.Errorf("bundle lacks %s", want)
		}
	}
	if !strings.Contains(string(got["constraints/kvd_sim.sdc"]), "-period 5.556") {
		t.Errorf("the SDC clock is not the configuration's 180 MHz: %s", got["constraints/kvd_sim.sdc"])
	}
	if !strings.Contains(string(got["kvd_sim.core"]), "CAPI=2:") {
		t.Error("the core file is not CAPI2")
	}
	var m Manifest
	if err := json.Unmarshal(got["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.ConfigHash == "" || len(m.Files) != len(got)-1 || len(m.Regressions) != 1 || len(m.Gate) != 1 || len(m.Lint) != 1 {
		t.Errorf("manifest: %+v", m)
	}
	// A gate row's run time would make two handoffs differ.
	if strings.Contains(string(got["manifest.json"]), `"seconds"`) {
		t.Error("the manifest records the gate's run times")
	}
	for path, sum := range m.Files {
		if len(sum) != 64 || got[path] == nil {
			t.Errorf("manifest lists %s (%s) which the bundle does not carry", path, sum)
		}
	}
}
