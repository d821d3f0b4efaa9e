package lkl

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/fsprobe"
	"github.com/gokernel/gokernel/disk/part"
	"github.com/gokernel/gokernel/disk/volume"
)

// A mountPlan is what checkMount decided: the type to mount, and
// whether the mount must be read-only though the disk did not ask (warn
// says why, for stderr).
type mountPlan struct {
	fstype   string
	readOnly bool
	warn     string
}

// checkMount reads the superblock of the file system d names on dev (the
// whole disk or d.Partition, found with disk/part) in Go, before LKL
// mounts it, and refuses what Linux 4.9 cannot mount with the reason:
// the features it lacks and the mkfs options that avoid them, a
// partitioned disk opened whole (with its partitions listed), or a file
// system or volume this LKL build does not have. A file system whose
// unknown features are all read-only compatible is mounted read-only.
// where names the disk (and partition) in errors.
func checkMount(dev disk.Device, d Disk, where string) (mountPlan, error) {
	if d.Partition > 0 {
		t, err := part.Read(dev)
		switch {
		case errors.Is(err, part.ErrNoTable):
			return mountPlan{}, fmt.Errorf("%s: no such partition: the disk has no partition table (use partition 0 for the whole disk)", where)
		case err != nil:
			return mountPlan{}, fmt.Errorf("%s: reading its partition table: %w", where, err)
		}
		i := slices.IndexFunc(t.Partitions, func(p part.Partition) bool { return p.Number == d.Partition })
		if i < 0 {
			var nums []string
			for _, p := range t.Partitions {
				nums = append(nums, fmt.Sprint(p.Number))
			}
			return mountPlan{}, fmt.Errorf("%s: no such partition: its %s table has partitions %s", where, strings.ToUpper(t.Kind), strings.Join(nums, ", "))
		}
		dev = t.Partitions[i].Device(dev)
	}
	r, err := fsprobe.Probe(dev)
	switch {
	case errors.Is(err, fsprobe.ErrUnknown):
		if d.FSType != "" {
			return mountPlan{fstype: d.FSType}, nil // forced: the kernel judges
		}
		return mountPlan{}, fmt.Errorf("%s: no ext2/3/4, xfs, btrfs or vfat file system found, nor any other file system, volume or partition table gokernel knows (corrupt, or not a disk image; set fstype to force one)", where)
	case err != nil:
		return mountPlan{}, fmt.Errorf("%s: reading it to find its file system: %w", where, err)
	}
	if d.FSType != "" && mountType(r.Type) != mountType(d.FSType) {
		return mountPlan{fstype: d.FSType}, nil // forced over what the probe found
	}
	c := r.Check
	switch c.Verdict {
	case fsprobe.Mountable:
		return mountPlan{fstype: mountType(r.Type)}, nil
	case fsprobe.ReadOnly:
		p := mountPlan{fstype: mountType(r.Type)}
		if !d.ReadOnly {
			p.readOnly = true
			p.warn = fmt.Sprintf("%s: mounting %s read-only: %s", where, r.Type, c.Reason)
			if c.Fix != "" {
				p.warn += fmt.Sprintf(" (%s makes one Linux %s writes)", c.Fix, fsprobe.Kernel)
			}
		}
		return p, nil
	case fsprobe.NotMountable:
		msg := fmt.Sprintf("%s: %s: %s", where, describe(r), c.Reason)
		if c.Fix != "" {
			msg += "; make a compatible image with: " + c.Fix
		}
		return mountPlan{}, errors.New(msg)
	case fsprobe.NotInBuild:
		return mountPlan{}, fmt.Errorf("%s: %s; %s (this LKL mounts %s)", where, describe(r), c.Reason, strings.Join(FSTypes, ", "))
	}
	// Not a file system.
	switch {
	case r.PartitionTable != "" && d.Partition == 0:
		l, err := fsprobe.ProbeLayout(dev)
		if err != nil {
			return mountPlan{}, fmt.Errorf("%s: reading its partition table: %w", where, err)
		}
		msg := partitionList(where, l)
		if slices.ContainsFunc(l.Partitions, func(p fsprobe.Partition) bool { return p.Content != nil && p.Content.Usage == fsprobe.UsageRAID }) {
			msg += "\n" + volumeHint(dev)
		}
		return mountPlan{}, errors.New(msg)
	case r.Usage == fsprobe.UsageRAID:
		return mountPlan{}, fmt.Errorf("%s: %s; %s", where, c.Reason, volumeHint(dev))
	}
	return mountPlan{}, fmt.Errorf("%s: %s", where, c.Reason)
}

// volumeHint says how to open the volumes on dev (disk/volume finds
// them): the flag and config key, and the names there are.
func volumeHint(dev disk.Device) string {
	names := volume.Scan(dev).Names()
	hint := `open a volume with --volume NAME (config "volume": NAME; more images of it with --image FILE, config "images")`
	if len(names) == 0 {
		return hint + ": none is complete on this disk alone"
	}
	return hint + ": " + strings.Join(names, ", ")
}

// mountType is the type LKL mounts a file system of blkid's type t with:
// ext4 mounts ext2 and ext3.
func mountType(t string) string {
	switch t {
	case "ext2", "ext3", "ext4":
		return "ext4"
	}
	return t
}

// describe names what a probe found: `an xfs file system "data" (300
// MiB)`.
func describe(r *fsprobe.Result) string {
	s := r.Type
	if r.Version != "" && r.Type == "vfat" {
		s += " (" + r.Version + ")"
	}
	article := "a"
	if strings.ContainsAny(s[:1], "aeiouxfn") { // an ext4, an xfs, an f2fs, an ntfs
		article = "an"
	}
	s = article + " " + s + " file system"
	if r.Label != "" {
		s += fmt.Sprintf(" %q", r.Label)
	}
	if r.Size > 0 {
		s += " (" + fsprobe.FormatSize(r.Size) + ")"
	}
	return s
}

// partitionList is the error for a partitioned disk opened whole: its
// partitions, what each holds, and how to pick one.
func partitionList(where string, l *fsprobe.Layout) string {
	var b strings.Builder
	if l.Table == nil {
		fmt.Fprintf(&b, "%s: a partition table, not a file system, which cannot be read (%v); pick a partition with --partition N (config \"partition\": N)", where, l.TableErr)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: a %s partition table, not a file system; pick a partition with --partition N (config \"partition\": N):", where, strings.ToUpper(l.Table.Kind))
	for _, p := range l.Partitions {
		fmt.Fprintf(&b, "\n  %d: %s", p.Number, fsprobe.FormatSize(p.Size))
		if p.TypeName != "" {
			fmt.Fprintf(&b, ", %s", p.TypeName)
		}
		switch {
		case p.Content == nil:
			b.WriteString(": no file system found")
		case p.Content.PartitionTable != "":
			b.WriteString(": a nested partition table")
		default:
			fmt.Fprintf(&b, ": %s", p.Content.Type)
			if p.Content.Label != "" {
				fmt.Fprintf(&b, " %q", p.Content.Label)
			}
			if v := p.Content.Check.Verdict; v != fsprobe.Mountable {
				fmt.Fprintf(&b, " (%s)", v)
			}
		}
	}
	return b.String()
}
