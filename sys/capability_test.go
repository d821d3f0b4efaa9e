package sys_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// namedHost is a kernel that answers on the host and even calls itself
// "host", but does not say it is the host's: capability checks must not
// take its name for the capability.
type namedHost struct{}

func (namedHost) Name() string { return "host" }

func (namedHost) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, sys.Errno) {
	return sys.Host().Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// The wrappers (Tracer, Injector, nested either way) pass IsHost on from
// the kernel they wrap; a kernel without the method is not the host,
// whatever its name; and the checks that ask it (kerneltest.TempDir and
// OpenFDs) treat a wrapped host as the host.
func TestIsHostForwarded(t *testing.T) {
	inject := func(k sys.Kernel) sys.Kernel {
		in, err := sys.NewInjector(k, 1)
		require.NoError(t, err)
		return in
	}
	trace := func(k sys.Kernel) sys.Kernel { return sys.NewTracer(k, func(sys.Call) {}) }
	for _, c := range []struct {
		name string
		k    sys.Kernel
		want bool
	}{
		{"host", sys.Host(), true},
		{"tracer(host)", trace(sys.Host()), true},
		{"injector(host)", inject(sys.Host()), true},
		{"tracer(injector(host))", trace(inject(sys.Host())), true},
		{"injector(tracer(host))", inject(trace(sys.Host())), true},
		{"named host", namedHost{}, false},
		{"tracer(named host)", trace(namedHost{}), false},
		{"injector(named host)", inject(namedHost{}), false},
	} {
		require.Equal(t, c.want, sys.IsHost(c.k), c.name)
	}

	// TempDir on a wrapped host is a host directory (t.TempDir), and
	// OpenFDs counts the process's own fds, so opening one shows.
	k := trace(inject(sys.Host()))
	dir := kerneltest.TempDir(t, k)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, st.IsDir())
	before := kerneltest.OpenFDs(t, k)
	f, err := os.Open(dir)
	require.NoError(t, err)
	require.Equal(t, before+1, kerneltest.OpenFDs(t, k))
	require.NoError(t, f.Close())
}
