namespace GpuViT.Kernels.Library;

/// <summary>
/// The linear layer on tensor cores, written for speed: Y[m, n] = act(X[m, k]·W[n, k]ᵀ + bias[n]) + R[m, n]
/// with the fused epilogue of <see cref="Gemm"/>, products in TF32, BF16 or FP16 and sums in fp32.
/// Two block tiles per precision: Large (128 × 128, 8 warps, each warp 64 × 32 of Y as 4 × 4 MMA
/// tiles) and Small (64 × 64, 4 warps, each 32 × 32 as 2 × 4 tiles) for shapes whose Large grid
/// leaves the device idle. The demonstration kernels in <see cref="MmaGemm"/> stay beside them.
/// </summary>
/// <remarks>
/// <para>
/// Pipeline: X and W are staged slice by slice (k-slices of <see cref="SliceKTf32"/> for TF32,
/// <see cref="SliceK16"/> for BF16/FP16) into two shared buffers. While the warps compute on slice
/// s, each thread's global loads of slice s + 1 are already in flight into registers; after the
/// compute it stores them into the other buffer, and one barrier per slice separates the buffers'
/// uses. This is register-staged double buffering rather than Group.CopyAsync: CopyAsync copies
/// one contiguous range per call by the whole group, so a 128-row tile would take 128 calls per
/// operand and slice, in each of which every thread runs the helper's alignment test, its loop and
/// a cp.async commit (about 256 calls per slice against about 100 MMA instructions per warp). The
/// per-thread 16-byte copies of <see cref="Async"/> remove the staging registers: <see cref="TensorCoreGemmCpAsync"/>,
/// which the ops run on aligned calls; these kernels run the rest (and GemmVersion.TensorCore*RegisterStaged).
/// </para>
/// <para>
/// Shared rows are padded by 4 words (<see cref="PitchTf32"/>, <see cref="Pitch16"/> = 20 words):
/// the 8 rows × 4 words a warp reads for one fragment then fall in 32 different banks.
/// </para>
/// <para>
/// Any shape: rows past m and n and columns past k are staged as zeros. X (fp32) is read with
/// 16-byte <c>Load4</c> only when <c>vectorLoads</c> is set: the host sets it when k is a multiple
/// of 4 and X's view starts at a multiple of 4 elements (then every 4-column chunk is 16-byte
/// aligned and lies wholly inside or outside k); otherwise the same kernel reads element by
/// element. The flag is uniform over a launch, so the branch costs nothing on a GPU. W is read
/// the same way for TF32; for BF16 and FP16 it is a 16-bit view (the packed weight, or W rounded
/// into a scratch buffer), read element by element.
/// </para>
/// <para>
/// Split-K: group z of the grid's third dimension computes slices [z·slicesPerSplit,
/// (z + 1)·slicesPerSplit); with <c>partials</c> set, it writes its raw sums (no epilogue) to
/// y[z·m·n + row·n + column], and <see cref="SplitKReduce"/> adds the parts in order and applies
/// the epilogue. Without it the grid has one layer and y gets the epilogue directly.
/// </para>
/// <para>
/// Groups of <see cref="LargeThreads"/> (<see cref="SmallThreads"/>) threads, 1D, over
/// ceil(n / BlockN) × ceil(m / BlockM) × splits. CUDA runs the products on tensor cores
/// (compute capability 8.0 and later); OpenCL and the emulator compute the same products in
/// software, for testing.
/// </para>
/// </remarks>
public static class TensorCoreGemm
{
    /// <summary>Rows and columns of Y per Large group.</summary>
    public const int LargeBlock = 128;

    /// <summary>Threads per Large group: 8 warps, 2 along m × 4 along n.</summary>
    public const int LargeThreads = 256;

    /// <summary>Rows and columns of Y per Small group.</summary>
    public const int SmallBlock = 64;

    /// <summary>Threads per Small group: 4 warps, 2 × 2.</summary>
    public const int SmallThreads = 128;

    /// <summary>The k-slice per pipeline stage in TF32: 2 MMA depths of 8 (the two buffers fit in 48 KiB of static shared memory).</summary>
    public const int SliceKTf32 = 16;

    /// <summary>The k-slice per pipeline stage in BF16/FP16: 2 MMA depths of 16, held as 16 words of (k, k + 1) pairs.</summary>
    public const int SliceK16 = 32;

    /// <summary>Threads per group of <see cref="SplitKReduce"/> and the weight-rounding kernels.</summary>
    public const int ElementThreads = 256;

    /// <summary>Words between rows of a shared TF32 slice: 16 floats and 4 of padding.</summary>
    private const int PitchTf32 = SliceKTf32 + 4;

    /// <summary>Words between rows of a shared 16-bit slice: 16 words of two values and 4 of padding.</summary>
    private const int Pitch16 = SliceK16 / 2 + 4;

    /// <summary>Rows of Y per warp: 64 in Large (two halves of 32), 32 in Small.</summary>
    private const int HalfRows = 32;

    /// <summary>Columns of Y per warp in both tiles: four 8-wide MMA tiles.</summary>
    private const int WarpColumns = 32;

    /// <summary>Accumulators per half-warp region: 2 m-tiles × 4 n-tiles × 4 floats.</summary>
    private const int HalfAccumulators = 32;

    /// <summary>TF32, 128 × 128 block.</summary>
    [Kernel]
    public static void TensorCoreGemmTf32Large(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(2 * LargeBlock * PitchTf32);
        var ws = Group.Shared<float>(2 * LargeBlock * PitchTf32);

        // Two 32-row halves of 2 × 4 tiles; A of one half, B of the 4 tiles; slice s + 1 in flight (X chunks 0, 1, W chunks 2, 3).
        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<float> fa = stackalloc float[8];
        Span<float> fb = stackalloc float[8];
        Span<float> stage = stackalloc float[16];
        GemmTf32(
            xs, ws, acc, fa, fb, stage, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, vectorLoads, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, LargeBlock, LargeThreads, true);
    }

    /// <summary>TF32, 64 × 64 block.</summary>
    [Kernel]
    public static void TensorCoreGemmTf32Small(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(2 * SmallBlock * PitchTf32);
        var ws = Group.Shared<float>(2 * SmallBlock * PitchTf32);
        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<float> fa = stackalloc float[8];
        Span<float> fb = stackalloc float[8];
        Span<float> stage = stackalloc float[16];
        GemmTf32(
            xs, ws, acc, fa, fb, stage, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, vectorLoads, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, SmallBlock, SmallThreads, false);
    }

    /// <summary>BF16, 128 × 128 block; W is bfloat16 [n, k] (X is rounded to bfloat16 when staged).</summary>
    [Kernel]
    public static void TensorCoreGemmBf16Large(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<uint>(2 * LargeBlock * Pitch16);
        var ws = Group.Shared<uint>(2 * LargeBlock * Pitch16);

        // Slice s + 1 in flight: X in 4 chunks of 4 floats (0..15), W in 8 pairs (16..31).
        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        Span<float> stage = stackalloc float[32];
        GemmBf16(
            xs, ws, acc, fa, fb, stage, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, vectorLoads, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, LargeBlock, LargeThreads, true);
    }

    /// <summary>BF16, 64 × 64 block.</summary>
    [Kernel]
    public static void TensorCoreGemmBf16Small(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<uint>(2 * SmallBlock * Pitch16);
        var ws = Group.Shared<uint>(2 * SmallBlock * Pitch16);
        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        Span<float> stage = stackalloc float[32];
        GemmBf16(
            xs, ws, acc, fa, fb, stage, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, vectorLoads, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, SmallBlock, SmallThreads, false);
    }

    /// <summary>FP16, 128 × 128 block; W is IEEE half [n, k] (X is rounded to half when staged).</summary>
    [Kernel]
    public static void TensorCoreGemmFp16Large(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<uint>(2 * LargeBlock * Pitch16);
        var ws = Group.Shared<uint>(2 * LargeBlock * Pitch16);
        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        Span<float> stage = stackalloc float[32];
        GemmFp16(
            xs, ws, acc, fa, fb, stage, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, vectorLoads, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, LargeBlock, LargeThreads, true);
    }

    /// <summary>FP16, 64 × 64 block.</summary>
    [Kernel]
    public static void TensorCoreGemmFp16Small(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<uint>(2 * SmallBlock * Pitch16);
        var ws = Group.Shared<uint>(2 * SmallBlock * Pitch16);
        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        Span<float> stage = stackalloc float[32];
        GemmFp16(
            xs, ws, acc, fa, fb, stage, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, vectorLoads, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, SmallBlock, SmallThreads, false);
    }

    /// <summary>
    /// Split-K's second pass: Y[i] = epilogue(Σ_z partials[z·m·n + i]), the parts added in order z = 0, 1, ...
    /// Groups of <see cref="ElementThreads"/> over ceil(m·n / ElementThreads).
    /// </summary>
    [Kernel]
    public static void SplitKReduce(
        KernelThread thread, ReadOnlyView<float> partials, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int splits, bool hasBias, int activation, bool hasResidual)
    {
        int i = thread.Global.X;
        if (i < m * n)
        {
            float sum = 0f;
            for (int z = 0; z < splits; z++)
            {
                sum += partials[z * m * n + i];
            }

            y[i] = Gemm.GemmEpilogue(sum, i / n, i % n, n, bias, residual, hasBias, activation, hasResidual);
        }
    }

    /// <summary>W rounded to bfloat16 (to nearest, ties to even), element by element: the fp32-weight GEMM's W on the fly.</summary>
    [Kernel]
    public static void RoundToBf16(KernelThread thread, ReadOnlyView<float> source, ReadWriteView<BFloat16> destination, int count)
    {
        int i = thread.Global.X;
        if (i < count)
        {
            destination[i] = (BFloat16)source[i];
        }
    }

    /// <summary>W rounded to IEEE half (to nearest, ties to even), element by element.</summary>
    [Kernel]
    public static void RoundToHalf(KernelThread thread, ReadOnlyView<float> source, ReadWriteView<Half> destination, int count)
    {
        int i = thread.Global.X;
        if (i < count)
        {
            destination[i] = (Half)source[i];
        }
    }

    /// <summary>A bfloat16 weight widened to fp32 (exact): for ops that read fp32 weights (the patch embedding).</summary>
    [Kernel]
    public static void WidenBf16(KernelThread thread, ReadOnlyView<BFloat16> source, ReadWriteView<float> destination, int count)
    {
        int i = thread.Global.X;
        if (i < count)
        {
            destination[i] = (float)source[i];
        }
    }

    /// <summary>An IEEE half weight widened to fp32 (exact).</summary>
    [Kernel]
    public static void WidenHalf(KernelThread thread, ReadOnlyView<Half> source, ReadWriteView<float> destination, int count)
    {
        int i = thread.Global.X;
        if (i < count)
        {
            destination[i] = (float)source[i];
        }
    }

    /// <summary>
    /// The TF32 kernels' body, for a block of <paramref name="block"/> × <paramref name="block"/> of Y
    /// run by <paramref name="threads"/> threads, each warp 64 × 32 of Y (<paramref name="twoHalves"/>)
    /// or 32 × 32. The kernels pass constants, so once the C compilers inline this, its loops and
    /// register-array indices are the constants of one kernel written per tile.
    /// </summary>
    [DeviceFunction]
    public static void GemmTf32(
        SharedArray<float> xs, SharedArray<float> ws, Span<float> acc, Span<float> fa, Span<float> fb, Span<float> stage,
        ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials,
        int local, int groupX, int groupY, int groupZ, int block, int threads, bool twoHalves)
    {
        int lane = local % 32;
        int warpRow = WarpRow(local, block, twoHalves);
        int warpColumn = WarpColumn(local, block);
        int rowBase = groupY * block;
        int columnBase = groupX * block;
        int first = groupZ * slicesPerSplit;
        int last = KernelMath.Min((k + SliceKTf32 - 1) / SliceKTf32, first + slicesPerSplit);
        if (first < last)
        {
            LoadSliceTf32(stage, x, w, local, threads, rowBase, columnBase, m, n, first * SliceKTf32, k, vectorLoads);
            StoreSliceTf32(xs, ws, 0, stage, local, threads);
        }

        Group.Barrier();
        for (int s = first; s < last; s++)
        {
            int buffer = (s - first) % 2 * block * PitchTf32;
            int next = block * PitchTf32 - buffer;
            bool more = s + 1 < last;
            if (more)
            {
                LoadSliceTf32(stage, x, w, local, threads, rowBase, columnBase, m, n, (s + 1) * SliceKTf32, k, vectorLoads);
            }

            for (int step = 0; step < SliceKTf32; step += 8)
            {
                MmaStepTf32(acc, fa, fb, xs, ws, buffer + warpRow * PitchTf32 + step, buffer + warpColumn * PitchTf32 + step, lane, PitchTf32, twoHalves);
            }

            if (more)
            {
                StoreSliceTf32(xs, ws, next, stage, local, threads);
            }

            Group.Barrier();
        }

        StoreWarpTile(acc, rowBase + warpRow, columnBase + warpColumn, lane, m, n, bias, residual, y, hasBias, activation, hasResidual, partials, groupZ, twoHalves);
    }

    /// <summary>
    /// The BF16 kernels' body (tile as in <see cref="GemmTf32"/>). Only the loads of W are its own:
    /// device functions are not generic, so the FP16 body <see cref="GemmFp16"/> is this with a half W.
    /// </summary>
    [DeviceFunction]
    public static void GemmBf16(
        SharedArray<uint> xs, SharedArray<uint> ws, Span<float> acc, Span<uint> fa, Span<uint> fb, Span<float> stage,
        ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials,
        int local, int groupX, int groupY, int groupZ, int block, int threads, bool twoHalves)
    {
        int first = groupZ * slicesPerSplit;
        int last = KernelMath.Min((k + SliceK16 - 1) / SliceK16, first + slicesPerSplit);
        if (first < last)
        {
            LoadPairsBf16(stage, w, local, threads, groupX * block, n, first * SliceK16, k);
        }

        StartSlices16(xs, ws, stage, x, m, k, vectorLoads, local, groupY, block, threads, false, first, last);
        for (int s = first; s < last; s++)
        {
            if (s + 1 < last)
            {
                LoadPairsBf16(stage, w, local, threads, groupX * block, n, (s + 1) * SliceK16, k);
            }

            Slice16(xs, ws, acc, fa, fb, stage, x, m, k, vectorLoads, local, groupY, block, threads, twoHalves, false, s, first, last);
        }

        StoreWarpTile(
            acc, groupY * block + WarpRow(local, block, twoHalves), groupX * block + WarpColumn(local, block), local % 32, m, n, bias, residual, y,
            hasBias, activation, hasResidual, partials, groupZ, twoHalves);
    }

    /// <summary>The FP16 kernels' body: <see cref="GemmBf16"/> with a half W.</summary>
    [DeviceFunction]
    public static void GemmFp16(
        SharedArray<uint> xs, SharedArray<uint> ws, Span<float> acc, Span<uint> fa, Span<uint> fb, Span<float> stage,
        ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, bool vectorLoads, int slicesPerSplit, bool partials,
        int local, int groupX, int groupY, int groupZ, int block, int threads, bool twoHalves)
    {
        int first = groupZ * slicesPerSplit;
        int last = KernelMath.Min((k + SliceK16 - 1) / SliceK16, first + slicesPerSplit);
        if (first < last)
        {
            LoadPairsHalf(stage, w, local, threads, groupX * block, n, first * SliceK16, k);
        }

        StartSlices16(xs, ws, stage, x, m, k, vectorLoads, local, groupY, block, threads, true, first, last);
        for (int s = first; s < last; s++)
        {
            if (s + 1 < last)
            {
                LoadPairsHalf(stage, w, local, threads, groupX * block, n, (s + 1) * SliceK16, k);
            }

            Slice16(xs, ws, acc, fa, fb, stage, x, m, k, vectorLoads, local, groupY, block, threads, twoHalves, true, s, first, last);
        }

        StoreWarpTile(
            acc, groupY * block + WarpRow(local, block, twoHalves), groupX * block + WarpColumn(local, block), local % 32, m, n, bias, residual, y,
            hasBias, activation, hasResidual, partials, groupZ, twoHalves);
    }

    /// <summary>
    /// The 16-bit pipeline's start: X of slice <paramref name="first"/> into the stage (beside W's pairs,
    /// already loaded), the stage into buffer 0 (rounded to half when <paramref name="fp16"/>, else
    /// bfloat16), then the barrier, which every thread reaches also when it has no slice.
    /// </summary>
    [DeviceFunction]
    public static void StartSlices16(
        SharedArray<uint> xs, SharedArray<uint> ws, Span<float> stage, ReadOnlyView<float> x, int m, int k, bool vectorLoads,
        int local, int groupY, int block, int threads, bool fp16, int first, int last)
    {
        if (first < last)
        {
            LoadChunks16(stage, x, local, threads, groupY * block, m, first * SliceK16, k, vectorLoads);
            StoreStage16(xs, ws, 0, stage, local, threads, fp16);
        }

        Group.Barrier();
    }

    /// <summary>
    /// One 16-bit pipeline step: X of slice s + 1 into the stage (W's pairs are already loaded), the
    /// MMAs of slice s from its buffer, then the stage into the other buffer and the barrier.
    /// </summary>
    [DeviceFunction]
    public static void Slice16(
        SharedArray<uint> xs, SharedArray<uint> ws, Span<float> acc, Span<uint> fa, Span<uint> fb, Span<float> stage, ReadOnlyView<float> x,
        int m, int k, bool vectorLoads, int local, int groupY, int block, int threads, bool twoHalves, bool fp16, int s, int first, int last)
    {
        int lane = local % 32;
        int warpRow = WarpRow(local, block, twoHalves);
        int warpColumn = WarpColumn(local, block);
        int buffer = (s - first) % 2 * block * Pitch16;
        int next = block * Pitch16 - buffer;
        bool more = s + 1 < last;
        if (more)
        {
            LoadChunks16(stage, x, local, threads, groupY * block, m, (s + 1) * SliceK16, k, vectorLoads);
        }

        for (int step = 0; step < SliceK16 / 2; step += 8)
        {
            LoadB16(fb, ws, buffer + warpColumn * Pitch16 + step, lane, Pitch16);
            for (int half = 0; half < 2; half++)
            {
                if (half == 0 || twoHalves)
                {
                    LoadA16(fa, xs, buffer + (warpRow + HalfRows * half) * Pitch16 + step, lane);
                    MmaTiles16(acc, HalfAccumulators * half, fa, fb, fp16);
                }
            }
        }

        if (more)
        {
            StoreStage16(xs, ws, next, stage, local, threads, fp16);
        }

        Group.Barrier();
    }

    /// <summary>The first row of Y (in the block) of the warp of thread <paramref name="local"/>: warps are laid out along n first.</summary>
    [DeviceFunction]
    public static int WarpRow(int local, int block, bool twoHalves) => local / 32 / (block / WarpColumns) * (twoHalves ? 2 * HalfRows : HalfRows);

    /// <summary>The first column of Y (in the block) of the warp of thread <paramref name="local"/>.</summary>
    [DeviceFunction]
    public static int WarpColumn(int local, int block) => local / 32 % (block / WarpColumns) * WarpColumns;

    /// <summary>X and W chunks of a TF32 slice (2 each per thread, interleaved) into stage[0..7] (X) and stage[8..15] (W).</summary>
    [DeviceFunction]
    public static void LoadSliceTf32(
        Span<float> stage, ReadOnlyView<float> x, ReadOnlyView<float> w, int local, int threads, int rowBase, int columnBase, int m, int n, int k0, int k, bool vectorLoads)
    {
        for (int chunk = 0; chunk < 2; chunk++)
        {
            LoadChunkTf32(stage, 4 * chunk, x, local + chunk * threads, rowBase, m, k0, k, vectorLoads);
            LoadChunkTf32(stage, 8 + 4 * chunk, w, local + chunk * threads, columnBase, n, k0, k, vectorLoads);
        }
    }

    /// <summary>A staged TF32 slice (<see cref="LoadSliceTf32"/>) into the shared buffers at <paramref name="buffer"/>.</summary>
    [DeviceFunction]
    public static void StoreSliceTf32(SharedArray<float> xs, SharedArray<float> ws, int buffer, Span<float> stage, int local, int threads)
    {
        for (int chunk = 0; chunk < 2; chunk++)
        {
            StoreChunkTf32(xs, buffer, stage, 4 * chunk, local + chunk * threads);
            StoreChunkTf32(ws, buffer, stage, 8 + 4 * chunk, local + chunk * threads);
        }
    }

    /// <summary>X's 4 chunks of a 16-bit slice per thread into stage[0..15].</summary>
    [DeviceFunction]
    public static void LoadChunks16(Span<float> stage, ReadOnlyView<float> x, int local, int threads, int rowBase, int m, int k0, int k, bool vectorLoads)
    {
        for (int chunk = 0; chunk < 4; chunk++)
        {
            LoadChunk16(stage, 4 * chunk, x, local + chunk * threads, rowBase, m, k0, k, vectorLoads);
        }
    }

    /// <summary>
    /// Loads chunk e of a TF32 slice (4 chunks of 4 columns per row: row e / 4, columns k0 + 4·(e % 4)..+3)
    /// of the rows [rowBase, rowBase + ...) of a [rows, k] matrix into stage[at..at + 3]; zeros outside.
    /// </summary>
    [DeviceFunction]
    public static void LoadChunkTf32(Span<float> stage, int at, ReadOnlyView<float> source, int e, int rowBase, int rows, int k0, int k, bool vectorLoads) =>
        LoadChunk(stage, at, source, rowBase + e / (SliceKTf32 / 4), rows, k0 + e % (SliceKTf32 / 4) * 4, k, vectorLoads);

    /// <summary>As <see cref="LoadChunkTf32"/> for a 16-bit slice of X (8 chunks of 4 columns per row).</summary>
    [DeviceFunction]
    public static void LoadChunk16(Span<float> stage, int at, ReadOnlyView<float> source, int e, int rowBase, int rows, int k0, int k, bool vectorLoads) =>
        LoadChunk(stage, at, source, rowBase + e / (SliceK16 / 4), rows, k0 + e % (SliceK16 / 4) * 4, k, vectorLoads);

    /// <summary>Four floats of source[row, column..column + 3] into stage[at..], zeros past rows or k.</summary>
    [DeviceFunction]
    public static void LoadChunk(Span<float> stage, int at, ReadOnlyView<float> source, int row, int rows, int column, int k, bool vectorLoads)
    {
        if (vectorLoads)
        {
            // k % 4 == 0: the chunk is wholly inside or outside k, and 16-byte aligned.
            if (row < rows && column < k)
            {
                Float4 v = source.Load4(row * k + column);
                stage[at] = v.X;
                stage[at + 1] = v.Y;
                stage[at + 2] = v.Z;
                stage[at + 3] = v.W;
            }
            else
            {
                for (int i = 0; i < 4; i++)
                {
                    stage[at + i] = 0f;
                }
            }
        }
        else
        {
            for (int i = 0; i < 4; i++)
            {
                stage[at + i] = row < rows && column + i < k ? source[row * k + column + i] : 0f;
            }
        }
    }

    /// <summary>
    /// W's 8 pairs of a 16-bit slice per thread into stage[16..31] as floats: pair e (16 per row: row e / 16,
    /// columns k0 + 2·(e % 16) and the next) for e = local + p·threads, zeros past rows or k.
    /// </summary>
    [DeviceFunction]
    public static void LoadPairsBf16(Span<float> stage, ReadOnlyView<BFloat16> w, int local, int threads, int rowBase, int rows, int k0, int k)
    {
        for (int pair = 0; pair < 8; pair++)
        {
            int e = local + pair * threads;
            int row = rowBase + e / (SliceK16 / 2);
            int column = k0 + e % (SliceK16 / 2) * 2;
            stage[16 + 2 * pair] = row < rows && column < k ? (float)w[row * k + column] : 0f;
            stage[17 + 2 * pair] = row < rows && column + 1 < k ? (float)w[row * k + column + 1] : 0f;
        }
    }

    /// <summary>As <see cref="LoadPairsBf16"/> for a half W.</summary>
    [DeviceFunction]
    public static void LoadPairsHalf(Span<float> stage, ReadOnlyView<Half> w, int local, int threads, int rowBase, int rows, int k0, int k)
    {
        for (int pair = 0; pair < 8; pair++)
        {
            int e = local + pair * threads;
            int row = rowBase + e / (SliceK16 / 2);
            int column = k0 + e % (SliceK16 / 2) * 2;
            stage[16 + 2 * pair] = row < rows && column < k ? (float)w[row * k + column] : 0f;
            stage[17 + 2 * pair] = row < rows && column + 1 < k ? (float)w[row * k + column + 1] : 0f;
        }
    }

    /// <summary>Stores chunk e of a TF32 slice (stage[from..from + 3]) at its row of the shared buffer starting at <paramref name="buffer"/>.</summary>
    [DeviceFunction]
    public static void StoreChunkTf32(SharedArray<float> shared, int buffer, Span<float> stage, int from, int e)
    {
        int at = buffer + e / (SliceKTf32 / 4) * PitchTf32 + e % (SliceKTf32 / 4) * 4;
        shared.Store4(at, new Float4(stage[from], stage[from + 1], stage[from + 2], stage[from + 3]));
    }

    /// <summary>
    /// Stores a staged 16-bit slice into the buffers at <paramref name="buffer"/>, rounding each pair
    /// (k, k + 1) into one word (bfloat16, or half when <paramref name="half"/>): X's 4 chunks from
    /// stage[0..15], W's 8 pairs from stage[16..31]. W's values are already 16-bit, so its pack is exact.
    /// </summary>
    [DeviceFunction]
    public static void StoreStage16(SharedArray<uint> xs, SharedArray<uint> ws, int buffer, Span<float> stage, int local, int threads, bool half)
    {
        for (int chunk = 0; chunk < 4; chunk++)
        {
            int e = local + chunk * threads;
            int at = buffer + e / (SliceK16 / 4) * Pitch16 + e % (SliceK16 / 4) * 2;
            xs[at] = half ? Mma.PackHalf(stage[4 * chunk], stage[4 * chunk + 1]) : Mma.PackBf16(stage[4 * chunk], stage[4 * chunk + 1]);
            xs[at + 1] = half ? Mma.PackHalf(stage[4 * chunk + 2], stage[4 * chunk + 3]) : Mma.PackBf16(stage[4 * chunk + 2], stage[4 * chunk + 3]);
        }

        for (int pair = 0; pair < 8; pair++)
        {
            int e = local + pair * threads;
            int at = buffer + e / (SliceK16 / 2) * Pitch16 + e % (SliceK16 / 2);
            ws[at] = half ? Mma.PackHalf(stage[16 + 2 * pair], stage[17 + 2 * pair]) : Mma.PackBf16(stage[16 + 2 * pair], stage[17 + 2 * pair]);
        }
    }

    /// <summary>
    /// One k-step of 8 for the warp: B of its four TF32 n-tiles, then A and the MMAs of its first
    /// 32-row half and, with <paramref name="twoHalves"/>, of the second (32 rows further). aAt and bAt
    /// are the warp's first X and W rows at the step's first column; rows are <paramref name="pitch"/> words apart.
    /// </summary>
    [DeviceFunction]
    public static void MmaStepTf32(Span<float> acc, Span<float> fa, Span<float> fb, SharedArray<float> xs, SharedArray<float> ws, int aAt, int bAt, int lane, int pitch, bool twoHalves)
    {
        LoadBTf32(fb, ws, bAt, lane, pitch);
        for (int half = 0; half < 2; half++)
        {
            if (half == 0 || twoHalves)
            {
                MmaHalfTf32(acc, HalfAccumulators * half, fa, fb, xs, aAt + HalfRows * half * pitch, lane, pitch);
            }
        }
    }

    /// <summary>
    /// B of four TF32 n-tiles from the W slice: fb[2j + i] = W[warp column + 8j + groupID, step + threadID_in_group + 4i];
    /// <paramref name="at"/> is the warp's first W row and the step's first column in the shared buffer, rows <paramref name="pitch"/> words apart.
    /// </summary>
    [DeviceFunction]
    public static void LoadBTf32(Span<float> fb, SharedArray<float> ws, int at, int lane, int pitch)
    {
        int start = at + lane / 4 * pitch + lane % 4;
        for (int tile = 0; tile < 4; tile++)
        {
            fb[2 * tile] = ws[start + 8 * tile * pitch];
            fb[2 * tile + 1] = ws[start + 8 * tile * pitch + 4];
        }
    }

    /// <summary>
    /// One k-step of 8 for a 32-row half of a warp's region: A of its two m-tiles from the X slice
    /// (rows groupID + 8·(i % 2), columns threadID_in_group + 4·(i / 2)), then the 2 × 4 MMAs into acc[accBase..];
    /// rows are <paramref name="pitch"/> words apart.
    /// </summary>
    [DeviceFunction]
    public static void MmaHalfTf32(Span<float> acc, int accBase, Span<float> fa, Span<float> fb, SharedArray<float> xs, int at, int lane, int pitch)
    {
        int start = at + lane / 4 * pitch + lane % 4;
        for (int i = 0; i < 8; i++)
        {
            // Fragment i / 4 (m-tile), element i % 4.
            fa[i] = xs[start + (16 * (i / 4) + 8 * (i % 2)) * pitch + 4 * (i % 4 / 2)];
        }

        for (int tile = 0; tile < 8; tile++)
        {
            Mma.M16N8K8Tf32(acc, accBase + 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
        }
    }

    /// <summary>B of four 16-bit n-tiles: word fb[2j + r] = W[warp column + 8j + groupID, pair step + threadID_in_group + 4r] (rows <paramref name="pitch"/> words apart).</summary>
    [DeviceFunction]
    public static void LoadB16(Span<uint> fb, SharedArray<uint> ws, int at, int lane, int pitch)
    {
        int start = at + lane / 4 * pitch + lane % 4;
        for (int tile = 0; tile < 4; tile++)
        {
            fb[2 * tile] = ws[start + 8 * tile * pitch];
            fb[2 * tile + 1] = ws[start + 8 * tile * pitch + 4];
        }
    }

    /// <summary>A of a 32-row half's two 16-bit m-tiles: word fa[4t + r] = X[row 16t + groupID + 8·(r % 2), pair threadID_in_group + 4·(r / 2)].</summary>
    [DeviceFunction]
    public static void LoadA16(Span<uint> fa, SharedArray<uint> xs, int at, int lane)
    {
        int start = at + lane / 4 * Pitch16 + lane % 4;
        for (int i = 0; i < 8; i++)
        {
            fa[i] = xs[start + (16 * (i / 4) + 8 * (i % 2)) * Pitch16 + 4 * (i % 4 / 2)];
        }
    }

    /// <summary>
    /// The 2 × 4 MMAs of a 32-row half with 16-bit A and B (FP16 when <paramref name="fp16"/>, else BF16)
    /// into acc[accBase..]: tile (i, j), m-tile i = tile / 4 (A words 4i..4i+3), n-tile j = tile % 4 (B words 2j, 2j + 1).
    /// </summary>
    [DeviceFunction]
    public static void MmaTiles16(Span<float> acc, int accBase, Span<uint> fa, Span<uint> fb, bool fp16)
    {
        for (int tile = 0; tile < 8; tile++)
        {
            if (fp16)
            {
                Mma.M16N8K16F16(acc, accBase + 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
            }
            else
            {
                Mma.M16N8K16Bf16(acc, accBase + 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
            }
        }
    }

    /// <summary>
    /// Writes the warp's region of Y (<see cref="StoreHalf"/>): its first 32-row half from acc[0..31] at
    /// row0 and, with <paramref name="twoHalves"/>, the second from acc[32..63] 32 rows further.
    /// </summary>
    [DeviceFunction]
    public static void StoreWarpTile(
        Span<float> acc, int row0, int column0, int lane, int m, int n, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        bool hasBias, int activation, bool hasResidual, bool partials, int z, bool twoHalves)
    {
        for (int half = 0; half < 2; half++)
        {
            if (half == 0 || twoHalves)
            {
                StoreHalf(acc, HalfAccumulators * half, row0 + HalfRows * half, column0, lane, m, n, bias, residual, y, hasBias, activation, hasResidual, partials, z);
            }
        }
    }

    /// <summary>
    /// Writes a 32 × 32 half's 2 × 4 D tiles: element i of tile (t, j) is row row0 + 16t + groupID + 8·(i / 2),
    /// column column0 + 8j + 2·threadID_in_group + i % 2. Through the epilogue, or raw into layer z of the
    /// split-K partials.
    /// </summary>
    [DeviceFunction]
    public static void StoreHalf(
        Span<float> acc, int accBase, int row0, int column0, int lane, int m, int n, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        bool hasBias, int activation, bool hasResidual, bool partials, int z)
    {
        for (int tile = 0; tile < 8; tile++)
        {
            for (int i = 0; i < 4; i++)
            {
                int row = row0 + 16 * (tile / 4) + lane / 4 + 8 * (i / 2);
                int column = column0 + 8 * (tile % 4) + 2 * (lane % 4) + i % 2;
                if (row < m && column < n)
                {
                    float sum = acc[accBase + 4 * tile + i];
                    if (partials)
                    {
                        y[z * m * n + row * n + column] = sum;
                    }
                    else
                    {
                        y[row * n + column] = Gemm.GemmEpilogue(sum, row, column, n, bias, residual, hasBias, activation, hasResidual);
                    }
                }
            }
        }
    }
}
