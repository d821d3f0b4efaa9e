package part

import (
	"errors"
	"fmt"

	"github.com/gokernel/gokernel/disk"
)

// A Table is a disk's partition table.
type Table struct {
	// Kind is "gpt" or "mbr".
	Kind string
	// DiskID is the GPT disk GUID (upper case, as sfdisk prints it) or
	// the MBR disk signature ("0x1234abcd").
	DiskID string
	// SectorSize is the logical sector size the table was found with
	// (512 or 4096); the table's LBAs count in it.
	SectorSize int
	// Partitions are in the order of their numbers.
	Partitions []Partition
	// Warnings say what was wrong but recovered from, such as a GPT
	// whose primary header is damaged and whose backup was used.
	Warnings []string
}

// A Partition is one entry of a Table.
type Partition struct {
	// Number is the number Linux gives the partition (sda3 is 3): the
	// GPT entry's slot plus one, MBR slots 1–4 and logical partitions
	// from 5 in the order of their chain. It is the N of LKL's
	// partition N.
	Number int
	// Start and Size are in bytes.
	Start, Size int64
	// Type is the GPT partition type GUID (upper case) or the MBR type
	// byte ("0x83").
	Type string
	// TypeName is the type's common name ("Linux filesystem", "EFI
	// System", "Linux LVM", …), or "" for a type this package does not
	// name.
	TypeName string
	// Name is the GPT partition name ("" on MBR).
	Name string
	// UUID is the GPT unique partition GUID (upper case), or on MBR the
	// Linux PARTUUID form "SIGNATURE-NN" (the disk signature and the
	// partition number).
	UUID string
	// Bootable is MBR's active flag, or GPT's legacy BIOS bootable
	// attribute (bit 2).
	Bootable bool
}

// ErrNoTable is the error of Read for a disk with no partition table.
var ErrNoTable = errors.New("part: no partition table")

// An Error is a partition table that is there but malformed: Field names
// what is wrong.
type Error struct {
	Kind  string // "gpt" or "mbr"
	Field string // e.g. "header CRC32", "partition entry 3"
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("part: %s %s: %v", e.Kind, e.Field, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Read reads d's partition table: a GPT (its primary header, or the
// backup at the end of the disk if the primary is damaged) or an MBR with
// its logical partitions. A disk with neither is ErrNoTable.
func Read(d disk.Device) (*Table, error) {
	mbr := make([]byte, 512)
	if err := disk.ReadFull(d, mbr, 0); err != nil {
		if d.Size() < 512 {
			return nil, ErrNoTable
		}
		return nil, fmt.Errorf("part: reading sector 0: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		// A GPT without a protective MBR is not a GPT to Linux either
		// (unless forced with gpt on its command line).
		return nil, ErrNoTable
	}
	if protective(mbr) {
		return readGPT(d)
	}
	return readMBR(d, mbr)
}

// Device returns a device of exactly p's bytes on d, the disk its table
// was read from (see disk.Slice: a partition running past the end of d is
// cut there).
func (p Partition) Device(d disk.Device) disk.Device {
	return disk.Slice(d, p.Start, p.Size)
}
