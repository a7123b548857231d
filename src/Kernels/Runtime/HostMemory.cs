using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GpuViT.Kernels.Runtime;

/// <summary>
/// A device whose memory is this process's: the cpu backend and the emulator. Buffers are pinned
/// managed arrays, so managed ops can take pointers and the emulator can make views. Work runs
/// when it is queued, so streams are always idle and events are stamped as they are recorded;
/// nothing is compiled, so there is nothing to prepare.
/// </summary>
internal abstract class HostMemoryDevice : Device
{
    private readonly HostStream _defaultStream;

    protected HostMemoryDevice(DeviceInfo info)
        : base(info) => _defaultStream = new HostStream(this);

    public override DeviceStream DefaultStream => _defaultStream;

    /// <summary>What a device in this process's memory has: all of it, every core, and CUDA's launch limits.</summary>
    protected static DeviceInfo Describe(string id, DeviceKind kind, string name)
    {
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return new DeviceInfo(
            Id: id,
            Kind: kind,
            Name: name,
            Driver: ".NET " + Environment.Version,
            IsGpu: false,
            MemoryBytes: memory,
            MaxAllocationBytes: Math.Min(memory, (long)Array.MaxLength * sizeof(float)),
            ComputeUnits: Environment.ProcessorCount,

            // CUDA's limits, so a launch that passes on the emulator fits a GPU too.
            MaxGroupSize: KernelEmulator.MaxThreadsPerGroup,
            MaxGroupDimensions: new Int3(1024, 1024, 64),
            MaxGroupCount: new Int3(int.MaxValue, 65535, 65535),
            SharedMemoryBytesPerGroup: 48 * 1024,
            Peaks: DevicePeaks.Unknown);
    }

    protected override DeviceMemory AllocateCore<T>(long length, long bytes, long freeBytes) =>
        new HostMemory<T>(GC.AllocateUninitializedArray<T>(checked((int)length), pinned: true));

    protected override PinnedBuffer<T> AllocatePinnedCore<T>(int length) => PinnedBuffer<T>.Native(length);

    protected override DeviceStream CreateStreamCore() => new HostStream(this);

    protected override void PrepareCore(KernelDescriptor kernel)
    {
    }

    protected override void SynchronizeCore()
    {
    }

    protected override void DisposeCore()
    {
    }
}

/// <summary>A host buffer of any element type: its address for copies, and views for the emulator.</summary>
internal unsafe interface IHostMemory
{
    void* Pointer { get; }

    object View(KernelArgument argument);
}

/// <summary>A pinned managed array.</summary>
internal sealed unsafe class HostMemory<T>(T[] array) : DeviceMemory, IHostMemory where T : unmanaged
{
    public T[] Array { get; } = array;

    public void* Pointer => Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Array));

    public object View(KernelArgument argument)
    {
        int offset = checked((int)argument.Offset), length = checked((int)argument.Length);
        return argument.Parameter.Access == BufferAccess.ReadOnly
            ? new ReadOnlyView<T>(Array, offset, length, argument.Parameter.Name)
            : new ReadWriteView<T>(Array, offset, length, argument.Parameter.Name);
    }

    // The array is garbage-collected memory; nothing native to give back.
    protected internal override void Free()
    {
    }
}

/// <summary>A stream on which everything has finished by the time it is queued.</summary>
internal sealed unsafe class HostStream(Device device) : DeviceStream(device)
{
    public override void Synchronize()
    {
    }

    public override DeviceEvent RecordEvent() => new HostEvent(Stopwatch.GetTimestamp());

    public override void WaitFor(DeviceEvent done)
    {
    }

    public override void Dispose()
    {
    }

    protected internal override void CopyToDevice(DeviceBuffer destination, long byteOffset, void* source, long bytes, bool asynchronous) =>
        Buffer.MemoryCopy(source, (byte*)Pointer(destination) + byteOffset, bytes, bytes);

    protected internal override void CopyFromDevice(DeviceBuffer source, long byteOffset, void* destination, long bytes, bool asynchronous) =>
        Buffer.MemoryCopy((byte*)Pointer(source) + byteOffset, destination, bytes, bytes);

    protected internal override void CopyOnDevice(DeviceBuffer source, DeviceBuffer destination, long bytes) =>
        Buffer.MemoryCopy(Pointer(source), Pointer(destination), bytes, bytes);

    private static void* Pointer(DeviceBuffer buffer) => ((IHostMemory)buffer.Memory).Pointer;
}

/// <summary>A time stamp; host work is complete when recorded.</summary>
internal sealed class HostEvent(long timestamp) : DeviceEvent
{
    public long Timestamp { get; } = timestamp;

    public override bool IsComplete => true;

    public override void Synchronize()
    {
    }

    public override double ElapsedMillisecondsSince(DeviceEvent start) => start is HostEvent host
        ? Stopwatch.GetElapsedTime(host.Timestamp, Timestamp).TotalMilliseconds
        : throw new ArgumentException("the start event belongs to another kind of device", nameof(start));

    public override void Dispose()
    {
    }
}
