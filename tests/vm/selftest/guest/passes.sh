#!/bin/bash
# Self-test control: a clean script must pass.
true
