using System.Runtime.Intrinsics;
using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;

namespace GpuViT.Tests.Cpu;

/// <summary>
/// The cpu GEMM (both micro-kernels where the machine runs them), the naive GEMM and the batched
/// GEMM against plain loops in double, by normalized error; NaN and ∞ propagation; argument checks.
/// </summary>
public sealed class CpuGemmTests
{
    // Normalized error bounds: float accumulation over k ≤ 1536 stays near 1e-6 relative.
    private const double MaxNmse = 1e-10;
    private const double MaxElementError = 2e-5; // |y − ref| / rms(ref)

    /// <summary>The micro-kernels this machine runs fast: "wide" (Vector512) only where accelerated.</summary>
    public static IEnumerable<string> Tunings() =>
        Vector512.IsHardwareAccelerated ? ["wide", "narrow"] : ["narrow"];

    private static CpuGemm.Tuning? TuningNamed(string name) => name switch
    {
        "wide" => CpuGemm.Wide,
        "narrow" => CpuGemm.Narrow,
        "naive" => null,
        _ => throw new ArgumentException(name),
    };

    // m × n × k: degenerate, primes, below/above/across every blocking (MR 6/12, NR 16/32, KC 384/1024,
    // MC 96, 8-wide transposes), the dot-product path (m < 8, on one core and on all), and ViT-S/16
    // shapes scaled down.
    public static TheoryData<string, int, int, int> Shapes()
    {
        var shapes = new (int M, int N, int K)[]
        {
            (1, 1, 1), (37, 53, 29), (97, 1, 13), (1, 101, 67), (2, 3, 5), (3, 67, 130), (4, 33, 17), (1, 300, 250), (7, 130, 520),
            (5, 7, 3), (6, 16, 8), (12, 32, 384), (13, 33, 385), (11, 31, 383), (25, 65, 9), (97, 17, 800), (29, 40, 1100),
            (193, 130, 96), (197, 96, 64), (197, 288, 96), (197, 96, 384),
        };
        return EachShapeOn(Tunings().Append("naive"), shapes);
    }

    /// <summary>(tuning, m, n, k) for every shape on every tuning.</summary>
    internal static TheoryData<string, int, int, int> EachShapeOn(IEnumerable<string> tunings, (int M, int N, int K)[] shapes)
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (string tuning in tunings)
        {
            foreach (var (m, n, k) in shapes)
            {
                data.Add(tuning, m, n, k);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Gemm_matches_double_loops(string tuning, int m, int n, int k)
    {
        int seed = m * 10007 + n * 101 + k;
        float[] x = TestData.Random(m * k, seed), w = TestData.Random(n * k, seed + 1);
        float[] bias = TestData.Random(n, seed + 2), residual = TestData.Random(m * n, seed + 3);
        double[] product = Product(m, n, k, x, k, w, k);
        foreach (Activation activation in Enum.GetValues<Activation>())
        {
            foreach (var (withBias, withResidual) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                var y = new float[m * n];
                CpuGemm.Gemm(TuningNamed(tuning), m, n, k, x, w, y, withBias ? bias : default, withResidual ? residual : default,
                    activation, 0, 0, 0, 0);
                double[] expected = Finish(product, n, withBias ? bias : null, withResidual ? residual : null, n, activation);
                AssertMatchesReference(expected, y, n, n, $"{tuning} {m}×{n}×{k} {activation} bias={withBias} residual={withResidual}");
            }
        }
    }

    [Fact]
    public void Gemm_matches_double_loops_at_a_full_ViT_S_shape()
    {
        // ViT-S/16 at batch 8: 8·197 tokens × 384 → qkv 1152, with bias.
        const int m = 1576, n = 1152, k = 384;
        float[] x = TestData.Random(m * k, 7), w = TestData.Random(n * k, 8), bias = TestData.Random(n, 9);
        var y = new float[m * n];
        CpuGemm.Gemm(m, n, k, x, w, y, bias);
        AssertMatchesReference(Reference(m, n, k, x, k, w, k, bias, null, n, Activation.None), y, n, n, "ViT-S qkv");
    }

    [Theory]
    [MemberData(nameof(TuningsAndNaive))]
    public void Strided_views_read_and_write_only_their_elements(string tuning)
    {
        // X, W, R and Y are views into wider matrices; the gaps must stay untouched.
        const int m = 29, n = 45, k = 70, ldx = k + 5, ldw = k + 3, ldy = n + 7, ldr = n + 2;
        const float Sentinel = 12345f;
        float[] x = TestData.Random(m * ldx, 3), w = TestData.Random(n * ldw, 4);
        float[] residual = TestData.Random(m * ldr, 5), bias = TestData.Random(n, 6);
        var y = Enumerable.Repeat(Sentinel, m * ldy).ToArray();
        CpuGemm.Gemm(TuningNamed(tuning), m, n, k, x, w, y, bias, residual, Activation.GeluTanh, ldx, ldw, ldy, ldr);
        double[] expected = Reference(m, n, k, x, ldx, w, ldw, bias, residual, ldr, Activation.GeluTanh);
        AssertMatchesReference(expected, y, n, ldy, $"{tuning} strided");
        for (int i = 0; i < m; i++)
        {
            for (int j = n; j < ldy && i * ldy + j < y.Length; j++)
            {
                Assert.Equal(Sentinel, y[i * ldy + j]);
            }
        }
    }

    public static TheoryData<string> TuningsAndNaive() => new(Tunings().Append("naive"));

    [Theory]
    [MemberData(nameof(TuningsAndNaive))]
    public void Residual_may_be_the_output_itself(string tuning)
    {
        // x += GELU(x·Wᵀ + b) in place, with k over KC so the packed path splits k into blocks.
        foreach (Activation activation in new[] { Activation.None, Activation.Gelu })
        {
            const int m = 50, n = 40, k = 1100;
            float[] x = TestData.Random(m * k, 11), w = TestData.Random(n * k, 12), bias = TestData.Random(n, 13);
            float[] y = TestData.Random(m * n, 14);
            double[] expected = Reference(m, n, k, x, k, w, k, bias, y, n, activation);
            CpuGemm.Gemm(TuningNamed(tuning), m, n, k, x, w, y, bias, y, activation, 0, 0, 0, 0);
            AssertMatchesReference(expected, y, n, n, $"{tuning} in place {activation}");
        }
    }

    [Theory]
    [MemberData(nameof(TuningsAndNaive))]
    public void NaN_and_infinity_stay_in_their_rows_and_columns(string tuning)
    {
        foreach (int m in new[] { 1, 3, 40 }) // the dot-product path and the packed path
        {
            const int n = 37, k = 45;
            float[] x = TestData.Random(m * k, m), w = TestData.Random(n * k, 100 + m);
            int nanRow = m / 2, infRow = m - 1, nanColumn = 7;
            x[nanRow * k + 3] = float.NaN;
            w[nanColumn * k + 10] = float.NaN;
            if (infRow != nanRow)
            {
                x[infRow * k + 5] = float.PositiveInfinity;
            }

            foreach (Activation activation in Enum.GetValues<Activation>())
            {
                var y = new float[m * n];
                CpuGemm.Gemm(TuningNamed(tuning), m, n, k, x, w, y, default, default, activation, 0, 0, 0, 0);
                double[] expected = Reference(m, n, k, x, k, w, k, null, null, n, activation);
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        float value = y[i * n + j];
                        string where = $"{tuning} m={m} {activation} ({i}, {j}) = {value}";
                        if (i == nanRow || j == nanColumn)
                        {
                            Assert.True(float.IsNaN(value), where);
                        }
                        else if (i == infRow && activation == Activation.None)
                        {
                            Assert.False(float.IsFinite(value), where);
                        }
                        else if (i != infRow)
                        {
                            Assert.True(Math.Abs(value - expected[i * n + j]) < 1e-4, where);
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void Empty_k_gives_the_activated_bias_plus_the_residual()
    {
        float[] bias = [-1f, 0f, 2f], residual = [1f, 1f, 1f, 2f, 2f, 2f];
        var y = new float[6];
        CpuGemm.Gemm(2, 3, 0, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, y, bias, residual, Activation.Gelu);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(CpuMath.Gelu(bias[i % 3]) + residual[i], y[i], 6);
        }
    }

    [Fact]
    public void Empty_m_or_n_writes_nothing()
    {
        var y = new float[] { 5f };
        CpuGemm.Gemm(0, 1, 4, ReadOnlySpan<float>.Empty, new float[4], y);
        CpuGemm.Gemm(1, 0, 4, new float[4], ReadOnlySpan<float>.Empty, y);
        Assert.Equal(5f, y[0]);
    }

    [Fact]
    public void Span_arguments_are_checked_with_clear_messages()
    {
        float[] x = new float[6], w = new float[6], y = new float[4];
        var shortX = Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x.AsSpan(0, 5), w, y));
        Assert.Equal("x", shortX.ParamName);
        Assert.Contains("x has 5 elements", shortX.Message);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x, w.AsSpan(1), y)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x, w, y.AsSpan(1))).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x, w, y, bias: new float[1])).ParamName);
        Assert.Equal("residual", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x, w, y, residual: new float[3])).ParamName);
        Assert.Equal("xRowStride", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x, w, y, xRowStride: 2)).ParamName);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(-1, 2, 3, x, w, y)).Message);
        Assert.Equal("activation", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x, w, y, activation: (Activation)7)).ParamName);

        // Y may be R itself, but no other overlap.
        var shared = new float[16];
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, shared.AsSpan(0, 6), w, shared.AsSpan(4, 4))).ParamName);
        Assert.Equal("residual", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, 2, 3, x, w, shared.AsSpan(0, 4), residual: shared.AsSpan(1, 4))).ParamName);
    }

    [Theory]
    [InlineData(2, 3, 13, 8, 0.25f)]
    [InlineData(1, 1, 1, 1, 1f)]
    [InlineData(2, 6, 197, 64, 0.125f)]
    public void BatchedGemm_runs_attention_on_fused_qkv_views(int batch, int heads, int tokens, int headSize, float scale)
    {
        // timm's fused qkv [B, T, 3·D]: S = scale·Q·Kᵀ per head, then O = S·V written into [B, T, D].
        int d = heads * headSize;
        float[] qkv = TestData.Random(batch * tokens * 3 * d, tokens + heads);
        var fused = new MatrixLayout(tokens * 3L * d, headSize, 3 * d);
        var scores = new float[batch * heads * tokens * tokens];
        var scoresLayout = MatrixLayout.Dense(heads, tokens, tokens);
        CpuGemm.BatchedGemm(batch, heads, tokens, tokens, headSize, scale,
            qkv, fused, qkv.AsSpan(d), fused, transposeB: true, scores, scoresLayout);

        var output = new float[batch * tokens * d];
        var outputLayout = new MatrixLayout((long)tokens * d, headSize, d);
        CpuGemm.BatchedGemm(batch, heads, tokens, headSize, tokens, 1f,
            scores, scoresLayout, qkv.AsSpan(2 * d), fused, transposeB: false, output, outputLayout);

        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                var expectedScores = new double[tokens * tokens];
                var actualScores = new float[tokens * tokens];
                for (int i = 0; i < tokens; i++)
                {
                    for (int j = 0; j < tokens; j++)
                    {
                        double sum = 0;
                        for (int p = 0; p < headSize; p++)
                        {
                            sum += (double)qkv[Fused(b, i, 0, h, p)] * qkv[Fused(b, j, 1, h, p)];
                        }

                        expectedScores[i * tokens + j] = scale * sum;
                        actualScores[i * tokens + j] = scores[((b * heads + h) * tokens + i) * tokens + j];
                    }
                }

                AssertMatchesReference(expectedScores, actualScores, tokens, tokens, $"scores b={b} h={h}");

                var expectedOutput = new double[tokens * headSize];
                var actualOutput = new float[tokens * headSize];
                for (int i = 0; i < tokens; i++)
                {
                    for (int j = 0; j < headSize; j++)
                    {
                        double sum = 0;
                        for (int p = 0; p < tokens; p++)
                        {
                            sum += (double)actualScores[i * tokens + p] * qkv[Fused(b, p, 2, h, j)];
                        }

                        expectedOutput[i * headSize + j] = sum;
                        actualOutput[i * headSize + j] = output[(b * tokens + i) * d + h * headSize + j];
                    }
                }

                AssertMatchesReference(expectedOutput, actualOutput, headSize, headSize, $"output b={b} h={h}");
            }
        }

        int Fused(int b, int t, int part, int h, int p) => (b * tokens + t) * 3 * d + part * d + h * headSize + p;
    }

    [Fact]
    public void BatchedGemm_checks_its_layouts()
    {
        var a = new float[8];
        var dense = MatrixLayout.Dense(1, 2, 2);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() =>
            CpuGemm.BatchedGemm(2, 1, 2, 2, 2, 1f, a, dense, a, dense, true, new float[7], dense)).ParamName);
        Assert.Equal("bLayout", Assert.Throws<ArgumentException>(() =>
            CpuGemm.BatchedGemm(2, 1, 2, 2, 2, 1f, a, dense, a, dense with { RowStride = 1 }, true, new float[8], dense)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() =>
            CpuGemm.BatchedGemm(2, 1, 2, 2, 2, 1f, a, dense, a, dense, true, a, dense)).ParamName);
    }

    /// <summary>act(X·Wᵀ + bias) + R in double, dense m × n.</summary>
    private static double[] Reference(int m, int n, int k, float[] x, int ldx, float[] w, int ldw, float[]? bias, float[]? residual, int ldr, Activation activation) =>
        Finish(Product(m, n, k, x, ldx, w, ldw), n, bias, residual, ldr, activation);

    /// <summary>X·Wᵀ in double, dense m × n.</summary>
    private static double[] Product(int m, int n, int k, float[] x, int ldx, float[] w, int ldw)
    {
        var y = new double[m * n];
        Parallel.For(0, m, i =>
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    sum += (double)x[i * ldx + p] * w[j * ldw + p];
                }

                y[i * n + j] = sum;
            }
        });
        return y;
    }

    /// <summary>act(product + bias) + R, the epilogue in double.</summary>
    private static double[] Finish(double[] product, int n, float[]? bias, float[]? residual, int ldr, Activation activation)
    {
        var y = new double[product.Length];
        for (int index = 0; index < product.Length; index++)
        {
            int i = index / n, j = index % n;
            y[index] = MathReference.Activate(product[index] + (bias?[j] ?? 0), activation) + (residual?[i * ldr + j] ?? 0);
        }

        return y;
    }

    /// <summary>ggml-style: the normalized mean squared error, and the worst element against the rms of the reference.</summary>
    private static void AssertMatchesReference(double[] expected, float[] actual, int n, int actualRowStride, string what)
    {
        float[] dense = new float[expected.Length];
        for (int i = 0; i < expected.Length / n; i++)
        {
            actual.AsSpan(i * actualRowStride, n).CopyTo(dense.AsSpan(i * n));
        }

        double rms = Math.Sqrt(expected.Sum(e => e * e) / expected.Length);
        Close.Nmse(expected, dense, MaxNmse, what);
        Close.Elementwise(expected, dense, relative: 0, absolute: MaxElementError * Math.Max(rms, 1e-30), what);
    }
}
