// Package handoff writes the bundle an FPGA engineer takes into Vivado or
// Quartus: the generated RTL, a file list, a FuseSoC core, clock
// constraints, synthesis scripts for both vendors, and a manifest tying it
// all to the generator, the configuration, the tool versions and the
// regression results that this exact RTL passed. The archive is
// reproducible: the same inputs give the same bytes.
package handoff

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/design"
	"github.com/kvdirect/kvd/synth"
	"github.com/kvdirect/kvd/version"
)

// Top is the module the scripts synthesise: the whole processor
// (docs/microarch/processor.md §5). Every other module in rtl/ is one of its
// blocks, and each still goes through the gate on its own.
const Top = "kvd_top"

// Regression is one regression result recorded in the manifest.
type Regression struct {
	Name   string `json:"name"`
	Seed   uint64 `json:"seed"`
	Cycles uint64 `json:"cycles"`
	Passed bool   `json:"passed"`
}

// Lint is one lint tool's verdict on the bundle's RTL.
type Lint struct {
	Tool     string   `json:"tool"`
	Files    int      `json:"files"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error,omitempty"`
}

// Inputs is everything the bundle records besides the generated files.
type Inputs struct {
	Config      config.Config
	Top         string
	Verilator   string
	Yosys       string
	Regressions []Regression
	Lint        []Lint
	// Gate is the synthesis gate's rows; their run times are left out of
	// the manifest, which must not change from run to run.
	Gate []synth.Result
}

// Manifest is manifest.json.
type Manifest struct {
	Generator   string            `json:"generator"`
	Config      string            `json:"config"`
	ConfigHash  string            `json:"config_hash"`
	ConfigJSON  json.RawMessage   `json:"config_json"`
	ClockMHz    float64           `json:"clock_mhz"`
	Top         string            `json:"top"`
	Verilator   string            `json:"verilator"`
	Yosys       string            `json:"yosys"`
	Files       map[string]string `json:"files"` // path -> sha256
	Regressions []Regression      `json:"regressions"`
	Lint        []Lint            `json:"lint"`
	Gate        []synth.Result    `json:"synthesis_gate"`
}

// File is one bundle member.
type File struct {
	Path string
	Data []byte
}

// Build assembles the bundle's files in a fixed order.
func Build(in Inputs) ([]File, error) {
	c := in.Config
	mods, err := design.Modules(c)
	if err != nil {
		return nil, err
	}
	gen, err := design.Files(c, mods)
	if err != nil {
		return nil, err
	}
	name := "kvd_" + filepath.Base(c.Name)
	var files []File
	var vfiles []string
	for _, f := range gen {
		if f.Name == design.FileList {
			continue
		}
		files = append(files, File{Path: "rtl/" + f.Name, Data: f.Text})
		vfiles = append(vfiles, "rtl/"+f.Name)
	}
	d := tmplData{Name: name, Top: in.Top, Files: vfiles, ClockMHz: c.ClockMHz,
		PeriodNs: fmt.Sprintf("%.3f", 1000/c.ClockMHz), Generator: "kvd " + version.Version, ConfigHash: c.Hash()}
	for _, t := range []struct {
		path string
		tmpl *template.Template
	}{
		{name + ".f", fileList},
		{name + ".core", coreFile},
		{"constraints/" + name + ".sdc", sdcFile},
		{"constraints/" + name + ".xdc", xdcFile},
		{"scripts/vivado.tcl", vivadoTcl},
		{"scripts/quartus.tcl", quartusTcl},
		{"README.md", readme},
	} {
		var b bytes.Buffer
		if err := t.tmpl.Execute(&b, d); err != nil {
			return nil, err
		}
		files = append(files, File{Path: t.path, Data: b.Bytes()})
	}
	m := Manifest{
		Generator: "kvd " + version.Version, Config: filepath.Base(c.Name), ConfigHash: c.Hash(),
		ConfigJSON: c.JSON(), ClockMHz: c.ClockMHz, Top: in.Top, Verilator: in.Verilator, Yosys: in.Yosys,
		Files: map[string]string{}, Regressions: in.Regressions, Lint: in.Lint,
	}
	for _, r := range in.Gate {
		r.Seconds = 0
		m.Gate = append(m.Gate, r)
	}
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		m.Files[f.Path] = hex.EncodeToString(sum[:])
	}
	mj, err := json.MarshalIndent(m, "", "  ") // map keys are sorted: stable
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: "manifest.json", Data: append(mj, '\n')})
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// Archive packs files into a tar.gz with fixed order, timestamps, owners
// and modes, so two runs give identical bytes.
func Archive(root string, files []File) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// The header's modification time stays zero and its OS "unknown", so
	// neither the time nor the host leaks into the bytes.
	gz.Header.OS = 255
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{
			Name: root + "/" + f.Path, Mode: 0o644, Size: int64(len(f.Data)),
			Typeflag: tar.TypeReg, Format: tar.FormatUSTAR,
		}
		if strings.HasSuffix(f.Path, ".tcl") {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write puts the bundle's files under dir/root and the archive beside them,
// returning the archive's path and sha256.
func Write(dir, root string, files []File) (string, string, error) {
	for _, f := range files {
		p := filepath.Join(dir, root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return "", "", err
		}
	}
	data, err := Archive(root, files)
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, root+".tar.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:]), nil
}

type tmplData struct {
	Name, Top, PeriodNs, Generator, ConfigHash string
	Files                                      []string
	ClockMHz                                   float64
}

var fileList = template.Must(template.New("f").Parse(`{{range .Files}}{{.}}
{{end}}`))

// coreFile is a FuseSoC CAPI2 core, so FuseSoC/Edalize can drive either
// vendor's tools.
var coreFile = template.Must(template.New("core").Parse(`CAPI=2:
# Generated by {{.Generator}} (configuration hash {{.ConfigHash}}); do not edit.
name: kvdirect:kvd:{{.Name}}:0
description: KV-Direct key-value processor blocks generated by kvd

filesets:
  rtl:
    files:
{{- range .Files}}
      - {{.}}
{{- end}}
    file_type: verilogSource
  vivado_constraints:
    files:
      - constraints/{{.Name}}.xdc
    file_type: xdc
  quartus_constraints:
    files:
      - constraints/{{.Name}}.sdc
    file_type: SDC

targets:
  default:
    filesets: [rtl]
    toplevel: {{.Top}}
  vivado:
    default_tool: vivado
    filesets: [rtl, vivado_constraints]
    toplevel: {{.Top}}
    tools:
      vivado:
        part: xcvu9p-flga2104-2L-e
  quartus:
    default_tool: quartus
    filesets: [rtl, quartus_constraints]
    toplevel: {{.Top}}
    tools:
      quartus:
        family: Stratix V
        device: 5SGXEA7N2F45C2
`))

var sdcFile = template.Must(template.New("sdc").Parse(`# Generated by {{.Generator}} (configuration hash {{.ConfigHash}}); do not edit.
# {{.ClockMHz}} MHz, the configuration's clock_mhz.
create_clock -name clk -period {{.PeriodNs}} [get_ports clk]
derive_clock_uncertainty
`))

var xdcFile = template.Must(template.New("xdc").Parse(`# Generated by {{.Generator}} (configuration hash {{.ConfigHash}}); do not edit.
# {{.ClockMHz}} MHz, the configuration's clock_mhz.
create_clock -name clk -period {{.PeriodNs}} [get_ports clk]
`))

var vivadoTcl = template.Must(template.New("vivado").Parse(`# Generated by {{.Generator}} (configuration hash {{.ConfigHash}}); do not edit.
# Non-project synthesis and implementation:
#   vivado -mode batch -source scripts/vivado.tcl [-tclargs PART]
set part [expr {[llength $argv] > 0 ? [lindex $argv 0] : "xcvu9p-flga2104-2L-e"}]
set here [file normalize [file dirname [info script]]/..]
{{- range .Files}}
read_verilog $here/{{.}}
{{- end}}
read_xdc $here/constraints/{{.Name}}.xdc
synth_design -top {{.Top}} -part $part
report_utilization -file $here/out/utilization_synth.rpt
opt_design
place_design
route_design
report_timing_summary -file $here/out/timing.rpt
report_utilization -file $here/out/utilization.rpt
`))

var quartusTcl = template.Must(template.New("quartus").Parse(`# Generated by {{.Generator}} (configuration hash {{.ConfigHash}}); do not edit.
#   quartus_sh -t scripts/quartus.tcl
load_package flow
set here [file normalize [file dirname [info script]]/..]
project_new -overwrite {{.Name}}
set_global_assignment -name FAMILY "Stratix V"
set_global_assignment -name DEVICE 5SGXEA7N2F45C2
set_global_assignment -name TOP_LEVEL_ENTITY {{.Top}}
{{- range .Files}}
set_global_assignment -name VERILOG_FILE $here/{{.}}
{{- end}}
set_global_assignment -name SDC_FILE $here/constraints/{{.Name}}.sdc
execute_flow -compile
project_close
`))

var readme = template.Must(template.New("readme").Parse(`# {{.Name}}: handoff bundle

Generated by {{.Generator}} from configuration hash {{.ConfigHash}}; every
file's sha256 is in manifest.json, with the tool versions, the regression
runs this exact RTL passed, and the synthesis gate's table.

- rtl/: the Verilog-2005 sources ({{.Name}}.f lists them in order)
- {{.Name}}.core: FuseSoC CAPI2 core (targets vivado and quartus)
- constraints/: the {{.ClockMHz}} MHz clock as SDC (Quartus) and XDC (Vivado)
- scripts/vivado.tcl: vivado -mode batch -source scripts/vivado.tcl
- scripts/quartus.tcl: quartus_sh -t scripts/quartus.tcl

The scripts synthesise {{.Top}}, the whole processor: packets in on rx_*,
out on tx_*, host memory on the PCIe link ports l<k>_*, on-board DRAM on
dram_* (docs/microarch/processor.md §5 in the kvd repository). Every other
module in rtl/ is one of its blocks.
`))
