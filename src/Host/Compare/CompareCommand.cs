using System.CommandLine;
using System.Globalization;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Images;
using GpuViT.Models.Rnn;
using GpuViT.Models.Vit;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.Roofline;

namespace GpuViT.Host.Compare;

/// <summary>
/// `gpuvit compare`: the ViT (weight-shared patches), the unshared dense RNN and the shared RNN on
/// the same device, for each image size and batch, measured against the device's probed roofline.
/// The options are checked and the plan made here; <see cref="CompareMeasurement"/> measures it,
/// <see cref="CompareText"/>, <see cref="CompareJson"/> and <see cref="CompareReport"/> write it.
/// </summary>
public static class CompareCommand
{
    /// <summary>The report's file, in the working directory, when --report does not say.</summary>
    public const string DefaultReport = "gpuvit-compare.html";

    public static Command Create(TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        var options = new Options();
        var command = new Command("compare", "The ViT, the dense RNN and the shared RNN on one device: costs, times and the roofline");
        foreach (Option option in options.All)
        {
            command.Options.Add(option);
        }

        command.SetAction(parsed => Run(parsed, options, output, error, interrupt));
        return command;
    }

    private static int Run(ParseResult parsed, Options options, TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        // Before the weights load and the images decode: a report that cannot be written fails at once, not after every measurement.
        string? reportPath = parsed.GetValue(options.NoReport) ? null : parsed.GetValue(options.Report);
        OutputPaths.Check("--report", reportPath,
            [.. OutputPaths.ModelFiles(parsed.GetValue(options.Weights), config: null),
                .. (parsed.GetValue(options.Images) ?? []).Select(path => new OutputPaths.Input("--images", path))]);
        (CompareMeasurement.Plan plan, KnownGpu? gpu) = PlanFrom(parsed, options, error, interrupt);

        using Device device = DeviceOption.Open(DeviceOption.Selector(parsed), error);
        PrecisionOption.Check(device, plan.VitPrecision, error);
        TensorCoreRoof? tensorCores = TensorCoreRoofFor(device.Info.Capabilities, plan.VitPrecision);
        DevicePeaks peaks = DeviceProbe.Measure(device);
        CompareMeasurement.Results measured = ProgressDisplay.Run(output, error, $"compare on {device.Info.Id}", plan.Count,
            progress => CompareMeasurement.Run(device, plan, progress, interrupt));

        // What was measured is written also when interrupted; the device's memory goes back as it closes.
        output.WriteLine(parsed.GetValue(options.Json)
            ? CompareJson.Rows(measured.Rows, device.Info.Name, peaks, gpu, tensorCores)
            : CompareText.Table(measured.Rows, device.ToString(), peaks, gpu, plan.View, tensorCores));
        if (reportPath is not null)
        {
            AtomicFile.WriteAllText(reportPath, CompareReport.Html(measured.Rows, measured.Skipped, device.ToString(), peaks, gpu, plan.View, tensorCores));
            error.WriteLine($"gpuvit: wrote {reportPath}");
        }

        foreach (string line in measured.Skipped)
        {
            error.WriteLine($"gpuvit: skipped {line}");
        }

        if (measured.Interrupted)
        {
            error.WriteLine($"gpuvit: interrupted; {measured.Rows.Count} of {plan.Count} measurements written");
            return Cli.Interrupted;
        }

        return 0;
    }

    /// <summary>
    /// The options checked, every size against every model, and the images decoded, all before the
    /// device opens: a mistake fails at once, not part-way through the measurements.
    /// </summary>
    private static (CompareMeasurement.Plan Plan, KnownGpu? Gpu) PlanFrom(ParseResult parsed, Options options, TextWriter error, CancellationToken interrupt)
    {
        LoadedVit? trained = null;
        EvalTransform transform = new(224);
        if (parsed.GetValue(options.Weights) is { } weightsPath)
        {
            if (parsed.GetValue(options.Vit) is not null)
            {
                throw new UsageException("--weights and --vit both name the ViT; give one");
            }

            trained = VitWeightFiles.Load(weightsPath, hints: new VitConfigHints(Heads: parsed.GetValue(options.Heads)));
            foreach (string warning in trained.Warnings)
            {
                error.WriteLine($"gpuvit: warning: {warning}");
            }

            if (trained.Config.Channels != DenseRnnConfig.InputChannels)
            {
                // The images decode to RGB, and the RNNs take 3 channels.
                throw new UsageException($"--weights: the model takes {trained.Config.Channels} input channels; compare feeds 3 (RGB)");
            }

            // The images go through the preprocessing the model was published with, as in `run`.
            Preprocessing preprocessing = PreprocessResolution.Resolve(trained, weightsPath, new PreprocessHints());
            foreach (string warning in preprocessing.Warnings)
            {
                error.WriteLine($"gpuvit: warning: {warning}");
            }

            transform = preprocessing.Transform;
        }

        // A trained ViT runs at the size it was trained at (position embeddings are not interpolated).
        int[] sizes = trained is not null && parsed.GetResult(options.ImageSizes) is null or { Implicit: true }
            ? [trained.Config.ImageSize]
            : List(parsed.GetValue(options.ImageSizes)!, "--image-sizes");
        int[] batches = List(parsed.GetValue(options.Batches)!, "--batches");
        double minSeconds = parsed.GetValue(options.Seconds);
        if (minSeconds is < 0 or > 60)
        {
            throw new UsageException($"--seconds must be between 0 and 60, not {minSeconds.ToString(CultureInfo.InvariantCulture)}");
        }

        View view = parsed.GetValue(options.Match) switch
        {
            "none" => View.AsConfigured,
            "flops" => View.EqualCompute,
            var other => throw new UsageException($"--match: '{other}' is not none or flops"),
        };

        KnownGpu? gpu = parsed.GetValue(options.Project) is { } key
            ? FindGpu(key) ?? throw new UsageException($"--project: unknown GPU '{key}' (known: {string.Join(", ", KnownGpus.Select(g => g.Key))})")
            : null;

        string? vitPreset = parsed.GetValue(options.Vit);
        if (vitPreset is not null && !VitPresets.Names.Contains(vitPreset))
        {
            throw new UsageException($"--vit: unknown preset '{vitPreset}' (known: {string.Join(", ", VitPresets.Names)})");
        }

        // Every size against every model: one that a model cannot take fails at once, not part-way.
        var vits = new Dictionary<int, VitConfig>();
        var rnns = new Dictionary<(int Size, bool Shared), DenseRnnConfig>();
        foreach (int size in sizes)
        {
            if (trained is not null && size != trained.Config.ImageSize)
            {
                throw new UsageException($"--image-sizes: {size} is not the {trained.Config.ImageSize}×{trained.Config.ImageSize} that --weights takes");
            }

            if (trained is null && size % 8 != 0)
            {
                throw new UsageException($"--image-sizes: {size} is not a multiple of 8 (the ViT has 8×8 patches)");
            }

            try
            {
                vits[size] = trained?.Config ?? VitFor(size, vitPreset);
            }
            catch (VitConfigException e)
            {
                throw new UsageException(e.Message);
            }

            foreach (bool shared in new[] { false, true })
            {
                try
                {
                    rnns[(size, shared)] = RnnFor(size, shared, view, vits[size].FlopsPerImage).Validate();
                }
                catch (DenseRnnConfigException e)
                {
                    throw new UsageException("--image-sizes: " + e.Message);
                }
            }
        }

        // Every path is checked before anything decodes; then the images decode at each size.
        string[] paths = parsed.GetValue(options.Images) ?? [];
        ImageSource source = paths.Length > 0
            ? ImageSource.Open(paths, resize: !parsed.GetValue(options.NoResize), transform: transform,
                maxImagePixels: MaxImagePixelsOption.Value(parsed, options.MaxImagePixels))
            : ImageSource.Synthetic(CompareMeasurement.SyntheticImages);
        return (new CompareMeasurement.Plan(sizes, batches, vits, rnns, trained?.Weights, CompareMeasurement.Decode(source, sizes, batches, interrupt), minSeconds, view,
            PrecisionOption.Value(parsed, options.Precision)), gpu);
    }

    private static int[] List(string text, string option)
    {
        var values = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1 || value > 4096)
            {
                throw new UsageException($"{option}: '{part}' is not a positive integer up to 4096");
            }

            values.Add(value);
        }

        return [.. values.Distinct()];
    }

    /// <summary>The command's options, in the order help lists them.</summary>
    private sealed class Options
    {
        /// <summary>The RNNs' defaults, which --match none keeps; the help names them.</summary>
        private static readonly DenseRnnConfig Configured = new(ImageSize: 1);

        public readonly Option<string> ImageSizes = new("--image-sizes") { Description = "Image sizes, comma-separated", DefaultValueFactory = _ => "32,64,128,224" };
        public readonly Option<string> Batches = new("--batches") { Description = "Images per forward pass (also the stream's micro-batch), comma-separated", DefaultValueFactory = _ => "1,8,32" };
        public readonly Option<string[]> Images = new("--images")
        {
            Description = "Images to run (files, directories, .npy [N, 3, H, W]) instead of synthetic ones; resized to each size",
            AllowMultipleArgumentsPerToken = true,
        };

        public readonly Option<bool> NoResize = new("--no-resize") { Description = "Fail on an image that is not already the size measured, instead of resizing it" };
        public readonly Option<long> MaxImagePixels = MaxImagePixelsOption.Create();
        public readonly Option<string?> Vit = new("--vit") { Description = "A ViT preset scaled to each size (patch = size/8) instead of ViT-S/16's shape" };
        public readonly Option<string?> Weights = new("--weights") { Description = "A trained ViT (.safetensors, timm/torchvision/Hugging Face layout) instead of random weights; runs at its own image size" };
        public readonly Option<int?> Heads = new("--heads") { Description = "Attention heads of --weights, when neither its metadata nor a config.json beside it says" };
        public readonly Option<string> Match = new("--match")
        {
            Description = CompareText.Inv($"none: every model as configured (the RNNs: C={Configured.Channels}, k={Configured.Kernel}, T={Configured.Steps} steps). flops: equal compute; at each size both RNNs run ")
                + "T = round((ViT FLOPs per image - readout) / FLOPs per step) steps, so their FLOPs per image come within half a step of the ViT's. "
                + "Steps, not channels: the same weights thinking longer, while channels would grow the unshared weights as C² (to ~1.4 GB at any size)",
            HelpName = "none|flops",
            DefaultValueFactory = _ => "none",
        };

        public readonly Option<double> Seconds = new("--seconds")
        {
            Description = "Minimum timing per measurement, after a warm-up: half on device-resident inputs, half end to end through the stream",
            DefaultValueFactory = _ => 1.0,
        };

        public readonly Option<string> Precision = PrecisionOption.Create("the ViT's; the RNNs run in fp32");
        public readonly Option<bool> Json = new("--json") { Description = "Print a JSON array of rows" };
        public readonly Option<string> Report = new("--report")
        {
            Description = "Where to write the self-contained HTML report (roofline, cost vs size, table)",
            DefaultValueFactory = _ => DefaultReport,
        };

        public readonly Option<bool> NoReport = new("--no-report") { Description = "Write no report" };
        public readonly Option<string?> Project = new("--project") { Description = $"Also project roofline-bound times onto a GPU not present: {string.Join(", ", KnownGpus.Select(g => g.Key))}" };

        public IEnumerable<Option> All => [ImageSizes, Batches, Images, NoResize, MaxImagePixels, Vit, Weights, Heads, Match, Precision, Seconds, Json, Report, NoReport, Project];
    }
}
