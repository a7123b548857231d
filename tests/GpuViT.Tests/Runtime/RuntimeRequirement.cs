using GpuViT.Kernels.Cuda;
using GpuViT.Kernels.OpenCL;

namespace GpuViT.Tests.Runtime;

/// <summary>
/// The native runtimes a test needs. A test that passes without its runtime proves nothing, so a
/// missing runtime fails the test with the install hint (always: under CI=true that is the rule,
/// and elsewhere a red test is the honest answer too).
/// </summary>
internal static class RuntimeRequirement
{
    /// <summary>
    /// The first OpenCL device (PoCL's CPU device on CI). Without a cache unless one is given, so
    /// tests build from source and leave nothing on disk.
    /// </summary>
    public static OpenCLDevice OpenCL(KernelCache? cache = null)
    {
        try
        {
            return OpenCLDevice.Open(0, 0, cache ?? new KernelCache(null));
        }
        catch (DeviceUnavailableException e)
        {
            throw new RuntimeMissingException($"this test needs an OpenCL runtime{Where()}: {e.Message}", e);
        }
    }

    /// <summary>
    /// cuda:0, without a cache unless one is given. A GPU is optional (CI has none): without one the test is skipped
    /// with the reason, unless GPUVIT_REQUIRE_CUDA=1 (gpu/check.sh sets it on a GPU machine) fails
    /// it, so a GPU run cannot pass by skipping.
    /// </summary>
    public static Device Cuda(KernelCache? cache = null)
    {
        try
        {
            return Devices.Open("cuda", cache ?? new KernelCache(null)).Device;
        }
        catch (DeviceUnavailableException e) when (Environment.GetEnvironmentVariable("GPUVIT_REQUIRE_CUDA") == "1")
        {
            throw new RuntimeMissingException($"this test needs a CUDA device (GPUVIT_REQUIRE_CUDA=1): {e.Message}", e);
        }
        catch (DeviceUnavailableException e)
        {
            Assert.Skip($"cuda: {e.Message}");
            throw;
        }
    }

    public static void Nvrtc()
    {
        try
        {
            _ = GpuViT.Kernels.Cuda.Nvrtc.Version;
        }
        catch (NvrtcUnavailableException e)
        {
            throw new RuntimeMissingException($"this test needs NVRTC{Where()}: {e.Message}", e);
        }
    }

    private static string Where() =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? " (CI=true: runtime tests must run, not be skipped)"
            : "";
}

/// <summary>A test's native runtime is not installed.</summary>
internal sealed class RuntimeMissingException(string message, Exception inner) : Exception(message, inner);
