using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Bench;

/// <summary>
/// LayerNorm, softmax and GELU through TransformerOps on the cpu backend and on the first
/// OpenCL device, at ViT-S/16 shapes for a batch of 8 images at 224: 1576 tokens of width 384
/// (layernorm), 8·6 heads of 197×197 attention scores (softmax), the 1576×1536 MLP hidden
/// layer (GELU). These ops are bound by memory, not arithmetic, so GB/s is the column to read.
/// An iteration is one op and a wait for it; the buffers stay on the device.
/// </summary>
[Config(typeof(Config))]
public class ElementwiseBenchmarks
{
    private const int Tokens = 8 * 197, Width = 384, Hidden = 4 * Width;
    private const int ScoreRows = 8 * 6 * 197, ScoreCols = 197;

    /// <summary>FLOPs and bytes moved per run of each benchmark, by method name (the models of `gpuvit bench`).</summary>
    private static readonly Dictionary<string, (double Flops, double Bytes)> Work = new()
    {
        [nameof(LayerNorm)] = (8.0 * Tokens * Width, 4.0 * (2.0 * Tokens * Width + 2 * Width)),
        [nameof(Softmax)] = (5.0 * ScoreRows * ScoreCols, 8.0 * ScoreRows * ScoreCols),
        [nameof(Gelu)] = (8.0 * Tokens * Hidden, 8.0 * Tokens * Hidden),
        [nameof(GeluTanh)] = (8.0 * Tokens * Hidden, 8.0 * Tokens * Hidden),
    };

    private Device _device = null!;
    private TransformerOps _ops = null!;
    private DeviceBuffer<float> _x = null!, _y = null!, _gamma = null!, _beta = null!;

    [Params("cpu", "opencl")]
    public string Device { get; set; } = "cpu";

    [GlobalSetup]
    public void Setup()
    {
        _device = Devices.Open(Device).Device;
        _ops = TransformerOps.For(_device);
        int largest = Math.Max(Tokens * Hidden, ScoreRows * ScoreCols);
        var random = new Random(1);
        _x = _device.Upload<float>(Enumerable.Range(0, largest).Select(_ => (float)random.NextDouble() * 8f - 4f).ToArray());
        _y = _device.Allocate<float>(largest);
        _gamma = _device.Upload<float>(Enumerable.Range(0, Width).Select(_ => (float)random.NextDouble()).ToArray());
        _beta = _device.Upload<float>(Enumerable.Range(0, Width).Select(_ => (float)random.NextDouble()).ToArray());

        // Builds the kernels (or loads them from the cache) before anything is timed.
        LayerNorm();
        Softmax();
        Gelu();
        GeluTanh();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        (_ops as IDisposable)?.Dispose();
        _device.Dispose();
    }

    [Benchmark]
    public void LayerNorm()
    {
        _ops.LayerNorm(_x, _gamma, _beta, _y, Tokens, Width, 1e-6f);
        _device.Synchronize();
    }

    [Benchmark]
    public void Softmax()
    {
        _ops.Softmax(_x, _y, ScoreRows, ScoreCols);
        _device.Synchronize();
    }

    [Benchmark]
    public void Gelu()
    {
        _ops.Gelu(_x, _y, Tokens * Hidden, Activation.Gelu);
        _device.Synchronize();
    }

    [Benchmark]
    public void GeluTanh()
    {
        _ops.Gelu(_x, _y, Tokens * Hidden, Activation.GeluTanh);
        _device.Synchronize();
    }

    private static (double Flops, double Bytes)? WorkOf(BenchmarkDotNet.Running.BenchmarkCase c) =>
        Work.TryGetValue(c.Descriptor.WorkloadMethod.Name, out var work) ? work : null;

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new RateColumn("GFLOP/s", "floating-point operations per second, in billions (GELU counted as 8 per element)", c => WorkOf(c)?.Flops));
            AddColumn(new RateColumn("GB/s", "bytes read and written per second, in billions (each input and output once)", c => WorkOf(c)?.Bytes));
        }
    }
}
