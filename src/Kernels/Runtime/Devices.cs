namespace GpuViT.Kernels.Runtime;

/// <summary>A device opened by a selector, and why it was the one (for <c>auto</c>).</summary>
public sealed record DeviceSelection(Device Device, string? Reason);

/// <summary>
/// Finding devices, and opening one by its selector: <c>auto</c>, or a backend's (<see cref="Selectors"/>).
/// The backends are those registered as <see cref="DeviceBackend"/>s; none is named here.
/// </summary>
public static class Devices
{
    /// <summary>Every selector, as messages show them: <c>auto, cuda[:N], opencl[:P.D], cpu or emulator</c>.</summary>
    public static string Selectors { get; } = SelectorList();

    /// <summary>Every device of every backend, with the reason a backend has none.</summary>
    public static IReadOnlyList<(DeviceKind Backend, DeviceDiscovery Found)> Discover() =>
        DeviceBackend.All.Select(backend => (backend.Kind, backend.Discover())).ToArray();

    /// <summary>Opens the device a selector names.</summary>
    /// <exception cref="DeviceUnavailableException">No such device here; the message is one line that says what was probed.</exception>
    public static DeviceSelection Open(string selector, KernelCache? cache = null)
    {
        cache ??= KernelCache.Default;
        string text = selector.Trim().ToLowerInvariant();
        string name = text.Split(':')[0];
        string? index = text.Contains(':') ? text[(text.IndexOf(':') + 1)..] : null;
        if (name == "auto" && index is null)
        {
            return Auto(cache);
        }

        DeviceBackend? backend = DeviceBackend.All.FirstOrDefault(b => b.Name == name);
        if (backend is null || (index is not null && !backend.TakesIndex))
        {
            throw new DeviceUnavailableException($"unknown device '{selector}': use {Selectors}");
        }

        return new DeviceSelection(backend.Open(index, selector, cache), null);
    }

    /// <summary>Opens a device that <see cref="Discover"/> found, without discovering again.</summary>
    /// <exception cref="DeviceUnavailableException">It cannot be opened; one line.</exception>
    public static Device Open(DeviceInfo info, KernelCache? cache = null) =>
        DeviceBackend.Of(info.Kind).Open(info, cache ?? KernelCache.Default);

    /// <summary>
    /// The first backend, in order, that offers <c>auto</c> a device: a CUDA GPU, else an OpenCL
    /// GPU, else the cpu backend (faster here than OpenCL on a CPU). The reason says why each
    /// backend before it offered none.
    /// </summary>
    private static DeviceSelection Auto(KernelCache cache)
    {
        var passedOver = new List<string>();
        foreach (DeviceBackend backend in DeviceBackend.All)
        {
            if (backend.ForAuto(backend.Discover(), out string whyNone) is not { } found)
            {
                passedOver.Add(whyNone);
                continue;
            }

            string what = backend.AutoDescription is { } description ? $", {description}" : string.Empty;
            string why = passedOver.Count > 0 ? $": {string.Join("; ", passedOver)}" : string.Empty;
            return new DeviceSelection(backend.Open(found, cache), $"auto picked {found.Id}{what}{why}");
        }

        throw new DeviceUnavailableException($"auto found no device: {string.Join("; ", passedOver)}");
    }

    private static string SelectorList()
    {
        string[] selectors = ["auto", .. DeviceBackend.All.Select(b => b.Syntax)];
        return $"{string.Join(", ", selectors[..^1])} or {selectors[^1]}";
    }
}
