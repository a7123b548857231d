namespace GpuViT.Kernels.Cpu;

/// <summary>The activation a fused epilogue applies before the residual add.</summary>
public enum Activation
{
    None,

    /// <summary>GELU with the exact normal CDF: 0.5·x·(1 + erf(x/√2)), PyTorch's default.</summary>
    Gelu,

    /// <summary>GELU with the tanh approximation, PyTorch's approximate="tanh".</summary>
    GeluTanh,
}
