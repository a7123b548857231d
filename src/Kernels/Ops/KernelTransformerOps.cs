using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;
using GemmKernels = GpuViT.Kernels.Library.Gemm;
using TensorCoreKernels = GpuViT.Kernels.Library.TensorCoreGemm;

namespace GpuViT.Kernels.Ops;

/// <summary>
/// The ops as launches of generated kernels, for cuda, opencl and the emulator: the cores behind
/// <see cref="TransformerOps"/>'s checks. Each op family lives in its own file
/// (KernelTransformerOps.Gemm.cs, .Attention.cs, .Elementwise.cs).
/// </summary>
public sealed partial class KernelTransformerOps : TransformerOps
{
    private readonly DeviceBuffer<float> _empty;

    /// <summary>The unfused attention's scores and probabilities, [batch, heads, tokens, tokens] each (allocated on first use).</summary>
    private readonly ScratchBuffer<float> _attentionScores;

    /// <param name="gemm">One GEMM kernel for every call (for comparing kernels); it must compute in <paramref name="precision"/>. Null: the ops' choice for the precision.</param>
    public KernelTransformerOps(Device device, GemmVersion? gemm = null, Precision precision = Precision.Fp32)
        : base(device, precision)
    {
        if (device.Kind == DeviceKind.Cpu)
        {
            throw new ArgumentException("the cpu device runs managed ops (CpuTransformerOps), not kernels", nameof(device));
        }

        if (gemm is { } named && named.Precision() != precision)
        {
            throw new ArgumentException($"GEMM version {named} computes in {named.Precision().Name()}, not {precision.Name()}", nameof(gemm));
        }

        NamedGemm = gemm;
        // Made now, not on first use: a first use inside a CUDA graph capture could not allocate.
        _empty = device.Allocate<float>(1);
        _attentionScores = new ScratchBuffer<float>(device);
    }

    /// <summary>The one GEMM kernel every call runs, when the caller named one; null: <see cref="GemmFor"/> chooses per call.</summary>
    public GemmVersion? NamedGemm { get; }

    /// <summary>The GEMM kernel a call of shape m × n × k runs: the named one, else the choice for the precision.</summary>
    public GemmVersion GemmFor(int m, int n, int k) => NamedGemm ?? (Precision == Precision.Fp32 ? Fp32GemmFor(m, n, k) : TensorCoreGemmFor(m, n, k));

    /// <summary>The fp32 (SIMT) GEMM for a shape on this device: see <see cref="Fp32GemmForComputeUnits"/>.</summary>
    private GemmVersion Fp32GemmFor(int m, int n, int k) =>
        Device.Info.IsGpu ? Fp32GemmForComputeUnits(m, n, Device.Info.ComputeUnits) : GemmVersion.RegisterBlocked;

    /// <summary>
    /// On a GPU: the 8 × 8 micro-tile kernel (128 × 128 blocks) where its groups fill at least one
    /// wave, one group per compute unit; else the 4 × 4 one (64 × 64 blocks), which launches 4× as
    /// many groups: at batch 1 (m = 197) a ViT-S layer has 2·3 to 2·12 blocks of 128, far fewer
    /// than an H200's 132 SMs, and idle SMs would cost more than the cheaper shared-memory traffic
    /// saves. A projection from the Nsight Compute profile of the 4 × 4 kernel (bound by
    /// shared-memory loads); the threshold is to be measured on a GPU. k does not enter: both
    /// kernels loop over it. Off GPUs the 4 × 4 kernel always: on PoCL (CPU) the 8 × 8 one measured
    /// 15-25× slower at ViT-S shapes (docs/ops.md).
    /// </summary>
    internal static GemmVersion Fp32GemmForComputeUnits(int m, int n, int computeUnits)
    {
        long wideGroups = (long)LaunchGrid.Groups(m, GemmWide.BlockTile) * LaunchGrid.Groups(n, GemmWide.BlockTile);
        return wideGroups >= computeUnits ? GemmVersion.RegisterBlocked8x8 : GemmVersion.RegisterBlocked;
    }

    /// <summary>
    /// Into how many parts the fp32 register-blocked GEMM (64 × 64 blocks) splits k for a shape on
    /// this device: when the ops choose it on a GPU, <see cref="Fp32SplitForComputeUnits"/>; a named
    /// version (<see cref="NamedGemm"/>, for comparing kernels) and other devices (PoCL, the
    /// emulator) no split, unless a test forces one (<see cref="ForcedFp32Split"/>). Other versions never split.
    /// </summary>
    public SplitKPlan Fp32SplitFor(int m, int n, int k) =>
        ForcedFp32Split ?? (NamedGemm is null && Device.Info.IsGpu
            ? Fp32SplitForComputeUnits(m, n, k, Device.Info.ComputeUnits)
            : SplitKPlan.None(SplitKPlan.Slices(k, GemmKernels.BlockK)));

    /// <summary>For tests: the split every fp32 register-blocked call runs instead of the shape's.</summary>
    internal SplitKPlan? ForcedFp32Split { get; set; }

    /// <summary>
    /// The split of k for the register-blocked GEMM's 64 × 64 groups on <paramref name="computeUnits"/>
    /// multiprocessors (<see cref="SplitKPlan.For"/> over its 16-deep k-slices): none while the
    /// groups fill at least half the device; else enough parts of at least 4 slices to fill it.
    /// ViT-S at batch 1 (m = 197) on 132 SMs: proj (n 384, k 384) 24 groups, 6 parts of 4 slices;
    /// fc2 (k 1536) 6 parts of 16; qkv (n 1152, 72 groups) and fc1 (96) no split. That a split
    /// pays for its partial sums' traffic is a projection, to be measured on a GPU.
    /// </summary>
    internal static SplitKPlan Fp32SplitForComputeUnits(int m, int n, int k, int computeUnits)
    {
        long groups = (long)LaunchGrid.Groups(m, GemmKernels.BlockTile) * LaunchGrid.Groups(n, GemmKernels.BlockTile);
        return SplitKPlan.For(groups, SplitKPlan.Slices(k, GemmKernels.BlockK), computeUnits);
    }

    /// <summary>What a GEMM call of shape m × n × k on views at offset 0 runs: its version, and into how many parts k is split (1: none).</summary>
    public (GemmVersion Version, int Splits) GemmPlanFor(int m, int n, int k)
    {
        GemmVersion version = GemmFor(m, n, k);
        return version switch
        {
            GemmVersion.RegisterBlocked => (version, Fp32SplitFor(m, n, k).Splits),
            // Views at offset 0, as the bench's fresh buffers are.
            _ when version.Precision() != Precision.Fp32 && version is not (GemmVersion.MmaTf32 or GemmVersion.MmaBf16) =>
                (version, TensorCorePlanFor(version, UsesCpAsync(version, k, 0, 0), m, n, k).Splits),
            _ => (version, 1),
        };
    }

    /// <summary>The tensor-core GEMM of this precision for a shape.</summary>
    /// <remarks>
    /// One version per precision (TensorCoreTf32, Bf16, Fp16); the pipeline (cp.async on aligned calls),
    /// the block tile and split-K are chosen per call from the shape, the views and the device's
    /// multiprocessors (<see cref="TensorCorePlan.For"/>).
    /// </remarks>
    private GemmVersion TensorCoreGemmFor(int m, int n, int k) => GemmVersions.DefaultFor(Precision);

    /// <summary>A one-element buffer passed where an optional buffer is absent (kernels never read it).</summary>
    private DeviceView<float> Empty => _empty;

    public override int ScratchReplacements => _attentionScores.Replacements + GemmScratchReplacements();

    private protected override void DisposeCore()
    {
        _empty.Dispose();
        _attentionScores.Dispose();
        DisposeGemmScratch();
    }
}
