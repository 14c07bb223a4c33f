package rs

import (
	"testing"

	"github.com/kvdirect/kvd/config"
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
