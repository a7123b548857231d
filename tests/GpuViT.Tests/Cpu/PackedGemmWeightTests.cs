using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;

namespace GpuViT.Tests.Cpu;

/// <summary>
/// The GEMM with W packed once (<see cref="CpuGemm.PackWeight(int, int, ReadOnlySpan{float}, int)"/>)
/// against the per-call GEMM, which packs the same panels itself: the same arithmetic in the same
/// order, so the same bits, for both micro-kernels; ownership and argument checks.
/// </summary>
public sealed class PackedGemmWeightTests
{
    // m ≥ 8 (the per-call GEMM's packed path): 8 exactly, ViT-S at batch 1 (65 tokens: qkv, fc2),
    // n past a multiple of both panel widths, odd and prime k, k over both KC (two k blocks), one column,
    // and over a cache block of rows with several panels and two k blocks (the prefetching kernels across both).
    public static TheoryData<string, int, int, int> Shapes()
    {
        var shapes = new (int M, int N, int K)[]
        {
            (8, 1, 1), (9, 33, 17), (65, 1152, 384), (65, 384, 1536), (13, 45, 385), (37, 53, 29), (65, 100, 1031), (97, 17, 800), (12, 32, 1100), (130, 100, 1100),
        };
        return CpuGemmTests.EachShapeOn(CpuGemmTests.Tunings(), shapes);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Packed_weight_gives_the_per_call_result_to_the_bit(string tuning, int m, int n, int k)
    {
        int seed = m * 7919 + n * 31 + k;
        float[] x = TestData.Random(m * k, seed), w = TestData.Random(n * k, seed + 1), bias = TestData.Random(n, seed + 2), residual = TestData.Random(m * n, seed + 3);
        using PackedGemmWeight packed = CpuGemm.PackWeight(Tuning(tuning), n, k, w, 0);
        foreach (Activation activation in Enum.GetValues<Activation>())
        {
            foreach (var (withBias, withResidual) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                ReadOnlySpan<float> b = withBias ? bias : default, r = withResidual ? residual : default;
                var expected = new float[m * n];
                var actual = new float[m * n];
                CpuGemm.Gemm(Tuning(tuning), m, n, k, x, w, expected, b, r, activation, 0, 0, 0, 0);
                CpuGemm.Gemm(m, x, packed, actual, b, r, activation);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{tuning} {m}×{n}×{k} {activation} bias={withBias} residual={withResidual}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TuningNames))]
    public void Few_rows_give_the_rows_of_a_packed_path_product(string tuning)
    {
        // Under 8 rows the per-call GEMM reads W by dot products (another summation order); the
        // packed weight runs the micro-kernel for them (the wide tuning's half kernel up to 6 rows),
        // so each row equals that row of an 8-row product (the full kernel).
        const int n = 1000, k = 385;
        float[] x8 = TestData.Random(8 * k, 5), w = TestData.Random(n * k, 6), bias = TestData.Random(n, 7), residual8 = TestData.Random(8 * n, 8);
        var expected = new float[8 * n];
        CpuGemm.Gemm(Tuning(tuning), 8, n, k, x8, w, expected, bias, residual8, Activation.GeluTanh, 0, 0, 0, 0);
        using PackedGemmWeight packed = CpuGemm.PackWeight(Tuning(tuning), n, k, w, 0);
        for (int m = 1; m < 8; m++)
        {
            var actual = new float[m * n];
            CpuGemm.Gemm(m, x8.AsSpan(0, m * k), packed, actual, bias, residual8.AsSpan(0, m * n), Activation.GeluTanh);
            Assert.True(expected.AsSpan(0, m * n).SequenceEqual(actual), $"{tuning} m={m}");
        }
    }

    public static TheoryData<string> TuningNames() => new(CpuGemmTests.Tunings());

    // ViT-S at batch 1 and 128 (65 tokens = 5 full row panels and one of 5 rows, the half kernel):
    // qkv, and fc2 (k over KC: two k blocks, so the prefetch crosses into the next k block); a last
    // panel of exactly 6 rows with an odd n and two k blocks; more rows than a cache block (row
    // tasks, two row blocks), a last panel of 5 rows.
    public static TheoryData<int, int, int> PrefetchShapes() => new()
    {
        { 65, 1152, 384 }, { 65, 384, 1536 }, { 30, 100, 1031 }, { 101, 200, 800 },
    };

    [Theory]
    [MemberData(nameof(PrefetchShapes))]
    public void Prefetching_kernels_give_the_same_bits_as_the_plain_ones(int m, int n, int k)
    {
        // The wide tuning alone has prefetching kernels; without Vector512 they do not run.
        if (!System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            return;
        }

        int seed = m * 131 + n * 17 + k;
        float[] x = TestData.Random(m * k, seed), w = TestData.Random(n * k, seed + 1), bias = TestData.Random(n, seed + 2), residual = TestData.Random(m * n, seed + 3);
        using PackedGemmWeight prefetching = CpuGemm.PackWeight(CpuGemm.Wide, n, k, w, 0);
        using PackedGemmWeight plain = CpuGemm.PackWeight(CpuGemm.WideWithoutPrefetch, n, k, w, 0);
        foreach (Activation activation in Enum.GetValues<Activation>())
        {
            var expected = new float[m * n];
            var actual = new float[m * n];
            CpuGemm.Gemm(m, x, plain, expected, bias, residual, activation);
            CpuGemm.Gemm(m, x, prefetching, actual, bias, residual, activation);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{m}×{n}×{k} {activation}");
        }
    }

    [Theory]
    [MemberData(nameof(TuningNames))]
    public void Strided_operands_and_an_in_place_residual_match_the_per_call_gemm(string tuning)
    {
        // W packed from a view into a wider matrix; X, Y and R views too; then y += GELU(x·Wᵀ + b) in place.
        const int m = 29, n = 45, k = 70, ldx = k + 5, ldw = k + 3, ldy = n + 7;
        const float Sentinel = 12345f;
        float[] x = TestData.Random(m * ldx, 3), w = TestData.Random(n * ldw, 4), bias = TestData.Random(n, 5);
        float[] start = Enumerable.Repeat(Sentinel, m * ldy).ToArray();
        for (int i = 0; i < m; i++)
        {
            TestData.Random(n, 100 + i).CopyTo(start, i * ldy);
        }

        using PackedGemmWeight packed = CpuGemm.PackWeight(Tuning(tuning), n, k, w, ldw);
        foreach (Activation activation in Enum.GetValues<Activation>())
        {
            float[] expected = (float[])start.Clone(), actual = (float[])start.Clone();
            CpuGemm.Gemm(Tuning(tuning), m, n, k, x, w, expected, bias, expected, activation, ldx, ldw, ldy, ldy);
            CpuGemm.Gemm(m, x, packed, actual, bias, actual, activation, ldx, ldy, ldy);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Disposing_frees_the_panels_and_later_use_throws()
    {
        float[] w = TestData.Random(40 * 24, 1);
        PackedGemmWeight packed = CpuGemm.PackWeight(40, 24, w);
        Assert.Equal(40, packed.N);
        Assert.Equal(24, packed.K);
        int nr = CpuGemm.Current.NR;
        Assert.Equal((40 + nr - 1) / nr * nr * 24 * sizeof(float), packed.Bytes);
        Assert.False(packed.IsDisposed);
        packed.Dispose();
        packed.Dispose();
        Assert.True(packed.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => CpuGemm.Gemm(2, new float[48], packed, new float[80]));
    }

    [Fact]
    public void Empty_shapes_pack_and_run()
    {
        using PackedGemmWeight none = CpuGemm.PackWeight(0, 5, ReadOnlySpan<float>.Empty);
        CpuGemm.Gemm(3, new float[15], none, Span<float>.Empty);

        // k = 0: Y = act(bias) + R.
        using PackedGemmWeight empty = CpuGemm.PackWeight(3, 0, ReadOnlySpan<float>.Empty);
        float[] bias = [-1f, 0f, 2f], residual = [1f, 1f, 1f, 2f, 2f, 2f];
        var y = new float[6];
        CpuGemm.Gemm(2, ReadOnlySpan<float>.Empty, empty, y, bias, residual, Activation.Gelu);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(CpuMath.Gelu(bias[i % 3]) + residual[i], y[i], 6);
        }
    }

    [Fact]
    public void Arguments_are_checked_with_clear_messages()
    {
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => CpuGemm.PackWeight(2, 3, new float[5])).ParamName);
        Assert.Equal("wRowStride", Assert.Throws<ArgumentException>(() => CpuGemm.PackWeight(2, 3, new float[6], 2)).ParamName);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => CpuGemm.PackWeight(-1, 3, new float[6])).Message);

        using PackedGemmWeight packed = CpuGemm.PackWeight(2, 3, new float[6]);
        float[] x = new float[6], y = new float[4];
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, x.AsSpan(1), packed, y)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, x, packed, y.AsSpan(1))).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, x, packed, y, bias: new float[1])).ParamName);
        Assert.Equal("residual", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, x, packed, y, residual: new float[3])).ParamName);
        Assert.Equal("xRowStride", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, x, packed, y, xRowStride: 2)).ParamName);
        Assert.Equal("activation", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, x, packed, y, activation: (Activation)7)).ParamName);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(-1, x, packed, y)).Message);
        var shared = new float[16];
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => CpuGemm.Gemm(2, shared.AsSpan(0, 6), packed, shared.AsSpan(4, 4))).ParamName);
    }

    private static CpuGemm.Tuning Tuning(string name) => name switch
    {
        "wide" => CpuGemm.Wide,
        "narrow" => CpuGemm.Narrow,
        _ => throw new ArgumentException(name),
    };
}
