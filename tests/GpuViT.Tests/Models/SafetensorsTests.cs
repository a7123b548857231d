using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using GpuViT.Models.Vit;
using GpuViT.Models.Weights;

namespace GpuViT.Tests.Models;

public sealed class SafetensorsTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-safetensors-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(string name) => _temp.PathOf(name);

    // A file as the format defines it: u64 LE header length, the header, the data section.
    static byte[] Raw(string header, byte[] data) => Raw(Encoding.UTF8.GetBytes(header), data);

    static byte[] Raw(byte[] header, byte[] data)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    static byte[] UInt16Bytes(params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        return bytes;
    }

    string WriteRaw(string name, byte[] contents)
    {
        string path = PathOf(name);
        File.WriteAllBytes(path, contents);
        return path;
    }

    WeightsFormatException OpenFails(string name, byte[] contents, string expected)
    {
        string path = WriteRaw(name, contents);
        var error = Assert.Throws<WeightsFormatException>(() => { using var file = SafetensorsFile.Open(path); });
        Assert.StartsWith(name + ": ", error.Message);
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain('\n', error.Message);
        return error;
    }

    [Fact]
    public void RoundTripF32WithMetadata()
    {
        var weight = Enumerable.Range(0, 24).Select(i => i * 0.5f - 3f).ToArray();
        var bias = new[] { float.MaxValue, float.Epsilon, -0f, float.PositiveInfinity };
        var writer = new SafetensorsWriter()
            .Add("blocks.0.attn.qkv.weight", new[] { 2, 3, 4 }, weight)
            .Add("blocks.0.attn.qkv.bias", new[] { 4 }, bias)
            .Add("empty", new[] { 0, 5 }, Array.Empty<float>())
            .Add("scalar", ReadOnlySpan<int>.Empty, new[] { 42f });
        writer.Metadata["format"] = "pt";
        writer.Metadata["depth"] = "12";
        string path = PathOf("model.safetensors");
        writer.Save(path);

        var bytes = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, headerLength % 8);
        Assert.Equal(8 + (long)headerLength + (24 + 4 + 0 + 1) * 4, bytes.Length);
        Assert.Single(Directory.GetFiles(_temp.Path));

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "empty", "scalar"], file.TensorNames);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["depth"] = "12" }, file.Metadata);
        var info = file.GetInfo("blocks.0.attn.qkv.weight");
        Assert.Equal(SafetensorsDType.F32, info.DType);
        Assert.Equal([2L, 3, 4], info.Shape);
        Assert.Equal(24, info.ElementCount);
        Assert.Equal(weight, file.ReadFloat32("blocks.0.attn.qkv.weight"));
        Assert.Equal(bias, file.ReadFloat32("blocks.0.attn.qkv.bias"));
        Assert.Empty(file.ReadFloat32("empty"));
        Assert.Equal([0L, 5], file.GetInfo("empty").Shape);
        Assert.Empty(file.GetInfo("scalar").Shape);
        Assert.Equal([42f], file.ReadFloat32("scalar"));

        var destination = new float[4];
        file.Read("blocks.0.attn.qkv.bias", destination);
        Assert.Equal(bias, destination);
        Assert.Throws<ArgumentException>(() => file.Read("blocks.0.attn.qkv.bias", new float[3]));
        var missing = Assert.Throws<WeightsFormatException>(() => file.ReadFloat32("nope"));
        Assert.Equal("model.safetensors: no tensor named 'nope'", missing.Message);
    }

    [Fact]
    public void SaveReplacesAnExistingFileAndLeavesNoTempFiles()
    {
        string path = PathOf("w.safetensors");
        new SafetensorsWriter().Add("a", new[] { 1 }, new[] { 1f }).Save(path);
        new SafetensorsWriter().Add("b", new[] { 2 }, new[] { 2f, 3f }).Save(path);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["b"], file.TensorNames);
        Assert.Equal([2f, 3f], file.ReadFloat32("b"));
        Assert.Single(Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void SaveIntoAMissingDirectoryFailsWithoutLeavingAFile()
    {
        string path = Path.Combine(_temp.Path, "missing", "w.safetensors");
        Assert.ThrowsAny<IOException>(() => new SafetensorsWriter().Add("a", new[] { 1 }, new[] { 1f }).Save(path));
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [Fact]
    public void ReadAfterDisposeThrowsAndTheFileCanBeReplaced()
    {
        string path = PathOf("d.safetensors");
        new SafetensorsWriter().Add("a", new[] { 1 }, new[] { 1f }).Save(path);
        var file = SafetensorsFile.Open(path);
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.ReadFloat32("a"));
        new SafetensorsWriter().Add("a", new[] { 1 }, new[] { 5f }).Save(path);
        using var reopened = SafetensorsFile.Open(path);
        Assert.Equal([5f], reopened.ReadFloat32("a"));
    }

    [Fact]
    public void WriterRejectsBadTensors()
    {
        var writer = new SafetensorsWriter().Add("a", new[] { 2 }, new[] { 1f, 2f });
        Assert.Throws<ArgumentException>(() => writer.Add("a", new[] { 1 }, new[] { 1f }));
        Assert.Throws<ArgumentException>(() => writer.Add("b", new[] { 3 }, new[] { 1f }));
        Assert.Throws<ArgumentException>(() => writer.Add("c", new[] { -1 }, Array.Empty<float>()));
        Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", new[] { 1 }, new[] { 1f }));
    }

    [Fact]
    public void F16IsConvertedIncludingInfinitiesNaNAndSubnormals()
    {
        var bits = new ushort[] { 0x3C00, 0xC000, 0x7C00, 0xFC00, 0x7E00, 0x0001, 0x03FF, 0x7BFF, 0x8000, 0x3555 };
        var expected = new[]
        {
            1f, -2f, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
            MathF.Pow(2, -24), 1023 * MathF.Pow(2, -24), 65504f, -0f, (float)BitConverter.UInt16BitsToHalf(0x3555),
        };
        string header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,5],\"data_offsets\":[0,20]}}";
        string path = WriteRaw("half.safetensors", Raw(header, UInt16Bytes(bits)));
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(SafetensorsDType.F16, file.GetInfo("h").DType);
        var values = file.ReadFloat32("h");
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits).Where((_, i) => i != 4),
            values.Select(BitConverter.SingleToInt32Bits).Where((_, i) => i != 4));
        Assert.True(float.IsNaN(values[4]));
        Assert.True(float.IsNegative(values[8]));
        Assert.Equal(0.333251953125f, values[9]);
    }

    [Fact]
    public void F16LongerThanOneConversionChunkIsConvertedThroughout()
    {
        const int count = 40_000;
        var bits = Enumerable.Range(0, count).Select(i => (ushort)(i % 0x7C00)).ToArray();
        string header = $"{{\"h\":{{\"dtype\":\"F16\",\"shape\":[{count}],\"data_offsets\":[0,{count * 2}]}}}}";
        string path = WriteRaw("long.safetensors", Raw(header, UInt16Bytes(bits)));
        using var file = SafetensorsFile.Open(path);
        var values = file.ReadFloat32("h");
        for (int i = 0; i < count; i++) Assert.Equal((float)BitConverter.UInt16BitsToHalf(bits[i]), values[i]);
    }

    [Fact]
    public void BF16IsConvertedAsTheTopHalfOfF32()
    {
        var bits = new ushort[] { 0x3F80, 0xC000, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x4049, 0x8000 };
        string header = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]},\"__metadata__\":{\"k\":\"v\"}}";
        string path = WriteRaw("bf16.safetensors", Raw(header, UInt16Bytes(bits)));
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("v", file.Metadata["k"]);
        var values = file.ReadFloat32("b");
        Assert.Equal(1f, values[0]);
        Assert.Equal(-2f, values[1]);
        Assert.Equal(float.PositiveInfinity, values[2]);
        Assert.Equal(float.NegativeInfinity, values[3]);
        Assert.True(float.IsNaN(values[4]));
        Assert.Equal(BitConverter.Int32BitsToSingle(0x0001_0000), values[5]);
        Assert.True(float.IsSubnormal(values[5]));
        Assert.Equal(3.140625f, values[6]);
        Assert.True(float.IsNegative(values[7]) && values[7] == 0);
    }

    [Fact]
    public void TensorsWithGapsAndInAnyOrderAreAccepted()
    {
        // b before a in the data section, with 4 unused bytes between them.
        string header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        var data = new byte[12];
        BitConverter.TryWriteBytes(data.AsSpan(8), 7f);
        BitConverter.TryWriteBytes(data.AsSpan(0), 9f);
        using var file = SafetensorsFile.Open(WriteRaw("gaps.safetensors", Raw(header, data)));
        Assert.Equal([7f], file.ReadFloat32("a"));
        Assert.Equal([9f], file.ReadFloat32("b"));
    }

    const string OneTensor = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    [Fact]
    public void MissingFileIsAFormatError()
    {
        var error = Assert.Throws<WeightsFormatException>(() => SafetensorsFile.Open(PathOf("absent.safetensors")));
        Assert.Equal("absent.safetensors: no such file", error.Message);
    }

    [Fact]
    public void AnUnexpectedTensorIsRefusedBeforeItsDataIsRead()
    {
        // 16 GiB of F32 in a sparse tail: reading it (as the loader once did) fails for its size, not for being unexpected.
        string path = HostileFiles.TinyVit(PathOf("extra.safetensors"));
        HostileFiles.AddSparseTensor(path, "extra", [65536, 65536]);

        var error = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path));

        Assert.Equal("extra.safetensors: extra: unexpected tensor", error.Message);
    }

    [Fact]
    public void AZeroElementTensorWithAHugeDimensionNamesTheFile()
    {
        string path = HostileFiles.TinyVit(PathOf("empty.safetensors"));
        HostileFiles.AddSparseTensor(path, "empty", [0, 1L << 40]);

        var error = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path));

        Assert.Equal("empty.safetensors: tensor empty has shape [0, 1099511627776], a dimension above 2147483647", error.Message);
    }

    [Fact]
    public void ADirectoryOrAFifoIsRefusedBeforeItIsOpened()
    {
        string directory = Directory.CreateDirectory(PathOf("weights.safetensors")).FullName;
        string fifo = HostileFiles.Fifo(PathOf("pipe.safetensors"));

        Assert.Equal("weights.safetensors: is a directory, not a file", Assert.Throws<WeightsFormatException>(() => SafetensorsFile.Open(directory)).Message);
        Assert.Equal("pipe.safetensors: is a named pipe (FIFO), not a regular file",
            HostileFiles.WithoutHanging(() => Assert.Throws<WeightsFormatException>(() => SafetensorsFile.Open(fifo))).Message);
    }

    [Fact]
    public void TooShortForTheLengthPrefix()
    {
        OpenFails("empty.safetensors", [], "too short for the 8-byte header length");
        OpenFails("short.safetensors", [1, 2, 3], "too short for the 8-byte header length");
    }

    [Fact]
    public void HugeHeaderLength()
    {
        var file = Raw(OneTensor, new byte[8]);
        BinaryPrimitives.WriteUInt64LittleEndian(file, ulong.MaxValue);
        OpenFails("huge.safetensors", file, "exceeds the 104857600-byte limit");
        BinaryPrimitives.WriteUInt64LittleEndian(file, 200UL << 20);
        OpenFails("huge2.safetensors", file, "exceeds the 104857600-byte limit");
    }

    [Fact]
    public void HeaderPastTheEndOfTheFile()
    {
        var file = Raw(OneTensor, new byte[8]);
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)file.Length);
        OpenFails("past.safetensors", file, "runs past the end of the");
    }

    [Fact]
    public void TruncatedFile()
    {
        var file = Raw(OneTensor, new byte[8]);
        OpenFails("cut-data.safetensors", file[..^1], "ends at byte 8, past the data section's 7 bytes");
        OpenFails("cut-header.safetensors", file[..20], "runs past the end of the 20-byte file");
    }

    [Theory]
    [InlineData("{\"t\":", "not valid JSON")]
    [InlineData("[1,2,3]", "not an object")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", "not valid JSON")]
    [InlineData("{\"t\":5}", "tensor 't' is a JSON Number")]
    [InlineData("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "has no \"dtype\"")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", "has no \"shape\"")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", "has no \"data_offsets\"")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", "unknown field \"extra\"")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "has \"dtype\" twice")]
    [InlineData("{\"t\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", "not a string")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", "not an array")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", "not an array [begin, end]")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", "not a non-negative integer")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", "not a non-negative integer")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", "begins at byte 8, after its end at byte 0")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}", "not a non-negative integer")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", "appears twice")]
    [InlineData("{\"__metadata__\":{\"k\":1},\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "metadata 'k' is a JSON Number, not a string")]
    [InlineData("{\"__metadata__\":[],\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "not an object of strings")]
    public void MalformedHeader(string header, string expected) =>
        OpenFails("bad.safetensors", Raw(header, new byte[8]), expected);

    [Fact]
    public void InvalidUtf8Header() =>
        OpenFails("utf8.safetensors", Raw([(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []), "not valid UTF-8");

    [Theory]
    [InlineData("{\"\\uD800\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}")]
    [InlineData("{\"__metadata__\":{\"k\":\"\\uDC00x\"}}")]
    public void LoneSurrogateEscapes(string header)
    {
        // Either a clean error or a name with a replacement character; never another exception.
        string path = WriteRaw("surrogate.safetensors", Raw(header, []));
        try { using var file = SafetensorsFile.Open(path); }
        catch (WeightsFormatException e) { Assert.StartsWith("surrogate.safetensors: ", e.Message); }
    }

    [Fact]
    public void OffsetsPastTheEnd()
    {
        string header = "{\"blocks.0.attn.qkv.weight\":{\"dtype\":\"F32\",\"shape\":[300],\"data_offsets\":[0,1200]}}";
        var error = OpenFails("model.safetensors", Raw(header, new byte[1000]), "");
        Assert.Equal("model.safetensors: tensor 'blocks.0.attn.qkv.weight' ends at byte 1200, past the data section's 1000 bytes", error.Message);
    }

    [Fact]
    public void OverlappingTensors()
    {
        string header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        OpenFails("overlap.safetensors", Raw(header, new byte[12]), "tensor 'b' (bytes 4..12) overlaps tensor 'a' (bytes 0..8)");
        string inside = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}";
        OpenFails("inside.safetensors", Raw(inside, new byte[12]), "overlaps");
    }

    [Fact]
    public void ShapeDoesNotMatchTheByteRange()
    {
        string header = "{\"t\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}";
        OpenFails("mismatch.safetensors", Raw(header, new byte[8]), "shape [2, 3] of F16 needs 12 bytes but data_offsets span 8");
    }

    [Theory]
    [InlineData("I64")]
    [InlineData("F64")]
    [InlineData("U8")]
    [InlineData("f32")]
    public void UnsupportedDType(string dtype)
    {
        string header = $"{{\"t\":{{\"dtype\":\"{dtype}\",\"shape\":[1],\"data_offsets\":[0,8]}}}}";
        OpenFails("dtype.safetensors", Raw(header, new byte[8]), $"tensor 't' has dtype '{dtype}'; only F32, F16 and BF16 are supported");
    }

    [Theory]
    [InlineData("[-1]", "shape entry -1 is not a non-negative integer")]
    [InlineData("[1.5]", "shape entry 1.5 is not a non-negative integer")]
    [InlineData("[\"2\"]", "is not a non-negative integer")]
    [InlineData("[18446744073709551616]", "is not a non-negative integer")]
    [InlineData("[4294967296,4294967296]", "has too many elements")]
    [InlineData("[4611686018427387904]", "has too many bytes")]
    // A zero dimension makes the product 0 whatever follows, as the format reads it.
    [InlineData("[0,4294967296,4294967296,4294967296]", "needs 0 bytes but data_offsets span 8")]
    public void BadShape(string shape, string expected)
    {
        string header = $"{{\"t\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,8]}}}}";
        OpenFails("shape.safetensors", Raw(header, new byte[8]), expected);
    }

    [Fact]
    public void HostileNamesDoNotBreakTheOneLineMessage()
    {
        string header = "{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        OpenFails("name.safetensors", Raw(header, new byte[4]), "tensor 'a?b' has dtype 'X'");
    }

    // A valid file with all three dtypes, metadata and an empty tensor: the seed of every corruption.
    static byte[] ValidFile()
    {
        var data = new List<byte>();
        for (int i = 0; i < 6; i++) data.AddRange(BitConverter.GetBytes(i * 1.25f));
        data.AddRange(UInt16Bytes(0x3C00, 0x7C00, 0x0001, 0xFE00));
        data.AddRange(UInt16Bytes(0x3F80, 0xC000));
        string header =
            "{\"__metadata__\":{\"format\":\"pt\"}," +
            "\"blocks.0.attn.qkv.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," +
            "\"half\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}," +
            "\"brain\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[32,36]}," +
            "\"none\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[36,36]}}";
        return Raw(header, data.ToArray());
    }

    static byte[] Corrupt(byte[] valid, int kind, int seed)
    {
        var random = new Random(seed);
        var file = (byte[])valid.Clone();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        const string jsonChars = "{}[]\":,-.0123456789eE +FBI\\u";
        switch (kind)
        {
            case 0: // bit flips anywhere
                for (int i = random.Next(1, 9); i > 0; i--) file[random.Next(file.Length)] ^= (byte)(1 << random.Next(8));
                return file;
            case 1: // truncation
                return file[..random.Next(file.Length)];
            case 2: // a random header length, small or huge
                ulong length = random.Next(3) switch
                {
                    0 => (ulong)random.NextInt64(),
                    1 => (ulong)random.Next(file.Length + 16),
                    _ => (ulong)Math.Max(0, headerEnd - 8 + random.Next(-16, 17)),
                };
                BinaryPrimitives.WriteUInt64LittleEndian(file, length);
                return file;
            case 3: // JSON-significant characters written over the header
                for (int i = random.Next(1, 5); i > 0; i--) file[random.Next(8, headerEnd)] = (byte)jsonChars[random.Next(jsonChars.Length)];
                return file;
            case 4: // a number in the header replaced by an extreme one
            {
                string header = Encoding.UTF8.GetString(valid, 8, headerEnd - 8);
                var digits = System.Text.RegularExpressions.Regex.Matches(header, "[0-9]+");
                var match = digits[random.Next(digits.Count)];
                string[] replacements = ["-1", "0", "9223372036854775807", "9223372036854775808", "4294967296", "1e3", "36", "24", "99999999999999999999999"];
                string edited = header[..match.Index] + replacements[random.Next(replacements.Length)] + header[(match.Index + match.Length)..];
                return Raw(edited, valid[headerEnd..]);
            }
            case 5: // bytes inserted into or deleted from the header, with the length kept consistent
            {
                var header = valid[8..headerEnd].ToList();
                int at = random.Next(header.Count);
                if (random.Next(2) == 0) header.RemoveRange(at, Math.Min(header.Count - at, random.Next(1, 8)));
                else header.InsertRange(at, Enumerable.Range(0, random.Next(1, 8)).Select(_ => (byte)random.Next(256)));
                return Raw(header.ToArray(), valid[headerEnd..]);
            }
            default: // garbage appended or data cut
                return random.Next(2) == 0
                    ? [.. file, .. Enumerable.Range(0, random.Next(1, 64)).Select(_ => (byte)random.Next(256))]
                    : file[..Math.Max(headerEnd, file.Length - random.Next(1, 12))];
        }
    }

    // True when the corrupted file either reads completely or fails with WeightsFormatException.
    bool ReadsOrFailsCleanly(byte[] contents, int caseNumber)
    {
        string path = WriteRaw($"fuzz{caseNumber % 4}.safetensors", contents);
        try
        {
            using var file = SafetensorsFile.Open(path);
            foreach (var info in file.Tensors)
            {
                var values = file.ReadFloat32(info.Name);
                if (values.Length != info.ElementCount) return false;
            }
            return true;
        }
        catch (WeightsFormatException e)
        {
            return e.Message.StartsWith(Path.GetFileName(path) + ": ", StringComparison.Ordinal) && !e.Message.Contains('\n');
        }
    }

    [Fact]
    public void TheValidSeedFileReads()
    {
        using var file = SafetensorsFile.Open(WriteRaw("seed.safetensors", ValidFile()));
        Assert.Equal(4, file.Tensors.Count);
        Assert.Equal([1f, float.PositiveInfinity, MathF.Pow(2, -24)], file.ReadFloat32("half")[..3]);
        Assert.Equal([1f, -2f], file.ReadFloat32("brain"));
    }

    [Fact]
    public void FuzzedCorruptionsReadOrFailWithAFormatError()
    {
        var valid = ValidFile();
        int caseNumber = 0;
        var cases = Gen.Choose(0, 6).SelectMany(kind => Gen.Choose(0, int.MaxValue).Select(seed => (kind, seed)));
        var property = Prop.ForAll(cases.ToArbitrary(), c => ReadsOrFailsCleanly(Corrupt(valid, c.kind, c.seed), caseNumber++));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), property);
        Assert.True(caseNumber >= 2000);
    }
}
