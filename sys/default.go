package sys

import (
	"fmt"
	"os"
	"sync"
)

var (
	initOnce sync.Once
	initErr  error
)

// Init chooses the process default kernel from the environment (GOKERNEL,
// GOKERNEL_CONFIG, GOKERNEL_TRACE, GOKERNEL_TRACE_FILE) and starts it. It runs
// once; later calls return the first result. Programs call it first thing to
// report a bad environment their own way; otherwise the first call of
// [Default] or [Syscall] makes it.
//
// It never falls back to the host kernel: if the selected kernel cannot
// start, Init returns the error and there is no default kernel.
func Init() (Kernel, error) {
	initOnce.Do(func() {
		if b := defaultKernel.Load(); b != nil { // SetDefault came first
			return
		}
		k, err := Open(Selected())
		if err == nil {
			k, err = traceFromEnv(k)
		}
		if err != nil {
			initErr = err
			return
		}
		defaultKernel.CompareAndSwap(nil, newBox(k))
	})
	if initErr != nil {
		return nil, initErr
	}
	return defaultKernel.Load().k, nil
}

// initDefault is the slow path of Syscall and Default. A library call has no
// error to return here, and answering on the host instead of the selected
// kernel would be worse than stopping, so a failure ends the process with
// the error on stderr and exit status 2, the way the Go runtime rejects a
// bad environment.
func initDefault() *kernelBox {
	if _, err := Init(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return defaultKernel.Load()
}

// Default returns the process default kernel, choosing it on first use as
// [Init] describes.
func Default() Kernel {
	b := defaultKernel.Load()
	if b == nil {
		b = initDefault()
	}
	return b.k
}

// SetDefault makes k the process default kernel, replacing the one chosen
// from the environment. Calls already running finish on the old kernel.
func SetDefault(k Kernel) {
	if k == nil {
		panic("sys: SetDefault(nil)")
	}
	defaultKernel.Store(newBox(k))
}

// traceFromEnv wraps k in a Tracer when GOKERNEL_TRACE or GOKERNEL_TRACE_FILE
// asks for it. Off, it returns k itself, so tracing costs nothing.
func traceFromEnv(k Kernel) (Kernel, error) {
	on, path := os.Getenv(EnvTrace), os.Getenv(EnvTraceFile)
	switch {
	case path != "":
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("gokernel: %s: %w", EnvTraceFile, err)
		}
		return NewTracer(k, WriteTrace(f)), nil
	case on == "" || on == "0":
		return k, nil
	case on == "1":
		return NewTracer(k, WriteTrace(os.Stderr)), nil
	default:
		return nil, fmt.Errorf("gokernel: %s=%q: want 1 or 0 (use %s for a file)", EnvTrace, on, EnvTraceFile)
	}
}
