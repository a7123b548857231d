using GpuViT.Models.Rnn;
using GpuViT.Models.Vit;

namespace GpuViT.Host.Compare;

/// <summary>
/// The models `gpuvit compare` sets side by side at an image size: the ViT, and the unshared and
/// shared dense RNNs, as configured or run at the ViT's compute.
/// </summary>
public static class ComparedModels
{
    public const string VitName = "vit";

    /// <summary>The preset whose shape the ViT has when no other is named.</summary>
    public const string DefaultVitPreset = "vit_small_patch16_224";

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

    /// <summary>
    /// The ViT compared at an image size: <paramref name="preset"/> (ViT-S: width 384, depth 12,
    /// 6 heads, MLP 1536, 1000 classes, when null) with an 8×8 patch grid, patch size = image
    /// size / 8 (ViT-S/16 at 128, /8 at 64, /4 at 32), so its tokens (65) stay the same and only
    /// the patch embedding grows with the image.
    /// </summary>
    /// <exception cref="VitConfigException">An unknown preset, or a size it cannot take.</exception>
    public static VitConfig VitFor(int imageSize, string? preset = null) =>
        (VitPresets.Get(preset ?? DefaultVitPreset) with { ImageSize = imageSize, PatchSize = Math.Max(1, imageSize / 8) }).Validate();

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
}
