using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.OpenCL.OpenCLNative;

namespace GpuViT.Kernels.OpenCL;

/// <summary>
/// An in-order OpenCL command queue with profiling on. Asynchronous work is flushed as it is
/// queued, so it starts without waiting for a later synchronization.
/// </summary>
/// <remarks>
/// Events are markers, timed by their profiling end. Some drivers give markers no profiling
/// times (the standard only promises them for commands that do work), so the stream also keeps
/// the event of its latest command, and an event falls back to that command's end. PoCL times
/// markers.
/// </remarks>
internal sealed unsafe class OpenCLStream : DeviceStream
{
    private readonly OpenCLDevice _device;
    private readonly bool _isDefault;
    private readonly object _gate = new();
    private nint _latestCommand; // one reference to the latest command's event, or 0
    private bool _closed;

    public OpenCLStream(OpenCLDevice device, OpenCLHandle queue, bool isDefault)
        : base(device)
    {
        _device = device;
        Queue = queue;
        _isDefault = isDefault;
    }

    internal OpenCLHandle Queue { get; }

    public override void Synchronize()
    {
        using OpenCLHandle.Lease queue = Queue.Acquire();
        Check(clFinish(queue.Value), "clFinish");
    }

    public override DeviceEvent RecordEvent()
    {
        using OpenCLHandle.Lease queue = Queue.Acquire();
        OpenCLHandle? previous = null;
        lock (_gate)
        {
            if (_latestCommand != 0 && clRetainEvent(_latestCommand) == CL_SUCCESS)
            {
                previous = new OpenCLHandle(_latestCommand, OpenCLObjectKind.Event);
            }
        }

        nint marker;
        int status = clEnqueueMarkerWithWaitList(queue.Value, 0, null, &marker);
        if (status != CL_SUCCESS)
        {
            previous?.Dispose();
            Check(status, "clEnqueueMarkerWithWaitList");
        }

        var handle = new OpenCLHandle(marker, OpenCLObjectKind.Event);
        clFlush(queue.Value);
        return new OpenCLEvent(_device, handle, previous);
    }

    public override void WaitFor(DeviceEvent done)
    {
        OpenCLEvent other = OpenCLEvent.Of(done, _device);
        using OpenCLHandle.Lease queue = Queue.Acquire();
        using OpenCLHandle.Lease evt = other.Handle.Acquire();
        nint waitList = evt.Value;
        Check(clEnqueueBarrierWithWaitList(queue.Value, 1, &waitList, null), "clEnqueueBarrierWithWaitList");
    }

    /// <summary>Created streams are released here; the default stream belongs to its device, which releases it.</summary>
    public override void Dispose()
    {
        if (!_isDefault)
        {
            Close();
        }
    }

    /// <summary>Waits for the queue to drain, then releases it (once).</summary>
    internal void Close()
    {
        if (Queue.IsClosed)
        {
            return;
        }

        try
        {
            using OpenCLHandle.Lease queue = Queue.Acquire();
            clFinish(queue.Value);
        }
        catch (ObjectDisposedException)
        {
        }

        Queue.Dispose();
        lock (_gate)
        {
            _closed = true;
        }

        Track(0);
        _device.Forget(this);
    }

    /// <summary>Remembers the event of the command just queued (taking its reference) in place of the one before.</summary>
    internal void Track(nint commandEvent)
    {
        nint replaced;
        lock (_gate)
        {
            // A launch that raced with Close keeps nothing: a closed stream holds no events.
            replaced = _latestCommand;
            _latestCommand = _closed ? 0 : commandEvent;
            if (_closed && commandEvent != 0)
            {
                clReleaseEvent(commandEvent);
            }
        }

        if (replaced != 0)
        {
            clReleaseEvent(replaced);
        }
    }

    protected internal override void CopyToDevice(DeviceBuffer destination, long byteOffset, void* source, long bytes, bool asynchronous) =>
        Copy(destination, byteOffset, source, bytes, asynchronous, toDevice: true);

    protected internal override void CopyFromDevice(DeviceBuffer source, long byteOffset, void* destination, long bytes, bool asynchronous) =>
        Copy(source, byteOffset, destination, bytes, asynchronous, toDevice: false);

    /// <summary>A copy between host memory and a buffer, either way; flushed when asynchronous, so it starts.</summary>
    private void Copy(DeviceBuffer buffer, long byteOffset, void* host, long bytes, bool asynchronous, bool toDevice)
    {
        if (bytes == 0)
        {
            return;
        }

        using OpenCLHandle.Lease queue = Queue.Acquire();
        using OpenCLHandle.Lease memory = OpenCLMemory.Of(buffer).Handle.Acquire();
        uint blocking = asynchronous ? CL_FALSE : CL_TRUE;
        nint done;
        int status = toDevice
            ? clEnqueueWriteBuffer(queue.Value, memory.Value, blocking, (nuint)byteOffset, (nuint)bytes, host, 0, null, &done)
            : clEnqueueReadBuffer(queue.Value, memory.Value, blocking, (nuint)byteOffset, (nuint)bytes, host, 0, null, &done);
        CheckCopy(status, toDevice ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer", buffer, bytes);
        Track(done);
        if (asynchronous)
        {
            clFlush(queue.Value);
        }
    }

    protected internal override void CopyOnDevice(DeviceBuffer source, DeviceBuffer destination, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        using OpenCLHandle.Lease queue = Queue.Acquire();
        using OpenCLHandle.Lease from = OpenCLMemory.Of(source).Handle.Acquire();
        using OpenCLHandle.Lease to = OpenCLMemory.Of(destination).Handle.Acquire();
        nint done;
        int status = clEnqueueCopyBuffer(queue.Value, from.Value, to.Value, 0, 0, (nuint)bytes, 0, null, &done);
        CheckCopy(status, "clEnqueueCopyBuffer", destination, bytes);
        Track(done);
        clFlush(queue.Value);
    }

    private void CheckCopy(int status, string call, DeviceBuffer buffer, long bytes)
    {
        if (status == CL_SUCCESS)
        {
            return;
        }

        // OpenCL allocates lazily: a buffer that did not fit may only fail at its first copy.
        if (OpenCLDevice.IsOutOfMemory(status))
        {
            long free = _device.Info.MemoryBytes - _device.Memory.BytesInUse;
            throw new DeviceOutOfMemoryException(_device.Info.Id, buffer.Bytes, free, _device.Info.MaxAllocationBytes);
        }

        throw new OpenCLException($"{call} of {bytes} bytes for {buffer} failed: {ErrorName(status)}", status);
    }

    private void Check(int status, string call)
    {
        if (status != CL_SUCCESS)
        {
            throw new OpenCLException($"{call} on {_device.Info.Id} failed: {ErrorName(status)}", status);
        }
    }
}

/// <summary>
/// A marker on an OpenCL queue; its profiling end time is the event's time stamp, or, where the
/// driver does not time markers, the end of the command queued before it.
/// </summary>
internal sealed unsafe class OpenCLEvent : DeviceEvent
{
    private readonly OpenCLDevice _device;
    private readonly OpenCLHandle? _previousCommand;

    public OpenCLEvent(OpenCLDevice device, OpenCLHandle handle, OpenCLHandle? previousCommand)
    {
        _device = device;
        Handle = handle;
        _previousCommand = previousCommand;
    }

    internal OpenCLHandle Handle { get; }

    public override bool IsComplete
    {
        get
        {
            using OpenCLHandle.Lease evt = Handle.Acquire();
            int state;
            Check(clGetEventInfo(evt.Value, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(int), &state, null), "clGetEventInfo");
            if (state < 0)
            {
                throw new OpenCLException($"the work before an event on {_device.Info.Id} failed: {ErrorName(state)}", state);
            }

            return state == CL_COMPLETE;
        }
    }

    public override void Synchronize()
    {
        using OpenCLHandle.Lease evt = Handle.Acquire();
        nint list = evt.Value;
        Check(clWaitForEvents(1, &list), "clWaitForEvents");
    }

    public override double ElapsedMillisecondsSince(DeviceEvent start)
    {
        OpenCLEvent begin = Of(start, _device);
        if (!begin.IsComplete || !IsComplete)
        {
            throw new InvalidOperationException("both events must be complete before their elapsed time is read (Synchronize the later one)");
        }

        (ulong? from, ulong? to) = (begin.MarkerEnd(), MarkerEnd());
        return from is not null && to is not null
            ? ((double)to.Value - from.Value) / 1e6
            : ((double)PreviousCommandEnd() - begin.PreviousCommandEnd()) / 1e6;
    }

    public override void Dispose()
    {
        Handle.Dispose();
        _previousCommand?.Dispose();
    }

    internal static OpenCLEvent Of(DeviceEvent evt, OpenCLDevice device)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (evt is not OpenCLEvent openCL || !ReferenceEquals(openCL._device, device))
        {
            throw new ArgumentException($"the event belongs to another device, not {device.Info.Id}", nameof(evt));
        }

        return openCL;
    }

    /// <summary>Device nanoseconds when the marker completed, or null where the driver does not time markers.</summary>
    internal ulong? MarkerEnd()
    {
        using OpenCLHandle.Lease evt = Handle.Acquire();
        ulong end;
        int status = clGetEventProfilingInfo(evt.Value, CL_PROFILING_COMMAND_END, sizeof(ulong), &end, null);
        return status == CL_SUCCESS && end != 0 ? end : null;
    }

    /// <summary>Device nanoseconds when the command before the marker completed.</summary>
    internal ulong PreviousCommandEnd()
    {
        if (_previousCommand is null)
        {
            throw new NotSupportedException(
                $"{_device.Info.Id} does not time markers, and nothing ran on the stream before this event to time instead");
        }

        using OpenCLHandle.Lease evt = _previousCommand.Acquire();
        ulong end;
        Check(clGetEventProfilingInfo(evt.Value, CL_PROFILING_COMMAND_END, sizeof(ulong), &end, null), "clGetEventProfilingInfo");
        return end;
    }

    private void Check(int status, string call)
    {
        if (status != CL_SUCCESS)
        {
            throw new OpenCLException($"{call} on {_device.Info.Id} failed: {ErrorName(status)}", status);
        }
    }
}
