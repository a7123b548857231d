using GpuViT.Kernels.Cuda;
using GpuViT.Tests.Runtime;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>Kernels with asynchronous group copies into shared memory.</summary>
public static class GroupCopyKernels
{
    public const int TileSize = 64;

    /// <summary>
    /// Each group sums its run of tiles column by column, double-buffered: tile t + 1 is copied
    /// into one half of the buffer while the threads read tile t from the other half.
    /// </summary>
    [Kernel]
    public static void SumTilesDoubleBuffered(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> sums, int tiles)
    {
        var buffer = Group.Shared<float>(2 * TileSize);
        int local = thread.Local.X;
        int first = thread.Group.X * tiles * TileSize;
        float sum = 0f;
        Group.CopyAsync(buffer, 0, input, first, TileSize);
        for (int t = 0; t < tiles; t++)
        {
            // Tile t has landed, and every thread is done with tile t - 1, whose half the next copy fills.
            Group.WaitCopies();
            if (t + 1 < tiles)
            {
                Group.CopyAsync(buffer, (t + 1) % 2 * TileSize, input, first + (t + 1) * TileSize, TileSize);
            }

            sum += buffer[t % 2 * TileSize + local];
        }

        sums[thread.Global.X] = sum;
    }

    /// <summary>Copies count uint and int elements from any offsets into shared memory and adds them up.</summary>
    [Kernel]
    public static void CopyUintsAndInts(KernelThread thread, ReadOnlyView<uint> u, ReadWriteView<int> k, ReadWriteView<uint> output, int offset, int count)
    {
        var uints = Group.Shared<uint>(TileSize);
        var ints = Group.Shared<int>(TileSize);
        Group.CopyAsync(uints, 1, u, offset, count);
        Group.CopyAsync(ints, 0, k, offset + 1, count);
        Group.WaitCopies();
        int local = thread.Local.X;
        if (local < count)
        {
            output[thread.Group.X * TileSize + local] = uints[local + 1] + (uint)ints[local];
        }
    }
}

public sealed class GroupCopyTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [KernelBackendData]
    public void Double_buffered_tile_sums_equal_plain_loops(string backend)
    {
        foreach ((int groups, int tiles) in new[] { (1, 1), (3, 2), (4, 7) })
        {
            float[] input = TestData.Random(groups * tiles * GroupCopyKernels.TileSize, 71 + tiles);
            var sums = new float[groups * GroupCopyKernels.TileSize];

            devices.Launch(backend, T.SumTilesDoubleBuffered, Int3.Size(groups), Int3.Size(GroupCopyKernels.TileSize), input, sums, tiles);

            var expected = new float[sums.Length];
            for (int group = 0; group < groups; group++)
            {
                for (int column = 0; column < GroupCopyKernels.TileSize; column++)
                {
                    float sum = 0f;
                    for (int t = 0; t < tiles; t++)
                    {
                        sum += input[(group * tiles + t) * GroupCopyKernels.TileSize + column];
                    }

                    expected[group * GroupCopyKernels.TileSize + column] = sum;
                }
            }

            Assert.Equal(expected, sums);
        }
    }

    [Theory]
    [KernelBackendData]
    public void Copies_of_uints_and_ints_at_any_offset_land(string backend)
    {
        foreach ((int offset, int count) in new[] { (0, 0), (0, 16), (3, 17), (5, 63) })
        {
            uint[] u = Enumerable.Range(0, 80).Select(i => 0xF0000000u + (uint)i * 977u).ToArray();
            int[] k = Enumerable.Range(0, 80).Select(i => 1000 - 31 * i).ToArray();
            var output = Enumerable.Repeat(7u, 2 * GroupCopyKernels.TileSize).ToArray();

            devices.Launch(backend, T.CopyUintsAndInts, Int3.Size(2), Int3.Size(GroupCopyKernels.TileSize), u, k, output, offset, count);

            for (int group = 0; group < 2; group++)
            {
                for (int local = 0; local < GroupCopyKernels.TileSize; local++)
                {
                    uint expected = local < count ? u[offset + local] + (uint)k[offset + 1 + local] : 7u;
                    Assert.Equal(expected, output[group * GroupCopyKernels.TileSize + local]);
                }
            }
        }
    }

    [Theory]
    [InlineData("sm_80", true)]
    [InlineData("sm_90", true)]
    [InlineData("sm_75", false)]
    public void Nvrtc_emits_cp_async_from_sm_80_on_and_plain_copies_before(string architecture, bool asynchronous)
    {
        RuntimeRequirement.Nvrtc();

        string ptx = Nvrtc.CompileToPtx(T.SumTilesDoubleBuffered, architecture);

        Assert.Equal(asynchronous, ptx.Contains("cp.async.cg.shared.global", StringComparison.Ordinal));
        Assert.Equal(asynchronous, ptx.Contains("cp.async.ca.shared.global", StringComparison.Ordinal));
        Assert.Equal(asynchronous, ptx.Contains("cp.async.wait_all", StringComparison.Ordinal));
        Assert.Contains("bar.sync", ptx);
    }

    [Fact]
    public void Sources_copy_with_async_work_group_copy_and_cp_async()
    {
        KernelDescriptor kernel = T.SumTilesDoubleBuffered;

        Assert.True(kernel.UsesBarrier);
        Assert.False(kernel.UsesWarp);
        Assert.Equal(0, kernel.OpenCLScratchWordsPerThread);
        Assert.Equal(0, kernel.MinimumComputeCapability);

        Assert.Contains("    __local float buffer[128];\n    event_t gv_copy_event;\n    int gv_copy_pending = 0;\n", kernel.OpenCLSource);
        Assert.Contains("    gv_copy_async(buffer, 0, input, first, 64 /* TileSize */);\n", kernel.OpenCLSource);
        Assert.Contains("        gv_wait_copies();\n", kernel.OpenCLSource);
        Assert.Contains("async_work_group_copy((destination) + (destination_index), (source) + (source_index), (size_t)(count), gv_copy_event)", kernel.OpenCLSource);
        Assert.Contains("wait_group_events(1, &gv_copy_event);", kernel.OpenCLSource);

        Assert.Contains("    gv_copy_async(buffer, 0, input, first, 64 /* TileSize */);\n", kernel.CudaSource);
        Assert.Contains("#if __CUDA_ARCH__ >= 800\n", kernel.CudaSource);
        Assert.Contains("cp.async.cg.shared.global [%0], [%1], 16;", kernel.CudaSource);
        Assert.Contains("cp.async.ca.shared.global [%0], [%1], 4;", kernel.CudaSource);
        Assert.Contains("cp.async.wait_all;", kernel.CudaSource);
        Assert.DoesNotContain("event_t", kernel.CudaSource);

        // Kernels without copies declare no event.
        Assert.DoesNotContain("gv_copy", T.WarpRowReductions.OpenCLSource);
    }
}
