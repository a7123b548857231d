namespace GpuViT.Kernels.Ops;

/// <summary>
/// The arithmetic a model's GEMMs and attention run in. Accumulation is fp32 in every precision,
/// and so are LayerNorm, softmax statistics, GELU and the activations between ops; only the
/// products' inputs are narrowed. The cpu backend computes in <see cref="Fp32"/> only.
/// </summary>
public enum Precision
{
    /// <summary>IEEE fp32 products and sums: PyTorch's and ONNX Runtime's default, the fixtures' bound 6e-5.</summary>
    Fp32,

    /// <summary>Products of inputs rounded to TF32 (10 mantissa bits) on tensor cores; weights stay fp32 in memory.</summary>
    Tf32,

    /// <summary>Products of bfloat16 inputs on tensor cores; the weights are converted to bfloat16 once, at load (half the bytes).</summary>
    Bf16,

    /// <summary>Products of IEEE half inputs on tensor cores; the weights are converted to half once, at load.</summary>
    Fp16,
}

/// <summary>The command-line names of <see cref="Precision"/>: fp32, tf32, bf16, fp16.</summary>
public static class PrecisionNames
{
    public static readonly IReadOnlyList<string> All = ["fp32", "tf32", "bf16", "fp16"];

    public static string Name(this Precision precision) => All[(int)precision];

    /// <summary>The precision named <paramref name="name"/> (one of <see cref="All"/>), or null.</summary>
    public static Precision? Parse(string name)
    {
        int index = All.ToList().IndexOf(name);
        return index < 0 ? null : (Precision)index;
    }
}
