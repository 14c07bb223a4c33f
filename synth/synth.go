// Package synth is the synthesis gate: it runs Yosys over each block of a
// generated tree and reports resources, the register-to-register logic depth
// in 6-input LUT levels (the timing proxy), where each memory went (block
// RAM, LUT RAM or flip-flops), and the structural faults an FPGA flow would
// reject: latches, multiply-driven nets and combinational loops.
package synth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Result is one block's row.
type Result struct {
	Block string `json:"block"`
	// Mapping says where LUTs, FFs, BRAMs and DSPs come from: "xilinx"
	// (synth_xilinx) or "generic" (synth -lut 6, which counts memories as
	// flip-flops and knows no block RAM or DSPs).
	Mapping   string `json:"mapping"`
	LUTs      int    `json:"luts"`
	FFs       int    `json:"ffs"`
	BRAMs     int    `json:"brams"` // in 18 Kb halves
	DSPs      int    `json:"dsps"`
	LUTLevels int    `json:"lut_levels"`
	// LUTPath names the ends of one longest path, "from -> to", so that the
	// engineer knows where to cut it (its inner nodes are ABC's, unnamed).
	LUTPath string `json:"lut_path,omitempty"`
	// Intel is synth_intel_alm's count (Cyclone V cells, the ALM family
	// Yosys maps to; the paper's Stratix V is one too).
	Intel *Intel `json:"intel,omitempty"`
	// IntelNote says why a module of the block was not mapped
	// (tree.noIntel): there are then no figures when it is the block's own
	// module, and the figures leave it out ("without m: ...") otherwise.
	IntelNote string `json:"intel_note,omitempty"`
	// Memories lists every inferred memory and where the Xilinx mapping
	// put it.
	Memories []Memory `json:"memories,omitempty"`
	// ICE40MHz is nextpnr-ice40's post-route Fmax on an HX8K (0: not run,
	// or the block does not fit the device); ICE40Note says which.
	ICE40MHz  float64 `json:"ice40_fmax_mhz,omitempty"`
	ICE40Note string  `json:"ice40_note,omitempty"`
	// Problems fail the gate; Goals are the design goals this block
	// misses (reported, not failed).
	Problems []string `json:"problems,omitempty"`
	Goals    []string `json:"goals,omitempty"`
	Seconds  float64  `json:"seconds,omitempty"`
}

// Intel is one block's synth_intel_alm resources.
type Intel struct {
	ALUTs int `json:"aluts"`
	FFs   int `json:"ffs"`
	M10Ks int `json:"m10ks"`
	MLABs int `json:"mlabs"`
	DSPs  int `json:"dsps"`
}

// Memory is one inferred memory of a block.
type Memory struct {
	Name  string `json:"name"` // hierarchical, as flattened: u_rs.u_cq.mem
	Depth int    `json:"depth"`
	Width int    `json:"width"`
	// Want is the generator's ram_style ("block", "distributed",
	// "registers" or "" when it left the choice to the tool).
	Want string `json:"want,omitempty"`
	// Got is where synth_xilinx put it: "block", "lutram" or "registers".
	Got string `json:"got"`
}

// OK reports whether the block passed the structural checks.
func (r Result) OK() bool { return len(r.Problems) == 0 }

// Options tune the gate.
type Options struct {
	// Vendor adds the Xilinx (synth_xilinx) and Intel (synth_intel_alm)
	// mappings: block RAM, DSP and per-memory counts, and the check that
	// memories meant for block RAM got it.
	Vendor bool
	// Timeout bounds one Yosys run of one block.
	Timeout time.Duration
	// ICE40 places and routes blocks that fit an iCE40 HX8K with nextpnr
	// for a real Fmax.
	ICE40 bool
	// ClockMHz is the target the iCE40 run reports against.
	ClockMHz float64
	// MaxLUTLevels is the logic-depth goal (0: none).
	MaxLUTLevels int
	// Only, if not empty, restricts the gate to these mappings ("generic",
	// "xilinx", "intel"): the others are neither run nor reported.
	Only []string
	// Record, if not empty, is a directory into which each run the gate
	// uses, found or run, is written as a record (to refresh synth/runs).
	Record string
	// Cache, if not empty, is a directory where each finished Yosys run
	// is kept and from which an identical run is taken (runcache.go).
	Cache string
}

// ice40LUTs is an HX8K's logic cells: a block whose generic mapping needs
// more is not placed (it cannot fit, and nextpnr would only say so slowly).
const ice40LUTs = 7680

// ice40RAMBits is an HX8K's block RAM: 32 blocks of 4 Kb. A block whose
// memories meant for block RAM hold more cannot fit either, and is not
// placed: synth_ice40 would build the rest in logic cells, for hours (the
// paper's kvd_slab, 317 Kb of stacks, ran over 35 minutes without ending).
const ice40RAMBits = 32 * 4096

// blockRAMBits sums the bits of r's memories that are meant for, or got,
// block RAM.
func blockRAMBits(r Result) int {
	n := 0
	for _, m := range r.Memories {
		if m.Want == "block" || m.Got == "block" {
			n += m.Depth * m.Width
		}
	}
	return n
}

// deepMemory is the depth above which a memory should be block RAM
// (issue 10: every FIFO deeper than 32).
const deepMemory = 32

// Blocks lists the modules of a generated tree, one per file.
func Blocks(dir string) ([]string, error) {
	files, err := verilogFiles(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".v"))
	}
	return names, nil
}

// Digest names the Verilog of a tree by its bytes: the sha256 of one line
// per .v file, in name order, "name sha256-of-its-bytes". The gate's table
// is a property of exactly these bytes; `kvd rtl` prints the same digest
// of what it writes, so a reader can tell whether docs/synthesis.md
// measured the RTL at hand (an RTL change need not change the
// configuration's hash).
func Digest(dir string) (string, error) {
	files, err := verilogFiles(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %x\n", filepath.Base(f), sha256.Sum256(b))
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func verilogFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.v"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("synth %s: no .v files", dir)
	}
	sort.Strings(files)
	return files, nil
}

var (
	ltpRE    = regexp.MustCompile(`Longest topological path in (\S+) \(length=(\d+)\)`)
	ltpLoop  = regexp.MustCompile(`Detected loop at (\S+) in (\S+)`)
	sectRE   = regexp.MustCompile(`^=== (\S+) ===$`)
	cellRE   = regexp.MustCompile(`^\s+(\S+)\s+(\d+)\s*$`)
	warnRE   = regexp.MustCompile(`(?m)^Warning: (.*)$`)
	loopRE   = regexp.MustCompile(`found logic loop in module (\S+):`)
	drvRE    = regexp.MustCompile(`(?i)multiple conflicting drivers|is used but has no driver|driver conflict`)
	drvModRE = regexp.MustCompile(`(?:for|Wire) ([\w$]+)\.`)
	latchRE  = regexp.MustCompile(`\$(_DLATCH|dlatch|adlatch|_SR_|sr)`)
	noMapRE  = regexp.MustCompile(`ERROR: no valid mapping found for memory (\S+)`)
	mapMemRE = regexp.MustCompile(`(?m)^mapping memory (\S+) via (\S+)`)
	instRE   = regexp.MustCompile(`(?m)^\s*(\w+)\s+(?:#\s*\(|u_\w+\s*\()`)
)

// tree is a directory of Verilog files, one module per file, and who
// instantiates whom.
type tree struct {
	dir      string
	files    []string
	sums     map[string]string // file -> sha256 of its bytes
	bodySums map[string]string // file -> bodySum of its bytes (the run keys')
	modules  []string
	children map[string]map[string]int // module -> child module -> instances
	size     map[string]int            // bytes of the module's own file
	// tdp: per module, its memories meant for block RAM that are written
	// at two or more addresses (true dual-port)
	tdp map[string][]string
}

func readTree(dir string) (*tree, error) {
	files, err := verilogFiles(dir)
	if err != nil {
		return nil, err
	}
	t := &tree{dir: dir, files: files, sums: map[string]string{}, bodySums: map[string]string{}, children: map[string]map[string]int{}, size: map[string]int{}, tdp: map[string][]string{}}
	text := map[string][]byte{}
	for _, f := range files {
		m := strings.TrimSuffix(filepath.Base(f), ".v")
		t.modules = append(t.modules, m)
		if text[m], err = os.ReadFile(f); err != nil {
			return nil, err
		}
		t.size[m] = len(text[m])
		sum := sha256.Sum256(text[m])
		t.sums[f] = hex.EncodeToString(sum[:])
		t.bodySums[f] = bodySum(text[m])
	}
	for _, m := range t.modules {
		t.tdp[m] = trueDualPort(text[m])
		t.children[m] = map[string]int{}
		for _, c := range instRE.FindAllSubmatch(text[m], -1) {
			if _, ok := t.size[string(c[1])]; ok && string(c[1]) != m {
				t.children[m][string(c[1])]++
			}
		}
	}
	return t, nil
}

var (
	blockMemRE = regexp.MustCompile(`\(\* ram_style = "block" \*\)\s*reg\s+(?:\[[^\]]+\]\s*)?(\w+)\s*\[[^\]]+\]\s*;`)
	memWriteRE = regexp.MustCompile(`\b(\w+)\[([^\]]+)\]\s*<=`)
)

// trueDualPort lists the memories of a module's Verilog that are meant
// for block RAM and written at two or more addresses, in the generators'
// style (a memory word is written only by "name[addr] <= ...").
func trueDualPort(text []byte) []string {
	block := map[string]bool{}
	for _, m := range blockMemRE.FindAllSubmatch(text, -1) {
		block[string(m[1])] = true
	}
	addrs := map[string]map[string]bool{}
	for _, m := range memWriteRE.FindAllSubmatch(text, -1) {
		name := string(m[1])
		if !block[name] {
			continue
		}
		if addrs[name] == nil {
			addrs[name] = map[string]bool{}
		}
		addrs[name][strings.TrimSpace(string(m[2]))] = true
	}
	var out []string
	for name, a := range addrs {
		if len(a) >= 2 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// noIntel says why module m gets no Intel run, or "": Yosys's Intel flow
// maps only simple dual-port memories to M10K (a known limit of its memory
// mapper, YosysHQ/yosys#1748), so a true dual-port block RAM becomes
// flip-flops and multiplexers — the paper's kvd_slab, 317 Kb of stacks,
// grew past 13 GB in 40 minutes — and the figures would describe a design
// nobody would build: Quartus maps the memory to M10K in true dual-port
// mode, as synth_xilinx maps it to RAMB18.
func (t *tree) noIntel(m string) string {
	if len(t.tdp[m]) == 0 {
		return ""
	}
	return fmt.Sprintf("not mapped: %s has true dual-port block RAM (%s), which Yosys's Intel flow builds from logic", m, strings.Join(t.tdp[m], ", "))
}

// file is the path of module m's file.
func (t *tree) file(m string) string { return filepath.Join(t.dir, m+".v") }

// below lists m and every module under it, m first, the rest sorted.
func (t *tree) below(m string) []string {
	seen := map[string]bool{m: true}
	var walk func(string)
	walk = func(x string) {
		for c := range t.children[x] {
			if !seen[c] {
				seen[c] = true
				walk(c)
			}
		}
	}
	walk(m)
	var rest []string
	for x := range seen {
		if x != m {
			rest = append(rest, x)
		}
	}
	sort.Strings(rest)
	return append([]string{m}, rest...)
}

// cost is the bytes of Verilog a run rooted at m reads in: a rough measure
// of how long Yosys will take.
func (t *tree) cost(m string) int {
	n := 0
	for _, x := range t.below(m) {
		n += t.size[x]
	}
	return n
}

// roots picks the runs that cover blocks: the blocks no other chosen block
// contains, largest first.
func (t *tree) roots(blocks []string) []string {
	var roots []string
	for _, b := range blocks {
		inside := false
		for _, o := range blocks {
			if o != b && contains(t.below(o)[1:], b) {
				inside = true
				break
			}
		}
		if !inside && !contains(roots, b) {
			roots = append(roots, b)
		}
	}
	sort.SliceStable(roots, func(i, j int) bool { return t.cost(roots[i]) > t.cost(roots[j]) })
	return roots
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// perModule is what one Yosys run learnt, module by module (own cells, not
// counting the modules it instantiates).
type perModule struct {
	cells    map[string]map[string]int
	problems map[string][]string
	levels   map[string]int
	paths    map[string]string
	memories map[string][]Memory
	from     cacheNote
}

func newPerModule() *perModule {
	return &perModule{cells: map[string]map[string]int{}, problems: map[string][]string{},
		levels: map[string]int{}, paths: map[string]string{}, memories: map[string][]Memory{}}
}

// longestPath is one module's ltp result.
type longestPath struct {
	levels int
	path   string // "from -> to"
}

// ltpNode is one node line of an ltp report: "   3: \name [7] (via ...)",
// or "   ff: \name_reg [7] (via ...)" for the flip-flop the path ends in.
var ltpNode = regexp.MustCompile(`^\s*(\d+|ff): (.+?)(?: \(via .*\))?$`)

// parseLTP reads the reports of `ltp -noff`, one per module, into each
// module's depth and the named ends of its longest path.
func parseLTP(report string) map[string]longestPath {
	out := map[string]longestPath{}
	cur := ""
	var from, to string
	flush := func() {
		if cur != "" && from != "" {
			lp := out[cur]
			lp.path = from + " -> " + to
			out[cur] = lp
		}
	}
	for _, l := range strings.Split(report, "\n") {
		if m := ltpRE.FindStringSubmatch(l); m != nil {
			flush()
			cur, from, to = strings.TrimPrefix(m[1], `\`), "", ""
			n, _ := strconv.Atoi(m[2])
			out[cur] = longestPath{levels: n}
			continue
		}
		m := ltpNode.FindStringSubmatch(l)
		if m == nil || cur == "" {
			continue
		}
		name := ltpName(m[2])
		if from == "" {
			from = name
		}
		to = name
	}
	flush()
	return out
}

// ltpName turns Yosys' "\name [7]" into "name[7]".
func ltpName(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), `\`)
	return strings.Replace(s, " [", "[", 1)
}

// parseStat reads a hierarchical stat report into cells per module.
func parseStat(path string) map[string]map[string]int {
	out := map[string]map[string]int{}
	cur := ""
	for _, l := range lines(path) {
		if m := sectRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			cur = strings.TrimPrefix(m[1], `\`)
			if cur == "design" {
				cur = ""
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(l), "=== design hierarchy") {
			cur = ""
			continue
		}
		if m := cellRE.FindStringSubmatch(l); m != nil && cur != "" {
			if out[cur] == nil {
				out[cur] = map[string]int{}
			}
			n, _ := strconv.Atoi(m[2])
			out[cur][m[1]] += n
		}
	}
	return out
}

// total sums a cell-count function over m and, instance by instance, the
// modules under it.
func (t *tree) total(cells map[string]map[string]int, m string, count func(cell string, n int) int) int {
	n := 0
	for c, k := range cells[m] {
		if _, isModule := t.size[c]; isModule {
			continue
		}
		n += count(c, k)
	}
	for c, k := range t.children[m] {
		n += k * t.total(cells, c, count)
	}
	return n
}

// Gate synthesises blocks of the tree in dir and returns their rows in the
// order given. The tree is synthesised hierarchically, once per mapping
// for each run that covers the blocks (the whole processor covers most of
// them), so a block inside the processor is not synthesised twice; a
// block's resources are its module's and those of the modules under it.
// Runs go jobs at a time; progress, if not nil, hears about each.
func Gate(ctx context.Context, dir string, blocks []string, o Options, jobs int, progress func(string)) ([]Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = 4 * time.Hour
	}
	if jobs < 1 {
		jobs = 1
	}
	t, err := readTree(dir)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if _, ok := t.size[b]; !ok {
			return nil, fmt.Errorf("synth %s: no module %s", dir, b)
		}
	}
	var sayMu sync.Mutex
	say := func(format string, args ...any) {
		if progress != nil {
			sayMu.Lock()
			defer sayMu.Unlock()
			progress(fmt.Sprintf(format, args...))
		}
	}
	want := func(kind string) bool {
		if len(o.Only) > 0 {
			return contains(o.Only, kind)
		}
		return kind == "generic" || o.Vendor
	}
	for _, k := range o.Only {
		if k != "generic" && k != "xilinx" && k != "intel" {
			return nil, fmt.Errorf("synth: no mapping %q (generic, xilinx, intel)", k)
		}
	}
	var runs []*gateRun
	roots := t.roots(blocks)
	for _, r := range roots {
		if want("generic") {
			runs = append(runs, &gateRun{root: r, kind: "generic"})
		}
		if want("xilinx") {
			runs = append(runs, &gateRun{root: r, kind: "xilinx"})
		}
	}
	// Intel's mapping runs module by module, each module's instances of
	// others left as black boxes: synth_intel_alm's ABC9 on the whole paper
	// processor grew past 17 GB (it was killed for memory twice, once by
	// the kernel), where each module alone is a fraction of it. A block's
	// Intel figures are then its module's and those of the modules under
	// it, as for the other mappings; -noflatten keeps no optimisation
	// across a module boundary, so the sum is what one run would count.
	if want("intel") {
		seen := map[string]bool{}
		for _, r := range roots {
			for _, m := range t.below(r) {
				if !seen[m] && t.noIntel(m) == "" {
					seen[m] = true
					runs = append(runs, &gateRun{root: m, kind: "intel"})
				}
			}
		}
	}
	// A whole processor keeps Yosys busy for many minutes per mapping: say
	// every minute which runs are going and which pass each is in.
	var mu sync.Mutex
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				for _, r := range runs {
					if r.running {
						say("%-7s %-20s running %.0f min, in %s", r.kind, r.root, time.Since(r.started).Minutes(), lastPass(filepath.Join(r.work, "yosys.log")))
					}
				}
				mu.Unlock()
			}
		}
	}()
	// Longest first, so that the short runs fill in beside the long ones
	// instead of one long run starting last: a run's length goes with the
	// Verilog it maps (the whole tree under a generic or Xilinx root, one
	// module's file for Intel), the vendor mappings before the generic one
	// at equal size. (The rows are still filled in runs' order.)
	rank := map[string]int{"intel": 0, "xilinx": 1, "generic": 2}
	size := func(r *gateRun) int {
		if r.kind == "intel" {
			return t.size[r.root]
		}
		return t.cost(r.root)
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ra, rb := runs[order[a]], runs[order[b]]
		if size(ra) != size(rb) {
			return size(ra) > size(rb)
		}
		return rank[ra.kind] < rank[rb.kind]
	})
	parallel(jobs, len(runs), func(i int) {
		r := runs[order[i]]
		work, err := os.MkdirTemp("", "kvd-synth")
		if err != nil {
			r.err = err
			return
		}
		defer os.RemoveAll(work)
		mu.Lock()
		r.work, r.started, r.running = work, time.Now(), true
		mu.Unlock()
		switch r.kind {
		case "generic":
			r.res, r.err = generic(ctx, o, t, r.root, work)
		case "xilinx":
			r.res, r.err = xilinx(ctx, o, t, r.root, work)
		case "intel":
			r.res, r.err = intel(ctx, o, t, r.root, work)
		}
		mu.Lock()
		r.running = false
		r.secs = time.Since(r.started).Seconds()
		mu.Unlock()
		if r.err == nil && r.kind == "intel" {
			say("%-7s %-20s 1 module  %.0f s%s", r.kind, r.root, r.secs, r.res.from)
		} else if r.err == nil {
			say("%-7s %-20s %d modules  %.0f s%s", r.kind, r.root, len(t.below(r.root)), r.secs, r.res.from)
		} else {
			say("%-7s %-20s failed after %.0f s: %v", r.kind, r.root, r.secs, r.err)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err // stopped by the caller: no table
	}
	// A run that failed (a timeout, a Yosys error) fails the blocks it
	// covers, naming it; what the other runs measured is kept, since a
	// processor's runs last an hour each and one mapping's failure says
	// nothing about another's figures.
	rows := make([]Result, len(blocks))
	genericLUTs := make([]int, len(blocks))
	generic := make([]bool, len(blocks))
	intelOf := map[string]*gateRun{}
	for _, r := range runs {
		if r.kind == "intel" {
			intelOf[r.root] = r
		}
	}
	for i, b := range blocks {
		row := Result{Block: b}
		done := false
		if want("intel") {
			fillIntelRuns(&row, t, intelOf)
		}
		for _, r := range runs {
			if r.kind == "intel" || !contains(t.below(r.root), b) {
				continue
			}
			row.Seconds += r.secs
			if r.err != nil {
				row.Problems = append(row.Problems, fmt.Sprintf("the %s mapping (Yosys on %s) did not complete: %v", r.kind, r.root, r.err))
				continue
			}
			if r.kind == "generic" && !done {
				generic[i] = true
				if row.Mapping == "" {
					row.Mapping = "generic"
				}
				fillGeneric(&row, t, r.res)
				genericLUTs[i], done = row.LUTs, true
			}
			if r.kind == "xilinx" && row.Mapping != "xilinx" {
				fillXilinx(&row, t, r.res)
			}
		}
		rows[i] = row
	}
	if o.ICE40 {
		parallel(jobs, len(rows), func(i int) {
			r := &rows[i]
			if !generic[i] {
				r.ICE40Note = "not placed: no generic mapping to size it"
				return
			}
			if genericLUTs[i] > ice40LUTs {
				r.ICE40Note = fmt.Sprintf("not placed: %d LUTs, an HX8K has %d", genericLUTs[i], ice40LUTs)
				return
			}
			if bits := blockRAMBits(*r); bits > ice40RAMBits {
				r.ICE40Note = fmt.Sprintf("not placed: %d bits of block RAM, an HX8K has %d", bits, ice40RAMBits)
				return
			}
			start := time.Now()
			r.ICE40MHz, r.ICE40Note = ice40(ctx, o, t, r.Block)
			r.Seconds += time.Since(start).Seconds()
			say("ice40   %-20s %.1f MHz", r.Block, r.ICE40MHz)
		})
	}
	for i := range rows {
		r := &rows[i]
		if o.MaxLUTLevels > 0 && r.LUTLevels > o.MaxLUTLevels {
			goal := fmt.Sprintf("%d LUT levels, goal %d", r.LUTLevels, o.MaxLUTLevels)
			if r.LUTPath != "" {
				goal += ": " + r.LUTPath
			}
			r.Goals = append(r.Goals, goal)
		}
		for _, m := range r.Memories {
			if m.Depth > deepMemory && m.Got != "block" {
				r.Goals = append(r.Goals, fmt.Sprintf("%s (%d x %d) in %s, not block RAM", m.Name, m.Depth, m.Width, m.Got))
			}
		}
		r.Problems = uniq(r.Problems)
	}
	return rows, nil
}

// gateRun is one Yosys run of the gate: a mapping of a root module (and,
// but for Intel's, the modules under it).
type gateRun struct {
	root, kind string
	res        *perModule
	secs       float64
	err        error
	work       string
	started    time.Time
	running    bool
}

// Block runs the gate on one module of dir.
func Block(ctx context.Context, dir, top string, o Options) (Result, error) {
	rows, err := Gate(ctx, dir, []string{top}, o, 1, nil)
	if err != nil {
		return Result{Block: top}, err
	}
	return rows[0], nil
}

func parallel(jobs, n int, f func(int)) {
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}(i)
	}
	wg.Wait()
}

func fillGeneric(row *Result, t *tree, p *perModule) {
	for _, m := range t.below(row.Block) {
		for _, pr := range p.problems[m] {
			if m == row.Block {
				row.Problems = append(row.Problems, pr)
			} else {
				row.Problems = append(row.Problems, m+": "+pr)
			}
		}
	}
	row.LUTs = t.total(p.cells, row.Block, func(c string, n int) int {
		if c == "$lut" {
			return n
		}
		return 0
	})
	row.FFs = t.total(p.cells, row.Block, func(c string, n int) int {
		if strings.Contains(c, "DFF") || strings.HasPrefix(c, "$_SDFF") || strings.HasPrefix(c, "$_ALDFF") {
			return n
		}
		return 0
	})
	row.LUTLevels = p.levels[row.Block]
	row.LUTPath = p.paths[row.Block]
}

func fillXilinx(row *Result, t *tree, p *perModule) {
	for _, m := range t.below(row.Block) {
		row.Problems = append(row.Problems, p.problems[m]...)
	}
	if len(p.cells) == 0 {
		return // the mapping stopped; a problem above says why
	}
	row.Mapping = "xilinx"
	count := func(kind string) func(string, int) int {
		return func(c string, n int) int {
			switch {
			case kind == "lut" && (strings.HasPrefix(c, "LUT") || strings.HasPrefix(c, "RAM32") || strings.HasPrefix(c, "RAM64") ||
				strings.HasPrefix(c, "RAM128") || strings.HasPrefix(c, "RAM256") || strings.HasPrefix(c, "SRL")):
				return n
			case kind == "ff" && strings.HasPrefix(c, "FD"):
				return n
			case kind == "bram" && strings.HasPrefix(c, "RAMB36"):
				return 2 * n // counted in 18 Kb halves
			case kind == "bram" && strings.HasPrefix(c, "RAMB18"):
				return n
			case kind == "dsp" && strings.HasPrefix(c, "DSP48"):
				return n
			}
			return 0
		}
	}
	row.LUTs = t.total(p.cells, row.Block, count("lut"))
	row.FFs = t.total(p.cells, row.Block, count("ff"))
	row.BRAMs = t.total(p.cells, row.Block, count("bram"))
	row.DSPs = t.total(p.cells, row.Block, count("dsp"))
	for _, m := range t.below(row.Block) {
		for _, mem := range p.memories[m] {
			if m != row.Block {
				mem.Name = m + "." + mem.Name
			}
			row.Memories = append(row.Memories, mem)
			if mem.Want == "block" && mem.Got != "block" {
				row.Problems = append(row.Problems, fmt.Sprintf("memory %s meant for block RAM became %s", mem.Name, mem.Got))
			}
		}
	}
}

// fillIntelRuns fills a row's Intel figures from the per-module runs of
// its module and every module under it; a run that did not complete fails
// the row, naming the module. Modules that are not mapped (noIntel) count
// nothing, and the row says which were left out.
func fillIntelRuns(row *Result, t *tree, intelOf map[string]*gateRun) {
	cells := map[string]map[string]int{}
	var without []string
	for _, m := range t.below(row.Block) {
		if t.noIntel(m) != "" {
			without = append(without, m)
			if row.IntelNote == "" {
				row.IntelNote = t.noIntel(m)
			}
			continue
		}
		r := intelOf[m]
		if r == nil {
			return
		}
		row.Seconds += r.secs
		if r.err != nil {
			row.Problems = append(row.Problems, fmt.Sprintf("the intel mapping (Yosys on %s) did not complete: %v", m, r.err))
			continue
		}
		if r.res == nil || len(r.res.cells) == 0 {
			return // the mapping stopped on a memory; the Xilinx run reports it
		}
		cells[m] = r.res.cells[m]
	}
	if len(cells) == 0 || len(cells)+len(without) != len(t.below(row.Block)) {
		return
	}
	fillIntel(row, t, &perModule{cells: cells})
	if len(without) > 0 {
		row.IntelNote = fmt.Sprintf("without %s: %s", strings.Join(without, ", "), row.IntelNote)
	}
}

func fillIntel(row *Result, t *tree, p *perModule) {
	if len(p.cells) == 0 {
		return
	}
	count := func(match func(cell string) bool) int {
		return t.total(p.cells, row.Block, func(c string, n int) int {
			if match(c) {
				return n
			}
			return 0
		})
	}
	in := &Intel{
		ALUTs: count(func(c string) bool { return strings.HasPrefix(c, "MISTRAL_ALUT") || c == "MISTRAL_NOT" }),
		FFs:   count(func(c string) bool { return c == "MISTRAL_FF" }),
		M10Ks: count(func(c string) bool { return c == "MISTRAL_M10K" }),
		MLABs: count(func(c string) bool { return c == "MISTRAL_MLAB" }),
		DSPs:  count(func(c string) bool { return strings.HasPrefix(c, "MISTRAL_MUL") }),
	}
	row.Intel = in
}

// generic maps the run's modules to 6-input LUTs, keeping the hierarchy,
// and measures each module's depth on a flattened copy of it.
func generic(ctx context.Context, o Options, t *tree, root, work string) (*perModule, error) {
	out := func(name string) string { return filepath.Join(work, name) }
	script := []string{
		"read_verilog -noautowire " + quote(t.files),
		"hierarchy -check -top " + root,
		"proc",
		// Latches and structural faults show before optimisation hides them.
		"tee -q -o " + out("cells.txt") + " stat",
		"check",
		// Memories meant for block RAM stay memories: a block RAM is a
		// register boundary (its read is clocked), so the depth is
		// measured up to and from it, not through the flip-flops and
		// read multiplexers a generic mapping would make of it. The
		// type is hidden from the fine mapping and restored for ltp,
		// which counts memories as registers. (Whether they did become
		// block RAM is the Xilinx mapping's check.)
		"synth -top " + root + " -run begin:fine",
		"select -set bram t:$mem_v2 a:ram_style=block %i",
		"chtype -set $__kvd_bram @bram",
		"synth -top " + root + " -lut 6 -run fine:check",
		"chtype -set $mem_v2 t:$__kvd_bram",
		"tee -q -o " + out("stat.txt") + " stat",
		"design -save mapped",
	}
	// Depth is a property of a module with everything under it inlined:
	// each module is flattened on its own copy of the mapped design.
	for _, m := range t.below(root) {
		script = append(script, "design -load mapped", "hierarchy -top "+m, "flatten",
			"tee -q -a "+out("ltp.txt")+" ltp -noff")
	}
	log, from, err := o.cachedYosys(ctx, t, work, script)
	if err != nil {
		return nil, fmt.Errorf("synth %s: %v", root, err)
	}
	p := newPerModule()
	p.from = from
	for m, cells := range parseStat(out("cells.txt")) {
		for c, n := range cells {
			if latchRE.MatchString(c) {
				p.problems[m] = append(p.problems[m], fmt.Sprintf("%d latch cells (%s)", n, c))
			}
		}
	}
	for _, w := range warnRE.FindAllStringSubmatchIndex(log, -1) {
		msg := log[w[2]:w[3]]
		if m := loopRE.FindStringSubmatch(msg); m != nil {
			mod := strings.TrimPrefix(m[1], `\`)
			p.problems[mod] = append(p.problems[mod], "combinational loop through "+loopSources(log[w[1]:]))
		} else if drvRE.MatchString(msg) {
			mod := root
			if m := drvModRE.FindStringSubmatch(msg); m != nil {
				mod = m[1]
			}
			p.problems[mod] = append(p.problems[mod], "driver problem: "+msg)
		}
	}
	for m := range p.problems {
		sort.Strings(p.problems[m])
	}
	p.cells = parseStat(out("stat.txt"))
	ltp, _ := os.ReadFile(out("ltp.txt"))
	for mod, lp := range parseLTP(string(ltp)) {
		p.levels[mod], p.paths[mod] = lp.levels, lp.path
	}
	for _, m := range ltpLoop.FindAllSubmatch(ltp, -1) {
		mod := strings.TrimPrefix(string(m[2]), `\`)
		if !contains(p.problems[mod], "combinational loop (ltp)") {
			p.problems[mod] = append(p.problems[mod], "combinational loop (ltp)")
		}
	}
	return p, nil
}

// xilinx maps the run's modules with synth_xilinx, keeping the hierarchy.
// Its memory mapper logs where each memory went; a memory it does not
// name became flip-flops.
func xilinx(ctx context.Context, o Options, t *tree, root, work string) (*perModule, error) {
	out := func(name string) string { return filepath.Join(work, name) }
	script := []string{
		"read_verilog -noautowire " + quote(t.files),
		"hierarchy -check -top " + root,
		"proc",
		"opt_clean",
		"memory -nomap",
		"tee -q -o " + out("mem_all.txt") + " select -list t:$mem_v2",
		"tee -q -o " + out("mem_block.txt") + " select -list t:$mem_v2 a:ram_style=block %i",
		"tee -q -o " + out("mem_dist.txt") + " select -list t:$mem_v2 a:ram_style=distributed %i",
		"tee -q -o " + out("mem_regs.txt") + " select -list t:$mem_v2 a:ram_style=registers %i",
	}
	for _, m := range t.below(root) {
		script = append(script, "tee -q -a "+out("mems.txt")+" log module "+m,
			"tee -q -a "+out("mems.txt")+" dump "+m+"/t:$mem_v2")
	}
	script = append(script, "synth_xilinx -top "+root, "tee -q -o "+out("stat.txt")+" stat")
	log, from, err := o.cachedYosys(ctx, t, work, script)
	p := newPerModule()
	p.from = from
	if m := noMapRE.FindStringSubmatch(log); err != nil && m != nil {
		// Yosys stops on a ram_style it cannot honour (block RAM with an
		// asynchronous read): a fault of the block, not of the gate.
		mod, mem, _ := strings.Cut(m[1], ".")
		p.problems[mod] = append(p.problems[mod], fmt.Sprintf("memory %s cannot be mapped as its ram_style asks (synth_xilinx: no valid mapping)", mem))
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("synth_xilinx %s: %v", root, err)
	}
	p.cells = parseStat(out("stat.txt"))
	got := map[string]string{}
	for _, m := range mapMemRE.FindAllStringSubmatch(log, -1) {
		kind := "lutram"
		if strings.Contains(m[2], "BLOCKRAM") || strings.Contains(m[2], "URAM") {
			kind = "block"
		}
		got[m[1]] = kind
	}
	want := map[string]string{}
	for style, file := range map[string]string{"block": "mem_block.txt", "distributed": "mem_dist.txt", "registers": "mem_regs.txt"} {
		for _, n := range lines(out(file)) {
			if n = strings.TrimSpace(n); n != "" {
				want[n] = style
			}
		}
	}
	dims := memDims(out("mems.txt"))
	for _, sel := range lines(out("mem_all.txt")) {
		sel = strings.TrimSpace(sel)
		mod, name, ok := strings.Cut(sel, "/")
		if !ok {
			continue
		}
		m := Memory{Name: name, Want: want[sel], Got: got[mod+"."+name]}
		if m.Got == "" {
			m.Got = "registers"
		}
		d := dims[mod+"/"+name]
		m.Depth, m.Width = d[0], d[1]
		p.memories[mod] = append(p.memories[mod], m)
	}
	for mod := range p.memories {
		sort.Slice(p.memories[mod], func(i, j int) bool { return p.memories[mod][i].Name < p.memories[mod][j].Name })
	}
	return p, nil
}

var (
	dumpModRE   = regexp.MustCompile(`^module (\S+)$`)
	dumpCellRE  = regexp.MustCompile(`^\s*cell \$mem_v2 (\S+)`)
	dumpParamRE = regexp.MustCompile(`^\s*parameter \\(SIZE|WIDTH) (\d+)`)
)

// memDims reads depth and width per module/memory from RTLIL dumps, each
// after a "module NAME" line.
func memDims(path string) map[string][2]int {
	dims := map[string][2]int{}
	mod, cur := "", ""
	for _, l := range lines(path) {
		if m := dumpModRE.FindStringSubmatch(l); m != nil {
			mod, cur = m[1], ""
			continue
		}
		if m := dumpCellRE.FindStringSubmatch(l); m != nil {
			cur = mod + "/" + strings.TrimPrefix(m[1], `\`)
			continue
		}
		if m := dumpParamRE.FindStringSubmatch(l); m != nil && cur != "" {
			n, _ := strconv.Atoi(m[2])
			d := dims[cur]
			if m[1] == "SIZE" {
				d[0] = n
			} else {
				d[1] = n
			}
			dims[cur] = d
		}
	}
	return dims
}

// intel maps one module with synth_intel_alm, the modules it instantiates
// read as black boxes (their own runs count them).
func intel(ctx context.Context, o Options, t *tree, m, work string) (*perModule, error) {
	stat := filepath.Join(work, "stat.txt")
	script := []string{"read_verilog -noautowire " + quote([]string{t.file(m)})}
	var kids []string
	for c := range t.children[m] {
		kids = append(kids, t.file(c))
	}
	if len(kids) > 0 {
		sort.Strings(kids)
		script = append(script, "read_verilog -lib "+quote(kids))
	}
	script = append(script, "synth_intel_alm -top "+m+" -noflatten -noiopad -noclkbuf", "tee -q -o "+stat+" stat")
	log, from, err := o.cachedYosys(ctx, t, work, script)
	p := newPerModule()
	p.from = from
	if m := noMapRE.FindStringSubmatch(log); err != nil && m != nil {
		return p, nil // the Xilinx run reports it
	}
	if err != nil {
		return nil, fmt.Errorf("synth_intel_alm %s: %v", m, err)
	}
	p.cells = parseStat(stat)
	return p, nil
}

var srcRE = regexp.MustCompile(`([\w.-]+\.v):(\d+)`)

// loopSources names the source lines of the cells Yosys lists under a
// "found logic loop" warning, so the report points into the block's file.
func loopSources(after string) string {
	var srcs []string
	seen := map[string]bool{}
	for _, l := range strings.Split(after, "\n")[1:] {
		if !strings.HasPrefix(l, "    ") {
			break
		}
		if m := srcRE.FindStringSubmatch(l); m != nil && strings.HasPrefix(strings.TrimSpace(l), "cell ") {
			src := m[1] + ":" + m[2]
			if !seen[src] && len(srcs) < 8 {
				seen[src] = true
				srcs = append(srcs, src)
			}
		}
	}
	if len(srcs) == 0 {
		return "cells Yosys did not place in the source"
	}
	sort.Strings(srcs)
	return strings.Join(srcs, ", ")
}

func lines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Split(string(b), "\n")
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

var fmaxRE = regexp.MustCompile(`Max frequency for clock '[^']*': ([0-9.]+) MHz`)

// ice40 maps one block, flattened, to an iCE40 and routes it. The vendor
// RAM styles the generators ask for mean nothing on an iCE40, so they are
// dropped first.
func ice40(ctx context.Context, o Options, t *tree, top string) (float64, string) {
	work, err := os.MkdirTemp("", "kvd-ice40")
	if err != nil {
		return 0, err.Error()
	}
	defer os.RemoveAll(work)
	js := filepath.Join(work, "ice40.json")
	// Only the block's own files: a change elsewhere in the processor does
	// not make its placement run again (runKey counts the files a script
	// reads). The run that read every file is the same netlist, and is
	// found through its old key.
	var files []string
	for _, m := range t.below(top) {
		files = append(files, t.file(m))
	}
	sort.Strings(files)
	script := []string{"read_verilog -noautowire " + quote(files), "setattr -unset ram_style m:*", "synth_ice40 -top " + top + " -json " + js}
	legacyScript := append([]string{"read_verilog -noautowire " + quote(t.files)}, script[1:]...)
	clock := o.ClockMHz
	if clock <= 0 {
		clock = 180
	}
	args := []string{"--hx8k", "--package", "ct256", "--json", js,
		"--freq", strconv.FormatFloat(clock, 'f', 1, 64), "--timing-allow-fail", "--seed", "1"}
	// The run is kept with its place-and-route: the Fmax reports are all
	// the gate reads of it.
	extra := "nextpnr-ice40 " + nextpnrVersion() + " " + strings.Join(args, " ")
	key := t.runKey(work, script, extra)
	r, ok := o.load(key, t.legacyKey(work, legacyScript, extra))
	if ok && r.key != key && !r.recorded {
		o.store(key, r) // found under its old key: keep it under the new one
	}
	if !ok {
		start := time.Now()
		if _, err := yosysScript(ctx, o.Timeout, work, script); err != nil {
			return 0, "synth_ice40 failed"
		}
		pctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		out, _ := exec.CommandContext(pctx, "nextpnr-ice40", args...).CombinedOutput()
		if pctx.Err() != nil {
			return 0, "nextpnr-ice40 did not finish"
		}
		r.Kept = strings.Join(fmaxRE.FindAllString(string(out), -1), "\n")
		r.Seconds = time.Since(start).Seconds()
		o.store(key, r) // a failure to keep it only costs the next run time
	}
	o.record(key, r) // nor does a failure to record it
	m := fmaxRE.FindAllStringSubmatch(r.Kept, -1)
	if len(m) == 0 {
		return 0, "does not fit an iCE40 HX8K"
	}
	// The last report is the one after routing.
	f, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return f, ""
}

// yosysScript runs script (one command per element) from a file in work,
// logging to work/yosys.log, and returns the log lines the gate reads:
// warnings with their indented details, errors and the memory mapper's
// lines. (The whole processor's full log runs to hundreds of megabytes.)
// killGroup makes a cancelled or timed-out tool take its children with
// it: Yosys runs ABC as a child process, which outlived a killed Yosys
// (found when the paper preset's Xilinx mapping timed out in ABC).
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
}

func yosysScript(ctx context.Context, timeout time.Duration, work string, script []string) (string, error) {
	path := filepath.Join(work, "script.ys")
	if err := os.WriteFile(path, []byte(strings.Join(script, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	logPath := filepath.Join(work, "yosys.log")
	f, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "yosys", "-s", path)
	cmd.Stdout = f
	cmd.Stderr = f
	killGroup(cmd)
	err = cmd.Run()
	f.Close()
	kept, last := scanLog(logPath)
	if ctx.Err() == context.DeadlineExceeded {
		return kept, fmt.Errorf("yosys did not finish within %s (last pass: %s)", timeout, lastPass(logPath))
	}
	if err != nil {
		return kept, fmt.Errorf("yosys: %v: %s", err, tail(last))
	}
	return kept, nil
}

var keepRE = regexp.MustCompile(`^(Warning: |ERROR: |mapping memory )`)

// scanLog returns the lines of a Yosys log the gate reads, and its last
// lines for an error message.
func scanLog(path string) (kept, last string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	var k strings.Builder
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	detail := false
	for sc.Scan() {
		l := sc.Text()
		switch {
		case keepRE.MatchString(l):
			k.WriteString(l + "\n")
			detail = strings.HasPrefix(l, "Warning: ")
		case detail && strings.HasPrefix(l, "    "):
			k.WriteString(l + "\n")
		default:
			detail = false
		}
		if ring = append(ring, l); len(ring) > 30 {
			ring = ring[1:]
		}
	}
	return k.String(), strings.Join(ring, "\n")
}

var passRE = regexp.MustCompile(`(?m)^[0-9.]+ Executing (\S+) pass`)

// lastPass names the pass a running (or stopped) Yosys was last in, from
// its log read backwards a window at a time: one pass (techmap after ABC on
// a large design) can log megabytes without a header.
func lastPass(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "not started"
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "?"
	}
	const window = 256 << 10
	buf := make([]byte, window+256) // overlap: a header cut by a window edge is whole in the next one
	for end := st.Size(); end > 0; end -= window {
		off := max(end-window, 0)
		n, _ := f.ReadAt(buf[:min(end+256, st.Size())-off], off)
		if m := passRE.FindAllSubmatch(buf[:n], -1); len(m) > 0 {
			return string(m[len(m)-1][1])
		}
	}
	return "reading the design"
}

func quote(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = strconv.Quote(f)
	}
	return strings.Join(q, " ")
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}

// Table renders results as the Markdown table docs/synthesis.md carries.
func Table(rs []Result, maxLevels int) string {
	var b strings.Builder
	b.WriteString("| block | LUTs | FFs | BRAM (18 Kb) | DSPs | LUT levels | Intel ALUTs / FFs / M10K / DSPs | iCE40 Fmax | checks |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		check := "ok"
		if !r.OK() {
			check = "**FAIL**: " + strings.Join(r.Problems, "; ")
		}
		lv := strconv.Itoa(r.LUTLevels)
		if maxLevels > 0 && r.LUTLevels > maxLevels {
			lv += " (over " + strconv.Itoa(maxLevels) + ")"
		}
		fmax := "-"
		switch {
		case r.ICE40MHz > 0:
			fmax = fmt.Sprintf("%.1f MHz", r.ICE40MHz)
		case r.ICE40Note != "":
			fmax = r.ICE40Note
		}
		in := "-"
		if r.IntelNote != "" {
			in = r.IntelNote
		}
		if r.Intel != nil {
			in = fmt.Sprintf("%d / %d / %d / %d", r.Intel.ALUTs, r.Intel.FFs, r.Intel.M10Ks, r.Intel.DSPs)
			if r.IntelNote != "" {
				in += " (" + r.IntelNote + ")"
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s | %s |\n", r.Block, r.LUTs, r.FFs, r.BRAMs, r.DSPs, lv, in, fmax, check)
	}
	return b.String()
}

// MemoryTable lists every block's memories: what the generator asked for
// and where the Xilinx mapping put them.
func MemoryTable(rs []Result) string {
	var b strings.Builder
	b.WriteString("| block | memory | depth x width | asked for | got |\n|---|---|---|---|---|\n")
	for _, r := range rs {
		for _, m := range r.Memories {
			want := m.Want
			if want == "" {
				want = "(tool's choice)"
			}
			got := m.Got
			if m.Want == "block" && m.Got != "block" || m.Depth > deepMemory && m.Got != "block" {
				got = "**" + got + "**"
			}
			fmt.Fprintf(&b, "| %s | %s | %d x %d | %s | %s |\n", r.Block, m.Name, m.Depth, m.Width, want, got)
		}
	}
	return b.String()
}
