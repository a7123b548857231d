using System.CommandLine;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>`--precision fp32|tf32|bf16|fp16`: the arithmetic of a ViT's GEMMs and attention (run, bench, compare).</summary>
public static class PrecisionOption
{
    public const string Name = "--precision";

    public static Option<string> Create(string? applies = null)
    {
        var option = new Option<string>(Name)
        {
            Description = "The arithmetic of the GEMMs and attention" + (applies is null ? "" : $" ({applies})") + ". fp32 (the default) is PyTorch's and ONNX Runtime's default "
                + "(TF32 matmul off since PyTorch 1.12) and matches the PyTorch fixtures to 6e-5; tf32, bf16 and fp16 narrow the products' inputs "
                + "(sums stay fp32): faster on tensor-core GPUs (`gpuvit devices`, column \"tensor cores\"), an explicit trade of accuracy "
                + "(docs/ops.md, Precision); elsewhere they run an exact software MMA, which is slow",
            HelpName = string.Join("|", PrecisionNames.All),
            DefaultValueFactory = _ => "fp32",
        };
        option.AcceptOnlyFromAmong([.. PrecisionNames.All]);
        return option;
    }

    /// <summary>The precision the command line names (fp32 when it names none).</summary>
    public static Precision Value(ParseResult parsed, Option<string> option) => PrecisionNames.Parse(parsed.GetValue(option)!)!.Value;

    /// <summary>Whether the command line gave --precision (rather than taking the default).</summary>
    public static bool Given(ParseResult parsed, Option<string> option) => parsed.GetResult(option) is { Implicit: false };

    /// <summary>
    /// Before any model loads on <paramref name="device"/>: the cpu backend computes in fp32 only
    /// (a usage error), and a narrowed precision without tensor cores runs the software MMA (a
    /// warning: correct, it is how the kernels are tested, but slow).
    /// </summary>
    public static void Check(Device device, Precision precision, TextWriter error)
    {
        if (precision == Precision.Fp32)
        {
            return;
        }

        if (device.Kind == DeviceKind.Cpu)
        {
            throw new UsageException($"{Name} {precision.Name()}: the cpu backend computes in fp32 only; tf32, bf16 and fp16 run on cuda, opencl and the emulator");
        }

        if (!device.Info.Capabilities.HasMma(Shape(precision)))
        {
            error.WriteLine($"gpuvit: warning: {Name} {precision.Name()} on {device.Info.Id}, which has no tensor cores: the products run in an exact software MMA, correct but slow (use fp32 for speed there)");
        }
    }

    /// <summary>The tensor-core shape that runs the precision's products.</summary>
    public static TensorCoreShape Shape(Precision precision) => precision switch
    {
        Precision.Tf32 => TensorCoreShape.M16N8K8Tf32,
        Precision.Bf16 => TensorCoreShape.M16N8K16Bf16,
        _ => TensorCoreShape.M16N8K16F16,
    };
}
