namespace GpuViT.Kernels.Library;

/// <summary>
/// The linear layer on tensor cores: Y[m, n] = act(X[m, k]·W[n, k]ᵀ + bias[n]) + R[m, n], with the
/// arguments and fused epilogue of <see cref="Gemm"/>, the products in TF32 or BF16 and the sums in
/// fp32. Demonstrations of <see cref="Mma"/>, written for clarity: a group of four warps computes a
/// BlockM × BlockN block of Y, each warp a 16 × BlockN strip as four 16 × 8 MMA tiles, from BlockK-wide
/// slices of X and W staged in shared memory (zeros past m, n and k, so any shape works).
/// </summary>
/// <remarks>
/// Groups of <see cref="Threads"/> threads (1D) over ceil(n / BlockN) × ceil(m / BlockM). CUDA runs
/// them on tensor cores (compute capability 8.0 and later); OpenCL and the emulator compute the
/// same products in software, for testing: an op should only pick these where
/// <see cref="Runtime.DeviceCapabilities.HasMma"/> says the device has the shape in hardware.
/// </remarks>
public static class MmaGemm
{
    /// <summary>Rows of Y per group: four warps of 16.</summary>
    public const int BlockM = 64;

    /// <summary>Columns of Y per group: four MMA tiles of 8 per warp.</summary>
    public const int BlockN = 32;

    /// <summary>The k-slice staged in shared memory per step: 4 TF32 or 2 BF16 MMA depths.</summary>
    public const int BlockK = 32;

    /// <summary>Threads per group: four warps.</summary>
    public const int Threads = 128;

    /// <summary>
    /// Words between rows of the shared slices: 4 more than a row holds, so that the 8 rows × 4
    /// columns a warp reads for one fragment fall in 32 different banks.
    /// </summary>
    private const int Pitch = BlockK + 4;

    /// <summary>TF32 products (X and W rounded to 10 mantissa bits inside the MMA), fp32 sums.</summary>
    [Kernel]
    public static void GemmMmaTf32(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual)
    {
        var xs = Group.Shared<float>(BlockM * Pitch);
        var ws = Group.Shared<float>(BlockN * Pitch);
        int local = thread.Local.X;
        int warp = local / 32;
        int groupId = (local % 32) / 4;
        int inGroup = local % 4;
        int rowBase = thread.Group.Y * BlockM;
        int columnBase = thread.Group.X * BlockN;

        // Four 16 × 8 tiles of Y (4 floats each), A of one k-step, B of the four tiles (2 floats each).
        Span<float> acc = stackalloc float[16];
        Span<float> fa = stackalloc float[4];
        Span<float> fb = stackalloc float[8];
        int aRow = warp * 16 + groupId;
        for (int k0 = 0; k0 < k; k0 += BlockK)
        {
            StageSlices(xs, ws, x, w, local, rowBase, columnBase, k0, m, n, k);
            Group.Barrier();
            for (int step = 0; step < BlockK; step += 8)
            {
                // A[row, c] = X[row, k]; rows groupID and groupID + 8, columns threadID_in_group and + 4.
                fa[0] = xs[aRow * Pitch + step + inGroup];
                fa[1] = xs[(aRow + 8) * Pitch + step + inGroup];
                fa[2] = xs[aRow * Pitch + step + inGroup + 4];
                fa[3] = xs[(aRow + 8) * Pitch + step + inGroup + 4];
                for (int tile = 0; tile < 4; tile++)
                {
                    // B[c, column] = W[column, k]: column groupID of the tile, rows threadID_in_group and + 4.
                    fb[2 * tile] = ws[(tile * 8 + groupId) * Pitch + step + inGroup];
                    fb[2 * tile + 1] = ws[(tile * 8 + groupId) * Pitch + step + inGroup + 4];
                    Mma.M16N8K8Tf32(acc, 4 * tile, fa, 0, fb, 2 * tile);
                }
            }

            Group.Barrier();
        }

        StoreTiles(acc, rowBase + aRow, columnBase + 2 * inGroup, m, n, bias, residual, y, hasBias, activation, hasResidual);
    }

    /// <summary>BF16 products (X and W rounded to bfloat16 when packed into fragments), fp32 sums.</summary>
    [Kernel]
    public static void GemmMmaBf16(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual)
    {
        var xs = Group.Shared<float>(BlockM * Pitch);
        var ws = Group.Shared<float>(BlockN * Pitch);
        int local = thread.Local.X;
        int warp = local / 32;
        int groupId = (local % 32) / 4;
        int inGroup = local % 4;
        int rowBase = thread.Group.Y * BlockM;
        int columnBase = thread.Group.X * BlockN;

        // Four 16 × 8 tiles of Y, A of one k-step (4 words of 2 bf16), B of the four tiles (2 words each).
        Span<float> acc = stackalloc float[16];
        Span<uint> fa = stackalloc uint[4];
        Span<uint> fb = stackalloc uint[8];
        int aRow = warp * 16 + groupId;
        for (int k0 = 0; k0 < k; k0 += BlockK)
        {
            StageSlices(xs, ws, x, w, local, rowBase, columnBase, k0, m, n, k);
            Group.Barrier();
            for (int step = 0; step < BlockK; step += 16)
            {
                for (int r = 0; r < 4; r++)
                {
                    // Word r: row groupID + 8·(r % 2), columns 2·threadID_in_group + 8·(r / 2) and the next.
                    int at = (aRow + 8 * (r % 2)) * Pitch + step + 2 * inGroup + 8 * (r / 2);
                    fa[r] = Mma.PackBf16(xs[at], xs[at + 1]);
                }

                for (int tile = 0; tile < 4; tile++)
                {
                    // Word r of B: rows 2·threadID_in_group + 8·r and the next, column groupID (W's row).
                    int at = (tile * 8 + groupId) * Pitch + step + 2 * inGroup;
                    fb[2 * tile] = Mma.PackBf16(ws[at], ws[at + 1]);
                    fb[2 * tile + 1] = Mma.PackBf16(ws[at + 8], ws[at + 9]);
                    Mma.M16N8K16Bf16(acc, 4 * tile, fa, 0, fb, 2 * tile);
                }
            }

            Group.Barrier();
        }

        StoreTiles(acc, rowBase + aRow, columnBase + 2 * inGroup, m, n, bias, residual, y, hasBias, activation, hasResidual);
    }

    /// <summary>
    /// Stages X[rowBase.., k0..] (BlockM × BlockK) and W[columnBase.., k0..] (BlockN × BlockK) in
    /// shared memory, zeros outside m, n and k; neighbouring threads read neighbouring k (coalesced).
    /// </summary>
    [DeviceFunction]
    public static void StageSlices(
        SharedArray<float> xs, SharedArray<float> ws, ReadOnlyView<float> x, ReadOnlyView<float> w,
        int local, int rowBase, int columnBase, int k0, int m, int n, int k)
    {
        for (int e = local; e < BlockM * BlockK; e += Threads)
        {
            int row = rowBase + e / BlockK;
            int column = k0 + e % BlockK;
            xs[(e / BlockK) * Pitch + e % BlockK] = row < m && column < k ? x[row * k + column] : 0f;
        }

        for (int e = local; e < BlockN * BlockK; e += Threads)
        {
            int row = columnBase + e / BlockK;
            int column = k0 + e % BlockK;
            ws[(e / BlockK) * Pitch + e % BlockK] = row < n && column < k ? w[row * k + column] : 0f;
        }
    }

    /// <summary>
    /// Writes a warp's four D tiles through the epilogue: element i of tile t is row
    /// row0 + 8·(i / 2), column column0 + 8·t + i % 2 (row0 and column0 this lane's first).
    /// </summary>
    [DeviceFunction]
    public static void StoreTiles(
        Span<float> acc, int row0, int column0, int m, int n, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        bool hasBias, int activation, bool hasResidual)
    {
        for (int tile = 0; tile < 4; tile++)
        {
            for (int i = 0; i < 4; i++)
            {
                int row = row0 + 8 * (i / 2);
                int column = column0 + 8 * tile + i % 2;
                if (row < m && column < n)
                {
                    y[row * n + column] = Gemm.GemmEpilogue(acc[4 * tile + i], row, column, n, bias, residual, hasBias, activation, hasResidual);
                }
            }
        }
    }
}
