using System.Text;
using System.Text.RegularExpressions;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Cuda.NvrtcNative;

namespace GpuViT.Kernels.Cuda;

/// <summary>NVRTC is not installed; the message says how to install it.</summary>
public sealed class NvrtcUnavailableException(string message) : Exception(message);

/// <summary>
/// Compiles generated CUDA C with NVRTC. Needs no GPU: the result is a cubin (machine code for one
/// architecture) or PTX (for the driver to finish), which the cuda backend loads.
/// </summary>
public static unsafe partial class Nvrtc
{
    private static readonly Lazy<(int Major, int Minor)?> s_version = new(ProbeVersion);
    private static readonly Lazy<IReadOnlyList<int>> s_architectures = new(ProbeArchitectures);

    /// <summary>Whether the NVRTC library loads.</summary>
    public static bool IsAvailable => s_version.Value is not null;

    /// <summary>NVRTC's version, e.g. (11, 8).</summary>
    /// <exception cref="NvrtcUnavailableException">NVRTC is not installed.</exception>
    public static (int Major, int Minor) Version => s_version.Value ?? throw Unavailable();

    /// <summary>The NVRTC library that loaded (a soname such as libnvrtc.so.11.2, or a path), or null when none did.</summary>
    internal static string? Library => IsAvailable ? Loaded : null;

    /// <summary>One line for `gpuvit devices`: "NVRTC 11.8 (libnvrtc.so.11.2)", or that none was found and where it was looked for.</summary>
    public static string Description => IsAvailable
        ? $"NVRTC {Version.Major}.{Version.Minor} ({Loaded})"
        : $"NVRTC: not found ({Searched})";

    /// <summary>
    /// The real architectures this NVRTC makes cubins for, as numbers in ascending order (80 is
    /// sm_80); NVRTC 11.8 knows 35 to 90. A GPU newer than the last one gets PTX instead.
    /// </summary>
    /// <exception cref="NvrtcUnavailableException">NVRTC is not installed.</exception>
    public static IReadOnlyList<int> SupportedArchitectures => IsAvailable ? s_architectures.Value : throw Unavailable();

    /// <summary>Compiles the kernel's CUDA source to a cubin for <paramref name="architecture"/>, e.g. "sm_80".</summary>
    /// <exception cref="KernelBuildException">NVRTC rejected the source or the options; the message has its log.</exception>
    /// <exception cref="NvrtcUnavailableException">NVRTC is not installed.</exception>
    public static byte[] CompileToCubin(KernelDescriptor kernel, string architecture)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        CheckArchitecture(architecture, RealArchitecture(), "a real architecture such as sm_80");
        return Compile(kernel, architecture, &nvrtcGetCUBINSize, &nvrtcGetCUBIN);
    }

    /// <summary>
    /// Compiles the kernel's CUDA source to PTX for the virtual architecture of <paramref name="architecture"/>
    /// ("sm_80" and "compute_80" both mean compute_80), which any later GPU's driver can finish compiling.
    /// </summary>
    /// <exception cref="KernelBuildException">NVRTC rejected the source or the options; the message has its log.</exception>
    /// <exception cref="NvrtcUnavailableException">NVRTC is not installed.</exception>
    public static string CompileToPtx(KernelDescriptor kernel, string architecture)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        CheckArchitecture(architecture, AnyArchitecture(), "an architecture such as sm_80 or compute_80");
        string virtualArchitecture = "compute_" + architecture[(architecture.IndexOf('_') + 1)..];
        return DecodeString(Compile(kernel, virtualArchitecture, &nvrtcGetPTXSize, &nvrtcGetPTX));
    }

    /// <summary>Compiles the kernel and reads one of its outputs (the cubin, the PTX): its size, then its bytes.</summary>
    private static byte[] Compile(
        KernelDescriptor kernel, string architecture, delegate*<nint, nuint*, int> outputSize, delegate*<nint, byte*, int> output)
    {
        if (!IsAvailable)
        {
            throw Unavailable();
        }

        nint program;
        // The name shows in the log's error lines ("VectorAdd.cu(3): error: ..."), so it says which kernel failed.
        Check(nvrtcCreateProgram(&program, kernel.CudaSource, kernel.Name + ".cu", 0, null, null), kernel);
        try
        {
            // The C++ dialect is pinned so a generated source means the same under every NVRTC version.
            string[] options = [$"--gpu-architecture={architecture}", "--std=c++14"];
            int result = nvrtcCompileProgram(program, options.Length, options);
            if (result != NVRTC_SUCCESS)
            {
                string log = ProgramLog(program);
                // A rejected source is the common case; other results (bad options, missing builtins) lead the log.
                throw new KernelBuildException(
                    kernel.Name, KernelDialect.Cuda, result == NVRTC_ERROR_COMPILATION ? log : $"{ErrorString(result)}\n{log}");
            }

            nuint size;
            Check(outputSize(program, &size), kernel);
            byte[] bytes = new byte[(int)size];
            fixed (byte* data = bytes)
            {
                Check(output(program, data), kernel);
            }

            return bytes;
        }
        finally
        {
            nvrtcDestroyProgram(&program);
        }
    }

    private static string ProgramLog(nint program)
    {
        nuint size;
        if (nvrtcGetProgramLogSize(program, &size) != NVRTC_SUCCESS)
        {
            return "(no compiler log)";
        }

        byte[] log = new byte[(int)size];
        fixed (byte* text = log)
        {
            if (nvrtcGetProgramLog(program, text) != NVRTC_SUCCESS)
            {
                return "(no compiler log)";
            }
        }

        return DecodeString(log).TrimEnd();
    }

    private static (int Major, int Minor)? ProbeVersion()
    {
        try
        {
            int major, minor;
            return nvrtcVersion(&major, &minor) == NVRTC_SUCCESS ? (major, minor) : null;
        }
        catch (DllNotFoundException)
        {
            return null;
        }
    }

    private static IReadOnlyList<int> ProbeArchitectures()
    {
        int count;
        if (nvrtcGetNumSupportedArchs(&count) != NVRTC_SUCCESS || count <= 0)
        {
            return [];
        }

        int[] architectures = new int[count];
        fixed (int* values = architectures)
        {
            if (nvrtcGetSupportedArchs(values) != NVRTC_SUCCESS)
            {
                return [];
            }
        }

        Array.Sort(architectures);
        return architectures;
    }

    /// <summary>Where NVRTC was looked for, as both not-found messages say it.</summary>
    private static string Searched => $"tried {string.Join(", ", Sonames)} and CUDA's library directories";

    private static NvrtcUnavailableException Unavailable() => new(
        $"NVRTC not found ({Searched}); " +
        "on Debian: add 'contrib non-free' to the bookworm apt source, then apt-get install libnvrtc11.2");

    private static void CheckArchitecture(string architecture, Regex pattern, string expected)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        if (!pattern.IsMatch(architecture))
        {
            throw new ArgumentException($"'{architecture}' is not {expected}", nameof(architecture));
        }
    }

    private static void Check(int result, KernelDescriptor kernel)
    {
        if (result != NVRTC_SUCCESS)
        {
            throw new KernelBuildException(kernel.Name, KernelDialect.Cuda, ErrorString(result));
        }
    }

    private static string DecodeString(byte[] value)
    {
        int end = Array.IndexOf(value, (byte)0);
        return Encoding.UTF8.GetString(value, 0, end < 0 ? value.Length : end);
    }

    // sm_80, sm_90a: machine code for one GPU generation.
    [GeneratedRegex(@"^sm_[0-9]+[a-z]?$")]
    private static partial Regex RealArchitecture();

    [GeneratedRegex(@"^(sm|compute)_[0-9]+[a-z]?$")]
    private static partial Regex AnyArchitecture();
}
