# gokernel — build, test, demo, benchmarks.
#
#   make test    vet, then every test: the pure-Go build (CGO_ENABLED=0) and -race
#   make demo    a short tour of what works, on each kernel this checkout can build
#   make bench   benchmarks, compared side by side with benchstat (ratios vs. the reference)
#   make fuzz    run each fuzz target for FUZZTIME (default 30s)
#   make soak-lkl  long runs on LKL that must never hang (SOAK_RUNS each)
#   make lkl     build LKL (liblkl.a + headers) into .build/lkl, or reuse the
#                copy cached under ~/.cache/gokernel/lkl (third_party/lkl)
#
# Everything the build makes lands in .build/ (git-ignored). test, demo,
# build and bench build LKL first when its output is missing.

GO      ?= go
BUILD   := .build
BIN     := $(BUILD)/bin
BENCH   := $(BUILD)/bench
COUNT   ?= 10

.PHONY: all build test vet demo bench fuzz soak-lkl lkl generate clean

all: build

build: lkl
	CGO_ENABLED=0 $(GO) build ./...
	$(GO) build -tags lkl ./...
	$(GO) build -tags lkl -o $(BIN)/demo ./cmd/demo

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	CGO_ENABLED=0 $(GO) vet ./...

# The pure-Go build first (no cgo, no LKL: what a host-only user gets), then
# everything, LKL included, under the race detector.
test: vet lkl
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./...
	$(GO) vet -tags lkl ./...
	$(GO) test -count=1 -race -tags lkl ./...

demo: build
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

bench: lkl
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
	@echo "== TCP echo: eloop vs unet vs gnet vs net (servers alternated; results also in $(BENCH)/echo.txt)"
	$(BIN)/demo echo-bench -rounds $(ECHO_ROUNDS) -duration $(ECHO_DURATION) | tee $(BENCH)/echo.txt
	@echo "== net/http: unet vs net, and LKL behind the port forward (demo serve) (servers alternated; results also in $(BENCH)/http.txt)"
	$(BIN)/demo http-bench -rounds $(ECHO_ROUNDS) -duration $(ECHO_DURATION) | tee $(BENCH)/http.txt
	@echo "== image tools: demo cp-out vs debugfs (whole processes, alternated; images in /dev/shm/gk-cpbench)"
	ROUNDS=$(CP_ROUNDS) BIN=$(BIN) ./cmd/demo/cpbench.sh | tee $(BENCH)/cp.txt
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

# Soak on LKL: what once hung on a lost wake (unet's 100 ms bound, commit
# 9a23f41; LKL fix 12). SOAK_RUNS runs each of eloop's 1,000-connection
# stream test and unet's echo (64 x 64 B and 8 x 16 KiB in turn), one process
# per run, then one run of TestWakeBlockedWait with SOAK_WAKE_ROUNDS wakes per
# waiter and case. A run gets SOAK_TIMEOUT seconds, then SIGQUIT (Go writes
# every goroutine's stack to its log) and counts as hung: a hang is
# reported, not waited on. Logs of the runs that did not pass stay in
# $(SOAK); the target fails if any run failed or hung. (make test runs
# TestWakeBlockedWait with its short default.)
SOAK             := $(BUILD)/soak
SOAK_RUNS        ?= 50
SOAK_TIMEOUT     ?= 120
SOAK_WAKE_ROUNDS ?= 1000

# $(call soak-run,NAME,RUNS,DIR,COMMAND): run COMMAND in DIR RUNS times ($$i
# is the run's number); adds NAME's line to $(SOAK)/summary.txt.
define soak-run
	@pass=0; fail=0; hung=0; \
	for i in $$(seq $(2)); do \
		log=$(CURDIR)/$(SOAK)/$(1)-$$i.log; \
		rc=0; (cd $(3) && timeout -s QUIT -k 10 $(SOAK_TIMEOUT) $(4)) > $$log 2>&1 || rc=$$?; \
		case $$rc in \
		0) pass=$$((pass + 1)); rm -f $$log ;; \
		124|137) hung=$$((hung + 1)); echo "$(1) run $$i: HUNG (stopped after $(SOAK_TIMEOUT) s), log $$log" ;; \
		*) fail=$$((fail + 1)); echo "$(1) run $$i: failed (exit $$rc), log $$log" ;; \
		esac; \
	done; \
	echo "$(1): $$pass passed, $$fail failed, $$hung hung of $(2)" | tee -a $(SOAK)/summary.txt
endef

soak-lkl: lkl
	@mkdir -p $(SOAK) && rm -f $(SOAK)/*.log $(SOAK)/summary.txt
	$(GO) test -tags lkl -c -o $(SOAK)/eloop.test ./eloop
	$(GO) test -tags lkl -c -o $(SOAK)/lkl.test ./sys/lkl
	$(GO) build -tags lkl -o $(SOAK)/demo ./cmd/demo
	$(call soak-run,eloop-1000-conns,$(SOAK_RUNS),eloop,$(CURDIR)/$(SOAK)/eloop.test -test.run '^TestServerManyConns$$/^lkl$$' -test.count=1)
	$(call soak-run,unet-echo,$(SOAK_RUNS),.,env GOKERNEL=lkl $(CURDIR)/$(SOAK)/demo echo -api unet -self-load -duration 1s $$([ $$((i % 2)) = 1 ] && echo -conns 64 -size 64 || echo -conns 8 -size 16384))
	$(call soak-run,wake,1,sys/lkl,$(CURDIR)/$(SOAK)/lkl.test -test.run '^TestWakeBlockedWait$$' -test.count=1 -wake.rounds $(SOAK_WAKE_ROUNDS))
	@echo "== soak-lkl"; cat $(SOAK)/summary.txt; ! grep -v ' 0 failed, 0 hung ' $(SOAK)/summary.txt >/dev/null

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
