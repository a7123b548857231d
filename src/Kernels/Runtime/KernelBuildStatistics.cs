namespace GpuViT.Kernels.Runtime;

/// <summary>
/// How a device got its kernels since it was opened: compiled from source, or loaded from the
/// <see cref="KernelCache"/>. A warm cache shows as every kernel loaded and none compiled.
/// </summary>
/// <param name="CompiledFromSource">Kernels the device's compiler built from the generated source.</param>
/// <param name="LoadedFromCache">Kernels loaded from a cached binary.</param>
/// <param name="RejectedCacheEntries">Cached binaries the driver refused; each was evicted and its kernel compiled from source.</param>
public readonly record struct KernelBuildStatistics(int CompiledFromSource, int LoadedFromCache, int RejectedCacheEntries);
