using GpuViT.Kernels.Cuda;
using GpuViT.Kernels.Runtime;
using GpuViT.Tests.Runtime;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>Kernels with warp operations: lane and warp indices, shuffles, reductions, a transpose within a warp.</summary>
public static class WarpKernels
{
    /// <summary>Every thread writes its lane and its warp.</summary>
    [Kernel]
    public static void LanesAndWarps(KernelThread thread, ReadWriteView<int> lanes, ReadWriteView<int> warps)
    {
        int i = (thread.Group.X * thread.GroupSize.Z + thread.Local.Z) * thread.GroupSize.Y * thread.GroupSize.X
            + thread.Local.Y * thread.GroupSize.X + thread.Local.X;
        lanes[i] = thread.Lane;
        warps[i] = thread.Warp;
    }

    /// <summary>Every thread writes the nine shuffles of its values with its own lane argument (0..31).</summary>
    [Kernel]
    public static void Shuffles(KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<int> k, ReadOnlyView<uint> u, ReadOnlyView<int> lanes,
        ReadWriteView<float> f, ReadWriteView<int> ki, ReadWriteView<uint> ku)
    {
        int i = thread.Global.X;
        int lane = lanes[i];
        f[3 * i] = Warp.Shuffle(x[i], lane);
        f[3 * i + 1] = Warp.ShuffleXor(x[i], lane);
        f[3 * i + 2] = Warp.ShuffleDown(x[i], lane);
        ki[3 * i] = Warp.Shuffle(k[i], lane);
        ki[3 * i + 1] = Warp.ShuffleXor(k[i], lane);
        ki[3 * i + 2] = Warp.ShuffleDown(k[i], lane);
        ku[3 * i] = Warp.Shuffle(u[i], lane);
        ku[3 * i + 1] = Warp.ShuffleXor(u[i], lane);
        ku[3 * i + 2] = Warp.ShuffleDown(u[i], lane);
    }

    /// <summary>
    /// Each warp reduces one row: every lane accumulates its strided share, then Warp.Sum, Max and
    /// Min of the floats and Warp.Sum of the ints; every lane writes what it got.
    /// </summary>
    [Kernel]
    public static void WarpRowReductions(KernelThread thread, ReadOnlyView<float> input, ReadOnlyView<int> counts,
        ReadWriteView<float> output, ReadWriteView<int> countSums, int rows, int columns)
    {
        int row = thread.Group.X * (thread.GroupSize.X / Warp.Size) + thread.Warp;
        int lane = thread.Lane;
        float sum = 0f;
        float largest = float.NegativeInfinity;
        float smallest = float.PositiveInfinity;
        int count = 0;
        if (row < rows)
        {
            for (int k = lane; k < columns; k += Warp.Size)
            {
                float v = input[row * columns + k];
                sum += v;
                largest = KernelMath.Max(largest, v);
                smallest = KernelMath.Min(smallest, v);
                count += counts[row * columns + k];
            }
        }

        // Every thread of the group reaches each warp operation, rows past the end included.
        float rowSum = Warp.Sum(sum);
        float rowMax = Warp.Max(largest);
        float rowMin = Warp.Min(smallest);
        int rowCount = Warp.Sum(count);
        if (row < rows)
        {
            int at = row * Warp.Size + lane;
            output[3 * at] = rowSum;
            output[3 * at + 1] = rowMax;
            output[3 * at + 2] = rowMin;
            countSums[at] = rowCount;
        }
    }

    /// <summary>Each warp transposes one 32×32 tile by shuffles: lane l holds row l and ends with column l.</summary>
    [Kernel]
    public static void WarpTranspose(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> output)
    {
        int tile = thread.Group.X * (thread.GroupSize.X / Warp.Size) + thread.Warp;
        int lane = thread.Lane;
        int at = tile * Warp.Size * Warp.Size + lane * Warp.Size;
        Span<float> row = stackalloc float[Warp.Size];
        Span<float> column = stackalloc float[Warp.Size];
        for (int j = 0; j < Warp.Size; j++)
        {
            row[j] = input[at + j];
        }

        // At each step lane l reads lane s = l + step, which sends its element l.
        for (int step = 0; step < Warp.Size; step++)
        {
            int source = (lane + step) & (Warp.Size - 1);
            column[source] = Warp.Shuffle(row[(lane - step) & (Warp.Size - 1)], source);
        }

        for (int j = 0; j < Warp.Size; j++)
        {
            output[at + j] = column[j];
        }
    }

    /// <summary>Warp.Max and Warp.Min of each thread's value, for NaN and signed zeros.</summary>
    [Kernel]
    public static void WarpExtremes(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> f)
    {
        int i = thread.Global.X;
        f[2 * i] = Warp.Max(x[i]);
        f[2 * i + 1] = Warp.Min(x[i]);
    }

    /// <summary>A warp sum in a device function: the OpenCL scratch travels as its hidden last parameter.</summary>
    [Kernel]
    public static void WarpSumThroughDeviceFunction(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> output)
    {
        int i = thread.Global.X;
        output[i] = TwiceTheWarpSum(input[i]);
    }

    [DeviceFunction]
    public static float TwiceTheWarpSum(float value) => 2f * Warp.Sum(value);
}

public sealed class WarpTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [KernelBackendData]
    public void Lanes_and_warps_count_the_linear_local_index_x_fastest(string backend)
    {
        Int3 groupSize = new(8, 2, 4);
        const int Groups = 3;
        int threads = Groups * 64;
        var lanes = new int[threads];
        var warps = new int[threads];

        devices.Launch(backend, T.LanesAndWarps, Int3.Size(Groups), groupSize, lanes, warps);

        int[] linear = Enumerable.Range(0, threads).Select(i => i % 64).ToArray();
        Assert.Equal(linear.Select(l => l % 32), lanes);
        Assert.Equal(linear.Select(l => l / 32), warps);
    }

    [Theory]
    [KernelBackendData]
    public void Shuffles_read_the_lanes_CUDA_reads(string backend)
    {
        const int Threads = 128;
        float[] x = TestData.Random(Threads, 31);
        int[] k = Enumerable.Range(0, Threads).Select(i => i * 7919 - 300000).ToArray();
        uint[] u = Enumerable.Range(0, Threads).Select(i => 0x80000000u + (uint)i * 2654435761u).ToArray();
        int[] lanes = Enumerable.Range(0, Threads).Select(i => (i * 13 + 5) % 32).ToArray();
        lanes[0] = 0;
        lanes[1] = 31;
        var f = new float[3 * Threads];
        var ki = new int[3 * Threads];
        var ku = new uint[3 * Threads];

        devices.Launch(backend, T.Shuffles, Int3.Size(2), Int3.Size(64), x, k, u, lanes, f, ki, ku);

        Assert.Equal(Shuffled(x, lanes), f);
        Assert.Equal(Shuffled(k, lanes), ki);
        Assert.Equal(Shuffled(u, lanes), ku);
    }

    [Theory]
    [KernelBackendData]
    public void Warp_reductions_give_every_lane_the_butterflys_bits(string backend)
    {
        foreach ((int rows, int columns) in new[] { (1, 1), (5, 32), (7, 100) })
        {
            float[] input = TestData.Random(rows * columns, 41 + rows);
            int[] counts = Enumerable.Range(0, rows * columns).Select(i => i * 37 % 1000 - 400).ToArray();
            var output = new float[rows * 32 * 3];
            var countSums = new int[rows * 32];

            devices.Launch(backend, T.WarpRowReductions, Int3.Size(TestDevices.Groups(rows, 2)), Int3.Size(64), input, counts, output, countSums, rows, columns);

            for (int row = 0; row < rows; row++)
            {
                float[] sums = new float[32], maxes = new float[32], mins = new float[32];
                int[] countLanes = new int[32];
                for (int lane = 0; lane < 32; lane++)
                {
                    sums[lane] = 0f;
                    maxes[lane] = float.NegativeInfinity;
                    mins[lane] = float.PositiveInfinity;
                    for (int c = lane; c < columns; c += 32)
                    {
                        float v = input[row * columns + c];
                        sums[lane] += v;
                        maxes[lane] = MathF.Max(maxes[lane], v);
                        mins[lane] = MathF.Min(mins[lane], v);
                        countLanes[lane] += counts[row * columns + c];
                    }
                }

                float sum = Butterfly(sums, (a, b) => a + b), max = Butterfly(maxes, MathF.Max), min = Butterfly(mins, MathF.Min);
                int count = countLanes.Sum();
                for (int lane = 0; lane < 32; lane++)
                {
                    int at = row * 32 + lane;
                    Assert.Equal([sum, max, min], output[(3 * at)..(3 * at + 3)]);
                    Assert.Equal(count, countSums[at]);
                }

                // The butterfly's order, not a sequential sum's: the bits differ for most rows.
                Assert.Equal(input.Skip(row * columns).Take(columns).Sum(), sum, 4);
            }
        }
    }

    [Theory]
    [KernelBackendData]
    public void Warp_transpose_by_shuffles_is_a_transpose(string backend)
    {
        const int Tiles = 4;
        float[] input = TestData.Random(Tiles * 32 * 32, 51);
        var output = new float[input.Length];

        devices.Launch(backend, T.WarpTranspose, Int3.Size(2), Int3.Size(64), input, output);

        var expected = new float[input.Length];
        for (int tile = 0; tile < Tiles; tile++)
        {
            for (int r = 0; r < 32; r++)
            {
                for (int c = 0; c < 32; c++)
                {
                    expected[tile * 1024 + c * 32 + r] = input[tile * 1024 + r * 32 + c];
                }
            }
        }

        Assert.Equal(expected, output);
    }

    [Theory]
    [KernelBackendData]
    public void A_warp_operation_in_a_device_function_runs(string backend)
    {
        float[] input = TestData.Random(96, 61);
        var output = new float[96];

        devices.Launch(backend, T.WarpSumThroughDeviceFunction, Int3.Size(1), Int3.Size(96), input, output);

        for (int warp = 0; warp < 3; warp++)
        {
            float expected = 2f * Butterfly(input[(32 * warp)..(32 * warp + 32)], (a, b) => a + b);
            Assert.All(output[(32 * warp)..(32 * warp + 32)], value => Assert.Equal(expected, value));
        }
    }

    [Theory]
    [KernelBackendData]
    public void Max_and_min_agree_to_the_bit_on_NaN_and_signed_zeros(string backend)
    {
        // Warp 0: zeros of both signs and NaNs; warp 1: all NaN; warp 2: -0 and +0 only; warp 3: mixed values.
        float[] x = new float[128];
        for (int lane = 0; lane < 32; lane++)
        {
            x[lane] = lane % 3 == 0 ? float.NaN : lane % 3 == 1 ? 0f : -0f;
            x[32 + lane] = float.NaN;
            x[64 + lane] = lane == 7 ? 0f : -0f;
            x[96 + lane] = lane == 9 ? float.NaN : lane - 12.5f;
        }

        var f = new float[256];

        devices.Launch(backend, T.WarpExtremes, Int3.Size(2), Int3.Size(64), x, f);

        for (int warp = 0; warp < 4; warp++)
        {
            float[] lanes = x[(32 * warp)..(32 * warp + 32)];
            uint max = BitConverter.SingleToUInt32Bits(Butterfly(lanes, WarpReduction.Max));
            uint min = BitConverter.SingleToUInt32Bits(Butterfly(lanes, WarpReduction.Min));
            for (int lane = 0; lane < 32; lane++)
            {
                int i = 32 * warp + lane;
                Assert.Equal(max, BitConverter.SingleToUInt32Bits(f[2 * i]));
                Assert.Equal(min, BitConverter.SingleToUInt32Bits(f[2 * i + 1]));
            }
        }

        Assert.Equal([0u, 0x80000000u], new[] { f[0], f[1] }.Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal([0u, 0x80000000u], new[] { f[128], f[129] }.Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal([18.5f, -12.5f], f[192..194]);
    }

    [Fact]
    public void A_device_refuses_a_group_size_that_is_not_whole_warps()
    {
        Device device = devices.Device(TestBackends.OpenCL);
        using DeviceBuffer<float> buffer = device.Allocate<float>(48);

        var error = Assert.Throws<KernelLaunchException>(() => device.Launch(T.WarpSumThroughDeviceFunction, Int3.Size(1), Int3.Size(48), buffer, buffer));

        Assert.EndsWith("failed: the kernel uses warp operations, which need a multiple of 32 threads per group; (48,1,1) has 48", error.Message);
    }

    /// <summary>On OpenCL the warp operations' scratch is local memory too: it counts against the device's limit.</summary>
    [Fact]
    public void An_OpenCL_launch_counts_the_warp_scratch_in_the_local_memory_limit()
    {
        KernelDescriptor kernel = T.WarpSumThroughDeviceFunction;
        int scratch = kernel.OpenCLScratchWordsPerThread * sizeof(uint) * 64;
        Assert.True(scratch > 0);
        DeviceInfo info = devices.Device(TestBackends.OpenCL).Info with { SharedMemoryBytesPerGroup = kernel.SharedMemoryBytes + scratch };
        LaunchChecks.Shape(info, kernel, Int3.Size(1), Int3.Size(64));

        var error = Assert.Throws<KernelLaunchException>(() => LaunchChecks.Shape(info with { SharedMemoryBytesPerGroup = scratch - 1 }, kernel, Int3.Size(1), Int3.Size(64)));

        Assert.EndsWith(
            $"failed: the kernel uses 0 bytes of group-shared memory and {scratch} bytes of local scratch for its warp operations at 64 threads; " +
            $"{info.Id} has {scratch - 1} per group", error.Message);

        // CUDA and the emulator have no such scratch: the same limit passes there.
        LaunchChecks.Shape(info with { Kind = DeviceKind.Emulator, SharedMemoryBytesPerGroup = 0 }, kernel, Int3.Size(1), Int3.Size(64));
    }

    [Fact]
    public void The_emulator_refuses_a_group_size_that_is_not_whole_warps()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            KernelEmulator.Launch(T.WarpSumThroughDeviceFunction, Int3.Size(1), Int3.Size(16, 3), new float[48], new float[48]));

        Assert.StartsWith("kernel 'WarpSumThroughDeviceFunction': the kernel uses warp operations, which need a multiple of 32 threads per group; (16,3,1) has 48", error.Message);
    }

    [Theory]
    [InlineData("sm_80")]
    [InlineData("sm_90")]
    public void Nvrtc_compiles_the_reductions_to_butterfly_shuffles(string architecture)
    {
        RuntimeRequirement.Nvrtc();

        string ptx = Nvrtc.CompileToPtx(T.WarpRowReductions, architecture);

        Assert.Contains("shfl.sync.bfly.b32", ptx);
        Assert.DoesNotContain("bar.sync", ptx);
    }

    [Fact]
    public void Sources_exchange_through_the_OpenCL_scratch_and_CUDA_shuffles()
    {
        KernelDescriptor kernel = T.WarpRowReductions;

        Assert.True(kernel.UsesWarp);
        Assert.True(kernel.UsesBarrier);
        Assert.Equal(1, kernel.OpenCLScratchWordsPerThread);
        Assert.Equal(0, kernel.MinimumComputeCapability);
        Assert.Contains(", __local uint* gv_scratch)\n{", kernel.OpenCLSource);
        Assert.Contains("    float rowSum = gv_warp_sum_float(gv_scratch, sum);\n", kernel.OpenCLSource);
        Assert.Contains("    int rowCount = gv_warp_sum_int(gv_scratch, count);\n", kernel.OpenCLSource);
        Assert.Contains("    int lane = ((int)((get_local_id(2) * get_local_size(1) + get_local_id(1)) * get_local_size(0) + get_local_id(0)) & 31);\n", kernel.OpenCLSource);
        Assert.Single(Occurrences(kernel.OpenCLSource, "uint gv_warp_read(__local uint* scratch, uint value, uint source_lane)\n{"));
        Assert.Contains("    float rowMax = gv_warp_max_float(largest);\n", kernel.CudaSource);
        Assert.Contains("        value = value + __shfl_xor_sync(0xffffffffu, value, mask);\n", kernel.CudaSource);
        Assert.Contains("    int lane = ((int)((threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x) & 31);\n", kernel.CudaSource);
        Assert.DoesNotContain("gv_scratch", kernel.CudaSource);

        Assert.Contains("float TwiceTheWarpSum(float value, __local uint* gv_scratch)", T.WarpSumThroughDeviceFunction.OpenCLSource);
        Assert.Contains("output[i] = TwiceTheWarpSum(input[i], gv_scratch);", T.WarpSumThroughDeviceFunction.OpenCLSource);
        Assert.Contains("ku[3 * i + 2] = __shfl_down_sync(0xffffffffu, u[i], lane);", T.Shuffles.CudaSource);
        Assert.Contains("ku[3 * i + 2] = gv_warp_shuffle_down_uint(gv_scratch, u[i], lane);", T.Shuffles.OpenCLSource);

        // Kernels without warp operations are unchanged.
        Assert.False(T.RowTimesMatrix.UsesWarp);
        Assert.DoesNotContain("gv_warp", T.RowTimesMatrix.OpenCLSource);
        Assert.Equal(0, T.RowTimesMatrix.OpenCLScratchWordsPerThread);
    }

    private static IEnumerable<int> Occurrences(string text, string part)
    {
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + 1, StringComparison.Ordinal))
        {
            yield return at;
        }
    }

    /// <summary>CUDA's semantics, width 32: Shuffle reads lane a, ShuffleXor lane ^ a, ShuffleDown lane + a or keeps its own.</summary>
    private static TValue[] Shuffled<TValue>(TValue[] values, int[] lanes)
    {
        var result = new TValue[3 * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            int first = i / 32 * 32, lane = i % 32, a = lanes[i];
            result[3 * i] = values[first + a];
            result[3 * i + 1] = values[first + (lane ^ a)];
            result[3 * i + 2] = lane + a < 32 ? values[first + lane + a] : values[i];
        }

        return result;
    }

    /// <summary>The xor butterfly over 32 lanes, as Warp.Sum/Max/Min compute it; every lane ends equal, lane 0 is returned.</summary>
    private static float Butterfly(float[] lanes, Func<float, float, float> combine)
    {
        float[] values = [.. lanes];
        for (int mask = 16; mask > 0; mask /= 2)
        {
            values = Enumerable.Range(0, 32).Select(lane => combine(values[lane], values[lane ^ mask])).ToArray();
        }

        Assert.All(values, v => Assert.Equal(values[0], v));
        return values[0];
    }
}
