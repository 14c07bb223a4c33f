package testbenches

import (
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/encoder"
)

// The generated kvd_enc and golden/encoder's model announce the same ports.
func TestEncoderPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_enc", encoder.Ports)
}

// runEnc co-simulates kvd_enc for c until packets have been received and
// checked byte for byte, with every coverage point hit.
func runEnc(t *testing.T, c config.Config, seed, packets uint64) {
	t.Helper()
	m, err := encoder.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newEncStim(c, seed, packets)
	if err != nil {
		t.Fatal(err)
	}
	res := cosimCovered(t, c, "kvd_enc", m, stim, encPoints)
	if stim.packets < packets {
		t.Fatalf("%d packets checked against wire.SplitResponse/EncodeResponse, want %d", stim.packets, packets)
	}
	t.Logf("%s: %d requests, %d packets checked byte for byte, %d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		c.Name, stim.nreq, stim.packets, res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
}

// Requests of every shape through the generated encoder: every packet is
// the client library's, byte for byte. make test runs 30 k packets;
// KVD_ENC_PACKETS raises it.
func TestEncoderCosim(t *testing.T) {
	runEnc(t, preset(t, "sim"), 12, requestBudget(t, "KVD_ENC_PACKETS", 30_000))
}

// The scenario's stimulus and checks against the golden model alone: its
// packets are wire's, byte for byte.
func TestEncStimulusAgreesWithGolden(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		c := preset(t, name)
		m, err := encoder.New(c)
		if err != nil {
			t.Fatal(err)
		}
		stim, err := newEncStim(c, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		driveGolden(t, m, stim, 400_000, encPoints)
		t.Logf("%s: %d requests, %d packets checked; %v", name, stim.nreq, stim.packets, stim.Points())
	}
}
