namespace GpuViT.Kernels.Ops;

/// <summary>Which block tile a tensor-core GEMM launches: 128 × 128 (8 warps) or 64 × 64 (4 warps).</summary>
public enum TensorCoreTile
{
    Large,
    Small,
}

/// <summary>
/// How one tensor-core GEMM call runs (Library/TensorCoreGemm.cs): the block tile, and into how
/// many parts k is split (1: no split; more: partial sums in an fp32 workspace, then a reduce
/// kernel that applies the epilogue). <see cref="SlicesPerSplit"/> is in the kernel's k-slices.
/// </summary>
public readonly record struct TensorCorePlan(TensorCoreTile Tile, int Splits, int SlicesPerSplit)
{
    /// <summary>Fewest k-slices one split computes: below this the partial sums' traffic outweighs the extra groups.</summary>
    public const int MinimumSlicesPerSplit = SplitKPlan.MinimumSlicesPerSplit;

    /// <summary>Most parts k is split into.</summary>
    public const int MaximumSplits = SplitKPlan.MaximumSplits;

    /// <summary>
    /// The plan for m × n × k on a device of <paramref name="computeUnits"/> multiprocessors, k-slices
    /// of <paramref name="sliceK"/>: the Large tile when its groups fill the device; else the Small
    /// one; and when even the Small tile's groups fill less than half the device, k split into as
    /// many parts as bring the groups up to the device's size (<see cref="SplitKPlan.For"/>: each
    /// part at least <see cref="MinimumSlicesPerSplit"/> slices, at most <see cref="MaximumSplits"/> parts).
    /// Batch 1 of ViT-S's MLP down-projection (197 × 384 × 1536) on 132 SMs: 24 Small groups, 6 parts.
    /// </summary>
    public static TensorCorePlan For(int m, int n, int k, int computeUnits, int sliceK)
    {
        int slices = SplitKPlan.Slices(k, sliceK);
        long large = Groups(m, Library.TensorCoreGemm.LargeBlock) * Groups(n, Library.TensorCoreGemm.LargeBlock);
        if (large >= computeUnits)
        {
            return new TensorCorePlan(TensorCoreTile.Large, 1, slices);
        }

        long small = Groups(m, Library.TensorCoreGemm.SmallBlock) * Groups(n, Library.TensorCoreGemm.SmallBlock);
        SplitKPlan split = SplitKPlan.For(small, slices, computeUnits);
        return new TensorCorePlan(TensorCoreTile.Small, split.Splits, split.SlicesPerSplit);
    }

    private static long Groups(int count, int block) => ((long)count + block - 1) / block;
}
