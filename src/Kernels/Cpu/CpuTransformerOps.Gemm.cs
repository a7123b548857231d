using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

public sealed unsafe partial class CpuTransformerOps
{
    /// <summary>
    /// Y = act(X·Wᵀ + bias) + R by <see cref="CpuGemm"/>: packed register-blocked micro-kernels on
    /// all cores, the epilogue fused. Dense views; R may be Y itself (an in-place residual add).
    /// Runs before it returns, whatever the stream.
    /// </summary>
    private protected override void GemmCore(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation, DeviceStream? stream) =>
        CpuGemm.Gemm(m, n, k, Pointer(x), k, Pointer(w), k, Pointer(bias), Pointer(residual), n, Pointer(y), n, activation);

    /// <summary>W packed once into <see cref="CpuGemm"/>'s micro-kernel panels, native memory the result owns.</summary>
    private protected override PackedWeight PackWeightCore(ReadOnlySpan<float> w, int n, int k) =>
        new CpuPackedWeight(Device, CpuGemm.PackWeight(n, k, w));

    /// <summary>The Gemm above with W packed by <see cref="PackWeightCore"/>: no packing of W in the call.</summary>
    private protected override void GemmCore(
        DeviceView<float> x, PackedWeight w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, Activation activation, DeviceStream? stream)
    {
        PackedGemmWeight panels = w.As<CpuPackedWeight>(nameof(w)).Panels;
        CpuGemm.Gemm(m, Pointer(x), w.K, panels, Pointer(bias), Pointer(residual), w.N, Pointer(y), w.N, activation);
    }

    private sealed class CpuPackedWeight(Device device, PackedGemmWeight panels) : PackedWeight(device, panels.N, panels.K)
    {
        public PackedGemmWeight Panels => panels;

        public override long Bytes => panels.Bytes;

        protected override void DisposeCore() => panels.Dispose();
    }
}
