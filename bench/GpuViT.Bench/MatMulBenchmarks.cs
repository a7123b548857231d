using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuViT.Kernels;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime.OpenCL;
using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Bench;

/// <summary>
/// MatMulNaive (one dot product per output) against MatMulTiled (16×16 tiles in shared memory)
/// on the first OpenCL device. Each launch still creates, uploads and reads back its buffers
/// (the device runtime with resident buffers is the next issue), so absolute GFLOP/s understate
/// the kernels; the ratio between the two versions is the point.
/// </summary>
[Config(typeof(Config))]
public class MatMulBenchmarks
{
    private OpenCLContext _context = null!;
    private float[] _a = [], _b = [], _c = [];

    [Params(256)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _context = OpenCLContext.Create();
        var random = new Random(1);
        _a = Enumerable.Range(0, Size * Size).Select(_ => (float)random.NextDouble()).ToArray();
        _b = Enumerable.Range(0, Size * Size).Select(_ => (float)random.NextDouble()).ToArray();
        _c = new float[Size * Size];
        _context.Build(K.MatMulNaive);
        _context.Build(K.MatMulTiled);
    }

    [GlobalCleanup]
    public void Cleanup() => _context.Dispose();

    [Benchmark(Baseline = true)]
    public void Naive() => Launch(K.MatMulNaive);

    [Benchmark]
    public void Tiled() => Launch(K.MatMulTiled);

    private void Launch(KernelDescriptor kernel)
    {
        int groups = (Size + MatMul.Tile - 1) / MatMul.Tile;
        _context.Launch(kernel, Int3.Size(groups, groups), Int3.Size(MatMul.Tile, MatMul.Tile), _a, _b, _c, Size, Size, Size);
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GflopsColumn(
            benchmarkCase => 2.0 * Math.Pow((int)benchmarkCase.Parameters["Size"], 3),
            "2·Size³ floating-point operations per second, in billions"));
    }
}
