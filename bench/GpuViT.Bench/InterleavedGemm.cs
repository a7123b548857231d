using System.Runtime.InteropServices;
using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Bench;

/// <summary>
/// The cpu GEMM against OpenBLAS in one process, alternating in short blocks (<see cref="Interleaving"/>),
/// unlike BenchmarkDotNet's separate processes minutes apart. Prints medians, bests and their ratios.
/// </summary>
internal static unsafe class InterleavedGemm
{
    public static void Run(string[] args)
    {
        int rounds = Option(args, "--rounds", 15);
        double blockSeconds = Option(args, "--block-ms", 200) / 1000.0;
        if (!OpenBlas.IsAvailable)
        {
            Console.Error.WriteLine("libopenblas.so.0 not found (Debian: apt-get install libopenblas0-pthread).");
            return;
        }

        int threads = Environment.ProcessorCount;
        OpenBlas.SetThreads(threads);
        Console.WriteLine($"cpu GEMM micro-kernel {CpuGemm.Current.Name} (Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}); " +
            $"OpenBLAS core {OpenBlas.CoreName}; {threads} threads; {rounds} rounds of {blockSeconds * 1000:F0} ms blocks");
        Console.WriteLine($"{"shape",-16} {"GpuViT",8} {"OpenBLAS",8} {"ratio",6} | {"best",6} {"best",8} {"ratio",6}   GFLOP/s (median of calls | best call)");
        foreach (GemmShape shape in CpuGemmBenchmarks.Shapes())
        {
            float* x = NativeNoise.Allocate((long)shape.M * shape.K, new Random(1)), w = NativeNoise.Allocate((long)shape.N * shape.K, new Random(1)), y = NativeNoise.Allocate((long)shape.M * shape.N, new Random(1));
            Action gemm = () => CpuGemm.Gemm(shape.M, shape.N, shape.K, x, shape.K, w, shape.K, null, null, 0, y, shape.N);
            Action openBlas = () => OpenBlas.LinearGemm(shape.M, shape.N, shape.K, x, w, y);
            (List<double> ours, List<double> theirs) = Interleaving.Run(gemm, openBlas, rounds, blockSeconds, warmSeconds: 0.3);

            double oursMedian = shape.Flops / TimingSpread.Of(ours).Median / 1e9, theirsMedian = shape.Flops / TimingSpread.Of(theirs).Median / 1e9;
            double oursBest = shape.Flops / ours.Min() / 1e9, theirsBest = shape.Flops / theirs.Min() / 1e9;
            Console.WriteLine($"{shape,-16} {oursMedian,8:F1} {theirsMedian,8:F1} {oursMedian / theirsMedian,6:F2} | {oursBest,6:F1} {theirsBest,8:F1} {oursBest / theirsBest,6:F2}");
            NativeMemory.AlignedFree(x);
            NativeMemory.AlignedFree(w);
            NativeMemory.AlignedFree(y);
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1]) : fallback;
    }

}
