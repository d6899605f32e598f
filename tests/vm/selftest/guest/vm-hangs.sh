#!/bin/bash
# vm-timeout: 100000
# Self-test: a guest that outlives the whole-VM limit must be reported.
sleep 100000
