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

/// <summary>The recurrent net's ops: one step of the state, and the linear readout. Disposing frees their scratch buffers.</summary>
public interface IRnnOps : IDisposable
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
    public static IRnnOps For(Device device, RnnKernelVersion version = RnnKernelVersion.Streaming) =>
        device.Kind == DeviceKind.Cpu ? new CpuRnnOps(device) : new KernelRnnOps(device, version);

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

/// <summary>Which kernels <see cref="KernelRnnOps"/> launches; both kept so the benchmark can compare them.</summary>
public enum RnnKernelVersion
{
    /// <summary>The first kernels: a step with a branch per tap and images in the grid, and a readout of one thread per class.</summary>
    PerThread,

    /// <summary>The bandwidth kernels: a step whose thread serves four channels of every image of the batch, and readouts as group reductions.</summary>
    Streaming,
}

/// <summary>The recurrent ops as launches of the Rnn kernels (cuda, opencl, emulator).</summary>
public sealed class KernelRnnOps(Device device, RnnKernelVersion version = RnnKernelVersion.Streaming) : IRnnOps
{
    private const int GroupSize = 128;

    /// <summary>Floats a reduction group's slice should hold at least, so that its loop, not the reduction, dominates.</summary>
    private const int MinSliceLength = 8 * Library.Rnn.ReduceGroupSize;

    /// <summary>The readouts' partial sums.</summary>
    private readonly ScratchBuffer _partial = new(device);

    public Device Device { get; } = device;

    public RnnKernelVersion Version { get; } = version;

    public RnnOpCounts Counts { get; } = new();

    public void Step(RnnStepShape shape, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next, DeviceStream? stream = null)
    {
        RnnOps.Check(shape, input, state, inputWeights, recurrentWeights, bias, next);
        int groups = (shape.Units + GroupSize - 1) / GroupSize;
        if (shape.Shared)
        {
            Device.Launch(Catalog.RnnStepShared, Int3.Size(groups, shape.Batch), Int3.Size(GroupSize, 1), stream,
                input, state, inputWeights, recurrentWeights, bias, next, shape.Batch, shape.Channels, shape.Height, shape.Width, shape.Kernel, shape.Relu);
        }
        else if (Version == RnnKernelVersion.Streaming)
        {
            // A thread per (four channels, position) serves every image of the batch: the weights cross memory once.
            // One image: the kernel without the four-image pass, whose registers would halve the occupancy.
            long threads = (long)(shape.Channels + Library.Rnn.ChannelsPerThread - 1) / Library.Rnn.ChannelsPerThread * shape.Positions;
            Device.Launch(shape.Batch == 1 ? Catalog.RnnStepUnsharedOneImage : Catalog.RnnStepUnsharedStreaming,
                Int3.Size((int)((threads + GroupSize - 1) / GroupSize)), Int3.Size(GroupSize), stream,
                input, state, inputWeights, recurrentWeights, bias, next, shape.Batch, shape.Channels, shape.Height, shape.Width, shape.Kernel, shape.Relu);
        }
        else
        {
            // A thread per unit of four images, so each weight is read once per four images.
            int imageGroups = (shape.Batch + Library.Rnn.ImagesPerThread - 1) / Library.Rnn.ImagesPerThread;
            Device.Launch(Catalog.RnnStepUnshared, Int3.Size(groups, imageGroups), Int3.Size(GroupSize, 1), stream,
                input, state, inputWeights, recurrentWeights, bias, next, shape.Batch, shape.Channels, shape.Height, shape.Width, shape.Kernel, shape.Relu);
        }

        Counts.Step(shape);
    }

    public void Readout(DeviceView<float> state, DeviceView<float> weights, DeviceView<float> bias, DeviceView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled, DeviceStream? stream = null)
    {
        long units = (long)channels * positions;
        RnnOps.Require(state, batch * units, nameof(state));
        RnnOps.Require(weights, classes * (pooled ? channels : units), nameof(weights));
        RnnOps.Require(bias, classes, nameof(bias));
        RnnOps.Require(logits, (long)batch * classes, nameof(logits));
        Int3 perClass = Int3.Size((classes + 63) / 64, batch);
        if (Version == RnnKernelVersion.PerThread)
        {
            Device.Launch(Catalog.RnnReadout, perClass, Int3.Size(64, 1), stream,
                state, weights, bias, logits, batch, channels, positions, classes, pooled);
        }
        else if (pooled)
        {
            // Sums per (image, channel) over slices of positions, then the small [classes × C] product.
            int planes = batch * channels;
            int slices = Slices(positions, planes);
            DeviceBuffer<float> partial = _partial.AtLeast((long)planes * slices, stream);
            Device.Launch(Catalog.RnnPoolChannels, Int3.Size(slices, planes), Int3.Size(Library.Rnn.ReduceGroupSize), stream,
                state, partial, planes, positions, slices);
            Device.Launch(Catalog.RnnReadoutPooled, perClass, Int3.Size(64, 1), stream,
                partial, weights, bias, logits, batch, channels, positions, classes, slices);
        }
        else
        {
            // A matrix–vector product: groups over (slice of units, class, four images), then the slices summed.
            int imageGroups = (batch + Library.Rnn.ImagesPerThread - 1) / Library.Rnn.ImagesPerThread;
            int slices = Slices((int)units, classes * imageGroups);
            DeviceBuffer<float> partial = _partial.AtLeast((long)batch * classes * slices, stream);
            Device.Launch(Catalog.RnnReadoutUnits, Int3.Size(slices, classes, imageGroups), Int3.Size(Library.Rnn.ReduceGroupSize), stream,
                state, weights, partial, batch, (int)units, classes, slices);
            Device.Launch(Catalog.RnnReadoutFinish, perClass, Int3.Size(64, 1), stream, partial, bias, logits, batch, classes, slices);
        }

        Counts.ReadoutLaunches++;
    }

    /// <summary>
    /// Slices of a reduction of <paramref name="length"/> values that <paramref name="rows"/> rows
    /// are split into: enough groups for four per compute unit, none shorter than
    /// <see cref="MinSliceLength"/>, and at most 64 (the second pass sums them serially).
    /// </summary>
    internal static int Slices(int length, int rows, int computeUnits)
    {
        int wanted = (4 * Math.Max(1, computeUnits) + rows - 1) / rows;
        int most = Math.Max(1, length / MinSliceLength);
        return Math.Clamp(wanted, 1, Math.Min(64, most));
    }

    private int Slices(int length, int rows) => Slices(length, rows, Device.Info.ComputeUnits);

    public void Dispose() => _partial.Dispose();
}
