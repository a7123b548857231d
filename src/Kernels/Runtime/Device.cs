using System.Runtime.CompilerServices;

namespace GpuViT.Kernels.Runtime;

/// <summary>The backends.</summary>
public enum DeviceKind
{
    /// <summary>NVIDIA GPUs through the CUDA driver API; kernels from the generated CUDA C, compiled by NVRTC.</summary>
    Cuda,

    /// <summary>Any OpenCL 1.2+ device (GPUs, and CPUs through PoCL); kernels from the generated OpenCL C.</summary>
    OpenCL,

    /// <summary>The managed CPU backend: hand-written ops on all cores with SIMD; the reference for tests.</summary>
    Cpu,

    /// <summary>Runs the C# kernel bodies with exact group semantics: slow, exact, debuggable.</summary>
    Emulator,
}

/// <summary>Where a device's peak figures come from.</summary>
public enum PeakSource
{
    /// <summary>Not known: the device's attributes do not give it and no probe ran.</summary>
    Unknown,

    /// <summary>Computed from the device's reported attributes (clocks, units, bus width).</summary>
    Attributes,

    /// <summary>Measured by a short probe on the device (`gpuvit devices --probe`).</summary>
    Probe,
}

/// <summary>Peak FP32 throughput and memory bandwidth, and how they were obtained.</summary>
/// <param name="MemoryGbps">
/// The memory roof in GB/s (bytes read plus bytes written): from a probe, the higher of
/// <see cref="CopyKernelGbps"/> and <see cref="DriverCopyGbps"/>.
/// </param>
public sealed record DevicePeaks(double? Fp32Gflops, double? MemoryGbps, PeakSource Source)
{
    public static readonly DevicePeaks Unknown = new(null, null, PeakSource.Unknown);

    /// <summary>The copy kernel's GB/s (the Probes.ProbeCopy kernel, or the cpu backend's parallel copy); null without a probe.</summary>
    public double? CopyKernelGbps { get; init; }

    /// <summary>The driver's own device-to-device copy in GB/s (cuMemcpyDtoD, clEnqueueCopyBuffer); null where not probed.</summary>
    public double? DriverCopyGbps { get; init; }

    /// <summary>Probed peaks: the memory roof is the faster of the two copies.</summary>
    public static DevicePeaks Probed(double? fp32Gflops, double? copyKernelGbps, double? driverCopyGbps) =>
        new(fp32Gflops, Max(copyKernelGbps, driverCopyGbps), PeakSource.Probe)
        {
            CopyKernelGbps = copyKernelGbps,
            DriverCopyGbps = driverCopyGbps,
        };

    private static double? Max(double? a, double? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
}

/// <summary>What a device is and what it allows.</summary>
/// <param name="Id">The selector that opens it again: <c>cuda:0</c>, <c>opencl:0.1</c>, <c>cpu</c>, <c>emulator</c>.</param>
/// <param name="Driver">Driver and runtime versions; part of the kernel cache key.</param>
/// <param name="MemoryBytes">Global memory.</param>
/// <param name="MaxAllocationBytes">The largest single buffer.</param>
/// <param name="MaxGroupSize">Threads per group, all dimensions together.</param>
/// <param name="MaxGroupDimensions">Threads per group in each dimension.</param>
/// <param name="MaxGroupCount">Groups in each dimension of a launch.</param>
/// <param name="SharedMemoryBytesPerGroup">Group-shared memory a group may use.</param>
public sealed record DeviceInfo(
    string Id,
    DeviceKind Kind,
    string Name,
    string Driver,
    bool IsGpu,
    long MemoryBytes,
    long MaxAllocationBytes,
    int ComputeUnits,
    int MaxGroupSize,
    Int3 MaxGroupDimensions,
    Int3 MaxGroupCount,
    long SharedMemoryBytesPerGroup,
    DevicePeaks Peaks)
{
    /// <summary>What the device does in hardware (compute capability, native warps, tensor-core shapes); <see cref="DeviceCapabilities.None"/> off CUDA.</summary>
    public DeviceCapabilities Capabilities { get; init; } = DeviceCapabilities.None;
}

/// <summary>Bytes of device memory in buffers now, and the most there has been.</summary>
public readonly record struct MemoryUsage(long BytesInUse, long PeakBytes, int Buffers);

/// <summary>
/// One opened device: buffers, streams and events, kernel building and launching. Every
/// backend has the same surface; a device disposes whatever buffers and streams are still open
/// when it is disposed, so native and device memory are always released.
/// </summary>
public abstract class Device : IDisposable
{
    private readonly object _gate = new();
    private readonly HashSet<DeviceBuffer> _buffers = new(ReferenceEqualityComparer.Instance);
    private readonly List<IDisposable> _owned = new();
    private long _bytesInUse;
    private long _peakBytes;
    private bool _disposed;

    protected Device(DeviceInfo info) => Info = info;

    public DeviceInfo Info { get; protected set; }

    public DeviceKind Kind => Info.Kind;

    public MemoryUsage Memory
    {
        get
        {
            lock (_gate)
            {
                return new MemoryUsage(_bytesInUse, _peakBytes, _buffers.Count);
            }
        }
    }

    /// <summary>
    /// Bytes that can still be allocated: the device's memory less this device's buffers, and less
    /// what other processes hold where the driver says so (CUDA). What a token budget is sized from.
    /// </summary>
    public long FreeBytes
    {
        get
        {
            ThrowIfDisposed();
            long ours;
            lock (_gate)
            {
                ours = Info.MemoryBytes - _bytesInUse;
            }

            return Math.Max(0, Math.Min(ours, DriverFreeBytes() ?? long.MaxValue));
        }
    }

    /// <summary>Kernels compiled and loaded from the cache so far; backends without a compiler report zeros.</summary>
    public KernelBuildStatistics KernelBuilds => Builds.Statistics;

    /// <summary>The stream that launches and copies use when none is given.</summary>
    public abstract DeviceStream DefaultStream { get; }

    /// <summary>Another in-order queue, so that transfers on one overlap compute on the other.</summary>
    public DeviceStream CreateStream()
    {
        ThrowIfDisposed();
        DeviceStream stream = CreateStreamCore();
        Own(stream);
        return stream;
    }

    /// <summary>A buffer of <paramref name="length"/> elements, contents undefined.</summary>
    /// <exception cref="DeviceOutOfMemoryException">It does not fit; nothing was allocated.</exception>
    public DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long bytes = checked(length * Unsafe.SizeOf<T>());
        long free;
        lock (_gate)
        {
            free = Info.MemoryBytes - _bytesInUse;
        }

        if (bytes > free || bytes > Info.MaxAllocationBytes)
        {
            throw new DeviceOutOfMemoryException(Info.Id, bytes, free, Info.MaxAllocationBytes);
        }

        DeviceMemory memory = AllocateCore<T>(length, bytes, free);
        var buffer = new DeviceBuffer<T>(this, memory, length);
        lock (_gate)
        {
            _buffers.Add(buffer);
            _bytesInUse += bytes;
            _peakBytes = Math.Max(_peakBytes, _bytesInUse);
        }

        return buffer;
    }

    /// <summary>A buffer holding a copy of <paramref name="source"/>.</summary>
    public DeviceBuffer<T> Upload<T>(ReadOnlySpan<T> source) where T : unmanaged
    {
        DeviceBuffer<T> buffer = Allocate<T>(source.Length);
        try
        {
            buffer.Upload(source);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Host memory the device can copy from and to asynchronously (page-locked where the backend
    /// has it). Keep it alive, unchanged, until the stream that copies it has passed the copy.
    /// </summary>
    public PinnedBuffer<T> AllocatePinned<T>(int length) where T : unmanaged
    {
        ThrowIfDisposed();
        PinnedBuffer<T> pinned = AllocatePinnedCore<T>(length);
        Own(pinned);
        return pinned;
    }

    /// <summary>Builds (or loads from the kernel cache) the kernel for this device, once per device.</summary>
    /// <exception cref="KernelBuildException">The device's compiler rejected it; the message has the full log.</exception>
    public void Prepare(KernelDescriptor kernel)
    {
        ThrowIfDisposed();
        PrepareCore(kernel);
    }

    /// <summary>
    /// Launches <paramref name="kernel"/> on <paramref name="groupCount"/> groups of
    /// <paramref name="groupSize"/> threads. Arguments follow the kernel's parameters: a
    /// <see cref="DeviceBuffer{T}"/> or <see cref="DeviceView{T}"/> of this device for each buffer,
    /// an int, uint, float or bool for each scalar. The shape is checked against the device's
    /// limits before anything is queued.
    /// </summary>
    public void Launch(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream? stream, params object[] arguments)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(kernel);
        LaunchChecks.Shape(Info, kernel, groupCount, groupSize);
        KernelArgument[] bound = LaunchChecks.Arguments(this, kernel, arguments);
        DeviceStream target = stream ?? DefaultStream;
        if (!ReferenceEquals(target.Device, this))
        {
            throw new ArgumentException($"the stream belongs to {target.Device.Info.Id}, not {Info.Id}", nameof(stream));
        }

        PrepareCore(kernel);
        LaunchCore(kernel, groupCount, groupSize, target, bound);
    }

    /// <summary><see cref="Launch(KernelDescriptor, Int3, Int3, DeviceStream?, object[])"/> on the default stream.</summary>
    public void Launch(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, params object[] arguments) =>
        Launch(kernel, groupCount, groupSize, null, arguments);

    /// <summary>
    /// Records what <paramref name="queue"/> queues on <paramref name="stream"/> as a graph, which
    /// <see cref="DeviceGraph.Launch"/> then replays with one call (CUDA graphs). The work is not
    /// run by the capture, only by launches. Where the device has no graphs
    /// (<see cref="DeviceCapabilities.HasGraphs"/>), or the capture fails (a driver error while
    /// queuing: a synchronous call, an allocation or a host read inside the capture), the result
    /// runs <paramref name="queue"/> again at each launch instead, and says why
    /// (<see cref="DeviceGraph.FallbackReason"/>); a failed capture is ended and released first.
    /// </summary>
    /// <remarks>
    /// Rules for <paramref name="queue"/>, so that the capture holds: queue work on the stream it is
    /// given only; allocate nothing, synchronize nothing and read nothing back (create buffers and
    /// build kernels before, e.g. by running the work once plainly); and keep every buffer it uses
    /// alive, at the same place, for as long as the graph is launched.
    /// An exception from <paramref name="queue"/> other than a driver or launch error (a bad
    /// argument, a cancellation) ends the capture, releases it and is rethrown.
    /// </remarks>
    public DeviceGraph Capture(DeviceStream stream, Action<DeviceStream> queue)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(queue);
        if (!ReferenceEquals(stream.Device, this))
        {
            throw new ArgumentException($"the stream belongs to {stream.Device.Info.Id}, not {Info.Id}", nameof(stream));
        }

        DeviceGraph graph = Info.Capabilities.HasGraphs
            ? CaptureCore(stream, queue)
            : new RequeuedWork(this, queue, $"{Info.Id} has no graphs: each launch queues the work again");
        Own(graph);
        return graph;
    }

    /// <summary>Waits until everything queued on every stream of this device has finished.</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        SynchronizeCore();
    }

    public override string ToString() => $"{Info.Id} ({Info.Name})";

    public void Dispose()
    {
        DeviceBuffer[] buffers;
        IDisposable[] owned;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            buffers = _buffers.ToArray();
            owned = _owned.ToArray();
        }

        // Queued copies may still read or write pinned host memory that is about to be freed:
        // let the device finish first. A device that fails here must still release everything.
        try
        {
            SynchronizeCore();
        }
        catch (Exception)
        {
        }

        // Everything still open goes back before the context that owns it.
        foreach (DeviceBuffer buffer in buffers)
        {
            buffer.Dispose();
        }

        foreach (IDisposable item in owned.Reverse())
        {
            item.Dispose();
        }

        DisposeCore();
        GC.SuppressFinalize(this);
    }

    /// <summary>What this device's kernel builds count into (<see cref="KernelCache.LoadOrBuild"/>).</summary>
    private protected KernelBuildCounter Builds { get; } = new();

    protected abstract DeviceMemory AllocateCore<T>(long length, long bytes, long freeBytes) where T : unmanaged;

    protected abstract PinnedBuffer<T> AllocatePinnedCore<T>(int length) where T : unmanaged;

    protected abstract DeviceStream CreateStreamCore();

    protected abstract void PrepareCore(KernelDescriptor kernel);

    protected abstract void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments);

    protected abstract void SynchronizeCore();

    /// <summary>
    /// The backend's capture, for devices whose <see cref="DeviceCapabilities.HasGraphs"/> is true;
    /// it must end and release a failed capture and return a fallback (<see cref="RequeuedGraph"/>).
    /// </summary>
    protected virtual DeviceGraph CaptureCore(DeviceStream stream, Action<DeviceStream> queue) =>
        RequeuedGraph(queue, $"{Info.Id} has no graph capture");

    /// <summary>A graph that runs <paramref name="queue"/> again at each launch, for <paramref name="reason"/>.</summary>
    protected DeviceGraph RequeuedGraph(Action<DeviceStream> queue, string reason) => new RequeuedWork(this, queue, reason);

    /// <summary>Free memory as the driver counts it, where the backend can ask; null otherwise.</summary>
    protected virtual long? DriverFreeBytes() => null;

    /// <summary>Releases the context; buffers, pinned memory and streams are gone by then.</summary>
    protected abstract void DisposeCore();

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private void Own(IDisposable item)
    {
        lock (_gate)
        {
            _owned.Add(item);
        }
    }

    /// <summary>Stops tracking a graph disposed before the device (so that a long run of captures does not pile up).</summary>
    internal void Disown(IDisposable item)
    {
        lock (_gate)
        {
            _owned.Remove(item);
        }
    }

    internal void Release(DeviceBuffer buffer)
    {
        lock (_gate)
        {
            if (_buffers.Remove(buffer))
            {
                _bytesInUse -= buffer.Bytes;
            }
        }
    }

    internal bool IsDisposed => _disposed;
}
