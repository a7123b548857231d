#!/usr/bin/env bash
# ViT-S/16 at 224 on the cpu, batch 1 and 8: GpuViT, ONNX Runtime and PyTorch in one go, one table.
#   1. bench/peers/export_onnx.py writes the model into DIR (if it is not there yet);
#   2. the bench's `onnx` mode checks GpuViT's and ONNX Runtime's logits agree, then times the two
#      alternating in one process (ROUNDS rounds of BLOCK_MS ms blocks);
#   3. bench/peers/vit.py times PyTorch (torchvision's VisionTransformer, same sizes) right after,
#      in its own process; OPENBLAS_CORETYPE=SKYLAKEX only where torch's libblas.so.3 is OpenBLAS
#      and the CPU has AVX-512 (Debian's torch calls the system BLAS; the reference BLAS ignores it),
#      and OMP_WAIT_POLICY=PASSIVE (below). Install libopenblas0-pthread first: without it Debian's
#      torch runs the reference BLAS, 20x slower.
# Each runs on every core (nproc threads). Images/s per forward pass: median (p5-p95, runs).
# PyTorch times at least MIN_RUNS (15) passes and 3 s per batch.
# Run from anywhere:  bash bench/peers/cpu-vit.sh [DIR]   (DIR: default .artifacts/vit-s16-onnx, ignored by git)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
dir="${1:-.artifacts/vit-s16-onnx}"
threads=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ ! -f "$dir/vit_s16.onnx" ] || [ ! -f "$dir/vit_s16.torchvision.safetensors" ]; then
  /usr/bin/python3 bench/peers/export_onnx.py "$dir"
fi
dotnet run -c Release --project bench/GpuViT.Bench -- onnx --dir "$dir" --batch 1 8 --device cpu \
  --rounds "${ROUNDS:-10}" --block-ms "${BLOCK_MS:-1000}" --json >"$out/onnx.jsonl"

blas="$(readlink -f "$(ldconfig -p | awk '/libblas\.so\.3 .*x86-64/ {print $NF; exit}')" 2>/dev/null || true)"
coretype=()
if [[ "$blas" == *openblas* ]] && grep -qw avx512f /proc/cpuinfo; then coretype=(OPENBLAS_CORETYPE=SKYLAKEX); fi
# Debian's torch runs its own ops on OpenMP threads and its matmuls on OpenBLAS's pthreads: with
# OpenMP's threads spinning between ops, the two fight over the cores (measured: PyTorch 4x slower
# and erratic on 2 cores), so OpenMP's threads sleep when idle.
env "${coretype[@]}" OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/vit.py --batch 1 8 --threads "$threads" --min-runs "${MIN_RUNS:-15}" --json >"$out/torch.jsonl"

/usr/bin/python3 - "$out/onnx.jsonl" "$out/torch.jsonl" "${coretype[*]:-}" <<'PY'
import json, sys
ours = {r["batch"]: r for r in map(json.loads, open(sys.argv[1]))}
torch = {r["batch"]: r for r in map(json.loads, open(sys.argv[2]))}
first, peer = next(iter(ours.values())), next(iter(torch.values()))
def rate(r, who=""):  # who: "gpuvit_" or "ort_" in the onnx mode's rows, "" in vit.py's
    key = who + "images_per_s"
    return f'{r[key]:.2f} ({r[key + "_p5"]:.2f}-{r[key + "_p95"]:.2f}, {r[who + "runs"]})'
print(f'ViT-S/16 at 224 on {first["device_name"]}, {first["threads"]} threads each; images/s per forward pass: median (p5-p95, runs)')
print(f'GpuViT and ONNX Runtime {first["onnxruntime"]} alternating in one process; PyTorch {peer["peer"].split()[-1]} '
      f'right after, BLAS {peer["blas"]}{", " + sys.argv[3] if sys.argv[3] else ""}')
print(f'{"batch":>5}  {"GpuViT":<26}  {"ONNX Runtime":<26}  {"PyTorch":<26}  {"/ORT":>5}  {"/PyTorch":>8}')
for b in sorted(ours):
    o, t = ours[b], torch[b]
    print(f'{b:>5}  {rate(o, "gpuvit_"):<26}  {rate(o, "ort_"):<26}  {rate(t):<26}  '
          f'{o["ratio"]:>5.2f}  {o["gpuvit_images_per_s"] / t["images_per_s"]:>8.2f}')
PY
