//go:build lkl

package kerneltest

import (
	"os"
	"sync"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
)

// EnvIsolated, set to 1, runs the "lkl" kernel of the tests in a child
// process (sys/isolated) instead of the test process: make test-isolated.
const EnvIsolated = "GOKERNEL_TEST_ISOLATED"

// The LKL kernel of a test process boots on first use (once: LKL cannot
// boot twice in a process) and halts in Main.
var lklKernel struct {
	once sync.Once
	k    interface {
		sys.Kernel
		Halt() error
	}
	err error
}

func init() {
	kernels = append(kernels, kernelFactory{
		name: "lkl",
		get: func() (sys.Kernel, error) {
			lklKernel.once.Do(func() {
				cfg := &lkl.Config{Memory: "256M"}
				if os.Getenv(EnvIsolated) == "1" {
					lklKernel.k, lklKernel.err = isolated.Start(cfg)
				} else {
					lklKernel.k, lklKernel.err = lkl.Boot(cfg)
				}
			})
			return lklKernel.k, lklKernel.err
		},
		close: func() error {
			if lklKernel.k == nil {
				return nil
			}
			return lklKernel.k.Halt()
		},
	})
}
