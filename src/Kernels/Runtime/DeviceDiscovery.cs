namespace GpuViT.Kernels.Runtime;

/// <summary>What one backend found: its devices, or why there are none (one line, with how to install a runtime).</summary>
public sealed record DeviceDiscovery(IReadOnlyList<DeviceInfo> Devices, string? Problem)
{
    public static DeviceDiscovery None(string problem) => new([], problem);
}
