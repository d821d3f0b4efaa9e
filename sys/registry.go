package sys

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// A Factory starts a kernel. config is the path of its JSON configuration
// (GOKERNEL_CONFIG), or "" for the kernel's defaults.
type Factory func(config string) (Kernel, error)

// Environment variables read when the default kernel is chosen.
const (
	EnvKernel    = "GOKERNEL"            // kernel name; unset or "" means "host"
	EnvConfig    = "GOKERNEL_CONFIG"     // path of the selected kernel's configuration
	EnvTrace     = "GOKERNEL_TRACE"      // "1" traces every default-kernel call
	EnvTraceFile = "GOKERNEL_TRACE_FILE" // trace to this file instead of stderr
)

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{}
)

// buildHints says how to get a kernel that is known to gokernel but was left
// out of this binary.
var buildHints = map[string]string{
	"lkl": `build with LKL support: run "go run github.com/gokernel/gokernel/cmd/gokernel-lkl install" once (in gokernel's own repository: "make lkl"), then "go build -tags lkl" (or "go run -tags lkl")`,
}

// Register makes a kernel available by name to [Open] and to GOKERNEL. It is
// meant to be called from an init function (sys registers "host" itself and,
// with -tags lkl, "lkl"). Registering a name twice or a nil factory panics,
// as database/sql.Register does, because it is a mistake in the program.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if f == nil {
		panic("sys: Register of kernel " + name + " with nil factory")
	}
	if _, dup := registry[name]; dup {
		panic("sys: Register called twice for kernel " + name)
	}
	registry[name] = f
}

// Kernels returns the names of the kernels this binary can start, sorted.
func Kernels() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Open starts the kernel registered under name with the configuration file
// config ("" for defaults). An unknown name, or a kernel left out of this
// binary, is an error that says what to do.
func Open(name, config string) (Kernel, error) {
	registryMu.Lock()
	f := registry[name]
	registryMu.Unlock()
	if f == nil {
		return nil, unknownKernelError(name)
	}
	k, err := f(config)
	if err != nil {
		return nil, fmt.Errorf("gokernel: starting kernel %q: %w", name, err)
	}
	return k, nil
}

func unknownKernelError(name string) error {
	if hint, ok := buildHints[name]; ok {
		return fmt.Errorf("gokernel: kernel %q is not in this binary; %s", name, hint)
	}
	return fmt.Errorf("gokernel: no kernel named %q; this binary has: %s (set %s to one of them, or unset it for host)",
		name, strings.Join(Kernels(), ", "), EnvKernel)
}

// Selected reports the kernel name and configuration path that the
// environment asks for, without starting anything.
func Selected() (name, config string) {
	name = os.Getenv(EnvKernel)
	if name == "" {
		name = "host"
	}
	return name, os.Getenv(EnvConfig)
}

// errHostConfig stops a configuration meant for another kernel from being
// silently ignored: a program told to work on a disk image must not touch the
// host instead.
var errHostConfig = errors.New("the host kernel takes no configuration; " +
	"unset " + EnvConfig + " or select the kernel it is for with " + EnvKernel)

func init() {
	Register("host", func(config string) (Kernel, error) {
		if config != "" {
			return nil, fmt.Errorf("%s=%s: %w", EnvConfig, config, errHostConfig)
		}
		return Host(), nil
	})
}
