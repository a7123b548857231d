#!/usr/bin/env bash
# Reads a trx report (dotnet test's, or the test executable's -trx) and prints how many OpenCL,
# NVRTC and cuda tests ran, then the closing "N passed, N failed, N skipped" line. test.sh and,
# on a GPU machine, gpu/check.sh print it.
set -euo pipefail
trx="$1"
# One line per test result: its outcome and name (NotExecuted is a skip).
outcomes="$(grep -o '<UnitTestResult [^>]*' "$trx" | sed -E 's/.*testName="([^"]*)".*outcome="([^"]*)".*/\2 \1/')"
count() { printf '%s\n' "$outcomes" | grep -ciE "$1" || true; }
# A cuda row's name holds backend: "cuda", its quotes escaped as &quot; (and by xunit's own trx, \&quot;).
cuda='backend: \\?&quot;cuda\\?&quot;'
echo "OpenCL tests run: $(count '^Passed .*opencl') passed, $(count '^Failed .*opencl') failed"
echo "NVRTC tests run: $(count '^Passed .*nvrtc') passed, $(count '^Failed .*nvrtc') failed"
echo "CUDA tests run: $(count "^Passed .*$cuda") passed, $(count "^Failed .*$cuda") failed, $(count "^NotExecuted .*$cuda") skipped"
echo "$(count '^Passed ') passed, $(count '^Failed ') failed, $(count '^NotExecuted ') skipped"
