using GpuViT.Kernels.OpenCL;
using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Runtime;

/// <summary>One OpenCL device shared by the tests of a class that need no device of their own.</summary>
public sealed class OpenCLDeviceFixture : IDisposable
{
    private readonly Lazy<OpenCLDevice> _device = new(() => RuntimeRequirement.OpenCL());

    internal OpenCLDevice Device => _device.Value;

    public void Dispose()
    {
        if (_device.IsValueCreated)
        {
            _device.Value.Dispose();
        }
    }
}

/// <summary>
/// The OpenCL backend of the device API on PoCL: discovery, buffers and views, streams and
/// events, the kernel cache, the errors users see, and that nothing native leaks.
/// </summary>
public sealed class OpenCLDeviceTests(OpenCLDeviceFixture fixture) : IClassFixture<OpenCLDeviceFixture>
{
    private OpenCLDevice Device => fixture.Device;

    [Fact]
    public void Discover_finds_PoCL_with_its_attributes()
    {
        RuntimeRequirement.OpenCL().Dispose();

        DeviceDiscovery discovery = OpenCLDevice.Discover();

        Assert.Null(discovery.Problem);
        DeviceInfo pocl = Assert.Single(discovery.Devices, d => d.Driver.Contains("PoCL"));
        Assert.Matches(@"^opencl:\d+\.\d+$", pocl.Id);
        Assert.Equal(DeviceKind.OpenCL, pocl.Kind);
        Assert.False(pocl.IsGpu);
        Assert.False(string.IsNullOrWhiteSpace(pocl.Name));
        Assert.Contains("; driver ", pocl.Driver);
        Assert.True(pocl.ComputeUnits > 0);
        Assert.InRange(pocl.MaxAllocationBytes, 1, pocl.MemoryBytes);
        Assert.True(pocl.MaxGroupSize > 0);
        Assert.True(pocl.MaxGroupDimensions is { X: > 0, Y: > 0, Z: > 0 });
        Assert.Equal(new Int3(int.MaxValue, int.MaxValue, int.MaxValue), pocl.MaxGroupCount);
        Assert.True(pocl.SharedMemoryBytesPerGroup >= 16 * 1024, "OpenCL 1.2 promises at least 16 KiB of local memory");
        Assert.Equal(DevicePeaks.Unknown, pocl.Peaks);
    }

    [Fact]
    public void Open_describes_the_device_as_discovery_does()
    {
        DeviceInfo opened = Device.Info;

        DeviceInfo listed = OpenCLDevice.Discover().Devices.Single(d => d.Id == "opencl:0.0");

        Assert.Equal(listed, opened);
        Assert.Equal("opencl:0.0 (" + listed.Name + ")", Device.ToString());
    }

    [Theory]
    [InlineData(1000, 0)]
    [InlineData(0, 1000)]
    [InlineData(-1, 0)]
    public void Open_with_an_index_out_of_range_says_which_devices_exist(int platform, int device)
    {
        RuntimeRequirement.OpenCL().Dispose();

        DeviceUnavailableException e = Assert.Throws<DeviceUnavailableException>(() => OpenCLDevice.Open(platform, device, new KernelCache(null)));

        Assert.Equal($"no OpenCL device opencl:{platform}.{device}: found opencl:0.0", e.Message.Split(',')[0]);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Add_uploads_launches_and_downloads_like_a_loop()
    {
        const int n = 1000; // not a multiple of the group size: the kernel's bounds check matters
        float[] a = TestData.Random(n, 1), b = TestData.Random(n, 2);
        using DeviceBuffer<float> da = Device.Upload<float>(a), db = Device.Upload<float>(b), dc = Device.Allocate<float>(n);

        Device.Launch(K.Add, Int3.Size(TestDevices.Groups(n, 64)), Int3.Size(64), da, db, dc, n);

        Assert.Equal(a.Zip(b, (x, y) => x + y).ToArray(), dc.ToArray());
    }

    [Fact]
    public void GemmTiled_matches_a_loop()
    {
        const int m = 37, n = 53, k = 29;
        float[] a = TestData.Random(m * k, 3), b = TestData.Random(n * k, 4);
        using DeviceBuffer<float> da = Device.Upload<float>(a), db = Device.Upload<float>(b), dc = Device.Allocate<float>(m * n);
        using DeviceBuffer<float> unused = Device.Allocate<float>(1); // no bias, no residual

        Device.Launch(K.GemmTiled, Int3.Size(TestDevices.Groups(n, 16), TestDevices.Groups(m, 16)), Int3.Size(16, 16), da, db, unused, unused, dc, m, n, k, false, 0, false);

        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    sum += (double)a[i * k + p] * b[j * k + p];
                }

                expected[i * n + j] = (float)sum;
            }
        }

        Close.Elementwise(expected, dc.ToArray(), 1e-4f, 1e-5f, "c");
    }

    [Fact]
    public void Views_at_odd_element_offsets_are_kernel_inputs_and_outputs()
    {
        const int n = 101;
        float[] a = TestData.Random(n + 10, 5), b = TestData.Random(n + 10, 6);
        float[] sentinel = Enumerable.Repeat(-7f, n + 10).ToArray();
        using DeviceBuffer<float> da = Device.Upload<float>(a), db = Device.Upload<float>(b), dc = Device.Upload<float>(sentinel);

        Device.Launch(K.Add, Int3.Size(TestDevices.Groups(n, 32)), Int3.Size(32), da.View(3, n), db.View(7, n), dc.View(3, n), n);

        float[] c = dc.ToArray();
        for (int i = 0; i < c.Length; i++)
        {
            float expected = i >= 3 && i < 3 + n ? a[i] + b[i + 4] : -7f;
            Assert.True(expected == c[i], $"c[{i}]: expected {expected}, got {c[i]}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Int_uint_float_and_bool_scalars_arrive_as_the_kernel_expects(bool negate)
    {
        using OpenCLDevice device = RuntimeRequirement.OpenCL();
        KernelDescriptor affine = Kernel(
            "Affine",
            """
            __kernel void Affine(__global int* values, int values_offset, __global const uint* steps, int steps_offset,
                                 int factor, uint bias, float scale, int negate, __global float* scaled, int scaled_offset)
            {
                int i = get_global_id(0);
                int v = values[values_offset + i] * factor + (int)(steps[steps_offset + i] + bias);
                values[values_offset + i] = negate ? -v : v;
                scaled[scaled_offset + i] = scale * (float)i;
            }
            """,
            InOut("values", ElementType.Int), In("steps", ElementType.UInt), Scalar("factor", ElementType.Int),
            Scalar("bias", ElementType.UInt), Scalar("scale", ElementType.Float), Scalar("negate", ElementType.Bool),
            InOut("scaled", ElementType.Float));
        const int n = 48;
        int[] values = Enumerable.Range(-20, n).ToArray();
        uint[] steps = Enumerable.Range(0, n).Select(i => (uint)(i * 3) + 0x8000_0000u).ToArray();
        using DeviceBuffer<int> dv = device.Upload<int>(values);
        using DeviceBuffer<uint> ds = device.Upload<uint>(steps);
        using DeviceBuffer<float> df = device.Allocate<float>(n);

        device.Launch(affine, Int3.Size(n / 16), Int3.Size(16), dv, ds, -3, 7u, 1.5f, negate, df);

        Assert.Equal(values.Select((v, i) => (negate ? -1 : 1) * unchecked(v * -3 + (int)(steps[i] + 7u))), dv.ToArray());
        Assert.Equal(Enumerable.Range(0, n).Select(i => 1.5f * i), df.ToArray());
    }

    [Fact]
    public void Empty_buffers_and_views_are_allowed()
    {
        using DeviceBuffer<float> empty = Device.Allocate<float>(0), other = Device.Upload<float>([1f, 2f]);

        Device.Launch(K.Add, Int3.Size(1), Int3.Size(1), empty, other.View(2, 0), empty, 0);
        empty.Upload([]);

        Assert.Empty(empty.ToArray());
        Assert.Equal(0, empty.Bytes);
    }

    [Fact]
    public void Upload_on_one_stream_then_kernel_on_another_after_its_event()
    {
        const int n = 1 << 20; // large enough that the copy is still running when the launch is queued
        using DeviceStream copies = Device.CreateStream(), compute = Device.CreateStream();
        using PinnedBuffer<float> pa = Device.AllocatePinned<float>(n), pb = Device.AllocatePinned<float>(n), pc = Device.AllocatePinned<float>(n);
        for (int i = 0; i < n; i++)
        {
            pa.Span[i] = i;
            pb.Span[i] = 0.5f * i;
        }

        using DeviceBuffer<float> a = Device.Allocate<float>(n), b = Device.Allocate<float>(n), c = Device.Allocate<float>(n);
        a.UploadAsync(pa, copies);
        b.UploadAsync(pb, copies);
        using DeviceEvent uploaded = copies.RecordEvent();
        compute.WaitFor(uploaded);
        Device.Launch(K.Add, Int3.Size(n / 256), Int3.Size(256), compute, a, b, c, n);
        c.DownloadAsync(pc, compute);
        compute.Synchronize();

        Assert.True(uploaded.IsComplete);
        for (int i = 0; i < n; i++)
        {
            Assert.True(pc.Span[i] == 1.5f * i, $"c[{i}] = {pc.Span[i]}");
        }
    }

    [Fact]
    public void Events_time_a_kernel()
    {
        const int size = 128;
        using DeviceBuffer<float> a = Device.Upload<float>(TestData.Random(size * size, 7)), c = Device.Allocate<float>(size * size);
        DeviceStream stream = Device.DefaultStream;
        Device.Prepare(K.GemmNaive);

        using DeviceEvent start = stream.RecordEvent();
        Device.Launch(K.GemmNaive, Int3.Size(size / 16, size / 16), Int3.Size(16, 16), a, a, a, a, c, size, size, size, false, 0, false);
        using DeviceEvent end = stream.RecordEvent();
        end.Synchronize();

        Assert.True(start.IsComplete && end.IsComplete);
        double milliseconds = end.ElapsedMillisecondsSince(start);
        Assert.InRange(milliseconds, 1e-6, 10_000);

        // Where a driver does not time markers, the end of the command before each marker stands in:
        // here the upload before the start, and the kernel before the end.
        var (first, last) = ((OpenCLEvent)start, (OpenCLEvent)end);
        Assert.NotNull(last.MarkerEnd());
        Assert.InRange(last.PreviousCommandEnd(), first.PreviousCommandEnd() + 1, last.MarkerEnd()!.Value);
    }

    [Fact]
    public void Elapsed_time_of_an_incomplete_or_foreign_event_is_refused()
    {
        using OpenCLDevice other = RuntimeRequirement.OpenCL();
        using DeviceEvent mine = Device.DefaultStream.RecordEvent(), theirs = other.DefaultStream.RecordEvent();
        mine.Synchronize();

        Assert.Throws<ArgumentException>(() => mine.ElapsedMillisecondsSince(theirs));
        Assert.Throws<ArgumentException>(() => Device.DefaultStream.WaitFor(theirs));
    }

    [Fact]
    public void Kernel_cache_a_second_device_loads_what_the_first_compiled()
    {
        using var directory = new TemporaryDirectory();
        const int n = 300;
        float[] a = TestData.Random(n, 8), b = TestData.Random(n, 9);

        float[] first = AddOnNewDevice(new KernelCache(directory.Path), a, b, out KernelBuildStatistics firstBuilds);
        string entry = Assert.Single(Directory.GetFiles(directory.Path));
        Assert.StartsWith("Add-", Path.GetFileName(entry));

        // A new device with a new cache object, as a second process would have.
        var cache = new KernelCache(directory.Path);
        float[] second = AddOnNewDevice(cache, a, b, out KernelBuildStatistics secondBuilds);

        Assert.Equal(new KernelBuildStatistics(1, 0, 0), firstBuilds);
        Assert.Equal(new KernelBuildStatistics(0, 1, 0), secondBuilds);
        Assert.Equal((1L, 0L), (cache.Hits, cache.Stores));
        Assert.Equal(first, second);
        Assert.Equal(a.Zip(b, (x, y) => x + y), second);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("overwritten")]
    [InlineData("empty")]
    public void Kernel_cache_a_damaged_entry_is_deleted_unseen_by_the_driver_and_rebuilt(string damage)
    {
        using var directory = new TemporaryDirectory();
        const int n = 64;
        float[] a = TestData.Random(n, 10), b = TestData.Random(n, 11);
        AddOnNewDevice(new KernelCache(directory.Path), a, b, out _);
        string entry = Assert.Single(Directory.GetFiles(directory.Path));
        byte[] good = File.ReadAllBytes(entry);
        // PoCL 3.1 aborts the process on a truncated program binary: the cache's checksum must stop it first.
        File.WriteAllBytes(entry, damage switch
        {
            "truncated" => good[..(good.Length / 2)],
            "overwritten" => [.. good[..^16], .. new byte[16]],
            _ => [],
        });

        var cache = new KernelCache(directory.Path);
        float[] rebuilt = AddOnNewDevice(cache, a, b, out KernelBuildStatistics builds);
        AddOnNewDevice(new KernelCache(directory.Path), a, b, out KernelBuildStatistics afterwards);

        Assert.Equal((1L, 1L, 0L), (cache.Damaged, cache.Misses, cache.Hits));
        Assert.Equal(new KernelBuildStatistics(1, 0, 0), builds);
        Assert.Equal(a.Zip(b, (x, y) => x + y), rebuilt);
        Assert.Equal(new KernelBuildStatistics(0, 1, 0), afterwards);
    }

    [Fact]
    public void Kernel_cache_an_entry_the_driver_rejects_is_evicted_and_rebuilt()
    {
        using var directory = new TemporaryDirectory();
        const int n = 64;
        float[] a = TestData.Random(n, 12), b = TestData.Random(n, 13);
        var cache = new KernelCache(directory.Path);
        string key = KernelCache.Key(K.Add, KernelDialect.OpenCL, Device.Info, OpenCLDevice.BuildOptions);
        // Intact as a cache entry, but not a program binary (as one from another driver build might be).
        cache.Store("Add", key, Enumerable.Range(0, 4096).Select(i => (byte)(i * 37)).ToArray());

        float[] rebuilt = AddOnNewDevice(cache, a, b, out KernelBuildStatistics builds);
        AddOnNewDevice(new KernelCache(directory.Path), a, b, out KernelBuildStatistics afterwards);

        Assert.Equal(new KernelBuildStatistics(1, 0, 1), builds);
        Assert.Equal(a.Zip(b, (x, y) => x + y), rebuilt);
        Assert.Equal(new KernelBuildStatistics(0, 1, 0), afterwards);
    }

    [Fact]
    public void Allocating_more_than_the_device_has_throws_and_changes_nothing()
    {
        MemoryUsage before = Device.Memory;
        long elements = Device.Info.MemoryBytes / sizeof(float) + 1;

        DeviceOutOfMemoryException e = Assert.Throws<DeviceOutOfMemoryException>(() => Device.Allocate<float>(elements));

        Assert.Equal(elements * sizeof(float), e.RequestedBytes);
        Assert.Equal(Device.Info.MemoryBytes - before.BytesInUse, e.FreeBytes);
        Assert.Contains("out of memory on opencl:0.0", e.Message);
        Assert.Equal(before, Device.Memory);
    }

    [Fact]
    public void A_group_over_the_device_limit_is_refused_naming_the_kernel()
    {
        int limit = Device.Info.MaxGroupSize;
        Int3 groupSize = Int3.Size(Math.Min(limit, Device.Info.MaxGroupDimensions.X), 2 * limit / Math.Min(limit, Device.Info.MaxGroupDimensions.X));
        using DeviceBuffer<float> buffer = Device.Allocate<float>(1);

        KernelLaunchException e = Assert.Throws<KernelLaunchException>(
            () => Device.Launch(K.Add, Int3.Size(1), groupSize, buffer, buffer, buffer, 1));

        Assert.Equal("Add", e.KernelName);
        Assert.Contains("'Add'", e.Message);
        Assert.Contains(groupSize.ToString(), e.Message);
    }

    [Fact]
    public void A_launch_the_driver_rejects_throws_with_the_CL_error_name()
    {
        // The checks pass (8 × 2 is within every limit); only the driver knows the kernel demands groups of 4.
        KernelDescriptor fixedGroup = Kernel(
            "FixedGroup",
            "__kernel __attribute__((reqd_work_group_size(4, 1, 1))) void FixedGroup(__global float* data, int data_offset) { data[data_offset + get_global_id(0)] = 1.0f; }",
            InOut("data", ElementType.Float));
        using DeviceBuffer<float> data = Device.Allocate<float>(16);

        KernelLaunchException e = Assert.Throws<KernelLaunchException>(
            () => Device.Launch(fixedGroup, Int3.Size(2), Int3.Size(8), data));

        Assert.Equal("FixedGroup", e.KernelName);
        Assert.Contains("CL_INVALID_WORK_GROUP_SIZE", e.Message);
        Assert.Contains("group count (2,1,1) and group size (8,1,1)", e.Message);
    }

    [Fact]
    public void Arguments_and_shapes_are_checked_before_anything_is_queued()
    {
        using OpenCLDevice other = RuntimeRequirement.OpenCL();
        using DeviceBuffer<float> f = Device.Allocate<float>(4), foreign = other.Allocate<float>(4);
        using DeviceBuffer<int> i = Device.Allocate<int>(4);
        void Add(params object[] arguments) => Device.Launch(K.Add, Int3.Size(1), Int3.Size(4), arguments);

        Assert.Contains("'ReadOnlyView<float> b' expects a float buffer", Assert.Throws<ArgumentException>(() => Add(f, i, f, 4)).Message);
        Assert.Contains("'int n' expects a int", Assert.Throws<ArgumentException>(() => Add(f, f, f, 4L)).Message);
        Assert.Contains("takes 4 arguments", Assert.Throws<ArgumentException>(() => Add(f, f, f)).Message);
        Assert.Contains("lives on", Assert.Throws<ArgumentException>(() => Add(f, foreign, f, 4)).Message);
        // new Int3(1) is (1, 0, 0): a size needs Int3.Size.
        Assert.Throws<KernelLaunchException>(() => Device.Launch(K.Add, new Int3(1), Int3.Size(4), f, f, f, 4));
    }

    [Fact]
    public void A_build_failure_throws_KernelBuildException_with_the_compiler_log()
    {
        KernelDescriptor broken = Kernel(
            "Broken",
            "__kernel void Broken(__global float* data, int data_offset)\n{\n    data[data_offset] = undefinedVariable;\n}\n",
            InOut("data", ElementType.Float));

        KernelBuildException e = Assert.Throws<KernelBuildException>(() => Device.Prepare(broken));

        Assert.Equal("Broken", e.KernelName);
        Assert.Equal(KernelDialect.OpenCL, e.Dialect);
        Assert.Contains("undefinedVariable", e.Log);
        Assert.StartsWith("building kernel 'Broken' for opencl failed:\n", e.Message);
        Assert.Contains(e.Log, e.Message);
    }

    [Fact]
    public void A_source_without_the_entry_point_or_with_another_ABI_is_a_build_failure()
    {
        KernelDescriptor misnamed = Kernel("Misnamed", "__kernel void Other(__global float* data, int offset) { data[offset] = 1.0f; }",
            InOut("data", ElementType.Float));
        KernelDescriptor noOffsets = Kernel("NoOffsets", "__kernel void NoOffsets(__global float* data, int n) { data[0] = n; }",
            InOut("data", ElementType.Float), Scalar("n", ElementType.Int));

        KernelBuildException missing = Assert.Throws<KernelBuildException>(() => Device.Prepare(misnamed));
        KernelBuildException abi = Assert.Throws<KernelBuildException>(() => Device.Prepare(noOffsets));

        Assert.Contains("CL_INVALID_KERNEL_NAME", missing.Log);
        Assert.Contains("takes 2 arguments; its 2 parameters need 3", abi.Log);
    }

    [Fact]
    public void Each_kernel_is_built_once_per_device_and_a_second_source_under_its_name_is_refused()
    {
        using OpenCLDevice device = RuntimeRequirement.OpenCL();
        device.Prepare(K.Add);
        device.Prepare(K.Add);
        using DeviceBuffer<float> a = device.Upload<float>([1f, 2f]), b = device.Upload<float>([10f, 20f]);
        device.Launch(K.Add, Int3.Size(1), Int3.Size(2), a, b, a, 2);
        Assert.Equal([11f, 22f], a.ToArray());
        Assert.Equal(new KernelBuildStatistics(1, 0, 0), device.KernelBuilds);

        KernelDescriptor impostor = Kernel("Add", K.Add.OpenCLSource.Replace("a[i] + b[i]", "a[i] - b[i]"), [.. K.Add.Parameters]);
        Assert.Throws<InvalidOperationException>(() => device.Prepare(impostor));
    }

    [Fact]
    public void A_disposed_buffer_cannot_be_used_again()
    {
        MemoryUsage before = Device.Memory;
        DeviceBuffer<float> buffer = Device.Allocate<float>(16);
        using DeviceBuffer<float> other = Device.Allocate<float>(16);
        Assert.Equal(before.BytesInUse + 128, Device.Memory.BytesInUse);

        buffer.Dispose();
        buffer.Dispose();

        Assert.True(buffer.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => buffer.Upload(new float[16]));
        Assert.Throws<ObjectDisposedException>(() => buffer.ToArray());
        Assert.Throws<ObjectDisposedException>(() => Device.Launch(K.Add, Int3.Size(1), Int3.Size(16), buffer, other, other, 16));
        Assert.Throws<ObjectDisposedException>(() => Device.Launch(K.Add, Int3.Size(1), Int3.Size(16), other, other, buffer.View(1, 4), 4));
        Assert.Equal(before.BytesInUse + 64, Device.Memory.BytesInUse);
    }

    [Fact]
    public void Disposing_the_device_releases_what_is_still_open()
    {
        OpenCLDevice device = RuntimeRequirement.OpenCL();
        DeviceBuffer<float> buffer = device.Upload<float>(TestData.Random(1000, 12));
        DeviceBuffer<int> counts = device.Allocate<int>(10);
        DeviceStream stream = device.CreateStream();
        PinnedBuffer<float> pinned = device.AllocatePinned<float>(1000);
        buffer.DownloadAsync(pinned, stream);
        device.Launch(K.Add, Int3.Size(4), Int3.Size(250), stream, buffer, buffer, buffer, 1000);
        DeviceEvent done = stream.RecordEvent();

        device.Dispose();
        device.Dispose();

        Assert.True(buffer.IsDisposed && counts.IsDisposed);
        Assert.Equal(new MemoryUsage(0, 4000 + 40, 0), device.Memory);
        Assert.Throws<ObjectDisposedException>(() => buffer.ToArray());
        Assert.Throws<ObjectDisposedException>(() => pinned.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => stream.Synchronize());
        Assert.Throws<ObjectDisposedException>(() => device.Allocate<float>(1));
        Assert.Throws<ObjectDisposedException>(() => device.Launch(K.Add, Int3.Size(1), Int3.Size(1), buffer, buffer, buffer, 1));
        Assert.True(done.IsComplete);
        done.Dispose();
    }

    [Fact]
    public void A_disposed_stream_is_refused_and_the_device_still_synchronizes()
    {
        DeviceStream stream = Device.CreateStream();
        using DeviceBuffer<float> buffer = Device.Allocate<float>(4);

        stream.Dispose();
        stream.Dispose();

        Assert.Throws<ObjectDisposedException>(() => stream.RecordEvent());
        Assert.Throws<ObjectDisposedException>(() => Device.Launch(K.Add, Int3.Size(1), Int3.Size(4), stream, buffer, buffer, buffer, 4));
        Device.DefaultStream.Dispose(); // the device's own stream outlives a user's Dispose
        Device.Synchronize();
        Assert.Equal(4, buffer.ToArray().Length);
    }

    [Fact]
    public void The_same_kernel_launched_from_two_threads_gets_each_its_own_arguments()
    {
        const int n = 4096, rounds = 50;
        Parallel.For(0, 2, worker =>
        {
            using DeviceStream stream = Device.CreateStream();
            float[] a = Enumerable.Range(0, n).Select(i => (float)(i + worker * 100_000)).ToArray();
            using DeviceBuffer<float> da = Device.Upload<float>(a), dc = Device.Allocate<float>(n);
            for (int round = 0; round < rounds; round++)
            {
                Device.Launch(K.Add, Int3.Size(n / 64), Int3.Size(64), stream, da, da, dc, n);
            }

            stream.Synchronize();
            Assert.Equal(a.Select(v => 2 * v), dc.ToArray());
        });
    }

    private static float[] AddOnNewDevice(KernelCache cache, float[] a, float[] b, out KernelBuildStatistics builds)
    {
        using OpenCLDevice device = RuntimeRequirement.OpenCL(cache);
        using DeviceBuffer<float> da = device.Upload<float>(a), db = device.Upload<float>(b), dc = device.Allocate<float>(a.Length);
        device.Launch(K.Add, Int3.Size(TestDevices.Groups(a.Length, 64)), Int3.Size(64), da, db, dc, a.Length);
        builds = device.KernelBuilds;
        return dc.ToArray();
    }

    private static KernelDescriptor Kernel(string name, string openCLSource, params KernelParameter[] parameters) =>
        new(name, typeof(OpenCLDeviceTests).FullName!, parameters, sharedMemoryBytes: 0, usesBarrier: false,
            openCLSource, cudaSource: "", (_, _) => throw new NotSupportedException("these tests run OpenCL only"));

    private static KernelParameter In(string name, ElementType type) => new(name, ParameterKind.Buffer, type, BufferAccess.ReadOnly);

    private static KernelParameter InOut(string name, ElementType type) => new(name, ParameterKind.Buffer, type, BufferAccess.ReadWrite);

    private static KernelParameter Scalar(string name, ElementType type) => new(name, ParameterKind.Scalar, type, BufferAccess.None);

    /// <summary>A fresh directory under the system's temporary folder, deleted afterwards.</summary>
    private sealed class TemporaryDirectory : IDisposable
    {
        public TemporaryDirectory() => Directory.CreateDirectory(Path);

        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gpuvit-kernel-cache-" + Guid.NewGuid().ToString("N"));

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
