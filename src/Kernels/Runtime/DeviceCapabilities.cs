namespace GpuViT.Kernels.Runtime;

/// <summary>A tensor-core matrix multiply-accumulate shape, named as the <see cref="Mma"/> operation that runs it.</summary>
public enum TensorCoreShape
{
    /// <summary><see cref="Mma.M16N8K8Tf32"/>: TF32 inputs, fp32 accumulation.</summary>
    M16N8K8Tf32,

    /// <summary><see cref="Mma.M16N8K16Bf16"/>: BF16 inputs, fp32 accumulation.</summary>
    M16N8K16Bf16,

    /// <summary><see cref="Mma.M16N8K16F16"/>: FP16 inputs, fp32 accumulation.</summary>
    M16N8K16F16,
}

/// <summary>
/// What a device does in hardware, for ops that choose between kernels: its CUDA compute
/// capability, whether it runs 32-thread warps natively, which tensor-core shapes it has, and
/// whether it records work as graphs.
/// </summary>
/// <remarks>
/// The kernel language runs warp operations and <see cref="Mma"/> everywhere (in software on OpenCL
/// and the emulator, for testing); these say where they are fast. An op should choose an MMA kernel
/// for speed only where <see cref="HasMma"/> is true.
/// </remarks>
/// <param name="ComputeCapability">CUDA's major·10 + minor (80 for 8.0, 90 for 9.0); null on other backends.</param>
public sealed record DeviceCapabilities(int? ComputeCapability)
{
    /// <summary>No compute capability, no native warps, no tensor cores: OpenCL, cpu and the emulator.</summary>
    public static DeviceCapabilities None { get; } = new((int?)null);

    /// <summary>The compute capability at which CUDA GPUs have the three shapes of <see cref="TensorCoreShape"/> (Ampere).</summary>
    public const int MmaComputeCapability = 80;

    /// <summary>A CUDA GPU of compute capability major.minor; every CUDA device has graphs.</summary>
    public static DeviceCapabilities Cuda(int major, int minor) => new(major * 10 + minor) { HasGraphs = true };

    /// <summary>
    /// Whether <see cref="Device.Capture"/> records a stream's work as a graph that one launch
    /// replays (CUDA graphs). Without graphs, Capture gives a <see cref="DeviceGraph"/> that queues
    /// the work again at each launch: one code path either way, but no launches saved.
    /// </summary>
    public bool HasGraphs { get; init; }

    /// <summary>Whether groups run as 32-thread warps in hardware (CUDA); elsewhere warp operations go through group-local memory.</summary>
    public bool HasNativeWarps => ComputeCapability is not null;

    /// <summary>The MMA shapes the device runs on tensor cores: all three from sm_80 on, none elsewhere.</summary>
    public IReadOnlyList<TensorCoreShape> TensorCoreShapes => ComputeCapability >= MmaComputeCapability ? Enum.GetValues<TensorCoreShape>() : [];

    /// <summary>Whether the device runs <paramref name="shape"/> on tensor cores.</summary>
    public bool HasMma(TensorCoreShape shape) => ComputeCapability >= MmaComputeCapability && Enum.IsDefined(shape);

    /// <summary>The input precisions of <see cref="TensorCoreShapes"/>: "tf32", "bf16", "f16"; none off tensor cores.</summary>
    public IReadOnlyList<string> TensorCorePrecisions => [.. TensorCoreShapes.Select(s => s switch
    {
        TensorCoreShape.M16N8K8Tf32 => "tf32",
        TensorCoreShape.M16N8K16Bf16 => "bf16",
        _ => "f16",
    })];

    /// <summary>"sm_80: tf32 bf16 f16", "sm_75: none", or "-" off CUDA; for `gpuvit devices`.</summary>
    public string TensorCoreSummary => ComputeCapability is not { } capability
        ? "-"
        : $"sm_{capability}: " + (TensorCoreShapes.Count == 0 ? "none" : string.Join(" ", TensorCorePrecisions));
}
