namespace GpuViT.Models.Images;

/// <summary>
/// timm's eval transform (transforms_factory.transforms_imagenet_eval with crop_mode "center"):
/// <list type="number">
/// <item>resize so the shorter side is floor(size / crop_pct) and the longer side is
/// int(that × long / short), as torchvision's Resize(int) does;</item>
/// <item>centre crop size × size, the offsets rounded half to even as torchvision's
/// center_crop does (round((h − size) / 2));</item>
/// <item>scale to [0, 1] (ToTensor: / 255) and normalise per channel: (x − mean) / std;</item>
/// <item>output float32 CHW.</item>
/// </list>
/// The resize is PIL's Image.resize reproduced to the bit for 8-bit images: a triangle filter
/// (BILINEAR, the default) or Keys' cubic with a = −0.5 (BICUBIC, what timm's ViT configs name),
/// whose support widens by the scale factor when downscaling (so it antialiases), applied
/// horizontally then vertically, with 22-bit fixed-point weights and rounding to 8 bits after
/// each pass (Pillow's libImaging/Resample.c).
/// </summary>
public sealed class EvalTransform
{
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    public EvalTransform(int size, double cropPct = 0.875, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null,
                         Interpolation interpolation = Interpolation.Bilinear)
    {
        Interpolation = interpolation;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (!(cropPct > 0 && cropPct <= 1))
            throw new ArgumentOutOfRangeException(nameof(cropPct), cropPct, "crop_pct must be in (0, 1]");
        Size = size;
        CropPct = cropPct;
        Mean = [.. mean ?? ImageNetMean];
        Std = [.. std ?? ImageNetStd];
        if (Mean.Length != 3 || Std.Length != 3)
            throw new ArgumentException("mean and std need one value per channel (3)");
        if (Std.Any(s => !(s > 0)))
            throw new ArgumentException("std values must be positive");
    }

    /// <summary>The output is Size × Size.</summary>
    public int Size { get; }
    public double CropPct { get; }
    public float[] Mean { get; }
    public float[] Std { get; }
    public Interpolation Interpolation { get; }

    /// <summary>The shorter side after the resize: floor(size / crop_pct), 224 / 0.875 → 256.</summary>
    public int ResizeShortSide => (int)Math.Floor(Size / CropPct);

    /// <summary>torchvision's Resize(int) output size for a width × height input.</summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int shortSide)
    {
        if (width <= height)
            return (shortSide, (int)((long)shortSide * height / width));
        return ((int)((long)shortSide * width / height), shortSide);
    }

    /// <summary>
    /// The memory <see cref="ApplyTo"/> allocates for a <paramref name="width"/> × <paramref name="height"/>
    /// image: the horizontal pass's RGB rows and their transpose, then the vertical pass's and theirs.
    /// </summary>
    public long ResizeBytes(int width, int height)
    {
        var (w, h) = ResizedSize(width, height, ResizeShortSide);
        return 2L * 3 * w * ((long)height + h);
    }

    /// <summary>Why a <paramref name="width"/> × <paramref name="height"/> image cannot be resized (a sliver would resize to gigabytes), or null: known from its header, before it is decoded.</summary>
    public string? ResizeProblem(int width, int height)
    {
        var (w, h) = ResizedSize(width, height, ResizeShortSide);
        return (long)w * h > ImageDecoder.DefaultMaxPixels
            ? $"a {width}x{height} image resizes to {w}x{h}, more than {ImageDecoder.DefaultMaxPixels} pixels"
            : null;
    }

    /// <summary>Transforms one image to Size × Size × 3 floats, CHW.</summary>
    public float[] Apply(RgbImage image)
    {
        var output = new float[3 * Size * Size];
        ApplyTo(image, output);
        return output;
    }

    /// <summary>Writes the CHW floats of <paramref name="image"/> into <paramref name="output"/> (3 × Size × Size).</summary>
    public void ApplyTo(RgbImage image, Span<float> output)
    {
        if (output.Length != 3 * Size * Size)
            throw new ArgumentException($"output needs {3 * Size * Size} floats", nameof(output));
        if (ResizeProblem(image.Width, image.Height) is { } problem)
            throw new ArgumentException(problem);
        var (w, h) = ResizedSize(image.Width, image.Height, ResizeShortSide);
        RgbImage resized = Resize(image, w, h, Interpolation);
        if (w < Size || h < Size)
            throw new InvalidOperationException($"resized image {w}x{h} is smaller than the crop {Size}"); // crop_pct ≤ 1 rules it out
        int top = (int)Math.Round((h - Size) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((w - Size) / 2.0, MidpointRounding.ToEven);
        CropAndNormalize(resized, left, top, output);
    }

    /// <summary>
    /// The last step alone, for an image that is already Size × Size: its CHW floats, normalised,
    /// into <paramref name="output"/> (3 × Size × Size). No resize and no crop.
    /// </summary>
    public void Normalize(RgbImage image, Span<float> output)
    {
        if (image.Width != Size || image.Height != Size)
            throw new ArgumentException($"the image is {image.Width}x{image.Height}, not {Size}x{Size}", nameof(image));
        if (output.Length != 3 * Size * Size)
            throw new ArgumentException($"output needs {3 * Size * Size} floats", nameof(output));
        CropAndNormalize(image, 0, 0, output);
    }

    /// <summary>This transform with another output size (the same crop_pct, mean, std and filter).</summary>
    public EvalTransform AtSize(int size) => size == Size ? this : new EvalTransform(size, CropPct, Mean, Std, Interpolation);

    private void CropAndNormalize(RgbImage image, int left, int top, Span<float> output)
    {
        int w = image.Width, plane = Size * Size;
        for (int c = 0; c < 3; c++)
        {
            // (v / 255 − mean) / std, as ToTensor then Normalize compute it in float32.
            float mean = Mean[c], std = Std[c];
            for (int y = 0; y < Size; y++)
            {
                int src = ((top + y) * w + left) * 3 + c;
                int dst = c * plane + y * Size;
                for (int x = 0; x < Size; x++)
                    output[dst + x] = (image.Pixels[src + 3 * x] / 255f - mean) / std;
            }
        }
    }

    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>PIL's Image.resize((width, height), BILINEAR or BICUBIC) on an RGB image; see the class remarks.</summary>
    public static RgbImage Resize(RgbImage image, int width, int height, Interpolation interpolation = Interpolation.Bilinear)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        RgbImage result = image;
        if (width != image.Width)
            result = ResizeHorizontal(result, width, interpolation);
        if (height != image.Height)
            result = Transpose(ResizeHorizontal(Transpose(result), height, interpolation));
        return result;
    }

    // One pass along rows; the vertical pass runs it on the transpose, which gives the same
    // sums as Pillow's column pass (each output is one dot product rounded once).
    private static RgbImage ResizeHorizontal(RgbImage image, int outWidth, Interpolation interpolation)
    {
        var (starts, counts, weights, kernelSize) = Coefficients(image.Width, outWidth, interpolation);
        int inWidth = image.Width, height = image.Height;
        var output = new byte[(long)outWidth * height * 3];
        byte[] input = image.Pixels;
        for (int y = 0; y < height; y++)
        {
            int row = y * inWidth * 3;
            for (int x = 0; x < outWidth; x++)
            {
                int start = starts[x], count = counts[x], k = x * kernelSize;
                int r = 1 << (PrecisionBits - 1), g = r, b = r;
                for (int i = 0; i < count; i++)
                {
                    int p = row + (start + i) * 3, wgt = weights[k + i];
                    r += input[p] * wgt;
                    g += input[p + 1] * wgt;
                    b += input[p + 2] * wgt;
                }
                int o = (y * outWidth + x) * 3;
                output[o] = Clip8(r);
                output[o + 1] = Clip8(g);
                output[o + 2] = Clip8(b);
            }
        }
        return new RgbImage(outWidth, height, output);
    }

    private static byte Clip8(int v) => (byte)Math.Clamp(v >> PrecisionBits, 0, 255);

    /// <summary>Pillow's normalize_coeffs_8bpc: the weights in 22-bit fixed point.</summary>
    private static (int[] Starts, int[] Counts, int[] Weights, int KernelSize) Coefficients(int inSize, int outSize, Interpolation interpolation)
    {
        var (starts, counts, weights, kernelSize) = Weights(inSize, outSize, interpolation);
        var fixedPoint = new int[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            double w = weights[i];
            fixedPoint[i] = w < 0 ? (int)(-0.5 + w * (1 << PrecisionBits)) : (int)(0.5 + w * (1 << PrecisionBits));
        }
        return (starts, counts, fixedPoint, kernelSize);
    }

    /// <summary>
    /// Pillow's precompute_coeffs: for each output x, the first input it reads, how many, and their
    /// weights (normalised to sum 1), kernelSize apart.
    /// </summary>
    private static (int[] Starts, int[] Counts, double[] Weights, int KernelSize) Weights(int inSize, int outSize, Interpolation interpolation)
    {
        Func<double, double> filter = interpolation == Interpolation.Bicubic ? Bicubic : Bilinear;
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = (interpolation == Interpolation.Bicubic ? 2.0 : 1.0) * filterScale;
        int kernelSize = (int)Math.Ceiling(support) * 2 + 1;
        var starts = new int[outSize];
        var counts = new int[outSize];
        var weights = new double[outSize * kernelSize];
        for (int x = 0; x < outSize; x++)
        {
            double center = (x + 0.5) * scale;
            int min = Math.Max((int)(center - support + 0.5), 0); // C's (int) truncates toward zero
            int max = Math.Min((int)(center + support + 0.5), inSize) - min;
            Span<double> k = weights.AsSpan(x * kernelSize, max);
            double sum = 0;
            for (int i = 0; i < max; i++)
            {
                k[i] = filter((i + min - center + 0.5) * (1.0 / filterScale)); // Pillow multiplies by 1 / filterscale
                sum += k[i];
            }
            if (sum != 0.0)
                for (int i = 0; i < max; i++)
                    k[i] /= sum;
            starts[x] = min;
            counts[x] = max;
        }
        return (starts, counts, weights, kernelSize);
    }

    /// <summary>
    /// Resizes float planes (C × height × width, C order, e.g. a normalised CHW image) to
    /// C × outHeight × outWidth with the same filters as <see cref="Resize(RgbImage, int, int, Interpolation)"/>:
    /// Pillow's resize of mode "F" images (double weights and sums, no rounding to 8 bits), which
    /// is also what torch's interpolate(mode="bilinear" or "bicubic", antialias=True,
    /// align_corners=False) computes. Downscaling widens the filter, so it antialiases.
    /// </summary>
    public static void Resize(ReadOnlySpan<float> planes, int height, int width, Span<float> output, int outHeight, int outWidth,
                              Interpolation interpolation = Interpolation.Bilinear)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outWidth);
        int inPlane = height * width, outPlane = outHeight * outWidth;
        if (planes.Length % inPlane != 0)
            throw new ArgumentException($"{planes.Length} floats are not whole {height}x{width} planes", nameof(planes));
        int channels = planes.Length / inPlane;
        if (output.Length != channels * outPlane)
            throw new ArgumentException($"output needs {channels * outPlane} floats", nameof(output));

        var (xStarts, xCounts, xWeights, xKernel) = Weights(width, outWidth, interpolation);
        var (yStarts, yCounts, yWeights, yKernel) = Weights(height, outHeight, interpolation);
        var rows = new float[height * outWidth]; // one plane after the horizontal pass
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> input = planes.Slice(c * inPlane, inPlane);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < outWidth; x++)
                {
                    double sum = 0;
                    int k = x * xKernel, start = y * width + xStarts[x];
                    for (int i = 0; i < xCounts[x]; i++)
                        sum += input[start + i] * xWeights[k + i];
                    rows[y * outWidth + x] = (float)sum;
                }
            Span<float> result = output.Slice(c * outPlane, outPlane);
            for (int y = 0; y < outHeight; y++)
            {
                int k = y * yKernel, start = yStarts[y];
                for (int x = 0; x < outWidth; x++)
                {
                    double sum = 0;
                    for (int i = 0; i < yCounts[y]; i++)
                        sum += rows[(start + i) * outWidth + x] * yWeights[k + i];
                    result[y * outWidth + x] = (float)sum;
                }
            }
        }
    }

    private static double Bilinear(double x)
    {
        x = Math.Abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    // Keys' cubic convolution with a = −0.5, as Pillow's bicubic_filter.
    private static double Bicubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static RgbImage Transpose(RgbImage image)
    {
        int w = image.Width, h = image.Height;
        var output = new byte[image.Pixels.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int s = (y * w + x) * 3, d = (x * h + y) * 3;
                output[d] = image.Pixels[s];
                output[d + 1] = image.Pixels[s + 1];
                output[d + 2] = image.Pixels[s + 2];
            }
        return new RgbImage(h, w, output);
    }
}

/// <summary>The resize filter, as PIL names them; timm's configs say "bilinear" or "bicubic".</summary>
public enum Interpolation
{
    Bilinear,
    Bicubic,
}
