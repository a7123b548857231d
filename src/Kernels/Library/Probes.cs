namespace GpuViT.Kernels.Library;

/// <summary>
/// The kernels `gpuvit devices --probe` times to measure a device's peaks: one bound by
/// arithmetic, one by memory bandwidth.
/// </summary>
public static class Probes
{
    /// <summary>FLOPs per thread per iteration of <see cref="ProbeFma"/>: 8 chains × (multiply + add).</summary>
    public const int FlopsPerIteration = 16;

    /// <summary>
    /// Eight independent FMA chains per thread, so the FMA units' latency is hidden; the sum is
    /// written so that the compiler keeps the work.
    /// </summary>
    [Kernel]
    public static void ProbeFma(KernelThread thread, ReadWriteView<float> output, int iterations, float seed)
    {
        int i = thread.Global.X;
        float a0 = seed + (float)i * 1e-6f;
        float a1 = a0 + 0.1f;
        float a2 = a0 + 0.2f;
        float a3 = a0 + 0.3f;
        float a4 = a0 + 0.4f;
        float a5 = a0 + 0.5f;
        float a6 = a0 + 0.6f;
        float a7 = a0 + 0.7f;
        for (int k = 0; k < iterations; k++)
        {
            a0 = KernelMath.Fma(a0, 0.9999f, 0.0001f);
            a1 = KernelMath.Fma(a1, 0.9999f, 0.0001f);
            a2 = KernelMath.Fma(a2, 0.9999f, 0.0001f);
            a3 = KernelMath.Fma(a3, 0.9999f, 0.0001f);
            a4 = KernelMath.Fma(a4, 0.9999f, 0.0001f);
            a5 = KernelMath.Fma(a5, 0.9999f, 0.0001f);
            a6 = KernelMath.Fma(a6, 0.9999f, 0.0001f);
            a7 = KernelMath.Fma(a7, 0.9999f, 0.0001f);
        }

        output[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    }

    /// <summary>Elements each thread of <see cref="ProbeCopy"/> moves per block: its loads in flight at once.</summary>
    public const int CopyElementsPerThread = 8;

    /// <summary>The group size <see cref="ProbeCopy"/> is written for; other sizes copy correctly, one element per thread at a time.</summary>
    public const int CopyGroupSize = 256;

    /// <summary>Elements one group of <see cref="ProbeCopy"/> moves per block.</summary>
    public const int CopyBlock = CopyElementsPerThread * CopyGroupSize;

    /// <summary>
    /// destination[i] = source[i] for i &lt; n (8 bytes moved per element), for any grid. Each
    /// group moves blocks of <see cref="CopyBlock"/> elements, block after block a grid apart; in
    /// a block each thread moves eight elements a group apart, so each warp reads and writes 32
    /// contiguous floats at a time (coalesced) and a group's block is one contiguous range (what a
    /// CPU device's caches and vectorizer want). All loads come before the stores (the compiler
    /// may not reorder them, since the buffers might alias), so eight loads per thread are in
    /// flight: one per thread is too few to cover memory latency at full bandwidth. The stride in
    /// a block is a constant, not the group size read at run time: PoCL vectorizes the loop only
    /// then (12 GB/s against 4 here).
    /// </summary>
    [Kernel]
    public static void ProbeCopy(KernelThread thread, ReadOnlyView<float> source, ReadWriteView<float> destination, int n)
    {
        int blocks = thread.GroupSize.X == CopyGroupSize ? n / CopyBlock : 0;
        for (int b = thread.Group.X; b < blocks; b += thread.GroupCount.X)
        {
            int i = b * CopyBlock + thread.Local.X;
            float v0 = source[i];
            float v1 = source[i + CopyGroupSize];
            float v2 = source[i + 2 * CopyGroupSize];
            float v3 = source[i + 3 * CopyGroupSize];
            float v4 = source[i + 4 * CopyGroupSize];
            float v5 = source[i + 5 * CopyGroupSize];
            float v6 = source[i + 6 * CopyGroupSize];
            float v7 = source[i + 7 * CopyGroupSize];
            destination[i] = v0;
            destination[i + CopyGroupSize] = v1;
            destination[i + 2 * CopyGroupSize] = v2;
            destination[i + 3 * CopyGroupSize] = v3;
            destination[i + 4 * CopyGroupSize] = v4;
            destination[i + 5 * CopyGroupSize] = v5;
            destination[i + 6 * CopyGroupSize] = v6;
            destination[i + 7 * CopyGroupSize] = v7;
        }

        // The rest, less than a block (or everything, for another group size): one element per thread.
        for (int i = blocks * CopyBlock + thread.Global.X; i < n; i += thread.GlobalSize.X)
        {
            destination[i] = source[i];
        }
    }
}
