using GpuViT.Kernels.Cuda;
using GpuViT.Tests.Runtime;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>Kernels with per-thread asynchronous copies (Async.Copy4, Copy8, Commit, Wait).</summary>
public static class AsyncCopyKernels
{
    /// <summary>Threads per group of <see cref="CopyThroughThreeStages"/>; each copies 4 floats per tile.</summary>
    public const int PipelineThreads = 32;

    /// <summary>Floats per tile of <see cref="CopyThroughThreeStages"/>.</summary>
    public const int Tile = 4 * PipelineThreads;

    /// <summary>
    /// Copies input[0, length) tile by tile through 3 shared stages, 2 tiles in flight, into
    /// output (tiles × Tile floats, zeros past length). Each thread writes a chunk another thread
    /// copied, so a missing wait or barrier shows.
    /// </summary>
    [Kernel]
    public static void CopyThroughThreeStages(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> output, int length, int tiles)
    {
        var stages = Group.Shared<float>(3 * Tile);
        int local = thread.Local.X;
        for (int t = 0; t < 2; t++)
        {
            int at = t * Tile + 4 * local;
            Async.Copy4(stages, t * Tile + 4 * local, input, at, KernelMath.Max(0, KernelMath.Min(4, length - at)));
            Async.Commit();
        }

        for (int t = 0; t < tiles; t++)
        {
            // Tile t has landed for this thread (the newest, t + 1, may still be in flight), and after
            // the barrier for every thread; every thread is also done with tile t - 1's stage.
            Async.Wait(1);
            Group.Barrier();
            int next = t + 2;
            if (next < tiles)
            {
                int at = next * Tile + 4 * local;
                Async.Copy4(stages, next % 3 * Tile + 4 * local, input, at, KernelMath.Max(0, KernelMath.Min(4, length - at)));
            }

            // An empty group when nothing is left keeps the count of groups in flight the same.
            Async.Commit();
            int chunk = (local + 5) % PipelineThreads;
            for (int i = 0; i < 4; i++)
            {
                output[t * Tile + 4 * chunk + i] = stages[t % 3 * Tile + 4 * chunk + i];
            }
        }
    }

    /// <summary>One thread: Copy4 of source[sourceIndex..] (valid elements) into shared[destinationIndex..], waited for, written out as 8 floats around it.</summary>
    [Kernel]
    public static void CopyFourOnce(KernelThread thread, ReadOnlyView<float> source, ReadWriteView<float> output, int sourceIndex, int destinationIndex, int valid)
    {
        var shared = Group.Shared<float>(8);
        for (int i = 0; i < 8; i++)
        {
            shared[i] = -1f;
        }

        Async.Copy4(shared, destinationIndex, source, sourceIndex, valid);
        Async.Commit();
        Async.Wait(0);
        for (int i = 0; i < 8; i++)
        {
            output[i] = shared[i];
        }
    }

    /// <summary>Two groups in flight: A then B committed, Wait(1) lands A only; both read after it (B is still in flight), then Wait(0).</summary>
    [Kernel]
    public static void WaitLeavesTheNewestGroup(KernelThread thread, ReadOnlyView<float> source, ReadWriteView<float> output)
    {
        var shared = Group.Shared<float>(8);
        Async.Copy4(shared, 0, source, 0, 4);
        Async.Commit();
        Async.Copy4(shared, 4, source, 4, 4);
        Async.Commit();
        Async.Wait(1);
        for (int i = 0; i < 8; i++)
        {
            output[i] = shared[i];
        }

        Async.Wait(0);
        for (int i = 0; i < 8; i++)
        {
            output[8 + i] = shared[i];
        }
    }

    /// <summary>Misuse: the copy's source is written (through an aliasing view) before the wait.</summary>
    [Kernel]
    public static void WriteSourceBeforeWait(KernelThread thread, ReadOnlyView<float> source, ReadWriteView<float> alias, ReadWriteView<float> output)
    {
        var shared = Group.Shared<float>(4);
        Async.Copy4(shared, 0, source, 0, 4);
        Async.Commit();
        alias[1] = 42f;
        Async.Wait(0);
        output[0] = shared[0];
    }

    /// <summary>Each thread copies 8 bfloat16 and 8 half values (valid of them) as 4 words each; the words written out.</summary>
    [Kernel]
    public static void CopyEightSixteenBit(
        KernelThread thread, ReadOnlyView<BFloat16> bf16, ReadOnlyView<Half> half, ReadWriteView<uint> output, int length)
    {
        var words = Group.Shared<uint>(2 * 4 * PipelineThreads);
        int local = thread.Local.X;
        int at = 8 * local;
        int valid = KernelMath.Max(0, KernelMath.Min(8, length - at));
        Async.Copy8(words, 4 * local, bf16, at, valid);
        Async.Commit();
        Async.Copy8(words, 4 * PipelineThreads + 4 * local, half, at, valid);
        Async.Commit();
        Async.Wait(0);
        Group.Barrier();
        int other = (local + 3) % PipelineThreads;
        for (int j = 0; j < 4; j++)
        {
            output[4 * local + j] = words[4 * other + j];
            output[4 * PipelineThreads + 4 * local + j] = words[4 * PipelineThreads + 4 * other + j];
        }
    }
}

public sealed class AsyncCopyTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [KernelBackendData]
    public void A_three_stage_pipeline_copies_every_tile_with_zeros_past_the_end(string backend)
    {
        // Lengths ending a tile early by 0..4 floats, mid-tile, and after one chunk: every validElements 0..4.
        foreach ((int tiles, int length) in new[] { (1, 128), (2, 255), (3, 382), (5, 637), (5, 636), (4, 5), (6, 700) })
        {
            float[] input = TestData.Random(Math.Max(1, length), 300 + length);
            var output = Enumerable.Repeat(-7f, tiles * AsyncCopyKernels.Tile).ToArray();

            devices.Launch(backend, T.CopyThroughThreeStages, Int3.Size(1), Int3.Size(AsyncCopyKernels.PipelineThreads), input, output, length, tiles);

            float[] expected = Enumerable.Range(0, output.Length).Select(i => i < length ? input[i] : 0f).ToArray();
            Assert.Equal(expected, output);
        }
    }

    [Theory]
    [KernelBackendData(0)]
    [KernelBackendData(1)]
    [KernelBackendData(2)]
    [KernelBackendData(3)]
    [KernelBackendData(4)]
    public void Copy4_copies_the_valid_elements_and_zero_fills_the_rest(string backend, int valid)
    {
        float[] source = Enumerable.Range(0, 12).Select(i => 10f + i).ToArray();
        foreach ((int sourceIndex, int destinationIndex) in new[] { (0, 0), (8, 4), (4, 0) })
        {
            var output = new float[8];

            devices.Launch(backend, T.CopyFourOnce, Int3.Size(1), Int3.Size(1), source, output, sourceIndex, destinationIndex, valid);

            float[] expected = Enumerable.Range(0, 8).Select(i =>
                i < destinationIndex || i >= destinationIndex + 4 ? -1f
                : i - destinationIndex < valid ? source[sourceIndex + i - destinationIndex]
                : 0f).ToArray();
            Assert.Equal(expected, output);
        }
    }

    [Theory]
    [KernelBackendData]
    public void Copy8_copies_bfloat16_and_half_as_words_low_value_first(string backend)
    {
        int threads = AsyncCopyKernels.PipelineThreads;
        foreach (int length in new[] { 8 * threads, 8 * threads - 1, 8 * threads - 7, 8 * 5 + 3, 0 })
        {
            float[] values = TestData.Random(8 * threads, 17 + length);
            BFloat16[] bf16 = values.Select(v => (BFloat16)v).ToArray();
            Half[] half = values.Select(v => (Half)v).ToArray();
            var output = new uint[8 * threads];

            devices.Launch(backend, T.CopyEightSixteenBit, Int3.Size(1), Int3.Size(threads), bf16, half, output, length);

            var expected = new uint[8 * threads];
            for (int local = 0; local < threads; local++)
            {
                int other = (local + 3) % threads;
                for (int j = 0; j < 4; j++)
                {
                    int low = 8 * other + 2 * j;
                    expected[4 * local + j] = Word(low < length ? bf16[low].Bits : 0u, low + 1 < length ? bf16[low + 1].Bits : 0u);
                    expected[4 * threads + 4 * local + j] = Word(
                        low < length ? BitConverter.HalfToUInt16Bits(half[low]) : 0u, low + 1 < length ? BitConverter.HalfToUInt16Bits(half[low + 1]) : 0u);
                }
            }

            Assert.Equal(expected, output);
        }

        static uint Word(uint low, uint high) => low | (high << 16);
    }

    [Fact]
    public void The_emulator_shows_garbage_until_the_wait_that_covers_a_copy()
    {
        float[] source = Enumerable.Range(0, 8).Select(i => 1f + i).ToArray();
        var output = new float[16];

        KernelEmulator.Launch(T.WaitLeavesTheNewestGroup, Int3.Size(1), Int3.Size(1), source, output);

        // After Wait(1): the older group (A) landed, the newer (B) is still in flight: NaN.
        Assert.Equal(source[..4], output[..4]);
        Assert.All(output[4..8], value => Assert.True(float.IsNaN(value)));
        Assert.Equal(source, output[8..]);
    }

    [Fact]
    public void OpenCL_copies_at_once_so_the_same_kernel_reads_both_groups_there()
    {
        float[] source = Enumerable.Range(0, 8).Select(i => 1f + i).ToArray();
        var output = new float[16];

        devices.Launch(TestBackends.OpenCL, T.WaitLeavesTheNewestGroup, Int3.Size(1), Int3.Size(1), source, output);

        Assert.Equal(source, output[..8]);
        Assert.Equal(source, output[8..]);
    }

    [Theory]
    [InlineData(2, 0, 4, "Async.Copy4 from 'source' at index 2 is misaligned: it starts at element 2, which is not a multiple of 4")]
    [InlineData(0, 2, 4, "Async.Copy4: destinationIndex 2 is not a multiple of 4")]
    [InlineData(0, 0, 5, "Async.Copy4: validElements 5 is outside 0..4")]
    [InlineData(0, 0, -1, "Async.Copy4: validElements -1 is outside 0..4")]
    [InlineData(8, 0, 4, "Async.Copy4: the source elements [8, 12) are outside 'source' of length 10")]
    [InlineData(0, 8, 4, "Async.Copy4: the destination elements [8, 12) are outside the shared array of length 8")]
    public void The_emulator_refuses_a_misused_copy(int sourceIndex, int destinationIndex, int valid, string problem)
    {
        var exception = Assert.Throws<KernelEmulationException>(() =>
            KernelEmulator.Launch(T.CopyFourOnce, Int3.Size(1), Int3.Size(1), new float[10], new float[8], sourceIndex, destinationIndex, valid));

        Assert.Contains("kernel 'CopyFourOnce'", exception.Message);
        Assert.Contains(problem, exception.Message);
    }

    [Fact]
    public void The_emulator_checks_the_view_offset_for_alignment_and_allows_no_source_with_no_valid_elements()
    {
        var view = new ReadOnlyView<float>(new float[16], 2, 12, "source");
        var exception = Assert.Throws<KernelEmulationException>(() =>
            KernelEmulator.Launch(T.CopyFourOnce, Int3.Size(1), Int3.Size(1), view, new float[8], 4, 0, 4));
        Assert.Contains("it starts at element 6 of its buffer (view offset 2 + index 4)", exception.Message);

        // validElements 0 reads nothing: the index may lie past the view (it is still aligned).
        var output = new float[8];
        KernelEmulator.Launch(T.CopyFourOnce, Int3.Size(1), Int3.Size(1), new float[4], output, 64, 4, 0);
        Assert.Equal(new[] { -1f, -1f, -1f, -1f, 0f, 0f, 0f, 0f }, output);
    }

    [Fact]
    public void The_emulator_refuses_a_source_written_before_the_wait()
    {
        var buffer = new float[4];
        var exception = Assert.Throws<KernelEmulationException>(() =>
            KernelEmulator.Launch(T.WriteSourceBeforeWait, Int3.Size(1), Int3.Size(1), buffer, buffer, new float[1]));

        Assert.Contains("'source' changed at element 1 between the copy and the Async.Wait that landed it", exception.Message);
    }

    [Theory]
    [InlineData("sm_80", true)]
    [InlineData("sm_90", true)]
    [InlineData("sm_75", false)]
    public void Nvrtc_emits_cp_async_with_zero_fill_from_sm_80_on_and_plain_copies_before(string architecture, bool asynchronous)
    {
        RuntimeRequirement.Nvrtc();

        foreach (KernelDescriptor kernel in new[] { T.CopyThroughThreeStages, T.CopyEightSixteenBit })
        {
            string ptx = Nvrtc.CompileToPtx(kernel, architecture);

            Assert.Equal(asynchronous, ptx.Contains("cp.async.cg.shared.global", StringComparison.Ordinal));
            Assert.Equal(asynchronous, ptx.Contains("cp.async.commit_group", StringComparison.Ordinal));
            Assert.Equal(asynchronous, ptx.Contains("cp.async.wait_group", StringComparison.Ordinal));
        }

        if (asynchronous)
        {
            // The constant 1 folds the helper's switch to the one instruction.
            string pipeline = Nvrtc.CompileToPtx(T.CopyThroughThreeStages, architecture);
            Assert.Contains("cp.async.wait_group 1;", pipeline);
            Assert.DoesNotContain("cp.async.wait_group 7;", pipeline);
        }
    }

    [Fact]
    public void Sources_call_the_helpers_and_align_the_shared_arrays()
    {
        KernelDescriptor kernel = T.CopyThroughThreeStages;

        Assert.True(kernel.UsesBarrier);
        Assert.Equal(0, kernel.MinimumComputeCapability);
        Assert.Contains("__local float stages[384] __attribute__((aligned(16)));", kernel.OpenCLSource);
        Assert.Contains("gv_async_copy4(stages, ", kernel.OpenCLSource);
        Assert.Contains("gv_async_wait(1);", kernel.OpenCLSource);
        Assert.Contains("__shared__ __align__(16) float stages[384];", kernel.CudaSource);
        Assert.Contains("cp.async.cg.shared.global [%0], [%1], 16, %2;", kernel.CudaSource);

        // A uint array too, and the OpenCL half view read as its bits.
        Assert.Contains("__local uint words[256] __attribute__((aligned(16)));", T.CopyEightSixteenBit.OpenCLSource);
        Assert.Contains("gv_async_copy8_half(words, ", T.CopyEightSixteenBit.OpenCLSource);
        Assert.Contains("gv_async_copy8_bf16(words, ", T.CopyEightSixteenBit.OpenCLSource);
        Assert.Contains("__shared__ __align__(16) unsigned int words[256];", T.CopyEightSixteenBit.CudaSource);
        Assert.Equal(3 * AsyncCopyKernels.Tile * sizeof(float), kernel.SharedMemoryBytes);
    }
}
