#!/usr/bin/env bash
# Reads a trx report (dotnet test's, or the test executable's -trx) and prints the names of any failed
# tests, how many OpenCL, NVRTC and cuda tests ran, then the closing "N passed, N failed, N skipped"
# line. test.sh and, on a GPU machine, gpu/check.sh print it.
set -euo pipefail
trx="$1"
# One line per test result: its outcome and name (NotExecuted is a skip).
outcomes="$(grep -o '<UnitTestResult [^>]*' "$trx" | sed -E 's/.*testName="([^"]*)".*outcome="([^"]*)".*/\2 \1/')"
count() { printf '%s\n' "$outcomes" | grep -ciE "$1" || true; }
# A cuda row's name holds backend: "cuda", its quotes escaped as &quot; (and by xunit's own trx, \&quot;).
cuda='backend: \\?&quot;cuda\\?&quot;'
# CI shows only the tail of the output: name each failed test and the start of its message
# here, just above the counts, so a failure far up the log is still read.
/usr/bin/env python3 - "$trx" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
failed = [r for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns) if r.get("outcome") == "Failed"]
for r in failed[:20]:
    message = " | ".join(r.findtext("t:Output/t:ErrorInfo/t:Message", "", ns).strip().splitlines()[:3])
    print(f"FAILED {r.get('testName')}: {message[:400]}")
if len(failed) > 20:
    print(f"... and {len(failed) - 20} more failed")
PY
echo "OpenCL tests run: $(count '^Passed .*opencl') passed, $(count '^Failed .*opencl') failed"
echo "NVRTC tests run: $(count '^Passed .*nvrtc') passed, $(count '^Failed .*nvrtc') failed"
echo "CUDA tests run: $(count "^Passed .*$cuda") passed, $(count "^Failed .*$cuda") failed, $(count "^NotExecuted .*$cuda") skipped"
echo "$(count '^Passed ') passed, $(count '^Failed ') failed, $(count '^NotExecuted ') skipped"
