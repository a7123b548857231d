using GpuViT.Kernels.Library;
using GpuViT.Kernels.OpenCL;
using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Runtime;

/// <summary>
/// The probes behind `gpuvit devices --probe`: the copy kernel copies every element exactly for
/// any grid, the driver's copy does too, the roof is the faster copy, and the FMA probe is not
/// fooled by a cold kernel cache.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class DeviceProbeTests(TestDevices devices) : IClassFixture<TestDevices>
{
    public static TheoryData<string, int, int, int> CopyShapes
    {
        get
        {
            var shapes = new TheoryData<string, int, int, int>();
            foreach (string backend in new[] { TestBackends.OpenCL, TestBackends.Emulator })
            {
                shapes.Add(backend, 3 * Probes.CopyBlock + 77, 2, Probes.CopyGroupSize);   // blocks looped over, and a tail
                shapes.Add(backend, 4 * Probes.CopyBlock, 4, Probes.CopyGroupSize);        // one block per group, no tail
                shapes.Add(backend, 2 * Probes.CopyBlock + 5, 9, Probes.CopyGroupSize);    // more groups than blocks
                shapes.Add(backend, Probes.CopyBlock - 1, 1, Probes.CopyGroupSize);        // only a tail
                shapes.Add(backend, 5000, 3, 64);                                          // another group size: one element per thread
            }

            return shapes;
        }
    }

    [Theory]
    [MemberData(nameof(CopyShapes))]
    public void The_copy_kernel_copies_every_element_exactly_and_nothing_past_n(string backend, int n, int groups, int groupSize)
    {
        float[] source = TestData.Random(n + 64, seed: n);
        float[] destination = Enumerable.Repeat(float.NaN, n + 64).ToArray();

        devices.Launch(backend, K.ProbeCopy, Int3.Size(groups), Int3.Size(groupSize), source, destination, n);

        Assert.Equal(source[..n], destination[..n]);
        Assert.All(destination[n..], value => Assert.True(float.IsNaN(value), "written past n"));
    }

    [Theory]
    [InlineData("opencl")]
    [InlineData("cpu")]
    [InlineData("emulator")]
    public void The_driver_copy_copies_the_whole_buffer_to_the_start_of_a_longer_one(string selector)
    {
        using Device device = selector == "opencl" ? RuntimeRequirement.OpenCL() : Devices.Open(selector).Device;
        float[] values = TestData.Random(10_000, seed: 3);
        using DeviceBuffer<float> source = device.Upload<float>(values);
        using DeviceBuffer<float> destination = device.Upload<float>(Enumerable.Repeat(-1f, 10_007).ToArray());

        source.CopyToAsync(destination, device.DefaultStream);
        float[] copied = destination.ToArray();

        Assert.Equal(values, copied[..10_000]);
        Assert.Equal(Enumerable.Repeat(-1f, 7), copied[10_000..]);
    }

    [Fact]
    public void The_driver_copy_refuses_a_shorter_destination_or_another_device()
    {
        using Device cpu = Devices.Open("cpu").Device;
        using Device emulator = Devices.Open("emulator").Device;
        using DeviceBuffer<float> source = cpu.Allocate<float>(100);

        using (DeviceBuffer<float> shorter = cpu.Allocate<float>(99))
        {
            Assert.Contains("shorter", Assert.Throws<ArgumentException>(() => source.CopyToAsync(shorter, cpu.DefaultStream)).Message);
        }

        using DeviceBuffer<float> elsewhere = emulator.Allocate<float>(100);
        Assert.Throws<ArgumentException>(() => source.CopyToAsync(elsewhere, cpu.DefaultStream));
    }

    [Fact]
    public void Probed_peaks_take_the_faster_copy_as_the_memory_roof()
    {
        DevicePeaks kernelFaster = DevicePeaks.Probed(100, copyKernelGbps: 40, driverCopyGbps: 30);
        DevicePeaks driverFaster = DevicePeaks.Probed(100, copyKernelGbps: 12, driverCopyGbps: 33);
        DevicePeaks kernelOnly = DevicePeaks.Probed(100, copyKernelGbps: 12, driverCopyGbps: null);

        Assert.Equal((40.0, 40.0, 30.0), (kernelFaster.MemoryGbps!.Value, kernelFaster.CopyKernelGbps!.Value, kernelFaster.DriverCopyGbps!.Value));
        Assert.Equal(33, driverFaster.MemoryGbps);
        Assert.Equal(12, kernelOnly.MemoryGbps);
        Assert.Null(kernelOnly.DriverCopyGbps);
        Assert.Equal(PeakSource.Probe, driverFaster.Source);
    }

    [Fact]
    public void Copy_buffers_are_past_the_caches_yet_within_the_largest_allocation_and_free_memory()
    {
        DeviceInfo gpu = Describe(isGpu: true, maxAllocation: 32L << 30, units: 132);
        DeviceInfo cpuDevice = Describe(isGpu: false, maxAllocation: 8L << 30, units: 2);

        Assert.Equal(1L << 30, DeviceProbe.CopyBufferBytes(gpu, freeBytes: 140L << 30));
        Assert.Equal(256L << 20, DeviceProbe.CopyBufferBytes(cpuDevice, freeBytes: 20L << 30));
        Assert.Equal(100L << 20, DeviceProbe.CopyBufferBytes(gpu with { MaxAllocationBytes = 100L << 20 }, freeBytes: 140L << 30));
        Assert.Equal(512L << 20, DeviceProbe.CopyBufferBytes(gpu, freeBytes: 2L << 30));

        // One block per group; on a GPU up to 1024 groups per compute unit, which loop beyond that.
        Assert.Equal((1 << 28) / Probes.CopyBlock, DeviceProbe.CopyGroups(gpu, 1 << 28));
        Assert.Equal(4 * 1024, DeviceProbe.CopyGroups(gpu with { ComputeUnits = 4 }, 1 << 28));
        Assert.Equal((1 << 28) / Probes.CopyBlock, DeviceProbe.CopyGroups(cpuDevice, 1 << 28));
        Assert.Equal(1, DeviceProbe.CopyGroups(gpu, 5));
    }

    [Fact]
    public void The_FMA_probe_does_not_time_the_build_of_its_kernel()
    {
        // On the model a launch costs 1 ms plus 1 µs per iteration, and the first one waits 0.5 s
        // for the build. Timed, the build stopped the loop at 64 iterations: 6 % of the rate.
        using var device = new ModelClockDevice();
        int threads = Math.Max(64, device.Info.ComputeUnits * 32) * 256;
        double rate = threads * (double)Probes.FlopsPerIteration / ModelClockDevice.IterationSeconds / 1e9;

        double probed = DeviceProbe.Fp32(device);

        Assert.InRange(probed, 0.9 * rate, rate);
    }

    private static DeviceInfo Describe(bool isGpu, long maxAllocation, int units) => new(
        "test", DeviceKind.OpenCL, "test", "test", isGpu, 1L << 40, maxAllocation, units, 1024,
        new Int3(1024, 1024, 64), new Int3(int.MaxValue, 65535, 65535), 48 * 1024, DevicePeaks.Unknown);
}
