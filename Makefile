# Thin wrapper around Meson + Ninja. `make check` is what CI runs.
BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON      ?= meson
NINJA      ?= ninja
# CI runs `make check WERROR=1` so that every warning fails the build. WERROR=1 (or 0) applies to an existing
# build directory too (meson configure), not only to a fresh one.
ifeq ($(WERROR),1)
MESON_OPTS += -Dwerror=true
else ifeq ($(WERROR),0)
MESON_OPTS += -Dwerror=false
endif
# What setup-debian.sh installs: `make` and `make run` only what building and running need; `make check` and
# `make asan` the test-only packages too, and build the test suite (-Dtests=enabled: a missing cmocka is an
# error there, while a plain build leaves the tests out without it).
SETUP_ARGS ?=
check asan: SETUP_ARGS = --test
check asan: MESON_OPTS += -Dtests=enabled

.PHONY: all build deps check asan run fuzz clean checksrc install deb deb-check image image-check check-load \
	bench bench-lean bench-registry soak

all: build

deps:
	@scripts/setup-debian.sh $(SETUP_ARGS)

$(BUILD)/build.ninja: | deps
	$(MESON) setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	@if [ -n "$(strip $(MESON_OPTS))" ]; then $(MESON) setup --reconfigure $(BUILD) $(MESON_OPTS) >/dev/null; fi
	$(NINJA) -C $(BUILD)

# kmsd, kmsc, the man pages, the systemd unit, the example configuration and the documents kmsd(8) names
# (share/doc/kmsd) under the prefix (/usr/local; a
# package build sets -Dprefix=/usr through MESON_OPTS); DESTDIR stages them elsewhere
install: build
	$(MESON) install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir $(DESTDIR))

check: build checksrc
	@scripts/check-layering.sh
	$(MESON) test -C $(BUILD) --print-errorlogs

ASAN_OPTS = -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
$(ASAN_BUILD)/build.ninja: | deps
	$(MESON) setup $(ASAN_BUILD) $(MESON_OPTS) $(ASAN_OPTS)

asan: deps $(ASAN_BUILD)/build.ninja
	$(MESON) setup --reconfigure $(ASAN_BUILD) $(MESON_OPTS) $(ASAN_OPTS) >/dev/null
	$(NINJA) -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(MESON) test -C $(ASAN_BUILD) --print-errorlogs

checksrc:
	@scripts/checksrc.sh

# The suite beside busy CPUs (scripts/check-under-load.sh): the races a quiet machine hides. Not part of `make check`.
check-load: build
	scripts/check-under-load.sh --build $(BUILD)

# The Debian packages kmsd and kmsc (debian/, README.Debian) in build-deb/: dpkg-buildpackage -us -uc -b on a copy
# of the tree, with DEB_BUILD_OPTIONS=nocheck unless DEB_BUILD_OPTIONS is set (`make check` runs every test), then
# lintian (an error fails). Not part of `make check`.
deb: SETUP_ARGS = --deb
deb: deps
	scripts/build-deb.sh

# make deb, the packages' contents, then apt-get install, run, remove, reinstall and purge in a bookworm chroot
# (mmdebstrap). Needs root and the Debian mirror; tests/package/deb-check.sh says what it checks.
deb-check: deb
	tests/package/deb-check.sh

# The container image (packaging/Containerfile's, built without a container engine): make deb, then a bookworm
# root file system with the packages (mmdebstrap) made an image by buildah with the Containerfile's runtime
# settings, written to build-image/kmsd-VERSION-ARCH.tar for docker load / podman load. Needs root and the Debian
# mirror; scripts/build-image.sh says how. Not part of `make check`.
image: SETUP_ARGS = --image
image: deps deb
	scripts/build-image.sh

# make image, then the image's own root file system started as a container would start it (its entrypoint, user,
# environment; read-only but for the volume) in namespaces of its own, and kmsc, the HEALTHCHECK and the HTTP
# endpoints against it; tests/package/image-check.sh says what it checks.
image-check: image
	tests/package/image-check.sh

# KMSD_ARGS holds extra kmsd options for `make run`. Make exports command-line variables to the recipes'
# environment, where kmsd would take it for one of its own KMSD_* settings and refuse it: keep it out.
unexport KMSD_ARGS

# Starts kmsd in the foreground on port 1688 with its state in ./var (Ctrl-C stops it). As root it stays root
# (--allow-root): a checkout is a development tree, not a place to hand to the nobody user.
run: build
	@mkdir -p -m 0700 var
	exec $(BUILD)/src/kmsd/kmsd --state-dir ./var $$([ "$$(id -u)" -eq 0 ] && echo --allow-root) $(KMSD_ARGS)

# libFuzzer: builds the targets with clang in $(FUZZ_BUILD) and runs each for FUZZ_SECONDS on a writable copy
# of its corpus (new inputs stay in $(FUZZ_BUILD)/corpus; copy useful ones to fuzz/corpus by hand). A crash,
# leak or sanitizer report stops with non-zero status; the input is saved as $(FUZZ_BUILD)/<target>-crash-*.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= rpc session kms_request kms_response config http products proxy journal tsig

fuzz:
	@scripts/setup-debian.sh --fuzz
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang $(MESON) setup $(FUZZ_BUILD) -Dfuzz=true -Db_lundef=false
	$(NINJA) -C $(FUZZ_BUILD)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
		cp -R fuzz/corpus/$$t/. $(FUZZ_BUILD)/corpus/$$t/; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-dict=fuzz/kmsd.dict -artifact_prefix=$(FUZZ_BUILD)/$$t- $(FUZZ_BUILD)/corpus/$$t; \
	done

# Benchmarks (bench/README.md), each in its own release build (build-bench/, or BENCH_BUILD) on loopback, printing a
# markdown table; BENCH_ARGS passes options, e.g. make bench BENCH_ARGS='--quick --workers "1 2"'. bench/run (about
# 12 min; --quick 1.5 min), bench/lean ([lean]'s figures, about 6 min a round), bench/registry ([scale]'s, a million
# clients on SQLite and PostgreSQL, about 25 min; PostgreSQL comes with --test's packages), bench/soak (30 min of
# mixed traffic by default). Not part of `make check`.
BENCH_ARGS ?=
bench bench-lean soak: SETUP_ARGS = --bench
bench-registry: SETUP_ARGS = --bench --test
bench: deps
	bench/run $(BENCH_ARGS)
bench-lean: deps
	bench/lean $(BENCH_ARGS)
bench-registry: deps
	bench/registry $(BENCH_ARGS)
soak: deps
	bench/soak $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-deb build-image
