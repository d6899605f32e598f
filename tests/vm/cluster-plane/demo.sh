#!/bin/bash
# make demo's guest script, as a test: three nodes with etcd and keeld, a
# 3-replica volume with a file system, node 1 crashed, the volume attached on
# node 2 with every file's checksum unchanged, node 1 back, fenced and resynced.  Any
# failed step fails the test.
# vm-kernels: one
# vm-cost: 60
# vm-timeout: 360
exec "$KEEL_ROOT/tests/demo/guest-cluster-demo.sh"
