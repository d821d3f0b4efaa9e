//go:build lkl

package kerneltest

import (
	"sync"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// The LKL kernel of a test process boots on first use (once: LKL cannot
// boot twice in a process) and halts in Main.
var lklKernel struct {
	once sync.Once
	k    *lkl.Kernel
	err  error
}

func init() {
	kernels = append(kernels, kernelFactory{
		name: "lkl",
		get: func() (sys.Kernel, error) {
			lklKernel.once.Do(func() {
				lklKernel.k, lklKernel.err = lkl.Boot(&lkl.Config{Memory: "256M"})
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
