package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/cli/clitest"
)

// asMain is the environment variable that makes the test binary gkbench.
const asMain = "GKBENCH_AS_MAIN"

// TestMain lets the test binary stand in for gkbench itself: a child
// started with GKBENCH_AS_MAIN=1 (clitest, benchHarness) runs main with
// the arguments after "--".
func TestMain(m *testing.M) {
	if clitest.AsMain(asMain, "gkbench") {
		main()
	}
	os.Exit(m.Run())
}

// gkbench runs gkbench in a child process and returns what it printed and
// its exit status.
func gkbench(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return clitest.Run(t, asMain, env, args...)
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		stdout, stderr, code := gkbench(t, nil, args...)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "echo-bench")
		require.Contains(t, stdout, "http-bench")
		require.Empty(t, stderr)
	}
}
