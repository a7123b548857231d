using System.Runtime.CompilerServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Emulator;

/// <summary>The kernel emulator (<c>emulator</c>): for tests and debugging; never <c>auto</c>'s choice, never probed.</summary>
internal sealed class EmulatorBackend() : DeviceBackend(DeviceKind.Emulator, "emulator", "emulator", order: 3)
{
#pragma warning disable CA2255 // registers this backend with the runtime, by design (see DeviceBackend)
    [ModuleInitializer]
    internal static void Add() => Register(new EmulatorBackend());
#pragma warning restore CA2255

    public override DeviceDiscovery Discover() => new([EmulatorDevice.Describe()], null);

    public override Device Open(DeviceInfo found, KernelCache cache) => new EmulatorDevice(found);

    public override DeviceInfo? ForAuto(DeviceDiscovery found, out string whyNone)
    {
        whyNone = "the emulator is not a performance device";
        return null;
    }

    /// <summary>Not a performance device: its peaks stay unknown.</summary>
    public override DevicePeaks Measure(Device device) => DevicePeaks.Unknown;
}
