# Thin wrapper around Meson + Ninja. `make check` is what CI runs.
BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON      ?= meson
NINJA      ?= ninja
# CI runs `make check WERROR=1` so that every warning fails the build.
ifeq ($(WERROR),1)
MESON_OPTS += -Dwerror=true
endif

.PHONY: all build deps check asan run fuzz clean checksrc

all: build

deps:
	@scripts/setup-debian.sh

$(BUILD)/build.ninja: | deps
	$(MESON) setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	$(NINJA) -C $(BUILD)

check: build checksrc
	$(MESON) test -C $(BUILD) --print-errorlogs

$(ASAN_BUILD)/build.ninja: | deps
	$(MESON) setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug

asan: deps $(ASAN_BUILD)/build.ninja
	$(NINJA) -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(MESON) test -C $(ASAN_BUILD) --print-errorlogs

checksrc:
	@scripts/checksrc.sh

# Starts kmsd in the foreground on port 1688 with its state in ./var (Ctrl-C stops it).
run: build
	@mkdir -p var
	exec $(BUILD)/src/kmsd/kmsd --state-dir ./var $(KMSD_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
