using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace GpuViT.Kernels.Runtime.Cuda;

/// <summary>
/// NVRTC, the CUDA run-time compiler (CUDA C → PTX/cubin, no GPU needed). Only the entry points the
/// runtime uses. Program handles are plain <see cref="nint"/>; <see cref="Nvrtc"/> destroys them.
/// </summary>
/// <remarks>
/// The library is imported as "nvrtc". The loader's own probing finds libnvrtc.so, the unversioned
/// link a CUDA toolkit installs for its own version; when there is none, <see cref="ResolveLibrary"/>
/// tries the runtime sonames, newest first: libnvrtc.so.12 (CUDA 12), then libnvrtc.so.11.2
/// (every CUDA 11.x, including Debian's libnvrtc11.2 package).
/// </remarks>
internal static unsafe partial class NvrtcNative
{
    public const string Library = "nvrtc";

    /// <summary>Runtime sonames tried after the loader's default probing fails.</summary>
    public static readonly IReadOnlyList<string> Sonames = ["libnvrtc.so.12", "libnvrtc.so.11.2"];

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

    private static nint ResolveLibrary(Assembly assembly, string libraryName)
    {
        if (libraryName != Library)
        {
            return 0;
        }

        foreach (string soname in Sonames)
        {
            if (NativeLibrary.TryLoad(soname, out nint handle))
            {
                return handle;
            }
        }

        return 0;
    }
}
