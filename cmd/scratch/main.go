package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/testbenches"
)

func main() {
	c, _ := config.Preset("sim")
	for _, sc := range []string{"keyhash", "fifo_w64_d16", "fifo_w72_d64"} {
		run, err := testbenches.Sim(context.Background(), testbenches.SimOptions{Scenario: sc, Config: c, Seed: 1, Cycles: 2_000_000, Log: os.Stderr, RunDir: "/tmp/runs/" + sc})
		if err != nil {
			fmt.Println("ERR", err)
			continue
		}
		r := run.Record
		fmt.Printf("%s cycles=%d div=%d cps=%.0f wall=%.2f rtl=%.2f golden=%.2f cmp=%.2f wait=%.2f cached=%v\n", sc, r.Cycles, r.Divergences, r.CyclesPerSec, r.WallSec, r.RTLEvalSec, r.GoldenSec, r.CompareSec, r.WaitRTLSec, r.ModelCached)
		if r.Divergence != nil {
			r.WriteReport(os.Stdout, 8)
		}
	}
}
