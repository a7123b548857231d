using System.Globalization;
using System.Text.Json;
using GpuViT.Models.Images;
using GpuViT.Models.Weights;

namespace GpuViT.Models.Vit;

/// <summary>Preprocessing settings given on the command line (or by a caller); null means "not given".</summary>
public sealed record PreprocessHints(
    int? ImageSize = null, double? CropPct = null, CropMode? CropMode = null, Interpolation? Interpolation = null,
    float[]? Mean = null, float[]? Std = null);

/// <summary>The eval transform a model's images go through, and which source gave each of its settings (highest precedence first).</summary>
public sealed record Preprocessing(EvalTransform Transform, IReadOnlyList<ConfigSource> Sources, IReadOnlyList<string> Warnings);

/// <summary>
/// The preprocessing a published model expects, worked out as timm's resolve_data_config and
/// Hugging Face's image processor do. Each setting comes from the first of: hints (flags), a
/// Hugging Face <c>preprocessor_config.json</c> beside the weights, timm's <c>pretrained_cfg</c> in
/// the config.json that was used, the mean and std the model loading found (the file's metadata or
/// that config.json), and timm's defaults (input size the model's, crop_pct 0.875, center,
/// bilinear, ImageNet mean and std). The image size must be the model's: position embeddings are
/// never resampled. A value GpuViT cannot honour (an unknown crop mode, a resample filter it does
/// not have) is an error naming the file and key, never silently replaced.
/// </summary>
public static class PreprocessResolution
{
    public const string HuggingFaceFileName = "preprocessor_config.json";

    /// <summary>The Hugging Face preprocessor config read beside a weights file (whether or not it exists).</summary>
    public static string BesidePath(string weightsPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath)) ?? ".", HuggingFaceFileName);

    /// <summary>The names timm's configs use for each filter.</summary>
    public static string Name(Interpolation interpolation) => interpolation.ToString().ToLowerInvariant();

    public static string Name(CropMode mode) => mode.ToString().ToLowerInvariant();

    public static Interpolation? ParseInterpolation(string text) =>
        Enum.GetValues<Interpolation>().Cast<Interpolation?>().FirstOrDefault(i => Name(i!.Value) == text);

    public static CropMode? ParseCropMode(string text) =>
        Enum.GetValues<CropMode>().Cast<CropMode?>().FirstOrDefault(m => Name(m!.Value) == text);

    /// <summary>
    /// The transform for <paramref name="vit"/>'s images. <paramref name="weightsPath"/> (null for
    /// a preset) is where a preprocessor_config.json is looked for. Errors are
    /// <see cref="WeightsFormatException"/>s (a file's value) or <see cref="VitConfigException"/>s
    /// (an image size the model cannot take), one line each.
    /// </summary>
    public static Preprocessing Resolve(LoadedVit vit, string? weightsPath, PreprocessHints hints)
    {
        var warnings = new List<string>();
        HfProcessor? hf = null;
        string? besidePath = weightsPath is null ? null : BesidePath(weightsPath);
        if (besidePath is not null && File.Exists(besidePath))
        {
            string name = $"{HuggingFaceFileName} beside {Path.GetFileName(weightsPath)}";
            try
            {
                hf = HfProcessor.Read(besidePath, name);
            }
            catch (ProcessorFileException e)
            {
                // As a config.json beside the weights: a file that is not one is ignored, said once.
                warnings.Add($"{name} is ignored: {e.Message}");
            }
        }

        PretrainedDataConfig? timm = vit.PretrainedCfg;
        var log = new List<(int Rank, string Source, string Value)>();
        const int Given = 0, Hf = 1, Timm = 2, Loaded = 3, Default = 4;
        string SourceName(int rank, string? loaded = null) => rank switch
        {
            Given => "the command line",
            Hf => hf!.Name,
            Timm => timm!.Source,
            Loaded => loaded!,
            _ => "defaults",
        };
        T Take<T>(string name, Func<T, string> text, params (int Rank, T? Value, string? Loaded)[] sources)
            where T : struct
        {
            foreach ((int rank, T? value, string? loaded) in sources)
            {
                if (value is { } v)
                {
                    log.Add((rank, SourceName(rank, loaded), $"{name} {text(v)}"));
                    return v;
                }
            }

            throw new InvalidOperationException($"{name}: no source gives it");
        }

        // The image size: the output's side, which must be the model's.
        int modelSize = vit.Config.ImageSize;
        int? timmSize = null;
        if (timm?.InputSize is [int channels, int height, int width])
        {
            if (channels != vit.Config.Channels || height != width)
            {
                throw new WeightsFormatException($"{timm.Source}: pretrained_cfg.input_size [{channels}, {height}, {width}] is not [{vit.Config.Channels}, S, S] (the model takes square {vit.Config.Channels}-channel images)");
            }

            timmSize = height;
        }

        int size = Take("image_size", I, (Given, hints.ImageSize, null), (Hf, hf?.OutputSize, null), (Timm, timmSize, null), (Default, modelSize, null));
        if (size != modelSize)
        {
            string from = log[^1].Source;
            throw new VitConfigException(
                $"image size {size} (from {from}) does not fit the model: its position embeddings are a {vit.Config.PatchesPerSide}x{vit.Config.PatchesPerSide} grid of "
                + $"{vit.Config.PatchSize}-pixel patches, {modelSize}x{modelSize} images (GpuViT does not resample them)");
        }

        // The resize: a crop_pct (floor(size / crop_pct)), or the Hugging Face file's own resize size.
        int? resizeSize = null;
        double cropPct;
        bool hfCrops = hints.CropPct is null && hf is not null;
        if (hfCrops)
        {
            resizeSize = hf!.ResizeSize;
            cropPct = (double)size / resizeSize.Value;
            log.Add((Hf, hf.Name, $"resize {resizeSize} ({(hf.ShortestEdge ? "shortest edge" : "height and width")}), {(hf.CenterCrop ? $"centre crop {size}" : "no crop")}"));
        }
        else
        {
            cropPct = Take("crop_pct", D, (Given, hints.CropPct, null), (Timm, timm?.CropPct, null), (Default, 0.875, null));
        }

        CropMode? timmMode = timm?.CropMode is { } modeText
            ? ParseCropMode(modeText) ?? throw new WeightsFormatException($"{timm.Source}: pretrained_cfg.crop_mode '{modeText}' is not center, squash or border")
            : null;
        Interpolation? timmFilter = timm?.Interpolation is { } filterText
            ? ParseInterpolation(filterText) ?? throw new WeightsFormatException($"{timm.Source}: pretrained_cfg.interpolation '{filterText}' is not bilinear, bicubic or nearest")
            : null;
        CropMode mode = Take("crop_mode", Name, (Given, hints.CropMode, null), (Hf, hf?.CropMode, null), (Timm, timmMode, null), (Default, CropMode.Center, null));
        Interpolation filter = Take("interpolation", Name, (Given, hints.Interpolation, null), (Hf, hf?.Resample, null), (Timm, timmFilter, null), (Default, Interpolation.Bilinear, null));
        double rescale = hf?.RescaleFactor ?? EvalTransform.DefaultRescaleFactor;
        if (hf?.RescaleFactor is { } factor)
        {
            log.Add((Hf, hf.Name, $"rescale {D(factor)}"));
        }

        float[] mean = TakeNormalisation("mean", hints.Mean, hf?.Mean, vit.Mean, vit.MeanSource, EvalTransform.ImageNetMean);
        float[] std = TakeNormalisation("std", hints.Std, hf?.Std, vit.Std, vit.StdSource, EvalTransform.ImageNetStd);

        float[] TakeNormalisation(string name, float[]? given, float[]? fromHf, float[]? loaded, string? loadedSource, float[] fallback)
        {
            (int rank, float[] values, string source) = given is not null ? (Given, given, SourceName(Given))
                : fromHf is not null ? (Hf, fromHf, SourceName(Hf))
                : loaded is not null ? (Loaded, loaded, loadedSource ?? "the model")
                : (Default, fallback, SourceName(Default));
            log.Add((rank, source, $"{name} {string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}"));
            return values;
        }

        var transform = new EvalTransform(size, cropPct, mean, std, filter, mode, resizeSize, floorCropOffsets: hf is not null, rescaleFactor: rescale);
        IReadOnlyList<ConfigSource> sources =
        [
            .. log.GroupBy(l => l.Source).OrderBy(g => g.Min(l => l.Rank)).Select(g => new ConfigSource(g.Key, [.. g.Select(l => l.Value)])),
        ];
        return new Preprocessing(transform, sources, warnings);
    }

    private static string I(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string D(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A preprocessor_config.json that is not a JSON object: the reason alone.</summary>
    private sealed class ProcessorFileException(string message) : Exception(message);

    /// <summary>
    /// The parts of a Hugging Face preprocessor_config.json this reads (ViTImageProcessor's keys and
    /// the centre crop of DeiT's and others'), with transformers' defaults where a key is absent:
    /// do_resize true, resample 2 (bilinear), do_rescale true, rescale_factor 1/255, do_normalize
    /// true, do_center_crop false. image_mean and image_std have no default here: absent, the next
    /// source gives them.
    /// </summary>
    private sealed record HfProcessor(
        string Name, int OutputSize, int ResizeSize, bool ShortestEdge, bool CenterCrop, CropMode CropMode, Interpolation Resample,
        double? RescaleFactor, float[]? Mean, float[]? Std)
    {
        public static HfProcessor Read(string path, string name)
        {
            JsonElement root;
            try
            {
                byte[] bytes = SmallFile.TryRead(path, out string problem) ?? throw new ProcessorFileException(problem);
                using JsonDocument document = JsonDocument.Parse(bytes);
                root = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new ProcessorFileException($"not JSON: {e.Message.Split('\n')[0]}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ProcessorFileException($"cannot read it: {e.Message}");
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ProcessorFileException("not a JSON object");
            }

            WeightsFormatException Bad(string key, string why) => new($"{name}: {key} {why}");

            if (!(Bool(root, "do_resize", name) ?? true))
            {
                throw Bad("do_resize", "is false: GpuViT resizes every image to the model's size");
            }

            (int resize, bool shortest) = Size(root, "size", name) ?? throw Bad("size", "is missing (do_resize needs it)");
            bool crop = Bool(root, "do_center_crop", name) ?? false;
            int output = resize;
            if (crop)
            {
                (output, bool cropShortest) = Size(root, "crop_size", name) ?? throw Bad("crop_size", "is missing (do_center_crop needs it)");
                if (cropShortest)
                {
                    throw Bad("crop_size", "must be {height, width}");
                }

                if (output > resize)
                {
                    throw Bad("crop_size", $"{output} is larger than the resize {resize} (GpuViT does not pad)");
                }
            }
            else if (shortest)
            {
                throw Bad("size", "shortest_edge without do_center_crop gives images of any shape; the model takes squares");
            }

            Interpolation resample = Value(root, "resample") is { } r
                ? r.ValueKind == JsonValueKind.Number && r.TryGetInt32(out int code)
                    ? code switch
                    {
                        0 => Interpolation.Nearest,
                        2 => Interpolation.Bilinear,
                        3 => Interpolation.Bicubic,
                        _ => throw Bad("resample", $"{code} is not 0 (nearest), 2 (bilinear) or 3 (bicubic), the filters GpuViT has"),
                    }
                    : throw Bad("resample", $"is {r.GetRawText()}, not a PIL filter number")
                : Interpolation.Bilinear;

            double? rescale = (Bool(root, "do_rescale", name) ?? true) ? PositiveNumber(root, "rescale_factor", name) : 1.0;
            float[]? mean = null, std = null;
            if (Bool(root, "do_normalize", name) ?? true)
            {
                mean = Floats(root, "image_mean", name, isStd: false);
                std = Floats(root, "image_std", name, isStd: true);
            }
            else
            {
                (mean, std) = ([0f, 0f, 0f], [1f, 1f, 1f]);
            }

            return new HfProcessor(name, output, resize, shortest, crop, shortest ? CropMode.Center : CropMode.Squash, resample, rescale, mean, std);
        }

        private static JsonElement? Value(JsonElement parent, string key) =>
            parent.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;

        private static bool? Bool(JsonElement root, string key, string name) =>
            Value(root, key) is { } v
                ? v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new WeightsFormatException($"{name}: {key} is {v.GetRawText()}, not true or false")
                : null;

        private static double? PositiveNumber(JsonElement root, string key, string name) =>
            Value(root, key) is { } v
                ? v.ValueKind == JsonValueKind.Number && v.GetDouble() is > 0 and var d && double.IsFinite(d) ? d : throw new WeightsFormatException($"{name}: {key} is {v.GetRawText()}, not a positive number")
                : null;

        /// <summary>{height, width} (square) or {shortest_edge}; an int is transformers' old spelling of a square size.</summary>
        private static (int Size, bool ShortestEdge)? Size(JsonElement root, string key, string name)
        {
            if (Value(root, key) is not { } v)
            {
                return null;
            }

            int Side(JsonElement e, string part) =>
                e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int i) && i > 0 ? i : throw new WeightsFormatException($"{name}: {key}.{part} is {e.GetRawText()}, not a positive integer");

            if (v.ValueKind == JsonValueKind.Number)
            {
                return (Side(v, "(size)"), false);
            }

            if (v.ValueKind == JsonValueKind.Object)
            {
                if (Value(v, "shortest_edge") is { } edge)
                {
                    return (Side(edge, "shortest_edge"), true);
                }

                if (Value(v, "height") is { } h && Value(v, "width") is { } w)
                {
                    int height = Side(h, "height"), width = Side(w, "width");
                    return height == width ? (height, false) : throw new WeightsFormatException($"{name}: {key} {height}x{width} is not square; the model takes squares");
                }
            }

            throw new WeightsFormatException($"{name}: {key} is {v.GetRawText()}, not {{\"height\", \"width\"}} or {{\"shortest_edge\"}}");
        }

        private static float[]? Floats(JsonElement root, string key, string name, bool isStd)
        {
            if (Value(root, key) is not { } v)
            {
                return null;
            }

            if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3 || v.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number))
            {
                throw new WeightsFormatException($"{name}: {key} is {v.GetRawText()}, not three numbers");
            }

            float[] values = [.. v.EnumerateArray().Select(x => x.GetSingle())];
            return values.All(float.IsFinite) && (!isStd || values.All(x => x > 0))
                ? values
                : throw new WeightsFormatException($"{name}: {key} is {v.GetRawText()}, not {(isStd ? "three positive numbers" : "three finite numbers")}");
        }
    }
}
