using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// The cpu backend's peaks: FMA throughput on every core at the widest vectors the JIT accelerates
/// (the ones CpuGemm runs), and copy bandwidth through memory. Each is the best of
/// <see cref="DeviceProbe.Samples"/> short runs of about <see cref="DeviceProbe.Sample"/> after a
/// warm-up: on a shared CPU a run only ever loses time to other processes, and several short
/// runs find a quiet moment more often than a few long ones.
/// </summary>
internal static class CpuProbe
{
    public static DevicePeaks Measure() => DevicePeaks.Probed(Fp32(), Bandwidth(), driverCopyGbps: null);

    /// <summary>The vector width the FMA probe runs: 512 bits where the JIT accelerates them (as CpuGemm's wide micro-kernel does), else 256.</summary>
    internal static int FmaLanes => Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;

    private static double Fp32()
    {
        int cores = Environment.ProcessorCount;
        bool wide = Vector512.IsHardwareAccelerated;
        int accumulators = wide ? 12 : 8;
        Func<long, float> fma = wide ? Fma512 : Fma256;
        double Run(long iterations) => Timed(() =>
            Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, _ => fma(iterations)));

        // Compiles the loop fully and wakes the pool's threads; then sizes a run to last a sample.
        long iterations = 1_000_000;
        Run(iterations); // warm-up
        double seconds = Run(iterations);
        iterations = (long)Math.Clamp(iterations * DeviceProbe.Sample.TotalSeconds / Math.Max(seconds, 1e-6), 100_000, 1_000_000_000);
        double best = Best(() => Run(iterations));

        // accumulators × lanes × (multiply + add) per iteration.
        return (double)cores * iterations * accumulators * FmaLanes * 2 / best / 1e9;
    }

    private static double Best(Func<double> run)
    {
        double best = double.MaxValue;
        for (int sample = 0; sample < DeviceProbe.Samples; sample++)
        {
            best = Math.Min(best, run());
        }

        return best;
    }

    private static double Timed(Action run)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
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

    /// <summary>
    /// A parallel copy of 256 MiB, far past the caches: bytes read plus bytes written per second.
    /// One copy is a sample (about 10–30 ms on a server's cores).
    /// </summary>
    private static double Bandwidth()
    {
        const int Elements = 64 << 20;
        float[] source = GC.AllocateUninitializedArray<float>(Elements);
        float[] destination = GC.AllocateUninitializedArray<float>(Elements);
        source.AsSpan().Fill(1f);
        destination.AsSpan().Clear();
        int cores = Environment.ProcessorCount;
        int chunk = Elements / cores;
        double Run() => Timed(() => Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, i =>
            source.AsSpan(i * chunk, chunk).CopyTo(destination.AsSpan(i * chunk, chunk))));

        Run();
        return 2.0 * Elements * sizeof(float) / Best(Run) / 1e9;
    }
}
