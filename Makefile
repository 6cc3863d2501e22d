# aysfs — one Makefile.
#
#   make            release build into build/release/
#   make check      install missing packages, build release + ASan/UBSan + fuzzers, run every test under prove
#   make demo       build, publish a real tree into a local store and mount it (see tools/demo.sh)
#   make fuzz       run every fuzz harness for FUZZ_SECONDS each (default 120)
#   make install    install into $(DESTDIR)$(PREFIX) (units, config: below); as root also creates
#                   the workers' system users
#   make uninstall  remove what install wrote (a configuration file that was changed stays)
#   make deb        a Debian package in build/deb/ (tools/deb.sh)
#
# V selects the variant: release (default), asan (AddressSanitizer + UBSan), fuzz (clang, libFuzzer).

V        ?= release
O        := build/$(V)
PREFIX   ?= /usr/local
SBINDIR  := $(PREFIX)/sbin
BINDIR   := $(PREFIX)/bin
LIBEXEC  := $(PREFIX)/libexec/aysfs
# systemd reads units from /usr/local/lib/systemd/system and /usr/lib/systemd/system alike.
UNITDIR  ?= $(PREFIX)/lib/systemd/system
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
VERSION  := 0.1.0

CC_release := gcc
CC_asan    := gcc
CC_fuzz    := clang
CC         := $(CC_$(V))

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla -Wno-unused-parameter
BASE     := -std=c17 -D_GNU_SOURCE -g -fPIE -I. -DAYSFS_VERSION='"$(VERSION)"' \
            -DAYSFS_LIBEXEC='"$(LIBEXEC)"' -MMD -MP
HARDEN   := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection -fcf-protection
CFLAGS_release := -O2 $(HARDEN)
CFLAGS_asan    := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
                  -fstack-protector-strong -DAYSFS_SANITIZE=1
CFLAGS_fuzz    := -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -DAYSFS_SANITIZE=1
CFLAGS   += $(BASE) $(WARN) $(CFLAGS_$(V)) $(shell pkg-config --cflags fuse3 2>/dev/null)

LDFLAGS_release := -pie -Wl,-z,relro,-z,now -Wl,--as-needed
LDFLAGS_asan    := -pie -fsanitize=address,undefined -Wl,-z,relro,-z,now
LDFLAGS_fuzz    := -fsanitize=address,undefined
LDFLAGS  += $(LDFLAGS_$(V))

pc        = $(shell pkg-config --libs $(1) 2>/dev/null)
LIB_FUSE := $(call pc,fuse3)
LIB_CURL := $(call pc,libcurl)
LIB_CARES:= $(call pc,libcares)
LIB_CRYPTO := $(call pc,libcrypto)
LIB_BROTLI := $(call pc,libbrotlidec)
LIB_XXHASH := $(call pc,libxxhash)
LIB_POLICY := $(call pc,libcap-ng) $(call pc,libseccomp)
LIB_HIREDIS := $(call pc,hiredis)

# ---- sources --------------------------------------------------------------------------------------
# Every module is its folder's *.c except main.c; a binary is its main.c plus the modules it names.
mod      = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
IPC      := $(call mod,ipc)
POLICY   := $(filter-out policy/allow_core.c,$(call mod,policy))
SUP      := $(call mod,supervisor)
FUSER    := $(call mod,fuser)
INDEXER  := $(call mod,indexer)
FETCHER  := $(call mod,fetcher)
STATUS   := $(call mod,status)
DEBUGW   := $(call mod,debug)
CONFIG   := $(call mod,config)
obj      = $(patsubst %.c,$(O)/obj/%.o,$(1))

# The supervisor and the fuser (the privileged core, `make tcb`) link only the shared code they use.
# Each links its own side of the protocol (ipc/proto_*.c); the other workers' side is in neither.
IPC_CORE       := ipc/ipc.c ipc/log.c
POLICY_CORE    := policy/policy.c policy/seccomp.c policy/allow_core.c
BIN_supervisor := supervisor/main.c $(SUP) $(IPC_CORE) ipc/proto_supervisor.c ipc/ctl.c $(POLICY_CORE)
# Debug mode's write handlers (fuser/debug.c, SPEC §7) are in a fuser of their own, run only for a
# mount with [debug] (development nodes): the fuser of every other mount has none of that code.
BIN_fuser      := fuser/main.c $(filter-out fuser/debug.c,$(FUSER)) $(IPC_CORE) ipc/proto_fuser.c \
                  ipc/index.c $(POLICY_CORE)
BIN_fuser-debug := $(BIN_fuser) fuser/debug.c ipc/proto_debug.c ipc/ipc_workers.c
BIN_indexer    := indexer/main.c $(INDEXER) $(IPC) $(POLICY) fetcher/probe_wire.c
BIN_fetcher    := fetcher/main.c $(FETCHER) $(IPC) $(POLICY)
BIN_status     := status/main.c $(STATUS) $(IPC) $(POLICY)
BIN_debug      := debug/main.c $(DEBUGW) $(IPC) $(POLICY)
BIN_config     := config/main.c $(CONFIG) $(IPC) $(POLICY)
BIN_pack       := tools/pack.c tools/upload.c fetcher/s3.c indexer/flist.c indexer/hash.c indexer/sig.c $(IPC)
BIN_ctl        := tools/ctl.c $(IPC)

LIBS_supervisor := $(LIB_POLICY)
LIBS_fuser      := $(LIB_FUSE) $(LIB_POLICY)
LIBS_fuser-debug := $(LIBS_fuser)
LIBS_indexer    := $(LIB_CRYPTO) $(LIB_BROTLI) $(LIB_XXHASH) $(LIB_POLICY) -lpthread
LIBS_fetcher    := $(LIB_CURL) $(LIB_CARES) $(LIB_CRYPTO) $(LIB_POLICY)
LIBS_status     := $(LIB_POLICY)
LIBS_debug      := $(LIB_HIREDIS) $(LIB_CRYPTO) $(LIB_POLICY)
LIBS_config     := $(LIB_POLICY)
LIBS_pack       := $(LIB_CRYPTO) $(call pc,libbrotlienc) $(LIB_CURL) -lpthread
LIBS_ctl        :=

BINS := aysfs-supervisor aysfs-fuser aysfs-fuser-debug aysfs-indexer aysfs-fetcher aysfs-status \
        aysfs-debug aysfs-config aysfs-pack aysfs-ctl

# Unit tests (tests/unit/test_X.c) and fuzz harnesses (tests/fuzz/fuzz_X.c) name what they link.
UNIT_config := $(CONFIG) supervisor/rootconf.c $(IPC)
UNIT_flist  := indexer/flist.c $(IPC)
UNIT_ipc    := $(IPC)
UNIT_index  := indexer/tree.c indexer/flist.c $(IPC)
UNIT_istore := indexer/istore.c indexer/sum.c indexer/hash.c indexer/tree.c indexer/flist.c $(IPC)
UNIT_ctl    := $(IPC)
UNIT_cache  := indexer/cache.c indexer/hash.c indexer/tree.c indexer/flist.c $(IPC)
UNIT_known_hosts := fetcher/ssh.c $(IPC)
UNIT_s3     := fetcher/s3.c $(IPC)
UNIT_deaths := supervisor/deaths.c
UNIT_fuser_fh     := fuser/fh.c
UNIT_fuser_outbox := fuser/outbox.c $(IPC)
UNIT_sum          := indexer/sum.c
UNIT_ahead        := indexer/ahead.c indexer/tree.c indexer/flist.c $(IPC)
UNIT_fuser_reload := fuser/reload.c indexer/tree.c indexer/flist.c $(IPC)
UNIT_fuser_blobs  := fuser/blobs.c fuser/outbox.c fuser/fh.c indexer/tree.c indexer/flist.c $(IPC)
FUZZ_config := $(UNIT_config)
FUZZ_flist  := $(UNIT_flist)
FUZZ_ipc    := $(IPC)
FUZZ_conf   := $(IPC)
FUZZ_rootconf := supervisor/rootconf.c $(IPC)
FUZZ_index  := $(IPC)
FUZZ_istore := indexer/istore.c indexer/sum.c indexer/hash.c $(IPC)
FUZZ_probe  := fetcher/probe_wire.c $(IPC)
FUZZ_fetch  := fetcher/request.c $(IPC)
FUZZ_ctl    := $(IPC)
FUZZ_known_hosts := fetcher/ssh.c $(IPC)
FUZZ_s3     := fetcher/s3.c $(IPC)
FUZZ_sig    := indexer/sig.c $(IPC)
FUZZ_http   := status/http.c status/ask.c status/pages.c status/ctl.c $(IPC)
UNIT_http   := status/http.c status/ask.c status/pages.c status/ctl.c $(IPC)
FUZZ_debug  := debug/wire.c $(IPC)

UNITS    := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
FUZZERS  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all bins tests check fuzz fuzzers demo install uninstall users deps clean tcb tcb-lines unlinked cycles deb
.DEFAULT_GOAL := all

ifeq ($(V),fuzz)
all: fuzzers
else
all: bins
endif

bins: $(addprefix $(O)/,$(BINS)) $(O)/aysfs
tests: $(patsubst %,$(O)/tests/test_%.t,$(UNITS)) $(patsubst %,$(O)/tests/replay_%,$(FUZZERS)) \
       $(O)/tests/try-syscall $(O)/tests/sd-sandbox $(addprefix $(O)/hooks/,$(filter-out aysfs-pack,$(BINS)))
fuzzers: $(patsubst %,$(O)/tests/fuzz_%,$(FUZZERS))

# Prerequisites below name per-target lists, expanded a second time.
.SECONDEXPANSION:
# Objects reached only through pattern rules would count as intermediate and be deleted after a
# fresh build (so the next change rebuilt everything): keep them.
.SECONDARY:

$(O)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(O)/aysfs-%: $$(call obj,$$(BIN_$$*))
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_$*)

# Test copies of the four processes with policy/testhook.c compiled in (-DAYSFS_TEST_HOOKS: they
# misbehave on a signal, for tests/integration/policy.t). Only policy/ differs; never installed.
hobj = $(patsubst %.c,$(O)/obj-hooks/%.o,$(filter $(POLICY),$(1))) $(call obj,$(filter-out $(POLICY),$(1)))
$(O)/obj-hooks/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DAYSFS_TEST_HOOKS -c -o $@ $<

$(O)/hooks/aysfs-%: $$(call hobj,$$(sort $$(BIN_$$*) policy/testhook.c))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_$*)

# Loads a role's seccomp filter in a child and makes one system call (tests/integration/policy.t).
$(O)/tests/try-syscall: $(O)/obj/tests/try-syscall.o $$(call obj,$$(POLICY) $$(IPC))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_POLICY)

# Runs a command under the meaning of a unit's system call directives (tests/integration/systemd.t).
$(O)/tests/sd-sandbox: $(O)/obj/tests/sd-sandbox.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pc,libseccomp)

# `aysfs` is the supervisor under the original tool's name.
$(O)/aysfs: $(O)/aysfs-supervisor
	ln -sf aysfs-supervisor $@

$(O)/tests/test_%.t: $(O)/obj/tests/unit/test_%.o $$(call obj,$$(UNIT_$$*))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_FUSE) $(LIB_CRYPTO) $(LIB_BROTLI) $(LIB_XXHASH) $(LIB_POLICY)

# A harness built with gcc and tests/fuzz/replay.c is a plain program that replays a corpus.
$(O)/tests/replay_%: $(O)/obj/tests/fuzz/fuzz_%.o $(O)/obj/tests/fuzz/replay.o $$(call obj,$$(FUZZ_$$*))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_CRYPTO) $(LIB_BROTLI) $(LIB_XXHASH) $(LIB_POLICY)

$(O)/tests/fuzz_%: $(O)/obj/tests/fuzz/fuzz_%.o $$(call obj,$$(FUZZ_$$*))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIB_CRYPTO) $(LIB_BROTLI) $(LIB_XXHASH) $(LIB_POLICY)

# ---- the README's commands ------------------------------------------------------------------------
deps:
	@tools/deps.sh
	@tools/npm-deps.sh

check: deps users
	$(MAKE) V=release bins tests
	$(MAKE) V=asan bins tests
	$(MAKE) V=fuzz fuzzers
	tools/check.sh

fuzz: deps
	$(MAKE) V=fuzz fuzzers
	FUZZ_SECONDS=$${FUZZ_SECONDS:-120} tools/fuzz.sh

demo: deps users
	$(MAKE) V=release bins
	tools/demo.sh

# The privileged core: every line of this repository's C compiled into aysfs-supervisor and
# aysfs-fuser, headers included (comments and blank lines aside), per file, then the total; then
# what a mount with [debug] runs in its place, aysfs-fuser-debug, adds, and each binary's alone.
tcb:
	@tools/tcb.sh $(sort $(BIN_supervisor) $(BIN_fuser))
	@echo "with [debug] (aysfs-fuser-debug in place of aysfs-fuser): +$$(( \
	  $$(tools/tcb.sh $(sort $(BIN_supervisor) $(BIN_fuser-debug)) | tail -1) - \
	  $$(tools/tcb.sh $(sort $(BIN_supervisor) $(BIN_fuser)) | tail -1) ))"
	@echo "aysfs-fuser alone: $$(tools/tcb.sh $(BIN_fuser) | tail -1)"
	@echo "aysfs-supervisor alone: $$(tools/tcb.sh $(BIN_supervisor) | tail -1)"

# The same lines by function (tools/tcblines.py): docs/TCB-LINES.md says why each is needed.
tcb-lines:
	@tools/tcblines.py $$(tools/tcb.sh $(sort $(BIN_supervisor) $(BIN_fuser)) | awk '$$2 ~ /\.[ch]$$/ { print $$2 }')

# Every function of the core's files is linked into root, the fuser or the debug fuser
# (tools/unlinked.py): make tcb counts files whole, so one they never call belongs elsewhere.
comma := ,
unlinked:
	@tools/unlinked.py $(foreach b,supervisor fuser +fuser-debug,$(b)=$(subst $(eval) ,$(comma),$(strip $(BIN_$(b:+%=%)))))

# No call cycle between the files of any binary (tools/cycles.py): a module never calls back into one
# that calls it.
CYCLE_BINS := supervisor fuser fuser-debug indexer fetcher status debug config pack ctl
cycles: bins
	@$(foreach b,$(CYCLE_BINS),tools/cycles.py $(call obj,$(BIN_$(b))) || \
	  { echo "cycles: in aysfs-$(b)"; exit 1; };)

users:
	@if [ "$$(id -u)" = 0 ]; then \
	  for u in aysfs aysfs-fetch aysfs-status; do \
	    getent passwd $$u >/dev/null || useradd --system --no-create-home --home-dir /nonexistent \
	      --shell /usr/sbin/nologin $$u; \
	  done; \
	fi

# What install writes, per folder; uninstall removes exactly these. A new kind of file (man pages,
# say) is one more list, one more install line and one more name in UNINSTALL.
INST_SBIN    := aysfs-supervisor aysfs-ctl
INST_LIBEXEC := aysfs-fuser aysfs-fuser-debug aysfs-indexer aysfs-fetcher aysfs-status aysfs-debug \
                aysfs-config
INST_BIN     := aysfs-pack
INST_UNITS   := aysfs.service aysfs@.service
INST_MAN1    := aysfs-pack.1
INST_MAN5    := aysfs.toml.5
INST_MAN8    := aysfs-supervisor.8 aysfs-ctl.8
CONFIG_FILE  := $(SYSCONFDIR)/aysfs/config.toml
UNINSTALL    := $(addprefix $(SBINDIR)/,$(INST_SBIN) aysfs) $(addprefix $(LIBEXEC)/,$(INST_LIBEXEC)) \
                $(addprefix $(BINDIR)/,$(INST_BIN)) $(addprefix $(UNITDIR)/,$(INST_UNITS)) \
                $(addprefix $(MANDIR)/man1/,$(INST_MAN1)) $(addprefix $(MANDIR)/man5/,$(INST_MAN5)) \
                $(addprefix $(MANDIR)/man8/,$(INST_MAN8) aysfs.8)

# The units name /usr/local paths; they are rewritten for PREFIX. The example configuration
# becomes $(CONFIG_FILE) only when there is none: an operator's file is never replaced.
install: bins
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXEC) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(addprefix $(O)/,$(INST_SBIN)) $(DESTDIR)$(SBINDIR)/
	ln -sf aysfs-supervisor $(DESTDIR)$(SBINDIR)/aysfs
	install -m 0755 $(addprefix $(O)/,$(INST_LIBEXEC)) $(DESTDIR)$(LIBEXEC)/
	install -m 0755 $(addprefix $(O)/,$(INST_BIN)) $(DESTDIR)$(BINDIR)/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(addprefix docs/man/,$(INST_MAN1)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(addprefix docs/man/,$(INST_MAN5)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(addprefix docs/man/,$(INST_MAN8)) $(DESTDIR)$(MANDIR)/man8/
	ln -sf aysfs-supervisor.8 $(DESTDIR)$(MANDIR)/man8/aysfs.8
	for u in $(INST_UNITS); do \
	  sed 's|/usr/local/|$(PREFIX)/|g' examples/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	@if [ -e $(DESTDIR)$(CONFIG_FILE) ]; then \
	  echo "install: $(DESTDIR)$(CONFIG_FILE) exists: kept"; \
	else \
	  install -D -m 0644 examples/config.toml $(DESTDIR)$(CONFIG_FILE) && \
	  echo "install: example configuration written to $(DESTDIR)$(CONFIG_FILE)"; \
	fi
	@if [ -z "$(DESTDIR)" ]; then $(MAKE) --no-print-directory users; fi

# The configuration goes only when it is still the example install wrote; the users stay (the
# cache's files are theirs, and a uid given to another account later would own them).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(UNINSTALL))
	@if cmp -s examples/config.toml $(DESTDIR)$(CONFIG_FILE); then \
	  rm -f $(DESTDIR)$(CONFIG_FILE); \
	elif [ -e $(DESTDIR)$(CONFIG_FILE) ]; then \
	  echo "uninstall: $(DESTDIR)$(CONFIG_FILE) differs from the example: kept"; \
	fi
	for d in $(DESTDIR)$(LIBEXEC) $(DESTDIR)$(SYSCONFDIR)/aysfs; do \
	  [ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d || exit 1; \
	done

# A Debian package, build/deb/aysfs_VERSION_ARCH.deb (tools/deb.sh): the programs built anew in
# build/deb for PREFIX=/usr, since the supervisor carries its libexec folder from PREFIX.
deb:
	VERSION=$(VERSION) MAKE="$(MAKE)" tools/deb.sh

clean:
	rm -rf build

-include $(shell find $(O)/obj $(O)/obj-hooks -name '*.d' 2>/dev/null)
