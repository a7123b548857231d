namespace GpuViT.Models.Images;

/// <summary>
/// Decodes image files to 8-bit RGB: PNG, JPEG and BMP through stb_image, PPM (P6, P3) and PGM
/// (P5, P2) here. Grey expands to three equal channels and alpha is dropped, as PIL's
/// convert("RGB") does. Every failure is an <see cref="InputException"/> naming the file.
/// </summary>
public static class ImageDecoder
{
    /// <summary>
    /// The default limit on an image's pixels, 64 Mi (8192 × 8192): above the photos of phones and
    /// of nearly every camera (the largest common sensors give 45–61 megapixels), and one such image
    /// takes about 0.8 GiB to decode (<see cref="DecodeBytesPerPixel"/>). Larger images are refused
    /// from their header, before decoding; <c>--max-image-pixels</c> raises the limit.
    /// </summary>
    public const long DefaultMaxPixels = 1L << 26;

    /// <summary>
    /// Memory a decode takes per pixel, besides the file's bytes: stb's inflated rows (up to 8 bytes
    /// a pixel for 16-bit RGBA) while it converts them to its 3-byte RGB result, then that and our copy.
    /// </summary>
    public const int DecodeBytesPerPixel = 12;

    /// <summary>The extensions a directory input picks up (case-insensitive).</summary>
    public static IReadOnlySet<string> Extensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm",
    };

    /// <summary>Decodes the image file at <paramref name="path"/>, refusing one of more than <paramref name="maxPixels"/> pixels before decoding it.</summary>
    public static RgbImage Load(string path, long maxPixels = DefaultMaxPixels)
    {
        using ImageFile file = ImageFile.Open(path, maxPixels);
        return file.Decode();
    }

    /// <summary>Decodes <paramref name="data"/>, refusing an image of more than <paramref name="maxPixels"/> pixels before decoding it; <paramref name="name"/> is only for messages.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> data, string name, long maxPixels = DefaultMaxPixels)
    {
        byte[] bytes = data.ToArray();
        (int width, int height) = ImageHeader.ReadSize(new MemoryStream(bytes, writable: false), name);
        CheckPixels(width, height, maxPixels, name);
        return Decode(bytes, name, width, height);
    }

    /// <summary>Refuses a <paramref name="width"/> × <paramref name="height"/> image of more than <paramref name="maxPixels"/> pixels.</summary>
    internal static void CheckPixels(int width, int height, long maxPixels, string name)
    {
        if ((long)width * height > maxPixels)
            throw InputException.For(name, $"image is {width}x{height} ({(long)width * height} pixels), more than the limit of {maxPixels} (--max-image-pixels raises it)");
    }

    /// <summary>Decodes an image whose header said it is <paramref name="width"/> × <paramref name="height"/>.</summary>
    internal static RgbImage Decode(ReadOnlySpan<byte> data, string name, int width, int height)
    {
        RgbImage image = IsNetpbm(data) ? Pnm.Decode(data, name) : DecodeWithStb(data, name, width, height);
        if (image.Width != width || image.Height != height)
            throw InputException.For(name, $"header says {width}x{height}, the image decodes to {image.Width}x{image.Height}");
        return image;
    }

    internal static bool IsNetpbm(ReadOnlySpan<byte> data) =>
        data.Length >= 2 && data[0] == (byte)'P' && data[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6';

    /// <summary>A Netpbm image's size from its header (<paramref name="data"/> holds at least the header).</summary>
    internal static (int Width, int Height) NetpbmSize(ReadOnlySpan<byte> data, string name)
    {
        (int width, int height, _) = Pnm.ReadHeader(data, name, out _);
        return (width, height);
    }

    /// <summary>The size stb_image reads from a header it knows (GIF, TGA, PSD, HDR, PIC: the formats <see cref="ImageHeader"/> leaves to it).</summary>
    internal static unsafe (int Width, int Height) StbInfo(ReadOnlySpan<byte> header, string name)
    {
        try
        {
            fixed (byte* buffer = header)
            {
                if (StbImageNative.stbi_info_from_memory(buffer, header.Length, out int width, out int height, out _) == 0)
                    throw NotAnImage(name, StbImageNative.FailureReason());
                return (width, height);
            }
        }
        catch (DllNotFoundException e)
        {
            throw StbMissing(name, e);
        }
    }

    private static unsafe RgbImage DecodeWithStb(ReadOnlySpan<byte> data, string name, int headerWidth, int headerHeight)
    {
        try
        {
            fixed (byte* buffer = data)
            {
                byte* pixels = StbImageNative.stbi_load_from_memory(buffer, data.Length, out int width, out int height, out _, 3);
                if (pixels == null)
                    throw InputException.For(name, $"cannot decode the {headerWidth}x{headerHeight} image (stb_image: {StbImageNative.FailureReason()})");
                try
                {
                    var rgb = new byte[(long)width * height * 3];
                    new ReadOnlySpan<byte>(pixels, rgb.Length).CopyTo(rgb);
                    return new RgbImage(width, height, rgb);
                }
                finally { StbImageNative.stbi_image_free(pixels); }
            }
        }
        catch (DllNotFoundException e)
        {
            throw StbMissing(name, e);
        }
    }

    private static InputException StbMissing(string name, DllNotFoundException e) =>
        new($"{name}: cannot decode PNG/JPEG/BMP: stb_image ({StbImageNative.Library}) is not installed (Debian: apt-get install libstb0)", e);

    private static InputException NotAnImage(string name, string reason) =>
        InputException.For(name, $"not a PNG, JPEG, BMP, PPM or PGM image (stb_image: {reason})");

    /// <summary>Netpbm: binary P5/P6 and ASCII P2/P3, maxval up to 65535, '#' comments in the header.</summary>
    private static class Pnm
    {
        /// <summary>The header's size and maxval, checked; <paramref name="pos"/> is left just after the maxval.</summary>
        public static (int Width, int Height, int Maxval) ReadHeader(ReadOnlySpan<byte> data, string name, out int pos)
        {
            char kind = (char)data[1];
            pos = 2;
            int width = ReadHeaderInt(data, ref pos, name, "width");
            int height = ReadHeaderInt(data, ref pos, name, "height");
            int maxval = ReadHeaderInt(data, ref pos, name, "maxval");
            if (width <= 0 || height <= 0)
                throw InputException.For(name, $"corrupt P{kind} image: size {width}x{height}");
            if (maxval is <= 0 or > 65535)
                throw InputException.For(name, $"corrupt P{kind} image: maxval {maxval} not in 1..65535");
            return (width, height, maxval);
        }

        public static RgbImage Decode(ReadOnlySpan<byte> data, string name)
        {
            char kind = (char)data[1];
            (int width, int height, int maxval) = ReadHeader(data, name, out int pos);
            int channels = kind is '3' or '6' ? 3 : 1;
            long samples = (long)width * height * channels;
            var values = new byte[samples];
            if (kind is '5' or '6')
            {
                // One whitespace byte separates the header from the raster.
                if (pos >= data.Length || !IsSpace(data[pos]))
                    throw InputException.For(name, $"corrupt P{kind} image: no whitespace after the header");
                pos++;
                int bytesPerSample = maxval > 255 ? 2 : 1;
                long needed = samples * bytesPerSample;
                if (data.Length - pos < needed)
                    throw InputException.For(name, $"truncated P{kind} image: {data.Length - pos} bytes of pixels, expected {needed}");
                var raster = data.Slice(pos);
                for (long i = 0; i < samples; i++)
                {
                    int v = bytesPerSample == 1 ? raster[(int)i] : raster[(int)(2 * i)] << 8 | raster[(int)(2 * i + 1)]; // big-endian
                    values[i] = Scale(v, maxval, name, kind);
                }
            }
            else
            {
                for (long i = 0; i < samples; i++)
                    values[i] = Scale(ReadHeaderInt(data, ref pos, name, "sample"), maxval, name, kind);
            }

            if (channels == 3)
                return new RgbImage(width, height, values);
            var rgb = new byte[samples * 3];
            for (long i = 0; i < samples; i++)
                rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = values[i];
            return new RgbImage(width, height, rgb);
        }

        // To 8 bits, rounding, as for maxval 255 the values pass through unchanged.
        private static byte Scale(int v, int maxval, string name, char kind)
        {
            if (v > maxval)
                throw InputException.For(name, $"corrupt P{kind} image: sample {v} above maxval {maxval}");
            return maxval == 255 ? (byte)v : (byte)((v * 255L + maxval / 2) / maxval);
        }

        private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\v' or (byte)'\f';

        private static int ReadHeaderInt(ReadOnlySpan<byte> data, ref int pos, string name, string what)
        {
            while (pos < data.Length)
            {
                if (IsSpace(data[pos])) pos++;
                else if (data[pos] == (byte)'#') { while (pos < data.Length && data[pos] != (byte)'\n' && data[pos] != (byte)'\r') pos++; }
                else break;
            }
            long value = 0;
            int start = pos;
            while (pos < data.Length && data[pos] is >= (byte)'0' and <= (byte)'9' && pos - start < 10)
                value = value * 10 + (data[pos++] - '0');
            if (pos == start)
                throw InputException.For(name, $"corrupt P{(char)data[1]} image: expected the {what}");
            if (value > int.MaxValue || (pos < data.Length && data[pos] is >= (byte)'0' and <= (byte)'9'))
                throw InputException.For(name, $"corrupt P{(char)data[1]} image: {what} too large");
            return (int)value;
        }
    }
}
