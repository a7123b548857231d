using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using GpuViT.Kernels.Cpu;

namespace GpuViT.Bench;

/// <summary>
/// The cpu backend's GEMM, Y = X·Wᵀ (a Linear layer), at ViT-S/16 batch-8 and batch-1 (at 128:
/// 65 tokens) shapes and 1024³: the packed micro-kernel GEMM, the same with W packed once before
/// (as a loaded model runs it), the naive one (one dot product per output) and OpenBLAS's sgemm
/// in the same process, all on every core. Cases run shape by shape, so the
/// three versions of a shape are measured close together in time.
/// </summary>
[Config(typeof(Config))]
public unsafe class CpuGemmBenchmarks
{
    private float* _x, _w, _y;
    private PackedGemmWeight? _packed;

    /// <summary>tokens × in → out: 8·197 tokens of ViT-S (D = 384): qkv, fc1, fc2; 65 tokens (batch 1 at 128): the same; then a cube; then one token.</summary>
    public static IEnumerable<GemmShape> Shapes() =>
    [
        new(1576, 384, 1152), new(1576, 384, 1536), new(1576, 1536, 384),
        new(65, 384, 1152), new(65, 384, 1536), new(65, 1536, 384),
        new(1024, 1024, 1024), new(1, 384, 1536),
    ];

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = new(1, 1, 1);

    [GlobalSetup]
    public void Setup()
    {
        _x = NativeNoise.Allocate((long)Shape.M * Shape.K, new Random(1));
        _w = NativeNoise.Allocate((long)Shape.N * Shape.K, new Random(1));
        _y = NativeNoise.Allocate((long)Shape.M * Shape.N, new Random(1));
        _packed = CpuGemm.PackWeight(Shape.N, Shape.K, new ReadOnlySpan<float>(_w, Shape.N * Shape.K));
        if (OpenBlas.IsAvailable)
        {
            OpenBlas.SetThreads(Environment.ProcessorCount);
            Console.WriteLine($"// OpenBLAS core: {OpenBlas.CoreName}, {Environment.ProcessorCount} threads");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_x);
        NativeMemory.AlignedFree(_w);
        NativeMemory.AlignedFree(_y);
        _packed?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void OpenBlasSgemm()
    {
        if (!OpenBlas.IsAvailable)
        {
            throw new InvalidOperationException("libopenblas.so.0 not found (Debian: apt-get install libopenblas0-pthread).");
        }

        OpenBlas.LinearGemm(Shape.M, Shape.N, Shape.K, _x, _w, _y);
    }

    [Benchmark]
    public void Gemm() => CpuGemm.Gemm(Shape.M, Shape.N, Shape.K, _x, Shape.K, _w, Shape.K, null, null, 0, _y, Shape.N);

    [Benchmark]
    public void GemmPrepacked() => CpuGemm.Gemm(Shape.M, _x, Shape.K, _packed!, null, null, 0, _y, Shape.N);

    [Benchmark]
    public void GemmNaive() => CpuGemm.GemmNaive(Shape.M, Shape.N, Shape.K, _x, Shape.K, _w, Shape.K, null, null, 0, _y, Shape.N);


    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(5).WithIterationCount(20));
            AddColumn(RateColumn.Gflops(
                benchmarkCase => ((GemmShape)benchmarkCase.Parameters["Shape"]).Flops,
                "2·M·N·K floating-point operations per second, in billions"));
            WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
        }
    }
}

/// <summary>A Linear layer's GEMM: M tokens × K inputs → N outputs.</summary>
public sealed record GemmShape(int M, int K, int N)
{
    public double Flops => 2.0 * M * N * K;

    public override string ToString() => $"{M}x{K}->{N}";
}
