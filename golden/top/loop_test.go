package top

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/dram"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/memsys"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/pcie"
	"github.com/kvdirect/kvd/golden/refstore"
	"github.com/kvdirect/kvd/golden/slabd"
	"github.com/kvdirect/kvd/wire"
)

// rig is the processor's environment (processor.md §2.5, §5): host memory
// behind the PCIe link models, the on-board DRAM model, the host slab
// daemon on the same host memory, and a client sending request packets on
// rx and taking response packets on tx. Every response packet is checked
// byte for byte against wire.Respond of its request on golden/refstore, in
// request order.
type rig struct {
	t   testing.TB
	cfg config.Config
	m   *Model
	lay *model.Layout
	sl  map[string]model.Slot

	in, out []uint64
	cycle   uint64

	host   *hostmem.Memory
	links  []*pcie.Link
	dram   *dram.DRAM
	daemon *slabd.Daemon
	ref    *refstore.Store
	wp     wire.Params
	rng    *rand.Rand

	// the client
	batch    *wire.Batcher
	keys     [][]byte
	toSend   int // operations still to put in packets
	cur      []byte
	beat     int
	holdTill uint64
	owed     [][]byte // response packets owed, in order
	got      []byte
	txReady  float64
	gaps     bool

	lx       []string // "l<k>_"
	stepTime time.Duration
	flushOn  bool
	ops      map[string]int
	answers  int // response packets checked
}

func newRig(t testing.TB, cfg config.Config, seed uint64, preloadUtil float64) *rig {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, m: m, lay: model.MustLayout(m.Ports()), sl: map[string]model.Slot{},
		rng: rand.New(rand.NewPCG(seed, 0x746f70)), ops: map[string]int{}, txReady: 1,
		wp: wire.Params{MaxKeyBytes: cfg.Key.MaxKeyBytes, MaxValueBytes: cfg.Key.MaxValueBytes, ElementBytes: cfg.Vector.ElementBits / 8}}
	for _, p := range m.Ports() {
		r.sl[p.Name] = r.lay.MustSlot(p.Name)
	}
	r.in, r.out = make([]uint64, r.lay.InWords), make([]uint64, r.lay.OutWords)
	for l := range cfg.DMA.Links {
		r.lx = append(r.lx, fmt.Sprintf("l%d_", l))
	}

	// Host memory: the index, the slab rings, the daemon's heap and, at the
	// top, a region the backdoor preload allocates from.
	r.host = hostmem.New(cfg.Memory.HostBytes)
	region := (3*cfg.IndexBytes() + 4095) / 4096 * 4096
	base := cfg.Memory.HostBytes - region
	pre, err := hashtable.NewSimpleAllocatorAt(cfg, base, region)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := hashtable.New(cfg, r.host, pre)
	if err != nil {
		t.Fatal(err)
	}
	if r.keys, err = hashtable.Preload(tb, hashtable.PreloadSpec{KeyBytes: 8, ValueBytes: 12, Utilization: preloadUtil, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	if r.ref, err = refstore.New(cfg); err != nil {
		t.Fatal(err)
	}
	r.ref.M = tb.Ref()
	if r.daemon, err = slabd.New(cfg, r.host, slabd.Options{HeapBytes: base - cfg.HeapBase()}); err != nil {
		t.Fatal(err)
	}
	hc := memsys.HostConfigFrom(cfg, memsys.DefaultParams(cfg), seed)
	for _, lc := range hc.Link {
		r.links = append(r.links, pcie.New(lc, r.host))
	}
	r.dram = dram.New(hc.DRAM)
	if r.batch, err = wire.NewBatcher(wire.DefaultMaxResponseBytes, 8, uint32(seed)); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) get(v []uint64, name string) uint64 {
	s := r.sl[name]
	return model.Get(v[s.Off:s.Off+s.Words], 0, min(64, s.Width))
}

func (r *rig) put(name string, v uint64) {
	s := r.sl[name]
	r.in[s.Off] = v & model.Mask(min(64, s.Width))
}

func (r *rig) words(v []uint64, name string) []uint64 {
	s := r.sl[name]
	return v[s.Off : s.Off+s.Words]
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// step runs one cycle: the environment drives the top's inputs from its
// state, the model steps, the environment advances on the outputs.
func (r *rig) step() {
	t := r.t
	clear(r.in)
	for l, k := range r.links {
		o := k.Out()
		x := r.lx[l]
		r.put(x+"req_ready", b2u(o.ReqReady))
		r.put(x+"cpl_valid", b2u(o.CplValid))
		r.put(x+"cpl_tag", uint64(o.CplTag))
		copy(r.words(r.in, x+"cpl_data"), o.CplData[:])
		r.put(x+"cpl_last", b2u(o.CplLast))
		r.put(x+"cpl_err", b2u(o.CplErr))
	}
	do := r.dram.Out()
	r.put("dram_req_ready", b2u(do.ReqReady))
	r.put("dram_rsp_valid", b2u(do.RspValid))
	copy(r.words(r.in, "dram_rsp_data"), do.RspData[:])
	r.put("dram_rsp_meta", do.RspMeta)
	r.put("flush_valid", b2u(r.flushOn))

	// The client: the packet's beat (held until taken), and tx_ready.
	if r.cur == nil && r.cycle >= r.holdTill {
		r.nextPacket()
	}
	b := r.cfg.Net.BytesPerCycle
	if r.cur != nil {
		lo := r.beat * b
		hi := min(lo+b, len(r.cur))
		d := r.words(r.in, "rx_data")
		for i, x := range r.cur[lo:hi] {
			d[i/8] |= uint64(x) << (8 * uint(i%8))
		}
		r.put("rx_valid", 1)
		r.put("rx_keep", model.Mask(hi-lo))
		r.put("rx_last", b2u(hi == len(r.cur)))
		r.put("rx_len", uint64(len(r.cur)))
	}
	r.put("tx_ready", b2u(r.txReady >= 1 || r.rng.Float64() < r.txReady))

	t0 := time.Now()
	err := r.m.Step(r.in, r.out)
	r.stepTime += time.Since(t0)
	if err != nil {
		t.Fatalf("cycle %d: %v\n%s", r.cycle, err, r.m.DescribeState())
	}

	for l, k := range r.links {
		x := r.lx[l]
		q := pcie.Req{Valid: r.get(r.out, x+"req_valid") != 0, Write: r.get(r.out, x+"req_write") != 0,
			Addr: r.get(r.out, x+"req_addr"), Beats: int(r.get(r.out, x+"req_beats")), Tag: int(r.get(r.out, x+"req_tag")),
			Last: r.get(r.out, x+"req_last") != 0}
		copy(q.Data[:], r.words(r.out, x+"req_data"))
		if err := k.Tick(q); err != nil {
			t.Fatalf("cycle %d: link %d: %v", r.cycle, l, err)
		}
	}
	dq := dram.Req{Valid: r.get(r.out, "dram_req_valid") != 0, Write: r.get(r.out, "dram_req_write") != 0,
		Addr: r.get(r.out, "dram_req_addr"), Meta: r.get(r.out, "dram_req_meta")}
	copy(dq.Data[:], r.words(r.out, "dram_req_data"))
	if err := r.dram.Tick(dq); err != nil {
		t.Fatalf("cycle %d: DRAM: %v", r.cycle, err)
	}
	r.daemon.Tick(r.cycle)
	if r.flushOn && r.get(r.out, "flush_ready") != 0 {
		r.flushOn = false
	}

	if r.cur != nil && r.get(r.out, "rx_ready") != 0 {
		r.beat++
		if r.beat*b >= len(r.cur) {
			r.cur = nil
			if r.gaps && r.rng.IntN(4) == 0 {
				r.holdTill = r.cycle + 1 + uint64(r.rng.IntN(30))
			}
		}
	}
	if r.get(r.out, "tx_valid") != 0 && r.get(r.in, "tx_ready") != 0 {
		keep := r.get(r.out, "tx_keep")
		d := r.words(r.out, "tx_data")
		for i := 0; i < b && keep>>uint(i)&1 == 1; i++ {
			r.got = append(r.got, byte(d[i/8]>>(8*uint(i%8))))
		}
		if r.get(r.out, "tx_last") != 0 {
			r.checkResponse()
		}
	}
	r.cycle++
}

func (r *rig) checkResponse() {
	t := r.t
	got := r.got
	r.got = nil
	if len(r.owed) == 0 {
		t.Fatalf("cycle %d: a %d-byte response packet, none owed: %x", r.cycle, len(got), got)
	}
	want := r.owed[0]
	r.owed = r.owed[1:]
	if !bytes.Equal(got, want) {
		msg := ""
		g, e1 := wire.DecodeResponse(got)
		w, e2 := wire.DecodeResponse(want)
		if e1 == nil && e2 == nil {
			for i := range min(len(g.Results), len(w.Results)) {
				if g.Results[i].Status != w.Results[i].Status || !bytes.Equal(g.Results[i].Value, w.Results[i].Value) {
					msg = fmt.Sprintf("\nfirst difference: result %d: %v %x, reference %v %x", i,
						g.Results[i].Status, g.Results[i].Value, w.Results[i].Status, w.Results[i].Value)
					break
				}
			}
		}
		t.Fatalf("cycle %d: response packet #%d:\n got %x\nwant %x%s\n%s", r.cycle, r.answers, got, want, msg, r.m.DescribeState())
	}
	r.answers++
}

// key draws a key: a few hot ones, the preloaded ones, and fresh ones of
// every length up to K.
func (r *rig) key() []byte {
	switch u := r.rng.IntN(100); {
	case u < 30:
		return r.keys[r.rng.IntN(4)]
	case u < 70:
		return r.keys[r.rng.IntN(min(len(r.keys), 64))]
	default:
		k := make([]byte, 1+r.rng.IntN(r.cfg.Key.MaxKeyBytes))
		k[0] = byte(r.rng.IntN(12)) // a small set, so that they recur
		return k
	}
}

func (r *rig) value() []byte {
	n := r.rng.IntN(9) // short: the station forwards them
	if r.rng.IntN(2) == 0 {
		n = 9 + r.rng.IntN(200) // long: carried by reference
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(r.rng.Uint32())
	}
	return v
}

// nextOp draws an operation: GET, PUT (short and long values), DELETE,
// UPDATE_S2S (now and then with an unknown λ), the vector operations.
func (r *rig) nextOp() wire.Op {
	k := r.key()
	n := len(r.cfg.Atomic.Lambdas)
	fid := func() uint8 {
		if r.rng.IntN(16) == 0 {
			return uint8(n + r.rng.IntN(256-n))
		}
		return uint8(r.rng.IntN(n))
	}
	switch u := r.rng.IntN(100); {
	case u < 30:
		r.ops["get"]++
		return wire.Get(k)
	case u < 58:
		r.ops["put"]++
		return wire.Put(k, r.value())
	case u < 68:
		r.ops["delete"]++
		return wire.Delete(k)
	case u < 94:
		r.ops["atomic"]++
		return wire.UpdateScalar(k, fid(), uint64(r.rng.IntN(100)), uint64(r.rng.IntN(4)), uint64(r.rng.IntN(100)))
	default:
		r.ops["vector"]++
		code := wire.OpUpdateS2V + wire.Opcode(r.rng.IntN(4))
		if code == wire.OpUpdateV2V {
			d := make([]byte, r.wp.ElementBytes*(1+r.rng.IntN(4)))
			for i := range d {
				d[i] = byte(r.rng.IntN(8))
			}
			return wire.Op{Code: code, Fid: fid(), Key: k, Value: d}
		}
		return wire.Op{Code: code, Fid: fid(), Key: k, Value: wire.Scalars(uint64(r.rng.IntN(40)), 0, 0)}
	}
}

// nextPacket closes the next request packet and computes what it is owed.
func (r *rig) nextPacket() {
	var pk *wire.Packet
	for pk == nil {
		if r.toSend == 0 {
			if pk = r.batch.Flush(); pk == nil {
				return
			}
			break
		}
		var err error
		if pk, err = r.batch.Add(r.nextOp()); err != nil {
			r.t.Fatal(err)
		}
		r.toSend--
	}
	resp, err := wire.Respond(pk.Bytes, r.wp, r.ref.Exec)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cur, r.beat = pk.Bytes, 0
	r.owed = append(r.owed, resp...)
	r.ops["packets"]++
}

func (r *rig) busy() bool {
	return r.toSend > 0 || r.batch.Pending() > 0 || r.cur != nil || len(r.owed) > 0
}

// run sends ops operations and runs until every response is in, then lets
// the station's write-backs settle, flushes the DRAM cache and checks the
// table in host memory against the reference map.
func (r *rig) run(ops int, limit uint64) {
	t := r.t
	r.toSend = ops
	start := time.Now()
	for r.busy() {
		if r.cycle >= limit {
			t.Fatalf("cycle %d: %d response packets still owed (%d checked)\n%s", r.cycle, len(r.owed), r.answers, r.m.DescribeState())
		}
		r.step()
	}
	traffic, trafficTime := r.cycle, r.stepTime
	for range 5000 {
		r.step()
	}
	r.flushOn = true
	for i := 0; ; i++ {
		r.step()
		if !r.flushOn && r.get(r.out, "flush_done") != 0 {
			break
		}
		if i > 1<<20 {
			t.Fatal("the flush never completed")
		}
	}
	el := time.Since(start)
	if _, err := hashtable.Check(r.cfg, r.host, r.ref.M, nil); err != nil {
		t.Fatalf("table check after the flush: %v", err)
	}
	st := r.m.EngineStats()
	_, peak := r.m.StationOccupancy()
	t.Logf("%d operations (%v) in %d response packets: traffic %d cycles, %d with drain and flush; %.0f cycles/s with the environment, %.0f in the model's Step (%.0f during the traffic); engine: %d ops, reads %d+%d, writes %d+%d, allocs %d, frees %d; station peak %d requests",
		ops, r.ops, r.answers, traffic, r.cycle, float64(r.cycle)/el.Seconds(), float64(r.cycle)/r.stepTime.Seconds(), float64(traffic)/trafficTime.Seconds(), st.Accepted,
		st.BucketReads, st.ObjectReads, st.BucketWrites, st.ObjectWrites, st.AllocsOK, st.Frees, peak)
}

// The golden processor, closed loop at the sim preset: a few hundred
// request packets of GET, PUT (short and long values), DELETE, UPDATE_S2S
// and vector operations over hot, preloaded and fresh keys, every response
// packet equal to wire.Respond on the reference store, and the table in
// host memory equal to the reference map after the flush.
func TestClosedLoop(t *testing.T) {
	cfg := preset(t, "sim")
	for _, tc := range []struct {
		seed    uint64
		ops     int
		txReady float64
		gaps    bool
		probe   bool // take every cut block's outputs by Snapshot/Step/Restore
	}{
		{seed: 1, ops: 3000, txReady: 1},
		{seed: 2, ops: 2000, txReady: 0.7, gaps: true},
		{seed: 3, ops: 400, txReady: 0.9, gaps: true, probe: true},
	} {
		t.Run(fmt.Sprintf("seed=%d,probe=%v", tc.seed, tc.probe), func(t *testing.T) {
			r := newRig(t, cfg, tc.seed, 0.05)
			r.txReady, r.gaps = tc.txReady, tc.gaps
			if tc.probe {
				for _, i := range cut {
					r.m.b[i].outf = nil
				}
			}
			r.run(tc.ops, 3_000_000)
			if r.answers < tc.ops/10 {
				t.Errorf("only %d response packets", r.answers)
			}
			for _, k := range []string{"get", "put", "delete", "atomic", "vector"} {
				if r.ops[k] == 0 {
					t.Errorf("no %s in the run", k)
				}
			}
			if now, _ := r.m.StationOccupancy(); now != 0 || r.m.ROBOccupancy() != 0 || r.m.HT.InFlight() != 0 {
				t.Errorf("not idle at the end: station %d, reorder buffer %d, engine %d", now, r.m.ROBOccupancy(), r.m.HT.InFlight())
			}
		})
	}
}

// Snapshot and Restore: a run restored to a mid-run snapshot repeats the
// same outputs.
func TestSnapshotRestore(t *testing.T) {
	cfg := preset(t, "sim")
	r := newRig(t, cfg, 3, 0.02)
	r.toSend = 200
	for range 3000 {
		r.step()
	}
	snap := r.m.Snapshot()
	in := make([][]uint64, 0, 200)
	out := make([][]uint64, 0, 200)
	for range 200 {
		r.step()
		in = append(in, append([]uint64(nil), r.in...))
		out = append(out, append([]uint64(nil), r.out...))
	}
	r.m.Restore(snap)
	o := make([]uint64, len(r.out))
	for i := range in {
		if err := r.m.Step(in[i], o); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(o, out[i]) {
			t.Fatalf("cycle %d after the snapshot: outputs differ", i)
		}
	}
}
