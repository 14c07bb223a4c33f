package workload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/wire"
)

const samples = 100_000

func simConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Preset("sim")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// smallSpec has 10 000 keys: 0.5 of 200 000 table bytes in 10-byte KVs.
func smallSpec(m Mix, d Dist) Spec {
	return Spec{Mix: m, Dist: d, KVBytes: 10, Seed: 42, Utilization: 0.5, TableBytes: 200_000}
}

func mustNew(t *testing.T, cfg config.Config, s Spec) *Workload {
	t.Helper()
	w, err := New(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// within reports whether a count of n draws is within 5 standard
// deviations of probability p.
func within(count, n int, p float64) bool {
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(count)-float64(n)*p) <= 5*sd+1e-9
}

func TestMixProportions(t *testing.T) {
	cfg := simConfig(t)
	params := WireParams(cfg)
	for _, m := range Mixes() {
		w := mustNew(t, cfg, smallSpec(m, Uniform))
		var get, put, atomic int
		fids := map[uint8]int{}
		for _, op := range w.Ops(samples) {
			if st := op.Check(params); st != wire.OK {
				t.Fatalf("mix %s: %v refused by the decoder: %v", m.Name, op, st)
			}
			switch op.Code {
			case wire.OpGet:
				get++
			case wire.OpPut:
				put++
				if len(op.Value) != w.ValueBytes() {
					t.Fatalf("mix %s: PUT of a %d-byte value, want %d", m.Name, len(op.Value), w.ValueBytes())
				}
			case wire.OpUpdateS2S:
				atomic++
				fids[op.Fid]++
			default:
				t.Fatalf("mix %s: unexpected %v", m.Name, op.Code)
			}
		}
		for _, c := range []struct {
			name  string
			count int
			p     float64
		}{{"GET", get, m.Get}, {"PUT", put, m.Put}, {"UPDATE_S2S", atomic, m.Atomic}} {
			if !within(c.count, samples, c.p) {
				t.Errorf("mix %s: %d %s of %d, want fraction %v", m.Name, c.count, c.name, samples, c.p)
			}
		}
		if m.Atomic > 0 {
			n := len(cfg.Atomic.Lambdas)
			if len(fids) != n {
				t.Errorf("mix %s: λ ids used %v, want all %d configured", m.Name, fids, n)
			}
			for fid, c := range fids {
				if int(fid) >= n || !within(c, atomic, 1/float64(n)) {
					t.Errorf("mix %s: λ id %d drawn %d times of %d", m.Name, fid, c, atomic)
				}
			}
		}
	}
}

// histogram counts key choices over 100 000 operations, by key index.
func histogram(t *testing.T, d Dist) ([]int, *Workload) {
	w := mustNew(t, simConfig(t), smallSpec(MixC, d))
	index := map[string]int{}
	for i := range w.Keys() {
		index[string(w.Key(i))] = i
	}
	counts := make([]int, w.Keys())
	for _, op := range w.Ops(samples) {
		i, ok := index[string(op.Key)]
		if !ok {
			t.Fatalf("key %x is not in the key space", op.Key)
		}
		counts[i]++
	}
	return counts, w
}

// chiSquare compares binned counts with expected probabilities.
func chiSquare(counts []int, probs []float64, n int) float64 {
	x := 0.0
	for i, c := range counts {
		e := probs[i] * float64(n)
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

func TestZipfSkew(t *testing.T) {
	counts, w := histogram(t, Zipf)
	n := w.Keys()
	if n != 10_000 {
		t.Fatalf("%d keys, want 10000", n)
	}
	pmf := make([]float64, n)
	h := 0.0
	for i := range pmf {
		pmf[i] = math.Pow(float64(i+1), -ZipfTheta)
		h += pmf[i]
	}
	for i := range pmf {
		pmf[i] /= h
	}
	for _, i := range []int{0, 1, 2, 9, 99} {
		if !within(counts[i], samples, pmf[i]) {
			t.Errorf("rank %d drawn %d times, want %.0f", i+1, counts[i], pmf[i]*samples)
		}
	}
	// Ranks in doubling bins: [1], [2], [3,4], [5,8], … The threshold is
	// the χ² 0.9999 quantile for 13 degrees of freedom.
	var binCounts []int
	var binProbs []float64
	for lo := 0; lo < n; lo = 2*lo + 1 {
		c, p := 0, 0.0
		for i := lo; i < min(n, 2*lo+1); i++ {
			c += counts[i]
			p += pmf[i]
		}
		binCounts, binProbs = append(binCounts, c), append(binProbs, p)
	}
	x := chiSquare(binCounts, binProbs, samples)
	t.Logf("rank 1: %d of %d (expected %.0f); χ² over %d rank bins %.1f", counts[0], samples, pmf[0]*samples, len(binCounts), x)
	if x > 39 {
		t.Errorf("χ² = %.1f over %d rank bins: not Zipf(%v)", x, len(binCounts), ZipfTheta)
	}
	// The skew itself: the slope of log frequency over log rank, ranks 1–100.
	var sx, sy, sxx, sxy float64
	for i := range 100 {
		x, y := math.Log(float64(i+1)), math.Log(float64(counts[i]))
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (100*sxy - sx*sy) / (100*sxx - sx*sx)
	t.Logf("log-log slope over ranks 1–100: %.3f", slope)
	if math.Abs(slope+ZipfTheta) > 0.05 {
		t.Errorf("log-log slope %.3f over ranks 1–100, want %.2f ± 0.05", slope, -ZipfTheta)
	}
}

func TestUniformIsFlat(t *testing.T) {
	counts, w := histogram(t, Uniform)
	const bins = 100
	binCounts := make([]int, bins)
	probs := make([]float64, bins)
	for i, c := range counts {
		binCounts[i*bins/w.Keys()] += c
	}
	for i := range probs {
		probs[i] = 1.0 / bins
	}
	// χ² 0.9999 quantile for 99 degrees of freedom.
	x := chiSquare(binCounts, probs, samples)
	t.Logf("χ² over %d key bins: %.1f", bins, x)
	if x > 158 {
		t.Errorf("χ² = %.1f over %d key bins: not uniform", x, bins)
	}
}

// encode is a stream's bytes: each operation as one request packet would
// carry it, without flags.
func encode(t *testing.T, ops []wire.Op) []byte {
	t.Helper()
	var all []byte
	for _, op := range ops {
		b, err := wire.EncodeRequest(wire.Request{Ops: []wire.Op{op}})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b[wire.RequestHeaderBytes:]...)
	}
	return all
}

func TestDeterministic(t *testing.T) {
	cfg := simConfig(t)
	for _, d := range []Dist{Uniform, Zipf} {
		for _, m := range Mixes() {
			s := smallSpec(m, d)
			a := encode(t, mustNew(t, cfg, s).Ops(2000))
			b := mustNew(t, cfg, s).Ops(3000)
			if !bytes.Equal(a, encode(t, b[:2000])) {
				t.Errorf("%s %v: the same seed gave a different stream (or Ops(2000) is not a prefix of Ops(3000))", m.Name, d)
			}
			s.Seed++
			if bytes.Equal(a, encode(t, mustNew(t, cfg, s).Ops(2000))) {
				t.Errorf("%s %v: seeds %d and %d gave the same stream", m.Name, d, s.Seed-1, s.Seed)
			}
		}
	}
}

// TestStreamIsPinned keeps seeds reproducible across versions: a seed in
// a bug report must keep meaning the same operations. Change the digest
// only when the generator is meant to change.
func TestStreamIsPinned(t *testing.T) {
	w := mustNew(t, simConfig(t), Spec{Mix: MixA, Dist: Zipf, KVBytes: 15, Seed: 7, Utilization: 0.5, TableBytes: 1 << 20})
	sum := sha256.Sum256(encode(t, w.Ops(1000)))
	const want = "6f4e3fdaaa48a25a"
	if got := hex.EncodeToString(sum[:8]); got != want {
		t.Errorf("stream digest %s, pinned %s", got, want)
	}
}

func TestSplit(t *testing.T) {
	want := map[int][2]int{5: {4, 1}, 10: {8, 2}, 15: {8, 7}, 62: {8, 54}, 254: {8, 246}}
	for _, kv := range KVSizes {
		k, v := Split(kv)
		if [2]int{k, v} != want[kv] {
			t.Errorf("Split(%d) = %d + %d, want %v", kv, k, v, want[kv])
		}
	}
}

// TestPreloadMatchesGolden runs the golden table's backdoor preload and
// checks that it inserts exactly Pairs, in order — including a key space
// small enough for the preload to draw duplicate keys.
func TestPreloadMatchesGolden(t *testing.T) {
	cfg := simConfig(t)
	for _, s := range []Spec{
		{KVBytes: 10, Utilization: 0.3, Seed: 1},
		{KVBytes: 10, KeyBytes: 2, Utilization: 0.1, Seed: 2},
		{KVBytes: 5, Utilization: 0.2, Seed: 3},
		{KVBytes: 254, Utilization: 0.3, Seed: 4},
	} {
		alloc, err := hashtable.NewSimpleAllocator(cfg, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		table, err := hashtable.New(cfg, hostmem.New(cfg.Memory.HostBytes), alloc)
		if err != nil {
			t.Fatal(err)
		}
		s.Mix, s.TableBytes = MixC, table.TableBytes()
		w := mustNew(t, cfg, s)
		keys, err := hashtable.Preload(table, w.PreloadSpec())
		if err != nil {
			t.Fatal(err)
		}
		pairs := w.Pairs()
		if len(keys) != len(pairs) {
			t.Fatalf("%d-byte KVs: preload inserted %d keys, workload has %d", s.KVBytes, len(keys), len(pairs))
		}
		for i, p := range pairs {
			v, ok := table.Lookup(p.Key)
			if !bytes.Equal(keys[i], p.Key) || !ok || !bytes.Equal(v, p.Value) {
				t.Fatalf("%d-byte KVs, pair %d: workload %x=%x, preload inserted %x (value %x, found %v)", s.KVBytes, i, p.Key, p.Value, keys[i], v, ok)
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	cfg := simConfig(t)
	for name, s := range map[string]Spec{
		"mix sums to 0.9":     {Mix: Mix{Get: 0.9}, KVBytes: 10, Utilization: 0.5, TableBytes: 1 << 20},
		"KV of 1 byte":        {Mix: MixA, KVBytes: 1, Utilization: 0.5, TableBytes: 1 << 20},
		"value too long":      {Mix: MixA, KVBytes: 600, Utilization: 0.5, TableBytes: 1 << 20},
		"utilization 1":       {Mix: MixA, KVBytes: 10, Utilization: 1, TableBytes: 1 << 20},
		"empty key space":     {Mix: MixA, KVBytes: 10, Utilization: 0.5, TableBytes: 1},
		"key space saturated": {Mix: MixA, KVBytes: 10, KeyBytes: 1, Utilization: 0.5, TableBytes: 1 << 20},
		"paper-sized table":   {Mix: MixA, KVBytes: 10, Utilization: 0.5, TableBytes: 64 << 30},
	} {
		if _, err := New(cfg, s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
