package lkl

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// io_timeout takes a Go duration or "0"; a bad value names the key.
func TestConfigIOTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"": DefaultIOTimeout, "0": 0, "500ms": 500 * time.Millisecond, "2m": 2 * time.Minute} {
		c, err := ParseConfig([]byte(`{"io_timeout": "` + in + `"}`))
		require.NoError(t, err, in)
		require.Equal(t, want, c.ioTimeout(), in)
	}
	for _, in := range []string{"30", "-1s", "0s", "soon"} {
		_, err := ParseConfig([]byte(`{"io_timeout": "` + in + `"}`))
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%q: %v", in, err)
		require.Equal(t, "io_timeout", ce.Key)
	}
}
