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
/// <see cref="GemmRegisterBlockedSplitK"/> is the exception: the register-blocked product over one
/// part of k into a partial-sums buffer, for split-K at small m (the epilogue comes after, in
/// <see cref="TensorCoreGemm.SplitKReduce"/>).
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
    public const int MicroTile = MicroTiles.Size;

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

        // c[i·MicroTile + j] is output (row ty + BlockThreads·i, column tx + BlockThreads·j); every
        // index below is a constant once the MicroTile loops are unrolled, so all stay in registers.
        Span<float> c = stackalloc float[MicroTile * MicroTile];
        Span<float> a = stackalloc float[MicroTile];
        Span<float> b = stackalloc float[MicroTile];
        RegisterBlockedProduct(c, a, b, xSlice, wSlice, x, w, tx, ty, rowBase, columnBase, m, n, k, 0, k);

        int row0 = rowBase + ty;
        int column0 = columnBase + tx;
        for (int r = 0; r < MicroTile; r++)
        {
            int row = row0 + r * BlockThreads;
            if (row < m)
            {
                int at = row * n;
                for (int s = 0; s < MicroTile; s++)
                {
                    int column = column0 + s * BlockThreads;
                    if (column < n)
                    {
                        y[at + column] = GemmEpilogue(c[r * MicroTile + s], row, column, n, bias, residual, hasBias, activation, hasResidual);
                    }
                }
            }
        }
    }

    /// <summary>
    /// <see cref="GemmRegisterBlocked"/>'s product over part of k, for split-K at small m: group z of
    /// the grid's third dimension sums k-slices [z·slicesPerSplit, (z + 1)·slicesPerSplit) (the last
    /// part may be shorter) and writes its raw sums, no epilogue, to partials[z·m·n + row·n + column];
    /// <see cref="TensorCoreGemm.SplitKReduce"/> then adds the parts in order and applies the
    /// epilogue. Groups of BlockThreads × BlockThreads over ceil(n / BlockTile) × ceil(m / BlockTile) × parts.
    /// </summary>
    [Kernel]
    public static void GemmRegisterBlockedSplitK(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadWriteView<float> partials, int m, int n, int k, int slicesPerSplit)
    {
        var xSlice = Group.Shared<float>(BlockK * SlicePitch);
        var wSlice = Group.Shared<float>(BlockK * SlicePitch);
        int tx = thread.Local.X;
        int ty = thread.Local.Y;
        int rowBase = thread.Group.Y * BlockTile;
        int columnBase = thread.Group.X * BlockTile;
        int part = thread.Group.Z;
        int kBegin = part * slicesPerSplit * BlockK;
        int kEnd = KernelMath.Min(k, kBegin + slicesPerSplit * BlockK);

        Span<float> c = stackalloc float[MicroTile * MicroTile];
        Span<float> a = stackalloc float[MicroTile];
        Span<float> b = stackalloc float[MicroTile];
        RegisterBlockedProduct(c, a, b, xSlice, wSlice, x, w, tx, ty, rowBase, columnBase, m, n, k, kBegin, kEnd);

        int partBase = part * m * n;
        int row0 = rowBase + ty;
        int column0 = columnBase + tx;
        for (int r = 0; r < MicroTile; r++)
        {
            int row = row0 + r * BlockThreads;
            if (row < m)
            {
                int at = partBase + row * n;
                for (int s = 0; s < MicroTile; s++)
                {
                    int column = column0 + s * BlockThreads;
                    if (column < n)
                    {
                        partials[at + column] = c[r * MicroTile + s];
                    }
                }
            }
        }
    }

    /// <summary>
    /// The register-blocked main loop of <see cref="GemmRegisterBlocked"/> and
    /// <see cref="GemmRegisterBlockedSplitK"/>: adds X[rows, kBegin..kEnd)·W[columns, kBegin..kEnd)ᵀ
    /// of the group's BlockTile × BlockTile block into c (thread (tx, ty)'s MicroTile × MicroTile
    /// sums: c[i·MicroTile + j] is row ty + BlockThreads·i, column tx + BlockThreads·j), staging
    /// BlockK-deep slices in xSlice and wSlice (zeros past m, n and kEnd). X and W rows are k long;
    /// kBegin is a multiple of BlockK. Every thread of the group calls it (it has barriers).
    /// </summary>
    [DeviceFunction]
    public static void RegisterBlockedProduct(
        Span<float> c, Span<float> a, Span<float> b, SharedArray<float> xSlice, SharedArray<float> wSlice, ReadOnlyView<float> x, ReadOnlyView<float> w,
        int tx, int ty, int rowBase, int columnBase, int m, int n, int k, int kBegin, int kEnd)
    {
        // Loading: the 256 threads cover a 64 × 16 slice in 4 passes of 16 rows, k fastest (coalesced);
        // this needs BlockK == BlockThreads.
        int loadK = tx;
        int loadRow = ty;
        for (int k0 = kBegin; k0 < kEnd; k0 += BlockK)
        {
            int kk = k0 + loadK;
            bool kInside = kk < kEnd;
            for (int pass = 0; pass < BlockTile; pass += BlockThreads)
            {
                int r = loadRow + pass;
                int xRow = rowBase + r;
                int wRow = columnBase + r;
                xSlice[loadK * SlicePitch + r] = kInside && xRow < m ? x[xRow * k + kk] : 0f;
                wSlice[loadK * SlicePitch + r] = kInside && wRow < n ? w[wRow * k + kk] : 0f;
            }

            Group.Barrier();

            // Every index below is a constant once the MicroTile loops are unrolled, so a, b and c stay in registers.
            for (int i = 0; i < BlockK; i++)
            {
                int xAt = i * SlicePitch + ty;
                int wAt = i * SlicePitch + tx;
                for (int t = 0; t < MicroTile; t++)
                {
                    a[t] = xSlice[xAt + t * BlockThreads];
                    b[t] = wSlice[wAt + t * BlockThreads];
                }

                MicroTiles.OuterProductAdd(c, a, b);
            }

            Group.Barrier();
        }
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
}
