package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/internal/imagemut"
	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys/lkl"
)

func init() {
	register(&cli.Command{
		Name:     "imagefuzz",
		Args:     "[-fs ext4,xfs,btrfs,vfat] [-n 100] [-seed 0] [-j 2] -out DIR [-demo PATH] [-timeout 30s] [-check] [-- DEMO ARGS]",
		Summary:  "run mutated ext4, xfs, btrfs and vfat images through demo cp-out (the hostile-image campaign)",
		NoKernel: true,
		Help: `imagefuzz is issue #20's hostile-image campaign. For each file system of
-fs it makes a base image (mkfs, as internal/imagetest does; kept in
DIR/base and reused, so a seed always means the same image), then for
each seed from -seed to -seed+n-1 a copy mutated by internal/imagemut,
runs the demo binary on it as a child with a deadline (-timeout, then the
child's process group is killed), and classifies the run:

  ok        exit 0
  error     a clean error: non-zero exit with a message
  kcrash    the kernel died and demo said so (isolated mode: the child
            holding LKL crashed, the parent reported it)
  kdeadline the isolated kernel was killed by its own deadline (a call
            ran longer than isolation_call_deadline, or its heartbeat
            stopped for isolation_deadline) and demo said so in time
  crash     demo itself died: a signal, a Go runtime panic or an LKL
            panic on its stderr (in-process mode: a crash kills it)
  hang      still running at the deadline
  modified  the image's bytes changed (it is opened read-only)
  fail      the runner could not make or run the image

The demo's arguments follow "--"; {img} is replaced by the mutated image,
{out} by an empty directory and {fs} by the file system's type (for
--fstype {fs}: the kernel mounts what demo's detection would refuse). The default is
"cp-out {img} / {out}" (in-process LKL); for the isolated mode pass
"-- cp-out --isolate --call-deadline 5s {img} / {out}": -timeout must
exceed the isolated kernel's deadlines (--call-deadline, default 30s; the
heartbeat's 10s) by 10s, so that a kernel that stops is a kdeadline, not
a hang.

Every run appends a line to DIR/results.jsonl; seeds already there are
skipped, so a campaign can be stopped and resumed (one campaign per DIR
at a time). Seeds run in order, every file system at each seed, so a
campaign stopped early has gone as far on each. Crashing and hanging
inputs are kept in DIR/corpus (the mutated image and its edits as
JSON); -corpus runs each saved input of a directory (FSTYPE-NAME.img.gz,
as internal/imagemut/testdata/crashes holds) once more. A table per file system ends the run. With -check the exit status
is non-zero if any run failed, hung or modified its image (with
-check-crash, also if demo itself crashed: the isolated mode's promise).`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			var c fuzzConfig
			fsList := fs.String("fs", strings.Join(imagemut.FSTypes, ","), "the file systems, comma-separated")
			fs.IntVar(&c.n, "n", 100, "images per file system")
			fs.Uint64Var(&c.seed, "seed", 0, "the first seed")
			fs.IntVar(&c.jobs, "j", 2, "images run at once")
			fs.StringVar(&c.dir, "out", "", "the campaign's `DIR` (results, base images, corpus)")
			fs.StringVar(&c.demo, "demo", "", "the demo `binary` (default: demo beside gkbench)")
			fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "each run's deadline")
			fs.StringVar(&c.corpus, "corpus", "", "also run each saved input `DIR`/FSTYPE-NAME.img.gz once (a crash corpus)")
			check := fs.Bool("check", false, "exit non-zero on a runner failure, a hang or a modified image")
			checkCrash := fs.Bool("check-crash", false, "with -check, also on a crash of demo itself")
			return func(args []string) error {
				if c.dir == "" || c.n < 0 || c.jobs < 1 || c.timeout <= 0 {
					return fmt.Errorf("%w: imagefuzz needs -out, and positive -n, -j and -timeout", errUsage)
				}
				c.types = strings.Split(*fsList, ",")
				for _, t := range c.types {
					if !slices.Contains(imagemut.FSTypes, t) {
						return fmt.Errorf("%w: -fs %q: want some of %v", errUsage, t, imagemut.FSTypes)
					}
				}
				c.args = args
				if err := checkDeadlines(args, c.timeout); err != nil {
					return fmt.Errorf("%w: %v", errUsage, err)
				}
				c.stdout, c.stderr = out.W, out.Err
				if len(c.args) == 0 {
					c.args = []string{"cp-out", "{img}", "/", "{out}"}
				}
				if c.demo == "" {
					exe, err := os.Executable()
					if err != nil {
						return err
					}
					c.demo = filepath.Join(filepath.Dir(exe), "demo")
				}
				if _, err := os.Stat(c.demo); err != nil {
					return fmt.Errorf("imagefuzz: the demo binary: %w (give -demo PATH)", err)
				}
				sum, err := imageFuzz(c)
				if err != nil {
					return err
				}
				if *check {
					return sum.check(*checkCrash)
				}
				return nil
			}
		},
	})
}

// fuzzConfig is one imagefuzz campaign.
type fuzzConfig struct {
	types   []string
	n       int
	seed    uint64
	jobs    int
	dir     string
	demo    string
	args    []string
	timeout time.Duration
	corpus  string // a directory of saved inputs, *.img.gz; "" for none
	// stdout gets the table, stderr a line per run that is neither ok
	// nor a clean error.
	stdout, stderr io.Writer
}

// fuzzClasses are the outcomes of a run, in the summary's order.
var fuzzClasses = []string{"ok", "error", "kcrash", "kdeadline", "crash", "hang", "modified", "fail"}

// deadlineMargin is how much longer than the isolated kernel's own
// deadlines a run's -timeout must be: the child's boot and halt, and the
// parent's watch, which looks a quarter of a deadline (at most 1 s) apart.
const deadlineMargin = 10 * time.Second

// checkDeadlines refuses a -timeout that an isolated demo (--isolate in
// args) could reach before its kernel's own deadline fires: the run would
// be a hang where the isolated mode keeps its promise.
func checkDeadlines(args []string, timeout time.Duration) error {
	if !slices.Contains(args, "--isolate") && !slices.Contains(args, "-isolate") {
		return nil
	}
	call := lkl.DefaultIsolationCallDeadline
	for i, a := range args {
		name, v, eq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "call-deadline" || !strings.HasPrefix(a, "-") {
			continue
		}
		if !eq {
			if i+1 >= len(args) {
				return errors.New("--call-deadline needs a value")
			}
			v = args[i+1]
		}
		cfg := lkl.Config{IsolationCallDeadline: v}
		if err := cfg.Validate(); err != nil {
			return err
		}
		call = cfg.CallDeadline()
	}
	bound := max(call, lkl.DefaultIsolationDeadline)
	if timeout < bound+deadlineMargin {
		return fmt.Errorf("-timeout %v leaves no room for the isolated kernel's deadline (%v, and %v more): give demo --call-deadline, or a longer -timeout", timeout, bound, deadlineMargin)
	}
	return nil
}

// fuzzResult is one line of results.jsonl.
type fuzzResult struct {
	FS     string   `json:"fs"`
	Seed   uint64   `json:"seed"`
	Class  string   `json:"class"`
	Exit   int      `json:"exit"`             // the exit status; -1 for a signal or a hang
	Signal string   `json:"signal,omitempty"` // the signal that ended demo
	Detail string   `json:"detail,omitempty"` // the last line of demo's stderr, or the runner's error
	Secs   float64  `json:"secs"`
	Edits  []string `json:"edits,omitempty"`
	Corpus string   `json:"corpus,omitempty"` // the saved input's name, for FS "corpus"
}

// key names a result for resuming.
func (r fuzzResult) key() string {
	if r.FS == "corpus" {
		return "corpus-" + r.Corpus
	}
	return fmt.Sprintf("%s-%d", r.FS, r.Seed)
}

// baseTree is what every base image holds (the base-image recipe, with
// mkfs's defaults as imagetest.MakeFS runs them): directories, a
// symlink, small files and one of several extents.
var baseTree = imagetest.Tree{
	"a/":           "",
	"a/b/":         "",
	"a/b/c.txt":    "c\n",
	"a/d.txt":      "d\n",
	"hello.txt":    "hello\n",
	"big.bin":      strings.Repeat("0123456789abcdef", 20000),
	"x => a/d.txt": "",
}

// baseImage is a base image held for mutation: its data chunks (holes
// left out) and its layout.
type baseImage struct {
	fstype string
	size   int64
	chunks map[int64][]byte // offset → 64 KiB of data
	dev    disk.Device
	layout *imagemut.Layout
}

const fuzzChunk = 64 << 10

// loadBase makes (or reuses) DIR/base/FSTYPE.img and reads it.
func loadBase(dir, fstype string) (*baseImage, error) {
	img := filepath.Join(dir, "base", fstype+".img")
	if _, err := os.Stat(img); err != nil {
		if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
			return nil, err
		}
		if err := mkfsImage(dir, fstype, img+".tmp"); err != nil {
			return nil, err
		}
		if err := os.Rename(img+".tmp", img); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(img)
	if err != nil {
		return nil, err
	}
	b := &baseImage{fstype: fstype, size: int64(len(data)), chunks: map[int64][]byte{}}
	for off := 0; off < len(data); off += fuzzChunk {
		c := data[off:min(off+fuzzChunk, len(data))]
		if !isZero(c) {
			b.chunks[int64(off)] = bytes.Clone(c)
		}
	}
	m := disk.NewMemory(b.size)
	for off, c := range b.chunks {
		if _, err := m.WriteAt(c, off); err != nil {
			return nil, err
		}
	}
	b.dev = m
	if b.layout, err = imagemut.Locate(m); err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	return b, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// mkT lets the runner use imagetest's mkfs recipes, written for tests:
// a failure panics with mkErr, which mkfsImage recovers. Only the
// methods imagetest calls are given.
type mkT struct {
	testing.TB
	dir string
}

type mkErr struct{ err error }

func (t *mkT) Helper()                   {}
func (t *mkT) Fatal(a ...any)            { panic(mkErr{errors.New(fmt.Sprint(a...))}) }
func (t *mkT) Fatalf(f string, a ...any) { panic(mkErr{fmt.Errorf(f, a...)}) }
func (t *mkT) TempDir() string {
	d, err := os.MkdirTemp(t.dir, "mk")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mkfsImage writes a base image of fstype holding baseTree to img.
func mkfsImage(dir, fstype, img string) (err error) {
	tmp, err := os.MkdirTemp(dir, "mkfs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	t := &mkT{dir: tmp}
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(mkErr)
			if !ok {
				panic(p)
			}
			err = fmt.Errorf("imagefuzz: making the %s base image: %w", fstype, e.err)
		}
	}()
	src := filepath.Join(tmp, "root")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	baseTree.For(fstype).Write(t, src)
	imagetest.MakeFS(t, fstype, src, img)
	return nil
}

// write makes path the base image with edits applied.
func (b *baseImage) write(path string, edits []imagemut.Edit) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(b.size); err != nil {
		return err
	}
	for off, c := range b.chunks {
		if _, err := f.WriteAt(c, off); err != nil {
			return err
		}
	}
	if err := imagemut.Apply(f, edits); err != nil {
		return err
	}
	return f.Close()
}

// imageDigest hashes the file's size and its data segments (found with
// SEEK_DATA and SEEK_HOLE, so a 300 MiB sparse image costs what it
// holds): a write anywhere, into a hole too, changes it.
func imageDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "size %d\n", fi.Size())
	const seekData, seekHole = 3, 4
	for off := int64(0); off < fi.Size(); {
		data, err := f.Seek(off, seekData)
		if err != nil {
			break // ENXIO: no data after off
		}
		hole, err := f.Seek(data, seekHole)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "data %d %d\n", data, hole)
		if _, err := io.Copy(h, io.NewSectionReader(f, data, hole-data)); err != nil {
			return "", err
		}
		off = hole
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goCrashText is what a Go runtime crash of demo leaves on stderr.
var goCrashText = regexp.MustCompile(`(?m)^(panic: |fatal error: |unexpected fault address).*`)

// kcrashText is how demo says the kernel (the isolated child) died; the
// LKL panic it quotes is then the child's.
var kcrashText = regexp.MustCompile(`(?i)kernel('s process( \d+)?)? (died|crashed|exited|was killed|stopped answering)`)

// deadlineText is how an isolated kernel killed by its own deadline
// shows in demo's error (sys/isolated's DiedError reason).
var deadlineText = regexp.MustCompile(`[^\n]*\((isolation_call_deadline|isolation_deadline)[ )][^\n]*`)

// lklCrashText is what an LKL panic or BUG leaves on stderr.
var lklCrashText = regexp.MustCompile(`Kernel panic|kernel BUG|BUG: |Oops`)

// runImage runs demo on one mutated image and classifies the run.
func runImage(c fuzzConfig, b *baseImage, seed uint64) (r fuzzResult) {
	r = fuzzResult{FS: b.fstype, Seed: seed, Exit: -1}
	start := time.Now()
	defer func() { r.Secs = time.Since(start).Seconds() }()
	failed := func(err error) fuzzResult {
		r.Class, r.Detail = "fail", err.Error()
		return r
	}
	edits, err := imagemut.Plan(b.dev, b.layout, seed)
	if err != nil {
		return failed(err)
	}
	for _, e := range edits {
		r.Edits = append(r.Edits, e.What)
	}
	name := fmt.Sprintf("%s-%d", b.fstype, seed)
	work := filepath.Join(c.dir, "work")
	img, out := filepath.Join(work, name+".img"), filepath.Join(work, name+".out")
	defer os.Remove(img)
	defer os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return failed(err)
	}
	if err := b.write(img, edits); err != nil {
		return failed(err)
	}
	if err := runDemo(c, &r, b.fstype, img, out); err != nil {
		return failed(err)
	}
	r.Secs = time.Since(start).Seconds()
	if r.Class == "crash" || r.Class == "kcrash" || r.Class == "kdeadline" || r.Class == "hang" || r.Class == "modified" {
		if err := saveCorpus(c.dir, name, b, edits, r); err != nil {
			return failed(err)
		}
	}
	return r
}

// runDemo runs demo on the image img of type fstype with the empty
// directory out, and sets r's class, exit status and detail.
func runDemo(c fuzzConfig, r *fuzzResult, fstype, img, out string) error {
	before, err := imageDigest(img)
	if err != nil {
		return err
	}
	var args []string
	for _, a := range c.args {
		args = append(args, strings.NewReplacer("{img}", img, "{out}", out, "{fs}", fstype).Replace(a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.demo, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &lastBytes{b: &stderr, max: 64 << 10}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The deadline kills demo's whole process group: an isolated
	// kernel's child too.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what demo left behind
	}
	r.Detail = lastLine(stderr.String())
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.Class = "hang"
	case err == nil:
		r.Class, r.Exit = "ok", 0
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			r.Class, r.Signal = "crash", ws.Signal().String()
		case goCrashText.MatchString(stderr.String()):
			r.Class, r.Exit = "crash", ee.ExitCode()
			r.Detail = goCrashText.FindString(stderr.String())
		case deadlineText.MatchString(stderr.String()):
			r.Class, r.Exit = "kdeadline", ee.ExitCode()
			r.Detail = lastLine(deadlineText.FindString(stderr.String()))
		case kcrashText.MatchString(stderr.String()):
			r.Class, r.Exit = "kcrash", ee.ExitCode()
		case lklCrashText.MatchString(stderr.String()):
			r.Class, r.Exit = "crash", ee.ExitCode()
			r.Detail = lklCrashText.FindString(stderr.String()) + "… " + r.Detail
		default:
			r.Class, r.Exit = "error", ee.ExitCode()
		}
	default:
		return err
	}
	after, err := imageDigest(img)
	if err != nil {
		return err
	}
	if after != before {
		r.Class = "modified"
	}
	return nil
}

// runCorpus runs demo on a saved input, FSTYPE-NAME.img.gz.
func runCorpus(c fuzzConfig, path string) (r fuzzResult) {
	name := strings.TrimSuffix(filepath.Base(path), ".img.gz")
	fstype, _, _ := strings.Cut(name, "-")
	r = fuzzResult{FS: "corpus", Corpus: name, Exit: -1}
	start := time.Now()
	work := filepath.Join(c.dir, "work")
	img, out := filepath.Join(work, "corpus-"+name+".img"), filepath.Join(work, "corpus-"+name+".out")
	defer os.Remove(img)
	defer os.RemoveAll(out)
	err := gunzipSparse(path, img)
	if err == nil {
		err = os.MkdirAll(out, 0o755)
	}
	if err == nil {
		err = runDemo(c, &r, fstype, img, out)
	}
	if err != nil {
		r.Class, r.Detail = "fail", err.Error()
	}
	r.Secs = time.Since(start).Seconds()
	return r
}

// gunzipSparse writes the gzip file src's content to dst, leaving its
// zero chunks as holes.
func gunzipSparse(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, fuzzChunk)
	var off int64
	for {
		n, err := io.ReadFull(zr, buf)
		if n > 0 && !isZero(buf[:n]) {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	if err := f.Truncate(off); err != nil {
		return err
	}
	return f.Close()
}

// lastBytes keeps the last max bytes written to it.
type lastBytes struct {
	b   *bytes.Buffer
	max int
}

func (l *lastBytes) Write(p []byte) (int, error) {
	l.b.Write(p)
	if extra := l.b.Len() - l.max; extra > 0 {
		l.b.Next(extra)
	}
	return len(p), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// corpusEdit is an edit as the corpus keeps it.
type corpusEdit struct {
	Off  int64  `json:"off"`
	Data string `json:"data"` // hex
	What string `json:"what"`
}

// saveCorpus keeps a crashing or hanging input: the mutated image
// (sparse) and, to rebuild it from DIR/base, its edits.
func saveCorpus(dir, name string, b *baseImage, edits []imagemut.Edit, r fuzzResult) error {
	cdir := filepath.Join(dir, "corpus")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return err
	}
	var ce []corpusEdit
	for _, e := range edits {
		ce = append(ce, corpusEdit{Off: e.Off, Data: hex.EncodeToString(e.Data), What: e.What})
	}
	j, err := json.MarshalIndent(struct {
		Base   string       `json:"base"`
		Result fuzzResult   `json:"result"`
		Edits  []corpusEdit `json:"edits"`
	}{filepath.Join("base", b.fstype+".img"), r, ce}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cdir, name+".json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	return b.write(filepath.Join(cdir, name+".img"), edits)
}

// fuzzSummary counts a campaign's runs per file system.
type fuzzSummary struct {
	counts map[string]map[string]int
	secs   map[string]float64 // this run's busy time per file system
	runs   map[string]int     // this run's images per file system
	wall   time.Duration
	jobs   int
}

// imageFuzz runs the campaign c and prints its summary.
func imageFuzz(c fuzzConfig) (*fuzzSummary, error) {
	// What a stopped campaign left in work belongs to runs it did not
	// record: they run again.
	work := filepath.Join(c.dir, "work")
	if err := os.RemoveAll(work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	resPath := filepath.Join(c.dir, "results.jsonl")
	sum := &fuzzSummary{counts: map[string]map[string]int{}, secs: map[string]float64{}, runs: map[string]int{}, jobs: c.jobs}
	done := map[string]bool{}
	if f, err := os.Open(resPath); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r fuzzResult
			if json.Unmarshal(sc.Bytes(), &r) != nil || r.FS == "" {
				continue // a line cut short by a stop
			}
			done[r.key()] = true
			sum.add(r, false)
		}
		f.Close()
	}
	res, err := os.OpenFile(resPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	type job struct {
		b      *baseImage
		seed   uint64
		corpus string // a saved input's path, instead of b and seed
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range c.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var r fuzzResult
				if j.corpus != "" {
					r = runCorpus(c, j.corpus)
				} else {
					r = runImage(c, j.b, j.seed)
				}
				line, _ := json.Marshal(r)
				mu.Lock()
				res.Write(append(line, '\n'))
				sum.add(r, true)
				if r.Class != "ok" && r.Class != "error" {
					fmt.Fprintf(c.stderr, "imagefuzz: %s: %s %s %s\n", r.key(), r.Class, r.Signal, r.Detail)
				}
				mu.Unlock()
			}
		}()
	}
	// Seed by seed, each file system in turn: a campaign stopped early
	// has run every file system as far.
	var bases []*baseImage
	var ferr error
	for _, t := range c.types {
		b, err := loadBase(c.dir, t)
		if err != nil {
			ferr = err
			break
		}
		bases = append(bases, b)
	}
	for seed := c.seed; seed < c.seed+uint64(c.n) && ferr == nil; seed++ {
		for _, b := range bases {
			if !done[fmt.Sprintf("%s-%d", b.fstype, seed)] {
				jobs <- job{b: b, seed: seed}
			}
		}
	}
	if c.corpus != "" && ferr == nil {
		saved, err := filepath.Glob(filepath.Join(c.corpus, "*.img.gz"))
		ferr = err
		for _, p := range saved {
			if !done["corpus-"+strings.TrimSuffix(filepath.Base(p), ".img.gz")] {
				jobs <- job{corpus: p}
			}
		}
	}
	close(jobs)
	wg.Wait()
	sum.wall = time.Since(start)
	sum.print(c.stdout, c)
	return sum, ferr
}

func (s *fuzzSummary) add(r fuzzResult, now bool) {
	if s.counts[r.FS] == nil {
		s.counts[r.FS] = map[string]int{}
	}
	s.counts[r.FS][r.Class]++
	if now {
		s.secs[r.FS] += r.Secs
		s.runs[r.FS]++
	}
}

// print writes the table: every image DIR's results hold, and this
// run's rate (images per second of wall time, each file system's share
// of the -j workers' busy time).
func (s *fuzzSummary) print(w io.Writer, c fuzzConfig) {
	fmt.Fprintf(w, "imagefuzz: %s %s (-j %d, deadline %v); results in %s\n", c.demo, strings.Join(c.args, " "), c.jobs, c.timeout, c.dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "fs\timages\t%s\timages/s\t\n", strings.Join(fuzzClasses, "\t"))
	for _, t := range append(slices.Clip(c.types), "corpus") {
		if t == "corpus" && s.counts[t] == nil {
			continue
		}
		n := 0
		var cols []string
		for _, cl := range fuzzClasses {
			n += s.counts[t][cl]
			cols = append(cols, fmt.Sprint(s.counts[t][cl]))
		}
		rate := "-"
		if s.secs[t] > 0 {
			rate = fmt.Sprintf("%.2f", float64(s.runs[t])/s.secs[t]*float64(c.jobs))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", t, n, strings.Join(cols, "\t"), rate)
	}
	tw.Flush()
	total := 0
	for _, n := range s.runs {
		total += n
	}
	if total > 0 {
		fmt.Fprintf(w, "this run: %d images in %v (%.2f images/s)\n", total, s.wall.Round(time.Second), float64(total)/s.wall.Seconds())
	}
}

// check returns an error if any run failed, hung or modified its image
// (or, with crashes, if demo itself crashed).
func (s *fuzzSummary) check(crashes bool) error {
	var bad []string
	for t, m := range s.counts {
		for _, cl := range []string{"fail", "hang", "modified", "crash"} {
			if m[cl] > 0 && (cl != "crash" || crashes) {
				bad = append(bad, fmt.Sprintf("%s: %d %s", t, m[cl], cl))
			}
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("imagefuzz: %s", strings.Join(bad, ", "))
	}
	return nil
}
