namespace GpuViT.Kernels.Runtime;

/// <summary>
/// No usable device of the asked kind. The message is one line: what was probed, what was
/// found, and how to install a runtime. The command line prints it and exits with code 2.
/// </summary>
public sealed class DeviceUnavailableException(string message) : Exception(message);

/// <summary>A buffer does not fit in device memory; nothing was allocated.</summary>
public sealed class DeviceOutOfMemoryException(string deviceId, long requestedBytes, long freeBytes, long maxAllocationBytes)
    : Exception($"out of memory on {deviceId}: requested {Bytes(requestedBytes)}, {Bytes(Math.Max(0, freeBytes))} free"
        + (requestedBytes > maxAllocationBytes ? $", and the largest single buffer is {Bytes(maxAllocationBytes)}" : string.Empty))
{
    public string DeviceId { get; } = deviceId;

    public long RequestedBytes { get; } = requestedBytes;

    public long FreeBytes { get; } = freeBytes;

    /// <summary>1536 → "1.5 KiB".</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : $"{value:0.#} {units[unit]}";
    }
}

/// <summary>A launch was refused by the checks or failed on the device; the message names the kernel and the shape.</summary>
public sealed class KernelLaunchException(string kernelName, Int3 groupCount, Int3 groupSize, string deviceId, string problem, Exception? inner = null)
    : Exception($"launching kernel '{kernelName}' on {deviceId} with group count {groupCount} and group size {groupSize} failed: {problem}", inner)
{
    public string KernelName { get; } = kernelName;

    public Int3 GroupCount { get; } = groupCount;

    public Int3 GroupSize { get; } = groupSize;
}
