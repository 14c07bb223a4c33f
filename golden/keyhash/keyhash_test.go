package keyhash

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// ---------------------------------------------------------------------------
// The slow reference: §2.2 read literally, bit by bit. It shares no code with
// the package (its own SplitMix64, its own masks, its own input vector).

type slowRef struct {
	k, kl int
	w     [3]int
	q     [3][]uint64 // Q_f, n rows each
}

func newSlowRef(cfg config.Config) *slowRef {
	r := &slowRef{k: cfg.Key.MaxKeyBytes}
	// KL = bits to hold 0..K.
	for (1 << r.kl) <= r.k {
		r.kl++
	}
	r.w = [3]int{
		log2(int(cfg.Memory.IndexBuckets)),
		cfg.Bucket.SecHashBits,
		log2(cfg.RS.Slots),
	}
	n := 8*r.k + r.kl
	for f := 0; f < 3; f++ {
		state := cfg.KeyHash.Seed ^ (uint64(f+1) * 0xD1B54A32D192ED03)
		for i := 0; i < n; i++ {
			state = state + 0x9E3779B97F4A7C15
			z := state
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			z = z ^ (z >> 31)
			r.q[f] = append(r.q[f], lowBits(z, r.w[f]))
		}
	}
	return r
}

func log2(v int) int {
	n := 0
	for (1 << n) < v {
		n++
	}
	return n
}

func lowBits(z uint64, w int) uint64 {
	if w == 64 {
		return z
	}
	return z & ((uint64(1) << w) - 1)
}

// hash takes the bus bytes (exactly K of them) and in_len.
func (r *slowRef) hash(bus []byte, inLen uint64) [3]uint64 {
	if len(bus) != r.k {
		panic("slowRef: bus is not K bytes")
	}
	n := 8*r.k + r.kl
	x := make([]int, n)
	for i := 0; i < r.k; i++ {
		var b byte
		if uint64(i) < inLen {
			b = bus[i]
		}
		for j := 0; j < 8; j++ {
			x[8*i+j] = int(b>>j) & 1
		}
	}
	for j := 0; j < r.kl; j++ {
		x[8*r.k+j] = int(inLen>>j) & 1
	}
	var h [3]uint64
	for f := 0; f < 3; f++ {
		for i := 0; i < n; i++ {
			if x[i] == 1 {
				h[f] ^= r.q[f][i]
			}
		}
	}
	return h
}

func (r *slowRef) hashKey(key []byte) [3]uint64 {
	bus := make([]byte, r.k)
	copy(bus, key)
	return r.hash(bus, uint64(len(key)))
}

// ---------------------------------------------------------------------------

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func busWords(bus []byte) []uint64 {
	w := make([]uint64, model.Words(8*len(bus)))
	for i, b := range bus {
		w[i/8] |= uint64(b) << (8 * (i % 8))
	}
	return w
}

func randBytes(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func TestSplitMix64(t *testing.T) {
	// Published outputs of SplitMix64 seeded with 1234567.
	want := []uint64{6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821}
	s := uint64(1234567)
	for i, w := range want {
		if g := splitMix64(&s); g != w {
			t.Fatalf("output %d: got %d, want %d", i, g, w)
		}
	}
}

func TestMatrixMatchesSlow(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		cfg := preset(t, name)
		r := newSlowRef(cfg)
		h := NewHasher(cfg)
		if r.kl != h.LenBits() || r.w != h.Widths() {
			t.Fatalf("%s: widths: slow KL=%d w=%v, package KL=%d w=%v", name, r.kl, r.w, h.LenBits(), h.Widths())
		}
		for f := 0; f < 3; f++ {
			q := Matrix(cfg.KeyHash.Seed, f, 8*r.k+r.kl, r.w[f])
			for i := range q {
				if q[i] != r.q[f][i] {
					t.Fatalf("%s: Q_%d[%d] = %#x, slow %#x", name, f, i, q[i], r.q[f][i])
				}
			}
		}
	}
}

// checkFastSlow compares Hasher.Bus (with garbage past in_len), Hash and the
// slow reference on perLen random keys of every length 0..K, and on in_len
// values above K that the in_len port can carry.
func checkFastSlow(t *testing.T, cfg config.Config, perLen int, seed uint64) {
	r := newSlowRef(cfg)
	h := NewHasher(cfg)
	rng := rand.New(rand.NewPCG(seed, 0x6b6579))
	k := cfg.Key.MaxKeyBytes
	bus := make([]byte, k)
	words := make([]uint64, model.Words(8*k))
	maxLen := (1 << r.kl) - 1
	for l := 0; l <= maxLen; l++ {
		n := perLen
		if l > k {
			n = perLen / 10
		}
		for it := 0; it < n; it++ {
			randBytes(rng, bus) // bytes >= l are garbage the hash must ignore
			for i := range words {
				words[i] = 0
			}
			for i, b := range bus {
				words[i/8] |= uint64(b) << (8 * (i % 8))
			}
			want := r.hash(bus, uint64(l))
			b, s, sl := h.Bus(words, uint64(l))
			if got := [3]uint64{b, s, sl}; got != want {
				t.Fatalf("%s: bus % x len %d: fast %#x, slow %#x", cfg.Name, bus, l, got, want)
			}
			if l <= k {
				b, s, sl := Hash(cfg, bus[:l])
				if got := [3]uint64{b, s, sl}; got != want {
					t.Fatalf("%s: key % x: Hash %#x, slow %#x", cfg.Name, bus[:l], got, want)
				}
			}
		}
	}
}

func TestFastMatchesSlow(t *testing.T) {
	perLen := 100_000
	if testing.Short() {
		perLen = 3_000
	}
	for i, name := range []string{"sim", "paper"} {
		cfg := preset(t, name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkFastSlow(t, cfg, perLen, uint64(i+1))
		})
	}
}

// TestFastMatchesSlowWide covers the unpacked table layout (outputs wider
// than 64 bits together) and a 64-bit-wide output. These configurations
// need not pass config.Validate; only the widths matter to the hasher.
func TestFastMatchesSlowWide(t *testing.T) {
	cfg := preset(t, "sim")
	cfg.Name = "wide"
	cfg.Memory.IndexBuckets = 1 << 40
	cfg.Bucket.SecHashBits = 64
	cfg.RS.Slots = 1 << 12
	cfg.Key.MaxKeyBytes = 13 // not a multiple of 8, and K+1 not a power of two
	cfg.KeyHash.Seed = 42
	if h := NewHasher(cfg); h.packed {
		t.Fatal("expected the unpacked layout")
	}
	checkFastSlow(t, cfg, 2_000, 7)

	cfg.Name = "packed-odd"
	cfg.Memory.IndexBuckets = 1 << 20
	cfg.Bucket.SecHashBits = 30
	cfg.RS.Slots = 1 << 14 // 20+30+14 = 64: packed, exactly full
	if h := NewHasher(cfg); !h.packed {
		t.Fatal("expected the packed layout")
	}
	checkFastSlow(t, cfg, 2_000, 8)
}

func TestGarbageIgnored(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		cfg := preset(t, name)
		h := NewHasher(cfg)
		m := New(cfg)
		lay := model.MustLayout(m.Ports())
		rng := rand.New(rand.NewPCG(3, 4))
		k := cfg.Key.MaxKeyBytes
		clean := make([]byte, k)
		dirty := make([]byte, k)
		in := make([]uint64, lay.InWords)
		out := make([]uint64, lay.OutWords)
		key, ln, valid := lay.MustSlot("in_key"), lay.MustSlot("in_len"), lay.MustSlot("in_valid")
		for it := 0; it < 20_000; it++ {
			l := rng.IntN(k + 1)
			randBytes(rng, dirty)
			copy(clean, dirty[:l])
			for i := l; i < k; i++ {
				clean[i] = 0
			}
			b1, s1, t1 := h.Bus(busWords(clean), uint64(l))
			b2, s2, t2 := h.Bus(busWords(dirty), uint64(l))
			if b1 != b2 || s1 != s2 || t1 != t2 {
				t.Fatalf("%s: len %d: clean % x -> %x %x %x, dirty % x -> %x %x %x", name, l, clean, b1, s1, t1, dirty, b2, s2, t2)
			}
		}
		// The same through the model.
		for it := 0; it < 2_000; it++ {
			l := rng.IntN(k + 1)
			randBytes(rng, dirty)
			copy(clean, dirty[:l])
			for i := l; i < k; i++ {
				clean[i] = 0
			}
			var got [2][3]uint64
			for j, bus := range [][]byte{clean, dirty} {
				m.Reset()
				in[valid.Off] = 1
				copy(in[key.Off:key.Off+key.Words], busWords(bus))
				in[ln.Off] = uint64(l)
				for c := 0; c <= specLatency; c++ {
					if err := m.Step(in, out); err != nil {
						t.Fatal(err)
					}
					in[valid.Off] = 0
				}
				got[j] = [3]uint64{out[lay.MustSlot("out_bucket").Off], out[lay.MustSlot("out_sec").Off], out[lay.MustSlot("out_slot").Off]}
			}
			if got[0] != got[1] {
				t.Fatalf("%s: model: clean % x -> %x, dirty % x -> %x", name, clean, got[0], dirty, got[1])
			}
		}
	}
}

// TestLinear checks the algebra H3 promises: for keys of one length,
// H(a) ^ H(b) ^ H(c) = H(a ^ b ^ c) (the length term appears an odd number
// of times on both sides).
func TestLinear(t *testing.T) {
	cfg := preset(t, "paper")
	h := NewHasher(cfg)
	rng := rand.New(rand.NewPCG(5, 6))
	k := cfg.Key.MaxKeyBytes
	a, b, c, x := make([]byte, k), make([]byte, k), make([]byte, k), make([]byte, k)
	for it := 0; it < 10_000; it++ {
		l := rng.IntN(k + 1)
		randBytes(rng, a)
		randBytes(rng, b)
		randBytes(rng, c)
		for i := range x {
			x[i] = a[i] ^ b[i] ^ c[i]
		}
		a0, a1, a2 := h.Bytes(a[:l])
		b0, b1, b2 := h.Bytes(b[:l])
		c0, c1, c2 := h.Bytes(c[:l])
		x0, x1, x2 := h.Bytes(x[:l])
		if a0^b0^c0 != x0 || a1^b1^c1 != x1 || a2^b2^c2 != x2 {
			t.Fatalf("len %d: not linear", l)
		}
	}
}

// TestTrailingZerosDistinguished: the length is hashed, so a key and the
// same key with a zero byte appended differ (for these fixed keys; H3 only
// promises it with probability 1 - 2^-w per function, so we check that not
// all three functions collide).
func TestTrailingZerosDistinguished(t *testing.T) {
	cfg := preset(t, "sim")
	for _, key := range []string{"", "a", "hello", "0123456789abcde"} {
		b0, s0, t0 := Hash(cfg, []byte(key))
		b1, s1, t1 := Hash(cfg, append([]byte(key), 0))
		if b0 == b1 && s0 == s1 && t0 == t1 {
			t.Errorf("%q and %q+NUL hash the same", key, key)
		}
	}
}

func TestHashPanicsOnLongKey(t *testing.T) {
	cfg := preset(t, "sim")
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a key longer than max_key_bytes")
		}
	}()
	Hash(cfg, make([]byte, cfg.Key.MaxKeyBytes+1))
}

// Golden vectors, computed by the slow reference (and, independently, by a
// throw-away Python transcription of §2.2, which agreed). The empty key hashes
// to zero in every function: H3 is linear and its input X is all zero.
var goldenVectors = []struct {
	preset            string
	key               []byte
	bucket, sec, slot uint64
}{
	{"sim", []byte(""), 0x0, 0x0, 0x0},
	{"sim", []byte("a"), 0x1ad, 0x16c, 0xd0},
	{"sim", []byte("hello"), 0x98d, 0x1a1, 0x74},
	{"sim", []byte("kv-direct"), 0x6e2, 0x1fd, 0xe1},
	{"sim", bytes.Repeat([]byte{0xff}, 16), 0x3a91, 0x181, 0xf5},
	{"paper", []byte("a"), 0xb47c323, 0x2a, 0x7},
	{"paper", []byte("hello"), 0xbb981a6, 0x8c, 0x7b},
	{"paper", bytes.Repeat([]byte{0xff}, 32), 0xc0f589d, 0x155, 0x11b},
}

func TestGoldenVectors(t *testing.T) {
	for _, v := range goldenVectors {
		cfg := preset(t, v.preset)
		want := newSlowRef(cfg).hashKey(v.key)
		b, s, sl := Hash(cfg, v.key)
		t.Logf("%-5s key=%-36q bucket=%#x sec=%#x slot=%#x", v.preset, v.key, b, s, sl)
		if want != [3]uint64{v.bucket, v.sec, v.slot} {
			t.Errorf("%s %q: slow reference gives %#x, pinned %#x", v.preset, v.key, want, [3]uint64{v.bucket, v.sec, v.slot})
		}
		if got := [3]uint64{b, s, sl}; got != want {
			t.Errorf("%s %q: Hash gives %#x, slow reference %#x", v.preset, v.key, got, want)
		}
	}
}

// chiSquare returns the statistic and the degrees of freedom.
func chiSquare(counts []int, total int) (float64, int) {
	e := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		d := float64(c) - e
		x += d * d / e
	}
	return x, len(counts) - 1
}

// checkUniform fails unless the statistic is within 6 standard deviations
// of its mean (a chi-square of df degrees has mean df, variance 2 df): a
// correct H3 on random keys passes with overwhelming probability, and the
// seed is fixed, so the test is deterministic.
func checkUniform(t *testing.T, what string, counts []int, total int) {
	t.Helper()
	x, df := chiSquare(counts, total)
	sd := math.Sqrt(2 * float64(df))
	t.Logf("%s: chi2 = %.0f, df = %d (%.2f sd)", what, x, df, (x-float64(df))/sd)
	if math.Abs(x-float64(df)) > 6*sd {
		t.Errorf("%s: chi2 = %.0f with %d degrees of freedom, more than 6 sd from the mean", what, x, df)
	}
}

func TestUniform(t *testing.T) {
	const perBin = 16
	for _, name := range []string{"sim", "paper"} {
		cfg := preset(t, name)
		h := NewHasher(cfg)
		w := h.Widths()
		bb := min(w[FuncBucket], 14) // bins of the bucket index we look at
		nb := 1 << bb
		total := perBin * nb
		lowB := make([]int, nb)
		highB := make([]int, nb)
		sec := make([]int, 1<<w[FuncSec])
		slot := make([]int, 1<<w[FuncSlot])
		rng := rand.New(rand.NewPCG(11, 12))
		k := cfg.Key.MaxKeyBytes
		key := make([]byte, k)
		for i := 0; i < total; i++ {
			l := 4 + rng.IntN(k-3) // lengths 4..K: few repeated keys
			randBytes(rng, key[:l])
			b, s, sl := h.Bytes(key[:l])
			lowB[b&uint64(nb-1)]++
			highB[b>>(w[FuncBucket]-bb)]++
			sec[s]++
			slot[sl]++
		}
		checkUniform(t, name+" bucket low bits", lowB, total)
		if bb < w[FuncBucket] {
			checkUniform(t, name+" bucket high bits", highB, total)
		}
		checkUniform(t, name+" sec", sec, total)
		checkUniform(t, name+" slot", slot, total)
	}
}

// ---------------------------------------------------------------------------
// The block model.

func TestPorts(t *testing.T) {
	type p struct {
		name string
		dir  model.Dir
		w    int
		q    string
	}
	for _, tc := range []struct {
		preset string
		want   []p
	}{
		{"sim", []p{
			{"in_valid", model.In, 1, ""}, {"in_key", model.In, 128, ""}, {"in_len", model.In, 5, ""}, {"in_tag", model.In, 16, ""},
			{"out_valid", model.Out, 1, ""}, {"out_bucket", model.Out, 14, "out_valid"}, {"out_sec", model.Out, 9, "out_valid"},
			{"out_slot", model.Out, 8, "out_valid"}, {"out_tag", model.Out, 16, "out_valid"},
		}},
		{"paper", []p{
			{"in_valid", model.In, 1, ""}, {"in_key", model.In, 256, ""}, {"in_len", model.In, 6, ""}, {"in_tag", model.In, 16, ""},
			{"out_valid", model.Out, 1, ""}, {"out_bucket", model.Out, 28, "out_valid"}, {"out_sec", model.Out, 9, "out_valid"},
			{"out_slot", model.Out, 10, "out_valid"}, {"out_tag", model.Out, 16, "out_valid"},
		}},
	} {
		ports := New(preset(t, tc.preset)).Ports()
		if len(ports) != len(tc.want) {
			t.Fatalf("%s: %d ports, want %d", tc.preset, len(ports), len(tc.want))
		}
		for i, w := range tc.want {
			g := ports[i]
			if g.Name != w.name || g.Dir != w.dir || g.Width != w.w || g.QualifiedBy != w.q {
				t.Errorf("%s: port %d = %s %v %d %q, want %s %v %d %q", tc.preset, i, g.Name, g.Dir, g.Width, g.QualifiedBy, w.name, w.dir, w.w, w.q)
			}
		}
		if _, err := model.NewLayout(ports); err != nil {
			t.Error(err)
		}
	}
}

// specLatency is §2.1's latency, written here rather than taken from the
// package so that a wrong Latency constant fails the tests.
const specLatency = 3

// driver feeds a model random keys and remembers what it fed.
type driver struct {
	cfg     config.Config
	m       *Model
	lay     *model.Layout
	in, out []uint64
	rng     *rand.Rand
	bus     []byte
	hist    []fed // what was fed in each cycle since the last reset
}

type fed struct {
	valid bool
	key   []byte // the key proper (len = in_len)
	tag   uint64
}

func newDriver(t testing.TB, cfg config.Config, seed uint64) *driver {
	m := New(cfg)
	lay := model.MustLayout(m.Ports())
	return &driver{cfg: cfg, m: m, lay: lay, in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords),
		rng: rand.New(rand.NewPCG(seed, 99)), bus: make([]byte, cfg.Key.MaxKeyBytes)}
}

// step drives one cycle with in_valid = valid and a random key (with garbage
// past its length) and returns the outputs.
func (d *driver) step(t testing.TB, valid bool) []uint64 {
	t.Helper()
	l := d.rng.IntN(d.cfg.Key.MaxKeyBytes + 1)
	randBytes(d.rng, d.bus)
	tag := uint64(d.rng.Uint32() & 0xffff)
	for i := range d.in {
		d.in[i] = 0
	}
	if valid {
		d.in[d.lay.MustSlot("in_valid").Off] = 1
	}
	ks := d.lay.MustSlot("in_key")
	copy(d.in[ks.Off:ks.Off+ks.Words], busWords(d.bus))
	d.in[d.lay.MustSlot("in_len").Off] = uint64(l)
	d.in[d.lay.MustSlot("in_tag").Off] = tag
	if err := d.m.Step(d.in, d.out); err != nil {
		t.Fatal(err)
	}
	d.hist = append(d.hist, fed{valid, append([]byte(nil), d.bus[:l]...), tag})
	return d.out
}

func (d *driver) get(name string) uint64 { return d.out[d.lay.MustSlot(name).Off] }

// check verifies the outputs of the cycle just stepped against the history.
func (d *driver) check(t testing.TB) {
	t.Helper()
	c := len(d.hist) - 1 // this cycle
	ov := d.get("out_valid")
	if c < specLatency {
		if ov != 0 {
			t.Fatalf("cycle %d: out_valid = 1 before any key can have come through", c)
		}
		return
	}
	f := d.hist[c-specLatency]
	if want := map[bool]uint64{false: 0, true: 1}[f.valid]; ov != want {
		t.Fatalf("cycle %d: out_valid = %d, in_valid %d cycles earlier was %d", c, ov, specLatency, want)
	}
	if ov == 0 {
		return
	}
	b, s, sl := Hash(d.cfg, f.key)
	got := [4]uint64{d.get("out_bucket"), d.get("out_sec"), d.get("out_slot"), d.get("out_tag")}
	if want := [4]uint64{b, s, sl, f.tag}; got != want {
		t.Fatalf("cycle %d: outputs %#x, want %#x (key % x, tag %#x from cycle %d)", c, got, want, f.key, f.tag, c-specLatency)
	}
}

func TestModelLatency(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		d := newDriver(t, preset(t, name), 1)
		// A single key: out_valid is 1 in exactly one cycle, 3 after.
		d.step(t, true)
		d.check(t)
		for c := 1; c < 10; c++ {
			d.step(t, false)
			d.check(t)
			if got, want := d.get("out_valid"), uint64(0); c == specLatency {
				if got != 1 {
					t.Fatalf("%s: out_valid = 0 in cycle %d after the key", name, c)
				}
			} else if got != want {
				t.Fatalf("%s: out_valid = 1 in cycle %d after the key", name, c)
			}
		}
		// Random traffic, including back-to-back keys.
		for c := 0; c < 20_000; c++ {
			d.step(t, d.rng.IntN(3) != 0)
			d.check(t)
		}
	}
}

func TestModelReset(t *testing.T) {
	d := newDriver(t, preset(t, "sim"), 2)
	for c := 0; c < 10; c++ {
		d.step(t, true)
	}
	d.m.Reset()
	d.hist = d.hist[:0]
	for c := 0; c < 10; c++ {
		d.step(t, c == 5)
		d.check(t)
		if want := uint64(0); c == 5+specLatency {
			want = 1
			if d.get("out_valid") != want {
				t.Fatalf("cycle %d after reset: out_valid = 0", c)
			}
		} else if d.get("out_valid") != want {
			t.Fatalf("cycle %d after reset: out_valid = 1 (reset must clear the pipeline)", c)
		}
	}
}

func TestModelSnapshot(t *testing.T) {
	cfg := preset(t, "paper")
	d := newDriver(t, cfg, 3)
	for c := 0; c < 100; c++ {
		d.step(t, d.rng.IntN(2) == 0)
	}
	snap := d.m.Snapshot()
	// Record the inputs and all outputs of the next 200 cycles.
	var ins, outs [][]uint64
	for c := 0; c < 200; c++ {
		d.step(t, d.rng.IntN(2) == 0)
		ins = append(ins, append([]uint64(nil), d.in...))
		outs = append(outs, append([]uint64(nil), d.out...))
	}
	// Restore twice: the first replay must not have altered the snapshot.
	for round := 0; round < 2; round++ {
		d.m.Restore(snap)
		for c := range ins {
			if err := d.m.Step(ins[c], d.out); err != nil {
				t.Fatal(err)
			}
			for w := range d.out {
				if d.out[w] != outs[c][w] {
					t.Fatalf("round %d, cycle %d after restore: output word %d = %#x, first run %#x", round, c, w, d.out[w], outs[c][w])
				}
			}
		}
	}
	// A fresh model restored from the snapshot behaves the same.
	m2 := New(cfg)
	m2.Restore(snap)
	for c := range ins {
		if err := m2.Step(ins[c], d.out); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(d.out) != fmt.Sprint(outs[c]) {
			t.Fatalf("fresh model, cycle %d after restore: %#x, want %#x", c, d.out, outs[c])
		}
	}
}

func TestModelOutputWidths(t *testing.T) {
	// Bits above a port's width must be zero, whatever the inputs carry in
	// their unused high bits.
	cfg := preset(t, "sim")
	m := New(cfg)
	lay := model.MustLayout(m.Ports())
	in := make([]uint64, lay.InWords)
	out := make([]uint64, lay.OutWords)
	rng := rand.New(rand.NewPCG(8, 9))
	for c := 0; c < 1000; c++ {
		for i := range in {
			in[i] = rng.Uint64()
		}
		if err := m.Step(in, out); err != nil {
			t.Fatal(err)
		}
		for _, s := range lay.Out {
			if out[s.Off]&^model.Mask(s.Width) != 0 {
				t.Fatalf("port %s = %#x wider than %d bits", lay.Ports[s.Port].Name, out[s.Off], s.Width)
			}
		}
	}
}

func TestStepAllocatesNothing(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		m := New(preset(t, name))
		lay := model.MustLayout(m.Ports())
		in := make([]uint64, lay.InWords)
		out := make([]uint64, lay.OutWords)
		rng := rand.New(rand.NewPCG(1, 1))
		allocs := testing.AllocsPerRun(1000, func() {
			for i := range in {
				in[i] = rng.Uint64()
			}
			_ = m.Step(in, out)
		})
		if allocs != 0 {
			t.Errorf("%s: Step allocates %.1f times per call", name, allocs)
		}
	}
}

func BenchmarkModelStep(b *testing.B) {
	for _, name := range []string{"sim", "paper"} {
		b.Run(name, func(b *testing.B) {
			cfg := preset(b, name)
			m := New(cfg)
			lay := model.MustLayout(m.Ports())
			rng := rand.New(rand.NewPCG(1, 2))
			const nv = 1024
			ins := make([][]uint64, nv)
			for i := range ins {
				ins[i] = make([]uint64, lay.InWords)
				for j := range ins[i] {
					ins[i][j] = rng.Uint64()
				}
				ins[i][lay.MustSlot("in_valid").Off] = 1
				// Full-length keys: the slowest case.
				ins[i][lay.MustSlot("in_len").Off] = uint64(cfg.Key.MaxKeyBytes)
			}
			out := make([]uint64, lay.OutWords)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = m.Step(ins[i&(nv-1)], out)
			}
		})
	}
}

func BenchmarkHasherBus(b *testing.B) {
	cfg := preset(b, "paper")
	h := NewHasher(cfg)
	words := []uint64{1, 2, 3, 4}
	var sink uint64
	for i := 0; i < b.N; i++ {
		x, y, z := h.Bus(words, 32)
		sink ^= x ^ y ^ z
		words[0] = sink
	}
}
