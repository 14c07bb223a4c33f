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
