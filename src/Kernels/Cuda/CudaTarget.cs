using System.Text;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cuda;

/// <summary>
/// What NVRTC builds for one GPU: a cubin for the GPU's own architecture when this NVRTC knows it;
/// otherwise PTX for the newest architecture it knows that is not newer than the GPU, which the
/// driver compiles to machine code when the module loads (PTX runs on its architecture and every
/// later one, cubins only on their own generation).
/// </summary>
/// <param name="Architecture">"sm_80" for a cubin, "compute_90" for PTX.</param>
/// <param name="IsPtx">PTX text for the driver's JIT rather than a cubin.</param>
internal sealed record CudaTarget(string Architecture, bool IsPtx)
{
    /// <summary>
    /// The target for a GPU of compute capability <paramref name="major"/>.<paramref name="minor"/>,
    /// given the real architectures NVRTC compiles for (<see cref="Nvrtc.SupportedArchitectures"/>);
    /// null when the GPU is older than all of them.
    /// </summary>
    public static CudaTarget? For(int major, int minor, IReadOnlyList<int> nvrtcArchitectures)
    {
        ArgumentNullException.ThrowIfNull(nvrtcArchitectures);
        int capability = major * 10 + minor;
        if (nvrtcArchitectures.Contains(capability))
        {
            return new CudaTarget($"sm_{capability}", IsPtx: false);
        }

        int newestRunnable = nvrtcArchitectures.Where(a => a <= capability).DefaultIfEmpty(0).Max();
        return newestRunnable == 0 ? null : new CudaTarget($"compute_{newestRunnable}", IsPtx: true);
    }

    /// <summary>
    /// Everything besides the source and the device (both already in the cache key) that the
    /// image depends on: the architecture, the kind of image and the compiler's version.
    /// </summary>
    public string CacheOptions
    {
        get
        {
            (int major, int minor) = Nvrtc.Version;
            return $"{Architecture} {(IsPtx ? "ptx" : "cubin")} nvrtc {major}.{minor}";
        }
    }

    /// <summary>The image cuModuleLoadData takes: the cubin, or the PTX text with its closing NUL.</summary>
    /// <exception cref="KernelBuildException">NVRTC rejected the source; the message has its log.</exception>
    /// <exception cref="NvrtcUnavailableException">NVRTC is not installed.</exception>
    public byte[] Compile(KernelDescriptor kernel) =>
        IsPtx ? Encoding.UTF8.GetBytes(Nvrtc.CompileToPtx(kernel, Architecture) + "\0") : Nvrtc.CompileToCubin(kernel, Architecture);

    public override string ToString() => IsPtx ? $"PTX for {Architecture}" : $"cubin for {Architecture}";
}
