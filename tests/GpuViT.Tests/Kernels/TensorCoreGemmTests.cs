using GpuViT.Kernels;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The production tensor-core GEMMs (Library/TensorCoreGemm.cs) through KernelTransformerOps, each
/// precision and both block tiles, on the emulator and OpenCL (and CUDA where present): against
/// the cpu backend's GEMM on inputs rounded to the precision (only the order of the fp32 sums
/// differs, so the bound is a few ulps of the sums' scale), and against fp32 within the precision's
/// bound. Odd shapes, every epilogue, views at offsets, unaligned k (element-by-element staging),
/// packed 16-bit weights and split-K. The emulator gets small shapes. The default versions run the
/// cp.async pipeline (Library/TensorCoreGemmCpAsync.cs) on aligned calls (k a multiple of 4, or 8 at
/// BF16/FP16) and the register-staged kernels otherwise; the RegisterStaged versions always the latter.
/// </summary>
public sealed class TensorCoreGemmTests(TestDevices devices) : IClassFixture<TestDevices>
{
    private static readonly GemmVersion[] Versions =
    [
        GemmVersion.TensorCoreTf32, GemmVersion.TensorCoreBf16, GemmVersion.TensorCoreFp16,
        GemmVersion.TensorCoreTf32RegisterStaged, GemmVersion.TensorCoreBf16RegisterStaged, GemmVersion.TensorCoreFp16RegisterStaged,
    ];

    public static TheoryData<string, GemmVersion, TensorCoreTile, int, int, int, Activation, bool, bool> Cases()
    {
        var data = new TheoryData<string, GemmVersion, TensorCoreTile, int, int, int, Activation, bool, bool>();
        foreach (GemmVersion version in Versions)
        {
            foreach (TensorCoreTile tile in new[] { TensorCoreTile.Large, TensorCoreTile.Small })
            {
                foreach (string backend in TestDevices.KernelBackends)
                {
                    data.Add(backend, version, tile, 1, 7, 3, Activation.None, false, false);
                    data.Add(backend, version, tile, 31, 17, 45, Activation.Gelu, true, true);
                    data.Add(backend, version, tile, 9, 70, 36, Activation.GeluTanh, true, false);
                    data.Add(backend, version, tile, 20, 9, 64, Activation.None, false, true);
                    data.Add(backend, version, tile, 70, 66, 40, Activation.Gelu, true, true);
                }

                foreach (string backend in TestBackends.KernelDevices)
                {
                    data.Add(backend, version, tile, 130, 67, 129, Activation.Gelu, true, true);
                    data.Add(backend, version, tile, 197, 384, 1152, Activation.None, true, false);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tensor_core_gemm_matches_cpu_on_rounded_inputs_and_fp32_within_its_precision(
        string backend, GemmVersion version, TensorCoreTile tile, int m, int n, int k, Activation activation, bool hasBias, bool hasResidual)
    {
        float[] x = TestData.Random(m * k, 11), w = TestData.Random(n * k, 12), bias = TestData.Random(n, 13), residual = TestData.Random(m * n, 14);
        KernelTransformerOps ops = Ops(backend, version, new TensorCorePlan(tile, 1, int.MaxValue));
        float[] y = Run(ops, x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation);

        string what = $"{backend} {version} {tile} {m}x{n}x{k} {activation}";
        ExpectRounded(version, x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation, y, what);
        ExpectFp32(version, x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation, y, what);
    }

    /// <summary>X and W as views at offsets: 16-byte loads where k and the offsets allow (k 48, offset 4), element staging otherwise (odd offsets, k 45).</summary>
    [Theory]
    [KernelBackendData(GemmVersion.TensorCoreTf32, 48, 4)]
    [KernelBackendData(GemmVersion.TensorCoreTf32, 48, 1)]
    [KernelBackendData(GemmVersion.TensorCoreTf32, 45, 4)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, 48, 4)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, 45, 3)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, 48, 2)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, 45, 4)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, 40, 8)]
    [KernelBackendData(GemmVersion.TensorCoreTf32, 44, 8)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, 44, 4)]
    public void Tensor_core_gemm_takes_views_at_offsets_and_unaligned_k(string backend, GemmVersion version, int k, int offset)
    {
        const int m = 21, n = 19;
        float[] x = TestData.Random(m * k, 21), w = TestData.Random(n * k, 22), bias = TestData.Random(n, 23), residual = TestData.Random(m * n, 24);
        KernelTransformerOps ops = Ops(backend, version, new TensorCorePlan(TensorCoreTile.Small, 1, int.MaxValue));
        Device device = ops.Device;
        float[] xAll = new float[offset + m * k + 3], wAll = new float[offset + n * k + 3];
        x.CopyTo(xAll, offset);
        w.CopyTo(wAll, offset);
        using DeviceBuffer<float> xs = device.Upload<float>(xAll), ws = device.Upload<float>(wAll), bs = device.Upload<float>(bias), rs = device.Upload<float>(residual);
        using DeviceBuffer<float> y = device.Allocate<float>(m * n);

        ops.Gemm(xs.View(offset, m * k), ws.View(offset, n * k), bs.View(), rs.View(), y, m, n, k, Activation.Gelu);

        ExpectRounded(version, x, w, bias, residual, m, n, k, Activation.Gelu, y.ToArray(), $"{backend} {version} k={k} offset {offset}");
    }

    /// <summary>
    /// The patch embedding reads fp32 weights: a 16-bit packed weight is widened once, on first use,
    /// and kept with the weight (its bytes grow by n·k·4 then, and never again), and the embedding
    /// equals the fp32 ops' on the weight rounded as packing rounds it.
    /// </summary>
    [Theory]
    [InlineData("emulator", Precision.Bf16)]
    [InlineData("opencl", Precision.Fp16)]
    public void A_16_bit_weight_is_widened_once_for_the_patch_embedding(string backend, Precision precision)
    {
        const int batch = 2, channels = 3, imageSize = 8, patchSize = 4, dim = 8, k = channels * patchSize * patchSize;
        const int tokens = (imageSize / patchSize) * (imageSize / patchSize);
        float[] images = TestData.Random(batch * channels * imageSize * imageSize, 41), w = TestData.Random(dim * k, 42), bias = TestData.Random(dim, 43);
        float[] rounded = w.Select(v => precision == Precision.Bf16 ? (float)(BFloat16)v : (float)(Half)v).ToArray();
        Device device = devices.Device(backend);
        using var narrowed = new KernelTransformerOps(device, null, precision);
        using var fp32 = new KernelTransformerOps(device);
        using PackedWeight packed = narrowed.PackWeight(w, dim, k), reference = fp32.PackWeight(rounded, dim, k);
        using DeviceBuffer<float> im = device.Upload<float>(images), b = device.Upload<float>(bias);
        using DeviceBuffer<float> first = device.Allocate<float>(batch * tokens * dim), second = device.Allocate<float>(batch * tokens * dim), expected = device.Allocate<float>(batch * tokens * dim);

        narrowed.PatchEmbed(im, packed, b, first, batch, channels, imageSize, patchSize, dim, 0);
        Assert.Equal((long)dim * k * (2 + 4), packed.Bytes);
        int buffers = device.Memory.Buffers;
        narrowed.PatchEmbed(im, packed, b, second, batch, channels, imageSize, patchSize, dim, 0);
        Assert.Equal(buffers, device.Memory.Buffers);
        Assert.Equal((long)dim * k * (2 + 4), packed.Bytes);
        fp32.PatchEmbed(im, reference, b, expected, batch, channels, imageSize, patchSize, dim, 0);

        Assert.Equal(expected.ToArray(), first.ToArray());
        Assert.Equal(expected.ToArray(), second.ToArray());
    }

    /// <summary>A packed weight (16-bit at bf16 and fp16: half the bytes) gives the plain Gemm's result to the bit.</summary>
    [Theory]
    [KernelBackendData(GemmVersion.TensorCoreTf32, 4)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, 2)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, 2)]
    public void Packed_weight_gives_the_plain_result_in_its_bytes(string backend, GemmVersion version, int bytesPerValue)
    {
        const int m = 33, n = 41, k = 37;
        float[] x = TestData.Random(m * k, 31), w = TestData.Random(n * k, 32), bias = TestData.Random(n, 33);
        KernelTransformerOps ops = Ops(backend, version, null);
        Device device = ops.Device;
        using PackedWeight packed = ops.PackWeight(w, n, k);
        Assert.Equal((long)n * k * bytesPerValue, packed.Bytes);
        using DeviceBuffer<float> xs = device.Upload<float>(x), ws = device.Upload<float>(w), bs = device.Upload<float>(bias);
        using DeviceBuffer<float> plain = device.Allocate<float>(m * n), fromPacked = device.Allocate<float>(m * n);

        ops.Gemm(xs, ws, bs.View(), null, plain, m, n, k, Activation.GeluTanh);
        ops.Gemm(xs, packed, bs.View(), null, fromPacked, m, Activation.GeluTanh);

        Assert.Equal(plain.ToArray(), fromPacked.ToArray());
        ExpectRounded(version, x, w, bias, null, m, n, k, Activation.GeluTanh, fromPacked.ToArray(), $"{backend} {version} packed");
    }

    /// <summary>Split-K (partial sums, then the reduce kernel's epilogue) against the cpu on rounded inputs, with a last part shorter than the others.</summary>
    [Theory]
    [KernelBackendData(GemmVersion.TensorCoreTf32, TensorCoreTile.Small, 3)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, TensorCoreTile.Small, 2)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, TensorCoreTile.Large, 2)]
    [KernelBackendData(GemmVersion.TensorCoreTf32, TensorCoreTile.Small, 4, 152)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, TensorCoreTile.Large, 3, 152)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, TensorCoreTile.Small, 3, 152)]
    public void Split_k_matches_cpu_on_rounded_inputs(string backend, GemmVersion version, TensorCoreTile tile, int slicesPerSplit, int k = 150)
    {
        const int m = 19, n = 23;
        float[] x = TestData.Random(m * k, 41), w = TestData.Random(n * k, 42), bias = TestData.Random(n, 43), residual = TestData.Random(m * n, 44);
        int sliceK = (version == GemmVersion.TensorCoreTf32, KernelTransformerOps.UsesCpAsync(version, k, 0, 0)) switch
        {
            (true, true) => TensorCoreGemmCpAsync.SliceKTf32,
            (true, false) => TensorCoreGemm.SliceKTf32,
            (false, true) => TensorCoreGemmCpAsync.SliceK16,
            (false, false) => TensorCoreGemm.SliceK16,
        };
        int slices = (k + sliceK - 1) / sliceK;
        int splits = (slices + slicesPerSplit - 1) / slicesPerSplit;
        Assert.True(splits >= 2 && slices % slicesPerSplit != 0, "the case must split into parts with a shorter last one");
        KernelTransformerOps ops = Ops(backend, version, new TensorCorePlan(tile, splits, slicesPerSplit));

        float[] y = Run(ops, x, w, bias, residual, m, n, k, Activation.Gelu);

        ExpectRounded(version, x, w, bias, residual, m, n, k, Activation.Gelu, y, $"{backend} {version} split-K {splits}");
    }

    /// <summary>
    /// Without split-K the cp.async kernels run the same MMAs in the same k order as the
    /// register-staged ones, so they give the same bits: aligned shapes with m and n edges, a k that
    /// ends inside a stage's slice, every epilogue.
    /// </summary>
    [Theory]
    [KernelBackendData(GemmVersion.TensorCoreTf32, TensorCoreTile.Large, 36)]
    [KernelBackendData(GemmVersion.TensorCoreTf32, TensorCoreTile.Small, 44)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, TensorCoreTile.Large, 40)]
    [KernelBackendData(GemmVersion.TensorCoreBf16, TensorCoreTile.Small, 72)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, TensorCoreTile.Large, 24)]
    [KernelBackendData(GemmVersion.TensorCoreFp16, TensorCoreTile.Small, 40)]
    public void Cp_async_kernels_give_the_register_staged_bits(string backend, GemmVersion version, TensorCoreTile tile, int k)
    {
        const int m = 67, n = 70;
        Assert.True(KernelTransformerOps.UsesCpAsync(version, k, 0, 0));
        float[] x = TestData.Random(m * k, 51), w = TestData.Random(n * k, 52), bias = TestData.Random(n, 53), residual = TestData.Random(m * n, 54);
        GemmVersion staged = version switch
        {
            GemmVersion.TensorCoreTf32 => GemmVersion.TensorCoreTf32RegisterStaged,
            GemmVersion.TensorCoreBf16 => GemmVersion.TensorCoreBf16RegisterStaged,
            _ => GemmVersion.TensorCoreFp16RegisterStaged,
        };
        var plan = new TensorCorePlan(tile, 1, int.MaxValue);

        foreach ((Activation activation, bool hasBias, bool hasResidual) in new[] { (Activation.None, false, false), (Activation.Gelu, true, true), (Activation.GeluTanh, true, false) })
        {
            float[]? b = hasBias ? bias : null, r = hasResidual ? residual : null;
            float[] pipelined = Run(Ops(backend, version, plan), x, w, b, r, m, n, k, activation);
            float[] registerStaged = Run(Ops(backend, staged, plan), x, w, b, r, m, n, k, activation);

            Assert.Equal(registerStaged, pipelined);
            ExpectRounded(version, x, w, b, r, m, n, k, activation, pipelined, $"{backend} {version} {tile} k={k} {activation} cp.async");
        }
    }

    [Theory]
    [InlineData(GemmVersion.TensorCoreTf32, 48, 0, 0, true)]
    [InlineData(GemmVersion.TensorCoreTf32, 44, 4, 8, true)]
    [InlineData(GemmVersion.TensorCoreTf32, 46, 0, 0, false)]
    [InlineData(GemmVersion.TensorCoreTf32, 48, 2, 0, false)]
    [InlineData(GemmVersion.TensorCoreTf32, 48, 0, 6, false)]
    [InlineData(GemmVersion.TensorCoreBf16, 48, 4, 8, true)]
    [InlineData(GemmVersion.TensorCoreBf16, 44, 0, 0, false)]
    [InlineData(GemmVersion.TensorCoreBf16, 48, 0, 4, false)]
    [InlineData(GemmVersion.TensorCoreFp16, 40, 12, 16, true)]
    [InlineData(GemmVersion.TensorCoreFp16, 40, 2, 0, false)]
    [InlineData(GemmVersion.TensorCoreTf32RegisterStaged, 48, 0, 0, false)]
    [InlineData(GemmVersion.TensorCoreBf16RegisterStaged, 48, 0, 0, false)]
    [InlineData(GemmVersion.TensorCoreFp16RegisterStaged, 48, 0, 0, false)]
    public void Aligned_calls_take_the_cp_async_kernels_and_the_rest_the_register_staged_ones(GemmVersion version, int k, int xOffset, int wOffset, bool cpAsync)
    {
        Assert.Equal(cpAsync, KernelTransformerOps.UsesCpAsync(version, k, xOffset, wOffset));
        foreach (TensorCoreTile tile in new[] { TensorCoreTile.Large, TensorCoreTile.Small })
        {
            KernelDescriptor kernel = KernelTransformerOps.TensorCoreKernel(version, cpAsync, tile);
            Assert.Equal(cpAsync, kernel.Name.EndsWith("CpAsync", StringComparison.Ordinal));
            Assert.Contains(version.Precision().ToString(), kernel.Name, StringComparison.OrdinalIgnoreCase);
            Assert.Contains(tile.ToString(), kernel.Name);
        }
    }

    [Fact]
    public void Plan_picks_the_large_tile_when_it_fills_the_device_else_the_small_one_and_splits_k_when_even_that_leaves_it_idle()
    {
        // ViT-S at batch 8 (1576 tokens): 13 × 3 Large groups fill a 32-SM device.
        Assert.Equal(new TensorCorePlan(TensorCoreTile.Large, 1, 48), TensorCorePlan.For(1576, 384, 1536, 32, 32));

        // Batch 1 of ViT-S's MLP down-projection on 132 SMs: 24 Small groups, k split into 6 parts of 8 slices.
        Assert.Equal(new TensorCorePlan(TensorCoreTile.Small, 6, 8), TensorCorePlan.For(197, 384, 1536, 132, 32));

        // Its qkv projection (n 1152): 72 Small groups fill more than half the device, no split.
        Assert.Equal(new TensorCorePlan(TensorCoreTile.Small, 1, 12), TensorCorePlan.For(197, 1152, 384, 132, 32));

        // A short k is not split below 4 slices a part; k 0 runs one empty part.
        Assert.Equal(new TensorCorePlan(TensorCoreTile.Small, 1, 3), TensorCorePlan.For(10, 10, 96, 132, 32));
        Assert.Equal(new TensorCorePlan(TensorCoreTile.Small, 1, 1), TensorCorePlan.For(10, 10, 0, 132, 32));
    }

    [Fact]
    public void Each_precision_has_its_tensor_core_default_and_fp16_runs()
    {
        Assert.Equal(GemmVersion.TensorCoreTf32, GemmVersions.DefaultFor(Precision.Tf32));
        Assert.Equal(GemmVersion.TensorCoreBf16, GemmVersions.DefaultFor(Precision.Bf16));
        Assert.Equal(GemmVersion.TensorCoreFp16, GemmVersions.DefaultFor(Precision.Fp16));
        foreach (GemmVersion version in Versions[..3])
        {
            Assert.Equal(version, GemmVersions.DefaultFor(version.Precision()));
        }

        // The register-staged versions compute in their precision too; they are named, never the default.
        Assert.Equal(Versions[..3].Select(v => v.Precision()), Versions[3..].Select(v => v.Precision()));

        const int m = 5, n = 6, k = 7;
        float[] x = TestData.Random(m * k, 51), w = TestData.Random(n * k, 52);
        using var ops = new KernelTransformerOps(devices.Device(TestBackends.Emulator), null, Precision.Fp16);
        Assert.Equal(GemmVersion.TensorCoreFp16, ops.GemmFor(m, n, k));
        ExpectRounded(GemmVersion.TensorCoreFp16, x, w, null, null, m, n, k, Activation.None, Run(ops, x, w, null, null, m, n, k, Activation.None), "fp16 default");
    }

    private KernelTransformerOps Ops(string backend, GemmVersion version, TensorCorePlan? plan)
    {
        var ops = (KernelTransformerOps)devices.Ops(backend, version);
        ops.ForcedPlan = plan;
        return ops;
    }

    /// <summary>Y of one plain Gemm call on fresh device buffers of these host arrays.</summary>
    internal static float[] Run(TransformerOps ops, float[] x, float[] w, float[]? bias, float[]? residual, int m, int n, int k, Activation activation)
    {
        Device device = ops.Device;
        using DeviceBuffer<float> xs = device.Upload<float>(x), ws = device.Upload<float>(w);
        using DeviceBuffer<float> bs = device.Upload<float>(bias ?? [0f]), rs = device.Upload<float>(residual ?? [0f]);
        using DeviceBuffer<float> y = device.Allocate<float>(Math.Max(1, m * n));
        ops.Gemm(xs, ws, bias is null ? null : bs.View(), residual is null ? null : rs.View(), y, m, n, k, activation);
        return y.ToArray()[..(m * n)];
    }

    /// <summary>The input rounding of a version: TF32 to nearest, ties away (cvt.rna.tf32.f32); BF16 and FP16 to nearest even.</summary>
    private static float Round(GemmVersion version, float value) => version.Precision() switch
    {
        Precision.Tf32 => float.IsFinite(value) ? BitConverter.UInt32BitsToSingle((BitConverter.SingleToUInt32Bits(value) + 0x1000u) & 0xFFFFE000u) : value,
        Precision.Bf16 => (float)(BFloat16)value,
        _ => (float)(Half)value,
    };

    /// <summary>
    /// Against the cpu backend's GEMM of X and W rounded to the precision: the products are exact in
    /// fp32 in both, so only the sums' order differs; the bound is (k + 4)·2^-24 of Σ|x·w| (at least
    /// 1e-5 of it) plus the epilogue's ulps.
    /// </summary>
    private void ExpectRounded(GemmVersion version, float[] x, float[] w, float[]? bias, float[]? residual, int m, int n, int k, Activation activation, float[] y, string what)
    {
        float[] xr = x.Select(v => Round(version, v)).ToArray(), wr = w.Select(v => Round(version, v)).ToArray();
        float[] expected = Run(devices.Ops(TestBackends.Cpu), xr, wr, bias, residual, m, n, k, activation);
        ExpectWithinSumOrder(expected, xr, wr, bias, m, n, k, y, $"{what}, against cpu on rounded inputs");
    }

    /// <summary>
    /// <paramref name="y"/> against <paramref name="expected"/>, the cpu GEMM of the same inputs
    /// <paramref name="x"/> and <paramref name="w"/>: only the order of the fp32 sums may differ, so the
    /// bound is (k + 4)·2^-24 of Σ|x·w| (at least 1e-5 of it) plus the epilogue's ulps.
    /// </summary>
    internal static void ExpectWithinSumOrder(float[] expected, float[] x, float[] w, float[]? bias, int m, int n, int k, float[] y, string what)
    {
        double factor = Math.Max(1e-5, (k + 4) * Math.ScaleB(1, -24));
        for (int row = 0; row < m; row++)
        {
            for (int column = 0; column < n; column++)
            {
                double magnitudes = 0;
                for (int i = 0; i < k; i++)
                {
                    magnitudes += Math.Abs((double)x[row * k + i] * w[column * k + i]);
                }

                int at = row * n + column;
                double bound = 1.13 * factor * magnitudes + 4 * Math.ScaleB(Math.Abs(expected[at]) + Math.Abs(bias?[column] ?? 0) + 1, -23);
                Assert.True(Math.Abs(y[at] - expected[at]) <= bound, $"{what}: Y[{row}, {column}] = {y[at]:R}, expected {expected[at]:R}, bound {bound:G3}");
            }
        }
    }

    /// <summary>Against fp32 (the cpu GEMM of the inputs as given): NMSE of rounding the inputs to u is about 2u²; bounds 10× that.</summary>
    private void ExpectFp32(GemmVersion version, float[] x, float[] w, float[]? bias, float[]? residual, int m, int n, int k, Activation activation, float[] y, string what)
    {
        float[] expected = Run(devices.Ops(TestBackends.Cpu), x, w, bias, residual, m, n, k, activation);
        double u = version.Precision() switch
        {
            Precision.Tf32 => Math.ScaleB(1, -11),
            Precision.Bf16 => Math.ScaleB(1, -8),
            _ => Math.ScaleB(1, -11),
        };
        Close.Nmse(expected, y, 20 * u * u, what + " against fp32");
    }
}
