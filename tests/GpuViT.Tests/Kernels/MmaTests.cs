using GpuViT.Tests.Runtime;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// Kernels that multiply one 16 × 8 tile per warp with Mma: warp w of the launch (threads counted
/// X fastest, as CUDA forms warps) takes A, B and C of tile w from row-major arrays (A 16 × K,
/// B K × 8, C and D 16 × 8), loading its fragments with the PTX ISA's row/column formulas.
/// </summary>
public static class MmaKernels
{
    public const int Rows = 16, Columns = 8, Tf32Depth = 8, SixteenBitDepth = 16;

    /// <summary>TF32; A sits at index 4 of an 8-float register array, to show the index is honoured.</summary>
    [Kernel]
    public static void MmaTf32Tiles(KernelThread thread, ReadOnlyView<float> a, ReadOnlyView<float> b, ReadOnlyView<float> c, ReadWriteView<float> d)
    {
        int threads = thread.GroupSize.X * thread.GroupSize.Y;
        int local = thread.Local.X + thread.Local.Y * thread.GroupSize.X;
        int tile = (thread.Group.X * threads + local) / 32;
        int groupId = (local % 32) / 4;
        int inGroup = local % 4;
        int aAt = tile * Rows * Tf32Depth;
        int bAt = tile * Tf32Depth * Columns;
        Span<float> fa = stackalloc float[8];
        Span<float> fb = stackalloc float[2];
        Span<float> acc = stackalloc float[4];
        fa[4] = a[aAt + groupId * Tf32Depth + inGroup];
        fa[5] = a[aAt + (groupId + 8) * Tf32Depth + inGroup];
        fa[6] = a[aAt + groupId * Tf32Depth + inGroup + 4];
        fa[7] = a[aAt + (groupId + 8) * Tf32Depth + inGroup + 4];
        fb[0] = b[bAt + inGroup * Columns + groupId];
        fb[1] = b[bAt + (inGroup + 4) * Columns + groupId];
        for (int i = 0; i < 4; i++)
        {
            acc[i] = c[tile * Rows * Columns + (groupId + 8 * (i / 2)) * Columns + 2 * inGroup + i % 2];
        }

        Mma.M16N8K8Tf32(acc, 0, fa, 4, fb, 0);
        for (int i = 0; i < 4; i++)
        {
            d[tile * Rows * Columns + (groupId + 8 * (i / 2)) * Columns + 2 * inGroup + i % 2] = acc[i];
        }
    }

    /// <summary>BF16 (half false) or FP16 (half true), packed in the kernel and multiplied in a device function.</summary>
    [Kernel]
    public static void MmaSixteenBitTiles(KernelThread thread, ReadOnlyView<float> a, ReadOnlyView<float> b, ReadOnlyView<float> c, ReadWriteView<float> d, bool half)
    {
        int threads = thread.GroupSize.X * thread.GroupSize.Y;
        int local = thread.Local.X + thread.Local.Y * thread.GroupSize.X;
        int tile = (thread.Group.X * threads + local) / 32;
        int groupId = (local % 32) / 4;
        int inGroup = local % 4;
        int aAt = tile * Rows * SixteenBitDepth;
        int bAt = tile * SixteenBitDepth * Columns;
        Span<uint> fa = stackalloc uint[4];
        Span<uint> fb = stackalloc uint[2];
        Span<float> acc = stackalloc float[8];
        for (int r = 0; r < 4; r++)
        {
            // Word r: row groupID + 8·(r % 2), columns 2·threadID_in_group + 8·(r / 2) and the next.
            int at = aAt + (groupId + 8 * (r % 2)) * SixteenBitDepth + 2 * inGroup + 8 * (r / 2);
            fa[r] = Pack(a[at], a[at + 1], half);
        }

        for (int r = 0; r < 2; r++)
        {
            int row = 2 * inGroup + 8 * r;
            fb[r] = Pack(b[bAt + row * Columns + groupId], b[bAt + (row + 1) * Columns + groupId], half);
        }

        for (int i = 0; i < 4; i++)
        {
            acc[4 + i] = c[tile * Rows * Columns + (groupId + 8 * (i / 2)) * Columns + 2 * inGroup + i % 2];
        }

        Multiply(acc, fa, fb, half);
        for (int i = 0; i < 4; i++)
        {
            d[tile * Rows * Columns + (groupId + 8 * (i / 2)) * Columns + 2 * inGroup + i % 2] = acc[4 + i];
        }
    }

    /// <summary>Pairs of x packed by both pack helpers: bf16[i] and half[i] from x[2i] (low) and x[2i + 1] (high).</summary>
    [Kernel]
    public static void PackPairs(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<uint> bf16, ReadWriteView<uint> half, int pairs)
    {
        int i = thread.Global.X;
        if (i < pairs)
        {
            bf16[i] = Mma.PackBf16(x[2 * i], x[2 * i + 1]);
            half[i] = Mma.PackHalf(x[2 * i], x[2 * i + 1]);
        }
    }

    [DeviceFunction]
    public static uint Pack(float low, float high, bool half) => half ? Mma.PackHalf(low, high) : Mma.PackBf16(low, high);

    [DeviceFunction]
    public static void Multiply(Span<float> acc, Span<uint> fa, Span<uint> fb, bool half)
    {
        if (half)
        {
            Mma.M16N8K16F16(acc, 4, fa, 0, fb, 0);
        }
        else
        {
            Mma.M16N8K16Bf16(acc, 4, fa, 0, fb, 0);
        }
    }

    /// <summary>Misuse for the emulator: lanes 16 and up return before the MMA (skip true), or call the BF16 MMA instead.</summary>
    [Kernel]
    public static void MmaDivergent(KernelThread thread, ReadWriteView<float> d, bool skip)
    {
        Span<float> acc = stackalloc float[4];
        Span<float> f = stackalloc float[4];
        Span<uint> w = stackalloc uint[4];
        if (thread.Local.X >= 16)
        {
            if (skip)
            {
                return;
            }

            Mma.M16N8K16Bf16(acc, 0, w, 0, w, 2);
        }
        else
        {
            Mma.M16N8K8Tf32(acc, 0, f, 0, f, 2);
        }

        d[thread.Global.X] = acc[0];
    }
}

public sealed class MmaTests(TestDevices devices) : IClassFixture<TestDevices>
{
    /// <summary>
    /// The C pack helpers (written out in both dialects) round as .NET's Half and GpuViT's BFloat16
    /// do, on ties, the largest finite values, overflow, subnormals, signed zeros, infinities and
    /// NaNs, to the bit: a NaN becomes the quiet NaN of its sign.
    /// </summary>
    [Theory]
    [KernelBackendData]
    public void Pack_helpers_round_to_nearest_even_to_the_bit(string backend)
    {
        float[] edges =
        [
            65504f, 65519.99f, 65520f, -65520f, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 0f, -0f,
            float.MaxValue, float.Epsilon, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
            BitConverter.UInt32BitsToSingle(0x7F800001u), BitConverter.UInt32BitsToSingle(0xFFC01234u), 1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8),
        ];
        float[] x = edges.Concat(MmaArithmeticTests.Samples().Take(30000)).ToArray();
        if (x.Length % 2 == 1)
        {
            x = [.. x, 1f];
        }

        int pairs = x.Length / 2;
        uint[] bf16 = new uint[pairs], half = new uint[pairs];
        devices.Launch(backend, T.PackPairs, Int3.Size(TestDevices.Groups(pairs, 64)), Int3.Size(64), x, bf16, half, pairs);

        static uint Half16(float v) => float.IsNaN(v) ? (BitConverter.SingleToUInt32Bits(v) >> 16 & 0x8000u) | 0x7E00u : BitConverter.HalfToUInt16Bits((Half)v);
        for (int i = 0; i < pairs; i++)
        {
            float low = x[2 * i], high = x[2 * i + 1];
            Assert.True((((BFloat16)low).Bits | ((uint)((BFloat16)high).Bits << 16)) == bf16[i], $"bf16 of ({low:R}, {high:R}): 0x{bf16[i]:X8}");
            Assert.True((Half16(low) | (Half16(high) << 16)) == half[i], $"half of ({low:R}, {high:R}): 0x{half[i]:X8}");
        }
    }

    [Theory]
    [KernelBackendData(32, 1)]
    [KernelBackendData(64, 1)]
    [KernelBackendData(16, 4)]
    public void Tf32_tiles_are_the_exact_product_on_the_emulator_and_OpenCL_and_within_bounds_on_CUDA(string backend, int width, int height)
    {
        int tiles = 3 * width * height / 32;
        (float[] a, float[] b, float[] c) = Inputs(tiles, MmaKernels.Tf32Depth, seed: width + height);
        var d = new float[tiles * 128];
        devices.Launch(backend, T.MmaTf32Tiles, Int3.Size(3), Int3.Size(width, height), a, b, c, d);

        Check(backend, d, a, b, c, tiles, MmaKernels.Tf32Depth, Tf32);
    }

    [Theory]
    [KernelBackendData(false, 32, 1)]
    [KernelBackendData(true, 32, 1)]
    [KernelBackendData(false, 16, 4)]
    [KernelBackendData(true, 64, 1)]
    public void Sixteen_bit_tiles_are_the_exact_product_on_the_emulator_and_OpenCL_and_within_bounds_on_CUDA(string backend, bool half, int width, int height)
    {
        int tiles = 2 * width * height / 32;
        (float[] a, float[] b, float[] c) = Inputs(tiles, MmaKernels.SixteenBitDepth, seed: 7 + width);
        var d = new float[tiles * 128];
        devices.Launch(backend, T.MmaSixteenBitTiles, Int3.Size(2), Int3.Size(width, height), a, b, c, d, half);

        Check(backend, d, a, b, c, tiles, MmaKernels.SixteenBitDepth,
            half ? v => MmaFragments.HalfValue(MmaFragments.HalfBits(v)) : v => MmaFragments.Bf16Value(MmaFragments.Bf16Bits(v)));
    }

    [Theory]
    [KernelBackendData]
    public void A_launch_of_groups_that_are_not_whole_warps_is_refused_naming_the_kernel_and_the_size(string backend)
    {
        Assert.True(T.MmaTf32Tiles.UsesWarp);
        var exception = Assert.ThrowsAny<Exception>(() =>
            devices.Launch(backend, T.MmaTf32Tiles, Int3.Size(1), Int3.Size(48), new float[512], new float[512], new float[512], new float[512]));

        Assert.Contains("MmaTf32Tiles", exception.Message);
        Assert.Contains("multiple of 32 threads per group; (48,1,1) has 48", exception.Message);
    }

    [Theory]
    [InlineData(true, "16 of its 32 threads reached Mma.M16N8K8Tf32 while 16 had returned from the kernel")]
    [InlineData(false, "reached Mma.M16N8K16Bf16 where thread")]
    public void The_emulator_reports_a_warp_whose_threads_did_not_all_reach_the_same_operation(bool skip, string problem)
    {
        var exception = Assert.Throws<KernelEmulationException>(() => KernelEmulator.Launch(T.MmaDivergent, Int3.Size(1), Int3.Size(32), new float[32], skip));

        Assert.Contains("kernel 'MmaDivergent'", exception.Message);
        Assert.Contains(problem, exception.Message);
        if (!skip)
        {
            Assert.Contains("reached Mma.M16N8K8Tf32", exception.Message);
        }
    }

    [Fact]
    public void Mma_kernels_are_collective_need_scratch_in_OpenCL_and_sm_80_in_CUDA()
    {
        foreach (KernelDescriptor kernel in new[] { T.MmaTf32Tiles, T.MmaSixteenBitTiles })
        {
            Assert.True(kernel.UsesBarrier);
            Assert.Equal(6, kernel.OpenCLScratchWordsPerThread);
            Assert.Equal(80, kernel.MinimumComputeCapability);
        }

        Assert.Contains("gv_mma_m16n8k8_tf32(acc, 0, fa, 4, fb, 0, gv_scratch);", T.MmaTf32Tiles.OpenCLSource);
        Assert.Contains("gv_mma_m16n8k8_tf32(acc, 0, fa, 4, fb, 0);", T.MmaTf32Tiles.CudaSource);
        Assert.Contains("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", T.MmaTf32Tiles.CudaSource);
        Assert.Contains("cvt.rna.tf32.f32", T.MmaTf32Tiles.CudaSource);
        Assert.Contains("void Multiply(float* acc, uint* fa, uint* fb, bool half_, __local uint* gv_scratch)", T.MmaSixteenBitTiles.OpenCLSource);
        Assert.Contains("gv_mma_m16n8k16_bf16(acc, 4, fa, 0, fb, 0, gv_scratch);", T.MmaSixteenBitTiles.OpenCLSource);
        Assert.Contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", T.MmaSixteenBitTiles.CudaSource);
        Assert.Contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", T.MmaSixteenBitTiles.CudaSource);
        Assert.Contains("gv_mma_pack_half(low, high)", T.MmaSixteenBitTiles.CudaSource);

        // OpenCL computes the tile in software.
        Assert.DoesNotContain("mma.sync", T.MmaTf32Tiles.OpenCLSource);
    }

    private static (float[] A, float[] B, float[] C) Inputs(int tiles, int depth, int seed) =>
        (TestData.Random(tiles * 16 * depth, seed), TestData.Random(tiles * depth * 8, seed + 1), TestData.Random(tiles * 128, seed + 2));

    private static float Tf32(float value) => BitConverter.UInt32BitsToSingle(MmaFragments.Tf32Bits(BitConverter.SingleToUInt32Bits(value)));

    /// <summary>
    /// The emulator and OpenCL give the defined order's result exactly. CUDA's tensor cores add in
    /// their own order from the same rounded inputs: within (K + 1)·2^-23 of Σ|terms|, far tighter
    /// than any layout mistake (which moves results by the size of the terms themselves).
    /// </summary>
    private static void Check(string backend, float[] d, float[] a, float[] b, float[] c, int tiles, int depth, Func<float, float> input)
    {
        for (int tile = 0; tile < tiles; tile++)
        {
            for (int row = 0; row < 16; row++)
            {
                for (int column = 0; column < 8; column++)
                {
                    int at = tile * 128 + row * 8 + column;
                    float expected = c[at];
                    double magnitude = Math.Abs(c[at]);
                    for (int k = 0; k < depth; k++)
                    {
                        float x = input(a[tile * 16 * depth + row * depth + k]), y = input(b[tile * depth * 8 + k * 8 + column]);
                        expected = MathF.FusedMultiplyAdd(x, y, expected);
                        magnitude += Math.Abs((double)x * y);
                    }

                    if (backend == TestBackends.Cuda)
                    {
                        Assert.True(Math.Abs(d[at] - expected) <= (depth + 1) * Math.ScaleB(magnitude, -23),
                            $"tile {tile} [{row}, {column}]: {d[at]} against {expected}");
                    }
                    else
                    {
                        Assert.True(expected == d[at], $"{backend} tile {tile} [{row}, {column}]: {d[at]} against {expected}");
                    }
                }
            }
        }
    }
}
