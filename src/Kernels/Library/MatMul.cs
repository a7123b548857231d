namespace GpuViT.Kernels.Library;

/// <summary>
/// C = A·Bᵀ in the linear-layer layout: A is m×k (tokens × in), B is n×k (out × in, as PyTorch
/// stores weights), C is m×n; all row-major. Two schedules side by side, so the benchmark shows
/// what reusing the shared weights from fast memory buys.
/// </summary>
public static class MatMul
{
    /// <summary>Tile edge of <see cref="MatMulTiled"/>; its groups are Tile × Tile threads.</summary>
    public const int Tile = 16;

    /// <summary>
    /// One dot product per output: thread (x, y) computes C[y, x] and reads its row of A and row
    /// of B straight from global memory, so every weight is fetched once per output row.
    /// 2D launch covering n × m.
    /// </summary>
    [Kernel]
    public static void MatMulNaive(KernelThread thread, ReadOnlyView<float> a, ReadOnlyView<float> b, ReadWriteView<float> c, int m, int n, int k)
    {
        int column = thread.Global.X;
        int row = thread.Global.Y;
        if (row < m && column < n)
        {
            float sum = 0f;
            for (int i = 0; i < k; i++)
            {
                sum += a[row * k + i] * b[column * k + i];
            }

            c[row * n + column] = sum;
        }
    }

    /// <summary>
    /// Tiled: a group of Tile × Tile threads computes a Tile × Tile block of C, staging Tile-wide
    /// slices of A and B in shared memory so each loaded weight is reused by Tile outputs.
    /// Edges are handled here (zeros past m, n or k), not by padding. Launch groups of
    /// Tile × Tile over ceil(n / Tile) × ceil(m / Tile).
    /// </summary>
    [Kernel]
    public static void MatMulTiled(KernelThread thread, ReadOnlyView<float> a, ReadOnlyView<float> b, ReadWriteView<float> c, int m, int n, int k)
    {
        var aTile = Group.Shared<float>(Tile * Tile);
        var bTile = Group.Shared<float>(Tile * Tile);
        int localColumn = thread.Local.X;
        int localRow = thread.Local.Y;
        int row = thread.Group.Y * Tile + localRow;
        int column = thread.Group.X * Tile + localColumn;
        int bRow = thread.Group.X * Tile + localRow;

        float sum = 0f;
        for (int k0 = 0; k0 < k; k0 += Tile)
        {
            int kk = k0 + localColumn;
            aTile[localRow * Tile + localColumn] = row < m && kk < k ? a[row * k + kk] : 0f;

            // Stored transposed (bTile[kk][n]) so the inner loop reads it without bank conflicts.
            bTile[localColumn * Tile + localRow] = bRow < n && kk < k ? b[bRow * k + kk] : 0f;
            Group.Barrier();

            for (int i = 0; i < Tile; i++)
            {
                sum += aTile[localRow * Tile + i] * bTile[i * Tile + localColumn];
            }

            Group.Barrier();
        }

        if (row < m && column < n)
        {
            c[row * n + column] = sum;
        }
    }
}
