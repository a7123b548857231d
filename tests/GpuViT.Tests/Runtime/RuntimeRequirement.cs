using GpuViT.Kernels.Runtime;
using GpuViT.Kernels.Runtime.Cuda;
using GpuViT.Kernels.Runtime.OpenCL;

namespace GpuViT.Tests.Runtime;

/// <summary>
/// The native runtimes a test needs. xunit 2 cannot skip at run time, and a test that passes
/// without its runtime proves nothing, so a missing runtime fails the test with the install hint
/// (always: under CI=true that is the rule, and elsewhere a red test is the honest answer too).
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

    public static void Nvrtc()
    {
        try
        {
            _ = GpuViT.Kernels.Runtime.Cuda.Nvrtc.Version;
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
