namespace GpuViT.Models.Vit;

/// <summary>ViT definitions by timm's names, and small ones for tests.</summary>
public static class VitPresets
{
    /// <summary>ViT-Ti/16 at 224: 5.7 M parameters.</summary>
    public static VitConfig VitTinyPatch16_224 { get; } = new(224, 16, 3, 192, 12, 3, 768, 1000);

    /// <summary>ViT-S/16 at 224: 22 M parameters.</summary>
    public static VitConfig VitSmallPatch16_224 { get; } = new(224, 16, 3, 384, 12, 6, 1536, 1000);

    /// <summary>ViT-B/16 at 224: 86.6 M parameters.</summary>
    public static VitConfig VitBasePatch16_224 { get; } = new(224, 16, 3, 768, 12, 12, 3072, 1000);

    /// <summary>ViT-L/16 at 224: 304 M parameters.</summary>
    public static VitConfig VitLargePatch16_224 { get; } = new(224, 16, 3, 1024, 24, 16, 4096, 1000);

    /// <summary>A ViT small enough for the emulator: 16 patches of 8×8, two blocks of width 32.</summary>
    public static VitConfig VitTestTiny { get; } = new(32, 8, 3, 32, 2, 2, 64, 10);

    /// <summary>Like <see cref="VitTestTiny"/>, with mean pooling and no class token.</summary>
    public static VitConfig VitTestTinyMean { get; } = VitTestTiny with { Pooling = Kernels.Ops.PoolMode.Mean, ClassToken = false };

    /// <summary>Odd sizes everywhere (3 heads of 16, 7×7 patches, 4 layers) for tile edges.</summary>
    public static VitConfig VitTestSmall { get; } = new(28, 7, 3, 48, 4, 3, 96, 13);

    // timm's published plain ViTs (class token, eps 1e-6) at their other sizes and patches;
    // DeiT's non-distilled models are the same networks under another name.
    private static readonly (string Name, VitConfig Config)[] All =
    [
        ("vit_tiny_patch16_224", VitTinyPatch16_224),
        ("vit_small_patch16_224", VitSmallPatch16_224),
        ("vit_base_patch16_224", VitBasePatch16_224),
        ("vit_large_patch16_224", VitLargePatch16_224),
        ("vit_tiny_patch16_384", VitTinyPatch16_224 with { ImageSize = 384 }),
        ("vit_small_patch16_384", VitSmallPatch16_224 with { ImageSize = 384 }),
        ("vit_base_patch16_384", VitBasePatch16_224 with { ImageSize = 384 }),
        ("vit_large_patch16_384", VitLargePatch16_224 with { ImageSize = 384 }),
        ("vit_small_patch32_224", VitSmallPatch16_224 with { PatchSize = 32 }),
        ("vit_small_patch32_384", VitSmallPatch16_224 with { PatchSize = 32, ImageSize = 384 }),
        ("vit_base_patch32_224", VitBasePatch16_224 with { PatchSize = 32 }),
        ("vit_base_patch32_384", VitBasePatch16_224 with { PatchSize = 32, ImageSize = 384 }),
        ("vit_base_patch8_224", VitBasePatch16_224 with { PatchSize = 8 }),
        ("vit_large_patch32_224", VitLargePatch16_224 with { PatchSize = 32 }),
        ("vit_large_patch32_384", VitLargePatch16_224 with { PatchSize = 32, ImageSize = 384 }),
        ("vit_huge_patch14_224", new VitConfig(224, 14, 3, 1280, 32, 16, 5120, 1000)),
        ("deit_tiny_patch16_224", VitTinyPatch16_224),
        ("deit_small_patch16_224", VitSmallPatch16_224),
        ("deit_base_patch16_224", VitBasePatch16_224),
        ("deit_base_patch16_384", VitBasePatch16_224 with { ImageSize = 384 }),
        ("vit_test_tiny", VitTestTiny),
        ("vit_test_tiny_mean", VitTestTinyMean),
        ("vit_test_small", VitTestSmall),
    ];

    public static IReadOnlyList<string> Names { get; } = [.. All.Select(p => p.Name)];

    /// <summary>The preset with this name (case-insensitive; '-' reads as '_').</summary>
    public static VitConfig Get(string name) =>
        TryGet(name, out VitConfig? config)
            ? config
            : throw new VitConfigException($"unknown model '{name}'; known: {string.Join(", ", Names)}");

    /// <summary>
    /// The preset a timm architecture names, its pretrained tag dropped
    /// ("vit_small_patch16_224.augreg_in21k_ft_in1k" → vit_small_patch16_224), or null when it is none.
    /// </summary>
    public static (string Name, VitConfig Config)? FromArchitecture(string architecture)
    {
        string name = architecture.Split('.', 2)[0];
        return TryGet(name, out VitConfig? config) ? (name, config) : null;
    }

    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out VitConfig? config)
    {
        string key = name.Trim().Replace('-', '_');
        foreach ((string presetName, VitConfig preset) in All)
        {
            if (string.Equals(presetName, key, StringComparison.OrdinalIgnoreCase))
            {
                config = preset;
                return true;
            }
        }

        config = null;
        return false;
    }
}
