using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GpuViT.Kernels.Runtime;

/// <summary>A backend's allocation: a CUDA device pointer, an OpenCL cl_mem, or host memory.</summary>
public abstract class DeviceMemory
{
    /// <summary>Gives the memory back; called once, by the buffer that owns it.</summary>
    protected internal abstract void Free();
}

/// <summary>A device buffer of any element type: what kernels and copies see; as a kernel argument, the whole buffer.</summary>
public abstract class DeviceBuffer : IDeviceView, IDisposable
{
    private int _disposed;

    private protected DeviceBuffer(Device device, DeviceMemory memory, long length, int elementSize, ElementType elementType)
    {
        Device = device;
        Memory = memory;
        Length = length;
        ElementSize = elementSize;
        ElementType = elementType;
    }

    public Device Device { get; }

    /// <summary>Elements.</summary>
    public long Length { get; }

    public long Bytes => Length * ElementSize;

    public int ElementSize { get; }

    public ElementType ElementType { get; }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    internal DeviceMemory Memory { get; }

    DeviceBuffer IDeviceView.Buffer => this;

    long IDeviceView.Offset => 0;

    /// <summary>Throws if this buffer, or its device, was disposed.</summary>
    public void ThrowIfDisposed()
    {
        if (IsDisposed || Device.IsDisposed)
        {
            throw new ObjectDisposedException(
                ToString(), $"the buffer of {Length} × {ElementType.ToString().ToLowerInvariant()} on {Device.Info.Id} was disposed"
                + (Device.IsDisposed && !IsDisposed ? " with its device" : string.Empty) + "; it cannot be used again");
        }
    }

    /// <summary>Gives the memory back at once (not at garbage collection); safe to call twice.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Device.Release(this);
        Memory.Free();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"DeviceBuffer<{ElementType.ToString().ToLowerInvariant()}>[{Length}] on {Device.Info.Id}";
}

/// <summary>A typed device buffer: upload, download, views.</summary>
public sealed unsafe class DeviceBuffer<T> : DeviceBuffer where T : unmanaged
{
    internal DeviceBuffer(Device device, DeviceMemory memory, long length)
        : base(device, memory, length, Unsafe.SizeOf<T>(), ElementTypes.Of<T>())
    {
    }

    /// <summary>The whole buffer as a view, to pass to kernels.</summary>
    public DeviceView<T> View() => new(this, 0, Length);

    /// <summary>Elements [offset, offset + length) as a view; kernels see its first element at index 0.</summary>
    public DeviceView<T> View(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"view [{offset}, {offset + length}) lies outside a buffer of {Length}");
        }

        return new DeviceView<T>(this, offset, length);
    }

    public static implicit operator DeviceView<T>(DeviceBuffer<T> buffer) => buffer.View();

    /// <summary>Copies <paramref name="source"/> to elements from <paramref name="offset"/>; returns when done.</summary>
    public void Upload(ReadOnlySpan<T> source, long offset = 0)
    {
        CheckRange(offset, source.Length);
        fixed (T* data = source)
        {
            Device.DefaultStream.CopyToDevice(this, offset * ElementSize, data, (long)source.Length * ElementSize, asynchronous: false);
        }
    }

    /// <summary>Copies elements from <paramref name="offset"/> into <paramref name="destination"/>; returns when done.</summary>
    public void Download(Span<T> destination, long offset = 0)
    {
        CheckRange(offset, destination.Length);
        fixed (T* data = destination)
        {
            Device.DefaultStream.CopyFromDevice(this, offset * ElementSize, data, (long)destination.Length * ElementSize, asynchronous: false);
        }
    }

    /// <summary>The whole buffer, downloaded.</summary>
    public T[] ToArray()
    {
        var values = new T[checked((int)Length)];
        Download(values);
        return values;
    }

    /// <summary>
    /// Queues a copy from pinned host memory on <paramref name="stream"/> and returns at once; the
    /// pinned memory must stay unchanged until the stream passes the copy (an event tells when).
    /// </summary>
    public void UploadAsync(PinnedBuffer<T> source, DeviceStream stream, long offset = 0)
    {
        CheckRange(offset, source.Length);
        CheckStream(stream);
        stream.CopyToDevice(this, offset * ElementSize, source.Pointer, (long)source.Length * ElementSize, asynchronous: true);
    }

    /// <summary>Queues a copy into pinned host memory on <paramref name="stream"/> and returns at once.</summary>
    public void DownloadAsync(PinnedBuffer<T> destination, DeviceStream stream, long offset = 0)
    {
        CheckRange(offset, destination.Length);
        CheckStream(stream);
        stream.CopyFromDevice(this, offset * ElementSize, destination.Pointer, (long)destination.Length * ElementSize, asynchronous: true);
    }

    /// <summary>
    /// Queues a copy of the whole buffer to the start of <paramref name="destination"/> (as long or
    /// longer, same device) on <paramref name="stream"/>, by the driver's device-to-device copy.
    /// </summary>
    public void CopyToAsync(DeviceBuffer<T> destination, DeviceStream stream)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ThrowIfDisposed();
        destination.ThrowIfDisposed();
        CheckStream(stream);
        if (!ReferenceEquals(destination.Device, Device))
        {
            throw new ArgumentException($"{destination} is on another device than {this}", nameof(destination));
        }

        if (destination.Length < Length)
        {
            throw new ArgumentException($"{destination} is shorter than {this}", nameof(destination));
        }

        stream.CopyOnDevice(this, destination, Bytes);
    }

    private void CheckRange(long offset, long count)
    {
        ThrowIfDisposed();
        if (offset < 0 || offset + count > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"elements [{offset}, {offset + count}) lie outside {this}");
        }
    }

    private void CheckStream(DeviceStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!ReferenceEquals(stream.Device, Device))
        {
            throw new ArgumentException($"the stream belongs to {stream.Device.Info.Id}, the buffer to {Device.Info.Id}", nameof(stream));
        }
    }
}

/// <summary>Elements [Offset, Offset + Length) of a device buffer, as a kernel argument.</summary>
public readonly record struct DeviceView<T>(DeviceBuffer<T> Buffer, long Offset, long Length) : IDeviceView
    where T : unmanaged
{
    DeviceBuffer IDeviceView.Buffer => Buffer;
}

/// <summary>A buffer or a view of one, whatever its element type.</summary>
public interface IDeviceView
{
    DeviceBuffer Buffer { get; }

    long Offset { get; }

    long Length { get; }
}

/// <summary>
/// Host memory for asynchronous copies: page-locked where the backend has it (CUDA), aligned
/// native memory otherwise. Owned by its device; disposed with it at the latest.
/// </summary>
public sealed unsafe class PinnedBuffer<T> : IDisposable where T : unmanaged
{
    private readonly Action<nint> _free;
    private nint _pointer;

    internal PinnedBuffer(nint pointer, int length, Action<nint> free)
    {
        _pointer = pointer;
        Length = length;
        _free = free;
    }

    public int Length { get; }

    public Span<T> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == 0, this);
            return new Span<T>((void*)_pointer, Length);
        }
    }

    internal void* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == 0, this);
            return (void*)_pointer;
        }
    }

    /// <summary>Aligned native memory, for backends without page-locked allocations.</summary>
    internal static PinnedBuffer<T> Native(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        nint pointer = (nint)NativeMemory.AlignedAlloc((nuint)Math.Max(1L, (long)length * sizeof(T)), 64);
        return new PinnedBuffer<T>(pointer, length, p => NativeMemory.AlignedFree((void*)p));
    }

    public void Dispose()
    {
        nint pointer = Interlocked.Exchange(ref _pointer, 0);
        if (pointer != 0)
        {
            _free(pointer);
        }
    }
}

internal static class ElementTypes
{
    public static ElementType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? ElementType.Float
        : typeof(T) == typeof(int) ? ElementType.Int
        : typeof(T) == typeof(uint) ? ElementType.UInt
        : typeof(T) == typeof(Half) ? ElementType.Half
        : typeof(T) == typeof(BFloat16) ? ElementType.BFloat16
        : throw new NotSupportedException($"device buffers hold float, int, uint, Half or BFloat16, not {typeof(T).Name}");
}
