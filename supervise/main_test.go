package supervise_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/supervise"
)

// progEnv names, in the environment of a program a test runs under the
// supervisor, which of programs this test binary is.
const progEnv = "SUPERVISE_TEST_PROG"

// programs are the test programs: this binary, executed under the
// supervisor with progEnv set. Each returns an error to fail (exit 1).
var programs = map[string]func() error{}

// cleanups run after the tests (halting the LKL kernel a test booted).
var cleanups []func() error

func TestMain(m *testing.M) {
	supervise.Child()
	if name := os.Getenv(progEnv); name != "" {
		f := programs[name]
		if f == nil {
			fmt.Fprintf(os.Stderr, "no test program %q\n", name)
			os.Exit(2)
		}
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "program:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	for _, f := range cleanups {
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup:", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
