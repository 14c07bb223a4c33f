package cosim

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/kvdirect/kvd/golden/model"
)

// Record is what a run leaves in its run directory (run.json): enough to
// explain the run and to replay it.
type Record struct {
	Scenario    string          `json:"scenario"`
	Seed        uint64          `json:"seed"`
	ConfigName  string          `json:"config"`
	ConfigHash  string          `json:"config_hash"`
	Config      json.RawMessage `json:"config_json"`
	Kvd         string          `json:"kvd_version"`
	Verilator   string          `json:"verilator"`
	ModelHash   string          `json:"model_hash"`
	ModelCached bool            `json:"model_cached"`
	RTLDir      string          `json:"rtl_dir,omitempty"`
	Replay      string          `json:"replay"`
	Ports       []model.Port    `json:"ports"`

	Cycles       uint64  `json:"cycles"`
	Divergences  int     `json:"divergences"`
	CyclesPerSec float64 `json:"cycles_per_sec"`
	WallSec      float64 `json:"wall_sec"`
	RTLEvalSec   float64 `json:"rtl_eval_sec"`
	GoldenSec    float64 `json:"golden_sec"`
	CompareSec   float64 `json:"compare_sec"`
	WaitRTLSec   float64 `json:"wait_rtl_sec"`
	BuildSec     float64 `json:"build_sec"`

	Points     map[string]uint64 `json:"coverage_points,omitempty"`
	Divergence *Divergence       `json:"divergence,omitempty"`
	Error      string            `json:"error,omitempty"`
	Wave       string            `json:"wave,omitempty"`
	WaveSave   string            `json:"wave_save,omitempty"`
	Window     []uint64          `json:"trace_window,omitempty"`
}

// RecordFile is the name of the record inside a run directory.
const RecordFile = "run.json"

// Save writes the record into dir.
func (r *Record) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, RecordFile), append(data, '\n'), 0o644)
}

// LoadRecord reads a run directory (or its run.json).
func LoadRecord(path string) (*Record, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, RecordFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("run %s: %v", path, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("run %s: not a kvd run record: %v", path, err)
	}
	return &r, nil
}

// WriteReport prints the first-divergence report: the cycle, every
// mismatching output, the transaction in flight, the recent history, and
// how to replay it.
func (r *Record) WriteReport(w io.Writer, historyLines int) {
	d := r.Divergence
	if d == nil {
		return
	}
	l, err := model.NewLayout(r.Ports)
	if err != nil {
		fmt.Fprintf(w, "cannot decode ports: %v\n", err)
		return
	}
	fmt.Fprintf(w, "DIVERGENCE at cycle %d (scenario %s, seed %d)\n", d.Cycle, r.Scenario, r.Seed)
	fmt.Fprintf(w, "  checker:    every output, every cycle: RTL against the golden model (docs/microarch.md §1.2)\n")
	fmt.Fprintf(w, "  config:     %s (hash %s)   verilator: %s   model: %s\n", r.ConfigName, r.ConfigHash, r.Verilator, r.ModelHash)
	if d.InFlight != "" {
		fmt.Fprintf(w, "  in flight:  %s\n", d.InFlight)
	}
	fmt.Fprintf(w, "  mismatching outputs:\n")
	for _, m := range d.Mismatches {
		p := portByName(r.Ports, m.Port)
		fmt.Fprintf(w, "    %-14s expected %s  actual %s\n", m.Port, model.Hex(m.Expected, p.Width), model.Hex(m.Actual, p.Width))
		for _, f := range p.Fields {
			e, a := model.Get(m.Expected, f.Lo, f.W), model.Get(m.Actual, f.Lo, f.W)
			mark := ""
			if e != a {
				mark = "  <-"
			}
			fmt.Fprintf(w, "      .%-12s expected 0x%x  actual 0x%x%s\n", f.Name, e, a, mark)
		}
	}
	win := d.Window
	first := 0
	for i, c := range win {
		if c.Cycle+uint64(historyLines) <= d.Cycle {
			first = i + 1
		}
	}
	fmt.Fprintf(w, "  history (inputs, then outputs; '!' marks RTL != golden, '-' a data output its valid does not qualify):\n")
	for _, c := range win[first:] {
		marker := "   "
		if c.Cycle == d.Cycle {
			marker = ">> "
		}
		fmt.Fprintf(w, "  %scycle %d\n", marker, c.Cycle)
		fmt.Fprintf(w, "        in:  %s\n", strings.Join(formatIn(l, c.In), " "))
		fmt.Fprintf(w, "        out: %s\n", strings.Join(formatOut(l, c.Expected, c.Actual), " "))
	}
	fmt.Fprintf(w, "  replay:     %s\n", r.Replay)
	if r.Wave != "" {
		fmt.Fprintf(w, "  waveform:   %s (cycles %d..%d; gtkwave %s)\n", r.Wave, r.Window[0], r.Window[1], r.WaveSave)
	}
}

func portByName(ports []model.Port, name string) model.Port {
	for _, p := range ports {
		if p.Name == name {
			return p
		}
	}
	return model.Port{Name: name, Width: 64}
}

func formatIn(l *model.Layout, in []uint64) []string {
	var parts []string
	for _, s := range l.In {
		p := l.Ports[s.Port]
		parts = append(parts, p.Name+"="+model.Hex(in[s.Off:s.Off+s.Words], p.Width))
	}
	return parts
}

// qualified reports whether output slot s is compared given these outputs.
func qualified(l *model.Layout, s model.Slot, out []uint64) bool {
	q := l.Ports[s.Port].QualifiedBy
	if q == "" {
		return true
	}
	qs, _ := l.Slot(q)
	return out[qs.Off] != 0
}

func formatOut(l *model.Layout, exp, act []uint64) []string {
	var parts []string
	for _, s := range l.Out {
		p := l.Ports[s.Port]
		e := exp[s.Off : s.Off+s.Words]
		a := act[s.Off : s.Off+s.Words]
		switch {
		case !qualified(l, s, exp):
			parts = append(parts, p.Name+"=-")
		case !cmp.Equal(e, a):
			parts = append(parts, fmt.Sprintf("%s=%s!%s", p.Name, model.Hex(e, p.Width), model.Hex(a, p.Width)))
		default:
			parts = append(parts, p.Name+"="+model.Hex(e, p.Width))
		}
	}
	return parts
}

// DiffOptions select what WriteDiff prints.
type DiffOptions struct {
	From, To uint64   // cycle window; To 0 means the last recorded cycle
	Ports    []string // output ports (and inputs) to show; empty means all outputs
	All      bool     // also rows that agree
}

// WriteDiff prints expected against actual, side by side, for a window of
// the recorded cycles, with record-carrying ports decoded into fields.
func (r *Record) WriteDiff(w io.Writer, o DiffOptions) error {
	if r.Divergence == nil || len(r.Divergence.Window) == 0 {
		return fmt.Errorf("run %s (seed %d) has no recorded window: it did not diverge; rerun with --cycles and inspect its waveform, or replay: %s", r.Scenario, r.Seed, r.Replay)
	}
	l, err := model.NewLayout(r.Ports)
	if err != nil {
		return err
	}
	win := r.Divergence.Window
	lo, hi := win[0].Cycle, win[len(win)-1].Cycle
	if o.To == 0 {
		o.To = hi
	}
	if o.From == 0 && o.To == hi {
		o.From = lo
	}
	if o.From < lo || o.To > hi || o.From > o.To {
		return fmt.Errorf("cycles %d..%d are outside the recorded window %d..%d; replay with a trace window instead: %s --trace-window %d:%d", o.From, o.To, lo, hi, r.Replay, o.From, o.To)
	}
	want := map[string]bool{}
	for _, p := range o.Ports {
		if _, ok := l.Slot(p); !ok {
			return fmt.Errorf("no port %q in this run (ports: %s)", p, portNames(r.Ports))
		}
		want[p] = true
	}
	fmt.Fprintf(w, "%-8s %-22s %-36s %-36s\n", "cycle", "signal", "expected (golden)", "actual (RTL)")
	for _, c := range win {
		if c.Cycle < o.From || c.Cycle > o.To {
			continue
		}
		exp, act := decode(l, c, c.Expected, want), decode(l, c, c.Actual, want)
		if !o.All && cmp.Equal(exp, act) {
			continue
		}
		keys := make([]string, 0, len(exp))
		for k := range exp {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			mark := ""
			if exp[k] != act[k] {
				mark = "  ≠"
			} else if !o.All {
				continue
			}
			fmt.Fprintf(w, "%-8d %-22s %-36s %-36s%s\n", c.Cycle, k, exp[k], act[k], mark)
		}
	}
	return nil
}

// decode turns one cycle's outputs into named values, fields split out;
// unqualified data outputs read "-" on both sides, as they are not compared.
func decode(l *model.Layout, c CycleRecord, out []uint64, want map[string]bool) map[string]string {
	m := map[string]string{}
	for _, s := range l.Out {
		p := l.Ports[s.Port]
		if len(want) > 0 && !want[p.Name] {
			continue
		}
		if !qualified(l, s, c.Expected) {
			m[p.Name] = "-"
			continue
		}
		v := out[s.Off : s.Off+s.Words]
		m[p.Name] = model.Hex(v, p.Width)
		for _, f := range p.Fields {
			m[p.Name+"."+f.Name] = fmt.Sprintf("0x%x", model.Get(v, f.Lo, f.W))
		}
	}
	for _, s := range l.In {
		p := l.Ports[s.Port]
		if want[p.Name] {
			m[p.Name] = model.Hex(c.In[s.Off:s.Off+s.Words], p.Width)
		}
	}
	return m
}

func portNames(ports []model.Port) string {
	var n []string
	for _, p := range ports {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}

// WriteGTKWSave writes a GTKWave save file that opens the trace with the
// clock, the reset and the mismatching outputs (and their valid bits).
func WriteGTKWSave(path, wave string, ports []model.Port, mismatched []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[dumpfile] \"%s\"\n", filepath.Base(wave))
	b.WriteString("[timestart] 0\n")
	sig := func(name string) {
		p := portByName(ports, name)
		if p.Width > 1 {
			fmt.Fprintf(&b, "@22\nTOP.%s[%d:0]\n", name, p.Width-1)
		} else {
			fmt.Fprintf(&b, "@28\nTOP.%s\n", name)
		}
	}
	fmt.Fprintf(&b, "@28\nTOP.clk\nTOP.rst\n")
	seen := map[string]bool{}
	for _, m := range mismatched {
		p := portByName(ports, m)
		if q := p.QualifiedBy; q != "" && !seen[q] {
			seen[q] = true
			sig(q)
		}
		if !seen[m] {
			seen[m] = true
			sig(m)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
