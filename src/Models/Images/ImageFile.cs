namespace GpuViT.Models.Images;

/// <summary>
/// An image file opened and its header read, nothing decoded yet: its size is known (and within
/// the pixel limit) before a decode allocates anything, so a caller can reserve the memory the
/// decode takes (<see cref="DecodeBytes"/>) first.
/// </summary>
public sealed class ImageFile : IDisposable
{
    private readonly FileStream _stream;

    private ImageFile(string path, FileStream stream, int width, int height)
    {
        Path = path;
        _stream = stream;
        Width = width;
        Height = height;
    }

    public string Path { get; }
    public int Width { get; }
    public int Height { get; }

    /// <summary>The memory decoding takes at most: the file's bytes, read whole, and <see cref="ImageDecoder.DecodeBytesPerPixel"/> a pixel.</summary>
    public long DecodeBytes => _stream.Length + ImageDecoder.DecodeBytesPerPixel * (long)Width * Height;

    /// <summary>
    /// Opens <paramref name="path"/> and reads its header. Anything but a regular file is refused
    /// before it is opened, and an image of more than <paramref name="maxPixels"/> pixels once its
    /// header is read; every failure is an <see cref="InputException"/> naming the file.
    /// </summary>
    public static ImageFile Open(string path, long maxPixels = ImageDecoder.DefaultMaxPixels)
    {
        if (RegularFile.Problem(path) is { } problem)
            throw InputException.For(path, problem);
        FileStream? stream = null;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            (int width, int height) = ImageHeader.ReadSize(stream, path);
            ImageDecoder.CheckPixels(width, height, maxPixels, path);
            if (stream.Length > Array.MaxLength)
                throw InputException.For(path, $"file of {stream.Length} bytes is too large to read as one image");
            return new ImageFile(path, stream, width, height);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            stream?.Dispose();
            throw InputException.For(path, $"cannot read: {e.Message}");
        }
        catch
        {
            stream?.Dispose();
            throw;
        }
    }

    /// <summary>Reads the whole file and decodes it.</summary>
    public RgbImage Decode()
    {
        var bytes = new byte[_stream.Length];
        try
        {
            _stream.Position = 0;
            _stream.ReadExactly(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputException.For(Path, $"cannot read: {e.Message}");
        }

        return ImageDecoder.Decode(bytes, Path, Width, Height);
    }

    public void Dispose() => _stream.Dispose();
}
