package fsprobe

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Feature sets, as the superblocks name them.
const (
	SetCompat      = "compat"       // ignored by a kernel that does not know the feature
	SetROCompat    = "ro_compat"    // a kernel that does not know it mounts read-only only
	SetIncompat    = "incompat"     // a kernel that does not know it cannot mount
	SetLogIncompat = "log_incompat" // XFS: a kernel that does not know it cannot mount (4.9 checks it always)
)

// A Feature is a feature flag set in a superblock.
type Feature struct {
	// Name is the feature as the file system's mkfs spells it
	// (metadata_csum, bigtime, no-holes); a bit no table names is "bit N".
	Name string `json:"name"`
	// Set is one of the Set* constants.
	Set string `json:"set"`
	// Since is the Linux version that first knows the feature; "" for a
	// bit no kernel supports.
	Since string `json:"since,omitempty"`
	// Missing reports that Linux 4.9, the kernel of gokernel's LKL, does
	// not know it.
	Missing bool `json:"missing,omitempty"`
}

// Kernel is the Linux version features are judged against: the one LKL
// is built from (third_party/lkl).
const Kernel = "4.9"

// featureDef describes one feature bit of one file system.
type featureDef struct {
	set   string
	bit   uint64
	name  string
	since string // "" if no Linux supports it
	// opt and val are the mkfs option that leaves the feature out
	// (opt "-O", val "^large_dir"; opt "-m", val "bigtime=0"); hint says
	// what to do when no mkfs option does.
	opt, val string
	hint     string
}

// features decodes the bits of one set against a table.
func features(defs []featureDef, set string, bits uint64) []Feature {
	var out []Feature
	for i := range 64 {
		bit := uint64(1) << i
		if bits&bit == 0 {
			continue
		}
		f := Feature{Name: "bit " + strconv.Itoa(i), Set: set}
		if d := findDef(defs, set, bit); d != nil {
			f.Name, f.Since = d.name, d.since
		}
		f.Missing = !knownIn(f.Since, Kernel)
		out = append(out, f)
	}
	return out
}

func findDef(defs []featureDef, set string, bit uint64) *featureDef {
	for i := range defs {
		if defs[i].set == set && defs[i].bit == bit {
			return &defs[i]
		}
	}
	return nil
}

func findName(defs []featureDef, name string) *featureDef {
	for i := range defs {
		if defs[i].name == name {
			return &defs[i]
		}
	}
	return nil
}

// knownIn reports whether a feature added in Linux since is in kernel.
func knownIn(since, kernel string) bool {
	if since == "" {
		return false
	}
	s, k := version(since), version(kernel)
	return s[0] < k[0] || s[0] == k[0] && s[1] <= k[1]
}

func version(v string) [2]int {
	a, b, _ := strings.Cut(v, ".")
	x, _ := strconv.Atoi(a)
	y, _ := strconv.Atoi(b)
	return [2]int{x, y}
}

// Verdict is whether gokernel's LKL can mount what Probe found.
type Verdict string

// Verdicts.
const (
	// Mountable: Linux 4.9 knows every feature; it mounts read-write.
	Mountable Verdict = "mountable"
	// ReadOnly: the features Linux 4.9 lacks are all read-only
	// compatible (or the file system says it is read-only): it mounts
	// read-only only.
	ReadOnly Verdict = "read-only"
	// NotMountable: Linux 4.9 lacks an incompatible feature, or another
	// property of the superblock rules the mount out (Check.Reason).
	NotMountable Verdict = "not-mountable"
	// NotInBuild: a file system gokernel's LKL is built without.
	NotInBuild Verdict = "not-in-lkl"
	// NotFilesystem: a volume, swap or a partition table, which holds
	// file systems rather than being one.
	NotFilesystem Verdict = "not-a-filesystem"
)

// Check is the verdict on a Result for Linux 4.9 and gokernel's LKL.
type Check struct {
	Verdict Verdict `json:"verdict"`
	// Reason says why, in one sentence, when the verdict is not
	// Mountable.
	Reason string `json:"reason,omitempty"`
	// Missing names the features in the way (all of them, for
	// NotMountable; the read-only compatible ones, for ReadOnly).
	Missing []string `json:"missing,omitempty"`
	// Fix is the mkfs command line that makes a file system without
	// them ("mkfs.xfs -m bigtime=0,inobtcount=0"), when one does.
	Fix string `json:"fix,omitempty"`
}

// absent says why each file system fsprobe recognises is not in the LKL
// build.
var absent = map[string]string{
	"squashfs": "squashfs is not in gokernel's LKL build (the LKL npm source package lacks fs/squashfs)",
	"iso9660":  "iso9660 is not in gokernel's LKL build (the LKL npm source package lacks fs/isofs)",
	"f2fs":     "f2fs is not in gokernel's LKL build",
	"exfat":    "exfat is not in gokernel's LKL build (Linux has it from 5.7)",
	"ntfs":     "ntfs is not in gokernel's LKL build",
}

// check judges r.
func check(r *Result) Check {
	switch r.Usage {
	case "":
		return Check{Verdict: NotFilesystem, Reason: fmt.Sprintf("a %s partition table: its partitions hold the file systems", ptName(r.PartitionTable))}
	case UsageCrypto:
		return Check{Verdict: NotFilesystem, Reason: fmt.Sprintf("a LUKS%s encrypted volume: LKL has no dm-crypt; open it on the host (cryptsetup open) and use the mapped device", r.Version)}
	case UsageRAID:
		if r.Type == "LVM2_member" {
			return Check{Verdict: NotFilesystem, Reason: "an LVM2 physical volume: its logical volumes hold the file systems"}
		}
		name := r.Label
		if name == "" {
			name = r.UUID
		}
		return Check{Verdict: NotFilesystem, Reason: fmt.Sprintf("a member of MD RAID array %s (metadata %s): the array holds the file system", name, r.Version)}
	case UsageOther:
		return Check{Verdict: NotFilesystem, Reason: "a swap area, not a file system"}
	}
	if why, ok := absent[r.Type]; ok {
		return Check{Verdict: NotInBuild, Reason: why}
	}
	var defs []featureDef
	var mkfs string
	switch r.Type {
	case "ext2", "ext3", "ext4":
		defs, mkfs = extFeatures, "mke2fs -t "+r.Type
	case "xfs":
		defs, mkfs = xfsFeatures, "mkfs.xfs"
	case "btrfs":
		defs, mkfs = btrfsFeatures, "mkfs.btrfs"
	}
	var ro, in []Feature
	for _, f := range r.Features {
		switch {
		case !f.Missing || f.Set == SetCompat:
			// Unknown compat features are ignored by the kernel.
		case f.Set == SetROCompat:
			ro = append(ro, f)
		default:
			in = append(in, f)
		}
	}
	if other := r.unmountable; other != "" {
		return Check{Verdict: NotMountable, Reason: fmt.Sprintf("Linux %s (LKL) cannot mount it: %s", Kernel, other)}
	}
	switch {
	case len(in) > 0:
		all := append(in, ro...)
		return Check{
			Verdict: NotMountable,
			Reason:  fmt.Sprintf("Linux %s (LKL) lacks %s", Kernel, describe(all)),
			Missing: names(all),
			Fix:     fix(defs, mkfs, all),
		}
	case len(ro) > 0:
		return Check{
			Verdict: ReadOnly,
			Reason:  fmt.Sprintf("Linux %s (LKL) lacks %s, which %s read-only compatible: it mounts read-only only", Kernel, describe(ro), plural(len(ro), "is", "are")),
			Missing: names(ro),
			Fix:     fix(defs, mkfs, ro),
		}
	case r.Type == "ext4" && slices.ContainsFunc(r.Features, func(f Feature) bool { return f.Name == "readonly" }):
		return Check{Verdict: ReadOnly, Reason: "the file system has the readonly feature: it mounts read-only only"}
	}
	return Check{Verdict: Mountable}
}

func ptName(t string) string {
	if t == "dos" {
		return "DOS (MBR)"
	}
	return strings.ToUpper(t)
}

// describe lists features with their sets and versions: "the incompat
// feature bigtime (Linux 5.10) and the ro_compat feature inobtcount
// (Linux 5.10)".
func describe(fs []Feature) string {
	var parts []string
	for _, f := range fs {
		s := fmt.Sprintf("the %s feature %s", f.Set, f.Name)
		if f.Since != "" {
			s += " (Linux " + f.Since + ")"
		} else {
			s += " (no Linux version)"
		}
		parts = append(parts, s)
	}
	switch len(parts) {
	case 1:
		return parts[0]
	default:
		return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
}

func names(fs []Feature) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// fix builds the mkfs command line that leaves fs out: options grouped by
// flag in the order of fs ("mkfs.xfs -m bigtime=0,inobtcount=0"), then the
// hints of features no mkfs option avoids.
func fix(defs []featureDef, mkfs string, fs []Feature) string {
	type group struct {
		opt  string
		vals []string
	}
	var groups []*group
	var hints []string
	for _, f := range fs {
		d := findName(defs, f.Name)
		if d == nil {
			continue
		}
		if d.opt == "" {
			if d.hint != "" && !slices.Contains(hints, d.hint) {
				hints = append(hints, d.hint)
			}
			continue
		}
		i := slices.IndexFunc(groups, func(g *group) bool { return g.opt == d.opt })
		if i < 0 {
			groups = append(groups, &group{opt: d.opt})
			i = len(groups) - 1
		}
		groups[i].vals = append(groups[i].vals, d.val)
	}
	for _, f := range fs {
		if findName(defs, f.Name) == nil {
			hints = append(hints, fmt.Sprintf("%s is a bit no Linux knows (a corrupt superblock?)", f.Name))
		}
	}
	var s string
	if len(groups) > 0 {
		s = mkfs
		for _, g := range groups {
			s += " " + g.opt + " " + strings.Join(g.vals, ",")
		}
	}
	if len(hints) > 0 {
		if s != "" {
			s += "; "
		}
		s += strings.Join(hints, "; ")
	}
	return s
}
