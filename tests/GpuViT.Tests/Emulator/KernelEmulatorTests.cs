namespace GpuViT.Tests.Emulator;

/// <summary>
/// The emulator's group semantics. The kernels here are plain static methods wrapped in
/// hand-built descriptors (not [Kernel]s), so these tests do not depend on the generator.
/// </summary>
public sealed class KernelEmulatorTests
{
    // A guard against a hang: a launch that should fail must fail, not deadlock.
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(20);

    // ---- kernels --------------------------------------------------------------------------

    private const int IndexValuesPerThread = 18;

    /// <summary>Writes every index of the thread at its global linear position.</summary>
    private static void WriteIndices(KernelThread thread, ReadWriteView<int> output)
    {
        Int3 global = thread.Global;
        Int3 globalSize = thread.GlobalSize;
        int at = (global.X + globalSize.X * (global.Y + globalSize.Y * global.Z)) * IndexValuesPerThread;
        foreach (Int3 value in new[] { thread.Global, thread.Local, thread.Group, thread.GroupSize, thread.GroupCount, thread.GlobalSize })
        {
            output[at++] = value.X;
            output[at++] = value.Y;
            output[at++] = value.Z;
        }
    }

    private static void Add(KernelThread thread, ReadOnlyView<float> a, ReadOnlyView<float> b, ReadWriteView<float> c, int n)
    {
        int i = thread.Global.X;
        if (i < n)
        {
            c[i] = a[i] + b[i];
        }
    }

    private const int SumGroupSize = 256;

    /// <summary>Tree sum of each group's 256 inputs in shared memory.</summary>
    private static void GroupSum(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> sums)
    {
        SharedArray<float> partial = Group.Shared<float>(SumGroupSize);
        int local = thread.Local.X;
        partial[local] = input[thread.Global.X];
        Group.Barrier();
        for (int stride = SumGroupSize / 2; stride > 0; stride /= 2)
        {
            if (local < stride)
            {
                partial[local] += partial[local + stride];
            }

            Group.Barrier();
        }

        if (local == 0)
        {
            sums[thread.Group.X] = partial[0];
        }
    }

    /// <summary>Reverses each group's slice through shared memory; needs the barrier between write and read.</summary>
    private static void ReverseInGroup(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> output)
    {
        SharedArray<float> tile = Group.Shared<float>(64);
        int local = thread.Local.X;
        int size = thread.GroupSize.X;
        tile[local] = input[thread.Global.X];
        Group.Barrier();
        output[thread.Global.X] = tile[size - 1 - local];
    }

    /// <summary>The same without the barrier: wrong on a GPU, and wrong (NaN) on the emulator.</summary>
    private static void ReverseInGroupWithoutBarrier(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> output)
    {
        SharedArray<float> tile = Group.Shared<float>(64);
        int local = thread.Local.X;
        int size = thread.GroupSize.X;
        tile[local] = input[thread.Global.X];
        output[thread.Global.X] = tile[size - 1 - local];
    }

    /// <summary>Each thread writes its group's id into its slot, then reads a neighbour's slot.</summary>
    private static void SharedPerGroup(KernelThread thread, ReadWriteView<int> output)
    {
        SharedArray<int> ids = Group.Shared<int>(32);
        SharedArray<int> copy = Group.Shared<int>(32);
        int local = thread.Local.X;
        ids[local] = thread.Group.X;
        copy[local] = -thread.Group.X;
        Group.Barrier();
        int neighbour = (local + 1) % thread.GroupSize.X;
        output[thread.Global.X] = ids[neighbour] * 1000 + copy[neighbour];
    }

    /// <summary>Thread 0 of each group records the first shared element as it finds it, then writes it.</summary>
    private static void ReadSharedBeforeWrite(KernelThread thread, ReadWriteView<float> floats, ReadWriteView<int> ints)
    {
        SharedArray<float> f = Group.Shared<float>(8);
        SharedArray<int> i = Group.Shared<int>(8);
        if (thread.Local.X == 0)
        {
            floats[thread.Group.X] = f[thread.Group.X % 8];
            ints[thread.Group.X] = i[thread.Group.X % 8];
            f[thread.Group.X % 8] = 1f;
            i[thread.Group.X % 8] = 1;
        }
    }

    private static void CountAtomically(KernelThread thread, ReadWriteView<float> floatCount, ReadWriteView<int> intCount, ReadWriteView<uint> uintCount)
    {
        Atomic.Add(ref floatCount[0], 1f);
        Atomic.Add(ref intCount[0], 1);
        Atomic.Add(ref uintCount[thread.Group.X % 2], 2u);
    }

    /// <summary>Counts a group's threads with an atomic on shared memory.</summary>
    private static void CountInShared(KernelThread thread, ReadWriteView<int> counts)
    {
        SharedArray<int> count = Group.Shared<int>(1);
        if (thread.Local.X == 0)
        {
            count[0] = 0;
        }

        Group.Barrier();
        Atomic.Add(ref count[0], 1);
        Group.Barrier();
        if (thread.Local.X == 0)
        {
            counts[thread.Group.X] = count[0];
        }
    }

    /// <summary>Threads below 16 return before the barrier the rest wait at.</summary>
    private static void ReturnEarly(KernelThread thread, ReadWriteView<int> output)
    {
        if (thread.Local.X < 16)
        {
            return;
        }

        Group.Barrier();
        output[thread.Global.X] = 1;
    }

    /// <summary>Odd threads reach a second barrier after even ones have returned.</summary>
    private static void ExtraBarrierForOdd(KernelThread thread, ReadWriteView<int> output)
    {
        Group.Barrier();
        if (thread.Local.X % 2 == 1)
        {
            Group.Barrier();
        }

        output[thread.Global.X] = 1;
    }

    /// <summary>Thread 5 of group 1 reads out of bounds while the rest of its group waits at a barrier.</summary>
    private static void FailBetweenBarriers(KernelThread thread, ReadOnlyView<float> input, ReadWriteView<float> output)
    {
        Group.Barrier();
        int index = thread.Group.X == 1 && thread.Local.X == 5 ? input.Length : thread.Global.X;
        output[thread.Global.X] = input[index];
        Group.Barrier();
    }

    private static void BarrierAnyway(KernelThread thread) => Group.Barrier();

    private static void Scale(KernelThread thread, ReadOnlyView<uint> input, ReadWriteView<uint> output, uint factor, float offset, bool negate)
    {
        int i = thread.Global.X;
        float value = input[i] * factor + offset;
        output[i] = (uint)(negate ? -value : value);
    }

    /// <summary>Thread 1 asks for a different shared array than thread 0 did.</summary>
    private static void MismatchedShared(KernelThread thread)
    {
        if (thread.Local.X == 0)
        {
            Group.Shared<float>(16);
        }
        else
        {
            Group.Shared<int>(16);
        }
    }

    // ---- descriptors ----------------------------------------------------------------------

    private static KernelParameter In(string name, ElementType type = ElementType.Float) =>
        new(name, ParameterKind.Buffer, type, BufferAccess.ReadOnly);

    private static KernelParameter Out(string name, ElementType type = ElementType.Float) =>
        new(name, ParameterKind.Buffer, type, BufferAccess.ReadWrite);

    private static KernelParameter Scalar(string name, ElementType type) =>
        new(name, ParameterKind.Scalar, type, BufferAccess.None);

    private static KernelDescriptor Describe(string name, bool usesBarrier, KernelBody body, params KernelParameter[] parameters) =>
        new(name, typeof(KernelEmulatorTests).FullName!, parameters, 0, usesBarrier, "", "", body);

    private static KernelDescriptor WriteIndicesKernel(bool usesBarrier) => Describe(
        nameof(WriteIndices), usesBarrier, (t, a) => WriteIndices(t, (ReadWriteView<int>)a[0]), Out("output", ElementType.Int));

    private static readonly KernelDescriptor s_add = Describe(
        nameof(Add),
        false,
        (t, a) => Add(t, (ReadOnlyView<float>)a[0], (ReadOnlyView<float>)a[1], (ReadWriteView<float>)a[2], (int)a[3]),
        In("a"),
        In("b"),
        Out("c"),
        Scalar("n", ElementType.Int));

    private static readonly KernelDescriptor s_groupSum = Describe(
        nameof(GroupSum), true, (t, a) => GroupSum(t, (ReadOnlyView<float>)a[0], (ReadWriteView<float>)a[1]), In("input"), Out("sums"));

    private static readonly KernelDescriptor s_reverse = Describe(
        nameof(ReverseInGroup), true, (t, a) => ReverseInGroup(t, (ReadOnlyView<float>)a[0], (ReadWriteView<float>)a[1]), In("input"), Out("output"));

    private static KernelDescriptor ReverseWithoutBarrierKernel(bool usesBarrier) => Describe(
        nameof(ReverseInGroupWithoutBarrier),
        usesBarrier,
        (t, a) => ReverseInGroupWithoutBarrier(t, (ReadOnlyView<float>)a[0], (ReadWriteView<float>)a[1]),
        In("input"),
        Out("output"));

    private static readonly KernelDescriptor s_sharedPerGroup = Describe(
        nameof(SharedPerGroup), true, (t, a) => SharedPerGroup(t, (ReadWriteView<int>)a[0]), Out("output", ElementType.Int));

    private static KernelDescriptor ReadSharedBeforeWriteKernel(bool usesBarrier) => Describe(
        nameof(ReadSharedBeforeWrite),
        usesBarrier,
        (t, a) => ReadSharedBeforeWrite(t, (ReadWriteView<float>)a[0], (ReadWriteView<int>)a[1]),
        Out("floats"),
        Out("ints", ElementType.Int));

    private static KernelDescriptor CountAtomicallyKernel(bool usesBarrier) => Describe(
        nameof(CountAtomically),
        usesBarrier,
        (t, a) => CountAtomically(t, (ReadWriteView<float>)a[0], (ReadWriteView<int>)a[1], (ReadWriteView<uint>)a[2]),
        Out("floatCount"),
        Out("intCount", ElementType.Int),
        Out("uintCount", ElementType.UInt));

    private static readonly KernelDescriptor s_countInShared = Describe(
        nameof(CountInShared), true, (t, a) => CountInShared(t, (ReadWriteView<int>)a[0]), Out("counts", ElementType.Int));

    private static readonly KernelDescriptor s_returnEarly = Describe(
        nameof(ReturnEarly), true, (t, a) => ReturnEarly(t, (ReadWriteView<int>)a[0]), Out("output", ElementType.Int));

    private static readonly KernelDescriptor s_extraBarrierForOdd = Describe(
        nameof(ExtraBarrierForOdd), true, (t, a) => ExtraBarrierForOdd(t, (ReadWriteView<int>)a[0]), Out("output", ElementType.Int));

    private static readonly KernelDescriptor s_failBetweenBarriers = Describe(
        nameof(FailBetweenBarriers),
        true,
        (t, a) => FailBetweenBarriers(t, (ReadOnlyView<float>)a[0], (ReadWriteView<float>)a[1]),
        In("input"),
        Out("output"));

    private static readonly KernelDescriptor s_barrierAnyway = Describe(nameof(BarrierAnyway), false, (t, _) => BarrierAnyway(t));

    private static readonly KernelDescriptor s_scale = Describe(
        nameof(Scale),
        false,
        (t, a) => Scale(t, (ReadOnlyView<uint>)a[0], (ReadWriteView<uint>)a[1], (uint)a[2], (float)a[3], (bool)a[4]),
        In("input", ElementType.UInt),
        Out("output", ElementType.UInt),
        Scalar("factor", ElementType.UInt),
        Scalar("offset", ElementType.Float),
        Scalar("negate", ElementType.Bool));

    private static KernelDescriptor MismatchedSharedKernel(bool usesBarrier) =>
        Describe(nameof(MismatchedShared), usesBarrier, (t, _) => MismatchedShared(t));

    // ---- indices --------------------------------------------------------------------------

    public static TheoryData<Int3, Int3, bool> IndexShapes => new()
    {
        { Int3.Size(3), Int3.Size(4), false },
        { Int3.Size(2, 3), Int3.Size(4, 2), false },
        { Int3.Size(2, 2, 3), Int3.Size(2, 3, 2), false },
        { Int3.Size(3), Int3.Size(4), true },
        { Int3.Size(2, 3), Int3.Size(4, 2), true },
        { Int3.Size(2, 2, 3), Int3.Size(2, 3, 2), true },
    };

    [Theory]
    [MemberData(nameof(IndexShapes))]
    public void EveryThreadSeesItsIndices(Int3 groupCount, Int3 groupSize, bool usesBarrier)
    {
        Int3 globalSize = new(groupCount.X * groupSize.X, groupCount.Y * groupSize.Y, groupCount.Z * groupSize.Z);
        var output = new int[globalSize.Product * IndexValuesPerThread];
        Array.Fill(output, -1);

        KernelEmulator.Launch(WriteIndicesKernel(usesBarrier), groupCount, groupSize, output);

        for (int z = 0; z < globalSize.Z; z++)
        {
            for (int y = 0; y < globalSize.Y; y++)
            {
                for (int x = 0; x < globalSize.X; x++)
                {
                    var group = new Int3(x / groupSize.X, y / groupSize.Y, z / groupSize.Z);
                    var local = new Int3(x % groupSize.X, y % groupSize.Y, z % groupSize.Z);
                    Int3[] expected = [new(x, y, z), local, group, groupSize, groupCount, globalSize];
                    int at = (x + globalSize.X * (y + globalSize.Y * z)) * IndexValuesPerThread;
                    for (int k = 0; k < expected.Length; k++)
                    {
                        Assert.Equal(expected[k], new Int3(output[at + 3 * k], output[at + 3 * k + 1], output[at + 3 * k + 2]));
                    }
                }
            }
        }
    }

    [Fact]
    public void AddComputesEveryElement()
    {
        const int n = 1000;
        float[] a = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
        float[] b = Enumerable.Range(0, n).Select(i => 0.5f * i).ToArray();
        var c = new float[n];

        KernelEmulator.Launch(s_add, Int3.Size((n + 63) / 64), Int3.Size(64), a, b, c, n);

        for (int i = 0; i < n; i++)
        {
            Assert.Equal(1.5f * i, c[i]);
        }
    }

    // ---- barriers and shared memory -------------------------------------------------------

    [Fact]
    public void TreeSumWithBarriersIsExactPerGroup()
    {
        const int groups = 8;
        var random = new Random(1234);
        float[] input = Enumerable.Range(0, groups * SumGroupSize).Select(_ => (float)random.Next(-1000, 1000)).ToArray();
        var sums = new float[groups];

        KernelEmulator.Launch(s_groupSum, Int3.Size(groups), Int3.Size(SumGroupSize), input, sums);

        for (int g = 0; g < groups; g++)
        {
            float expected = input.Skip(g * SumGroupSize).Take(SumGroupSize).Sum();
            Assert.Equal(expected, sums[g]);
        }
    }

    [Fact]
    public void ReverseInGroupNeedsItsBarrier()
    {
        const int groups = 5;
        const int groupSize = 64;
        float[] input = Enumerable.Range(0, groups * groupSize).Select(i => (float)i).ToArray();
        var output = new float[input.Length];

        KernelEmulator.Launch(s_reverse, Int3.Size(groups), Int3.Size(groupSize), input, output);

        for (int i = 0; i < input.Length; i++)
        {
            int group = i / groupSize;
            Assert.Equal(input[group * groupSize + groupSize - 1 - i % groupSize], output[i]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReverseWithoutBarrierReadsUnwrittenSharedMemory(bool usesBarrier)
    {
        const int groupSize = 64;
        float[] input = Enumerable.Range(0, 2 * groupSize).Select(i => (float)i).ToArray();
        var output = new float[input.Length];

        KernelEmulator.Launch(ReverseWithoutBarrierKernel(usesBarrier), Int3.Size(2), Int3.Size(groupSize), input, output);

        // Threads run in turn, so the first half of each group reads slots not yet written.
        for (int i = 0; i < input.Length; i++)
        {
            int local = i % groupSize;
            if (local < groupSize / 2)
            {
                Assert.True(float.IsNaN(output[i]), $"output[{i}] = {output[i]}, expected NaN");
            }
        }
    }

    [Fact]
    public void SharedArraysAreSeparatePerGroup()
    {
        const int groups = 16;
        const int groupSize = 32;
        var output = new int[groups * groupSize];

        KernelEmulator.Launch(s_sharedPerGroup, Int3.Size(groups), Int3.Size(groupSize), output);

        for (int i = 0; i < output.Length; i++)
        {
            int group = i / groupSize;
            Assert.Equal(group * 1000 - group, output[i]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SharedMemoryStartsAsGarbageInEveryGroup(bool usesBarrier)
    {
        const int groups = 24;
        var floats = new float[groups];
        var ints = new int[groups];

        KernelEmulator.Launch(ReadSharedBeforeWriteKernel(usesBarrier), Int3.Size(groups), Int3.Size(4), floats, ints);

        Assert.All(floats, value => Assert.True(float.IsNaN(value)));
        Assert.All(ints, value => Assert.Equal(unchecked((int)0xCDCDCDCD), value));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ThreadsMustMakeTheSameSharedCalls(bool usesBarrier)
    {
        var error = Assert.Throws<KernelEmulationException>(
            () => KernelEmulator.Launch(MismatchedSharedKernel(usesBarrier), Int3.Size(1), Int3.Size(2)));

        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Contains("same Group.Shared calls", error.Message);
        Assert.Equal(new Int3(1), error.Thread);
    }

    // ---- atomics --------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AtomicAddFromEveryThreadCountsExactly(bool usesBarrier)
    {
        const int groups = 64;
        const int groupSize = 128;
        var floatCount = new float[1];
        var intCount = new int[1];
        var uintCount = new uint[2];

        KernelEmulator.Launch(CountAtomicallyKernel(usesBarrier), Int3.Size(groups), Int3.Size(groupSize), floatCount, intCount, uintCount);

        Assert.Equal(groups * groupSize, floatCount[0]);
        Assert.Equal(groups * groupSize, intCount[0]);
        Assert.Equal(new uint[] { groups * groupSize, groups * groupSize }, uintCount);
    }

    [Fact]
    public void AtomicAddOnSharedMemoryCountsTheGroup()
    {
        const int groups = 6;
        var counts = new int[groups];

        KernelEmulator.Launch(s_countInShared, Int3.Size(groups), Int3.Size(8, 4, 2), counts);

        Assert.All(counts, count => Assert.Equal(64, count));
    }

    // ---- failures -------------------------------------------------------------------------

    [Fact]
    public void OutOfBoundsNamesKernelGroupThreadAndBuffer()
    {
        const int n = 4096;
        var a = new float[n + 64];
        var b = new float[n + 64];
        var c = new float[n];

        var error = Assert.Throws<KernelEmulationException>(
            () => KernelEmulator.Launch(s_add, Int3.Size(n / 64 + 1), Int3.Size(64), a, b, c, n + 64));

        Assert.Contains("'Add'", error.Message);
        Assert.Contains("group (64,0,0)", error.Message);
        Assert.Contains("thread (0,0,0)", error.Message);
        Assert.Contains("index 4096 is outside 'c' of length 4096", error.Message);
        Assert.IsType<IndexOutOfRangeException>(error.InnerException);
        Assert.Equal("Add", error.KernelName);
        Assert.Equal(new Int3(64), error.Group);
        Assert.Equal(new Int3(0), error.Thread);
    }

    [Fact]
    public async Task ThrowingThreadReleasesItsGroupFromTheBarrier()
    {
        float[] input = new float[4 * 32];
        var output = new float[input.Length];

        var error = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(s_failBetweenBarriers, Int3.Size(4), Int3.Size(32), input, output)).WaitAsync(s_hangGuard));

        Assert.Contains("group (1,0,0), thread (5,0,0)", error.Message);
        Assert.Contains("outside 'input'", error.Message);
        Assert.IsType<IndexOutOfRangeException>(error.InnerException);
    }

    [Fact]
    public async Task ReturningBeforeABarrierIsReportedNotAHang()
    {
        var output = new int[2 * 64];

        var error = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(s_returnEarly, Int3.Size(2), Int3.Size(64), output)).WaitAsync(s_hangGuard));

        Assert.Contains("'ReturnEarly'", error.Message);
        Assert.Contains("barrier divergence", error.Message);
        Assert.Contains("48 of its 64 threads waited at barrier 1 while 16 had returned", error.Message);
        Assert.Null(error.Thread);
        Assert.Null(error.InnerException);
    }

    [Fact]
    public async Task ArrivingAtABarrierAfterOthersReturnedIsReported()
    {
        var output = new int[3 * 16];

        var error = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(s_extraBarrierForOdd, Int3.Size(3), Int3.Size(16), output)).WaitAsync(s_hangGuard));

        Assert.Contains("barrier divergence", error.Message);
        Assert.Contains("8 of its 16 threads waited at barrier 2 while 8 had returned", error.Message);
    }

    [Fact]
    public void BarrierInAKernelDescribedWithoutOneIsAnError()
    {
        var error = Assert.Throws<KernelEmulationException>(() => KernelEmulator.Launch(s_barrierAnyway, Int3.Size(2), Int3.Size(4)));

        var inner = Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Contains("UsesBarrier is false", inner.Message);
        Assert.Contains("'BarrierAnyway'", error.Message);
    }

    [Fact]
    public void GroupContextIsClearedAfterALaunch()
    {
        KernelEmulator.Launch(ReadSharedBeforeWriteKernel(false), Int3.Size(4), Int3.Size(4), new float[4], new int[4]);
        Assert.Throws<InvalidOperationException>(() => Group.Shared<float>(1));

        Assert.Throws<KernelEmulationException>(() => KernelEmulator.Launch(s_barrierAnyway, Int3.Size(4), Int3.Size(4)));
        Assert.Throws<InvalidOperationException>(() => Group.Barrier());
    }

    // ---- arguments and sizes --------------------------------------------------------------

    [Fact]
    public void ArgumentOfTheWrongTypeNamesTheParameter()
    {
        var floats = new float[4];

        var wrongElement = Assert.Throws<ArgumentException>(
            () => KernelEmulator.Launch(s_add, Int3.Size(1), Int3.Size(4), floats, new int[4], floats, 4));
        Assert.Equal("b", wrongElement.ParamName);
        Assert.Contains("must be a float[] or a ReadOnlyView<float>, but it is int[]", wrongElement.Message);

        var wrongView = Assert.Throws<ArgumentException>(
            () => KernelEmulator.Launch(s_add, Int3.Size(1), Int3.Size(4), new ReadWriteView<float>(floats), floats, floats, 4));
        Assert.Equal("a", wrongView.ParamName);
        Assert.Contains("ReadWriteView<float>", wrongView.Message);

        var wrongScalar = Assert.Throws<ArgumentException>(
            () => KernelEmulator.Launch(s_add, Int3.Size(1), Int3.Size(4), floats, floats, floats, 4f));
        Assert.Equal("n", wrongScalar.ParamName);
        Assert.Contains("must be a boxed int, but it is float", wrongScalar.Message);

        var missing = Assert.Throws<ArgumentException>(
            () => KernelEmulator.Launch(s_add, Int3.Size(1), Int3.Size(4), floats, floats, floats));
        Assert.Contains("takes 4 arguments", missing.Message);
    }

    [Fact]
    public void ScalarsOfEveryTypeReachTheBody()
    {
        uint[] input = [1, 2, 3, 4];
        var output = new uint[4];

        KernelEmulator.Launch(s_scale, Int3.Size(2), Int3.Size(2), input, output, 3u, 0.5f, false);

        Assert.Equal(new uint[] { 3, 6, 9, 12 }, output);

        var wrongSign = Assert.Throws<ArgumentException>(
            () => KernelEmulator.Launch(s_scale, Int3.Size(2), Int3.Size(2), input, output, 3, 0.5f, false));
        Assert.Equal("factor", wrongSign.ParamName);
        Assert.Contains("must be a boxed uint, but it is int", wrongSign.Message);

        var wrongBool = Assert.Throws<ArgumentException>(
            () => KernelEmulator.Launch(s_scale, Int3.Size(2), Int3.Size(2), input, output, 3u, 0.5f, 0));
        Assert.Equal("negate", wrongBool.ParamName);

        var nullBuffer = Assert.Throws<ArgumentException>(
            () => KernelEmulator.Launch(s_scale, Int3.Size(2), Int3.Size(2), null!, output, 3u, 0.5f, false));
        Assert.Equal("input", nullBuffer.ParamName);
        Assert.Contains("but it is null", nullBuffer.Message);
    }

    [Fact]
    public void ViewsGivenAsArgumentsAreUsedAsTheyAre()
    {
        float[] a = [1, 2, 3, 4, 5, 6];
        var c = new float[6];

        KernelEmulator.Launch(
            s_add, Int3.Size(1), Int3.Size(4), new ReadOnlyView<float>(a, 2, 4, "a"), new ReadOnlyView<float>(a, 2, 4, "b"), new ReadWriteView<float>(c, 1, 4, "c"), 4);

        Assert.Equal(new float[] { 0, 6, 8, 10, 12, 0 }, c);
    }

    [Fact]
    public void SizesAreChecked()
    {
        var output = new int[1];
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelEmulator.Launch(WriteIndicesKernel(false), Int3.Size(0), Int3.Size(1), output));
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelEmulator.Launch(WriteIndicesKernel(false), Int3.Size(1), new Int3(4, 0, 1), output));
        var tooBig = Assert.Throws<ArgumentOutOfRangeException>(
            () => KernelEmulator.Launch(WriteIndicesKernel(true), Int3.Size(1), Int3.Size(32, 33), output));
        Assert.Equal("groupSize", tooBig.ParamName);
        Assert.Contains("at most 1024", tooBig.Message);
    }

    [Fact]
    public void LargestGroupWithBarriersRuns()
    {
        var counts = new int[3];

        KernelEmulator.Launch(s_countInShared, Int3.Size(3), Int3.Size(1024), counts);

        Assert.All(counts, count => Assert.Equal(1024, count));
    }
}
