namespace GpuViT.Models.Images;

/// <summary>An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC: R, G, B per pixel).</summary>
public sealed class RgbImage
{
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (pixels.Length != (long)width * height * 3)
            throw new ArgumentException($"{width}x{height} RGB needs {(long)width * height * 3} bytes, got {pixels.Length}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>Width × Height × 3 bytes, HWC.</summary>
    public byte[] Pixels { get; }

    /// <summary>Channel <paramref name="c"/> (0 = R) of the pixel at (x, y).</summary>
    public byte this[int x, int y, int c] => Pixels[((long)y * Width + x) * 3 + c];
}
