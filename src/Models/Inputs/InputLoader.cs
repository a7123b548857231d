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
/// Every path is checked before any decoding, and images are decoded a batch at a time. Every
/// failure is an <see cref="InputException"/> that names the file.
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
        IReadOnlyList<Source> sources = Expand(paths); // fails on a missing path before any work
        return BatchesOf(sources, batchSize);
    }

    private IEnumerable<InputBatch> BatchesOf(IReadOnlyList<Source> sources, int batchSize)
    {
        int imageFloats = Channels * Size * Size;
        var names = new List<string>(batchSize);
        var data = new float[batchSize * imageFloats];
        foreach (var (name, fill) in Items(sources))
        {
            fill(data.AsSpan(names.Count * imageFloats, imageFloats));
            names.Add(name);
            if (names.Count == batchSize)
            {
                yield return new InputBatch(names.ToArray(), data, Channels, Size, Size);
                names.Clear();
                data = new float[batchSize * imageFloats]; // the caller may keep the last batch
            }
        }
        if (names.Count > 0)
            yield return new InputBatch(names.ToArray(), data[..(names.Count * imageFloats)], Channels, Size, Size);
    }

    private delegate void Fill(Span<float> destination);

    private IEnumerable<(string Name, Fill Fill)> Items(IReadOnlyList<Source> sources)
    {
        foreach (Source source in sources)
        {
            if (!source.IsNpy)
            {
                yield return (source.Path, destination => TransformImage(source.Path, destination));
                continue;
            }
            NpyArray array = ReadBatchArray(source.Path);
            int n = array.Shape[0], stride = Channels * Size * Size;
            for (int i = 0; i < n; i++)
            {
                int offset = i * stride;
                yield return ($"{source.Path}[{i}]", destination => array.Data.AsSpan(offset, stride).CopyTo(destination));
            }
        }
    }

    private void TransformImage(string path, Span<float> destination)
    {
        RgbImage image = ImageDecoder.Load(path);
        try { Transform.ApplyTo(image, destination); }
        catch (ArgumentException e) { throw InputException.For(path, e.Message); }
    }

    private NpyArray ReadBatchArray(string path)
    {
        NpyArray array = NpyFile.ReadFloat32(path);
        int[] s = array.Shape;
        if (s.Length != 4 || s[1] != Channels || s[2] != Size || s[3] != Size)
            throw InputException.For(path, $"array of shape {array.ShapeText} does not fit the model's input [N, {Channels}, {Size}, {Size}]");
        if (s[0] == 0)
            throw InputException.For(path, "array holds no inputs (N = 0)");
        return array;
    }
}
