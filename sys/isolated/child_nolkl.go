//go:build !lkl

package isolated

// childSupported is false without -tags lkl: the binary has no LKL to
// boot in a child.
const childSupported = false

// inChild is never set without LKL.
var inChild = false
