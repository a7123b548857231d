using System.Globalization;
using System.Runtime.CompilerServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.OpenCL;

/// <summary>OpenCL devices (<c>opencl[:P.D]</c>): <c>auto</c> takes a GPU here, never a CPU device.</summary>
internal sealed class OpenCLBackend() : DeviceBackend(DeviceKind.OpenCL, "opencl", order: 1, index: "P.D", autoDescription: "an OpenCL GPU")
{
#pragma warning disable CA2255 // registers this backend with the runtime, by design (see DeviceBackend)
    [ModuleInitializer]
    internal static void Add() => Register(new OpenCLBackend());
#pragma warning restore CA2255

    public override DeviceDiscovery Discover() => OpenCLDevice.Discover();

    public override Device Open(string? index, string selector, KernelCache cache)
    {
        // The selector is checked before the machine, so a typo is named as such everywhere.
        (int Platform, int Device)? asked = index is null
            ? null
            : Numbers(index) ?? throw Unknown(selector, "an OpenCL device is opencl:P.D, platform and device numbers");
        DeviceDiscovery found = Found(Discover(), "no OpenCL device found");

        // Without an index: the first GPU, else the first device.
        (int platform, int device) = asked ?? Numbers(found.Devices.FirstOrDefault(d => d.IsGpu) ?? found.Devices[0]);
        if (found.Devices.All(d => d.Id != $"opencl:{platform}.{device}"))
        {
            throw new DeviceUnavailableException($"no OpenCL device {platform}.{device}: found {found.Listing}");
        }

        return OpenCLDevice.Open(platform, device, cache);
    }

    public override Device Open(DeviceInfo found, KernelCache cache)
    {
        (int platform, int device) = Numbers(found);
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

    /// <summary>A discovered device's platform and device numbers, from its id <c>opencl:P.D</c>.</summary>
    private (int Platform, int Device) Numbers(DeviceInfo found) => Numbers(found.Id[(Name.Length + 1)..])!.Value;

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
