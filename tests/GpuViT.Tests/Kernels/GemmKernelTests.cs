using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The GEMM kernels (every version, through KernelTransformerOps.Gemm) and BatchedGemmTiled on OpenCL and
/// the emulator, against plain loops in double precision: shapes of 1, primes, non-multiples of
/// every tile (16 and 64), a ViT shape, each activation, with and without bias and residual, and
/// views at nonzero offsets. The emulator gets small shapes only.
/// </summary>
public sealed class GemmKernelTests(TestDevices devices) : IClassFixture<TestDevices>
{
    /// <summary>The kernel ops: BatchedGemm is theirs alone.</summary>
    private KernelTransformerOps Ops(string backend, GemmVersion version) => (KernelTransformerOps)devices.Ops(backend, version);

    public static TheoryData<string, GemmVersion, int, int, int, Activation, bool, bool> Cases()
    {
        var data = new TheoryData<string, GemmVersion, int, int, int, Activation, bool, bool>();
        void OnDevices(GemmVersion v, int m, int n, int k, Activation a, bool bias, bool residual)
        {
            foreach (string backend in TestBackends.KernelDevices)
            {
                data.Add(backend, v, m, n, k, a, bias, residual);
            }
        }

        // The tensor-core versions round their inputs (TF32, BF16, FP16): MmaGemmTests and TensorCoreGemmTests hold them to their own bounds.
        foreach (GemmVersion version in Enum.GetValues<GemmVersion>().Where(v => v.Precision() == Precision.Fp32))
        {
            // Plain products: 1, primes, exact tiles, one past and one short of 16 and 64, a row vector.
            (int M, int N, int K)[] shapes = [(1, 1, 1), (2, 3, 5), (7, 11, 13), (37, 53, 29), (16, 16, 16), (64, 64, 64), (65, 63, 67), (129, 17, 130), (1, 384, 384)];
            foreach ((int m, int n, int k) in shapes)
            {
                OnDevices(version, m, n, k, Activation.None, false, false);
            }

            // The epilogue: each activation, bias and residual on and off, on edges of every tile.
            OnDevices(version, 50, 70, 33, Activation.Gelu, true, true);
            OnDevices(version, 31, 17, 45, Activation.GeluTanh, true, false);
            OnDevices(version, 67, 65, 19, Activation.None, false, true);
            OnDevices(version, 67, 65, 19, Activation.Gelu, false, false);
            OnDevices(version, 3, 130, 7, Activation.GeluTanh, false, true);
            OnDevices(version, 131, 2, 64, Activation.None, true, false);

            // ViT-S qkv over 2 images (394 tokens, 384 → 1152), and its MLP fc1 with GELU.
            OnDevices(version, 394, 1152, 384, Activation.None, true, false);
            OnDevices(version, 394, 1536, 384, Activation.Gelu, true, true);

            data.Add(TestBackends.Emulator, version, 1, 1, 1, Activation.None, false, false);
            data.Add(TestBackends.Emulator, version, 19, 23, 17, Activation.Gelu, true, true);
            data.Add(TestBackends.Emulator, version, 5, 3, 7, Activation.GeluTanh, true, false);
            data.Add(TestBackends.Emulator, version, 67, 66, 18, Activation.None, false, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gemm_matches_a_loop(string backend, GemmVersion version, int m, int n, int k, Activation activation, bool hasBias, bool hasResidual)
    {
        float[] x = TestData.Random(m * k, 1), w = TestData.Random(n * k, 2), bias = TestData.Random(n, 3), residual = TestData.Random(m * n, 4);
        KernelTransformerOps ops = Ops(backend, version);
        Device device = ops.Device;
        using DeviceBuffer<float> xs = device.Upload<float>(x), ws = device.Upload<float>(w), bs = device.Upload<float>(bias), rs = device.Upload<float>(residual);
        using DeviceBuffer<float> y = device.Allocate<float>(m * n);

        ops.Gemm(xs, ws, hasBias ? bs.View() : null, hasResidual ? rs.View() : null, y, m, n, k, activation);

        Expect(x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation, y.ToArray(), $"{backend} {version} {m}x{n}x{k} {activation}");
    }

    /// <summary>Every operand a view at an odd offset into one buffer, and Y the residual itself (the in-place residual add).</summary>
    [Theory]
    [KernelBackendData(GemmVersion.Naive)]
    [KernelBackendData(GemmVersion.Tiled)]
    [KernelBackendData(GemmVersion.RegisterBlocked)]
    public void Gemm_takes_views_at_offsets_and_writes_over_its_residual(string backend, GemmVersion version)
    {
        const int m = 21, n = 70, k = 23;
        float[] x = TestData.Random(m * k, 5), w = TestData.Random(n * k, 6), bias = TestData.Random(n, 7), residual = TestData.Random(m * n, 8);
        (int xAt, int wAt, int biasAt, int yAt) = (3, 3 + m * k + 5, 3 + m * k + 5 + n * k + 1, 3 + m * k + 5 + n * k + 1 + n + 2);
        int length = yAt + m * n + 4;
        float[] all = TestData.Random(length, 9);
        x.CopyTo(all, xAt);
        w.CopyTo(all, wAt);
        bias.CopyTo(all, biasAt);
        residual.CopyTo(all, yAt);

        KernelTransformerOps ops = Ops(backend, version);
        using DeviceBuffer<float> buffer = ops.Device.Upload<float>(all);
        DeviceView<float> y = buffer.View(yAt, m * n);
        ops.Gemm(buffer.View(xAt, m * k), buffer.View(wAt, n * k), buffer.View(biasAt, n), y, y, m, n, k, Activation.GeluTanh);

        float[] after = buffer.ToArray();
        Expect(x, w, bias, residual, m, n, k, Activation.GeluTanh, after[yAt..(yAt + m * n)], $"{backend} {version}");

        // Nothing outside Y was written.
        Assert.Equal(all[..yAt], after[..yAt]);
        Assert.Equal(all[(yAt + m * n)..], after[(yAt + m * n)..]);
    }

    [Fact]
    public void Gemm_names_the_argument_whose_view_is_too_short()
    {
        KernelTransformerOps ops = Ops(TestBackends.Emulator, GemmVersion.Naive);
        using DeviceBuffer<float> small = ops.Device.Allocate<float>(11), big = ops.Device.Allocate<float>(100);

        ArgumentException x = Assert.Throws<ArgumentException>(() => ops.Gemm(small, big, null, null, big, 3, 4, 4));
        Assert.Equal("x", x.ParamName);
        Assert.Contains("'x' has 11 elements; X [m=3, k=4] needs 12", x.Message);

        Assert.Equal("w", Assert.Throws<ArgumentException>(() => ops.Gemm(big, small, null, null, big, 3, 4, 4)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => ops.Gemm(big, big, null, null, small, 3, 4, 4)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => ops.Gemm(big, big, small.View(0, 3), null, big, 3, 4, 4)).ParamName);
        Assert.Equal("residual", Assert.Throws<ArgumentException>(() => ops.Gemm(big, big, null, small, big, 3, 4, 4)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.Gemm(big, big, null, null, big, -1, 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.Gemm(big, big, null, null, big, 3, 4, 4, (Activation)7));
    }

    /// <summary>
    /// Attention's two batched products on timm's fused qkv [B, T, 3·H·d]: S = (1/√d)·Q·Kᵀ into
    /// [B, H, T, T], then O = S·V into [B, T, H·d] with the heads side by side.
    /// </summary>
    [Theory]
    [KernelDeviceData(2, 197, 6, 64)]
    [KernelDeviceData(3, 17, 2, 24)]
    [KernelDeviceData(1, 1, 1, 1)]
    [InlineData(TestBackends.Emulator, 2, 9, 2, 8)]
    public void BatchedGemm_multiplies_heads_in_place(string backend, int batch, int tokens, int heads, int headSize)
    {
        int dim = heads * headSize;
        float alpha = 1f / MathF.Sqrt(headSize);
        float[] qkv = TestData.Random(batch * tokens * 3 * dim, 10);
        KernelTransformerOps ops = Ops(backend, GemmVersion.RegisterBlocked);
        using DeviceBuffer<float> input = ops.Device.Upload<float>(qkv);
        using DeviceBuffer<float> scores = ops.Device.Allocate<float>(batch * heads * tokens * tokens);
        using DeviceBuffer<float> output = ops.Device.Allocate<float>(batch * tokens * dim);
        var qkvStrides = new BlockStrides(tokens * 3 * dim, headSize, 3 * dim);
        var scoreStrides = new BlockStrides(heads * tokens * tokens, tokens * tokens, tokens);

        ops.BatchedGemm(
            input, qkvStrides, input.View(dim, input.Length - dim), qkvStrides, scores, scoreStrides,
            batch, heads, tokens, tokens, headSize, transposeB: true, alpha);
        ops.BatchedGemm(
            scores, scoreStrides, input.View(2 * dim, input.Length - 2 * dim), qkvStrides, output, new BlockStrides(tokens * dim, headSize, dim),
            batch, heads, tokens, headSize, tokens, transposeB: false, 1f);

        float[] s = scores.ToArray();
        var expectedScores = new float[s.Length];
        var expectedOutput = new float[batch * tokens * dim];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                int Qkv(int t, int part, int j) => (b * tokens + t) * 3 * dim + part * dim + h * headSize + j;
                int Score(int i, int j) => ((b * heads + h) * tokens + i) * tokens + j;
                for (int i = 0; i < tokens; i++)
                {
                    for (int j = 0; j < tokens; j++)
                    {
                        double sum = 0;
                        for (int p = 0; p < headSize; p++)
                        {
                            sum += (double)qkv[Qkv(i, 0, p)] * qkv[Qkv(j, 1, p)];
                        }

                        expectedScores[Score(i, j)] = (float)(alpha * sum);
                    }

                    // From the scores the kernel wrote, so the second product is checked on its own.
                    for (int j = 0; j < headSize; j++)
                    {
                        double sum = 0;
                        for (int p = 0; p < tokens; p++)
                        {
                            sum += (double)s[Score(i, p)] * qkv[Qkv(p, 2, j)];
                        }

                        expectedOutput[(b * tokens + i) * dim + h * headSize + j] = (float)sum;
                    }
                }
            }
        }

        Close.Elementwise(expectedScores, s, 1e-4f, 1e-5f, "scores");
        Close.Elementwise(expectedOutput, output.ToArray(), 1e-4f, 1e-5f * tokens, "output");
    }

    [Fact]
    public void BatchedGemm_refuses_blocks_past_a_view()
    {
        KernelTransformerOps ops = Ops(TestBackends.Emulator, GemmVersion.Naive);
        using DeviceBuffer<float> buffer = ops.Device.Allocate<float>(100);
        var strides = new BlockStrides(50, 10, 5);

        // 2 batches × 2 heads of 3 × 4: the last block ends at 50 + 10 + 2·5 + 4 = 74.
        ops.BatchedGemm(buffer, strides, buffer, strides, buffer.View(26, 74), strides, 2, 2, 3, 4, 4, transposeB: true, 1f);
        ArgumentException e = Assert.Throws<ArgumentException>(
            () => ops.BatchedGemm(buffer, strides, buffer, strides, buffer.View(27, 73), strides, 2, 2, 3, 4, 4, transposeB: true, 1f));
        Assert.Equal("c", e.ParamName);
        Assert.Contains("reach element 74", e.Message);
    }

    /// <summary>
    /// act(X·Wᵀ + bias) + R in double precision. The tolerance grows with Σ|x·w|, which bounds the
    /// float32 rounding of the sum, so it stays tight for small outputs of large products.
    /// </summary>
    internal static void Expect(float[] x, float[] w, float[]? bias, float[]? residual, int m, int n, int k, Activation activation, float[] actual, string what)
    {
        Assert.Equal(m * n, actual.Length);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double product = (double)x[i * k + p] * w[j * k + p];
                    sum += product;
                    magnitude += Math.Abs(product);
                }

                double value = sum + (bias?[j] ?? 0);
                value = activation switch
                {
                    Activation.Gelu => 0.5 * value * (1.0 + KernelMath.Erf((float)(value / Math.Sqrt(2.0)))),
                    Activation.GeluTanh => 0.5 * value * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (value + 0.044715 * value * value * value))),
                    _ => value,
                };
                value += residual?[i * n + j] ?? 0;

                float got = actual[i * n + j];
                double tolerance = 1e-6 + 1e-5 * Math.Abs(value) + 2e-6 * magnitude;
                Assert.True(Math.Abs(got - value) <= tolerance, $"{what}: Y[{i}, {j}] expected {value:R}, got {got:R} (error {Math.Abs(got - value):G3}, tolerance {tolerance:G3})");
            }
        }
    }
}
