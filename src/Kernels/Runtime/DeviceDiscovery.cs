namespace GpuViT.Kernels.Runtime;

/// <summary>
/// What one backend found: its devices, or why there are none (one line, with how to install a
/// runtime). Beside devices, the problem, if any, says which could not be listed or described.
/// </summary>
public sealed record DeviceDiscovery(IReadOnlyList<DeviceInfo> Devices, string? Problem)
{
    public static DeviceDiscovery None(string problem) => new([], problem);

    /// <summary>The devices for a message: <c>opencl:0.0 (name), ...</c>, or <c>none</c>.</summary>
    internal string Listing => Devices.Count == 0 ? "none" : string.Join(", ", Devices.Select(d => $"{d.Id} ({d.Name})"));
}
