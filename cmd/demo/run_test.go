package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRunMount(t *testing.T) {
	tests := []struct {
		name, in string
		want     runMount
		err      bool
	}{
		{name: "read-write", in: "disk.img:/mnt/x", want: runMount{image: "disk.img", dir: "/mnt/x"}},
		{name: "read-only", in: "disk.img:/mnt/x:ro", want: runMount{image: "disk.img", dir: "/mnt/x", readOnly: true}},
		{name: "URL image", in: "https://h:8080/d.img:/mnt/x:ro", want: runMount{image: "https://h:8080/d.img", dir: "/mnt/x", readOnly: true}},
		{name: "relative dir", in: "disk.img:mnt", err: true},
		{name: "no image", in: ":/mnt", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRunMount(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// demo run needs a program; the usage says so.
func TestRunUsage(t *testing.T) {
	_, stderr, code := demo(t, nil, "run")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "run needs a program")
}
