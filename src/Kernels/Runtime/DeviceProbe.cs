using GpuViT.Kernels.Library;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Kernels.Runtime;

/// <summary>
/// Measures a device's FP32 and memory-bandwidth peaks with short probes (about a second in
/// all): the Probes kernels and the driver's device-to-device copy on CUDA and OpenCL, managed
/// SIMD loops on the cpu backend. The emulator is not a performance device and is not probed.
/// </summary>
/// <remarks>
/// Every figure is the best of <see cref="Samples"/> samples of about <see cref="Sample"/> each,
/// after an untimed warm-up: the first launch builds the kernel (or loads it from the cache) and
/// the driver may compile it again, and interference (other processes, clocks ramping up) only
/// ever makes a sample slower.
/// </remarks>
public static class DeviceProbe
{
    /// <summary>How long one timed sample lasts at least; launches repeat back to back to fill it, so launch overhead and timer resolution stay small.</summary>
    public static readonly TimeSpan Sample = TimeSpan.FromMilliseconds(30);

    /// <summary>Timed samples per figure, of which the fastest counts.</summary>
    public const int Samples = 7;

    private const int GroupSize = 256;
    private const int MaxFmaIterations = 1 << 24;

    /// <summary>The device's peaks, measured as its backend measures them (<see cref="DeviceBackend.Measure"/>).</summary>
    public static DevicePeaks Measure(Device device) => DeviceBackend.Of(device.Kind).Measure(device);

    /// <summary>The Probes kernels' FP32 and copy rates and the driver's copy: how a backend that runs generated kernels is measured.</summary>
    internal static DevicePeaks Kernels(Device device)
    {
        double fp32 = Fp32(device);
        (double kernel, double driver) = Bandwidth(device);
        return DevicePeaks.Probed(fp32, kernel, driver);
    }

    /// <summary>GFLOP/s of <see cref="Probes.ProbeFma"/> on enough groups to fill every compute unit.</summary>
    internal static double Fp32(Device device)
    {
        int groups = Math.Max(64, device.Info.ComputeUnits * 32);
        int threads = groups * GroupSize;
        using DeviceBuffer<float> output = device.Allocate<float>(threads);
        int iterations = 64;
        void Launch() => device.Launch(Catalog.ProbeFma, Int3.Size(groups), Int3.Size(GroupSize), output, iterations, 1f);

        // Untimed first: timed, the build made the first launch look long enough, so the loop
        // stopped at 64 iterations and the figure read near 0 (a cold cache; NVIDIA's OpenCL).
        Launch();
        device.Synchronize();

        // Grow the loop until one launch lasts a sample, then keep the fastest of the samples.
        double seconds = DeviceTiming.Seconds(device, Launch, 1);
        while (seconds < Sample.TotalSeconds && iterations < MaxFmaIterations)
        {
            double factor = Math.Clamp(1.25 * Sample.TotalSeconds / Math.Max(seconds, 1e-7), 2, 64);
            iterations = (int)Math.Min(MaxFmaIterations, iterations * factor);
            seconds = DeviceTiming.Seconds(device, Launch, 1);
        }

        for (int sample = 1; sample < Samples; sample++)
        {
            seconds = Math.Min(seconds, DeviceTiming.Seconds(device, Launch, 1));
        }

        return (double)threads * iterations * Probes.FlopsPerIteration / seconds / 1e9;
    }

    /// <summary>
    /// GB/s (bytes read plus bytes written) of <see cref="Probes.ProbeCopy"/> and of the driver's
    /// own copy, between the same two buffers.
    /// </summary>
    internal static (double Kernel, double Driver) Bandwidth(Device device)
    {
        long bytes = CopyBufferBytes(device.Info, device.FreeBytes);
        int n = (int)(bytes / sizeof(float));
        using DeviceBuffer<float> source = device.Allocate<float>(n);
        using DeviceBuffer<float> destination = device.Allocate<float>(n);

        // Written, not left as allocated, on a CPU device: there untouched pages may all map one
        // zero page, which reads from the cache. A GPU's memory is backed as allocated.
        if (!device.Info.IsGpu)
        {
            Fill(source);
        }

        int groups = CopyGroups(device.Info, n);
        void Kernel() => device.Launch(Catalog.ProbeCopy, Int3.Size(groups), Int3.Size(Probes.CopyGroupSize), source, destination, n);
        void Driver() => source.CopyToAsync(destination, device.DefaultStream);

        double moved = 2.0 * n * sizeof(float);
        return (moved / DeviceTiming.SecondsPerRun(device, Kernel, Sample, Samples)[0] / 1e9, moved / DeviceTiming.SecondsPerRun(device, Driver, Sample, Samples)[0] / 1e9);
    }

    /// <summary>
    /// Bytes of each copy buffer: on a GPU 1 GiB, far past any last-level cache (60 MB on an H200);
    /// on a CPU device (PoCL) 256 MiB, as the cpu probe, which spares host memory. Never more than
    /// the largest allocation, nor more than a quarter of the free memory (two buffers).
    /// </summary>
    internal static long CopyBufferBytes(DeviceInfo info, long freeBytes)
    {
        long wanted = info.IsGpu ? 1L << 30 : 256L << 20;
        long bytes = Math.Min(wanted, Math.Min(info.MaxAllocationBytes, freeBytes / 4));
        return bytes / sizeof(float) * sizeof(float);
    }

    /// <summary>
    /// Groups for the copy kernel: one block each; on a GPU up to 1024 per compute unit (then
    /// groups loop over blocks). On a 1 GiB copy that is over a hundred waves of a GPU's resident
    /// groups, so the last wave's idle tail costs under 1 %; with 64 groups per compute unit each
    /// would loop over ~16 blocks and the tail would cost several per cent. A CPU device always
    /// gets one block per group: looping, one work-item's blocks lie a grid apart and PoCL runs a
    /// work-item's whole loop before the next work-item's (1 GB/s instead of 12 here).
    /// </summary>
    internal static int CopyGroups(DeviceInfo info, int n)
    {
        long blocks = Math.Max(1, ((long)n + Probes.CopyBlock - 1) / Probes.CopyBlock);
        long most = info.IsGpu ? Math.Max(1, info.ComputeUnits) * 1024L : long.MaxValue;
        return (int)Math.Min(blocks, Math.Min(most, info.MaxGroupCount.X));
    }

    private static void Fill(DeviceBuffer<float> buffer)
    {
        float[] chunk = new float[(int)Math.Min(buffer.Length, 4 << 20)];
        for (int i = 0; i < chunk.Length; i++)
        {
            chunk[i] = i;
        }

        for (long offset = 0; offset < buffer.Length; offset += chunk.Length)
        {
            buffer.Upload(chunk.AsSpan(0, (int)Math.Min(chunk.Length, buffer.Length - offset)), offset);
        }
    }
}
