// Package version names this build of kvd; generated files and run records
// carry it so a reader can tell which generator produced them.
package version

// Version is the generator version written into every generated file.
const Version = "0.1.0"

// ShimABI changes whenever the bridge's wire protocol or the shim's C++
// layout changes, so cached models built for an older ABI are never reused.
const ShimABI = 1
