using GpuViT.Kernels.Ops;
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

    /// <summary>A tensor-core compute roof: the precision it is for, its dense peak, and where the number comes from.</summary>
    public sealed record TensorCoreRoof(Precision Precision, double Gflops, string Source);

    /// <summary>
    /// Published dense tensor-core peaks (GFLOP/s, no sparsity) by compute capability and precision:
    /// the probe measures fp32 only, so these are the SXM parts' datasheet numbers (H100/H200 for sm_90, A100 for sm_80).
    /// </summary>
    public static readonly IReadOnlyDictionary<(int ComputeCapability, Precision Precision), double> DatasheetTensorCoreGflops =
        new Dictionary<(int, Precision), double>
        {
            [(90, Precision.Tf32)] = 495_000,
            [(90, Precision.Bf16)] = 989_000,
            [(90, Precision.Fp16)] = 989_000,
            [(80, Precision.Tf32)] = 156_000,
            [(80, Precision.Bf16)] = 312_000,
            [(80, Precision.Fp16)] = 312_000,
        };

    /// <summary>
    /// The tensor-core roof a model at <paramref name="precision"/> is read against on a device: null
    /// at fp32, without tensor cores for it, or where no datasheet peak is known for its compute capability.
    /// </summary>
    public static TensorCoreRoof? TensorCoreRoofFor(DeviceCapabilities capabilities, Precision precision) =>
        precision != Precision.Fp32 && capabilities.ComputeCapability is { } cc && capabilities.HasMma(PrecisionOption.Shape(precision))
            && DatasheetTensorCoreGflops.TryGetValue((cc, precision), out double gflops)
            ? new TensorCoreRoof(precision, gflops, $"datasheet, sm_{cc}")
            : null;

    /// <summary>The compute peak a row is read against: the tensor-core roof for a row in its precision, else the probed fp32 peak.</summary>
    public static double? ComputePeak(Row row, DevicePeaks peaks, TensorCoreRoof? tensorCores) =>
        tensorCores is not null && row.Precision == tensorCores.Precision ? tensorCores.Gflops : peaks.Fp32Gflops;

    /// <summary>The known GPU of that key, in any case; null for an unknown one.</summary>
    public static KnownGpu? FindGpu(string key) => KnownGpus.FirstOrDefault(g => g.Key == key.ToLowerInvariant());

    /// <summary>What the roofline allows at this intensity, in GFLOP/s; null without probed peaks.</summary>
    public static double? Attainable(DevicePeaks peaks, double intensity) => Attainable(peaks.Fp32Gflops, peaks.MemoryGbps, intensity);

    /// <summary>What the roofline allows for a row: its compute peak (<see cref="ComputePeak"/>) or its bytes, whichever binds.</summary>
    public static double? Attainable(Row row, DevicePeaks peaks, TensorCoreRoof? tensorCores) =>
        Attainable(ComputePeak(row, peaks, tensorCores), peaks.MemoryGbps, row.Intensity);

    private static double? Attainable(double? computeGflops, double? memoryGbps, double intensity) =>
        computeGflops is { } flops && memoryGbps is { } gbps ? Math.Min(flops, intensity * gbps) : null;

    /// <summary>Achieved GFLOP/s over what the roofline allows at the row's intensity; null without probed peaks.</summary>
    public static double? RoofFraction(Row row, DevicePeaks peaks, TensorCoreRoof? tensorCores = null) =>
        Attainable(row, peaks, tensorCores) is { } a ? row.Gflops / a : null;

    /// <summary>
    /// The seeds' claim, one number per model: at the largest size it was measured at, its best
    /// batch's device-resident GFLOP/s as a fraction of the device's probed peak FLOP/s. Empty without a probed peak.
    /// </summary>
    public static IReadOnlyList<(Row Best, double PeakFraction)> PeakUse(IReadOnlyList<Row> rows, DevicePeaks peaks, TensorCoreRoof? tensorCores = null) =>
        peaks.Fp32Gflops is null ? []
            : [.. rows.GroupBy(r => r.Model).Select(model =>
            {
                int size = model.Max(r => r.ImageSize);
                Row best = model.Where(r => r.ImageSize == size).MaxBy(r => r.Gflops)!;
                return (best, best.Gflops / ComputePeak(best, peaks, tensorCores)!.Value);
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
