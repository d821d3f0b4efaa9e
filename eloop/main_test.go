package eloop_test

import (
	"os"
	"testing"

	"github.com/gokernel/gokernel/internal/kerneltest"
)

// TestMain runs the tests, then halts the kernels kerneltest.Run started and
// checks that no goroutine leaked. Started with envClient set, the test
// binary is instead the client process of TestServerTenThousandConns.
func TestMain(m *testing.M) {
	if addr := os.Getenv(envClient); addr != "" {
		os.Exit(runClients(addr))
	}
	kerneltest.Main(m)
}
