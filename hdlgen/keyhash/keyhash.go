// Package keyhash generates kvd_keyhash, the unit that turns a key into its
// bucket index, secondary hash and reservation-station slot
// (docs/microarch.md §2).
package keyhash

import (
	"fmt"
	"math/big"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/ir"
)

// TagBits is the width of the pass-through tag (docs/microarch.md §2.1).
const TagBits = 16

// Latency is the number of cycles from a key to its hashes.
const Latency = 3

// groupBits is how many input bits one stage-2 partial XOR covers: 36 inputs
// are two levels of 6-input LUTs.
const groupBits = 36

// splitmix64 is the matrix generator of docs/microarch.md §2.2.
type splitmix64 struct{ state uint64 }

func (s *splitmix64) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// function is one H3 hash: its output width and, per output bit, the set of
// input bits that feed its XOR.
type function struct {
	name  string
	width int
	cols  []*big.Int // cols[j] has bit i set when row i has bit j set
}

func newFunction(name string, f int, seed uint64, n, width int) function {
	gen := splitmix64{state: seed ^ (uint64(f+1) * 0xD1B54A32D192ED03)}
	fn := function{name: name, width: width, cols: make([]*big.Int, width)}
	for j := range fn.cols {
		fn.cols[j] = new(big.Int)
	}
	for i := 0; i < n; i++ {
		row := gen.next()
		for j := 0; j < width; j++ {
			if row>>uint(j)&1 == 1 {
				fn.cols[j].SetBit(fn.cols[j], i, 1)
			}
		}
	}
	return fn
}

// Generate builds kvd_keyhash for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	K := cfg.Key.MaxKeyBytes
	KL := cfg.KeyLenBits()
	n := 8*K + KL
	fns := []function{
		newFunction("bucket", 0, cfg.KeyHash.Seed, n, cfg.BucketIndexBits()),
		newFunction("sec", 1, cfg.KeyHash.Seed, n, cfg.Bucket.SecHashBits),
		newFunction("slot", 2, cfg.KeyHash.Seed, n, cfg.RSSlotBits()),
	}
	groups := (n + groupBits - 1) / groupBits

	m := ir.NewModule("kvd_keyhash")
	m.Doc = ir.Doc{
		Title: "Key-hash unit: bucket index, secondary hash and station slot of a key",
		Purpose: []string{
			"Three independent H3 hashes (XOR of constant bit subsets) of the key bytes",
			"below in_len and of in_len itself; docs/microarch.md section 2.",
		},
		Protocol: []string{
			"in_valid/in_key/in_len/in_tag: one key per clock, no back-pressure.",
			"in_key byte i at [8i+7:8i]; bytes at i >= in_len are ignored.",
			"out_*: results with out_valid; out_tag returns in_tag unchanged.",
			"Data outputs are meaningful only while out_valid is 1.",
		},
		Latency: []string{
			fmt.Sprintf("%d cycles, fully pipelined: mask (stage 1), partial XORs over", Latency),
			fmt.Sprintf("%d-bit groups (stage 2), final XOR (stage 3); at most 3 LUT levels each.", groupBits),
		},
	}
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	inValid := m.Input("Key input", "in_valid", 1)
	inKey := m.Input("Key input", "in_key", 8*K)
	inLen := m.Input("Key input", "in_len", KL)
	inTag := m.Input("Key input", "in_tag", TagBits)
	outValid := m.Output("Hash output", "out_valid", 1)
	outs := []*ir.Signal{
		m.Output("Hash output", "out_bucket", fns[0].width),
		m.Output("Hash output", "out_sec", fns[1].width),
		m.Output("Hash output", "out_slot", fns[2].width),
	}
	outTag := m.Output("Hash output", "out_tag", TagBits)

	byteEn := m.Wire("byte_en", K)
	byteEn.Comment = "byte i of the key counts when i < in_len"
	maskedKey := m.Wire("masked_key", 8*K)

	s1Valid := m.Reg("s1_valid_reg", 1)
	s1X := m.Reg("s1_x_reg", n)
	s1X.Comment = "hash input X: {in_len, masked key}"
	s1Tag := m.Reg("s1_tag_reg", TagBits)
	s2Valid := m.Reg("s2_valid_reg", 1)
	s2Tag := m.Reg("s2_tag_reg", TagBits)
	s2P := make([]*ir.Signal, len(fns))
	for f, fn := range fns {
		s2P[f] = m.Reg(fmt.Sprintf("s2_%s_part_reg", fn.name), fn.width*groups)
		s2P[f].Comment = fmt.Sprintf("%d partial XORs per output bit", groups)
	}
	s3Valid := m.Reg("s3_valid_reg", 1)
	s3Tag := m.Reg("s3_tag_reg", TagBits)
	s3 := make([]*ir.Signal, len(fns))
	for f, fn := range fns {
		s3[f] = m.Reg(fmt.Sprintf("s3_%s_reg", fn.name), fn.width)
	}

	en := make([]ir.Expr, K)
	spread := make([]ir.Expr, K)
	for i := 0; i < K; i++ {
		// Most significant byte first, as Verilog concatenations read.
		en[K-1-i] = ir.Gt(inLen, ir.C(KL, uint64(i)))
		spread[K-1-i] = ir.Rep(8, ir.Bit(byteEn, i))
	}
	m.Assign(byteEn, ir.Cat(en...))
	m.Assign(maskedKey, ir.And(inKey, ir.Cat(spread...)))

	m.Seq(clk, "stage 1: mask; stage 2: partial XORs; stage 3: final XOR", func(b *ir.Block) {
		b.Set(s1X, ir.Cat(inLen, maskedKey))
		b.Set(s1Tag, inTag)
		b.Set(s1Valid, inValid)

		for f, fn := range fns {
			for j := 0; j < fn.width; j++ {
				parts := make([]ir.Expr, groups)
				for g := 0; g < groups; g++ {
					lo := g * groupBits
					hi := min(lo+groupBits, n) - 1
					mask := new(big.Int).Rsh(fn.cols[j], uint(lo))
					mask.And(mask, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(hi-lo+1)), big.NewInt(1)))
					var term ir.Expr
					if mask.Sign() == 0 {
						term = ir.C(1, 0)
					} else {
						term = ir.XorR(ir.And(ir.Bits(s1X, hi, lo), ir.CBig(hi-lo+1, mask)))
					}
					parts[groups-1-g] = term
				}
				b.Set(ir.Bits(s2P[f], (j+1)*groups-1, j*groups), ir.Cat(parts...))
			}
		}
		b.Set(s2Tag, s1Tag)
		b.Set(s2Valid, s1Valid)

		for f, fn := range fns {
			for j := 0; j < fn.width; j++ {
				b.Set(ir.Bit(s3[f], j), ir.XorR(ir.Bits(s2P[f], (j+1)*groups-1, j*groups)))
			}
		}
		b.Set(s3Tag, s2Tag)
		b.Set(s3Valid, s2Valid)

		b.If(rst, func(b *ir.Block) {
			b.Set(s1Valid, ir.C(1, 0))
			b.Set(s2Valid, ir.C(1, 0))
			b.Set(s3Valid, ir.C(1, 0))
		}, nil)
	})

	m.Assign(outValid, s3Valid)
	for f := range fns {
		m.Assign(outs[f], s3[f])
	}
	m.Assign(outTag, s3Tag)
	return m, m.Err()
}
