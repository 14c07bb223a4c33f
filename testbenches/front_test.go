package testbenches

import (
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/front"
)

// The generated kvd_front and golden/front's model announce the same ports.
func TestFrontPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_front", front.Ports)
}

// runFront co-simulates kvd_front for c until response packets have been
// received and checked against wire.Respond, with every coverage point hit.
func runFront(t *testing.T, c config.Config, seed, packets uint64) {
	t.Helper()
	m, err := front.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newFrontStim(c, seed, packets)
	if err != nil {
		t.Fatal(err)
	}
	res := cosimCovered(t, c, "kvd_front", m, stim, frontPoints)
	if stim.packets < packets {
		t.Fatalf("%d response packets checked against wire.Respond, want %d", stim.packets, packets)
	}
	t.Logf("%s: %d request frames, %d response packets checked byte for byte against wire.Respond, %d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		c.Name, stim.nframes, stim.packets, res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
}

// Packets in, packets out through the generated front end, good and
// malformed ones, with the pipeline completing out of order (issue 8: every
// bad packet gets its error response, every good one its normal response).
// make test runs 20 k packets; KVD_FRONT_PACKETS raises it.
func TestFrontCosim(t *testing.T) {
	runFront(t, preset(t, "sim"), 31, requestBudget(t, "KVD_FRONT_PACKETS", 20_000))
}

func TestFrontCosimPaper(t *testing.T) {
	runFront(t, preset(t, "paper"), 32, 5_000)
}
