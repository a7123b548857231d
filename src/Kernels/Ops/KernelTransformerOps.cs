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

    public KernelTransformerOps(Device device, GemmVersion gemm = GemmVersion.RegisterBlocked)
        : base(device)
    {
        if (device.Kind == DeviceKind.Cpu)
        {
            throw new ArgumentException("the cpu device runs managed ops (CpuTransformerOps), not kernels", nameof(device));
        }

        GemmVersion = gemm;
        _empty = new Lazy<DeviceBuffer<float>>(() => device.Allocate<float>(1));
        _attentionScores = new ScratchBuffer(device);
    }

    /// <summary>The GEMM schedule Gemm launches; all three are kept for the comparison.</summary>
    public GemmVersion GemmVersion { get; }

    /// <summary>A one-element buffer passed where an optional buffer is absent (kernels never read it).</summary>
    private DeviceView<float> Empty => _empty.Value;

    private protected override void DisposeCore()
    {
        if (_empty.IsValueCreated)
        {
            _empty.Value.Dispose();
        }

        _attentionScores.Dispose();
    }
}
