namespace GpuViT.Models.Images;

/// <summary>
/// The eval transform of a published ViT: timm's transforms_imagenet_eval (crop modes center,
/// squash and border) and Hugging Face's image processors (a plain resize to the model's size, or
/// a resize and a centre crop), one parameterised pipeline:
/// <list type="number">
/// <item>resize to <see cref="ResizeSize"/> (floor(size / crop_pct) for timm): the shorter side
/// (<see cref="CropMode.Center"/>; the longer becomes int(that × long / short), as torchvision's
/// Resize(int) does), both sides (<see cref="CropMode.Squash"/>), or the longer side keeping the
/// aspect ratio (<see cref="CropMode.Border"/>, timm's ResizeKeepRatio(longest=1): each side
/// round(side / ratio));</item>
/// <item>centre crop size × size, the offsets rounded half to even as torchvision's center_crop
/// does (round((h − size) / 2)), or floored as Hugging Face's center_crop does
/// (<see cref="FloorCropOffsets"/>); in border mode a side shorter than size is first padded
/// with round(255 × mean) (timm's CenterCropOrPad);</item>
/// <item>scale (ToTensor's / 255, or Hugging Face's rescale_factor: float32(v × factor), the same
/// floats for 1/255) and normalise per channel in float32: (x − mean) / std;</item>
/// <item>output float32 CHW.</item>
/// </list>
/// The resize is PIL's Image.resize reproduced to the bit for 8-bit images (what torchvision's
/// Resize on a PIL image and Hugging Face's resize call): a triangle filter (BILINEAR) or Keys'
/// cubic with a = −0.5 (BICUBIC), whose support widens by the scale factor when downscaling (so
/// it antialiases), applied horizontally then vertically, with 22-bit fixed-point weights and
/// rounding to 8 bits after each pass (Pillow's libImaging/Resample.c); NEAREST is Pillow's
/// affine nearest-neighbour scale (each output reads input floor((x + 0.5) × in / out), the
/// position accumulated as Pillow does).
/// </summary>
public sealed class EvalTransform
{
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>ToTensor's and Hugging Face's usual scale: 1/255.</summary>
    public const double DefaultRescaleFactor = 1.0 / 255;

    /// <param name="resizeSize">The side the resize aims for; null: floor(size / crop_pct). At least size.</param>
    /// <param name="floorCropOffsets">Hugging Face's centre crop ((h − size) // 2); false: torchvision's (rounded half to even).</param>
    /// <param name="rescaleFactor">What a pixel is multiplied by before normalising; 1/255 by default.</param>
    public EvalTransform(int size, double cropPct = 0.875, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null,
                         Interpolation interpolation = Interpolation.Bilinear, CropMode cropMode = CropMode.Center,
                         int? resizeSize = null, bool floorCropOffsets = false, double rescaleFactor = DefaultRescaleFactor)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (!(cropPct > 0 && cropPct <= 1))
            throw new ArgumentOutOfRangeException(nameof(cropPct), cropPct, "crop_pct must be in (0, 1]");
        if (!Enum.IsDefined(interpolation))
            throw new ArgumentOutOfRangeException(nameof(interpolation), interpolation, "unknown interpolation");
        if (!Enum.IsDefined(cropMode))
            throw new ArgumentOutOfRangeException(nameof(cropMode), cropMode, "unknown crop mode");
        if (!(rescaleFactor > 0 && double.IsFinite(rescaleFactor)))
            throw new ArgumentOutOfRangeException(nameof(rescaleFactor), rescaleFactor, "the rescale factor must be positive and finite");
        Size = size;
        CropPct = cropPct;
        Interpolation = interpolation;
        CropMode = cropMode;
        ResizeSize = resizeSize ?? (int)Math.Floor(size / cropPct);
        if (ResizeSize < size)
            throw new ArgumentOutOfRangeException(nameof(resizeSize), ResizeSize, $"the resize ({ResizeSize}) must be at least the crop ({size})");
        FloorCropOffsets = floorCropOffsets;
        RescaleFactor = rescaleFactor;
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
    public CropMode CropMode { get; }

    /// <summary>The side the resize aims for: floor(size / crop_pct), 224 / 0.875 → 256, unless given.</summary>
    public int ResizeSize { get; }

    public bool FloorCropOffsets { get; }
    public double RescaleFactor { get; }

    /// <summary>torchvision's Resize(int) output size for a width × height input.</summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int shortSide)
    {
        if (width <= height)
            return (shortSide, (int)((long)shortSide * height / width));
        return ((int)((long)shortSide * width / height), shortSide);
    }

    /// <summary>The size a <paramref name="width"/> × <paramref name="height"/> image is resized to, before the crop.</summary>
    public (int Width, int Height) ResizedSize(int width, int height)
    {
        switch (CropMode)
        {
            case CropMode.Squash:
                return (ResizeSize, ResizeSize);
            case CropMode.Border:
                // timm's ResizeKeepRatio(longest=1): one ratio for both sides, each rounded half to even as Python's round.
                double ratio = Math.Max((double)height / ResizeSize, (double)width / ResizeSize);
                return ((int)Math.Round(width / ratio, MidpointRounding.ToEven), (int)Math.Round(height / ratio, MidpointRounding.ToEven));
            default:
                return ResizedSize(width, height, ResizeSize);
        }
    }

    /// <summary>
    /// The memory <see cref="ApplyTo"/> allocates for a <paramref name="width"/> × <paramref name="height"/>
    /// image: the horizontal pass's RGB rows and their transpose, then the vertical pass's and theirs.
    /// </summary>
    public long ResizeBytes(int width, int height)
    {
        var (w, h) = ResizedSize(width, height);
        return 2L * 3 * w * ((long)height + h);
    }

    /// <summary>Why a <paramref name="width"/> × <paramref name="height"/> image cannot be resized (a sliver would resize to gigabytes), or null: known from its header, before it is decoded.</summary>
    public string? ResizeProblem(int width, int height)
    {
        var (w, h) = ResizedSize(width, height);
        return (long)w * h > ImageDecoder.DefaultMaxPixels ? $"a {width}x{height} image resizes to {w}x{h}, more than {ImageDecoder.DefaultMaxPixels} pixels"
            : w < 1 || h < 1 ? $"a {width}x{height} image resizes to nothing ({w}x{h}) in {CropMode.ToString().ToLowerInvariant()} mode"
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
        var (w, h) = ResizedSize(image.Width, image.Height);
        RgbImage resized = Resize(image, w, h, Interpolation);
        if (CropMode != CropMode.Border && (w < Size || h < Size))
            throw new InvalidOperationException($"resized image {w}x{h} is smaller than the crop {Size}"); // ResizeSize ≥ Size rules it out
        CropAndNormalize(resized, CropOffset(w), CropOffset(h), output);
    }

    /// <summary>
    /// Where the crop starts along a side of <paramref name="length"/>: the centre, rounded half to
    /// even (torchvision) or floored (Hugging Face). Negative in border mode when the side is shorter
    /// than the crop: timm pads (size − length) // 2 before it, and the padding reads as the fill.
    /// </summary>
    private int CropOffset(int length) =>
        length < Size ? -((Size - length) / 2)
        : FloorCropOffsets ? (length - Size) / 2
        : (int)Math.Round((length - Size) / 2.0, MidpointRounding.ToEven);

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
    public EvalTransform AtSize(int size) =>
        size == Size ? this : new EvalTransform(size, CropPct, Mean, Std, Interpolation, CropMode, floorCropOffsets: FloorCropOffsets, rescaleFactor: RescaleFactor);

    private void CropAndNormalize(RgbImage image, int left, int top, Span<float> output)
    {
        int w = image.Width, h = image.Height, plane = Size * Size;
        for (int c = 0; c < 3; c++)
        {
            // (v × factor − mean) / std in float32, as ToTensor then Normalize (and Hugging Face's rescale then normalize) compute it.
            float mean = Mean[c], std = Std[c];
            // timm's border fill, round(255 × mean); it pads only in border mode, where an offset can be negative.
            float fill = ((float)(Math.Clamp(Math.Round(255.0 * mean, MidpointRounding.ToEven), 0, 255) * RescaleFactor) - mean) / std;
            for (int y = 0; y < Size; y++)
            {
                int sy = top + y, dst = c * plane + y * Size;
                for (int x = 0; x < Size; x++)
                {
                    int sx = left + x;
                    output[dst + x] = sy < 0 || sy >= h || sx < 0 || sx >= w
                        ? fill
                        : ((float)(image.Pixels[(sy * w + sx) * 3 + c] * RescaleFactor) - mean) / std;
                }
            }
        }
    }

    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>PIL's Image.resize((width, height), BILINEAR or BICUBIC) on an RGB image; see the class remarks.</summary>
    public static RgbImage Resize(RgbImage image, int width, int height, Interpolation interpolation = Interpolation.Bilinear)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (interpolation == Interpolation.Nearest)
            return (width, height) == (image.Width, image.Height) ? image : ResizeNearest(image, width, height);
        RgbImage result = image;
        if (width != image.Width)
            result = ResizeHorizontal(result, width, interpolation);
        if (height != image.Height)
            result = Transpose(ResizeHorizontal(Transpose(result), height, interpolation));
        return result;
    }

    /// <summary>
    /// Pillow's nearest resize (ImagingScaleAffine): output x reads input (int)xo, where xo starts at
    /// 0.5 × scale and grows by scale per pixel, summed in double as Pillow sums it.
    /// </summary>
    private static int[] NearestIndices(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize, position = scale * 0.5;
        var indices = new int[outSize];
        for (int x = 0; x < outSize; x++, position += scale)
            indices[x] = Math.Min((int)position, inSize - 1);
        return indices;
    }

    private static RgbImage ResizeNearest(RgbImage image, int width, int height)
    {
        int[] xs = NearestIndices(image.Width, width), ys = NearestIndices(image.Height, height);
        var output = new byte[(long)width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int s = (ys[y] * image.Width + xs[x]) * 3, d = (y * width + x) * 3;
                output[d] = image.Pixels[s];
                output[d + 1] = image.Pixels[s + 1];
                output[d + 2] = image.Pixels[s + 2];
            }
        return new RgbImage(width, height, output);
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
        if (interpolation == Interpolation.Nearest)
        {
            int[] xs = NearestIndices(width, outWidth), ys = NearestIndices(height, outHeight);
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < outHeight; y++)
                    for (int x = 0; x < outWidth; x++)
                        output[c * outPlane + y * outWidth + x] = planes[c * inPlane + ys[y] * width + xs[x]];
            return;
        }

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

/// <summary>The resize filter, as PIL names them; timm's configs say "bilinear", "bicubic" or "nearest", Hugging Face's resample 2, 3 or 0.</summary>
public enum Interpolation
{
    Bilinear,
    Bicubic,
    Nearest,
}

/// <summary>How the resize and crop fit an image to the model's square (timm's crop_mode).</summary>
public enum CropMode
{
    /// <summary>The shorter side to the resize size, the aspect ratio kept, then a centre crop.</summary>
    Center,

    /// <summary>Both sides to the resize size (the aspect ratio lost), then a centre crop; with crop_pct 1 a plain resize.</summary>
    Squash,

    /// <summary>The longer side to the resize size, the aspect ratio kept, then a centre crop that pads the shorter side with the mean colour.</summary>
    Border,
}
