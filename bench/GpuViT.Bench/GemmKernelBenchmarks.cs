using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using GpuViT.Kernels.OpenCL;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Bench;

/// <summary>
/// The three GEMM kernels (naive, tiled, register-blocked) through KernelTransformerOps.Gemm with a bias,
/// as `gpuvit bench --op gemm` runs them, on the first OpenCL device: the ViT-S/16 batch-8
/// linear layers (qkv 384 → 1152, fc1 384 → 1536, fc2 1536 → 384 over 1576 tokens) and 1024³.
/// Buffers stay on the device; an iteration is one launch and a wait for it.
/// </summary>
[Config(typeof(Config))]
public class GemmKernelBenchmarks
{
    private OpenCLDevice _device = null!;
    private KernelTransformerOps _ops = null!;
    private DeviceBuffer<float> _x = null!, _w = null!, _bias = null!, _y = null!;
    private int _m, _n, _k;

    /// <summary>Sizes as `gpuvit bench --shape` takes them.</summary>
    [Params("m=1576,k=384,n=1152", "m=1576,k=384,n=1536", "m=1576,k=1536,n=384", "m=1024,k=1024,n=1024")]
    public string Shape { get; set; } = "";

    [ParamsAllValues]
    public GemmVersion Version { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_m, _n, _k) = Parse(Shape);
        _device = OpenCLDevice.Open(0, 0, KernelCache.Default);
        _ops = new KernelTransformerOps(_device, Version, Version.Precision());
        _x = Upload((long)_m * _k, 1);
        _w = Upload((long)_n * _k, 2);
        _bias = Upload(_n, 3);
        _y = _device.Allocate<float>((long)_m * _n);

        // Builds the kernel (or loads it from the cache) outside the measurement.
        Run();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ops.Dispose();
        _device.Dispose();
    }

    [Benchmark]
    public void Gemm() => Run();

    private void Run()
    {
        _ops.Gemm(_x, _w, _bias, null, _y, _m, _n, _k);
        _device.Synchronize();
    }

    private DeviceBuffer<float> Upload(long length, int seed)
    {
        var random = new Random(seed);
        return _device.Upload<float>(Enumerable.Range(0, checked((int)length)).Select(_ => (float)random.NextDouble() - 0.5f).ToArray());
    }

    private static (int M, int N, int K) Parse(string shape)
    {
        Dictionary<string, int> sizes = shape.Split(',')
            .Select(pair => pair.Split('='))
            .ToDictionary(parts => parts[0], parts => int.Parse(parts[1], CultureInfo.InvariantCulture));
        return (sizes["m"], sizes["n"], sizes["k"]);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            // A naive 1024³ run takes about half a second on PoCL: a short job keeps the whole set to minutes.
            AddJob(Job.ShortRun);
            AddColumn(RateColumn.Gflops(
                benchmarkCase =>
                {
                    (int m, int n, int k) = Parse((string)benchmarkCase.Parameters["Shape"]);
                    return 2.0 * m * n * k;
                },
                "2·m·n·k floating-point operations per second, in billions"));
        }
    }
}
