package ufs_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/gokernel/gokernel/internal/kerneltest"
)

// children are the roles the test binary plays when a test re-executes it
// with UFS_TEST_CHILD set (crash_lkl_test.go adds one).
var children = map[string]func() error{}

// TestMain runs the tests, then halts the kernels kerneltest.Run started and
// checks that no goroutine leaked; a re-executed child plays its role
// instead.
func TestMain(m *testing.M) {
	if role := os.Getenv("UFS_TEST_CHILD"); role != "" {
		f, ok := children[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "no child role %q\n", role)
			os.Exit(2)
		}
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	kerneltest.Main(m)
}
