using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json.Nodes;
using GpuViT.Models.Vit;

namespace GpuViT.Tests.Models;

/// <summary>
/// Inputs made to cost a reader more than they cost to store: huge images in small PNGs, headers
/// that claim what the file does not hold, tensors in a sparse tail, FIFOs. Built by the tests.
/// </summary>
internal static class HostileFiles
{
    private static readonly Lazy<byte[]> ZeroPng16000 = new(() => ZeroPng(16000, 16000));

    /// <summary>A 16000 × 16000 RGB PNG of zeros: about 0.8 MB on disk, 768 MB of pixels. Built once (in about a second).</summary>
    public static byte[] Huge16000Png => ZeroPng16000.Value;

    /// <summary>A real, complete RGB PNG of zeros, its rows deflated as they are made so the raw image never exists in memory.</summary>
    public static byte[] ZeroPng(int width, int height)
    {
        var idat = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
        {
            var row = new byte[1 + 3 * width]; // filter byte 0, then the pixels
            for (int y = 0; y < height; y++)
                zlib.Write(row);
        }
        return Png(width, height, idat.ToArray());
    }

    /// <summary>A PNG whose IHDR says <paramref name="width"/> × <paramref name="height"/> but whose data is one empty row: a lying header.</summary>
    public static byte[] LyingPng(int width, int height)
    {
        var idat = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
            zlib.Write(new byte[1 + 3 * Math.Min(width, 1024)]);
        return Png(width, height, idat.ToArray());
    }

    private static byte[] Png(int width, int height, byte[] idat)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        (ihdr[8], ihdr[9]) = (8, 2); // 8-bit RGB
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        InputTests.Chunk(png, "IHDR", ihdr);
        InputTests.Chunk(png, "IDAT", idat);
        InputTests.Chunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>A baseline JPEG header (SOI, a frame header) for a <paramref name="width"/> × <paramref name="height"/> grey image, and no data.</summary>
    public static byte[] JpegHeader(int width, int height) =>
        [0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 1, 1, 0x11, 0];

    /// <summary>A named pipe (FIFO) at <paramref name="path"/>: opening it to read blocks until something writes to it.</summary>
    public static string Fifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    /// <summary><paramref name="work"/>'s result, on a thread of its own that fails the test when it is still running after 10 s (a FIFO opened to read blocks for ever).</summary>
    public static T WithoutHanging<T>(Func<T> work)
    {
        T? result = default;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = work(); }
            catch (Exception e) { error = e; }
        }) { IsBackground = true };
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "still running after 10 s: it hangs");
        if (error is not null)
            ExceptionDispatchInfo.Capture(error).Throw();
        return result!;
    }

    /// <summary>vit_test_tiny with random weights, saved as it loads (timm layout, full metadata).</summary>
    public static string TinyVit(string path)
    {
        VitConfig config = VitPresets.Get("vit_test_tiny");
        VitWeightFiles.Save(path, config, VitWeights.RandomInit(config, seed: 1));
        return path;
    }

    /// <summary>
    /// Adds tensor <paramref name="name"/> (F32, <paramref name="shape"/>) to a safetensors file, its
    /// data after all the others: the file grows by SetLength, so the tail is sparse, never written.
    /// </summary>
    public static void AddSparseTensor(string path, string name, long[] shape) =>
        EditHeader(path, (header, dataLength) =>
        {
            long bytes = shape.Aggregate(4L, (n, d) => n * d);
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray([.. shape.Select(d => JsonValue.Create(d))]),
                ["data_offsets"] = new JsonArray(dataLength, dataLength + bytes),
            };
            return bytes;
        });

    /// <summary>
    /// Rewrites a safetensors file's header with <paramref name="edit"/>, which is given the header and
    /// the data section's length and returns how many bytes to add after the data (by SetLength: sparse).
    /// </summary>
    public static void EditHeader(string path, Func<JsonObject, long, long> edit)
    {
        byte[] file = File.ReadAllBytes(path);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        byte[] data = file[(8 + headerLength)..];
        var header = JsonNode.Parse(file.AsSpan(8, headerLength))!.AsObject();
        long tail = edit(header, data.Length);
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        byte[] padded = [.. json, .. Enumerable.Repeat((byte)' ', (8 - json.Length % 8) % 8)];
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded.Length);
        stream.Write(prefix);
        stream.Write(padded);
        stream.Write(data);
        stream.SetLength(stream.Length + tail);
    }
}
