namespace GpuViT.Kernels.Ops;

/// <summary>Grid sizes for the kernel ops' launches.</summary>
internal static class LaunchGrid
{
    /// <summary>The groups of <paramref name="size"/> threads that cover <paramref name="count"/> items: ⌈count / size⌉, checked to fit an int.</summary>
    public static int Groups(long count, int size) => checked((int)((count + size - 1) / size));
}
