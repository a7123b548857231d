using GpuViT.Kernels.Runtime;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

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

/// <summary>The recurrent net's ops: one step of the state, and the linear readout.</summary>
public interface IRnnOps
{
    Device Device { get; }

    /// <summary>Step launches so far, and the weight elements (W_in, W_rec, b) they were given: what a step must read.</summary>
    RnnOpCounts Counts { get; }

    /// <summary>
    /// next = φ(W_in ⊛ input + W_rec ⊛ state + b); state and next are [batch][C][H][W], input [batch][3][H][W].
    /// Queued on <paramref name="stream"/> (the default stream when null); cpu runs it before returning.
    /// </summary>
    void Step(RnnStepShape shape, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next, DeviceStream? stream = null);

    /// <summary>logits [batch][classes] from the state: pooled over positions ([classes][C] weights) or per unit ([classes][C·H·W]).</summary>
    void Readout(DeviceView<float> state, DeviceView<float> weights, DeviceView<float> bias, DeviceView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled, DeviceStream? stream = null);
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

/// <summary>The recurrent ops for a device: managed on cpu, generated kernels elsewhere (the emulator included).</summary>
public static class RnnOps
{
    public static IRnnOps For(Device device) => device.Kind == DeviceKind.Cpu ? new CpuRnnOps(device) : new KernelRnnOps(device);

    internal static void Check(RnnStepShape s, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next)
    {
        if (s.Batch < 1 || s.Channels < 1 || s.Height < 1 || s.Width < 1 || s.Kernel < 1 || s.Kernel % 2 == 0)
        {
            throw new ArgumentException($"bad recurrent step shape {s}: sizes must be positive and the kernel odd");
        }

        long stateElements = (long)s.Batch * s.Units;
        if (stateElements > int.MaxValue || s.RecurrentWeightElements > int.MaxValue)
        {
            throw new ArgumentException($"recurrent step {s} is too large for 32-bit indexing");
        }

        Require(input, (long)s.Batch * Library.Rnn.InputChannels * s.Positions, nameof(input));
        Require(state, stateElements, nameof(state));
        Require(inputWeights, s.InputWeightElements, nameof(inputWeights));
        Require(recurrentWeights, s.RecurrentWeightElements, nameof(recurrentWeights));
        Require(bias, s.BiasElements, nameof(bias));
        Require(next, stateElements, nameof(next));
    }

    internal static void Require(DeviceView<float> view, long elements, string name)
    {
        if (view.Length < elements)
        {
            throw new ArgumentException($"'{name}' has {view.Length} elements; the op needs {elements}", name);
        }
    }
}

/// <summary>The recurrent ops as launches of the Rnn kernels (cuda, opencl, emulator).</summary>
public sealed class KernelRnnOps(Device device) : IRnnOps
{
    private const int GroupSize = 128;

    public Device Device { get; } = device;

    public RnnOpCounts Counts { get; } = new();

    public void Step(RnnStepShape shape, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next, DeviceStream? stream = null)
    {
        RnnOps.Check(shape, input, state, inputWeights, recurrentWeights, bias, next);
        int groups = (shape.Units + GroupSize - 1) / GroupSize;
        // Unshared: a thread per unit of four images, so each weight is read once per four images.
        int imageGroups = shape.Shared ? shape.Batch : (shape.Batch + Library.Rnn.ImagesPerThread - 1) / Library.Rnn.ImagesPerThread;
        Device.Launch(shape.Shared ? Catalog.RnnStepShared : Catalog.RnnStepUnshared, Int3.Size(groups, imageGroups), Int3.Size(GroupSize, 1), stream,
            input, state, inputWeights, recurrentWeights, bias, next, shape.Batch, shape.Channels, shape.Height, shape.Width, shape.Kernel, shape.Relu);
        Counts.Step(shape);
    }

    public void Readout(DeviceView<float> state, DeviceView<float> weights, DeviceView<float> bias, DeviceView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled, DeviceStream? stream = null)
    {
        RnnOps.Require(state, (long)batch * channels * positions, nameof(state));
        RnnOps.Require(weights, (long)classes * (pooled ? channels : channels * positions), nameof(weights));
        RnnOps.Require(bias, classes, nameof(bias));
        RnnOps.Require(logits, (long)batch * classes, nameof(logits));
        Device.Launch(Catalog.RnnReadout, Int3.Size((classes + 63) / 64, batch), Int3.Size(64, 1), stream,
            state, weights, bias, logits, batch, channels, positions, classes, pooled);
        Counts.ReadoutLaunches++;
    }
}
