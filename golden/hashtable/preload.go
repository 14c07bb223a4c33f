package hashtable

import (
	"fmt"
	"math/rand/v2"
)

// PreloadSpec describes a backdoor preload: random KVs of fixed sizes until
// the table reaches a memory utilization (§6).
type PreloadSpec struct {
	KeyBytes, ValueBytes int
	Utilization          float64
	Seed                 uint64
}

// preloadStream keeps the preload's random stream apart from the bench's.
const preloadStream = 0x6b76642d7072656c // "kvd-prel"

// Preload fills t with random KVs until t.Utilization() >= s.Utilization
// and returns their keys in insertion order. It runs the PUT algorithm
// itself (a table built any other way would need its own proof of
// validity), with access counts discarded; it is "backdoor" in that nothing
// goes through a pipeline or a clock. The same spec on the same empty table
// gives the same memory image.
func Preload(t *Table, s PreloadSpec) ([][]byte, error) {
	if s.KeyBytes < 1 || s.KeyBytes > t.l.MaxKey || s.ValueBytes < 0 || s.ValueBytes > t.l.MaxValue {
		return nil, fmt.Errorf("preload: %d B keys and %d B values are outside key.max_key_bytes = %d / key.max_value_bytes = %d",
			s.KeyBytes, s.ValueBytes, t.l.MaxKey, t.l.MaxValue)
	}
	rng := rand.New(rand.NewPCG(s.Seed, preloadStream))
	target := int64(s.Utilization * float64(t.TableBytes()))
	var keys [][]byte
	for t.KVBytes() < target {
		key := randomBytes(rng, s.KeyBytes)
		if _, dup := t.ref[string(key)]; dup {
			continue
		}
		r := t.Put(key, randomBytes(rng, s.ValueBytes))
		if r.Status != OK {
			return keys, fmt.Errorf("preload: PUT %d failed with %s at utilization %.4f (target %.4f)",
				len(keys)+1, r.Status, t.Utilization(), s.Utilization)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func randomBytes(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := i; j < min(n, i+8); j++ {
			p[j] = byte(v)
			v >>= 8
		}
	}
	return p
}
