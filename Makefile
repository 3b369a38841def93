# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# netfence: .bpf.c -> .bpf.o -> .skel.h -> userspace .o -> binaries.
# Everything generated goes to $(OUTPUT) (ignored). V=1 for full commands.

OUTPUT ?= build
PREFIX ?= /usr/local
DESTDIR ?=
CNI_BIN_DIR ?= /opt/cni/bin
CLANG ?= clang
CC ?= gcc
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/' | sed 's/aarch64/arm64/')
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
VMLINUX_H ?= $(OUTPUT)/vmlinux.h
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

LIBMK := Makefile
INCLUDES := -Iinclude -Iuserspace/lib -I$(OUTPUT)
WARN := -Wall -Wextra -Werror -Werror=undef -Wno-unused-parameter -Wno-missing-field-initializers
# NF_DEFS: defines for both sides of the ABI (the upgrade test's variant build
# passes -DNF_TEST_NEXT_LAYOUT, see include/netfence/abi.h).
NF_DEFS ?=
CFLAGS ?= -g -O2
CFLAGS += $(WARN) -D_GNU_SOURCE -DNF_VERSION='"$(VERSION)"' $(NF_DEFS) $(INCLUDES)
# -mcpu=v3 (Linux 5.1+): 32-bit ALU and jumps, no zero-extending shift pairs;
# tc_peer's JIT image 27.9 -> 25.9 KiB, 43 ns less program time per connection
# in the veth connect loop (bench/ab.sh, 2026-12-04).
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Werror=undef \
	-Wno-unused-function $(NF_DEFS) -Iinclude -Ibpf -I$(dir $(VMLINUX_H))
# libmicrohttpd is dlopen()ed by `serve` (userspace/cmd/serve.c), not linked:
# its GnuTLS dependencies cost every other command ~3.5 ms of loading.
LDLIBS := -lbpf -lelf -lz -ljansson -lnl-route-3 -lnl-3 -ldl -lpthread
# Every command is a short process: loading and relocating shared libraries
# was half of its CPU time (`perf stat` of a one-policy apply: 8-9.5 ms
# dynamic, 6 ms with these libraries static, 4 ms fully static). netfence
# links them statically (glibc stays shared: `serve` dlopen()s libmicrohttpd);
# netfence-cni, which loads nothing, is fully static, like the CNI
# reference plugins it runs beside.
NF_LDLIBS := -Wl,-Bstatic -lbpf -lelf -lz -ljansson -lnl-route-3 -lnl-3 -Wl,-Bdynamic -ldl -lpthread
CNI_LDLIBS := -static $(LDLIBS)
NL_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0 2>/dev/null || echo -I/usr/include/libnl3)
CFLAGS += $(NL_CFLAGS)

BPF_PROGS := netfence bench_ref
BPF_OBJS := $(patsubst %,$(OUTPUT)/%.bpf.o,$(BPF_PROGS))
SKELS := $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_PROGS))
BPF_HDRS := $(wildcard bpf/lib/*.h) $(wildcard include/netfence/*.h)

# userspace/lib and one level of modules below it (userspace/lib/<module>/*.c).
LIB_SRCS := $(wildcard userspace/lib/*.c userspace/lib/*/*.c)
LIB_OBJS := $(patsubst userspace/lib/%.c,$(OUTPUT)/lib/%.o,$(LIB_SRCS))
LIB_HDRS := $(wildcard userspace/lib/*.h userspace/lib/*/*.h) $(wildcard include/netfence/*.h)
LIB := $(OUTPUT)/libnetfence.a

CMD_SRCS := userspace/netfence.c $(wildcard userspace/cmd/*.c)
CMD_OBJS := $(patsubst userspace/%.c,$(OUTPUT)/%.o,$(CMD_SRCS))
CNI_SRCS := $(wildcard userspace/cni/*.c)
CNI_OBJS := $(patsubst userspace/%.c,$(OUTPUT)/%.o,$(CNI_SRCS))

TEST_SRCS := $(wildcard tests/unit/test_*.c) $(wildcard tests/bpf/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(OUTPUT)/tests/%,$(TEST_SRCS))
TEST_COMMON := $(wildcard tests/common/*.c)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(OUTPUT)/bench/%,$(BENCH_SRCS))

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all clean test deps demo bench install uninstall unit fuzz e2e FORCE
.DELETE_ON_ERROR:
.SECONDARY:

all: $(OUTPUT)/netfence $(OUTPUT)/netfence-cni $(TEST_BINS) $(BENCH_BINS)

$(OUTPUT) $(OUTPUT)/lib $(OUTPUT)/cmd $(OUTPUT)/cni $(OUTPUT)/tests/unit $(OUTPUT)/tests/bpf $(OUTPUT)/bench $(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(VMLINUX_H) $(LIBMK) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# The build of the datapath (struct nf_meta.object_hash): a digest of the
# object, computed here once rather than by every command at run time.
$(OUTPUT)/netfence.objhash.h: $(OUTPUT)/netfence.bpf.o
	$(call msg,GEN,$@)
	$(Q)printf '#define NF_OBJECT_HASH 0x%sULL\n' "$$(sha256sum $< | cut -c1-16)" > $@

$(OUTPUT)/lib/%.o: userspace/lib/%.c $(LIB_HDRS) $(LIBMK) | $(OUTPUT)/lib
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/%.o: userspace/%.c $(LIB_HDRS) $(wildcard userspace/*.h userspace/cmd/*.h userspace/cni/*.h) $(SKELS) $(LIBMK) | $(OUTPUT)/cmd $(OUTPUT)/cni
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Iuserspace -c $< -o $@

$(OUTPUT)/netfence: $(CMD_OBJS) $(LIB)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(NF_LDLIBS) -o $@

# (glibc warns that libnl's unused name lookups would need its NSS modules)
$(OUTPUT)/netfence-cni: $(CNI_OBJS) $(LIB)
	$(call msg,BINARY,$@)
	$(Q)rm -f $@; $(CC) $(CFLAGS) $^ $(CNI_LDLIBS) -o $@ 2>&1 | \
		{ grep -v 'statically linked applications requires at runtime\|in function .nl_' >&2 || true; }; \
		test -x $@

$(OUTPUT)/tests/%: tests/%.c $(TEST_COMMON) $(wildcard tests/common/*.h) $(LIB) $(SKELS) $(LIBMK) | $(OUTPUT)/tests/unit $(OUTPUT)/tests/bpf
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Wno-sign-compare -Itests/common $< $(TEST_COMMON) $(LIB) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/bench/%: bench/%.c $(LIB) $(SKELS) $(LIBMK) | $(OUTPUT)/bench
	$(call msg,BENCH,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

# libFuzzer target: parser + validator + compiler, sanitizers on. It links
# only what those sources use: jansson (the parser) and libbpf (log.c hands
# libbpf its print callback); no skeletons, no netlink, no libmicrohttpd.
FUZZ_LIB_SRCS := $(wildcard userspace/lib/policy/*.c) $(addprefix userspace/lib/,compile.c lookup.c refeval.c log.c store.c)
FUZZ_LDLIBS := -ljansson -lbpf
$(OUTPUT)/fuzz/fuzz_policy: tests/fuzz/fuzz_policy.c $(FUZZ_LIB_SRCS) $(LIB_HDRS) $(LIBMK) | $(OUTPUT)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-D_GNU_SOURCE -DNF_FUZZING $(INCLUDES) $< $(FUZZ_LIB_SRCS) $(FUZZ_LDLIBS) -o $@

# The datapath one version up (a changed map layout and program), built only
# for the upgrade test (tests/e2e/test_upgrade.sh): a whole second netfence.
$(OUTPUT)/next/netfence: FORCE
	$(Q)$(MAKE) --no-print-directory OUTPUT=$(OUTPUT)/next NF_DEFS=-DNF_TEST_NEXT_LAYOUT \
		VERSION=$(VERSION)-next $(OUTPUT)/next/netfence $(OUTPUT)/next/netfence-cni

# The last build of the datapath version before this one (5: tc_peer_ingress
# and tc_peer_egress), from git, for the test of an upgrade across a change
# of program names (tests/e2e/test_upgrade_prev.sh). Without the history (a
# tarball) it is not built and that test says skipped.
NF_PREV_COMMIT ?= 9ec1175
$(OUTPUT)/prev/netfence:
	$(Q)rm -rf $(OUTPUT)/prev && mkdir -p $(OUTPUT)/prev/src && \
	if git rev-parse -q --verify '$(NF_PREV_COMMIT)^{commit}' >/dev/null 2>&1; then \
		git archive $(NF_PREV_COMMIT) | tar -x -C $(OUTPUT)/prev/src && \
		$(MAKE) --no-print-directory -C $(OUTPUT)/prev/src OUTPUT=build NF_DEFS= \
			VERSION=$(NF_PREV_COMMIT) build/netfence && \
		cp $(OUTPUT)/prev/src/build/netfence $@; \
	else echo "  (no commit $(NF_PREV_COMMIT) here: $@ not built)"; fi

deps:
	$(Q)scripts/install-deps.sh

unit: all
	$(Q)tests/run.sh unit

fuzz: $(OUTPUT)/fuzz/fuzz_policy
	$(Q)tests/run.sh fuzz

e2e: all
	$(Q)tests/run.sh e2e

test: deps
	$(Q)$(MAKE) --no-print-directory all $(OUTPUT)/fuzz/fuzz_policy $(OUTPUT)/next/netfence \
		$(OUTPUT)/prev/netfence
	$(Q)tests/run.sh all

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(OUTPUT)/next/netfence
	$(Q)bench/run.sh

install: $(OUTPUT)/netfence $(OUTPUT)/netfence-cni
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(CNI_BIN_DIR)
	install -m 0755 $(OUTPUT)/netfence $(DESTDIR)$(PREFIX)/bin/netfence
	install -m 0755 $(OUTPUT)/netfence-cni $(DESTDIR)$(CNI_BIN_DIR)/netfence-cni

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/netfence $(DESTDIR)$(CNI_BIN_DIR)/netfence-cni

clean:
	rm -rf $(OUTPUT)

# Only the loader needs the skeletons.
$(filter $(OUTPUT)/lib/dp/%,$(LIB_OBJS)): $(SKELS) $(OUTPUT)/netfence.objhash.h
FORCE:
