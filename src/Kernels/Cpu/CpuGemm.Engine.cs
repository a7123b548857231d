using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuViT.Kernels.Library;

namespace GpuViT.Kernels.Cpu;

// The packed GEMM engine (BLIS's loop nest): for each task's block of MC rows, for each k block
// of KC, pack X's rows into MR-row panels; for each NR-column panel of W (packed once per call,
// on first use, unless the caller packed W once for all calls), for each MR-row panel:
// micro-kernel into an L1 tile, then the epilogue from the tile into Y. With W packed before the
// call, W streams from memory (a model's weights do not fit in cache), and each micro-kernel call
// prefetches its share of the next panel: the row panels that reuse a panel from cache make no
// misses for the hardware prefetchers to follow, so without it every panel's first call waited on
// memory (ViT-S at batch 1 and 128, 65 tokens: ~12% faster end to end).
public static unsafe partial class CpuGemm
{
    // Below this many multiply-adds one thread does it all: a parallel loop costs ~10 µs.
    private const long ParallelMinMultiplyAdds = 1 << 20;

    // Fewer rows than this go to the dot-product path: packing W would cost as much as the product.
    private const int DotProductRowsBelow = 8;

    // The dot-product path splits W over the cores from this many weights (256 KiB, ~3 µs to stream).
    private const long DotProductParallelMinWeights = 1 << 16;

    private static readonly ParallelOptions Options = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>The micro-kernel and blocking the engine runs with; chosen once for the machine.</summary>
    internal sealed class Tuning
    {
        public required int MR { get; init; }
        public required int NR { get; init; }

        /// <summary>Rows per cache block (a multiple of MR): an MC × KC block of packed X stays in L2.</summary>
        public required int MC { get; init; }

        /// <summary>
        /// The longest k block. Longer blocks mean fewer passes of partial sums through Y; the KC × NR
        /// panel of packed W then streams from L2 (wide: 128 KiB; measured 9% faster at 1024³ than
        /// 384) or sits in L1 (narrow: 24 KiB, for 32 KiB L1s).
        /// </summary>
        public required int KC { get; init; }

        /// <summary>The micro-kernel: (kc, packed X, packed W, tile, prefetch address, prefetch bytes per k step).</summary>
        public required delegate*<int, float*, float*, float*, byte*, nint, void> Kernel { get; init; }

        /// <summary>The first <see cref="HalfRows"/> rows of <see cref="Kernel"/>'s tile from the same packed panels, for a last panel that few rows fill; or null.</summary>
        public delegate*<int, float*, float*, float*, byte*, nint, void> HalfKernel { get; init; }

        public int HalfRows { get; init; }

        /// <summary>
        /// <see cref="Kernel"/> and <see cref="HalfKernel"/> with a software prefetch per k step, for
        /// W packed before the call: the next panel streams in under this one's FMAs; or null.
        /// </summary>
        public delegate*<int, float*, float*, float*, byte*, nint, void> PrefetchKernel { get; init; }

        /// <inheritdoc cref="PrefetchKernel"/>
        public delegate*<int, float*, float*, float*, byte*, nint, void> PrefetchHalfKernel { get; init; }

        public string Name => $"{MR}x{NR}";
    }

    /// <summary>Vector512: 24 of the 32 registers hold the 12×32 tile.</summary>
    internal static readonly Tuning Wide = new() { MR = 12, NR = 32, MC = 96, KC = 1024, Kernel = &Kernel12x32<NoPrefetch>, HalfKernel = &Kernel6of12x32<NoPrefetch>, HalfRows = 6,
        PrefetchKernel = &Kernel12x32<Prefetching>, PrefetchHalfKernel = &Kernel6of12x32<Prefetching>,
    };

    /// <summary>
    /// <see cref="Wide"/> without the prefetching kernels: the same panels, blocking and arithmetic
    /// (Y to the bit), for comparing a W packed before the call with and without the software
    /// prefetch of the next panel. A weight packed with it (<see cref="PackWeight(Tuning, int, int, ReadOnlySpan{float}, int)"/>)
    /// runs without prefetching; nothing chooses it by default.
    /// </summary>
    internal static readonly Tuning WideWithoutPrefetch = new() { MR = 12, NR = 32, MC = 96, KC = 1024, Kernel = &Kernel12x32<NoPrefetch>, HalfKernel = &Kernel6of12x32<NoPrefetch>, HalfRows = 6 };

    /// <summary>Vector256: 12 of the 16 registers hold the 6×16 tile (8×16 would spill).</summary>
    internal static readonly Tuning Narrow = new() { MR = 6, NR = 16, MC = 96, KC = 384, Kernel = &Kernel6x16 };

    /// <summary>What <see cref="Gemm(int, int, int, float*, int, float*, int, float*, float*, int, float*, int, Activation)"/> runs with.</summary>
    internal static Tuning Current { get; } = Vector512.IsHardwareAccelerated ? Wide : Narrow;

    /// <summary>
    /// Y = epilogue(α·A·op(B)), op(B)[p, j] = B[j·LdB + p] when BIsRowsOfK (W, Kᵀ), else B[p·LdB + j] (V).
    /// With PackedB, B is not read: op(B) is already packed into the tuning's panels (<see cref="PackB"/> for all of them).
    /// </summary>
    private struct Problem
    {
        public int M, N, K;
        public float* A;
        public int LdA;
        public float* B;
        public int LdB;
        public bool BIsRowsOfK;
        public float* PackedB;
        public Epilogue Epilogue;
    }

    private static void Run(ref Problem problem, Tuning tuning, bool mayParallelize)
    {
        // With W packed before the call and few rows, reading W bounds the time as in the dot
        // products, so W's size decides there too.
        bool parallel = mayParallelize && Environment.ProcessorCount > 1
            && ((long)problem.M * problem.N * problem.K >= ParallelMinMultiplyAdds
                || (problem.PackedB != null && (long)problem.N * problem.K >= DotProductParallelMinWeights));
        if (problem.K == 0)
        {
            ApplyToZeros(ref problem);
        }
        else if (problem.M < DotProductRowsBelow && problem.BIsRowsOfK && problem.PackedB == null)
        {
            // Reading W bounds the dot products, so its size decides: each core streams its share.
            bool parallelDots = mayParallelize && Environment.ProcessorCount > 1
                && (long)problem.N * problem.K >= DotProductParallelMinWeights;
            new DotJob(problem).Run(parallelDots);
        }
        else
        {
            new PackedJob(problem, tuning, parallel).Run();
        }
    }

    /// <summary>k = 0: Y = act(bias) + R.</summary>
    private static void ApplyToZeros(ref Problem problem)
    {
        const int Chunk = 64;
        float* zeros = stackalloc float[Chunk];
        new Span<float>(zeros, Chunk).Clear();
        for (int i = 0; i < problem.M; i++)
        {
            for (int j = 0; j < problem.N; j += Chunk)
            {
                problem.Epilogue.Apply(zeros, 1, Math.Min(Chunk, problem.N - j), 0, i, j, first: true, last: true);
            }
        }
    }

    /// <summary>
    /// What happens to a finished tile of α·A·op(B) (or one k block's share of it) on its way to Y.
    /// The first k block adds the bias, and the residual too when there is no activation (it is
    /// then linear, so Y may alias R); later blocks add to Y; the last applies the activation and,
    /// after an activation, the residual.
    /// </summary>
    internal readonly struct Epilogue(float alpha, float* bias, float* residual, int residualRowStride, float* y, int yRowStride, Activation activation)
    {
        public Activation Activation => activation;

        public bool ResidualIsY => residual == y && residualRowStride == yRowStride;

        /// <summary>Applies to rows × cols values at tile (row stride tileRowStride), landing at Y[row0.., col0..].</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Apply(float* tile, int rows, int cols, int tileRowStride, int row0, int col0, bool first, bool last)
        {
            var steps = new Steps(
                AddY: !first,
                AddBias: first && bias != null,
                ResidualFirst: first && residual != null && activation == Activation.None,
                Activate: last && activation != Activation.None,
                ResidualLast: last && residual != null && activation != Activation.None);
            float* b = bias + col0;
            float* stage = stackalloc float[4 * Lanes256];
            for (int i = 0; i < rows; i++)
            {
                float* t = tile + (long)i * tileRowStride;
                float* yRow = y + (long)(row0 + i) * yRowStride + col0;
                float* rRow = residual + (long)(row0 + i) * residualRowStride + col0;
                int j = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    for (; j + 16 <= cols; j += 16)
                    {
                        Finish512(t + j, yRow + j, b + j, rRow + j, steps).Store(yRow + j);
                    }
                }

                for (; j + Lanes256 <= cols; j += Lanes256)
                {
                    Finish256(t + j, yRow + j, b + j, rRow + j, steps).Store(yRow + j);
                }

                if (j < cols)
                {
                    // The last columns go through staging vectors, so they get the same lane math.
                    int count = cols - j;
                    float* stagedT = Stage(t + j, count, stage);
                    float* stagedY = steps.AddY ? Stage(yRow + j, count, stage + Lanes256) : null;
                    float* stagedB = steps.AddBias ? Stage(b + j, count, stage + 2 * Lanes256) : null;
                    float* stagedR = residual != null ? Stage(rRow + j, count, stage + 3 * Lanes256) : null;
                    Finish256(stagedT, stagedY, stagedB, stagedR, steps).Store(stage);
                    new ReadOnlySpan<float>(stage, count).CopyTo(new Span<float>(yRow + j, count));
                }
            }
        }

        private readonly record struct Steps(bool AddY, bool AddBias, bool ResidualFirst, bool Activate, bool ResidualLast);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Vector256<float> Finish256(float* t, float* yOld, float* b, float* r, Steps steps)
        {
            Vector256<float> v = Vector256.Load(t) * Vector256.Create(alpha);
            v = steps.AddY ? v + Vector256.Load(yOld) : v;
            v = steps.AddBias ? v + Vector256.Load(b) : v;
            v = steps.ResidualFirst ? v + Vector256.Load(r) : v;
            if (steps.Activate)
            {
                v = activation == Activation.Gelu ? CpuMath.Gelu(v) : CpuMath.GeluTanh(v);
            }

            return steps.ResidualLast ? v + Vector256.Load(r) : v;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Vector512<float> Finish512(float* t, float* yOld, float* b, float* r, Steps steps)
        {
            Vector512<float> v = Vector512.Load(t) * Vector512.Create(alpha);
            v = steps.AddY ? v + Vector512.Load(yOld) : v;
            v = steps.AddBias ? v + Vector512.Load(b) : v;
            v = steps.ResidualFirst ? v + Vector512.Load(r) : v;
            if (steps.Activate)
            {
                v = activation == Activation.Gelu ? CpuMath.Gelu(v) : CpuMath.GeluTanh(v);
            }

            return steps.ResidualLast ? v + Vector512.Load(r) : v;
        }

        /// <summary>count values into an 8-lane staging buffer, zero after.</summary>
        private static float* Stage(float* source, int count, float* buffer)
        {
            new Span<float>(buffer, Lanes256).Clear();
            new ReadOnlySpan<float>(source, count).CopyTo(new Span<float>(buffer, count));
            return buffer;
        }
    }

    private const int Lanes256 = 8;

    /// <summary>
    /// The packed path: tasks over blocks of rows and ranges of column panels. W is packed panel by
    /// panel on first use, by whichever task gets there first (the others wait for that panel), so
    /// packing is shared between the cores and a panel is used while it is still in cache. Tasks
    /// start their walk over the panels at different places, so they pack different ones. A W
    /// packed before the call (<see cref="PackedGemmWeight"/>) is read as is.
    /// </summary>
    private sealed class PackedJob
    {
        private const int NotPacked = 0, Packing = 1, Packed = 2;

        private readonly Problem _p;
        private readonly Tuning _t;
        private readonly int _kc, _kBlocks, _microRows, _panels, _rowTasks, _colTasks, _threads;
        private readonly int[] _panelStates;
        private readonly bool _prepacked;
        private float* _packedB;

        public PackedJob(Problem problem, Tuning tuning, bool parallel)
        {
            _p = problem;
            _t = tuning;
            _kBlocks = (problem.K + tuning.KC - 1) / tuning.KC;
            // An activated residual that is Y itself must be read before Y holds partial sums.
            if (problem.Epilogue.Activation != Activation.None && problem.Epilogue.ResidualIsY)
            {
                _kBlocks = 1;
            }

            // Even k blocks, rounded to 8 so packed panels stay aligned.
            _kc = Math.Min(problem.K, RoundUp((problem.K + _kBlocks - 1) / _kBlocks, 8));
            _microRows = (problem.M + tuning.MR - 1) / tuning.MR;
            _panels = (problem.N + tuning.NR - 1) / tuning.NR;
            _prepacked = problem.PackedB != null;
            _panelStates = _prepacked ? [] : new int[_panels];
            _threads = parallel ? Environment.ProcessorCount : 1;
            // One task per core, over rows; with fewer micro-rows than cores, over columns too.
            // W packed before the call and all rows in one cache block (a few images' tokens): over
            // columns only. Each core then streams its own share of W, which is what moves at small
            // batch, and runs every row panel, so a short last panel (the half kernel) does not
            // leave one core waiting for the other. Every task packs the few rows of X.
            if (_prepacked && _microRows <= tuning.MC / tuning.MR)
            {
                _rowTasks = 1;
                _colTasks = Math.Min(_panels, _threads);
            }
            else
            {
                _rowTasks = Math.Min(_microRows, _threads);
                _colTasks = _rowTasks >= _threads ? 1 : Math.Min(_panels, (_threads + _rowTasks - 1) / _rowTasks);
            }
        }

        public void Run()
        {
            _packedB = _prepacked ? _p.PackedB : PackedBScratch.Get((long)_panels * _t.NR * _p.K);
            int tasks = _rowTasks * _colTasks;
            if (tasks > 1)
            {
                Parallel.For(0, tasks, Options, Compute);
            }
            else
            {
                Compute(0);
            }
        }

        /// <summary>Panel <paramref name="panel"/> of packed W (all of k), packing it if no task has.</summary>
        private float* Panel(int panel)
        {
            float* packed = _packedB + (long)panel * _t.NR * _p.K;
            if (_prepacked)
            {
                return packed;
            }

            ref int state = ref _panelStates[panel];
            if (Volatile.Read(ref state) != Packed)
            {
                if (Interlocked.CompareExchange(ref state, Packing, NotPacked) == NotPacked)
                {
                    int j0 = panel * _t.NR;
                    PackB(_p, j0, Math.Min(_t.NR, _p.N - j0), _t.NR, packed);
                    Volatile.Write(ref state, Packed);
                }
                else
                {
                    var wait = default(SpinWait);
                    while (Volatile.Read(ref state) != Packed)
                    {
                        wait.SpinOnce();
                    }
                }
            }

            return packed;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Compute(int task)
        {
            int mr = _t.MR, nr = _t.NR;
            int rowTask = task / _colTasks, colTask = task % _colTasks;
            int r0 = (int)((long)_microRows * rowTask / _rowTasks), r1 = (int)((long)_microRows * (rowTask + 1) / _rowTasks);
            int p0 = (int)((long)_panels * colTask / _colTasks), p1 = (int)((long)_panels * (colTask + 1) / _colTasks);
            int panelCount = p1 - p0;
            int firstPanel = (int)((long)panelCount * rowTask / _rowTasks);
            int mcMicro = Math.Max(1, _t.MC / mr);
            float* packedA = PackedAScratch.Get((long)mcMicro * mr * _kc + mr * nr + 64);
            float* tile = packedA + RoundUp(mcMicro * mr * _kc, 16);
            var kernel = _t.Kernel;
            var halfKernel = _t.HalfKernel;
            var prefetchKernel = _t.PrefetchKernel;
            var prefetchHalfKernel = _t.PrefetchHalfKernel;
            bool prefetch = Sse.IsSupported && _prepacked && prefetchKernel != null && prefetchHalfKernel != null;
            for (int rb = r0; rb < r1; rb += mcMicro)
            {
                int rbEnd = Math.Min(r1, rb + mcMicro);
                int rowBegin = rb * mr, rowEnd = Math.Min(_p.M, rbEnd * mr);
                for (int kb = 0; kb < _kBlocks; kb++)
                {
                    int pc = kb * _kc;
                    int kLength = Math.Min(_kc, _p.K - pc);
                    if (prefetch && kb == 0 && rb == r0)
                    {
                        // The first panel has no panel before it to prefetch it: ask for it before packing X.
                        byte* first = (byte*)(Panel(p0 + firstPanel % panelCount) + (long)pc * nr);
                        long bytes = (long)kLength * nr * sizeof(float);
                        for (long offset = 0; offset < bytes; offset += 64)
                        {
                            Sse.Prefetch1(first + offset);
                        }
                    }

                    PackA(_p, rowBegin, rowEnd, pc, kLength, mr, packedA);
                    for (int step = 0; step < panelCount; step++)
                    {
                        int panel = p0 + (firstPanel + step) % panelCount;
                        float* b = Panel(panel) + (long)pc * nr;
                        int col0 = panel * nr;
                        int cols = Math.Min(nr, _p.N - col0);

                        // Prefetching: the row panels' calls share the next W panel's k block (the
                        // first panel of the next k block after the last), a step of it per k step.
                        byte* next = null;
                        nint prefetchStep = 0;
                        if (prefetch)
                        {
                            if (step + 1 < panelCount)
                            {
                                next = (byte*)(Panel(p0 + (firstPanel + step + 1) % panelCount) + (long)pc * nr);
                            }
                            else if (kb + 1 < _kBlocks)
                            {
                                next = (byte*)(Panel(p0 + firstPanel % panelCount) + (long)(pc + _kc) * nr);
                            }

                            int calls = rbEnd - rb;
                            prefetchStep = Math.Min(64, (nr * sizeof(float) + calls - 1) / calls);
                        }

                        for (int r = rb; r < rbEnd; r++)
                        {
                            int row0 = r * mr;
                            int rows = Math.Min(mr, _p.M - row0);
                            float* a = packedA + (long)(r - rb) * kLength * mr;
                            // This call's share of the next panel (ignored by the kernels that do not prefetch).
                            byte* share = next + (long)(r - rb) * prefetchStep * kLength;
                            var micro = rows <= _t.HalfRows
                                ? (next != null ? prefetchHalfKernel : halfKernel)
                                : (next != null ? prefetchKernel : kernel);
                            micro(kLength, a, b, tile, share, prefetchStep);

                            _p.Epilogue.Apply(tile, rows, cols, nr, row0, col0, kb == 0, kb == _kBlocks - 1);
                        }
                    }
                }
            }
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Packs op(B)[0..K, j0..j0+cols] into panel[p·nr + j], zero past cols.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(in Problem p, int j0, int cols, int nr, float* panel)
    {
        int k = p.K;
        if (!p.BIsRowsOfK)
        {
            // B is k × n: each packed row is a piece of a row of B.
            for (int kk = 0; kk < k; kk++)
            {
                float* dst = panel + (long)kk * nr;
                new ReadOnlySpan<float>(p.B + (long)kk * p.LdB + j0, cols).CopyTo(new Span<float>(dst, cols));
                new Span<float>(dst + cols, nr - cols).Clear();
            }

            return;
        }

        // B's rows run along k: a transpose.
        Transpose(p.B + (long)j0 * p.LdB, p.LdB, cols, k, panel, nr);
        ZeroColumns(panel + cols, nr - cols, k, nr);
    }

    /// <summary>Packs A[rowBegin..rowEnd, pc..pc+kLength] into MR-row panels, [p·mr + i] each, zero past the last row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(in Problem p, int rowBegin, int rowEnd, int pc, int kLength, int mr, float* packed)
    {
        for (int r0 = rowBegin; r0 < rowEnd; r0 += mr)
        {
            int rows = Math.Min(mr, rowEnd - r0);
            float* dst = packed + (long)(r0 - rowBegin) * kLength;
            Transpose(p.A + (long)r0 * p.LdA + pc, p.LdA, rows, kLength, dst, mr);
            ZeroColumns(dst + rows, mr - rows, kLength, mr);
        }
    }

    /// <summary>dst[p·dstStride + r] = src[r·srcStride + p] for r &lt; rows, p &lt; k: 8, 4 and 2 rows at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose(float* src, int srcStride, int rows, int k, float* dst, int dstStride)
    {
        int r = 0;
        if (Avx.IsSupported)
        {
            int k8 = k & ~7;
            for (; r + 8 <= rows; r += 8)
            {
                for (int p = 0; p < k8; p += 8)
                {
                    Transpose8x8(src + (long)r * srcStride + p, srcStride, dst + (long)p * dstStride + r, dstStride);
                }
            }

            if (r + 4 <= rows)
            {
                for (int p = 0; p < k8; p += 8)
                {
                    Transpose4x8(src + (long)r * srcStride + p, srcStride, dst + (long)p * dstStride + r, dstStride);
                }

                r += 4;
            }

            if (r + 2 <= rows)
            {
                for (int p = 0; p < k8; p += 8)
                {
                    Transpose2x8(src + (long)r * srcStride + p, srcStride, dst + (long)p * dstStride + r, dstStride);
                }

                r += 2;
            }

            // What the blocks left: the k tail of their rows.
            for (int done = 0; done < r; done++)
            {
                for (int p = k8; p < k; p++)
                {
                    dst[(long)p * dstStride + done] = src[(long)done * srcStride + p];
                }
            }
        }

        for (; r < rows; r++)
        {
            float* row = src + (long)r * srcStride;
            for (int p = 0; p < k; p++)
            {
                dst[(long)p * dstStride + r] = row[p];
            }
        }
    }

    /// <summary>Zeroes columns [0, count) of k rows of dst (row stride dstStride): the padding of a panel.</summary>
    private static void ZeroColumns(float* dst, int count, int k, int dstStride)
    {
        if (count == 0)
        {
            return;
        }

        for (int p = 0; p < k; p++)
        {
            new Span<float>(dst + (long)p * dstStride, count).Clear();
        }
    }

    /// <summary>dst[c·dstStride + r] = src[r·srcStride + c] for a 4 × 8 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x8(float* src, int srcStride, float* dst, int dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride),
            r2 = Avx.LoadVector256(src + 2 * (long)srcStride), r3 = Avx.LoadVector256(src + 3 * (long)srcStride);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        // s0 holds columns 0 and 4, s1 columns 1 and 5, s2 columns 2 and 6, s3 columns 3 and 7.
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        s0.GetLower().Store(dst);
        s1.GetLower().Store(dst + dstStride);
        s2.GetLower().Store(dst + 2 * (long)dstStride);
        s3.GetLower().Store(dst + 3 * (long)dstStride);
        s0.GetUpper().Store(dst + 4 * (long)dstStride);
        s1.GetUpper().Store(dst + 5 * (long)dstStride);
        s2.GetUpper().Store(dst + 6 * (long)dstStride);
        s3.GetUpper().Store(dst + 7 * (long)dstStride);
    }

    /// <summary>dst[c·dstStride + r] = src[r·srcStride + c] for a 2 × 8 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose2x8(float* src, int srcStride, float* dst, int dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride);
        // Pairs (r0[c], r1[c]) as doubles: low holds columns 0, 1, 4, 5; high 2, 3, 6, 7.
        Vector256<double> low = Avx.UnpackLow(r0, r1).AsDouble(), high = Avx.UnpackHigh(r0, r1).AsDouble();
        *(double*)dst = low.GetElement(0);
        *(double*)(dst + dstStride) = low.GetElement(1);
        *(double*)(dst + 2 * (long)dstStride) = high.GetElement(0);
        *(double*)(dst + 3 * (long)dstStride) = high.GetElement(1);
        *(double*)(dst + 4 * (long)dstStride) = low.GetElement(2);
        *(double*)(dst + 5 * (long)dstStride) = low.GetElement(3);
        *(double*)(dst + 6 * (long)dstStride) = high.GetElement(2);
        *(double*)(dst + 7 * (long)dstStride) = high.GetElement(3);
    }

    /// <summary>dst[c·dstStride + r] = src[r·srcStride + c] for an 8 × 8 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, int srcStride, float* dst, int dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride),
            r2 = Avx.LoadVector256(src + 2 * (long)srcStride), r3 = Avx.LoadVector256(src + 3 * (long)srcStride),
            r4 = Avx.LoadVector256(src + 4 * (long)srcStride), r5 = Avx.LoadVector256(src + 5 * (long)srcStride),
            r6 = Avx.LoadVector256(src + 6 * (long)srcStride), r7 = Avx.LoadVector256(src + 7 * (long)srcStride);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE),
            s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE), s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * (long)dstStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * (long)dstStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * (long)dstStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * (long)dstStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * (long)dstStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * (long)dstStride, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>
    /// Few rows of X: each output a dot product of an X row with a W row, two X rows by four W rows
    /// at a time so each load of W serves two outputs; columns split over the cores.
    /// </summary>
    private sealed class DotJob(Problem p)
    {
        private const int Columns = 64;

        public void Run(bool parallel)
        {
            int chunks = (p.N + Columns - 1) / Columns;
            if (parallel && chunks > 1)
            {
                Parallel.For(0, chunks, Options, Chunk);
            }
            else
            {
                for (int c = 0; c < chunks; c++)
                {
                    Chunk(c);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Chunk(int chunk)
        {
            int j0 = chunk * Columns;
            int cols = Math.Min(Columns, p.N - j0);
            float* tile = stackalloc float[2 * Columns];
            for (int i = 0; i < p.M; i += 2)
            {
                int rows = Math.Min(2, p.M - i);
                float* x0 = p.A + (long)i * p.LdA;
                float* x1 = rows == 2 ? x0 + p.LdA : x0;
                for (int j = 0; j < cols; j += 4)
                {
                    // Past the last column the first W row stands in; its results are not stored.
                    float* w0 = p.B + (long)(j0 + j) * p.LdB;
                    float* w1 = j + 1 < cols ? w0 + p.LdB : w0;
                    float* w2 = j + 2 < cols ? w0 + 2 * (long)p.LdB : w0;
                    float* w3 = j + 3 < cols ? w0 + 3 * (long)p.LdB : w0;
                    Dot2x4(p.K, x0, x1, w0, w1, w2, w3, tile + j, tile + Columns + j);
                }

                p.Epilogue.Apply(tile, rows, cols, Columns, i, j0, first: true, last: true);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Dot2x4(int k, float* x0, float* x1, float* w0, float* w1, float* w2, float* w3, float* y0, float* y1)
        {
            Vector256<float> s00 = default, s01 = default, s02 = default, s03 = default;
            Vector256<float> s10 = default, s11 = default, s12 = default, s13 = default;
            int p = 0;
            for (; p + Lanes256 <= k; p += Lanes256)
            {
                Vector256<float> a0 = Vector256.Load(x0 + p), a1 = Vector256.Load(x1 + p);
                Vector256<float> b = Vector256.Load(w0 + p);
                s00 = Vector256.FusedMultiplyAdd(a0, b, s00);
                s10 = Vector256.FusedMultiplyAdd(a1, b, s10);
                b = Vector256.Load(w1 + p);
                s01 = Vector256.FusedMultiplyAdd(a0, b, s01);
                s11 = Vector256.FusedMultiplyAdd(a1, b, s11);
                b = Vector256.Load(w2 + p);
                s02 = Vector256.FusedMultiplyAdd(a0, b, s02);
                s12 = Vector256.FusedMultiplyAdd(a1, b, s12);
                b = Vector256.Load(w3 + p);
                s03 = Vector256.FusedMultiplyAdd(a0, b, s03);
                s13 = Vector256.FusedMultiplyAdd(a1, b, s13);
            }

            float d00 = Vector256.Sum(s00), d01 = Vector256.Sum(s01), d02 = Vector256.Sum(s02), d03 = Vector256.Sum(s03);
            float d10 = Vector256.Sum(s10), d11 = Vector256.Sum(s11), d12 = Vector256.Sum(s12), d13 = Vector256.Sum(s13);
            for (; p < k; p++)
            {
                d00 = MathF.FusedMultiplyAdd(x0[p], w0[p], d00);
                d01 = MathF.FusedMultiplyAdd(x0[p], w1[p], d01);
                d02 = MathF.FusedMultiplyAdd(x0[p], w2[p], d02);
                d03 = MathF.FusedMultiplyAdd(x0[p], w3[p], d03);
                d10 = MathF.FusedMultiplyAdd(x1[p], w0[p], d10);
                d11 = MathF.FusedMultiplyAdd(x1[p], w1[p], d11);
                d12 = MathF.FusedMultiplyAdd(x1[p], w2[p], d12);
                d13 = MathF.FusedMultiplyAdd(x1[p], w3[p], d13);
            }

            y0[0] = d00;
            y0[1] = d01;
            y0[2] = d02;
            y0[3] = d03;
            y1[0] = d10;
            y1[1] = d11;
            y1[2] = d12;
            y1[3] = d13;
        }
    }

    // Per-thread packing buffers, grown on demand and kept: the W panels of the calling thread,
    // and each worker's block of X panels.
    [ThreadStatic] private static Scratch? t_packedB;
    [ThreadStatic] private static Scratch? t_packedA;

    private static Scratch PackedBScratch => t_packedB ??= new Scratch();

    private static Scratch PackedAScratch => t_packedA ??= new Scratch();

    /// <summary>A grow-only buffer on the pinned object heap, 64-byte aligned.</summary>
    private sealed class Scratch
    {
        private float[]? _array;
        private float* _aligned;
        private long _capacity;

        public float* Get(long count)
        {
            if (count > _capacity)
            {
                _array = GC.AllocateUninitializedArray<float>(checked((int)(count + 16)), pinned: true);
                float* start = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
                _aligned = (float*)(((nint)start + 63) & ~(nint)63);
                _capacity = count;
            }

            return _aligned;
        }
    }
}
