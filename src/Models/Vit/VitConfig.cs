using GpuViT.Kernels.Ops;

namespace GpuViT.Models.Vit;

/// <summary>A ViT definition the model cannot run: one line saying which field is wrong and why.</summary>
public sealed class VitConfigException(string message) : ArgumentException(message);

/// <summary>
/// A vision transformer as timm builds it: square images cut into square patches, a stack of
/// pre-norm blocks (attention, then a GELU MLP), a final LayerNorm, pooling and a linear head.
/// With <see cref="ShareLayers"/> one block's weights are used by every layer (ALBERT-style):
/// the weights shrink by the depth, the compute does not.
/// </summary>
public sealed record VitConfig(
    int ImageSize,
    int PatchSize,
    int Channels,
    int Width,
    int Depth,
    int Heads,
    int MlpWidth,
    int Classes,
    float LayerNormEps = 1e-6f,
    PoolMode Pooling = PoolMode.ClassToken,
    bool ClassToken = true,
    bool ShareLayers = false)
{
    /// <summary>Patches along one side of the image.</summary>
    public int PatchesPerSide => ImageSize / PatchSize;

    public int Patches => PatchesPerSide * PatchesPerSide;

    /// <summary>Rows before the patch tokens: the class token, if any.</summary>
    public int Prefix => ClassToken ? 1 : 0;

    /// <summary>Tokens per image: the prefix and the patches.</summary>
    public int Tokens => Prefix + Patches;

    public int HeadSize => Width / Heads;

    /// <summary>Values in one patch (the patch embedding's input width).</summary>
    public int PatchValues => Channels * PatchSize * PatchSize;

    /// <summary>Blocks that hold their own weights: one when layers are shared.</summary>
    public int StoredBlocks => ShareLayers ? 1 : Depth;

    /// <summary>Parameters in one block: two LayerNorms, qkv, proj, fc1, fc2 (weights and biases).</summary>
    public long BlockParameterCount =>
        2L * Width + (3L * Width * Width + 3L * Width) + ((long)Width * Width + Width)
        + 2L * Width + ((long)MlpWidth * Width + MlpWidth) + ((long)Width * MlpWidth + Width);

    /// <summary>Every parameter stored; with <see cref="ShareLayers"/> the block counts once.</summary>
    public long ParameterCount =>
        ((long)Width * PatchValues + Width)                 // patch_embed.proj
        + (ClassToken ? Width : 0)                         // cls_token
        + (long)Tokens * Width                             // pos_embed
        + StoredBlocks * BlockParameterCount
        + 2L * Width                                       // norm (or fc_norm)
        + ((long)Classes * Width + Classes);               // head

    /// <summary>Bytes of the weights as float32, as they sit on the device.</summary>
    public long WeightBytes => ParameterCount * sizeof(float);

    /// <summary>The least that must move per image at a batch: its share of every weight (read once per batch), its pixels in, its logits out.</summary>
    public double BytesPerImage(int batch) => (double)WeightBytes / batch + 4.0 * ((long)Channels * ImageSize * ImageSize + Classes);

    /// <summary>
    /// Floating-point operations for one image: 2·m·n·k per linear layer (patch embedding,
    /// qkv, proj, fc1, fc2, head) and 4·T²·D per attention layer (Q·Kᵀ and P·V). LayerNorm,
    /// softmax, GELU and adds are left out; they are a few percent.
    /// </summary>
    public long FlopsPerImage
    {
        get
        {
            long t = Tokens, d = Width, m = MlpWidth;
            long patchEmbed = 2L * Patches * d * PatchValues;
            long perLayer = 2 * t * (3 * d) * d + 2 * t * d * d + 2 * t * m * d + 2 * t * d * m + 4 * t * t * d;
            return patchEmbed + Depth * perLayer + 2L * d * Classes;
        }
    }

    /// <summary>Throws <see cref="VitConfigException"/> naming the first field that does not fit.</summary>
    public VitConfig Validate()
    {
        Positive(ImageSize, nameof(ImageSize));
        Positive(PatchSize, nameof(PatchSize));
        Positive(Channels, nameof(Channels));
        Positive(Width, nameof(Width));
        Positive(Depth, nameof(Depth));
        Positive(Heads, nameof(Heads));
        Positive(MlpWidth, nameof(MlpWidth));
        Positive(Classes, nameof(Classes));
        if (ImageSize % PatchSize != 0)
        {
            throw new VitConfigException($"patch size {PatchSize} does not divide image size {ImageSize}");
        }

        if (Width % Heads != 0)
        {
            throw new VitConfigException($"{Heads} heads do not divide width {Width}");
        }

        if (!float.IsFinite(LayerNormEps) || LayerNormEps <= 0)
        {
            throw new VitConfigException($"LayerNormEps must be positive and finite, not {LayerNormEps}");
        }

        if (!Enum.IsDefined(Pooling))
        {
            throw new VitConfigException($"unknown pooling {Pooling}");
        }

        if (Pooling == PoolMode.ClassToken && !ClassToken)
        {
            throw new VitConfigException("class-token pooling needs a class token (ClassToken = true), or use mean pooling");
        }

        // The ops index with int: every activation of one image must fit.
        long largest = (long)Tokens * Math.Max(3L * Width, MlpWidth);
        if (largest > int.MaxValue || (long)Width * PatchValues > int.MaxValue)
        {
            throw new VitConfigException($"one image's activations ({largest} values) are too large for 32-bit indexing");
        }

        return this;
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0)
        {
            throw new VitConfigException($"{name} must be positive, not {value}");
        }
    }
}
