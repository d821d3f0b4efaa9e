//go:build lkl

package lkl_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// memDevice is a writable in-memory disk whose reads can be made to fail,
// come back short or block.
type memDevice struct {
	mu      sync.RWMutex
	b       []byte
	reads   atomic.Int64
	writes  atomic.Int64
	flushes atomic.Int64

	// badRead, if > 0, is the number (counting from 1) of the read that
	// goes wrong as badKind says: "fail" with EIO, "short" (half the bytes
	// and no error) or "panic". The range of that read stays bad (later
	// reads that touch it go wrong the same way: the kernel retries a
	// failed readahead) until heal. hold, if set, blocks every read until
	// it is closed.
	badRead atomic.Int64
	badKind string
	bad     struct {
		sync.Mutex
		off, end int64
	}
	hold atomic.Pointer[chan struct{}]
}

// heal makes the bad range good again.
func (m *memDevice) heal() {
	m.bad.Lock()
	defer m.bad.Unlock()
	m.bad.off, m.bad.end = 0, 0
}

// isBad says whether the read of n bytes at off, the device's nth, goes
// wrong.
func (m *memDevice) isBad(nth, off int64, n int) bool {
	m.bad.Lock()
	defer m.bad.Unlock()
	end := off + int64(n)
	if nth == m.badRead.Load() {
		m.bad.off, m.bad.end = off, end
	}
	return off < m.bad.end && end > m.bad.off
}

func newMemDevice(t testing.TB, img string) *memDevice {
	b, err := os.ReadFile(img)
	require.NoError(t, err)
	return &memDevice{b: b}
}

func (m *memDevice) ReadAt(p []byte, off int64) (int, error) {
	n := m.reads.Add(1)
	if h := m.hold.Load(); h != nil {
		<-*h
	}
	bad := m.isBad(n, off, len(p))
	switch {
	case bad && m.badKind == "fail":
		return 0, fmt.Errorf("injected failure of read %d: %w", n, unix.EIO)
	case bad && m.badKind == "panic":
		panic(fmt.Sprintf("injected panic in read %d", n))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, fmt.Errorf("read of %d at %d outside %d bytes", len(p), off, len(m.b))
	}
	if bad { // short
		return copy(p[:len(p)/2], m.b[off:]), nil
	}
	return copy(p, m.b[off:]), nil
}

func (m *memDevice) WriteAt(p []byte, off int64) (int, error) {
	m.writes.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, fmt.Errorf("write of %d at %d outside %d bytes", len(p), off, len(m.b))
	}
	return copy(m.b[off:], p), nil
}

func (m *memDevice) Size() int64  { return int64(len(m.b)) }
func (m *memDevice) Flush() error { m.flushes.Add(1); return nil }

// bytes returns a copy of the disk.
func (m *memDevice) bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.b)
}

// e2fsck runs e2fsck -fn on a copy of the disk's bytes.
func e2fsck(t testing.TB, b []byte) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "check.img")
	require.NoError(t, os.WriteFile(img, b, 0o600))
	imagetest.Run(t, "e2fsck", "-fn", img)
}

// attachGo attaches dev at a fresh mount point and unmounts it (which
// detaches it) at the end of the test.
func attachGo(t *testing.T, dev disk.Device, readOnly bool) lkl.MountInfo {
	t.Helper()
	mp := fmt.Sprintf("/mnt/go-%d", goMounts.Add(1))
	info, err := kern.AttachDisk(dev, lkl.Disk{Path: t.Name(), ReadOnly: readOnly, MountPoint: mp})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, m := range kern.Mounts() {
			if m.MountPoint == mp {
				require.NoError(t, kern.Unmount(mp))
			}
		}
	})
	return info
}

var goMounts atomic.Int64

// An ext4 image served from an io.ReaderAt (disk.ReaderAt over a
// bytes.Reader) mounts read-only, found by detection, and reads back; its
// bytes are never written; Unmount detaches it.
func TestAttachDiskReaderAt(t *testing.T) {
	tree := imageTree("ext4")
	raw, err := os.ReadFile(imagetest.Build(t, "ext4", tree))
	require.NoError(t, err)
	orig := bytes.Clone(raw)
	info := attachGo(t, disk.ReaderAt(bytes.NewReader(raw), int64(len(raw))), false)
	require.Equal(t, "ext4", info.FSType)
	require.True(t, info.Disk.ReadOnly, "disk.ReaderAt is read-only, so the mount is")
	for name, content := range tree.Files() {
		require.Equal(t, content, string(readFile(t, info.MountPoint+"/"+name)), name)
	}
	_, e := call(unix.SYS_CREAT, uintptr(unsafe.Pointer(cstr(t, info.MountPoint+"/new"))), 0o644)
	require.Equal(t, sys.Errno(unix.EROFS), e)
	require.NoError(t, kern.Unmount(info.MountPoint))
	require.Equal(t, orig, raw)
	for _, m := range kern.Mounts() {
		require.NotEqual(t, info.MountPoint, m.MountPoint)
	}
}

// Files written through a writable Go device reach its bytes: e2fsck finds
// the file system clean after Unmount (which flushed the device), and a
// second attach reads them back.
func TestAttachDiskWritable(t *testing.T) {
	dev := newMemDevice(t, imagetest.Build(t, "ext4", imageTree("ext4")))
	info := attachGo(t, dev, false)
	require.False(t, info.Disk.ReadOnly)
	want := map[string][]byte{}
	for i := range 20 {
		name := fmt.Sprintf("new-%d.bin", i)
		want[name] = bytes.Repeat([]byte{byte(i)}, 1000+i*3000)
		writeFile(t, info.MountPoint+"/"+name, want[name])
	}
	require.NoError(t, kern.Unmount(info.MountPoint))
	require.Positive(t, dev.writes.Load())
	require.Equal(t, int64(1), dev.flushes.Load(), "detaching flushes the device once")
	e2fsck(t, dev.bytes())

	again := attachGo(t, dev, false)
	for name, b := range want {
		require.Equal(t, b, readFile(t, again.MountPoint+"/"+name), name)
	}
}

// hostFileDevice is a device on a host file, which AttachDisk serves in C:
// its ReadAt and WriteAt are never called.
type hostFileDevice struct {
	f     *os.File
	calls atomic.Int64
}

func (h *hostFileDevice) ReadAt(p []byte, off int64) (int, error) {
	h.calls.Add(1)
	return h.f.ReadAt(p, off)
}

func (h *hostFileDevice) WriteAt(p []byte, off int64) (int, error) {
	h.calls.Add(1)
	return h.f.WriteAt(p, off)
}

func (h *hostFileDevice) Size() int64 {
	fi, err := h.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (h *hostFileDevice) Flush() error   { return h.f.Sync() }
func (h *hostFileDevice) File() *os.File { return h.f }

// A device with a host file goes through the preadv/pwritev path; writes
// land in the file.
func TestAttachDiskHostFile(t *testing.T) {
	img := imagetest.Build(t, "ext4", imageTree("ext4"))
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	dev := &hostFileDevice{f: f}
	info := attachGo(t, dev, false)
	require.Equal(t, "hello from the image\n", string(readFile(t, info.MountPoint+"/hello.txt")))
	writeFile(t, info.MountPoint+"/written", []byte("through pwritev\n"))
	require.NoError(t, kern.Unmount(info.MountPoint))
	require.Zero(t, dev.calls.Load(), "a host file is served in C")
	out := imagetest.Run(t, "debugfs", "-R", "cat /written", img)
	require.Contains(t, out, "through pwritev\n")
}

// Many goroutines read files through one Go device at once, each file
// dropped from the page cache first so that its blocks come from the
// device; every byte is right (run with -race).
func TestAttachDiskConcurrentReads(t *testing.T) {
	tree := imagetest.Tree{}
	for i := range 64 {
		tree[fmt.Sprintf("d%d/f%d", i%8, i)] = strings.Repeat(fmt.Sprintf("file %d ", i), 1000+i*50)
	}
	dev := newMemDevice(t, imagetest.Build(t, "ext4", tree))
	info := attachGo(t, dev, false)
	dropCaches := mountProc(t)
	before := dev.reads.Load()
	for round := range 4 {
		dropCaches()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			wg.Go(func() {
				for i := g; i < 64; i += 16 {
					name := fmt.Sprintf("d%d/f%d", i%8, i)
					got, err := readOn(kern, info.MountPoint+"/"+name)
					if err == nil && string(got) != tree[name] {
						err = fmt.Errorf("%s: wrong content", name)
					}
					if err != nil {
						errs <- fmt.Errorf("round %d: %w", round, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	require.Greater(t, dev.reads.Load()-before, int64(4*64), "each round read the files from the device")
}

// mountProc mounts proc in the test kernel if it is not there yet and
// returns a function that drops the page cache.
func mountProc(t *testing.T) func() {
	t.Helper()
	if _, e := stat(t, unix.SYS_STAT, "/proc/sys/vm/drop_caches"); e != 0 {
		_, e := call(unix.SYS_MKDIR, uintptr(unsafe.Pointer(cstr(t, "/proc"))), 0o755)
		require.True(t, e == 0 || e == sys.Errno(unix.EEXIST), "mkdir /proc: %v", e)
		mustCall(t, "mount proc", unix.SYS_MOUNT, uintptr(unsafe.Pointer(cstr(t, "proc"))), uintptr(unsafe.Pointer(cstr(t, "/proc"))), uintptr(unsafe.Pointer(cstr(t, "proc"))), 0, 0)
	}
	return func() {
		fd := mustCall(t, "open drop_caches", unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr(t, "/proc/sys/vm/drop_caches"))), unix.O_WRONLY|unix.O_CLOEXEC)
		defer call(unix.SYS_CLOSE, fd)
		three := []byte("3")
		mustCall(t, "drop caches", unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&three[0])), 1)
	}
}

func init() {
	children["godisk-errors"] = childGoDiskErrors
	children["godisk-halt"] = childGoDiskHalt
}

// runChildStderr runs this test binary as the named child and returns its
// stderr.
func runChildStderr(t *testing.T, name string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + name}, env...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "child %s: stdout: %s\nstderr: %s", name, out.String(), errb.String())
	return errb.String()
}

// A device's failures are EIO in the file system call, and the kernel
// keeps running: an injected EIO on the Nth read, a short read, a panic in
// the device, a device that stops answering (EIO after io_timeout, and at once while it still
// does not answer), and reads work again afterwards. Each device's first
// error is printed once, with a count at the end.
func TestAttachDiskErrors(t *testing.T) {
	img := imagetest.Build(t, "ext4", imageTree("ext4"))
	stderr := runChildStderr(t, "godisk-errors", "GK_TEST_IMAGE="+img)
	for _, name := range []string{"fail", "short", "panic", "hung"} {
		require.Equal(t, 1, strings.Count(stderr, "lkl: disk "+name+": "+"read"), "first error of %s printed once:\n%s", name, stderr)
	}
	require.Contains(t, stderr, "injected failure of read")
	require.Contains(t, stderr, "unexpected EOF")
	require.Contains(t, stderr, "the device panicked: injected panic in read")
	require.Contains(t, stderr, "did not answer within 300ms (io_timeout)")
	require.Regexp(t, `lkl: disk hung: [2-9]\d* requests failed in all`, stderr)
}

func childGoDiskErrors() error {
	img := os.Getenv("GK_TEST_IMAGE")
	k, err := lkl.Boot(&lkl.Config{IOTimeout: "300ms"})
	if err != nil {
		return err
	}
	b, err := os.ReadFile(img)
	if err != nil {
		return err
	}
	read := func(name string) error {
		_, err := readOn(k, name)
		return err
	}
	var errs []error
	for _, name := range []string{"fail", "short", "panic", "hung"} {
		dev := &memDevice{b: bytes.Clone(b), badKind: name}
		mp := "/mnt/" + name
		if _, err := k.AttachDisk(dev, lkl.Disk{Path: name, ReadOnly: true, MountPoint: mp}); err != nil {
			return err
		}
		if err := read(mp + "/hello.txt"); err != nil {
			return err
		}
		var release chan struct{}
		switch name {
		case "fail", "short", "panic":
			dev.badRead.Store(dev.reads.Load() + 1)
		case "hung":
			release = make(chan struct{})
			dev.hold.Store(&release)
		}
		err := read(mp + "/big.bin")
		errs = append(errs, check(errors.Is(err, unix.EIO), "%s: read of big.bin: %v, want EIO", name, err))
		if name != "hung" {
			// Blocks elsewhere read fine while the bad range stays bad.
			got, err := readOn(k, mp+"/unicode-ñ-日本語.txt")
			errs = append(errs, check(err == nil && string(got) == "unicode name\n", "%s: a good file: %q, %v", name, got, err))
			dev.heal()
		}
		if name == "hung" {
			// Still not answering: refused at once, not after another timeout.
			err = read(mp + "/big.bin")
			errs = append(errs, check(errors.Is(err, unix.EIO), "%s: second read: %v, want EIO", name, err))
			dev.hold.Store(nil)
			close(release)
			// Reads are refused until the abandoned one has returned.
			for start := time.Now(); read(mp+"/big.bin") != nil && time.Since(start) < 5*time.Second; {
				time.Sleep(50 * time.Millisecond)
			}
		}
		got, err := readOn(k, mp+"/big.bin")
		errs = append(errs, check(err == nil && len(got) == 320000, "%s: read after the failure: %d bytes, %v", name, len(got), err))
		if err := k.Unmount(mp); err != nil {
			return err
		}
	}
	if err := k.Halt(); err != nil {
		return err
	}
	errs = append(errs, goleak.Find())
	return errors.Join(errs...)
}

// readOn reads a whole file through kernel k; unlike readFile it fails no
// test, so goroutines and children can use it.
func readOn(k *lkl.Kernel, name string) ([]byte, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return nil, err
	}
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return nil, fmt.Errorf("open %s: %w", name, e)
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e != 0 {
			return out, fmt.Errorf("read %s: %w", name, e)
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

// Halt with a Go device mounted and one only attached: the file system is
// unmounted into the device, both are flushed, and the written bytes make
// a clean file system (checked by the parent with e2fsck and debugfs).
func TestAttachDiskHalt(t *testing.T) {
	img := imagetest.Build(t, "ext4", imageTree("ext4"))
	out := filepath.Join(t.TempDir(), "after-halt.img")
	runChildStderr(t, "godisk-halt", "GK_TEST_IMAGE="+img, "GK_TEST_OUT="+out)
	imagetest.Run(t, "e2fsck", "-fn", out)
	require.Contains(t, imagetest.Run(t, "debugfs", "-R", "cat /at-halt", out), "written before halt\n")
}

func childGoDiskHalt() error {
	k, err := lkl.Boot(nil)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(os.Getenv("GK_TEST_IMAGE"))
	if err != nil {
		return err
	}
	mounted, spare := &memDevice{b: b}, &memDevice{b: bytes.Clone(b)}
	if _, err := k.AttachDisk(mounted, lkl.Disk{Path: "mounted", MountPoint: "/mnt/m"}); err != nil {
		return err
	}
	if _, err := k.AttachDisk(spare, lkl.Disk{Path: "spare"}); err != nil {
		return err
	}
	data := []byte("written before halt\n")
	p, _ := unix.BytePtrFromString("/mnt/m/at-halt")
	fd, _, e := sys.SyscallOn(k, unix.SYS_CREAT, uintptr(unsafe.Pointer(p)), 0o644, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), 0, 0, 0); e != 0 {
		return e
	}
	sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	if err := k.Halt(); err != nil {
		return err
	}
	if err := errors.Join(
		check(mounted.flushes.Load() == 1 && spare.flushes.Load() == 1, "flushes at halt: %d and %d, want 1 each", mounted.flushes.Load(), spare.flushes.Load()),
		check(mounted.writes.Load() > 0, "nothing was written to the device"),
		goleak.Find(),
	); err != nil {
		return err
	}
	return os.WriteFile(os.Getenv("GK_TEST_OUT"), mounted.bytes(), 0o600)
}

// vecDevice is a memDevice with the vectored upgrades, counting their
// calls.
type vecDevice struct {
	*memDevice
	readvs, writevs atomic.Int64
}

func (v *vecDevice) ReadvAt(bufs [][]byte, off int64) (int, error) {
	v.readvs.Add(1)
	return eachBuf(bufs, off, v.ReadAt)
}

func (v *vecDevice) WritevAt(bufs [][]byte, off int64) (int, error) {
	v.writevs.Add(1)
	return eachBuf(bufs, off, v.WriteAt)
}

// eachBuf calls rw on each buffer in turn, at consecutive offsets.
func eachBuf(bufs [][]byte, off int64, rw func([]byte, int64) (int, error)) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := rw(b, off+int64(total))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Without io_timeout the device works on the kernel's buffers, and a
// request of several segments goes to ReadvAt or WritevAt when the device
// has them; what is written reads back after a remount and e2fsck finds
// the file system clean.
func TestAttachDiskVectored(t *testing.T) {
	lkl.SetIOTimeout(kern, "0")
	defer lkl.SetIOTimeout(kern, "")
	dev := &vecDevice{memDevice: newMemDevice(t, imagetest.Build(t, "ext4", imageTree("ext4")))}
	info := attachGo(t, dev, false)
	require.Equal(t, strings.Repeat("gokernel", 40000), string(readFile(t, info.MountPoint+"/big.bin")))
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	writeFile(t, info.MountPoint+"/written.bin", big)
	require.NoError(t, kern.Unmount(info.MountPoint))
	require.Positive(t, dev.readvs.Load(), "readahead makes requests of several segments")
	require.Positive(t, dev.writevs.Load(), "writeback makes requests of several segments")
	e2fsck(t, dev.bytes())
	again := attachGo(t, dev, false)
	require.Equal(t, big, readFile(t, again.MountPoint+"/written.bin"))
}

// sleepyDevice takes delay for every read and records how many of its
// reads were in progress at once. While holding is set, every read first
// says so on entered and waits for release to close.
type sleepyDevice struct {
	disk.Device
	delay     time.Duration
	now, most atomic.Int64
	reads     atomic.Int64
	holding   atomic.Bool
	entered   chan struct{}
	release   chan struct{}
	released  atomic.Bool
	once      sync.Once
}

func newSleepyDevice(raw []byte, delay time.Duration) *sleepyDevice {
	return &sleepyDevice{
		Device:  disk.ReaderAt(bytes.NewReader(raw), int64(len(raw))),
		delay:   delay,
		entered: make(chan struct{}, 1),
		release: make(chan struct{}),
	}
}

func (d *sleepyDevice) ReadAt(p []byte, off int64) (int, error) {
	d.reads.Add(1)
	n := d.now.Add(1)
	defer d.now.Add(-1)
	for m := d.most.Load(); n > m && !d.most.CompareAndSwap(m, n); m = d.most.Load() {
	}
	if d.holding.Load() {
		select {
		case d.entered <- struct{}{}:
		default:
		}
		<-d.release
	}
	time.Sleep(d.delay)
	return d.Device.ReadAt(p, off)
}

func (d *sleepyDevice) letGo() {
	d.once.Do(func() { d.released.Store(true); close(d.release) })
}

func (d *sleepyDevice) ReadOnly() bool { return true }

// Requests are served concurrently (LKL fix 15): 8 goroutines read 8
// files from a device whose reads take 50 ms each, and the device sees
// several of its reads in progress at once. LKL 4.9 as shipped served one
// request at a time on the thread that kicked the queue, so the device
// never saw more than one.
func TestGoDiskConcurrentRequests(t *testing.T) {
	const n = 8
	tree := imagetest.Tree{}
	for i := range n {
		tree[fmt.Sprintf("f%d", i)] = strings.Repeat(fmt.Sprintf("file %d ", i), 4000)
	}
	raw, err := os.ReadFile(imagetest.Build(t, "ext4", tree))
	require.NoError(t, err)
	dev := newSleepyDevice(raw, 50*time.Millisecond)
	info := attachGo(t, dev, true)
	dev.most.Store(0) // the mount's own reads do not count
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("f%d", i)
			got, err := readOn(kern, info.MountPoint+"/"+name)
			if err == nil && string(got) != tree[name] {
				err = fmt.Errorf("%s: wrong content", name)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d reads, at most %d at once", dev.reads.Load(), dev.most.Load())
	require.GreaterOrEqual(t, dev.most.Load(), int64(2), "the device saw its reads one at a time")
}

// While a request is outstanding, the kernel runs other calls: a getpid
// returns while the device holds a read (LKL as shipped waited for the
// read with the kernel's CPU held, so the getpid waited too).
func TestGoDiskRequestDoesNotStopKernel(t *testing.T) {
	raw, err := os.ReadFile(imagetest.Build(t, "ext4", imageTree("ext4")))
	require.NoError(t, err)
	dev := newSleepyDevice(raw, 0)
	info := attachGo(t, dev, true)
	dev.holding.Store(true)
	// Without fix 15 the getpid below would wait for the read for ever;
	// let it go after a while so that the test fails instead of hanging.
	stop := time.AfterFunc(30*time.Second, dev.letGo)
	defer stop.Stop()
	var wg sync.WaitGroup
	var readErr error
	wg.Go(func() { _, readErr = readOn(kern, info.MountPoint+"/big.bin") })
	<-dev.entered
	sys.SyscallOn(kern, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	held := !dev.released.Load()
	dev.holding.Store(false)
	dev.letGo()
	wg.Wait()
	require.NoError(t, readErr)
	require.True(t, held, "getpid returned only after the device's read was let go")
}

// Files written through an overlay (in memory, or in a sidecar file) over
// a copy of an image make a clean file system both ways out of it: the
// overlay exported as a new image, and committed into the copy. The copy
// is unchanged until Commit.
func TestOverlayResultsFsck(t *testing.T) {
	img := imagetest.Build(t, "ext4", imageTree("ext4"))
	orig, err := os.ReadFile(img)
	require.NoError(t, err)
	for _, kind := range []string{"memory", "sidecar"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			baseCopy := filepath.Join(dir, "base.img")
			require.NoError(t, os.WriteFile(baseCopy, orig, 0o600))
			base, err := disk.OpenFile(baseCopy, false)
			require.NoError(t, err)
			defer base.Close()
			ov := disk.NewOverlay(base)
			if kind == "sidecar" {
				ov, err = disk.OpenOverlay(base, filepath.Join(dir, "changes.ovl"))
				require.NoError(t, err)
			}
			defer ov.Close()

			info := attachGo(t, ov, false)
			want := map[string][]byte{}
			mustCall(t, "mkdir", unix.SYS_MKDIR, uintptr(unsafe.Pointer(cstr(t, info.MountPoint+"/copied"))), 0o755)
			for i := range 30 {
				name := fmt.Sprintf("copied/f%d.bin", i)
				want[name] = bytes.Repeat([]byte{byte(i + 1)}, 500+i*2500)
				writeFile(t, info.MountPoint+"/"+name, want[name])
			}
			require.NoError(t, kern.Unmount(info.MountPoint))
			now, err := os.ReadFile(baseCopy)
			require.NoError(t, err)
			require.Equal(t, sha256.Sum256(orig), sha256.Sum256(now), "the base was written before Commit")
			require.NotEmpty(t, ov.Extents())

			exported := filepath.Join(dir, "exported.img")
			require.NoError(t, ov.ExportFile(exported))
			require.NoError(t, ov.Commit())
			for _, out := range []string{exported, baseCopy} {
				imagetest.Run(t, "e2fsck", "-fn", out)
				require.Contains(t, imagetest.Run(t, "debugfs", "-R", "cat /copied/f7.bin", out), string(want["copied/f7.bin"]), out)
			}
			committed, err := os.ReadFile(baseCopy)
			require.NoError(t, err)
			exp, err := os.ReadFile(exported)
			require.NoError(t, err)
			require.Equal(t, sha256.Sum256(exp), sha256.Sum256(committed), "export and commit differ")
		})
	}
}

// tryDevice is a memDevice that is a disk.TryReader: TryReadAt answers
// at once while ready is set, and declines otherwise.
type tryDevice struct {
	*memDevice
	ready           atomic.Bool
	tries, answered atomic.Int64
}

func (d *tryDevice) TryReadAt(p []byte, off int64) (int, bool) {
	d.tries.Add(1)
	if !d.ready.Load() {
		return 0, false
	}
	n, err := d.memDevice.ReadAt(p, off)
	if err != nil {
		return 0, false
	}
	d.answered.Add(1)
	return n, true
}

// Requests to a local device (disk.IsLocal: here a disk.Memory, and an
// overlay over it) are served inline, on the thread that submitted them:
// none goes to a goroutine, and what is written reads back and leaves a
// clean file system. A device of unknown kind gets a goroutine per
// request; a disk.TryReader's reads are served inline while it can answer
// them at once, by goroutines while it cannot.
func TestGoDiskInline(t *testing.T) {
	raw, err := os.ReadFile(imagetest.Build(t, "ext4", imageTree("ext4")))
	require.NoError(t, err)
	big := bytes.Repeat([]byte("inline!!"), 128<<10) // 1 MiB
	mem := disk.NewMemory(int64(len(raw)))
	_, err = mem.WriteAt(raw, 0)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		dev  disk.Device
	}{
		{"memory", mem},
		{"overlay over memory", disk.NewOverlay(mem)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, disk.IsLocal(tc.dev))
			info := attachGo(t, tc.dev, false)
			require.Equal(t, strings.Repeat("gokernel", 40000), string(readFile(t, info.MountPoint+"/big.bin")))
			writeFile(t, info.MountPoint+"/written.bin", big)
			mustCall(t, "sync", unix.SYS_SYNC)
			inline, async, ok := lkl.GoDiskRequests(kern, info.MountPoint)
			require.True(t, ok)
			t.Logf("%d requests inline, %d by goroutines", inline, async)
			require.Positive(t, inline)
			require.Zero(t, async, "a local device's requests went to goroutines")
		})
	}
	e2fsck(t, func() []byte { b := make([]byte, mem.Size()); mem.ReadAt(b, 0); return b }())

	t.Run("unknown device", func(t *testing.T) {
		dev := newMemDevice(t, imagetest.Build(t, "ext4", imageTree("ext4")))
		require.False(t, disk.IsLocal(dev))
		info := attachGo(t, dev, false)
		require.Equal(t, strings.Repeat("gokernel", 40000), string(readFile(t, info.MountPoint+"/big.bin")))
		inline, async, _ := lkl.GoDiskRequests(kern, info.MountPoint)
		require.Zero(t, inline)
		require.Positive(t, async)
	})

	t.Run("TryReader", func(t *testing.T) {
		dev := &tryDevice{memDevice: newMemDevice(t, imagetest.Build(t, "ext4", imageTree("ext4")))}
		info := attachGo(t, dev, true)
		dropCaches := mountProc(t)
		dropCaches()
		require.Equal(t, strings.Repeat("gokernel", 40000), string(readFile(t, info.MountPoint+"/big.bin")))
		inline0, async0, _ := lkl.GoDiskRequests(kern, info.MountPoint)
		require.Zero(t, inline0, "TryReadAt declined, yet requests were served inline")
		require.Positive(t, async0)
		dev.ready.Store(true)
		dropCaches()
		require.Equal(t, strings.Repeat("gokernel", 40000), string(readFile(t, info.MountPoint+"/big.bin")))
		inline, async, _ := lkl.GoDiskRequests(kern, info.MountPoint)
		t.Logf("declined: %d by goroutines; ready: %d inline, %d by goroutines; %d TryReadAt calls, %d answered", async0, inline, async-async0, dev.tries.Load(), dev.answered.Load())
		require.Positive(t, inline)
		require.Equal(t, async0, async, "TryReadAt answered, yet a request went to a goroutine")
	})
}
