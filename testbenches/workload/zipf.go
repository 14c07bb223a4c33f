package workload

import (
	"math"
	"math/rand/v2"
)

// zipf draws ranks 1..n with P(k) ∝ k^-s by rejection-inversion (Hörmann
// and Derflinger, 1996; the form of Apache Commons RNG's sampler). The
// standard library's rand.Zipf needs s > 1, and YCSB's generator (Gray et
// al.) is approximate and needs ζ(n, s), an O(n) sum; this one is exact,
// O(1) to set up and about one uniform draw per sample.
type zipf struct {
	n, s                   float64
	hIntegralX1, hIntegral float64 // H(1.5) − 1 and H(n + 0.5)
	cut                    float64 // accept without the second test below it
}

func newZipf(n int, s float64) *zipf {
	z := &zipf{n: float64(n), s: s}
	z.hIntegralX1 = z.hInt(1.5) - 1
	z.hIntegral = z.hInt(z.n + 0.5)
	z.cut = 2 - z.hIntInv(z.hInt(2.5)-z.h(2))
	return z
}

// sample returns a rank in 1..n.
func (z *zipf) sample(rng *rand.Rand) int {
	for {
		u := z.hIntegral + rng.Float64()*(z.hIntegralX1-z.hIntegral)
		x := z.hIntInv(u)
		k := math.Floor(x + 0.5)
		k = math.Min(math.Max(k, 1), z.n)
		if k-x <= z.cut || u >= z.hInt(k+0.5)-z.h(k) {
			return int(k)
		}
	}
}

func (z *zipf) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// hInt is ∫₁ˣ t^-s dt, written to stay exact as s → 1.
func (z *zipf) hInt(x float64) float64 {
	lx := math.Log(x)
	return expm1x((1-z.s)*lx) * lx
}

func (z *zipf) hIntInv(x float64) float64 {
	t := math.Max(x*(1-z.s), -1)
	return math.Exp(log1px(t) * x)
}

// log1px is log(1+x)/x and expm1x (e^x − 1)/x, with their limits at 0.
func log1px(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

func expm1x(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x*(1.0/3)*(1+0.25*x))
}
