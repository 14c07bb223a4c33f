package hashtable

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hostmem"
)

// AccessSpec is one cell of the memory-access bench (§5, §6).
type AccessSpec struct {
	KeyBytes, ValueBytes int
	Utilization          float64 // target memory utilization
	// IndexRatio is index bytes / table bytes; the slab heap handed to the
	// allocator is sized from it.
	IndexRatio float64
	Ops        int // operations per measured kind
	Seed       uint64
	Check      bool // run the table checker after measuring
}

// AccessRow is what one cell measured. Accesses per operation follow §5.
type AccessRow struct {
	KVBytes             int     `json:"kv_bytes"`
	KeyBytes            int     `json:"key_bytes"`
	ValueBytes          int     `json:"value_bytes"`
	Inline              bool    `json:"inline"`
	Utilization         float64 `json:"utilization"`
	MeasuredUtilization float64 `json:"measured_utilization"`
	IndexRatio          float64 `json:"index_ratio"`
	KVs                 int     `json:"kvs"`
	ChainedBuckets      int     `json:"chained_buckets"`
	MaxChain            int     `json:"max_chain"`
	Ops                 int     `json:"ops"`

	GetAccessesPerOp float64 `json:"get_accesses_per_op"`
	// PUT of a key not in the table (the insert path).
	PutAccessesPerOp float64 `json:"put_accesses_per_op"`
	PutReadsPerOp    float64 `json:"put_reads_per_op"`
	PutWritesPerOp   float64 `json:"put_writes_per_op"`
	PutAllocsPerOp   float64 `json:"put_allocs_per_op"`
	// PUT of a key in the table, with a new value of the same size.
	PutUpdateAccessesPerOp float64 `json:"put_update_accesses_per_op"`
	DeleteAccessesPerOp    float64 `json:"delete_accesses_per_op"`
}

// benchStream keeps the measured operations' random stream apart from the
// preload's.
const benchStream = 0x6b76642d62656e63 // "kvd-benc"

// MeasureAccesses preloads a fresh table to the spec's utilization and
// measures, each on a table held at that utilization:
//   - GET of a uniformly chosen stored key;
//   - PUT of a new key (then deleted, uncounted);
//   - PUT of a stored key with a new value of the same size;
//   - DELETE of a stored key (then put back, uncounted).
func MeasureAccesses(cfg config.Config, s AccessSpec) (AccessRow, error) {
	row := AccessRow{KVBytes: s.KeyBytes + s.ValueBytes, KeyBytes: s.KeyBytes, ValueBytes: s.ValueBytes,
		Utilization: s.Utilization, IndexRatio: s.IndexRatio, Ops: s.Ops}
	if s.IndexRatio <= 0 || s.IndexRatio > 1 || s.Ops < 1 {
		return row, fmt.Errorf("bench: index ratio %v and %d ops: want a ratio in (0, 1] and at least 1 op", s.IndexRatio, s.Ops)
	}
	heap := int64(float64(cfg.IndexBytes())*(1-s.IndexRatio)/s.IndexRatio) &^ 4095
	alloc, err := NewSimpleAllocator(cfg, heap)
	if err != nil {
		return row, fmt.Errorf("bench: index ratio %.3f: %v (raise memory.host_bytes)", s.IndexRatio, err)
	}
	t, err := New(cfg, hostmem.New(cfg.Memory.HostBytes), alloc)
	if err != nil {
		return row, err
	}
	row.Inline = t.l.FormOf(s.KeyBytes, s.ValueBytes).Inline
	keys, err := Preload(t, PreloadSpec{KeyBytes: s.KeyBytes, ValueBytes: s.ValueBytes, Utilization: s.Utilization, Seed: s.Seed})
	if err != nil {
		return row, err
	}
	row.KVs, row.MeasuredUtilization = len(keys), t.Utilization()
	rng := rand.New(rand.NewPCG(s.Seed, benchStream))
	pick := func() []byte { return keys[rng.IntN(len(keys))] }
	fail := func(op string, r Result) error {
		return fmt.Errorf("bench: %s answered %s at utilization %.3f", op, r.Status, t.Utilization())
	}

	var get, put, putR, putW, putA, upd, del int
	for range s.Ops {
		r := t.Get(pick())
		if r.Status != OK {
			return row, fail("GET of a stored key", r)
		}
		get += r.Accesses()
	}
	for range s.Ops {
		k := pick()
		r := t.Put(k, randomBytes(rng, s.ValueBytes))
		if r.Status != OK {
			return row, fail("PUT of a stored key", r)
		}
		upd += r.Accesses()
	}
	for range s.Ops {
		k := pick()
		v, _ := t.Lookup(k)
		r := t.Delete(k)
		if r.Status != OK {
			return row, fail("DELETE of a stored key", r)
		}
		del += r.Accesses()
		if r := t.Put(k, v); r.Status != OK {
			return row, fail("PUT back of a deleted key", r)
		}
	}
	for done := 0; done < s.Ops; {
		k := randomBytes(rng, s.KeyBytes)
		if _, dup := t.Lookup(k); dup {
			continue
		}
		done++
		r := t.Put(k, randomBytes(rng, s.ValueBytes))
		if r.Status != OK {
			return row, fail("PUT of a new key", r)
		}
		put += r.Accesses()
		putR += r.Reads
		putW += r.Writes
		putA += r.Allocs
		if r := t.Delete(k); r.Status != OK {
			return row, fail("DELETE of the new key", r)
		}
	}
	n := float64(s.Ops)
	row.GetAccessesPerOp = float64(get) / n
	row.PutAccessesPerOp, row.PutReadsPerOp, row.PutWritesPerOp = float64(put)/n, float64(putR)/n, float64(putW)/n
	row.PutAllocsPerOp = float64(putA) / n
	row.PutUpdateAccessesPerOp = float64(upd) / n
	row.DeleteAccessesPerOp = float64(del) / n
	st := t.Stats()
	row.ChainedBuckets, row.MaxChain = st.ChainedBuckets, st.MaxChain
	if s.Check {
		if err := t.Check(); err != nil {
			return row, fmt.Errorf("bench: table invalid after measuring: %v", err)
		}
	}
	return row, nil
}
