using System.Buffers;
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace GpuViT.Models.Weights;

/// <summary>
/// A .safetensors file, memory-mapped and read-only: an 8-byte little-endian header length N, N bytes
/// of JSON describing each tensor (dtype, shape, data_offsets relative to the data section) and an
/// optional "__metadata__" string map, then the data section. The whole header is validated when the
/// file is opened, so every later read stays inside the file. Every failure is a
/// <see cref="WeightsFormatException"/>.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Headers larger than this are refused before any of them is read (the reference
    /// implementation uses the same 100 MB bound).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    const string MetadataKey = "__metadata__";

    // Conversions go through a pooled buffer of this many elements, so F16/BF16 reads stay bounded.
    const int ConvertChunkElements = 16 * 1024;

    readonly string _fileName;
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly long _dataStart;
    readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    bool _disposed;

    /// <summary>The tensors in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The header's "__metadata__" map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor names in header order.</summary>
    public IEnumerable<string> TensorNames => Tensors.Select(t => t.Name);

    /// <summary>The size of the data section in bytes.</summary>
    public long DataLength { get; }

    SafetensorsFile(string fileName, MemoryMappedFile map, MemoryMappedViewAccessor view, long dataStart,
        long dataLength, List<SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        _fileName = fileName;
        _map = map;
        _view = view;
        _dataStart = dataStart;
        DataLength = dataLength;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    /// <summary>Maps <paramref name="path"/> and validates its header.</summary>
    /// <exception cref="WeightsFormatException">The file cannot be opened or is not a valid safetensors file.</exception>
    public static SafetensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string fileName = Path.GetFileName(path);
        if (fileName.Length == 0) fileName = path;

        if (RegularFile.Problem(path) is { } problem)
            throw new WeightsFormatException($"{fileName}: {problem}");
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new WeightsFormatException($"{fileName}: cannot open: {OneLine(e.Message)}", e);
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            long fileLength = stream.Length;
            // Checked before mapping: an empty file cannot be mapped, and the length prefix must be there.
            if (fileLength < 8)
                throw new WeightsFormatException(
                    $"{fileName}: file is {fileLength} bytes, too short for the 8-byte header length");

            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0,
                MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, fileLength, MemoryMappedFileAccess.Read);
            var buffer = view.SafeMemoryMappedViewHandle;

            Span<byte> prefix = stackalloc byte[8];
            buffer.ReadSpan(0, prefix);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > (ulong)MaxHeaderBytes)
                throw new WeightsFormatException(
                    $"{fileName}: header length {headerLength} bytes exceeds the {MaxHeaderBytes}-byte limit");
            if (headerLength > (ulong)(fileLength - 8))
                throw new WeightsFormatException(
                    $"{fileName}: header length {headerLength} bytes runs past the end of the {fileLength}-byte file");
            if (headerLength < 2)
                throw new WeightsFormatException($"{fileName}: header length {headerLength} bytes is too short for a JSON object");

            var header = new byte[headerLength];
            buffer.ReadArray(8, header, 0, header.Length);

            long dataStart = 8 + (long)headerLength;
            long dataLength = fileLength - dataStart;
            var (tensors, metadata) = ParseHeader(fileName, header, dataLength);

            return new SafetensorsFile(fileName, map, view, dataStart, dataLength, tensors, metadata);
        }
        catch (Exception e)
        {
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            if (e is WeightsFormatException) throw;
            if (e is IOException or UnauthorizedAccessException)
                throw new WeightsFormatException($"{fileName}: cannot map: {OneLine(e.Message)}", e);
            throw;
        }
    }

    /// <summary>Whether the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header's description of tensor <paramref name="name"/>.</summary>
    /// <exception cref="WeightsFormatException">No such tensor.</exception>
    public SafetensorsTensorInfo GetInfo(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out var info)) return info;
        throw new WeightsFormatException($"{_fileName}: no tensor named '{name}'");
    }

    /// <summary>Tensor <paramref name="name"/> as a new F32 array, converted from F16/BF16 if need be.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = GetInfo(name);
        if (info.ElementCount > Array.MaxLength)
            throw new WeightsFormatException(
                $"{_fileName}: tensor '{name}' has {info.ElementCount} elements, too many for one array");
        var result = new float[info.ElementCount];
        Read(name, result);
        return result;
    }

    /// <summary>Copies tensor <paramref name="name"/> into <paramref name="destination"/> as F32; the
    /// destination must have exactly the tensor's element count.</summary>
    public void Read(string name, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var info = GetInfo(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException(
                $"tensor '{name}' has {info.ElementCount} elements but the destination holds {destination.Length}",
                nameof(destination));
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this host is not");

        var buffer = _view.SafeMemoryMappedViewHandle;
        ulong start = (ulong)(_dataStart + info.DataOffset);
        switch (info.DType)
        {
            case SafetensorsDType.F32:
                buffer.ReadSpan(start, destination);
                break;
            case SafetensorsDType.F16:
            case SafetensorsDType.BF16:
                ReadHalfWidth(buffer, start, info.DType, destination);
                break;
        }
    }

    static void ReadHalfWidth(SafeBuffer buffer, ulong start, SafetensorsDType dtype, Span<float> destination)
    {
        ushort[] chunk = ArrayPool<ushort>.Shared.Rent(Math.Min(ConvertChunkElements, Math.Max(1, destination.Length)));
        try
        {
            for (int done = 0; done < destination.Length;)
            {
                int count = Math.Min(chunk.Length, destination.Length - done);
                var bits = chunk.AsSpan(0, count);
                buffer.ReadSpan(start + (ulong)done * 2, bits);
                var target = destination.Slice(done, count);
                if (dtype == SafetensorsDType.F16)
                    for (int i = 0; i < count; i++) target[i] = (float)BitConverter.UInt16BitsToHalf(bits[i]);
                else
                    // BF16 is the top half of an F32.
                    for (int i = 0; i < count; i++) target[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
                done += count;
            }
        }
        finally
        {
            ArrayPool<ushort>.Shared.Return(chunk);
        }
    }

    static (List<SafetensorsTensorInfo>, Dictionary<string, string>) ParseHeader(string fileName, byte[] header, long dataLength)
    {
        // The JSON reader checks structure but leaves string bytes unchecked until they are read.
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw new WeightsFormatException($"{fileName}: header is not valid UTF-8");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new WeightsFormatException($"{fileName}: header is not valid JSON: {OneLine(e.Message)}", e);
        }
        catch (ArgumentException e)
        {
            // Invalid UTF-8 can surface as an ArgumentException from the decoder.
            throw new WeightsFormatException($"{fileName}: header is not valid UTF-8 JSON: {OneLine(e.Message)}", e);
        }

        using (document)
        try
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new WeightsFormatException($"{fileName}: header is a JSON {root.ValueKind}, not an object");

            var tensors = new List<SafetensorsTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var property in root.EnumerateObject())
            {
                string name = property.Name;
                if (name == MetadataKey)
                {
                    if (sawMetadata) throw new WeightsFormatException($"{fileName}: header has \"{MetadataKey}\" twice");
                    sawMetadata = true;
                    ParseMetadata(fileName, property.Value, metadata);
                    continue;
                }
                if (!seen.Add(name))
                    throw new WeightsFormatException($"{fileName}: tensor '{Printable(name)}' appears twice in the header");
                tensors.Add(ParseTensor(fileName, name, property.Value, dataLength));
            }

            CheckNoOverlaps(fileName, tensors);
            return (tensors, metadata);
        }
        catch (InvalidOperationException e)
        {
            // Escaped strings that do not decode (a lone "\uD800") surface only when read.
            throw new WeightsFormatException($"{fileName}: header has a string that cannot be decoded: {OneLine(e.Message)}", e);
        }
    }

    static void ParseMetadata(string fileName, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new WeightsFormatException($"{fileName}: \"{MetadataKey}\" is a JSON {value.ValueKind}, not an object of strings");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new WeightsFormatException(
                    $"{fileName}: metadata '{Printable(entry.Name)}' is a JSON {entry.Value.ValueKind}, not a string");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw new WeightsFormatException($"{fileName}: metadata '{Printable(entry.Name)}' appears twice");
        }
    }

    static SafetensorsTensorInfo ParseTensor(string fileName, string name, JsonElement value, long dataLength)
    {
        string where = $"{fileName}: tensor '{Printable(name)}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new WeightsFormatException($"{where} is a JSON {value.ValueKind}, not an object");

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtypeElement is null: dtypeElement = field.Value; break;
                case "shape" when shapeElement is null: shapeElement = field.Value; break;
                case "data_offsets" when offsetsElement is null: offsetsElement = field.Value; break;
                case "dtype" or "shape" or "data_offsets":
                    throw new WeightsFormatException($"{where} has \"{field.Name}\" twice");
                default:
                    throw new WeightsFormatException($"{where} has an unknown field \"{field.Name}\"");
            }
        }
        if (dtypeElement is null) throw new WeightsFormatException($"{where} has no \"dtype\"");
        if (shapeElement is null) throw new WeightsFormatException($"{where} has no \"shape\"");
        if (offsetsElement is null) throw new WeightsFormatException($"{where} has no \"data_offsets\"");

        if (dtypeElement.Value.ValueKind != JsonValueKind.String)
            throw new WeightsFormatException($"{where}: \"dtype\" is a JSON {dtypeElement.Value.ValueKind}, not a string");
        string dtypeName = dtypeElement.Value.GetString()!;
        (SafetensorsDType dtype, int elementBytes) = dtypeName switch
        {
            "F32" => (SafetensorsDType.F32, 4),
            "F16" => (SafetensorsDType.F16, 2),
            "BF16" => (SafetensorsDType.BF16, 2),
            _ => throw new WeightsFormatException(
                $"{where} has dtype '{Printable(dtypeName)}'; only F32, F16 and BF16 are supported"),
        };

        var shape = new List<long>();
        long elementCount = 1;
        if (shapeElement.Value.ValueKind != JsonValueKind.Array)
            throw new WeightsFormatException($"{where}: \"shape\" is a JSON {shapeElement.Value.ValueKind}, not an array");
        foreach (var dim in shapeElement.Value.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw new WeightsFormatException(
                    $"{where}: shape entry {Printable(dim.GetRawText())} is not a non-negative integer");
            shape.Add(size);
            elementCount = CheckedMultiply(elementCount, size)
                ?? throw new WeightsFormatException($"{where}: shape [{string.Join(", ", shape)}...] has too many elements");
        }

        if (offsetsElement.Value.ValueKind != JsonValueKind.Array || offsetsElement.Value.GetArrayLength() != 2)
            throw new WeightsFormatException($"{where}: \"data_offsets\" is not an array [begin, end]");
        long begin = ReadOffset(where, offsetsElement.Value[0], "begin");
        long end = ReadOffset(where, offsetsElement.Value[1], "end");
        if (begin > end)
            throw new WeightsFormatException($"{where} begins at byte {begin}, after its end at byte {end}");
        if (end > dataLength)
            throw new WeightsFormatException(
                $"{where} ends at byte {end}, past the data section's {dataLength} bytes");

        long expectedBytes = CheckedMultiply(elementCount, elementBytes)
            ?? throw new WeightsFormatException($"{where}: shape [{string.Join(", ", shape)}] has too many bytes");
        if (expectedBytes != end - begin)
            throw new WeightsFormatException(
                $"{where}: shape [{string.Join(", ", shape)}] of {dtypeName} needs {expectedBytes} bytes but data_offsets span {end - begin}");

        return new SafetensorsTensorInfo(name, dtype, shape.AsReadOnly(), elementCount, begin, end - begin);
    }

    static long ReadOffset(string where, JsonElement element, string which)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long offset) || offset < 0)
            throw new WeightsFormatException(
                $"{where}: data_offsets {which} {Printable(element.GetRawText())} is not a non-negative integer");
        return offset;
    }

    static void CheckNoOverlaps(string fileName, List<SafetensorsTensorInfo> tensors)
    {
        var byStart = tensors.OrderBy(t => t.DataOffset).ThenBy(t => t.ByteLength).ToList();
        for (int i = 1; i < byStart.Count; i++)
        {
            var previous = byStart[i - 1];
            var current = byStart[i];
            long previousEnd = previous.DataOffset + previous.ByteLength;
            if (current.DataOffset < previousEnd)
                throw new WeightsFormatException(
                    $"{fileName}: tensor '{Printable(current.Name)}' (bytes {current.DataOffset}..{current.DataOffset + current.ByteLength}) overlaps tensor '{Printable(previous.Name)}' (bytes {previous.DataOffset}..{previousEnd})");
        }
    }

    static long? CheckedMultiply(long a, long b)
    {
        try { return checked(a * b); }
        catch (OverflowException) { return null; }
    }

    // Keeps hostile header text from breaking the one-line message or flooding it.
    static string Printable(string text)
    {
        const int maxLength = 64;
        var cleaned = new string(text.Select(c => char.IsControl(c) ? '?' : c).Take(maxLength).ToArray());
        return text.Length > maxLength ? cleaned + "..." : cleaned;
    }

    static string OneLine(string text) => text.ReplaceLineEndings(" ");

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.Dispose();
        _map.Dispose();
    }
}
