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
/// W, already 16-bit in memory, is copied as raw 16-byte chunks of 8 values (<see cref="Async.Copy8"/>)
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

    /// <summary>Rows of Y per warp half (32) and columns per warp (32), as in <see cref="TensorCoreGemm"/>.</summary>
    private const int HalfRows = 32;

    private const int WarpColumns = 32;

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
        int local = thread.Local.X;
        int lane = local % 32;
        int warpRow = local / 32 / (TensorCoreGemm.LargeBlock / WarpColumns) * (2 * HalfRows);
        int warpColumn = local / 32 % (TensorCoreGemm.LargeBlock / WarpColumns) * WarpColumns;
        int rowBase = thread.Group.Y * TensorCoreGemm.LargeBlock;
        int columnBase = thread.Group.X * TensorCoreGemm.LargeBlock;
        int slices = (k + SliceKTf32 - 1) / SliceKTf32;
        int first = thread.Group.Z * slicesPerSplit;
        int last = KernelMath.Min(slices, first + slicesPerSplit);

        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<float> fa = stackalloc float[8];
        Span<float> fb = stackalloc float[8];
        for (int p = 0; p < Stages - 1; p++)
        {
            if (first + p < last)
            {
                IssueFloats(xs, p * TensorCoreGemm.LargeBlock * PitchTf32, x, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, rowBase, m, (first + p) * SliceKTf32, k, SliceKTf32, PitchTf32);
                IssueFloats(ws, p * TensorCoreGemm.LargeBlock * PitchTf32, w, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, columnBase, n, (first + p) * SliceKTf32, k, SliceKTf32, PitchTf32);
            }

            Async.Commit();
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            int stage = (s - first) % Stages;
            if (s + Stages - 1 < last)
            {
                IssueFloats(xs, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.LargeBlock * PitchTf32, x, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, rowBase, m, (s + Stages - 1) * SliceKTf32, k, SliceKTf32, PitchTf32);
                IssueFloats(ws, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.LargeBlock * PitchTf32, w, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, columnBase, n, (s + Stages - 1) * SliceKTf32, k, SliceKTf32, PitchTf32);
            }

            Async.Commit();
            LoadBTf32Pitched(fb, ws, stage * TensorCoreGemm.LargeBlock * PitchTf32 + warpColumn * PitchTf32, lane);
            for (int half = 0; half < 2; half++)
            {
                MmaHalfTf32Pitched(acc, HalfAccumulators * half, fa, fb, xs, stage * TensorCoreGemm.LargeBlock * PitchTf32 + (warpRow + HalfRows * half) * PitchTf32, lane);
            }
        }

        for (int half = 0; half < 2; half++)
        {
            TensorCoreGemm.StoreHalf(acc, HalfAccumulators * half, rowBase + warpRow + HalfRows * half, columnBase + warpColumn, lane, m, n, bias, residual, y,
                hasBias, activation, hasResidual, partials, thread.Group.Z);
        }
    }

    /// <summary>TF32, 64 × 64 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmTf32SmallCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchTf32);
        var ws = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchTf32);
        int local = thread.Local.X;
        int lane = local % 32;
        int warpRow = local / 32 / (TensorCoreGemm.SmallBlock / WarpColumns) * HalfRows;
        int warpColumn = local / 32 % (TensorCoreGemm.SmallBlock / WarpColumns) * WarpColumns;
        int rowBase = thread.Group.Y * TensorCoreGemm.SmallBlock;
        int columnBase = thread.Group.X * TensorCoreGemm.SmallBlock;
        int slices = (k + SliceKTf32 - 1) / SliceKTf32;
        int first = thread.Group.Z * slicesPerSplit;
        int last = KernelMath.Min(slices, first + slicesPerSplit);

        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<float> fa = stackalloc float[8];
        Span<float> fb = stackalloc float[8];
        for (int p = 0; p < Stages - 1; p++)
        {
            if (first + p < last)
            {
                IssueFloats(xs, p * TensorCoreGemm.SmallBlock * PitchTf32, x, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, rowBase, m, (first + p) * SliceKTf32, k, SliceKTf32, PitchTf32);
                IssueFloats(ws, p * TensorCoreGemm.SmallBlock * PitchTf32, w, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, columnBase, n, (first + p) * SliceKTf32, k, SliceKTf32, PitchTf32);
            }

            Async.Commit();
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            int stage = (s - first) % Stages;
            if (s + Stages - 1 < last)
            {
                IssueFloats(xs, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.SmallBlock * PitchTf32, x, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, rowBase, m, (s + Stages - 1) * SliceKTf32, k, SliceKTf32, PitchTf32);
                IssueFloats(ws, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.SmallBlock * PitchTf32, w, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, columnBase, n, (s + Stages - 1) * SliceKTf32, k, SliceKTf32, PitchTf32);
            }

            Async.Commit();
            LoadBTf32Pitched(fb, ws, stage * TensorCoreGemm.SmallBlock * PitchTf32 + warpColumn * PitchTf32, lane);
            MmaHalfTf32Pitched(acc, 0, fa, fb, xs, stage * TensorCoreGemm.SmallBlock * PitchTf32 + warpRow * PitchTf32, lane);
        }

        TensorCoreGemm.StoreHalf(acc, 0, rowBase + warpRow, columnBase + warpColumn, lane, m, n, bias, residual, y, hasBias, activation, hasResidual, partials, thread.Group.Z);
    }

    /// <summary>BF16, 128 × 128 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmBf16LargeCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.LargeBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.LargeBlock * PitchW16);
        int local = thread.Local.X;
        int lane = local % 32;
        int warpRow = local / 32 / (TensorCoreGemm.LargeBlock / WarpColumns) * (2 * HalfRows);
        int warpColumn = local / 32 % (TensorCoreGemm.LargeBlock / WarpColumns) * WarpColumns;
        int rowBase = thread.Group.Y * TensorCoreGemm.LargeBlock;
        int columnBase = thread.Group.X * TensorCoreGemm.LargeBlock;
        int slices = (k + SliceK16 - 1) / SliceK16;
        int first = thread.Group.Z * slicesPerSplit;
        int last = KernelMath.Min(slices, first + slicesPerSplit);

        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        for (int p = 0; p < Stages - 1; p++)
        {
            if (first + p < last)
            {
                IssueFloats(xs, p * TensorCoreGemm.LargeBlock * PitchX16, x, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, rowBase, m, (first + p) * SliceK16, k, SliceK16, PitchX16);
                IssueBf16(ws, p * TensorCoreGemm.LargeBlock * PitchW16, w, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, columnBase, n, (first + p) * SliceK16, k);
            }

            Async.Commit();
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            int stage = (s - first) % Stages;
            if (s + Stages - 1 < last)
            {
                IssueFloats(xs, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.LargeBlock * PitchX16, x, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, rowBase, m, (s + Stages - 1) * SliceK16, k, SliceK16, PitchX16);
                IssueBf16(ws, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.LargeBlock * PitchW16, w, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, columnBase, n, (s + Stages - 1) * SliceK16, k);
            }

            Async.Commit();
            LoadB16Pitched(fb, ws, stage * TensorCoreGemm.LargeBlock * PitchW16 + warpColumn * PitchW16, lane);
            for (int half = 0; half < 2; half++)
            {
                LoadA16FromFloats(fa, xs, stage * TensorCoreGemm.LargeBlock * PitchX16 + (warpRow + HalfRows * half) * PitchX16, lane, false);
                for (int tile = 0; tile < 8; tile++)
                {
                    Mma.M16N8K16Bf16(acc, HalfAccumulators * half + 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
                }
            }
        }

        for (int half = 0; half < 2; half++)
        {
            TensorCoreGemm.StoreHalf(acc, HalfAccumulators * half, rowBase + warpRow + HalfRows * half, columnBase + warpColumn, lane, m, n, bias, residual, y,
                hasBias, activation, hasResidual, partials, thread.Group.Z);
        }
    }

    /// <summary>BF16, 64 × 64 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmBf16SmallCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<BFloat16> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.SmallBlock * PitchW16);
        int local = thread.Local.X;
        int lane = local % 32;
        int warpRow = local / 32 / (TensorCoreGemm.SmallBlock / WarpColumns) * HalfRows;
        int warpColumn = local / 32 % (TensorCoreGemm.SmallBlock / WarpColumns) * WarpColumns;
        int rowBase = thread.Group.Y * TensorCoreGemm.SmallBlock;
        int columnBase = thread.Group.X * TensorCoreGemm.SmallBlock;
        int slices = (k + SliceK16 - 1) / SliceK16;
        int first = thread.Group.Z * slicesPerSplit;
        int last = KernelMath.Min(slices, first + slicesPerSplit);

        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        for (int p = 0; p < Stages - 1; p++)
        {
            if (first + p < last)
            {
                IssueFloats(xs, p * TensorCoreGemm.SmallBlock * PitchX16, x, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, rowBase, m, (first + p) * SliceK16, k, SliceK16, PitchX16);
                IssueBf16(ws, p * TensorCoreGemm.SmallBlock * PitchW16, w, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, columnBase, n, (first + p) * SliceK16, k);
            }

            Async.Commit();
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            int stage = (s - first) % Stages;
            if (s + Stages - 1 < last)
            {
                IssueFloats(xs, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.SmallBlock * PitchX16, x, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, rowBase, m, (s + Stages - 1) * SliceK16, k, SliceK16, PitchX16);
                IssueBf16(ws, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.SmallBlock * PitchW16, w, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, columnBase, n, (s + Stages - 1) * SliceK16, k);
            }

            Async.Commit();
            LoadB16Pitched(fb, ws, stage * TensorCoreGemm.SmallBlock * PitchW16 + warpColumn * PitchW16, lane);
            LoadA16FromFloats(fa, xs, stage * TensorCoreGemm.SmallBlock * PitchX16 + warpRow * PitchX16, lane, false);
            for (int tile = 0; tile < 8; tile++)
            {
                Mma.M16N8K16Bf16(acc, 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
            }
        }

        TensorCoreGemm.StoreHalf(acc, 0, rowBase + warpRow, columnBase + warpColumn, lane, m, n, bias, residual, y, hasBias, activation, hasResidual, partials, thread.Group.Z);
    }

    /// <summary>FP16, 128 × 128 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmFp16LargeCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.LargeBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.LargeBlock * PitchW16);
        int local = thread.Local.X;
        int lane = local % 32;
        int warpRow = local / 32 / (TensorCoreGemm.LargeBlock / WarpColumns) * (2 * HalfRows);
        int warpColumn = local / 32 % (TensorCoreGemm.LargeBlock / WarpColumns) * WarpColumns;
        int rowBase = thread.Group.Y * TensorCoreGemm.LargeBlock;
        int columnBase = thread.Group.X * TensorCoreGemm.LargeBlock;
        int slices = (k + SliceK16 - 1) / SliceK16;
        int first = thread.Group.Z * slicesPerSplit;
        int last = KernelMath.Min(slices, first + slicesPerSplit);

        Span<float> acc = stackalloc float[2 * HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        for (int p = 0; p < Stages - 1; p++)
        {
            if (first + p < last)
            {
                IssueFloats(xs, p * TensorCoreGemm.LargeBlock * PitchX16, x, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, rowBase, m, (first + p) * SliceK16, k, SliceK16, PitchX16);
                IssueHalf(ws, p * TensorCoreGemm.LargeBlock * PitchW16, w, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, columnBase, n, (first + p) * SliceK16, k);
            }

            Async.Commit();
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            int stage = (s - first) % Stages;
            if (s + Stages - 1 < last)
            {
                IssueFloats(xs, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.LargeBlock * PitchX16, x, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, rowBase, m, (s + Stages - 1) * SliceK16, k, SliceK16, PitchX16);
                IssueHalf(ws, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.LargeBlock * PitchW16, w, local, TensorCoreGemm.LargeThreads, TensorCoreGemm.LargeBlock, columnBase, n, (s + Stages - 1) * SliceK16, k);
            }

            Async.Commit();
            LoadB16Pitched(fb, ws, stage * TensorCoreGemm.LargeBlock * PitchW16 + warpColumn * PitchW16, lane);
            for (int half = 0; half < 2; half++)
            {
                LoadA16FromFloats(fa, xs, stage * TensorCoreGemm.LargeBlock * PitchX16 + (warpRow + HalfRows * half) * PitchX16, lane, true);
                for (int tile = 0; tile < 8; tile++)
                {
                    Mma.M16N8K16F16(acc, HalfAccumulators * half + 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
                }
            }
        }

        for (int half = 0; half < 2; half++)
        {
            TensorCoreGemm.StoreHalf(acc, HalfAccumulators * half, rowBase + warpRow + HalfRows * half, columnBase + warpColumn, lane, m, n, bias, residual, y,
                hasBias, activation, hasResidual, partials, thread.Group.Z);
        }
    }

    /// <summary>FP16, 64 × 64 block, <see cref="Stages"/>-stage cp.async pipeline.</summary>
    [Kernel]
    public static void TensorCoreGemmFp16SmallCpAsync(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<Half> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y,
        int m, int n, int k, bool hasBias, int activation, bool hasResidual, int slicesPerSplit, bool partials)
    {
        var xs = Group.Shared<float>(Stages * TensorCoreGemm.SmallBlock * PitchX16);
        var ws = Group.Shared<uint>(Stages * TensorCoreGemm.SmallBlock * PitchW16);
        int local = thread.Local.X;
        int lane = local % 32;
        int warpRow = local / 32 / (TensorCoreGemm.SmallBlock / WarpColumns) * HalfRows;
        int warpColumn = local / 32 % (TensorCoreGemm.SmallBlock / WarpColumns) * WarpColumns;
        int rowBase = thread.Group.Y * TensorCoreGemm.SmallBlock;
        int columnBase = thread.Group.X * TensorCoreGemm.SmallBlock;
        int slices = (k + SliceK16 - 1) / SliceK16;
        int first = thread.Group.Z * slicesPerSplit;
        int last = KernelMath.Min(slices, first + slicesPerSplit);

        Span<float> acc = stackalloc float[HalfAccumulators];
        Span<uint> fa = stackalloc uint[8];
        Span<uint> fb = stackalloc uint[8];
        for (int p = 0; p < Stages - 1; p++)
        {
            if (first + p < last)
            {
                IssueFloats(xs, p * TensorCoreGemm.SmallBlock * PitchX16, x, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, rowBase, m, (first + p) * SliceK16, k, SliceK16, PitchX16);
                IssueHalf(ws, p * TensorCoreGemm.SmallBlock * PitchW16, w, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, columnBase, n, (first + p) * SliceK16, k);
            }

            Async.Commit();
        }

        for (int s = first; s < last; s++)
        {
            // Slice s has landed (at most the Stages - 2 newer groups pending), for every thread after the
            // barrier, which also ends every warp's reads of slice s - 1: its stage takes slice s + Stages - 1.
            Async.Wait(Stages - 2);
            Group.Barrier();
            int stage = (s - first) % Stages;
            if (s + Stages - 1 < last)
            {
                IssueFloats(xs, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.SmallBlock * PitchX16, x, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, rowBase, m, (s + Stages - 1) * SliceK16, k, SliceK16, PitchX16);
                IssueHalf(ws, ((s - first + Stages - 1) % Stages) * TensorCoreGemm.SmallBlock * PitchW16, w, local, TensorCoreGemm.SmallThreads, TensorCoreGemm.SmallBlock, columnBase, n, (s + Stages - 1) * SliceK16, k);
            }

            Async.Commit();
            LoadB16Pitched(fb, ws, stage * TensorCoreGemm.SmallBlock * PitchW16 + warpColumn * PitchW16, lane);
            LoadA16FromFloats(fa, xs, stage * TensorCoreGemm.SmallBlock * PitchX16 + warpRow * PitchX16, lane, true);
            for (int tile = 0; tile < 8; tile++)
            {
                Mma.M16N8K16F16(acc, 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
            }
        }

        TensorCoreGemm.StoreHalf(acc, 0, rowBase + warpRow, columnBase + warpColumn, lane, m, n, bias, residual, y, hasBias, activation, hasResidual, partials, thread.Group.Z);
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

    /// <summary>B of four TF32 n-tiles from a stage: fb[2j + i] = W[warp column + 8j + groupID, threadID_in_group + 4i].</summary>
    [DeviceFunction]
    public static void LoadBTf32Pitched(Span<float> fb, SharedArray<float> ws, int at, int lane)
    {
        int start = at + lane / 4 * PitchTf32 + lane % 4;
        for (int tile = 0; tile < 4; tile++)
        {
            fb[2 * tile] = ws[start + 8 * tile * PitchTf32];
            fb[2 * tile + 1] = ws[start + 8 * tile * PitchTf32 + 4];
        }
    }

    /// <summary>The k-step of 8 for a 32-row half: A of its two m-tiles from a stage, then the 2 × 4 MMAs into acc[accBase..].</summary>
    [DeviceFunction]
    public static void MmaHalfTf32Pitched(Span<float> acc, int accBase, Span<float> fa, Span<float> fb, SharedArray<float> xs, int at, int lane)
    {
        int start = at + lane / 4 * PitchTf32 + lane % 4;
        for (int i = 0; i < 8; i++)
        {
            fa[i] = xs[start + (16 * (i / 4) + 8 * (i % 2)) * PitchTf32 + 4 * (i % 4 / 2)];
        }

        for (int tile = 0; tile < 8; tile++)
        {
            Mma.M16N8K8Tf32(acc, accBase + 4 * tile, fa, tile / 4 * 4, fb, tile % 4 * 2);
        }
    }

    /// <summary>B of four 16-bit n-tiles from a stage: word fb[2j + r] = W[warp column + 8j + groupID, pair threadID_in_group + 4r].</summary>
    [DeviceFunction]
    public static void LoadB16Pitched(Span<uint> fb, SharedArray<uint> ws, int at, int lane)
    {
        int start = at + lane / 4 * PitchW16 + lane % 4;
        for (int tile = 0; tile < 4; tile++)
        {
            fb[2 * tile] = ws[start + 8 * tile * PitchW16];
            fb[2 * tile + 1] = ws[start + 8 * tile * PitchW16 + 4];
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
