namespace GpuViT.Kernels.Library;

/// <summary>
/// The 4 × 4 register tile that the register-blocked GEMM, the patch embedding and the RNN's
/// streaming step each keep per thread: sixteen sums updated by an outer product per step.
/// </summary>
public static class MicroTiles
{
    /// <summary>Rows and columns of a micro-tile.</summary>
    public const int Size = 4;

    /// <summary>
    /// c[r·Size + s] += a[r] · b[s], rows then columns (every index a constant once unrolled, so
    /// all three arrays stay in registers).
    /// </summary>
    [DeviceFunction]
    public static void OuterProductAdd(Span<float> c, Span<float> a, Span<float> b)
    {
        for (int r = 0; r < Size; r++)
        {
            for (int s = 0; s < Size; s++)
            {
                c[r * Size + s] += a[r] * b[s];
            }
        }
    }
}
