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
	})
}

const keyhashLog = 1 << 13 // cycles of keys remembered for reports

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
