using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>
/// What a records file (`gpuvit run --output`) is the output of, its first line: the shard, the
/// inputs of the whole run (how many, and a hash of their names in order), the model, and the
/// settings that change the records. Shards of one job differ in <see cref="Shard"/> only, and a merge
/// of them is the job's unsharded output, shard 0/1.
/// </summary>
public sealed record RunJob(Shard Shard, int Inputs, string InputsSha256, string Model, int Top, bool Labels, string Precision)
{
    private const string Kind = "run records";

    /// <summary>The first 16 hex digits of the SHA-256 of the names, each ended by a line feed.</summary>
    public static string HashNames(IEnumerable<string> names)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (string name in names)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(name + "\n"));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    public string ToLine()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, RunRecords.JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("gpuvit", Kind);
            json.WriteString("shard", Shard.ToString());
            json.WriteNumber("inputs", Inputs);
            json.WriteString("inputs_sha256", InputsSha256);
            json.WriteString("model", Model);
            json.WriteNumber("top", Top);
            json.WriteBoolean("labels", Labels);
            json.WriteString("precision", Precision);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The job a records file's first line names, or null when it is no such line.</summary>
    public static RunJob? Parse(string line)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(line);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("gpuvit", out JsonElement kind) || kind.ValueKind != JsonValueKind.String || kind.GetString() != Kind)
            {
                return null;
            }

            Shard shard = Host.Shard.Parse(root.GetProperty("shard").GetString()!, null, _ => null);
            return new RunJob(shard, root.GetProperty("inputs").GetInt32(), root.GetProperty("inputs_sha256").GetString()!, root.GetProperty("model").GetString()!,
                root.GetProperty("top").GetInt32(), root.GetProperty("labels").GetBoolean(), root.GetProperty("precision").GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or UsageException)
        {
            return null;
        }
    }
}

/// <summary>
/// A run's records written to a file whole or not at all, and resumable: they go to FILE.partial,
/// after the job's line, each micro-batch flushed to disk, and FILE.partial becomes FILE when every
/// record is in. A run that finds FILE.partial of the same job keeps its whole records (a torn last
/// line, from a killed process, is cut off) and goes on after them.
/// </summary>
public sealed class RecordsFile : IDisposable
{
    private readonly FileStream _file;
    private readonly string _path;

    private RecordsFile(string path, FileStream file, int kept)
    {
        _path = path;
        _file = file;
        Kept = kept;
    }

    public static string PartialPath(string path) => path + ".partial";

    /// <summary>Records already in the partial file when it was opened: the first inputs of the shard, done.</summary>
    public int Kept { get; }

    /// <summary>
    /// Opens FILE.partial for <paramref name="job"/>: a new one, or one of the same job whose records
    /// name <paramref name="names"/>' first ones. One of another job, or whose records are not these inputs', is a <see cref="UsageException"/>.
    /// </summary>
    public static RecordsFile Open(string path, RunJob job, Func<int, string> names, int count)
    {
        string partial = PartialPath(path);
        byte[] header = Encoding.UTF8.GetBytes(job.ToLine() + "\n");
        FileStream file;
        try
        {
            file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--output {path}: cannot write {partial}: {e.Message}");
        }

        try
        {
            (int kept, long end) = file.Length == 0 ? (0, 0L) : Resume(file, partial, header, names, count);
            if (end == 0)
            {
                // New, or only a torn first line: the job's line, on disk before any record.
                file.SetLength(0);
                file.Write(header);
                file.Flush(flushToDisk: true);
            }
            else
            {
                file.SetLength(end);
                file.Position = end;
            }

            return new RecordsFile(path, file, kept);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The records to keep and where they end; (0, 0) for a file with no whole first line.</summary>
    private static (int Kept, long End) Resume(FileStream file, string partial, byte[] header, Func<int, string> names, int count)
    {
        file.Position = 0;
        var lines = new LineReader(file);
        if (lines.Next() is not { } first)
        {
            return (0, 0);
        }

        if (!first.AsSpan().SequenceEqual(header.AsSpan(0, header.Length - 1)))
        {
            string said = Encoding.UTF8.GetString(first);
            throw new UsageException(RunJob.Parse(said) is { } other
                ? $"{partial}: left by another job ({Differences(other, RunJob.Parse(Encoding.UTF8.GetString(header).TrimEnd('\n'))!)}); remove it, or run that job's command"
                : $"{partial}: not a gpuvit records file (its first line is no job); remove it");
        }

        int kept = 0;
        long end = lines.Position;
        while (kept < count && lines.Next() is { } line)
        {
            string? name = RecordPath(line);
            if (name != names(kept))
            {
                throw new UsageException($"{partial}: record {kept + 1} is for {name ?? "no input"}, not {names(kept)}; remove it");
            }

            kept++;
            end = lines.Position;
        }

        return (kept, end);
    }

    private static string Differences(RunJob found, RunJob wanted)
    {
        var differences = new List<string>();
        void Compare<T>(string what, T a, T b)
        {
            if (!EqualityComparer<T>.Default.Equals(a, b))
            {
                differences.Add($"{what} {a}, not {b}");
            }
        }

        Compare("shard", found.Shard, wanted.Shard);
        Compare("inputs", found.Inputs, wanted.Inputs);
        Compare("inputs_sha256", found.InputsSha256, wanted.InputsSha256);
        Compare("model", found.Model, wanted.Model);
        Compare("top", found.Top, wanted.Top);
        Compare("labels", found.Labels, wanted.Labels);
        Compare("precision", found.Precision, wanted.Precision);
        return string.Join("; ", differences);
    }

    /// <summary>A record line's "path", or null when it is no record.</summary>
    public static string? RecordPath(byte[] line)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(line);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("path", out JsonElement path)
                && path.ValueKind == JsonValueKind.String ? path.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Write(string line)
    {
        _file.Write(Encoding.UTF8.GetBytes(line + "\n"));
    }

    /// <summary>What was written is on disk: a process killed after this loses none of it.</summary>
    public void Sync() => _file.Flush(flushToDisk: true);

    /// <summary>Every record is in: FILE.partial becomes FILE.</summary>
    public void Complete()
    {
        Sync();
        _file.Dispose();
        try
        {
            File.Move(PartialPath(_path), _path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputFileException(_path, e.Message, e);
        }
    }

    public void Dispose() => _file.Dispose();

    /// <summary>The first line of a file, or null when it has none whole.</summary>
    public static string? FirstLine(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
        return new LineReader(file).Next() is { } line ? Encoding.UTF8.GetString(line) : null;
    }

    /// <summary>The whole lines of a stream (each ended by a line feed), and the offset after the last one read.</summary>
    public sealed class LineReader(Stream stream)
    {
        private readonly BufferedStream _stream = new(stream, 1 << 16);
        private readonly MemoryStream _line = new();

        public long Position { get; private set; }

        public byte[]? Next()
        {
            _line.SetLength(0);
            int b;
            while ((b = _stream.ReadByte()) >= 0)
            {
                if (b == '\n')
                {
                    Position += _line.Length + 1;
                    return _line.ToArray();
                }

                _line.WriteByte((byte)b);
            }

            return null; // the end, or a torn last line
        }
    }
}
