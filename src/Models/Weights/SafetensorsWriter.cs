using System.Runtime.InteropServices;
using System.Text.Json;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Models.Weights;

/// <summary>
/// Collects F32 tensors and metadata and saves them as a .safetensors file. The file is written to a
/// temporary file beside the target and renamed over it, so a failure never leaves a half-written file.
/// </summary>
public sealed class SafetensorsWriter
{
    readonly List<(string Name, long[] Shape, ReadOnlyMemory<float> Data)> _tensors = [];
    readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Written as the header's "__metadata__" map (omitted when empty).</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Adds a tensor; the data is not copied, so it must not change before <see cref="Save"/>.</summary>
    public SafetensorsWriter Add(string name, ReadOnlySpan<long> shape, ReadOnlyMemory<float> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == "__metadata__") throw new ArgumentException("\"__metadata__\" is reserved for the metadata map", nameof(name));
        long count = 1;
        foreach (long size in shape)
        {
            if (size < 0) throw new ArgumentException($"tensor '{name}': negative dimension {size}", nameof(shape));
            count = checked(count * size);
        }
        if (count != data.Length)
            throw new ArgumentException($"tensor '{name}': shape has {count} elements but the data has {data.Length}", nameof(data));
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        _tensors.Add((name, shape.ToArray(), data));
        return this;
    }

    /// <summary>Adds a tensor with an int shape, the common case for model weights.</summary>
    public SafetensorsWriter Add(string name, ReadOnlySpan<int> shape, ReadOnlyMemory<float> data)
    {
        var longShape = new long[shape.Length];
        for (int i = 0; i < shape.Length; i++) longShape[i] = shape[i];
        return Add(name, longShape, data);
    }

    /// <summary>The header JSON, padded with spaces to a multiple of 8 bytes so the data section is aligned.</summary>
    public byte[] BuildHeader()
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (Metadata.Count > 0)
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in Metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, shape, data) in _tensors)
            {
                writer.WriteStartObject(name);
                writer.WriteString("dtype", "F32");
                writer.WriteStartArray("shape");
                foreach (long size in shape) writer.WriteNumberValue(size);
                writer.WriteEndArray();
                long end = offset + (long)data.Length * sizeof(float);
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(end);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset = end;
            }
            writer.WriteEndObject();
        }
        int length = (int)json.Length;
        int padded = (length + 7) / 8 * 8;
        var header = new byte[padded];
        json.GetBuffer().AsSpan(0, length).CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }

    /// <summary>Writes the file at <paramref name="path"/>, replacing any file there.</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this host is not");

        byte[] header = BuildHeader();
        using AtomicFile file = AtomicFile.Create(path);
        Span<byte> prefix = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        file.Stream.Write(prefix);
        file.Stream.Write(header);
        foreach (var (_, _, data) in _tensors)
            file.Stream.Write(MemoryMarshal.AsBytes(data.Span));
        file.Commit();
    }
}
