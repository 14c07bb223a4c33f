package testbenches

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rs"
)

// smokeStim: a few hot keys, random ops, a pipeline with random latency.
type smokeStim struct {
	rng                       *rand.Rand
	l                         *model.Layout
	keys                      [][]byte
	slots                     []uint64
	hold                      bool
	req                       map[string]uint64
	store                     map[string]uint64
	ops                       map[uint64]pipeOp
	sched                     []sched
	q                         []sched
	pend                      int
	resps, issues, errs, cpls int
}

type pipeOp struct {
	op    uint64
	key   string
	value uint64
}
type sched struct {
	at            uint64
	id, st, value uint64
}

func (s *smokeStim) get(v []uint64, name string) uint64 {
	sl := s.l.MustSlot(name)
	return v[sl.Off]
}
func (s *smokeStim) set(v []uint64, name string, x uint64) { v[s.l.MustSlot(name).Off] = x }

func (s *smokeStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil {
		if s.get(prev, "resp_valid") == 1 {
			s.resps++
			if s.get(prev, "resp_status") == 2 {
				s.errs++
			}
		}
		if s.hold && s.get(prev, "req_ready") == 1 {
			s.hold = false
		}
		if s.get(prev, "pipe_valid") == 1 {
			id := s.get(prev, "pipe_id")
			ko := s.l.MustSlot("pipe_key")
			kb := make([]byte, 0, 16)
			klen := s.get(prev, "pipe_klen")
			for i := uint64(0); i < klen; i++ {
				kb = append(kb, byte(prev[ko.Off+int(i/8)]>>(8*(i%8))))
			}
			s.issues++
			s.ops[id] = pipeOp{s.get(prev, "pipe_op"), string(kb), s.get(prev, "pipe_value")}
			s.sched = append(s.sched, sched{at: cycle + 3 + s.rng.Uint64N(40), id: id})
		}
	}
	// completions due: apply to the store
	rest := s.sched[:0]
	for _, sc := range s.sched {
		if sc.at <= cycle {
			op := s.ops[sc.id]
			st, v := uint64(0), uint64(0)
			switch op.op {
			case 0:
				if x, ok := s.store[op.key]; ok {
					v = x
				} else {
					st = 1
				}
			case 1:
				s.store[op.key] = op.value
			case 2:
				if _, ok := s.store[op.key]; !ok {
					st = 1
				}
				delete(s.store, op.key)
			}
			if s.rng.IntN(50) == 0 {
				st = 2
			}
			s.q = append(s.q, sched{id: sc.id, st: st, value: v})
		} else {
			rest = append(rest, sc)
		}
	}
	s.sched = rest
	if len(s.q) > 0 {
		c := s.q[0]
		s.q = s.q[1:]
		s.set(in, "cpl_valid", 1)
		s.set(in, "cpl_id", c.id)
		s.set(in, "cpl_status", c.st)
		s.set(in, "cpl_value", c.value)
	}
	if !s.hold && s.rng.IntN(4) != 0 {
		s.hold = true
		k := s.rng.IntN(len(s.keys))
		s.req = map[string]uint64{"op": s.rng.Uint64N(4), "k": uint64(k), "fid": s.rng.Uint64N(8),
			"value": s.rng.Uint64N(100), "delta": s.rng.Uint64N(5), "cmp": s.rng.Uint64N(3), "swap": s.rng.Uint64(), "tag": s.rng.Uint64N(1 << 16)}
	}
	if s.hold {
		k := s.keys[s.req["k"]]
		s.set(in, "req_valid", 1)
		s.set(in, "req_op", s.req["op"])
		s.set(in, "req_fid", s.req["fid"])
		ko := s.l.MustSlot("req_key")
		for i, b := range k {
			in[ko.Off+i/8] |= uint64(b) << (8 * (i % 8))
		}
		s.set(in, "req_klen", uint64(len(k)))
		s.set(in, "req_slot", s.slots[s.req["k"]])
		s.set(in, "req_value", s.req["value"])
		s.set(in, "req_delta", s.req["delta"])
		s.set(in, "req_cmp", s.req["cmp"])
		s.set(in, "req_swap", s.req["swap"])
		s.set(in, "req_tag", s.req["tag"])
	}
	return true, nil
}

func TestRSSmoke(t *testing.T) {
	for _, tc := range []struct {
		preset string
		fwd    bool
		xseed  int
	}{{"sim", true, 0}, {"sim", false, 0}, {"paper", true, 0}, {"sim", true, 3}} {
		fwd := tc.fwd
		c, _ := config.Preset(tc.preset)
		c.RS.Forwarding = fwd
		bin := buildModel(t, c, "kvd_rs", nil)
		ev, err := rs.NewLambdas(c)
		if err != nil {
			t.Fatal(err)
		}
		m, err := rs.New(c, ev)
		if err != nil {
			t.Fatal(err)
		}
		s := &smokeStim{rng: rand.New(rand.NewPCG(1, 2)), l: model.MustLayout(m.Ports()), req: map[string]uint64{},
			store: map[string]uint64{}, ops: map[uint64]pipeOp{}}
		for _, k := range []string{"a", "bb", "ccc", "hot", "x1", "x2"} {
			s.keys = append(s.keys, []byte(k))
			_, _, slot := keyhash.Hash(c, []byte(k))
			s.slots = append(s.slots, slot)
		}
		var args []string
		if tc.xseed > 0 {
			args = []string{"+verilator+rand+reset+2", "+verilator+seed+3"}
		}
		res, err := cosim.Run(context.Background(), bin, m, s, cosim.Options{Cycles: 2_000_000, ShimArgs: args})
		if err != nil {
			t.Fatal(err)
		}
		if d := res.Divergence; d != nil {
			rec := &cosim.Record{Ports: m.Ports(), Divergence: d}
			var b testWriter
			rec.WriteReport(&b, 6)
			t.Fatalf("forwarding=%v:\n%s", fwd, b.s)
		}
		t.Logf("%s xseed=%d forwarding=%v: %d cycles, 0 divergences; %d responses (%d errors), %d pipeline ops, %.1f M cycles/s", tc.preset, tc.xseed, fwd, res.Cycles, s.resps, s.errs, s.issues, res.CyclesPerSec/1e6)
	}
}

type testWriter struct{ s string }

func (w *testWriter) Write(p []byte) (int, error) { w.s += string(p); return len(p), nil }
