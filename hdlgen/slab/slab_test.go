package slab

import (
	"testing"

	"github.com/kvdirect/kvd/config"
)

func TestGenerateBothPresets(t *testing.T) {
	for _, p := range config.Presets() {
		c, err := config.Preset(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Generate(c)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if m.Name != Name {
			t.Fatalf("%s: module %s", p, m.Name)
		}
	}
}
