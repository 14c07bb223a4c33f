package testbenches

import (
	"context"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/memsys"
	"github.com/kvdirect/kvd/golden/model"
)

// The generated kvd_memsys and golden/memsys's model announce the same ports.
func TestMemsysPortsMatchGolden(t *testing.T) {
	portsMatchGolden(t, "kvd_memsys", func(c config.Config) []model.Port { return memsys.Ports(memsys.DefaultParams(c)) })
}

// All clients at full load: the RTL matches the golden model every cycle,
// every read beat matches the reference memory, and after the final flush
// host memory equals the reference.
func TestMemsysCosimRandom(t *testing.T) {
	stim := memsysCosim(t, preset(t, "sim"), 11, requestBudget(t, "KVD_MEMSYS_REQUESTS", 400_000))
	t.Logf("%d error beats; coverage %v", len(stim.d.Errs), stim.Points())
	for _, p := range memsysPoints {
		if stim.Points()[p] == 0 {
			t.Errorf("coverage point %s not hit", p)
		}
	}
}

// memsysCosim co-simulates kvd_memsys of c against the golden model under
// the random stimulus until budget client requests and the final flush:
// no divergence, every read checked by the Driver, host memory equal to the
// reference after the flush.
func memsysCosim(t *testing.T, c config.Config, seed, budget uint64) *memsysStim {
	t.Helper()
	bin := buildModel(t, c, "kvd_memsys", nil)
	stim, err := newMemsysStim(c, seed, budget, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, stim.shadow, stim, cosim.Options{HangCycles: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if !stim.checked {
		t.Fatalf("the stimulus did not finish: %d requests", stim.Requests())
	}
	t.Logf("%d client requests, %d cycles, 0 divergences, %.2f M cycles/s, %.1f s",
		stim.Requests(), res.Cycles, res.CyclesPerSec/1e6, res.Wall.Seconds())
	noLeftovers(t, bin)
	return stim
}

// The engine's port wide (two beats a transfer, docs/microarch.md §1.7;
// memory.md §6 step 2) and a larger read buffer: the RTL matches the golden
// model every cycle and the Driver checks every transfer's beats.
func TestMemsysCosimWide(t *testing.T) {
	c := preset(t, "sim")
	c.Engine.ReadBytes = 64
	c.DMA.ReadBufferBeats = 512
	stim := memsysCosim(t, c, 12, requestBudget(t, "KVD_MEMSYS_REQUESTS", 150_000))
	st := stim.d.M.Stats()
	if st.ClientTransfers[1] == 0 || st.ClientTransfers[1] >= st.ClientBeats[1] {
		t.Errorf("client 1: %d transfers for %d beats; a wide port pairs beats", st.ClientTransfers[1], st.ClientBeats[1])
	}
	t.Logf("client 1: %d beats in %d transfers", st.ClientBeats[1], st.ClientTransfers[1])
}

// One injected DMA error and a link stall: exactly one request gets error
// beats, every other completes.
func TestMemsysCosimFaults(t *testing.T) {
	c := preset(t, "sim")
	bin := buildModel(t, c, "kvd_memsys", nil)
	stim, err := newMemsysStim(c, 3, 20_000, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cosim.Run(context.Background(), bin, stim.shadow, stim, cosim.Options{HangCycles: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Divergence != nil {
		t.Fatalf("divergence at cycle %d: %+v\n%s", res.Divergence.Cycle, res.Divergence.Mismatches, res.Divergence.InFlight)
	}
	if !stim.checked {
		t.Fatalf("the stimulus did not finish")
	}
	errs := stim.d.Errs
	if len(errs) == 0 {
		t.Fatalf("no error beats")
	}
	for _, e := range errs[1:] {
		if e.Client != errs[0].Client || e.Addr < errs[0].Addr || e.Addr-errs[0].Addr >= 512 {
			t.Errorf("error beats of more than one request: %+v", errs)
			break
		}
	}
	t.Logf("%d requests, %d cycles, %d error beats, coverage %v", stim.Requests(), res.Cycles, len(errs), stim.Points())
	noLeftovers(t, bin)
}
