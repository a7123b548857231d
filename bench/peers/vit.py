#!/usr/bin/python3
"""PyTorch's ViT-S/16 forward pass, the peer of `gpuvit bench --model vit_small_patch16_224`.

torchvision's VisionTransformer with ViT-S/16's sizes (timm's vit_small_patch16_224: width 384,
depth 12, 6 heads, MLP 1536), random weights, eval mode, no autograd, on the CPU threads given.
Prints images/s per batch size; --json prints one JSON object per batch size.

Run:  /usr/bin/python3 bench/peers/vit.py [--batch 1 8] [--threads 2] [--json]
"""

import argparse
import json
import time

import torch
from torchvision.models.vision_transformer import VisionTransformer

FLOPS_PER_IMAGE = 9_200_000_000  # GpuViT's count for ViT-S/16 at 224 (VitConfig.FlopsPerImage, rounded)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="time to measure per batch size")
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
            runs, start = 0, time.perf_counter()
            while runs < 3 or time.perf_counter() - start < args.seconds:
                model(images)
                runs += 1
            seconds = (time.perf_counter() - start) / runs
        row = {"peer": f"pytorch {torch.__version__}", "model": "vit_small_patch16_224", "batch": batch,
               "threads": args.threads, "seconds": seconds, "images_per_s": batch / seconds,
               "gflops": FLOPS_PER_IMAGE * batch / seconds / 1e9}
        if args.json:
            print(json.dumps(row))
        else:
            print(f"PyTorch {torch.__version__} ViT-S/16 batch {batch}: {seconds * 1e3:.1f} ms per batch, "
                  f"{row['images_per_s']:.2f} images/s, {row['gflops']:.1f} GFLOP/s ({args.threads} threads)")


if __name__ == "__main__":
    main()
