// Package regress runs the scenario catalogue as a regression: in parallel,
// seeded, shardable, with JUnit output, merged code and functional coverage,
// X-sensitivity runs and shrinking of failures into directed cases.
package regress

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/testbenches"
)

// Entry is one run of the catalogue.
type Entry struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // random, directed, xsens, file
	Scenario string `json:"scenario"`
	Config   string `json:"config"`
	// Set overrides keys of Config (as kvd sim --set does): a variant of a
	// preset that is built behind an option, such as rs.idle_cache.
	Set    []string `json:"set,omitempty"`
	Seed   uint64   `json:"seed"`
	Cycles uint64   `json:"cycles"`
	XSeed  int      `json:"xseed,omitempty"`  // randomised initial state: +verilator+seed+XSeed
	Inputs string   `json:"inputs,omitempty"` // directed-case file in testbenches/directed
}

// Level chooses how much of the catalogue to run.
type Level int

const (
	// Quick is the subset make test runs: every scenario, few seeds, short.
	Quick Level = iota
	// Full is make regress: more seeds and each scenario's default length.
	Full
)

//go:embed directed
var directedFS embed.FS

// Catalogue lists every entry at level, in a stable order.
func Catalogue(level Level) ([]Entry, error) {
	seeds, xseeds := uint64(2), 2
	if level == Full {
		seeds, xseeds = 8, 4
	}
	var out []Entry
	for _, sc := range testbenches.Scenarios() {
		cycles := sc.DefaultCycles
		if level == Quick && !sc.Directed {
			cycles = min(cycles, 200_000)
		}
		if sc.Directed {
			out = append(out, Entry{Name: "directed/" + sc.Name, Kind: "directed", Scenario: sc.Name, Config: "sim", Seed: 1, Cycles: cycles})
			continue
		}
		for s := uint64(1); s <= seeds; s++ {
			out = append(out, Entry{Name: fmt.Sprintf("%s/s%d", sc.Name, s), Kind: "random", Scenario: sc.Name, Config: "sim", Seed: s, Cycles: cycles})
		}
		// The paper's sizes too: wider keys, pointers and indices.
		if level == Full || !sc.Heavy {
			out = append(out, Entry{Name: fmt.Sprintf("%s/paper/s1", sc.Name), Kind: "random", Scenario: sc.Name, Config: "paper", Seed: 1, Cycles: cycles / 2})
		}
		// rs.md §11 (v4a) is built behind rs.idle_cache and off in every
		// preset: its stations and the processor around one are co-simulated
		// here so that the option does not rot. The processor's model is a
		// second kvd_top build, so only the full regression runs it.
		if strings.HasPrefix(sc.Name, "rs_") || (sc.Name == "proc" && level == Full) {
			out = append(out, Entry{Name: fmt.Sprintf("%s/idle_cache/s1", sc.Name), Kind: "random", Scenario: sc.Name, Config: "sim",
				Set: []string{"rs.idle_cache=true"}, Seed: 1, Cycles: cycles})
		}
		for x := 1; x <= xseeds; x++ {
			out = append(out, Entry{Name: fmt.Sprintf("%s/s1/x%d", sc.Name, x), Kind: "xsens", Scenario: sc.Name, Config: "sim", Seed: 1, Cycles: min(cycles, 50_000), XSeed: x})
		}
	}
	files, err := fs.Glob(directedFS, "directed/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		d, err := LoadDirected(directedFS, f)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(path.Base(f), ".json")
		out = append(out, Entry{Name: "file/" + name, Kind: "file", Scenario: d.Scenario, Config: d.Config, Set: d.Set, Seed: 1, Cycles: uint64(len(d.Cycles)), Inputs: f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// LoadConfig is the entry's configuration: Config with every Set applied.
func (e Entry) LoadConfig() (config.Config, error) {
	c, err := config.Load(e.Config)
	if err != nil {
		return c, err
	}
	for _, kv := range e.Set {
		if err := c.Set(kv); err != nil {
			return c, fmt.Errorf("%s: %v", e.Name, err)
		}
	}
	return c, nil
}

// ConfigLabel names the entry's configuration among the others of a run
// (the preset and its overrides), as listings show it and as the run's
// RTL trees are keyed.
func (e Entry) ConfigLabel() string {
	return strings.Join(append([]string{e.Config}, e.Set...), " ")
}

// Select keeps the entries whose name matches pattern (nil keeps all) and
// that fall in shard i of n (1-based): entry k of the sorted catalogue goes
// to shard k mod n + 1, so shards are disjoint, cover everything, and do not
// depend on the machine.
func Select(entries []Entry, pattern *regexp.Regexp, shard, of int) []Entry {
	var out []Entry
	for k, e := range entries {
		if pattern != nil && !pattern.MatchString(e.Name) {
			continue
		}
		if of > 1 && k%of != shard-1 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Directed is a directed case stored as input records: what the shrinker
// writes and the catalogue replays.
type Directed struct {
	Scenario    string     `json:"scenario"`
	Config      string     `json:"config"`
	Set         []string   `json:"set,omitempty"`
	ConfigHash  string     `json:"config_hash"`
	Description string     `json:"description"`
	Ports       []string   `json:"ports"`  // input ports, in order
	Cycles      [][]string `json:"cycles"` // per cycle, one hex value per port
}

// LoadDirected reads a directed case.
func LoadDirected(fsys fs.FS, name string) (*Directed, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var d Directed
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("directed case %s: %v", name, err)
	}
	if d.Scenario == "" || len(d.Ports) == 0 {
		return nil, fmt.Errorf("directed case %s: needs a scenario and its input ports", name)
	}
	return &d, nil
}
