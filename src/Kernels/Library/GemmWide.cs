namespace GpuViT.Kernels.Library;

/// <summary>
/// The linear layer of <see cref="Gemm"/> (same arguments, same fused epilogue) with the schedule
/// fast SIMT SGEMMs use (CUTLASS's SIMT path, Volkov's and maxas-style kernels): a group of 256
/// threads computes a 128 × 128 block of Y, each thread an 8 × 8 micro-tile, so every value read
/// from shared memory feeds 8 multiply-adds (the 4 × 4 tile of
/// <see cref="Gemm.GemmRegisterBlocked"/> feeds 4, and that kernel is bound by shared-memory loads).
/// </summary>
/// <remarks>
/// <para>
/// Shared memory holds BlockK-deep slices of X and W stored k-major (slice[kk][row]), two of each
/// (double buffering): while the group computes on slice s, each thread has already loaded its
/// part of slice s + 1 from global memory into registers, and stores it into the other buffer
/// after the arithmetic, so there is one barrier per slice and the global loads' latency is
/// hidden behind 8 × 64 multiply-adds.
/// </para>
/// <para>
/// Thread (tx, ty) of the 16 × 16 group owns rows 4·ty + {0..3} and 64 + 4·ty + {0..3} and the
/// same columns with tx, so it reads its 8 X values and 8 W values of a k-step as four Float4
/// from shared memory: a quarter-warp reads 128 consecutive bytes of W (no bank conflict) and
/// the two rows of X a warp needs are broadcast. Its outputs are 4 consecutive columns twice.
/// </para>
/// <para>
/// Two kernels, one schedule: <see cref="GemmRegisterBlocked8x8"/> loads X and W as Float4 and
/// stores Y as Float4, which needs 16-byte alignment on CUDA, so the host launches it only when
/// k and n are multiples of 4 and X, W and Y start at multiples of 4 elements (every ViT layer);
/// <see cref="GemmRegisterBlocked8x8ScalarLoads"/> takes every other shape with the same tiles,
/// loading and storing element by element. A separate kernel rather than a run-time flag keeps
/// the argument list of every GEMM version the same; both are thin entry points to one body,
/// <see cref="MultiplyBlock"/>, which gets the choice as a literal, so the C compiler drops the
/// other path after inlining. Edges (m, n, k not multiples of the tiles)
/// are zeros in the slices and guarded stores.
/// </para>
/// Groups of Threads × Threads over ceil(n / BlockTile) × ceil(m / BlockTile).
/// </remarks>
public static class GemmWide
{
    /// <summary>Output block edge: one group computes BlockTile × BlockTile outputs.</summary>
    public const int BlockTile = 128;

    /// <summary>The k-depth of each shared slice of X and W.</summary>
    public const int BlockK = 8;

    /// <summary>Group edge: Threads × Threads threads.</summary>
    public const int Threads = 16;

    /// <summary>Each thread computes MicroTile × MicroTile outputs, as two quads of rows by two quads of columns.</summary>
    public const int MicroTile = 8;

    /// <summary>Rows (or columns) apart of a thread's two quads: half the block.</summary>
    private const int HalfTile = BlockTile / 2;

    /// <summary>
    /// Words between the k-rows of a slice: 4 more than a row holds, so the rows stay 16-byte
    /// aligned for Float4 reads and the transposing stores of a warp (16 rows at k and k + 4)
    /// land in 32 different banks (4·132 mod 32 = 16).
    /// </summary>
    private const int Pitch = BlockTile + 4;

    /// <summary>Words of one slice buffer.</summary>
    private const int SliceWords = BlockK * Pitch;

    /// <summary>
    /// Float4 loads of X and W and Float4 stores of Y: k % 4 == 0, n % 4 == 0, and X, W and Y at
    /// offsets that are multiples of 4 (the host checks; see the remarks).
    /// </summary>
    [Kernel]
    public static void GemmRegisterBlocked8x8(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual)
    {
        var xs = Group.Shared<float>(2 * SliceWords);
        var ws = Group.Shared<float>(2 * SliceWords);
        Span<float> c = stackalloc float[MicroTile * MicroTile];
        Span<float> a = stackalloc float[MicroTile];
        Span<float> b = stackalloc float[MicroTile];
        MultiplyBlock(
            c, a, b, xs, ws, thread.Local.X, thread.Local.Y, thread.Group.Y * BlockTile, thread.Group.X * BlockTile,
            x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, true);
    }

    /// <summary>
    /// <see cref="GemmRegisterBlocked8x8"/> for any k, n and offsets: the same tiles and double
    /// buffering, X and W loaded and Y stored one element at a time.
    /// </summary>
    [Kernel]
    public static void GemmRegisterBlocked8x8ScalarLoads(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual)
    {
        var xs = Group.Shared<float>(2 * SliceWords);
        var ws = Group.Shared<float>(2 * SliceWords);
        Span<float> c = stackalloc float[MicroTile * MicroTile];
        Span<float> a = stackalloc float[MicroTile];
        Span<float> b = stackalloc float[MicroTile];
        MultiplyBlock(
            c, a, b, xs, ws, thread.Local.X, thread.Local.Y, thread.Group.Y * BlockTile, thread.Group.X * BlockTile,
            x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, false);
    }

    /// <summary>
    /// The body of both kernels for thread (tx, ty) of the group whose block starts at row
    /// <paramref name="rowBase"/> and column <paramref name="columnBase"/>: the kernels own the
    /// shared slices and the register arrays (their sizes must be constants there), and pass
    /// <paramref name="quads"/> as a literal, so once the C compiler inlines this the choice of
    /// loads and stores is made at compile time.
    /// </summary>
    [DeviceFunction]
    public static void MultiplyBlock(
        Span<float> c, Span<float> a, Span<float> b, SharedArray<float> xs, SharedArray<float> ws, int tx, int ty, int rowBase, int columnBase,
        ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool quads)
    {
        // Loading: 256 threads × one quad of k cover a 128 × 8 slice; the two threads of a row
        // read its 8 consecutive floats (32 bytes).
        int local = ty * Threads + tx;
        int loadRow = local / 2;
        int loadK = local % 2 * 4;
        int xRow = rowBase + loadRow;
        int wRow = columnBase + loadRow;
        bool xInside = xRow < m;
        bool wInside = wRow < n;
        int storeAt = loadK * Pitch + loadRow;

        int slices = (k + BlockK - 1) / BlockK;
        Float4 xNext = new Float4(0f, 0f, 0f, 0f);
        Float4 wNext = new Float4(0f, 0f, 0f, 0f);
        if (slices > 0)
        {
            xNext = LoadQuadOf(x, xRow, loadK, xInside, k, quads);
            wNext = LoadQuadOf(w, wRow, loadK, wInside, k, quads);
            StoreQuad(xs, storeAt, xNext);
            StoreQuad(ws, storeAt, wNext);
        }

        Group.Barrier();
        for (int s = 0; s < slices; s++)
        {
            // Slice s is in buffer s % 2; fetch slice s + 1 now, store it after the arithmetic.
            bool more = s + 1 < slices;
            if (more)
            {
                int kk = (s + 1) * BlockK + loadK;
                xNext = LoadQuadOf(x, xRow, kk, xInside, k, quads);
                wNext = LoadQuadOf(w, wRow, kk, wInside, k, quads);
            }

            MultiplySlice(c, a, b, xs, ws, s % 2 * SliceWords, 4 * ty, 4 * tx);
            if (more)
            {
                // Buffer (s + 1) % 2 was last read in step s - 1, which every thread finished before the last barrier.
                int next = (s + 1) % 2 * SliceWords + storeAt;
                StoreQuad(xs, next, xNext);
                StoreQuad(ws, next, wNext);
            }

            Group.Barrier();
        }

        if (quads)
        {
            StoreBlockQuads(c, rowBase + 4 * ty, columnBase + 4 * tx, m, n, bias, residual, y, hasBias, activation, hasResidual);
        }
        else
        {
            StoreBlockScalars(c, rowBase + 4 * ty, columnBase + 4 * tx, m, n, bias, residual, y, hasBias, activation, hasResidual);
        }
    }

    /// <summary>A quad of X or W as <see cref="LoadQuad"/> (one Float4) or <see cref="LoadQuadScalar"/> (element by element).</summary>
    [DeviceFunction]
    public static Float4 LoadQuadOf(ReadOnlyView<float> view, int row, int kk, bool rowInside, int k, bool quads)
    {
        if (quads)
        {
            return LoadQuad(view, row, kk, rowInside, k);
        }

        return LoadQuadScalar(view, row, kk, rowInside, k);
    }

    /// <summary>
    /// view[row·k + kk .. + 3] as one Float4, zeros for a row past the matrix or a quad past k
    /// (k % 4 == 0, so a quad is all inside or all outside).
    /// </summary>
    [DeviceFunction]
    public static Float4 LoadQuad(ReadOnlyView<float> view, int row, int kk, bool rowInside, int k)
    {
        Float4 quad = new Float4(0f, 0f, 0f, 0f);
        if (rowInside && kk < k)
        {
            quad = view.Load4(row * k + kk);
        }

        return quad;
    }

    /// <summary>view[row·k + kk .. + 3] element by element, zeros past the matrix or past k.</summary>
    [DeviceFunction]
    public static Float4 LoadQuadScalar(ReadOnlyView<float> view, int row, int kk, bool rowInside, int k)
    {
        int at = row * k + kk;
        float v0 = rowInside && kk < k ? view[at] : 0f;
        float v1 = rowInside && kk + 1 < k ? view[at + 1] : 0f;
        float v2 = rowInside && kk + 2 < k ? view[at + 2] : 0f;
        float v3 = rowInside && kk + 3 < k ? view[at + 3] : 0f;
        return new Float4(v0, v1, v2, v3);
    }

    /// <summary>A quad of k for one row into a k-major slice: its four values one Pitch apart.</summary>
    [DeviceFunction]
    public static void StoreQuad(SharedArray<float> slice, int at, Float4 quad)
    {
        slice[at] = quad.X;
        slice[at + Pitch] = quad.Y;
        slice[at + 2 * Pitch] = quad.Z;
        slice[at + 3 * Pitch] = quad.W;
    }

    /// <summary>
    /// The BlockK k-steps of one slice pair (buffer at <paramref name="at"/>): per step the
    /// thread's 8 X values (rows row4, row4 + 64, four each) and 8 W values as four Float4, then
    /// c[r·8 + s] += a[r]·b[s].
    /// </summary>
    [DeviceFunction]
    public static void MultiplySlice(Span<float> c, Span<float> a, Span<float> b, SharedArray<float> xs, SharedArray<float> ws, int at, int row4, int column4)
    {
        for (int kk = 0; kk < BlockK; kk++)
        {
            int rowAt = at + kk * Pitch;
            Float4 a0 = xs.Load4(rowAt + row4);
            Float4 a1 = xs.Load4(rowAt + HalfTile + row4);
            Float4 b0 = ws.Load4(rowAt + column4);
            Float4 b1 = ws.Load4(rowAt + HalfTile + column4);
            a[0] = a0.X;
            a[1] = a0.Y;
            a[2] = a0.Z;
            a[3] = a0.W;
            a[4] = a1.X;
            a[5] = a1.Y;
            a[6] = a1.Z;
            a[7] = a1.W;
            b[0] = b0.X;
            b[1] = b0.Y;
            b[2] = b0.Z;
            b[3] = b0.W;
            b[4] = b1.X;
            b[5] = b1.Y;
            b[6] = b1.Z;
            b[7] = b1.W;
            OuterProductAdd8(c, a, b);
        }
    }

    /// <summary>c[r·8 + s] += a[r]·b[s] (every index a constant once unrolled, so all stay in registers).</summary>
    [DeviceFunction]
    public static void OuterProductAdd8(Span<float> c, Span<float> a, Span<float> b)
    {
        for (int r = 0; r < MicroTile; r++)
        {
            for (int s = 0; s < MicroTile; s++)
            {
                c[r * MicroTile + s] += a[r] * b[s];
            }
        }
    }

    /// <summary>
    /// The epilogue into Y as Float4 stores: c[r·8 + s] is row row4 + 64·(r / 4) + r % 4, column
    /// column4 + 64·(s / 4) + s % 4. n % 4 == 0, so a quad of columns is all inside or all outside.
    /// </summary>
    [DeviceFunction]
    public static void StoreBlockQuads(
        Span<float> c, int row4, int column4, int m, int n, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        bool hasBias, int activation, bool hasResidual)
    {
        for (int r = 0; r < MicroTile; r++)
        {
            int row = row4 + r / 4 * HalfTile + r % 4;
            if (row < m)
            {
                for (int half = 0; half < 2; half++)
                {
                    int column = column4 + half * HalfTile;
                    if (column < n)
                    {
                        // Each output reads its residual before the store, so Y may be the residual. c is
                        // indexed by the loop counters themselves, so the loops are unrolled (see the
                        // kernel language's register arrays) and c never needs an address.
                        float v0 = Gemm.GemmEpilogue(c[r * MicroTile + half * 4], row, column, n, bias, residual, hasBias, activation, hasResidual);
                        float v1 = Gemm.GemmEpilogue(c[r * MicroTile + half * 4 + 1], row, column + 1, n, bias, residual, hasBias, activation, hasResidual);
                        float v2 = Gemm.GemmEpilogue(c[r * MicroTile + half * 4 + 2], row, column + 2, n, bias, residual, hasBias, activation, hasResidual);
                        float v3 = Gemm.GemmEpilogue(c[r * MicroTile + half * 4 + 3], row, column + 3, n, bias, residual, hasBias, activation, hasResidual);
                        y.Store4(row * n + column, new Float4(v0, v1, v2, v3));
                    }
                }
            }
        }
    }

    /// <summary>The epilogue of <see cref="StoreBlockQuads"/> element by element, for any n and Y offset.</summary>
    [DeviceFunction]
    public static void StoreBlockScalars(
        Span<float> c, int row4, int column4, int m, int n, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        bool hasBias, int activation, bool hasResidual)
    {
        for (int r = 0; r < MicroTile; r++)
        {
            int row = row4 + r / 4 * HalfTile + r % 4;
            if (row < m)
            {
                for (int s = 0; s < MicroTile; s++)
                {
                    int column = column4 + s / 4 * HalfTile + s % 4;
                    if (column < n)
                    {
                        y[row * n + column] = Gemm.GemmEpilogue(c[r * MicroTile + s], row, column, n, bias, residual, hasBias, activation, hasResidual);
                    }
                }
            }
        }
    }
}
