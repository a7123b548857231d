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

    /// <summary>destination[i] = source[i]: 8 bytes moved per element.</summary>
    [Kernel]
    public static void ProbeCopy(KernelThread thread, ReadOnlyView<float> source, ReadWriteView<float> destination, int n)
    {
        int i = thread.Global.X;
        if (i < n)
        {
            destination[i] = source[i];
        }
    }
}
