using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Ops;

/// <summary>
/// In the spirit of ggml's test-backend-ops: every op on every backend against the cpu backend,
/// by normalized mean squared error, on shapes that include 1×1, primes, non-multiples of every
/// tile, and ViT shapes; the emulator on small shapes only.
/// </summary>
public sealed class OpSuiteTests(TestDevices devices) : IClassFixture<TestDevices>
{
    /// <summary>Σ(actual − expected)² / Σ expected²; NaN where either has a NaN the other lacks.</summary>
    private const double MaxNmse = 1e-10;

    public static TheoryData<string, GemmVersion, int, int, int, Activation, bool, bool> GemmCases()
    {
        var data = new TheoryData<string, GemmVersion, int, int, int, Activation, bool, bool>();
        void OnDevices(GemmVersion v, int m, int n, int k, Activation a, bool bias, bool residual)
        {
            foreach (string backend in TestBackends.KernelDevices)
            {
                data.Add(backend, v, m, n, k, a, bias, residual);
            }
        }

        (int M, int N, int K)[] shapes = [(1, 1, 1), (1, 7, 3), (37, 53, 29), (64, 64, 64), (65, 63, 67), (197, 96, 64), (1, 384, 384)];
        // The tensor-core versions round their inputs (TF32, BF16, FP16): MmaGemmTests and TensorCoreGemmTests hold them to their own bounds.
        foreach (GemmVersion version in Enum.GetValues<GemmVersion>().Where(v => v.Precision() == Precision.Fp32))
        {
            foreach ((int m, int n, int k) in shapes)
            {
                OnDevices(version, m, n, k, Activation.None, false, false);
            }

            OnDevices(version, 50, 70, 33, Activation.Gelu, true, true);
            OnDevices(version, 31, 17, 45, Activation.GeluTanh, true, false);
            OnDevices(version, 394, 384, 1152, Activation.None, true, true); // ViT-S qkv of 2 images
            data.Add("emulator", version, 19, 23, 17, Activation.Gelu, true, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(GemmCases))]
    public void Gemm_matches_cpu(string backend, GemmVersion version, int m, int n, int k, Activation activation, bool bias, bool residual)
    {
        float[] x = TestData.Random(m * k, 1), w = TestData.Random(n * k, 2), b = TestData.Random(n, 3), r = TestData.Random(m * n, 4);
        float[] Run(TransformerOps ops)
        {
            using var xs = ops.Device.Upload<float>(x);
            using var ws = ops.Device.Upload<float>(w);
            using var bs = ops.Device.Upload<float>(b);
            using var rs = ops.Device.Upload<float>(r);
            using var y = ops.Device.Allocate<float>(m * n);
            ops.Gemm(xs, ws, bias ? bs.View() : null, residual ? rs.View() : null, y, m, n, k, activation);
            return y.ToArray();
        }

        Close.Nmse(Run(devices.Ops("cpu")), Run(devices.Ops(backend, version)), MaxNmse, $"{backend} {version} {m}x{n}x{k}");
    }

    [Theory]
    [InlineData("cpu", 1, 1000, 384, Activation.None, true, false)] // a ViT head at batch 1: fewer rows than the dot-product limit
    [InlineData("cpu", 65, 1152, 384, Activation.None, true, false)] // ViT-S/16 at 128, batch 1: qkv
    [InlineData("cpu", 65, 1536, 384, Activation.Gelu, true, false)] // fc1
    [InlineData("cpu", 65, 384, 1536, Activation.None, true, true)] // fc2
    [InlineData("cpu", 37, 53, 29, Activation.GeluTanh, true, true)]
    [KernelDeviceData(65, 63, 67, Activation.Gelu, true, true)]
    [KernelDeviceData(1, 7, 3, Activation.None, false, false)]
    [InlineData("emulator", 19, 23, 17, Activation.Gelu, true, true)]
    public void Packed_weight_gemm_equals_the_plain_gemm(string backend, int m, int n, int k, Activation activation, bool bias, bool residual)
    {
        TransformerOps ops = devices.Ops(backend);
        float[] x = TestData.Random(m * k, 1), w = TestData.Random(n * k, 2), b = TestData.Random(n, 3), r = TestData.Random(m * n, 4);
        using var xs = ops.Device.Upload<float>(x);
        using var ws = ops.Device.Upload<float>(w);
        using var bs = ops.Device.Upload<float>(b);
        using var rs = ops.Device.Upload<float>(r);
        using var plain = ops.Device.Allocate<float>(m * n);
        using var packed = ops.Device.Allocate<float>(m * n);
        using PackedWeight weight = ops.PackWeight(w, n, k);
        Assert.Equal((n, k), (weight.N, weight.K));
        ops.Gemm(xs, ws, bias ? bs.View() : null, residual ? rs.View() : null, plain, m, n, k, activation);
        ops.Gemm(xs, weight, bias ? bs.View() : null, residual ? rs.View() : null, packed, m, activation);

        // The same kernels, or the same cpu micro-kernel on the same panels, except that the cpu's plain
        // GEMM takes fewer than 8 rows by dot products straight from W (another summation order).
        if (backend == "cpu" && m < 8)
        {
            Close.Nmse(plain.ToArray(), packed.ToArray(), MaxNmse, $"{backend} {m}x{n}x{k}");
        }
        else
        {
            Assert.Equal(plain.ToArray(), packed.ToArray());
        }
    }

    [Fact]
    public void A_packed_weight_runs_only_on_the_ops_that_made_it_and_not_after_dispose()
    {
        TransformerOps cpu = devices.Ops("cpu"), emulator = devices.Ops("emulator");
        float[] w = TestData.Random(6, 1);
        using var x = cpu.Device.Upload<float>(TestData.Random(6, 2));
        using var y = cpu.Device.Allocate<float>(4);
        using var ex = emulator.Device.Upload<float>(TestData.Random(6, 2));
        using var ey = emulator.Device.Allocate<float>(4);
        PackedWeight onCpu = cpu.PackWeight(w, 2, 3), onEmulator = emulator.PackWeight(w, 2, 3);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => emulator.Gemm(ex, onCpu, null, null, ey, 2)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => cpu.Gemm(x, onEmulator, null, null, y, 2)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => cpu.PackWeight(w, 2, 4)).ParamName);
        onCpu.Dispose();
        onEmulator.Dispose();
        Assert.True(onCpu.IsDisposed && onEmulator.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => cpu.Gemm(x, onCpu, null, null, y, 2));
        Assert.Throws<ObjectDisposedException>(() => emulator.Gemm(ex, onEmulator, null, null, ey, 2));
    }

    [Theory]
    [KernelDeviceData(1, 1, 1, 8, true)]
    [KernelDeviceData(2, 13, 3, 16, true)]
    [KernelDeviceData(2, 13, 3, 16, false)]
    [KernelDeviceData(2, 197, 6, 64, true)]
    [KernelDeviceData(2, 197, 6, 64, false)]
    [KernelDeviceData(1, 50, 2, 128, true)]
    [KernelDeviceData(1, 67, 3, 40, true)]
    [InlineData("emulator", 1, 9, 2, 8, true)]
    [InlineData("emulator", 1, 9, 2, 8, false)]
    public void Attention_matches_cpu(string backend, int batch, int tokens, int heads, int headSize, bool fused)
    {
        int dim = heads * headSize;
        float[] qkv = TestData.Random(batch * tokens * 3 * dim, 5, -2f, 2f);
        float[] Run(TransformerOps ops, bool useFused)
        {
            using var input = ops.Device.Upload<float>(qkv);
            using var output = ops.Device.Allocate<float>(batch * tokens * dim);
            ops.Attention(input, output, batch, tokens, heads, headSize, useFused);
            return output.ToArray();
        }

        Close.Nmse(Run(devices.Ops("cpu"), true), Run(devices.Ops(backend), fused), MaxNmse, $"{backend} fused={fused}");
    }

    [Theory]
    [KernelDeviceData(1, 1)]
    [KernelDeviceData(7, 384)]
    [KernelDeviceData(394, 384)]
    [KernelDeviceData(3, 1000)]
    [InlineData("emulator", 5, 37)]
    public void LayerNorm_and_softmax_match_cpu(string backend, int rows, int cols)
    {
        float[] x = TestData.Random(rows * cols, 6, -4f, 4f), gamma = TestData.Random(cols, 7), beta = TestData.Random(cols, 8);
        (float[] Norm, float[] Soft) Run(TransformerOps ops)
        {
            using var xs = ops.Device.Upload<float>(x);
            using var g = ops.Device.Upload<float>(gamma);
            using var b = ops.Device.Upload<float>(beta);
            using var y = ops.Device.Allocate<float>(rows * cols);
            using var s = ops.Device.Allocate<float>(rows * cols);
            ops.LayerNorm(xs, g, b, y, rows, cols, 1e-6f);
            ops.Softmax(xs, s, rows, cols);
            return (y.ToArray(), s.ToArray());
        }

        (float[] norm, float[] soft) = Run(devices.Ops("cpu"));
        (float[] normB, float[] softB) = Run(devices.Ops(backend));
        Close.Nmse(norm, normB, MaxNmse, "layernorm");
        Close.Nmse(soft, softB, MaxNmse, "softmax");
    }

    [Theory]
    [KernelDeviceData(1, 3, 16, 16, 8, 1)]
    [KernelDeviceData(2, 3, 32, 16, 24, 1)]
    [KernelDeviceData(2, 3, 28, 7, 10, 0)]
    [InlineData("emulator", 1, 3, 8, 4, 5, 1)]
    public void Patch_embedding_positions_and_pooling_match_cpu(string backend, int batch, int channels, int imageSize, int patchSize, int dim, int prefix)
    {
        int patches = imageSize / patchSize * (imageSize / patchSize), tokens = prefix + patches;
        float[] images = TestData.Random(batch * channels * imageSize * imageSize, 9);
        float[] weight = TestData.Random(dim * channels * patchSize * patchSize, 10), bias = TestData.Random(dim, 11);
        float[] cls = TestData.Random(dim, 12), positions = TestData.Random(tokens * dim, 13);
        (float[] Tokens, float[] Pooled, float[] Mean) Run(TransformerOps ops)
        {
            using var im = ops.Device.Upload<float>(images);
            using PackedWeight w = ops.PackWeight(weight, dim, channels * patchSize * patchSize);
            using var b = ops.Device.Upload<float>(bias);
            using var c = ops.Device.Upload<float>(cls);
            using var p = ops.Device.Upload<float>(positions);
            using var t = ops.Device.Allocate<float>(batch * tokens * dim);
            using var pooled = ops.Device.Allocate<float>(batch * dim);
            using var mean = ops.Device.Allocate<float>(batch * dim);
            ops.PatchEmbed(im, w, b, t, batch, channels, imageSize, patchSize, dim, prefix);
            ops.ClassTokenAndPositions(t, prefix == 1 ? c.View() : null, p, batch, tokens, dim);
            ops.Pool(t, pooled, batch, tokens, dim, prefix == 1 ? PoolMode.ClassToken : PoolMode.Mean, prefix);
            ops.Pool(t, mean, batch, tokens, dim, PoolMode.Mean, prefix);
            return (t.ToArray(), pooled.ToArray(), mean.ToArray());
        }

        var expected = Run(devices.Ops("cpu"));
        var actual = Run(devices.Ops(backend));
        Close.Nmse(expected.Tokens, actual.Tokens, MaxNmse, "tokens");
        Close.Nmse(expected.Pooled, actual.Pooled, MaxNmse, "pooled");
        Close.Nmse(expected.Mean, actual.Mean, MaxNmse, "mean");
    }

    [Theory]
    [KernelDeviceData(1)]
    [KernelDeviceData(1001)]
    [InlineData("emulator", 97)]
    public void Gelu_and_add_match_cpu(string backend, int n)
    {
        float[] a = TestData.Random(n, 14, -5f, 5f), b = TestData.Random(n, 15);
        float[] Run(TransformerOps ops)
        {
            using var xa = ops.Device.Upload<float>(a);
            using var xb = ops.Device.Upload<float>(b);
            using var g = ops.Device.Allocate<float>(n);
            using var t = ops.Device.Allocate<float>(n);
            using var s = ops.Device.Allocate<float>(n);
            ops.Gelu(xa, g, n, Activation.Gelu);
            ops.Gelu(xa, t, n, Activation.GeluTanh);
            ops.Add(g, t, s, n);
            ops.Add(s, xb, s, n);
            return s.ToArray();
        }

        Close.Nmse(Run(devices.Ops("cpu")), Run(devices.Ops(backend)), MaxNmse, "gelu+add");
    }

    [Theory]
    [InlineData("cpu")]
    [KernelBackendData]
    public void NaN_and_infinity_in_inputs_propagate_without_a_crash(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        int m = 5, n = 7, k = 9;
        float[] x = TestData.Random(m * k, 16);
        x[2 * k + 3] = float.NaN;      // row 2 of X
        x[4 * k] = float.PositiveInfinity; // row 4 of X
        using var xs = ops.Device.Upload<float>(x);
        using var w = ops.Device.Upload<float>(TestData.Random(n * k, 17, 0.1f, 1f));
        using var y = ops.Device.Allocate<float>(m * n);
        using var soft = ops.Device.Allocate<float>(m * k);
        ops.Gemm(xs, w, null, null, y, m, n, k);
        ops.Softmax(xs, soft, m, k);

        float[] result = y.ToArray(), softmax = soft.ToArray();
        Assert.All(result[(2 * n)..(3 * n)], v => Assert.True(float.IsNaN(v)));
        Assert.All(result[(4 * n)..(5 * n)], v => Assert.True(float.IsPositiveInfinity(v) || float.IsNaN(v)));
        Assert.All(result[..(2 * n)], v => Assert.True(float.IsFinite(v)));
        Assert.All(softmax[(2 * k)..(3 * k)], v => Assert.True(float.IsNaN(v)));
        Assert.All(softmax[..(2 * k)], v => Assert.True(float.IsFinite(v)));
    }
}
