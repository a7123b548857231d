namespace GpuViT.Tests.Models;

/// <summary>
/// A device with graphs as CUDA has them, in host memory: kernels run on the emulator, and
/// <see cref="Device.Capture"/> records the launches queued on the capturing stream instead of
/// running them; a launch of the graph replays the recorded launches on the buffers they were
/// queued with. As in a CUDA capture, an allocation or a synchronization while capturing fails
/// the capture (and is counted in <see cref="CaptureViolations"/>), which then falls back to
/// requeuing the work. Counts captures, graph launches and kernels run, and the graphs still open.
/// </summary>
internal sealed class GraphRecordingDevice : HostMemoryDevice
{
    private readonly RecordingStream _default;
    private RecordingStream? _capturing;
    private List<(KernelDescriptor Kernel, Int3 Count, Int3 Size, KernelArgument[] Arguments)>? _recorded;
    private int _openGraphs;

    /// <param name="computeUnits">What the device says it has (the GEMM plans split k to fill them); the host's cores by default.</param>
    public GraphRecordingDevice(int? computeUnits = null)
        : base(Describe("recording-graphs", DeviceKind.Emulator, "emulator with recorded graphs") with
        {
            Capabilities = DeviceCapabilities.None with { HasGraphs = true },
            ComputeUnits = computeUnits ?? Environment.ProcessorCount,
        }) => _default = new RecordingStream(this);

    public override DeviceStream DefaultStream => _default;

    /// <summary>Captures that gave a graph.</summary>
    public int Captures { get; private set; }

    /// <summary>Launches of recorded graphs.</summary>
    public int GraphLaunches { get; private set; }

    /// <summary>Kernels run, by plain launches and by graph launches alike.</summary>
    public int KernelsRun { get; private set; }

    /// <summary>Allocations and synchronizations tried inside a capture.</summary>
    public int CaptureViolations { get; private set; }

    /// <summary>Recorded graphs not yet disposed.</summary>
    public int OpenGraphs => _openGraphs;

    /// <summary>When set, every capture falls back with this reason (as a driver refusing the capture would).</summary>
    public string? RefuseCaptures { get; set; }

    protected override DeviceMemory AllocateCore<T>(long length, long bytes, long freeBytes)
    {
        ThrowIfCapturing("an allocation");
        return base.AllocateCore<T>(length, bytes, freeBytes);
    }

    protected override DeviceStream CreateStreamCore() => new RecordingStream(this);

    protected override void SynchronizeCore()
    {
        if (_capturing is not null)
        {
            ThrowIfCapturing("a device synchronization");
        }
    }

    protected override void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments)
    {
        if (_recorded is not null && ReferenceEquals(stream, _capturing))
        {
            _recorded.Add((kernel, groupCount, groupSize, arguments));
            return;
        }

        Run(kernel, groupCount, groupSize, arguments);
    }

    protected override DeviceGraph CaptureCore(DeviceStream stream, Action<DeviceStream> queue)
    {
        if (RefuseCaptures is { } refused)
        {
            return RequeuedGraph(queue, refused);
        }

        List<(KernelDescriptor, Int3, Int3, KernelArgument[])> recorded = [];
        _capturing = (RecordingStream)stream;
        _recorded = recorded;
        string? violation = null;
        try
        {
            queue(stream);
        }
        catch (CaptureViolationException e)
        {
            violation = e.Message;
        }
        finally
        {
            _capturing = null;
            _recorded = null;
        }

        if (violation is not null)
        {
            return RequeuedGraph(queue, violation);
        }

        Captures++;
        Interlocked.Increment(ref _openGraphs);
        return new RecordedGraph(this, recorded);
    }

    private void Run(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, KernelArgument[] arguments)
    {
        // As EmulatorDevice runs a launch: views of the buffers as they are now.
        object[] values = [.. arguments.Select(a => a.Buffer is null
            ? (a.Parameter.ElementType == ElementType.Bool ? (int)a.Scalar! != 0 : a.Scalar!)
            : ((IHostMemory)a.Buffer.Memory).View(a))];
        KernelEmulator.Launch(kernel, groupCount, groupSize, values);
        KernelsRun++;
    }

    private void ThrowIfCapturing(string what)
    {
        if (_capturing is not null)
        {
            CaptureViolations++;
            throw new CaptureViolationException($"{what} inside a capture");
        }
    }

    private sealed class CaptureViolationException(string message) : Exception(message);

    private sealed class RecordedGraph(GraphRecordingDevice device, List<(KernelDescriptor Kernel, Int3 Count, Int3 Size, KernelArgument[] Arguments)> launches)
        : DeviceGraph(device)
    {
        public override bool IsGraph => true;

        public override string? FallbackReason => null;

        public int Kernels => launches.Count;

        protected override void LaunchCore(DeviceStream stream)
        {
            device.GraphLaunches++;
            foreach ((KernelDescriptor kernel, Int3 count, Int3 size, KernelArgument[] arguments) in launches)
            {
                device.Run(kernel, count, size, arguments);
            }
        }

        protected override void DisposeCore() => Interlocked.Decrement(ref device._openGraphs);
    }

    /// <summary>A host stream whose synchronization fails inside a capture.</summary>
    private sealed unsafe class RecordingStream(GraphRecordingDevice device) : DeviceStream(device)
    {
        public override void Synchronize()
        {
            if (ReferenceEquals(device._capturing, this))
            {
                device.ThrowIfCapturing("a stream synchronization");
            }
        }

        public override DeviceEvent RecordEvent() => device.DefaultStreamEvent();

        public override void WaitFor(DeviceEvent done)
        {
        }

        public override void Dispose()
        {
        }

        protected internal override void CopyToDevice(DeviceBuffer destination, long byteOffset, void* source, long bytes, bool asynchronous)
        {
            if (ReferenceEquals(device._capturing, this))
            {
                device.ThrowIfCapturing("a copy");
            }

            Buffer.MemoryCopy(source, (byte*)((IHostMemory)destination.Memory).Pointer + byteOffset, bytes, bytes);
        }

        protected internal override void CopyFromDevice(DeviceBuffer source, long byteOffset, void* destination, long bytes, bool asynchronous)
        {
            if (ReferenceEquals(device._capturing, this))
            {
                device.ThrowIfCapturing("a read back");
            }

            Buffer.MemoryCopy((byte*)((IHostMemory)source.Memory).Pointer + byteOffset, destination, bytes, bytes);
        }
    }

    private DeviceEvent DefaultStreamEvent() => base.DefaultStream.RecordEvent();
}
