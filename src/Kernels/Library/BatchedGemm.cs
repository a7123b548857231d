namespace GpuViT.Kernels.Library;

/// <summary>
/// Many small GEMMs in one launch, one per (batch, head), each matrix a block inside a larger
/// buffer found by strides, so attention multiplies heads where they lie (inside timm's fused
/// qkv rows, or in the heads-side-by-side output) without copying them out first.
/// </summary>
public static class BatchedGemm
{
    /// <summary>Tile edge of <see cref="BatchedGemmTiled"/>: groups of Tile × Tile threads, one output each.</summary>
    public const int Tile = 16;

    /// <summary>Words between bTile's rows: one more than a row holds, so transposing stores avoid bank conflicts.</summary>
    private const int TilePitch = Tile + 1;

    /// <summary>
    /// For each z = batchIndex·heads + head (grid Z), with base offsets
    /// A₀ = batchIndex·aBatchStride + head·aHeadStride (likewise B₀, C₀):
    /// <code>
    /// C[C₀ + i·cRowStride + j] = alpha · Σₚ A[A₀ + i·aRowStride + p] · B'(p, j)
    ///   B'(p, j) = B[B₀ + j·bRowStride + p]   when transposeB (B block is n × k: C = α·A·Bᵀ)
    ///   B'(p, j) = B[B₀ + p·bRowStride + j]   otherwise      (B block is k × n: C = α·A·B)
    /// </code>
    /// for i &lt; m, j &lt; n, p &lt; k; rows are strided, columns contiguous. Attention uses it as
    /// S = (1/√d)·Q·Kᵀ (transposeB) and O = P·V. Tiled like <see cref="Gemm.GemmTiled"/>: groups
    /// of Tile × Tile over ceil(n / Tile) × ceil(m / Tile) × (batches · heads); edges handled here.
    /// </summary>
    [Kernel]
    public static void BatchedGemmTiled(
        KernelThread thread, ReadOnlyView<float> a, ReadOnlyView<float> b, ReadWriteView<float> c,
        int m, int n, int k, int heads,
        int aBatchStride, int aHeadStride, int aRowStride,
        int bBatchStride, int bHeadStride, int bRowStride,
        int cBatchStride, int cHeadStride, int cRowStride,
        bool transposeB, float alpha)
    {
        var aTile = Group.Shared<float>(Tile * Tile);
        var bTile = Group.Shared<float>(Tile * TilePitch);
        int localColumn = thread.Local.X;
        int localRow = thread.Local.Y;
        int batchIndex = thread.Group.Z / heads;
        int head = thread.Group.Z - batchIndex * heads;
        int aBase = batchIndex * aBatchStride + head * aHeadStride;
        int bBase = batchIndex * bBatchStride + head * bHeadStride;
        int cBase = batchIndex * cBatchStride + head * cHeadStride;
        int row = thread.Group.Y * Tile + localRow;
        int column = thread.Group.X * Tile + localColumn;
        int tileColumn = thread.Group.X * Tile;

        float sum = 0f;
        for (int k0 = 0; k0 < k; k0 += Tile)
        {
            int ak = k0 + localColumn;
            aTile[localRow * Tile + localColumn] = row < m && ak < k ? a[aBase + row * aRowStride + ak] : 0f;

            // bTile[p][j] either way; each layout is loaded with adjacent threads on adjacent addresses.
            if (transposeB)
            {
                int bColumn = tileColumn + localRow;
                bTile[localColumn * TilePitch + localRow] = bColumn < n && ak < k ? b[bBase + bColumn * bRowStride + ak] : 0f;
            }
            else
            {
                int bk = k0 + localRow;
                bTile[localRow * TilePitch + localColumn] = column < n && bk < k ? b[bBase + bk * bRowStride + column] : 0f;
            }

            Group.Barrier();

            for (int i = 0; i < Tile; i++)
            {
                sum += aTile[localRow * Tile + i] * bTile[i * TilePitch + localColumn];
            }

            Group.Barrier();
        }

        if (row < m && column < n)
        {
            c[cBase + row * cRowStride + column] = alpha * sum;
        }
    }
}
