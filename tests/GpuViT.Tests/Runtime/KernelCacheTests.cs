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

    [Fact]
    public void LoadOrBuild_builds_and_stores_once_then_loads_what_it_stored()
    {
        var cache = new KernelCache(_directory);
        var driver = new FakeDriver();
        var first = new KernelBuildCounter();
        var second = new KernelBuildCounter();

        FakeModule built = driver.LoadOrBuild(cache, first);
        FakeModule loaded = driver.LoadOrBuild(cache, second);

        Assert.Equal(new KernelBuildStatistics(1, 0, 0), first.Statistics);
        Assert.Equal(new KernelBuildStatistics(0, 1, 0), second.Statistics);
        Assert.Equal(1, driver.Builds);
        Assert.Equal("built", built.Origin);
        Assert.Equal("loaded", loaded.Origin);
        Assert.Equal(built.Binary, loaded.Binary);
        Assert.Equal(1, cache.Stores);
    }

    [Fact]
    public void LoadOrBuild_evicts_an_entry_the_driver_rejects_and_stores_the_rebuilt_binary()
    {
        var cache = new KernelCache(_directory);
        new FakeDriver().LoadOrBuild(cache, new KernelBuildCounter());
        var rejecting = new FakeDriver { Rejects = true, Binary = [9, 9] };
        var builds = new KernelBuildCounter();

        FakeModule rebuilt = rejecting.LoadOrBuild(cache, builds);

        Assert.Equal(new KernelBuildStatistics(1, 0, 1), builds.Statistics);
        Assert.Equal("built", rebuilt.Origin);
        Assert.True(cache.TryLoad("Add", FakeDriver.Key, out byte[] stored));
        Assert.Equal([9, 9], stored);
    }

    [Fact]
    public void LoadOrBuild_rebuilds_over_a_damaged_entry_without_handing_it_to_the_driver()
    {
        var cache = new KernelCache(_directory);
        var driver = new FakeDriver();
        driver.LoadOrBuild(cache, new KernelBuildCounter());
        string entry = Assert.Single(Directory.GetFiles(_directory));
        File.WriteAllBytes(entry, File.ReadAllBytes(entry)[..^1]);
        var builds = new KernelBuildCounter();

        FakeModule rebuilt = driver.LoadOrBuild(cache, builds);

        Assert.Equal(0, driver.Loads);
        Assert.Equal("built", rebuilt.Origin);
        Assert.Equal(new KernelBuildStatistics(1, 0, 0), builds.Statistics);
        Assert.Equal(1, cache.Damaged);
        Assert.Equal(2, cache.Stores);
    }

    [Fact]
    public void LoadOrBuild_with_the_cache_off_builds_every_time_and_asks_for_no_binary()
    {
        var cache = new KernelCache(null);
        var driver = new FakeDriver();
        var builds = new KernelBuildCounter();

        driver.LoadOrBuild(cache, builds);
        driver.LoadOrBuild(cache, builds);

        Assert.Equal(new KernelBuildStatistics(2, 0, 0), builds.Statistics);
        Assert.Equal(0, driver.BinariesTaken);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private sealed record FakeModule(string Origin, byte[] Binary);

    /// <summary>A driver that builds Add to <see cref="Binary"/>, and loads any binary unless it <see cref="Rejects"/> them.</summary>
    private sealed class FakeDriver
    {
        public static readonly string Key = KernelCache.Key(K.Add, KernelDialect.OpenCL, Device, "options");

        public bool Rejects { get; init; }

        public byte[] Binary { get; init; } = [1, 2, 3];

        public int Builds { get; private set; }

        public int Loads { get; private set; }

        public int BinariesTaken { get; private set; }

        public FakeModule LoadOrBuild(KernelCache cache, KernelBuildCounter builds) => cache.LoadOrBuild(
            K.Add,
            KernelDialect.OpenCL,
            Device,
            "options",
            load: binary =>
            {
                Loads++;
                return Rejects ? null : new FakeModule("loaded", binary);
            },
            build: () =>
            {
                Builds++;
                return new FakeModule("built", Binary);
            },
            binaryOf: module =>
            {
                BinariesTaken++;
                return module.Binary;
            },
            builds: builds);
    }
}
