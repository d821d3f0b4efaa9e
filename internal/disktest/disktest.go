// Package disktest opens test images as disk devices for the tests of
// the volume packages (disk/part, disk/lvm, disk/md, disk/volume), which
// all read images that internal/imagetest made.
//
// It sits with internal/imagetest beside the stack and imports only
// package disk; only tests import it.
package disktest

import (
	"testing"

	"github.com/gokernel/gokernel/disk"
)

// Open opens each image file read-only as a disk.Device (a *disk.File),
// closed when the test ends; a failure fails the test.
func Open(t testing.TB, imgs ...string) []disk.Device {
	t.Helper()
	var devs []disk.Device
	for _, img := range imgs {
		f, err := disk.OpenFile(img, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		devs = append(devs, f)
	}
	return devs
}
