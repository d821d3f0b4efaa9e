// Package examples holds three small programs, one for each way gokernel is
// meant to be used. Each builds and runs on the host kernel as it is, and on
// LKL when built with -tags lkl and started with GOKERNEL=lkl:
//
//   - hello: one function, sys.Syscall, for every system call;
//   - retarget: the kernel is chosen at startup (sys.Init reads GOKERNEL and
//     GOKERNEL_CONFIG) and stopped in order before exit (sys.Shutdown);
//   - fileserver: a program on ufs (files) and unet (net.Conn, net.Listener)
//     that serves a directory over HTTP and fetches a file from itself,
//     unchanged on both kernels; on LKL the directory can be a disk image
//     mounted by GOKERNEL_CONFIG and the TCP connection stays inside LKL.
//
// Outside this repository, get LKL with
//
//	go run github.com/gokernel/gokernel/cmd/gokernel-lkl install
//
// then build with -tags lkl. The examples sit at the top of the stack; they
// import sys, libgo, ufs and unet, and nothing imports them. The test in
// this directory builds and runs each of them on each kernel the test binary
// was built for, and cmd/gokernel-lkl's test builds fileserver in a module
// of its own.
package examples
