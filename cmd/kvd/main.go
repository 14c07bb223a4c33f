// Command kvd generates, lints and co-simulates the KV-Direct processor.
package main

import (
	"os"

	"github.com/kvdirect/kvd/cmd/kvd/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
