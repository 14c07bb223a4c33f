package hostmem

import "testing"

func TestReadWriteAcrossPages(t *testing.T) {
	m := New(1 << 20)
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	m.Write(4000, data)
	got := make([]byte, len(data))
	m.Read(4000, got)
	for i := range data {
		if got[i] != data[i] {
			t.Fatalf("byte %d: %d != %d", i, got[i], data[i])
		}
	}
	if m.U32(0) != 0 || m.U64(1<<19) != 0 {
		t.Fatal("untouched memory is not zero")
	}
	m.PutU64(8, 0x0102030405060708)
	if m.U32(8) != 0x05060708 || m.U32(12) != 0x01020304 {
		t.Fatal("not little-endian")
	}
	c := m.Clone()
	if d := m.Diff(c, 5); d != nil {
		t.Fatalf("clone differs: %v", d)
	}
	c.PutU32(100, 1)
	if d := m.Diff(c, 5); len(d) != 1 {
		t.Fatalf("diff %v", d)
	}
}

func TestOutOfRangePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic past the end")
		}
	}()
	New(64).Read(60, make([]byte, 8))
}
