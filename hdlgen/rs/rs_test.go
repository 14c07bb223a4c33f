package rs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/verilog"
	"github.com/kvdirect/kvd/lint"
	"github.com/kvdirect/kvd/version"
)

func TestGenerates(t *testing.T) {
	for _, p := range config.Presets() {
		c, _ := config.Preset(p)
		for _, fwd := range []bool{true, false} {
			c.RS.Forwarding = fwd
			if _, err := Generate(c); err != nil {
				t.Fatalf("%s forwarding=%v: %v", p, fwd, err)
			}
		}
	}
}

// A is a generator parameter: the processor's BI + H by default, any other
// width ≥ 1 on request, on req_aux and pipe_aux alike (rs.md §1, §2).
func TestAuxWidth(t *testing.T) {
	c, _ := config.Preset("sim")
	for _, tc := range []struct{ ask, want int }{{0, DefaultAuxBits(c)}, {1, 1}, {40, 40}} {
		m, err := GenerateWith(c, Options{AuxBits: tc.ask})
		if err != nil {
			t.Fatalf("A=%d: %v", tc.ask, err)
		}
		for _, name := range []string{"req_aux", "pipe_aux"} {
			found := false
			for _, p := range m.DataPorts() {
				if p.Sig.Name == name {
					found = true
					if p.Sig.W != tc.want {
						t.Errorf("A=%d: %s is %d bits, want %d", tc.ask, name, p.Sig.W, tc.want)
					}
				}
			}
			if !found {
				t.Errorf("A=%d: no port %s", tc.ask, name)
			}
		}
	}
	if DefaultAuxBits(c) != 14+9 {
		t.Errorf("sim preset: A = %d, want BI + H = 23", DefaultAuxBits(c))
	}
	if _, err := GenerateWith(c, Options{AuxBits: -1}); err == nil {
		t.Error("a negative aux width was accepted")
	}
}

// emit prints kvd_rs for c with the header `kvd rtl` writes, so that the
// text can be compared with the committed RTL byte for byte.
func emit(t *testing.T, c config.Config) string {
	t.Helper()
	m, err := Generate(c)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	text, err := verilog.Emit(m, verilog.Header{Generator: "kvd " + version.Version, ConfigName: filepath.Base(c.Name), ConfigHash: c.Hash()})
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return string(text)
}

// rs.idle_cache (rs.md §11) must leave the off station byte for byte v3.1 —
// the committed RTL and its recorded synthesis runs are keyed by those bytes
// — and must change exactly §11's three rules when on.
func TestIdleCache(t *testing.T) {
	for _, p := range config.Presets() {
		t.Run(p, func(t *testing.T) {
			c, _ := config.Preset(p)
			if c.RS.IdleCache {
				t.Fatalf("preset %s has rs.idle_cache on; rs.md §11 says every preset is v3.1", p)
			}
			off := emit(t, c)
			committed, err := os.ReadFile(filepath.Join("..", "..", "rtl", p, "kvd_rs.v"))
			if err != nil {
				t.Fatal(err)
			}
			if off != string(committed) {
				t.Errorf("rs.idle_cache off: kvd_rs differs from rtl/%s/kvd_rs.v", p)
			}

			on := c
			if err := on.Set("rs.idle_cache=true"); err != nil {
				t.Fatal(err)
			}
			v4a := emit(t, on)
			if v4a == off {
				t.Fatal("rs.idle_cache on: kvd_rs unchanged")
			}
			for _, want := range []string{
				"Reservation station (rs.md v4a)",
				"& (b_busy || b_get);",    // B serves an idle slot only a GET
				"cv_next[x_slot] = 1'b0;", // B's push to an idle slot invalidates its cache
			} {
				if !strings.Contains(v4a, want) {
					t.Errorf("rs.idle_cache on: no %q", want)
				}
				if strings.Contains(off, want) {
					t.Errorf("rs.idle_cache off: %q", want)
				}
			}
			// END's idle case keeps cv: one clear of f_cv fewer (END's
			// second case still clears it).
			const clear = "f_cv = 1'b0;"
			if n, m := strings.Count(off, clear), strings.Count(v4a, clear); n != 2 || m != 1 {
				t.Errorf("%q: %d times off, %d on; want 2 and 1", clear, n, m)
			}

			// Without forwarding it has no effect (§11): the module is the
			// one without forwarding, whatever the option says.
			noFwd, noFwdIC := c, on
			noFwd.RS.Forwarding, noFwdIC.RS.Forwarding = false, false
			a, b := emit(t, noFwd), emit(t, noFwdIC)
			if a[strings.IndexByte(a, '\n'):] != b[strings.IndexByte(b, '\n'):] {
				t.Error("rs.idle_cache without forwarding changed kvd_rs beyond its banner")
			}
		})
	}
}

// The v4a station is held to the project's lint rule too (zero Verilator
// warnings with -Wall, as lint.Verilator runs it).
func TestIdleCacheLintClean(t *testing.T) {
	if testing.Short() {
		t.Skip("runs verilator")
	}
	if _, err := exec.LookPath("verilator"); err != nil {
		t.Fatal("no verilator: make test installs it (tools/setup)")
	}
	for _, p := range config.Presets() {
		t.Run(p, func(t *testing.T) {
			c, _ := config.Preset(p)
			if err := c.Set("rs.idle_cache=true"); err != nil {
				t.Fatal(err)
			}
			m, err := Generate(c)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, sub := range m.Submodules() {
				text, err := verilog.Emit(sub, verilog.Header{Generator: "test", ConfigName: c.Name, ConfigHash: c.Hash()})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, sub.Name+".v"), text, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := lint.Verilator(context.Background(), dir, []string{filepath.Join(dir, "kvd_rs.v")})
			if !r.OK() {
				t.Errorf("%s: %v %q", r.Summary(), r.Err, r.Warnings)
			}
		})
	}
}
