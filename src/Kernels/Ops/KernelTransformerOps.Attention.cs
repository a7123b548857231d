using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.LaunchGrid;
using AttentionKernels = GpuViT.Kernels.Library.Attention;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Kernels.Ops;

public sealed partial class KernelTransformerOps
{
    /// <summary>
    /// Fused: one <see cref="AttentionKernels.AttentionFused"/> launch. Unfused, as docs/ops.md has
    /// it: BatchedGemm (scale·Q·Kᵀ per head) into a scratch buffer this object keeps (so concurrent
    /// unfused calls on different streams must not share one KernelTransformerOps), Softmax into
    /// probabilities beside the scores, BatchedGemm (P·V) into the output.
    /// </summary>
    private protected override void AttentionCore(
        DeviceView<float> qkv, DeviceView<float> output, int batch, int tokens, int heads, int headSize, bool fused, DeviceStream? stream)
    {
        if (headSize > AttentionKernels.MaxHeadSize)
        {
            throw new ArgumentException(
                $"headSize {headSize} is larger than the {AttentionKernels.MaxHeadSize} the attention kernels' shared tiles hold", nameof(headSize));
        }

        long scoreCount = (long)batch * heads * tokens * tokens;
        if (!fused && scoreCount > int.MaxValue)
        {
            throw new ArgumentException(
                $"the unfused path's scores [batch={batch}, heads={heads}, tokens={tokens}, tokens] are past the int indices the kernels use; use the fused path");
        }

        if (batch == 0 || tokens == 0)
        {
            return;
        }

        float scale = 1f / MathF.Sqrt(headSize);
        if (fused)
        {
            Device.Launch(
                Catalog.AttentionFused,
                Int3.Size(Groups(tokens, AttentionKernels.QueryBlock), heads, batch),
                Int3.Size(AttentionKernels.KeyBlock, AttentionKernels.QueryBlock),
                stream,
                qkv, output, tokens, heads, headSize, scale);
            return;
        }

        // Scores and probabilities side by side in one scratch buffer: softmax reads one and
        // writes the other, so nothing depends on how a backend treats a view passed twice.
        DeviceBuffer<float> scratch = _attentionScores.AtLeast(2 * scoreCount, stream);
        DeviceView<float> scores = scratch.View(0, scoreCount), probabilities = scratch.View(scoreCount, scoreCount);

        // Each (image, head) block found by strides: q, k and v where they lie in the qkv rows, the
        // scores as [tokens, tokens] blocks, the output with the heads side by side.
        int dim = heads * headSize;
        var qkvStrides = new BlockStrides(tokens * 3 * dim, headSize, 3 * dim);
        var scoreStrides = new BlockStrides(heads * tokens * tokens, tokens * tokens, tokens);
        BatchedGemm(
            qkv, qkvStrides, Skip(qkv, dim), qkvStrides, scores, scoreStrides,
            batch, heads, tokens, tokens, headSize, transposeB: true, scale, stream);
        Softmax(scores, probabilities, batch * heads * tokens, tokens, stream);
        BatchedGemm(
            probabilities, scoreStrides, Skip(qkv, 2 * dim), qkvStrides, output, new BlockStrides(tokens * dim, headSize, dim),
            batch, heads, tokens, headSize, tokens, transposeB: false, 1f, stream);
    }

    /// <summary>The view without its first <paramref name="count"/> elements.</summary>
    private static DeviceView<float> Skip(DeviceView<float> view, long count) => new(view.Buffer, view.Offset + count, view.Length - count);
}
