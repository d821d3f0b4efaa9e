package libgo_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys/dirent"
)

// endlessDir is a kernel whose getdents64 answers every call with the
// same entries, ending at the same d_off: the endless directory stream
// that LKL 4.9's btrfs serves for a hostile image (the image campaign's
// btrfs seeds 2592 and 5190). After `advance` calls it starts over from
// a different position, so those batches are a healthy stream.
type endlessDir struct {
	calls, advance int
	buf            []byte // the reader's buffer, which getdents64 fills
}

func (k *endlessDir) Name() string { return "endless-dir" }

func (k *endlessDir) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	if trap != unix.SYS_GETDENTS64 {
		return 0, 0, unix.ENOSYS
	}
	k.calls++
	off := int64(7)
	if k.calls <= k.advance {
		off = int64(k.calls) // a stream that advances
	}
	rec, _ := dirent.Append(nil, dirent.Dirent{Ino: uint64(k.calls), Off: off, Type: unix.DT_REG, Name: "d.txt"})
	copy(k.buf, rec) // a2 is k.buf: written through the slice, as checkptr wants
	return uintptr(len(rec)), 0, 0
}

// A DirReader refuses a stream whose batch ends where the last one
// ended with EUCLEAN, after returning what came before, and stops
// calling the kernel: without the check, ReadAll would never return.
func TestDirReaderEndlessStream(t *testing.T) {
	k := &endlessDir{advance: 3, buf: make([]byte, 4096)}
	r := libgo.New(k).NewDirReaderBuffer(3, k.buf)
	ents, err := r.ReadAll()
	require.ErrorIs(t, err, syscall.EUCLEAN)
	require.Len(t, ents, 4, "the three advancing batches and the first at the stuck position")
	calls := k.calls
	_, err = r.Next()
	require.ErrorIs(t, err, syscall.EUCLEAN, "the error is sticky")
	require.Equal(t, calls, k.calls, "no getdents64 after the error")
}
