package imagetest

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Gunzip writes the gzip file name (a saved image, such as the hostile
// seeds in internal/imagemut/testdata) out to a file in t.TempDir(),
// sparse: runs of zeros become holes. It returns the file's path.
func Gunzip(t testing.TB, name string) string {
	t.Helper()
	in, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(name), ".gz"))
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var size int64
	for {
		n, err := io.ReadFull(zr, buf)
		if n > 0 {
			if bytes.Count(buf[:n], []byte{0}) != n {
				if _, err := f.WriteAt(buf[:n], size); err != nil {
					t.Fatal(err)
				}
			}
			size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return out
}
