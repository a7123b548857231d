using GpuViT.Kernels.Runtime;
using static GpuViT.Host.Compare.CompareMeasurement;

namespace GpuViT.Host.Compare;

/// <summary>
/// The roofline model the comparison is read against: what a device allows at an arithmetic
/// intensity, each row's share of that and of the peak, the marks for a share above 100 %, and
/// roofline-bound times projected onto GPUs not present.
/// </summary>
public static class Roofline
{
    /// <summary>Published dense peaks (FP32 without tensor cores; TF32 and BF16 with them) and memory bandwidth, for projections only.</summary>
    public sealed record KnownGpu(string Key, string Name, double Fp32Gflops, double Tf32Gflops, double Bf16Gflops, double MemoryGbps);

    public static readonly KnownGpu[] KnownGpus =
    [
        new("h100", "NVIDIA H100 SXM", 67_000, 495_000, 989_000, 3_350),
        new("a100", "NVIDIA A100 SXM 80GB", 19_500, 156_000, 312_000, 2_039),
        new("rtx4090", "NVIDIA RTX 4090", 82_600, 82_600, 165_200, 1_008),
    ];

    /// <summary>The known GPU of that key, in any case; null for an unknown one.</summary>
    public static KnownGpu? FindGpu(string key) => KnownGpus.FirstOrDefault(g => g.Key == key.ToLowerInvariant());

    /// <summary>What the roofline allows at this intensity, in GFLOP/s; null without probed peaks.</summary>
    public static double? Attainable(DevicePeaks peaks, double intensity) =>
        peaks is { Fp32Gflops: { } flops, MemoryGbps: { } gbps } ? Math.Min(flops, intensity * gbps) : null;

    /// <summary>Achieved GFLOP/s over what the roofline allows at the row's intensity; null without probed peaks.</summary>
    public static double? RoofFraction(Row row, DevicePeaks peaks) => Attainable(peaks, row.Intensity) is { } a ? row.Gflops / a : null;

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

    /// <summary>Marks a row whose achieved GFLOP/s passes its roof: not a result to read as one.</summary>
    public const string AboveRoofMark = "!";

    public const string AboveRoofNote =
        AboveRoofMark + " above 100 % of its roof: caches held the weights (the roof assumes they stream from memory), or the probe read low on a busy machine.";

    /// <summary>Said after a share of peak above 100 %: the probed peak, not the model, is what is wrong.</summary>
    public const string AbovePeakNote = AboveRoofMark + " above the probed peak: the probe read low (another process shared the cores while it ran); rerun to measure it again.";

    /// <summary>A share of the roof or the peak: "!" after it above 100 %; "-" without peaks.</summary>
    public static string RoofText(double? fraction) =>
        fraction is not { } f ? "-" : FormattableString.Invariant($"{f:P0}") + (f > 1 ? AboveRoofMark : "");

    /// <summary>
    /// Roofline-bound seconds per image on a known GPU: compute or traffic, whichever is longer.
    /// With <paramref name="tensorCores"/>, the compute roof is the TF32 tensor-core peak, which
    /// GEMMs can use and matrix–vector work cannot profit from (it is bandwidth-bound either way).
    /// </summary>
    public static double ProjectedSecondsPerImage(Row row, KnownGpu gpu, bool tensorCores = false) =>
        Math.Max(row.FlopsPerImage / ((tensorCores ? gpu.Tf32Gflops : gpu.Fp32Gflops) * 1e9), row.BytesPerImage / (gpu.MemoryGbps * 1e9));
}
