//go:build !lkl

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Without LKL the image tools say how to get it.
func TestImageToolsNeedLKL(t *testing.T) {
	for _, tool := range []string{"ls", "cat", "tar"} {
		t.Run(tool, func(t *testing.T) {
			_, stderr, code := demo(t, nil, tool, "x.img", "p")
			require.Equal(t, 1, code)
			require.Contains(t, stderr, "the image tools need LKL")
		})
	}
}
