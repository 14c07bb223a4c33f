package refstore

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/wire"
)

func le(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestExec(t *testing.T) {
	cfg, _ := config.Preset("sim")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := []byte("k1")
	steps := []struct {
		op   wire.Op
		want wire.Result
	}{
		{wire.Get(k), wire.Result{Status: wire.NotFound}},
		// fetch_add on a missing key: NOT_FOUND, old 0, stores 0+5
		{wire.UpdateScalar(k, 0, 5, 0, 0), wire.Result{Status: wire.NotFound, Value: le(0)}},
		{wire.Get(k), wire.Result{Status: wire.OK, Value: le(5)}},
		// a 3-byte value is read as a zero-extended scalar, and becomes 8 bytes
		{wire.Put(k, []byte{1, 2, 0}), wire.Result{Status: wire.OK}},
		{wire.UpdateScalar(k, 0, 1, 0, 0), wire.Result{Status: wire.OK, Value: le(0x0201)}},
		{wire.Get(k), wire.Result{Status: wire.OK, Value: le(0x0202)}},
		// cas hit and miss
		{wire.UpdateScalar(k, 1, 0, 0x0202, 9), wire.Result{Status: wire.OK, Value: le(0x0202)}},
		{wire.UpdateScalar(k, 1, 0, 0x0202, 7), wire.Result{Status: wire.OK, Value: le(9)}},
		// unknown fid: a fault, nothing changes
		{wire.UpdateScalar(k, 200, 1, 0, 0), wire.Result{Status: wire.LambdaFault}},
		{wire.Get(k), wire.Result{Status: wire.OK, Value: le(9)}},
		{wire.Delete(k), wire.Result{Status: wire.OK}},
		{wire.Delete(k), wire.Result{Status: wire.NotFound}},
	}
	for i, st := range steps {
		got := s.Exec(st.op)
		if got.Status != st.want.Status || !bytes.Equal(got.Value, st.want.Value) {
			t.Fatalf("step %d (%v): got %v %x, want %v %x", i, st.op.Code, got.Status, got.Value, st.want.Status, st.want.Value)
		}
	}
}

// Vector operations: elements are 4 bytes (sim); S2V adds to each, REDUCE
// folds, a missing key is NOT_FOUND before any λ.
func TestExecVector(t *testing.T) {
	cfg, _ := config.Preset("sim")
	s, _ := New(cfg)
	k := []byte("v")
	if r := s.Exec(wire.Op{Code: wire.OpReduce, Key: k, Value: le(0)}); r.Status != wire.NotFound {
		t.Fatalf("REDUCE on a missing key: %v", r.Status)
	}
	s.Exec(wire.Put(k, []byte{1, 0, 0, 0, 2, 0, 0, 0, 0xff}))
	r := s.Exec(wire.Op{Code: wire.OpUpdateS2V, Key: k, Value: le(3)})
	if r.Status != wire.OK || !bytes.Equal(r.Value, []byte{1, 0, 0, 0, 2, 0, 0, 0, 0xff}) {
		t.Fatalf("S2V: %v %x", r.Status, r.Value)
	}
	if got := s.M["v"]; !bytes.Equal(got, []byte{4, 0, 0, 0, 5, 0, 0, 0, 0xff}) {
		t.Fatalf("S2V stored %x", got)
	}
	r = s.Exec(wire.Op{Code: wire.OpReduce, Key: k, Value: le(10)})
	if r.Status != wire.OK || !bytes.Equal(r.Value, le(19)) {
		t.Fatalf("REDUCE: %v %x", r.Status, r.Value)
	}
}
