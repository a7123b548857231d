using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.LaunchGrid;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Kernels.Ops;

public sealed partial class KernelTransformerOps
{
    /// <summary>Threads per group of the one-thread-per-element kernels.</summary>
    private const int ElementGroupSize = 256;

    private protected override void LayerNormCore(DeviceView<float> x, DeviceView<float> gamma, DeviceView<float> beta, DeviceView<float> y, int rows, int cols, float eps, DeviceStream? stream)
    {
        Device.Launch(Catalog.RowLayerNorm, Int3.Size(rows), Int3.Size(RowGroupSize(cols, Library.LayerNorm.MaxGroupSize)), stream, x, gamma, beta, y, rows, cols, eps);
    }

    private protected override void SoftmaxCore(DeviceView<float> x, DeviceView<float> y, int rows, int cols, DeviceStream? stream)
    {
        Device.Launch(Catalog.RowSoftmax, Int3.Size(rows), Int3.Size(RowGroupSize(cols, Library.Softmax.MaxGroupSize)), stream, x, y, rows, cols);
    }

    private protected override void GeluCore(DeviceView<float> x, DeviceView<float> y, int n, Activation activation, DeviceStream? stream)
    {
        KernelDescriptor kernel = activation == Activation.GeluTanh ? Catalog.GeluTanh : Catalog.Gelu;
        Device.Launch(kernel, Int3.Size(Groups(n, ElementGroupSize)), Int3.Size(ElementGroupSize), stream, x, y, n);
    }

    private protected override void PatchEmbedCore(
        DeviceView<float> images, PackedWeight weight, DeviceView<float> bias, DeviceView<float> tokens, PatchShape shape,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix, DeviceStream? stream)
    {
        DeviceView<float> w = FloatWeight(weight, nameof(weight), stream);
        var groups = Int3.Size(Groups(dim, Library.PatchEmbed.Tile), Groups(shape.Rows, Library.PatchEmbed.Tile));
        var threads = Int3.Size(Library.PatchEmbed.Threads, Library.PatchEmbed.Threads);
        Device.Launch(Catalog.PatchEmbedTiled, groups, threads, stream, images, w, bias, tokens, batch, channels, imageSize, patchSize, dim, prefix);
    }

    private protected override void ClassTokenAndPositionsCore(
        DeviceView<float> tokens, DeviceView<float>? classToken, DeviceView<float> positions, int batch, int tokenCount, int dim, DeviceStream? stream)
    {
        long elements = (long)batch * tokenCount * dim;
        Device.Launch(
            Catalog.ClassTokenAndPositions, Int3.Size(Groups(elements, ElementGroupSize)), Int3.Size(ElementGroupSize), stream,
            tokens, classToken ?? Empty, positions, batch, tokenCount, dim, classToken.HasValue);
    }

    private protected override void AddCore(DeviceView<float> a, DeviceView<float> b, DeviceView<float> c, int n, DeviceStream? stream)
    {
        Device.Launch(Catalog.Add, Int3.Size(Groups(n, ElementGroupSize)), Int3.Size(ElementGroupSize), stream, a, b, c, n);
    }

    private protected override void PoolCore(
        DeviceView<float> tokens, DeviceView<float> output, int batch, int tokenCount, int dim, int first, int count, DeviceStream? stream)
    {
        long outputs = (long)batch * dim;
        Device.Launch(
            Catalog.PoolTokens, Int3.Size(Groups(outputs, ElementGroupSize)), Int3.Size(ElementGroupSize), stream,
            tokens, output, batch, tokenCount, dim, first, count);
    }

    /// <summary>
    /// Threads per group for the one-group-per-row kernels: enough powers of two to cover a row
    /// (so short rows leave few threads idle), at least a warp, and no more than the kernel's
    /// shared buffer or the device allow.
    /// </summary>
    private int RowGroupSize(int cols, int kernelMax)
    {
        int limit = Math.Min(kernelMax, Device.Info.MaxGroupSize);
        int size = 32;
        while (size < cols && size * 2 <= limit)
        {
            size *= 2;
        }

        // A device that allows fewer than 32 threads: the largest power of two it does allow.
        while (size > limit && size > 1)
        {
            size /= 2;
        }

        return size;
    }
}
