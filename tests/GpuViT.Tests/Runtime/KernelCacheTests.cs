using GpuViT.Kernels;
using GpuViT.Kernels.Runtime;
using Xunit;
using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Runtime;

/// <summary>The on-disk cache of compiled kernels: keys, entries, and that nothing half-written survives.</summary>
public sealed class KernelCacheTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "gpuvit-cache-" + Guid.NewGuid().ToString("N"));

    private static readonly DeviceInfo Device = new(
        "opencl:0.0", DeviceKind.OpenCL, "Some device", "driver 1", false, 1 << 30, 1 << 28, 2, 256,
        new Int3(256, 256, 256), new Int3(int.MaxValue, int.MaxValue, int.MaxValue), 32768, DevicePeaks.Unknown);

    [Fact]
    public void Key_depends_on_source_dialect_device_driver_and_options()
    {
        string key = KernelCache.Key(K.Add, KernelDialect.OpenCL, Device, "-cl-std=CL1.2");

        Assert.Equal(64, key.Length);
        Assert.Equal(key, KernelCache.Key(K.Add, KernelDialect.OpenCL, Device, "-cl-std=CL1.2"));
        Assert.NotEqual(key, KernelCache.Key(K.Gelu, KernelDialect.OpenCL, Device, "-cl-std=CL1.2"));
        Assert.NotEqual(key, KernelCache.Key(K.Add, KernelDialect.Cuda, Device, "-cl-std=CL1.2"));
        Assert.NotEqual(key, KernelCache.Key(K.Add, KernelDialect.OpenCL, Device with { Driver = "driver 2" }, "-cl-std=CL1.2"));
        Assert.NotEqual(key, KernelCache.Key(K.Add, KernelDialect.OpenCL, Device with { Name = "Other" }, "-cl-std=CL1.2"));
        Assert.NotEqual(key, KernelCache.Key(K.Add, KernelDialect.OpenCL, Device, "-cl-std=CL2.0"));
    }

    [Fact]
    public void Stored_entries_load_and_evicted_ones_do_not()
    {
        var cache = new KernelCache(_directory);
        string key = KernelCache.Key(K.Add, KernelDialect.OpenCL, Device, "");

        Assert.False(cache.TryLoad("Add", key, out _));
        cache.Store("Add", key, [1, 2, 3]);
        Assert.True(cache.TryLoad("Add", key, out byte[] binary));
        Assert.Equal([1, 2, 3], binary);
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp"));

        cache.Evict("Add", key);
        Assert.False(cache.TryLoad("Add", key, out _));
        Assert.Equal(1, cache.Hits);
        Assert.Equal(2, cache.Misses);
        Assert.Equal(1, cache.Stores);
    }

    [Fact]
    public void A_cache_without_a_directory_is_off()
    {
        var cache = new KernelCache(null);
        cache.Store("Add", "k", [1]);

        Assert.False(cache.Enabled);
        Assert.False(cache.TryLoad("Add", "k", out _));
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
