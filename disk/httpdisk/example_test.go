package httpdisk_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gokernel/gokernel/disk/httpdisk"
)

// Open a disk image served over HTTP (here by a local test server; a
// presigned S3 or GCS URL works the same way) and read its second sector.
func ExampleOpen() {
	image := bytes.Repeat([]byte("gokernel"), 1<<10) // 8 KiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "disk.img", time.Time{}, bytes.NewReader(image))
	}))
	defer srv.Close()

	d, err := httpdisk.Open(context.Background(), srv.URL+"/disk.img", httpdisk.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	sector := make([]byte, 512)
	if _, err := d.ReadAt(sector, 512); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, ETag %s, sector 1 starts %q\n", d.Size(), d.ETag(), sector[:8])
	fmt.Printf("fetched %d bytes in %d request\n", d.Stats().BytesFetched, d.Stats().Requests)
	// Output:
	// 8192 bytes, ETag "v1", sector 1 starts "gokernel"
	// fetched 8192 bytes in 1 request
}
