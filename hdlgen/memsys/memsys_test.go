package memsys

import (
	"testing"

	"github.com/kvdirect/kvd/config"
)

func TestGenerate(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		cfg, err := config.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Generate(cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
