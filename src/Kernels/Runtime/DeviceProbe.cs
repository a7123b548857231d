using System.Diagnostics;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime.Host;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Kernels.Runtime;

/// <summary>
/// Measures a device's FP32 and memory-bandwidth peaks with short probes (about a second in
/// all): the Probes kernels on CUDA and OpenCL, managed SIMD loops on the cpu backend. The
/// emulator is not a performance device and is not probed.
/// </summary>
public static class DeviceProbe
{
    private const int GroupSize = 256;
    private static readonly TimeSpan Target = TimeSpan.FromMilliseconds(150);

    public static DevicePeaks Measure(Device device) => device.Kind switch
    {
        DeviceKind.Cpu => CpuProbe.Measure(),
        DeviceKind.Emulator => DevicePeaks.Unknown,
        _ => new DevicePeaks(Fp32(device), Bandwidth(device), PeakSource.Probe),
    };

    private static double Fp32(Device device)
    {
        int groups = Math.Max(64, device.Info.ComputeUnits * 32);
        int threads = groups * GroupSize;
        using DeviceBuffer<float> output = device.Allocate<float>(threads);

        // Grow the loop until one launch takes long enough to time well.
        int iterations = 64;
        double seconds = Time(device, () => device.Launch(Catalog.ProbeFma, Int3.Size(groups), Int3.Size(GroupSize), output, iterations, 1f));
        while (seconds < Target.TotalSeconds && iterations < (1 << 24))
        {
            iterations = (int)Math.Min(1 << 24, iterations * Math.Clamp(Target.TotalSeconds / Math.Max(seconds, 1e-6), 2, 64));
            seconds = Best(device, () => device.Launch(Catalog.ProbeFma, Int3.Size(groups), Int3.Size(GroupSize), output, iterations, 1f));
        }

        return (double)threads * iterations * Probes.FlopsPerIteration / seconds / 1e9;
    }

    private static double Bandwidth(Device device)
    {
        // Far larger than any cache, within the largest allocation.
        long elements = Math.Min(64L << 20, device.Info.MaxAllocationBytes / sizeof(float) / 2);
        int n = (int)(elements / GroupSize * GroupSize);
        using DeviceBuffer<float> source = device.Allocate<float>(n);
        using DeviceBuffer<float> destination = device.Allocate<float>(n);
        double seconds = Best(device, () => device.Launch(Catalog.ProbeCopy, Int3.Size(n / GroupSize), Int3.Size(GroupSize), source, destination, n));
        return 2.0 * n * sizeof(float) / seconds / 1e9;
    }

    /// <summary>The fastest of three timed runs after a warm-up.</summary>
    private static double Best(Device device, Action launch)
    {
        Time(device, launch);
        return Enumerable.Range(0, 3).Min(_ => Time(device, launch));
    }

    /// <summary>Device time by events where they time; wall time around a synchronised launch otherwise.</summary>
    private static double Time(Device device, Action launch)
    {
        DeviceStream stream = device.DefaultStream;
        device.Synchronize();
        long wallStart = Stopwatch.GetTimestamp();
        using DeviceEvent start = stream.RecordEvent();
        launch();
        using DeviceEvent end = stream.RecordEvent();
        end.Synchronize();
        double wall = Stopwatch.GetElapsedTime(wallStart).TotalSeconds;
        double events = end.ElapsedMillisecondsSince(start) / 1000;
        return events > 0 ? events : wall;
    }
}
