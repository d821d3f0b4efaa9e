package fsprobe

import (
	"errors"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/part"
)

// A Layout is what a whole disk holds: what the device itself starts
// with and, if it has a partition table, what each partition holds.
type Layout struct {
	// Whole is what Probe finds on the whole device; nil when it
	// recognises nothing there.
	Whole *Result
	// Table is the disk's partition table (disk/part), nil when it has
	// none.
	Table *part.Table
	// TableErr is why a partition table that is there could not be
	// read (a *part.Error), nil otherwise.
	TableErr error
	// Partitions are Table's partitions with what each holds.
	Partitions []Partition
}

// A Partition is a partition and what it holds.
type Partition struct {
	part.Partition
	// Content is what Probe finds on the partition; nil when Err says
	// why it could not look or it recognises nothing.
	Content *Result
	// Err is the probe's error (ErrUnknown when nothing is recognised).
	Err error
}

// ProbeLayout probes d whole, reads its partition table if it has one,
// and probes each partition. Only a failed read of d itself is an error;
// a malformed table or a partition on which nothing is recognised is
// reported in the Layout.
func ProbeLayout(d disk.Device) (*Layout, error) {
	l := &Layout{}
	r, err := Probe(d)
	switch {
	case err == nil:
		l.Whole = r
	case !errors.Is(err, ErrUnknown):
		return nil, err
	}
	// A file system that starts the disk owns it, even where its boot
	// sector looks like an MBR (FAT, exFAT, NTFS); a table is looked for
	// only where nothing else is.
	if l.Whole != nil && l.Whole.Type != "" {
		return l, nil
	}
	t, err := part.Read(d)
	switch {
	case errors.Is(err, part.ErrNoTable):
		return l, nil
	case err != nil:
		var pe *part.Error
		if !errors.As(err, &pe) {
			return nil, err // the device failed
		}
		l.TableErr = err
		return l, nil
	}
	l.Table = t
	for _, p := range t.Partitions {
		r, err := Probe(p.Device(d))
		l.Partitions = append(l.Partitions, Partition{Partition: p, Content: r, Err: err})
	}
	return l, nil
}
