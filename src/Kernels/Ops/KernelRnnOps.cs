using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.LaunchGrid;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Kernels.Ops;

/// <summary>The recurrent ops as launches of the Rnn kernels (cuda, opencl, emulator): the cores behind <see cref="RnnOps"/>'s checks.</summary>
public sealed class KernelRnnOps(Device device, RnnKernelVersion version = RnnKernelVersion.Streaming) : RnnOps(device)
{
    private const int GroupSize = 128;

    /// <summary>Threads per group of the per-class readout kernels (a thread per class and image).</summary>
    private const int ReadoutGroupSize = 64;

    /// <summary>Floats a reduction group's slice should hold at least, so that its loop, not the reduction, dominates.</summary>
    private const int MinSliceLength = 8 * Library.Rnn.ReduceGroupSize;

    /// <summary>The readouts' partial sums.</summary>
    private readonly ScratchBuffer<float> _partial = new(device);

    public RnnKernelVersion Version { get; } = version;

    private protected override void StepCore(RnnStepShape shape, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next, DeviceStream? stream)
    {
        int groups = Groups(shape.Units, GroupSize);
        if (shape.Shared)
        {
            Device.Launch(Catalog.RnnStepShared, Int3.Size(groups, shape.Batch), Int3.Size(GroupSize, 1), stream,
                input, state, inputWeights, recurrentWeights, bias, next, shape.Batch, shape.Channels, shape.Height, shape.Width, shape.Kernel, shape.Relu);
        }
        else if (Version == RnnKernelVersion.Streaming)
        {
            // A thread per (four channels, position) serves every image of the batch: the weights cross memory once.
            // One image: the kernel without the four-image pass, whose registers would halve the occupancy.
            long threads = (long)Groups(shape.Channels, Library.Rnn.ChannelsPerThread) * shape.Positions;
            Device.Launch(shape.Batch == 1 ? Catalog.RnnStepUnsharedOneImage : Catalog.RnnStepUnsharedStreaming,
                Int3.Size(Groups(threads, GroupSize)), Int3.Size(GroupSize), stream,
                input, state, inputWeights, recurrentWeights, bias, next, shape.Batch, shape.Channels, shape.Height, shape.Width, shape.Kernel, shape.Relu);
        }
        else
        {
            // A thread per unit of four images, so each weight is read once per four images.
            Device.Launch(Catalog.RnnStepUnshared, Int3.Size(groups, ImageGroups(shape.Batch)), Int3.Size(GroupSize, 1), stream,
                input, state, inputWeights, recurrentWeights, bias, next, shape.Batch, shape.Channels, shape.Height, shape.Width, shape.Kernel, shape.Relu);
        }
    }

    private protected override void ReadoutCore(DeviceView<float> state, DeviceView<float> weights, DeviceView<float> bias, DeviceView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled, DeviceStream? stream)
    {
        long units = (long)channels * positions;
        Int3 perClass = Int3.Size(Groups(classes, ReadoutGroupSize), batch);
        if (Version == RnnKernelVersion.PerThread)
        {
            Device.Launch(Catalog.RnnReadout, perClass, Int3.Size(ReadoutGroupSize, 1), stream,
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
            Device.Launch(Catalog.RnnReadoutPooled, perClass, Int3.Size(ReadoutGroupSize, 1), stream,
                partial, weights, bias, logits, batch, channels, positions, classes, slices);
        }
        else
        {
            // A matrix–vector product: groups over (slice of units, class, four images), then the slices summed.
            int imageGroups = ImageGroups(batch);
            int slices = Slices((int)units, classes * imageGroups);
            DeviceBuffer<float> partial = _partial.AtLeast((long)batch * classes * slices, stream);
            Device.Launch(Catalog.RnnReadoutUnits, Int3.Size(slices, classes, imageGroups), Int3.Size(Library.Rnn.ReduceGroupSize), stream,
                state, weights, partial, batch, (int)units, classes, slices);
            Device.Launch(Catalog.RnnReadoutFinish, perClass, Int3.Size(ReadoutGroupSize, 1), stream, partial, bias, logits, batch, classes, slices);
        }
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

    /// <summary>The groups of <see cref="Library.Rnn.ImagesPerThread"/> images a batch is split into.</summary>
    private static int ImageGroups(int batch) => Groups(batch, Library.Rnn.ImagesPerThread);

    private int Slices(int length, int rows) => Slices(length, rows, Device.Info.ComputeUnits);

    private protected override void DisposeCore() => _partial.Dispose();
}
