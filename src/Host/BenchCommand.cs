using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// `gpuvit bench --op gemm|attention|layernorm|softmax|gelu [--shape k=v,...] [--device D] [--json]`:
/// a quick benchmark of one op after a warm-up, in achieved GFLOP/s and GB/s; and
/// `gpuvit bench --model PRESET [--batch N] [--image-size S]`: the same for a whole ViT forward pass.
/// </summary>
public static class BenchCommand
{
    private static readonly Dictionary<string, Dictionary<string, int>> DefaultShapes = new()
    {
        // ViT-S/16 at 224, batch 8: 1576 tokens of width 384.
        ["gemm"] = new() { ["m"] = 1576, ["k"] = 384, ["n"] = 1152 },
        ["attention"] = new() { ["batch"] = 8, ["tokens"] = 197, ["heads"] = 6, ["head"] = 64 },
        ["layernorm"] = new() { ["rows"] = 1576, ["cols"] = 384 },
        ["softmax"] = new() { ["rows"] = 9456, ["cols"] = 197 },
        ["gelu"] = new() { ["n"] = 1576 * 1536 },
    };

    /// <summary>
    /// Runs every timing in `bench` makes at least: BenchmarkDotNet's default minimum of
    /// iterations, so that the 5th and 95th percentiles lie between measured runs.
    /// </summary>
    public const int MinRuns = 15;

    public static Command Create(TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        var op = new Option<string?>("--op")
        {
            Description = "The op: gemm, attention, layernorm, softmax or gelu",
        };
        var model = new Option<string?>("--model")
        {
            Description = $"A model to run forward with random weights instead of one op: {string.Join(", ", VitPresets.Names)}, {ModelBench.DenseRnnModelName}, {ModelBench.DenseRnnSharedModelName}",
        };
        var batch = new Option<int>("--batch") { Description = "Images per forward pass (--model)", DefaultValueFactory = _ => 8 };
        var imageSize = new Option<int?>("--image-size") { Description = "Image size, if not the preset's (--model; dense-rnn: default 64)" };
        var patchSize = new Option<int?>("--patch-size") { Description = "Patch size, if not the preset's (--model, ViT presets)" };
        op.AcceptOnlyFromAmong([.. DefaultShapes.Keys]);
        var shape = new Option<string?>("--shape")
        {
            Description = "Sizes as name=value pairs: gemm m,k,n; attention batch,tokens,heads,head; layernorm and softmax rows,cols; gelu n (default: ViT-S/16 at 224, batch 8)",
        };
        var gemm = new Option<string?>("--gemm")
        {
            Description = "GEMM schedule on kernel devices: naive, tiled, register-blocked (fp32), mma-tf32 / mma-bf16 (demonstrations), or tc-tf32 / tc-bf16 / tc-fp16 "
                + "(tensor cores on CUDA sm_80+, software elsewhere); it computes in its own precision, which --precision may repeat but not contradict "
                + "(default: the ops' choice for the precision and each shape)",
        };
        gemm.AcceptOnlyFromAmong([.. GemmVersions.Keys]);
        var rnnKernels = new Option<string>("--rnn-kernels")
        {
            Description = "Dense RNN kernels on kernel devices: streaming (one pass over the weights per batch, readouts as reductions) or per-thread (the first version)",
            DefaultValueFactory = _ => "streaming",
        };
        rnnKernels.AcceptOnlyFromAmong("streaming", "per-thread");
        var unfused = new Option<bool>("--unfused") { Description = "Attention as GEMM, softmax, GEMM instead of the fused kernel" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var noGraphs = new Option<bool>("--no-graphs")
        {
            Description = "ViT benches: launch each forward pass's kernels one by one instead of replaying a CUDA graph of the pass (graphs apply on cuda only)",
        };
        var precision = PrecisionOption.Create("--op gemm and attention, and the ViT models; the dense RNN runs in fp32");

        var command = new Command("bench", "Benchmark one op, or a model's forward pass, on a device: seconds per run, achieved GFLOP/s and GB/s");
        command.Options.Add(op);
        command.Options.Add(model);
        command.Options.Add(batch);
        command.Options.Add(imageSize);
        command.Options.Add(patchSize);
        command.Options.Add(shape);
        command.Options.Add(gemm);
        command.Options.Add(precision);
        command.Options.Add(rnnKernels);
        command.Options.Add(unfused);
        command.Options.Add(json);
        command.Options.Add(noGraphs);
        command.SetAction(parsed =>
        {
            if ((parsed.GetValue(op) is null) == (parsed.GetValue(model) is null))
            {
                throw new UsageException("bench needs either --op NAME or --model PRESET");
            }

            (GemmVersion? named, Precision arithmetic) = Arithmetic(parsed, gemm, precision);
            if (parsed.GetValue(model) is { } preset)
            {
                ModelBench.Run(output, error, parsed, preset, parsed.GetValue(batch), parsed.GetValue(imageSize), parsed.GetValue(patchSize), parsed.GetValue(json),
                    !parsed.GetValue(unfused), named, arithmetic, !parsed.GetValue(noGraphs),
                    parsed.GetValue(rnnKernels) == "per-thread" ? RnnKernelVersion.PerThread : RnnKernelVersion.Streaming, interrupt);
                return 0;
            }

            string name = parsed.GetValue(op)!;
            if (arithmetic != Precision.Fp32 && name is not ("gemm" or "attention"))
            {
                throw new UsageException($"{PrecisionOption.Name} {arithmetic.Name()}: {name} runs in fp32 in every precision; it applies to --op gemm and attention");
            }

            Dictionary<string, int> sizes = Shape(name, parsed.GetValue(shape));
            using Device device = DeviceOption.Open(DeviceOption.Selector(parsed), error);
            PrecisionOption.Check(device, arithmetic, error);
            TransformerOps ops = TransformerOps.For(device, named, arithmetic);
            try
            {
                Result result = Run(ops, name, sizes, !parsed.GetValue(unfused), interrupt);
                (GemmVersion Version, int Splits)? gemmPlan = ops is KernelTransformerOps kernels
                    ? kernels.GemmPlanFor(sizes.GetValueOrDefault("m"), sizes.GetValueOrDefault("n"), sizes.GetValueOrDefault("k"))
                    : null;
                Print(output, parsed.GetValue(json), name, device, sizes, result, gemmPlan, arithmetic);
            }
            finally
            {
                (ops as IDisposable)?.Dispose();
            }

            return 0;
        });
        return command;
    }

    private sealed record Result(TimingSpread Call, double Flops, double Bytes, string Variant);

    /// <summary>The --gemm names, the only ones the option accepts.</summary>
    private static readonly Dictionary<string, GemmVersion> GemmVersions = new()
    {
        ["naive"] = GemmVersion.Naive,
        ["tiled"] = GemmVersion.Tiled,
        ["register-blocked"] = GemmVersion.RegisterBlocked,
        ["register-blocked-8x8"] = GemmVersion.RegisterBlocked8x8,
        ["mma-tf32"] = GemmVersion.MmaTf32,
        ["mma-bf16"] = GemmVersion.MmaBf16,
        ["tc-tf32"] = GemmVersion.TensorCoreTf32,
        ["tc-bf16"] = GemmVersion.TensorCoreBf16,
        ["tc-fp16"] = GemmVersion.TensorCoreFp16,
        ["tc-tf32-register-staged"] = GemmVersion.TensorCoreTf32RegisterStaged,
        ["tc-bf16-register-staged"] = GemmVersion.TensorCoreBf16RegisterStaged,
        ["tc-fp16-register-staged"] = GemmVersion.TensorCoreFp16RegisterStaged,
    };

    internal static GemmVersion Version(string text) => GemmVersions[text];

    /// <summary>
    /// The GEMM the command line names (null: the ops choose for the precision) and the precision:
    /// a named GEMM implies its own, which --precision, if given, must repeat.
    /// </summary>
    internal static (GemmVersion? Gemm, Precision Precision) Arithmetic(ParseResult parsed, Option<string?> gemm, Option<string> precision)
    {
        Precision given = PrecisionOption.Value(parsed, precision);
        if (parsed.GetValue(gemm) is not { } name)
        {
            return (null, given);
        }

        GemmVersion version = Version(name);
        if (PrecisionOption.Given(parsed, precision) && version.Precision() != given)
        {
            throw new UsageException($"--gemm {name} computes in {version.Precision().Name()}, not {PrecisionOption.Name} {given.Name()}: give one, or make them agree");
        }

        return (version, version.Precision());
    }

    private static Dictionary<string, int> Shape(string op, string? text)
    {
        var sizes = new Dictionary<string, int>(DefaultShapes[op]);
        if (string.IsNullOrWhiteSpace(text))
        {
            return sizes;
        }

        foreach (string pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = pair.Split('=');
            if (parts.Length != 2 || !sizes.ContainsKey(parts[0]))
            {
                throw new UsageException($"--shape: '{pair}' is not one of {op}'s sizes ({string.Join(", ", sizes.Keys.Select(k => k + "=N"))})");
            }

            if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1)
            {
                throw new UsageException($"--shape: {parts[0]} must be a positive integer, not '{parts[1]}'");
            }

            sizes[parts[0]] = value;
        }

        return sizes;
    }

    private static Result Run(TransformerOps ops, string op, Dictionary<string, int> s, bool fused, CancellationToken cancel)
    {
        Device device = ops.Device;
        var buffers = new List<DeviceBuffer<float>>();
        DeviceBuffer<float> Buffer(long length)
        {
            DeviceBuffer<float> buffer = device.Allocate<float>(length);
            buffer.Upload(BenchData.Noise(length, seed: buffers.Count + 1));
            buffers.Add(buffer);
            return buffer;
        }

        try
        {
            switch (op)
            {
                case "gemm":
                {
                    int m = s["m"], n = s["n"], k = s["k"];
                    var (x, w, b, y) = (Buffer((long)m * k), Buffer((long)n * k), Buffer(n), Buffer((long)m * n));
                    return Time(device, () => ops.Gemm(x, w, b, null, y, m, n, k), 2.0 * m * n * k, 4.0 * ((long)m * k + (long)n * k + n + (long)m * n), "bias", cancel);
                }

                case "attention":
                {
                    int batch = s["batch"], tokens = s["tokens"], heads = s["heads"], head = s["head"];
                    long dim = (long)heads * head;
                    var (qkv, o) = (Buffer(batch * tokens * 3 * dim), Buffer(batch * tokens * dim));
                    double flops = 4.0 * batch * heads * tokens * tokens * head;
                    return Time(device, () => ops.Attention(qkv, o, batch, tokens, heads, head, fused), flops, 4.0 * batch * tokens * 4 * dim, fused ? "fused" : "unfused", cancel);
                }

                case "layernorm":
                {
                    int rows = s["rows"], cols = s["cols"];
                    var (x, g, b, y) = (Buffer((long)rows * cols), Buffer(cols), Buffer(cols), Buffer((long)rows * cols));
                    return Time(device, () => ops.LayerNorm(x, g, b, y, rows, cols, 1e-6f), 8.0 * rows * cols, 4.0 * (2L * rows * cols + 2 * cols), "", cancel);
                }

                case "softmax":
                {
                    int rows = s["rows"], cols = s["cols"];
                    var (x, y) = (Buffer((long)rows * cols), Buffer((long)rows * cols));
                    return Time(device, () => ops.Softmax(x, y, rows, cols), 5.0 * rows * cols, 8.0 * rows * cols, "", cancel);
                }

                default:
                {
                    int n = s["n"];
                    var (x, y) = (Buffer(n), Buffer(n));
                    // GELU counted as 8 FLOPs per element, as mul/add-equivalents around erf.
                    return Time(device, () => ops.Gelu(x, y, n, Activation.Gelu), 8.0 * n, 8.0 * n, "exact", cancel);
                }
            }
        }
        finally
        {
            buffers.ForEach(b => b.Dispose());
        }
    }

    /// <summary>
    /// Seconds per call: a warm-up (which also builds kernels), then runs of back-to-back calls
    /// lasting at least 10 ms each, at least <see cref="MinRuns"/> of them and half a
    /// second in all (<see cref="DeviceTiming.Spread"/>).
    /// </summary>
    private static Result Time(Device device, Action run, double flops, double bytes, string variant, CancellationToken cancel) =>
        new(DeviceTiming.Spread(device, run, TimeSpan.FromMilliseconds(10), MinRuns, TimeSpan.FromSeconds(0.5), cancel), flops, bytes, variant);

    /// <param name="gemmPlan">The kernel GEMM's version and its parts of k (split-K; 1: none); null on the cpu backend.</param>
    private static void Print(
        TextWriter output, bool json, string op, Device device, Dictionary<string, int> sizes, Result result, (GemmVersion Version, int Splits)? gemmPlan, Precision precision)
    {
        string shape = string.Join(",", sizes.Select(p => $"{p.Key}={p.Value}"));
        double seconds = result.Call.Median;
        double gflops = result.Flops / seconds / 1e9, gbps = result.Bytes / seconds / 1e9;
        string? gemm = op == "gemm" && gemmPlan is { } plan ? plan.Version + (plan.Splits > 1 ? $" split-K {plan.Splits}" : "") : null;
        string variant = string.Join(" ", new[] { gemm, result.Variant }.Where(v => !string.IsNullOrEmpty(v)));
        if (json)
        {
            var fields = new Dictionary<string, object?>
            {
                ["op"] = op,
                ["device"] = device.Info.Id,
                ["device_name"] = device.Info.Name,
                ["shape"] = shape,
                ["variant"] = variant,
                ["precision"] = precision.Name(),
                ["gflops"] = gflops,
                ["gbps"] = gbps,
            };
            ModelBench.AddSpread(fields, "seconds", "runs", result.Call);
            if (op == "gemm" && gemmPlan is { } planned)
            {
                fields["splits"] = planned.Splits;
            }

            output.WriteLine(JsonSerializer.Serialize(fields));
            return;
        }

        output.WriteLine($"{op} {shape} on {device.Info.Id} ({device.Info.Name}), {precision.Name()}{(variant.Length > 0 ? ", " + variant : "")}:");
        output.WriteLine(FormattableString.Invariant($"  {seconds * 1e3:F3} ms per call, {gflops:F2} GFLOP/s, {gbps:F2} GB/s (median)"));
        output.WriteLine($"  per call: {result.Call.Describe()}");
    }
}
