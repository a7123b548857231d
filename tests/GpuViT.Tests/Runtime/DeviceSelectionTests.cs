using GpuViT.Kernels.Cpu;

namespace GpuViT.Tests.Runtime;

/// <summary>Selectors, discovery and auto: what this CPU-only machine with PoCL offers.</summary>
public sealed class DeviceSelectionTests
{
    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:x")]
    [InlineData("opencl:1")]
    [InlineData("cpu:0")]
    public void Unknown_selectors_are_one_line_errors(string selector)
    {
        var error = Assert.Throws<DeviceUnavailableException>(() => Devices.Open(selector));

        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains(selector, error.Message);
    }

    [Fact]
    public void Cuda_without_a_driver_says_what_was_probed_in_one_line()
    {
        var error = Assert.Throws<DeviceUnavailableException>(() => Devices.Open("cuda"));

        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains("libcuda.so.1", error.Message);
    }

    [Fact]
    public void Discovery_finds_the_OpenCL_cpu_and_emulator_devices_and_says_why_there_is_no_CUDA()
    {
        var found = Devices.Discover().ToDictionary(d => d.Backend, d => d.Found);

        Assert.Empty(found[DeviceKind.Cuda].Devices);
        Assert.NotNull(found[DeviceKind.Cuda].Problem);
        Assert.Contains(found[DeviceKind.OpenCL].Devices, d => d.Id == "opencl:0.0");
        Assert.Equal("cpu", Assert.Single(found[DeviceKind.Cpu].Devices).Id);
        Assert.Equal("emulator", Assert.Single(found[DeviceKind.Emulator].Devices).Id);
    }

    [Fact]
    public void Auto_picks_the_cpu_backend_here_and_says_why()
    {
        DeviceSelection selection = Devices.Open("auto");
        using Device device = selection.Device;

        Assert.Equal(DeviceKind.Cpu, device.Kind);
        Assert.Contains("auto picked cpu", selection.Reason);
        Assert.Contains("no CUDA device", selection.Reason);
        Assert.Contains("no OpenCL GPU", selection.Reason);
    }

    [Fact]
    public void Auto_gives_each_passed_over_backends_reason_in_order()
    {
        var found = Devices.Discover().ToDictionary(d => d.Backend, d => d.Found);
        string openCL = string.Join(", ", found[DeviceKind.OpenCL].Devices.Select(d => $"{d.Id} ({d.Name})"));

        DeviceSelection selection = Devices.Open("auto");
        selection.Device.Dispose();

        Assert.Equal(
            $"auto picked cpu: {found[DeviceKind.Cuda].Problem}; no OpenCL GPU ({openCL} run on the CPU, slower than the cpu backend)",
            selection.Reason);
    }

    [Fact]
    public void Every_backend_registers_itself_once_in_discovery_order()
    {
        Assert.Equal([DeviceKind.Cuda, DeviceKind.OpenCL, DeviceKind.Cpu, DeviceKind.Emulator], DeviceBackend.All.Select(b => b.Kind));
        Assert.Equal("auto, cuda[:N], opencl[:P.D], cpu or emulator", Devices.Selectors);
        Assert.Equal("unknown device 'cpu:1': use auto, cuda[:N], opencl[:P.D], cpu or emulator", Assert.Throws<DeviceUnavailableException>(() => Devices.Open("cpu:1")).Message);
    }

    [Fact]
    public void OpenCL_selectors_open_PoCL()
    {
        using Device device = Devices.Open("opencl").Device;
        using Device same = Devices.Open("OpenCL:0.0").Device;

        Assert.Equal("opencl:0.0", device.Info.Id);
        Assert.Equal(device.Info.Name, same.Info.Name);
    }

    [Fact]
    public void Probing_the_cpu_measures_positive_peaks_and_labels_them()
    {
        using Device cpu = Devices.Open("cpu").Device;

        DevicePeaks peaks = DeviceProbe.Measure(cpu);

        Assert.Equal(PeakSource.Probe, peaks.Source);
        Assert.True(peaks.Fp32Gflops > 1);
        Assert.True(peaks.MemoryGbps > 0.5);
    }

    [Fact]
    public void The_cpu_FMA_probe_runs_the_vector_width_the_cpu_GEMM_runs()
    {
        // A narrower probe than the GEMM's micro-kernel would put the GEMM above 100% of the roofline.
        Assert.Equal(CpuGemm.Current == CpuGemm.Wide ? 16 : 8, CpuProbe.FmaLanes);
    }
}
