#!/usr/bin/env bash
# Builds .gpu/ (ignored by git): what a GPU machine without the .NET SDK needs to run GpuViT's
# tests and GPU checks (gpu/check.sh). gpuvit and the test executable go framework-dependent,
# beside one copy of the .NET runtime they share, all in one gzip archive that check.sh unpacks
# there; the whole stays under 64 MiB, to copy easily. Then, on the GPU machine, from the folder
# that holds .gpu/: bash .gpu/check.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out=.gpu
stage="$out/stage"
rm -rf "$out" && mkdir -p "$stage"

# linux-x64 for the apphosts. gpuvit as released; the tests as test.sh and CI build them (Debug:
# CpuMathTests' bit-for-bit NaN check of Erfc fails in Release).
publish() {
    dotnet publish "$1" -c "$2" -r linux-x64 --self-contained false -p:DebugType=none -o "$3" --nologo -v quiet
}
publish src/Host/GpuViT.Host.csproj Release "$stage/gpuvit"
publish tests/GpuViT.Tests/GpuViT.Tests.csproj Debug "$stage/tests"
# The test SDK's code coverage tools (23 MB; only `dotnet test` uses them; not in the deps.json).
(cd "$stage/tests" && rm -rf CodeCoverage x86 x64 arm64 alpine macos ubuntu)
# ONNX Runtime's native libraries (20 MB gzipped with the Windows one its package copies too; the
# bundle would pass 64 MiB): only OnnxPeerTests uses them, a cpu-only test that check.sh leaves out.
rm -f "$stage"/tests/libonnxruntime*.so "$stage"/tests/onnxruntime*.dll

# The runtime both apps roll forward to: the newest Microsoft.NETCore.App of the dotnet that built them.
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
runtime="$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | sort -V | tail -1)"
fxr="$(ls "$dotnet_root/host/fxr" | sort -V | tail -1)"
dest="$root/$stage/dotnet"
mkdir -p "$dest"
(cd "$dotnet_root" && cp -r --parents dotnet LICENSE.txt ThirdPartyNotices.txt "host/fxr/$fxr" \
    "shared/Microsoft.NETCore.App/$runtime" "$dest/")

# stb_image, for the image tests and `gpuvit run` on images where that machine lacks libstb0.
mkdir -p "$stage/lib"
cp -L "$(ldconfig -p | awk '/libstb\.so\.0 /{print $NF; exit}')" "$stage/lib/libstb.so.0"

tar -czf "$out/bundle.tar.gz" -C "$stage" .
rm -rf "$stage"
cp gpu/check.sh gpu/peer.py tests/summary.sh "$out/"
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'), .NET $runtime" > "$out/VERSION"
du -sh "$out"
size=$(du -sm "$out" | cut -f1)
if [ "$size" -ge 64 ]; then echo "bundle.sh: $out is $size MiB, over 64 MiB" >&2; exit 1; fi
cat <<'MSG'
Copy .gpu/ to the GPU machine and, from the folder that holds it (results in $OUT, else .gpu/out):
  bash .gpu/check.sh          the tests (cuda required), then the GPU checks (~5 minutes)
  bash .gpu/check.sh tests    the tests only;   bash .gpu/check.sh quick   tests and the quick checks
MSG
