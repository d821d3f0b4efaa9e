package lkl_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	recipe "github.com/gokernel/gokernel/third_party/lkl"
)

// zrecipe.h must name the recipe in third_party/lkl: a recipe change without
// "go generate ./sys/lkl" would let sys/lkl compile against the old LKL.
func TestRecipeHeaderIsCurrent(t *testing.T) {
	r, err := recipe.Load()
	require.NoError(t, err)
	got, err := os.ReadFile("zrecipe.h")
	require.NoError(t, err)
	require.Equal(t, string(r.WantHeader()), string(got), "zrecipe.h is stale: run go generate ./sys/lkl")
}
