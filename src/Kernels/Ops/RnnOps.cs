using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.OpChecks;

namespace GpuViT.Kernels.Ops;

/// <summary>The sizes of one recurrent step: images, hidden channels, image height and width, kernel size; weights shared or not; φ.</summary>
public readonly record struct RnnStepShape(int Batch, int Channels, int Height, int Width, int Kernel, bool Shared, bool Relu)
{
    public int Positions => Height * Width;

    public int Units => Channels * Positions;

    /// <summary>Taps of one unit: k·k for each of the 3 input and C hidden channels.</summary>
    public int InputTaps => Library.Rnn.InputChannels * Kernel * Kernel;

    public int RecurrentTaps => Channels * Kernel * Kernel;

    /// <summary>Elements of W_in, W_rec and b: per unit unshared, per channel shared.</summary>
    public long InputWeightElements => (long)(Shared ? Channels : Units) * InputTaps;

    public long RecurrentWeightElements => (long)(Shared ? Channels : Units) * RecurrentTaps;

    public long BiasElements => Shared ? Channels : Units;
}

/// <summary>
/// The recurrent net's ops: one step of the state, and the linear readout. Each is checked here,
/// once for every backend, then run by the backend's core. Disposing frees their scratch buffers.
/// </summary>
public abstract class RnnOps : IDisposable
{
    private protected RnnOps(Device device) => Device = device;

    public Device Device { get; }

    /// <summary>Step launches so far, and the weight elements (W_in, W_rec, b) they were given: what a step must read.</summary>
    public RnnOpCounts Counts { get; } = new();

    /// <summary>The recurrent ops for a device: managed on cpu, generated kernels elsewhere (the emulator included).</summary>
    public static RnnOps For(Device device, RnnKernelVersion version = RnnKernelVersion.Streaming) =>
        device.Kind == DeviceKind.Cpu ? new CpuRnnOps(device) : new KernelRnnOps(device, version);

    /// <summary>
    /// next = φ(W_in ⊛ input + W_rec ⊛ state + b); state and next are [batch][C][H][W], input [batch][3][H][W].
    /// Queued on <paramref name="stream"/> (the default stream when null); cpu runs it before returning.
    /// </summary>
    public void Step(RnnStepShape shape, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next, DeviceStream? stream = null)
    {
        if (shape.Batch < 1 || shape.Channels < 1 || shape.Height < 1 || shape.Width < 1 || shape.Kernel < 1 || shape.Kernel % 2 == 0)
        {
            throw new ArgumentException($"bad recurrent step shape {shape}: sizes must be positive and the kernel odd");
        }

        // In long: the shape's own int Units and Positions would wrap before this check saw them.
        long stateElements = (long)shape.Batch * shape.Channels * shape.Height * shape.Width;
        if (stateElements > int.MaxValue || (long)shape.Channels * shape.RecurrentTaps * (shape.Shared ? 1 : (long)shape.Height * shape.Width) > int.MaxValue)
        {
            throw new ArgumentException($"recurrent step {shape} is too large for 32-bit indexing");
        }

        Require(input, (long)shape.Batch * Library.Rnn.InputChannels * shape.Positions, nameof(input));
        Require(state, stateElements, nameof(state));
        Require(inputWeights, shape.InputWeightElements, nameof(inputWeights));
        Require(recurrentWeights, shape.RecurrentWeightElements, nameof(recurrentWeights));
        Require(bias, shape.BiasElements, nameof(bias));
        Require(next, stateElements, nameof(next));
        StepCore(shape, input, state, inputWeights, recurrentWeights, bias, next, stream);
        Counts.Step(shape);
    }

    /// <summary>logits [batch][classes] from the state: pooled over positions ([classes][C] weights) or per unit ([classes][C·H·W]).</summary>
    public void Readout(DeviceView<float> state, DeviceView<float> weights, DeviceView<float> bias, DeviceView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled, DeviceStream? stream = null)
    {
        if (batch < 1 || channels < 1 || positions < 1 || classes < 1)
        {
            throw new ArgumentException(
                $"bad readout shape [batch={batch}, channels={channels}, positions={positions}, classes={classes}]: sizes must be positive");
        }

        long units = (long)channels * positions;
        long stateElements = batch * units, weightElements = classes * (pooled ? channels : units);
        if (stateElements > int.MaxValue || weightElements > int.MaxValue || (long)batch * classes > int.MaxValue)
        {
            throw new ArgumentException(
                $"readout [batch={batch}, channels={channels}, positions={positions}, classes={classes}] is too large for 32-bit indexing");
        }

        Require(state, stateElements, nameof(state));
        Require(weights, weightElements, nameof(weights));
        Require(bias, classes, nameof(bias));
        Require(logits, (long)batch * classes, nameof(logits));
        ReadoutCore(state, weights, bias, logits, batch, channels, positions, classes, pooled, stream);
        Counts.ReadoutLaunches++;
    }

    public void Dispose()
    {
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    private protected abstract void StepCore(RnnStepShape shape, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next, DeviceStream? stream);

    private protected abstract void ReadoutCore(DeviceView<float> state, DeviceView<float> weights, DeviceView<float> bias, DeviceView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled, DeviceStream? stream);

    /// <summary>Frees the scratch memory this backend keeps; nothing by default.</summary>
    private protected virtual void DisposeCore()
    {
    }
}

/// <summary>Counts of what the ops were asked to do, for the accounting tests.</summary>
public sealed class RnnOpCounts
{
    public long StepLaunches { get; internal set; }

    public long StepWeightElements { get; internal set; }

    public long ReadoutLaunches { get; internal set; }

    internal void Step(RnnStepShape shape)
    {
        StepLaunches++;
        StepWeightElements += shape.InputWeightElements + shape.RecurrentWeightElements + shape.BiasElements;
    }
}

/// <summary>Which kernels <see cref="KernelRnnOps"/> launches; both kept so the benchmark can compare them.</summary>
public enum RnnKernelVersion
{
    /// <summary>The first kernels: a step with a branch per tap and images in the grid, and a readout of one thread per class.</summary>
    PerThread,

    /// <summary>The bandwidth kernels: a step whose thread serves four channels of every image of the batch, and readouts as group reductions.</summary>
    Streaming,
}
