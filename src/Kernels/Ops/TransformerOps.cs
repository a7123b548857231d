using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>Which GEMM schedule a kernel backend runs (the cpu backend has its own).</summary>
public enum GemmVersion
{
    /// <summary>One dot product per output: every weight fetched from memory once per output row.</summary>
    Naive,

    /// <summary>Tiles of X and W staged in group-shared memory, each weight reused by a tile of rows.</summary>
    Tiled,

    /// <summary>Shared-memory tiles, and each thread computes a micro-tile held in registers.</summary>
    RegisterBlocked,
}

/// <summary>How a ViT turns its tokens into one vector per image.</summary>
public enum PoolMode
{
    /// <summary>Row 0 of each image: the class token.</summary>
    ClassToken,

    /// <summary>The mean of the rows after the prefix (the class token, if any).</summary>
    Mean,
}

/// <summary>
/// The ops a ViT runs, on one device (docs/ops.md gives the shapes and the maths). Work is
/// queued on the given stream, or the device's default stream. Buffers are float32 views of
/// the same device.
/// </summary>
public interface ITransformerOps
{
    Device Device { get; }

    /// <summary>Y[m,n] = act(X[m,k]·W[n,k]ᵀ + bias[n]) + residual[m,n]; bias and residual optional.</summary>
    void Gemm(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation = Activation.None, DeviceStream? stream = null);

    /// <summary>
    /// W [n, k] from host memory, made once into the form this device's <see cref="Gemm(DeviceView{float}, PackedWeight, DeviceView{float}?, DeviceView{float}?, DeviceView{float}, int, Activation, DeviceStream?)"/>
    /// reads fastest: the cpu backend packs it into its micro-kernel's panels (what its plain Gemm
    /// does on every call), the kernel backends upload it as is. The caller owns and disposes it.
    /// </summary>
    PackedWeight PackWeight(ReadOnlySpan<float> w, int n, int k);

    /// <summary>Y[m,n] = act(X[m,k]·Wᵀ + bias[n]) + residual[m,n] with W made by this ops' <see cref="PackWeight"/>; the same op as the plain Gemm.</summary>
    void Gemm(
        DeviceView<float> x, PackedWeight w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, Activation activation = Activation.None, DeviceStream? stream = null);

    /// <summary>
    /// Multi-head self-attention over timm's fused qkv [batch, tokens, 3·heads·headSize] into
    /// output [batch, tokens, heads·headSize], scaled by 1/√headSize. Fused: one kernel, online
    /// softmax, no tokens × tokens matrix in memory. Unfused: GEMM, softmax, GEMM.
    /// </summary>
    void Attention(
        DeviceView<float> qkv, DeviceView<float> output, int batch, int tokens, int heads, int headSize,
        bool fused = true, DeviceStream? stream = null);

    /// <summary>Y = (X − mean)/√(var + eps)·γ + β per row of X [rows, cols] (biased variance).</summary>
    void LayerNorm(DeviceView<float> x, DeviceView<float> gamma, DeviceView<float> beta, DeviceView<float> y, int rows, int cols, float eps, DeviceStream? stream = null);

    /// <summary>Numerically stable softmax of each row of X [rows, cols].</summary>
    void Softmax(DeviceView<float> x, DeviceView<float> y, int rows, int cols, DeviceStream? stream = null);

    /// <summary>Y = GELU(X) element-wise, exact (erf) or tanh-approximated.</summary>
    void Gelu(DeviceView<float> x, DeviceView<float> y, int n, Activation activation = Activation.Gelu, DeviceStream? stream = null);

    /// <summary>
    /// tokens[b, prefix + p, :] = W·patch_p(images[b]) + bias for the (imageSize/patchSize)²
    /// patches of images [batch, channels, imageSize, imageSize]; W is the conv weight
    /// [dim, channels, patchSize, patchSize], made by <see cref="PackWeight"/> as the linear
    /// weight [dim, channels·patchSize²] it is. Patches are read straight from the images.
    /// </summary>
    void PatchEmbed(
        DeviceView<float> images, PackedWeight weight, DeviceView<float> bias, DeviceView<float> tokens,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix, DeviceStream? stream = null);

    /// <summary>Row 0 of each image = the class token (when given); every row += positions[row].</summary>
    void ClassTokenAndPositions(
        DeviceView<float> tokens, DeviceView<float>? classToken, DeviceView<float> positions, int batch, int tokenCount, int dim,
        DeviceStream? stream = null);

    /// <summary>c = a + b element-wise (c may be a or b).</summary>
    void Add(DeviceView<float> a, DeviceView<float> b, DeviceView<float> c, int n, DeviceStream? stream = null);

    /// <summary>output[b, :] from tokens [batch, tokenCount, dim]: the class token, or the mean of the rows after prefix.</summary>
    void Pool(DeviceView<float> tokens, DeviceView<float> output, int batch, int tokenCount, int dim, PoolMode mode, int prefix, DeviceStream? stream = null);
}
