namespace GpuViT.Kernels.Runtime;

/// <summary>
/// Work queued once and launched again and again: made by <see cref="Device.Capture"/>. On a
/// device with graphs (<see cref="DeviceCapabilities.HasGraphs"/>: CUDA) the work was recorded as
/// a graph, and <see cref="Launch"/> queues all of it with one call; elsewhere, or where the
/// capture failed, <see cref="Launch"/> runs the queuing code again (<see cref="IsGraph"/> false,
/// <see cref="FallbackReason"/> says why), so callers have one code path. A launch reads and
/// writes the buffers the work was queued with, whatever they hold at the time; scalars and
/// shapes are those of the capture. Dispose releases the graph; the device releases those still
/// open when it is disposed.
/// </summary>
public abstract class DeviceGraph : IDisposable
{
    private int _disposed;

    protected DeviceGraph(Device device) => Device = device;

    public Device Device { get; }

    /// <summary>Whether the work was recorded as a graph that one launch replays.</summary>
    public abstract bool IsGraph { get; }

    /// <summary>Why there is no graph (the device has none, or the capture failed: the driver's error); null when <see cref="IsGraph"/>.</summary>
    public abstract string? FallbackReason { get; }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Queues the work on <paramref name="stream"/>, a stream of the same device (not necessarily the one captured).</summary>
    public void Launch(DeviceStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (!ReferenceEquals(stream.Device, Device))
        {
            throw new ArgumentException($"the stream belongs to {stream.Device.Info.Id}, not {Device.Info.Id}", nameof(stream));
        }

        LaunchCore(stream);
    }

    /// <summary>Releases the graph once; a launch already queued still completes.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Device.Disown(this);
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => IsGraph ? $"graph on {Device.Info.Id}" : $"work requeued on {Device.Info.Id} ({FallbackReason})";

    protected abstract void LaunchCore(DeviceStream stream);

    /// <summary>Gives back what the backend holds (graph handles); called once.</summary>
    protected virtual void DisposeCore()
    {
    }
}

/// <summary>No graph: each launch runs the queuing code again, on the launch's stream.</summary>
internal sealed class RequeuedWork(Device device, Action<DeviceStream> queue, string reason) : DeviceGraph(device)
{
    public override bool IsGraph => false;

    public override string? FallbackReason => reason;

    protected override void LaunchCore(DeviceStream stream) => queue(stream);
}
