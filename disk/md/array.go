package md

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gokernel/gokernel/disk"
)

// An Array is an MD array assembled from the members found.
type Array struct {
	UUID    string
	Version string
	// Level is "linear", "raid0", "raid1", "raid4", "raid5", "raid6" or
	// "raid10" (or "level N" for another).
	Level string
	// RaidDisks is the number of members the array is made of.
	RaidDisks int
	// Members are the in-sync members by role (nil where one is
	// missing); Stale are the others found (older event count, spare,
	// faulty, partly rebuilt).
	Members []*Member
	Stale   []*Member
	// Warnings say what is wrong but does not stop the array from
	// opening: a degraded raid1 (opened read-only), stale members.
	Warnings []string

	name  string // the array's name (1.x), "" for 0.90
	minor int    // 0.90's preferred minor, -1 for 1.x
	why   error  // why it cannot be opened, nil if it can
	ro    bool   // opens read-only (degraded raid1)
	size  int64
	chunk int64
}

// levelNames names the RAID levels of md_p.h.
var levelNames = map[int]string{-1: "linear", 0: "raid0", 1: "raid1", 4: "raid4", 5: "raid5", 6: "raid6", 10: "raid10"}

// ErrUnsupported is wrapped by the error of an array gokernel cannot open.
var ErrUnsupported = errors.ErrUnsupported

// Assemble groups members by array UUID into arrays. Of each array's
// members, those with the highest event count and in sync make it up;
// the others are Stale.
func Assemble(members []*Member) []*Array {
	byUUID := map[string][]*Member{}
	for _, m := range members {
		byUUID[m.UUID] = append(byUUID[m.UUID], m)
	}
	var out []*Array
	for _, id := range slices.Sorted(maps.Keys(byUUID)) {
		out = append(out, assemble(byUUID[id]))
	}
	return out
}

func assemble(ms []*Member) *Array {
	newest := slices.MaxFunc(ms, func(a, b *Member) int { return cmp.Compare(a.Events, b.Events) })
	a := &Array{
		UUID: newest.UUID, Version: newest.Version, RaidDisks: newest.RaidDisks,
		Members: make([]*Member, newest.RaidDisks), name: newest.Name, minor: newest.Minor, chunk: newest.Chunk,
	}
	a.Level = levelNames[newest.Level]
	if a.Level == "" {
		a.Level = fmt.Sprintf("level %d", newest.Level)
	}
	for _, m := range ms {
		switch {
		case m.Events < newest.Events:
			a.Stale = append(a.Stale, m)
			a.Warnings = append(a.Warnings, fmt.Sprintf("a member of role %d is stale (events %d, the array's %d): left out", m.Role, m.Events, newest.Events))
		case !m.InSync || m.Role < 0:
			a.Stale = append(a.Stale, m)
		case a.Members[m.Role] != nil:
			a.Stale = append(a.Stale, m)
			a.Warnings = append(a.Warnings, fmt.Sprintf("two members claim role %d: the second is left out", m.Role))
		default:
			a.Members[m.Role] = m
		}
	}
	a.why = a.check(newest)
	return a
}

// check decides whether the array can be opened, and how.
func (a *Array) check(sb *Member) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("md: %s is a %s array, which gokernel cannot open (%s): %w", a.Name(), a.Level, fmt.Sprintf(format, args...), ErrUnsupported)
	}
	if sb.Features&featReshapeActive != 0 {
		return fmt.Errorf("md: %s: a reshape is under way; finish it with mdadm first: %w", a.Name(), ErrUnsupported)
	}
	present := 0
	for _, m := range a.Members {
		if m != nil {
			present++
		}
	}
	missing := func() error {
		return fmt.Errorf("md: %s (%s): %d of its %d members are there: give the images of the others", a.Name(), a.Level, present, a.RaidDisks)
	}
	switch a.Level {
	case "raid1":
		if present == 0 {
			return missing()
		}
		a.size = slices.MinFunc(slices.DeleteFunc(slices.Clone(a.Members), func(m *Member) bool { return m == nil }),
			func(x, y *Member) int { return cmp.Compare(x.DataSize, y.DataSize) }).DataSize
		if present < a.RaidDisks {
			a.ro = true
			a.Warnings = append(a.Warnings, fmt.Sprintf("degraded: %d of %d mirrors; opened read-only", present, a.RaidDisks))
		}
	case "raid0", "linear":
		if present < a.RaidDisks {
			return missing()
		}
		if a.Level == "raid0" {
			for _, m := range a.Members {
				if m.DataSize/a.chunk != a.Members[0].DataSize/a.chunk {
					return refuse("its members differ in size, which makes several zones; only a raid0 of equal members is mapped")
				}
			}
		}
	default:
		return refuse("it maps linear, raid0 and raid1 only; %s needs parity or a layout the md driver computes", a.Level)
	}
	return nil
}

// Supported is nil if Open can open the array, else an error saying why
// not.
func (a *Array) Supported() error { return a.why }

// ReadOnly reports whether Open opens the array read-only (a degraded
// raid1).
func (a *Array) ReadOnly() bool { return a.ro }

// Name is the name the array is known by: "md<minor>" for 0.90, the name
// part of "host:name" for 1.x ("md<name>" if that is a number, as mdadm
// makes /dev/md0 of an array named "host:0").
func (a *Array) Name() string {
	if a.minor >= 0 {
		return "md" + strconv.Itoa(a.minor)
	}
	_, n, ok := strings.Cut(a.name, ":")
	if !ok {
		n = a.name
	}
	if _, err := strconv.Atoi(n); err == nil || n == "" {
		return "md" + n
	}
	return n
}

// Names lists the names Find knows the array by: its Name, /dev/NAME for
// an mdN name, /dev/md/N as mdadm links it (N is the name part of 1.x's
// "host:name", 0.90's minor), the UUID, and 1.x's "host:name".
func (a *Array) Names() []string {
	n := a.Name()
	out := []string{n}
	if strings.HasPrefix(n, "md") {
		out = append(out, "/dev/"+n)
	}
	part := strconv.Itoa(a.minor)
	if a.minor < 0 {
		part = a.name
		if _, p, ok := strings.Cut(a.name, ":"); ok {
			part = p
		}
	}
	out = append(out, "/dev/md/"+part, a.UUID)
	if a.name != "" {
		out = append(out, a.name)
	}
	return out
}

// Find returns the array that name names in arrays (see Array.Names), or
// nil.
func Find(arrays []*Array, name string) *Array {
	for _, a := range arrays {
		if slices.Contains(a.Names(), name) {
			return a
		}
	}
	return nil
}

// Open returns the array as a device: raid1 reads from any in-sync
// member (another after an error) and writes to all of them; raid0
// stripes its members' data areas in chunks; linear joins them.
func (a *Array) Open() (disk.Device, error) {
	if a.why != nil {
		return nil, a.why
	}
	var data []disk.Device
	for _, m := range a.Members {
		if m != nil {
			data = append(data, disk.Slice(m.Device, m.DataOffset, m.DataSize))
		}
	}
	switch a.Level {
	case "raid1":
		return &mirror{devs: data, size: a.size, ro: a.ro}, nil
	case "raid0":
		for i, d := range data {
			data[i] = disk.Slice(d, 0, d.Size()/a.chunk*a.chunk)
		}
		return disk.Stripe(a.chunk, data...)
	default: // linear
		return disk.Concat(data...), nil
	}
}

// mirror is a raid1 array's device.
type mirror struct {
	devs []disk.Device
	size int64
	ro   bool
}

func (m *mirror) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > m.size {
		return 0, fmt.Errorf("md: raid1 read at %d: offset outside the device (%d bytes)", off, m.size)
	}
	k := int(min(int64(len(p)), m.size-off))
	var errs []error
	for _, d := range m.devs {
		n, err := d.ReadAt(p[:k], off)
		if n == k && (err == nil || err == io.EOF) {
			if k < len(p) {
				return k, io.EOF
			}
			return k, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("md: raid1 read at %d: every mirror failed: %w", off, errors.Join(errs...))
}

func (m *mirror) WriteAt(p []byte, off int64) (int, error) {
	if m.ro {
		return 0, fmt.Errorf("md: write at %d to a degraded raid1: %w", off, disk.ErrReadOnly)
	}
	if off < 0 || off > m.size || int64(len(p)) > m.size-off {
		return 0, fmt.Errorf("md: raid1 write of %d bytes at %d: outside the device (%d bytes)", len(p), off, m.size)
	}
	for _, d := range m.devs {
		if n, err := d.WriteAt(p, off); err != nil {
			return n, err
		}
	}
	return len(p), nil
}

func (m *mirror) Size() int64 { return m.size }

func (m *mirror) Flush() error {
	var errs []error
	for _, d := range m.devs {
		errs = append(errs, d.Flush())
	}
	return errors.Join(errs...)
}

// Under returns the members' data areas (disk.Stacked): the array is
// local if they all are.
func (m *mirror) Under() []disk.Device { return m.devs }

func (m *mirror) ReadOnly() bool {
	return m.ro || slices.ContainsFunc(m.devs, disk.IsReadOnly)
}
