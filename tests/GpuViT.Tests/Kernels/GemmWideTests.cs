using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The 8 × 8 micro-tile GEMM (GemmWide: GemmRegisterBlocked8x8 with Float4 loads, and its
/// scalar-load twin for unaligned shapes and views) on OpenCL and the emulator, against a plain
/// loop in double precision and against the cpu GEMM: odd shapes, k multiples of 4 and not,
/// every epilogue combination, views at aligned and unaligned offsets, and the rule that picks
/// it. GemmKernelTests and OpSuiteTests run it too, through their loops over every fp32 version.
/// </summary>
public sealed class GemmWideTests(TestDevices devices) : IClassFixture<TestDevices>
{
    private KernelTransformerOps Ops(string backend) => (KernelTransformerOps)devices.Ops(backend, GemmVersion.RegisterBlocked8x8);

    public static TheoryData<string, int, int, int, Activation, bool, bool> Cases()
    {
        var data = new TheoryData<string, int, int, int, Activation, bool, bool>();
        void OnDevices(int m, int n, int k, Activation a, bool bias, bool residual)
        {
            foreach (string backend in TestBackends.KernelDevices)
            {
                data.Add(backend, m, n, k, a, bias, residual);
            }
        }

        // Odd shapes (the scalar-load kernel), the same and neighbouring shapes with k and n
        // multiples of 4 (the Float4 kernel), one past and one short of the 128 block and the
        // 8-deep slice, and a ViT-S qkv of 4 images (788 tokens, 384 → 1152: 7 × 9 blocks).
        (int M, int N, int K)[] shapes =
        [
            (1, 7, 3), (31, 17, 45), (130, 67, 129), (257, 129, 65),
            (1, 8, 4), (31, 20, 44), (130, 68, 128), (257, 132, 64), (128, 128, 8), (127, 124, 12), (129, 4, 4), (3, 260, 36),
            (788, 1152, 384),
        ];
        foreach ((int m, int n, int k) in shapes)
        {
            OnDevices(m, n, k, Activation.None, false, false);
        }

        // Every epilogue combination, on an aligned and an unaligned shape across block edges.
        foreach (Activation activation in Enum.GetValues<Activation>())
        {
            foreach (bool bias in new[] { false, true })
            {
                foreach (bool residual in new[] { false, true })
                {
                    OnDevices(130, 68, 36, activation, bias, residual);
                    OnDevices(131, 67, 37, activation, bias, residual);
                }
            }
        }

        // The emulator runs each of the 256 threads of a group on a thread of its own: small shapes.
        data.Add(TestBackends.Emulator, 1, 7, 3, Activation.None, false, false);
        data.Add(TestBackends.Emulator, 31, 17, 45, Activation.GeluTanh, true, false);
        data.Add(TestBackends.Emulator, 31, 20, 44, Activation.Gelu, true, true);
        data.Add(TestBackends.Emulator, 130, 12, 20, Activation.None, false, true);
        data.Add(TestBackends.Emulator, 5, 132, 9, Activation.Gelu, false, false);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gemm_matches_a_loop_and_cpu(string backend, int m, int n, int k, Activation activation, bool hasBias, bool hasResidual)
    {
        float[] x = TestData.Random(m * k, 1), w = TestData.Random(n * k, 2), bias = TestData.Random(n, 3), residual = TestData.Random(m * n, 4);
        float[] Run(TransformerOps ops)
        {
            using DeviceBuffer<float> xs = ops.Device.Upload<float>(x), ws = ops.Device.Upload<float>(w), bs = ops.Device.Upload<float>(bias), rs = ops.Device.Upload<float>(residual);
            using DeviceBuffer<float> y = ops.Device.Allocate<float>(m * n);
            ops.Gemm(xs, ws, hasBias ? bs.View() : null, hasResidual ? rs.View() : null, y, m, n, k, activation);
            return y.ToArray();
        }

        string what = $"{backend} 8x8 {m}x{n}x{k} {activation} bias {hasBias} residual {hasResidual}";
        float[] actual = Run(Ops(backend));
        GemmKernelTests.Expect(x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation, actual, what);
        Close.Nmse(Run(devices.Ops(TestBackends.Cpu)), actual, 1e-10, what);
    }

    /// <summary>
    /// Every operand a view into one buffer, Y the residual itself (the in-place residual add):
    /// offsets that are multiples of 4 with k and n multiples of 4 (the Float4 kernel), and odd
    /// offsets (the scalar-load kernel; the emulator fails a misaligned Float4, so a wrong choice shows).
    /// </summary>
    [Theory]
    [KernelBackendData(33, 68, 20, 4)]
    [KernelBackendData(33, 68, 20, 3)]
    [KernelBackendData(21, 70, 23, 3)]
    [KernelDeviceData(140, 136, 72, 8)]
    [KernelDeviceData(140, 136, 72, 5)]
    public void Gemm_takes_views_at_offsets_and_writes_over_its_residual(string backend, int m, int n, int k, int offsetStep)
    {
        float[] x = TestData.Random(m * k, 5), w = TestData.Random(n * k, 6), bias = TestData.Random(n, 7), residual = TestData.Random(m * n, 8);
        int xAt = offsetStep;
        int wAt = xAt + m * k + offsetStep;
        int biasAt = wAt + n * k + offsetStep;
        int yAt = biasAt + n + offsetStep;
        int length = yAt + m * n + 4;
        float[] all = TestData.Random(length, 9);
        x.CopyTo(all, xAt);
        w.CopyTo(all, wAt);
        bias.CopyTo(all, biasAt);
        residual.CopyTo(all, yAt);

        KernelTransformerOps ops = Ops(backend);
        using DeviceBuffer<float> buffer = ops.Device.Upload<float>(all);
        DeviceView<float> xView = buffer.View(xAt, m * k), wView = buffer.View(wAt, n * k), y = buffer.View(yAt, m * n);
        Assert.Equal(offsetStep % 4 == 0 && k % 4 == 0 && n % 4 == 0, KernelTransformerOps.AlignedForQuads(xView, wView, y, n, k));
        ops.Gemm(xView, wView, buffer.View(biasAt, n), y, y, m, n, k, Activation.GeluTanh);

        float[] after = buffer.ToArray();
        GemmKernelTests.Expect(x, w, bias, residual, m, n, k, Activation.GeluTanh, after[yAt..(yAt + m * n)], $"{backend} offsets {offsetStep}");

        // Nothing outside Y was written.
        Assert.Equal(all[..yAt], after[..yAt]);
        Assert.Equal(all[(yAt + m * n)..], after[(yAt + m * n)..]);
    }

    /// <summary>The scalar-load kernel also on shapes the Float4 one takes, each launched directly.</summary>
    [Theory]
    [KernelBackendData(40, 24, 16)]
    [KernelDeviceData(260, 136, 72)]
    public void Both_kernels_compute_aligned_shapes(string backend, int m, int n, int k)
    {
        float[] x = TestData.Random(m * k, 11), w = TestData.Random(n * k, 12), bias = TestData.Random(n, 13);
        float[] Launch(KernelDescriptor kernel)
        {
            var y = new float[m * n];
            devices.Launch(
                backend, kernel, Int3.Size(TestDevices.Groups(n, GemmWide.BlockTile), TestDevices.Groups(m, GemmWide.BlockTile)), Int3.Size(GemmWide.Threads, GemmWide.Threads),
                x, w, bias, new float[1], y, m, n, k, true, (int)Activation.Gelu, false);
            return y;
        }

        GemmKernelTests.Expect(x, w, bias, null, m, n, k, Activation.Gelu, Launch(Catalog.GemmRegisterBlocked8x8), $"{backend} Float4 kernel");
        GemmKernelTests.Expect(x, w, bias, null, m, n, k, Activation.Gelu, Launch(Catalog.GemmRegisterBlocked8x8ScalarLoads), $"{backend} scalar-load kernel");
    }

    [Fact]
    public void Quads_need_k_n_and_every_row_start_to_be_multiples_of_4()
    {
        using Device device = TestBackends.Open(TestBackends.Emulator);
        using DeviceBuffer<float> buffer = device.Allocate<float>(1000);
        DeviceView<float> at0 = buffer.View(0, 100), at4 = buffer.View(4, 100), at2 = buffer.View(2, 100);

        Assert.True(KernelTransformerOps.AlignedForQuads(at0, at4, at0, 8, 12));
        Assert.False(KernelTransformerOps.AlignedForQuads(at0, at0, at0, 8, 10)); // k
        Assert.False(KernelTransformerOps.AlignedForQuads(at0, at0, at0, 6, 12)); // n
        Assert.False(KernelTransformerOps.AlignedForQuads(at2, at0, at0, 8, 12)); // X's offset
        Assert.False(KernelTransformerOps.AlignedForQuads(at0, at2, at0, 8, 12)); // W's offset
        Assert.False(KernelTransformerOps.AlignedForQuads(at0, at0, at2, 8, 12)); // Y's offset
    }

    /// <summary>
    /// The fp32 choice: the 8 × 8 kernel once its 128 × 128 blocks make one wave (a group per
    /// compute unit), else the 4 × 4 one. An H200 has 132 SMs.
    /// </summary>
    [Theory]
    [InlineData(197, 1152, 132, GemmVersion.RegisterBlocked)] // ViT-S qkv at batch 1: 2 × 9 = 18 blocks
    [InlineData(1576, 384, 132, GemmVersion.RegisterBlocked)] // batch 8 proj: 13 × 3 = 39
    [InlineData(1576, 1152, 132, GemmVersion.RegisterBlocked)] // batch 8 qkv: 13 × 9 = 117
    [InlineData(1576, 1536, 132, GemmVersion.RegisterBlocked8x8)] // batch 8 fc1: 13 × 12 = 156
    [InlineData(1408, 1536, 132, GemmVersion.RegisterBlocked8x8)] // 11 × 12 = 132: exactly one wave
    [InlineData(1280, 1536, 132, GemmVersion.RegisterBlocked)] // 10 × 12 = 120
    [InlineData(1, 1, 1, GemmVersion.RegisterBlocked8x8)]
    [InlineData(129, 129, 4, GemmVersion.RegisterBlocked8x8)]
    [InlineData(129, 128, 4, GemmVersion.RegisterBlocked)]
    public void Fp32_choice_fills_one_wave_with_the_8x8_kernel(int m, int n, int computeUnits, GemmVersion expected) =>
        Assert.Equal(expected, KernelTransformerOps.Fp32GemmForComputeUnits(m, n, computeUnits));

    /// <summary>
    /// The unnamed fp32 ops follow the one-wave rule with the device's compute units on a GPU, and
    /// keep the 4 × 4 kernel for every shape elsewhere (the emulator, PoCL).
    /// </summary>
    [Theory]
    [KernelBackendData]
    public void Unnamed_fp32_ops_choose_by_device(string backend)
    {
        Device device = devices.Device(backend);
        using var ops = new KernelTransformerOps(device);
        int units = device.Info.ComputeUnits;
        foreach ((int m, int n) in new[] { (128 * units, 128), (128 * units - 128, 128), (197, 1152), (4096, 4096) })
        {
            GemmVersion expected = device.Info.IsGpu ? KernelTransformerOps.Fp32GemmForComputeUnits(m, n, units) : GemmVersion.RegisterBlocked;
            Assert.Equal(expected, ops.GemmFor(m, n, 64));
        }

        Assert.Equal(Precision.Fp32, GemmVersion.RegisterBlocked8x8.Precision());
    }
}
