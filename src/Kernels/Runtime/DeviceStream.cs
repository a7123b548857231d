namespace GpuViT.Kernels.Runtime;

/// <summary>
/// An in-order queue of copies and launches (a CUDA stream, an OpenCL command queue). Work on
/// two streams of one device may overlap; <see cref="WaitFor"/> orders them where needed.
/// </summary>
public abstract unsafe class DeviceStream : IDisposable
{
    protected DeviceStream(Device device) => Device = device;

    public Device Device { get; }

    /// <summary>Waits until everything queued so far on this stream has finished.</summary>
    public abstract void Synchronize();

    /// <summary>An event that completes when the work queued so far completes; its time stamp is for profiling.</summary>
    public abstract DeviceEvent RecordEvent();

    /// <summary>Work queued on this stream after this call starts only once <paramref name="done"/> has completed.</summary>
    public abstract void WaitFor(DeviceEvent done);

    public abstract void Dispose();

    /// <summary>Host to device; asynchronous only from pinned memory (the buffer checks).</summary>
    protected internal abstract void CopyToDevice(DeviceBuffer destination, long byteOffset, void* source, long bytes, bool asynchronous);

    /// <summary>Device to host.</summary>
    protected internal abstract void CopyFromDevice(DeviceBuffer source, long byteOffset, void* destination, long bytes, bool asynchronous);

    /// <summary>
    /// Device to device by the driver's own copy (cuMemcpyDtoDAsync, clEnqueueCopyBuffer), queued;
    /// what <c>devices --probe</c> measures the copy kernel against.
    /// </summary>
    protected internal virtual void CopyOnDevice(DeviceBuffer source, DeviceBuffer destination, long bytes) =>
        throw new NotSupportedException($"{Device.Info.Id}'s streams do not copy between device buffers");
}

/// <summary>A point in a stream: whether the work before it is done, and when it was reached.</summary>
public abstract class DeviceEvent : IDisposable
{
    public abstract bool IsComplete { get; }

    /// <summary>Waits until the work before the event has finished.</summary>
    public abstract void Synchronize();

    /// <summary>Device time from <paramref name="start"/> to this event, in milliseconds; both must be complete.</summary>
    public abstract double ElapsedMillisecondsSince(DeviceEvent start);

    public abstract void Dispose();
}
