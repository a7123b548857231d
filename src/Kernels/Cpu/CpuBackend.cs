using System.Runtime.CompilerServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// The managed backend (<c>cpu</c>): what <c>auto</c> takes when no backend before it has a GPU,
/// always, as on a CPU the managed ops are faster than OpenCL.
/// </summary>
internal sealed class CpuBackend() : DeviceBackend(DeviceKind.Cpu, "cpu", "CPU", order: 2)
{
#pragma warning disable CA2255 // registers this backend with the runtime, by design (see DeviceBackend)
    [ModuleInitializer]
    internal static void Add() => Register(new CpuBackend());
#pragma warning restore CA2255

    public override DeviceDiscovery Discover() => new([CpuDevice.Describe()], null);

    public override Device Open(DeviceInfo found, KernelCache cache) => new CpuDevice(found);

    public override DevicePeaks Measure(Device device) => CpuProbe.Measure();
}
