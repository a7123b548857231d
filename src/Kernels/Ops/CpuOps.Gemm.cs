using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

public sealed unsafe partial class CpuOps
{
    /// <summary>
    /// Y = act(X·Wᵀ + bias) + R by <see cref="CpuGemm"/>: packed register-blocked micro-kernels on
    /// all cores, the epilogue fused. Dense views; R may be Y itself (an in-place residual add).
    /// Runs before it returns, whatever the stream.
    /// </summary>
    public void Gemm(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation = Activation.None, DeviceStream? stream = null)
    {
        Require(w, (long)n * k, nameof(w));
        RequireGemmViews(x, bias, residual, y, m, n, k);
        CpuGemm.Gemm(m, n, k, Pointer(x), k, Pointer(w), k, Pointer(bias), Pointer(residual), n, Pointer(y), n, activation);
    }

    /// <summary>W packed once into <see cref="CpuGemm"/>'s micro-kernel panels, native memory the result owns.</summary>
    public PackedWeight PackWeight(ReadOnlySpan<float> w, int n, int k)
    {
        PackedWeight.CheckHostWeight(w, n, k);
        return new CpuPackedWeight(Device, CpuGemm.PackWeight(n, k, w));
    }

    /// <summary>The Gemm above with W packed by <see cref="PackWeight"/>: no packing of W in the call.</summary>
    public void Gemm(
        DeviceView<float> x, PackedWeight w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, Activation activation = Activation.None, DeviceStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedGemmWeight panels = w.As<CpuPackedWeight>(Device, nameof(w)).Panels;
        int n = w.N, k = w.K;
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        RequireGemmViews(x, bias, residual, y, m, n, k);
        CpuGemm.Gemm(m, Pointer(x), k, panels, Pointer(bias), Pointer(residual), n, Pointer(y), n, activation);
    }

    /// <summary>X, bias, residual and Y each cover the GEMM's m × k, n, m × n and m × n values.</summary>
    private static void RequireGemmViews(DeviceView<float> x, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y, int m, int n, int k)
    {
        Require(x, (long)m * k, nameof(x));
        Require(y, (long)m * n, nameof(y));
        if (bias is { } b)
        {
            Require(b, n, nameof(bias));
        }

        if (residual is { } r)
        {
            Require(r, (long)m * n, nameof(residual));
        }
    }

    private sealed class CpuPackedWeight(Device device, PackedGemmWeight panels) : PackedWeight(device, panels.N, panels.K)
    {
        public PackedGemmWeight Panels => panels;

        public override long Bytes => panels.Bytes;

        protected override void DisposeCore() => panels.Dispose();
    }
}
