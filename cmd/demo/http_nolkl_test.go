//go:build !lkl

package main

// demoKernels are the kernels TestHTTPGet runs demo on.
func demoKernels() []string { return []string{"host"} }
