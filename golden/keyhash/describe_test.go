package keyhash

import (
	"fmt"
	"testing"
)

// DescribeState lists the pipeline oldest first.
func TestDescribeState(t *testing.T) {
	d := newDriver(t, preset(t, "sim"), 3)
	if got, want := d.m.DescribeState(), "pipeline [- - -]"; got != want {
		t.Fatalf("after reset: %q, want %q", got, want)
	}
	d.step(t, true)
	d.step(t, false)
	if got, want := d.m.DescribeState(), fmt.Sprintf("pipeline [- tag %d -]", d.hist[0].tag); got != want {
		t.Fatalf("after a key and a bubble: %q, want %q", got, want)
	}
}
