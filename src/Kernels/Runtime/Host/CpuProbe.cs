using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuViT.Kernels.Runtime.Host;

/// <summary>
/// The cpu backend's peaks: FMA throughput on every core at the widest vectors the JIT accelerates
/// (the ones CpuGemm runs), and copy bandwidth through memory.
/// </summary>
internal static class CpuProbe
{
    public static DevicePeaks Measure() => new(Fp32(), Bandwidth(), PeakSource.Probe);

    /// <summary>The vector width the FMA probe runs: 512 bits where the JIT accelerates them (as CpuGemm's wide micro-kernel does), else 256.</summary>
    internal static int FmaLanes => Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;

    private static double Fp32()
    {
        int cores = Environment.ProcessorCount;
        const long Iterations = 20_000_000;
        bool wide = Vector512.IsHardwareAccelerated;
        int accumulators = wide ? 12 : 8;
        Func<long, float> fma = wide ? Fma512 : Fma256;
        fma(1000); // compile the loop fully before timing
        double best = double.MaxValue;
        for (int run = 0; run < 3; run++)
        {
            long start = Stopwatch.GetTimestamp();
            Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, _ => fma(Iterations));
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        // accumulators × lanes × (multiply + add) per iteration.
        return (double)cores * Iterations * accumulators * FmaLanes * 2 / best / 1e9;
    }

    /// <summary>
    /// Twelve independent 512-bit FMA chains: two FMA units of latency 4 need 8 in flight, and
    /// 12 leave room for a longer latency (or a third unit) without the chains limiting the rate.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma512(long iterations)
    {
        Vector512<float> m = Vector512.Create(0.9999f), c = Vector512.Create(0.0001f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = Vector512.Create(1.1f), a2 = Vector512.Create(1.2f), a3 = Vector512.Create(1.3f);
        Vector512<float> a4 = Vector512.Create(1.4f), a5 = Vector512.Create(1.5f), a6 = Vector512.Create(1.6f), a7 = Vector512.Create(1.7f);
        Vector512<float> a8 = Vector512.Create(1.8f), a9 = Vector512.Create(1.9f), a10 = Vector512.Create(2.0f), a11 = Vector512.Create(2.1f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c);
            a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c);
            a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c);
            a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c);
            a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c);
            a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c);
            a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }

        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    /// <summary>Eight independent 256-bit FMA chains, enough to cover the FMA latency of two units.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma256(long iterations)
    {
        Vector256<float> m = Vector256.Create(0.9999f), c = Vector256.Create(0.0001f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = Vector256.Create(1.1f), a2 = Vector256.Create(1.2f), a3 = Vector256.Create(1.3f);
        Vector256<float> a4 = Vector256.Create(1.4f), a5 = Vector256.Create(1.5f), a6 = Vector256.Create(1.6f), a7 = Vector256.Create(1.7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c);
            a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c);
            a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c);
            a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c);
            a7 = Vector256.FusedMultiplyAdd(a7, m, c);
        }

        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    /// <summary>A parallel copy of 256 MiB, far past the caches: bytes read plus bytes written per second.</summary>
    private static double Bandwidth()
    {
        const int Elements = 64 << 20;
        float[] source = GC.AllocateUninitializedArray<float>(Elements);
        float[] destination = GC.AllocateUninitializedArray<float>(Elements);
        source.AsSpan().Fill(1f);
        destination.AsSpan().Clear();
        int cores = Environment.ProcessorCount;
        int chunk = Elements / cores;
        double best = double.MaxValue;
        for (int run = 0; run < 4; run++)
        {
            long start = Stopwatch.GetTimestamp();
            Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, i =>
                source.AsSpan(i * chunk, chunk).CopyTo(destination.AsSpan(i * chunk, chunk)));
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        return 2.0 * Elements * sizeof(float) / best / 1e9;
    }
}
