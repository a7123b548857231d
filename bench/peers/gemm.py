#!/usr/bin/env python3
"""OpenBLAS sgemm through numpy, at the shapes of CpuGemmBenchmarks: Y = X·Wᵀ, float32.

The peer of the cpu backend's GEMM. Use Debian's numpy, which runs the system OpenBLAS
(apt-get install python3-numpy libopenblas0-pthread; run with /usr/bin/python3):

    /usr/bin/python3 bench/peers/gemm.py            # a table of GFLOP/s per shape
    /usr/bin/python3 bench/peers/gemm.py --json     # the same as JSON

OpenBLAS reads OPENBLAS_NUM_THREADS and OPENBLAS_CORETYPE when numpy loads it, so both are
set here before the import: the thread count from --threads, and OPENBLAS_CORETYPE removed
(OpenBLAS then picks the kernel for this CPU) unless --coretype names one. The kernel it runs
is printed, read from the loaded library itself.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

# tokens × in → out: ViT-S/16 at batch 8 (8·197 tokens, D = 384): qkv, fc1, fc2; a cube; one token.
SHAPES = [(1576, 384, 1152), (1576, 384, 1536), (1576, 1536, 384), (1024, 1024, 1024), (1, 384, 1536)]


def loaded_openblas_core():
    """The kernel name of the OpenBLAS that this process has loaded, from /proc/self/maps."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line and line.split()[-1].startswith("/")}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
            library.openblas_get_corename.restype = ctypes.c_char_p
            library.openblas_get_config.restype = ctypes.c_char_p
            return path, library.openblas_get_corename().decode(), library.openblas_get_config().decode()
        except (OSError, AttributeError):
            continue
    return None, None, None


def measure(np, m, k, n, seconds):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    y = np.empty((m, n), dtype=np.float32)
    for _ in range(5):
        np.matmul(x, w.T, out=y)
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < 20 or time.perf_counter() < deadline:
        start = time.perf_counter()
        np.matmul(x, w.T, out=y)
        times.append(time.perf_counter() - start)
    flops = 2.0 * m * n * k
    return {
        "shape": f"{m}x{k}->{n}", "m": m, "k": k, "n": n, "runs": len(times),
        "median_ms": statistics.median(times) * 1e3,
        "gflops_median": flops / statistics.median(times) / 1e9,
        "gflops_best": flops / min(times) / 1e9,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="OpenBLAS threads (default 2)")
    parser.add_argument("--coretype", help="force an OpenBLAS kernel (OPENBLAS_CORETYPE), e.g. Haswell")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per shape (default 2)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    if args.coretype:
        os.environ["OPENBLAS_CORETYPE"] = args.coretype
    else:
        os.environ.pop("OPENBLAS_CORETYPE", None)
    import numpy as np

    path, core, config = loaded_openblas_core()
    if core is None:
        print("warning: numpy did not load OpenBLAS; its BLAS is:", file=sys.stderr)
        np.show_config()
    results = [measure(np, m, k, n, args.seconds) for m, k, n in SHAPES]
    if args.json:
        print(json.dumps({"numpy": np.__version__, "library": path, "core": core, "config": config,
                          "threads": args.threads, "results": results}, indent=2))
        return
    print(f"numpy {np.__version__}; {config}; core {core}; {args.threads} threads; {path}")
    print(f"{'shape':>16} {'median ms':>10} {'GFLOP/s':>8} {'best':>8}")
    for r in results:
        print(f"{r['shape']:>16} {r['median_ms']:10.3f} {r['gflops_median']:8.1f} {r['gflops_best']:8.1f}")


if __name__ == "__main__":
    main()
