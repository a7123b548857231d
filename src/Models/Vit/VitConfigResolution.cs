using System.Globalization;
using System.Text.Json;
using GpuViT.Kernels.Ops;
using GpuViT.Models.Weights;

namespace GpuViT.Models.Vit;

/// <summary>
/// Where a weights file's config, class names, mean and std come from. Each setting is taken from
/// the first source that gives it: hints (the command line), the file's <c>gpuvit.*</c> metadata,
/// its tensors' shapes, a config.json, and defaults. A config.json may only add what the file does
/// not say: one that disagrees with the file, or cannot be read, is an error when it was given, and
/// is ignored with a warning when it merely lies beside the file.
/// </summary>
internal static class VitConfigResolution
{
    /// <summary>The sources in the order they win.</summary>
    private enum Source { Given, Metadata, Shapes, Config, Default }

    /// <summary>A config.json: its values, or (only beside the file) why it cannot be used.</summary>
    private sealed record ConfigFile(string Name, bool Beside, JsonConfig? Values, string? Problem);

    /// <summary>
    /// The ViT of a file whose tensors, in timm's names, have <paramref name="shapes"/>.
    /// <paramref name="configPath"/> is a config.json the user gave; without it,
    /// <paramref name="besidePath"/> is used if it exists. <paramref name="readWeights"/> reads the
    /// tensors' data, called only once the config is known and every name and shape fits it.
    /// </summary>
    public static LoadedVit Resolve(
        string fileName, WeightLayout layout, Dictionary<string, int[]> shapes, IReadOnlyDictionary<string, string> metadata,
        VitConfigHints hints, string? configPath, string besidePath, Func<VitWeights> readWeights)
    {
        ConfigFile? configFile = configPath is not null ? Given(configPath)
            : File.Exists(besidePath) ? Beside(besidePath, fileName) : null;
        JsonConfig? json = configFile?.Values;
        var meta = new MetadataValues(fileName, metadata);

        int[] Shape(string name, int rank) =>
            shapes.TryGetValue(name, out int[]? shape)
                ? shape.Length == rank ? shape : throw new VitWeightsException($"{name}: shape {VitTensor.FormatShape(shape)} should have {rank} dimensions")
                : throw new VitWeightsException($"{name}: missing");

        int[] patch = Shape("patch_embed.proj.weight", 4);
        Setting<bool> classToken = new("class_token", null, null, meta.Bool(VitWeightFiles.MetadataKeys.ClassToken), shapes.ContainsKey("cls_token"), null);
        Setting<PoolMode> pooling = new("pooling", null, null, meta.Pooling(), shapes.ContainsKey("fc_norm.weight") ? PoolMode.Mean : PoolMode.ClassToken, null);
        Setting<bool> share = new("share_layers", null, hints.ShareLayers, meta.Bool(VitWeightFiles.MetadataKeys.ShareLayers), null, null, false);

        // Tokens = class token + patches²; the image is patches per side × patch size.
        bool hasClassToken = classToken.File!.Value;
        int tokens = Shape("pos_embed", 3)[1];
        int patches = tokens - (hasClassToken ? 1 : 0);
        int side = (int)Math.Round(Math.Sqrt(Math.Max(patches, 0)));
        if (side * side != patches || patches == 0)
        {
            throw new VitWeightsException($"pos_embed: {tokens} tokens{(hasClassToken ? " less the class token" : "")} are not a square number of patches");
        }

        int storedBlocks = 0;
        while (shapes.ContainsKey($"blocks.{storedBlocks}.norm1.weight"))
        {
            storedBlocks++;
        }

        if (storedBlocks == 0)
        {
            throw new VitWeightsException("blocks.0.norm1.weight: missing (the file has no transformer blocks)");
        }

        bool shared = share.Peek(useJson: false) == true;
        Setting<int> imageSize = new("image_size", "image_size", null, meta.Int(VitWeightFiles.MetadataKeys.ImageSize), side * patch[2], json?.ImageSize);
        Setting<int> patchSize = new("patch_size", "patch_size", null, meta.Int(VitWeightFiles.MetadataKeys.PatchSize), patch[2], json?.PatchSize);
        Setting<int> channels = new("channels", "num_channels", null, meta.Int(VitWeightFiles.MetadataKeys.Channels), patch[1], json?.Channels);
        Setting<int> width = new("width", "hidden_size", null, meta.Int(VitWeightFiles.MetadataKeys.Width), patch[0], json?.Width);
        // Shared layers store one block, so the blocks say nothing of the depth.
        Setting<int> depth = new("depth", "num_hidden_layers", hints.Depth, meta.Int(VitWeightFiles.MetadataKeys.Depth), shared ? null : storedBlocks, json?.Depth);
        // timm's hub config.json names its architecture ("vit_small_patch16_224.augreg_in21k_ft_in1k"): a preset's heads, if it is one and fits the file.
        (string Name, VitConfig Config)? architecture = json?.Architecture is { } arch && VitPresets.FromArchitecture(arch) is { } preset ? preset : null;
        Setting<int> heads = new("heads", "num_attention_heads", hints.Heads, meta.Int(VitWeightFiles.MetadataKeys.Heads), null, json?.Heads ?? architecture?.Config.Heads);
        Setting<int> mlpWidth = new("mlp_width", "intermediate_size", null, meta.Int(VitWeightFiles.MetadataKeys.MlpWidth), Shape("blocks.0.mlp.fc1.weight", 2)[0], json?.MlpWidth);
        Setting<int> classes = new("classes", "the number of classes", null, meta.Int(VitWeightFiles.MetadataKeys.Classes), Shape("head.weight", 2)[0], json?.Classes);
        // timm and torchvision build ViTs with eps 1e-6; Hugging Face's ViTConfig defaults to 1e-12.
        Setting<float> eps = new("layer_norm_eps", "layer_norm_eps", hints.LayerNormEps, meta.Float(VitWeightFiles.MetadataKeys.LayerNormEps), null,
            json?.LayerNormEps, layout == WeightLayout.HuggingFace ? 1e-12f : 1e-6f);

        int fileChannels = channels.File!.Value;
        float[]? fileMean = meta.Normalisation(VitWeightFiles.MetadataKeys.Mean, fileChannels, isStd: false);
        float[]? fileStd = meta.Normalisation(VitWeightFiles.MetadataKeys.Std, fileChannels, isStd: true);

        string? problem = configFile?.Problem
            ?? imageSize.Disagreement(fileName) ?? patchSize.Disagreement(fileName) ?? channels.Disagreement(fileName)
            ?? width.Disagreement(fileName) ?? depth.Disagreement(fileName) ?? heads.Disagreement(fileName)
            ?? mlpWidth.Disagreement(fileName) ?? classes.Disagreement(fileName) ?? eps.Disagreement(fileName)
            ?? (architecture is { } a ? ArchitectureDisagreement(fileName, json!.Architecture!, a.Config, imageSize.File, patchSize.File, width.File, depth.File, mlpWidth.File) : null)
            ?? (json is null ? null : NormalisationDisagreement(fileName, json.MeanKey, json.Mean, VitWeightFiles.MetadataKeys.Mean, fileMean, fileChannels, isStd: false)
                ?? NormalisationDisagreement(fileName, json.StdKey, json.Std, VitWeightFiles.MetadataKeys.Std, fileStd, fileChannels, isStd: true));
        var warnings = new List<string>();
        string? ignored = null;
        if (configFile is not null && problem is not null)
        {
            if (!configFile.Beside)
            {
                throw new WeightsFormatException($"{configFile.Name}: {problem}");
            }

            ignored = $"{configFile.Name} is ignored: {problem}";
            warnings.Add(ignored);
        }

        bool useJson = json is not null && ignored is null;
        var log = new SourceLog(fileName, configFile?.Name);
        int? headCount = heads.Peek(useJson);
        if (headCount is null)
        {
            throw new WeightsFormatException(
                $"{fileName}: the number of heads is not in the file's metadata or a config.json beside it; pass --heads N (N divides the width {width.File})"
                + (ignored is not null ? $" ({ignored})"
                    : useJson && json!.Architecture is { } unknown ? $" (architecture {unknown} is not a preset GpuViT knows)" : ""));
        }

        var config = new VitConfig(
            ImageSize: imageSize.Take(log, useJson),
            PatchSize: patchSize.Take(log, useJson),
            Channels: channels.Take(log, useJson),
            Width: width.Take(log, useJson),
            Depth: depth.Take(log, useJson),
            Heads: heads.Take(log, useJson),
            MlpWidth: mlpWidth.Take(log, useJson),
            Classes: classes.Take(log, useJson),
            LayerNormEps: eps.Take(log, useJson),
            Pooling: pooling.Take(log, useJson),
            ClassToken: classToken.Take(log, useJson),
            ShareLayers: share.Take(log, useJson));
        config.Validate();

        if (useJson && json!.Heads is null && hints.Heads is null && heads.Metadata is null && architecture is { } used)
        {
            log.Add(Source.Config, $"architecture {json.Architecture} (preset {used.Name})");
        }

        float[]? mean = log.Take("mean", fileMean, useJson ? json!.Mean : null);
        float[]? std = log.Take("std", fileStd, useJson ? json!.Std : null);
        IReadOnlyList<string>? classNames = useJson ? json!.ClassNames : null;
        if (classNames is not null)
        {
            log.Add(Source.Config, $"class names ({classNames.Count})");
        }
        else if (config.Classes == ImageNetClasses.Names.Count)
        {
            // A 1000-class model that names no classes is an ImageNet-1k classifier in every published ViT.
            classNames = ImageNetClasses.Names;
            log.Add(Source.Default, $"class names: ImageNet-1k ({ImageNetClasses.Names.Count}, built in)");
        }

        VitWeights.Validate(shapes, config);
        VitWeights weights = readWeights();
        return new LoadedVit(config, weights, layout, classNames, mean, std)
        {
            Sources = log.Sources(),
            Warnings = warnings,
            MeanSource = mean is null ? null : log.SourceName(fileMean is not null ? Source.Metadata : Source.Config),
            StdSource = std is null ? null : log.SourceName(fileStd is not null ? Source.Metadata : Source.Config),
            PretrainedCfg = useJson && json!.PretrainedData is { } data ? data with { Source = configFile!.Name } : null,
        };
    }

    private static ConfigFile Given(string path)
    {
        string name = Path.GetFileName(path);
        try
        {
            return new ConfigFile(name, Beside: false, JsonConfig.Read(path), null);
        }
        catch (ConfigProblemException e)
        {
            throw new WeightsFormatException($"{name}: {e.Message}", e);
        }
    }

    private static ConfigFile Beside(string path, string fileName)
    {
        string name = $"config.json beside {fileName}";
        try
        {
            return new ConfigFile(name, Beside: true, JsonConfig.Read(path), null);
        }
        catch (ConfigProblemException e)
        {
            return new ConfigFile(name, Beside: true, null, e.Message);
        }
    }

    private static string? NormalisationDisagreement(string fileName, string key, float[]? json, string fileKey, float[]? file, int channels, bool isStd) =>
        json is null ? null
        : NormalisationProblem(key, json, channels, isStd)
            ?? (file is not null && !json.SequenceEqual(file) ? $"{key} {Text(json)} disagrees with {fileName} ({fileKey} {Text(file)})" : null);

    /// <summary>Null when the preset an architecture names has the file's shape; else what differs first.</summary>
    private static string? ArchitectureDisagreement(string fileName, string architecture, VitConfig preset, int? imageSize, int? patchSize, int? width, int? depth, int? mlpWidth) =>
        new (string Name, int Preset, int? File)[]
        {
            ("image_size", preset.ImageSize, imageSize), ("patch_size", preset.PatchSize, patchSize), ("width", preset.Width, width),
            ("depth", preset.Depth, depth), ("mlp_width", preset.MlpWidth, mlpWidth),
        }.FirstOrDefault(d => d.File is { } own && own != d.Preset) is { Name: { } name } d
            ? $"architecture {architecture} has {name} {d.Preset}, {fileName} has {d.File}"
            : null;

    /// <summary>Null when <paramref name="values"/> normalise an image: one finite value per channel, and a std above zero.</summary>
    private static string? NormalisationProblem(string key, float[] values, int channels, bool isStd) =>
        values.Length != channels ? $"{key} has {values.Length} value{(values.Length == 1 ? "" : "s")}, the model has {channels} channels"
        : values.Any(v => !float.IsFinite(v)) ? $"{key} {Text(values)} is not finite"
        : isStd && values.Any(v => v <= 0) ? $"{key} {Text(values)} must be above zero (it divides)"
        : null;

    private static string Text(object value) => value switch
    {
        bool b => b ? "true" : "false",
        PoolMode p => p == PoolMode.Mean ? "mean" : "class_token",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        float[] values => string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>One setting as each source gives it, null where a source does not say.</summary>
    private sealed record Setting<T>(string Name, string? JsonKey, T? Given, T? Metadata, T? Shapes, T? Json, T? Default = null)
        where T : struct
    {
        /// <summary>What the weights file says by itself.</summary>
        public T? File => Metadata ?? Shapes;

        public string? Disagreement(string fileName) =>
            Json is { } json && File is { } own && !EqualityComparer<T>.Default.Equals(json, own)
                ? $"{JsonKey} {Text(json)} disagrees with {fileName} ({Name} {Text(own)})"
                : null;

        public T? Peek(bool useJson) => Given ?? Metadata ?? Shapes ?? (useJson ? Json : null) ?? Default;

        /// <summary>The value from the first source that gives it, noted in <paramref name="log"/>; every setting Take is called for has one.</summary>
        public T Take(SourceLog log, bool useJson)
        {
            (T? value, Source source) =
                Given is not null ? (Given, Source.Given)
                : Metadata is not null ? (Metadata, Source.Metadata)
                : Shapes is not null ? (Shapes, Source.Shapes)
                : useJson && Json is not null ? (Json, Source.Config)
                : (Default, Source.Default);
            T taken = value ?? throw new InvalidOperationException($"{Name}: no source gives it");
            log.Add(source, $"{Name} {Text(taken)}");
            return taken;
        }
    }

    /// <summary>Which source gave which value, for <see cref="LoadedVit.Sources"/>.</summary>
    private sealed class SourceLog(string fileName, string? configName)
    {
        private readonly List<(Source Source, string Value)> _values = [];

        public void Add(Source source, string value) => _values.Add((source, value));

        /// <summary>The file's values, else the config's (null where neither gives them).</summary>
        public float[]? Take(string name, float[]? file, float[]? config)
        {
            if ((file ?? config) is { } values)
            {
                Add(file is not null ? Source.Metadata : Source.Config, $"{name} {Text(values)}");
            }

            return file ?? config;
        }

        public IReadOnlyList<ConfigSource> Sources() =>
            [.. _values.GroupBy(v => v.Source).OrderBy(g => g.Key).Select(g => new ConfigSource(SourceName(g.Key), [.. g.Select(v => v.Value)]))];

        public string SourceName(Source source) => source switch
        {
            Source.Given => "the command line",
            Source.Metadata => $"{fileName} metadata",
            Source.Shapes => $"{fileName} tensor shapes",
            Source.Config => configName!,
            _ => "defaults",
        };
    }

    /// <summary>The file's <c>gpuvit.*</c> metadata, parsed; a value that does not parse is an error naming the file and key.</summary>
    private readonly struct MetadataValues(string fileName, IReadOnlyDictionary<string, string> metadata)
    {
        public int? Int(string key) =>
            metadata.TryGetValue(key, out string? text)
                ? int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
                    ? value
                    : throw Bad(key, text, "an integer")
                : null;

        public bool? Bool(string key) =>
            metadata.TryGetValue(key, out string? text)
                ? bool.TryParse(text, out bool value) ? value : throw Bad(key, text, "true or false")
                : null;

        public float? Float(string key) =>
            metadata.TryGetValue(key, out string? text)
                ? float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) ? value : throw Bad(key, text, "a number")
                : null;

        public PoolMode? Pooling() =>
            metadata.TryGetValue(VitWeightFiles.MetadataKeys.Pooling, out string? text)
                ? text switch
                {
                    "mean" => PoolMode.Mean,
                    "class_token" => PoolMode.ClassToken,
                    _ => throw Bad(VitWeightFiles.MetadataKeys.Pooling, text, "class_token or mean"),
                }
                : null;

        /// <summary>A comma-separated mean or std, checked against the channels.</summary>
        public float[]? Normalisation(string key, int channels, bool isStd)
        {
            if (!metadata.TryGetValue(key, out string? text))
            {
                return null;
            }

            string[] parts = text.Split(',');
            float[] values = new float[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                {
                    throw Bad(key, text, "comma-separated numbers");
                }
            }

            return NormalisationProblem(key, values, channels, isStd) is { } problem
                ? throw new WeightsFormatException($"{fileName}: metadata {problem}")
                : values;
        }

        private WeightsFormatException Bad(string key, string text, string expected) =>
            new($"{fileName}: metadata {key} = '{text}' is not {expected}");
    }

    /// <summary>A config.json that cannot be used; the message is the reason alone, without the file's name.</summary>
    private sealed class ConfigProblemException(string message) : Exception(message);

    /// <summary>
    /// The parts of a config.json this reads: Hugging Face's ViTConfig keys, id2label for class
    /// names, and timm's hub config (num_classes, label_names, pretrained_cfg.mean/std). A key
    /// that is there with a value of the wrong kind is a problem, never silently skipped.
    /// </summary>
    private sealed record JsonConfig(
        int? ImageSize, int? PatchSize, int? Channels, int? Width, int? Depth, int? Heads, int? MlpWidth, int? Classes,
        float? LayerNormEps, IReadOnlyList<string>? ClassNames, string MeanKey, float[]? Mean, string StdKey, float[]? Std,
        string? Architecture, PretrainedDataConfig? PretrainedData)
    {
        public static JsonConfig Read(string path)
        {
            byte[] bytes;
            try
            {
                bytes = SmallFile.TryRead(path, out string problem) ?? throw new ConfigProblemException(problem);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigProblemException($"cannot read the config: {e.Message}");
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(bytes);
            }
            catch (JsonException e)
            {
                throw new ConfigProblemException($"not JSON: {e.Message.Split('\n')[0]}");
            }

            using (document)
            {
                return From(document.RootElement);
            }
        }

        private static JsonConfig From(JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ConfigProblemException("not a JSON object");
            }

            JsonElement pretrained = Value(root, "pretrained_cfg") ?? default;
            (string meanKey, float[]? mean) = Floats(root, "image_mean", "") is { } m ? ("image_mean", m) : ("pretrained_cfg.mean", Floats(pretrained, "mean", "pretrained_cfg."));
            (string stdKey, float[]? std) = Floats(root, "image_std", "") is { } s ? ("image_std", s) : ("pretrained_cfg.std", Floats(pretrained, "std", "pretrained_cfg."));
            IReadOnlyList<string>? classNames = Labels(root);
            int? classes = Int(root, "num_classes");
            if (classes is not null && classNames is not null && classes != classNames.Count)
            {
                throw new ConfigProblemException($"num_classes {classes} but {classNames.Count} labels");
            }

            return new JsonConfig(
                Int(root, "image_size"), Int(root, "patch_size"), Int(root, "num_channels"), Int(root, "hidden_size"),
                Int(root, "num_hidden_layers"), Int(root, "num_attention_heads"), Int(root, "intermediate_size"),
                classes ?? classNames?.Count, PositiveFloat(root, "layer_norm_eps"), classNames, meanKey, mean, stdKey, std,
                String(root, "architecture", ""), pretrained.ValueKind == JsonValueKind.Object ? ReadPretrainedData(pretrained) : null);
        }

        /// <summary>pretrained_cfg's preprocessing keys, each of the right kind; the source is filled in by the caller.</summary>
        private static PretrainedDataConfig? ReadPretrainedData(JsonElement pretrained)
        {
            int[]? inputSize = Value(pretrained, "input_size") is { } v
                ? v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 3
                  && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out int i) && i > 0)
                    ? [.. v.EnumerateArray().Select(x => x.GetInt32())]
                    : throw Bad("pretrained_cfg.input_size", v, "[channels, height, width]")
                : null;
            double? cropPct = Value(pretrained, "crop_pct") is { } c
                ? c.ValueKind == JsonValueKind.Number && c.GetDouble() is > 0 and <= 1 ? c.GetDouble() : throw Bad("pretrained_cfg.crop_pct", c, "a number in (0, 1]")
                : null;
            string? interpolation = String(pretrained, "interpolation", "pretrained_cfg."), cropMode = String(pretrained, "crop_mode", "pretrained_cfg.");
            return inputSize is null && cropPct is null && interpolation is null && cropMode is null ? null
                : new PretrainedDataConfig("", inputSize, interpolation, cropPct, cropMode);
        }

        private static string? String(JsonElement parent, string key, string prefix) =>
            Value(parent, key) is { } v
                ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(prefix + key, v, "a string")
                : null;

        private static IReadOnlyList<string>? Labels(JsonElement root)
        {
            if (Value(root, "id2label") is { ValueKind: JsonValueKind.Object } id2label)
            {
                var byIndex = new SortedDictionary<int, string>();
                foreach (JsonProperty p in id2label.EnumerateObject())
                {
                    if (int.TryParse(p.Name, NumberStyles.Integer, CultureInfo.InvariantCulture, out int index) && p.Value.ValueKind == JsonValueKind.String)
                    {
                        byIndex[index] = p.Value.GetString()!;
                    }
                }

                // Only a complete 0..n-1 list names classes; anything else would misname them.
                return byIndex.Count > 0 && byIndex.Keys.First() == 0 && byIndex.Keys.Last() == byIndex.Count - 1 ? [.. byIndex.Values] : null;
            }

            return Value(root, "label_names") is { ValueKind: JsonValueKind.Array } labels ? [.. labels.EnumerateArray().Select(l => l.ToString())] : null;
        }

        // A key with null is as good as absent (Hugging Face writes some so).
        private static JsonElement? Value(JsonElement parent, string key) =>
            parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;

        private static int? Int(JsonElement root, string key) =>
            Value(root, key) is { } v
                ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && i > 0 ? i : throw Bad(key, v, "a positive integer")
                : null;

        private static float? PositiveFloat(JsonElement root, string key) =>
            Value(root, key) is { } v
                ? v.ValueKind == JsonValueKind.Number && v.TryGetSingle(out float f) && float.IsFinite(f) && f > 0 ? f : throw Bad(key, v, "a positive number")
                : null;

        private static float[]? Floats(JsonElement parent, string key, string prefix) =>
            Value(parent, key) is { } v
                ? v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number)
                    ? [.. v.EnumerateArray().Select(x => x.GetSingle())]
                    : throw Bad(prefix + key, v, "a list of numbers")
                : null;

        private static ConfigProblemException Bad(string key, JsonElement value, string expected)
        {
            string raw = value.GetRawText();
            return new ConfigProblemException($"{key} is {(raw.Length > 40 ? raw[..40] + "..." : raw)}, not {expected}");
        }
    }
}
