using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cuda;

/// <summary>
/// NVRTC, the CUDA run-time compiler (CUDA C → PTX/cubin, no GPU needed). Only the entry points the
/// runtime uses. Program handles are plain <see cref="nint"/>; <see cref="Nvrtc"/> destroys them.
/// </summary>
/// <remarks>
/// The library is imported under a name no file has, so the loader's own probing finds nothing
/// and <see cref="ResolveLibrary"/> chooses, in its order, and records which library it loaded:
/// the runtime sonames newest first (<see cref="Sonames"/>: CUDA 13, 12, every CUDA 11.x from 11.2
/// including Debian's libnvrtc11.2 package, then the toolkit's unversioned development link),
/// then any libnvrtc.so.* in CUDA's usual library directories, newest first.
/// </remarks>
internal static unsafe partial class NvrtcNative
{
    public const string Library = "gpuvit-nvrtc";

    /// <summary>Names tried on the loader's path, newest first.</summary>
    public static readonly IReadOnlyList<string> Sonames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];

    /// <summary>The library that loaded: a soname, or a path from a CUDA directory; null before the first call or when none loads.</summary>
    public static string? Loaded { get; private set; }

    // nvrtcResult values the runtime branches on.
    public const int NVRTC_SUCCESS = 0;
    public const int NVRTC_ERROR_COMPILATION = 6;

    static NvrtcNative()
    {
        // The event (not SetDllImportResolver, of which an assembly may have only one) leaves the
        // other native bindings of this assembly free to resolve their libraries their own way.
        Assembly assembly = typeof(NvrtcNative).Assembly;
        (AssemblyLoadContext.GetLoadContext(assembly) ?? AssemblyLoadContext.Default).ResolvingUnmanagedDll += ResolveLibrary;
    }

    [LibraryImport(Library)]
    public static partial int nvrtcVersion(int* major, int* minor);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int nvrtcCreateProgram(
        nint* program, string source, string name, int headerCount, byte** headers, byte** includeNames);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int nvrtcCompileProgram(nint program, int optionCount, string[] options);

    [LibraryImport(Library)]
    public static partial int nvrtcGetProgramLogSize(nint program, nuint* size);

    [LibraryImport(Library)]
    public static partial int nvrtcGetProgramLog(nint program, byte* log);

    [LibraryImport(Library)]
    public static partial int nvrtcGetCUBINSize(nint program, nuint* size);

    [LibraryImport(Library)]
    public static partial int nvrtcGetCUBIN(nint program, byte* cubin);

    [LibraryImport(Library)]
    public static partial int nvrtcGetPTXSize(nint program, nuint* size);

    [LibraryImport(Library)]
    public static partial int nvrtcGetPTX(nint program, byte* ptx);

    [LibraryImport(Library)]
    public static partial int nvrtcDestroyProgram(nint* program);

    /// <summary>How many real architectures (sm_XY) this NVRTC compiles for; since CUDA 11.2.</summary>
    [LibraryImport(Library)]
    public static partial int nvrtcGetNumSupportedArchs(int* count);

    /// <summary>Those architectures as numbers, ascending: 35, 37, 50, ..., 90.</summary>
    [LibraryImport(Library)]
    public static partial int nvrtcGetSupportedArchs(int* architectures);

    /// <summary>Returns a static string owned by NVRTC, hence a pointer rather than a marshalled string (which would be freed).</summary>
    [LibraryImport(Library)]
    public static partial byte* nvrtcGetErrorString(int result);

    /// <summary>The nvrtcResult's name, e.g. NVRTC_ERROR_COMPILATION.</summary>
    public static string ErrorString(int result) => Marshal.PtrToStringUTF8((nint)nvrtcGetErrorString(result)) ?? $"nvrtcResult {result}";

    /// <summary>
    /// Where a CUDA toolkit puts its libraries when they are not on the loader's path:
    /// $CUDA_HOME and $CUDA_PATH, /usr/local/cuda, and the directories of LD_LIBRARY_PATH (for
    /// versions newer than <see cref="Sonames"/> knows).
    /// </summary>
    public static IEnumerable<string> CudaDirectories()
    {
        foreach (string variable in new[] { "CUDA_HOME", "CUDA_PATH" })
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } home)
            {
                yield return Path.Combine(home, "lib64");
                yield return Path.Combine(home, "targets", TargetDirectory, "lib");
            }
        }

        yield return "/usr/local/cuda/lib64";
        yield return $"/usr/local/cuda/targets/{TargetDirectory}/lib";
        foreach (string directory in (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            yield return directory;
        }
    }

    /// <summary>
    /// The libraries to try, in order: <see cref="Sonames"/> by name, then in each directory its
    /// libnvrtc.so.* (newest version first) and libnvrtc.so, as paths. Only names, no loading; a
    /// directory is listed only once every name before it has been taken, so a soname that loads
    /// lists none.
    /// </summary>
    public static IEnumerable<string> Candidates(IEnumerable<string> directories, Func<string, IEnumerable<string>> filesIn) =>
        Sonames.Concat(directories.Distinct().SelectMany(directory => filesIn(directory)
                .Select(Path.GetFileName)
                .OfType<string>()
                .Select(name => (Name: name, Version: SonameVersion(name)))
                .Where(file => file.Version is not null)
                .OrderByDescending(file => file.Version!, VersionOrder.Instance)
                .Select(file => Path.Combine(directory, file.Name))))
            .Distinct();

    /// <summary>The version numbers of libnvrtc.so.13.0.48 (13, 0, 48); empty for libnvrtc.so; null for any other name.</summary>
    internal static int[]? SonameVersion(string fileName)
    {
        const string Stem = "libnvrtc.so";
        if (!fileName.StartsWith(Stem, StringComparison.Ordinal))
        {
            return null;
        }

        string rest = fileName[Stem.Length..];
        if (rest.Length == 0)
        {
            return [];
        }

        if (rest[0] != '.')
        {
            return null;
        }

        string[] parts = rest[1..].Split('.');
        var version = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length == 0 || !parts[i].All(char.IsAsciiDigit) || !int.TryParse(parts[i], out version[i]))
            {
                return null;
            }
        }

        return version;
    }

    private static string TargetDirectory =>
        RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "sbsa-linux" : "x86_64-linux";

    private static IEnumerable<string> FilesIn(string directory)
    {
        try
        {
            return Directory.Exists(directory) ? Directory.EnumerateFiles(directory, "libnvrtc.so*").ToArray() : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static nint ResolveLibrary(Assembly assembly, string libraryName)
    {
        if (libraryName != Library)
        {
            return 0;
        }

        foreach (string candidate in Candidates(CudaDirectories(), FilesIn))
        {
            if (NativeLibrary.TryLoad(candidate, out nint handle))
            {
                Loaded = candidate;
                return handle;
            }
        }

        return 0;
    }

    /// <summary>Newer first once reversed: by each number in turn; 12.4 is newer than 12, which is newer than the unversioned name.</summary>
    private sealed class VersionOrder : IComparer<int[]>
    {
        public static readonly VersionOrder Instance = new();

        public int Compare(int[]? x, int[]? y)
        {
            x ??= [];
            y ??= [];
            for (int i = 0; i < Math.Min(x.Length, y.Length); i++)
            {
                if (x[i] != y[i])
                {
                    return x[i].CompareTo(y[i]);
                }
            }

            return x.Length.CompareTo(y.Length);
        }
    }
}
