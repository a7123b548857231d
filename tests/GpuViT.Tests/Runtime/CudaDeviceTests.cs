using System.Runtime.InteropServices;
using System.Text;
using GpuViT.Kernels.Cuda;
using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Runtime;

/// <summary>
/// The cuda backend where no GPU is needed: discovery and opening as they really run on this
/// machine, the peak figures and architecture choice from device attributes, and every kernel
/// compiled by NVRTC exactly as the device would build it. Launches, copies, streams and events
/// need an NVIDIA GPU and are not exercised here.
/// </summary>
public sealed class CudaDeviceTests
{
    /// <summary>What NVRTC 11.8 reports from nvrtcGetSupportedArchs, for tests that must not depend on the installed version.</summary>
    private static readonly int[] Nvrtc118Architectures = [35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];

    private static bool DriverLoads
    {
        get
        {
            if (!NativeLibrary.TryLoad("libcuda.so.1", out nint handle))
            {
                return false;
            }

            NativeLibrary.Free(handle);
            return true;
        }
    }

    [Fact]
    public void Discover_never_throws_and_without_the_driver_names_libcuda_in_one_line()
    {
        DeviceDiscovery found = CudaDevice.Discover();

        if (found.Problem is not null)
        {
            Assert.DoesNotContain('\n', found.Problem);
            // Either nothing was found, or some devices were and others could not be described.
            Assert.True(
                found.Devices.Count == 0 ? found.Problem.StartsWith("no CUDA device: ") : found.Problem.Contains("could not be described"),
                found.Problem);
        }

        Assert.All(found.Devices, d =>
        {
            Assert.Equal(DeviceKind.Cuda, d.Kind);
            Assert.Matches("^cuda:[0-9]+$", d.Id);
            Assert.True(d.IsGpu);
        });
        if (!DriverLoads)
        {
            // This machine's case: no NVIDIA driver.
            Assert.Empty(found.Devices);
            Assert.NotNull(found.Problem);
            Assert.Contains("libcuda.so.1 not found", found.Problem);
            Assert.Contains("apt-get install nvidia-driver", found.Problem);
        }
    }

    [Fact]
    public void Open_past_the_last_device_throws_DeviceUnavailableException_in_one_line()
    {
        int count = CudaDevice.Discover().Devices.Count;

        var e = Assert.Throws<DeviceUnavailableException>(() => CudaDevice.Open(count, new KernelCache(null)));

        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("CUDA device", e.Message);
        if (!DriverLoads)
        {
            // Without a driver, cuda:0 itself is past the last device, and the message is discovery's.
            Assert.Equal(0, count);
            Assert.Equal(CudaDevice.Discover().Problem, e.Message);
            Assert.Contains("libcuda.so.1", e.Message);
        }
    }

    [Fact]
    public void Open_a_negative_ordinal_throws_DeviceUnavailableException()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() => CudaDevice.Open(-1, new KernelCache(null)));

        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Kernel_cache_a_second_device_loads_the_cubin_the_first_compiled_and_both_count_it()
    {
        using var directory = new TempDirectory("gpuvit-cuda-cache-");
        KernelBuildStatistics PrepareAddOnNewDevice()
        {
            using Device device = RuntimeRequirement.Cuda(new KernelCache(directory.Path));
            device.Prepare(K.Add);
            return device.KernelBuilds;
        }

        Assert.Equal(new KernelBuildStatistics(1, 0, 0), PrepareAddOnNewDevice());
        Assert.StartsWith("Add-", Path.GetFileName(Assert.Single(Directory.GetFiles(directory.Path))));
        Assert.Equal(new KernelBuildStatistics(0, 1, 0), PrepareAddOnNewDevice());
    }

    [Fact]
    public void Peaks_of_an_H100_SXM_from_its_attributes()
    {
        // 132 SMs at 1980 MHz; HBM3 at 2619 MHz on a 5120-bit bus.
        DevicePeaks peaks = CudaDevice.PeaksFromAttributes((9, 0), 132, 1_980_000, 2_619_000, 5120);

        Assert.Equal(PeakSource.Attributes, peaks.Source);
        Assert.Equal(66_908.2, peaks.Fp32Gflops!.Value, precision: 1);
        Assert.Equal(3_352.3, peaks.MemoryGbps!.Value, precision: 1);
    }

    [Fact]
    public void Peaks_of_an_A100_from_its_attributes()
    {
        // 108 SMs at 1410 MHz; HBM2 at 1215 MHz on a 5120-bit bus: the datasheet's 19.5 TFLOP/s and 1555 GB/s.
        DevicePeaks peaks = CudaDevice.PeaksFromAttributes((8, 0), 108, 1_410_000, 1_215_000, 5120);

        Assert.Equal(PeakSource.Attributes, peaks.Source);
        Assert.Equal(19_491.8, peaks.Fp32Gflops!.Value, precision: 1);
        Assert.Equal(1_555.2, peaks.MemoryGbps!.Value, precision: 1);
    }

    [Fact]
    public void Peaks_of_an_RTX_4090_count_128_FP32_cores_per_SM()
    {
        // Ada: 128 SMs at 2520 MHz; GDDR6X reported at 10501 MHz on a 384-bit bus (82.6 TFLOP/s, 1008 GB/s).
        DevicePeaks peaks = CudaDevice.PeaksFromAttributes((8, 9), 128, 2_520_000, 10_501_000, 384);

        Assert.Equal(82_575.4, peaks.Fp32Gflops!.Value, precision: 1);
        Assert.Equal(1_008.1, peaks.MemoryGbps!.Value, precision: 1);
    }

    [Fact]
    public void Peaks_of_an_unlisted_architecture_keep_the_bandwidth_and_leave_FP32_unknown()
    {
        DevicePeaks peaks = CudaDevice.PeaksFromAttributes((10, 0), 148, 1_965_000, 3_996_000, 8192);

        Assert.Null(peaks.Fp32Gflops);
        Assert.NotNull(peaks.MemoryGbps);
        Assert.Equal(PeakSource.Attributes, peaks.Source);
    }

    [Fact]
    public void Peaks_without_clock_attributes_are_unknown()
    {
        Assert.Same(DevicePeaks.Unknown, CudaDevice.PeaksFromAttributes((9, 0), 132, 0, 0, 0));
    }

    [Theory]
    [InlineData(7, 0, 64)]
    [InlineData(7, 5, 64)]
    [InlineData(8, 0, 64)]
    [InlineData(8, 6, 128)]
    [InlineData(8, 7, 128)]
    [InlineData(8, 9, 128)]
    [InlineData(9, 0, 128)]
    [InlineData(6, 1, null)]
    [InlineData(10, 0, null)]
    public void Fp32_cores_per_SM_by_compute_capability(int major, int minor, int? cores)
    {
        Assert.Equal(cores, CudaDevice.Fp32CoresPerMultiprocessor((major, minor)));
    }

    [Theory]
    [InlineData(8, 0, "sm_80", false)]
    [InlineData(8, 6, "sm_86", false)]
    [InlineData(9, 0, "sm_90", false)]
    [InlineData(8, 8, "compute_87", true)] // not an architecture NVRTC knows: the newest one below it, as PTX
    [InlineData(10, 0, "compute_90", true)] // Blackwell, newer than NVRTC 11.8: PTX that the driver finishes
    [InlineData(12, 0, "compute_90", true)]
    public void Target_is_a_cubin_for_a_known_architecture_and_PTX_for_a_newer_one(int major, int minor, string architecture, bool isPtx)
    {
        CudaTarget? target = CudaTarget.For(major, minor, Nvrtc118Architectures);

        Assert.Equal(new CudaTarget(architecture, isPtx), target);
    }

    [Fact]
    public void Target_for_a_GPU_older_than_every_NVRTC_architecture_is_none()
    {
        Assert.Null(CudaTarget.For(3, 0, Nvrtc118Architectures));
    }

    [Fact]
    public void Nvrtc_supported_architectures_include_Ampere_and_Hopper_in_ascending_order()
    {
        RuntimeRequirement.Nvrtc();

        IReadOnlyList<int> architectures = Nvrtc.SupportedArchitectures;

        Assert.Contains(80, architectures);
        Assert.Contains(90, architectures);
        Assert.Equal(architectures.Order(), architectures);
    }

    [Fact]
    public void Nvrtc_cache_options_name_the_architecture_the_image_kind_and_the_compiler()
    {
        RuntimeRequirement.Nvrtc();
        (int major, int minor) = Nvrtc.Version;

        Assert.Equal($"sm_80 cubin nvrtc {major}.{minor}", new CudaTarget("sm_80", false).CacheOptions);
        Assert.Equal($"compute_90 ptx nvrtc {major}.{minor}", new CudaTarget("compute_90", true).CacheOptions);
    }

    public static TheoryData<string, int, int> LibraryKernelsOnAmpereAndHopper
    {
        get
        {
            var data = new TheoryData<string, int, int>();
            foreach (KernelDescriptor kernel in GpuViT.Kernels.Generated.KernelCatalog.All)
            {
                data.Add(kernel.Name, 8, 0);
                data.Add(kernel.Name, 9, 0);
            }

            return data;
        }
    }

    public static TheoryData<string> LibraryKernels
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (KernelDescriptor kernel in GpuViT.Kernels.Generated.KernelCatalog.All)
            {
                data.Add(kernel.Name);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(LibraryKernelsOnAmpereAndHopper))]
    public void Nvrtc_builds_every_kernel_as_the_device_would_for_compute_capability(string name, int major, int minor)
    {
        RuntimeRequirement.Nvrtc();
        KernelDescriptor kernel = LibraryKernel(name);

        CudaTarget? target = CudaTarget.For(major, minor, Nvrtc.SupportedArchitectures);
        byte[] image = target!.Compile(kernel);

        Assert.Equal(new CudaTarget($"sm_{major}{minor}", IsPtx: false), target);
        Assert.Equal(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }, image[..4]);
    }

    [Theory]
    [MemberData(nameof(LibraryKernels))]
    public void Nvrtc_builds_every_kernel_as_NUL_terminated_PTX_for_a_GPU_newer_than_NVRTC(string name)
    {
        RuntimeRequirement.Nvrtc();
        KernelDescriptor kernel = LibraryKernel(name);
        int newest = Nvrtc.SupportedArchitectures[^1];

        // A GPU one major generation past the newest architecture this NVRTC knows.
        CudaTarget? target = CudaTarget.For(newest / 10 + 1, 0, Nvrtc.SupportedArchitectures);
        byte[] image = target!.Compile(kernel);

        Assert.Equal(new CudaTarget($"compute_{newest}", IsPtx: true), target);
        Assert.Equal(0, image[^1]); // cuModuleLoadData reads PTX up to its NUL
        string ptx = Encoding.UTF8.GetString(image, 0, image.Length - 1);
        Assert.Contains($".entry {name}(", ptx);
        Assert.Contains($".target sm_{newest}", ptx);
    }

    [Fact]
    public void Init_problems_are_one_line_and_say_what_was_found()
    {
        string noDevice = CudaDevice.InitProblem(100, 12040);
        string stub = CudaDevice.InitProblem(34, 12040);
        string other = CudaDevice.InitProblem(999, 0);

        Assert.All(new[] { noDevice, stub, other }, line =>
        {
            Assert.DoesNotContain('\n', line);
            Assert.StartsWith("no CUDA device: ", line);
            Assert.Contains("libcuda.so.1", line);
        });
        Assert.Contains("CUDA 12.4", noDevice);
        Assert.Contains("CUDA_ERROR_NO_DEVICE", noDevice);
        Assert.Contains("stub", stub);
        Assert.Contains("CUDA_ERROR_UNKNOWN", other);
        Assert.Contains("version unknown", other);
    }

    [Theory]
    [InlineData(12040, "12.4")]
    [InlineData(11080, "11.8")]
    [InlineData(13000, "13.0")]
    public void Driver_versions_read_as_major_dot_minor(int version, string text)
    {
        Assert.Equal(text, CudaDevice.VersionText(version));
    }

    [Fact]
    public void CudaException_names_the_call_the_device_and_the_result()
    {
        var e = new CudaException("cuStreamSynchronize", 700, "cuda:0");

        Assert.Equal("cuStreamSynchronize on cuda:0 failed: CUDA_ERROR_ILLEGAL_ADDRESS", e.Message);
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", e.ErrorName);
    }

    private static KernelDescriptor LibraryKernel(string name) =>
        GpuViT.Kernels.Generated.KernelCatalog.All.Single(k => k.Name == name);
}
