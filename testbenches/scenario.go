package testbenches

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/model"
)

// Scenario is a named, seeded co-simulation: a block, its golden model and
// a stimulus.
type Scenario struct {
	Name          string
	Doc           string
	Top           func(cfg config.Config) string // the design module it drives
	DefaultCycles uint64
	New           func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error)
	// Points are the functional coverage points its stimulus can hit.
	Points []string
	// Directed marks a fixed sequence: its seed does not matter.
	Directed bool
	// Heavy marks a scenario whose paper-preset model takes minutes to
	// build: the quick catalogue (make test) runs it at sim only.
	Heavy bool
}

var registry = map[string]Scenario{}

func register(s Scenario) {
	if _, dup := registry[s.Name]; dup {
		panic("testbenches: scenario registered twice: " + s.Name)
	}
	registry[s.Name] = s
}

// Scenarios lists the catalogue by name.
func Scenarios() []Scenario {
	out := make([]Scenario, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, error) {
	s, ok := registry[name]
	if !ok {
		var names []string
		for _, s := range Scenarios() {
			names = append(names, s.Name)
		}
		return s, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(names, ", "))
	}
	return s, nil
}

// b2u is a 1-bit port value.
func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
