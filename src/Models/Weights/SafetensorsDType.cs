namespace GpuViT.Models.Weights;

/// <summary>The element types the reader accepts; all are converted to F32 on read.</summary>
public enum SafetensorsDType
{
    F32,
    F16,
    BF16,
}

/// <summary>One tensor as the header describes it; <see cref="DataOffset"/> is relative to the data section.</summary>
public sealed record SafetensorsTensorInfo(
    string Name,
    SafetensorsDType DType,
    IReadOnlyList<long> Shape,
    long ElementCount,
    long DataOffset,
    long ByteLength);
