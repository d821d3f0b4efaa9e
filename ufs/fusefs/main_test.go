package fusefs_test

import (
	"testing"

	"github.com/gokernel/gokernel/internal/kerneltest"
)

// TestMain runs the tests, stops the kernels they started and fails on a
// leaked goroutine.
func TestMain(m *testing.M) { kerneltest.Main(m) }
