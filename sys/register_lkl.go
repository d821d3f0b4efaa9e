//go:build lkl

package sys

import (
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
)

// The one build-tagged file that plugs LKL into the registry: any program
// built with -tags lkl can run on LKL with GOKERNEL=lkl and no extra import.
// A configuration with "isolation": "process" runs it in a sandboxed
// child process (sys/isolated) instead of this one.
func init() {
	isolated.SyscallName = SyscallName
	Register("lkl", func(config string) (Kernel, error) {
		cfg := &lkl.Config{}
		if config != "" {
			var err error
			if cfg, err = lkl.LoadConfig(config); err != nil {
				return nil, err
			}
		}
		// LKL's own host calls (console, user network) go through
		// the host Kernel, the binding rule's one way to the host.
		cfg.Host = Host()
		if cfg.Isolated() {
			return isolated.Start(cfg)
		}
		return lkl.Boot(cfg)
	})
}
