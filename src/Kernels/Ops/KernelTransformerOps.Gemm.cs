using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.LaunchGrid;
using BatchedGemmKernels = GpuViT.Kernels.Library.BatchedGemm;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;
using GemmKernels = GpuViT.Kernels.Library.Gemm;

namespace GpuViT.Kernels.Ops;

/// <summary>Where each (batch, head) block of a batched GEMM operand starts, and how far apart its rows are (elements).</summary>
internal readonly record struct BlockStrides(int Batch, int Head, int Row);

public sealed partial class KernelTransformerOps
{
    private protected override void GemmCore(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation, DeviceStream? stream)
    {
        // Each schedule: its kernel, the block of Y (columns × rows) a group computes, and the group.
        GemmVersion version = GemmFor(m, n, k);
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

    /// <summary>W uploaded as is: the kernels read W [n, k] straight from device memory.</summary>
    private protected override PackedWeight PackWeightCore(ReadOnlySpan<float> w, int n, int k) => new DeviceWeight(Device, Device.Upload(w), n, k);

    /// <summary>The Gemm above on the buffer <see cref="PackWeightCore"/> uploaded.</summary>
    private protected override void GemmCore(
        DeviceView<float> x, PackedWeight w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, Activation activation, DeviceStream? stream) =>
        GemmCore(x, w.As<DeviceWeight>(nameof(w)).Buffer, bias, residual, y, m, w.N, w.K, activation, stream);

    private sealed class DeviceWeight(Device device, DeviceBuffer<float> buffer, int n, int k) : PackedWeight(device, n, k)
    {
        public DeviceBuffer<float> Buffer => buffer;

        public override long Bytes => buffer.Bytes;

        protected override void DisposeCore() => buffer.Dispose();
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
