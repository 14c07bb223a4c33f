package ir

import (
	"strings"
	"testing"
)

func TestRecord(t *testing.T) {
	r := NewRecord().Add("a", 3).Add("b", 5)
	if r.W != 8 || r.Width("b") != 5 || r.Layout() != "{b 5, a 3}" {
		t.Fatalf("W %d, b %d, layout %s", r.W, r.Width("b"), r.Layout())
	}
	m := NewModule("m")
	s := m.Input("", "x", 8)
	if got := r.Get(s, "b").Width(); got != 5 {
		t.Errorf("field b is %d bits", got)
	}
	if got := r.Pack(map[string]Expr{"a": C(3, 1), "b": C(5, 2)}).Width(); got != 8 {
		t.Errorf("packed %d bits", got)
	}
	for name, f := range map[string]func(){
		"no field":      func() { r.Get(s, "c") },
		"missing value": func() { r.Pack(map[string]Expr{"a": C(3, 1), "c": C(5, 2)}) },
		"twice":         func() { r.Add("a", 1) },
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(p.(string), "ir: record") {
					t.Errorf("%s: panic %v", name, p)
				}
			}()
			f()
		}()
	}
}
