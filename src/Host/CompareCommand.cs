using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuViT.Kernels.IO;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Inputs;
using GpuViT.Models.Rnn;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// `gpuvit compare`: the ViT (weight-shared patches), the unshared dense RNN and the shared RNN on
/// the same device, for each image size and batch, measured against the device's probed roofline.
/// </summary>
public static class CompareCommand
{
    public const string VitName = "vit";

    /// <summary>One model at one image size and batch: its costs by formula, its times as measured.</summary>
    /// <param name="LatencyP50">Seconds for one batch's forward pass, median (the ViT: one micro-batch, timed by device events).</param>
    /// <param name="ImagesPerS">Images per second over the whole measurement (the ViT: through the patch stream, uploads and all).</param>
    public sealed record Row(
        string Model, int ImageSize, int Batch, long Params, long WeightBytes, double FlopsPerImage, double BytesPerImage,
        double LatencyP50, double LatencyP95, double ImagesPerS, string Device)
    {
        public double Intensity => FlopsPerImage / BytesPerImage;
        public double Gflops => FlopsPerImage * ImagesPerS / 1e9;
        public double Gbps => BytesPerImage * ImagesPerS / 1e9;
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
        var batches = new Option<string>("--batches") { Description = "Images per forward pass (the ViT's micro-batch), comma-separated", DefaultValueFactory = _ => "1,8,32" };
        var images = new Option<string[]>("--images")
        {
            Description = "Images to run (files, directories, .npy [N, 3, H, W]) instead of synthetic ones; resized to each size",
            AllowMultipleArgumentsPerToken = true,
        };
        var noResize = new Option<bool>("--no-resize") { Description = "Fail on an image that is not already the size measured, instead of resizing it" };
        var vit = new Option<string?>("--vit") { Description = "A ViT preset scaled to each size (patch = size/8) instead of ViT-S/16's shape" };
        var weights = new Option<string?>("--weights") { Description = "A trained ViT (.safetensors, timm/torchvision/Hugging Face layout) instead of random weights; runs at its own image size" };
        var heads = new Option<int?>("--heads") { Description = "Attention heads of --weights, when neither its metadata nor a config.json beside it says" };
        var seconds = new Option<double>("--seconds") { Description = "Minimum timing per measurement, after a warm-up", DefaultValueFactory = _ => 1.0 };
        var json = new Option<bool>("--json") { Description = "Print a JSON array of rows" };
        var report = new Option<string>("--report")
        {
            Description = "Where to write the self-contained HTML report (roofline, cost vs size, table)",
            DefaultValueFactory = _ => DefaultReport,
        };
        var noReport = new Option<bool>("--no-report") { Description = "Write no report" };
        var project = new Option<string?>("--project") { Description = $"Also project roofline-bound times onto a GPU not present: {string.Join(", ", KnownGpus.Select(g => g.Key))}" };

        var command = new Command("compare", "The ViT, the dense RNN and the shared RNN on one device: costs, times and the roofline");
        foreach (Option option in new Option[] { imageSizes, batches, images, noResize, vit, weights, heads, seconds, json, report, noReport, project })
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
                        new DenseRnnConfig(size, Shared: shared).Validate();
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
                                    batch, decoded[size], minSeconds, interrupt));
                                foreach (bool shared in new[] { false, true })
                                {
                                    Measure(shared ? ModelBench.DenseRnnSharedModelName : ModelBench.DenseRnnModelName, size, batch, () =>
                                        MeasureRnn(device, new DenseRnnConfig(size, Shared: shared), batch, decoded[size], minSeconds, interrupt));
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
            output.WriteLine(parsed.GetValue(json) ? Json(rows, device, peaks, gpu) : Table(rows, device, peaks, gpu));
            if (reportPath is not null)
            {
                AtomicFile.WriteAllText(reportPath, CompareReport.Html(rows, skipped, device.ToString(), peaks, gpu));
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
        Inv($"{r.Model} at {r.ImageSize}, batch {r.Batch}: {r.ImagesPerS:F1} images/s, {r.Gflops:F1} GFLOP/s, {r.Gbps:F2} GB/s");

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
        PatchStream.ForEachImage(count, cancel, i =>
        {
            images[i] = new float[DenseRnnConfig.InputChannels * size * size];
            source.Decode(i, size, images[i]);
        });
        return images;
    }

    /// <summary>
    /// The ViT through the patch stream: micro-batches of <paramref name="batch"/> images cycled from
    /// <paramref name="images"/>, a warm-up stream, then one long enough to last <paramref name="minSeconds"/>.
    /// </summary>
    private static Row MeasureVit(VitModel model, int batch, float[][] images, double minSeconds, CancellationToken cancel)
    {
        VitConfig config = model.Config;
        Device device = model.Device;
        var stream = new VitStreamModel(model);
        long budget = PatchStream.TokenBudget(stream, images: batch);
        PatchStream.DecodeInto decode = (i, destination) => images[i % images.Length].CopyTo(destination);

        // Warm-up: builds the kernels, sizes the activations, and times a micro-batch for the plan.
        long warm = Stopwatch.GetTimestamp();
        Drain(PatchStream.Run(stream, batch, decode, budget, cancel));
        double perBatch = Stopwatch.GetElapsedTime(warm).TotalSeconds;
        int microBatches = (int)Math.Clamp(Math.Ceiling(minSeconds / Math.Max(perBatch, 1e-6)), 3, 100_000);

        var compute = new List<double>(microBatches);
        long start = Stopwatch.GetTimestamp();
        foreach (StreamedBatch result in PatchStream.Run(stream, microBatches * batch, decode, budget, cancel))
        {
            compute.Add(result.ComputeSeconds);
        }

        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        compute.Sort();

        return new Row(VitName, config.ImageSize, batch, config.ParameterCount, config.WeightBytes, config.FlopsPerImage, config.BytesPerImage(batch),
            ModelBench.Percentile(compute, 0.5), ModelBench.Percentile(compute, 0.95), microBatches * batch / wall, device.Info.Id);
    }

    private static void Drain(IEnumerable<StreamedBatch> results)
    {
        foreach (StreamedBatch _ in results)
        {
        }
    }

    /// <summary>The RNN on the same images as the ViT: the first <paramref name="batch"/> of <paramref name="images"/>, cycled.</summary>
    private static Row MeasureRnn(Device device, DenseRnnConfig config, int batch, float[][] images, double minSeconds, CancellationToken cancel)
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
        float[] batchImages = [.. Enumerable.Range(0, batch).SelectMany(i => images[i % images.Length])];
        using DeviceBuffer<float> deviceImages = device.Upload<float>(batchImages);
        using DeviceBuffer<float> logits = device.Allocate<float>((long)batch * config.Classes);
        (double mean, double p50, double p95) = ModelBench.Time(device, () => model.Forward(deviceImages, logits, batch), minSeconds, cancel);
        string name = config.Shared ? ModelBench.DenseRnnSharedModelName : ModelBench.DenseRnnModelName;
        return new Row(name, config.ImageSize, batch, config.ParameterCount, config.WeightBytes, config.FlopsPerImage, config.BytesPerImage(batch), p50, p95, batch / mean, device.Info.Id);
    }

    /// <summary>
    /// The argument in one sentence, from the measurements: at the largest size with both models
    /// at the smallest batch, the ViT's GFLOP/s over the unshared RNN's, and the RNN's bandwidth
    /// roof at its intensity, which is why. Null without both rows.
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
        return Inv($"At {vit.ImageSize}×{vit.ImageSize}, batch {vit.Batch}, the ViT reached {vit.Gflops / rnn.Gflops:F1}× the GFLOP/s of the unshared dense RNN ({vit.Gflops:F0} against {rnn.Gflops:F1})") + why + ".";
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

    private static string Json(List<Row> rows, Device device, DevicePeaks peaks, KnownGpu? gpu) =>
        JsonSerializer.Serialize(rows.Select(r =>
        {
            double? roof = Attainable(peaks, r.Intensity);
            var o = new Dictionary<string, object?>
            {
                ["model"] = r.Model,
                ["image_size"] = r.ImageSize,
                ["batch"] = r.Batch,
                ["params"] = r.Params,
                ["weight_bytes"] = r.WeightBytes,
                ["flops_per_image"] = r.FlopsPerImage,
                ["bytes_per_image"] = r.BytesPerImage,
                ["intensity"] = r.Intensity,
                ["latency_p50_s"] = r.LatencyP50,
                ["latency_p95_s"] = r.LatencyP95,
                ["images_per_s"] = r.ImagesPerS,
                ["gflops"] = r.Gflops,
                ["gbps"] = r.Gbps,
                ["roofline_gflops"] = roof,
                ["roofline_fraction"] = roof is { } a ? r.Gflops / a : null,
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

    private static string Table(List<Row> rows, Device device, DevicePeaks peaks, KnownGpu? gpu)
    {
        var text = new StringBuilder();
        text.AppendLine(Inv($"{device} — peaks: {Peak(peaks.Fp32Gflops, "GFLOP/s")}, {Peak(peaks.MemoryGbps, "GB/s")} ({peaks.Source})"));
        string header = Inv($"{"model",-17}{"size",5}{"batch",6}{"params",12}{"MB",9}{"MFLOP/img",11}{"MB/img",9}{"FLOP/B",8}{"p50 ms",10}{"p95 ms",10}{"img/s",10}{"GFLOP/s",9}{"GB/s",8}{"roof",7}");
        if (gpu is not null)
        {
            header += Inv($"{"proj µs/img",13}{"(TF32)",8}");
        }

        text.AppendLine(header);
        foreach (Row r in rows)
        {
            string line = Inv($"{r.Model,-17}{r.ImageSize,5}{r.Batch,6}{r.Params,12:N0}{r.WeightBytes / 1e6,9:F2}{r.FlopsPerImage / 1e6,11:F1}{r.BytesPerImage / 1e6,9:F2}{r.Intensity,8:F1}{r.LatencyP50 * 1e3,10:F2}{r.LatencyP95 * 1e3,10:F2}{r.ImagesPerS,10:F1}{r.Gflops,9:F2}{r.Gbps,8:F2}");
            line += Attainable(peaks, r.Intensity) is { } a ? Inv($"{r.Gflops / a,7:P0}") : $"{"-",7}";
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

        text.Append("roof: achieved GFLOP/s over what the device's roofline allows at that arithmetic intensity.");
        if (Headline(rows, peaks) is { } headline)
        {
            text.AppendLine().Append(headline);
        }
        return text.ToString();
    }

    private static string Peak(double? value, string unit) => value is { } v ? Inv($"{v:F1} {unit}") : $"? {unit}";

    internal static string Inv(FormattableString text) => FormattableString.Invariant(text);
}
