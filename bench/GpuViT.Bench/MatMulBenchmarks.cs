using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GpuViT.Kernels;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;
using GpuViT.Kernels.Runtime.OpenCL;
using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Bench;

/// <summary>
/// MatMulNaive (one dot product per output) against MatMulTiled (16×16 tiles in shared memory)
/// on the first OpenCL device. The buffers stay on the device: an iteration is one launch and a
/// wait for it, so the GFLOP/s column is the kernel's (plus one launch's overhead).
/// </summary>
[Config(typeof(Config))]
public class MatMulBenchmarks
{
    private OpenCLDevice _device = null!;
    private DeviceBuffer<float> _a = null!, _b = null!, _c = null!;

    [Params(256)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _device = OpenCLDevice.Open(0, 0, KernelCache.Default);
        var random = new Random(1);
        _a = _device.Upload<float>(Enumerable.Range(0, Size * Size).Select(_ => (float)random.NextDouble()).ToArray());
        _b = _device.Upload<float>(Enumerable.Range(0, Size * Size).Select(_ => (float)random.NextDouble()).ToArray());
        _c = _device.Allocate<float>(Size * Size);
        _device.Prepare(K.MatMulNaive);
        _device.Prepare(K.MatMulTiled);
    }

    [GlobalCleanup]
    public void Cleanup() => _device.Dispose();

    [Benchmark(Baseline = true)]
    public void Naive() => Launch(K.MatMulNaive);

    [Benchmark]
    public void Tiled() => Launch(K.MatMulTiled);

    private void Launch(KernelDescriptor kernel)
    {
        int groups = (Size + MatMul.Tile - 1) / MatMul.Tile;
        _device.Launch(kernel, Int3.Size(groups, groups), Int3.Size(MatMul.Tile, MatMul.Tile), _a, _b, _c, Size, Size, Size);
        _device.Synchronize();
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GflopsColumn());
    }

    /// <summary>2·n³ FLOPs over the mean time.</summary>
    private sealed class GflopsColumn : IColumn
    {
        public string Id => "GFLOP/s";
        public string ColumnName => "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2·Size³ floating-point operations per second, in billions";

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            double? nanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
            int size = (int)benchmarkCase.Parameters["Size"];
            return nanoseconds is > 0 ? (2.0 * size * size * size / nanoseconds.Value).ToString("F2") : "-";
        }
    }
}
