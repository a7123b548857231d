using System.Runtime.CompilerServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>The managed backend (<c>cpu</c>): what <c>auto</c> takes when no backend before it has a GPU.</summary>
internal sealed class CpuBackend() : DeviceBackend(DeviceKind.Cpu, "cpu", order: 2)
{
#pragma warning disable CA2255 // registers this backend with the runtime, by design (see DeviceBackend)
    [ModuleInitializer]
    internal static void Add() => Register(new CpuBackend());
#pragma warning restore CA2255

    public override DeviceDiscovery Discover() => new([CpuDevice.Describe()], null);

    public override Device Open(string? index, string selector, KernelCache cache) => new CpuDevice();

    public override Device Open(DeviceInfo found, KernelCache cache) => new CpuDevice();

    /// <summary>Always: on a CPU, the managed ops are faster than OpenCL.</summary>
    public override DeviceInfo? ForAuto(DeviceDiscovery found, out string whyNone)
    {
        whyNone = string.Empty;
        return found.Devices[0];
    }

    public override DevicePeaks Measure(Device device) => CpuProbe.Measure();
}
