package memsys

// ring is a bounded FIFO with the start-of-cycle rule of memory.md §6.3: in a
// cycle, a queue offers only the entries it held at the start of the cycle
// (canPop) and takes only as many entries as it had free at the start of
// the cycle (canPush): an entry pushed this cycle is not seen until the
// next, and room freed this cycle is not reused until the next. This is
// what a queue with registered full and empty flags does.
type ring[T any] struct {
	buf              []T
	head, n          int
	n0, push0, popd0 int // n at the start of the cycle; pushes and pops since
}

func newRing[T any](capacity int) ring[T] { return ring[T]{buf: make([]T, capacity)} }

// begin starts a cycle.
func (r *ring[T]) begin() { r.n0, r.push0, r.popd0 = r.n, 0, 0 }

func (r *ring[T]) cap() int { return len(r.buf) }

// canPush reports room for k more entries this cycle.
func (r *ring[T]) canPush(k int) bool { return r.n0+r.push0+k <= len(r.buf) }

// canPop reports that k more entries that were present at the start of the
// cycle can leave this cycle.
func (r *ring[T]) canPop(k int) bool { return r.popd0+k <= r.n0 }

// offered is the number of entries present at the start of the cycle that
// have not been popped this cycle: the entries the queue still offers.
func (r *ring[T]) offered() int { return r.n0 - r.popd0 }

// peek returns the i-th entry after this cycle's pops (i = 0: the head).
func (r *ring[T]) peek(i int) *T { return &r.buf[(r.head+i)%len(r.buf)] }

// slot returns the tail slot to be filled by push.
func (r *ring[T]) slot() *T { return &r.buf[(r.head+r.n)%len(r.buf)] }

func (r *ring[T]) push(v T) { *r.slot() = v; r.commit() }

// commit appends the entry written through slot.
func (r *ring[T]) commit() {
	if !r.canPush(1) {
		panic("memsys: ring overflow")
	}
	r.n++
	r.push0++
}

func (r *ring[T]) pop() {
	if !r.canPop(1) {
		panic("memsys: ring underflow")
	}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.popd0++
}

func (r *ring[T]) clone() ring[T] {
	c := *r
	c.buf = append([]T(nil), r.buf...)
	return c
}

func (r *ring[T]) copyFrom(o *ring[T]) {
	b := r.buf
	copy(b, o.buf)
	*r = *o
	r.buf = b
}

func (r *ring[T]) reset() { r.head, r.n, r.n0, r.push0, r.popd0 = 0, 0, 0, 0, 0 }
