package slab

import (
	"math/rand/v2"
)

// Driver is a seeded random client: every cycle in which the previous
// request has been accepted it presents a new one, an alloc or a free,
// steering the bytes it holds (including allocs not yet answered) toward a
// target: the further below the target, the likelier an alloc.
type Driver struct {
	S *Sim
	// Weights of the classes for allocs (need not sum to 1).
	Weights []float64
	// TargetBytes is the live size the driver steers toward.
	TargetBytes int64
	// AllocOnly disables frees.
	AllocOnly bool
	// Idle is the percent chance of presenting nothing in a cycle.
	Idle int

	src      *rand.PCG
	rng      *rand.Rand
	cum      []float64
	inflight int64 // bytes of allocs presented or accepted, not yet answered
}

// NewDriver returns a driver of s seeded with seed.
func NewDriver(s *Sim, seed uint64) *Driver {
	src := rand.NewPCG(seed, 0x6b76642d77726b6c) // "kvd-wrkl"
	return &Driver{S: s, src: src, rng: rand.New(src)}
}

type driverSnapshot struct {
	src      rand.PCG
	inflight int64
}

// Snapshot captures the driver's random stream (not its Sim).
func (d *Driver) Snapshot() any { return driverSnapshot{*d.src, d.inflight} }

// Restore returns the driver to a snapshot.
func (d *Driver) Restore(x any) {
	sn := x.(driverSnapshot)
	*d.src, d.inflight = sn.src, sn.inflight
}

// SetWeights changes the class mix (a workload phase).
func (d *Driver) SetWeights(w []float64) {
	d.Weights = append(d.Weights[:0], w...)
	d.cum = d.cum[:0]
	sum := 0.0
	for _, x := range w {
		sum += x
		d.cum = append(d.cum, sum)
	}
}

func (d *Driver) pickClass() int {
	x := d.rng.Float64() * d.cum[len(d.cum)-1]
	for c, v := range d.cum {
		if x < v {
			return c
		}
	}
	return len(d.cum) - 1
}

// Step presents a new request if the last one was accepted, then runs one
// cycle.
func (d *Driver) Step() (Response, error) {
	s := d.S
	if !s.Busy() && (d.Idle == 0 || d.rng.IntN(100) >= d.Idle) {
		live := s.cs.HeldBytes + d.inflight
		alloc := true
		if !d.AllocOnly && len(s.held) > 0 {
			t := float64(d.TargetBytes)
			p := 0.5 + 4*(t-float64(live))/t
			alloc = d.rng.Float64() < min(0.98, max(0.02, p))
		}
		if alloc {
			c := d.pickClass()
			d.inflight += s.P.Sizes[c]
			s.PresentAlloc(c)
		} else {
			s.PresentFree(d.rng.IntN(len(s.held)))
		}
	}
	r, err := s.Step()
	if r.Valid {
		d.inflight -= s.P.Sizes[r.Class]
	}
	return r, err
}
