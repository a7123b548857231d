using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Ops.OpChecks;

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

    /// <summary>
    /// 128 × 128 blocks of 256 threads, each an 8 × 8 micro-tile; Float4 loads and double-buffered
    /// shared slices (Library/GemmWide.cs). Fewer, bigger groups: the kernel ops choose it when it
    /// fills the device (<see cref="KernelTransformerOps.GemmFor"/>).
    /// </summary>
    RegisterBlocked8x8,

    /// <summary>
    /// Tensor-core MMA with TF32 products and fp32 sums (Library/MmaGemm.cs): fast on CUDA sm_80 and
    /// later; elsewhere the products are computed in software, for testing only.
    /// </summary>
    MmaTf32,

    /// <summary>As <see cref="MmaTf32"/> with BF16 products: X and W rounded to bfloat16.</summary>
    MmaBf16,

    /// <summary>
    /// Production tensor-core GEMM with TF32 products: 128 × 128 or 64 × 64 blocks chosen per shape,
    /// split-K for shapes that leave the device idle; a 3-stage cp.async pipeline
    /// (Library/TensorCoreGemmCpAsync.cs) when k and the views are 16-byte aligned, else the
    /// register-staged double buffering of <see cref="TensorCoreTf32RegisterStaged"/>.
    /// </summary>
    TensorCoreTf32,

    /// <summary>As <see cref="TensorCoreTf32"/> with BF16 products; a packed weight is held in bfloat16 (half the bytes).</summary>
    TensorCoreBf16,

    /// <summary>As <see cref="TensorCoreTf32"/> with FP16 products; a packed weight is held in IEEE half.</summary>
    TensorCoreFp16,

    /// <summary>
    /// <see cref="TensorCoreTf32"/> with register-staged double buffering for every call
    /// (Library/TensorCoreGemm.cs): the kernels before the cp.async pipeline, kept to compare.
    /// </summary>
    TensorCoreTf32RegisterStaged,

    /// <summary>As <see cref="TensorCoreTf32RegisterStaged"/> with BF16 products.</summary>
    TensorCoreBf16RegisterStaged,

    /// <summary>As <see cref="TensorCoreTf32RegisterStaged"/> with FP16 products.</summary>
    TensorCoreFp16RegisterStaged,
}

/// <summary>What each <see cref="GemmVersion"/> computes in, and which one the ops run for a precision.</summary>
public static class GemmVersions
{
    /// <summary>The precision of <paramref name="version"/>'s products.</summary>
    public static Precision Precision(this GemmVersion version) => version switch
    {
        GemmVersion.MmaTf32 => Ops.Precision.Tf32,
        GemmVersion.MmaBf16 => Ops.Precision.Bf16,
        GemmVersion.TensorCoreTf32 => Ops.Precision.Tf32,
        GemmVersion.TensorCoreBf16 => Ops.Precision.Bf16,
        GemmVersion.TensorCoreFp16 => Ops.Precision.Fp16,
        GemmVersion.TensorCoreTf32RegisterStaged => Ops.Precision.Tf32,
        GemmVersion.TensorCoreBf16RegisterStaged => Ops.Precision.Bf16,
        GemmVersion.TensorCoreFp16RegisterStaged => Ops.Precision.Fp16,
        _ => Ops.Precision.Fp32,
    };

    /// <summary>The GEMM the kernel ops run for <paramref name="precision"/> when none is named.</summary>
    public static GemmVersion DefaultFor(Precision precision) => precision switch
    {
        Ops.Precision.Fp32 => GemmVersion.RegisterBlocked,
        Ops.Precision.Tf32 => GemmVersion.TensorCoreTf32,
        Ops.Precision.Bf16 => GemmVersion.TensorCoreBf16,
        Ops.Precision.Fp16 => GemmVersion.TensorCoreFp16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "not a precision"),
    };
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
/// The ops a ViT runs, on one device (docs/ops.md gives the shapes and the maths). Each op is
/// checked here, once for every backend, so all backends accept and reject the same calls; then
/// the backend's core runs it (as <see cref="Device.Launch(KernelDescriptor, Int3, Int3, DeviceStream?, object[])"/> checks and calls LaunchCore). Work
/// is queued on the given stream, or the device's default stream; the cpu backend runs it before
/// returning. Buffers are float32 views of the same device. Disposing frees the scratch memory
/// the ops keep.
/// </summary>
public abstract class TransformerOps : IDisposable
{
    private protected TransformerOps(Device device, Precision precision)
    {
        Device = device;
        Precision = precision;
    }

    public Device Device { get; }

    /// <summary>The arithmetic the GEMMs and attention run in (accumulation is fp32 in all of them).</summary>
    public Precision Precision { get; }

    /// <summary>
    /// The ops for a device: managed ops on cpu (<see cref="CpuTransformerOps"/>, fp32 only), generated
    /// kernels everywhere else (<see cref="KernelTransformerOps"/>). <paramref name="gemm"/> names one
    /// GEMM kernel (for comparing kernels); null lets the ops choose for the precision and each shape.
    /// </summary>
    public static TransformerOps For(Device device, GemmVersion? gemm = null, Precision precision = Precision.Fp32)
    {
        if (device.Kind != DeviceKind.Cpu)
        {
            return new KernelTransformerOps(device, gemm, precision);
        }

        if (precision != Precision.Fp32)
        {
            throw new ArgumentException(
                $"the cpu backend computes in fp32 only, not {precision.Name()}: tf32, bf16 and fp16 run on cuda, opencl and the emulator", nameof(precision));
        }

        return new CpuTransformerOps(device);
    }

    /// <summary>Y[m,n] = act(X[m,k]·W[n,k]ᵀ + bias[n]) + residual[m,n]; bias and residual optional.</summary>
    public void Gemm(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation = Activation.None, DeviceStream? stream = null)
    {
        GemmShape(m, n, k, activation);
        Require(w, (long)n * k, nameof(w), $"W [n={n}, k={k}]");
        GemmViews(x, bias, residual, y, m, n, k);
        if (m > 0 && n > 0)
        {
            GemmCore(x, w, bias, residual, y, m, n, k, activation, stream);
        }
    }

    /// <summary>
    /// W [n, k] from host memory, made once into the form this device's <see cref="Gemm(DeviceView{float}, PackedWeight, DeviceView{float}?, DeviceView{float}?, DeviceView{float}, int, Activation, DeviceStream?)"/>
    /// reads fastest: the cpu backend packs it into its micro-kernel's panels (what its plain Gemm
    /// does on every call), the kernel backends upload it as is. The caller owns and disposes it.
    /// </summary>
    public PackedWeight PackWeight(ReadOnlySpan<float> w, int n, int k)
    {
        PackedWeight.CheckHostWeight(w, n, k);
        return PackWeightCore(w, n, k);
    }

    /// <summary>Y[m,n] = act(X[m,k]·Wᵀ + bias[n]) + residual[m,n] with W made by this ops' <see cref="PackWeight"/>; the same op as the plain Gemm.</summary>
    public void Gemm(
        DeviceView<float> x, PackedWeight w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, Activation activation = Activation.None, DeviceStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.CheckOwner(Device, nameof(w));
        GemmShape(m, w.N, w.K, activation);
        GemmViews(x, bias, residual, y, m, w.N, w.K);
        if (m > 0 && w.N > 0)
        {
            GemmCore(x, w, bias, residual, y, m, activation, stream);
        }
    }

    /// <summary>
    /// Multi-head self-attention over timm's fused qkv [batch, tokens, 3·heads·headSize] into
    /// output [batch, tokens, heads·headSize], scaled by 1/√headSize. Fused: one kernel, online
    /// softmax, no tokens × tokens matrix in memory. Unfused: GEMM, softmax, GEMM.
    /// </summary>
    public void Attention(
        DeviceView<float> qkv, DeviceView<float> output, int batch, int tokens, int heads, int headSize,
        bool fused = true, DeviceStream? stream = null)
    {
        AttentionShape(qkv, output, batch, tokens, heads, headSize);
        AttentionCore(qkv, output, batch, tokens, heads, headSize, fused, stream);
    }

    /// <summary>Y = (X − mean)/√(var + eps)·γ + β per row of X [rows, cols] (biased variance).</summary>
    public void LayerNorm(DeviceView<float> x, DeviceView<float> gamma, DeviceView<float> beta, DeviceView<float> y, int rows, int cols, float eps, DeviceStream? stream = null)
    {
        long elements = Matrix(rows, cols, nameof(rows), nameof(cols));
        Require(x, elements, nameof(x));
        Require(gamma, cols, nameof(gamma));
        Require(beta, cols, nameof(beta));
        Require(y, elements, nameof(y));
        if (!(eps >= 0f))
        {
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be zero or positive");
        }

        if (elements > 0)
        {
            LayerNormCore(x, gamma, beta, y, rows, cols, eps, stream);
        }
    }

    /// <summary>Numerically stable softmax of each row of X [rows, cols].</summary>
    public void Softmax(DeviceView<float> x, DeviceView<float> y, int rows, int cols, DeviceStream? stream = null)
    {
        long elements = Matrix(rows, cols, nameof(rows), nameof(cols));
        Require(x, elements, nameof(x));
        Require(y, elements, nameof(y));
        if (elements > 0)
        {
            SoftmaxCore(x, y, rows, cols, stream);
        }
    }

    /// <summary>Y = GELU(X) element-wise, exact (erf) or tanh-approximated.</summary>
    public void Gelu(DeviceView<float> x, DeviceView<float> y, int n, Activation activation = Activation.Gelu, DeviceStream? stream = null)
    {
        Count(n, nameof(n));
        Require(x, n, nameof(x));
        Require(y, n, nameof(y));
        if (activation is not (Activation.Gelu or Activation.GeluTanh))
        {
            throw new ArgumentException($"Gelu applies Gelu or GeluTanh, not {activation}", nameof(activation));
        }

        if (n > 0)
        {
            GeluCore(x, y, n, activation, stream);
        }
    }

    /// <summary>
    /// tokens[b, prefix + p, :] = W·patch_p(images[b]) + bias for the (imageSize/patchSize)²
    /// patches of images [batch, channels, imageSize, imageSize]; W is the conv weight
    /// [dim, channels, patchSize, patchSize], made by <see cref="PackWeight"/> as the linear
    /// weight [dim, channels·patchSize²] it is. Patches are read straight from the images.
    /// </summary>
    public void PatchEmbed(
        DeviceView<float> images, PackedWeight weight, DeviceView<float> bias, DeviceView<float> tokens,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix, DeviceStream? stream = null)
    {
        PatchShape shape = Patch(batch, channels, imageSize, patchSize, dim, prefix);
        Require(images, shape.ImageElements, nameof(images));
        ArgumentNullException.ThrowIfNull(weight);
        weight.CheckOwner(Device, nameof(weight));
        if (weight.N != dim || weight.K != shape.K)
        {
            throw new ArgumentException(
                $"weight is [n={weight.N}, k={weight.K}]; the patch embedding needs [dim={dim}, channels·patchSize²={shape.K}]", nameof(weight));
        }

        Require(bias, dim, nameof(bias));
        Require(tokens, shape.TokenElements, nameof(tokens));
        PatchEmbedCore(images, weight, bias, tokens, shape, batch, channels, imageSize, patchSize, dim, prefix, stream);
    }

    /// <summary>Row 0 of each image = the class token (when given); every row += positions[row].</summary>
    public void ClassTokenAndPositions(
        DeviceView<float> tokens, DeviceView<float>? classToken, DeviceView<float> positions, int batch, int tokenCount, int dim,
        DeviceStream? stream = null)
    {
        long elements = TokenTensor(batch, tokenCount, dim);
        Require(tokens, elements, nameof(tokens));
        if (classToken is { } token)
        {
            Require(token, dim, nameof(classToken));
        }

        Require(positions, (long)tokenCount * dim, nameof(positions));
        if (elements > 0)
        {
            ClassTokenAndPositionsCore(tokens, classToken, positions, batch, tokenCount, dim, stream);
        }
    }

    /// <summary>c = a + b element-wise (c may be a or b).</summary>
    public void Add(DeviceView<float> a, DeviceView<float> b, DeviceView<float> c, int n, DeviceStream? stream = null)
    {
        Count(n, nameof(n));
        Require(a, n, nameof(a));
        Require(b, n, nameof(b));
        Require(c, n, nameof(c));
        if (n > 0)
        {
            AddCore(a, b, c, n, stream);
        }
    }

    /// <summary>output[b, :] from tokens [batch, tokenCount, dim]: the class token, or the mean of the rows after prefix.</summary>
    public void Pool(DeviceView<float> tokens, DeviceView<float> output, int batch, int tokenCount, int dim, PoolMode mode, int prefix, DeviceStream? stream = null)
    {
        long elements = TokenTensor(batch, tokenCount, dim);
        (int first, int count) = PoolRows(tokenCount, mode, prefix);
        Require(tokens, elements, nameof(tokens));
        Require(output, (long)batch * dim, nameof(output));
        if ((long)batch * dim > 0)
        {
            PoolCore(tokens, output, batch, tokenCount, dim, first, count, stream);
        }
    }

    /// <summary>
    /// How many times these ops have freed scratch memory of theirs and replaced it with a larger
    /// buffer (zero where they keep none). Launches recorded before a change, such as a CUDA graph
    /// of earlier calls, may point at freed memory: record them again.
    /// </summary>
    public virtual int ScratchReplacements => 0;

    public void Dispose()
    {
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    // The backend's side of each op: called with checked arguments and work to do (no empty op
    // reaches a core but Attention's, whose backends have limits of their own to check first).

    private protected abstract void GemmCore(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation, DeviceStream? stream);

    private protected abstract PackedWeight PackWeightCore(ReadOnlySpan<float> w, int n, int k);

    private protected abstract void GemmCore(
        DeviceView<float> x, PackedWeight w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, Activation activation, DeviceStream? stream);

    private protected abstract void AttentionCore(
        DeviceView<float> qkv, DeviceView<float> output, int batch, int tokens, int heads, int headSize, bool fused, DeviceStream? stream);

    private protected abstract void LayerNormCore(
        DeviceView<float> x, DeviceView<float> gamma, DeviceView<float> beta, DeviceView<float> y, int rows, int cols, float eps, DeviceStream? stream);

    private protected abstract void SoftmaxCore(DeviceView<float> x, DeviceView<float> y, int rows, int cols, DeviceStream? stream);

    private protected abstract void GeluCore(DeviceView<float> x, DeviceView<float> y, int n, Activation activation, DeviceStream? stream);

    private protected abstract void PatchEmbedCore(
        DeviceView<float> images, PackedWeight weight, DeviceView<float> bias, DeviceView<float> tokens, PatchShape shape,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix, DeviceStream? stream);

    private protected abstract void ClassTokenAndPositionsCore(
        DeviceView<float> tokens, DeviceView<float>? classToken, DeviceView<float> positions, int batch, int tokenCount, int dim, DeviceStream? stream);

    private protected abstract void AddCore(DeviceView<float> a, DeviceView<float> b, DeviceView<float> c, int n, DeviceStream? stream);

    /// <summary>Averages rows [first, first + count) of each image's tokens.</summary>
    private protected abstract void PoolCore(
        DeviceView<float> tokens, DeviceView<float> output, int batch, int tokenCount, int dim, int first, int count, DeviceStream? stream);

    /// <summary>Frees the scratch memory this backend keeps; nothing by default.</summary>
    private protected virtual void DisposeCore()
    {
    }
}
