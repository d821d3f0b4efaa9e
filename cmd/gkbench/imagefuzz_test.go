package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeDemo stands in for demo: what it does depends on the image's seed.
const fakeDemo = `#!/bin/sh
case "$1" in
*-0.img) exit 0 ;;
*-1.img) echo "demo: mount vfat on /mnt/image: invalid argument" >&2; exit 1 ;;
*-2.img) kill -SEGV $$ ;;
*-3.img) sleep 60 ;;
*-4.img) printf x | dd of="$1" bs=1 seek=100 conv=notrunc 2>/dev/null; exit 0 ;;
*-5.img) echo "Kernel panic - not syncing: VFS" >&2; exit 1 ;;
*-6.img) echo "demo: isolated: the kernel's process 42 died: signal SIGSEGV" >&2; exit 1 ;;
*-7.img) echo "panic: runtime error: index out of range" >&2; exit 2 ;;
*-8.img) echo "demo: isolated: the kernel's process 42 died: the call getdents64 (217) ran for more than 5.1s (isolation_call_deadline 5s) (killed, killed)" >&2; exit 1 ;;
*) exit 0 ;;
esac
`

// TestImageFuzzClassifies runs the campaign runner on a vfat base image
// with a fake demo that behaves as each class asks, and checks each
// run's class, the corpus and resuming.
func TestImageFuzzClassifies(t *testing.T) {
	dir := t.TempDir()
	demo := filepath.Join(dir, "demo")
	require.NoError(t, os.WriteFile(demo, []byte(fakeDemo), 0o755))
	c := fuzzConfig{types: []string{"vfat"}, n: 9, jobs: 2, dir: filepath.Join(dir, "campaign"), demo: demo,
		args: []string{"{img}", "{out}"}, timeout: 2 * time.Second, stdout: io.Discard, stderr: io.Discard}
	sum, err := imageFuzz(c)
	require.NoError(t, err)
	want := map[uint64]string{0: "ok", 1: "error", 2: "crash", 3: "hang", 4: "modified", 5: "crash", 6: "kcrash", 7: "crash", 8: "kdeadline"}
	got := map[uint64]string{}
	for _, r := range readResults(t, c.dir) {
		got[r.Seed] = r.Class
	}
	require.Equal(t, want, got)
	require.ErrorContains(t, sum.check(false), "1 hang")
	require.ErrorContains(t, sum.check(false), "1 modified")
	require.NotContains(t, sum.check(false).Error(), "crash")
	require.ErrorContains(t, sum.check(true), "3 crash")
	require.NotContains(t, sum.check(true).Error(), "kdeadline", "a deadline that fired is the isolated mode's promise kept")
	for _, seed := range []string{"2", "3", "4", "5", "6", "8"} {
		require.FileExists(t, filepath.Join(c.dir, "corpus", "vfat-"+seed+".json"))
	}
	require.NoFileExists(t, filepath.Join(c.dir, "corpus", "vfat-0.json"))

	// A saved input runs once, under the corpus row.
	c.corpus = filepath.Join(dir, "saved")
	require.NoError(t, os.Mkdir(c.corpus, 0o755))
	gz, err := os.Create(filepath.Join(c.corpus, "vfat-2.img.gz"))
	require.NoError(t, err)
	zw := gzip.NewWriter(gz)
	_, err = zw.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, gz.Close())

	// Resuming runs only the seeds not yet recorded.
	c.n = 10
	_, err = imageFuzz(c)
	require.NoError(t, err)
	rs := readResults(t, c.dir)
	require.Len(t, rs, 11)
	byKey := map[string]fuzzResult{}
	for _, r := range rs {
		byKey[r.key()] = r
	}
	require.Equal(t, "ok", byKey["vfat-9"].Class)
	saved := byKey["corpus-vfat-2"]
	require.Equal(t, fuzzResult{FS: "corpus", Corpus: "vfat-2", Class: "crash", Exit: -1, Signal: "segmentation fault"},
		fuzzResult{FS: saved.FS, Corpus: saved.Corpus, Class: saved.Class, Exit: saved.Exit, Signal: saved.Signal})
	_, err = imageFuzz(c)
	require.NoError(t, err)
	require.Len(t, readResults(t, c.dir), 11, "a second resume runs nothing")
}

// TestImageFuzzDeadlines: the outer deadline must leave room for the
// isolated kernel's own (isolation_call_deadline, default 30 s), so that a
// call that runs too long is a kdeadline and not a hang.
func TestImageFuzzDeadlines(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		timeout time.Duration
		ok      bool
	}{
		{[]string{"cp-out", "{img}", "/", "{out}"}, 30 * time.Second, true},
		{[]string{"cp-out", "--isolate", "{img}", "/", "{out}"}, 30 * time.Second, false},
		{[]string{"cp-out", "--isolate", "{img}", "/", "{out}"}, 60 * time.Second, true},
		{[]string{"cp-out", "--isolate", "--call-deadline", "5s", "{img}", "/", "{out}"}, 30 * time.Second, true},
		{[]string{"cp-out", "--isolate", "-call-deadline=25s", "{img}", "/", "{out}"}, 30 * time.Second, false},
		{[]string{"cp-out", "--isolate", "--call-deadline=0", "{img}", "/", "{out}"}, 30 * time.Second, true},
		{[]string{"cp-out", "--isolate", "--call-deadline", "soon", "{img}", "/", "{out}"}, 30 * time.Second, false},
	} {
		err := checkDeadlines(tc.args, tc.timeout)
		if tc.ok {
			require.NoError(t, err, "%v -timeout %v", tc.args, tc.timeout)
		} else {
			require.Error(t, err, "%v -timeout %v", tc.args, tc.timeout)
		}
	}
}

func readResults(t *testing.T, dir string) []fuzzResult {
	f, err := os.Open(filepath.Join(dir, "results.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var rs []fuzzResult
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r fuzzResult
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		rs = append(rs, r)
	}
	return rs
}
