# rebound — build, test, demo, install.
#
#   make            build build/rebound
#   make test       install missing packages, build, run unit + integration tests,
#                   normal build, ASan/UBSan build and ThreadSanitizer build
#   make demo       install what the demo needs, build, start master + replica + rebound
#   make install PREFIX=/usr/local [SYSCONFDIR=/etc] [DESTDIR=...]

PREFIX  ?= /usr/local
SYSCONFDIR ?= $(PREFIX)/etc
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

# zlib, libzstd: the stream follower reads compressed sessions (src/observe_compress.c).
PKGS     := openssl libmariadb sqlite3 zlib libzstd
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Werror
CFLAGS   ?= -O2 -g
override CFLAGS += -pthread -std=gnu11 -D_GNU_SOURCE $(WARN) -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Debian's libev ships no .pc file; use it when present, else plain -lev.
EV_LIBS  := $(shell pkg-config --libs libev 2>/dev/null || echo -lev)
LDLIBS   += $(EV_LIBS) $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
CMOCKA   := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

SRCS     := $(wildcard src/*.c)
OBJS     := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIBOBJS  := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
# The unit tests link a copy built with the test hooks (rebound.h: TEST_HOOK), which the
# product never has.
TESTOBJS := $(LIBOBJS:$(BUILD)/obj/%=$(BUILD)/obj-test/%)
UNIT     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG    := $(patsubst tests/integ/%.c,$(BUILD)/tests/%,$(wildcard tests/integ/test_*.c))
FUZZ     := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
HARNESS  := $(BUILD)/obj/harness.o
FUZZDRV  := $(BUILD)/obj/fuzz_driver.o
# Every compile writes what it read (-MMD, into a .d file beside its output), and those files
# are included below: editing a header rebuilds exactly what includes it. -MP keeps a deleted
# header from breaking the build.
DEPFLAGS := -MMD -MP
FUZZ_TIME ?= 300

.PHONY: all deps deps-demo test check check-unit check-fuzz check-integ check-asan check-tsan check-docker check-image check-docs fuzz demo bench install clean format

all: $(BUILD)/rebound

$(BUILD)/rebound: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

# Kept between runs (make would delete them as intermediate files).
.PRECIOUS: $(BUILD)/obj-test/%.o
$(BUILD)/obj-test/%.o: src/%.c | $(BUILD)/obj-test
	$(CC) $(CFLAGS) $(DEPFLAGS) -DREBOUND_TEST_HOOKS -c -o $@ $<

$(HARNESS): tests/integ/harness.c | $(BUILD)/obj
	$(CC) $(CFLAGS) $(DEPFLAGS) -Itests/integ -c -o $@ $<

# These unit tests make the router's allocations fail on demand (tests/unit/unit_alloc.h).
$(BUILD)/tests/test_pass $(BUILD)/tests/test_pass_reload: \
    LDLIBS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

# A test compiled and linked in one step: its .d file is $@.d.
$(BUILD)/tests/test_%: tests/unit/test_%.c $(TESTOBJS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(DEPFLAGS) -DREBOUND_TEST_HOOKS -o $@ $< $(TESTOBJS) $(LDLIBS) $(CMOCKA)

$(BUILD)/tests/test_%: tests/integ/test_%.c $(HARNESS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(DEPFLAGS) -Itests/integ -o $@ $< $(HARNESS) $(LDLIBS) $(CMOCKA)

# The fuzz driver is an object of its own, so that each fuzz target compiles one source and
# its .d file lists that source's headers.
$(FUZZDRV): tests/fuzz/driver.c | $(BUILD)/obj
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

# Fuzz targets with the plain driver (brief runs in `make test`).
$(BUILD)/tests/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZDRV) $(LIBOBJS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(DEPFLAGS) -o $@ $< $(FUZZDRV) $(LIBOBJS) $(LDLIBS)

# The admin SQL engine alone, over tables of its own: these link without the router.
ADMIN_SQL_OBJS := $(addprefix $(BUILD)/obj/,admin_sql.o admin_vtab.o admin_funcs.o admin_show.o \
                    admin_dialect.o admin_lex.o log.o rebound.o)
$(BUILD)/tests/fuzz_admin_sql: tests/fuzz/fuzz_admin_sql.c $(FUZZDRV) $(ADMIN_SQL_OBJS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(DEPFLAGS) -o $@ $< $(FUZZDRV) $(ADMIN_SQL_OBJS) $(LDLIBS)

ADMIN_SQL_TESTOBJS := $(ADMIN_SQL_OBJS:$(BUILD)/obj/%=$(BUILD)/obj-test/%)
$(BUILD)/tests/test_admin_engine: tests/unit/test_admin_engine.c $(ADMIN_SQL_TESTOBJS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(DEPFLAGS) -DREBOUND_TEST_HOOKS -o $@ $< $(ADMIN_SQL_TESTOBJS) $(LDLIBS) $(CMOCKA)

$(BUILD)/obj $(BUILD)/obj-test $(BUILD)/tests:
	mkdir -p $@

-include $(OBJS:.o=.d) $(TESTOBJS:.o=.d) $(HARNESS:.o=.d) $(FUZZDRV:.o=.d) \
    $(UNIT:=.d) $(INTEG:=.d) $(FUZZ:=.d)

deps:
	@scripts/deps.sh

# What the demo needs and no more (no test toolchain).
deps-demo:
	@scripts/deps.sh demo

# The one command for a new machine: packages, then the normal build and every test, then the
# same under the two sanitizers side by side (scripts/check-sanitized.sh).
test: deps
	$(MAKE) check
	scripts/check-sanitized.sh

check: check-unit check-fuzz check-integ check-docker check-docs

check-unit: $(BUILD)/rebound $(UNIT)
	@set -e; for t in $(UNIT); do echo "== $$t"; $$t; done

check-fuzz: $(FUZZ)
	@set -e; for t in $(FUZZ); do n=$${t##*/fuzz_}; FUZZ_SECONDS=20 $$t tests/fuzz/corpus/$$n/*; done

# Long, coverage-guided runs with clang's libFuzzer: FUZZ_TIME seconds per target.
fuzz:
	@set -e; mkdir -p build-fuzz; for f in tests/fuzz/fuzz_*.c; do n=$$(basename $$f .c); \
	    clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude $(shell pkg-config --cflags $(PKGS)) \
	        -fsanitize=fuzzer,address,undefined -o build-fuzz/$$n $$f \
	        $(filter-out src/main.c,$(SRCS)) $(LDLIBS); \
	    mkdir -p build-fuzz/corpus-$$n; \
	    build-fuzz/$$n -max_total_time=$(FUZZ_TIME) build-fuzz/corpus-$$n \
	        tests/fuzz/corpus/$${n#fuzz_}; done

check-integ: $(BUILD)/rebound $(INTEG)
	@set -e; for t in $(INTEG); do echo "== $$t"; REBOUND_BIN=$(BUILD)/rebound $$t; done

# docker/ (image build script, compose file, replication init scripts), the systemd unit and
# the logrotate file, proven without a container engine: see the script's header.
check-docker:
	tests/docker/check.sh

# docker/Dockerfile built for real with podman (base images made with debootstrap) and run
# against a real master and replica: routing, failover, failback, health check, SIGTERM.
check-image:
	tests/docker/image.sh

# The man pages render without warnings and document exactly the keywords conf.c accepts.
check-docs: $(BUILD)/rebound
	REBOUND_BIN=$(BUILD)/rebound tests/docs/check.sh

# Same tests against an AddressSanitizer + UndefinedBehaviorSanitizer build.
check-asan:
	$(MAKE) BUILD=build-asan \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" check

# Unit and integration tests against a ThreadSanitizer build: the worker threads, the control
# thread and the messages between them. Any report fails the run (the harness also reads the
# router's output for one).
check-tsan:
	$(MAKE) BUILD=build-tsan \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=thread" \
	    LDFLAGS="-fsanitize=thread" check-unit check-integ

demo: deps-demo all
	@scripts/demo.sh

bench: deps all
	tests/bench/run.sh

# An existing rebound.conf is left alone; the example is always in share/doc/rebound/examples.
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/doc/rebound/examples \
	    $(DESTDIR)$(SYSCONFDIR)/rebound $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/rebound $(DESTDIR)$(PREFIX)/sbin/rebound
	[ -e $(DESTDIR)$(SYSCONFDIR)/rebound/rebound.conf ] || \
	    install -m 0640 conf/rebound.conf $(DESTDIR)$(SYSCONFDIR)/rebound/rebound.conf
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/rebound/
	install -m 0644 conf/rebound.conf conf/rebound.service conf/rebound.logrotate \
	    $(DESTDIR)$(PREFIX)/share/doc/rebound/examples/
	install -m 0644 docs/rebound.8 $(DESTDIR)$(MANDIR)/man8/rebound.8
	install -m 0644 docs/rebound.conf.5 $(DESTDIR)$(MANDIR)/man5/rebound.conf.5

format:
	clang-format -i src/*.c include/*.h tests/unit/*.c tests/integ/*.c tests/fuzz/*.c

clean:
	rm -rf build build-asan build-tsan build-fuzz
