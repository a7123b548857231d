using System.Runtime.Intrinsics;
using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Ops;

/// <summary>
/// LayerNorm, Softmax, Gelu, PatchEmbed, ClassTokenAndPositions, Add and Pool: the cpu ops
/// against plain double-precision loops on shapes from 1×1 through primes and tile edges to ViT
/// shapes, the kernel ops on opencl and the emulator against the same loops, NaN and infinity
/// handling, and argument checks.
/// </summary>
public sealed class ElementwiseOpTests(TestDevices devices) : IClassFixture<TestDevices>
{
    public static TheoryData<int, int> RowShapes => new()
    {
        { 1, 1 }, { 1, 7 }, { 3, 8 }, { 5, 37 }, { 2, 33 }, { 13, 97 }, { 4, 257 }, { 7, 384 }, { 3, 1000 }, { 1576, 384 },
    };

    [Theory]
    [MemberData(nameof(RowShapes))]
    public void Cpu_layernorm_matches_a_double_loop(int rows, int cols)
    {
        float[] x = TestData.Random(rows * cols, 21, -3f, 3f), gamma = TestData.Random(cols, 22), beta = TestData.Random(cols, 23);
        float[] y = RunLayerNorm(devices.Ops("cpu"), x, gamma, beta, rows, cols, 1e-5f);
        Close.Elementwise(OpReference.LayerNorm(x, gamma, beta, rows, cols, 1e-5), y, 1e-5, 1e-5, $"layernorm {rows}x{cols}");
    }

    [Theory]
    [InlineData("cpu")]
    [KernelBackendData]
    public void Layernorm_keeps_precision_when_the_mean_dwarfs_the_spread(string backend)
    {
        // Σx² − mean² would lose every digit here, and a plain float sum for the mean about four.
        const int rows = 4, cols = 384;
        float[] x = TestData.Random(rows * cols, 24, 999f, 1001f), gamma = TestData.Random(cols, 25), beta = TestData.Random(cols, 26);
        float[] y = RunLayerNorm(devices.Ops(backend), x, gamma, beta, rows, cols, 1e-6f);
        Close.Elementwise(OpReference.LayerNorm(x, gamma, beta, rows, cols, 1e-6), y, 1e-5, 1e-5, $"{backend} layernorm around 1000");
    }

    [Theory]
    [MemberData(nameof(RowShapes))]
    public void Cpu_softmax_matches_a_double_loop(int rows, int cols)
    {
        float[] x = TestData.Random(rows * cols, 27, -8f, 8f);
        float[] y = RunSoftmax(devices.Ops("cpu"), x, rows, cols);
        Close.Elementwise(OpReference.Softmax(x, rows, cols), y, 1e-5, 0, $"softmax {rows}x{cols}");
    }

    [Fact]
    public void Cpu_softmax_is_stable_for_large_inputs()
    {
        const int rows = 3, cols = 45;
        float[] x = TestData.Random(rows * cols, 28, 1000f, 1040f); // exp would overflow without the max subtracted
        x[cols] = -1e30f;
        float[] y = RunSoftmax(devices.Ops("cpu"), x, rows, cols);
        Close.Elementwise(OpReference.Softmax(x, rows, cols), y, 1e-5, 0, "softmax of large values");
    }

    public static TheoryData<int, Activation> GeluCases()
    {
        var data = new TheoryData<int, Activation>();
        foreach (int n in new[] { 1, 7, 8, 9, 1001, 1 << 16, 1576 * 1536 })
        {
            data.Add(n, Activation.Gelu);
            data.Add(n, Activation.GeluTanh);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(GeluCases))]
    public void Cpu_gelu_matches_a_double_loop(int n, Activation activation)
    {
        float[] x = TestData.Random(n, 29, -7f, 7f);
        float[] y = RunGelu(devices.Ops("cpu"), x, activation);
        Close.Elementwise(OpReference.Gelu(x, activation), y, 1e-5, 1e-6, $"{activation} n={n}");
    }

    [Fact]
    public void Cpu_erf_is_within_3_ulps_of_KernelMath_Erf()
    {
        var inputs = new List<float> { 0f, -0f, 1e-30f, -1e-20f, 1e-7f, 0.8f, -0.8f, MathF.BitDecrement(0.8f), 4f, MathF.BitDecrement(4f), 3.9f, 10f, -1e30f };
        for (float x = 1e-6f; x < 6f; x *= 1.0001f)
        {
            inputs.Add(x);
            inputs.Add(-x);
        }

        double worst = 0;
        float worstAt = 0;
        for (int i = 0; i < inputs.Count; i += 8)
        {
            var block = new float[8];
            for (int j = 0; j < 8; j++)
            {
                block[j] = inputs[Math.Min(i + j, inputs.Count - 1)];
            }

            Vector256<float> result = CpuMath.Erf(Vector256.Create(block));
            for (int j = 0; j < 8; j++)
            {
                float expected = KernelMath.Erf(block[j]), actual = result.GetElement(j);
                float magnitude = MathF.Abs(expected);
                double ulp = magnitude == 0f ? float.Epsilon : MathF.BitIncrement(magnitude) - magnitude;
                double ulps = Math.Abs((double)actual - expected) / ulp;
                Assert.True(Math.Sign(actual) == Math.Sign(expected), $"erf({block[j]:R}) = {actual:R}, sign differs from {expected:R}");
                if (ulps > worst)
                {
                    (worst, worstAt) = (ulps, block[j]);
                }
            }
        }

        Assert.True(worst <= 3, $"erf is {worst:F2} ulps off at {worstAt:R}");
        Vector256<float> special = CpuMath.Erf(Vector256.Create(float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, 4f, -4f, 100f));
        Assert.True(float.IsNaN(special[0]));
        Assert.Equal([1f, -1f, -0f, 0f, 1f, -1f, 1f], [special[1], special[2], special[3], special[4], special[5], special[6], special[7]]);
        Assert.True(float.IsNegative(special[3]));
    }

    public static TheoryData<int, int, int, int, int, int> PatchCases => new()
    {
        { 1, 1, 1, 1, 1, 0 },
        { 1, 3, 8, 4, 5, 1 },
        { 2, 3, 28, 7, 10, 0 },   // K = 147, not a multiple of 8
        { 3, 2, 15, 5, 67, 2 },   // odd dim, batch·patches not a multiple of 4
        { 1, 3, 224, 16, 384, 1 },
        { 2, 3, 224, 16, 384, 1 },
    };

    [Theory]
    [MemberData(nameof(PatchCases))]
    public void Cpu_patch_embed_matches_a_convolution_loop(int batch, int channels, int imageSize, int patchSize, int dim, int prefix)
    {
        Patch patch = Patch.Make(batch, channels, imageSize, patchSize, dim, prefix);
        float[] tokens = patch.Run(devices.Ops("cpu"));
        Close.Elementwise(patch.Expected(), tokens, 1e-5, 1e-5, $"patch embed {batch}x{channels}x{imageSize}/{patchSize} -> {dim}");
    }

    [Theory]
    [InlineData(1, 1, 1, true)]
    [InlineData(2, 197, 384, true)]
    [InlineData(3, 17, 13, false)]
    public void Cpu_class_token_and_positions_match_a_loop(int batch, int tokenCount, int dim, bool classToken)
    {
        float[] tokens = TestData.Random(batch * tokenCount * dim, 30), cls = TestData.Random(dim, 31), positions = TestData.Random(tokenCount * dim, 32);
        float[] actual = RunPositions(devices.Ops("cpu"), tokens, classToken ? cls : null, positions, batch, tokenCount, dim);
        Close.Elementwise(OpReference.ClassTokenAndPositions(tokens, classToken ? cls : null, positions, batch, tokenCount, dim), actual, 1e-6, 0, "positions");
    }

    [Theory]
    [InlineData(1, 1, 1, PoolMode.ClassToken, 0)]
    [InlineData(1, 1, 1, PoolMode.Mean, 0)]
    [InlineData(2, 197, 384, PoolMode.ClassToken, 1)]
    [InlineData(2, 197, 384, PoolMode.Mean, 1)]
    [InlineData(3, 13, 11, PoolMode.Mean, 0)]
    [InlineData(8, 197, 384, PoolMode.Mean, 1)]
    public void Cpu_pool_matches_a_loop(int batch, int tokenCount, int dim, PoolMode mode, int prefix)
    {
        float[] tokens = TestData.Random(batch * tokenCount * dim, 33);
        float[] actual = RunPool(devices.Ops("cpu"), tokens, batch, tokenCount, dim, mode, prefix);
        Close.Elementwise(OpReference.Pool(tokens, batch, tokenCount, dim, mode, prefix), actual, 1e-5, 1e-6, $"pool {mode}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(100_003)]
    public void Cpu_add_matches_a_loop_also_in_place(int n)
    {
        float[] a = TestData.Random(n, 34), b = TestData.Random(n, 35);
        TransformerOps ops = devices.Ops("cpu");
        using var xa = ops.Device.Upload<float>(a);
        using var xb = ops.Device.Upload<float>(b);
        using var c = ops.Device.Allocate<float>(n);
        ops.Add(xa, xb, c, n);
        ops.Add(xa, xb, xb, n); // c may be b
        double[] expected = a.Zip(b, (p, q) => (double)p + q).ToArray();
        Close.Elementwise(expected, c.ToArray(), 1e-7, 0, "add");
        Close.Elementwise(expected, xb.ToArray(), 1e-7, 0, "add in place");
    }

    // ---- kernels on opencl and the emulator, against the same loops ----

    [Theory]
    [KernelDeviceData(1, 1)]
    [KernelDeviceData(5, 37)]
    [KernelDeviceData(4, 257)]
    [KernelDeviceData(1576, 384)]
    [InlineData("emulator", 1, 1)]
    [InlineData("emulator", 3, 45)]
    public void Kernel_layernorm_and_softmax_match_double_loops(string backend, int rows, int cols)
    {
        TransformerOps ops = devices.Ops(backend);
        float[] x = TestData.Random(rows * cols, 36, -3f, 3f), gamma = TestData.Random(cols, 37), beta = TestData.Random(cols, 38);
        Close.Elementwise(OpReference.LayerNorm(x, gamma, beta, rows, cols, 1e-5), RunLayerNorm(ops, x, gamma, beta, rows, cols, 1e-5f), 1e-5, 1e-5, $"{backend} layernorm");
        Close.Elementwise(OpReference.Softmax(x, rows, cols), RunSoftmax(ops, x, rows, cols), 1e-5, 0, $"{backend} softmax");
    }

    [Theory]
    [KernelDeviceData(1)]
    [KernelDeviceData(4099)]
    [InlineData("emulator", 37)]
    public void Kernel_gelu_add_matches_double_loops(string backend, int n)
    {
        TransformerOps ops = devices.Ops(backend);
        float[] x = TestData.Random(n, 39, -7f, 7f);
        Close.Elementwise(OpReference.Gelu(x, Activation.Gelu), RunGelu(ops, x, Activation.Gelu), 1e-5, 1e-6, $"{backend} gelu");
        Close.Elementwise(OpReference.Gelu(x, Activation.GeluTanh), RunGelu(ops, x, Activation.GeluTanh), 1e-5, 1e-6, $"{backend} gelu tanh");

        float[] b = TestData.Random(n, 49);
        using var xa = ops.Device.Upload<float>(x);
        using var xb = ops.Device.Upload<float>(b);
        ops.Add(xa, xb, xa, n); // in place, as a residual add is
        Close.Elementwise(x.Zip(b, (p, q) => (double)p + q).ToArray(), xa.ToArray(), 1e-7, 0, $"{backend} add");
    }

    [Theory]
    [KernelDeviceData(1, 1, 1, 1, 1, 0)]
    [KernelDeviceData(2, 3, 28, 7, 10, 0)]
    [KernelDeviceData(3, 2, 15, 5, 67, 2)]
    [KernelDeviceData(1, 3, 224, 16, 384, 1)]
    [InlineData("emulator", 1, 3, 8, 4, 5, 1)]
    [InlineData("emulator", 2, 2, 6, 3, 3, 0)]
    public void Kernel_patch_embed_matches_a_convolution_loop(string backend, int batch, int channels, int imageSize, int patchSize, int dim, int prefix)
    {
        Patch patch = Patch.Make(batch, channels, imageSize, patchSize, dim, prefix);
        Close.Elementwise(patch.Expected(), patch.Run(devices.Ops(backend)), 1e-5, 1e-5, $"{backend} patch embed");
    }

    [Theory]
    [KernelDeviceData(2, 197, 384, 1)]
    [KernelDeviceData(3, 17, 13, 0)]
    [InlineData("emulator", 2, 5, 7, 1)]
    public void Kernel_positions_and_pooling_match_loops(string backend, int batch, int tokenCount, int dim, int prefix)
    {
        TransformerOps ops = devices.Ops(backend);
        float[] tokens = TestData.Random(batch * tokenCount * dim, 40), cls = TestData.Random(dim, 41), positions = TestData.Random(tokenCount * dim, 42);
        float[]? classToken = prefix == 1 ? cls : null;
        Close.Elementwise(
            OpReference.ClassTokenAndPositions(tokens, classToken, positions, batch, tokenCount, dim),
            RunPositions(ops, tokens, classToken, positions, batch, tokenCount, dim), 1e-6, 0, $"{backend} positions");
        foreach (PoolMode mode in new[] { PoolMode.ClassToken, PoolMode.Mean })
        {
            Close.Elementwise(
                OpReference.Pool(tokens, batch, tokenCount, dim, mode, prefix),
                RunPool(ops, tokens, batch, tokenCount, dim, mode, prefix), 1e-5, 1e-6, $"{backend} pool {mode}");
        }
    }

    // ---- NaN and infinity ----

    [Theory]
    [InlineData("cpu")]
    [KernelBackendData]
    public void NaN_or_infinity_in_a_row_poisons_only_that_row(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        const int rows = 4, cols = 37;
        float[] x = TestData.Random(rows * cols, 43, -2f, 2f), gamma = TestData.Random(cols, 44), beta = TestData.Random(cols, 45);
        x[1 * cols + 5] = float.NaN;
        x[3 * cols + 36] = float.PositiveInfinity;
        float[] norm = RunLayerNorm(ops, x, gamma, beta, rows, cols, 1e-6f);
        float[] soft = RunSoftmax(ops, x, rows, cols);
        foreach (float[] result in new[] { norm, soft })
        {
            Assert.All(result[..cols], v => Assert.True(float.IsFinite(v)));
            Assert.All(result[cols..(2 * cols)], v => Assert.True(float.IsNaN(v)));
            Assert.All(result[(2 * cols)..(3 * cols)], v => Assert.True(float.IsFinite(v)));
            Assert.All(result[(3 * cols)..], v => Assert.True(float.IsNaN(v)));
        }

        float[] gelu = RunGelu(ops, [float.NaN, float.PositiveInfinity, -3f, 0f, 3f], Activation.Gelu);
        Assert.True(float.IsNaN(gelu[0]));
        Assert.Equal(float.PositiveInfinity, gelu[1]);
        Assert.All(gelu[2..], v => Assert.True(float.IsFinite(v)));
    }

    // ---- argument checks ----

    [Theory]
    [InlineData("cpu")]
    [InlineData("emulator")]
    public void Bad_sizes_throw_naming_the_argument(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        using var small = ops.Device.Allocate<float>(10);
        using var large = ops.Device.Allocate<float>(1000);

        Assert.Equal("y", Assert.ThrowsAny<ArgumentException>(() => ops.LayerNorm(large, large, large, small, 4, 8, 1e-5f)).ParamName);
        Assert.Equal("gamma", Assert.ThrowsAny<ArgumentException>(() => ops.LayerNorm(large, small, large, large, 4, 80, 1e-5f)).ParamName);
        Assert.Equal("eps", Assert.ThrowsAny<ArgumentException>(() => ops.LayerNorm(large, large, large, large, 4, 8, -1f)).ParamName);
        Assert.Equal("x", Assert.ThrowsAny<ArgumentException>(() => ops.Softmax(small, large, 4, 8)).ParamName);
        Assert.Equal("cols", Assert.ThrowsAny<ArgumentException>(() => ops.Softmax(large, large, 4, -8)).ParamName);
        Assert.Equal("n", Assert.ThrowsAny<ArgumentException>(() => ops.Gelu(large, large, -1)).ParamName);
        Assert.Equal("activation", Assert.ThrowsAny<ArgumentException>(() => ops.Gelu(large, large, 8, Activation.None)).ParamName);
        Assert.Equal("c", Assert.ThrowsAny<ArgumentException>(() => ops.Add(large, large, small, 11)).ParamName);
        using PackedWeight weight = ops.PackWeight(new float[8], 2, 4);
        Assert.Equal("patchSize", Assert.ThrowsAny<ArgumentException>(() => ops.PatchEmbed(large, weight, large, large, 1, 1, 10, 3, 2, 0)).ParamName);
        Assert.Equal("tokens", Assert.ThrowsAny<ArgumentException>(() => ops.PatchEmbed(large, weight, large, small, 1, 1, 8, 2, 2, 1)).ParamName);
        Assert.Equal("weight", Assert.ThrowsAny<ArgumentException>(() => ops.PatchEmbed(large, weight, large, large, 1, 3, 4, 2, 2, 0)).ParamName);
        Assert.Equal("classToken", Assert.ThrowsAny<ArgumentException>(() => ops.ClassTokenAndPositions(large, small.View(0, 4), large, 2, 3, 5)).ParamName);
        Assert.Equal("positions", Assert.ThrowsAny<ArgumentException>(() => ops.ClassTokenAndPositions(large, null, small, 2, 3, 5)).ParamName);
        Assert.Equal("prefix", Assert.ThrowsAny<ArgumentException>(() => ops.Pool(large, large, 2, 3, 5, PoolMode.Mean, 3)).ParamName);
        Assert.Equal("output", Assert.ThrowsAny<ArgumentException>(() => ops.Pool(large, small, 4, 3, 5, PoolMode.ClassToken, 1)).ParamName);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("emulator")]
    public void Empty_inputs_do_nothing(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        using var buffer = ops.Device.Upload<float>([1f, 2f]);
        ops.LayerNorm(buffer, buffer, buffer, buffer, 0, 2, 1e-5f);
        ops.LayerNorm(buffer.View(0, 0), buffer, buffer, buffer.View(0, 0), 2, 0, 1e-5f);
        ops.Softmax(buffer, buffer, 2, 0);
        ops.Gelu(buffer, buffer, 0);
        ops.Add(buffer, buffer, buffer, 0);
        ops.ClassTokenAndPositions(buffer, null, buffer, 0, 1, 2);
        Assert.Equal([1f, 2f], buffer.ToArray());
    }

    // ---- running an op on host arrays ----

    private static float[] RunLayerNorm(TransformerOps ops, float[] x, float[] gamma, float[] beta, int rows, int cols, float eps)
    {
        using var xs = ops.Device.Upload<float>(x);
        using var g = ops.Device.Upload<float>(gamma);
        using var b = ops.Device.Upload<float>(beta);
        using var y = ops.Device.Allocate<float>(x.Length);
        ops.LayerNorm(xs, g, b, y, rows, cols, eps);
        return y.ToArray();
    }

    private static float[] RunSoftmax(TransformerOps ops, float[] x, int rows, int cols)
    {
        using var xs = ops.Device.Upload<float>(x);
        using var y = ops.Device.Allocate<float>(x.Length);
        ops.Softmax(xs, y, rows, cols);
        return y.ToArray();
    }

    private static float[] RunGelu(TransformerOps ops, float[] x, Activation activation)
    {
        using var xs = ops.Device.Upload<float>(x);
        using var y = ops.Device.Allocate<float>(x.Length);
        ops.Gelu(xs, y, x.Length, activation);
        return y.ToArray();
    }

    private static float[] RunPositions(TransformerOps ops, float[] tokens, float[]? cls, float[] positions, int batch, int tokenCount, int dim)
    {
        using var t = ops.Device.Upload<float>(tokens);
        using var c = ops.Device.Upload<float>(cls ?? [0f]);
        using var p = ops.Device.Upload<float>(positions);
        ops.ClassTokenAndPositions(t, cls is null ? null : c.View(), p, batch, tokenCount, dim);
        return t.ToArray();
    }

    private static float[] RunPool(TransformerOps ops, float[] tokens, int batch, int tokenCount, int dim, PoolMode mode, int prefix)
    {
        using var t = ops.Device.Upload<float>(tokens);
        using var o = ops.Device.Allocate<float>(batch * dim);
        ops.Pool(t, o, batch, tokenCount, dim, mode, prefix);
        return o.ToArray();
    }

    /// <summary>A patch-embedding case: its inputs, and the convolution it stands for.</summary>
    private sealed record Patch(int Batch, int Channels, int ImageSize, int PatchSize, int Dim, int Prefix, float[] Images, float[] Weight, float[] Bias)
    {
        private int Grid => ImageSize / PatchSize;

        private int TokenCount => Prefix + Grid * Grid;

        public static Patch Make(int batch, int channels, int imageSize, int patchSize, int dim, int prefix) =>
            new(batch, channels, imageSize, patchSize, dim, prefix,
                TestData.Random(batch * channels * imageSize * imageSize, 46),
                TestData.Random(dim * channels * patchSize * patchSize, 47, -0.2f, 0.2f),
                TestData.Random(dim, 48));

        /// <summary>Runs PatchEmbed into tokens pre-filled with a marker, so the prefix rows show that they were left alone.</summary>
        public float[] Run(TransformerOps ops)
        {
            using var im = ops.Device.Upload<float>(Images);
            using PackedWeight w = ops.PackWeight(Weight, Dim, Channels * PatchSize * PatchSize);
            using var b = ops.Device.Upload<float>(Bias);
            using var t = ops.Device.Upload<float>(Enumerable.Repeat(Marker, Batch * TokenCount * Dim).ToArray());
            ops.PatchEmbed(im, w, b, t, Batch, Channels, ImageSize, PatchSize, Dim, Prefix);
            return t.ToArray();
        }

        /// <summary>The conv as PyTorch defines it (stride = kernel = P), flattened and transposed to tokens.</summary>
        public double[] Expected()
        {
            var tokens = Enumerable.Repeat((double)Marker, Batch * TokenCount * Dim).ToArray();
            int s = ImageSize, p = PatchSize;
            for (int b = 0; b < Batch; b++)
            {
                for (int gy = 0; gy < Grid; gy++)
                {
                    for (int gx = 0; gx < Grid; gx++)
                    {
                        for (int d = 0; d < Dim; d++)
                        {
                            double sum = Bias[d];
                            for (int c = 0; c < Channels; c++)
                            {
                                for (int py = 0; py < p; py++)
                                {
                                    for (int px = 0; px < p; px++)
                                    {
                                        sum += (double)Images[((b * Channels + c) * s + gy * p + py) * s + gx * p + px]
                                            * Weight[((d * Channels + c) * p + py) * p + px];
                                    }
                                }
                            }

                            tokens[(b * TokenCount + Prefix + gy * Grid + gx) * Dim + d] = sum;
                        }
                    }
                }
            }

            return tokens;
        }

        private const float Marker = 12345f;
    }
}
