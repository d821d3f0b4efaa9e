// Command gokernel-lkl builds LKL (Linux 4.9 as a library) for gokernel's
// -tags lkl build, or reuses the build already in the user cache, and points
// cgo at it. Run it from any module that depends on gokernel:
//
//	go run github.com/gokernel/gokernel/cmd/gokernel-lkl install
//	go build -tags lkl ./...
//
// Without a version, go run takes the gokernel version of the module it runs
// in, so the LKL it builds is the one that gokernel version's C code was
// written for.
//
// Subcommands:
//
//	install         build or reuse, then "go env -w" CGO_CFLAGS and CGO_LDFLAGS
//	                so that go build, go test, go vet and gopls find LKL
//	build [-out DIR]  build or reuse; with -out also install a copy into DIR
//	                (make lkl: .build/lkl, for the generators and bootbench)
//	env [-w]        print the cgo settings as shell exports (for eval), or
//	                with -w write them with go env -w
//	check           say whether the build is there and cgo is pointed at it
//
// The recipe is third_party/lkl, embedded in this command (package
// github.com/gokernel/gokernel/third_party/lkl); it runs build.sh from a
// temporary copy of it. A build is named by its recipe hash and kept in
// ${XDG_CACHE_HOME:-~/.cache}/gokernel/lkl/HASH, shared with make lkl and
// with every module on the machine; the first build takes about five minutes
// on two cores and needs npm, gcc, make, binutils, python3, bc, perl, openssl
// and flock (build.sh names any that are missing). gokernel-lkl adds
// gokernel_lkl.h, naming the hash, to the build's include directory; sys/lkl
// refuses to compile against a build of another recipe.
//
// The cgo settings are the current ones (go env CGO_CFLAGS, CGO_LDFLAGS)
// with any earlier gokernel LKL directory removed and
// -I HASH/include / -L HASH/lib added; sys/lkl itself asks for -llkl.
// Because the directory names the hash, a new LKL changes the flags, and
// Go's build cache, which hashes them, rebuilds sys/lkl and relinks.
// docs/lkl-build.md says why this mechanism and not another.
//
// It sits beside the stack: it imports only the standard library and
// third_party/lkl, and nothing imports it.
package main
