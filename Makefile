# Keel - top-level build.  `make` builds everything; `make check` tests it.
#
#   make            keel.ko for every installed kernel with headers, and all
#                   user space (CMake, C++20) into build/
#   make deps       install missing Debian packages (apt-get; idempotent)
#   make check      build, unit tests, module in VMs on every kernel, summary
#   make demo       boot a guest: three nodes, a replicated volume, failover
#   make lint       checkpatch.pl on the kernel sources, clang-format check
#   make clean      remove build/
#
# Variables: KERNELS="<release> ..." restricts the kernels built and tested.
SHELL := /bin/bash
ROOT := $(CURDIR)
BUILD := $(ROOT)/build
# Every installed kernel that has both a bootable image and headers.
KERNELS ?= $(shell for k in $$(ls /lib/modules 2>/dev/null | sort -V); do \
	[ -f /boot/vmlinuz-$$k ] && [ -d /lib/modules/$$k/build ] && echo $$k; done)
JOBS ?= $(shell nproc)

.PHONY: all deps kmod user selftest-modules check demo lint clean bench FORCE

all: kmod user selftest-modules

deps:
	@packaging/install-deps.sh

# keel.ko, once per kernel, each in its own directory of symlinks to the
# sources (kmod/Makefile generates the compat header there).  Warnings are
# kept in build/kmod/<kernel>/build.log; `make check` fails on any.
kmod: $(foreach k,$(KERNELS),$(BUILD)/kmod/$(k)/kmod/keel.ko)

$(BUILD)/kmod/%/kmod/keel.ko: FORCE
	@[ -n "$*" ] || { echo "no kernel headers found: run make deps" >&2; exit 1; }
	@mkdir -p $(BUILD)/kmod/$*
	@mkdir -p $(BUILD)/kmod/$*/kmod && cp -rsf $(ROOT)/kmod/. $(BUILD)/kmod/$*/kmod/
	@find $(BUILD)/kmod/$*/kmod -xtype l -delete
	@ln -sfn $(ROOT)/include $(BUILD)/kmod/$*/include
	@ln -sfn $(ROOT)/VERSION $(BUILD)/kmod/$*/VERSION
	@echo "  KMOD    keel.ko for $*"
	@$(MAKE) -s -j$(JOBS) -C $(BUILD)/kmod/$*/kmod KVER=$* W=1 > $(BUILD)/kmod/$*/build.raw 2>&1; \
		rc=$$?; grep -v 'Skipping BTF generation' $(BUILD)/kmod/$*/build.raw \
		| tee $(BUILD)/kmod/$*/build.log; exit $$rc

# The harness self-test's WARN module, per kernel (never installed).
selftest-modules: $(foreach k,$(KERNELS),$(BUILD)/selftest/$(k)/keel_selftest_warn.ko)

$(BUILD)/selftest/%/keel_selftest_warn.ko: tests/vm/selftest/warn_module/keel_selftest_warn.c
	@mkdir -p $(BUILD)/selftest/$*
	@cp -rsf $(ROOT)/tests/vm/selftest/warn_module/. $(BUILD)/selftest/$*/
	@$(MAKE) -s -C /lib/modules/$*/build M=$(BUILD)/selftest/$* modules 2>&1 | grep -v 'Skipping BTF' || true
	@test -f $@

user: $(BUILD)/user/CMakeCache.txt
	@echo "  CMAKE   user space (build/user)"
	@cmake --build $(BUILD)/user -j$(JOBS) > $(BUILD)/user/build.log 2>&1 \
		|| { cat $(BUILD)/user/build.log; exit 1; }
	@! grep -E 'warning:' $(BUILD)/user/build.log

$(BUILD)/user/CMakeCache.txt: CMakeLists.txt
	@cmake -S $(ROOT) -B $(BUILD)/user -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null

check: deps
	@$(MAKE) -s all
	@KERNELS="$(KERNELS)" tests/run-check.sh

demo: deps
	@$(MAKE) -s all
	@tests/demo/cluster-demo.sh

# Keel against the raw backing and DRBD 8.4, side by side in one guest
# (bench/compare.sh; docs/benchmarks.md).  BENCH_KERNEL=<release> picks the
# kernel (default: the newest); BENCH_RUNS, BENCH_SECONDS, BENCH_SIZE_MB.
bench: deps
	@$(MAKE) -s kmod user
	@bench/compare.sh $(if $(BENCH_KERNEL),-k $(BENCH_KERNEL))

lint:
	@tests/lint.sh

clean:
	rm -rf $(BUILD)

FORCE:
