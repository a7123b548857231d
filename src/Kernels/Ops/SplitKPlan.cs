namespace GpuViT.Kernels.Ops;

/// <summary>
/// Into how many parts a GEMM's k is split (1: no split), each part <see cref="SlicesPerSplit"/>
/// k-slices of the kernel (the last may be shorter; none is empty). The arithmetic both the
/// tensor-core plan (<see cref="TensorCorePlan.For"/>) and the fp32 register-blocked GEMM's use.
/// </summary>
public readonly record struct SplitKPlan(int Splits, int SlicesPerSplit)
{
    /// <summary>Fewest k-slices one split computes: below this the partial sums' traffic outweighs the extra groups.</summary>
    public const int MinimumSlicesPerSplit = 4;

    /// <summary>Most parts k is split into.</summary>
    public const int MaximumSplits = 16;

    /// <summary>No split: one part of all <paramref name="slices"/>.</summary>
    public static SplitKPlan None(int slices) => new(1, slices);

    /// <summary>
    /// The split of <paramref name="slices"/> k-slices for a launch of <paramref name="groups"/>
    /// groups on <paramref name="computeUnits"/> multiprocessors: none while the groups fill at
    /// least half the device; else as many parts as bring the groups up to the device's size, each
    /// at least <see cref="MinimumSlicesPerSplit"/> slices, at most <see cref="MaximumSplits"/> parts.
    /// </summary>
    public static SplitKPlan For(long groups, int slices, int computeUnits)
    {
        int splits = 1;
        if (2 * groups < computeUnits)
        {
            long wanted = (computeUnits + groups - 1) / Math.Max(1, groups);
            splits = (int)Math.Min(Math.Min(wanted, MaximumSplits), slices / MinimumSlicesPerSplit);
            splits = Math.Max(1, splits);
        }

        // Parts of whole slices; the last may be shorter, and none is empty.
        int perSplit = (slices + splits - 1) / splits;
        return new SplitKPlan((slices + perSplit - 1) / perSplit, perSplit);
    }

    /// <summary>Slices of <paramref name="sliceK"/> in k (at least 1, so k 0 runs one empty part).</summary>
    public static int Slices(int k, int sliceK) => Math.Max(1, (k + sliceK - 1) / sliceK);
}
