namespace GpuViT.Kernels.Cpu;

/// <summary>
/// Where the blocks of a batched operand lie: block (b, h) starts at base + b·BatchStride +
/// h·HeadStride, and its rows are RowStride elements apart. For timm's fused qkv [B, T, 3·D] with
/// H heads of d = D/H, the keys of head h are at base + D + h·d with
/// <c>new MatrixLayout(BatchStride: T·3·D, HeadStride: d, RowStride: 3·D)</c>.
/// </summary>
public readonly record struct MatrixLayout(long BatchStride, long HeadStride, int RowStride)
{
    /// <summary>Dense [batch, heads, rows, columns] blocks.</summary>
    public static MatrixLayout Dense(int heads, int rows, int columns) =>
        new((long)heads * rows * columns, (long)rows * columns, columns);
}
