package lkl

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDetectFS(t *testing.T) {
	img := func(f func(b []byte)) []byte {
		b := make([]byte, detectSize)
		f(b)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"ext", img(func(b []byte) { binary.LittleEndian.PutUint16(b[1080:], 0xEF53) }), "ext4"},
		{"xfs", img(func(b []byte) { copy(b, "XFSB") }), "xfs"},
		{"btrfs", img(func(b []byte) { copy(b[0x10040:], "_BHRfS_M") }), "btrfs"},
		{"squashfs", img(func(b []byte) { copy(b, "hsqs") }), "squashfs"},
		{"iso9660", img(func(b []byte) { copy(b[0x8001:], "CD001") }), "iso9660"},
		{"fat16", img(func(b []byte) { copy(b[54:], "FAT16   "); b[510], b[511] = 0x55, 0xAA }), "vfat"},
		{"fat32", img(func(b []byte) { copy(b[82:], "FAT32   "); b[510], b[511] = 0x55, 0xAA }), "vfat"},
		{"mbr without fat", img(func(b []byte) { b[510], b[511] = 0x55, 0xAA }), ""},
		{"zeros", img(func([]byte) {}), ""},
		{"short", []byte("XFS"), ""},
		{"empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, detectFS(tc.b))
		})
	}
}

func FuzzDetectFS(f *testing.F) {
	f.Add([]byte("XFSB"))
	f.Add(make([]byte, 2048))
	f.Fuzz(func(t *testing.T, b []byte) {
		detectFS(b) // must not panic on any input
	})
}
