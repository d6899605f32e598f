#!/bin/bash
# vm-timeout: 5
# Self-test: a script that hangs must be killed and reported as timed out.
sleep 100000
