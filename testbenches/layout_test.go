// Package testbenches holds the regression scenarios and the project-wide
// rules their results depend on.
package testbenches

import (
	"os/exec"
	"strings"
	"testing"
)

// A check that shares code with what it checks proves nothing: golden/
// never imports hdlgen/, and hdlgen/ never imports golden/.
func TestGoldenAndGeneratorAreIndependent(t *testing.T) {
	for _, tc := range []struct{ pkgs, forbidden string }{
		{"../golden/...", "/hdlgen"},
		{"../hdlgen/...", "/golden"},
	} {
		out, err := exec.Command("go", "list", "-deps", tc.pkgs).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", tc.pkgs, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 3 {
			t.Fatalf("go list %s found only %v", tc.pkgs, deps)
		}
		for _, d := range deps {
			if strings.HasPrefix(d, "github.com/kvdirect/kvd") && strings.Contains(d, tc.forbidden) {
				t.Errorf("%s depends on %s", tc.pkgs, d)
			}
		}
	}
}
