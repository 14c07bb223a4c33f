package memsys

import (
	"math"
	"math/rand/v2"
)

// Zipf draws ranks 0..n-1 with P(rank i) ∝ 1/(i+1)^θ by Gray et al.'s
// method (the YCSB generator): math/rand's Zipf needs θ > 1, the paper's
// long tail is θ = 0.99.
type Zipf struct {
	n                        uint64
	theta, zetan, alpha, eta float64
	half                     float64
}

// NewZipf prepares the generator; zeta(n, θ) is summed exactly for the
// first million terms and by the midpoint rule beyond (relative error far
// below 1e-9 for θ near 1).
func NewZipf(n uint64, theta float64) *Zipf {
	const exact = 1 << 20
	z := 0.0
	for i := uint64(1); i <= min(n, exact); i++ {
		z += math.Pow(float64(i), -theta)
	}
	if n > exact {
		f := func(x float64) float64 { return math.Pow(x, 1-theta) / (1 - theta) }
		z += f(float64(n)+0.5) - f(float64(exact)+0.5)
	}
	zeta2 := 1 + math.Pow(0.5, theta)
	return &Zipf{n: n, theta: theta, zetan: z, alpha: 1 / (1 - theta),
		eta:  (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/z),
		half: zeta2}
}

// Rank draws one rank.
func (z *Zipf) Rank(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}

// scatter maps rank i of n (a power of two) to a line in 0..n-1, a
// bijection, so that hot ranks land on unrelated lines as hot keys land on
// unrelated buckets.
func scatter(i, n uint64) uint64 { return (i*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & (n - 1) }
