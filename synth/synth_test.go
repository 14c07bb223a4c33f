package synth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/design"
)

func TestSmallBlocks(t *testing.T) {
	c, _ := config.Preset("sim")
	dir := t.TempDir()
	if _, err := design.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kvd_keyhash", "kvd_fifo_w72_d64"} {
		r, err := Block(context.Background(), dir, b, Options{Vendor: true, ICE40: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", r)
		if !r.OK() || r.LUTs == 0 || r.FFs == 0 || r.LUTLevels == 0 || (r.ICE40MHz == 0 && r.ICE40Note == "") {
			t.Errorf("%s: %+v", b, r)
		}
		// The key-hash unit is built to 3 levels a stage (docs/microarch.md
		// §2.3); the FIFO deeper than 32 must map to block RAM.
		if b == "kvd_keyhash" && r.LUTLevels > 6 {
			t.Errorf("kvd_keyhash: %d LUT levels, designed for at most 6", r.LUTLevels)
		}
		if b == "kvd_fifo_w72_d64" && r.BRAMs == 0 {
			t.Errorf("kvd_fifo_w72_d64: no block RAM inferred")
		}
	}
}

// A latch and a combinational loop must fail the gate with the block's name.
func TestGateCatchesLatchAndLoop(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "latchy.v"), []byte(
		"module latchy(input wire en, input wire d, output reg q);\n  always @* if (en) q = d;\nendmodule\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "loopy.v"), []byte(
		"module loopy(input wire a, output wire y);\n  wire b, c;\n  assign b = a ^ c;\n  assign c = ~b;\n  assign y = c;\nendmodule\n"), 0o644)
	for _, b := range []string{"latchy", "loopy"} {
		r, err := Block(context.Background(), dir, b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() {
			t.Errorf("%s passed the gate: %+v", b, r)
		}
		if !strings.Contains(Table([]Result{r}, 6), b) {
			t.Errorf("the table does not name %s", b)
		}
		t.Logf("%s: %v", b, r.Problems)
	}
}
