// Package httpdisk is a read-only block device over HTTP(S) Range
// requests: a disk image on a web server, or in object storage behind a
// presigned S3 or GCS URL, read without downloading it.
//
// Open learns the image's size and validators (ETag, Last-Modified) from a
// first ranged GET (a presigned URL is often signed for GET only, so no
// HEAD is sent), and every later response is checked against them: an
// image changed on the server is an error ([ErrChanged]), never a mix of
// old and new blocks. Reads go through a bounded block cache; concurrent
// misses of the same block share one request, a slow request holds up
// only the reads that need its blocks, and sequential reads fetch ahead in
// large ranges. Transient failures (connection resets, 5xx answers, short
// bodies) are retried a bounded number of times with backoff, and every
// request has a timeout.
//
// The package sits beside the gokernel stack, below package disk, which
// opens https:// and http:// disk URLs with it; it imports nothing of
// gokernel, and a *Device satisfies disk.Device and disk.ReadOnlyDevice
// structurally. Its write methods return errors wrapping this package's
// [ErrReadOnly].
package httpdisk
