package rob

import (
	"testing"

	"github.com/kvdirect/kvd/golden/model"
)

// Occupancy counts the entries from the record's acceptance to its
// release to the encoder.
func TestOccupancy(t *testing.T) {
	b := newBench(t, preset(t, "sim"))
	p := b.m.P
	key := make([]uint64, model.Words(8*p.K))
	key[0] = 0x6f6c6c6568
	get := &drec{kind: KindOp, seq: 1, last: true, op: 0, klen: 5, key: key, value: make([]uint64, model.Words(8*p.V))}
	b.set("iss_ready", 1)
	b.set("e_ready", 1)
	want := []int{1, 1, 1, 0, 0}
	for c, w := range want {
		b.set("d_valid", 0)
		b.set("cpl_valid", 0)
		if c == 0 {
			b.present(get)
		}
		if c == 2 {
			b.complete(0, 0, 0, make([]uint64, model.Words(8*p.V)))
		}
		b.step()
		if got := b.m.Occupancy(); got != w || got != b.m.s.count {
			t.Errorf("cycle %d: Occupancy() = %d, want %d (%s)", c, got, w, b.m.DescribeState())
		}
	}
}
