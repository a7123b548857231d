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
}
