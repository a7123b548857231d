namespace GpuViT.Models.Inputs;

/// <summary>A batch of model inputs: Count × Channels × Height × Width floats (NCHW) and a name per image.</summary>
public sealed class InputBatch
{
    public InputBatch(IReadOnlyList<string> names, float[] data, int channels, int height, int width)
    {
        if (data.Length != (long)names.Count * channels * height * width)
            throw new ArgumentException($"{names.Count} inputs of {channels}x{height}x{width} need {(long)names.Count * channels * height * width} floats, got {data.Length}");
        Names = names;
        Data = data;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Per input: the image's path as given (or found in a directory), or "file.npy[i]".</summary>
    public IReadOnlyList<string> Names { get; }
    public float[] Data { get; }
    public int Count => Names.Count;
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int[] Shape => [Count, Channels, Height, Width];
}

/// <summary>
/// Turns the paths a user gives into model input batches, in the order given: image files (through
/// <see cref="ImageDecoder"/> and the <see cref="EvalTransform"/>), directories (their images,
/// sorted by file name, not recursive) and .npy float32 arrays [N, C, H, W] used as they are.
/// Every path is checked before any decoding, and images are decoded a batch at a time, through
/// <see cref="ImageSource"/>. Every failure is an <see cref="InputException"/> that names the file.
/// </summary>
public sealed class InputLoader
{
    public InputLoader(EvalTransform transform, int channels = 3)
    {
        if (channels != 3)
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "images decode to 3 channels (RGB)");
        Transform = transform;
        Channels = channels;
    }

    public EvalTransform Transform { get; }
    public int Channels { get; }
    public int Size => Transform.Size;

    /// <summary>One input source after expansion: an image file or a whole .npy array.</summary>
    public sealed record Source(string Path, bool IsNpy);

    /// <summary>Expands directories and checks that every path exists; no file is read yet.</summary>
    public static IReadOnlyList<Source> Expand(IEnumerable<string> paths)
    {
        var sources = new List<Source>();
        foreach (string path in paths)
        {
            if (Directory.Exists(path))
            {
                string[] images;
                try
                {
                    images = Directory.EnumerateFiles(path)
                        .Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)))
                        .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal)
                        .ToArray();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw InputException.For(path, $"cannot list the directory: {e.Message}");
                }
                if (images.Length == 0)
                    throw InputException.For(path, $"directory has no images ({string.Join(", ", ImageDecoder.Extensions.Order())})");
                sources.AddRange(images.Select(f => new Source(f, IsNpy: false)));
            }
            else if (File.Exists(path))
            {
                sources.Add(new Source(path, IsNpy: Path.GetExtension(path).Equals(".npy", StringComparison.OrdinalIgnoreCase)));
            }
            else
            {
                throw InputException.For(path, "no such file or directory");
            }
        }
        if (sources.Count == 0)
            throw new InputException("no inputs given");
        return sources;
    }

    /// <summary>The inputs in batches of at most <paramref name="batchSize"/>, in input order.</summary>
    public IEnumerable<InputBatch> Batches(IEnumerable<string> paths, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        // Fails on a missing path or a bad .npy header before any work. Arrays are used as they
        // are: one of another size than the model's is an error, not resized.
        ImageSource source = ImageSource.Open(Expand(paths), Transform, resizeImages: true, resizeArrays: false);
        return BatchesOf(source, batchSize);
    }

    private IEnumerable<InputBatch> BatchesOf(ImageSource source, int batchSize)
    {
        int imageFloats = Channels * Size * Size;
        for (int first = 0; first < source.Count; first += batchSize)
        {
            int count = Math.Min(batchSize, source.Count - first);
            var names = new string[count];
            var data = new float[count * imageFloats];
            for (int i = 0; i < count; i++)
            {
                names[i] = source.Name(first + i);
                source.Decode(first + i, Size, data.AsSpan(i * imageFloats, imageFloats));
            }
            yield return new InputBatch(names, data, Channels, Size, Size);
        }
    }
}
