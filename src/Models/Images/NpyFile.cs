using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Models.Images;

/// <summary>A float32 array read from or written to a .npy file: its shape and data in C order.</summary>
public sealed class NpyArray
{
    public NpyArray(int[] shape, float[] data)
    {
        long count = 1;
        foreach (int d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d);
            count *= d;
        }
        if (count != data.Length)
            throw new ArgumentException($"shape ({string.Join(", ", shape)}) holds {count} values, data has {data.Length}");
        Shape = shape;
        Data = data;
    }

    public int[] Shape { get; }
    public float[] Data { get; }

    public string ShapeText => NpyFile.ShapeText(Shape);
}

/// <summary>
/// NumPy's .npy format (versions 1.0, 2.0 and 3.0) for little-endian float32 ('&lt;f4') in C order,
/// the only kind GpuViT takes in (input batches) and gives out (logits). Anything else is refused
/// with an <see cref="InputException"/> that names the file.
/// </summary>
public static class NpyFile
{
    // Not a u8 literal: that would encode \x93 as two UTF-8 bytes.
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Headers larger than this are refused before being read (numpy's own limit is 10 000).</summary>
    public const int MaxHeaderLength = 1 << 16;

    public static NpyArray ReadFloat32(string path) => WithFile(path, stream => ReadFloat32(stream, path));

    /// <summary>Reads from <paramref name="stream"/>; <paramref name="name"/> is only for messages.</summary>
    public static NpyArray ReadFloat32(Stream stream, string name)
    {
        int[] shape = ReadHeader(stream, name);
        long count = shape.Aggregate(1L, (n, d) => n * d); // ReadHeader checked it fits an array
        var data = new float[count];
        Span<byte> bytes = MemoryMarshal.AsBytes(data.AsSpan());
        if (stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false) < bytes.Length)
            throw InputException.For(name, $"truncated .npy data: shape {ShapeText(shape)} needs {count * sizeof(float)} bytes");
        if (!BitConverter.IsLittleEndian)
        {
            Span<int> words = MemoryMarshal.Cast<float, int>(data.AsSpan());
            BinaryPrimitives.ReverseEndianness(words, words);
        }
        return new NpyArray(shape, data);
    }

    /// <summary>
    /// The shape of a float32 .npy, from its header alone: the file is checked as
    /// <see cref="ReadFloat32(string)"/> checks it (dtype, order, enough data) but no data is read.
    /// </summary>
    public static int[] ReadShape(string path) => WithFile(path, stream => ReadHeader(stream, path));

    private static T WithFile<T>(string path, Func<Stream, T> read)
    {
        if (RegularFile.Problem(path) is { } problem)
            throw InputException.For(path, problem);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            return read(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw InputException.For(path, $"cannot read: {e.Message}");
        }
    }

    /// <summary>Reads and checks the header, leaving <paramref name="stream"/> at the first data byte.</summary>
    private static int[] ReadHeader(Stream stream, string name)
    {
        Span<byte> prelude = stackalloc byte[12];
        int got = stream.ReadAtLeast(prelude[..10], 10, throwOnEndOfStream: false);
        if (got < 10 || !prelude[..6].SequenceEqual(Magic))
            throw InputException.For(name, "not a .npy file (no \\x93NUMPY magic)");
        byte major = prelude[6], minor = prelude[7];
        int headerLength;
        int preludeLength;
        if (major == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prelude[8..10]);
            preludeLength = 10;
        }
        else if (major is 2 or 3)
        {
            if (stream.ReadAtLeast(prelude[10..12], 2, throwOnEndOfStream: false) < 2)
                throw InputException.For(name, "truncated .npy header");
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(prelude[8..12]);
            if (length > MaxHeaderLength)
                throw InputException.For(name, $".npy header of {length} bytes is larger than {MaxHeaderLength}");
            headerLength = (int)length;
            preludeLength = 12;
        }
        else
        {
            throw InputException.For(name, $"unsupported .npy version {major}.{minor} (1.0, 2.0 and 3.0 are read)");
        }

        var headerBytes = new byte[headerLength];
        if (stream.ReadAtLeast(headerBytes, headerLength, throwOnEndOfStream: false) < headerLength)
            throw InputException.For(name, "truncated .npy header");
        // 1.0 and 2.0 headers are latin-1; 3.0 is UTF-8. The keys and values read here are ASCII either way.
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        var (descr, fortranOrder, shape) = ParseHeader(header, name);

        if (descr != "<f4")
            throw InputException.For(name, $"dtype '{descr}' is not supported, only little-endian float32 ('<f4'); convert with arr.astype('<f4')");
        if (fortranOrder)
            throw InputException.For(name, "array is in Fortran order; save it in C order (np.ascontiguousarray)");

        long count = 1;
        foreach (int d in shape)
        {
            count *= d;
            if (count > Array.MaxLength)
                throw InputException.For(name, $"array of shape {ShapeText(shape)} is too large");
        }
        long expectedBytes = count * sizeof(float);
        if (stream.CanSeek && stream.Length - (preludeLength + headerLength) < expectedBytes)
            throw InputException.For(name, $"truncated .npy data: {stream.Length - preludeLength - headerLength} bytes, shape {ShapeText(shape)} needs {expectedBytes}");
        return shape;
    }

    /// <summary>Writes a '&lt;f4' C-order .npy (version 1.0) to a temporary file beside <paramref name="path"/>, then renames it over.</summary>
    public static void WriteFloat32(string path, ReadOnlySpan<float> data, ReadOnlySpan<int> shape)
    {
        long count = 1;
        foreach (int d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d);
            count *= d;
        }
        if (count != data.Length)
            throw new ArgumentException($"shape {ShapeText(shape.ToArray())} holds {count} values, data has {data.Length}");

        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {ShapeText(shape.ToArray())}, }}";
        // numpy pads with spaces and a final newline so the data starts on a 64-byte boundary.
        int unpadded = Magic.Length + 4 + dict.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        string header = dict + new string(' ', total - unpadded) + "\n";
        if (header.Length > ushort.MaxValue)
            throw new ArgumentException("shape too long for a version 1.0 header");

        using AtomicFile file = AtomicFile.Create(path);
        Stream stream = file.Stream;
        stream.Write(Magic);
        stream.Write([1, 0]);
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
        stream.Write(length);
        stream.Write(Encoding.Latin1.GetBytes(header));
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data));
        }
        else
        {
            var words = MemoryMarshal.Cast<float, int>(data).ToArray();
            BinaryPrimitives.ReverseEndianness(words, words);
            stream.Write(MemoryMarshal.AsBytes(words.AsSpan()));
        }

        file.Commit();
    }

    /// <summary>A Python tuple: "(2, 3)", "(5,)", "()".</summary>
    internal static string ShapeText(int[] shape) =>
        shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";

    /// <summary>
    /// The header is a Python dict literal with the keys 'descr', 'fortran_order' and 'shape'; this
    /// reads just that grammar (strings, True/False, tuples of ints) and refuses anything else.
    /// </summary>
    private static (string Descr, bool FortranOrder, int[] Shape) ParseHeader(string header, string name)
    {
        var p = new HeaderParser(header, name);
        string? descr = null;
        bool? fortran = null;
        int[]? shape = null;
        p.Expect('{');
        while (!p.TryTake('}'))
        {
            string key = p.String();
            p.Expect(':');
            switch (key)
            {
                case "descr": descr = p.String(); break;
                case "fortran_order": fortran = p.Bool(); break;
                case "shape": shape = p.IntTuple(); break;
                default: throw p.Error($"unexpected key '{key}'");
            }
            if (!p.TryTake(','))
            {
                p.Expect('}');
                break;
            }
        }
        if (descr is null || fortran is null || shape is null)
            throw InputException.For(name, "corrupt .npy header: needs 'descr', 'fortran_order' and 'shape'");
        return (descr, fortran.Value, shape);
    }

    private ref struct HeaderParser(string text, string name)
    {
        private int _pos;

        public InputException Error(string problem) => InputException.For(name, $"corrupt .npy header: {problem}");

        private void SkipSpace()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
        }

        public bool TryTake(char c)
        {
            SkipSpace();
            if (_pos < text.Length && text[_pos] == c) { _pos++; return true; }
            return false;
        }

        public void Expect(char c)
        {
            if (!TryTake(c))
                throw Error($"expected '{c}' at offset {_pos}");
        }

        public string String()
        {
            SkipSpace();
            if (_pos >= text.Length || text[_pos] is not ('\'' or '"'))
                throw Error($"expected a string at offset {_pos}");
            char quote = text[_pos++];
            int end = text.IndexOf(quote, _pos);
            if (end < 0)
                throw Error("unterminated string");
            string s = text[_pos..end];
            _pos = end + 1;
            return s;
        }

        public bool Bool()
        {
            SkipSpace();
            foreach (var (word, value) in new[] { ("True", true), ("False", false) })
                if (string.CompareOrdinal(text, _pos, word, 0, word.Length) == 0) { _pos += word.Length; return value; }
            throw Error($"expected True or False at offset {_pos}");
        }

        public int[] IntTuple()
        {
            Expect('(');
            var dims = new List<int>();
            while (!TryTake(')'))
            {
                SkipSpace();
                int start = _pos;
                while (_pos < text.Length && char.IsAsciiDigit(text[_pos])) _pos++;
                if (_pos == start || !int.TryParse(text.AsSpan(start, _pos - start), out int d))
                    throw Error($"expected a dimension at offset {start}");
                dims.Add(d);
                if (!TryTake(','))
                {
                    Expect(')');
                    break;
                }
            }
            return [.. dims];
        }
    }
}
