using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.ElementwiseShapes;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Kernels.Ops;

public sealed partial class KernelOps
{
    /// <summary>Threads per group of the one-thread-per-element kernels.</summary>
    private const int ElementGroupSize = 256;

    public void LayerNorm(DeviceView<float> x, DeviceView<float> gamma, DeviceView<float> beta, DeviceView<float> y, int rows, int cols, float eps, DeviceStream? stream = null)
    {
        long elements = Matrix(rows, cols, nameof(rows), nameof(cols));
        RequireElements(x, elements, nameof(x));
        RequireElements(gamma, cols, nameof(gamma));
        RequireElements(beta, cols, nameof(beta));
        RequireElements(y, elements, nameof(y));
        if (!(eps >= 0f))
        {
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be zero or positive");
        }

        if (elements > 0)
        {
            Device.Launch(Catalog.RowLayerNorm, Int3.Size(rows), Int3.Size(RowGroupSize(cols, Library.LayerNorm.MaxGroupSize)), stream, x, gamma, beta, y, rows, cols, eps);
        }
    }

    public void Softmax(DeviceView<float> x, DeviceView<float> y, int rows, int cols, DeviceStream? stream = null)
    {
        long elements = Matrix(rows, cols, nameof(rows), nameof(cols));
        RequireElements(x, elements, nameof(x));
        RequireElements(y, elements, nameof(y));
        if (elements > 0)
        {
            Device.Launch(Catalog.RowSoftmax, Int3.Size(rows), Int3.Size(RowGroupSize(cols, Library.Softmax.MaxGroupSize)), stream, x, y, rows, cols);
        }
    }

    public void Gelu(DeviceView<float> x, DeviceView<float> y, int n, Activation activation = Activation.Gelu, DeviceStream? stream = null)
    {
        Count(n, nameof(n));
        RequireElements(x, n, nameof(x));
        RequireElements(y, n, nameof(y));
        KernelDescriptor kernel = activation switch
        {
            Activation.Gelu => Catalog.Gelu,
            Activation.GeluTanh => Catalog.GeluTanh,
            _ => throw new ArgumentException($"Gelu applies Gelu or GeluTanh, not {activation}", nameof(activation)),
        };
        if (n > 0)
        {
            Device.Launch(kernel, Int3.Size(Groups(n, ElementGroupSize)), Int3.Size(ElementGroupSize), stream, x, y, n);
        }
    }

    public void PatchEmbed(
        DeviceView<float> images, PackedWeight weight, DeviceView<float> bias, DeviceView<float> tokens,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix, DeviceStream? stream = null)
    {
        PatchShape shape = Patch(batch, channels, imageSize, patchSize, dim, prefix);
        RequireElements(images, shape.ImageElements, nameof(images));
        ArgumentNullException.ThrowIfNull(weight);
        DeviceBuffer<float> w = weight.As<DeviceWeight>(Device, nameof(weight)).Buffer;
        RequireWeight(weight, shape, dim);
        RequireElements(bias, dim, nameof(bias));
        RequireElements(tokens, shape.TokenElements, nameof(tokens));
        var groups = Int3.Size(Groups(dim, Library.PatchEmbed.Tile), Groups(shape.Rows, Library.PatchEmbed.Tile));
        var threads = Int3.Size(Library.PatchEmbed.Threads, Library.PatchEmbed.Threads);
        Device.Launch(Catalog.PatchEmbedTiled, groups, threads, stream, images, w, bias, tokens, batch, channels, imageSize, patchSize, dim, prefix);
    }

    public void ClassTokenAndPositions(
        DeviceView<float> tokens, DeviceView<float>? classToken, DeviceView<float> positions, int batch, int tokenCount, int dim,
        DeviceStream? stream = null)
    {
        long elements = TokenTensor(batch, tokenCount, dim);
        RequireElements(tokens, elements, nameof(tokens));
        if (classToken is { } token)
        {
            RequireElements(token, dim, nameof(classToken));
        }

        RequireElements(positions, (long)tokenCount * dim, nameof(positions));
        if (elements > 0)
        {
            Device.Launch(
                Catalog.ClassTokenAndPositions, Int3.Size(Groups(elements, ElementGroupSize)), Int3.Size(ElementGroupSize), stream,
                tokens, classToken ?? Empty, positions, batch, tokenCount, dim, classToken.HasValue);
        }
    }

    public void Add(DeviceView<float> a, DeviceView<float> b, DeviceView<float> c, int n, DeviceStream? stream = null)
    {
        Count(n, nameof(n));
        RequireElements(a, n, nameof(a));
        RequireElements(b, n, nameof(b));
        RequireElements(c, n, nameof(c));
        if (n > 0)
        {
            Device.Launch(Catalog.Add, Int3.Size(Groups(n, ElementGroupSize)), Int3.Size(ElementGroupSize), stream, a, b, c, n);
        }
    }

    public void Pool(DeviceView<float> tokens, DeviceView<float> output, int batch, int tokenCount, int dim, PoolMode mode, int prefix, DeviceStream? stream = null)
    {
        TokenTensor(batch, tokenCount, dim);
        (int first, int count) = PoolRows(tokenCount, mode, prefix);
        RequireElements(tokens, (long)batch * tokenCount * dim, nameof(tokens));
        RequireElements(output, (long)batch * dim, nameof(output));
        long outputs = (long)batch * dim;
        if (outputs > 0)
        {
            Device.Launch(
                Catalog.PoolTokens, Int3.Size(Groups(outputs, ElementGroupSize)), Int3.Size(ElementGroupSize), stream,
                tokens, output, batch, tokenCount, dim, first, count);
        }
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

    /// <summary>Checks that a view holds at least <paramref name="elements"/>.</summary>
    private static void RequireElements(DeviceView<float> view, long elements, string name)
    {
        if (view.Length < elements)
        {
            throw new ArgumentException($"'{name}' has {view.Length} elements; the op needs {elements}", name);
        }
    }
}

/// <summary>The derived sizes of a patch embedding.</summary>
internal readonly record struct PatchShape(int Grid, int Patches, int Rows, int K, int TokenCount, long ImageElements, long WeightElements, long TokenElements);

/// <summary>Shape checks and derived sizes the kernel and cpu backends share, so both reject the same calls.</summary>
internal static class ElementwiseShapes
{
    /// <summary>A count of elements: zero or more, and small enough for the kernels' int indices.</summary>
    public static void Count(long n, string name)
    {
        if (n < 0)
        {
            throw new ArgumentOutOfRangeException(name, n, $"'{name}' must be zero or positive");
        }

        if (n > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(name, n, $"'{name}' is {n} elements; kernels index at most {int.MaxValue}");
        }
    }

    /// <summary>Checks rows and cols and returns rows·cols.</summary>
    public static long Matrix(int rows, int cols, string rowsName, string colsName)
    {
        Count(rows, rowsName);
        Count(cols, colsName);
        long elements = (long)rows * cols;
        if (elements > int.MaxValue)
        {
            throw new ArgumentException($"{rowsName}·{colsName} = {elements} elements; kernels index at most {int.MaxValue}", rowsName);
        }

        return elements;
    }

    /// <summary>Checks that a patch embedding's packed weight is [dim, channels·patchSize²], the conv weight as a linear one.</summary>
    public static void RequireWeight(PackedWeight weight, PatchShape shape, int dim)
    {
        if (weight.N != dim || weight.K != shape.K)
        {
            throw new ArgumentException(
                $"weight is [n={weight.N}, k={weight.K}]; the patch embedding needs [dim={dim}, channels·patchSize²={shape.K}]", nameof(weight));
        }
    }

    /// <summary>Checks a [batch, tokenCount, dim] shape and returns its element count.</summary>
    public static long TokenTensor(int batch, int tokenCount, int dim)
    {
        Count(batch, nameof(batch));
        Count(tokenCount, nameof(tokenCount));
        Count(dim, nameof(dim));
        long elements = (long)batch * tokenCount * dim;
        if (elements > int.MaxValue)
        {
            throw new ArgumentException($"batch·tokenCount·dim = {elements} elements; kernels index at most {int.MaxValue}", nameof(batch));
        }

        return elements;
    }

    public static PatchShape Patch(int batch, int channels, int imageSize, int patchSize, int dim, int prefix)
    {
        Positive(batch, nameof(batch));
        Positive(channels, nameof(channels));
        Positive(imageSize, nameof(imageSize));
        Positive(patchSize, nameof(patchSize));
        Positive(dim, nameof(dim));
        if (prefix < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(prefix), prefix, "prefix must be zero or positive");
        }

        if (imageSize % patchSize != 0)
        {
            throw new ArgumentException($"imageSize {imageSize} is not a multiple of patchSize {patchSize}", nameof(patchSize));
        }

        int grid = imageSize / patchSize;
        long patches = (long)grid * grid;
        long k = (long)channels * patchSize * patchSize;
        long tokenCount = prefix + patches;
        long images = (long)batch * channels * imageSize * imageSize;
        long weights = dim * k;
        long tokens = batch * tokenCount * dim;
        if (images > int.MaxValue || weights > int.MaxValue || tokens > int.MaxValue)
        {
            throw new ArgumentException($"images ({images}), weight ({weights}) or tokens ({tokens}) exceed {int.MaxValue} elements, the kernels' int indices", nameof(batch));
        }

        return new PatchShape(grid, (int)patches, (int)(batch * patches), (int)k, (int)tokenCount, images, weights, tokens);
    }

    /// <summary>The rows Pool averages: row 0 for the class token, the rows after the prefix for the mean.</summary>
    public static (int First, int Count) PoolRows(int tokenCount, PoolMode mode, int prefix)
    {
        switch (mode)
        {
            case PoolMode.ClassToken:
                if (tokenCount < 1)
                {
                    throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, "class-token pooling needs at least one token");
                }

                return (0, 1);
            case PoolMode.Mean:
                if (prefix < 0 || prefix >= tokenCount)
                {
                    throw new ArgumentOutOfRangeException(nameof(prefix), prefix, $"mean pooling needs rows after the prefix: prefix must be in [0, {tokenCount}) for {tokenCount} tokens");
                }

                return (prefix, tokenCount - prefix);
            default:
                throw new ArgumentException($"unknown pool mode {mode}", nameof(mode));
        }
    }

    private static void Positive(int value, string name)
    {
        if (value < 1)
        {
            throw new ArgumentOutOfRangeException(name, value, $"'{name}' must be positive");
        }
    }
}
