#!/usr/bin/python3
"""PyTorch's ViT-S/16 forward pass, the peer of `gpuvit bench --model vit_small_patch16_224`.

torchvision's VisionTransformer with ViT-S/16's sizes (timm's vit_small_patch16_224: width 384,
depth 12, 6 heads, MLP 1536), random weights, eval mode, no autograd, on the CPU threads given.
Each forward pass is timed alone, after a warm-up, until --min-runs have run and --seconds
passed; prints images/s per batch size as `gpuvit bench` does: the median pass, p5/p95 (NumPy's
linear percentiles) and the runs, and which BLAS library torch loaded (Debian's torch calls
the system's libblas.so.3, the reference BLAS unless OpenBLAS is installed); --json prints one
JSON object per batch size.

Run:  /usr/bin/python3 bench/peers/vit.py [--batch 1 8] [--threads 2] [--json]
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from torchvision.models.vision_transformer import VisionTransformer

FLOPS_PER_IMAGE = 9_200_000_000  # GpuViT's count for ViT-S/16 at 224 (VitConfig.FlopsPerImage, rounded)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="time to measure per batch size, at least")
    parser.add_argument("--min-runs", type=int, default=15, help="forward passes to time per batch size, at least")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=6,
                              hidden_dim=384, mlp_dim=1536, num_classes=1000).eval()
    for batch in args.batch:
        images = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode():
            model(images)  # warm-up
            times, start = [], time.perf_counter()
            while len(times) < args.min_runs or time.perf_counter() - start < args.seconds:
                t0 = time.perf_counter()
                model(images)
                times.append(time.perf_counter() - t0)
        p5, seconds, p95 = (float(v) for v in np.percentile(times, [5, 50, 95]))
        row = {"peer": f"pytorch {torch.__version__}", "model": "vit_small_patch16_224", "batch": batch,
               "threads": args.threads, "blas": blas_library(), "seconds": seconds, "seconds_p5": p5, "seconds_p95": p95,
               "seconds_mean": float(np.mean(times)), "runs": len(times), "images_per_s": batch / seconds,
               "images_per_s_p5": batch / p95, "images_per_s_p95": batch / p5, "gflops": FLOPS_PER_IMAGE * batch / seconds / 1e9}
        if args.json:
            print(json.dumps(row))
        else:
            print(f"PyTorch {torch.__version__} ViT-S/16 batch {batch}: {row['images_per_s']:.2f} images/s "
                  f"(p5-p95 {row['images_per_s_p5']:.2f}-{row['images_per_s_p95']:.2f}, {len(times)} runs), "
                  f"{seconds * 1e3:.1f} ms per batch, {row['gflops']:.1f} GFLOP/s ({args.threads} threads, {row['blas']})")


def blas_library():
    """The BLAS library this process has loaded (after a forward pass), resolved through links,
    with its folder: blas/libblas.so.3.11.0 is the reference BLAS, openblas-pthread/... OpenBLAS."""
    with open("/proc/self/maps") as maps:
        paths = {os.path.realpath(line.split()[-1]) for line in maps if "blas" in line.rsplit("/", 1)[-1]}
    return ", ".join(sorted(os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p)) for p in paths)) or "none"


if __name__ == "__main__":
    main()
