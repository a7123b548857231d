namespace GpuViT.Kernels.Library;

/// <summary>
/// The linear layer as one kernel: Y[m, n] = act(X[m, k]·W[n, k]ᵀ + bias[n]) + R[m, n], all
/// row-major, with X tokens × in and W out × in as PyTorch stores Linear weights. Three
/// schedules side by side, because the comparison is the point: how often each weight comes
/// from memory. The epilogue (bias, activation, residual) is fused so Y is written once.
/// </summary>
/// <remarks>
/// Every version takes the same arguments:
/// <c>(x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual)</c>. An absent bias or
/// residual is any one-element buffer with its flag false; the kernels never read it then. Y may
/// be the residual buffer itself (each output reads its residual before writing it), but not X
/// or W. Edges (m, n, k that are not multiples of a tile) are handled in the kernels.
/// </remarks>
public static class Gemm
{
    // The kernels take the activation as an int (kernel parameters are scalars): these are the
    // enum's values, so the two cannot drift.

    /// <summary><see cref="Activation.Gelu"/>: exact GELU, x·Φ(x) with erf.</summary>
    public const int ActivationGelu = (int)Activation.Gelu;

    /// <summary><see cref="Activation.GeluTanh"/>: GELU with the tanh approximation.</summary>
    public const int ActivationGeluTanh = (int)Activation.GeluTanh;

    /// <summary>Group edge of <see cref="GemmNaive"/>: groups of NaiveGroup × NaiveGroup threads.</summary>
    public const int NaiveGroup = 16;

    /// <summary>Tile edge of <see cref="GemmTiled"/>: groups of Tile × Tile threads, one output each.</summary>
    public const int Tile = 16;

    /// <summary>Output block edge of <see cref="GemmRegisterBlocked"/>: one group computes BlockTile × BlockTile outputs.</summary>
    public const int BlockTile = 64;

    /// <summary>The k-slice of X and W that <see cref="GemmRegisterBlocked"/> stages in shared memory per step.</summary>
    public const int BlockK = 16;

    /// <summary>Each thread of <see cref="GemmRegisterBlocked"/> computes MicroTile × MicroTile outputs.</summary>
    public const int MicroTile = 4;

    /// <summary>Group edge of <see cref="GemmRegisterBlocked"/>: BlockThreads × BlockThreads threads.</summary>
    public const int BlockThreads = BlockTile / MicroTile;

    /// <summary>
    /// Words between the k-rows of the shared slices: one more than a row holds, so the transposing
    /// stores of neighbouring threads (one k-row apart) land in different banks.
    /// </summary>
    private const int SlicePitch = BlockTile + 1;

    /// <summary>The same padding for the tiled kernel's transposed W tile.</summary>
    private const int TilePitch = Tile + 1;

    /// <summary>
    /// One dot product per output: thread (x, y) computes Y[y, x] and reads its row of X and row of
    /// W straight from global memory, so every weight is fetched once per output row. Groups of
    /// NaiveGroup × NaiveGroup over ceil(n / NaiveGroup) × ceil(m / NaiveGroup).
    /// </summary>
    [Kernel]
    public static void GemmNaive(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual)
    {
        int column = thread.Global.X;
        int row = thread.Global.Y;
        if (row < m && column < n)
        {
            float sum = 0f;
            for (int i = 0; i < k; i++)
            {
                sum += x[row * k + i] * w[column * k + i];
            }

            y[row * n + column] = GemmEpilogue(sum, row, column, n, bias, residual, hasBias, activation, hasResidual);
        }
    }

    /// <summary>
    /// Tiled: a group of Tile × Tile threads computes a Tile × Tile block of Y, staging Tile-wide
    /// slices of X and W in shared memory so each loaded weight is reused by Tile rows (zeros
    /// past m, n or k). Groups of Tile × Tile over ceil(n / Tile) × ceil(m / Tile).
    /// </summary>
    [Kernel]
    public static void GemmTiled(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual)
    {
        var xTile = Group.Shared<float>(Tile * Tile);
        var wTile = Group.Shared<float>(Tile * TilePitch);
        int localColumn = thread.Local.X;
        int localRow = thread.Local.Y;
        int row = thread.Group.Y * Tile + localRow;
        int column = thread.Group.X * Tile + localColumn;
        int wRow = thread.Group.X * Tile + localRow;

        float sum = 0f;
        for (int k0 = 0; k0 < k; k0 += Tile)
        {
            // Adjacent threads read adjacent k, so the loads from global memory coalesce.
            int kk = k0 + localColumn;
            xTile[localRow * Tile + localColumn] = row < m && kk < k ? x[row * k + kk] : 0f;

            // Stored transposed (wTile[k][n]) so the inner loop reads consecutive words; padded rows
            // keep the transposing store free of bank conflicts.
            wTile[localColumn * TilePitch + localRow] = wRow < n && kk < k ? w[wRow * k + kk] : 0f;
            Group.Barrier();

            for (int i = 0; i < Tile; i++)
            {
                sum += xTile[localRow * Tile + i] * wTile[i * TilePitch + localColumn];
            }

            Group.Barrier();
        }

        if (row < m && column < n)
        {
            y[row * n + column] = GemmEpilogue(sum, row, column, n, bias, residual, hasBias, activation, hasResidual);
        }
    }

    /// <summary>
    /// Register-blocked: a group of BlockThreads × BlockThreads threads computes a BlockTile ×
    /// BlockTile block of Y, staging BlockK-deep slices of X and W in shared memory; each thread
    /// keeps a MicroTile × MicroTile block of sums in registers, so every value read from shared
    /// memory feeds MicroTile multiply-adds. Thread (tx, ty) owns rows ty + BlockThreads·i and
    /// columns tx + BlockThreads·j: neighbouring threads read neighbouring shared words (no bank
    /// conflicts on GPUs, vector loads on CPUs) and write neighbouring outputs. Groups of
    /// BlockThreads × BlockThreads over ceil(n / BlockTile) × ceil(m / BlockTile).
    /// </summary>
    [Kernel]
    public static void GemmRegisterBlocked(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual)
    {
        // Both slices stored k-major (xSlice[kk][row], wSlice[kk][column]) so the inner loop reads rows of them.
        var xSlice = Group.Shared<float>(BlockK * SlicePitch);
        var wSlice = Group.Shared<float>(BlockK * SlicePitch);
        int tx = thread.Local.X;
        int ty = thread.Local.Y;
        int rowBase = thread.Group.Y * BlockTile;
        int columnBase = thread.Group.X * BlockTile;

        // Loading: the 256 threads cover a 64 × 16 slice in 4 passes of 16 rows, k fastest (coalesced);
        // this needs BlockK == BlockThreads.
        int loadK = tx;
        int loadRow = ty;

        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f;

        for (int k0 = 0; k0 < k; k0 += BlockK)
        {
            int kk = k0 + loadK;
            bool kInside = kk < k;
            for (int pass = 0; pass < BlockTile; pass += BlockThreads)
            {
                int r = loadRow + pass;
                int xRow = rowBase + r;
                int wRow = columnBase + r;
                xSlice[loadK * SlicePitch + r] = kInside && xRow < m ? x[xRow * k + kk] : 0f;
                wSlice[loadK * SlicePitch + r] = kInside && wRow < n ? w[wRow * k + kk] : 0f;
            }

            Group.Barrier();

            for (int i = 0; i < BlockK; i++)
            {
                int xAt = i * SlicePitch + ty;
                int wAt = i * SlicePitch + tx;
                float a0 = xSlice[xAt];
                float a1 = xSlice[xAt + BlockThreads];
                float a2 = xSlice[xAt + 2 * BlockThreads];
                float a3 = xSlice[xAt + 3 * BlockThreads];
                float b0 = wSlice[wAt];
                float b1 = wSlice[wAt + BlockThreads];
                float b2 = wSlice[wAt + 2 * BlockThreads];
                float b3 = wSlice[wAt + 3 * BlockThreads];
                c00 += a0 * b0;
                c01 += a0 * b1;
                c02 += a0 * b2;
                c03 += a0 * b3;
                c10 += a1 * b0;
                c11 += a1 * b1;
                c12 += a1 * b2;
                c13 += a1 * b3;
                c20 += a2 * b0;
                c21 += a2 * b1;
                c22 += a2 * b2;
                c23 += a2 * b3;
                c30 += a3 * b0;
                c31 += a3 * b1;
                c32 += a3 * b2;
                c33 += a3 * b3;
            }

            Group.Barrier();
        }

        int row0 = rowBase + ty;
        int column0 = columnBase + tx;
        GemmStoreRow(c00, c01, c02, c03, row0, column0, m, n, bias, residual, y, hasBias, activation, hasResidual);
        GemmStoreRow(c10, c11, c12, c13, row0 + BlockThreads, column0, m, n, bias, residual, y, hasBias, activation, hasResidual);
        GemmStoreRow(c20, c21, c22, c23, row0 + 2 * BlockThreads, column0, m, n, bias, residual, y, hasBias, activation, hasResidual);
        GemmStoreRow(c30, c31, c32, c33, row0 + 3 * BlockThreads, column0, m, n, bias, residual, y, hasBias, activation, hasResidual);
    }

    /// <summary>
    /// act(sum + bias[column]) + residual[row, column]: the fused epilogue every version ends
    /// with. The flags are uniform over a launch, so the branches cost nothing on a GPU.
    /// </summary>
    [DeviceFunction]
    public static float GemmEpilogue(
        float sum, int row, int column, int n, ReadOnlyView<float> bias, ReadOnlyView<float> residual, bool hasBias, int activation, bool hasResidual)
    {
        float value = sum;
        if (hasBias)
        {
            value += bias[column];
        }

        if (activation == ActivationGelu)
        {
            value = Activations.GeluExact(value);
        }
        else if (activation == ActivationGeluTanh)
        {
            value = Activations.GeluTanhApproximation(value);
        }

        if (hasResidual)
        {
            value += residual[row * n + column];
        }

        return value;
    }

    /// <summary>One row of a register-blocked thread's micro-tile: columns column0 + BlockThreads·j, those inside Y.</summary>
    [DeviceFunction]
    public static void GemmStoreRow(
        float v0, float v1, float v2, float v3, int row, int column0, int m, int n,
        ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y, bool hasBias, int activation, bool hasResidual)
    {
        if (row < m)
        {
            int at = row * n;
            if (column0 < n)
            {
                y[at + column0] = GemmEpilogue(v0, row, column0, n, bias, residual, hasBias, activation, hasResidual);
            }

            if (column0 + BlockThreads < n)
            {
                y[at + column0 + BlockThreads] = GemmEpilogue(v1, row, column0 + BlockThreads, n, bias, residual, hasBias, activation, hasResidual);
            }

            if (column0 + 2 * BlockThreads < n)
            {
                y[at + column0 + 2 * BlockThreads] = GemmEpilogue(v2, row, column0 + 2 * BlockThreads, n, bias, residual, hasBias, activation, hasResidual);
            }

            if (column0 + 3 * BlockThreads < n)
            {
                y[at + column0 + 3 * BlockThreads] = GemmEpilogue(v3, row, column0 + 3 * BlockThreads, n, bias, residual, hasBias, activation, hasResidual);
            }
        }
    }
}
