namespace GpuViT.Kernels.Runtime;

/// <summary>
/// How a device got its kernels since it was opened: compiled from source, or loaded from the
/// <see cref="KernelCache"/>. A warm cache shows as every kernel loaded and none compiled.
/// </summary>
/// <param name="CompiledFromSource">Kernels the device's compiler built from the generated source.</param>
/// <param name="LoadedFromCache">Kernels loaded from a cached binary.</param>
/// <param name="RejectedCacheEntries">Cached binaries the driver refused; each was evicted and its kernel compiled from source.</param>
public readonly record struct KernelBuildStatistics(int CompiledFromSource, int LoadedFromCache, int RejectedCacheEntries);

/// <summary>One device's running <see cref="KernelBuildStatistics"/>, counted by <see cref="KernelCache.LoadOrBuild"/> from any thread.</summary>
internal sealed class KernelBuildCounter
{
    private int _compiledFromSource;
    private int _loadedFromCache;
    private int _rejectedCacheEntries;

    public KernelBuildStatistics Statistics =>
        new(Volatile.Read(ref _compiledFromSource), Volatile.Read(ref _loadedFromCache), Volatile.Read(ref _rejectedCacheEntries));

    public void CompiledFromSource() => Interlocked.Increment(ref _compiledFromSource);

    public void LoadedFromCache() => Interlocked.Increment(ref _loadedFromCache);

    public void RejectedCacheEntry() => Interlocked.Increment(ref _rejectedCacheEntries);
}
