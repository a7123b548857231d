using System.Collections.Concurrent;
using System.Numerics;

namespace GpuViT.Models.Images;

/// <summary>
/// Numbered images, decoded on demand, from any thread, to [3, size, size] floats normalised as
/// the model expects, at a size chosen at each decode (so the same images can be compared at
/// several sizes). Sources: <see cref="Synthetic"/> noise, or files, directories and .npy arrays
/// through <see cref="Open"/>.
/// </summary>
public abstract class ImageSource
{
    public abstract int Count { get; }

    /// <summary>What to call image <paramref name="index"/> in messages and output: the file path, "x.npy[3]" or "synthetic[3]".</summary>
    public abstract string Name(int index);

    /// <summary>
    /// Decodes image <paramref name="index"/> at <paramref name="size"/> × <paramref name="size"/> into
    /// <paramref name="destination"/> (exactly 3 × size × size floats, CHW). Thread-safe. A bad file
    /// is an <see cref="InputException"/> naming it (one line); a bad argument is an ArgumentException.
    /// </summary>
    public void Decode(int index, int size, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (destination.Length != 3L * size * size)
            throw new ArgumentException($"a 3x{size}x{size} image needs {3L * size * size} floats, the destination has {destination.Length}", nameof(destination));
        DecodeImage(index, size, destination);
    }

    /// <summary>Image <paramref name="index"/> at <paramref name="size"/> × <paramref name="size"/>, in a new array.</summary>
    public float[] Decode(int index, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        var image = new float[checked(3 * size * size)];
        Decode(index, size, image);
        return image;
    }

    /// <summary><see cref="Decode(int, int, Span{float})"/> with its arguments checked.</summary>
    protected abstract void DecodeImage(int index, int size, Span<float> destination);

    /// <summary>
    /// Images <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> − 1 of this source,
    /// numbered from 0 and named as here (a shard of the inputs, or the part a resumed run has left to do).
    /// </summary>
    public ImageSource Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)start + count, Count);
        return new SliceSource(this, start, count) { SkippedFiles = SkippedFiles };
    }

    private sealed class SliceSource(ImageSource whole, int start, int count) : ImageSource
    {
        public override int Count => count;

        public override string Name(int index) => whole.Name(start + index);

        protected override void DecodeImage(int index, int size, Span<float> destination) => whole.DecodeImage(start + index, size, destination);
    }

    /// <summary>
    /// <paramref name="count"/> noise images, uniform in [−2, 2) (about the range of
    /// ImageNet-normalised pixels, −2.1 to 2.6). Each value depends only on the seed, the index
    /// and its position, never on call order, thread or machine.
    /// </summary>
    public static ImageSource Synthetic(int count, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return new SyntheticSource(count, seed);
    }

    /// <summary>
    /// Image files (PNG, JPEG, BMP, PPM, PGM), directories (their images by extension, in ordinal
    /// order of their paths; with <paramref name="recursive"/> those of their subdirectories too, but
    /// not through symbolic links to directories, which could loop) and .npy float32 arrays [N, 3, H, W] of
    /// normalised images, in the order given. The other files found in the directories are not
    /// read; <see cref="SkippedFiles"/> names them. Every path is checked here (a missing one, an empty
    /// directory, anything but a regular file or a .npy whose header is bad is an <see cref="InputException"/>), and each .npy's
    /// header is read for its N; nothing is decoded until <see cref="Decode(int, int, Span{float})"/>,
    /// and each .npy's data is read once, on first use. An image of more than
    /// <paramref name="maxImagePixels"/> pixels is refused from its header when it is decoded, and every
    /// decode first reserves its memory from <see cref="DecodeMemory"/>.
    /// <para>With <paramref name="resize"/> on, images go through <paramref name="transform"/> (by
    /// default timm's eval transform: crop_pct 0.875, bilinear, ImageNet mean and std) at the size
    /// asked for, and arrays of another size are resized with <see cref="EvalTransform.Resize(ReadOnlySpan{float}, int, int, Span{float}, int, int, Interpolation)"/>
    /// (antialiased like torch's interpolate(antialias=True)). With it off, an image or array must
    /// already be size × size (images are then only scaled and normalised), else decoding it is an error.
    /// <paramref name="resizeArrays"/> off keeps arrays as they are while images are resized
    /// (<c>gpuvit run</c>: a tensor of the wrong size is a mistake, not something to resample).</para>
    /// <para><paramref name="deferArrayErrors"/> on, a .npy whose header is bad is no error here but
    /// one image whose decode throws that error, so that a caller can skip it in its place
    /// (<c>gpuvit run --on-error skip</c>).</para>
    /// </summary>
    public static ImageSource Open(IReadOnlyList<string> paths, bool resize = true, EvalTransform? transform = null, bool resizeArrays = true,
                                   bool deferArrayErrors = false, long maxImagePixels = ImageDecoder.DefaultMaxPixels, bool recursive = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxImagePixels);
        var skipped = new List<string>();
        IReadOnlyList<Source> sources = Expand(paths, recursive, skipped);
        // Each decode takes the transform at its own size (AtSize).
        return new FileSource(sources, transform ?? new EvalTransform(224), resizeImages: resize, resizeArrays: resize && resizeArrays, deferArrayErrors, maxImagePixels)
        {
            SkippedFiles = skipped,
        };
    }

    /// <summary>The files in the directories given that are not images by their extension (.npy included), in listing order: not read, no image of this source.</summary>
    public IReadOnlyList<string> SkippedFiles { get; private init; } = [];

    /// <summary>
    /// The memory every image decode in the process reserves (<see cref="ImageFile.DecodeBytes"/> and
    /// the resize's) before it allocates, whichever source and thread it runs on: 1 GiB, a few large
    /// photos at once (a 12-megapixel one takes about 150 MB), so the stream's workers, one per
    /// core, cannot decode many large images at once.
    /// </summary>
    public static MemoryBudget DecodeMemory { get; } = new(1L << 30);

    /// <summary>One input source after expansion: an image file or a whole .npy array.</summary>
    private sealed record Source(string Path, bool IsNpy);

    /// <summary>Expands directories and checks that every path exists; no file is read yet. The directories' other files go to <paramref name="skipped"/>.</summary>
    private static IReadOnlyList<Source> Expand(IEnumerable<string> paths, bool recursive, List<string> skipped)
    {
        var sources = new List<Source>();
        foreach (string path in paths)
        {
            if (Directory.Exists(path))
            {
                var files = new List<string>();
                bool subdirectories;
                try
                {
                    subdirectories = ListFiles(path, recursive, files);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw InputException.For(path, $"cannot list the directory: {e.Message}");
                }

                // Ordinal order of the whole path: the same on every machine and locale, a subdirectory's files after the files that sort before it.
                files.Sort(StringComparer.Ordinal);
                string[] images = [.. files.Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)))];
                if (images.Length == 0)
                    throw InputException.For(path, $"directory has no images ({string.Join(", ", ImageDecoder.Extensions.Order())})"
                        + (subdirectories && !recursive ? "; --recursive reads its subdirectories" : ""));
                skipped.AddRange(files.Where(f => !ImageDecoder.Extensions.Contains(Path.GetExtension(f))));
                sources.AddRange(images.Select(f => new Source(f, IsNpy: false)));
            }
            else if (File.Exists(path))
            {
                if (RegularFile.Problem(path) is { } problem)
                    throw InputException.For(path, problem);
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

    /// <summary>
    /// Adds the files in <paramref name="directory"/> to <paramref name="files"/>, and with
    /// <paramref name="recursive"/> those of its subdirectories, except through a symbolic link to a
    /// directory (as find and os.walk do by default: a link may lead back up and loop). True when it has subdirectories.
    /// </summary>
    private static bool ListFiles(string directory, bool recursive, List<string> files)
    {
        // Hidden files too, and an unreadable directory is an error, as Directory.EnumerateFiles(path) has it.
        EnumerationOptions options = new() { AttributesToSkip = 0, IgnoreInaccessible = false };
        files.AddRange(Directory.EnumerateFiles(directory, "*", options));
        bool subdirectories = false;
        foreach (string subdirectory in Directory.EnumerateDirectories(directory, "*", options))
        {
            subdirectories = true;
            if (recursive && new DirectoryInfo(subdirectory).LinkTarget is null)
                ListFiles(subdirectory, recursive, files);
        }
        return subdirectories;
    }

    private sealed class SyntheticSource(int count, int seed) : ImageSource
    {
        private const uint Golden = 0x9E3779B9;

        public override int Count => count;

        public override string Name(int index) => $"synthetic[{index}]";

        protected override void DecodeImage(int index, int size, Span<float> destination)
        {
            // Value j is a hash of j and a key that only the seed and the index choose (murmur3's
            // finaliser, a bijection, so no two images are shifts of each other), a vector at a time.
            uint key = Mix((uint)index ^ Mix((uint)seed + Golden));
            int lanes = Vector<uint>.Count;
            Vector<uint> position = Vector<uint>.Indices * Golden, step = new((uint)lanes * Golden), keys = new(key);
            var scale = new Vector<float>(4f / (1 << 24));
            var two = new Vector<float>(2f);
            Span<float> last = stackalloc float[lanes];
            for (int j = 0; j < destination.Length; j += lanes, position += step)
            {
                // The top 24 bits, exact in a float, to [−2, 2).
                Vector<uint> bits = Vector.ShiftRightLogical(Mix(position ^ keys), 8);
                Vector<float> values = Vector.ConvertToSingle(Vector.AsVectorInt32(bits)) * scale - two;
                if (j + lanes <= destination.Length)
                {
                    values.CopyTo(destination[j..]);
                }
                else
                {
                    values.CopyTo(last);
                    last[..(destination.Length - j)].CopyTo(destination[j..]);
                }
            }
        }

        private static uint Mix(uint h) => Mix(new Vector<uint>(h))[0];

        private static Vector<uint> Mix(Vector<uint> h)
        {
            h = (h ^ Vector.ShiftRightLogical(h, 16)) * 0x85EBCA6B;
            h = (h ^ Vector.ShiftRightLogical(h, 13)) * 0xC2B2AE35;
            return h ^ Vector.ShiftRightLogical(h, 16);
        }
    }

    private sealed class FileSource : ImageSource
    {
        /// <summary>An image file (Array null), image <c>Index</c> of a .npy array, or a .npy whose header failed (its decode throws Failure).</summary>
        private readonly record struct Item(string Path, NpyImages? Array, int Index, InputException? Failure = null);

        private readonly Item[] _items;
        private readonly EvalTransform _transform;
        private readonly ConcurrentDictionary<int, EvalTransform> _transforms = new();
        private readonly bool _resizeImages, _resizeArrays;
        private readonly long _maxImagePixels;

        public FileSource(IReadOnlyList<Source> sources, EvalTransform transform, bool resizeImages, bool resizeArrays, bool deferArrayErrors, long maxImagePixels)
        {
            _transform = transform;
            _maxImagePixels = maxImagePixels;
            _resizeImages = resizeImages;
            _resizeArrays = resizeArrays;
            var items = new List<Item>();
            foreach (Source source in sources)
            {
                if (!source.IsNpy)
                {
                    items.Add(new Item(source.Path, null, 0));
                    continue;
                }
                NpyImages array;
                try { array = new NpyImages(source.Path); }
                catch (InputException e) when (deferArrayErrors)
                {
                    items.Add(new Item(source.Path, null, 0, e));
                    continue;
                }
                for (int i = 0; i < array.Count; i++)
                    items.Add(new Item(source.Path, array, i));
            }
            _items = [.. items];
        }

        public override int Count => _items.Length;

        public override string Name(int index)
        {
            Item item = _items[index];
            return item.Array is null ? item.Path : $"{item.Path}[{item.Index}]";
        }

        protected override void DecodeImage(int index, int size, Span<float> destination)
        {
            Item item = _items[index];
            if (item.Failure is { } failure)
                throw new InputException(failure.Message, failure);
            if (item.Array is { } array)
                DecodeArrayImage(array, item.Index, size, destination);
            else
                DecodeFile(item.Path, size, destination);
        }

        private void DecodeFile(string path, int size, Span<float> destination)
        {
            EvalTransform transform = _transforms.GetOrAdd(size, _transform.AtSize);
            using ImageFile file = ImageFile.Open(path, _maxImagePixels);

            // What the header already rules out is refused before any memory is reserved or any pixel decoded.
            if (!_resizeImages && (file.Width != size || file.Height != size))
                throw InputException.For(path, $"the image is {file.Width}×{file.Height}, not {size}×{size}, and resizing is off");
            if (_resizeImages && transform.ResizeProblem(file.Width, file.Height) is { } problem)
                throw InputException.For(path, problem);
            long resizeBytes = _resizeImages ? transform.ResizeBytes(file.Width, file.Height) : 0;
            using MemoryBudget.Reservation memory = DecodeMemory.Reserve(file.DecodeBytes + resizeBytes);
            RgbImage image = file.Decode();
            if (_resizeImages)
                transform.ApplyTo(image, destination);
            else
                transform.Normalize(image, destination);
        }

        private void DecodeArrayImage(NpyImages array, int index, int size, Span<float> destination)
        {
            int height = array.Shape[2], width = array.Shape[3], floats = 3 * height * width;
            // Checked before the data is read: an array that cannot be used costs nothing.
            if ((height != size || width != size) && !_resizeArrays)
                throw InputException.For(array.Path, $"array of shape {NpyFile.ShapeText(array.Shape)} does not fit the model's input [N, 3, {size}, {size}]"
                    + (_resizeImages ? "" : ", and resizing is off"));
            ReadOnlySpan<float> image = array.Data.AsSpan(index * floats, floats);
            if (height == size && width == size)
                image.CopyTo(destination);
            else
                EvalTransform.Resize(image, height, width, destination, size, size, _transform.Interpolation);
        }
    }

    /// <summary>A .npy of images [N, 3, H, W]: its header read and checked at once, its data on first use, once.</summary>
    private sealed class NpyImages
    {
        private readonly Lazy<float[]> _data;

        public NpyImages(string path)
        {
            Path = path;
            Shape = NpyFile.ReadShape(path);
            if (Shape.Length != 4 || Shape[1] != 3)
                throw InputException.For(path, $"array of shape {NpyFile.ShapeText(Shape)} is not images [N, 3, H, W]");
            if (Shape[0] == 0)
                throw InputException.For(path, "array holds no inputs (N = 0)");
            if (Shape[2] == 0 || Shape[3] == 0)
                throw InputException.For(path, $"array of shape {NpyFile.ShapeText(Shape)} holds empty images");
            _data = new Lazy<float[]>(Read, LazyThreadSafetyMode.ExecutionAndPublication);
        }

        public string Path { get; }
        public int[] Shape { get; }
        public int Count => Shape[0];
        public float[] Data => _data.Value;

        private float[] Read()
        {
            NpyArray array = NpyFile.ReadFloat32(Path);
            if (!array.Shape.SequenceEqual(Shape))
                throw InputException.For(Path, $"changed while open: its shape was {NpyFile.ShapeText(Shape)}, now {array.ShapeText}");
            return array.Data;
        }
    }
}
