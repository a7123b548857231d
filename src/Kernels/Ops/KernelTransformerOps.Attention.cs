using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.LaunchGrid;
using AttentionKernels = GpuViT.Kernels.Library.Attention;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;
using TensorCoreKernels = GpuViT.Kernels.Library.TensorCoreAttention;

namespace GpuViT.Kernels.Ops;

public sealed partial class KernelTransformerOps
{
    /// <summary>
    /// Fused in <see cref="Precision.Tf32"/>, <see cref="Precision.Bf16"/> or <see cref="Precision.Fp16"/>
    /// with headSize 64 or 128: one launch of that precision's tensor-core kernel
    /// (<see cref="TensorCoreKernels"/>: Q·Kᵀ and P·V on MMA, softmax in fp32). Every other call
    /// computes in fp32 whatever the precision (other head sizes, and the unfused path, have no
    /// tensor-core kernel): fused, one <see cref="AttentionKernels.AttentionFused"/> launch; unfused, as docs/ops.md has
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
        if (fused && TensorCoreKernelFor(headSize) is { } tensorCore)
        {
            Device.Launch(
                tensorCore,
                Int3.Size(Groups(tokens, TensorCoreKernels.QueryBlock), heads, batch),
                Int3.Size(TensorCoreKernels.Threads),
                stream,
                qkv, output, tokens, heads, scale);
            return;
        }

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

    /// <summary>The fused tensor-core kernel for this ops' precision and <paramref name="headSize"/>, or null (fp32, or a head size without one).</summary>
    private KernelDescriptor? TensorCoreKernelFor(int headSize) => (Precision, headSize) switch
    {
        (Precision.Tf32, 64) => Catalog.AttentionMmaTf32Head64,
        (Precision.Tf32, 128) => Catalog.AttentionMmaTf32Head128,
        (Precision.Bf16, 64) => Catalog.AttentionMmaBf16Head64,
        (Precision.Bf16, 128) => Catalog.AttentionMmaBf16Head128,
        (Precision.Fp16, 64) => Catalog.AttentionMmaF16Head64,
        (Precision.Fp16, 128) => Catalog.AttentionMmaF16Head128,
        _ => null,
    };

    /// <summary>The view without its first <paramref name="count"/> elements.</summary>
    private static DeviceView<float> Skip(DeviceView<float> view, long count) => new(view.Buffer, view.Offset + count, view.Length - count);
}
