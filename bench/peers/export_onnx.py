#!/usr/bin/python3
"""ViT-S/16 for the ONNX Runtime peer: one model, as ONNX and as GpuViT's weights.

torchvision's VisionTransformer with ViT-S/16's sizes (as bench/peers/vit.py: 224, patch 16,
width 384, depth 12, 6 heads, MLP 1536, 1000 classes), seeded random weights with every tensor
non-zero, eval mode. Writes into DIR:
  vit_s16.onnx                     torch.onnx.export, opset 17, the batch axis dynamic
  vit_s16.torchvision.safetensors  the same weights in torchvision's layout, with gpuvit.* metadata
About 90 MB each, so not committed. `dotnet run -c Release --project bench/GpuViT.Bench -- onnx --dir DIR`
runs both in one process (bench/README.md). Needs Debian's python3-torch and python3-torchvision.

Run from the repository root:  /usr/bin/python3 bench/peers/export_onnx.py DIR
"""

import argparse
import os
import sys

import torch
from torchvision.models.vision_transformer import VisionTransformer

sys.dont_write_bytecode = True  # no __pycache__ among the test fixtures
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
from make_vit_fixtures import fill_every_tensor, save_onnx, save_safetensors  # noqa: E402

IMAGE, PATCH, LAYERS, HEADS, HIDDEN, MLP, CLASSES = 224, 16, 12, 6, 384, 1536, 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="folder to write into (made if missing)")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    torch.manual_seed(0)
    model = VisionTransformer(image_size=IMAGE, patch_size=PATCH, num_layers=LAYERS, num_heads=HEADS,
                              hidden_dim=HIDDEN, mlp_dim=MLP, num_classes=CLASSES).eval()
    fill_every_tensor(model, 0.02)
    metadata = {"gpuvit.image_size": str(IMAGE), "gpuvit.patch_size": str(PATCH), "gpuvit.heads": str(HEADS),
                "gpuvit.layer_norm_eps": "1e-06"}
    save_safetensors(os.path.join(args.dir, "vit_s16.torchvision.safetensors"), dict(model.state_dict()), metadata)
    # Not under no_grad: there nn.MultiheadAttention takes its fused fast path, which ONNX has no op for.
    save_onnx(model, torch.randn(1, 3, IMAGE, IMAGE), os.path.join(args.dir, "vit_s16.onnx"))
    print(f"{args.dir}: vit_s16.onnx and vit_s16.torchvision.safetensors "
          f"({sum(t.numel() for t in model.state_dict().values()):,} parameters, torch {torch.__version__})")


if __name__ == "__main__":
    main()
