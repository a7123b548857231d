using System.CommandLine;
using System.Globalization;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// `run`'s preprocessing flags, `--img-size`, `--crop-pct`, `--crop-mode`, `--interpolation`,
/// `--mean`, `--std`: each wins over a preprocessor_config.json or config.json beside the weights
/// (<see cref="PreprocessResolution"/>), each checked here (one line, exit 2).
/// </summary>
public sealed class PreprocessOptions
{
    private readonly Option<int?> _imageSize = new("--img-size") { Description = "The model's input size, to check it (default: the model's; position embeddings are never resampled)" };
    private readonly Option<double?> _cropPct = new("--crop-pct") { Description = "Resize to floor(size / crop-pct) before the centre crop, in (0, 1] (default: the config's, else 0.875)" };
    private readonly Option<string?> _cropMode = new("--crop-mode") { Description = "center (shorter side, crop), squash (both sides, crop) or border (longer side, pad with the mean) (default: the config's, else center)" };
    private readonly Option<string?> _interpolation = new("--interpolation") { Description = "bilinear, bicubic or nearest, as PIL resizes (default: the config's, else bilinear)" };
    private readonly Option<string[]?> _mean = Normalisation("--mean", "Per-channel mean, R G B or R,G,B (default: the config's, else ImageNet's)");
    private readonly Option<string[]?> _std = Normalisation("--std", "Per-channel std, R G B or R,G,B, each above zero (default: the config's, else ImageNet's)");

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _imageSize, _cropPct, _cropMode, _interpolation, _mean, _std })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>
    /// The transform for <paramref name="vit"/> loaded from <paramref name="weightsPath"/> (null for
    /// a preset): warnings always on <paramref name="error"/>, and with <paramref name="verbose"/> where
    /// each setting came from.
    /// </summary>
    public EvalTransform Resolve(ParseResult parsed, LoadedVit vit, string? weightsPath, TextWriter error, bool verbose)
    {
        Preprocessing preprocessing = PreprocessResolution.Resolve(vit, weightsPath, Hints(parsed));
        foreach (string warning in preprocessing.Warnings)
        {
            error.WriteLine($"gpuvit: warning: {warning}");
        }

        if (verbose)
        {
            foreach (ConfigSource source in preprocessing.Sources)
            {
                error.WriteLine($"gpuvit: preprocessing from {source.Name}: {string.Join(", ", source.Values)}");
            }
        }

        return preprocessing.Transform;
    }

    /// <summary>The flags, checked.</summary>
    public PreprocessHints Hints(ParseResult parsed)
    {
        int? size = parsed.GetValue(_imageSize);
        if (size < 1)
        {
            throw new UsageException($"--img-size must be at least 1, not {size}");
        }

        double? cropPct = parsed.GetValue(_cropPct);
        if (cropPct is { } pct && !(pct > 0 && pct <= 1))
        {
            throw new UsageException($"--crop-pct must be in (0, 1], not {pct.ToString(CultureInfo.InvariantCulture)}");
        }

        CropMode? mode = parsed.GetValue(_cropMode) is { } modeText
            ? PreprocessResolution.ParseCropMode(modeText) ?? throw new UsageException($"--crop-mode must be center, squash or border, not '{modeText}'")
            : null;
        Interpolation? filter = parsed.GetValue(_interpolation) is { } filterText
            ? PreprocessResolution.ParseInterpolation(filterText) ?? throw new UsageException($"--interpolation must be bilinear, bicubic or nearest, not '{filterText}'")
            : null;
        return new PreprocessHints(size, cropPct, mode, filter, Values(parsed, _mean, isStd: false), Values(parsed, _std, isStd: true));
    }

    private static Option<string[]?> Normalisation(string name, string description) => new(name)
    {
        Description = description,
        // One token "R,G,B" or three; never more, so a positional input after it stays one.
        Arity = new ArgumentArity(1, 3),
        AllowMultipleArgumentsPerToken = true,
    };

    private static float[]? Values(ParseResult parsed, Option<string[]?> option, bool isStd)
    {
        if (parsed.GetValue(option) is not { Length: > 0 } tokens)
        {
            return null;
        }

        string text = string.Join(" ", tokens);
        string[] parts = tokens.SelectMany(t => t.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToArray();
        var values = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !float.IsFinite(values[i]))
            {
                throw new UsageException($"{option.Name}: '{parts[i]}' in '{text}' is not a finite number");
            }
        }

        if (values.Length != 3)
        {
            throw new UsageException($"{option.Name} takes 3 values (R G B or R,G,B), not {values.Length} ('{text}')");
        }

        if (isStd && values.Any(v => v <= 0))
        {
            throw new UsageException($"{option.Name} values must be above zero (they divide), not '{text}'");
        }

        return values;
    }
}
