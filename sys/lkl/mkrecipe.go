//go:build ignore

// mkrecipe writes zrecipe.h: the hash of the LKL recipe (third_party/lkl)
// this gokernel's C code was written for, and the compile-time check that
// the LKL on cgo's include path was built by it (see gk.h). Run by
// "go generate ./sys/lkl"; TestRecipeHeaderIsCurrent compares.
package main

import (
	"log"
	"os"

	"github.com/gokernel/gokernel/third_party/lkl"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkrecipe: ")
	r, err := lkl.Load()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("zrecipe.h", r.WantHeader(), 0o644); err != nil {
		log.Fatal(err)
	}
}
