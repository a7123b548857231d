using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using GpuViT.Kernels;
using GpuViT.Kernels.Cuda;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>`gpuvit kernels [NAME] [--dialect opencl|cuda] [--resources sm_NN]`: the compiled kernels, their generated source, and what the CUDA compiler gives them.</summary>
public static class KernelsCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var name = new Argument<string?>("name")
        {
            Description = "A kernel to print the generated source of; without it, every kernel is listed",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var dialect = new Option<string>("--dialect")
        {
            Description = "Which generated source to print: opencl (OpenCL C 1.2) or cuda (CUDA C)",
            DefaultValueFactory = _ => "opencl",
        };
        dialect.AcceptOnlyFromAmong("opencl", "cuda");
        var resources = new Option<string?>("--resources")
        {
            Description = "Compile each kernel with NVRTC for this architecture (e.g. sm_90; no GPU needed) and list its registers per thread, static shared memory and stack frame",
        };

        var command = new Command("kernels", "List every kernel with its parameters, or print one kernel's generated OpenCL C or CUDA C");
        command.Arguments.Add(name);
        command.Options.Add(dialect);
        command.Options.Add(resources);
        command.SetAction(parsed =>
        {
            if (parsed.GetValue(resources) is { } architecture)
            {
                Resources(output, architecture, parsed.GetValue(name) is { } one ? [Find(one)] : KernelRegistry.All);
                return 0;
            }

            // With --device, each kernel listed (or printed) is also built there, which checks it compiles.
            string? selector = DeviceOption.Selector(parsed);
            using Device? device = selector is null ? null : DeviceOption.Open(selector, error);
            string? kernelName = parsed.GetValue(name);
            if (kernelName is null)
            {
                List(output, device);
                return 0;
            }

            KernelDescriptor kernel = Find(kernelName);
            device?.Prepare(kernel);
            KernelDialect which = parsed.GetValue(dialect) == "cuda" ? KernelDialect.Cuda : KernelDialect.OpenCL;
            output.Write(kernel.Source(which));
            return 0;
        });
        return command;
    }

    private static KernelDescriptor Find(string name)
    {
        if (KernelRegistry.TryGet(name, out KernelDescriptor kernel))
        {
            return kernel;
        }

        KernelDescriptor? caseInsensitive = KernelRegistry.All.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));
        string hint = caseInsensitive is null ? string.Empty : $" (did you mean '{caseInsensitive.Name}'?)";
        throw new UsageException(
            $"no kernel named '{name}'{hint}; 'gpuvit kernels' lists them: {string.Join(", ", KernelRegistry.All.Select(k => k.Name))}");
    }

    private static void List(TextWriter output, Device? device)
    {
        IReadOnlyList<KernelDescriptor> kernels = KernelRegistry.All;
        int width = kernels.Max(k => k.Name.Length);
        output.WriteLine($"{kernels.Count} kernels (print one's source with: gpuvit kernels NAME --dialect opencl|cuda)"
            + (device is null ? string.Empty : $"; built on {device.Info.Id} ({device.Info.Name})"));
        foreach (KernelDescriptor kernel in kernels)
        {
            string shared = kernel.SharedMemoryBytes > 0 ? $"  shared {kernel.SharedMemoryBytes} B" : string.Empty;
            string barrier = kernel.UsesBarrier ? "  barrier" : string.Empty;
            string built = device is null ? string.Empty : $"  built in {Build(device, kernel):F0} ms";
            output.WriteLine($"  {kernel.Name.PadRight(width)}  ({string.Join(", ", kernel.Parameters)}){shared}{barrier}{built}");
        }
    }

    /// <summary>What ptxas gave each kernel, read from its cubin: the numbers that decide occupancy on a GPU.</summary>
    private static void Resources(TextWriter output, string architecture, IReadOnlyList<KernelDescriptor> kernels)
    {
        // sm_NN, or sm_NNa (the architecture-specific features NVRTC also compiles for).
        Match real = Regex.Match(architecture, "^sm_([0-9]+)a?$");
        if (!real.Success)
        {
            throw new UsageException($"--resources takes a real architecture such as sm_90, not '{architecture}'");
        }

        try
        {
            if (!Nvrtc.SupportedArchitectures.Contains(int.Parse(real.Groups[1].Value, CultureInfo.InvariantCulture)))
            {
                throw new UsageException($"NVRTC {Nvrtc.Version.Major}.{Nvrtc.Version.Minor} does not compile for {architecture}; it knows sm_{string.Join(", sm_", Nvrtc.SupportedArchitectures)}");
            }
        }
        catch (NvrtcUnavailableException e)
        {
            throw new UsageException(e.Message);
        }

        int width = kernels.Max(k => k.Name.Length);
        output.WriteLine($"{"kernel".PadRight(width)}  registers  shared B  stack B   ({architecture}, NVRTC {Nvrtc.Version.Major}.{Nvrtc.Version.Minor})");
        foreach (KernelDescriptor kernel in kernels)
        {
            KernelResources r = CubinResources.Read(Nvrtc.CompileToCubin(kernel, architecture), kernel.Name);
            output.WriteLine($"{kernel.Name.PadRight(width)}  {r.Registers,9}  {r.SharedBytes,8}  {r.StackBytes,7}");
        }
    }

    private static double Build(Device device, KernelDescriptor kernel)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        device.Prepare(kernel);
        return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
