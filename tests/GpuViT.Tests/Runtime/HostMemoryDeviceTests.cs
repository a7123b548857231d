using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Runtime;

/// <summary>The Device API on the in-process devices: buffers, views, accounting, checks, streams, events.</summary>
public sealed class HostMemoryDeviceTests
{
    private static Device Emulator() => Devices.Open("emulator").Device;

    [Fact]
    public void Upload_launch_download_through_views_at_any_offset()
    {
        using Device device = Emulator();
        float[] a = Enumerable.Range(0, 10).Select(i => (float)i).ToArray();
        using DeviceBuffer<float> input = device.Upload<float>(a);
        using DeviceBuffer<float> output = device.Allocate<float>(10);
        output.Upload(new float[10]);

        // c[3..7) = a[1..5) + a[5..9)
        device.Launch(K.Add, Int3.Size(1), Int3.Size(4), input.View(1, 4), input.View(5, 4), output.View(3, 4), 4);

        Assert.Equal([0, 0, 0, 6, 8, 10, 12, 0, 0, 0], output.ToArray());
    }

    [Fact]
    public void Memory_accounting_counts_bytes_in_use_and_the_peak()
    {
        using Device device = Emulator();
        MemoryUsage start = device.Memory;
        DeviceBuffer<float> a = device.Allocate<float>(1000);
        DeviceBuffer<int> b = device.Allocate<int>(500);
        Assert.Equal(start.BytesInUse + 6000, device.Memory.BytesInUse);
        Assert.Equal(2, device.Memory.Buffers);

        a.Dispose();
        a.Dispose(); // twice is fine
        b.Dispose();

        Assert.Equal(start.BytesInUse, device.Memory.BytesInUse);
        Assert.Equal(start.BytesInUse + 6000, device.Memory.PeakBytes);
    }

    [Fact]
    public void Out_of_memory_is_typed_with_requested_and_free_bytes_and_allocates_nothing()
    {
        using Device device = Emulator();
        long free = device.Info.MemoryBytes - device.Memory.BytesInUse;

        var error = Assert.Throws<DeviceOutOfMemoryException>(() => device.Allocate<float>(device.Info.MemoryBytes / 4 + 1));

        Assert.True(error.RequestedBytes > free);
        Assert.Equal(free, error.FreeBytes);
        Assert.Contains("out of memory on emulator: requested", error.Message);
        Assert.Equal(0, device.Memory.BytesInUse);
    }

    [Fact]
    public void A_disposed_buffer_used_again_is_a_clear_exception()
    {
        using Device device = Emulator();
        DeviceBuffer<float> buffer = device.Allocate<float>(4);
        buffer.Dispose();

        var error = Assert.Throws<ObjectDisposedException>(() => buffer.Upload(new float[4]));
        Assert.Contains("was disposed", error.Message);
        Assert.Throws<ObjectDisposedException>(() => device.Launch(K.Add, Int3.Size(1), Int3.Size(4), buffer, buffer, buffer, 4));
    }

    [Fact]
    public void Disposing_the_device_releases_its_buffers()
    {
        Device device = Emulator();
        DeviceBuffer<float> leftover = device.Allocate<float>(16);
        device.Dispose();

        Assert.True(leftover.IsDisposed);
        Assert.Equal(0, device.Memory.BytesInUse);
        Assert.Throws<ObjectDisposedException>(() => device.Allocate<float>(1));
    }

    [Fact]
    public void Launch_shape_is_checked_against_the_device_before_launch()
    {
        using Device device = Emulator();
        using DeviceBuffer<float> x = device.Allocate<float>(4);

        var tooBig = Assert.Throws<KernelLaunchException>(() => device.Launch(K.Add, Int3.Size(1), Int3.Size(2048), x, x, x, 4));
        Assert.Contains("kernel 'Add'", tooBig.Message);
        Assert.Contains("group size (2048,1,1)", tooBig.Message);
        Assert.Contains("at most 1024", tooBig.Message);

        var zero = Assert.Throws<KernelLaunchException>(() => device.Launch(K.Add, new Int3(1), Int3.Size(4), x, x, x, 4));
        Assert.Contains("at least 1", zero.Message);
    }

    [Fact]
    public void Arguments_are_checked_against_the_kernel_parameters()
    {
        using Device device = Emulator();
        using Device other = Emulator();
        using DeviceBuffer<float> x = device.Allocate<float>(4);
        using DeviceBuffer<int> ints = device.Allocate<int>(4);
        using DeviceBuffer<float> elsewhere = other.Allocate<float>(4);

        Assert.Equal("b", Assert.Throws<ArgumentException>(() => device.Launch(K.Add, Int3.Size(1), Int3.Size(4), x, ints, x, 4)).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentException>(() => device.Launch(K.Add, Int3.Size(1), Int3.Size(4), x, x, x, 4L)).ParamName);
        Assert.Contains("lives on emulator", Assert.Throws<ArgumentException>(() => device.Launch(K.Add, Int3.Size(1), Int3.Size(4), elsewhere, x, x, 4)).Message);
        Assert.Contains("takes 4 arguments", Assert.Throws<ArgumentException>(() => device.Launch(K.Add, Int3.Size(1), Int3.Size(4), x, x)).Message);
    }

    [Fact]
    public void The_cpu_device_says_it_runs_managed_ops_not_kernels()
    {
        using Device cpu = Devices.Open("cpu").Device;
        using DeviceBuffer<float> x = cpu.Upload<float>([1f, 2f]);

        var error = Assert.Throws<KernelLaunchException>(() => cpu.Launch(K.Add, Int3.Size(1), Int3.Size(2), x, x, x, 2));
        Assert.Contains("--device emulator", error.Message);
        Assert.Equal([1f, 2f], x.ToArray());
    }

    [Fact]
    public void Streams_copy_from_pinned_memory_and_events_time_the_work()
    {
        using Device device = Emulator();
        DeviceStream copies = device.CreateStream();
        using PinnedBuffer<float> pinned = device.AllocatePinned<float>(256);
        for (int i = 0; i < pinned.Length; i++)
        {
            pinned.Span[i] = i;
        }

        using DeviceBuffer<float> x = device.Allocate<float>(256);
        using DeviceBuffer<float> y = device.Allocate<float>(256);
        x.UploadAsync(pinned, copies);
        using DeviceEvent uploaded = copies.RecordEvent();
        device.DefaultStream.WaitFor(uploaded);
        using DeviceEvent start = device.DefaultStream.RecordEvent();
        device.Launch(K.Gelu, Int3.Size(4), Int3.Size(64), x, y, 256);
        using DeviceEvent end = device.DefaultStream.RecordEvent();
        end.Synchronize();
        y.DownloadAsync(pinned, copies);
        copies.Synchronize();

        Assert.True(end.IsComplete);
        Assert.True(end.ElapsedMillisecondsSince(start) > 0);
        Assert.Equal(KernelMath.Erf(1f / MathF.Sqrt(2f)) * 0.5f + 0.5f, pinned.Span[1], 5);
    }

    [Fact]
    public void A_thousand_allocate_launch_dispose_cycles_leave_memory_where_it_started()
    {
        using Device device = Emulator();
        long start = device.Memory.BytesInUse;
        float[] values = [1f, 2f, 3f, 4f];
        for (int cycle = 0; cycle < 1000; cycle++)
        {
            using DeviceBuffer<float> a = device.Upload<float>(values);
            using DeviceBuffer<float> c = device.Allocate<float>(4);
            device.Launch(K.Add, Int3.Size(1), Int3.Size(4), a, a, c, 4);
            Assert.Equal(8f, c.ToArray()[3]);
        }

        Assert.Equal(start, device.Memory.BytesInUse);
        Assert.Equal(0, device.Memory.Buffers);
    }
}
