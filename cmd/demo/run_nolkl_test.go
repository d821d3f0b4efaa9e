//go:build !lkl

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Without LKL, demo run says how to get it.
func TestRunNeedsLKL(t *testing.T) {
	_, stderr, code := demo(t, nil, "run", "--", "true")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "run needs LKL: build demo with -tags lkl")
}
