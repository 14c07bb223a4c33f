package testbenches

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
)

func init() {
	register(Scenario{
		Name:          "keyhash",
		Doc:           "random keys of every length 0..max (and lengths past max), with garbage past the length, 7 of 8 cycles valid",
		Top:           func(config.Config) string { return "kvd_keyhash" },
		DefaultCycles: 1_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m := keyhash.New(cfg)
			return m, newKeyhashStim(cfg, m, seed), nil
		},
		Points: keyhashPoints,
	})
}

func init() {
	register(Scenario{
		Name:          "keyhash_corners",
		Doc:           "directed: the empty key, every length with all-ones bytes, lengths past the maximum, trailing-zero aliases, repeated keys, gaps",
		Top:           func(config.Config) string { return "kvd_keyhash" },
		DefaultCycles: 1 << 20, // the sequence ends first
		Directed:      true,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m := keyhash.New(cfg)
			return m, newKeyhashCorners(cfg, m), nil
		},
		Points: keyhashPoints,
	})
}

// keyhashCorners plays a fixed list of keys through the random stimulus's
// bookkeeping, so reports and coverage points work the same way.
type keyhashCorners struct {
	*keyhashStim
	seq []keyhashEntry
}

func newKeyhashCorners(cfg config.Config, m model.Model) *keyhashCorners {
	s := newKeyhashStim(cfg, m, 1)
	words := s.keyWords
	key := func(fill byte, n int) []uint64 {
		k := make([]uint64, words)
		for i := 0; i < n; i++ {
			k[i/8] |= uint64(fill) << (8 * uint(i%8))
		}
		return k
	}
	var seq []keyhashEntry
	add := func(valid bool, l uint64, k []uint64, tag uint64) {
		seq = append(seq, keyhashEntry{valid: valid, len: l, key: k, tag: tag})
	}
	add(true, 0, key(0, 0), 0x0001)
	add(true, 0, key(0xff, s.k), 0x0002) // garbage past a zero length
	for l := 1; l <= s.k; l++ {
		add(true, uint64(l), key(0xff, s.k), uint64(0x100+l))
	}
	for l := s.k + 1; l < 1<<s.lenBits; l += max(1, (1<<s.lenBits-s.k)/4) {
		add(true, uint64(l), key(0x5a, s.k), uint64(0x200+l))
	}
	add(true, uint64(1)<<s.lenBits-1, key(0x5a, s.k), 0x2ff)
	// "a" and "a\0" must differ: the length is hashed in.
	add(true, 1, key(0x61, 1), 0x300)
	add(true, 2, key(0x61, 1), 0x301)
	for i := 0; i < 40; i++ { // one key back to back: a burst
		add(true, uint64(s.k), key(0x3c, s.k), uint64(0x400+i))
	}
	for i := 0; i < 5; i++ {
		add(false, uint64(s.k), key(0xff, s.k), 0xffff)
	}
	add(true, 3, key(0x81, s.k), 0xfffe)
	return &keyhashCorners{keyhashStim: s, seq: seq}
}

func (c *keyhashCorners) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if cycle >= uint64(len(c.seq))+4 {
		return false, nil // the last key's hashes are out
	}
	if prev != nil && prev[c.outValid.Off] == 1 {
		c.completed++
	}
	e := &c.log[cycle%keyhashLog]
	if cycle < uint64(len(c.seq)) {
		d := c.seq[cycle]
		e.valid, e.len, e.tag = d.valid, d.len, d.tag
		copy(e.key, d.key)
	} else {
		e.valid = false
	}
	if e.valid {
		in[c.inValid.Off] = 1
		c.lengths[e.len]++
		c.run++
		if c.run == 32 {
			c.bursts++
		}
	} else {
		c.run = 0
	}
	copy(in[c.inKey.Off:c.inKey.Off+c.keyWords], e.key)
	in[c.inLen.Off] = e.len
	in[c.tag.Off] = e.tag
	return true, nil
}

// keyhashPoints are the corners of docs/microarch.md §2: the empty key, the
// longest key, a length past the maximum, and a long unbroken run of keys.
var keyhashPoints = []string{"keyhash.len_zero", "keyhash.len_max", "keyhash.len_over_max", "keyhash.burst_32"}

func (s *keyhashStim) Points() map[string]uint64 {
	over := uint64(0)
	for l := s.k + 1; l < len(s.lengths); l++ {
		over += s.lengths[l]
	}
	return map[string]uint64{
		"keyhash.len_zero":     s.lengths[0],
		"keyhash.len_max":      s.lengths[s.k],
		"keyhash.len_over_max": over,
		"keyhash.burst_32":     s.bursts,
	}
}

// keyhashLog is how many cycles of keys are remembered for reports: more
// than the bridge's lead (frames in flight × frame cycles, plus history).
const keyhashLog = 1 << 16

type keyhashStim struct {
	rng                        *rand.Rand
	k, lenBits                 int
	inValid, inKey, inLen, tag model.Slot
	outValid                   model.Slot
	keyWords                   int
	completed                  uint64
	log                        []keyhashEntry
	// lengths counts the valid keys presented per in_len value.
	lengths []uint64
	run     int    // consecutive valid keys
	bursts  uint64 // runs that reached 32
}

type keyhashEntry struct {
	valid bool
	len   uint64
	tag   uint64
	key   []uint64
}

func newKeyhashStim(cfg config.Config, m model.Model, seed uint64) *keyhashStim {
	l := model.MustLayout(m.Ports())
	s := &keyhashStim{
		rng: rand.New(rand.NewPCG(seed, 0x6b657968617368)),
		k:   cfg.Key.MaxKeyBytes, lenBits: cfg.KeyLenBits(),
		inValid: l.MustSlot("in_valid"), inKey: l.MustSlot("in_key"), inLen: l.MustSlot("in_len"),
		tag: l.MustSlot("in_tag"), outValid: l.MustSlot("out_valid"),
		log: make([]keyhashEntry, keyhashLog),
	}
	s.keyWords = s.inKey.Words
	s.lengths = make([]uint64, 1<<s.lenBits)
	for i := range s.log {
		s.log[i].key = make([]uint64, s.keyWords)
	}
	return s
}

func (s *keyhashStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if prev != nil && prev[s.outValid.Off] == 1 {
		s.completed++
	}
	e := &s.log[cycle%keyhashLog]
	e.valid = s.rng.Uint32()&7 != 0
	// Every length 0..max; one key in 64 carries a length past the maximum,
	// which the unit must treat as "all bytes".
	if s.rng.Uint32()&63 == 0 {
		e.len = uint64(s.k) + 1 + s.rng.Uint64N(uint64(1)<<s.lenBits-uint64(s.k)-1+1)
		if e.len >= 1<<s.lenBits {
			e.len = 1<<s.lenBits - 1
		}
	} else {
		e.len = s.rng.Uint64N(uint64(s.k) + 1)
	}
	e.tag = s.rng.Uint64() & 0xffff
	for w := range e.key {
		e.key[w] = s.rng.Uint64()
	}
	if bits := s.k * 8; bits%64 != 0 {
		e.key[len(e.key)-1] &= 1<<(bits%64) - 1
	}
	if e.valid {
		in[s.inValid.Off] = 1
		s.lengths[e.len]++
		s.run++
		if s.run == 32 {
			s.bursts++
		}
	} else {
		s.run = 0
	}
	copy(in[s.inKey.Off:s.inKey.Off+s.keyWords], e.key)
	in[s.inLen.Off] = e.len
	in[s.tag.Off] = e.tag
	return true, nil
}

func (s *keyhashStim) Progress() uint64 { return s.completed }

// Describe names the key whose hashes are due at cycle (presented Latency
// cycles earlier).
func (s *keyhashStim) Describe(cycle uint64) string {
	const latency = 3
	if cycle < latency {
		return "no key in flight (pipeline filling after reset)"
	}
	c := cycle - latency
	e := s.log[c%keyhashLog]
	return fmt.Sprintf("key presented at cycle %d: valid=%v len=%d tag=0x%04x key=%s", c, e.valid, e.len, e.tag, model.Hex(e.key, s.k*8))
}
