#!/bin/bash
# Self-test: a script that fails must be reported as failed.
echo "about to fail on purpose"
exit 3
