package ufs_test

import (
	"context"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// The asynchronous calls deliver their results on the loop goroutine.
func TestAsync(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		fsys := ufs.New(k, kerneltest.TempDir(t, k))
		defer fsys.Close()
		loop, err := eloop.New(k, eloop.Options{Workers: 2})
		require.NoError(t, err)
		a := ufs.NewAsync(fsys, loop)
		ctx := context.Background()
		var (
			onLoop  []bool
			got     []byte
			info    fs.FileInfo
			ents    []fs.DirEntry
			missing error
		)
		loopG := make(chan struct{})
		check := func() { // true on the loop: only it ever runs these
			select {
			case <-loopG:
				onLoop = append(onLoop, true)
			default:
				onLoop = append(onLoop, false)
			}
		}
		require.NoError(t, loop.Post(func() { close(loopG) }))
		require.NoError(t, a.WriteFile(ctx, "f", []byte("async"), 0o644, func(err error) {
			check()
			require.NoError(t, err)
			require.NoError(t, a.ReadFile(ctx, "f", func(b []byte, err error) {
				check()
				got = b
				require.NoError(t, err)
				require.NoError(t, a.Stat(ctx, "f", func(fi fs.FileInfo, err error) {
					check()
					info = fi
					require.NoError(t, err)
					require.NoError(t, a.ReadDir(ctx, ".", func(e []fs.DirEntry, err error) {
						check()
						ents = e
						require.NoError(t, err)
						require.NoError(t, a.Stat(ctx, "missing", func(_ fs.FileInfo, err error) {
							missing = err
							loop.Stop()
						}))
					}))
				}))
			}))
		}))
		require.NoError(t, loop.Run(ctx))
		require.Equal(t, []bool{true, true, true, true}, onLoop)
		require.Equal(t, "async", string(got))
		require.EqualValues(t, 5, info.Size())
		require.Len(t, ents, 1)
		require.ErrorIs(t, missing, fs.ErrNotExist)
	})
}
