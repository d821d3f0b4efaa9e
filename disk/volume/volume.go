package volume

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/lvm"
	"github.com/gokernel/gokernel/disk/md"
	"github.com/gokernel/gokernel/disk/part"
)

// A Report is what Scan found on a set of devices.
type Report struct {
	// VGs are the LVM volume groups, each with its LVs (supported or
	// not: LV.Supported says why not).
	VGs []*lvm.VG
	// Arrays are the MD arrays (supported or not: Array.Supported).
	Arrays []*md.Array
	// Problems are what was found but cannot be used: a PV whose
	// metadata is damaged, a partition table that does not parse.
	Problems []error
}

// Scan looks for MD members and LVM PVs on each device of devs and on
// each partition of it, assembles the MD arrays (and looks for PVs on
// them, and on their partitions), then the VGs. A device that holds
// nothing is no error.
func Scan(devs ...disk.Device) *Report {
	r := &Report{}
	var cands []candidate
	for i, d := range devs {
		cands = append(cands, r.withPartitions(fmt.Sprintf("device %d", i), d)...)
	}
	// MD first: a member of an array with its superblock at the end
	// (0.90, 1.0) also shows what the array holds at its start, such as
	// a PV label, which belongs to the array, not to the member.
	var members []*md.Member
	isMember := map[disk.Device]bool{}
	for _, c := range cands {
		m, err := md.ReadMember(c.dev)
		switch {
		case errors.Is(err, md.ErrNoSuperblock):
		case err != nil:
			r.Problems = append(r.Problems, fmt.Errorf("%s: %w", c.where, err))
		default:
			members, isMember[c.dev] = append(members, m), true
		}
	}
	r.Arrays = md.Assemble(members)
	for _, a := range r.Arrays {
		if a.Supported() != nil {
			continue
		}
		d, err := a.Open()
		if err != nil {
			continue
		}
		cands = append(cands, r.withPartitions(a.Name(), d)...)
	}
	var pvs []*lvm.PV
	for _, c := range cands {
		if isMember[c.dev] {
			continue
		}
		pv, err := lvm.ReadPV(c.dev)
		switch {
		case errors.Is(err, lvm.ErrNoPV):
		case err != nil:
			r.Problems = append(r.Problems, fmt.Errorf("%s: %w", c.where, err))
		default:
			pvs = append(pvs, pv)
		}
	}
	vgs, err := lvm.Assemble(pvs)
	r.VGs = vgs
	if err != nil {
		r.Problems = append(r.Problems, err)
	}
	return r
}

// A candidate is a device that may hold a PV or an MD member.
type candidate struct {
	where string // "device 0", "device 0 partition 3", for errors
	dev   disk.Device
}

// withPartitions returns d and, if it has a partition table, each of its
// partitions.
func (r *Report) withPartitions(where string, d disk.Device) []candidate {
	out := []candidate{{where, d}}
	tab, err := part.Read(d)
	switch {
	case errors.Is(err, part.ErrNoTable):
	case err != nil:
		r.Problems = append(r.Problems, fmt.Errorf("%s: %w", where, err))
	default:
		for _, p := range tab.Partitions {
			if p.TypeName == "Extended" || p.TypeName == "W95 Ext'd (LBA)" || p.TypeName == "Linux extended" {
				continue
			}
			out = append(out, candidate{fmt.Sprintf("%s partition %d", where, p.Number), p.Device(d)})
		}
	}
	return out
}

// Names lists the names of every volume found, one per volume (the
// first of its names: "vg/lv" for an LV, "md0" or the array's name for
// an array), with what it is and, if it cannot be opened, why.
func (r *Report) Names() []string {
	var out []string
	for _, vg := range r.VGs {
		for _, lv := range vg.LVs {
			if !lv.Visible {
				continue
			}
			s := fmt.Sprintf("%s (LVM %s)", lv, strings.Join(lv.SegTypes(), "+"))
			if lv.Supported() != nil {
				s += ", not supported"
			}
			out = append(out, s)
		}
	}
	for _, a := range r.Arrays {
		s := fmt.Sprintf("%s (MD %s)", a.Name(), a.Level)
		if a.Supported() != nil {
			s += ", not supported"
		}
		out = append(out, s)
	}
	return out
}

// Open finds the volume name names on devs (see Scan) and returns it as
// a device. name is an LV's "vg/lv", "/dev/vg/lv" or "/dev/mapper/vg-lv",
// or an MD array's "md0", "/dev/md0", "/dev/md/NAME", NAME or UUID. An
// unknown name is an error that lists the volumes there are; a volume
// gokernel cannot open is an error saying why (wrapping
// errors.ErrUnsupported for a type it does not map). The device reads
// and writes devs; it has no Close of its own: close devs when done.
func Open(devs []disk.Device, name string) (disk.Device, error) {
	return Scan(devs...).Open(name)
}

// Open opens the volume name names among those r found; see Open.
func (r *Report) Open(name string) (disk.Device, error) {
	if lv := lvm.Find(r.VGs, name); lv != nil {
		return lv.Open()
	}
	if a := md.Find(r.Arrays, name); a != nil {
		return a.Open()
	}
	names := r.Names()
	msg := "none was found"
	if len(names) > 0 {
		msg = "there are: " + strings.Join(names, "; ")
	}
	err := fmt.Errorf("volume: no volume %q: %s", name, msg)
	if len(r.Problems) > 0 {
		err = fmt.Errorf("%w (and: %w)", err, errors.Join(r.Problems...))
	}
	return nil, err
}
