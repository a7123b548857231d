namespace GpuViT.Models.Images;

/// <summary>
/// Decodes image files to 8-bit RGB: PNG, JPEG and BMP through stb_image, PPM (P6, P3) and PGM
/// (P5, P2) here. Grey expands to three equal channels and alpha is dropped, as PIL's
/// convert("RGB") does. Every failure is an <see cref="InputException"/> naming the file.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Larger images are refused before decoding (stb would allocate width × height × 3).</summary>
    public const long MaxPixels = 1L << 28;

    /// <summary>The extensions a directory input picks up (case-insensitive).</summary>
    public static IReadOnlySet<string> Extensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm",
    };

    public static RgbImage Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw InputException.For(path, $"cannot read: {e.Message}");
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes <paramref name="data"/>; <paramref name="name"/> is only for messages.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length >= 2 && data[0] == (byte)'P' && data[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6')
            return Pnm.Decode(data, name);
        return DecodeWithStb(data, name);
    }

    private static unsafe RgbImage DecodeWithStb(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length == 0)
            throw InputException.For(name, "empty file, not an image");
        try
        {
            fixed (byte* buffer = data)
            {
                if (StbImageNative.stbi_info_from_memory(buffer, data.Length, out int w, out int h, out _) == 0)
                    throw NotAnImage(name, StbImageNative.FailureReason());
                if ((long)w * h > MaxPixels)
                    throw InputException.For(name, $"image is {w}x{h}, more than {MaxPixels} pixels");

                byte* pixels = StbImageNative.stbi_load_from_memory(buffer, data.Length, out int width, out int height, out _, 3);
                if (pixels == null)
                    throw NotAnImage(name, StbImageNative.FailureReason());
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
            throw new InputException($"{name}: cannot decode PNG/JPEG/BMP: stb_image ({StbImageNative.Library}) is not installed " +
                                     "(Debian: apt-get install libstb0)", e);
        }
    }

    private static InputException NotAnImage(string name, string reason) =>
        InputException.For(name, $"not a PNG, JPEG, BMP, PPM or PGM image (stb_image: {reason})");

    /// <summary>Netpbm: binary P5/P6 and ASCII P2/P3, maxval up to 65535, '#' comments in the header.</summary>
    private static class Pnm
    {
        public static RgbImage Decode(ReadOnlySpan<byte> data, string name)
        {
            char kind = (char)data[1];
            int pos = 2;
            int width = ReadHeaderInt(data, ref pos, name, "width");
            int height = ReadHeaderInt(data, ref pos, name, "height");
            int maxval = ReadHeaderInt(data, ref pos, name, "maxval");
            if (width <= 0 || height <= 0)
                throw InputException.For(name, $"corrupt P{kind} image: size {width}x{height}");
            if ((long)width * height > MaxPixels)
                throw InputException.For(name, $"image is {width}x{height}, more than {MaxPixels} pixels");
            if (maxval is <= 0 or > 65535)
                throw InputException.For(name, $"corrupt P{kind} image: maxval {maxval} not in 1..65535");

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
