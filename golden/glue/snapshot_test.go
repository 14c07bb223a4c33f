package glue

import (
	"strings"
	"testing"

	"github.com/kvdirect/kvd/golden/model"
)

// Snapshot/Restore: a restored model replays the same inputs to the same
// outputs, twice from one snapshot (the live model's writes after the
// snapshot must not reach the shared value buffers), and a snapshot shares
// the per-tag values instead of copying them.
func TestSnapshotReplay(t *testing.T) {
	for _, name := range []string{"sim", "paper"} {
		l := newLoop(t, preset(t, name), 7)
		for range 3000 {
			l.cycle()
		}
		m := l.d.m
		snap := m.Snapshot()
		st := snap.(state)
		shared := 0
		for i := range st.reqv.v {
			if st.reqv.v[i] != nil && &st.reqv.v[i][0] == &m.s.reqv.v[i][0] {
				shared++
			}
		}
		if shared == 0 {
			t.Fatalf("%s: the snapshot copied every value", name)
		}
		l.d.rec = [][2][]uint64{}
		for range 3000 {
			l.cycle()
		}
		rec := l.d.rec
		end := m.DescribeState()
		out := make([]uint64, len(rec[0][1]))
		lay := model.MustLayout(m.Ports())
		for pass := 0; pass < 2; pass++ {
			m.Restore(snap)
			for c, r := range rec {
				if err := m.Step(r[0], out); err != nil {
					t.Fatalf("%s pass %d cycle %d: %v", name, pass, c, err)
				}
				if mm := lay.Compare(r[1], out, nil); len(mm) > 0 || !equalWords(out, r[1]) {
					t.Fatalf("%s pass %d cycle %d after restore: %v", name, pass, c, mm)
				}
			}
			if got := m.DescribeState(); got != end {
				t.Fatalf("%s pass %d: ends in %s, want %s", name, pass, got, end)
			}
		}
	}
}

func TestRestoreRefusesForeign(t *testing.T) {
	d := newDriver(t, preset(t, "sim"))
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "not a glue snapshot") {
			t.Fatalf("recovered %v", r)
		}
	}()
	d.m.Restore(42)
}

func TestDescribeState(t *testing.T) {
	d := newDriver(t, preset(t, "sim"))
	if got, want := d.m.DescribeState(), "credits 8 kh - AF [] EF [] c1 - c2 -; tags hashing 0 in AF 0 at the station 0; ids in EF 0 at the engine 0"; got != want {
		t.Fatalf("after reset: %q, want %q", got, want)
	}
	d.issue(3, opGet, 0, []byte("k"), nil)
	d.step()
	d.hashed(3, 5, 0, 0)
	d.pipe(pipeRec{id: 70, key: []byte("k"), vlen: 2})
	d.step()
	if got, want := d.m.DescribeState(), "credits 7 kh - AF [tag 3 slot 5] EF [id 70 tag 0 op 0 vlen 2] c1 - c2 -; tags hashing 0 in AF 1 at the station 0; ids in EF 1 at the engine 0"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
