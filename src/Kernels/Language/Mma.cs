namespace GpuViT.Kernels;

/// <summary>
/// Tensor-core matrix multiply-accumulate: one warp of 32 threads computes D = A·B + D for a
/// 16 × 8 tile of D, each thread holding a fragment of A, B and D in register arrays with the
/// layouts of PTX's <c>mma.sync.aligned</c> (docs/kernel-language.md, "Tensor-core matrix
/// multiply-accumulate"). CUDA runs the tensor-core instruction (compute capability 8.0 and
/// later); OpenCL and the emulator compute the same tile in software, in one defined order, so
/// those two agree bit for bit. Every thread of the group must reach each call together, and the
/// group must be whole warps.
/// </summary>
/// <remarks>
/// The index arguments let one register array hold many fragments (<c>acc</c> with 4 floats per
/// tile, <c>dIndex = 4 * tile</c>); inside a loop with constant bounds they are constants after
/// unrolling and the fragments stay in registers.
/// </remarks>
public static class Mma
{
    /// <summary>
    /// m16n8k8 in TF32: D (16 × 8, d[dIndex..dIndex+3]) += A (16 × 8, a[aIndex..aIndex+3]) ·
    /// B (8 × 8, b[bIndex], b[bIndex+1]), fp32 accumulation. A and B are rounded to TF32 (10
    /// mantissa bits, to nearest with ties away from zero, as PTX's <c>cvt.rna.tf32.f32</c>) inside
    /// the operation.
    /// </summary>
    public static void M16N8K8Tf32(Span<float> d, int dIndex, Span<float> a, int aIndex, Span<float> b, int bIndex) =>
        MmaFragments.Run(MmaFragments.Tf32, d, dIndex, Bits(a, aIndex, 4, "a", MmaFragments.Tf32.Name), Bits(b, bIndex, 2, "b", MmaFragments.Tf32.Name));

    /// <summary>
    /// m16n8k16 in BF16: D (16 × 8, d[dIndex..dIndex+3]) += A (16 × 16, 8 bf16 values packed in
    /// a[aIndex..aIndex+3]) · B (16 × 8, 4 bf16 values in b[bIndex], b[bIndex+1]), fp32
    /// accumulation. Pack the values with <see cref="PackBf16"/>.
    /// </summary>
    public static void M16N8K16Bf16(Span<float> d, int dIndex, Span<uint> a, int aIndex, Span<uint> b, int bIndex) =>
        MmaFragments.Run(MmaFragments.Bf16, d, dIndex, Words(a, aIndex, 4, "a", MmaFragments.Bf16.Name), Words(b, bIndex, 2, "b", MmaFragments.Bf16.Name));

    /// <summary>
    /// m16n8k16 in FP16: as <see cref="M16N8K16Bf16"/> with IEEE half-precision values packed by
    /// <see cref="PackHalf"/>; fp32 accumulation.
    /// </summary>
    public static void M16N8K16F16(Span<float> d, int dIndex, Span<uint> a, int aIndex, Span<uint> b, int bIndex) =>
        MmaFragments.Run(MmaFragments.F16, d, dIndex, Words(a, aIndex, 4, "a", MmaFragments.F16.Name), Words(b, bIndex, 2, "b", MmaFragments.F16.Name));

    /// <summary>Two floats rounded to bfloat16 (to nearest, ties to even) in one word: <paramref name="low"/> in bits 0-15, <paramref name="high"/> in bits 16-31.</summary>
    public static uint PackBf16(float low, float high) => MmaFragments.Bf16Bits(low) | (MmaFragments.Bf16Bits(high) << 16);

    /// <summary>Two floats rounded to IEEE half precision (to nearest, ties to even) in one word: <paramref name="low"/> in bits 0-15, <paramref name="high"/> in bits 16-31.</summary>
    public static uint PackHalf(float low, float high) => MmaFragments.HalfBits(low) | (MmaFragments.HalfBits(high) << 16);

    private static uint[] Bits(Span<float> fragment, int index, int count, string name, string operation)
    {
        MmaFragments.CheckRange(fragment.Length, index, count, name, operation);
        var words = new uint[count];
        for (int i = 0; i < count; i++)
        {
            words[i] = BitConverter.SingleToUInt32Bits(fragment[index + i]);
        }

        return words;
    }

    private static uint[] Words(Span<uint> fragment, int index, int count, string name, string operation)
    {
        MmaFragments.CheckRange(fragment.Length, index, count, name, operation);
        return fragment.Slice(index, count).ToArray();
    }
}
