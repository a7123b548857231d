namespace GpuViT.Tests.Emulator;

/// <summary>
/// The emulator's warp operations and group copies: their misuses, each refused with a message
/// naming the kernel, the thread and the value. Plain static methods in hand-built descriptors.
/// </summary>
public sealed class WarpAndCopyEmulatorTests
{
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(20);

    private static KernelDescriptor Describe(string name, KernelBody body, bool usesWarp = true) => new(
        name, typeof(WarpAndCopyEmulatorTests).FullName!, [new KernelParameter("output", ParameterKind.Buffer, ElementType.Float, BufferAccess.ReadWrite)],
        0, usesBarrier: true, "", "", body)
    { UsesWarp = usesWarp };

    private static async Task<KernelEmulationException> Fails(KernelDescriptor kernel, Int3 groupSize, float[] output) =>
        await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(kernel, Int3.Size(1), groupSize, output)).WaitAsync(s_hangGuard));

    [Theory]
    [InlineData("Shuffle", 32, "Warp.Shuffle: sourceLane 32 is outside 0..31")]
    [InlineData("ShuffleXor", -1, "Warp.ShuffleXor: laneMask -1 is outside 0..31")]
    [InlineData("ShuffleDown", 40, "Warp.ShuffleDown: delta 40 is outside 0..31")]
    public async Task A_lane_argument_outside_the_warp_is_refused_naming_the_thread(string operation, int argument, string message)
    {
        KernelDescriptor kernel = Describe("BadLane", (thread, arguments) =>
        {
            int lane = thread.Local.X == 37 ? argument : 1;
            float value = operation switch
            {
                "Shuffle" => Warp.Shuffle(1f, lane),
                "ShuffleXor" => Warp.ShuffleXor(1f, lane),
                _ => Warp.ShuffleDown(1f, lane),
            };
            ((ReadWriteView<float>)arguments[0])[thread.Local.X] = value;
        });

        KernelEmulationException error = await Fails(kernel, Int3.Size(64), new float[64]);

        Assert.Equal($"kernel 'BadLane' failed in group (0,0,0), thread (37,0,0) (global (37,0,0)): {message}", error.Message);
        Assert.Equal(new Int3(37, 0, 0), error.Thread);
    }

    [Fact]
    public async Task Two_warps_at_different_warp_operations_are_divergence()
    {
        KernelDescriptor kernel = Describe("TwoReductions", (thread, arguments) =>
        {
            float value = thread.Warp == 0 ? Warp.Sum(1f) : Warp.Max(1f);
            ((ReadWriteView<float>)arguments[0])[thread.Local.X] = value;
        });

        KernelEmulationException error = await Fails(kernel, Int3.Size(64), new float[64]);

        Assert.Equal(
            "kernel 'TwoReductions' failed in group (0,0,0): thread (32,0,0) reached Warp.Max where thread (0,0,0) reached Warp.Sum; " +
            "every thread of a group must reach every collective operation (warp operation, matrix multiply-accumulate, group copy) together, " +
            "as OpenCL devices without sub-groups need",
            error.Message);
        Assert.Null(error.Thread);
    }

    [Fact]
    public async Task A_warp_at_a_barrier_while_another_shuffles_is_divergence()
    {
        KernelDescriptor kernel = Describe("ShuffleAgainstBarrier", (thread, arguments) =>
        {
            if (thread.Warp == 1)
            {
                Group.Barrier();
                return;
            }

            ((ReadWriteView<float>)arguments[0])[thread.Local.X] = Warp.ShuffleDown(1f, 1);
        });

        KernelEmulationException error = await Fails(kernel, Int3.Size(64), new float[64]);

        Assert.StartsWith(
            "kernel 'ShuffleAgainstBarrier' failed in group (0,0,0): 32 of its 64 threads reached Warp.ShuffleDown while 32 waited at a Group.Barrier(); ",
            error.Message);
    }

    [Fact]
    public async Task A_warp_that_returned_while_another_reduces_is_divergence()
    {
        KernelDescriptor kernel = Describe("ReturnedWarp", (thread, arguments) =>
        {
            if (thread.Warp == 0)
            {
                return;
            }

            ((ReadWriteView<float>)arguments[0])[thread.Local.X] = Warp.Min(1f);
        });

        KernelEmulationException error = await Fails(kernel, Int3.Size(64), new float[64]);

        Assert.StartsWith(
            "kernel 'ReturnedWarp' failed in group (0,0,0): 32 of its 64 threads reached Warp.Min while 32 had returned from the kernel; ",
            error.Message);
    }

    [Fact]
    public async Task A_partial_warp_is_refused_even_without_the_descriptors_flag()
    {
        KernelDescriptor kernel = Describe("PartialWarp", (thread, arguments) => Warp.Sum(1), usesWarp: false);

        KernelEmulationException error = await Fails(kernel, Int3.Size(48), new float[48]);

        Assert.Equal(
            "kernel 'PartialWarp' failed in group (0,0,0), thread (32,0,0) (global (32,0,0)): " +
            "Warp.Sum needs a group size that is a multiple of 32 (Warp.Size); this group has 48 threads",
            error.Message);
    }

    [Fact]
    public void Warps_are_whole_32_thread_runs_of_the_linear_index_in_a_3D_group()
    {
        // Each thread's value is its linear index; a shuffle from lane 0 gives each warp's first index.
        KernelDescriptor kernel = Describe("FirstOfWarp", (thread, arguments) =>
        {
            int linear = (thread.Local.Z * thread.GroupSize.Y + thread.Local.Y) * thread.GroupSize.X + thread.Local.X;
            ((ReadWriteView<float>)arguments[0])[linear] = Warp.Shuffle((float)linear, 0) + Warp.Sum(1f) * 1000f;
        });
        var output = new float[128];

        KernelEmulator.Launch(kernel, Int3.Size(1), new Int3(4, 8, 4), output);

        Assert.Equal(Enumerable.Range(0, 128).Select(i => (float)(i / 32 * 32 + 32000)), output);
    }

    [Fact]
    public void Max_and_min_ignore_NaN_and_order_signed_zeros_in_every_lane()
    {
        float[] lanes = Enumerable.Range(0, 32).Select(i => i % 3 == 0 ? float.NaN : i % 3 == 1 ? 0f : -0f).ToArray();
        KernelDescriptor kernel = Describe("Zeros", (thread, arguments) =>
        {
            var output = (ReadWriteView<float>)arguments[0];
            output[2 * thread.Local.X] = Warp.Max(lanes[thread.Lane]);
            output[2 * thread.Local.X + 1] = Warp.Min(lanes[thread.Lane]);
        });
        var output = new float[64];

        KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(32), output);

        for (int lane = 0; lane < 32; lane++)
        {
            Assert.Equal(0u, BitConverter.SingleToUInt32Bits(output[2 * lane]));
            Assert.Equal(0x80000000u, BitConverter.SingleToUInt32Bits(output[2 * lane + 1]));
        }
    }

    [Fact]
    public void Warp_operations_outside_a_kernel_say_where_they_run()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Warp.ShuffleXor(1, 1));

        Assert.Equal("Warp.ShuffleXor can only run inside a kernel launched on the emulator (KernelEmulator.Launch).", error.Message);
    }

    // ---- group copies ---------------------------------------------------------------------

    private static readonly float[] s_source = Enumerable.Range(0, 100).Select(i => (float)i).ToArray();

    private static ReadOnlyView<float> Source => new(s_source, "source");

    [Fact]
    public void A_copy_lands_at_the_wait_and_reads_garbage_before()
    {
        KernelDescriptor kernel = Describe("EarlyRead", (thread, arguments) =>
        {
            var tile = Group.Shared<float>(32);
            var output = (ReadWriteView<float>)arguments[0];
            tile[thread.Local.X] = -1f;
            Group.Barrier();
            Group.CopyAsync(tile, 0, Source, 10, 32);
            output[thread.Local.X] = tile[thread.Local.X];
            Group.WaitCopies();
            output[32 + thread.Local.X] = tile[thread.Local.X];
        }, usesWarp: false);
        var output = new float[64];

        KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(32), output);

        Assert.All(output[..32], value => Assert.True(float.IsNaN(value)));
        Assert.Equal(s_source[10..42], output[32..]);
    }

    [Fact]
    public void A_thread_that_reads_the_destination_after_another_thread_started_the_copy_reads_garbage()
    {
        // Without a barrier between the last reads of the tile and the next copy into it, a later
        // thread may still read while an earlier one's copy writes: the emulator shows garbage.
        KernelDescriptor kernel = Describe("MissingBarrier", (thread, arguments) =>
        {
            var tile = Group.Shared<float>(32);
            var output = (ReadWriteView<float>)arguments[0];
            Group.CopyAsync(tile, 0, Source, 0, 32);
            Group.WaitCopies();
            output[thread.Local.X] = tile[(thread.Local.X + 1) % 32];
            Group.CopyAsync(tile, 0, Source, 50, 32);
            Group.WaitCopies();
        }, usesWarp: false);
        var output = new float[32];

        KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(32), output);

        Assert.Equal(1f, output[0]);
        Assert.All(output[1..], value => Assert.True(float.IsNaN(value)));
    }

    [Fact]
    public async Task Writing_a_copy_source_before_the_wait_is_refused_naming_the_element()
    {
        KernelDescriptor kernel = Describe("SourceRace", (thread, arguments) =>
        {
            var tile = Group.Shared<float>(32);
            var source = (ReadWriteView<float>)arguments[0];
            Group.CopyAsync(tile, 0, source, 0, 32);
            if (thread.Local.X == 7)
            {
                source[thread.Local.X] = -1f;
            }

            Group.WaitCopies();
        }, usesWarp: false);

        KernelEmulationException error = await Fails(kernel, Int3.Size(32), Enumerable.Range(0, 32).Select(i => (float)i).ToArray());

        Assert.Contains("Group.CopyAsync: 'output' changed at element 7 between the copy and Group.WaitCopies", error.Message);
    }

    [Fact]
    public async Task Threads_copying_different_ranges_are_refused_naming_the_first_that_differs()
    {
        KernelDescriptor kernel = Describe("UnevenCopy", (thread, arguments) =>
        {
            var tile = Group.Shared<float>(64);
            Group.CopyAsync(tile, 0, Source, 0, thread.Local.X < 5 ? 16 : 17);
            Group.WaitCopies();
        }, usesWarp: false);

        KernelEmulationException error = await Fails(kernel, Int3.Size(32), new float[1]);

        Assert.Equal(
            "kernel 'UnevenCopy' failed in group (0,0,0), thread (5,0,0) (global (5,0,0)): Group.CopyAsync: its count 17 differs from " +
            "the first thread's 16; every thread of the group must copy the same range",
            error.Message);
    }

    [Fact]
    public async Task Threads_copying_from_different_views_are_refused()
    {
        float[] other = new float[100];
        KernelDescriptor kernel = Describe("OtherSource", (thread, arguments) =>
        {
            var tile = Group.Shared<float>(64);
            Group.CopyAsync(tile, 0, thread.Local.X == 3 ? new ReadOnlyView<float>(other, "other") : Source, 0, 16);
            Group.WaitCopies();
        }, usesWarp: false);

        KernelEmulationException error = await Fails(kernel, Int3.Size(32), new float[1]);

        Assert.EndsWith("thread (3,0,0) (global (3,0,0)): Group.CopyAsync: its source 'other' is another view than the first thread's 'source'; " +
            "every thread of the group must copy the same range", error.Message);
    }

    [Theory]
    [InlineData(95, 0, 10, "the source range [95, 105) is outside 'source' of length 100")]
    [InlineData(-1, 0, 10, "the source range [-1, 9) is outside 'source' of length 100")]
    [InlineData(0, 60, 10, "the destination range [60, 70) is outside the shared array of length 64")]
    [InlineData(0, 0, -2, "count -2 is negative")]
    public async Task A_range_outside_a_view_or_the_shared_array_is_refused(int sourceIndex, int destinationIndex, int count, string problem)
    {
        KernelDescriptor kernel = Describe("OutsideCopy", (thread, arguments) =>
        {
            var tile = Group.Shared<float>(64);
            Group.CopyAsync(tile, destinationIndex, Source, sourceIndex, count);
            Group.WaitCopies();
        }, usesWarp: false);

        KernelEmulationException error = await Fails(kernel, Int3.Size(32), new float[1]);

        Assert.StartsWith($"kernel 'OutsideCopy' failed in group (0,0,0), thread (0,0,0) (global (0,0,0)): Group.CopyAsync: {problem}", error.Message);
    }

    [Fact]
    public async Task A_thread_that_skips_the_wait_is_divergence()
    {
        KernelDescriptor kernel = Describe("SkippedWait", (thread, arguments) =>
        {
            var tile = Group.Shared<float>(64);
            Group.CopyAsync(tile, 0, Source, 0, 64);
            if (thread.Local.X < 16)
            {
                Group.WaitCopies();
            }
        }, usesWarp: false);

        KernelEmulationException error = await Fails(kernel, Int3.Size(32), new float[1]);

        Assert.StartsWith("kernel 'SkippedWait' failed in group (0,0,0): 16 of its 32 threads reached Group.WaitCopies while 16 had returned from the kernel; ", error.Message);
    }
}
