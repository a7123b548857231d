using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using GpuViT.Kernels.OpenCL;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Rnn;

namespace GpuViT.Bench;

/// <summary>
/// The dense RNN's two kernel versions side by side on the first OpenCL device: the first
/// (a step with a branch per tap and images in the grid, a readout of one thread per class) and
/// the streaming one (one pass over the weights per batch, readouts as group reductions). The
/// four steps and the readout of a forward pass are timed apart; buffers stay on the device,
/// and an iteration is the launches and a wait for them. `./gpuvit bench --model dense-rnn
/// --rnn-kernels per-thread|streaming` measures the same on any device, cuda included.
/// </summary>
[Config(typeof(Config))]
public class RnnKernelBenchmarks
{
    private OpenCLDevice _device = null!;
    private DenseRnnModel _model = null!;
    private DeviceBuffer<float> _images = null!, _logits = null!;

    [Params(64, 128)]
    public int ImageSize { get; set; }

    [Params(1, 8)]
    public int Batch { get; set; }

    [ParamsAllValues]
    public RnnKernelVersion Version { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = new DenseRnnConfig(ImageSize);
        _device = OpenCLDevice.Open(0, 0, KernelCache.Default);
        _model = DenseRnnModel.Load(_device, config, DenseRnnWeights.RandomInit(config, seed: 0), Batch, Version);
        var random = new Random(1);
        _images = _device.Upload<float>(Enumerable.Range(0, Batch * DenseRnnConfig.InputChannels * config.Positions).Select(_ => (float)random.NextDouble()).ToArray());
        _logits = _device.Allocate<float>((long)Batch * config.Classes);

        // Builds the kernels (or loads them from the cache) and leaves a final state for the readout.
        _model.Forward(_images, _logits, Batch);
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _images.Dispose();
        _logits.Dispose();
        _model.Dispose();
        _device.Dispose();
    }

    [Benchmark]
    public void Steps()
    {
        _model.RunSteps(_images, Batch);
        _device.Synchronize();
    }

    [Benchmark]
    public void Readout()
    {
        _model.RunReadout(_logits, Batch);
        _device.Synchronize();
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun);
    }
}
