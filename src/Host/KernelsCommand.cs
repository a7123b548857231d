using System.CommandLine;
using GpuViT.Kernels;

namespace GpuViT.Host;

/// <summary>`gpuvit kernels [NAME] [--dialect opencl|cuda]`: the compiled kernels and their generated source.</summary>
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

        var command = new Command("kernels", "List every kernel with its parameters, or print one kernel's generated OpenCL C or CUDA C");
        command.Arguments.Add(name);
        command.Options.Add(dialect);
        command.SetAction(parsed =>
        {
            string? kernelName = parsed.GetValue(name);
            if (kernelName is null)
            {
                List(output);
                return 0;
            }

            KernelDialect which = parsed.GetValue(dialect) == "cuda" ? KernelDialect.Cuda : KernelDialect.OpenCL;
            output.Write(Find(kernelName).Source(which));
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

    private static void List(TextWriter output)
    {
        IReadOnlyList<KernelDescriptor> kernels = KernelRegistry.All;
        int width = kernels.Max(k => k.Name.Length);
        output.WriteLine($"{kernels.Count} kernels (print one's source with: gpuvit kernels NAME --dialect opencl|cuda)");
        foreach (KernelDescriptor kernel in kernels)
        {
            string shared = kernel.SharedMemoryBytes > 0 ? $"  shared {kernel.SharedMemoryBytes} B" : string.Empty;
            string barrier = kernel.UsesBarrier ? "  barrier" : string.Empty;
            output.WriteLine($"  {kernel.Name.PadRight(width)}  ({string.Join(", ", kernel.Parameters)}){shared}{barrier}");
        }
    }
}
