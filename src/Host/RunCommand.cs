using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using GpuViT.Kernels.Runtime;
using GpuViT.Models;
using GpuViT.Models.Images;
using GpuViT.Models.Streaming;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// `gpuvit run --weights FILE [--config config.json] [--heads N] | --model PRESET --random-init [--seed S]`
/// `--input PATH... [--batch N] [--top K] [--labels FILE] [--save-logits OUT.npy]`: classifies
/// images, directories of images and .npy arrays [N, C, H, W], and prints the top-k classes of each.
/// </summary>
public static class RunCommand
{
    public static Command Create(TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        var weights = new Option<string?>("--weights") { Description = "A .safetensors file in the timm, torchvision or Hugging Face layout" };
        var config = new Option<string?>("--config") { Description = "A Hugging Face style config.json (default: config.json beside the weights, if any)" };
        var heads = new Option<int?>("--heads") { Description = "Attention heads, when neither the file's metadata nor a config.json says" };
        var model = new Option<string?>("--model") { Description = $"A preset to run with random weights (with --random-init): {string.Join(", ", VitPresets.Names)}" };
        var randomInit = new Option<bool>("--random-init") { Description = "Random weights for --model, drawn from --seed" };
        var seed = new Option<int>("--seed") { Description = "Seed for --random-init", DefaultValueFactory = _ => 0 };
        var input = new Option<string[]>("--input")
        {
            Description = "Images (PNG, JPEG, BMP, PPM/PGM), directories of images, or .npy float32 arrays [N, C, H, W]",
            AllowMultipleArgumentsPerToken = true,
            Required = true,
        };
        var batch = new Option<int?>("--batch") { Description = "Images per forward pass (default: as many as half the device's free memory holds, up to 32K tokens)" };
        var top = new Option<int>("--top") { Description = "Classes to print per input", DefaultValueFactory = _ => 5 };
        var labels = new Option<string?>("--labels") { Description = "A text file of class names, one per line" };
        var saveLogits = new Option<string?>("--save-logits") { Description = "Write the logits as a .npy float32 array [inputs, classes] in input order" };
        var verbose = new Option<bool>("--verbose") { Description = "Say where each setting of the model came from (flags, the file's metadata, its shapes, a config.json, defaults)" };

        var command = new Command("run", "Classify images with a ViT: print the top-k classes of each input");
        foreach (Option option in new Option[] { weights, config, heads, model, randomInit, seed, input, batch, top, labels, saveLogits, verbose })
        {
            command.Options.Add(option);
        }

        command.SetAction(parsed =>
        {
            int? batchSize = parsed.GetValue(batch);
            int topK = parsed.GetValue(top);
            if (batchSize < 1)
            {
                throw new UsageException($"--batch must be at least 1, not {batchSize}");
            }

            if (topK < 1)
            {
                throw new UsageException($"--top must be at least 1, not {topK}");
            }

            LoadedVit vit = Load(parsed.GetValue(weights), parsed.GetValue(config), parsed.GetValue(heads),
                parsed.GetValue(model), parsed.GetValue(randomInit), parsed.GetValue(seed));
            ReportSources(error, vit, parsed.GetValue(verbose), parsed.GetValue(labels));
            IReadOnlyList<string>? classNames = parsed.GetValue(labels) is { } labelsPath ? ReadLabels(labelsPath, vit.Config.Classes) : vit.ClassNames;

            VitConfig c = vit.Config;
            if (c.Channels != 3)
            {
                // Images decode to RGB and the loader feeds 3-channel arrays only.
                throw new UsageException($"the model takes {c.Channels} input channels; gpuvit run feeds 3 (RGB)");
            }

            // Checks every input path before the model is uploaded; images decode later, on the stream's workers.
            ImageSource source = ImageSource.Open(parsed.GetValue(input) ?? [], mean: vit.Mean, std: vit.Std, resizeArrays: false);
            string? logitsPath = parsed.GetValue(saveLogits);

            using Device device = DeviceOption.Open(DeviceOption.Selector(parsed), error);
            using VitModel vitModel = VitModel.Load(device, c, vit.Weights);
            var stream = new VitStreamModel(vitModel);
            long budget;
            try
            {
                budget = batchSize is { } fixedBatch ? ImageStream.TokenBudget(stream, images: fixedBatch) : ImageStream.TokenBudget(stream);
            }
            catch (DeviceOutOfMemoryException e) when (batchSize is not null)
            {
                throw new UsageException($"--batch {batchSize}: {e.Message}");
            }

            var allLogits = new List<float>();
            int count = 0;
            long start = Stopwatch.GetTimestamp();
            bool interrupted = ProgressDisplay.Run(output, error, $"run on {device.Info.Id}", source.Count, progress =>
            {
                try
                {
                    foreach (StreamedBatch result in ImageStream.Run(stream, source.Count, (i, image) => source.Decode(i, c.ImageSize, image), budget, interrupt))
                    {
                        for (int k = 0; k < result.Batch.Count; k++)
                        {
                            PrintTop(progress, source.Name(result.Batch.First + k), result.Output(k), topK, classNames);
                        }

                        allLogits.AddRange(result.Outputs);
                        count += result.Batch.Count;
                        progress.Status(string.Create(CultureInfo.InvariantCulture, $"{count / Stopwatch.GetElapsedTime(start).TotalSeconds:F1} images/s"));
                        progress.Done(null, result.Batch.Count);
                    }

                    return false;
                }
                catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
                {
                    return true;
                }
            });

            // The logits of every image that finished, also when interrupted: a whole file, never half a one.
            if (logitsPath is not null)
            {
                NpyFile.WriteFloat32(logitsPath, allLogits.ToArray(), [count, c.Classes]);
            }

            if (interrupted)
            {
                error.WriteLine($"gpuvit: interrupted after {count} of {source.Count} images");
                return Cli.Interrupted;
            }

            return 0;
        });
        return command;
    }

    private static LoadedVit Load(string? weightsPath, string? configPath, int? heads, string? preset, bool randomInit, int seed)
    {
        if ((weightsPath is null) == (preset is null))
        {
            throw new UsageException("run needs either --weights FILE or --model PRESET --random-init");
        }

        if (preset is not null)
        {
            if (!randomInit)
            {
                throw new UsageException("--model needs --random-init (presets come without weights; use --weights FILE for trained ones)");
            }

            if (configPath is not null || heads is not null)
            {
                throw new UsageException($"{(configPath is not null ? "--config" : "--heads")} applies to --weights; --model {preset} is a complete config");
            }

            VitConfig config;
            try
            {
                config = VitPresets.Get(preset);
            }
            catch (VitConfigException e)
            {
                throw new UsageException(e.Message);
            }

            return new LoadedVit(config, VitWeights.RandomInit(config, seed), WeightLayout.Timm, null, null, null)
            {
                Sources = [new ConfigSource($"preset {preset}", [.. VitWeightFiles.Metadata(config).Where(m => m.Key != "format").Select(m => $"{m.Key["gpuvit.".Length..]} {m.Value}")])],
            };
        }

        if (heads is < 1)
        {
            throw new UsageException($"--heads must be at least 1, not {heads}");
        }

        return VitWeightFiles.Load(weightsPath!, configPath, new VitConfigHints(Heads: heads));
    }

    /// <summary>Warnings always (a config.json that was ignored); with --verbose, each source and the values it gave.</summary>
    private static void ReportSources(TextWriter error, LoadedVit vit, bool verbose, string? labelsPath)
    {
        foreach (string warning in vit.Warnings)
        {
            error.WriteLine($"gpuvit: warning: {warning}");
        }

        if (verbose)
        {
            if (labelsPath is not null)
            {
                error.WriteLine($"gpuvit: from --labels: class names in {labelsPath}, over any config.json's");
            }

            foreach (ConfigSource source in vit.Sources)
            {
                error.WriteLine($"gpuvit: from {source.Name}: {string.Join(", ", source.Values)}");
            }
        }
    }

    private static string[] ReadLabels(string path, int classes)
    {
        if (Directory.Exists(path))
        {
            throw new InputException($"{path}: a directory, not a labels file");
        }

        string[] lines;
        try
        {
            byte[] text = SmallFile.TryRead(path) ?? throw new InputException($"{path}: larger than {SmallFile.MaxBytes >> 20} MiB, not a labels file");
            using var reader = new StreamReader(new MemoryStream(text)); // drops a byte-order mark, as File.ReadAllLines did
            lines = reader.ReadToEnd().Split(["\r\n", "\n"], StringSplitOptions.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{path}: cannot read the labels: {e.Message}");
        }

        // A trailing empty line is common and not a class.
        int n = lines.Length;
        while (n > 0 && lines[n - 1].Length == 0)
        {
            n--;
        }

        if (n != classes)
        {
            throw new InputException($"{path}: {n} labels, the model has {classes} classes");
        }

        return lines[..n];
    }

    /// <summary>The input's name, then one indented line per class: probability, index, name.</summary>
    private static void PrintTop(IProgressSink output, string name, ReadOnlySpan<float> logits, int k, IReadOnlyList<string>? classNames)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits)
        {
            max = Math.Max(max, l);
        }

        double sum = 0;
        foreach (float l in logits)
        {
            sum += Math.Exp(l - max);
        }

        float[] copy = logits.ToArray();
        int[] order = [.. Enumerable.Range(0, copy.Length).OrderByDescending(i => copy[i]).ThenBy(i => i).Take(k)];
        output.Print(name);
        foreach (int i in order)
        {
            double p = Math.Exp(copy[i] - max) / sum;
            string label = classNames is null ? "" : " " + classNames[i];
            output.Print(string.Create(CultureInfo.InvariantCulture, $"  {p:F4}  {i}{label}"));
        }
    }
}
