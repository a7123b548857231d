using System.Globalization;
using System.Runtime.CompilerServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cuda;

/// <summary>NVIDIA GPUs (<c>cuda[:N]</c>): the first choice of <c>auto</c>.</summary>
internal sealed class CudaBackend() : DeviceBackend(DeviceKind.Cuda, "cuda", order: 0, index: "N", autoDescription: "a CUDA GPU")
{
#pragma warning disable CA2255 // registers this backend with the runtime, by design (see DeviceBackend)
    [ModuleInitializer]
    internal static void Add() => Register(new CudaBackend());
#pragma warning restore CA2255

    public override DeviceDiscovery Discover() => CudaDevice.Discover();

    public override Device Open(string? index, string selector, KernelCache cache)
    {
        // The selector is checked before the machine, so a typo is named as such everywhere.
        int ordinal = 0;
        if (index is not null && !int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out ordinal))
        {
            throw Unknown(selector, "a CUDA device is cuda:N, N a device number");
        }

        DeviceDiscovery found = Found(Discover(), "no CUDA device found");
        if (ordinal >= found.Devices.Count)
        {
            throw new DeviceUnavailableException($"no CUDA device {ordinal}: found {found.Listing}");
        }

        return CudaDevice.Open(ordinal, cache);
    }

    public override Device Open(DeviceInfo found, KernelCache cache) =>
        CudaDevice.Open(int.Parse(found.Id[(Name.Length + 1)..], CultureInfo.InvariantCulture), cache);

    /// <summary>Any CUDA device is a GPU.</summary>
    public override DeviceInfo? ForAuto(DeviceDiscovery found, out string whyNone)
    {
        whyNone = found.Problem ?? "no CUDA device found";
        return found.Devices.FirstOrDefault();
    }
}
