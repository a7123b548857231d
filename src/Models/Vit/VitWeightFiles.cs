using System.Globalization;
using System.Text.RegularExpressions;
using GpuViT.Kernels.Ops;
using GpuViT.Models.Weights;

namespace GpuViT.Models.Vit;

/// <summary>How a file names a ViT's tensors.</summary>
public enum WeightLayout
{
    /// <summary>timm's names (patch_embed.proj.weight, blocks.0.attn.qkv.weight, ...), which <see cref="VitWeights"/> uses.</summary>
    Timm,

    /// <summary>torchvision's VisionTransformer (conv_proj.weight, encoder.layers.encoder_layer_0.self_attention.in_proj_weight, ...).</summary>
    TorchVision,

    /// <summary>Hugging Face's ViTForImageClassification (vit.encoder.layer.0.attention.attention.query.weight, ...).</summary>
    HuggingFace,
}

/// <summary>
/// Values the tensors' shapes cannot give (heads, eps, pooling, shared layers), or that override
/// the file's: from the command line, or the caller. Null means "not given".
/// </summary>
public sealed record VitConfigHints(int? Heads = null, float? LayerNormEps = null, int? Depth = null, bool? ShareLayers = null);

/// <summary>A ViT read from a weights file: its config, its weights by timm's names, and what the file says about inputs and classes.</summary>
/// <param name="ClassNames">One name per class (<see cref="VitConfig.Classes"/>), or null when no source names them.</param>
/// <param name="Mean">One value per channel, or null for the caller's default; so is <paramref name="Std"/>, every value above zero.</param>
public sealed record LoadedVit(
    VitConfig Config,
    VitWeights Weights,
    WeightLayout Layout,
    IReadOnlyList<string>? ClassNames,
    float[]? Mean,
    float[]? Std)
{
    /// <summary>Where the config, class names, mean and std came from: each source with the values it gave, highest precedence first.</summary>
    public IReadOnlyList<ConfigSource> Sources { get; init; } = [];

    /// <summary>What was not used and why, one line each: a config.json beside the file that disagrees with it or cannot be read.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Which source gave <see cref="Mean"/> ("model.safetensors metadata", "config.json beside model.safetensors"), or null.</summary>
    public string? MeanSource { get; init; }

    /// <summary>Which source gave <see cref="Std"/>, or null.</summary>
    public string? StdSource { get; init; }

    /// <summary>timm's pretrained_cfg preprocessing from the config.json that was used, or null.</summary>
    public PretrainedDataConfig? PretrainedCfg { get; init; }
}

/// <summary>
/// The preprocessing keys of a timm config.json's pretrained_cfg, as written (checked for their
/// kind only: what they mean is checked where they are used); null where absent.
/// </summary>
/// <param name="Source">The config.json they come from, for messages ("config.json beside model.safetensors").</param>
public sealed record PretrainedDataConfig(string Source, int[]? InputSize, string? Interpolation, double? CropPct, string? CropMode);

/// <summary>One source of a loaded ViT's settings ("model.safetensors metadata") and the values it gave ("heads 12", "mean 0.5,0.5,0.5").</summary>
public sealed record ConfigSource(string Name, IReadOnlyList<string> Values);

/// <summary>
/// Reads ViT weights from a .safetensors file in the timm, torchvision or Hugging Face layout
/// (recognised by the tensor names) onto <see cref="VitWeights"/>' timm names, and writes them in
/// the timm layout. The config comes from, in order of precedence: explicit
/// <see cref="VitConfigHints"/>, the file's <c>__metadata__</c> (the <c>gpuvit.*</c> keys
/// below), the shapes, and a Hugging Face or timm style <c>config.json</c> (given, or beside the
/// file) for what the file does not say (<see cref="Load"/>).
/// The number of heads cannot be read from shapes and is never guessed.
/// Every problem is a <see cref="WeightsFormatException"/> whose message is one line starting
/// with the file's name.
/// </summary>
public static class VitWeightFiles
{
    /// <summary>Metadata keys the writer puts in <c>__metadata__</c> and the reader honours. Values are invariant-culture text.</summary>
    public static class MetadataKeys
    {
        public const string ImageSize = "gpuvit.image_size";
        public const string PatchSize = "gpuvit.patch_size";
        public const string Channels = "gpuvit.channels";
        public const string Width = "gpuvit.width";
        public const string Depth = "gpuvit.depth";
        public const string Heads = "gpuvit.heads";
        public const string MlpWidth = "gpuvit.mlp_width";
        public const string Classes = "gpuvit.classes";
        public const string LayerNormEps = "gpuvit.layer_norm_eps";

        /// <summary>"class_token" or "mean".</summary>
        public const string Pooling = "gpuvit.pooling";

        /// <summary>"true" or "false".</summary>
        public const string ClassToken = "gpuvit.class_token";

        /// <summary>"true" or "false"; with "true" only blocks.0.* are stored and <see cref="Depth"/> says how often it runs.</summary>
        public const string ShareLayers = "gpuvit.share_layers";

        /// <summary>Optional, comma-separated per-channel normalisation.</summary>
        public const string Mean = "gpuvit.mean";

        public const string Std = "gpuvit.std";
    }

    /// <summary>The metadata that describes <paramref name="config"/> completely.</summary>
    public static Dictionary<string, string> Metadata(VitConfig config)
    {
        static string I(int value) => value.ToString(CultureInfo.InvariantCulture);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = "pt", // what timm and safetensors' torch helpers write
            [MetadataKeys.ImageSize] = I(config.ImageSize),
            [MetadataKeys.PatchSize] = I(config.PatchSize),
            [MetadataKeys.Channels] = I(config.Channels),
            [MetadataKeys.Width] = I(config.Width),
            [MetadataKeys.Depth] = I(config.Depth),
            [MetadataKeys.Heads] = I(config.Heads),
            [MetadataKeys.MlpWidth] = I(config.MlpWidth),
            [MetadataKeys.Classes] = I(config.Classes),
            [MetadataKeys.LayerNormEps] = config.LayerNormEps.ToString("R", CultureInfo.InvariantCulture),
            [MetadataKeys.Pooling] = config.Pooling == PoolMode.Mean ? "mean" : "class_token",
            [MetadataKeys.ClassToken] = config.ClassToken ? "true" : "false",
            [MetadataKeys.ShareLayers] = config.ShareLayers ? "true" : "false",
        };
    }

    /// <summary>Saves a model in the timm layout with the <see cref="MetadataKeys"/>, so it loads without any hints.</summary>
    public static void Save(string path, VitConfig config, VitWeights weights)
    {
        weights.Validate(config);
        var writer = new SafetensorsWriter();
        foreach ((string name, _) in VitWeights.ExpectedShapes(config))
        {
            VitTensor tensor = weights[name];
            writer.Add(name, tensor.Shape, tensor.Data);
        }

        foreach ((string key, string value) in Metadata(config))
        {
            writer.Metadata[key] = value;
        }

        writer.Save(path);
    }

    /// <summary>The layout these tensor names are in.</summary>
    public static WeightLayout Detect(IEnumerable<string> names, string fileName)
    {
        var set = names.ToHashSet(StringComparer.Ordinal);
        if (set.Contains("patch_embed.proj.weight"))
        {
            return WeightLayout.Timm;
        }

        if (set.Contains("conv_proj.weight"))
        {
            return WeightLayout.TorchVision;
        }

        if (set.Contains("vit.embeddings.patch_embeddings.projection.weight"))
        {
            return WeightLayout.HuggingFace;
        }

        string first = set.Order(StringComparer.Ordinal).FirstOrDefault() ?? "(no tensors)";
        throw new WeightsFormatException(
            $"{fileName}: not a ViT in a known layout: no patch_embed.proj.weight (timm), conv_proj.weight (torchvision) "
            + $"or vit.embeddings.patch_embeddings.projection.weight (Hugging Face); first tensor: {first}");
    }

    /// <summary>
    /// Loads a ViT. Each setting comes from the first of: <paramref name="hints"/>, the file's
    /// metadata, its tensors' shapes, a config.json, and defaults. The config.json is
    /// <paramref name="configPath"/>, else config.json beside the file if there is one; the file
    /// wins over it, and it only adds what the file does not say (heads, eps, class names, mean,
    /// std). A given config.json that cannot be read or disagrees with the file is an error; one
    /// beside the file is then ignored, and <see cref="LoadedVit.Warnings"/> says so.
    /// </summary>
    public static LoadedVit Load(string path, string? configPath = null, VitConfigHints? hints = null)
    {
        string fileName = Path.GetFileName(path);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        try
        {
            WeightLayout layout = Detect(file.TensorNames, fileName);
            Dictionary<string, TimmTensor> tensors = ToTimm(layout, file, fileName);
            Dictionary<string, int[]> shapes = tensors.ToDictionary(t => t.Key, t => t.Value.Shape, StringComparer.Ordinal);
            string beside = BesideConfigPath(path);

            // The config is worked out and the names and shapes checked from the header alone, before
            // any tensor is read: an unexpected tensor costs nothing.
            return VitConfigResolution.Resolve(
                fileName, layout, shapes, file.Metadata, hints ?? new VitConfigHints(), configPath, beside,
                () => new VitWeights(tensors.Select(t => KeyValuePair.Create(t.Key, t.Value.Read(file, fileName)))));
        }
        catch (Exception e) when (e is VitConfigException or VitWeightsException)
        {
            throw new WeightsFormatException($"{fileName}: {e.Message}", e);
        }
    }

    /// <summary>The config.json read beside a weights file when no --config is given (whether or not it exists).</summary>
    public static string BesideConfigPath(string weightsPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath)) ?? ".", "config.json");

    /// <summary>A tensor under timm's name: its shape, and the file's tensors it is read from (query, key and value stacked for Hugging Face's qkv).</summary>
    private sealed record TimmTensor(int[] Shape, string[] Parts)
    {
        public VitTensor Read(SafetensorsFile file, string fileName)
        {
            long elements = VitTensor.Elements(Shape);
            if (elements > Array.MaxLength)
            {
                throw new WeightsFormatException($"{fileName}: {string.Join(", ", Parts)} holds {elements} values, too many for one array");
            }

            var data = new float[elements];
            int done = 0;
            foreach (string part in Parts)
            {
                int count = (int)file.GetInfo(part).ElementCount;
                file.Read(part, data.AsSpan(done, count));
                done += count;
            }

            return new VitTensor(Shape, data);
        }
    }

    // Renames every tensor to timm's name, from the header alone: no data is read. Names that fit
    // nothing stay as they are so the fit check reports them as unexpected.
    private static Dictionary<string, TimmTensor> ToTimm(WeightLayout layout, SafetensorsFile file, string fileName)
    {
        var tensors = new Dictionary<string, TimmTensor>(StringComparer.Ordinal);
        var qkvParts = new Dictionary<string, SafetensorsTensorInfo?[]>(StringComparer.Ordinal);
        foreach (SafetensorsTensorInfo info in file.Tensors)
        {
            if (info.Shape.Any(d => d > int.MaxValue))
            {
                throw new WeightsFormatException($"{fileName}: tensor {info.Name} has shape [{string.Join(", ", info.Shape)}], a dimension above {int.MaxValue}");
            }

            string name = info.Name;
            if (layout == WeightLayout.HuggingFace && HfQkv.Match(name) is { Success: true } m)
            {
                // query, key and value are separate linears in HF; timm stacks them as [q; k; v].
                string target = $"blocks.{m.Groups[1].Value}.attn.qkv.{m.Groups[3].Value}";
                int part = m.Groups[2].Value switch { "query" => 0, "key" => 1, _ => 2 };
                SafetensorsTensorInfo?[] parts = qkvParts.TryGetValue(target, out var p) ? p : qkvParts[target] = new SafetensorsTensorInfo?[3];
                parts[part] = info;
                continue;
            }

            string timmName = layout switch
            {
                WeightLayout.TorchVision => FromTorchVision(name),
                WeightLayout.HuggingFace => FromHuggingFace(name),
                _ => name,
            };
            if (!tensors.TryAdd(timmName, new TimmTensor([.. info.Shape.Select(d => (int)d)], [name])))
            {
                throw new VitWeightsException($"{name}: maps to {timmName}, which another tensor already gave");
            }
        }

        foreach ((string target, SafetensorsTensorInfo?[] parts) in qkvParts)
        {
            string[] which = ["query", "key", "value"];
            for (int i = 0; i < 3; i++)
            {
                if (parts[i] is null)
                {
                    throw new VitWeightsException($"{target}: the {which[i]} part is missing (Hugging Face stores query, key and value separately)");
                }
            }

            IReadOnlyList<long> shape = parts[0]!.Shape;
            if (parts.Any(t => !t!.Shape.SequenceEqual(shape)))
            {
                throw new VitWeightsException($"{target}: query, key and value have different shapes ({string.Join(", ", parts.Select(t => $"[{string.Join(", ", t!.Shape)}]"))})");
            }

            if (shape.Count == 0 || 3 * shape[0] > int.MaxValue)
            {
                throw new VitWeightsException($"{target}: query, key and value of shape [{string.Join(", ", shape)}] cannot be stacked");
            }

            int[] stacked = [(int)(3 * shape[0]), .. shape.Skip(1).Select(d => (int)d)];
            tensors[target] = new TimmTensor(stacked, [.. parts.Select(t => t!.Name)]);
        }

        return tensors;
    }

    private static readonly Regex TvLayer = new(@"^encoder\.layers\.encoder_layer_(\d+)\.(.+)$", RegexOptions.CultureInvariant);
    private static readonly Regex HfLayer = new(@"^vit\.encoder\.layer\.(\d+)\.(.+)$", RegexOptions.CultureInvariant);
    private static readonly Regex HfQkv = new(@"^vit\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$", RegexOptions.CultureInvariant);

    private static string FromTorchVision(string name)
    {
        if (TvLayer.Match(name) is { Success: true } m)
        {
            string rest = m.Groups[2].Value switch
            {
                "self_attention.in_proj_weight" => "attn.qkv.weight",
                "self_attention.in_proj_bias" => "attn.qkv.bias",
                var s => Rename(s, ("ln_1.", "norm1."), ("ln_2.", "norm2."), ("self_attention.out_proj.", "attn.proj."),
                    ("mlp.0.", "mlp.fc1."), ("mlp.linear_1.", "mlp.fc1."), ("mlp.3.", "mlp.fc2."), ("mlp.linear_2.", "mlp.fc2.")),
            };
            return $"blocks.{m.Groups[1].Value}.{rest}";
        }

        return name switch
        {
            "class_token" => "cls_token",
            "encoder.pos_embedding" => "pos_embed",
            _ => Rename(name, ("conv_proj.", "patch_embed.proj."), ("encoder.ln.", "norm."), ("heads.head.", "head.")),
        };
    }

    private static string FromHuggingFace(string name)
    {
        if (HfLayer.Match(name) is { Success: true } m)
        {
            string rest = Rename(m.Groups[2].Value, ("layernorm_before.", "norm1."), ("layernorm_after.", "norm2."),
                ("attention.output.dense.", "attn.proj."), ("intermediate.dense.", "mlp.fc1."), ("output.dense.", "mlp.fc2."));
            return $"blocks.{m.Groups[1].Value}.{rest}";
        }

        return name switch
        {
            "vit.embeddings.cls_token" => "cls_token",
            "vit.embeddings.position_embeddings" => "pos_embed",
            _ => Rename(name, ("vit.embeddings.patch_embeddings.projection.", "patch_embed.proj."), ("vit.layernorm.", "norm."), ("classifier.", "head.")),
        };
    }

    // Replaces the first prefix that fits; a name that fits none is returned unchanged.
    private static string Rename(string name, params (string From, string To)[] prefixes)
    {
        foreach ((string from, string to) in prefixes)
        {
            if (name.StartsWith(from, StringComparison.Ordinal))
            {
                return to + name[from.Length..];
            }
        }

        return name;
    }
}
