package libgo_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
)

func ExampleLibc_Open() {
	dir, err := os.MkdirTemp("", "libgo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "greeting")

	var lc libgo.Libc // the zero Libc uses the process default kernel
	fd, err := lc.Creat(path, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := lc.Write(fd, []byte("hello, kernel\n")); err != nil {
		log.Fatal(err)
	}
	if err := lc.Close(fd); err != nil {
		log.Fatal(err)
	}

	fd, err = lc.Open(path, unix.O_RDONLY, 0) // O_CLOEXEC is added
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close(fd)
	buf := make([]byte, 64)
	n, err := lc.Read(fd, buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes: %s", n, buf[:n])
	// Output:
	// 14 bytes: hello, kernel
}

func ExampleDirReader() {
	dir, err := os.MkdirTemp("", "libgo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var lc libgo.Libc
	for _, name := range []string{"b.txt", "a.txt"} {
		fd, err := lc.Creat(filepath.Join(dir, name), 0o644)
		if err != nil {
			log.Fatal(err)
		}
		lc.Close(fd)
	}
	if err := lc.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := lc.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		log.Fatal(err)
	}

	fd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close(fd)
	ents, err := lc.NewDirReader(fd).ReadAll() // "." and ".." are skipped
	if err != nil {
		log.Fatal(err)
	}
	slices.SortFunc(ents, func(a, b libgo.Dirent) int { return strings.Compare(a.Name, b.Name) })
	kinds := map[uint8]string{unix.DT_REG: "file", unix.DT_DIR: "dir", unix.DT_LNK: "symlink"}
	for _, e := range ents {
		fmt.Println(e.Name, kinds[e.Type])
	}
	// Output:
	// a.txt file
	// b.txt file
	// link symlink
	// sub dir
}
