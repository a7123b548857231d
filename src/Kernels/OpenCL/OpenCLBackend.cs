using System.Globalization;
using System.Runtime.CompilerServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.OpenCL;

/// <summary>OpenCL devices (<c>opencl[:P.D]</c>): <c>auto</c> takes a GPU here, never a CPU device.</summary>
internal sealed class OpenCLBackend() : DeviceBackend(DeviceKind.OpenCL, "opencl", "OpenCL", order: 1, index: "P.D", autoDescription: "an OpenCL GPU")
{
#pragma warning disable CA2255 // registers this backend with the runtime, by design (see DeviceBackend)
    [ModuleInitializer]
    internal static void Add() => Register(new OpenCLBackend());
#pragma warning restore CA2255

    public override DeviceDiscovery Discover() => OpenCLDevice.Discover();

    public override Device Open(DeviceInfo found, KernelCache cache)
    {
        (int platform, int device) = Numbers(IndexOf(found))!.Value;
        return OpenCLDevice.Open(platform, device, cache);
    }

    /// <summary>A GPU only: OpenCL on a CPU (PoCL) is slower than the cpu backend.</summary>
    public override DeviceInfo? ForAuto(DeviceDiscovery found, out string whyNone)
    {
        whyNone = found.Devices.Count == 0
            ? found.Problem ?? "no OpenCL device found"
            : $"no OpenCL GPU ({found.Listing} run on the CPU, slower than the cpu backend)";
        return found.Devices.FirstOrDefault(d => d.IsGpu);
    }

    protected override string IdIndex(string index, string selector) =>
        Numbers(index) is (int platform, int device)
            ? $"{platform}.{device}"
            : throw Unknown(selector, "an OpenCL device is opencl:P.D, platform and device numbers");

    /// <summary>Without an index: the first GPU, else the first device.</summary>
    protected override DeviceInfo Default(DeviceDiscovery found) => found.Devices.FirstOrDefault(d => d.IsGpu) ?? found.Devices[0];

    /// <summary>"P.D" as platform and device numbers; null when it is not two numbers.</summary>
    private static (int Platform, int Device)? Numbers(string index)
    {
        string[] parts = index.Split('.');
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int platform)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int device)
            ? (platform, device)
            : null;
    }
}
