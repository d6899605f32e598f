#!/bin/bash
# Self-test: a kernel WARN during a test must fail it, even if it exits 0.
insmod "$KEEL_ROOT/build/selftest/$KEEL_KVER/keel_selftest_warn.ko"
rmmod keel_selftest_warn
exit 0
