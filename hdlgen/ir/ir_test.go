package ir

import (
	"strings"
	"testing"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got none", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestInstancePortWidthMismatchNamesBothEnds(t *testing.T) {
	sub := NewModule("sub")
	clk := sub.Clock("clk")
	_ = clk
	a := sub.Input("", "addr", 32)
	o := sub.Output("", "q", 32)
	sub.Assign(o, a)

	top := NewModule("top")
	top.Clock("clk")
	x := top.Input("", "x", 31)
	q := top.Wire("q", 32)
	top.Instantiate("u_sub", sub, nil, []Conn{{"clk", top.Ports[0].Sig}, {"addr", x}, {"q", q}})
	wantErr(t, top.Err(), "u_sub", "sub.addr", "32 bits", "x", "31 bits")
}

func TestAssignWidthMismatch(t *testing.T) {
	m := NewModule("m")
	a := m.Input("", "a", 8)
	o := m.Output("", "o", 9)
	m.Assign(o, a)
	wantErr(t, m.Err(), "o is 9 bits", "8 bits")
}

func TestExpressionWidthErrorsReachTheModule(t *testing.T) {
	m := NewModule("m")
	a := m.Input("", "a", 8)
	b := m.Input("", "b", 7)
	o := m.Output("", "o", 8)
	m.Assign(o, Add(a, b))
	wantErr(t, m.Err(), "a + b", "8 and 7")

	m2 := NewModule("m2")
	a2 := m2.Input("", "a", 8)
	o2 := m2.Output("", "o", 4)
	m2.Assign(o2, Bits(a2, 9, 6))
	wantErr(t, m2.Err(), "a[9:6]", "outside its 8 bits")
}

func TestConstantMustFit(t *testing.T) {
	if _, ok := C(4, 16).(*Bad); !ok {
		t.Fatal("C(4, 16) should not fit")
	}
	if c, ok := C(4, 15).(*Const); !ok || c.W != 4 {
		t.Fatal("C(4, 15) should fit")
	}
}

func TestNamesRefuseKeywordsAndCollisions(t *testing.T) {
	m := NewModule("m")
	m.Wire("always", 1)
	wantErr(t, m.Err(), "always", "keyword")

	m2 := NewModule("m2")
	m2.Input("", "a", 1)
	m2.Wire("a", 1)
	wantErr(t, m2.Err(), `"a" is already declared`)

	m3 := NewModule("m3")
	m3.Wire("bad name", 1)
	wantErr(t, m3.Err(), "not allowed")

	n := NewNamer()
	if err := n.Claim("x"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x_2", "x_3"} {
		got, err := n.Unique("x")
		if err != nil || got != want {
			t.Fatalf("Unique(x) = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := n.Unique("module"); err == nil {
		t.Fatal("Unique accepted a keyword")
	}
}

func TestLatchIsRefused(t *testing.T) {
	m := NewModule("m")
	en := m.Input("", "en", 1)
	d := m.Input("", "d", 4)
	o := m.Output("", "o", 4)
	r := m.Reg("r", 4)
	m.Comb("", func(b *Block) {
		b.If(en, func(b *Block) { b.Set(r, d) }, nil)
	})
	m.Assign(o, r)
	wantErr(t, m.Err(), "latch", "r")
}

func TestMultipleDriversAndUndriven(t *testing.T) {
	m := NewModule("m")
	a := m.Input("", "a", 1)
	w := m.Wire("w", 1)
	o := m.Output("", "o", 1)
	m.Assign(w, a)
	m.Assign(w, Not(a))
	m.Assign(o, w)
	wantErr(t, m.Err(), "w is driven by")

	m2 := NewModule("m2")
	w2 := m2.Wire("w", 1)
	o2 := m2.Output("", "o", 1)
	m2.Assign(o2, w2)
	wantErr(t, m2.Err(), "w is never driven")

	m3 := NewModule("m3")
	m3.Input("", "unused_in", 1)
	o3 := m3.Output("", "o", 1)
	m3.Assign(o3, C(1, 0))
	wantErr(t, m3.Err(), "unused_in is never read")
}

func TestSignalFromAnotherModuleIsRefused(t *testing.T) {
	a := NewModule("a")
	x := a.Input("", "x", 1)
	b := NewModule("b")
	o := b.Output("", "o", 1)
	b.Assign(o, x)
	wantErr(t, b.Err(), "belongs to another module")
}

func TestMemoryChecks(t *testing.T) {
	m := NewModule("m")
	clk := m.Clock("clk")
	mem := m.Mem("mem", 8, 16, false)
	addr := m.Input("", "addr", 3)
	m.Seq(clk, "", func(b *Block) {
		b.Write(mem, addr, C(8, 0))
	})
	wantErr(t, m.Err(), "address 3 bits (want 4)")
}
