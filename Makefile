# gokernel — build, test, demo, benchmarks.
#
#   make test    vet, then every test: the pure-Go build (CGO_ENABLED=0) and -race
#   make test-isolated  the conformance suites with their LKL kernel isolated
#                (in a sandboxed child process, sys/isolated)
#   make demo    a short tour of what works, on each kernel this checkout can build
#   make bench   benchmarks, compared side by side with benchstat (ratios vs. the
#                reference), then cmd/gkbench's whole-process comparisons
#   make fuzz    run each fuzz target for FUZZTIME (default 30s)
#   make soak-lkl  long runs on LKL that must never hang (SOAK_RUNS each)
#   make soak-nat  the user network's NAT echo, SOAK_RUNS processes of
#                SOAK_NAT_COUNT echoes each (no LKL needed)
#   make soak-bridge  demo run's bridged TCP sockets: SOAK_RUNS processes of
#                the 200-connection storm tests and the ADDFD signal test under
#                -race (docs/run.md: the races they found)
#   make lkl     build LKL (liblkl.a + headers) into ~/.cache/gokernel/lkl/HASH,
#                or reuse it, with cmd/gokernel-lkl (recipe: third_party/lkl),
#                as any module depending on gokernel does; a copy goes to .build/lkl
#
# Everything the build makes lands in .build/ (git-ignored). test, demo,
# build and bench run make lkl first, and every go command that builds with
# -tags lkl runs with gokernel-lkl's cgo flags exported ($(LKLENV)). test,
# demo and bench first check the host tools they need (.ci/tools, the list
# .ci/run installs from) and name every missing one at once.

GO      ?= go
BUILD   := .build
BIN     := $(BUILD)/bin
BENCH   := $(BUILD)/bench
COUNT   ?= 10

.PHONY: all build test test-isolated vet demo bench fuzz fuzz-images soak-lkl soak-nat soak-bridge lkl generate clean tools-test tools-demo tools-bench

all: build

build: lkl
	CGO_ENABLED=0 $(GO) build ./...
	$(LKLENV) $(GO) build -tags lkl ./...
	$(LKLENV) $(GO) build -tags lkl -o $(BIN)/demo ./cmd/demo

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
	$(LKLENV) $(GO) vet -tags lkl ./...
	$(LKLENV) $(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) -tags lkl ./...
	$(MAKE) fuzz-images FUZZ_IMAGES_N=50 FUZZ_IMAGES_DIR=$(BUILD)/fuzz-images-sample FUZZ_IMAGES_FRESH=1 \
		FUZZ_IMAGES_FLAGS=-check-crash FUZZ_IMAGES_DEMO='cp-out --isolate --call-deadline 5s {img} / {out}'

# The conformance suites (kerneltest.Run's "lkl" subtests and everything
# else that takes the tests' LKL kernel) on LKL in a child process:
# GOKERNEL_TEST_ISOLATED=1 makes internal/kerneltest start it with
# sys/isolated. Left out (ISOLATED_SKIP): the test that attaches disks
# served by Go code (lkl.Kernel.AttachDisk of a disk.Device that is not a
# host file), which cannot cross into the isolated kernel's process.
ISOLATED_PKGS := ./sys/isolated ./libgo ./aio ./eloop ./unet ./ufs
ISOLATED_SKIP := TestGoDiskConformance

test-isolated: lkl
	$(LKLENV) GOKERNEL_TEST_ISOLATED=1 $(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) -tags lkl \
		-skip '$(ISOLATED_SKIP)' $(ISOLATED_PKGS)

# The tour runs demo, and gkbench for eloop's echo server and its load.
demo: tools-demo build
	$(LKLENV) $(GO) build -tags lkl -o $(BIN)/gkbench ./cmd/gkbench
	BIN=$(BIN) ./cmd/demo/tour.sh

# Each benchmark names its variants impl=REFERENCE, impl=OTHER...; benchstat
# -col /impl prints them side by side with the ratio to the first column.
# The test binary is run COUNT times in turn, so every variant of every round
# sees the same machine: this one is shared and noisy.
BENCH_PKGS := sys sys/lkl libgo aio eloop ufs unet disk disk/httpdisk
BENCHTIME  ?= 0.5s
ECHO_ROUNDS   ?= 3
ECHO_DURATION ?= 3s
CP_ROUNDS     ?= 3
FUSE_ROUNDS   ?= 3
DISK_ROUNDS   ?= 5

bench: tools-bench lkl
	@mkdir -p $(BENCH)
	@set -e; for p in $(BENCH_PKGS); do \
		name=$$(echo $$p | tr / -); \
		$(LKLENV) $(GO) test -tags lkl -c -o $(BENCH)/$$name.test ./$$p/; \
		rm -f $(BENCH)/$$name.txt; \
		for i in $$(seq $(COUNT)); do \
			(cd $$p && $(CURDIR)/$(BENCH)/$$name.test -test.run '^$$' -test.bench . -test.benchmem -test.benchtime $(BENCHTIME)) >> $(BENCH)/$$name.txt; \
		done; \
		echo "== $$p ($(COUNT) rounds, results in $(BENCH)/$$name.txt)"; \
		$(GO) tool benchstat -col /impl $(BENCH)/$$name.txt; \
	done
	$(LKLENV) $(GO) build -tags lkl -o $(BIN)/demo ./cmd/demo
	$(LKLENV) $(GO) build -tags lkl -o $(BIN)/gkbench ./cmd/gkbench
	@echo "== TCP echo: eloop vs unet vs gnet vs net (servers alternated; results also in $(BENCH)/echo.txt)"
	$(BIN)/gkbench echo-bench -rounds $(ECHO_ROUNDS) -duration $(ECHO_DURATION) | tee $(BENCH)/echo.txt
	@echo "== net/http: unet vs net, and LKL behind the port forward (demo serve) (servers alternated; results also in $(BENCH)/http.txt)"
	$(BIN)/gkbench http-bench -rounds $(ECHO_ROUNDS) -duration $(ECHO_DURATION) | tee $(BENCH)/http.txt
	@echo "== image tools: demo cp-out vs debugfs (whole processes, alternated; images in /dev/shm/gk-cpbench)"
	ROUNDS=$(CP_ROUNDS) BIN=$(BIN) ./cmd/gkbench/cpbench.sh | tee $(BENCH)/cp.txt
	@echo "== demo mount (FUSE) vs fuse2fs: cp of 1 GiB, cp -a and ls -lR of 20,000 files (whole processes, alternated; results also in $(BENCH)/fuse.txt)"
	ROUNDS=$(FUSE_ROUNDS) BIN=$(BIN) ./cmd/gkbench/fusebench.sh | tee $(BENCH)/fuse.txt
	@echo "== disk sources: demo cat from raw, qcow2, qemu-nbd and HTTP; demo ls over HTTP (whole processes, alternated; results also in $(BENCH)/disk.txt)"
	ROUNDS=$(DISK_ROUNDS) BIN=$(BIN) ./cmd/gkbench/diskbench.sh | tee $(BENCH)/disk.txt
	@echo "== user network: 1 GiB TCP stream through the forward and the NAT (results also in $(BENCH)/usernet.txt)"
	$(LKLENV) $(GO) test -tags lkl -run '^$$' -bench 'UserNetworkTCP/mtu=9000/dir=' -benchtime=1024x ./sys/lkl | tee $(BENCH)/usernet.txt

# Each fuzz target runs FUZZTIME on its own; make test runs only the
# committed seed corpora (testdata/fuzz).
FUZZTIME ?= 30s
FUZZ_TARGETS := sys/dirent:FuzzParse libgo:FuzzParseSockaddr \
	disk/qcow2:FuzzQCOW2 disk/nbd:FuzzNegotiate disk/nbd:FuzzNBDReply \
	disk/part:FuzzRead disk/lvm:FuzzMetadata disk/lvm:FuzzReadPV disk/md:FuzzSuperblock \
	disk/fsprobe:FuzzProbe sys/treestream:FuzzReader

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*} name=$${t#*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg/; \
	done

# The hostile-image campaign (issue #20, docs/imagefuzz.md): FUZZ_IMAGES_N
# mutated images per file system (ext4, xfs, btrfs, vfat; seeds 0..N-1) run
# through demo (FUZZ_IMAGES_DEMO, {img} and {out} filled in) as children,
# FUZZ_IMAGES_J at once, each with a deadline. Resumable: seeds already in
# $(FUZZ_IMAGES_DIR)/results.jsonl are skipped (FUZZ_IMAGES_FRESH=1 starts
# over). Fails on a runner failure, a hang or a modified read-only image;
# crashes of demo itself are counted and kept in the corpus dir (in-process
# LKL: a crash kills demo). For the isolated mode:
#   make fuzz-images FUZZ_IMAGES_FLAGS=-check-crash FUZZ_IMAGES_DEMO='cp-out --isolate --call-deadline 5s {img} / {out}'
# The saved crash inputs (FUZZ_IMAGES_CORPUS) run once too. make test runs
# 50 per file system (200 images) and the saved inputs from a fresh directory.
FUZZ_IMAGES_N       ?= 10000
FUZZ_IMAGES_J       ?= 2
FUZZ_IMAGES_TIMEOUT ?= 30s
FUZZ_IMAGES_DIR     ?= $(BUILD)/fuzz-images
FUZZ_IMAGES_FLAGS   ?=
FUZZ_IMAGES_DEMO    ?= cp-out {img} / {out}
FUZZ_IMAGES_CORPUS  ?= internal/imagemut/testdata/crashes

fuzz-images: lkl
	$(LKLENV) $(GO) build -tags lkl -o $(BIN)/demo ./cmd/demo
	$(LKLENV) $(GO) build -tags lkl -o $(BIN)/gkbench ./cmd/gkbench
	$(if $(FUZZ_IMAGES_FRESH),rm -rf $(FUZZ_IMAGES_DIR))
	$(BIN)/gkbench imagefuzz -n $(FUZZ_IMAGES_N) -j $(FUZZ_IMAGES_J) -timeout $(FUZZ_IMAGES_TIMEOUT) \
		-out $(FUZZ_IMAGES_DIR) -corpus $(FUZZ_IMAGES_CORPUS) -check $(FUZZ_IMAGES_FLAGS) -- $(FUZZ_IMAGES_DEMO)

# cmd/gokernel-lkl builds LKL from the recipe embedded in it (third_party/lkl)
# or reuses ~/.cache/gokernel/lkl/HASH, the cache make -C third_party/lkl and
# every module depending on gokernel share, and installs a copy into
# .build/lkl (for mkabi.go and bootbench). "gokernel-lkl env" prints the cgo
# flags that point at the cache entry; the path names the recipe hash, so a
# new LKL changes the flags and Go's build cache relinks (docs/lkl-build.md).
GKLKL  := $(BIN)/gokernel-lkl
LKLENV := eval "$$($(GKLKL) env)" &&

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
	$(LKLENV) $(GO) test -tags lkl -c -o $(SOAK)/eloop.test ./eloop
	$(LKLENV) $(GO) test -tags lkl -c -o $(SOAK)/lkl.test ./sys/lkl
	$(LKLENV) $(GO) build -tags lkl -o $(SOAK)/gkbench ./cmd/gkbench
	$(call soak-run,eloop-1000-conns,$(SOAK_RUNS),eloop,$(CURDIR)/$(SOAK)/eloop.test -test.run '^TestServerManyConns$$/^lkl$$' -test.count=1)
	$(call soak-run,unet-echo,$(SOAK_RUNS),.,env GOKERNEL=lkl $(CURDIR)/$(SOAK)/gkbench echo -api unet -self-load -duration 1s $$([ $$((i % 2)) = 1 ] && echo -conns 64 -size 64 || echo -conns 8 -size 16384))
	$(call soak-run,wake,1,sys/lkl,$(CURDIR)/$(SOAK)/lkl.test -test.run '^TestWakeBlockedWait$$' -test.count=1 -wake.rounds $(SOAK_WAKE_ROUNDS))
	@echo "== soak-lkl"; cat $(SOAK)/summary.txt; ! grep -v ' 0 failed, 0 hung ' $(SOAK)/summary.txt >/dev/null

# Soak of usernet's NAT: TestNAT/tcp_via_gateway echoes 512 KiB through it
# in both directions at once; it stalled once in CI (frames dropped on a
# full socketpair, each a TCP retransmission timeout; link.go). SOAK_RUNS
# processes of SOAK_NAT_COUNT echoes each, with -race every other run; a
# failed echo prints every goroutine's stack into the run's log.
SOAK_NAT_COUNT ?= 20

soak-bridge: lkl
	@mkdir -p $(SOAK) && rm -f $(SOAK)/*.log $(SOAK)/summary.txt
	$(LKLENV) $(GO) test -race -tags lkl -c -o $(SOAK)/supervise-race.test ./supervise
	$(call soak-run,bridge-storm,$(SOAK_RUNS),supervise,$(CURDIR)/$(SOAK)/supervise-race.test -test.run '^(TestRunBridgeStorm|TestRunBridgeStormSlowStart|TestRunAddfdSignals)$$' -test.count=3)
	@echo "== soak-bridge"; cat $(SOAK)/summary.txt; ! grep -v ' 0 failed, 0 hung ' $(SOAK)/summary.txt >/dev/null

soak-nat:
	@mkdir -p $(SOAK) && rm -f $(SOAK)/*.log $(SOAK)/summary.txt
	$(GO) test -c -o $(SOAK)/usernet.test ./sys/lkl/usernet
	$(GO) test -race -c -o $(SOAK)/usernet-race.test ./sys/lkl/usernet
	$(call soak-run,nat-echo,$(SOAK_RUNS),sys/lkl/usernet,$(CURDIR)/$(SOAK)/usernet$$([ $$((i % 2)) = 0 ] && echo -race).test -test.run '^TestNAT$$/^tcp_via_gateway$$' -test.count=$(SOAK_NAT_COUNT))
	@echo "== soak-nat"; cat $(SOAK)/summary.txt; ! grep -v ' 0 failed, 0 hung ' $(SOAK)/summary.txt >/dev/null


lkl:
	@CGO_ENABLED=0 $(GO) build -o $(GKLKL) ./cmd/gokernel-lkl
	@$(GKLKL) build -out $(BUILD)/lkl >/dev/null

generate:
	$(GO) generate ./...

clean:
	rm -rf $(BUILD)
