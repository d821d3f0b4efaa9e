package fusefs_test

import (
	"testing"

	"github.com/gokernel/gokernel/internal/kerneltest"
)

// TestMain runs the tests, stops the kernels they started and fails on a
// leaked goroutine; as the fsx child it runs fsx instead (fsx_test.go),
// as the lock child one lock (locks_test.go).
func TestMain(m *testing.M) {
	fsxChild()
	lockChild()
	kerneltest.Main(m)
}
