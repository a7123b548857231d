using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models;
using GpuViT.Models.Images;
using GpuViT.Models.Streaming;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// `gpuvit run --weights FILE [--config config.json] [--heads N] | --model PRESET --random-init [--seed S]`
/// `PATH... [--input PATH]... [--recursive] [--batch N] [--top K] [--labels FILE] [--format text|json|csv] [--save-logits OUT.npy] [--on-error skip|fail]`
/// `[--shard I/N|auto [--shard-count N]] [--output FILE]`:
/// classifies images, directories of images and .npy arrays [N, C, H, W], and writes the top-k classes of each on stdout,
/// or of shard I of N of them to a records file that an interrupted run resumes (docs/scale-out.md).
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
        var inputs = new Argument<string[]>("inputs")
        {
            Description = "Images (PNG, JPEG, BMP, PPM/PGM), directories of images, or .npy float32 arrays [N, C, H, W]",
            Arity = ArgumentArity.ZeroOrMore,
        };

        // System.CommandLine gives an argument any word it does not know, a mistyped option too: said as it says other unknown words.
        // (A path that begins with '-' is given as ./-name or with --input.)
        inputs.Validators.Add(result =>
        {
            if (result.Tokens.FirstOrDefault(t => t.Value.Length > 1 && t.Value[0] == '-') is { } unknown)
            {
                result.AddError($"Unrecognized command or argument '{unknown.Value}'.");
            }
        });

        // One path per use, so that it never takes the options after it as paths.
        var input = new Option<string[]>("--input") { Description = "One more input (repeatable: --input a --input b), in command-line order with the arguments; also for a path that begins with '-'" };
        var batch = new Option<int?>("--batch") { Description = "Images per forward pass (default: as many as half the device's free memory holds, up to 32K tokens)" };
        var top = new Option<int>("--top", "--topk") { Description = "Classes to print per input (--topk as timm spells it)", DefaultValueFactory = _ => 5 };
        var labels = new Option<string?>("--labels") { Description = "A text file of class names, one per line" };
        var saveLogits = new Option<string?>("--save-logits") { Description = "Write the logits as a .npy float32 array [inputs, classes] in input order" };
        var maxImagePixels = MaxImagePixelsOption.Create();
        var precision = PrecisionOption.Create();
        var profile = new Option<bool>("--profile")
        {
            Description = "After the run, a table on stderr of where the wall time went: start, weights, device, decode, copies, compute, outputs, and the time to the first logits",
        };
        var verbose = new Option<bool>("--verbose") { Description = "Say where each setting of the model came from (flags, the file's metadata, its shapes, a config.json, defaults)" };

        var onError = new Option<string>("--on-error")
        {
            Description = "An input that cannot be read: skip it (said on stderr, a row of NaN in the logits, exit code 3) or fail (exit 2 at the first, the logits of those before it saved)",
            DefaultValueFactory = _ => "skip",
        };
        onError.AcceptOnlyFromAmong("skip", "fail");

        var command = new Command("run", "Classify images with a ViT: print the top-k classes of each input");
        foreach (Option option in new Option[] { weights, config, heads, model, randomInit, seed, input, batch, top, labels, saveLogits, maxImagePixels, precision, profile, verbose })
        {
            command.Options.Add(option);
        }

        command.Options.Add(onError);
        var preprocess = new PreprocessOptions();
        preprocess.AddTo(command);

        var format = new Option<string>("--format")
        {
            Description = "The results on stdout, one record per input in input order: text, json (JSON Lines: an object per line) or csv (a header, a row per input)",
            DefaultValueFactory = _ => RunRecords.Text,
        };
        format.AcceptOnlyFromAmong(RunRecords.Formats);
        var recursive = new Option<bool>("--recursive") { Description = "Read the images in the directories' subdirectories too (not through symbolic links to directories)" };
        var shard = new Option<string?>("--shard")
        {
            Description = "Classify shard I of N of the inputs (I/N: the I-th of N contiguous ranges in input order), or auto: from a Slurm job array or a Kubernetes Indexed Job",
        };
        var shardCount = new Option<int?>("--shard-count") { Description = "With --shard auto in a Kubernetes Indexed Job: how many shards (the Job's completions)" };
        var outputFile = new Option<string?>("--output")
        {
            Description = "Write the records (JSON Lines, after a line naming the job) to FILE, whole or not at all; an interrupted run resumes from FILE.partial with the same command",
        };
        command.Options.Add(format);
        command.Options.Add(recursive);
        command.Options.Add(shard);
        command.Options.Add(shardCount);
        command.Options.Add(outputFile);
        command.Arguments.Add(inputs);

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

            IReadOnlyList<(string Path, string Name)> inputPaths = InputPaths(parsed, inputs, input);
            if (inputPaths.Count == 0)
            {
                throw new UsageException("run needs inputs: images, directories of images or .npy files, as arguments");
            }

            Shard part = parsed.GetValue(shard) is { } shardText ? Shard.Parse(shardText, parsed.GetValue(shardCount), Environment.GetEnvironmentVariable)
                : parsed.GetValue(shardCount) is not null ? throw new UsageException("--shard-count goes with --shard auto") : Shard.Whole;
            string? recordsPath = parsed.GetValue(outputFile);
            if (recordsPath is not null && parsed.GetResult(format) is { Implicit: false } && parsed.GetValue(format) != RunRecords.Json)
            {
                throw new UsageException($"--output writes JSON Lines; --format {parsed.GetValue(format)} is for stdout");
            }

            if (recordsPath is not null && parsed.GetValue(saveLogits) is not null)
            {
                throw new UsageException("--output and --save-logits do not go together: a resumed run would lack the logits of the inputs it skips");
            }

            // Before any work: a mistake in the output's path costs nothing, and no input is overwritten.
            bool readSubdirectories = parsed.GetValue(recursive);
            OutputPaths.Input[] readFiles = [.. OutputPaths.ModelFiles(parsed.GetValue(weights), parsed.GetValue(config)), new("--labels", parsed.GetValue(labels)),
                .. inputPaths.Select(path => new OutputPaths.Input(path.Name, path.Path, readSubdirectories))];
            OutputPaths.Check("--save-logits", parsed.GetValue(saveLogits), readFiles);
            OutputPaths.Check("--output", recordsPath, readFiles);
            OutputPaths.Check("--output", recordsPath is null ? null : RecordsFile.PartialPath(recordsPath), readFiles);

            RunProfile? timing = parsed.GetValue(profile) ? new RunProfile() : null;
            T Timed<T>(string phase, string note, Func<T> work) => timing is null ? work() : timing.Time(phase, note, work);
            Precision arithmetic = PrecisionOption.Value(parsed, precision);
            LoadedVit vit = Timed("weights: read", "host: the file read, its layout mapped", () => Load(parsed.GetValue(weights), parsed.GetValue(config), parsed.GetValue(heads),
                parsed.GetValue(model), parsed.GetValue(randomInit), parsed.GetValue(seed)));
            ReportSources(error, vit, parsed.GetValue(verbose), parsed.GetValue(labels));
            IReadOnlyList<string>? classNames = parsed.GetValue(labels) is { } labelsPath ? ReadLabels(labelsPath, vit.Config.Classes) : vit.ClassNames;
            EvalTransform transform = preprocess.Resolve(parsed, vit, parsed.GetValue(weights), error, parsed.GetValue(verbose));

            VitConfig c = vit.Config;
            if (c.Channels != 3)
            {
                // Images decode to RGB and the loader feeds 3-channel arrays only.
                throw new UsageException($"the model takes {c.Channels} input channels; gpuvit run feeds 3 (RGB)");
            }

            // Checks every input path before the model is uploaded; images decode later, on the stream's workers.
            bool failFast = parsed.GetValue(onError) == "fail";
            ImageSource allInputs = ImageSource.Open([.. inputPaths.Select(path => path.Path)], transform: transform, resizeArrays: false,
                deferArrayErrors: !failFast, maxImagePixels: MaxImagePixelsOption.Value(parsed, maxImagePixels), recursive: readSubdirectories);
            ReportSkippedFiles(error, allInputs.SkippedFiles);
            string? logitsPath = parsed.GetValue(saveLogits);
            (int shardStart, int shardLength) = part.Range(allInputs.Count);
            ImageSource source = allInputs.Slice(shardStart, shardLength);
            using RecordsFile? recordsFile = recordsPath is null ? null : OpenRecords(recordsPath, error, new RunJob(part, allInputs.Count,
                    RunJob.HashNames(Enumerable.Range(0, allInputs.Count).Select(allInputs.Name)), ModelName(parsed.GetValue(weights), parsed.GetValue(model), parsed.GetValue(seed)),
                    Math.Min(topK, c.Classes), classNames is not null, arithmetic.Name()), source);
            if (recordsPath is not null && recordsFile is null)
            {
                return 0; // already whole
            }

            if (recordsFile is not null && recordsFile.Kept > 0)
            {
                error.WriteLine($"gpuvit: resuming {RecordsFile.PartialPath(recordsPath!)}: {recordsFile.Kept} of {source.Count} records kept");
                source = source.Slice(recordsFile.Kept, source.Count - recordsFile.Kept);
            }

            if (source.Count == 0)
            {
                // An empty shard (more shards than inputs), or a partial file that lacked only its rename.
                recordsFile?.Complete();
                error.WriteLine($"gpuvit: shard {part} has no {(shardLength == 0 ? "" : "more ")}inputs{(recordsPath is null ? "" : $"; {recordsPath} written")}");
                return 0;
            }

            // Several devices: the model on each, and one shared plan of micro-batches that fit the smallest.
            string? selector = DeviceOption.Selector(parsed);
            if (timing is not null && DeviceOption.IsList(selector))
            {
                throw new UsageException($"--profile profiles one device; --device {selector} names several");
            }

            using var owned = new Owned();
            IReadOnlyList<Device> devices = owned.AddAll(Timed("device open", "the driver's context; kernels build at the first pass", () => DeviceOption.OpenAll(selector, error)));
            var streams = new List<VitStreamModel>();
            long budget = long.MaxValue;
            foreach (Device each in devices)
            {
                PrecisionOption.Check(each, arithmetic, error);
                VitModel vitModel = owned.Add(Timed("weights: convert + upload", $"to {arithmetic.Name()}, packed, copied to the device",
                    () => VitModel.Load(each, c, vit.Weights, precision: arithmetic)));
                var stream = new VitStreamModel(vitModel);
                streams.Add(stream);
                try
                {
                    budget = Math.Min(budget, batchSize is { } fixedBatch ? ImageStream.TokenBudget(stream, images: fixedBatch) : ImageStream.TokenBudget(stream));
                }
                catch (DeviceOutOfMemoryException e) when (batchSize is not null)
                {
                    throw new UsageException($"--batch {batchSize}: {e.Message}");
                }
            }

            var records = new RunRecords(recordsPath is not null ? RunRecords.Json : parsed.GetValue(format)!, Math.Min(topK, c.Classes), classNames is not null);
            var results = new Results(source, c.Classes, topK, classNames, failFast, records, recordsFile);
            long start = Stopwatch.GetTimestamp();
            string Rate() => string.Create(CultureInfo.InvariantCulture, $"{results.Finished / Stopwatch.GetElapsedTime(start).TotalSeconds:F1} images/s");
            bool interrupted = ProgressDisplay.Run(output, error, $"run on {string.Join(", ", devices.Select(d => d.Info.Id))}", source.Count, progress =>
            {
                // The bar counts finished images; within a micro-batch, which can take a while on its own, the status says what it is doing.
                using var status = new RunStatus(progress, () => results.Finished, () => results.Decoded, ImageStream.Plan(source.Count, streams[0].TokensPerImage, budget), Rate);
                try
                {
                    if (records.Header() is { } header)
                    {
                        progress.Print(header);
                    }

                    foreach (StreamedBatch batch in ImageStream.RunOnDevices(streams, source.Count, (i, image) => results.Decode(i, c.ImageSize, image), budget, interrupt, timing?.Stream))
                    {
                        long printStart = Stopwatch.GetTimestamp();
                        bool more = results.Add(batch, progress);
                        recordsFile?.Sync();
                        if (timing is not null)
                        {
                            timing.PrintSeconds += Stopwatch.GetElapsedTime(printStart).TotalSeconds;
                        }

                        if (!more)
                        {
                            break;
                        }

                        progress.Advance(batch.Batch.Count, Rate());
                    }

                    return false;
                }
                catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
                {
                    return true;
                }
            }, unit: "images");

            double streamSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

            // The logits of every image that finished, also when interrupted or failing: a whole file, never half a one.
            if (logitsPath is not null && results.Finished > 0)
            {
                Timed("writing the logits", logitsPath, () =>
                {
                    NpyFile.WriteFloat32(logitsPath, results.Logits, [results.Finished, c.Classes]);
                    return 0;
                });
            }
            else if (logitsPath is not null && interrupted)
            {
                // An empty array would tell nothing and could replace a whole earlier one.
                error.WriteLine($"gpuvit: no image finished; {logitsPath} {(File.Exists(logitsPath) ? "left as it was" : "not written")}");
            }

            if (timing is not null)
            {
                foreach (string line in timing.Table(devices[0], results.Finished, streamSeconds))
                {
                    error.WriteLine(line);
                }
            }

            if (results.Failure is { } failure)
            {
                throw new InputException($"{failure.Message} (--on-error fail: stopped after {results.Finished} of {source.Count} inputs)", failure);
            }

            if (results.Skipped > 0)
            {
                error.WriteLine($"gpuvit: skipped {results.Skipped} of {source.Count} inputs that could not be read (their logits are rows of NaN)");
            }

            if (results.NonFinite > 0)
            {
                error.WriteLine($"gpuvit: {results.NonFinite} of {source.Count} inputs gave logits that are not finite");
            }

            if (interrupted)
            {
                error.WriteLine($"gpuvit: interrupted after {results.Finished} of {source.Count} images");
                if (recordsPath is not null)
                {
                    error.WriteLine($"gpuvit: {RecordsFile.PartialPath(recordsPath)} holds the records so far; the same command resumes after them");
                }

                return Cli.Interrupted;
            }

            recordsFile?.Complete();

            return results.Skipped > 0 ? Cli.SkippedInputs : results.NonFinite > 0 ? Cli.NonFiniteResults : 0;
        });
        return command;
    }

    /// <summary>What the run opened, closed in reverse order (the models before their devices).</summary>
    private sealed class Owned : IDisposable
    {
        private readonly List<IDisposable> _items = [];

        public T Add<T>(T item)
            where T : IDisposable
        {
            _items.Add(item);
            return item;
        }

        public IReadOnlyList<T> AddAll<T>(IReadOnlyList<T> items)
            where T : IDisposable
        {
            _items.AddRange(items.Cast<IDisposable>());
            return items;
        }

        public void Dispose()
        {
            for (int i = _items.Count - 1; i >= 0; i--)
            {
                _items[i].Dispose();
            }
        }
    }

    /// <summary>The model as a records file's job names it: the preset and seed, or the weights' file name and size (the same file on every node).</summary>
    private static string ModelName(string? weightsPath, string? preset, int seed) =>
        preset is not null ? $"{preset} random-init seed {seed}" : $"{Path.GetFileName(weightsPath)} {new FileInfo(weightsPath!).Length} bytes";

    /// <summary>
    /// The records file for <paramref name="job"/>, resumed where a partial one of the same job ended;
    /// null when <paramref name="path"/> is already the job's whole output (said on stderr).
    /// </summary>
    private static RecordsFile? OpenRecords(string path, TextWriter error, RunJob job, ImageSource source)
    {
        if (File.Exists(path))
        {
            if (RecordsFile.FirstLine(path) != job.ToLine())
            {
                throw new UsageException($"--output {path}: exists, and is not this job's output; remove it or name another file");
            }

            error.WriteLine($"gpuvit: {path} is already written whole; nothing to do");
            return null;
        }

        return RecordsFile.Open(path, job, source.Name, source.Count);
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
        string[] lines;
        try
        {
            byte[] text = SmallFile.TryRead(path, out string problem) ?? throw new InputException($"{path}: {problem}");
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

    /// <summary>
    /// What a run has given so far, in input order: the logits of every finished image (a row of
    /// NaN for one that could not be read), its printed results, and what was said about them.
    /// </summary>
    private sealed class Results(ImageSource source, int classes, int topK, IReadOnlyList<string>? classNames, bool failFast, RunRecords records, RecordsFile? file)
    {
        private readonly List<float> _logits = [];
        private readonly InputException?[] _unreadable = new InputException?[source.Count];
        private readonly HashSet<string> _said = [];
        private int _finished, _decoded;

        /// <summary>Images whose results are in, skipped ones included: the rows of <see cref="Logits"/>. (Read by the status's timer too.)</summary>
        public int Finished => Volatile.Read(ref _finished);

        /// <summary>Images decoded so far, unreadable ones included: a micro-batch's are all decoded before the next one's start.</summary>
        public int Decoded => Volatile.Read(ref _decoded);

        public int Skipped { get; private set; }

        /// <summary>Images read whose logits are not all finite.</summary>
        public int NonFinite { get; private set; }

        /// <summary>With --on-error fail, the first input that could not be read: the run stopped before it.</summary>
        public InputException? Failure { get; private set; }

        public ReadOnlySpan<float> Logits => CollectionsMarshal.AsSpan(_logits);

        /// <summary>Decodes image <paramref name="index"/> (on the stream's workers); one that cannot be read is noted and goes through as zeros.</summary>
        public void Decode(int index, int size, Span<float> image)
        {
            try
            {
                source.Decode(index, size, image);
            }
            catch (InputException e)
            {
                _unreadable[index] = e;
                image.Clear();
            }
            finally
            {
                Interlocked.Increment(ref _decoded);
            }
        }

        /// <summary>Prints a micro-batch's results and keeps their logits; false when the run stops here (--on-error fail).</summary>
        public bool Add(StreamedBatch batch, IProgressSink progress)
        {
            for (int k = 0; k < batch.Batch.Count; k++)
            {
                int index = batch.Batch.First + k;
                string name = source.Name(index);
                if (_unreadable[index] is { } unreadable)
                {
                    if (failFast)
                    {
                        Failure = unreadable;
                        return false;
                    }

                    // One line per problem: the images of one bad .npy share theirs. (Done with no steps: a line on stderr, above a live bar.)
                    if (_said.Add(unreadable.Message))
                    {
                        progress.Done("gpuvit: skipped " + unreadable.Message, steps: 0);
                    }

                    Print(progress, new RunRecord(name, RunRecord.Skipped, unreadable.Message, []));
                    Skipped++;
                    _logits.AddRange(Enumerable.Repeat(float.NaN, classes));
                }
                else
                {
                    ReadOnlySpan<float> logits = batch.Output(k);
                    int notFinite = 0;
                    foreach (float l in logits)
                    {
                        notFinite += float.IsFinite(l) ? 0 : 1;
                    }

                    // Only finite logits are ranked (a NaN is no class), and the probabilities are theirs.
                    string? reason = notFinite > 0 ? $"{notFinite} of {classes} logits are not finite (NaN or ±∞)" : null;
                    if (reason is not null)
                    {
                        NonFinite++;
                        progress.Done($"gpuvit: {name}: {reason}", steps: 0);
                    }

                    Print(progress, new RunRecord(name, reason is null ? RunRecord.Ok : RunRecord.NotFinite, reason, Classification.TopK(logits, topK, classNames)));
                    _logits.AddRange(logits);
                }

                Interlocked.Increment(ref _finished);
            }

            return true;
        }

        private void Print(IProgressSink progress, RunRecord record)
        {
            foreach (string line in records.Lines(record))
            {
                if (file is not null)
                {
                    file.Write(line);
                }
                else
                {
                    progress.Print(line);
                }
            }
        }
    }

    /// <summary>
    /// The inputs in command-line order, each with what gave it (an argument or --input):
    /// System.CommandLine keeps the two apart, and its tokens say where each stood.
    /// </summary>
    private static IReadOnlyList<(string Path, string Name)> InputPaths(ParseResult parsed, Argument<string[]> arguments, Option<string[]> option)
    {
        IEnumerable<(Token Token, string Name)> given =
            (parsed.GetResult(arguments)?.Tokens ?? []).Select(t => (t, "input argument"))
            .Concat((parsed.GetResult(option)?.Tokens ?? []).Select(t => (t, "--input")));
        return [.. given.OrderBy(g => Position(parsed.Tokens, g.Token)).Select(g => (g.Token.Value, g.Name))];
    }

    /// <summary>Where <paramref name="token"/> itself stood (the same object: two equal tokens are told apart by place).</summary>
    private static int Position(IReadOnlyList<Token> tokens, Token token)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            if (ReferenceEquals(tokens[i], token))
            {
                return i;
            }
        }

        throw new InvalidOperationException($"the input token '{token.Value}' is not among the parsed tokens");
    }

    /// <summary>One line on stderr naming the files in the directories given that were not read (the first few, and how many).</summary>
    private static void ReportSkippedFiles(TextWriter error, IReadOnlyList<string> skipped)
    {
        const int Named = 5;
        if (skipped.Count > 0)
        {
            string more = skipped.Count > Named ? $", and {skipped.Count - Named} more" : "";
            string what = skipped.Count == 1 ? "1 file in the directories given, not an image by its extension" : $"{skipped.Count} files in the directories given, not images by their extension";
            error.WriteLine($"gpuvit: skipped {what} ({string.Join(", ", ImageDecoder.Extensions.Order())}): {string.Join(", ", skipped.Take(Named))}{more}");
        }
    }
}
