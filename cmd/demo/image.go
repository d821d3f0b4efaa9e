package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// The image tools (ls, cat, cp-out, cp-in, tar) share their flags, the way
// they open an image (image_lkl.go: LKL boots with the image as its one
// disk; the host mounts nothing) and a progress line on stderr.

// imageMount is where the tools mount the image inside LKL.
const imageMount = "/mnt/image"

// imageFlags are the flags every image tool takes.
type imageFlags struct {
	fstype    string
	partition int
	readOnly  bool
	format    string   // raw or qcow2; "" detects it
	overlay   string   // "", "memory" or a sidecar file
	volume    string   // an LVM LV or MD array on the image; "" for the image itself
	images    []string // more images holding the volume's other PVs or members
	isolate   bool     // LKL in a sandboxed child process (sys/isolated)
	callLimit string   // --call-deadline: the isolated kernel's isolation_call_deadline
}

// define adds the flags to fs; readOnly is the default of --readonly.
func (f *imageFlags) define(fs *flag.FlagSet, readOnly bool) {
	f.defineDisk(fs)
	fs.BoolVar(&f.readOnly, "readonly", readOnly, "open the image read-only (nothing can change it)")
}

// defineDisk adds the flags that pick the file system: --fstype and
// --partition (serve, which always mounts read-only, takes only these).
func (f *imageFlags) defineDisk(fs *flag.FlagSet) {
	fs.StringVar(&f.fstype, "fstype", "", "the image's file system: ext4, xfs, vfat or btrfs (default: detect)")
	fs.IntVar(&f.partition, "partition", 0, "the partition `N` (1-based) of a partitioned disk image; 0 for the whole image")
	fs.StringVar(&f.format, "format", "", "the image's `format`: raw or qcow2 (default: detect)")
	fs.StringVar(&f.overlay, "overlay", "", "write to a copy-on-write overlay, never to the image: memory, or a sidecar `FILE` that keeps the writes")
	fs.StringVar(&f.volume, "volume", "", "open the LVM logical volume or MD array `NAME` on the image (vg/lv, /dev/mapper/vg-lv, md0) instead of the image itself")
	fs.Func("image", "another image `FILE` holding the volume's other PVs or MD members (repeat it for more)", func(s string) error {
		f.images = append(f.images, s)
		return nil
	})
	fs.BoolVar(&f.isolate, "isolate", false, "run LKL in a sandboxed child process, for an untrusted image: a kernel bug it hits cannot reach this process (docs/isolation.md)")
	fs.StringVar(&f.callLimit, "call-deadline", "", "with --isolate: the longest one call may run in the child before it is killed and the command fails (isolation_call_deadline; default 30s, 0 for none)")
}

// image is an image opened by openImage: an FS on its root inside LKL.
type image struct {
	fs     *ufs.FS
	close  func() error // closes fs, unmounts the image and halts LKL
	path   string       // the image file on the host
	flags  imageFlags
	fstype string // as mounted: given or detected
	kernel sys.Kernel

	// With a network (openImage's withNet): LKL's address on its user
	// network, and forward, which forwards TCP connections to the host
	// address host (port 0 picks one) to port inside LKL and returns the
	// address it listens on.
	guest   string
	forward func(host string, port uint16) (net.Addr, error)
}

// onImage checks that args (the image first) number from least to most
// (most < 0: no limit), opens the image and runs fn with it and the rest
// of the arguments; the image is closed, LKL halted, afterwards.
func onImage(f imageFlags, args []string, least, most int, usage string, fn func(img *image, args []string) error) (err error) {
	if len(args) < least || most >= 0 && len(args) > most {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	img, err := openImage(args[0], f, false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, img.close()) }()
	return fn(img, args[1:])
}

// directSource opens the image file on the host for ufs's direct
// copies (ufs.CopyOptions.Image), where they apply: a read-only mount of
// a whole-disk ext4 or xfs image. Isolated, the child's tree export
// sends such files' extents and this process copies them from the image
// (docs/isolation.md, "Tree exports", says what a hostile child can do
// with that: place any of the image's bytes in a copied file, as it
// could by sending them). Elsewhere, or if the file cannot be opened, it
// returns nil and every byte is copied through LKL.
func (img *image) directSource() *ufs.File {
	if !img.flags.readOnly || img.flags.partition != 0 || img.flags.volume != "" || img.fstype != "ext4" && img.fstype != "xfs" ||
		img.flags.overlay != "" || img.flags.format != "" && img.flags.format != "raw" || strings.Contains(img.path, "://") {
		return nil
	}
	abs, err := filepath.Abs(img.path)
	if err != nil {
		return nil
	}
	host := ufs.New(sys.Host(), filepath.Dir(abs))
	defer host.Close()
	f, err := host.OpenFile(filepath.Base(abs), os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	return f
}

// hostPathErr makes an error of an FS on the host directory dir name
// the path as the user typed it: the FS's errors name paths relative to
// dir ("stat ." for dir itself).
func hostPathErr(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: filepath.Join(dir, pe.Path), Err: pe.Err}
	}
	return err
}

// warnSkipped says on stderr that a file was not copied; it is a
// ufs.CopyOptions.Skipped.
func warnSkipped(name string, mode fs.FileMode) {
	fmt.Fprintf(out.Err, "skipping %s: %s\n", name, mode)
}

// optPath is the image name of the optional PATH argument: "." without it.
func optPath(args []string) string {
	if len(args) == 0 {
		return "."
	}
	return imagePath(args[0])
}

const imageHelp = `The image is attached to an LKL kernel booted inside this process and
mounted there; the host kernel is never asked to mount anything. The file
system type is detected unless --fstype says it; --partition N picks a
partition of an MBR or GPT disk image. --volume vg/lv opens an LVM logical
volume (linear or striped) or an MD array (--volume md0: raid1, raid0,
linear) found on the image or its partitions; --image FILE adds an image
holding more of the volume group's PVs or the array's members, and
--partition then picks a partition inside the volume (docs/volumes.md).

IMAGE is a file or block device, or a URL: http:// and https:// images are
read with Range requests (only the blocks the file system needs are
fetched), nbd://HOST:PORT/EXPORT and nbd+unix:///EXPORT?socket=PATH reach
anything qemu-nbd or nbdkit serve (vmdk, vhdx, vdi, ...). Raw and qcow2
images are told apart by their first bytes (--format says it instead).
qcow2 and URL images are read-only; --overlay memory (or a sidecar FILE)
sends writes to a copy-on-write overlay, and the image is never written.`

// progress counts files and bytes and, when stderr is a terminal, prints
// them there on one line, rewritten a few times a second.
type progress struct {
	files, bytes atomic.Int64
	w            io.Writer
	stop         chan struct{}
	done         sync.WaitGroup
	start        time.Time
}

// startProgress starts a progress line on w if it is a terminal.
func startProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.stop = make(chan struct{})
			p.done.Go(p.run)
		}
	}
	return p
}

func (p *progress) run() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.print()
			fmt.Fprintln(p.w)
			return
		case <-t.C:
			p.print()
		}
	}
}

func (p *progress) print() {
	secs := time.Since(p.start).Seconds()
	mb := float64(p.bytes.Load()) / 1e6
	fmt.Fprintf(p.w, "\r%d files, %.1f MB, %.1f MB/s   ", p.files.Load(), mb, mb/max(secs, 1e-3))
}

// add counts files and bytes done; it is a ufs.CopyOptions.Progress.
func (p *progress) add(files, bytes int64) {
	p.files.Add(files)
	p.bytes.Add(bytes)
}

// finish ends the progress line.
func (p *progress) finish() {
	if p.stop != nil {
		close(p.stop)
		p.done.Wait()
	}
}
