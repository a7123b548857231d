#!/usr/bin/env bash
# Runs every test. First installs, when missing, the Debian packages the tests need:
# an OpenCL runtime on the CPU (PoCL) and NVRTC (Debian's non-free component), so the
# generated OpenCL C and CUDA C are really built, stb_image (libstb0) for image input, and
# NumPy (python3-numpy), which checks that the .npy files GpuViT writes load in numpy, and headless
# Chromium with the DejaVu fonts, which lays out the compare report at 800 px and screenshots it.
# Then prints how many OpenCL, NVRTC and cuda tests ran, and a closing "N passed, N failed, N skipped"
# line (tests/summary.sh). A cuda case is skipped, saying why, where no CUDA device opens.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

packages=(ocl-icd-libopencl1 pocl-opencl-icd clinfo libnvrtc11.2 libstb0 python3-numpy python3-yaml chromium fonts-dejavu-core)

have_runtimes() {
    ldconfig -p | grep -q 'libOpenCL.so.1 ' \
        && ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1 \
        && ldconfig -p | grep -qE 'libnvrtc\.so(\.[0-9.]+)? ' \
        && ldconfig -p | grep -q 'libstb.so.0 ' \
        && /usr/bin/python3 -c 'import numpy, yaml' 2>/dev/null \
        && command -v chromium >/dev/null \
        && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "test.sh: need root (or sudo) to install: ${packages[*]}" >&2; return 1; fi
}

install_runtimes() {
    . /etc/os-release
    if [ "${ID:-}" != "debian" ]; then
        echo "test.sh: not Debian ($PRETTY_NAME): install an OpenCL ICD (e.g. PoCL) and NVRTC yourself" >&2
        return 1
    fi
    # NVRTC is in Debian's non-free component; add it beside the existing sources once.
    local sources=/etc/apt/sources.list.d/gpuvit-non-free.sources
    if ! apt-cache policy libnvrtc11.2 2>/dev/null | grep -q 'Candidate: [0-9]' && [ ! -f "$sources" ]; then
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$VERSION_CODENAME" "$VERSION_CODENAME" | as_root tee "$sources" >/dev/null
    fi
    echo "test.sh: installing ${packages[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}

if ! have_runtimes; then
    install_runtimes || echo "test.sh: runtimes missing; the OpenCL and NVRTC tests will fail with install hints" >&2
fi

results="$root/.artifacts/test-results"
rm -rf "$results"
status=0
dotnet test "$root/GpuViT.sln" --nologo \
    --logger "trx;LogFileName=gpuvit.trx" --logger "console;verbosity=minimal" \
    --results-directory "$results" || status=$?

trx="$(find "$results" -name '*.trx' | head -1)"
if [ -z "$trx" ]; then
    echo "test.sh: no test results were written (the build failed?)" >&2
    exit 1
fi

echo
bash "$root/tests/summary.sh" "$trx"
exit "$status"
