//go:build lkl && !amd64

package lkl

// The LKL backend translates the amd64 host ABI only; on another host
// architecture this line fails the build on purpose.
var _ = gokernel_lkl_supports_only_amd64_hosts
