using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>
/// The ops as launches of generated kernels, for cuda, opencl and the emulator: the cores behind
/// <see cref="TransformerOps"/>'s checks. Each op family lives in its own file
/// (KernelTransformerOps.Gemm.cs, .Attention.cs, .Elementwise.cs).
/// </summary>
public sealed partial class KernelTransformerOps : TransformerOps
{
    private readonly Lazy<DeviceBuffer<float>> _empty;

    /// <summary>The unfused attention's scores and probabilities, [batch, heads, tokens, tokens] each (allocated on first use).</summary>
    private readonly ScratchBuffer _attentionScores;

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
        _empty = new Lazy<DeviceBuffer<float>>(() => device.Allocate<float>(1));
        _attentionScores = new ScratchBuffer(device);
    }

    /// <summary>The one GEMM kernel every call runs, when the caller named one; null: <see cref="GemmFor"/> chooses per call.</summary>
    public GemmVersion? NamedGemm { get; }

    /// <summary>The GEMM kernel a call of shape m × n × k runs: the named one, else the choice for the precision.</summary>
    public GemmVersion GemmFor(int m, int n, int k) => NamedGemm ?? (Precision == Precision.Fp32 ? Fp32GemmFor(m, n, k) : TensorCoreGemmFor(m, n, k));

    /// <summary>The fp32 (SIMT) GEMM for a shape.</summary>
    private static GemmVersion Fp32GemmFor(int m, int n, int k) => GemmVersion.RegisterBlocked;

    /// <summary>The tensor-core GEMM of this precision for a shape.</summary>
    /// <remarks>
    /// One version per precision (TensorCoreTf32, Bf16, Fp16); the block tile and split-K are chosen
    /// per call from the shape and the device's multiprocessors (<see cref="TensorCorePlan.For"/>).
    /// </remarks>
    private GemmVersion TensorCoreGemmFor(int m, int n, int k) => GemmVersions.DefaultFor(Precision);

    /// <summary>A one-element buffer passed where an optional buffer is absent (kernels never read it).</summary>
    private DeviceView<float> Empty => _empty.Value;

    private protected override void DisposeCore()
    {
        if (_empty.IsValueCreated)
        {
            _empty.Value.Dispose();
        }

        _attentionScores.Dispose();
        DisposeGemmScratch();
    }
}
