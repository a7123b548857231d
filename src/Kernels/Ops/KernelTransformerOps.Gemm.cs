using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.LaunchGrid;
using BatchedGemmKernels = GpuViT.Kernels.Library.BatchedGemm;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;
using GemmKernels = GpuViT.Kernels.Library.Gemm;
using CpAsyncKernels = GpuViT.Kernels.Library.TensorCoreGemmCpAsync;
using TensorCoreKernels = GpuViT.Kernels.Library.TensorCoreGemm;

namespace GpuViT.Kernels.Ops;

/// <summary>Where each (batch, head) block of a batched GEMM operand starts, and how far apart its rows are (elements).</summary>
internal readonly record struct BlockStrides(int Batch, int Head, int Row);

public sealed partial class KernelTransformerOps
{
    // The GEMMs' scratch memory, made on first use: W rounded to 16 bits on the fly, split-K's partial
    // sums (tensor-core and fp32 register-blocked).
    private ScratchBuffer<BFloat16>? _roundedBf16Buffer;
    private ScratchBuffer<Half>? _roundedHalfBuffer;
    private ScratchBuffer<float>? _splitKPartialsBuffer;

    private ScratchBuffer<BFloat16> RoundedBf16Scratch => _roundedBf16Buffer ??= new ScratchBuffer<BFloat16>(Device);

    private ScratchBuffer<Half> RoundedHalfScratch => _roundedHalfBuffer ??= new ScratchBuffer<Half>(Device);

    private ScratchBuffer<float> SplitKPartialsScratch => _splitKPartialsBuffer ??= new ScratchBuffer<float>(Device);

    /// <summary>The GEMMs' scratch buffers' <see cref="ScratchBuffer{T}.Replacements"/>, summed.</summary>
    private int GemmScratchReplacements() =>
        (_roundedBf16Buffer?.Replacements ?? 0) + (_roundedHalfBuffer?.Replacements ?? 0) + (_splitKPartialsBuffer?.Replacements ?? 0);

    /// <summary>Frees the GEMMs' scratch memory (from DisposeCore).</summary>
    private void DisposeGemmScratch()
    {
        _roundedBf16Buffer?.Dispose();
        _roundedHalfBuffer?.Dispose();
        _splitKPartialsBuffer?.Dispose();
    }

    private protected override void GemmCore(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation, DeviceStream? stream)
    {
        GemmVersion version = GemmFor(m, n, k);
        switch (version)
        {
            case GemmVersion.TensorCoreTf32:
            case GemmVersion.TensorCoreTf32RegisterStaged:
                TensorCoreGemm(version, x, w, default, default, bias, residual, y, m, n, k, activation, stream);
                return;
            // W rounded to 16 bits on the fly (what PackWeight does once), then the packed-weight kernel.
            case GemmVersion.TensorCoreBf16:
            case GemmVersion.TensorCoreBf16RegisterStaged:
                TensorCoreGemm(version, x, default, Rounded(RoundedBf16Scratch, Catalog.RoundToBf16, w, n, k, stream), default, bias, residual, y, m, n, k, activation, stream);
                return;
            case GemmVersion.TensorCoreFp16:
            case GemmVersion.TensorCoreFp16RegisterStaged:
                TensorCoreGemm(version, x, default, default, Rounded(RoundedHalfScratch, Catalog.RoundToHalf, w, n, k, stream), bias, residual, y, m, n, k, activation, stream);
                return;
        }

        if (version == GemmVersion.RegisterBlocked && Fp32SplitFor(m, n, k) is { Splits: > 1 } split)
        {
            RegisterBlockedSplitK(split, x, w, bias, residual, y, m, n, k, activation, stream);
            return;
        }

        // Each schedule: its kernel, the block of Y (columns × rows) a group computes, and the group.
        (KernelDescriptor kernel, int blockColumns, int blockRows, Int3 group) = version switch
        {
            GemmVersion.Naive => (Catalog.GemmNaive, GemmKernels.NaiveGroup, GemmKernels.NaiveGroup, Int3.Size(GemmKernels.NaiveGroup, GemmKernels.NaiveGroup)),
            GemmVersion.Tiled => (Catalog.GemmTiled, GemmKernels.Tile, GemmKernels.Tile, Int3.Size(GemmKernels.Tile, GemmKernels.Tile)),
            GemmVersion.RegisterBlocked => (Catalog.GemmRegisterBlocked, GemmKernels.BlockTile, GemmKernels.BlockTile, Int3.Size(GemmKernels.BlockThreads, GemmKernels.BlockThreads)),
            GemmVersion.RegisterBlocked8x8 => (
                AlignedForQuads(x, w, y, n, k) ? Catalog.GemmRegisterBlocked8x8 : Catalog.GemmRegisterBlocked8x8ScalarLoads,
                GemmWide.BlockTile, GemmWide.BlockTile, Int3.Size(GemmWide.Threads, GemmWide.Threads)),
            // Four warps in a 1D group per BlockM × BlockN block.
            GemmVersion.MmaTf32 => (Catalog.GemmMmaTf32, MmaGemm.BlockN, MmaGemm.BlockM, Int3.Size(MmaGemm.Threads)),
            GemmVersion.MmaBf16 => (Catalog.GemmMmaBf16, MmaGemm.BlockN, MmaGemm.BlockM, Int3.Size(MmaGemm.Threads)),
            _ => throw new InvalidOperationException($"GemmVersion {version} is not a GEMM schedule"),
        };

        // The activation's enum value is the kernel's code (None 0, Gelu 1, GeluTanh 2).
        Device.Launch(
            kernel, Int3.Size(Groups(n, blockColumns), Groups(m, blockRows)), group, stream,
            x, w, bias ?? Empty, residual ?? Empty, y, m, n, k, bias.HasValue, (int)activation, residual.HasValue);
    }

    /// <summary>
    /// Whether <see cref="GemmWide.GemmRegisterBlocked8x8"/>'s Float4 loads of X and W rows and
    /// stores of Y rows are 16-byte aligned, as CUDA requires: rows of k and n floats starting at
    /// multiples of 4 elements (buffers themselves start 256-byte aligned). Otherwise the same
    /// tiles with scalar loads and stores.
    /// </summary>
    internal static bool AlignedForQuads(DeviceView<float> x, DeviceView<float> w, DeviceView<float> y, int n, int k) =>
        k % 4 == 0 && n % 4 == 0 && x.Offset % 4 == 0 && w.Offset % 4 == 0 && y.Offset % 4 == 0;

    /// <summary>
    /// W made once for this precision: bfloat16 or IEEE half at Bf16 and Fp16 (rounded to nearest
    /// even on the host, as (BFloat16)x and (Half)x do; half the bytes), fp32 as is otherwise.
    /// </summary>
    private protected override PackedWeight PackWeightCore(ReadOnlySpan<float> w, int n, int k)
    {
        return Precision switch
        {
            Precision.Bf16 => Pack16(w, n, k, value => (BFloat16)value, Catalog.WidenBf16),
            Precision.Fp16 => Pack16(w, n, k, value => (Half)value, Catalog.WidenHalf),
            _ => new DeviceWeight(Device, Device.Upload(w), n, k),
        };
    }

    private Weight16<T> Pack16<T>(ReadOnlySpan<float> w, int n, int k, Func<float, T> round, KernelDescriptor widen)
        where T : unmanaged
    {
        var values = new T[w.Length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = round(w[i]);
        }

        return new Weight16<T>(Device, Device.Upload<T>(values), n, k, widen);
    }

    /// <summary>The Gemm above on the weight <see cref="PackWeightCore"/> made: 16-bit weights straight into the tensor-core kernels.</summary>
    private protected override void GemmCore(
        DeviceView<float> x, PackedWeight w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, Activation activation, DeviceStream? stream)
    {
        GemmVersion version = GemmFor(m, w.N, w.K);
        switch (w)
        {
            case Weight16<BFloat16> bf16 when version is GemmVersion.TensorCoreBf16 or GemmVersion.TensorCoreBf16RegisterStaged:
                TensorCoreGemm(version, x, default, bf16.Buffer, default, bias, residual, y, m, w.N, w.K, activation, stream);
                return;
            case Weight16<Half> fp16 when version is GemmVersion.TensorCoreFp16 or GemmVersion.TensorCoreFp16RegisterStaged:
                TensorCoreGemm(version, x, default, default, fp16.Buffer, bias, residual, y, m, w.N, w.K, activation, stream);
                return;
            default:
                // A named version that reads fp32 W (MmaBf16): the 16-bit weight widened, exactly.
                GemmCore(x, FloatWeight(w, nameof(w), stream), bias, residual, y, m, w.N, w.K, activation, stream);
                return;
        }
    }

    /// <summary>
    /// A packed weight as fp32 W [n, k], for kernels that read fp32 weights (the patch embedding, the
    /// MMA demonstrations): the buffer itself, or a 16-bit weight widened (exactly) once, on first use,
    /// and kept with the weight: the patch embedding reads it on every forward pass.
    /// </summary>
    private DeviceView<float> FloatWeight(PackedWeight weight, string name, DeviceStream? stream) => weight switch
    {
        DeviceWeight fp32 => fp32.Buffer,
        Weight16<BFloat16> bf16 => Widened(bf16, stream),
        Weight16<Half> fp16 => Widened(fp16, stream),
        _ => throw new ArgumentException($"{weight} was packed by other ops: these read fp32, bfloat16 or half weights of their own", name),
    };

    private DeviceView<float> Widened<T>(Weight16<T> weight, DeviceStream? stream)
        where T : unmanaged
    {
        int count = checked(weight.N * weight.K);
        if (weight.Widened is null)
        {
            DeviceBuffer<float> widened = Device.Allocate<float>(Math.Max(1, count));
            LaunchIfAny(weight.Widen, Int3.Size(Groups(count, TensorCoreKernels.ElementThreads)), Int3.Size(TensorCoreKernels.ElementThreads), stream, weight.Buffer, widened, count);
            weight.Widened = widened;
        }

        return weight.Widened.View(0, count);
    }

    /// <summary>
    /// One tensor-core GEMM call: the pipeline (<see cref="UsesCpAsync"/>), the plan for the shape
    /// (<see cref="TensorCorePlan.For"/>, in the kernel's k-slices), then the kernel of the version's
    /// precision, pipeline and the plan's tile; with split-K, the partial sums go to scratch memory and
    /// <see cref="TensorCoreKernels.SplitKReduce"/> applies the epilogue. W is <paramref name="w"/>
    /// (fp32, TF32), <paramref name="wBf16"/> or <paramref name="wHalf"/>.
    /// </summary>
    private void TensorCoreGemm(
        GemmVersion version, DeviceView<float> x, DeviceView<float> w, DeviceView<BFloat16> wBf16, DeviceView<Half> wHalf,
        DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y, int m, int n, int k, Activation activation, DeviceStream? stream)
    {
        long wOffset = version switch
        {
            GemmVersion.TensorCoreBf16 or GemmVersion.TensorCoreBf16RegisterStaged => wBf16.Offset,
            GemmVersion.TensorCoreFp16 or GemmVersion.TensorCoreFp16RegisterStaged => wHalf.Offset,
            _ => w.Offset,
        };
        bool cpAsync = UsesCpAsync(version, k, x.Offset, wOffset);
        TensorCoreGemm(version, cpAsync, TensorCorePlanFor(version, cpAsync, m, n, k), x, w, wBf16, wHalf, bias, residual, y, m, n, k, activation, stream);
    }

    /// <summary>
    /// The tensor-core plan a call runs: the forced one, else the shape's on this device, in the
    /// k-slices of the kernel that runs (the cp.async kernels' are half as deep).
    /// </summary>
    private TensorCorePlan TensorCorePlanFor(GemmVersion version, bool cpAsync, int m, int n, int k)
    {
        bool tf32 = version is GemmVersion.TensorCoreTf32 or GemmVersion.TensorCoreTf32RegisterStaged;
        int sliceK = (tf32, cpAsync) switch
        {
            (true, true) => CpAsyncKernels.SliceKTf32,
            (true, false) => TensorCoreKernels.SliceKTf32,
            (false, true) => CpAsyncKernels.SliceK16,
            (false, false) => TensorCoreKernels.SliceK16,
        };
        return ForcedPlan ?? TensorCorePlan.For(m, n, k, Device.Info.ComputeUnits, sliceK);
    }

    /// <summary>
    /// Whether a tensor-core call runs the cp.async pipeline (Library/TensorCoreGemmCpAsync.cs): for the
    /// default versions when every 16-byte chunk it copies is 16-byte aligned, as cp.async requires:
    /// k a multiple of 4 floats (8 16-bit values for BF16/FP16 W), X's view starting at a multiple of 4
    /// elements and W's at a multiple of 4 (fp32) or 8 (16-bit); buffers themselves are 256-byte
    /// aligned. Otherwise, and always for the RegisterStaged versions, the register-staged kernels.
    /// </summary>
    internal static bool UsesCpAsync(GemmVersion version, int k, long xOffset, long wOffset) => version switch
    {
        GemmVersion.TensorCoreTf32 => k % 4 == 0 && xOffset % 4 == 0 && wOffset % 4 == 0,
        GemmVersion.TensorCoreBf16 or GemmVersion.TensorCoreFp16 => k % 8 == 0 && xOffset % 4 == 0 && wOffset % 8 == 0,
        _ => false,
    };

    /// <summary>For tests: the plan every tensor-core call runs instead of the shape's (its tile and split).</summary>
    internal TensorCorePlan? ForcedPlan { get; set; }

    private void TensorCoreGemm(
        GemmVersion version, bool cpAsync, TensorCorePlan plan, DeviceView<float> x, DeviceView<float> w, DeviceView<BFloat16> wBf16, DeviceView<Half> wHalf,
        DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y, int m, int n, int k, Activation activation, DeviceStream? stream)
    {
        bool large = plan.Tile == TensorCoreTile.Large;
        KernelDescriptor kernel = TensorCoreKernel(version, cpAsync, plan.Tile);
        int block = large ? TensorCoreKernels.LargeBlock : TensorCoreKernels.SmallBlock;
        var group = Int3.Size(large ? TensorCoreKernels.LargeThreads : TensorCoreKernels.SmallThreads);

        // 16-byte loads of X (and of fp32 W) need every 4-column chunk aligned: k a multiple of 4
        // and the views starting at a multiple of 4 elements (buffers themselves are 256-byte aligned).
        bool vectorLoads = k % 4 == 0 && x.Offset % 4 == 0 && (version != GemmVersion.TensorCoreTf32 || w.Offset % 4 == 0);
        object weight = version switch
        {
            GemmVersion.TensorCoreBf16 or GemmVersion.TensorCoreBf16RegisterStaged => wBf16,
            GemmVersion.TensorCoreFp16 or GemmVersion.TensorCoreFp16RegisterStaged => wHalf,
            _ => w,
        };

        // The cp.async kernels take no vectorLoads flag: they run on aligned calls only.
        object[] Arguments(object target, bool hasBias, int activationCode, bool hasResidual, bool partials) => cpAsync
            ? [x, weight, hasBias ? bias!.Value : Empty, hasResidual ? residual!.Value : Empty, target, m, n, k, hasBias, activationCode, hasResidual, plan.SlicesPerSplit, partials]
            : [x, weight, hasBias ? bias!.Value : Empty, hasResidual ? residual!.Value : Empty, target, m, n, k, hasBias, activationCode, hasResidual, vectorLoads, plan.SlicesPerSplit, partials];

        if (plan.Splits <= 1)
        {
            Device.Launch(
                kernel, Int3.Size(Groups(n, block), Groups(m, block)), group, stream,
                Arguments(y, bias.HasValue, (int)activation, residual.HasValue, false));
            return;
        }

        DeviceBuffer<float> partials = PartialSums(m, n, plan.Splits, stream);
        Device.Launch(
            kernel, Int3.Size(Groups(n, block), Groups(m, block), plan.Splits), group, stream,
            Arguments(partials, false, 0, false, true));
        ReduceSplitK(partials, bias, residual, y, m, n, plan.Splits, activation, stream);
    }

    /// <summary>
    /// The fp32 register-blocked GEMM with k split into parts (small m on a GPU, or forced by a
    /// test): <see cref="GemmKernels.GemmRegisterBlockedSplitK"/> writes each part's sums to scratch
    /// memory, then <see cref="TensorCoreKernels.SplitKReduce"/> adds them in order and applies the epilogue.
    /// </summary>
    private void RegisterBlockedSplitK(
        SplitKPlan split, DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation, DeviceStream? stream)
    {
        DeviceBuffer<float> partials = PartialSums(m, n, split.Splits, stream);
        Device.Launch(
            Catalog.GemmRegisterBlockedSplitK, Int3.Size(Groups(n, GemmKernels.BlockTile), Groups(m, GemmKernels.BlockTile), split.Splits),
            Int3.Size(GemmKernels.BlockThreads, GemmKernels.BlockThreads), stream,
            x, w, partials, m, n, k, split.SlicesPerSplit);
        ReduceSplitK(partials, bias, residual, y, m, n, split.Splits, activation, stream);
    }

    /// <summary>Scratch memory for <paramref name="splits"/> parts of m × n partial sums, checked against the kernels' int indices.</summary>
    private DeviceBuffer<float> PartialSums(int m, int n, int splits, DeviceStream? stream)
    {
        long partialCount = checked((long)m * n * splits);
        if (partialCount > int.MaxValue)
        {
            throw new ArgumentException($"split-K of {m}×{n} into {splits} parts needs {partialCount} partial sums, past the kernels' int indices");
        }

        return SplitKPartialsScratch.AtLeast(partialCount, stream);
    }

    /// <summary>Split-K's second pass: Y = epilogue(the parts' sum, added in order).</summary>
    private void ReduceSplitK(
        DeviceBuffer<float> partials, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y, int m, int n, int splits, Activation activation, DeviceStream? stream) =>
        Device.Launch(
            Catalog.SplitKReduce, Int3.Size(Groups((long)m * n, TensorCoreKernels.ElementThreads)), Int3.Size(TensorCoreKernels.ElementThreads), stream,
            partials, bias ?? Empty, residual ?? Empty, y, m, n, splits, bias.HasValue, (int)activation, residual.HasValue);

    /// <summary>The kernel of a tensor-core version, pipeline and tile.</summary>
    internal static KernelDescriptor TensorCoreKernel(GemmVersion version, bool cpAsync, TensorCoreTile tile) => (version, cpAsync, tile) switch
    {
        (GemmVersion.TensorCoreTf32, true, TensorCoreTile.Large) => Catalog.TensorCoreGemmTf32LargeCpAsync,
        (GemmVersion.TensorCoreTf32, true, TensorCoreTile.Small) => Catalog.TensorCoreGemmTf32SmallCpAsync,
        (GemmVersion.TensorCoreBf16, true, TensorCoreTile.Large) => Catalog.TensorCoreGemmBf16LargeCpAsync,
        (GemmVersion.TensorCoreBf16, true, TensorCoreTile.Small) => Catalog.TensorCoreGemmBf16SmallCpAsync,
        (GemmVersion.TensorCoreFp16, true, TensorCoreTile.Large) => Catalog.TensorCoreGemmFp16LargeCpAsync,
        (GemmVersion.TensorCoreFp16, true, TensorCoreTile.Small) => Catalog.TensorCoreGemmFp16SmallCpAsync,
        (GemmVersion.TensorCoreTf32 or GemmVersion.TensorCoreTf32RegisterStaged, false, TensorCoreTile.Large) => Catalog.TensorCoreGemmTf32Large,
        (GemmVersion.TensorCoreTf32 or GemmVersion.TensorCoreTf32RegisterStaged, false, TensorCoreTile.Small) => Catalog.TensorCoreGemmTf32Small,
        (GemmVersion.TensorCoreBf16 or GemmVersion.TensorCoreBf16RegisterStaged, false, TensorCoreTile.Large) => Catalog.TensorCoreGemmBf16Large,
        (GemmVersion.TensorCoreBf16 or GemmVersion.TensorCoreBf16RegisterStaged, false, TensorCoreTile.Small) => Catalog.TensorCoreGemmBf16Small,
        (GemmVersion.TensorCoreFp16 or GemmVersion.TensorCoreFp16RegisterStaged, false, TensorCoreTile.Large) => Catalog.TensorCoreGemmFp16Large,
        (GemmVersion.TensorCoreFp16 or GemmVersion.TensorCoreFp16RegisterStaged, false, TensorCoreTile.Small) => Catalog.TensorCoreGemmFp16Small,
        _ => throw new InvalidOperationException($"GemmVersion {version} with cp.async {cpAsync} is not a tensor-core GEMM"),
    };

    /// <summary>W [n, k] rounded by <paramref name="round"/> (RoundToBf16 or RoundToHalf) into <paramref name="scratch"/>.</summary>
    private DeviceView<T> Rounded<T>(ScratchBuffer<T> scratch, KernelDescriptor round, DeviceView<float> w, int n, int k, DeviceStream? stream)
        where T : unmanaged
    {
        int count = checked(n * k);
        DeviceBuffer<T> rounded = scratch.AtLeast(Math.Max(1, count), stream);
        LaunchIfAny(round, Int3.Size(Groups(count, TensorCoreKernels.ElementThreads)), Int3.Size(TensorCoreKernels.ElementThreads), stream, w, rounded, count);
        return rounded.View(0, count);
    }

    /// <summary>An element-wise launch over <c>count</c> (its last argument), skipped when there is nothing to do.</summary>
    private void LaunchIfAny(KernelDescriptor kernel, Int3 groups, Int3 threads, DeviceStream? stream, object source, object destination, int count)
    {
        if (count > 0)
        {
            Device.Launch(kernel, groups, threads, stream, source, destination, count);
        }
    }

    private sealed class DeviceWeight(Device device, DeviceBuffer<float> buffer, int n, int k) : PackedWeight(device, n, k)
    {
        public DeviceBuffer<float> Buffer => buffer;

        public override long Bytes => buffer.Bytes;

        protected override void DisposeCore() => buffer.Dispose();
    }

    /// <summary>
    /// W [n, k] in bfloat16 or IEEE half: what the BF16 and FP16 tensor-core kernels read; with its
    /// fp32 widening (by <paramref name="widen"/>) once a kernel that reads fp32 weights has needed it.
    /// </summary>
    private sealed class Weight16<T>(Device device, DeviceBuffer<T> buffer, int n, int k, KernelDescriptor widen) : PackedWeight(device, n, k)
        where T : unmanaged
    {
        public DeviceBuffer<T> Buffer => buffer;

        public KernelDescriptor Widen => widen;

        public DeviceBuffer<float>? Widened { get; set; }

        public override long Bytes => buffer.Bytes + (Widened?.Bytes ?? 0);

        protected override void DisposeCore()
        {
            buffer.Dispose();
            Widened?.Dispose();
        }
    }

    /// <summary>
    /// For each batchIndex &lt; batches and head &lt; heads: C_bh = alpha·A_bh·B_bhᵀ (transposeB: B_bh is
    /// n × k) or alpha·A_bh·B_bh (B_bh is k × n), A_bh m × k, C_bh m × n; each block starts at
    /// batchIndex·Batch + head·Head in its view and its rows are Row apart (columns contiguous).
    /// Attention's unfused path: S = (1/√d)·Q·Kᵀ straight from the fused qkv rows, then O = P·V.
    /// </summary>
    internal void BatchedGemm(
        DeviceView<float> a, BlockStrides aStrides, DeviceView<float> b, BlockStrides bStrides, DeviceView<float> c, BlockStrides cStrides,
        int batches, int heads, int m, int n, int k, bool transposeB, float alpha, DeviceStream? stream = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batches);
        ArgumentOutOfRangeException.ThrowIfNegative(heads);
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (batches == 0 || heads == 0 || m == 0 || n == 0)
        {
            return;
        }

        (int bRows, int bColumns) = transposeB ? (n, k) : (k, n);
        RequireBlocks(a, aStrides, batches, heads, m, k, nameof(a));
        RequireBlocks(b, bStrides, batches, heads, bRows, bColumns, nameof(b));
        RequireBlocks(c, cStrides, batches, heads, m, n, nameof(c));

        int tile = BatchedGemmKernels.Tile;
        Device.Launch(
            Catalog.BatchedGemmTiled, Int3.Size(Groups(n, tile), Groups(m, tile), checked(batches * heads)), Int3.Size(tile, tile), stream,
            a, b, c, m, n, k, heads,
            aStrides.Batch, aStrides.Head, aStrides.Row,
            bStrides.Batch, bStrides.Head, bStrides.Row,
            cStrides.Batch, cStrides.Head, cStrides.Row,
            transposeB, alpha);
    }

    /// <summary>Checks the last element of the last block lies inside the view (strides are non-negative).</summary>
    private static void RequireBlocks(DeviceView<float> view, BlockStrides strides, int batches, int heads, int rows, int columns, string name)
    {
        if (strides.Batch < 0 || strides.Head < 0 || strides.Row < 0)
        {
            throw new ArgumentException($"{name}'s strides must not be negative ({strides})", name);
        }

        if (rows == 0 || columns == 0)
        {
            return;
        }

        long end = (long)(batches - 1) * strides.Batch + (long)(heads - 1) * strides.Head + (long)(rows - 1) * strides.Row + columns;
        if (end > int.MaxValue)
        {
            throw new ArgumentException($"{name}'s blocks reach element {end}, past the int indices the kernels use", name);
        }

        if (view.Length < end)
        {
            throw new ArgumentException(
                $"{name} holds {view.Length} elements; {batches}×{heads} blocks of {rows}×{columns} with {strides} reach element {end}", name);
        }
    }
}
