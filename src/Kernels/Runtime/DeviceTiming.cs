using System.Diagnostics;

namespace GpuViT.Kernels.Runtime;

/// <summary>How the probes and benchmarks time device work.</summary>
public static class DeviceTiming
{
    /// <summary>
    /// Seconds for <paramref name="repeats"/> back-to-back runs of <paramref name="run"/> on the
    /// default stream, from a synchronised device: device time between two events where the
    /// device's events time, wall time around the runs otherwise.
    /// </summary>
    public static double Seconds(Device device, Action run, int repeats)
    {
        DeviceStream stream = device.DefaultStream;
        device.Synchronize();
        long wallStart = Stopwatch.GetTimestamp();
        using DeviceEvent start = stream.RecordEvent();
        for (int i = 0; i < repeats; i++)
        {
            run();
        }

        using DeviceEvent end = stream.RecordEvent();
        end.Synchronize();
        double wall = Stopwatch.GetElapsedTime(wallStart).TotalSeconds;
        double events = end.ElapsedMillisecondsSince(start) / 1000;
        return events > 0 ? events : wall;
    }

    /// <summary>
    /// Seconds per run of <paramref name="run"/> in each of <paramref name="samples"/> samples,
    /// sorted, fastest first: after an untimed warm-up (which builds kernels and sizes buffers),
    /// each sample times as many back-to-back runs as last at least <paramref name="sample"/>, so
    /// launch overhead and the timer's resolution stay small. Peaks take the fastest, benchmarks
    /// the median.
    /// </summary>
    public static double[] SecondsPerRun(Device device, Action run, TimeSpan sample, int samples)
    {
        run();
        device.Synchronize();
        double once = Seconds(device, run, 1);
        int repeats = (int)Math.Clamp(Math.Ceiling(sample.TotalSeconds / Math.Max(once, 1e-7)), 1, 1 << 16);
        double[] times = [.. Enumerable.Range(0, samples).Select(_ => Seconds(device, run, repeats) / repeats)];
        Array.Sort(times);
        return times;
    }

    /// <summary>
    /// Seconds per call of <paramref name="run"/> with their spread, as BenchmarkDotNet measures:
    /// after an untimed warm-up, each run times back-to-back calls between two synchronisations
    /// (<see cref="Seconds"/>), as many as one timed call says last at least <paramref name="minRun"/>
    /// (so launch overhead and the timer's resolution stay small); runs go on until at least
    /// <paramref name="minRuns"/> have run and <paramref name="minTotal"/> has passed.
    /// <paramref name="cancel"/> is honoured between runs.
    /// </summary>
    public static TimingSpread Spread(Device device, Action run, TimeSpan minRun, int minRuns, TimeSpan minTotal, CancellationToken cancel = default)
    {
        run();
        device.Synchronize();
        double once = Seconds(device, run, 1);
        int calls = (int)Math.Clamp(Math.Ceiling(minRun.TotalSeconds / Math.Max(once, 1e-7)), 1, 1 << 16);
        var perCall = new List<double>();
        long start = Stopwatch.GetTimestamp();
        while (perCall.Count < minRuns || Stopwatch.GetElapsedTime(start) < minTotal)
        {
            cancel.ThrowIfCancellationRequested();
            perCall.Add(Seconds(device, run, calls) / calls);
        }

        return TimingSpread.Of(perCall, calls);
    }
}
