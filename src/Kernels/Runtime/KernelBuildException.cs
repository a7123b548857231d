namespace GpuViT.Kernels.Runtime;

/// <summary>
/// A device compiler (the OpenCL driver's or NVRTC) rejected a generated kernel source. The message
/// carries the whole compiler log, since the first error alone rarely says which construct caused it.
/// </summary>
public sealed class KernelBuildException(string kernelName, KernelDialect dialect, string log)
    : Exception($"building kernel '{kernelName}' for {DialectName(dialect)} failed:\n{log}")
{
    public string KernelName { get; } = kernelName;

    public KernelDialect Dialect { get; } = dialect;

    /// <summary>The compiler's build log, unabridged.</summary>
    public string Log { get; } = log;

    /// <summary>The backend's spelling, as in <c>opencl</c> and <c>cuda</c>.</summary>
    private static string DialectName(KernelDialect dialect) => dialect switch
    {
        KernelDialect.OpenCL => "opencl",
        KernelDialect.Cuda => "cuda",
        _ => dialect.ToString().ToLowerInvariant(),
    };
}
