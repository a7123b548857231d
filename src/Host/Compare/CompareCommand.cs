using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuViT.Kernels.IO;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Inputs;
using GpuViT.Models.Rnn;
using GpuViT.Models.Streaming;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// `gpuvit compare`: the ViT (weight-shared patches), the unshared dense RNN and the shared RNN on
/// the same device, for each image size and batch, measured against the device's probed roofline.
/// </summary>
public static class CompareCommand
{
    public const string VitName = "vit";

    /// <summary>
    /// What the RNNs are beside the ViT: as configured (C=8, k=3, T=4: FLOPs per image differ, so
    /// GFLOP/s and the roofline compare them), or at equal compute (each RNN run for as many steps
    /// as bring its FLOPs per image to the ViT's, so images/s compare them too).
    /// </summary>
    public enum View
    {
        AsConfigured,
        EqualCompute,
    }

    /// <summary>The view's name in the table, the report and the JSON.</summary>
    public static string Name(View view) => view == View.EqualCompute ? "equal-compute" : "as-configured";

    /// <summary>One model at one image size and batch: its costs by formula, its times as measured two ways.</summary>
    /// <param name="DeviceP50">Seconds for one batch's forward pass on device-resident inputs, median, by device events.</param>
    /// <param name="DeviceImagesPerS">Images per second of those passes: batch over the mean pass.</param>
    /// <param name="StreamImagesPerS">Images per second end to end through the patch stream (decode, upload, forward, download), by the wall clock.</param>
    /// <param name="Rnn">The RNN's config as measured (its steps scaled in the equal-compute view); null for the ViT.</param>
    public sealed record Row(
        string Model, int ImageSize, int Batch, long Params, long WeightBytes, double FlopsPerImage, double BytesPerImage,
        double DeviceP50, double DeviceP95, double DeviceImagesPerS, double StreamImagesPerS, string Device,
        View View = View.AsConfigured, DenseRnnConfig? Rnn = null)
    {
        public double Intensity => FlopsPerImage / BytesPerImage;

        /// <summary>GFLOP/s and GB/s of the device-resident passes: what the roofline is about.</summary>
        public double Gflops => FlopsPerImage * DeviceImagesPerS / 1e9;

        public double Gbps => BytesPerImage * DeviceImagesPerS / 1e9;
    }

    /// <summary>Published dense peaks (FP32 without tensor cores; TF32 and BF16 with them) and memory bandwidth, for projections only.</summary>
    public sealed record KnownGpu(string Key, string Name, double Fp32Gflops, double Tf32Gflops, double Bf16Gflops, double MemoryGbps);

    public static readonly KnownGpu[] KnownGpus =
    [
        new("h100", "NVIDIA H100 SXM", 67_000, 495_000, 989_000, 3_350),
        new("a100", "NVIDIA A100 SXM 80GB", 19_500, 156_000, 312_000, 2_039),
        new("rtx4090", "NVIDIA RTX 4090", 82_600, 82_600, 165_200, 1_008),
    ];

    public static Command Create(TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        var imageSizes = new Option<string>("--image-sizes") { Description = "Image sizes, comma-separated", DefaultValueFactory = _ => "32,64,128,224" };
        var batches = new Option<string>("--batches") { Description = "Images per forward pass (also the stream's micro-batch), comma-separated", DefaultValueFactory = _ => "1,8,32" };
        var images = new Option<string[]>("--images")
        {
            Description = "Images to run (files, directories, .npy [N, 3, H, W]) instead of synthetic ones; resized to each size",
            AllowMultipleArgumentsPerToken = true,
        };
        var noResize = new Option<bool>("--no-resize") { Description = "Fail on an image that is not already the size measured, instead of resizing it" };
        var vit = new Option<string?>("--vit") { Description = "A ViT preset scaled to each size (patch = size/8) instead of ViT-S/16's shape" };
        var weights = new Option<string?>("--weights") { Description = "A trained ViT (.safetensors, timm/torchvision/Hugging Face layout) instead of random weights; runs at its own image size" };
        var heads = new Option<int?>("--heads") { Description = "Attention heads of --weights, when neither its metadata nor a config.json beside it says" };
        var rnn = new DenseRnnConfig(ImageSize: 1);
        var match = new Option<string>("--match")
        {
            Description = Inv($"none: every model as configured (the RNNs: C={rnn.Channels}, k={rnn.Kernel}, T={rnn.Steps} steps). flops: equal compute; at each size both RNNs run ")
                + "T = round((ViT FLOPs per image - readout) / FLOPs per step) steps, so their FLOPs per image come within half a step of the ViT's. "
                + "Steps, not channels: the same weights thinking longer, while channels would grow the unshared weights as C² (to ~1.4 GB at any size)",
            HelpName = "none|flops",
            DefaultValueFactory = _ => "none",
        };
        var seconds = new Option<double>("--seconds")
        {
            Description = "Minimum timing per measurement, after a warm-up: half on device-resident inputs, half end to end through the stream",
            DefaultValueFactory = _ => 1.0,
        };
        var json = new Option<bool>("--json") { Description = "Print a JSON array of rows" };
        var report = new Option<string>("--report")
        {
            Description = "Where to write the self-contained HTML report (roofline, cost vs size, table)",
            DefaultValueFactory = _ => DefaultReport,
        };
        var noReport = new Option<bool>("--no-report") { Description = "Write no report" };
        var project = new Option<string?>("--project") { Description = $"Also project roofline-bound times onto a GPU not present: {string.Join(", ", KnownGpus.Select(g => g.Key))}" };

        var command = new Command("compare", "The ViT, the dense RNN and the shared RNN on one device: costs, times and the roofline");
        foreach (Option option in new Option[] { imageSizes, batches, images, noResize, vit, weights, heads, match, seconds, json, report, noReport, project })
        {
            command.Options.Add(option);
        }

        command.SetAction(parsed =>
        {
            LoadedVit? trained = null;
            if (parsed.GetValue(weights) is { } weightsPath)
            {
                if (parsed.GetValue(vit) is not null)
                {
                    throw new UsageException("--weights and --vit both name the ViT; give one");
                }

                trained = VitWeightFiles.Load(weightsPath, hints: new VitConfigHints(Heads: parsed.GetValue(heads)));
                if (trained.Config.Channels != DenseRnnConfig.InputChannels)
                {
                    // The images decode to RGB, and the RNNs take 3 channels.
                    throw new UsageException($"--weights: the model takes {trained.Config.Channels} input channels; compare feeds 3 (RGB)");
                }
            }

            // A trained ViT runs at the size it was trained at (position embeddings are not interpolated).
            int[] sizes = trained is not null && parsed.GetResult(imageSizes) is null or { Implicit: true }
                ? [trained.Config.ImageSize]
                : List(parsed.GetValue(imageSizes)!, "--image-sizes");
            int[] batchList = List(parsed.GetValue(batches)!, "--batches");
            double minSeconds = parsed.GetValue(seconds);
            if (minSeconds is < 0 or > 60)
            {
                throw new UsageException($"--seconds must be between 0 and 60, not {minSeconds.ToString(CultureInfo.InvariantCulture)}");
            }

            View view = parsed.GetValue(match) switch
            {
                "none" => View.AsConfigured,
                "flops" => View.EqualCompute,
                var other => throw new UsageException($"--match: '{other}' is not none or flops"),
            };

            KnownGpu? gpu = null;
            if (parsed.GetValue(project) is { } key)
            {
                gpu = KnownGpus.FirstOrDefault(g => g.Key == key.ToLowerInvariant())
                    ?? throw new UsageException($"--project: unknown GPU '{key}' (known: {string.Join(", ", KnownGpus.Select(g => g.Key))})");
            }

            string? vitPreset = parsed.GetValue(vit);
            if (vitPreset is not null && !VitPresets.Names.Contains(vitPreset))
            {
                throw new UsageException($"--vit: unknown preset '{vitPreset}' (known: {string.Join(", ", VitPresets.Names)})");
            }

            // Every size is checked against every model before anything runs: one that a model cannot take fails at once, not part-way.
            var vitConfigs = new Dictionary<int, VitConfig>();
            var rnnConfigs = new Dictionary<(int Size, bool Shared), DenseRnnConfig>();
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

                vitConfigs[size] = trained?.Config ?? VitFor(vitPreset, size);
                foreach (bool shared in new[] { false, true })
                {
                    try
                    {
                        rnnConfigs[(size, shared)] = RnnFor(size, shared, view, vitConfigs[size].FlopsPerImage).Validate();
                    }
                    catch (DenseRnnConfigException e)
                    {
                        throw new UsageException("--image-sizes: " + e.Message);
                    }
                }
            }

            // Every path is checked before the device opens; images decode per size, later.
            string[] paths = parsed.GetValue(images) ?? [];
            ImageSource source = paths.Length > 0 ? ImageSource.Open(paths, resize: !parsed.GetValue(noResize), mean: trained?.Mean, std: trained?.Std) : ImageSource.Synthetic(SyntheticImages);
            string? reportPath = parsed.GetValue(noReport) ? null : parsed.GetValue(report);

            // Decoded once per size before anything is measured (a bad image stops the run before it
            // starts): the same images go through the ViT's stream, cycled, and the RNNs, so that
            // decoding is not what is timed.
            int distinct = Math.Min(source.Count, Math.Max(2 * batchList.Max(), SyntheticImages));
            Dictionary<int, float[][]> decoded = sizes.ToDictionary(size => size, size => Decode(source, distinct, size, interrupt));

            using Device device = DeviceOption.Open(DeviceOption.Selector(parsed), error);
            DevicePeaks peaks = DeviceProbe.Measure(device);
            var rows = new List<Row>();
            var skipped = new List<string>();
            int total = sizes.Length * batchList.Length * 3;
            bool interrupted = ProgressDisplay.Run(output, error, $"compare on {device.Info.Id}", total, progress =>
            {
                // One measurement; one that does not fit the device is skipped, with the reason, and the rest go on.
                void Measure(string model, int size, int batch, Func<Row> measure)
                {
                    string what = $"{model} at {size}, batch {batch}";
                    progress.Status(what);
                    try
                    {
                        rows.Add(measure());
                        progress.Done(Summary(rows[^1]));
                    }
                    catch (Exception e) when (e is DoesNotFitException or DeviceOutOfMemoryException)
                    {
                        skipped.Add($"{what}: {e.Message}");
                        progress.Done($"{what}: skipped, {e.Message}");
                    }
                }

                try
                {
                    foreach (int size in sizes)
                    {
                        // One ViT per size, loaded (weights drawn, uploaded and packed) once for all its batches.
                        VitModel? vitModel = null;
                        try
                        {
                            foreach (int batch in batchList)
                            {
                                Measure(VitName, size, batch, () => MeasureVit(
                                    vitModel ??= VitModel.Load(device, vitConfigs[size], trained?.Weights ?? VitWeights.RandomInit(vitConfigs[size], seed: 0)),
                                    batch, decoded[size], minSeconds, view, interrupt));
                                foreach (bool shared in new[] { false, true })
                                {
                                    Measure(shared ? ModelBench.DenseRnnSharedModelName : ModelBench.DenseRnnModelName, size, batch, () =>
                                        MeasureRnn(device, rnnConfigs[(size, shared)], batch, decoded[size], minSeconds, view, interrupt));
                                }
                            }
                        }
                        finally
                        {
                            vitModel?.Dispose();
                        }
                    }

                    return false;
                }
                catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
                {
                    return true;
                }
            });

            // What was measured is written also when interrupted; the device's memory goes back as it closes.
            output.WriteLine(parsed.GetValue(json) ? Json(rows, device, peaks, gpu) : Table(rows, device.ToString(), peaks, gpu, view));
            if (reportPath is not null)
            {
                AtomicFile.WriteAllText(reportPath, CompareReport.Html(rows, skipped, device.ToString(), peaks, gpu, view));
                error.WriteLine($"gpuvit: wrote {reportPath}");
            }

            foreach (string line in skipped)
            {
                error.WriteLine($"gpuvit: skipped {line}");
            }

            if (interrupted)
            {
                error.WriteLine($"gpuvit: interrupted; {rows.Count} of {total} measurements written");
                return Cli.Interrupted;
            }

            return 0;
        });
        return command;
    }

    /// <summary>A measurement too large for the device: skipped, and said so, while the others run.</summary>
    private sealed class DoesNotFitException(string message) : Exception(message);

    /// <summary>The report's file, in the working directory, when --report does not say.</summary>
    public const string DefaultReport = "gpuvit-compare.html";

    /// <summary>Distinct synthetic images the stream cycles through; enough that no two micro-batches of a small batch repeat.</summary>
    private const int SyntheticImages = 64;

    private static string Summary(Row r) =>
        Inv($"{r.Model} at {r.ImageSize}, batch {r.Batch}: {r.DeviceImagesPerS:F1} images/s on the device ({r.Gflops:F1} GFLOP/s, {r.Gbps:F2} GB/s), {r.StreamImagesPerS:F1} end to end");

    /// <summary>
    /// The RNN measured beside a ViT of <paramref name="vitFlopsPerImage"/> FLOPs per image: as
    /// configured (<see cref="DenseRnnConfig"/>'s defaults), or at equal compute with T steps, T = round((ViT FLOPs − readout
    /// FLOPs) / FLOPs per step), at least 1, so its FLOPs per image are within half a step of the
    /// ViT's. Steps, not channels: the weights stay the same and the net thinks longer, while
    /// channels would grow the unshared weights as C² (at four steps, ~2 FLOPs per weight per
    /// step, the ViT's ~2.9 GFLOP take ~1.4 GB of weights at any size: C ≈ 48 at 128). The shared
    /// RNN follows the same rule: its FLOPs per step are the unshared one's.
    /// </summary>
    public static DenseRnnConfig RnnFor(int size, bool shared, View view, double vitFlopsPerImage)
    {
        var config = new DenseRnnConfig(size, Shared: shared);
        return view == View.EqualCompute
            ? config with { Steps = (int)Math.Clamp(Math.Round((vitFlopsPerImage - config.ReadoutFlops) / config.FlopsPerStep), 1, int.MaxValue) }
            : config;
    }

    private static VitConfig VitFor(string? preset, int size)
    {
        try
        {
            return preset is null
                ? DenseRnnConfig.ComparableVit(size)
                : (VitPresets.Get(preset) with { ImageSize = size, PatchSize = Math.Max(1, size / 8) }).Validate();
        }
        catch (VitConfigException e)
        {
            throw new UsageException(e.Message);
        }
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

    private static float[][] Decode(ImageSource source, int count, int size, CancellationToken cancel)
    {
        var images = new float[count][];
        ImageStream.ForEachImage(count, cancel, i =>
        {
            images[i] = new float[DenseRnnConfig.InputChannels * size * size];
            source.Decode(i, size, images[i]);
        });
        return images;
    }

    /// <summary>The ViT timed both ways: on device-resident inputs, and end to end through the patch stream.</summary>
    private static Row MeasureVit(VitModel model, int batch, float[][] images, double minSeconds, View view, CancellationToken cancel)
    {
        VitConfig config = model.Config;
        (ModelBench.PassTimes pass, double stream) = MeasureBothWays(
            new VitStreamModel(model), batch, images, minSeconds, (input, logits) => model.Forward(input, logits, batch), cancel);
        return new Row(VitName, config.ImageSize, batch, config.ParameterCount, config.WeightBytes, config.FlopsPerImage, config.BytesPerImage(batch),
            pass.P50, pass.P95, batch / pass.Mean, stream, model.Device.Info.Id, view);
    }

    /// <summary>The RNN timed both ways, on the same images as the ViT.</summary>
    private static Row MeasureRnn(Device device, DenseRnnConfig config, int batch, float[][] images, double minSeconds, View view, CancellationToken cancel)
    {
        try
        {
            config.Validate().RequireFits(device.Info, batch);
        }
        catch (DenseRnnConfigException e)
        {
            throw new DoesNotFitException(e.Message);
        }

        using DenseRnnModel model = DenseRnnModel.Load(device, config, DenseRnnWeights.RandomInit(config, seed: 0), batch);
        (ModelBench.PassTimes pass, double stream) = MeasureBothWays(
            new RnnStreamModel(model), batch, images, minSeconds, (input, logits) => model.Forward(input, logits, batch), cancel);
        string name = config.Shared ? ModelBench.DenseRnnSharedModelName : ModelBench.DenseRnnModelName;
        return new Row(name, config.ImageSize, batch, config.ParameterCount, config.WeightBytes, config.FlopsPerImage, config.BytesPerImage(batch),
            pass.P50, pass.P95, batch / pass.Mean, stream, device.Info.Id, view, config);
    }

    /// <summary>
    /// One model timed the two ways, each for half of <paramref name="minSeconds"/>: (1) its forward
    /// pass on the first <paramref name="batch"/> of <paramref name="images"/>, uploaded once, timed
    /// by device events (<see cref="ModelBench.Time"/>); (2) end to end through the patch stream,
    /// micro-batches of <paramref name="batch"/> images cycled from <paramref name="images"/>, at least
    /// three, by the wall clock. Whether the stream's buffers fit is checked before anything is
    /// allocated, so a batch too large for the device is skipped whole.
    /// </summary>
    private static (ModelBench.PassTimes Pass, double StreamImagesPerS) MeasureBothWays(
        IStreamModel model, int batch, float[][] images, double minSeconds, Action<DeviceView<float>, DeviceView<float>> forward, CancellationToken cancel)
    {
        Device device = model.Device;
        long budget = ImageStream.TokenBudget(model, images: batch);
        ModelBench.PassTimes pass;
        using (DeviceBuffer<float> deviceImages = device.Upload<float>([.. Enumerable.Range(0, batch).SelectMany(i => images[i % images.Length])]))
        using (DeviceBuffer<float> logits = device.Allocate<float>((long)batch * model.OutputsPerImage))
        {
            pass = ModelBench.Time(device, () => forward(deviceImages, logits), minSeconds / 2, cancel);
        }

        // Already warm: as many micro-batches as the device-resident passes say last the other half.
        int microBatches = (int)Math.Clamp(Math.Ceiling(minSeconds / 2 / Math.Max(pass.Mean, 1e-6)), 3, 100_000);
        ImageStream.DecodeInto decode = (i, destination) => images[i % images.Length].CopyTo(destination);
        long start = Stopwatch.GetTimestamp();
        foreach (StreamedBatch _ in ImageStream.Run(model, microBatches * batch, decode, budget, cancel))
        {
        }

        return (pass, microBatches * batch / Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    /// <summary>
    /// The argument in one sentence, from the device-resident measurements, saying which view it
    /// states: at the largest size with both models at the smallest batch, as configured the ViT's
    /// GFLOP/s over the unshared RNN's; at equal compute its images/s over the RNN's, the same work
    /// per image. Then the RNN's bandwidth roof at its intensity, which is why. Null without both rows.
    /// </summary>
    public static string? Headline(IReadOnlyList<Row> rows, DevicePeaks peaks)
    {
        var pairs = from v in rows
                    where v.Model == VitName
                    join r in rows.Where(r => r.Model == ModelBench.DenseRnnModelName) on (v.ImageSize, v.Batch) equals (r.ImageSize, r.Batch)
                    orderby v.Batch, v.ImageSize descending
                    select (Vit: v, Rnn: r);
        if (!pairs.Any())
        {
            return null;
        }

        (Row vit, Row rnn) = pairs.First();
        string why = peaks.MemoryGbps is { } gbps
            ? Inv($": its {rnn.Intensity:F1} FLOP per byte caps it at {rnn.Intensity * gbps:F1} GFLOP/s under the {gbps:F1} GB/s bandwidth roof, while the ViT's shared weights give {vit.Intensity:F0} FLOP per byte")
            : Inv($": {rnn.Intensity:F1} FLOP per byte against the ViT's {vit.Intensity:F0}");
        string what = rnn.View == View.EqualCompute
            ? Inv($"At equal compute (the unshared RNN run for {rnn.Rnn?.Steps} steps, {rnn.FlopsPerImage / 1e6:F1} MFLOP per image against the ViT's {vit.FlopsPerImage / 1e6:F1}), at {vit.ImageSize}×{vit.ImageSize}, batch {vit.Batch}, the ViT classified {vit.DeviceImagesPerS / rnn.DeviceImagesPerS:F1}× the images per second of the unshared dense RNN ({vit.DeviceImagesPerS:F1} against {rnn.DeviceImagesPerS:F1}; {1e3 / vit.DeviceImagesPerS:F2} against {1e3 / rnn.DeviceImagesPerS:F2} ms per image)")
            : Inv($"As configured, at {vit.ImageSize}×{vit.ImageSize}, batch {vit.Batch}, the ViT reached {vit.Gflops / rnn.Gflops:F1}× the GFLOP/s of the unshared dense RNN ({vit.Gflops:F0} against {rnn.Gflops:F1})");
        return what + why + ".";
    }

    /// <summary>
    /// The seeds' claim, one number per model: at the largest size it was measured at, its best
    /// batch's device-resident GFLOP/s as a fraction of the device's probed peak FLOP/s. Empty without a probed peak.
    /// </summary>
    public static IReadOnlyList<(Row Best, double PeakFraction)> PeakUse(IReadOnlyList<Row> rows, DevicePeaks peaks) =>
        peaks.Fp32Gflops is not { } peak ? []
            : [.. rows.GroupBy(r => r.Model).Select(model =>
            {
                int size = model.Max(r => r.ImageSize);
                Row best = model.Where(r => r.ImageSize == size).MaxBy(r => r.Gflops)!;
                return (best, best.Gflops / peak);
            })];

    /// <summary>The line that states <see cref="PeakUse"/>; null without a probed peak.</summary>
    public static string? PeakUseLine(IReadOnlyList<Row> rows, DevicePeaks peaks)
    {
        var use = PeakUse(rows, peaks);
        return use.Count == 0 ? null
            : Inv($"Share of the device's peak {peaks.Fp32Gflops:F1} GFLOP/s at each model's best batch (device-resident): ")
                + string.Join(", ", use.Select(u => Inv($"{u.Best.Model} {RoofText(u.PeakFraction)} ({u.Best.ImageSize}×{u.Best.ImageSize}, batch {u.Best.Batch})"))) + "."
                + (use.Any(u => u.PeakFraction > 1) ? " " + AbovePeakNote : "");
    }

    /// <summary>Said after a share of peak above 100 %: the probed peak, not the model, is what is wrong.</summary>
    public const string AbovePeakNote = AboveRoofMark + " above the probed peak: the probe read low (another process shared the cores while it ran); rerun to measure it again.";

    /// <summary>Marks a row whose achieved GFLOP/s passes its roof: not a result to read as one.</summary>
    public const string AboveRoofMark = "!";

    public const string AboveRoofNote =
        AboveRoofMark + " above 100 % of its roof: caches held the weights (the roof assumes they stream from memory), or the probe read low on a busy machine.";

    /// <summary>The roof column: achieved over attainable, "!" after it above 100 %; "-" without peaks.</summary>
    public static string RoofText(double? fraction) =>
        fraction is not { } f ? "-" : Inv($"{f:P0}") + (f > 1 ? AboveRoofMark : "");

    /// <summary>Achieved GFLOP/s over what the roofline allows at the row's intensity; null without probed peaks.</summary>
    public static double? RoofFraction(Row row, DevicePeaks peaks) => Attainable(peaks, row.Intensity) is { } a ? row.Gflops / a : null;

    /// <summary>What the two timings are, for the table's and the report's notes.</summary>
    public const string TimingNote =
        "dev: the forward pass on inputs already on the device, timed by device events (GFLOP/s, GB/s and roof from it); "
        + "e2e: end to end through the patch stream (decode, upload, forward, download), by the wall clock.";

    /// <summary>The view in one line, for the table's header and the report.</summary>
    public static string ViewLine(View view)
    {
        var rnn = new DenseRnnConfig(ImageSize: 1);
        return view == View.EqualCompute
            ? Inv($"view: equal-compute: each RNN runs T = round((ViT FLOPs per image - readout) / FLOPs per step) steps, its weights (C={rnn.Channels}, k={rnn.Kernel}) unchanged, ")
                + "so every model does the ViT's work per image and images/s compare like for like (steps, not channels: channels grow the unshared weights as C²)."
            : Inv($"view: as-configured: the RNNs at C={rnn.Channels}, k={rnn.Kernel}, T={rnn.Steps}, far fewer FLOPs per image than the ViT: ")
                + "compare GFLOP/s and roof, not images/s (--match flops for equal compute).";
    }

    /// <summary>What the roofline allows at this intensity, in GFLOP/s; null without probed peaks.</summary>
    public static double? Attainable(DevicePeaks peaks, double intensity) =>
        peaks is { Fp32Gflops: { } flops, MemoryGbps: { } gbps } ? Math.Min(flops, intensity * gbps) : null;

    /// <summary>
    /// Roofline-bound seconds per image on a known GPU: compute or traffic, whichever is longer.
    /// With <paramref name="tensorCores"/>, the compute roof is the TF32 tensor-core peak, which
    /// GEMMs can use and matrix–vector work cannot profit from (it is bandwidth-bound either way).
    /// </summary>
    public static double ProjectedSecondsPerImage(Row row, KnownGpu gpu, bool tensorCores = false) =>
        Math.Max(row.FlopsPerImage / ((tensorCores ? gpu.Tf32Gflops : gpu.Fp32Gflops) * 1e9), row.BytesPerImage / (gpu.MemoryGbps * 1e9));

    private static string Json(List<Row> rows, Device device, DevicePeaks peaks, KnownGpu? gpu)
    {
        var best = PeakUse(rows, peaks).Select(u => (object)u.Best).ToHashSet(ReferenceEqualityComparer.Instance);
        return JsonSerializer.Serialize(rows.Select(r =>
        {
            double? roof = Attainable(peaks, r.Intensity);
            var o = new Dictionary<string, object?>
            {
                ["model"] = r.Model,
                ["view"] = Name(r.View),
                ["image_size"] = r.ImageSize,
                ["batch"] = r.Batch,
                ["config"] = r.Rnn is { } c
                    ? new Dictionary<string, object> { ["channels"] = c.Channels, ["kernel"] = c.Kernel, ["steps"] = c.Steps, ["image_size"] = c.ImageSize, ["shared"] = c.Shared }
                    : null,
                ["params"] = r.Params,
                ["weight_bytes"] = r.WeightBytes,
                ["flops_per_image"] = r.FlopsPerImage,
                ["bytes_per_image"] = r.BytesPerImage,
                ["intensity"] = r.Intensity,
                ["device_latency_p50_s"] = r.DeviceP50,
                ["device_latency_p95_s"] = r.DeviceP95,
                ["device_images_per_s"] = r.DeviceImagesPerS,
                ["device_seconds_per_image"] = 1 / r.DeviceImagesPerS,
                ["device_gflops"] = r.Gflops,
                ["device_gbps"] = r.Gbps,
                ["stream_images_per_s"] = r.StreamImagesPerS,
                ["stream_seconds_per_image"] = 1 / r.StreamImagesPerS,
                ["roofline_gflops"] = roof,
                ["roofline_fraction"] = roof is { } a ? r.Gflops / a : null,
                ["above_roof"] = roof is { } b && r.Gflops > b,
                ["peak_fraction"] = peaks.Fp32Gflops is { } peak ? r.Gflops / peak : null,
                ["best_batch"] = best.Contains(r),
                ["device"] = r.Device,
                ["device_name"] = device.Info.Name,
                ["peak_gflops"] = peaks.Fp32Gflops,
                ["peak_gbps"] = peaks.MemoryGbps,
            };
            if (gpu is not null)
            {
                o["projected_gpu"] = gpu.Name;
                o["projected_seconds_per_image"] = ProjectedSecondsPerImage(r, gpu);
                o["projected_seconds_per_image_tf32"] = ProjectedSecondsPerImage(r, gpu, tensorCores: true);
                o["projected_images_per_s"] = 1 / ProjectedSecondsPerImage(r, gpu);
            }

            return o;
        }));
    }

    /// <summary>The table: costs, then the device-resident timing (dev, with GFLOP/s and roof), then end to end (e2e); the notes; the finding.</summary>
    public static string Table(IReadOnlyList<Row> rows, string device, DevicePeaks peaks, KnownGpu? gpu, View view)
    {
        var text = new StringBuilder();
        text.AppendLine(Inv($"{device} — peaks: {Peak(peaks.Fp32Gflops, "GFLOP/s")}, {Peak(peaks.MemoryGbps, "GB/s")} ({peaks.Source})"));
        text.AppendLine(ViewLine(view));
        string header = Inv($"{"model",-17}{"size",5}{"batch",6}{"T",6}{"params",12}{"MB",9}{"MFLOP/img",11}{"MB/img",9}{"FLOP/B",8}")
            + Inv($"{"dev p50 ms",11}{"dev p95 ms",11}{"dev img/s",10}{"dev ms/img",11}{"GFLOP/s",9}{"GB/s",8}{"roof",7} {"e2e img/s",10}{"e2e ms/img",11}");
        if (gpu is not null)
        {
            header += Inv($"{"proj µs/img",13}{"(TF32)",8}");
        }

        text.AppendLine(header);
        foreach (Row r in rows)
        {
            string roof = RoofText(RoofFraction(r, peaks));
            string line = Inv($"{r.Model,-17}{r.ImageSize,5}{r.Batch,6}{(r.Rnn is { } c ? c.Steps.ToString(CultureInfo.InvariantCulture) : "-"),6}{r.Params,12:N0}{r.WeightBytes / 1e6,9:F2}{r.FlopsPerImage / 1e6,11:F1}{r.BytesPerImage / 1e6,9:F2}{r.Intensity,8:F1}")
                + Inv($"{r.DeviceP50 * 1e3,11:F2}{r.DeviceP95 * 1e3,11:F2}{r.DeviceImagesPerS,10:F1}{1e3 / r.DeviceImagesPerS,11:F3}{r.Gflops,9:F2}{r.Gbps,8:F2}")
                + (roof.EndsWith(AboveRoofMark, StringComparison.Ordinal) ? Inv($"{roof,8}") : Inv($"{roof,7} "))
                + Inv($"{r.StreamImagesPerS,10:F1}{1e3 / r.StreamImagesPerS,11:F3}");
            if (gpu is not null)
            {
                line += Inv($"{ProjectedSecondsPerImage(r, gpu) * 1e6,13:F1}{ProjectedSecondsPerImage(r, gpu, tensorCores: true) * 1e6,8:F1}");
            }

            text.AppendLine(line);
        }

        if (gpu is not null)
        {
            text.AppendLine(Inv($"proj µs/img is a PROJECTION, not a measurement: the roofline-bound time per image on {gpu.Name} ({gpu.Fp32Gflops:N0} GFLOP/s FP32, {gpu.Tf32Gflops:N0} TF32 with tensor cores, {gpu.MemoryGbps:N0} GB/s)."));
        }

        text.AppendLine("T: the RNN's steps. " + TimingNote);
        text.Append("roof: achieved GFLOP/s over what the device's roofline allows at that arithmetic intensity.");
        if (rows.Any(r => RoofFraction(r, peaks) > 1))
        {
            text.AppendLine().Append(AboveRoofNote);
        }

        if (PeakUseLine(rows, peaks) is { } peakUse)
        {
            text.AppendLine().Append(peakUse);
        }

        if (Headline(rows, peaks) is { } headline)
        {
            text.AppendLine().Append(headline);
        }

        return text.ToString();
    }

    private static string Peak(double? value, string unit) => value is { } v ? Inv($"{v:F1} {unit}") : $"? {unit}";

    internal static string Inv(FormattableString text) => FormattableString.Invariant(text);
}
