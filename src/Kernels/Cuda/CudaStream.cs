using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Cuda.CudaNative;

namespace GpuViT.Kernels.Cuda;

/// <summary>
/// A CUDA stream, created non-blocking so that it never waits on the legacy NULL stream (which
/// this runtime does not use). Copies are cuMemcpy*Async on the stream; a synchronous copy
/// synchronizes the stream before it returns, which also covers pageable host memory, where the
/// driver may return before the transfer is done.
/// </summary>
internal sealed unsafe class CudaStream : DeviceStream
{
    private readonly CudaDevice _device;
    private readonly bool _isDefault;
    private nint _handle;

    public CudaStream(CudaDevice device, bool isDefault)
        : base(device)
    {
        _device = device;
        _isDefault = isDefault;
        device.Enter();
        nint handle;
        device.Check(cuStreamCreate(&handle, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        _handle = handle;
    }

    /// <summary>The CUstream; throws once the stream or its device is disposed.</summary>
    internal nint Handle => Live(_device, ref _handle, nameof(CudaStream), "a stream");

    public override void Synchronize()
    {
        nint handle = Handle;
        _device.Enter();
        _device.Check(cuStreamSynchronize(handle), "cuStreamSynchronize");
    }

    public override DeviceEvent RecordEvent()
    {
        nint handle = Handle;
        _device.Enter();
        nint created;
        _device.Check(cuEventCreate(&created, CU_EVENT_DEFAULT), "cuEventCreate");
        var recorded = new CudaEvent(_device, created);
        int result = cuEventRecord(created, handle);
        if (result != CUDA_SUCCESS)
        {
            recorded.Dispose();
            _device.Check(result, "cuEventRecord");
        }

        return recorded;
    }

    public override void WaitFor(DeviceEvent done)
    {
        nint handle = Handle;
        nint waited = CudaEvent.HandleOf(done, _device, nameof(done));
        _device.Enter();
        _device.Check(cuStreamWaitEvent(handle, waited, 0), "cuStreamWaitEvent");
    }

    /// <summary>
    /// Destroys a stream made by <see cref="Device.CreateStream"/>. The default stream belongs to
    /// the device, which destroys it when it is disposed; disposing it here does nothing.
    /// </summary>
    public override void Dispose()
    {
        if (!_isDefault)
        {
            Destroy();
        }
    }

    /// <summary>Releases the CUstream once; work still queued on it completes first (the driver defers the release).</summary>
    internal void Destroy()
    {
        nint handle = Interlocked.Exchange(ref _handle, 0);
        if (handle != 0)
        {
            _device.TryEnter();
            _ = cuStreamDestroy_v2(handle);
        }
    }

    /// <summary>
    /// A stream's or event's handle (<paramref name="what"/>: <c>a stream</c>), or <see cref="ObjectDisposedException"/>
    /// once it or its device is disposed.
    /// </summary>
    internal static nint Live(CudaDevice device, ref nint handle, string type, string what)
    {
        nint live = Volatile.Read(ref handle);
        if (live == 0 || device.IsDisposed)
        {
            throw new ObjectDisposedException(
                type, $"{what} of {device.Info.Id} was used after it{(device.IsDisposed ? "s device" : "")} was disposed");
        }

        return live;
    }

    protected internal override void CopyToDevice(DeviceBuffer destination, long byteOffset, void* source, long bytes, bool asynchronous) =>
        Copy(destination, byteOffset, source, bytes, asynchronous, toDevice: true);

    protected internal override void CopyFromDevice(DeviceBuffer source, long byteOffset, void* destination, long bytes, bool asynchronous) =>
        Copy(source, byteOffset, destination, bytes, asynchronous, toDevice: false);

    /// <summary>A copy between host memory and a buffer, either way; a synchronous one waits for the stream.</summary>
    private void Copy(DeviceBuffer buffer, long byteOffset, void* host, long bytes, bool asynchronous, bool toDevice)
    {
        nint handle = Handle;
        if (bytes == 0)
        {
            return;
        }

        ulong pointer = ((CudaMemory)buffer.Memory).Pointer + (ulong)byteOffset;
        _device.Enter();
        if (toDevice)
        {
            _device.Check(cuMemcpyHtoDAsync_v2(pointer, host, (nuint)bytes, handle), "cuMemcpyHtoDAsync");
        }
        else
        {
            _device.Check(cuMemcpyDtoHAsync_v2(host, pointer, (nuint)bytes, handle), "cuMemcpyDtoHAsync");
        }

        if (!asynchronous)
        {
            _device.Check(cuStreamSynchronize(handle), "cuStreamSynchronize");
        }
    }

    protected internal override void CopyOnDevice(DeviceBuffer source, DeviceBuffer destination, long bytes)
    {
        nint handle = Handle;
        if (bytes == 0)
        {
            return;
        }

        _device.Enter();
        _device.Check(
            cuMemcpyDtoDAsync_v2(((CudaMemory)destination.Memory).Pointer, ((CudaMemory)source.Memory).Pointer, (nuint)bytes, handle),
            "cuMemcpyDtoDAsync");
    }
}

/// <summary>
/// A CUDA event with timing. The device tracks its events and destroys those still open when it
/// is disposed (before the context goes), so each handle is destroyed exactly once, by whichever
/// comes first.
/// </summary>
internal sealed unsafe class CudaEvent : DeviceEvent
{
    private readonly CudaDevice _device;
    private nint _handle;

    public CudaEvent(CudaDevice device, nint handle)
    {
        _device = device;
        _handle = handle;
        device.Track(this);
    }

    public override bool IsComplete
    {
        get
        {
            nint handle = Handle;
            _device.Enter();
            int result = cuEventQuery(handle);
            if (result == CUDA_ERROR_NOT_READY)
            {
                return false;
            }

            _device.Check(result, "cuEventQuery");
            return true;
        }
    }

    private nint Handle => CudaStream.Live(_device, ref _handle, nameof(CudaEvent), "an event");

    public override void Synchronize()
    {
        nint handle = Handle;
        _device.Enter();
        _device.Check(cuEventSynchronize(handle), "cuEventSynchronize");
    }

    public override double ElapsedMillisecondsSince(DeviceEvent start)
    {
        nint from = HandleOf(start, _device, nameof(start));
        nint to = Handle;
        _device.Enter();
        float milliseconds;
        int result = cuEventElapsedTime(&milliseconds, from, to);
        if (result == CUDA_ERROR_NOT_READY)
        {
            throw new InvalidOperationException("both events must be complete before their time difference is read: synchronize the later one first");
        }

        _device.Check(result, "cuEventElapsedTime");
        return milliseconds;
    }

    public override void Dispose()
    {
        if (_device.Forget(this))
        {
            Destroy();
        }
    }

    /// <summary>The CUevent of <paramref name="value"/>, which must be an open event of <paramref name="device"/>.</summary>
    internal static nint HandleOf(DeviceEvent value, CudaDevice device, string parameter)
    {
        ArgumentNullException.ThrowIfNull(value, parameter);
        if (value is not CudaEvent cuda || !ReferenceEquals(cuda._device, device))
        {
            throw new ArgumentException($"the event was not recorded on a stream of {device.Info.Id}", parameter);
        }

        return cuda.Handle;
    }

    internal void Destroy()
    {
        nint handle = Interlocked.Exchange(ref _handle, 0);
        if (handle != 0)
        {
            _device.TryEnter();
            _ = cuEventDestroy_v2(handle);
        }
    }
}
