namespace GpuViT.Kernels.Library;

/// <summary>The activation a GEMM applies before adding its residual; the GEMM kernels take its value as an int (<see cref="Gemm.ActivationGelu"/>, ...).</summary>
public enum Activation
{
    None = 0,

    /// <summary>Exact GELU, x·Φ(x) with erf (PyTorch's default).</summary>
    Gelu = 1,

    /// <summary>GELU with the tanh approximation (PyTorch's approximate="tanh").</summary>
    GeluTanh = 2,
}

/// <summary>GELU, exact and tanh-approximated: one thread per element, 1D launch over n.</summary>
public static class Activations
{
    private const float InverseSqrt2 = 0.70710678118654752f;
    private const float Sqrt2OverPi = 0.79788456080286536f;

    /// <summary>y[i] = GELU(x[i]) = x·Φ(x), with the exact normal CDF (erf), as PyTorch's default.</summary>
    [Kernel]
    public static void Gelu(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y, int n)
    {
        int i = thread.Global.X;
        if (i < n)
        {
            y[i] = GeluExact(x[i]);
        }
    }

    /// <summary>y[i] = GELU(x[i]) with the tanh approximation (PyTorch's approximate="tanh").</summary>
    [Kernel]
    public static void GeluTanh(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y, int n)
    {
        int i = thread.Global.X;
        if (i < n)
        {
            y[i] = GeluTanhApproximation(x[i]);
        }
    }

    /// <summary>0.5·x·(1 + erf(x/√2)).</summary>
    [DeviceFunction]
    public static float GeluExact(float x) => 0.5f * x * (1f + KernelMath.Erf(x * InverseSqrt2));

    /// <summary>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    [DeviceFunction]
    public static float GeluTanhApproximation(float x)
    {
        float inner = Sqrt2OverPi * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1f + KernelMath.Tanh(inner));
    }
}
