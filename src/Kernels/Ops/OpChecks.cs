using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>The derived sizes of a patch embedding.</summary>
internal readonly record struct PatchShape(int Grid, int Patches, int Rows, int K, int TokenCount, long ImageElements, long TokenElements);

/// <summary>The argument checks of the op fronts (<see cref="TransformerOps"/>, <see cref="RnnOps"/>), so every backend rejects the same calls.</summary>
internal static class OpChecks
{
    /// <summary>Checks that a view holds at least <paramref name="elements"/>; <paramref name="what"/> says what needs them.</summary>
    public static void Require(DeviceView<float> view, long elements, string name, string what = "the op")
    {
        if (view.Length < elements)
        {
            throw new ArgumentException($"'{name}' has {view.Length} elements; {what} needs {elements}", name);
        }
    }

    /// <summary>Checks a GEMM's sizes and activation: sizes zero or more, matrices within the kernels' int indices.</summary>
    public static void GemmShape(int m, int n, int k, Activation activation)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "not an Activation");
        }

        if ((long)m * Math.Max(n, k) > int.MaxValue || (long)n * k > int.MaxValue)
        {
            throw new ArgumentException($"[m={m}, n={n}, k={k}] has matrices past the int indices the kernels use");
        }
    }

    /// <summary>X, bias, residual and Y each cover the GEMM's m × k, n, m × n and m × n values.</summary>
    public static void GemmViews(DeviceView<float> x, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y, int m, int n, int k)
    {
        Require(x, (long)m * k, nameof(x), $"X [m={m}, k={k}]");
        Require(y, (long)m * n, nameof(y), $"Y [m={m}, n={n}]");
        if (bias is { } b)
        {
            Require(b, n, nameof(bias), $"bias [n={n}]");
        }

        if (residual is { } r)
        {
            Require(r, (long)m * n, nameof(residual), $"residual [m={m}, n={n}]");
        }
    }

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

        return new PatchShape(grid, (int)patches, (int)(batch * patches), (int)k, (int)tokenCount, images, tokens);
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

    /// <summary>Checks attention's sizes and that qkv and output hold them.</summary>
    public static void AttentionShape(DeviceView<float> qkv, DeviceView<float> output, int batch, int tokens, int heads, int headSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headSize);
        long dim = (long)heads * headSize;
        long rows = (long)batch * tokens;
        if (rows * 3 * dim > int.MaxValue)
        {
            throw new ArgumentException(
                $"qkv [batch={batch}, tokens={tokens}, 3·{dim}] is past the int indices the kernels use");
        }

        Require(qkv, rows * 3 * dim, nameof(qkv), $"[batch={batch}, tokens={tokens}, 3·heads·headSize={3 * dim}]");
        Require(output, rows * dim, nameof(output), $"[batch={batch}, tokens={tokens}, heads·headSize={dim}]");
    }

    private static void Positive(int value, string name)
    {
        if (value < 1)
        {
            throw new ArgumentOutOfRangeException(name, value, $"'{name}' must be positive");
        }
    }
}
