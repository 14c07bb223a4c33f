package lint

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A tree with real problems must make every tool complain: a lint that
// cannot fail proves nothing.
func TestEachToolCatchesProblems(t *testing.T) {
	dir := t.TempDir()
	// Width truncation (Verilator), an implicit net (Icarus -Wall, Verilator),
	// and a net driven twice (Yosys check).
	src := "`default_nettype none\n" +
		"module broken(input wire clk, input wire [7:0] a, output wire [3:0] y, output wire z);\n" +
		"  assign y = a;\n" +
		"  assign z = a[0];\n" +
		"  assign z = a[1];\n" +
		"  reg r;\n" +
		"  always @(posedge clk) r <= 1'b0;\n" +
		"endmodule\n"
	if err := os.WriteFile(filepath.Join(dir, "broken.v"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range []Result{Verilator(ctx, dir, files), Yosys(ctx, files)} {
		if r.OK() {
			t.Errorf("%s passed a broken tree", r.Tool)
		}
	}
	icarusSrc := "module imp(input wire a, output wire y);\n  assign y = b;\n  assign b = a;\nendmodule\n"
	d2 := t.TempDir()
	os.WriteFile(filepath.Join(d2, "imp.v"), []byte(icarusSrc), 0o644)
	f2, _ := Files(d2)
	if r := Icarus(ctx, f2); r.OK() {
		t.Errorf("iverilog passed an implicit net")
	}
}

func TestMissingDirIsOneClearError(t *testing.T) {
	_, err := All(context.Background(), "/no/such/dir")
	if err == nil || err.Error() != "lint /no/such/dir: no such file or directory" {
		t.Fatalf("got %v", err)
	}
}
