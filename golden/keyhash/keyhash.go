// Package keyhash is the golden model of the key-hash unit, kvd_keyhash
// (docs/microarch.md §2): three H3 hashes of a key — the bucket index, the
// secondary hash and the reservation-station slot.
//
// It is written from docs/microarch.md only. H3 is linear over GF(2), so the
// hash of a key is the XOR of the contributions of its bytes; a Hasher
// precomputes, per byte position, a 256-entry table of those contributions
// (and one table for the length field), so that hashing a key costs one
// table lookup per key byte.
package keyhash

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Function numbers of §2.2.
const (
	FuncBucket = 0 // bucket index, B bits
	FuncSec    = 1 // secondary hash, bucket.sec_hash_bits bits
	FuncSlot   = 2 // reservation-station slot, S bits
)

// splitMixGamma and streamMul are the constants of §2.2.
const (
	splitMixGamma = 0x9E3779B97F4A7C15
	streamMul     = 0xD1B54A32D192ED03
)

// splitMix64 advances state and returns the next SplitMix64 output (§2.2).
func splitMix64(state *uint64) uint64 {
	*state += splitMixGamma
	z := *state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Matrix returns the n rows of Q_f for hash function f (0, 1, 2) under seed:
// row i is the low w bits of the i-th SplitMix64 output of the stream that
// starts at seed XOR ((f+1) * 0xD1B54A32D192ED03) (§2.2).
func Matrix(seed uint64, f, n, w int) []uint64 {
	state := seed ^ (uint64(f+1) * streamMul)
	rows := make([]uint64, n)
	m := model.Mask(w)
	for i := range rows {
		rows[i] = splitMix64(&state) & m
	}
	return rows
}

// Widths returns the output widths (w_0, w_1, w_2) = (B, sec_hash_bits, S).
func Widths(cfg config.Config) [3]int {
	return [3]int{cfg.BucketIndexBits(), cfg.Bucket.SecHashBits, cfg.RSSlotBits()}
}

// Hasher computes the §2.2 hashes of one configuration with lookup tables.
// It is immutable after NewHasher and safe for concurrent use.
type Hasher struct {
	k, kl int    // key.max_key_bytes and the width of in_len
	w     [3]int // output widths
	mask  [3]uint64
	// packed: all three outputs fit one uint64 (w_0+w_1+w_2 <= 64). Each
	// table entry then holds bucket at bit 0, sec at bit w_0, slot at bit
	// w_0+w_1. Otherwise every entry is three consecutive uint64s, one per
	// function.
	packed bool
	shift  [3]uint
	// byteTab[(p<<8|v)*lanes + f]: contribution of byte value v at key
	// position p (lanes = 1 when packed, else 3).
	byteTab []uint64
	// lenTab[l*lanes + f]: contribution of in_len = l, for l < 2^kl.
	lenTab []uint64
}

// NewHasher builds the tables for cfg. It panics if cfg's key or output
// widths are out of range (max_key_bytes outside 1..255, or an output wider
// than 64 bits); a validated configuration never is.
func NewHasher(cfg config.Config) *Hasher {
	k := cfg.Key.MaxKeyBytes
	if k < 1 || k > 255 {
		panic(fmt.Sprintf("keyhash: key.max_key_bytes = %d, want 1..255", k))
	}
	h := &Hasher{k: k, kl: cfg.KeyLenBits(), w: Widths(cfg)}
	total := 0
	for f, w := range h.w {
		if w < 0 || w > 64 {
			panic(fmt.Sprintf("keyhash: hash %d is %d bits wide, want 0..64", f, w))
		}
		h.mask[f] = model.Mask(w)
		h.shift[f] = uint(total)
		total += w
	}
	h.packed = total <= 64
	lanes := 3
	if h.packed {
		lanes = 1
	}
	n := 8*k + h.kl
	var rows [3][]uint64
	for f := range rows {
		rows[f] = Matrix(cfg.KeyHash.Seed, f, n, h.w[f])
	}
	// row(i) writes the contribution of input bit i into dst (lanes words).
	row := func(dst []uint64, i int) {
		if h.packed {
			dst[0] = rows[0][i] | rows[1][i]<<h.shift[1] | rows[2][i]<<h.shift[2]
			return
		}
		for f := range rows {
			dst[f] = rows[f][i]
		}
	}
	// Build a table over an m-bit field starting at input bit base:
	// tab[v] = tab[v without its lowest set bit] XOR row(base + that bit).
	build := func(tab []uint64, base, m int) {
		r := make([]uint64, lanes)
		for v := 1; v < 1<<m; v++ {
			low := bits.TrailingZeros(uint(v))
			row(r, base+low)
			prev := v & (v - 1)
			for l := 0; l < lanes; l++ {
				tab[v*lanes+l] = tab[prev*lanes+l] ^ r[l]
			}
		}
	}
	h.byteTab = make([]uint64, k*256*lanes)
	for p := 0; p < k; p++ {
		build(h.byteTab[p*256*lanes:(p+1)*256*lanes], 8*p, 8)
	}
	h.lenTab = make([]uint64, (1<<h.kl)*lanes)
	build(h.lenTab, 8*k, h.kl)
	return h
}

// MaxKeyBytes is K, the number of key bytes on the bus.
func (h *Hasher) MaxKeyBytes() int { return h.k }

// LenBits is KL, the width of in_len.
func (h *Hasher) LenBits() int { return h.kl }

// Widths returns (w_0, w_1, w_2).
func (h *Hasher) Widths() [3]int { return h.w }

// Bus hashes a key as the block sees it (§2.2): key holds the in_key bus,
// byte i at bits 8i..8i+7 of the little-endian words (at least
// Words(8*MaxKeyBytes) of them), and inLen is in_len. Bytes at index >= inLen
// contribute zero whatever the bus carries, and inLen itself is hashed. inLen
// is taken modulo 2^KL, as the in_len port would; an inLen greater than
// MaxKeyBytes (possible when MaxKeyBytes+1 is not a power of two) takes every
// bus byte and hashes the length value as given — the literal §2.2 rule.
// Bus allocates nothing.
func (h *Hasher) Bus(key []uint64, inLen uint64) (bucket, sec, slot uint64) {
	inLen &= uint64(1)<<uint(h.kl) - 1
	n := h.k
	if inLen < uint64(n) {
		n = int(inLen)
	}
	if h.packed {
		t := h.byteTab
		x := h.lenTab[inLen]
		for i, w := 0, 0; i < n; w++ {
			v := key[w]
			end := min(i+8, n)
			for ; i < end; i++ {
				x ^= t[i<<8|int(v&0xff)]
				v >>= 8
			}
		}
		return x & h.mask[0], x >> h.shift[1] & h.mask[1], x >> h.shift[2] & h.mask[2]
	}
	return h.busWide(key, inLen, n)
}

func (h *Hasher) busWide(key []uint64, inLen uint64, n int) (bucket, sec, slot uint64) {
	t := h.byteTab
	l := int(inLen) * 3
	x0, x1, x2 := h.lenTab[l], h.lenTab[l+1], h.lenTab[l+2]
	for i := 0; i < n; i++ {
		e := (i<<8 | int(key[i>>3]>>(8*uint(i&7))&0xff)) * 3
		x0 ^= t[e]
		x1 ^= t[e+1]
		x2 ^= t[e+2]
	}
	return x0, x1, x2
}

// Bytes hashes key with in_len = len(key). It panics if len(key) >
// MaxKeyBytes: such a key cannot be presented to the block.
func (h *Hasher) Bytes(key []byte) (bucket, sec, slot uint64) {
	if len(key) > h.k {
		panic(fmt.Sprintf("keyhash: key of %d bytes, longer than key.max_key_bytes = %d", len(key), h.k))
	}
	var buf [32]uint64 // 255 bytes fit in 32 words
	for i, b := range key {
		buf[i>>3] |= uint64(b) << (8 * uint(i&7))
	}
	return h.Bus(buf[:], uint64(len(key)))
}

// hasherKey is what a Hasher depends on in a configuration.
type hasherKey struct {
	k, kl int
	w     [3]int
	seed  uint64
}

var hashers sync.Map // hasherKey -> *Hasher

// Hash is the reference function of §2.2 for a key of len(key) bytes: the
// hash input is the key bytes (the rest of the bus zero) and in_len =
// len(key). It returns the bucket index, the secondary hash and the station
// slot. It panics if len(key) > cfg.Key.MaxKeyBytes (such a key cannot be
// presented to the block; see Hasher.Bus for the bus-level rule). Hashers are
// cached per configuration, so repeated calls are cheap.
func Hash(cfg config.Config, key []byte) (bucket, sec, slot uint64) {
	hk := hasherKey{k: cfg.Key.MaxKeyBytes, kl: cfg.KeyLenBits(), w: Widths(cfg), seed: cfg.KeyHash.Seed}
	v, ok := hashers.Load(hk)
	if !ok {
		v, _ = hashers.LoadOrStore(hk, NewHasher(cfg))
	}
	return v.(*Hasher).Bytes(key)
}
