package ir

import (
	"fmt"
	"strings"
)

// Record packs named fields into one vector, the first field added lowest:
// the generators keep queue entries, per-id state and pipeline stages as
// records in one memory word or register, and name fields rather than bit
// ranges. Misuse (a field that does not exist, a value missing) is a
// generator bug and panics.
type Record struct {
	Names []string
	lo, w map[string]int
	W     int // total width
}

// NewRecord is an empty record.
func NewRecord() *Record { return &Record{lo: map[string]int{}, w: map[string]int{}} }

// Add appends a field of width w above the others.
func (r *Record) Add(name string, w int) *Record {
	if _, dup := r.lo[name]; dup {
		panic("ir: record field " + name + " added twice")
	}
	r.Names = append(r.Names, name)
	r.lo[name] = r.W
	r.w[name] = w
	r.W += w
	return r
}

// Width is the width of field name.
func (r *Record) Width(name string) int {
	w, ok := r.w[name]
	if !ok {
		panic("ir: record has no field " + name)
	}
	return w
}

// Get slices field name out of a signal holding the record.
func (r *Record) Get(s *Signal, name string) Expr {
	lo, ok := r.lo[name]
	if !ok {
		panic("ir: record has no field " + name)
	}
	return Bits(s, lo+r.w[name]-1, lo)
}

// Pack builds the record from one value per field.
func (r *Record) Pack(vals map[string]Expr) Expr {
	if len(vals) != len(r.Names) {
		panic(fmt.Sprintf("ir: record of %d fields packed from %d values", len(r.Names), len(vals)))
	}
	parts := make([]Expr, len(r.Names))
	for i, n := range r.Names {
		v, ok := vals[n]
		if !ok {
			panic("ir: record packed without a value for field " + n)
		}
		parts[len(r.Names)-1-i] = v
	}
	return Cat(parts...)
}

// Layout lists the fields, highest first, for a header comment.
func (r *Record) Layout() string {
	s := make([]string, len(r.Names))
	for i, n := range r.Names {
		s[len(r.Names)-1-i] = fmt.Sprintf("%s %d", n, r.w[n])
	}
	return "{" + strings.Join(s, ", ") + "}"
}
