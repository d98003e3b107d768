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
PKGS	:= libcurl yaml-0.1 libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcurl -lyaml -lmicrohttpd)
XCFLAGS	:= -std=c11 -D_GNU_SOURCE -DNDT_VERSION='"$(VERSION)"' -I. \
	   $(PKG_CFLAGS) $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP
XLDFLAGS := $(SANFLAGS) $(LDFLAGS)

MAINS	:= agent/main.c agent/hook.c
LIB_SRC	:= $(filter-out $(MAINS),$(sort $(wildcard agent/*.c probes/*.c config/*.c)))
LIB_OBJ	:= $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UT_OBJ	:= $(LIB_SRC:%.c=$(BUILD)/ut/%.o)
# the static client: libc only
HOOK_SRC := agent/hook.c agent/client.c agent/statefile.c agent/util.c
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
INT_LIB	:= $(filter-out $(INT_SRC),$(wildcard tests/integration/*.c))
INT_LIB_OBJ := $(INT_LIB:%.c=$(BUILD)/obj/%.o)
SRV_SRC	:= $(sort $(wildcard tests/servers/*.c))
SRV_BIN	:= $(SRV_SRC:tests/servers/%.c=$(BUILD)/tests/servers/%)

AGENT	:= $(BUILD)/nodowntime
HOOK	:= $(BUILD)/nodowntime-hook

.PHONY: all run test check unit integration deps deps-test clean docs \
	check-docs tests-build

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

$(BUILD)/tests/unit/%: tests/unit/%.c $(UT_OBJ)
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) -DUNITTEST $(XLDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS) -lcmocka -lm

$(BUILD)/tests/integration/%: tests/integration/%.c $(INT_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS) -lcmocka -lm

$(BUILD)/tests/servers/%: tests/servers/%.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS) -lm

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
	@NDT_BUILD=$(BUILD) sh tests/run.sh integration $(INT_BIN)

test: deps-test
	@$(MAKE) --no-print-directory tests-build
	@NDT_BUILD=$(BUILD) sh tests/run.sh all $(UNIT_BIN) $(INT_BIN) \
	    tests/check_docs.sh

check: test

# the README's config reference is generated from the schema table
docs: $(AGENT)
	@sh tests/check_docs.sh --update

check-docs: $(AGENT)
	@NDT_BUILD=$(BUILD) sh tests/check_docs.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
