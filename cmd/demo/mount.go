package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/ufs/fusefs"
)

func init() {
	var f imageFlags
	var o mountOpts
	register(&cli.Command{
		Name:    "mount",
		Args:    "[flags] IMAGE MOUNTPOINT",
		Summary: "serve a disk image's file system, through LKL, as a FUSE mount every program can use (lklfuse)",
		Help: `mount boots LKL with IMAGE, mounts the image's file system inside LKL and
serves it at MOUNTPOINT on the host through FUSE, so ls, find, cp, tar,
git — any program — read and write the image with Linux's own ext4, xfs,
btrfs or vfat driver, running in this process. It stays in the
foreground. Ctrl-C (SIGINT), SIGTERM, or unmounting MOUNTPOINT from
outside (fusermount3 -u MOUNTPOINT, umount MOUNTPOINT) ends it: the FUSE
mount goes, LKL unmounts the image (which flushes it to the file) and
halts. A second signal forces the exit: the FUSE mount is detached at
once and the image is left as a crash would leave it.

-o takes lklfuse's options, comma-separated (a backslash escapes a
comma):
  ro, rw           mount read-only (the image file is opened read-only
                   and never written) or read-write (the default)
  type=FSTYPE      the image's file system (default: detect)
  part=N           the Nth partition of an MBR or GPT disk image
  opts=OPTIONS     mount options passed to the file system inside LKL,
                   e.g. opts=noatime or opts=data=journal\,noatime
  allow_other      let other users use the mount
  noxattr          no extended attributes (xattr calls fail with
                   EOPNOTSUPP): fewer requests for cp -a, tar --xattrs
  nowriteback      no writeback cache on a read-write mount: each
                   write(2) reaches LKL before it returns
  debug            log every FUSE request to stderr

--background puts the server in the background once the mount is ready:
demo mount starts itself again as a daemon (a new session, its standard
files on /dev/null), waits until that one has mounted, prints where and
the daemon's pid, and exits 0. An error before the mount is ready is
printed as in the foreground, and demo mount exits with its status.
fusermount3 -u MOUNTPOINT (or umount, or SIGTERM to the pid) ends the
daemon, which flushes the image and halts LKL as above.

As root the mount is made with mount(2); any other user needs fusermount3
(Debian package fuse3).

` + imageHelp,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			f.define(fs, false)
			fs.Var(&o, "o", "lklfuse-style `options` (see above); may be repeated")
			background := fs.Bool("background", false, "run in the background once the mount is ready (see above)")
			return func(args []string) error {
				if len(args) != 2 {
					return fmt.Errorf("%w: mount takes an image and a mount point", errUsage)
				}
				if err := o.apply(&f); err != nil {
					return fmt.Errorf("%w: %v", errUsage, err)
				}
				if *background && os.Getenv(readyEnv) == "" {
					return mountBackground(args[1])
				}
				return mountImage(f, o, args[0], args[1])
			}
		},
	})
}

// mountOpts are the -o options of demo mount.
type mountOpts struct {
	raw        []string // as given, one per -o
	opts       string   // opts=: mount options for the file system in LKL
	allowOther bool
	noXattrs   bool
	noWB       bool
	debug      bool
}

func (o *mountOpts) String() string { return strings.Join(o.raw, ",") }

// Set takes one -o argument.
func (o *mountOpts) Set(s string) error {
	o.raw = append(o.raw, s)
	return nil
}

// apply parses the -o options into f and o.
func (o *mountOpts) apply(f *imageFlags) error {
	for _, raw := range o.raw {
		for _, opt := range splitEscaped(raw) {
			key, val, hasVal := strings.Cut(opt, "=")
			switch {
			case opt == "ro":
				f.readOnly = true
			case opt == "rw":
				f.readOnly = false
			case opt == "allow_other":
				o.allowOther = true
			case opt == "debug":
				o.debug = true
			case opt == "noxattr":
				o.noXattrs = true
			case opt == "nowriteback":
				o.noWB = true
			case key == "type" && hasVal:
				f.fstype = val
			case key == "part" && hasVal:
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 {
					return fmt.Errorf("-o part=%s: want a partition number (1, 2, …)", val)
				}
				f.partition = n
			case key == "opts" && hasVal:
				o.opts = val
			case opt == "":
			default:
				return fmt.Errorf("-o %s: unknown option (known: ro, rw, type=, part=, opts=, allow_other, noxattr, nowriteback, debug)", opt)
			}
		}
	}
	return nil
}

// splitEscaped splits s at commas not escaped by a backslash, and drops
// the escapes.
func splitEscaped(s string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(parts, cur.String())
}

// mountImage runs demo mount.
func mountImage(f imageFlags, o mountOpts, imagePath, mountpoint string) (err error) {
	img, err := openImage(imagePath, f, false)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := img.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if o.opts != "" {
		if err := remount(img, o.opts); err != nil {
			return err
		}
	}
	// The host kernel applies the caller's umask; LKL's own would take
	// more bits away (fusefs would then chmod every new file).
	libgo.New(img.kernel).Umask(0)
	fsys := ufs.New(img.kernel, imageMount)
	defer fsys.Close()
	opts := fusefs.Options{ReadOnly: f.readOnly, AllowOther: o.allowOther, NoXattrs: o.noXattrs, NoWritebackCache: o.noWB, FsName: imagePath}
	if o.debug {
		opts.Debug = log.New(out.Err, "fuse: ", log.Lmicroseconds)
	}
	srv, err := fusefs.Mount(mountpoint, fsys, opts)
	if err != nil {
		return err
	}
	mode := "read-write"
	if f.readOnly {
		mode = "read-only"
	}
	// The signals are ours before "mounted" says so: one sent at once
	// after that line must not find Go's default (exit, mount left
	// behind).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	fmt.Fprintf(out.W, "mounted %s (%s, %s) at %s; Ctrl-C or fusermount3 -u %s unmounts\n", imagePath, img.fstype, mode, mountpoint, mountpoint)
	daemonReady()
	served := make(chan struct{})
	go func() { srv.Wait(); close(served) }()
	signals := 0
	for {
		select {
		case <-served:
			fmt.Fprintf(out.W, "unmounted %s; flushing and halting LKL\n", mountpoint)
			return nil
		case s := <-sigs:
			signals++
			if signals > 1 {
				// Forced: detach the mount so nothing is left mounted,
				// and exit without flushing.
				libgo.New(sys.Host()).Unmount(mountpoint, unix.MNT_DETACH)
				fmt.Fprintf(out.Err, "demo: %v again: %s detached; exiting without flushing the image (check it with fsck)\n", s, mountpoint)
				os.Exit(1)
			}
			fmt.Fprintf(out.Err, "demo: %v: unmounting %s (send it again to force)\n", s, mountpoint)
			if err := srv.Unmount(); err != nil {
				fmt.Fprintf(out.Err, "demo: unmounting %s: %v; still serving it\n", mountpoint, err)
			}
		}
	}
}

// readyEnv names, in the environment of the daemon demo mount --background
// starts, the fd on which it says that its mount is ready.
const readyEnv = "DEMO_MOUNT_READY_FD"

// mountBackground runs demo mount --background: it starts this program
// again, with the same arguments, as a daemon in a new session whose
// standard output and error are this one's until its mount is ready; it
// then exits 0. When the daemon ends before (an error, which it has
// printed), it exits with the daemon's status.
func mountBackground(mountpoint string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--background: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("--background: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), readyEnv+"=3")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("--background: starting the daemon: %w", err)
	}
	// "ready" once mounted; nothing (EOF) when the daemon exits first.
	msg, _ := io.ReadAll(io.LimitReader(r, 64))
	if string(msg) == "ready" {
		fmt.Fprintf(out.W, "demo mount runs in the background as pid %d; fusermount3 -u %s unmounts\n", cmd.Process.Pid, mountpoint)
		cmd.Process.Release()
		return nil
	}
	cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code <= 0 {
		code = 1
	}
	os.Exit(code) // the daemon has printed its error
	return nil
}

// daemonReady, in the daemon of demo mount --background, puts /dev/null
// on its standard files (so that it holds none of its starter's) and tells
// the starter that the mount is ready. Elsewhere it does nothing.
func daemonReady() {
	v := os.Getenv(readyEnv)
	if v == "" {
		return
	}
	os.Unsetenv(readyEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return
	}
	if null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		for _, std := range []int{0, 1, 2} {
			libgo.New(sys.Host()).Dup3(int(null.Fd()), std, 0)
		}
		null.Close()
	}
	ready := os.NewFile(uintptr(fd), "ready")
	ready.Write([]byte("ready"))
	ready.Close()
}

// remount mounts the image's file system again, inside LKL, with the
// mount options opts (LKL's disk configuration has none): it finds the
// device node behind imageMount, unmounts and mounts it. Halting LKL
// unmounts it as it would the first mount.
func remount(img *image, opts string) error {
	l := libgo.New(img.kernel)
	var st unix.Stat_t
	if err := l.Stat(imageMount, &st); err != nil {
		return fmt.Errorf("opts=%s: %w", opts, err)
	}
	dev, err := deviceNode(img.kernel, st.Dev)
	if err != nil {
		return fmt.Errorf("opts=%s: %w", opts, err)
	}
	var flags uintptr
	if img.flags.readOnly {
		flags = unix.MS_RDONLY
	}
	if err := l.Unmount(imageMount, 0); err != nil {
		return fmt.Errorf("opts=%s: unmounting %s in LKL: %w", opts, imageMount, err)
	}
	if err := l.Mount(dev, imageMount, img.fstype, flags, opts); err != nil {
		return fmt.Errorf("opts=%s: %s refuses these mount options: %w", opts, img.fstype, err)
	}
	return nil
}

// deviceNode returns the block device node in LKL's /dev whose device
// number is dev.
func deviceNode(k sys.Kernel, dev uint64) (string, error) {
	devs := ufs.New(k, "/dev")
	defer devs.Close()
	ents, err := devs.ReadDir(".")
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || fi.Mode()&os.ModeDevice == 0 {
			continue
		}
		if st, ok := fi.Sys().(*unix.Stat_t); ok && st.Rdev == dev {
			return "/dev/" + e.Name(), nil
		}
	}
	return "", fmt.Errorf("no device node in LKL's /dev for device %d:%d", unix.Major(dev), unix.Minor(dev))
}
