package disk_test

import (
	"testing"

	"github.com/gokernel/gokernel/disk"
)

func TestMemory(t *testing.T) {
	const size = 4 << 20
	m := disk.NewMemory(size)
	if m.Allocated() != 0 {
		t.Fatalf("new disk allocated %d bytes", m.Allocated())
	}
	checkDevice(t, m, make([]byte, size))

	// Zeroing a whole chunk frees it.
	before := m.Allocated()
	if err := m.WriteZeroes(0, size); err != nil {
		t.Fatal(err)
	}
	if before == 0 || m.Allocated() != 0 {
		t.Errorf("Allocated() = %d before WriteZeroes of the whole disk and %d after; want >0 and 0", before, m.Allocated())
	}
	if _, err := m.WriteAt(make([]byte, 1024), size-512); err == nil {
		t.Error("WriteAt across the end succeeded")
	}
	if _, err := m.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt(-1) succeeded")
	}
}
