using System.Diagnostics;

namespace GpuViT.Models.Streaming;

/// <summary>
/// Where a stream's time went, filled in by <see cref="ImageStream.Run"/> when it is given one.
/// Copies and compute are device time between events recorded around them on their streams (on
/// an async device they overlap each other and the host's work, so they do not add up to the
/// wall time); decode is the workers' wall time per micro-batch; the waits are the host thread's
/// wall time blocked on them, which is what the stream loses to each.
/// </summary>
public sealed class StreamProfile
{
    private long _decodeTicks;

    /// <summary>Micro-batches that finished.</summary>
    public int MicroBatches { get; internal set; }

    /// <summary>Wall seconds from the start of each micro-batch's decode to its end, summed (overlapped with the device's work).</summary>
    public double DecodeSeconds => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _decodeTicks)).TotalSeconds;

    /// <summary>Wall seconds the stream's thread waited for a decode before it could upload: decode on the critical path.</summary>
    public double DecodeWaitSeconds { get; internal set; }

    /// <summary>Device seconds of the host→device copies (upload events).</summary>
    public double UploadSeconds { get; internal set; }

    /// <summary>Device seconds of the forward passes (events on the compute stream around each).</summary>
    public double ComputeSeconds { get; internal set; }

    /// <summary>Device seconds of the first forward pass alone: it builds or loads the kernels.</summary>
    public double FirstComputeSeconds { get; internal set; }

    /// <summary>Device seconds of the device→host copies of the outputs.</summary>
    public double DownloadSeconds { get; internal set; }

    /// <summary>Wall seconds the stream's thread waited for a micro-batch's outputs to arrive (device work not yet done).</summary>
    public double DeviceWaitSeconds { get; internal set; }

    /// <summary>The <see cref="Stopwatch"/> timestamp at which the first outputs were ready; null before.</summary>
    public long? FirstOutputTimestamp { get; internal set; }

    internal void AddDecode(long ticks) => Interlocked.Add(ref _decodeTicks, ticks);

    /// <summary>Adds another device's stream: its times and micro-batches to these (the first pass is the slowest device's, the first outputs the earliest).</summary>
    internal void Add(StreamProfile other)
    {
        MicroBatches += other.MicroBatches;
        AddDecode(Interlocked.Read(ref other._decodeTicks));
        DecodeWaitSeconds += other.DecodeWaitSeconds;
        UploadSeconds += other.UploadSeconds;
        ComputeSeconds += other.ComputeSeconds;
        FirstComputeSeconds = Math.Max(FirstComputeSeconds, other.FirstComputeSeconds);
        DownloadSeconds += other.DownloadSeconds;
        DeviceWaitSeconds += other.DeviceWaitSeconds;
        FirstOutputTimestamp = (FirstOutputTimestamp, other.FirstOutputTimestamp) switch
        {
            ({ } a, { } b) => Math.Min(a, b),
            var (a, b) => a ?? b,
        };
    }
}
