// Package synth is the synthesis gate: it runs Yosys over each block of a
// generated tree and reports resources, the register-to-register logic depth
// in 6-input LUT levels (the timing proxy), where each memory went (block
// RAM, LUT RAM or flip-flops), and the structural faults an FPGA flow would
// reject: latches, multiply-driven nets and combinational loops.
package synth

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	// Intel is synth_intel_alm's count (Cyclone V cells, the ALM family
	// Yosys maps to; the paper's Stratix V is one too).
	Intel *Intel `json:"intel,omitempty"`
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
}

// ice40LUTs is an HX8K's logic cells: a block whose generic mapping needs
// more is not placed (it cannot fit, and nextpnr would only say so slowly).
const ice40LUTs = 7680

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

func verilogFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.v"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("synth %s: no .v files", dir)
	}
	sort.Strings(files)
	return files, nil
}

var (
	ltpRE    = regexp.MustCompile(`Longest topological path in \S+ \(length=(\d+)\)`)
	cellRE   = regexp.MustCompile(`^\s+(\S+)\s+(\d+)\s*$`)
	warnRE   = regexp.MustCompile(`(?m)^Warning: (.*)$`)
	loopRE   = regexp.MustCompile(`(?i)logic loop|combinational loop|Detected loop`)
	drvRE    = regexp.MustCompile(`(?i)multiple conflicting drivers|is used but has no driver|driver conflict`)
	latchRE  = regexp.MustCompile(`\$(_DLATCH|dlatch|adlatch|_SR_|sr)`)
	noMapRE  = regexp.MustCompile(`ERROR: no valid mapping found for memory (\S+)`)
	mapMemRE = regexp.MustCompile(`(?m)^mapping memory (\S+) via (\S+)`)
	memRE    = regexp.MustCompile(`(?m)^mem (\S+) (\d+) (\d+) (\S*)$`)
)

// Gate runs Block over blocks, jobs at a time, and returns the rows in the
// order given. progress, if not nil, is called as each block finishes.
func Gate(ctx context.Context, dir string, blocks []string, o Options, jobs int, progress func(Result)) ([]Result, error) {
	if jobs < 1 {
		jobs = 1
	}
	rows := make([]Result, len(blocks))
	errs := make([]error, len(blocks))
	var mu sync.Mutex
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	// The largest sources start first, so that the long runs (the whole
	// processor, the station) overlap the short ones instead of each other
	// at the end.
	order := make([]int, len(blocks))
	size := make([]int, len(blocks))
	for i, b := range blocks {
		order[i] = i
		size[i] = sourceSize(dir, b, map[string]bool{})
	}
	sort.SliceStable(order, func(a, b int) bool { return size[order[a]] > size[order[b]] })
	for _, i := range order {
		b := blocks[i]
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, b string) {
			defer func() { <-sem; wg.Done() }()
			rows[i], errs[i] = Block(ctx, dir, b, o)
			if progress != nil && errs[i] == nil {
				mu.Lock()
				progress(rows[i])
				mu.Unlock()
			}
		}(i, b)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

var instRE = regexp.MustCompile(`(?m)^\s*(\w+)\s+(?:#\s*\(|u_\w+\s*\()`)

// sourceSize is the bytes of a block's file and of every file of the tree
// it instantiates: a rough measure of how long Yosys will take.
func sourceSize(dir, block string, seen map[string]bool) int {
	if seen[block] {
		return 0
	}
	seen[block] = true
	b, err := os.ReadFile(filepath.Join(dir, block+".v"))
	if err != nil {
		return 0
	}
	n := len(b)
	for _, m := range instRE.FindAllSubmatch(b, -1) {
		n += sourceSize(dir, string(m[1]), seen)
	}
	return n
}

// Block synthesises one module of dir.
func Block(ctx context.Context, dir, top string, o Options) (Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	start := time.Now()
	r := Result{Block: top, Mapping: "generic"}
	files, err := verilogFiles(dir)
	if err != nil {
		return r, err
	}
	work, err := os.MkdirTemp("", "kvd-synth")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(work)
	out := func(name string) string { return filepath.Join(work, name) }
	read := "read_verilog -noautowire " + quote(files)
	script := strings.Join([]string{
		read,
		"hierarchy -check -top " + top,
		"proc",
		// Latches and structural faults show before optimisation hides them.
		"tee -o " + out("cells.txt") + " stat",
		"check",
		// Memories meant for block RAM stay memories: a block RAM is a
		// register boundary (its read is clocked), so the depth is
		// measured up to and from it, not through the flip-flops and
		// read multiplexers a generic mapping would make of it. The
		// type is hidden from the fine mapping and restored for ltp,
		// which counts memories as registers. (Whether they did become
		// block RAM is the Xilinx mapping's check.)
		"synth -flatten -top " + top + " -run begin:fine",
		"select -set bram t:$mem_v2 a:ram_style=block %i",
		"chtype -set $__kvd_bram @bram",
		"synth -top " + top + " -lut 6 -run fine:check",
		"chtype -set $mem_v2 t:$__kvd_bram",
		"tee -o " + out("stat.txt") + " stat",
		"tee -o " + out("ltp.txt") + " ltp -noff",
	}, "; ")
	log, err := yosys(ctx, o.Timeout, script)
	if err != nil {
		return r, fmt.Errorf("synth %s: %v", top, err)
	}
	for _, l := range lines(out("cells.txt")) {
		if m := cellRE.FindStringSubmatch(l); m != nil && latchRE.MatchString(m[1]) {
			r.Problems = append(r.Problems, fmt.Sprintf("%s latch cells (%s)", m[2], m[1]))
		}
	}
	for _, w := range warnRE.FindAllStringSubmatchIndex(log, -1) {
		msg := log[w[2]:w[3]]
		switch {
		case loopRE.MatchString(msg):
			r.Problems = append(r.Problems, "combinational loop through "+loopSources(log[w[1]:]))
		case drvRE.MatchString(msg):
			r.Problems = append(r.Problems, "driver problem: "+msg)
		}
	}
	for _, l := range lines(out("stat.txt")) {
		m := cellRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		switch {
		case m[1] == "$lut":
			r.LUTs += n
		case strings.Contains(m[1], "DFF") || strings.Contains(m[1], "$_SDFF") || strings.Contains(m[1], "$_ALDFF"):
			r.FFs += n
		}
	}
	ltp, _ := os.ReadFile(out("ltp.txt"))
	if m := ltpRE.FindSubmatch(ltp); m != nil {
		r.LUTLevels, _ = strconv.Atoi(string(m[1]))
	} else if loopRE.Match(ltp) {
		r.Problems = append(r.Problems, "combinational loop (ltp)")
	}
	genericLUTs := r.LUTs
	if o.Vendor {
		if err := xilinx(ctx, o, read, top, work, &r); err != nil {
			return r, err
		}
		if r.Mapping == "xilinx" {
			if err := intel(ctx, o, read, top, work, &r); err != nil {
				return r, err
			}
		}
	}
	if o.ICE40 {
		if genericLUTs > ice40LUTs {
			r.ICE40Note = fmt.Sprintf("not placed: %d LUTs, an HX8K has %d", genericLUTs, ice40LUTs)
		} else {
			r.ICE40MHz, r.ICE40Note = ice40(ctx, o, read, top, work)
		}
	}
	if o.MaxLUTLevels > 0 && r.LUTLevels > o.MaxLUTLevels {
		r.Goals = append(r.Goals, fmt.Sprintf("%d LUT levels, goal %d", r.LUTLevels, o.MaxLUTLevels))
	}
	for _, m := range r.Memories {
		if m.Depth > deepMemory && m.Got != "block" {
			r.Goals = append(r.Goals, fmt.Sprintf("%s (%d x %d) in %s, not block RAM", m.Name, m.Depth, m.Width, m.Got))
		}
	}
	r.Problems = uniq(r.Problems)
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// xilinx maps the block with synth_xilinx. Its memory mapper logs where
// each memory went; a memory it does not name became flip-flops.
func xilinx(ctx context.Context, o Options, read, top, work string, r *Result) error {
	mems := filepath.Join(work, "mems.txt")
	stat := filepath.Join(work, "xstat.txt")
	script := strings.Join([]string{
		read,
		"hierarchy -check -top " + top,
		"proc",
		"flatten",
		"opt_clean",
		"memory -nomap",
		"tee -q -o " + filepath.Join(work, "mem_all.txt") + " select -list t:$mem_v2",
		"tee -q -o " + filepath.Join(work, "mem_block.txt") + " select -list t:$mem_v2 a:ram_style=block %i",
		"tee -q -o " + filepath.Join(work, "mem_dist.txt") + " select -list t:$mem_v2 a:ram_style=distributed %i",
		"tee -q -o " + filepath.Join(work, "mem_regs.txt") + " select -list t:$mem_v2 a:ram_style=registers %i",
		"tee -q -o " + mems + " dump -m t:$mem_v2",
		"synth_xilinx -flatten -top " + top,
		"tee -o " + stat + " stat",
	}, "; ")
	log, err := yosys(ctx, o.Timeout, script)
	if m := noMapRE.FindStringSubmatch(log); err != nil && m != nil {
		// Yosys stops on a ram_style it cannot honour (block RAM with an
		// asynchronous read): a fault of the block, not of the gate.
		r.Problems = append(r.Problems, fmt.Sprintf("memory %s cannot be mapped as its ram_style asks (synth_xilinx: no valid mapping)", strings.TrimPrefix(m[1], top+".")))
		return nil
	}
	if err != nil {
		return fmt.Errorf("synth_xilinx %s: %v", top, err)
	}
	r.Mapping = "xilinx"
	r.LUTs, r.FFs = 0, 0
	for _, l := range lines(stat) {
		m := cellRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		switch c := m[1]; {
		case strings.HasPrefix(c, "LUT"), strings.HasPrefix(c, "RAM32"), strings.HasPrefix(c, "RAM64"),
			strings.HasPrefix(c, "RAM128"), strings.HasPrefix(c, "RAM256"), strings.HasPrefix(c, "SRL"):
			r.LUTs += n
		case strings.HasPrefix(c, "FD"):
			r.FFs += n
		case strings.HasPrefix(c, "RAMB36"):
			r.BRAMs += 2 * n // counted in 18 Kb halves
		case strings.HasPrefix(c, "RAMB18"):
			r.BRAMs += n
		case strings.HasPrefix(c, "DSP48"):
			r.DSPs += n
		}
	}
	got := map[string]string{}
	for _, m := range mapMemRE.FindAllStringSubmatch(log, -1) {
		kind := "lutram"
		if strings.Contains(m[2], "BLOCKRAM") || strings.Contains(m[2], "URAM") {
			kind = "block"
		}
		got[m[1]] = kind
	}
	want := map[string]string{}
	for _, s := range []string{"block", "distributed", "registers"} {
		file := map[string]string{"block": "mem_block.txt", "distributed": "mem_dist.txt", "registers": "mem_regs.txt"}[s]
		for _, n := range lines(filepath.Join(work, file)) {
			if n = strings.TrimSpace(n); n != "" {
				want[n] = s
			}
		}
	}
	dims := memDims(filepath.Join(work, "mems.txt"))
	for _, sel := range lines(filepath.Join(work, "mem_all.txt")) {
		sel = strings.TrimSpace(sel)
		if sel == "" {
			continue
		}
		// select -list names top/cell; the mapper's log names top.cell.
		name := strings.Replace(sel, "/", ".", 1)
		m := Memory{Name: strings.TrimPrefix(name, top+"."), Want: want[sel], Got: got[name]}
		if m.Got == "" {
			m.Got = "registers"
		}
		d := dims[strings.TrimPrefix(sel, top+"/")]
		m.Depth, m.Width = d[0], d[1]
		r.Memories = append(r.Memories, m)
		if m.Want == "block" && m.Got != "block" {
			r.Problems = append(r.Problems, fmt.Sprintf("memory %s meant for block RAM became %s", m.Name, m.Got))
		}
	}
	return nil
}

var (
	dumpCellRE  = regexp.MustCompile(`^\s*cell \$mem_v2 (\S+)`)
	dumpParamRE = regexp.MustCompile(`^\s*parameter \\(SIZE|WIDTH) (\d+)`)
)

// memDims reads depth and width per memory cell from an RTLIL dump.
func memDims(path string) map[string][2]int {
	dims := map[string][2]int{}
	cur := ""
	for _, l := range lines(path) {
		if m := dumpCellRE.FindStringSubmatch(l); m != nil {
			cur = strings.TrimPrefix(m[1], `\`)
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

// intel maps the block with synth_intel_alm.
func intel(ctx context.Context, o Options, read, top, work string, r *Result) error {
	stat := filepath.Join(work, "istat.txt")
	if _, err := yosys(ctx, o.Timeout, read+"; synth_intel_alm -top "+top+" -noiopad -noclkbuf; tee -o "+stat+" stat"); err != nil {
		return fmt.Errorf("synth_intel_alm %s: %v", top, err)
	}
	in := &Intel{}
	for _, l := range lines(stat) {
		m := cellRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		switch c := m[1]; {
		case strings.HasPrefix(c, "MISTRAL_ALUT"), c == "MISTRAL_NOT":
			in.ALUTs += n
		case c == "MISTRAL_FF":
			in.FFs += n
		case c == "MISTRAL_M10K":
			in.M10Ks += n
		case c == "MISTRAL_MLAB":
			in.MLABs += n
		case strings.HasPrefix(c, "MISTRAL_MUL"):
			in.DSPs += n
		}
	}
	r.Intel = in
	return nil
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

// ice40 maps the block to an iCE40 and routes it. The vendor RAM styles the
// generators ask for mean nothing on an iCE40, so they are dropped first.
func ice40(ctx context.Context, o Options, read, top, work string) (float64, string) {
	js := filepath.Join(work, "ice40.json")
	if _, err := yosys(ctx, o.Timeout, read+"; setattr -unset ram_style m:*; synth_ice40 -top "+top+" -json "+js); err != nil {
		return 0, "synth_ice40 failed"
	}
	clock := o.ClockMHz
	if clock <= 0 {
		clock = 180
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "nextpnr-ice40", "--hx8k", "--package", "ct256", "--json", js,
		"--freq", strconv.FormatFloat(clock, 'f', 1, 64), "--timing-allow-fail", "--seed", "1").CombinedOutput()
	m := fmaxRE.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return 0, "does not fit an iCE40 HX8K"
	}
	// The last report is the one after routing.
	f, _ := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	return f, ""
}

func yosys(ctx context.Context, timeout time.Duration, script string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "yosys", "-p", script)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return out.String(), fmt.Errorf("yosys did not finish within %s", timeout)
	}
	if err != nil {
		return out.String(), fmt.Errorf("yosys: %v: %s", err, tail(out.String()))
	}
	return out.String(), nil
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
		if r.Intel != nil {
			in = fmt.Sprintf("%d / %d / %d / %d", r.Intel.ALUTs, r.Intel.FFs, r.Intel.M10Ks, r.Intel.DSPs)
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
