// Package synth is the synthesis gate: it runs Yosys over each block of a
// generated tree and reports resources, the register-to-register logic depth
// in 6-input LUT levels (the timing proxy), block-RAM inference, and the
// structural faults an FPGA flow would reject: latches, multiply-driven nets
// and combinational loops.
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
	"time"
)

// Result is one block's row.
type Result struct {
	Block     string `json:"block"`
	LUTs      int    `json:"luts"`
	FFs       int    `json:"ffs"`
	BRAMs     int    `json:"brams"`
	DSPs      int    `json:"dsps"`
	LUTLevels int    `json:"lut_levels"`
	// ICE40MHz is nextpnr-ice40's post-route Fmax on an HX8K (0: not run,
	// or the block does not fit the device); ICE40Note says which.
	ICE40MHz  float64  `json:"ice40_fmax_mhz,omitempty"`
	ICE40Note string   `json:"ice40_note,omitempty"`
	Problems  []string `json:"problems,omitempty"`
	Seconds   float64  `json:"seconds"`
}

// OK reports whether the block passed the structural checks.
func (r Result) OK() bool { return len(r.Problems) == 0 }

// Options tune the gate.
type Options struct {
	// Vendor adds a Xilinx mapping (synth_xilinx) to count block RAMs and
	// DSPs; the generic mapping cannot tell block RAM from flip-flops.
	Vendor bool
	// Timeout bounds one block's Yosys run.
	Timeout time.Duration
	// WantBRAM makes a block without block RAM fail the gate: its
	// generator asked for block RAM (needs Vendor).
	WantBRAM bool
	// ICE40 places and routes the block on an iCE40 HX8K with nextpnr for
	// a real Fmax (blocks too big for it are noted, not failed).
	ICE40 bool
	// ClockMHz is the target the iCE40 run reports against.
	ClockMHz float64
}

// Blocks lists the top-level modules of a tree: modules no other file of
// the tree instantiates are blocks in their own right, and so is every
// generated module (the gate covers each).
func Blocks(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.v"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("synth %s: no .v files", dir)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".v"))
	}
	sort.Strings(names)
	return names, nil
}

var (
	ltpRE   = regexp.MustCompile(`Longest topological path in \S+ \(length=(\d+)\)`)
	cellRE  = regexp.MustCompile(`^\s+(\S+)\s+(\d+)\s*$`)
	warnRE  = regexp.MustCompile(`(?m)^Warning: (.*)$`)
	loopRE  = regexp.MustCompile(`(?i)logic loop|combinational loop|Detected loop`)
	drvRE   = regexp.MustCompile(`(?i)multiple conflicting drivers|is used but has no driver|driver conflict`)
	latchRE = regexp.MustCompile(`\$(_DLATCH|dlatch|adlatch|_SR_|sr)`)
)

// Block synthesises one module of dir.
func Block(ctx context.Context, dir, top string, o Options) (Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Minute
	}
	start := time.Now()
	r := Result{Block: top}
	files, err := filepath.Glob(filepath.Join(dir, "*.v"))
	if err != nil || len(files) == 0 {
		return r, fmt.Errorf("synth %s: no .v files", dir)
	}
	sort.Strings(files)
	work, err := os.MkdirTemp("", "kvd-synth")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(work)
	read := "read_verilog -noautowire " + quote(files)
	script := strings.Join([]string{
		read,
		"hierarchy -check -top " + top,
		"proc",
		// Latches and structural faults show before optimisation hides them.
		"tee -o " + filepath.Join(work, "cells.txt") + " stat",
		"check",
		"synth -flatten -top " + top + " -lut 6",
		"tee -o " + filepath.Join(work, "stat.txt") + " stat",
		"tee -o " + filepath.Join(work, "ltp.txt") + " ltp -noff",
	}, "; ")
	log, err := yosys(ctx, o.Timeout, script)
	if err != nil {
		return r, fmt.Errorf("synth %s: %v", top, err)
	}
	cells, _ := os.ReadFile(filepath.Join(work, "cells.txt"))
	for _, l := range strings.Split(string(cells), "\n") {
		if m := cellRE.FindStringSubmatch(l); m != nil && latchRE.MatchString(m[1]) {
			r.Problems = append(r.Problems, fmt.Sprintf("%s latch cells (%s)", m[2], m[1]))
		}
	}
	for _, w := range warnRE.FindAllStringSubmatch(log, -1) {
		switch {
		case loopRE.MatchString(w[1]):
			r.Problems = append(r.Problems, "combinational loop: "+w[1])
		case drvRE.MatchString(w[1]):
			r.Problems = append(r.Problems, "driver problem: "+w[1])
		}
	}
	stat, _ := os.ReadFile(filepath.Join(work, "stat.txt"))
	for _, l := range strings.Split(string(stat), "\n") {
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
	ltp, _ := os.ReadFile(filepath.Join(work, "ltp.txt"))
	if m := ltpRE.FindSubmatch(ltp); m != nil {
		r.LUTLevels, _ = strconv.Atoi(string(m[1]))
	} else if loopRE.Match(ltp) {
		r.Problems = append(r.Problems, "combinational loop (ltp)")
	}
	if o.Vendor {
		vs := strings.Join([]string{read, "synth_xilinx -flatten -top " + top, "tee -o " + filepath.Join(work, "xstat.txt") + " stat"}, "; ")
		if _, err := yosys(ctx, o.Timeout, vs); err != nil {
			return r, fmt.Errorf("synth_xilinx %s: %v", top, err)
		}
		xs, _ := os.ReadFile(filepath.Join(work, "xstat.txt"))
		// With a vendor mapping its LUT and flip-flop counts replace the
		// generic ones, which count memories as flip-flops.
		r.LUTs, r.FFs = 0, 0
		for _, l := range strings.Split(string(xs), "\n") {
			m := cellRE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(m[2])
			switch {
			case strings.HasPrefix(m[1], "LUT") || strings.HasPrefix(m[1], "RAM32") || strings.HasPrefix(m[1], "RAM64") || strings.HasPrefix(m[1], "RAM128") || strings.HasPrefix(m[1], "RAM256"):
				r.LUTs += n
			case strings.HasPrefix(m[1], "FD"):
				r.FFs += n
			case strings.HasPrefix(m[1], "RAMB36"):
				r.BRAMs += 2 * n // counted in 18 Kb halves
			case strings.HasPrefix(m[1], "RAMB18"):
				r.BRAMs += n
			case strings.HasPrefix(m[1], "DSP48"):
				r.DSPs += n
			}
		}
	}
	if o.ICE40 {
		r.ICE40MHz, r.ICE40Note = ice40(ctx, o, read, top, work)
	}
	if o.WantBRAM && o.Vendor && r.BRAMs == 0 {
		r.Problems = append(r.Problems, "memories meant for block RAM were not inferred as block RAM")
	}
	r.Problems = uniq(r.Problems)
	r.Seconds = time.Since(start).Seconds()
	return r, nil
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
	fmt.Fprintf(&b, "| block | LUTs | FFs | BRAM (18 Kb) | DSPs | LUT levels | iCE40 Fmax | checks |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		check := "ok"
		if !r.OK() {
			check = strings.Join(r.Problems, "; ")
		}
		lv := strconv.Itoa(r.LUTLevels)
		if r.LUTLevels > maxLevels {
			lv += " (over " + strconv.Itoa(maxLevels) + ")"
		}
		fmax := "-"
		switch {
		case r.ICE40MHz > 0:
			fmax = fmt.Sprintf("%.1f MHz", r.ICE40MHz)
		case r.ICE40Note != "":
			fmax = r.ICE40Note
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s |\n", r.Block, r.LUTs, r.FFs, r.BRAMs, r.DSPs, lv, fmax, check)
	}
	return b.String()
}
