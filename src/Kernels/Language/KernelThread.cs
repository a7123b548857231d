namespace GpuViT.Kernels;

/// <summary>Three integer coordinates; unused dimensions are 0 for indices and 1 for sizes.</summary>
public readonly record struct Int3(int X, int Y = 0, int Z = 0)
{
    /// <summary>A size of 1 in every dimension not given: <c>Int3.Size(64)</c> is 64×1×1.</summary>
    public static Int3 Size(int x, int y = 1, int z = 1) => new(x, y, z);

    /// <summary>X·Y·Z.</summary>
    public long Product => (long)X * Y * Z;

    public override string ToString() => $"({X},{Y},{Z})";
}

/// <summary>
/// The first parameter of every kernel: where this thread is in the launch. Kernels read
/// <c>thread.Global.X</c>, <c>thread.Local.Y</c>, ... and nothing else of it.
/// </summary>
/// <remarks>
/// A launch is a grid of <see cref="GroupCount"/> groups, each of <see cref="GroupSize"/> threads
/// (CUDA: blocks of threads; OpenCL: work-groups of work-items).
/// </remarks>
public readonly struct KernelThread(Int3 group, Int3 local, Int3 groupSize, Int3 groupCount)
{
    /// <summary>Index of this thread's group in the grid (CUDA blockIdx, OpenCL get_group_id).</summary>
    public Int3 Group { get; } = group;

    /// <summary>Index of this thread inside its group (CUDA threadIdx, OpenCL get_local_id).</summary>
    public Int3 Local { get; } = local;

    /// <summary>Threads per group (CUDA blockDim, OpenCL get_local_size).</summary>
    public Int3 GroupSize { get; } = groupSize;

    /// <summary>Groups in the grid (CUDA gridDim, OpenCL get_num_groups).</summary>
    public Int3 GroupCount { get; } = groupCount;

    /// <summary>Group · GroupSize + Local (OpenCL get_global_id).</summary>
    public Int3 Global => new(
        Group.X * GroupSize.X + Local.X,
        Group.Y * GroupSize.Y + Local.Y,
        Group.Z * GroupSize.Z + Local.Z);

    /// <summary>
    /// This thread's lane in its warp, 0..31: its linear local index ((z·sizeY + y)·sizeX + x)
    /// modulo <see cref="Kernels.Warp.Size"/>, as CUDA numbers lanes.
    /// </summary>
    public int Lane => LinearLocal % Kernels.Warp.Size;

    /// <summary>This thread's warp in its group: its linear local index divided by <see cref="Kernels.Warp.Size"/>.</summary>
    public int Warp => LinearLocal / Kernels.Warp.Size;

    private int LinearLocal => (Local.Z * GroupSize.Y + Local.Y) * GroupSize.X + Local.X;

    /// <summary>GroupCount · GroupSize (OpenCL get_global_size).</summary>
    public Int3 GlobalSize => new(
        GroupCount.X * GroupSize.X,
        GroupCount.Y * GroupSize.Y,
        GroupCount.Z * GroupSize.Z);
}
