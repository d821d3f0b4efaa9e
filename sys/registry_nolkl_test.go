//go:build !lkl

package sys_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/sys"
)

func TestLKLNotBuiltIn(t *testing.T) {
	require.NotContains(t, sys.Kernels(), "lkl")
	_, err := sys.Open("lkl", "")
	require.ErrorContains(t, err, `kernel "lkl" is not in this binary`)
	require.ErrorContains(t, err, "go build -tags lkl")

	_, stderr, code := runChild(t, "GOKERNEL=lkl")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "go run github.com/gokernel/gokernel/cmd/gokernel-lkl install")
}
