// Package design assembles every generated module of a configuration and
// writes them as a Verilog tree: one file per module, plus a file list.
package design

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/decoder"
	"github.com/kvdirect/kvd/hdlgen/encoder"
	"github.com/kvdirect/kvd/hdlgen/fifo"
	"github.com/kvdirect/kvd/hdlgen/front"
	"github.com/kvdirect/kvd/hdlgen/glue"
	"github.com/kvdirect/kvd/hdlgen/htengine"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/keyhash"
	"github.com/kvdirect/kvd/hdlgen/lambda"
	"github.com/kvdirect/kvd/hdlgen/memsys"
	"github.com/kvdirect/kvd/hdlgen/rob"
	"github.com/kvdirect/kvd/hdlgen/rs"
	"github.com/kvdirect/kvd/hdlgen/slab"
	"github.com/kvdirect/kvd/hdlgen/top"
	"github.com/kvdirect/kvd/hdlgen/vector"
	"github.com/kvdirect/kvd/hdlgen/verilog"
	"github.com/kvdirect/kvd/version"
)

// FileList is the name of the file list written beside the modules.
const FileList = "kvd.f"

// FIFOs are the FIFO specialisations every configuration carries: a
// distributed-RAM one and a block-RAM one wider than 64 bits, so both memory
// styles and multi-word ports are exercised.
var FIFOs = [][2]int{{64, 16}, {72, 64}}

// Modules builds every top-level block of cfg, in a fixed order: the
// blocks, then the processor's integration (kvd_glue, kvd_top).
func Modules(cfg config.Config) ([]*ir.Module, error) {
	mods, err := Blocks(cfg)
	if err != nil {
		return nil, err
	}
	gl, err := glue.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, gl)
	proc, err := top.Generate(cfg)
	if err != nil {
		return nil, err
	}
	return append(mods, proc), nil
}

// Integration reports whether name is one of the modules that only a whole
// processor needs. A block's co-simulation builds without them, so a
// configuration that exercises one block at sizes no processor can have
// (e.g. λs at 13 bits, narrower than the vector elements the glue must
// carry, processor.md §5) still builds that block.
func Integration(name string) bool { return name == glue.Name || name == top.Name }

// Blocks builds the blocks of cfg without the processor's integration.
func Blocks(cfg config.Config) ([]*ir.Module, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var mods []*ir.Module
	kh, err := keyhash.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, kh)
	for _, f := range FIFOs {
		m, err := fifo.Generate(f[0], f[1])
		if err != nil {
			return nil, err
		}
		mods = append(mods, m)
	}
	atomic, err := lambda.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, atomic)
	vec, err := vector.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, vec)
	station, err := rs.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, station)
	alloc, err := slab.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, alloc)
	mem, err := memsys.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, mem)
	ht, err := htengine.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, ht)
	dec, err := decoder.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, dec)
	enc, err := encoder.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, enc)
	buf, err := rob.Generate(cfg)
	if err != nil {
		return nil, err
	}
	mods = append(mods, buf)
	fe, err := front.Generate(cfg)
	if err != nil {
		return nil, err
	}
	return append(mods, fe), nil
}

// Module returns the named top-level block of cfg.
func Module(cfg config.Config, name string) (*ir.Module, error) {
	build := Blocks
	if Integration(name) {
		build = Modules
	}
	mods, err := build(cfg)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range mods {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return nil, fmt.Errorf("no block %q in this design (blocks: %s)", name, strings.Join(names, ", "))
}

// Header is the file header for cfg.
func Header(cfg config.Config) verilog.Header {
	return verilog.Header{
		Generator:  "kvd " + version.Version,
		ConfigName: filepath.Base(cfg.Name),
		ConfigHash: cfg.Hash(),
	}
}

// File is one generated file.
type File struct {
	Name string
	Text []byte
}

// Files emits mods (and everything they instantiate) as files, sorted by
// name, followed by the file list.
func Files(cfg config.Config, mods []*ir.Module) ([]File, error) {
	seen := map[string]bool{}
	var files []File
	for _, top := range mods {
		for _, m := range top.Submodules() {
			if seen[m.Name] {
				continue
			}
			seen[m.Name] = true
			text, err := verilog.Emit(m, Header(cfg))
			if err != nil {
				return nil, err
			}
			files = append(files, File{Name: m.Name + ".v", Text: text})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var list bytes.Buffer
	for _, f := range files {
		list.WriteString(f.Name + "\n")
	}
	return append(files, File{Name: FileList, Text: list.Bytes()}), nil
}

// Write generates cfg into dir, removing Verilog files of modules that no
// longer exist so the tree is exactly the design.
func Write(cfg config.Config, dir string) ([]File, error) {
	mods, err := Modules(cfg)
	if err != nil {
		return nil, err
	}
	return write(cfg, dir, mods)
}

// WriteFor writes what simulating top needs: every module when top is the
// processor's integration, else the blocks alone.
func WriteFor(cfg config.Config, dir, top string) ([]File, error) {
	if Integration(top) {
		return Write(cfg, dir)
	}
	mods, err := Blocks(cfg)
	if err != nil {
		return nil, err
	}
	return write(cfg, dir, mods)
}

func write(cfg config.Config, dir string, mods []*ir.Module) ([]File, error) {
	files, err := Files(cfg, mods)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, f := range files {
		keep[f.Name] = true
		path := filepath.Join(dir, f.Name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.Text) {
			continue // leave mtimes alone so make and caches see no change
		}
		if err := os.WriteFile(path, f.Text, 0o644); err != nil {
			return nil, err
		}
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "*.v"))
	for _, p := range stale {
		if !keep[filepath.Base(p)] {
			if err := os.Remove(p); err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}
