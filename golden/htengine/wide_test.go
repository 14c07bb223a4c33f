package htengine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// The wide read-data port (engine.md §1 RW, §2, §5.3; docs/microarch.md
// §1.7): engine.read_bytes = 64 makes mem_rdata 512 bits, two beats a
// transfer.

// mem_rdata is 8·engine.read_bytes bits; every other port is as at 32
// (mem_wr_data stays a 256-bit beat). New refuses other widths.
func TestWidePorts(t *testing.T) {
	for _, preset := range []string{"sim", "paper"} {
		cfg, err := config.Preset(preset)
		if err != nil {
			t.Fatal(err)
		}
		// paper is wide, sim narrow (config.go): compare both widths of each.
		cfg.Engine.ReadBytes = 32
		narrow := Ports(cfg)
		cfg.Engine.ReadBytes = 64
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		wide := m.Ports()
		if len(wide) != len(narrow) {
			t.Fatalf("%s: %d ports wide, %d narrow", preset, len(wide), len(narrow))
		}
		for i := range wide {
			want := narrow[i]
			if want.Name == "mem_rdata" {
				if want.Width != 256 {
					t.Errorf("%s, read_bytes 32: mem_rdata %d bits, want 256", preset, want.Width)
				}
				want.Width = 512
			}
			if !reflect.DeepEqual(wide[i], want) {
				t.Errorf("%s, read_bytes 64: port %d is %+v, want %+v", preset, i, wide[i], want)
			}
		}
		if _, err := model.NewLayout(wide); err != nil {
			t.Error(err)
		}
	}
	for _, rw := range []int{0, 16, 48, 128} {
		cfg, _ := config.Preset("sim")
		cfg.Engine.ReadBytes = rw
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "engine.read_bytes") {
			t.Errorf("engine.read_bytes = %d: New gave %v, want a refusal", rw, err)
		}
	}
}

// wideKV is a KV of the directed tests and the reads a GET of it makes.
type wideKV struct {
	name       string
	key, value []byte
	objBeats   int // 0: inline; else the object read's beats (class/32)
}

// wideKVs: with bucket.inline_threshold 8, an inline KV, and out-of-line
// KVs of the 32 B class (one beat: the wide port's odd case, a transfer of
// one beat), the 128 B class (4 beats, 2 wide transfers) and the 512 B
// class (16 beats, 8 wide transfers).
func wideKVs() []wideKV {
	v := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(7*i + n)
		}
		return b
	}
	return []wideKV{
		{"inline", []byte("id"), []byte("4242"), 0},
		{"class0_1beat", []byte("ob"), v(20), 1},    // 2+2+20 = 24 B
		{"class2_4beats", []byte("mid"), v(100), 4}, // 2+3+100 = 105 B
		{"class4_16beats", []byte("big"), v(400), 16},
	}
}

func wideConfig(t *testing.T, rw int) config.Config {
	t.Helper()
	cfg := simConfig(t)
	cfg.Engine.ReadBytes = rw
	cfg.Bucket.InlineThreshold = 8
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// wideEnv is a fresh environment, memory answering at once, holding every
// KV of wideKVs (and a few others), three cycles in.
func wideEnv(t *testing.T, rw int, opt envOpts) *env {
	t.Helper()
	e := newEnv(t, wideConfig(t, rw), opt, 40)
	for _, kv := range wideKVs() {
		e.preload(kv.key, kv.value)
		loc := e.locate(kv.key)
		if !loc.found || loc.inline != (kv.objBeats == 0) || (!loc.inline && loc.objSize != 32*kv.objBeats) {
			t.Fatalf("%s: stored as %+v, want %d beats", kv.name, loc, kv.objBeats)
		}
	}
	e.preload([]byte("other"), []byte("x"))
	e.preload([]byte("long-other"), make([]byte, 60))
	for i := 0; i < 3; i++ {
		e.step()
	}
	return e
}

// ceilDiv is ⌈a/b⌉.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// A GET of each KV at both widths, memory answering at once: the value, and
// the cycle of every read, transfer and the response as engine.md §5.3
// says. A read of b beats takes ⌈32·b/RW⌉ transfers, the first one cycle
// after the request is taken, the last one followed by EXEC and (hit in
// the bucket) the response two cycles later, or (an object) the object's
// read three cycles later. At 32 this is §10's timeline.
func TestWideGetTimeline(t *testing.T) {
	eachReadWidth(t, func(t *testing.T, rw int) {
		for _, kv := range wideKVs() {
			t.Run(kv.name, func(t *testing.T) {
				e := wideEnv(t, rw, readyOpts())
				r := e.send(e.newRequest(OpGet, kv.key, nil))
				e.runUntilDone(200)
				e.finish() // the response against the reference table, and the counts
				if got := e.rspValues[r.tag]; len(e.responses) != 1 || e.responses[0].b != StatusOK || !bytes.Equal(got, kv.value) {
					t.Fatalf("responses %v value %x, want OK %x", e.responses, got, kv.value)
				}
				t0 := r.accepted
				nb := ceilDiv(2*BeatBytes, rw) // the bucket's transfers
				wantReads := []int{2}
				var wantXfers []int
				for k := 0; k < nb; k++ {
					wantXfers = append(wantXfers, 3+k)
				}
				rsp := 2 + nb + 2
				if kv.objBeats > 0 {
					rd2 := 2 + nb + 3
					no := ceilDiv(BeatBytes*kv.objBeats, rw)
					wantReads = append(wantReads, rd2)
					for k := 0; k < no; k++ {
						wantXfers = append(wantXfers, rd2+1+k)
					}
					rsp = rd2 + no + 2
				}
				if got := offsets(cyclesFrom(e.rdReqs), t0); !slices.Equal(got, wantReads) {
					t.Errorf("reads %v at t+%v, want t+%v", e.rdReqs, got, wantReads)
				}
				if got := offsets(cyclesFrom(e.rdXferEvs), t0); !slices.Equal(got, wantXfers) {
					t.Errorf("read-data transfers at t+%v, want t+%v", got, wantXfers)
				}
				if got := offsets(cyclesFrom(e.responses), t0); !slices.Equal(got, []int{rsp}) {
					t.Errorf("response at t+%v, want t+%d", got, rsp)
				}
				s := e.m.Stats()
				if want := len(wantXfers); int(s.ReadTransfers) != want || s.ReadBeats != uint64(2+kv.objBeats) {
					t.Errorf("stats: %d transfers, %d beats; want %d, %d", s.ReadTransfers, s.ReadBeats, want, 2+kv.objBeats)
				}
				if s.LatencyMax != uint64(rsp) {
					t.Errorf("latency %d, want %d", s.LatencyMax, rsp)
				}
			})
		}
	})
}

// MEM_ERROR on a wide transfer (docs/microarch.md §1.7: mem_rdata_err if
// the DMA of either beat failed): a failed beat in either half of a
// bucket's transfer, in the odd one-beat transfer of a 32 B object, in the
// upper half of a 128 B object's second transfer and in a 512 B object's
// last transfer. The operation answers MEM_ERROR when its read completes,
// in the cycle it would have answered; the context, freed, then serves a
// GET of the same key with the right value (err is cleared at retirement).
func TestWideMemError(t *testing.T) {
	kvs := wideKVs()
	for _, tc := range []struct {
		name   string
		kv     wideKV
		object bool // the error is in the object read, else the bucket read
		beat   int
	}{
		{"bucket_beat0", kvs[0], false, 0},
		{"bucket_beat1", kvs[0], false, 1},
		{"bucket_beat1_before_object", kvs[2], false, 1},
		{"class0_beat0", kvs[1], true, 0},
		{"class2_beat3", kvs[2], true, 3},
		{"class4_beat15", kvs[3], true, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := readyOpts()
			e := wideEnv(t, 64, opt)
			loc := e.locate(tc.kv.key)
			target := uint64(loc.bucket)
			if tc.object {
				target = uint64(loc.obj)
			}
			fired := 0
			e.opt.failRead = func(addr uint64, beats int) int {
				if addr == target && fired == 0 {
					fired++
					return tc.beat
				}
				return -1
			}
			r := e.send(e.newRequest(OpGet, tc.kv.key, nil))
			e.runUntilDone(200)
			if fired != 1 || len(e.responses) != 1 || e.responses[0].b != StatusMemError {
				t.Fatalf("error injected %d times; responses %v, want MEM_ERROR", fired, e.responses)
			}
			// The same cycle as without the error: all the read's transfers,
			// then EXEC, then the response.
			nb, rsp := 1, 2+1+2
			if tc.object {
				rsp = (2 + nb + 3) + ceilDiv(tc.kv.objBeats, 2) + 2
			}
			if got := offsets(cyclesFrom(e.responses), r.accepted); !slices.Equal(got, []int{rsp}) {
				t.Errorf("MEM_ERROR at t+%v, want t+%d", got, rsp)
			}
			if s := e.m.Stats(); s.ErrBeats != 1 {
				t.Errorf("%d transfers with mem_rdata_err, want 1", s.ErrBeats)
			}
			r2 := e.send(e.newRequest(OpGet, tc.kv.key, nil))
			e.runUntilDone(200)
			e.finish()
			if got := e.rspValues[r2.tag]; len(e.responses) != 2 || e.responses[1].b != StatusOK || !bytes.Equal(got, tc.kv.value) {
				t.Fatalf("after the error: responses %v value %x, want OK %x", e.responses, got, tc.kv.value)
			}
		})
	}
}

// getThroughput streams GETs of inline KVs, each in its own index bucket
// (one bucket read a GET), memory answering at once, and returns the
// operations per cycle from the first acceptance to the last response.
func getThroughput(t *testing.T, rw, contexts, n int) (float64, Stats) {
	t.Helper()
	cfg := simConfig(t)
	cfg.Engine.ReadBytes = rw
	cfg.Engine.Contexts = contexts
	e := newEnv(t, cfg, readyOpts(), 50)
	keys := distinctBucketKeys(cfg, rand.New(rand.NewPCG(50, 1)), 64)
	for i, k := range keys {
		e.preload(k, []byte(fmt.Sprint("v", i)))
	}
	for i := 0; i < n; i++ {
		e.send(e.newRequest(OpGet, keys[i%len(keys)], nil)) // 64 apart: never two on one bucket in flight
	}
	e.runUntilDone(10 * n)
	e.finish()
	if e.coverage["GET status 0"] != n {
		t.Fatalf("coverage %v: want %d GET hits", e.coverage, n)
	}
	span := e.responses[len(e.responses)-1].cycle - e.accepts[0].cycle + 1
	return float64(n) / float64(span), e.m.Stats()
}

// With memory answering at once, a stream of GETs on the wide port
// completes more operations per cycle than on the 32 B port, which
// carries a bucket in two transfers and so bounds GETs at 0.5 per cycle
// (engine.md §10).
func TestWideGetThroughput(t *testing.T) {
	const n = 2000
	for _, C := range []int{8, 16} {
		narrow, sn := getThroughput(t, 32, C, n)
		wide, sw := getThroughput(t, 64, C, n)
		t.Logf("C = %d, %d GETs (inline, one bucket read each), memory answering at once: engine.read_bytes 32: %.3f ops/cycle (read port %.0f %% busy, latency %.1f); 64: %.3f ops/cycle (read port %.0f %% busy, latency %.1f)",
			C, n, narrow, 100*float64(sn.ReadTransfers)/float64(sn.Cycles), float64(sn.LatencySum)/float64(sn.Responses),
			wide, 100*float64(sw.ReadTransfers)/float64(sw.Cycles), float64(sw.LatencySum)/float64(sw.Responses))
		if narrow > 0.5 {
			t.Errorf("C = %d: %.3f GETs per cycle on the 32 B port, past its bound of 0.5", C, narrow)
		}
		if wide <= narrow {
			t.Errorf("C = %d: the wide port gives %.3f ops/cycle, the 32 B one %.3f: want more", C, wide, narrow)
		}
		if sw.ReadTransfers != n || sn.ReadTransfers != 2*n || sw.ReadBeats != 2*n || sn.ReadBeats != 2*n {
			t.Errorf("C = %d: transfers %d (32) and %d (64), beats %d and %d; want %d, %d and %d each",
				C, sn.ReadTransfers, sw.ReadTransfers, sn.ReadBeats, sw.ReadBeats, 2*n, n, 2*n)
		}
	}
}

// The read path does not allocate: replaying a stream of GETs (bucket and
// object reads, every transfer width) through Step allocates nothing, at
// both widths (Step allocates only to complete a plan, in the vector unit
// and on errors).
func TestStepGetsAllocateNothing(t *testing.T) {
	eachReadWidth(t, func(t *testing.T, rw int) {
		e := wideEnv(t, rw, readyOpts())
		snap := e.m.Snapshot()
		kvs := wideKVs()
		for i := 0; i < 400; i++ {
			e.send(e.newRequest(OpGet, kvs[i%len(kvs)].key, nil))
		}
		var ins [][]uint64
		for len(e.pending) > 0 || len(e.src) > 0 || e.cur != nil {
			e.step()
			ins = append(ins, slices.Clone(e.in))
		}
		e.runUntilDone(100)
		e.finish()
		e.m.Restore(snap)
		out := make([]uint64, len(e.out))
		half, k := len(ins)/2, 0
		allocs := testing.AllocsPerRun(1, func() { // a warm-up run, then the measured one
			for _, in := range ins[k*half : (k+1)*half] {
				if err := e.m.Step(in, out); err != nil {
					t.Fatal(err)
				}
			}
			k++
		})
		if allocs != 0 {
			t.Errorf("%.0f allocations in %d cycles of GETs", allocs, half)
		}
	})
}
