using System.CommandLine;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>`--device auto|cuda[:N]|opencl[:P.D]|cpu|emulator`, accepted by every command.</summary>
public static class DeviceOption
{
    public static Option<string?> Create() => new("--device")
    {
        Description = $"The device to run on: {Devices.Selectors} (default: auto, which picks a CUDA GPU, else an OpenCL GPU, else cpu)",
        Recursive = true,
    };

    /// <summary>The device the command line names, or null when it names none.</summary>
    public static string? Selector(ParseResult parsed) =>
        parsed.RootCommandResult.Command.Options.OfType<Option<string?>>().First(o => o.Name == "--device") is { } option
            ? parsed.GetValue(option)
            : null;

    /// <summary>Opens it; <c>auto</c> says on stderr which device it picked and why.</summary>
    public static Device Open(string? selector, TextWriter error)
    {
        DeviceSelection selection = Devices.Open(selector ?? "auto");
        if (selection.Reason is not null)
        {
            error.WriteLine("gpuvit: " + selection.Reason);
        }

        return selection.Device;
    }
}
