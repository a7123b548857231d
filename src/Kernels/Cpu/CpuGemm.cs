using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using GpuViT.Kernels.Library;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// The cpu backend's GEMM: Y[m, n] = act(X[m, k]·W[n, k]ᵀ + bias[n]) + R[m, n], W stored out × in as
/// PyTorch stores a Linear weight. Every matrix has a row stride (elements between rows), so a
/// view into a wider matrix (one head of a fused qkv) is an operand as is.
/// <para>
/// <see cref="Gemm(int, int, int, float*, int, float*, int, float*, float*, int, float*, int, Activation)"/>
/// packs W into panels of NR columns and X into panels of MR rows, and runs a register-blocked
/// FMA micro-kernel (12×32 with Vector512 where the JIT accelerates it, else 6×16 with Vector256)
/// over cache blocks, on all cores; bias, activation and residual are applied to each tile while
/// it is in L1. Few rows (matrix–vector) skip packing: one dot product per output, straight from W.
/// A weight applied in many calls can be packed once instead (<see cref="PackWeight(int, int, ReadOnlySpan{float}, int)"/>,
/// CpuGemm.Packed.cs).
/// <see cref="GemmNaive(int, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Activation, int, int, int, int)"/> is the same op as one dot product per output, kept for comparison.
/// </para>
/// <para>
/// Safe to call from several threads at once. Each thread keeps its packing buffers between calls
/// (the caller's for packed W, n·k floats; each worker's for a block of packed X), so a model's
/// layers reuse them instead of allocating per call.
/// </para>
/// </summary>
public static unsafe partial class CpuGemm
{
    /// <summary>
    /// Y = act(X·Wᵀ + bias) + R on raw pointers. <paramref name="bias"/> (n values) and
    /// <paramref name="residual"/> may be null. <paramref name="residual"/> may be
    /// <paramref name="y"/> itself with the same row stride (an in-place residual add); Y must not
    /// otherwise overlap X, W, bias or R.
    /// </summary>
    /// <param name="m">Rows of X and Y (tokens).</param>
    /// <param name="n">Rows of W, columns of Y (output features).</param>
    /// <param name="k">Columns of X and W (input features).</param>
    /// <param name="x">X, m × k, element (i, p) at x[i·xRowStride + p].</param>
    /// <param name="xRowStride">Elements between rows of X, at least k.</param>
    /// <param name="w">W, n × k, element (j, p) at w[j·wRowStride + p].</param>
    /// <param name="wRowStride">Elements between rows of W, at least k.</param>
    /// <param name="bias">n values added to every row, or null.</param>
    /// <param name="residual">R, m × n, added after the activation, or null.</param>
    /// <param name="residualRowStride">Elements between rows of R, at least n when R is given.</param>
    /// <param name="y">Y, m × n, written.</param>
    /// <param name="yRowStride">Elements between rows of Y, at least n.</param>
    /// <param name="activation">Applied to X·Wᵀ + bias, before the residual.</param>
    public static void Gemm(
        int m, int n, int k,
        float* x, int xRowStride,
        float* w, int wRowStride,
        float* bias,
        float* residual, int residualRowStride,
        float* y, int yRowStride,
        Activation activation = Activation.None) =>
        Gemm(Current, m, n, k, x, xRowStride, w, wRowStride, bias, residual, residualRowStride, y, yRowStride, activation);

    /// <summary>The pointer Gemm with a given micro-kernel and blocking (tests run both).</summary>
    internal static void Gemm(
        Tuning tuning,
        int m, int n, int k,
        float* x, int xRowStride,
        float* w, int wRowStride,
        float* bias,
        float* residual, int residualRowStride,
        float* y, int yRowStride,
        Activation activation)
    {
        CheckShape(m, n, k, xRowStride, wRowStride, residual != null, residualRowStride, yRowStride, activation);
        if (m == 0 || n == 0)
        {
            return;
        }

        if (y == null || (k > 0 && (x == null || w == null)))
        {
            throw new ArgumentException("x, w and y must not be null when m, n and k are positive.");
        }

        var problem = new Problem
        {
            M = m, N = n, K = k,
            A = x, LdA = xRowStride,
            B = w, LdB = wRowStride, BIsRowsOfK = true,
            Epilogue = new Epilogue(1f, bias, residual, residualRowStride, y, yRowStride, activation),
        };
        Run(ref problem, tuning, mayParallelize: true);
    }

    /// <summary>
    /// Y = act(X·Wᵀ + bias) + R on spans, checked: every length must cover its matrix with its row
    /// stride ((rows − 1)·stride + columns), a stride of 0 means dense (k for X and W, n for Y and
    /// R), an empty bias or residual means none. The residual may be Y itself (same start and
    /// stride); any other overlap of Y with an input is an error.
    /// </summary>
    public static void Gemm(
        int m, int n, int k,
        ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y,
        ReadOnlySpan<float> bias = default, ReadOnlySpan<float> residual = default,
        Activation activation = Activation.None,
        int xRowStride = 0, int wRowStride = 0, int yRowStride = 0, int residualRowStride = 0) =>
        Gemm(Current, m, n, k, x, w, y, bias, residual, activation, xRowStride, wRowStride, yRowStride, residualRowStride);

    /// <summary>The span Gemm with a given micro-kernel and blocking (tests run both); null runs <see cref="GemmNaive(int, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Activation, int, int, int, int)"/>.</summary>
    internal static void Gemm(
        Tuning? tuning,
        int m, int n, int k,
        ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y,
        ReadOnlySpan<float> bias, ReadOnlySpan<float> residual,
        Activation activation,
        int xRowStride, int wRowStride, int yRowStride, int residualRowStride)
    {
        xRowStride = xRowStride == 0 ? k : xRowStride;
        wRowStride = wRowStride == 0 ? k : wRowStride;
        yRowStride = yRowStride == 0 ? n : yRowStride;
        residualRowStride = residualRowStride == 0 ? n : residualRowStride;
        CheckShape(m, n, k, xRowStride, wRowStride, !residual.IsEmpty, residualRowStride, yRowStride, activation);
        CheckSpans(m, n, k, x, xRowStride, y, yRowStride, bias, residual, residualRowStride);
        CheckLength(nameof(w), w.Length, n, k, wRowStride);
        if (((ReadOnlySpan<float>)y).Overlaps(w))
        {
            throw new ArgumentException("y overlaps x, w or bias; the output must be separate memory.", nameof(y));
        }

        bool hasResidual = !residual.IsEmpty;
        fixed (float* px = x, pw = w, py = y, pb = bias, pr = residual)
        {
            float* pBias = bias.IsEmpty ? null : pb;
            float* pResidual = hasResidual ? pr : null;
            if (tuning is null)
            {
                GemmNaive(m, n, k, px, xRowStride, pw, wRowStride, pBias, pResidual, residualRowStride, py, yRowStride, activation);
            }
            else
            {
                Gemm(tuning, m, n, k, px, xRowStride, pw, wRowStride, pBias, pResidual, residualRowStride, py, yRowStride, activation);
            }
        }
    }

    /// <summary>
    /// The same op as <see cref="Gemm(int, int, int, float*, int, float*, int, float*, float*, int, float*, int, Activation)"/>,
    /// scheduled naively: one SIMD dot product per output, rows split over the cores, no packing,
    /// no register blocking, so every output streams a row of W again. Kept for comparison.
    /// </summary>
    public static void GemmNaive(
        int m, int n, int k,
        ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y,
        ReadOnlySpan<float> bias = default, ReadOnlySpan<float> residual = default,
        Activation activation = Activation.None,
        int xRowStride = 0, int wRowStride = 0, int yRowStride = 0, int residualRowStride = 0) =>
        Gemm(null, m, n, k, x, w, y, bias, residual, activation, xRowStride, wRowStride, yRowStride, residualRowStride);

    /// <summary><see cref="GemmNaive(int, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Activation, int, int, int, int)"/> on raw pointers, as the pointer Gemm.</summary>
    public static void GemmNaive(
        int m, int n, int k,
        float* x, int xRowStride,
        float* w, int wRowStride,
        float* bias,
        float* residual, int residualRowStride,
        float* y, int yRowStride,
        Activation activation = Activation.None)
    {
        CheckShape(m, n, k, xRowStride, wRowStride, residual != null, residualRowStride, yRowStride, activation);
        if (m == 0 || n == 0)
        {
            return;
        }

        var job = new NaiveJob(n, k, x, xRowStride, w, wRowStride, new Epilogue(1f, bias, residual, residualRowStride, y, yRowStride, activation));
        if ((long)m * n * k < ParallelMinMultiplyAdds)
        {
            for (int i = 0; i < m; i++)
            {
                job.Row(i);
            }
        }
        else
        {
            Parallel.For(0, m, Options, job.Row);
        }
    }

    /// <summary>
    /// For b &lt; batch and h &lt; heads: C[b,h] = α·A[b,h]·op(B[b,h]), with A[b,h] m × k and C[b,h]
    /// m × n. When <paramref name="transposeB"/>, B[b,h] is n × k and op(B) = Bᵀ (attention's Q·Kᵀ,
    /// keys as rows); otherwise B[b,h] is k × n and op(B) = B (P·V). Each block is found through its
    /// operand's <see cref="MatrixLayout"/>, so heads can be read from and written into fused
    /// [B, T, H·d] rows in place. Blocks run in parallel, each with the packed micro-kernel on one
    /// core; C's blocks must not overlap each other or A and B.
    /// </summary>
    public static void BatchedGemm(
        int batch, int heads, int m, int n, int k, float alpha,
        float* a, MatrixLayout aLayout,
        float* b, MatrixLayout bLayout, bool transposeB,
        float* c, MatrixLayout cLayout)
    {
        CheckBatchedShape(batch, heads, m, n, k, aLayout, bLayout, transposeB, cLayout);
        int blocks = batch * heads;
        if (blocks == 0 || m == 0 || n == 0)
        {
            return;
        }

        if (c == null || (k > 0 && (a == null || b == null)))
        {
            throw new ArgumentException("a, b and c must not be null when the blocks are not empty.");
        }

        var job = new BatchedJob(heads, m, n, k, alpha, a, aLayout, b, bLayout, transposeB, c, cLayout);
        long work = (long)blocks * m * n * k;
        if (blocks == 1)
        {
            job.Block(0, mayParallelize: true);
        }
        else if (work >= ParallelMinMultiplyAdds && Environment.ProcessorCount > 1)
        {
            Parallel.For(0, blocks, Options, index => job.Block(index, mayParallelize: false));
        }
        else
        {
            for (int index = 0; index < blocks; index++)
            {
                job.Block(index, mayParallelize: false);
            }
        }
    }

    /// <summary>
    /// <see cref="BatchedGemm(int, int, int, int, int, float, float*, MatrixLayout, float*, MatrixLayout, bool, float*, MatrixLayout)"/>
    /// on spans, checked: strides must not be negative, row strides must cover a row, every block
    /// must lie inside its span, and C must not overlap A or B.
    /// </summary>
    public static void BatchedGemm(
        int batch, int heads, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, MatrixLayout aLayout,
        ReadOnlySpan<float> b, MatrixLayout bLayout, bool transposeB,
        Span<float> c, MatrixLayout cLayout)
    {
        CheckBatchedShape(batch, heads, m, n, k, aLayout, bLayout, transposeB, cLayout);
        if (batch == 0 || heads == 0)
        {
            return;
        }

        CheckExtent(nameof(a), a.Length, batch, heads, m, k, aLayout);
        CheckExtent(nameof(b), b.Length, batch, heads, transposeB ? n : k, transposeB ? k : n, bLayout);
        CheckExtent(nameof(c), c.Length, batch, heads, m, n, cLayout);
        ReadOnlySpan<float> cRead = c;
        if (cRead.Overlaps(a) || cRead.Overlaps(b))
        {
            throw new ArgumentException("c overlaps a or b; the output must be separate memory.", nameof(c));
        }

        fixed (float* pa = a, pb = b, pc = c)
        {
            BatchedGemm(batch, heads, m, n, k, alpha, pa, aLayout, pb, bLayout, transposeB, pc, cLayout);
        }
    }

    /// <summary>The span checks of X, Y, bias and R (lengths, overlaps) shared by the span Gemms; strides already defaulted and checked.</summary>
    private static void CheckSpans(
        int m, int n, int k, ReadOnlySpan<float> x, int xRowStride, Span<float> y, int yRowStride,
        ReadOnlySpan<float> bias, ReadOnlySpan<float> residual, int residualRowStride)
    {
        CheckLength(nameof(x), x.Length, m, k, xRowStride);
        CheckLength(nameof(y), y.Length, m, n, yRowStride);
        if (!bias.IsEmpty && bias.Length < n)
        {
            throw new ArgumentException($"bias has {bias.Length} elements; it needs n = {n} (or none).", nameof(bias));
        }

        bool hasResidual = !residual.IsEmpty;
        if (hasResidual)
        {
            CheckLength(nameof(residual), residual.Length, m, n, residualRowStride);
        }

        ReadOnlySpan<float> yRead = y;
        if (yRead.Overlaps(x) || yRead.Overlaps(bias))
        {
            throw new ArgumentException("y overlaps x, w or bias; the output must be separate memory.", nameof(y));
        }

        if (hasResidual && yRead.Overlaps(residual)
            && !(Unsafe.AreSame(ref MemoryMarshal.GetReference(yRead), ref MemoryMarshal.GetReference(residual)) && yRowStride == residualRowStride))
        {
            throw new ArgumentException("residual overlaps y without being y itself (same start and row stride).", nameof(residual));
        }
    }

    private static void CheckBatchedShape(int batch, int heads, int m, int n, int k, MatrixLayout aLayout, MatrixLayout bLayout, bool transposeB, MatrixLayout cLayout)
    {
        if (batch < 0 || heads < 0 || m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentException($"batch, heads, m, n and k must not be negative (batch = {batch}, heads = {heads}, m = {m}, n = {n}, k = {k}).");
        }

        CheckLayout("aLayout", aLayout, k);
        CheckLayout("bLayout", bLayout, transposeB ? k : n);
        CheckLayout("cLayout", cLayout, n);
    }

    private static void CheckLayout(string name, MatrixLayout layout, int columns)
    {
        if (layout.BatchStride < 0 || layout.HeadStride < 0)
        {
            throw new ArgumentException($"{name} has a negative stride ({layout}).", name);
        }

        if (layout.RowStride < columns)
        {
            throw new ArgumentException($"{name}.RowStride {layout.RowStride} is less than a row ({columns} elements).", name);
        }
    }

    private static void CheckExtent(string name, int length, int batch, int heads, int rows, int columns, MatrixLayout layout)
    {
        long needed = rows == 0 || columns == 0
            ? 0
            : (batch - 1) * layout.BatchStride + (heads - 1) * layout.HeadStride + (long)(rows - 1) * layout.RowStride + columns;
        if (length < needed)
        {
            throw new ArgumentException(
                $"{name} has {length} elements; {batch}×{heads} blocks of {rows}×{columns} with {layout} reach element {needed}.", name);
        }
    }

    /// <summary>One (b, h) block of <see cref="BatchedGemm(int, int, int, int, int, float, float*, MatrixLayout, float*, MatrixLayout, bool, float*, MatrixLayout)"/>.</summary>
    private sealed class BatchedJob(
        int heads, int m, int n, int k, float alpha,
        float* a, MatrixLayout aLayout, float* b, MatrixLayout bLayout, bool transposeB, float* c, MatrixLayout cLayout)
    {
        public void Block(int index, bool mayParallelize)
        {
            int batchIndex = index / heads, head = index % heads;
            var problem = new Problem
            {
                M = m, N = n, K = k,
                A = a + batchIndex * aLayout.BatchStride + head * aLayout.HeadStride,
                LdA = aLayout.RowStride,
                B = b + batchIndex * bLayout.BatchStride + head * bLayout.HeadStride,
                LdB = bLayout.RowStride,
                BIsRowsOfK = transposeB,
                Epilogue = new Epilogue(alpha, null, null, 0, c + batchIndex * cLayout.BatchStride + head * cLayout.HeadStride, cLayout.RowStride, Activation.None),
            };
            Run(ref problem, Current, mayParallelize);
        }
    }

    private static void CheckShape(int m, int n, int k, int xRowStride, int wRowStride, bool hasResidual, int residualRowStride, int yRowStride, Activation activation)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentException($"m, n and k must not be negative (m = {m}, n = {n}, k = {k}).");
        }

        if (xRowStride < k)
        {
            throw new ArgumentException($"xRowStride {xRowStride} is less than k = {k}.", nameof(xRowStride));
        }

        if (wRowStride < k)
        {
            throw new ArgumentException($"wRowStride {wRowStride} is less than k = {k}.", nameof(wRowStride));
        }

        if (yRowStride < n)
        {
            throw new ArgumentException($"yRowStride {yRowStride} is less than n = {n}.", nameof(yRowStride));
        }

        if (hasResidual && residualRowStride < n)
        {
            throw new ArgumentException($"residualRowStride {residualRowStride} is less than n = {n}.", nameof(residualRowStride));
        }

        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentException($"Unknown activation {activation}.", nameof(activation));
        }
    }

    private static void CheckLength(string name, int length, int rows, int columns, int rowStride)
    {
        long needed = rows == 0 || columns == 0 ? 0 : (long)(rows - 1) * rowStride + columns;
        if (length < needed)
        {
            throw new ArgumentException(
                $"{name} has {length} elements; {rows} rows of {columns} with row stride {rowStride} need {needed}.", name);
        }
    }

    /// <summary>One dot product per output; for <see cref="GemmNaive(int, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Activation, int, int, int, int)"/>.</summary>
    private sealed class NaiveJob(int n, int k, float* x, int ldx, float* w, int ldw, Epilogue epilogue)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int i)
        {
            float* row = stackalloc float[Vector256<float>.Count];
            float* xRow = x + (long)i * ldx;
            for (int j0 = 0; j0 < n; j0 += Vector256<float>.Count)
            {
                int count = Math.Min(Vector256<float>.Count, n - j0);
                for (int j = 0; j < count; j++)
                {
                    row[j] = Dot(xRow, w + (long)(j0 + j) * ldw, k);
                }

                epilogue.Apply(row, 1, count, Vector256<float>.Count, i, j0, first: true, last: true);
            }
        }

        private static float Dot(float* a, float* b, int k)
        {
            Vector256<float> sum = Vector256<float>.Zero;
            int p = 0;
            for (; p + Vector256<float>.Count <= k; p += Vector256<float>.Count)
            {
                sum = Vector256.FusedMultiplyAdd(Vector256.Load(a + p), Vector256.Load(b + p), sum);
            }

            float total = Vector256.Sum(sum);
            for (; p < k; p++)
            {
                total = MathF.FusedMultiplyAdd(a[p], b[p], total);
            }

            return total;
        }
    }
}
