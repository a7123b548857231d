using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// The element-wise, row-wise and token ops on the cpu: Vector256 (AVX2 + FMA where the machine
/// has it) over each row or block, and all cores over rows or blocks once the work is large
/// enough to pay for handing it out.
/// </summary>
public sealed unsafe partial class CpuTransformerOps
{
    /// <summary>Below this many elements an op runs on the calling thread: a Parallel.For costs a few microseconds.</summary>
    private const long SerialElements = 1 << 15;

    /// <summary>The smallest share of work handed to a core, in elements.</summary>
    private const long MinChunkElements = 1 << 13;

    /// <summary>Elements per block of the one-dimensional ops (Gelu, Add) when they run in parallel.</summary>
    private const int ElementBlock = 1 << 14;

    private protected override void LayerNormCore(DeviceView<float> x, DeviceView<float> gamma, DeviceView<float> beta, DeviceView<float> y, int rows, int cols, float eps, DeviceStream? stream)
    {
        float* xs = Pointer(x), g = Pointer(gamma), b = Pointer(beta), ys = Pointer(y);
        ForRanges(rows, cols, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                LayerNormRow(xs + r * cols, g, b, ys + r * cols, cols, eps);
            }
        });
    }

    private protected override void SoftmaxCore(DeviceView<float> x, DeviceView<float> y, int rows, int cols, DeviceStream? stream)
    {
        float* xs = Pointer(x), ys = Pointer(y);
        ForRanges(rows, cols, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                SoftmaxRow(xs + r * cols, ys + r * cols, cols);
            }
        });
    }

    private protected override void GeluCore(DeviceView<float> x, DeviceView<float> y, int n, Activation activation, DeviceStream? stream)
    {
        float* xs = Pointer(x), ys = Pointer(y);
        bool exact = activation == Activation.Gelu;
        ForBlocks(n, (start, end) => GeluRange(xs + start, ys + start, (int)(end - start), exact));
    }

    private protected override void PatchEmbedCore(
        DeviceView<float> images, PackedWeight weight, DeviceView<float> bias, DeviceView<float> tokens, PatchShape shape,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix, DeviceStream? stream)
    {
        PackedGemmWeight w = weight.As<CpuPackedWeight>(nameof(weight)).Panels;
        float* im = Pointer(images), b = Pointer(bias), t = Pointer(tokens);

        // Each image's patches are gathered once into rows of K (the conv weight's order); the
        // patch embedding is then the cpu GEMM on the packed weight with the bias fused, written
        // straight into the tokens.
        float[] packed = ArrayPool<float>.Shared.Rent(shape.Patches * shape.K);
        try
        {
            fixed (float* a = packed)
            {
                for (int image = 0; image < batch; image++)
                {
                    PackImagePatches(im, a, image, shape, channels, imageSize, patchSize);
                    float* output = t + ((long)image * shape.TokenCount + prefix) * dim;
                    CpuGemm.Gemm(shape.Patches, a, shape.K, w, b, null, 0, output, dim);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packed);
        }
    }

    private protected override void ClassTokenAndPositionsCore(
        DeviceView<float> tokens, DeviceView<float>? classToken, DeviceView<float> positions, int batch, int tokenCount, int dim, DeviceStream? stream)
    {
        float* t = Pointer(tokens), cls = Pointer(classToken), p = Pointer(positions);
        ForRanges((long)batch * tokenCount, dim, (start, end) =>
        {
            for (long row = start; row < end; row++)
            {
                long position = row % tokenCount;
                float* target = t + row * dim;

                // Row 0 starts from the class token, every other row from its patch embedding.
                float* source = position == 0 && cls != null ? cls : target;
                AddRow(source, p + position * dim, target, dim);
            }
        });
    }

    private protected override void AddCore(DeviceView<float> a, DeviceView<float> b, DeviceView<float> c, int n, DeviceStream? stream)
    {
        float* pa = Pointer(a), pb = Pointer(b), pc = Pointer(c);
        ForBlocks(n, (start, end) => AddRow(pa + start, pb + start, pc + start, (int)(end - start)));
    }

    private protected override void PoolCore(
        DeviceView<float> tokens, DeviceView<float> output, int batch, int tokenCount, int dim, int first, int count, DeviceStream? stream)
    {
        float* t = Pointer(tokens), o = Pointer(output);
        ForRanges(batch, (long)count * dim, (start, end) =>
        {
            for (long image = start; image < end; image++)
            {
                MeanOfRows(t + (image * tokenCount + first) * dim, o + image * dim, count, dim);
            }
        });
    }

    /// <summary>
    /// Runs body over [0, count) in contiguous ranges: on this thread when count·workPerItem is
    /// small, else on all cores in a few ranges per core (so an uneven core still balances).
    /// </summary>
    private static void ForRanges(long count, long workPerItem, Action<long, long> body)
    {
        long work = count * Math.Max(workPerItem, 1);
        int cores = Environment.ProcessorCount;
        if (count < 2 || cores == 1 || work < SerialElements)
        {
            if (count > 0)
            {
                body(0, count);
            }

            return;
        }

        int ranges = (int)Math.Min(count, Math.Min(4L * cores, work / MinChunkElements));
        Parallel.For(0, ranges, i => body(count * i / ranges, count * (i + 1) / ranges));
    }

    /// <summary>ForRanges over n elements in blocks of <see cref="ElementBlock"/>; body gets element ranges.</summary>
    private static void ForBlocks(long n, Action<long, long> body) =>
        ForRanges((n + ElementBlock - 1) / ElementBlock, ElementBlock, (start, end) =>
            body(start * ElementBlock, Math.Min(end * ElementBlock, n)));

    /// <summary>
    /// One row of LayerNorm, as the RowLayerNorm kernel computes it: the mean as x[0] + δ, δ the
    /// mean of x − x[0] (exact differences, small sums, so a large mean does not swamp the
    /// spread); then the mean squared deviation (x − x[0]) − δ, a second pass rather than
    /// Σx² − mean², which cancels; then the affine map of the same deviations.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LayerNormRow(float* x, float* gamma, float* beta, float* y, int cols, float eps)
    {
        float shift = x[0];
        var h = Vector256.Create(shift);

        // Four accumulators hide the add latency; the tail is scalar.
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
        int c = 0;
        for (; c <= cols - 32; c += 32)
        {
            s0 += Vector256.Load(x + c) - h;
            s1 += Vector256.Load(x + c + 8) - h;
            s2 += Vector256.Load(x + c + 16) - h;
            s3 += Vector256.Load(x + c + 24) - h;
        }

        for (; c <= cols - 8; c += 8)
        {
            s0 += Vector256.Load(x + c) - h;
        }

        float sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        for (; c < cols; c++)
        {
            sum += x[c] - shift;
        }

        float delta = sum / cols;
        var m = Vector256.Create(delta);
        s0 = s1 = s2 = s3 = Vector256<float>.Zero;
        for (c = 0; c <= cols - 32; c += 32)
        {
            Vector256<float> d0 = (Vector256.Load(x + c) - h) - m, d1 = (Vector256.Load(x + c + 8) - h) - m;
            Vector256<float> d2 = (Vector256.Load(x + c + 16) - h) - m, d3 = (Vector256.Load(x + c + 24) - h) - m;
            s0 = Vector256.FusedMultiplyAdd(d0, d0, s0);
            s1 = Vector256.FusedMultiplyAdd(d1, d1, s1);
            s2 = Vector256.FusedMultiplyAdd(d2, d2, s2);
            s3 = Vector256.FusedMultiplyAdd(d3, d3, s3);
        }

        for (; c <= cols - 8; c += 8)
        {
            Vector256<float> d = (Vector256.Load(x + c) - h) - m;
            s0 = Vector256.FusedMultiplyAdd(d, d, s0);
        }

        float squares = Vector256.Sum((s0 + s1) + (s2 + s3));
        for (; c < cols; c++)
        {
            float d = (x[c] - shift) - delta;
            squares += d * d;
        }

        float inverseStd = 1f / MathF.Sqrt(squares / cols + eps);
        var scale = Vector256.Create(inverseStd);
        for (c = 0; c <= cols - 8; c += 8)
        {
            Vector256<float> normalized = ((Vector256.Load(x + c) - h) - m) * scale;
            Vector256.FusedMultiplyAdd(normalized, Vector256.Load(gamma + c), Vector256.Load(beta + c)).Store(y + c);
        }

        for (; c < cols; c++)
        {
            y[c] = ((x[c] - shift) - delta) * inverseStd * gamma[c] + beta[c];
        }
    }

    /// <summary>One row of softmax: the max, then exp(x − max) into y with its sum, then y scaled by 1/sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SoftmaxRow(float* x, float* y, int cols)
    {
        // A NaN anywhere makes the row NaN whatever max does with it: exp(NaN − max) poisons the sum.
        float max = float.NegativeInfinity;
        int c = 0;
        if (cols >= 8)
        {
            Vector256<float> m = Vector256.Load(x);
            for (c = 8; c <= cols - 8; c += 8)
            {
                m = Vector256.Max(m, Vector256.Load(x + c));
            }

            for (int lane = 0; lane < 8; lane++)
            {
                max = MathF.Max(max, m.GetElement(lane));
            }
        }

        for (; c < cols; c++)
        {
            max = MathF.Max(max, x[c]);
        }

        var shift = Vector256.Create(max);
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0;
        for (c = 0; c <= cols - 16; c += 16)
        {
            Vector256<float> e0 = Vector256.Exp(Vector256.Load(x + c) - shift);
            Vector256<float> e1 = Vector256.Exp(Vector256.Load(x + c + 8) - shift);
            e0.Store(y + c);
            e1.Store(y + c + 8);
            s0 += e0;
            s1 += e1;
        }

        for (; c <= cols - 8; c += 8)
        {
            Vector256<float> e = Vector256.Exp(Vector256.Load(x + c) - shift);
            e.Store(y + c);
            s0 += e;
        }

        // The last partial vector through a copy padded with −∞ (exp gives 0 there): one vector exp, not up to seven scalar ones.
        if (c < cols)
        {
            float* tail = stackalloc float[8];
            Vector256.Create(float.NegativeInfinity).Store(tail);
            new ReadOnlySpan<float>(x + c, cols - c).CopyTo(new Span<float>(tail, 8));
            Vector256<float> e = Vector256.Exp(Vector256.Load(tail) - shift);
            e.Store(tail);
            new ReadOnlySpan<float>(tail, cols - c).CopyTo(new Span<float>(y + c, cols - c));
            s1 += e;
        }

        float sum = Vector256.Sum(s0 + s1);

        float inverse = 1f / sum;
        var scale = Vector256.Create(inverse);
        for (c = 0; c <= cols - 8; c += 8)
        {
            (Vector256.Load(y + c) * scale).Store(y + c);
        }

        for (; c < cols; c++)
        {
            y[c] *= inverse;
        }
    }

    /// <summary>GELU over n elements; the last partial vector goes through a zero-padded copy so every element takes the same path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GeluRange(float* x, float* y, int n, bool exact)
    {
        int i = 0;
        if (exact)
        {
            for (; i <= n - 8; i += 8)
            {
                CpuMath.Gelu(Vector256.Load(x + i)).Store(y + i);
            }
        }
        else
        {
            for (; i <= n - 8; i += 8)
            {
                CpuMath.GeluTanh(Vector256.Load(x + i)).Store(y + i);
            }
        }

        if (i < n)
        {
            float* tail = stackalloc float[8];
            var tailSpan = new Span<float>(tail, 8);
            tailSpan.Clear();
            new ReadOnlySpan<float>(x + i, n - i).CopyTo(tailSpan);
            Vector256<float> v = Vector256.Load(tail);
            (exact ? CpuMath.Gelu(v) : CpuMath.GeluTanh(v)).Store(tail);
            tailSpan[..(n - i)].CopyTo(new Span<float>(y + i, n - i));
        }
    }

    /// <summary>c = a + b over n elements; c may be a or b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddRow(float* a, float* b, float* c, int n)
    {
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            Vector256<float> v0 = Vector256.Load(a + i) + Vector256.Load(b + i);
            Vector256<float> v1 = Vector256.Load(a + i + 8) + Vector256.Load(b + i + 8);
            Vector256<float> v2 = Vector256.Load(a + i + 16) + Vector256.Load(b + i + 16);
            Vector256<float> v3 = Vector256.Load(a + i + 24) + Vector256.Load(b + i + 24);
            v0.Store(c + i);
            v1.Store(c + i + 8);
            v2.Store(c + i + 16);
            v3.Store(c + i + 24);
        }

        for (; i <= n - 8; i += 8)
        {
            (Vector256.Load(a + i) + Vector256.Load(b + i)).Store(c + i);
        }

        for (; i < n; i++)
        {
            c[i] = a[i] + b[i];
        }
    }

    /// <summary>output[f] = Σ rows[r·dim + f] / count, summed in row order as the PoolTokens kernel does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MeanOfRows(float* rows, float* output, int count, int dim)
    {
        var divisor = Vector256.Create((float)count);
        int f = 0;
        for (; f <= dim - 8; f += 8)
        {
            Vector256<float> sum = Vector256<float>.Zero;
            for (int r = 0; r < count; r++)
            {
                sum += Vector256.Load(rows + (long)r * dim + f);
            }

            (sum / divisor).Store(output + f);
        }

        for (; f < dim; f++)
        {
            float sum = 0f;
            for (int r = 0; r < count; r++)
            {
                sum += rows[(long)r * dim + f];
            }

            output[f] = sum / count;
        }
    }

    /// <summary>Copies every patch of one image into packed, one row of K = channels·P·P floats per patch, in the conv weight's (channel, y, x) order.</summary>
    private static void PackImagePatches(float* images, float* packed, int image, PatchShape shape, int channels, int imageSize, int patchSize)
    {
        int k = shape.K;
        for (int patch = 0; patch < shape.Patches; patch++)
        {
            int gy = patch / shape.Grid, gx = patch % shape.Grid;
            float* row = packed + (long)patch * k;
            for (int channel = 0; channel < channels; channel++)
            {
                float* origin = images + (((long)image * channels + channel) * imageSize + (long)gy * patchSize) * imageSize + (long)gx * patchSize;
                for (int py = 0; py < patchSize; py++)
                {
                    Buffer.MemoryCopy(origin + (long)py * imageSize, row + (channel * patchSize + py) * patchSize, patchSize * sizeof(float), patchSize * sizeof(float));
                }
            }
        }
    }
}
