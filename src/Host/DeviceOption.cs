using System.CommandLine;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>
/// `--device auto|cuda[:N]|opencl[:P.D]|cpu|emulator`, accepted by every command; `run` also takes
/// several devices (<see cref="OpenAll"/>).
/// </summary>
public static class DeviceOption
{
    /// <summary>What a list of devices looks like, as the option's description and messages say it.</summary>
    public const string ListSyntax =
        "run also takes several, comma-separated: cuda:all or opencl:all (every device of that backend), cuda:0,1 (a bare index takes the backend before it), cpu,emulator";

    public static Option<string?> Create() => new("--device")
    {
        Description = $"The device to run on: {Devices.Selectors} (default: auto, which picks a CUDA GPU, else an OpenCL GPU, else cpu); {ListSyntax}",
        Recursive = true,
    };

    /// <summary>The device the command line names, or null when it names none.</summary>
    public static string? Selector(ParseResult parsed) =>
        parsed.RootCommandResult.Command.Options.OfType<Option<string?>>().First(o => o.Name == "--device") is { } option
            ? parsed.GetValue(option)
            : null;

    /// <summary>Whether the selector names more than one device (a comma list, or <c>backend:all</c>).</summary>
    public static bool IsList(string? selector) => selector is not null && (selector.Contains(',') || selector.Trim().EndsWith(":all", StringComparison.OrdinalIgnoreCase));

    /// <summary>Opens it; <c>auto</c> says on stderr which device it picked and why. A list is refused: only `run` takes one.</summary>
    public static Device Open(string? selector, TextWriter error)
    {
        if (IsList(selector))
        {
            throw new UsageException($"--device {selector}: only run takes more than one device");
        }

        DeviceSelection selection = Devices.Open(selector ?? "auto");
        if (selection.Reason is not null)
        {
            error.WriteLine("gpuvit: " + selection.Reason);
        }

        return selection.Device;
    }

    /// <summary>
    /// Opens every device the selector names, in its order: one device as <see cref="Open"/> does, or
    /// a list (<see cref="ListSyntax"/>). A device named twice is refused; <c>cuda:all</c> with no CUDA
    /// device is the error <c>cuda</c> gives. On any failure the devices already open are closed.
    /// </summary>
    public static IReadOnlyList<Device> OpenAll(string? selector, TextWriter error)
    {
        var opened = new List<Device>();
        try
        {
            string? backend = null;
            foreach (string raw in (selector ?? "auto").Split(','))
            {
                string item = raw.Trim().ToLowerInvariant();
                if (item.Length == 0)
                {
                    throw new UsageException($"--device {selector}: an empty item in the list");
                }

                // `cuda:0,1`: a bare index takes the backend of the item before it.
                if (char.IsAsciiDigit(item[0]))
                {
                    item = backend is null ? throw new UsageException($"--device {selector}: '{raw.Trim()}' names no backend (write cuda:{raw.Trim()})") : $"{backend}:{item}";
                }

                backend = item.Split(':')[0];
                IEnumerable<Device> devices = item.EndsWith(":all", StringComparison.Ordinal) ? All(backend) : [Open(item, error)];
                foreach (Device device in devices)
                {
                    bool twice = opened.Any(d => d.Info.Id == device.Info.Id);
                    opened.Add(device);
                    if (twice)
                    {
                        throw new UsageException($"--device {selector}: {device.Info.Id} is named twice");
                    }
                }
            }

            return opened;
        }
        catch
        {
            foreach (Device device in opened)
            {
                device.Dispose();
            }

            throw;
        }
    }

    /// <summary>Every device of one backend; none is the error the backend's own selector gives.</summary>
    private static IEnumerable<Device> All(string backend)
    {
        (DeviceKind _, DeviceDiscovery found) = Devices.Discover().FirstOrDefault(d => d.Backend.ToString().Equals(backend, StringComparison.OrdinalIgnoreCase));
        if (found is null || found.Devices.Count == 0)
        {
            // Throws the one-line error (what was probed), or for an unknown backend, the list of selectors.
            return [Devices.Open(backend).Device];
        }

        return found.Devices.Select(info => Devices.Open(info));
    }
}
