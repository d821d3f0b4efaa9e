//go:build lkl

package examples_test

func init() { withLKL = true }
