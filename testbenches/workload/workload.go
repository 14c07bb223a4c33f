// Package workload generates the client side of the paper's measurements
// (kv-direct.md §7): YCSB-style operation mixes over a preloaded key space,
// with uniform or long-tail (Zipf 0.99) key choice, as a deterministic
// stream of wire operations.
//
// The key space is the set of KVs the hash table's backdoor preload
// (golden/hashtable.Preload) inserts for PreloadSpec(): the generator
// replays the preload's random stream rather than running a table, so a
// stream can be produced — and compared — without building the table, and
// every GET of the stream hits a preloaded key.
package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/wire"
)

// Mix is the fraction of each operation; the fractions sum to 1.
type Mix struct {
	Name             string
	Get, Put, Atomic float64
}

// The YCSB core mixes (A update-heavy, B read-mostly, C read-only), the
// paper's 100 % PUT column, and atomics (the reservation station's single-
// key figure, kv-direct.md §4). PUT updates a preloaded key with a new
// value of the same size, as YCSB's update does, so utilization stays at
// the preloaded level for the whole run.
var (
	MixA      = Mix{Name: "A", Get: 0.5, Put: 0.5}
	MixB      = Mix{Name: "B", Get: 0.95, Put: 0.05}
	MixC      = Mix{Name: "C", Get: 1}
	MixPut    = Mix{Name: "put", Put: 1}
	MixAtomic = Mix{Name: "atomic", Atomic: 1}
)

// Mixes lists the named mixes.
func Mixes() []Mix { return []Mix{MixA, MixB, MixC, MixPut, MixAtomic} }

// MixByName finds a named mix, case-insensitively.
func MixByName(name string) (Mix, error) {
	var names []string
	for _, m := range Mixes() {
		if strings.EqualFold(m.Name, name) {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return Mix{}, fmt.Errorf("workload: unknown mix %q (known: %s)", name, strings.Join(names, ", "))
}

// Dist is how keys are chosen.
type Dist int

const (
	Uniform Dist = iota
	// Zipf is the paper's long-tail distribution: key i (0-based, in
	// preload order, which is random) has probability ∝ (i+1)^-ZipfTheta.
	Zipf
)

// ZipfTheta is the paper's skew.
const ZipfTheta = 0.99

func (d Dist) String() string {
	if d == Zipf {
		return "zipf"
	}
	return "uniform"
}

// KVSizes are the paper's KV sizes (key + value bytes, §7).
var KVSizes = []int{5, 10, 15, 62, 254}

// Split is the default key/value split of a KV size: 8-byte keys, which
// hold any key count a golden table can, and the rest value; a 5-byte KV
// is a 4-byte key and a 1-byte value so that GET still returns a value
// to compare. 254 = 8 + 246 is also the hash-table bench's split.
func Split(kvBytes int) (keyBytes, valueBytes int) {
	k := min(8, kvBytes-1)
	return k, kvBytes - k
}

// Spec is everything a workload depends on besides the configuration.
type Spec struct {
	Mix     Mix
	Dist    Dist
	KVBytes int
	// KeyBytes overrides Split's key size when not 0.
	KeyBytes int
	Seed     uint64
	// Utilization is the memory utilization the preload reaches
	// (hashtable.md §6; the paper measures at 0.5).
	Utilization float64
	// TableBytes is the utilization's denominator, Table.TableBytes(); 0
	// means the configuration's index plus a heap up to the end of host
	// memory (what an allocator given the whole heap has).
	TableBytes int64
}

// MaxKeys bounds the key space a workload materializes (keys and preload
// values are kept in memory): far above any table the golden models hold.
const MaxKeys = 1 << 26

// Workload is a key space with its preload values, and the parameters of
// the operation stream over it.
type Workload struct {
	spec                 Spec
	keyBytes, valueBytes int
	n                    int
	keys, values         []byte // flat: key i at [i·keyBytes, (i+1)·keyBytes)
	lambdas              int
}

// preloadStream is golden/hashtable's (preload.go): replaying it is what
// makes Pairs equal to what Preload inserts. TestPreloadMatchesGolden
// catches a change on either side.
const preloadStream = 0x6b76642d7072656c // "kvd-prel"

// opStream keeps the operations' random stream apart from the preload's.
const opStream = 0x6b76642d776f726b // "kvd-work"

// New sizes the key space from the utilization and derives it.
func New(cfg config.Config, s Spec) (*Workload, error) {
	sum := s.Mix.Get + s.Mix.Put + s.Mix.Atomic
	if s.Mix.Get < 0 || s.Mix.Put < 0 || s.Mix.Atomic < 0 || math.Abs(sum-1) > 1e-9 {
		return nil, fmt.Errorf("workload: mix %q: fractions %v/%v/%v must be non-negative and sum to 1", s.Mix.Name, s.Mix.Get, s.Mix.Put, s.Mix.Atomic)
	}
	if s.Dist != Uniform && s.Dist != Zipf {
		return nil, fmt.Errorf("workload: unknown distribution %d", s.Dist)
	}
	if s.KVBytes < 2 {
		return nil, fmt.Errorf("workload: KV size %d: want at least 2 bytes (a key and a value byte)", s.KVBytes)
	}
	kb, vb := Split(s.KVBytes)
	if s.KeyBytes != 0 {
		kb, vb = s.KeyBytes, s.KVBytes-s.KeyBytes
	}
	if kb < 1 || kb > 8 || vb < 0 {
		return nil, fmt.Errorf("workload: %d-byte keys in %d-byte KVs: want 1..8-byte keys", kb, s.KVBytes)
	}
	if kb > cfg.Key.MaxKeyBytes || vb > cfg.Key.MaxValueBytes {
		return nil, fmt.Errorf("workload: %d B keys and %d B values exceed key.max_key_bytes = %d / key.max_value_bytes = %d",
			kb, vb, cfg.Key.MaxKeyBytes, cfg.Key.MaxValueBytes)
	}
	if !(s.Utilization > 0 && s.Utilization < 1) {
		return nil, fmt.Errorf("workload: utilization %v: want (0, 1)", s.Utilization)
	}
	if s.TableBytes == 0 {
		s.TableBytes = cfg.IndexBytes() + cfg.Memory.HostBytes - cfg.HeapBase()
	}
	// Preload's arithmetic exactly: it puts KVs while the KV bytes are
	// below int64(utilization · table bytes).
	target := int64(s.Utilization * float64(s.TableBytes))
	n64 := (target + int64(s.KVBytes) - 1) / int64(s.KVBytes)
	space := math.Ldexp(1, 8*kb)
	switch {
	case n64 < 1:
		return nil, fmt.Errorf("workload: utilization %v of %d table bytes holds no %d-byte KV", s.Utilization, s.TableBytes, s.KVBytes)
	case n64 > MaxKeys:
		return nil, fmt.Errorf("workload: %d keys (utilization %v of %d table bytes) exceed the %d a workload holds: give a smaller TableBytes",
			n64, s.Utilization, s.TableBytes, MaxKeys)
	case float64(n64) > space/2:
		// Preload would spend most of its draws on duplicates, and a key
		// space near saturation is not the paper's random keys.
		return nil, fmt.Errorf("workload: %d keys need more than half of the %d-byte key space", n64, kb)
	}
	w := &Workload{spec: s, keyBytes: kb, valueBytes: vb, n: int(n64), lambdas: len(cfg.Atomic.Lambdas)}
	w.derive()
	return w, nil
}

// derive replays Preload on an empty table: draw a key, skip it if already
// drawn, else draw its value.
func (w *Workload) derive() {
	rng := rand.New(rand.NewPCG(w.spec.Seed, preloadStream))
	w.keys = make([]byte, w.n*w.keyBytes)
	w.values = make([]byte, w.n*w.valueBytes)
	seen := make(map[uint64]struct{}, w.n)
	for i := 0; i < w.n; {
		key := w.keys[i*w.keyBytes : (i+1)*w.keyBytes]
		randomBytes(rng, key)
		var id uint64
		for j, b := range key {
			id |= uint64(b) << (8 * j)
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		randomBytes(rng, w.values[i*w.valueBytes:(i+1)*w.valueBytes])
		i++
	}
}

// randomBytes is hashtable's randomBytes: one Uint64 per 8 bytes, little
// end first.
func randomBytes(rng *rand.Rand, p []byte) {
	for i := 0; i < len(p); i += 8 {
		v := rng.Uint64()
		for j := i; j < min(len(p), i+8); j++ {
			p[j] = byte(v)
			v >>= 8
		}
	}
}

// Keys is the size of the key space.
func (w *Workload) Keys() int { return w.n }

// KeyBytes and ValueBytes are the split in use.
func (w *Workload) KeyBytes() int   { return w.keyBytes }
func (w *Workload) ValueBytes() int { return w.valueBytes }

// Key returns a copy of key i, so callers may keep or change it.
func (w *Workload) Key(i int) []byte {
	return append([]byte(nil), w.keys[i*w.keyBytes:(i+1)*w.keyBytes]...)
}

// Pair is one preloaded KV.
type Pair struct{ Key, Value []byte }

// Pairs are the KVs to preload, in insertion order: exactly what
// hashtable.Preload(t, w.PreloadSpec()) inserts into an empty table whose
// TableBytes is the spec's, for a preload that does not run out of memory.
// They are what a testbench without that backdoor (e.g. an RTL memory
// image built by PUTs) preloads.
func (w *Workload) Pairs() []Pair {
	ps := make([]Pair, w.n)
	for i := range ps {
		ps[i] = Pair{Key: w.Key(i), Value: append([]byte(nil), w.values[i*w.valueBytes:(i+1)*w.valueBytes]...)}
	}
	return ps
}

// PreloadSpec is what the golden table's backdoor preload needs to insert
// Pairs.
func (w *Workload) PreloadSpec() hashtable.PreloadSpec {
	return hashtable.PreloadSpec{KeyBytes: w.keyBytes, ValueBytes: w.valueBytes, Utilization: w.spec.Utilization, Seed: w.spec.Seed}
}

// WireParams are the decoder sizes of a configuration.
func WireParams(cfg config.Config) wire.Params {
	return wire.Params{MaxKeyBytes: cfg.Key.MaxKeyBytes, MaxValueBytes: cfg.Key.MaxValueBytes, ElementBytes: cfg.Vector.ElementBits / 8}
}

// Stream is the operation stream: the same workload and seed always give
// the same operations, and Ops(n) is a prefix of Ops(m) for n < m.
type Stream struct {
	w    *Workload
	rng  *rand.Rand
	zipf *zipf
}

// Stream starts the operation stream from its beginning.
func (w *Workload) Stream() *Stream {
	s := &Stream{w: w, rng: rand.New(rand.NewPCG(w.spec.Seed, opStream))}
	if w.spec.Dist == Zipf {
		s.zipf = newZipf(w.n, ZipfTheta)
	}
	return s
}

// Ops is the first count operations of the stream.
func (w *Workload) Ops(count int) []wire.Op {
	s := w.Stream()
	ops := make([]wire.Op, count)
	for i := range ops {
		ops[i] = s.Next()
	}
	return ops
}

// keyIndex draws a key index; Zipf ranks map to indices in preload order.
func (s *Stream) keyIndex() int {
	if s.zipf != nil {
		return s.zipf.sample(s.rng) - 1
	}
	return s.rng.IntN(s.w.n)
}

// Next is the next operation. Atomics draw a λ id uniformly over the
// configured ones, a delta in 1..63 (a valid addend, candidate, mask or
// shift amount for every preset λ) and random cmp and swap, so every λ
// has meaningful operands.
func (s *Stream) Next() wire.Op {
	m := s.w.spec.Mix
	u := s.rng.Float64()
	key := s.w.Key(s.keyIndex())
	switch {
	case u < m.Get:
		return wire.Get(key)
	case u < m.Get+m.Put || m.Atomic == 0: // no atomic from rounding
		v := make([]byte, s.w.valueBytes)
		randomBytes(s.rng, v)
		return wire.Put(key, v)
	}
	fid := uint8(s.rng.IntN(s.w.lambdas))
	delta := 1 + s.rng.Uint64N(63)
	return wire.UpdateScalar(key, fid, delta, s.rng.Uint64(), s.rng.Uint64())
}
