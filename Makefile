# gokernel — build, test, demo, benchmarks.
#
#   make test    vet, then every test: the pure-Go build (CGO_ENABLED=0) and -race
#   make demo    a short tour of what works, on each kernel this checkout can build
#   make bench   benchmarks, compared side by side with benchstat (ratios vs. the reference)
#   make lkl     build LKL (liblkl.a + headers) into .build/lkl
#
# Everything the build makes lands in .build/ (git-ignored).

GO      ?= go
BUILD   := .build
BIN     := $(BUILD)/bin
BENCH   := $(BUILD)/bench
COUNT   ?= 10

.PHONY: all build test vet demo bench lkl generate clean

all: build

build:
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) build -o $(BIN)/demo ./cmd/demo

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test: vet
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./...
	CGO_ENABLED=1 $(GO) test -count=1 -race ./...

demo: build
	BIN=$(BIN) ./cmd/demo/tour.sh

# Each benchmark names its variants impl=REFERENCE, impl=OTHER...; benchstat
# -col /impl prints them side by side with the ratio to the first column.
# The test binary is run COUNT times in turn, so every variant of every round
# sees the same machine: this one is shared and noisy.
BENCH_PKGS := sys
BENCHTIME  ?= 0.5s

bench:
	@mkdir -p $(BENCH)
	@set -e; for p in $(BENCH_PKGS); do \
		$(GO) test -c -o $(BENCH)/$$p.test ./$$p/; \
		rm -f $(BENCH)/$$p.txt; \
		for i in $$(seq $(COUNT)); do \
			(cd $$p && ../$(BENCH)/$$p.test -test.run '^$$' -test.bench . -test.benchmem -test.benchtime $(BENCHTIME)) >> $(BENCH)/$$p.txt; \
		done; \
		echo "== $$p ($(COUNT) rounds, results in $(BENCH)/$$p.txt)"; \
		$(GO) tool benchstat -col /impl $(BENCH)/$$p.txt; \
	done

lkl:
	@echo "make lkl: the LKL kernel comes with the LKL issue (third_party/lkl); nothing to build yet"

generate:
	$(GO) generate ./...

clean:
	rm -rf $(BUILD)
