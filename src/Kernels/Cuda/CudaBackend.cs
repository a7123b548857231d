using System.Globalization;
using System.Runtime.CompilerServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cuda;

/// <summary>NVIDIA GPUs (<c>cuda[:N]</c>): the first choice of <c>auto</c>, which takes any of them (each is a GPU).</summary>
internal sealed class CudaBackend() : DeviceBackend(DeviceKind.Cuda, "cuda", "CUDA", order: 0, index: "N", autoDescription: "a CUDA GPU")
{
#pragma warning disable CA2255 // registers this backend with the runtime, by design (see DeviceBackend)
    [ModuleInitializer]
    internal static void Add() => Register(new CudaBackend());
#pragma warning restore CA2255

    public override DeviceDiscovery Discover() => CudaDevice.Discover();

    public override Device Open(DeviceInfo found, KernelCache cache) =>
        CudaDevice.Open(int.Parse(IndexOf(found), CultureInfo.InvariantCulture), cache);

    protected override string IdIndex(string index, string selector) =>
        int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out int ordinal)
            ? ordinal.ToString(CultureInfo.InvariantCulture)
            : throw Unknown(selector, "a CUDA device is cuda:N, N a device number");
}
