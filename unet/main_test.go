package unet_test

import (
	"testing"

	"github.com/gokernel/gokernel/internal/kerneltest"
)

// TestMain runs the tests, then halts the kernels kerneltest.Run started and
// checks that no goroutine leaked.
func TestMain(m *testing.M) { kerneltest.Main(m) }
