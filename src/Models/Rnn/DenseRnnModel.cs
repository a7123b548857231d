using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Models.Rnn;

/// <summary>The dense whole-image RNN on a device: its weights uploaded once, T step launches and a readout per forward pass.</summary>
public sealed class DenseRnnModel : IDisposable
{
    private readonly DeviceBuffer<float>[] _weights;
    private readonly List<DeviceBuffer<float>> _state = [];
    private int _stateBatch;
    private int _stepsBatch;

    private DenseRnnModel(Device device, DenseRnnConfig config, RnnOps ops, DeviceBuffer<float>[] weights)
    {
        Device = device;
        Config = config;
        Ops = ops;
        _weights = weights;
    }

    public Device Device { get; }

    public DenseRnnConfig Config { get; }

    /// <summary>The ops it launches, with their counts (steps, weight elements read) for accounting.</summary>
    public RnnOps Ops { get; }

    /// <summary>Bytes of the weight buffers on the device.</summary>
    public long WeightBytes => _weights.Sum(b => b.Bytes);

    /// <summary>
    /// Validates the config and checks that weights and buffers for <paramref name="batch"/> images
    /// fit the device (a <see cref="DenseRnnConfigException"/> saying how much is needed) before
    /// allocating anything. <paramref name="kernels"/> picks the kernel version on devices that
    /// launch kernels (the benchmark compares them); the cpu backend has one.
    /// </summary>
    public static DenseRnnModel Load(Device device, DenseRnnConfig config, DenseRnnWeights weights, int batch = 1,
        RnnKernelVersion kernels = RnnKernelVersion.Streaming)
    {
        config.Validate();
        config.RequireFits(device.Info, batch);
        weights.Check(config);
        var buffers = new List<DeviceBuffer<float>>();
        try
        {
            foreach (float[] tensor in new[] { weights.InputWeights, weights.RecurrentWeights, weights.Bias, weights.ReadoutWeights, weights.ReadoutBias })
            {
                buffers.Add(device.Upload<float>(tensor));
            }
        }
        catch
        {
            buffers.ForEach(b => b.Dispose());
            throw;
        }

        return new DenseRnnModel(device, config, RnnOps.For(device, kernels), [.. buffers]);
    }

    /// <summary>Logits [batch][classes] for images [batch][3][H][W], through host memory.</summary>
    public float[] Forward(ReadOnlySpan<float> images, int batch)
    {
        using DeviceBuffer<float> input = Device.Upload(images);
        using DeviceBuffer<float> logits = Device.Allocate<float>((long)batch * Config.Classes);
        Forward(input, logits, batch);
        return logits.ToArray();
    }

    /// <summary>
    /// Queues the forward pass on <paramref name="stream"/> (the default stream when null): images
    /// [batch][3][H][W] on this device → logits [batch][classes]. Read the logits after the stream.
    /// Cancelled, it stops before the next step (<see cref="OperationCanceledException"/>).
    /// </summary>
    public void Forward(DeviceView<float> images, DeviceView<float> logits, int batch, DeviceStream? stream = null, CancellationToken cancel = default)
    {
        RunSteps(images, batch, stream, cancel);
        RunReadout(logits, batch, stream);
    }

    /// <summary>The T recurrent steps alone, from h₀ = 0 to the final state (what the bench times as the step's bandwidth).</summary>
    public void RunSteps(DeviceView<float> images, int batch, DeviceStream? stream = null, CancellationToken cancel = default)
    {
        if (batch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 1");
        }

        EnsureState(batch);
        var shape = new RnnStepShape(batch, Config.Channels, Config.ImageSize, Config.ImageSize, Config.Kernel, Config.Shared, Config.Activation == RnnActivation.Relu);
        DeviceBuffer<float> state = _state[0];  // h₀ = 0
        for (int t = 0; t < Config.Steps; t++)
        {
            cancel.ThrowIfCancellationRequested();
            DeviceBuffer<float> next = _state[1 + t % 2];
            Ops.Step(shape, images, state, _weights[0], _weights[1], _weights[2], next, stream);
            state = next;
        }

        _stepsBatch = batch;
    }

    /// <summary>The readout alone, from the final state of the last <see cref="RunSteps"/> of <paramref name="batch"/> images.</summary>
    public void RunReadout(DeviceView<float> logits, int batch, DeviceStream? stream = null)
    {
        if (_stepsBatch != batch)
        {
            throw new InvalidOperationException($"the readout of {batch} images needs the steps of {batch} images first (the last steps ran {_stepsBatch})");
        }

        DeviceBuffer<float> final = _state[1 + (Config.Steps - 1) % 2];
        Ops.Readout(final, _weights[3], _weights[4], logits, batch, Config.Channels, Config.Positions, Config.Classes, Config.Readout == RnnReadout.Pooled, stream);
    }

    private void EnsureState(int batch)
    {
        // Kept for the largest batch so far: a stream's short last micro-batch reuses them.
        if (_stateBatch >= batch)
        {
            return;
        }

        // Passes queued on any stream may still read the smaller buffers.
        Device.Synchronize();
        DisposeState();
        long elements = batch * Config.Units;
        _state.Add(Device.Upload<float>(new float[elements]));
        _state.Add(Device.Allocate<float>(elements));
        _state.Add(Device.Allocate<float>(elements));
        _stateBatch = batch;
    }

    private void DisposeState()
    {
        _state.ForEach(b => b.Dispose());
        _state.Clear();
        _stateBatch = 0;
        _stepsBatch = 0;
    }

    public void Dispose()
    {
        DisposeState();
        Ops.Dispose();
        foreach (DeviceBuffer<float> buffer in _weights)
        {
            buffer.Dispose();
        }
    }
}
