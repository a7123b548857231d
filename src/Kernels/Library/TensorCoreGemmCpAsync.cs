namespace GpuViT.Kernels.Library;

/// <summary>
/// The tensor-core GEMMs of <see cref="TensorCoreGemm"/> (same tiles, warps, fragments and epilogue)
/// with a <see cref="Stages"/>-stage pipeline of per-thread asynchronous copies (<see cref="Async"/>,
/// CUDA cp.async) instead of register-staged double buffering: each thread copies its 16-byte
/// chunks of a k-slice straight from global into shared memory, with no staging registers and no
/// shared stores, and Stages - 1 slices are in flight while the warps compute one.
/// </summary>
/// <remarks>
/// <para>
/// Pipeline: the prologue starts slices first .. first + Stages - 2, one commit group each. Slice s
/// then waits until at most Stages - 2 groups are pending (its own group has landed), and a barrier
/// makes every thread's copies visible and every thread done with slice s - 1, whose stage the copies
/// of slice s + Stages - 1 then fill, before the warps compute slice s. A group is committed in every
/// iteration, empty when no slice is left, so the count stays uniform.
/// </para>
/// <para>
/// Shared memory: only static shared memory (48 KiB) is available. Stages of a full register-staged
/// slice (16 TF32 columns, 128 rows of X and of W, padded) would take 20 KiB each, so these kernels
/// take half slices: 8 columns per stage for TF32 (<see cref="SliceKTf32"/>, rows padded to 12 words),
/// 16 for BF16/FP16 (<see cref="SliceK16"/>). Three stages: Large TF32 36 KiB, Large BF16/FP16 48 KiB
/// (X staged as fp32 rows of 20 words, W as 16-bit rows of 12 words), Small half of that; a fourth stage
/// fits only the Small tile. Padding of 4 words keeps each fragment read on 32 different banks (X's
/// 8-byte pair reads in BF16/FP16 meet a 2-way conflict on a quarter of the lanes).
/// </para>
/// <para>
/// BF16/FP16: X is copied as fp32 and rounded (<see cref="Mma.PackBf16"/>, <see cref="Mma.PackHalf"/>)
/// when the A fragments are built, exactly as the register-staged kernels round it when staging;
/// W, already 16-bit in memory, is copied as raw 16-byte chunks of 8 values (<see cref="Async.Copy8(SharedArray{uint}, int, ReadOnlyView{Half}, int, int)"/>)
/// that are the (k, k + 1) words the B fragments read. The MMAs run in the same k order as in
/// <see cref="TensorCoreGemm"/>, so without split-K both give the same bits.
/// </para>
/// <para>
/// Alignment: cp.async needs 16-byte aligned addresses, so the host launches these only when k is a
/// multiple of 4 (TF32) or 8 (BF16/FP16, a 16-byte chunk of W is 8 values) and the views start at
/// such multiples (X at 4 elements, W at 4 or 8); otherwise it launches <see cref="TensorCoreGemm"/>.
/// Rows past m and n are zero-filled chunks (validElements 0, reading nothing).
/// </para>
/// </remarks>
public static class TensorCoreGemmCpAsync
{
    /// <summary>Shared-memory stages: Stages - 1 slices in flight while one is computed.</summary>
    public const int Stages = 3;

    /// <summary>The k-slice per stage in TF32: one MMA depth of 8.</summary>
    public const int SliceKTf32 = 8;

    /// <summary>The k-slice per stage in BF16/FP16: one MMA depth of 16.</summary>
    public const int SliceK16 = 16;

    /// <summary>Words between rows of a TF32 stage (X and W): 8 floats and 4 of padding.</summary>
    private const int PitchTf32 = SliceKTf32 + 4;

    /// <summary>Words between rows of X in a BF16/FP16 stage: 16 fp32 values and 4 of padding.</summary>
    private const int PitchX16 = SliceK16 + 4;

    /// <summary>Words between rows of W in a BF16/FP16 stage: 8 words of two 16-bit values and 4 of padding.</summary>
    private const int PitchW16 = SliceK16 / 2 + 4;

    /// <summary>Rows of Y per warp half, as in <see cref="TensorCoreGemm"/>.</summary>
    private const int HalfRows = 32;

    /// <summary>Accumulators per half-warp region: 2 m-tiles × 4 n-tiles × 4 floats.</summary>
    private const int HalfAccumulators = 32;

    /// <summary>TF32, 128 × 128 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmTf32LargeCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.LargeBlock * PitchTf32);
        var ws = Group.Shared<float>(Stages * TensorCoreGemm.LargeBlock * PitchTf32);
        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<float> fa = stackalloc float[8];
        Span<float> fb = stackalloc float[8];
        GemmTf32CpAsync(
            xs, ws, acc, fa, fb, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, TensorCoreGemm.LargeBlock, TensorCoreGemm.LargeThreads, true);
    }

    /// <summary>TF32, 64 × 64 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmTf32SmallCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchTf32);
        var ws = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchTf32);
        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<float> fa = stackalloc float[8];
        Span<float> fb = stackalloc float[8];
        GemmTf32CpAsync(
            xs, ws, acc, fa, fb, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, TensorCoreGemm.SmallBlock, TensorCoreGemm.SmallThreads, false);
    }

    /// <summary>BF16, 128 × 128 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmBf16LargeCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.LargeBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.LargeBlock * PitchW16);
        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        GemmBf16CpAsync(
            xs, ws, acc, fa, fb, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, TensorCoreGemm.LargeBlock, TensorCoreGemm.LargeThreads, true);
    }

    /// <summary>BF16, 64 × 64 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmBf16SmallCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.SmallBlock * PitchW16);
        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        GemmBf16CpAsync(
            xs, ws, acc, fa, fb, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, TensorCoreGemm.SmallBlock, TensorCoreGemm.SmallThreads, false);
    }

    /// <summary>FP16, 128 × 128 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmFp16LargeCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.LargeBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.LargeBlock * PitchW16);
        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        GemmFp16CpAsync(
            xs, ws, acc, fa, fb, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, TensorCoreGemm.LargeBlock, TensorCoreGemm.LargeThreads, true);
    }

    /// <summary>FP16, 64 × 64 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmFp16SmallCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.SmallBlock * PitchW16);
        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        GemmFp16CpAsync(
            xs, ws, acc, fa, fb, x, w, bias, residual, y, m, n, k, hasBias, activation, hasResidual, slicesPerSplit, partials,
            thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z, TensorCoreGemm.SmallBlock, TensorCoreGemm.SmallThreads, false);
    }

    /// <summary>
    /// The TF32 kernels' body, for a block of <paramref name="block"/> × <paramref name="block"/> of Y run by
    /// <paramref name="threads"/> threads, each warp 64 × 32 of Y (<paramref name="twoHalves"/>) or 32 × 32: the
    /// kernels pass constants, which the C compilers propagate once they inline it.
    /// </summary>
    [DeviceFunction]
    public static void GemmTf32CpAsync(
        SharedArray<float> xs, SharedArray<float> ws, Span<float> acc, Span<float> fa, Span<float> fb,
        ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials,
        int local, int groupX, int groupY, int groupZ, int block, int threads, bool twoHalves)
    {
        int rowBase = groupY * block;
        int columnBase = groupX * block;
        int first = groupZ * slicesPerSplit;
        int last = KernelMath.Min((k + SliceKTf32 - 1) / SliceKTf32, first + slicesPerSplit);
        for (int p = 0; p < Stages - 1; p++)
        {
            IssueSliceTf32(xs, ws, p, x, w, local, threads, block, rowBase, columnBase, m, n, first + p, last, k);
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            IssueSliceTf32(xs, ws, (s - first + Stages - 1) % Stages, x, w, local, threads, block, rowBase, columnBase, m, n, s + Stages - 1, last, k);
            int at = (s - first) % Stages * block * PitchTf32;
            TensorCoreGemm.MmaStepTf32(
                acc, fa, fb, xs, ws, at + TensorCoreGemm.WarpRow(local, block, twoHalves) * PitchTf32, at + TensorCoreGemm.WarpColumn(local, block) * PitchTf32,
                local % 32, PitchTf32, twoHalves);
        }

        TensorCoreGemm.StoreWarpTile(
            acc, rowBase + TensorCoreGemm.WarpRow(local, block, twoHalves), columnBase + TensorCoreGemm.WarpColumn(local, block), local % 32, m, n, bias, residual, y,
            hasBias, activation, hasResidual, partials, groupZ, twoHalves);
    }

    /// <summary>
    /// The BF16 kernels' body (tile as in <see cref="GemmTf32CpAsync"/>); only its copies of W are its own
    /// (device functions are not generic): <see cref="GemmFp16CpAsync"/> is this with a half W.
    /// </summary>
    [DeviceFunction]
    public static void GemmBf16CpAsync(
        SharedArray<float> xs, SharedArray<uint> ws, Span<float> acc, Span<uint> fa, Span<uint> fb,
        ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials,
        int local, int groupX, int groupY, int groupZ, int block, int threads, bool twoHalves)
    {
        int rowBase = groupY * block;
        int columnBase = groupX * block;
        int first = groupZ * slicesPerSplit;
        int last = KernelMath.Min((k + SliceK16 - 1) / SliceK16, first + slicesPerSplit);
        for (int p = 0; p < Stages - 1; p++)
        {
            IssueSliceBf16(xs, ws, p, x, w, local, threads, block, rowBase, columnBase, m, n, first + p, last, k);
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            IssueSliceBf16(xs, ws, (s - first + Stages - 1) % Stages, x, w, local, threads, block, rowBase, columnBase, m, n, s + Stages - 1, last, k);
            MmaStage16(acc, fa, fb, xs, ws, (s - first) % Stages, local, block, twoHalves, false);
        }

        TensorCoreGemm.StoreWarpTile(
            acc, rowBase + TensorCoreGemm.WarpRow(local, block, twoHalves), columnBase + TensorCoreGemm.WarpColumn(local, block), local % 32, m, n, bias, residual, y,
            hasBias, activation, hasResidual, partials, groupZ, twoHalves);
    }

    /// <summary>The FP16 kernels' body: <see cref="GemmBf16CpAsync"/> with a half W.</summary>
    [DeviceFunction]
    public static void GemmFp16CpAsync(
        SharedArray<float> xs, SharedArray<uint> ws, Span<float> acc, Span<uint> fa, Span<uint> fb,
        ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials,
        int local, int groupX, int groupY, int groupZ, int block, int threads, bool twoHalves)
    {
        int rowBase = groupY * block;
        int columnBase = groupX * block;
        int first = groupZ * slicesPerSplit;
        int last = KernelMath.Min((k + SliceK16 - 1) / SliceK16, first + slicesPerSplit);
        for (int p = 0; p < Stages - 1; p++)
        {
            IssueSliceHalf(xs, ws, p, x, w, local, threads, block, rowBase, columnBase, m, n, first + p, last, k);
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            IssueSliceHalf(xs, ws, (s - first + Stages - 1) % Stages, x, w, local, threads, block, rowBase, columnBase, m, n, s + Stages - 1, last, k);
            MmaStage16(acc, fa, fb, xs, ws, (s - first) % Stages, local, block, twoHalves, true);
        }

        TensorCoreGemm.StoreWarpTile(
            acc, rowBase + TensorCoreGemm.WarpRow(local, block, twoHalves), columnBase + TensorCoreGemm.WarpColumn(local, block), local % 32, m, n, bias, residual, y,
            hasBias, activation, hasResidual, partials, groupZ, twoHalves);
    }

    /// <summary>
    /// Starts the copies of TF32 slice <paramref name="slice"/> (X rows rowBase.., W rows columnBase..) into
    /// stage <paramref name="stage"/> when it is before <paramref name="last"/>, and commits them as one group
    /// (an empty one otherwise, so that every thread counts the same groups).
    /// </summary>
    [DeviceFunction]
    public static void IssueSliceTf32(
        SharedArray<float> xs, SharedArray<float> ws, int stage, ReadOnlyView<float> x, ReadOnlyView<float> w,
        int local, int threads, int block, int rowBase, int columnBase, int m, int n, int slice, int last, int k)
    {
        if (slice < last)
        {
            IssueFloats(xs, stage * block * PitchTf32, x, local, threads, block, rowBase, m, slice * SliceKTf32, k, SliceKTf32, PitchTf32);
            IssueFloats(ws, stage * block * PitchTf32, w, local, threads, block, columnBase, n, slice * SliceKTf32, k, SliceKTf32, PitchTf32);
        }

        Async.Commit();
    }

    /// <summary>As <see cref="IssueSliceTf32"/> for a BF16 slice: X as fp32, W as raw bfloat16 chunks.</summary>
    [DeviceFunction]
    public static void IssueSliceBf16(
        SharedArray<float> xs, SharedArray<uint> ws, int stage, ReadOnlyView<float> x, ReadOnlyView<BFloat16> w,
        int local, int threads, int block, int rowBase, int columnBase, int m, int n, int slice, int last, int k)
    {
        if (slice < last)
        {
            IssueFloats(xs, stage * block * PitchX16, x, local, threads, block, rowBase, m, slice * SliceK16, k, SliceK16, PitchX16);
            IssueBf16(ws, stage * block * PitchW16, w, local, threads, block, columnBase, n, slice * SliceK16, k);
        }

        Async.Commit();
    }

    /// <summary>As <see cref="IssueSliceBf16"/> for a half W.</summary>
    [DeviceFunction]
    public static void IssueSliceHalf(
        SharedArray<float> xs, SharedArray<uint> ws, int stage, ReadOnlyView<float> x, ReadOnlyView<Half> w,
        int local, int threads, int block, int rowBase, int columnBase, int m, int n, int slice, int last, int k)
    {
        if (slice < last)
        {
            IssueFloats(xs, stage * block * PitchX16, x, local, threads, block, rowBase, m, slice * SliceK16, k, SliceK16, PitchX16);
            IssueHalf(ws, stage * block * PitchW16, w, local, threads, block, columnBase, n, slice * SliceK16, k);
        }

        Async.Commit();
    }

    /// <summary>
    /// The MMAs of the 16-bit slice in stage <paramref name="stage"/> (FP16 when <paramref name="fp16"/>, else BF16):
    /// B of the warp's four n-tiles, then A (X rounded from fp32) and the MMAs of its first 32-row half and,
    /// with <paramref name="twoHalves"/>, of the second.
    /// </summary>
    [DeviceFunction]
    public static void MmaStage16(Span<float> acc, Span<uint> fa, Span<uint> fb, SharedArray<float> xs, SharedArray<uint> ws, int stage, int local, int block, bool twoHalves, bool fp16)
    {
        int lane = local % 32;
        int warpRow = TensorCoreGemm.WarpRow(local, block, twoHalves);
        TensorCoreGemm.LoadB16(fb, ws, stage * block * PitchW16 + TensorCoreGemm.WarpColumn(local, block) * PitchW16, lane, PitchW16);
        for (int half = 0; half < 2; half++)
        {
            if (half == 0 || twoHalves)
            {
                LoadA16FromFloats(fa, xs, stage * block * PitchX16 + (warpRow + HalfRows * half) * PitchX16, lane, fp16);
                TensorCoreGemm.MmaTiles16(acc, HalfAccumulators * half, fa, fb, fp16);
            }
        }
    }

    /// <summary>
    /// Starts the copies of one k-slice of a [rows, k] fp32 matrix (rows rowBase.., columns k0..k0 + sliceK)
    /// into a stage at <paramref name="stageBase"/> (rows <paramref name="pitch"/> words apart): chunks of
    /// 4 columns shared out over the group's threads, zero-filled past rows and k.
    /// </summary>
    [DeviceFunction]
    public static void IssueFloats(
        SharedArray<float> shared, int stageBase, ReadOnlyView<float> source, int local, int threads, int blockRows, int rowBase, int rows, int k0, int k, int sliceK, int pitch)
    {
        int chunksPerRow = sliceK / 4;
        for (int e = local; e < blockRows * chunksPerRow; e += threads)
        {
            int row = e / chunksPerRow;
            int column = k0 + e % chunksPerRow * 4;
            int valid = rowBase + row < rows ? KernelMath.Max(0, KernelMath.Min(4, k - column)) : 0;

            // A chunk with nothing to read points at element 0, never past the view.
            Async.Copy4(shared, stageBase + row * pitch + e % chunksPerRow * 4, source, valid > 0 ? (rowBase + row) * k + column : 0, valid);
        }
    }

    /// <summary>As <see cref="IssueFloats"/> for a bfloat16 W slice of <see cref="SliceK16"/> columns: chunks of 8 values, 4 words each.</summary>
    [DeviceFunction]
    public static void IssueBf16(
        SharedArray<uint> shared, int stageBase, ReadOnlyView<BFloat16> source, int local, int threads, int blockRows, int rowBase, int rows, int k0, int k)
    {
        for (int e = local; e < blockRows * (SliceK16 / 8); e += threads)
        {
            int row = e / (SliceK16 / 8);
            int column = k0 + e % (SliceK16 / 8) * 8;
            int valid = rowBase + row < rows ? KernelMath.Max(0, KernelMath.Min(8, k - column)) : 0;
            Async.Copy8(shared, stageBase + row * PitchW16 + e % (SliceK16 / 8) * 4, source, valid > 0 ? (rowBase + row) * k + column : 0, valid);
        }
    }

    /// <summary>As <see cref="IssueBf16"/> for a half W.</summary>
    [DeviceFunction]
    public static void IssueHalf(
        SharedArray<uint> shared, int stageBase, ReadOnlyView<Half> source, int local, int threads, int blockRows, int rowBase, int rows, int k0, int k)
    {
        for (int e = local; e < blockRows * (SliceK16 / 8); e += threads)
        {
            int row = e / (SliceK16 / 8);
            int column = k0 + e % (SliceK16 / 8) * 8;
            int valid = rowBase + row < rows ? KernelMath.Max(0, KernelMath.Min(8, k - column)) : 0;
            Async.Copy8(shared, stageBase + row * PitchW16 + e % (SliceK16 / 8) * 4, source, valid > 0 ? (rowBase + row) * k + column : 0, valid);
        }
    }

    /// <summary>
    /// A of a 32-row half's two 16-bit m-tiles from fp32 X in a stage, each (k, k + 1) pair rounded
    /// into one word (half when <paramref name="half"/>, else bfloat16): word fa[4t + r] = X[row 16t +
    /// groupID + 8·(r % 2), pair threadID_in_group + 4·(r / 2)].
    /// </summary>
    [DeviceFunction]
    public static void LoadA16FromFloats(Span<uint> fa, SharedArray<float> xs, int at, int lane, bool half)
    {
        int start = at + lane / 4 * PitchX16 + 2 * (lane % 4);
        for (int i = 0; i < 8; i++)
        {
            Float2 pair = xs.Load2(start + (16 * (i / 4) + 8 * (i % 2)) * PitchX16 + 8 * (i % 4 / 2));
            fa[i] = half ? Mma.PackHalf(pair.X, pair.Y) : Mma.PackBf16(pair.X, pair.Y);
        }
    }
}
