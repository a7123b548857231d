using System.Security.Cryptography;
using System.Text;

namespace GpuViT.Kernels.Runtime;

/// <summary>
/// Compiled kernels on disk (OpenCL program binaries, CUDA cubins), keyed by a hash of the
/// source, the dialect, the device, its driver version and the build options, so a second run
/// starts without compiling and any change rebuilds.
/// </summary>
/// <remarks>
/// The directory is <c>$GPUVIT_KERNEL_CACHE</c>, else <c>$XDG_CACHE_HOME/gpuvit/kernels</c>, else
/// <c>~/.cache/gpuvit/kernels</c>; <c>GPUVIT_KERNEL_CACHE=off</c> turns the cache off. Entries are
/// written to a temporary file and renamed, so a crash never leaves half an entry, and a reader
/// that finds an entry its driver rejects deletes it and builds again. Each entry carries a
/// SHA-256 of its binary, checked before the binary reaches a driver: damaged bytes are deleted
/// here as a miss, since some drivers abort the process on them instead of rejecting them (PoCL
/// 3.1 fails an assertion on a truncated program binary).
/// </remarks>
public sealed class KernelCache
{
    /// <summary>Leads every entry: the format, then the SHA-256 of the binary that follows.</summary>
    private static readonly byte[] Magic = "GPUVIT-KERNEL-1\n"u8.ToArray();

    private static readonly int HeaderBytes = Magic.Length + SHA256.HashSizeInBytes;

    private long _hits;
    private long _misses;
    private long _stores;
    private long _damaged;

    /// <param name="directory">Where entries live; null turns the cache off.</param>
    public KernelCache(string? directory) => Directory = directory;

    /// <summary>The cache the command line and the tests use unless told otherwise.</summary>
    public static KernelCache Default { get; } = new(DefaultDirectory());

    public string? Directory { get; }

    public bool Enabled => Directory is not null;

    /// <summary>Entries found (since this cache object was made).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Entries looked for and not found.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Entries written.</summary>
    public long Stores => Interlocked.Read(ref _stores);

    /// <summary>Entries whose bytes did not match their checksum: deleted, and counted as misses too.</summary>
    public long Damaged => Interlocked.Read(ref _damaged);

    /// <summary>The key of one compiled kernel: SHA-256 over everything the binary depends on.</summary>
    public static string Key(KernelDescriptor kernel, KernelDialect dialect, DeviceInfo device, string options)
    {
        string material = string.Join("\n", "gpuvit-kernel-cache-v1", dialect, device.Name, device.Driver, options, kernel.Source(dialect));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)));
    }

    /// <summary>
    /// A kernel built for a device the one way every compiling backend does it: its cached binary
    /// if the driver takes it; else (no entry, a damaged one, or one the driver refuses, which is
    /// evicted) built from source, and the binary stored for the next run.
    /// </summary>
    /// <param name="options">The build options, part of the key.</param>
    /// <param name="load">Loads a cached binary; null when the driver refuses it.</param>
    /// <param name="build">Builds from source; throws <see cref="KernelBuildException"/> when that fails.</param>
    /// <param name="binaryOf">The binary of what <paramref name="build"/> made, to store; null when the driver gives none. Not called with the cache off.</param>
    /// <param name="builds">The device's counts: loaded, rejected, compiled.</param>
    internal TModule LoadOrBuild<TModule>(
        KernelDescriptor kernel,
        KernelDialect dialect,
        DeviceInfo device,
        string options,
        Func<byte[], TModule?> load,
        Func<TModule> build,
        Func<TModule, byte[]?> binaryOf,
        KernelBuildCounter builds)
        where TModule : class
    {
        string key = Key(kernel, dialect, device, options);
        if (TryLoad(kernel.Name, key, out byte[] cached))
        {
            if (load(cached) is { } loaded)
            {
                builds.LoadedFromCache();
                return loaded;
            }

            // Intact bytes the driver refuses: written by another driver build that reports the same version.
            Evict(kernel.Name, key);
            builds.RejectedCacheEntry();
        }

        TModule built = build();
        builds.CompiledFromSource();
        if (Enabled && binaryOf(built) is { } binary)
        {
            Store(kernel.Name, key, binary);
        }

        return built;
    }

    internal bool TryLoad(string kernelName, string key, out byte[] binary)
    {
        binary = [];
        if (Directory is null)
        {
            return false;
        }

        string path = PathOf(kernelName, key);
        byte[] entry;
        try
        {
            entry = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _misses);
            return false;
        }

        ReadOnlySpan<byte> payload = entry.AsSpan(Math.Min(HeaderBytes, entry.Length));
        if (entry.Length <= HeaderBytes || !entry.AsSpan(0, Magic.Length).SequenceEqual(Magic)
            || !entry.AsSpan(Magic.Length, SHA256.HashSizeInBytes).SequenceEqual(SHA256.HashData(payload)))
        {
            Interlocked.Increment(ref _damaged);
            Interlocked.Increment(ref _misses);
            TryDelete(path);
            return false;
        }

        binary = payload.ToArray();
        Interlocked.Increment(ref _hits);
        return true;
    }

    /// <summary>Writes an entry; a cache that cannot be written is skipped, never an error.</summary>
    internal void Store(string kernelName, string key, byte[] binary)
    {
        if (Directory is null || binary.Length == 0)
        {
            return;
        }

        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using AtomicFile file = AtomicFile.Create(PathOf(kernelName, key));
            file.Stream.Write(Magic);
            file.Stream.Write(SHA256.HashData(binary));
            file.Stream.Write(binary);
            file.Commit();
            Interlocked.Increment(ref _stores);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache that cannot be written only costs a compile next time.
        }
    }

    /// <summary>Removes an entry the driver rejected.</summary>
    internal void Evict(string kernelName, string key)
    {
        if (Directory is not null)
        {
            TryDelete(PathOf(kernelName, key));
        }
    }

    private string PathOf(string kernelName, string key) => Path.Combine(Directory!, kernelName + "-" + key + ".bin");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static string? DefaultDirectory()
    {
        string? configured = Environment.GetEnvironmentVariable("GPUVIT_KERNEL_CACHE");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured.Equals("off", StringComparison.OrdinalIgnoreCase) ? null : configured;
        }

        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string? root = !string.IsNullOrEmpty(xdg) ? xdg : string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cache");
        return root is null ? null : Path.Combine(root, "gpuvit", "kernels");
    }
}
