namespace GpuViT.Kernels.Cpu;

/// <summary>The activation a GEMM applies before adding its residual.</summary>
public enum Activation
{
    None,

    /// <summary>Exact GELU, x·Φ(x) with erf (PyTorch's default).</summary>
    Gelu,

    /// <summary>GELU with the tanh approximation (PyTorch's approximate="tanh").</summary>
    GeluTanh,
}
