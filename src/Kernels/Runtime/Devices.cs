using System.Globalization;
using GpuViT.Kernels.Runtime.Cuda;
using GpuViT.Kernels.Runtime.Host;
using GpuViT.Kernels.Runtime.OpenCL;

namespace GpuViT.Kernels.Runtime;

/// <summary>A device opened by a selector, and why it was the one (for <c>auto</c>).</summary>
public sealed record DeviceSelection(Device Device, string? Reason);

/// <summary>Finding devices, and opening one by its selector: <c>auto</c>, <c>cuda[:N]</c>, <c>opencl[:P.D]</c>, <c>cpu</c>, <c>emulator</c>.</summary>
public static class Devices
{
    public const string Selectors = "auto, cuda[:N], opencl[:P.D], cpu or emulator";

    /// <summary>Every device of every backend, with the reason a backend has none.</summary>
    public static IReadOnlyList<(DeviceKind Backend, DeviceDiscovery Found)> Discover() =>
    [
        (DeviceKind.Cuda, CudaDevice.Discover()),
        (DeviceKind.OpenCL, OpenCLDevice.Discover()),
        (DeviceKind.Cpu, new DeviceDiscovery([HostDevice.Describe("cpu", DeviceKind.Cpu)], null)),
        (DeviceKind.Emulator, new DeviceDiscovery([HostDevice.Describe("emulator", DeviceKind.Emulator)], null)),
    ];

    /// <summary>Opens the device a selector names.</summary>
    /// <exception cref="DeviceUnavailableException">No such device here; the message is one line that says what was probed.</exception>
    public static DeviceSelection Open(string selector, KernelCache? cache = null)
    {
        cache ??= KernelCache.Default;
        string text = selector.Trim().ToLowerInvariant();
        string kind = text.Split(':')[0];
        string? index = text.Contains(':') ? text[(text.IndexOf(':') + 1)..] : null;
        return kind switch
        {
            "auto" when index is null => Auto(cache),
            "cpu" when index is null => new DeviceSelection(HostDevice.Cpu(), null),
            "emulator" when index is null => new DeviceSelection(HostDevice.Emulator(), null),
            "cuda" => new DeviceSelection(OpenCuda(index, selector, cache), null),
            "opencl" => new DeviceSelection(OpenOpenCL(index, selector, cache), null),
            _ => throw new DeviceUnavailableException($"unknown device '{selector}': use {Selectors}"),
        };
    }

    private static Device OpenCuda(string? index, string selector, KernelCache cache)
    {
        // The selector is checked before the machine, so a typo is named as such everywhere.
        int ordinal = 0;
        if (index is not null && !int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out ordinal))
        {
            throw new DeviceUnavailableException($"unknown device '{selector}': a CUDA device is cuda:N, N a device number");
        }

        DeviceDiscovery found = CudaDevice.Discover();
        if (found.Devices.Count == 0)
        {
            throw new DeviceUnavailableException(found.Problem ?? "no CUDA device found");
        }

        if (ordinal >= found.Devices.Count)
        {
            throw new DeviceUnavailableException($"no CUDA device {ordinal}: found {List(found)}");
        }

        return CudaDevice.Open(ordinal, cache);
    }

    private static Device OpenOpenCL(string? index, string selector, KernelCache cache)
    {
        string[] parts = index?.Split('.') ?? ["0", "0"];
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int platform)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int device))
        {
            throw new DeviceUnavailableException($"unknown device '{selector}': an OpenCL device is opencl:P.D, platform and device numbers");
        }

        DeviceDiscovery found = OpenCLDevice.Discover();
        if (found.Devices.Count == 0)
        {
            throw new DeviceUnavailableException(found.Problem ?? "no OpenCL device found");
        }

        // Without an index: the first GPU, else the first device.
        string id = index is null ? (found.Devices.FirstOrDefault(d => d.IsGpu) ?? found.Devices[0]).Id : $"opencl:{platform}.{device}";
        if (index is null)
        {
            string[] chosen = id["opencl:".Length..].Split('.');
            platform = int.Parse(chosen[0], CultureInfo.InvariantCulture);
            device = int.Parse(chosen[1], CultureInfo.InvariantCulture);
        }

        if (found.Devices.All(d => d.Id != id))
        {
            throw new DeviceUnavailableException($"no OpenCL device {platform}.{device}: found {List(found)}");
        }

        return OpenCLDevice.Open(platform, device, cache);
    }

    /// <summary>A CUDA GPU, else an OpenCL GPU, else the cpu backend (faster here than OpenCL on a CPU).</summary>
    private static DeviceSelection Auto(KernelCache cache)
    {
        DeviceDiscovery cuda = CudaDevice.Discover();
        if (cuda.Devices.Count > 0)
        {
            return new DeviceSelection(CudaDevice.Open(0, cache), $"auto picked {cuda.Devices[0].Id}, a CUDA GPU");
        }

        DeviceDiscovery openCL = OpenCLDevice.Discover();
        DeviceInfo? gpu = openCL.Devices.FirstOrDefault(d => d.IsGpu);
        string noCuda = cuda.Problem ?? "no CUDA device found";
        if (gpu is not null)
        {
            string[] parts = gpu.Id["opencl:".Length..].Split('.');
            Device device = OpenCLDevice.Open(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), cache);
            return new DeviceSelection(device, $"auto picked {gpu.Id}, an OpenCL GPU: {noCuda}");
        }

        string noOpenCLGpu = openCL.Devices.Count == 0
            ? openCL.Problem ?? "no OpenCL device found"
            : $"no OpenCL GPU ({List(openCL)} run on the CPU, slower than the cpu backend)";
        return new DeviceSelection(HostDevice.Cpu(), $"auto picked cpu: {noCuda}; {noOpenCLGpu}");
    }

    private static string List(DeviceDiscovery found) =>
        found.Devices.Count == 0 ? "none" : string.Join(", ", found.Devices.Select(d => $"{d.Id} ({d.Name})"));
}
