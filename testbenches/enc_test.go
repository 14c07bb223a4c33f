package testbenches

import (
	"context"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/encoder"
	"github.com/kvdirect/kvd/golden/model"
)

// The generated kvd_enc and golden/encoder's model announce the same ports.
func TestEncoderPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_enc", encoder.Ports)
}

// runEnc co-simulates kvd_enc for c until packets have been received and
// checked, and checks that every coverage point was hit.
func runEnc(t *testing.T, c config.Config, seed, packets uint64) {
	t.Helper()
	bin := buildModel(t, c, "kvd_enc", nil)
	m, err := encoder.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stim, err := newEncStim(c, seed, packets)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, m, stim, cosim.Options{HangCycles: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if stim.packets < packets {
		t.Fatalf("%d packets checked against wire.SplitResponse/EncodeResponse, want %d", stim.packets, packets)
	}
	pts := stim.Points()
	for _, p := range encPoints {
		if pts[p] == 0 {
			t.Errorf("coverage point %s not hit", p)
		}
	}
	t.Logf("%s: %d requests, %d packets checked byte for byte, %d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		c.Name, stim.nreq, stim.packets, res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
	t.Logf("coverage %v", pts)
	noLeftovers(t, bin)
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
		l := model.MustLayout(m.Ports())
		in, out := make([]uint64, l.InWords), make([]uint64, l.OutWords)
		var prev []uint64
		m.Reset()
		for cyc := uint64(0); cyc < 400_000; cyc++ {
			clear(in)
			if _, err := stim.Next(cyc, prev, in); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := m.Step(in, out); err != nil {
				t.Fatalf("%s: golden model at cycle %d: %v", name, cyc, err)
			}
			prev = out
		}
		pts := stim.Points()
		for _, p := range encPoints {
			if pts[p] == 0 {
				t.Errorf("%s: coverage point %s not hit in 400 k cycles", name, p)
			}
		}
		t.Logf("%s: %d requests, %d packets checked; %v", name, stim.nreq, stim.packets, pts)
	}
}
