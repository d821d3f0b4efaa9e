//go:build !lkl

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Without LKL the image tools (and serve) say how to get it.
func TestImageToolsNeedLKL(t *testing.T) {
	for _, args := range [][]string{{"ls", "x.img", "p"}, {"cat", "x.img", "p"}, {"tar", "x.img", "p"}, {"serve", "x.img", "-listen", "127.0.0.1:0"}} {
		t.Run(args[0], func(t *testing.T) {
			_, stderr, code := demo(t, nil, args...)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, "the image tools need LKL")
		})
	}
}
