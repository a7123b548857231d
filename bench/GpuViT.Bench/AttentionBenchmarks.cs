using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuViT.Kernels.OpenCL;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Bench;

/// <summary>
/// Attention fused (one pass, online softmax, no tokens × tokens matrix in memory) against unfused
/// (scores, softmax, P·V through a [batch, heads, tokens, tokens] scratch) at ViT-S/16 shapes: 197
/// tokens, 6 heads of 64, batch 8; on the cpu backend and on the first OpenCL device. Buffers stay
/// on the device and an iteration waits for the device, so GFLOP/s is the op's (4·B·H·T²·d FLOPs).
/// </summary>
[Config(typeof(Config))]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class AttentionBenchmarks
{
    private const int Batch = 8, Tokens = 197, Heads = 6, HeadSize = 64;

    private Device _device = null!;
    private TransformerOps _ops = null!;
    private DeviceBuffer<float> _qkv = null!, _output = null!;

    [Params("cpu", "opencl")]
    public string Backend { get; set; } = "cpu";

    [GlobalSetup]
    public void Setup()
    {
        _device = Backend == "opencl" ? OpenCLDevice.Open(0, 0, KernelCache.Default) : Devices.Open("cpu").Device;
        _ops = TransformerOps.For(_device);
        var random = new Random(1);
        _qkv = _device.Upload<float>(Enumerable.Range(0, Batch * Tokens * 3 * Heads * HeadSize).Select(_ => (float)random.NextDouble() - 0.5f).ToArray());
        _output = _device.Allocate<float>(Batch * Tokens * Heads * HeadSize);

        // Builds the kernels and allocates the unfused scratch outside the timed iterations.
        Fused();
        Unfused();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        (_ops as IDisposable)?.Dispose();
        _device.Dispose();
    }

    [Benchmark]
    public void Fused() => Run(fused: true);

    [Benchmark(Baseline = true)]
    public void Unfused() => Run(fused: false);

    private void Run(bool fused)
    {
        _ops.Attention(_qkv, _output, Batch, Tokens, Heads, HeadSize, fused);
        _device.Synchronize();
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(RateColumn.Gflops(
            _ => 4.0 * Batch * Heads * Tokens * Tokens * HeadSize,
            "4·batch·heads·tokens²·headSize (Q·Kᵀ and P·V, two per multiply-add) per second, in billions"));
    }
}
