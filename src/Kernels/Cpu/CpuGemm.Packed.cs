using GpuViT.Kernels.Library;

namespace GpuViT.Kernels.Cpu;

// GEMM with a weight packed once (PackedGemmWeight) instead of on every call: the panels are
// the ones the per-call Gemm packs for itself, so the micro-kernel does the same arithmetic in
// the same order, and Y is the same to the bit wherever the per-call Gemm takes the packed path
// (8 rows or more; fewer rows read W as is there, by dot products, and cannot here).
public static unsafe partial class CpuGemm
{
    /// <summary>
    /// Packs W [n, k] (row stride <paramref name="wRowStride"/>, 0 for dense) into the panels of
    /// the micro-kernel this machine runs, for <see cref="Gemm(int, ReadOnlySpan{float}, PackedGemmWeight, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Activation, int, int, int)"/>.
    /// The caller owns the result and disposes it.
    /// </summary>
    public static PackedGemmWeight PackWeight(int n, int k, ReadOnlySpan<float> w, int wRowStride = 0) =>
        PackWeight(Current, n, k, w, wRowStride);

    /// <summary>PackWeight for a given micro-kernel and blocking (tests run both).</summary>
    internal static PackedGemmWeight PackWeight(Tuning tuning, int n, int k, ReadOnlySpan<float> w, int wRowStride)
    {
        if (n < 0 || k < 0)
        {
            throw new ArgumentException($"n and k must not be negative (n = {n}, k = {k}).");
        }

        wRowStride = wRowStride == 0 ? k : wRowStride;
        if (wRowStride < k)
        {
            throw new ArgumentException($"wRowStride {wRowStride} is less than k = {k}.", nameof(wRowStride));
        }

        CheckLength(nameof(w), w.Length, n, k, wRowStride);
        var packed = new PackedGemmWeight(tuning, n, k);
        if (n == 0 || k == 0)
        {
            return packed;
        }

        fixed (float* pw = w)
        {
            var problem = new Problem { N = n, K = k, B = pw, LdB = wRowStride, BIsRowsOfK = true };
            float* panels = packed.Pointer;
            for (int panel = 0; panel < packed.Panels; panel++)
            {
                int j0 = panel * tuning.NR;
                PackB(problem, j0, Math.Min(tuning.NR, n - j0), tuning.NR, panels + (long)panel * tuning.NR * k);
            }
        }

        return packed;
    }

    /// <summary>
    /// Y = act(X·Wᵀ + bias) + R with W packed by <see cref="PackWeight(int, int, ReadOnlySpan{float}, int)"/>;
    /// otherwise as the pointer <see cref="Gemm(int, int, int, float*, int, float*, int, float*, float*, int, float*, int, Activation)"/>,
    /// with n and k those of <paramref name="w"/>.
    /// </summary>
    public static void Gemm(
        int m,
        float* x, int xRowStride,
        PackedGemmWeight w,
        float* bias,
        float* residual, int residualRowStride,
        float* y, int yRowStride,
        Activation activation = Activation.None)
    {
        ArgumentNullException.ThrowIfNull(w);
        int n = w.N, k = w.K;
        CheckShape(m, n, k, xRowStride, k, residual != null, residualRowStride, yRowStride, activation);
        float* panels = w.Pointer;
        if (m == 0 || n == 0)
        {
            return;
        }

        if (y == null || (k > 0 && x == null))
        {
            throw new ArgumentException("x and y must not be null when m, n and k are positive.");
        }

        var problem = new Problem
        {
            M = m, N = n, K = k,
            A = x, LdA = xRowStride,
            PackedB = panels,
            Epilogue = new Epilogue(1f, bias, residual, residualRowStride, y, yRowStride, activation),
        };
        Run(ref problem, w.Tuning, mayParallelize: true);

        // The panels are native memory the finalizer frees: w must outlive their last read.
        GC.KeepAlive(w);
    }

    /// <summary>
    /// The packed-weight Gemm on spans, checked as the span
    /// <see cref="Gemm(int, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Activation, int, int, int, int)"/>.
    /// </summary>
    public static void Gemm(
        int m, ReadOnlySpan<float> x, PackedGemmWeight w, Span<float> y,
        ReadOnlySpan<float> bias = default, ReadOnlySpan<float> residual = default,
        Activation activation = Activation.None,
        int xRowStride = 0, int yRowStride = 0, int residualRowStride = 0)
    {
        ArgumentNullException.ThrowIfNull(w);
        int n = w.N, k = w.K;
        xRowStride = xRowStride == 0 ? k : xRowStride;
        yRowStride = yRowStride == 0 ? n : yRowStride;
        residualRowStride = residualRowStride == 0 ? n : residualRowStride;
        CheckShape(m, n, k, xRowStride, k, !residual.IsEmpty, residualRowStride, yRowStride, activation);
        CheckSpans(m, n, k, x, xRowStride, y, yRowStride, bias, residual, residualRowStride);
        fixed (float* px = x, py = y, pb = bias, pr = residual)
        {
            Gemm(m, px, xRowStride, w, bias.IsEmpty ? null : pb, residual.IsEmpty ? null : pr, residualRowStride, py, yRowStride, activation);
        }
    }
}
