# gokernel — build, test, demo, benchmarks.
#
#   make test    vet, then every test: the pure-Go build (CGO_ENABLED=0) and -race
#   make demo    a short tour of what works, on each kernel this checkout can build
#   make bench   benchmarks, compared side by side with benchstat (ratios vs. the
#                reference), then cmd/gkbench's whole-process comparisons
#   make fuzz    run each fuzz target for FUZZTIME (default 30s)
#   make lkl     build LKL (liblkl.a + headers) into .build/lkl, or reuse the
#                copy cached under ~/.cache/gokernel/lkl (third_party/lkl)
#
# Everything the build makes lands in .build/ (git-ignored). test, demo,
# build and bench build LKL first when its output is missing. test, demo
# and bench first check the host tools they need (.ci/tools, the list
# .ci/run installs from) and name every missing one at once.

GO      ?= go
BUILD   := .build
BIN     := $(BUILD)/bin
BENCH   := $(BUILD)/bench
COUNT   ?= 10

.PHONY: all build test vet demo bench fuzz lkl generate clean tools-test tools-demo tools-bench

all: build

build: lkl
	CGO_ENABLED=0 $(GO) build ./...
	$(GO) build -tags lkl ./...
	$(GO) build -tags lkl -o $(BIN)/demo ./cmd/demo

tools-test tools-demo tools-bench:
	@GO=$(GO) .ci/check-tools $(@:tools-%=%)

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	CGO_ENABLED=0 $(GO) vet ./...

# The pure-Go build first (no cgo, no LKL: what a host-only user gets), then
# everything, LKL included, under the race detector. TEST_TIMEOUT bounds
# each package's test binary: on the shared 2-core machine at a load
# average of ~45, cmd/demo's took 9.5 minutes under -race and sys/lkl's
# and ufs's passed go test's default of 10 in their xfs image tests.
TEST_TIMEOUT ?= 30m

test: tools-test vet lkl
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) vet -tags lkl ./...
	$(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) -tags lkl ./...

# The tour runs demo, and gkbench for eloop's echo server and its load.
demo: tools-demo build
	$(GO) build -tags lkl -o $(BIN)/gkbench ./cmd/gkbench
	BIN=$(BIN) ./cmd/demo/tour.sh

# Each benchmark names its variants impl=REFERENCE, impl=OTHER...; benchstat
# -col /impl prints them side by side with the ratio to the first column.
# The test binary is run COUNT times in turn, so every variant of every round
# sees the same machine: this one is shared and noisy.
BENCH_PKGS := sys sys/lkl libgo aio eloop ufs unet
BENCHTIME  ?= 0.5s
ECHO_ROUNDS   ?= 3
ECHO_DURATION ?= 3s
CP_ROUNDS     ?= 3

bench: tools-bench lkl
	@mkdir -p $(BENCH)
	@set -e; for p in $(BENCH_PKGS); do \
		name=$$(echo $$p | tr / -); \
		$(GO) test -tags lkl -c -o $(BENCH)/$$name.test ./$$p/; \
		rm -f $(BENCH)/$$name.txt; \
		for i in $$(seq $(COUNT)); do \
			(cd $$p && $(CURDIR)/$(BENCH)/$$name.test -test.run '^$$' -test.bench . -test.benchmem -test.benchtime $(BENCHTIME)) >> $(BENCH)/$$name.txt; \
		done; \
		echo "== $$p ($(COUNT) rounds, results in $(BENCH)/$$name.txt)"; \
		$(GO) tool benchstat -col /impl $(BENCH)/$$name.txt; \
	done
	$(GO) build -tags lkl -o $(BIN)/demo ./cmd/demo
	$(GO) build -tags lkl -o $(BIN)/gkbench ./cmd/gkbench
	@echo "== TCP echo: eloop vs unet vs gnet vs net (servers alternated; results also in $(BENCH)/echo.txt)"
	$(BIN)/gkbench echo-bench -rounds $(ECHO_ROUNDS) -duration $(ECHO_DURATION) | tee $(BENCH)/echo.txt
	@echo "== net/http: unet vs net, and LKL behind the port forward (demo serve) (servers alternated; results also in $(BENCH)/http.txt)"
	$(BIN)/gkbench http-bench -rounds $(ECHO_ROUNDS) -duration $(ECHO_DURATION) | tee $(BENCH)/http.txt
	@echo "== image tools: demo cp-out vs debugfs (whole processes, alternated; images in /dev/shm/gk-cpbench)"
	ROUNDS=$(CP_ROUNDS) BIN=$(BIN) ./cmd/gkbench/cpbench.sh | tee $(BENCH)/cp.txt
	@echo "== user network: 1 GiB TCP stream through the forward and the NAT (results also in $(BENCH)/usernet.txt)"
	$(GO) test -tags lkl -run '^$$' -bench 'UserNetworkTCP/mtu=9000/dir=' -benchtime=1024x ./sys/lkl | tee $(BENCH)/usernet.txt

# Each fuzz target runs FUZZTIME on its own; make test runs only the
# committed seed corpora (testdata/fuzz).
FUZZTIME ?= 30s
FUZZ_TARGETS := libgo:FuzzParseDirents libgo:FuzzParseSockaddr sys/lkl:FuzzDetectFS

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*} name=$${t#*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg/; \
	done

# Go's build cache tracks the files of a cgo package, not the liblkl.a its
# LDFLAGS name: after a new LKL build, go build and go test went on linking
# binaries cached with the old one. sys/lkl/lklstamp.h (git-ignored) defines
# the recipe hash, which gk.c compiles in, so a new LKL changes the package's
# object code and every binary is linked again.
LKL_STAMP_H := sys/lkl/lklstamp.h

lkl:
	@$(MAKE) --no-print-directory -C third_party/lkl
	@line="#define GK_LKL_RECIPE \"$$(cat $(BUILD)/lkl/STAMP)\" /* written by make lkl */"; \
	[ "$$(cat $(LKL_STAMP_H) 2>/dev/null)" = "$$line" ] || echo "$$line" > $(LKL_STAMP_H)

generate:
	$(GO) generate ./...

clean:
	rm -rf $(BUILD)
