using System.Buffers.Binary;

namespace GpuViT.Models.Images;

/// <summary>
/// An image's width and height from its header alone, before anything is decoded, so that a
/// small file of a huge image is refused for its size rather than decoded. PNG, JPEG and BMP are
/// read here as stb_image reads them (stb's own header reader calls an image above its internal
/// limits "unknown image type"), PPM/PGM by the Netpbm decoder, anything else by stb's info call.
/// </summary>
internal static class ImageHeader
{
    /// <summary>The bytes read from a file's start for the formats whose header is there (all but JPEG, which is walked segment by segment).</summary>
    public const int PrefixBytes = 1 << 16;

    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The size <paramref name="stream"/>'s header gives, read from its start; <paramref name="name"/> is only for messages.</summary>
    public static (int Width, int Height) ReadSize(Stream stream, string name)
    {
        var prefix = new byte[(int)Math.Min(PrefixBytes, stream.Length)];
        stream.Position = 0;
        stream.ReadExactly(prefix);
        if (prefix.Length == 0)
            throw InputException.For(name, "empty file, not an image");
        if (prefix.AsSpan().StartsWith(PngSignature))
            return Png(prefix, name);
        if (prefix is [0xFF, 0xD8, ..])
            return Jpeg(stream, name);
        if (prefix is [(byte)'B', (byte)'M', ..])
            return Bmp(prefix, name);
        if (ImageDecoder.IsNetpbm(prefix))
            return ImageDecoder.NetpbmSize(prefix, name);
        return ImageDecoder.StbInfo(prefix, name);
    }

    // The first chunk is IHDR (after Apple's CgBI chunk in iPhone PNGs), its width and height first.
    private static (int, int) Png(ReadOnlySpan<byte> data, string name)
    {
        int chunk = PngSignature.Length;
        if (data.Length >= chunk + 8 && data.Slice(chunk + 4, 4).SequenceEqual("CgBI"u8))
            chunk += 12 + (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[chunk..]), PrefixBytes);
        if (data.Length < chunk + 16 || !data.Slice(chunk + 4, 4).SequenceEqual("IHDR"u8))
            throw InputException.For(name, "corrupt PNG: no IHDR chunk at its start");
        return Positive(BinaryPrimitives.ReadUInt32BigEndian(data[(chunk + 8)..]), BinaryPrimitives.ReadUInt32BigEndian(data[(chunk + 12)..]), "PNG", name);
    }

    // BITMAPCOREHEADER (12 bytes) has 16-bit sizes; the others 32-bit, a negative height meaning top-down rows.
    private static (int, int) Bmp(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length < 26)
            throw InputException.For(name, "truncated BMP header");
        if (BinaryPrimitives.ReadUInt32LittleEndian(data[14..]) == 12)
            return Positive(BinaryPrimitives.ReadUInt16LittleEndian(data[18..]), BinaryPrimitives.ReadUInt16LittleEndian(data[20..]), "BMP", name);
        long height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[22..]));
        return Positive(BinaryPrimitives.ReadInt32LittleEndian(data[18..]), height, "BMP", name);
    }

    /// <summary>
    /// Walks the markers from SOI to the first SOF0/1/2 frame header (the ones stb decodes), skipping
    /// each segment by its length and, as stb does, any bytes between segments that are not a marker.
    /// </summary>
    private static (int, int) Jpeg(Stream stream, string name)
    {
        stream.Position = 2;
        while (true)
        {
            int b = stream.ReadByte();
            if (b != 0xFF)
            {
                if (b < 0)
                    throw InputException.For(name, "truncated JPEG: it ends before the frame header (SOF)");
                continue;
            }

            int marker;
            do marker = stream.ReadByte(); while (marker == 0xFF);
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
                continue; // no length: TEM and the restart markers
            if (marker is 0xD8 or 0xD9 or 0xDA or < 0)
                throw InputException.For(name, "corrupt JPEG: no frame header (SOF) before the image data");
            int length = stream.ReadByte() << 8 | stream.ReadByte();
            if (length < 2)
                throw InputException.For(name, $"corrupt JPEG: a segment of length {length}");
            if (marker is 0xC0 or 0xC1 or 0xC2)
            {
                Span<byte> frame = stackalloc byte[5];
                if (stream.ReadAtLeast(frame, 5, throwOnEndOfStream: false) < 5)
                    throw InputException.For(name, "truncated JPEG frame header");
                return Positive(BinaryPrimitives.ReadUInt16BigEndian(frame[3..]), BinaryPrimitives.ReadUInt16BigEndian(frame[1..]), "JPEG", name);
            }

            if (stream.Position + length - 2 > stream.Length)
                throw InputException.For(name, "truncated JPEG: a segment runs past the end of the file");
            stream.Position += length - 2;
        }
    }

    private static (int, int) Positive(long width, long height, string format, string name)
    {
        if (width is <= 0 or > int.MaxValue || height is <= 0 or > int.MaxValue)
            throw InputException.For(name, $"corrupt {format} header: size {width}x{height}");
        return ((int)width, (int)height);
    }
}
