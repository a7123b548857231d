using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// One input's result as `gpuvit run` writes it: its name (the path, or "x.npy[3]"), its status
/// (<see cref="Ok"/>, <see cref="Skipped"/>: could not be read, or <see cref="NotFinite"/>: some
/// logits are NaN or ±∞ and only the finite ones are ranked), why when not ok, and its top classes.
/// </summary>
public sealed record RunRecord(string Path, string Status, string? Reason, IReadOnlyList<ClassScore> Top)
{
    public const string Ok = "ok", Skipped = "skipped", NotFinite = "nonfinite";
}

/// <summary>
/// The formats of `gpuvit run`'s results on stdout, one record per input in input order:
/// <c>text</c> (the name, then one indented line per class), <c>json</c> (JSON Lines: one object
/// per line) and <c>csv</c> (RFC 4180, a header line, one row per input with a column group per
/// rank). Numbers in the invariant culture; probabilities at full double precision (they round-trip).
/// </summary>
public sealed class RunRecords(string format, int ranks, bool labels)
{
    public const string Text = "text", Json = "json", Csv = "csv";

    public static readonly string[] Formats = [Text, Json, Csv];

    /// <summary>JSON as written to files and stdout: non-ASCII names kept readable, not escaped.</summary>
    internal static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The line before the records: the csv header; null for the others.</summary>
    public string? Header() => format != Csv ? null : CsvRow([
        "path", "status", "reason",
        .. Enumerable.Range(1, ranks).SelectMany(r => labels ? new[] { $"index_{r}", $"label_{r}", $"probability_{r}" } : [$"index_{r}", $"probability_{r}"]),
    ]);

    /// <summary>The record's lines: several in text, one in json and csv (a csv field may hold a quoted line break).</summary>
    public IEnumerable<string> Lines(RunRecord record) => format switch
    {
        Json => [JsonLine(record)],
        Csv => [CsvLine(record)],
        _ => TextLines(record),
    };

    private static IEnumerable<string> TextLines(RunRecord record)
    {
        yield return record.Path;
        if (record.Status == RunRecord.Skipped)
        {
            yield return "  skipped: could not be read";
            yield break;
        }

        if (record.Top.Count == 0)
        {
            yield return "  no finite logits (all NaN or ±∞)";
        }

        foreach (ClassScore c in record.Top)
        {
            string label = c.Label is null ? "" : " " + c.Label;
            yield return string.Create(CultureInfo.InvariantCulture, $"  {c.Probability:F4}  {c.Index}{label}");
        }
    }

    private string JsonLine(RunRecord record)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("path", record.Path);
            json.WriteString("status", record.Status);
            if (record.Reason is not null)
            {
                json.WriteString("reason", record.Reason);
            }

            json.WriteStartArray("indices");
            foreach (ClassScore c in record.Top)
            {
                json.WriteNumberValue(c.Index);
            }

            json.WriteEndArray();
            if (labels)
            {
                json.WriteStartArray("labels");
                foreach (ClassScore c in record.Top)
                {
                    json.WriteStringValue(c.Label);
                }

                json.WriteEndArray();
            }

            json.WriteStartArray("probabilities");
            foreach (ClassScore c in record.Top)
            {
                json.WriteNumberValue(c.Probability);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private string CsvLine(RunRecord record)
    {
        var fields = new List<string> { record.Path, record.Status, record.Reason ?? "" };
        for (int r = 0; r < ranks; r++)
        {
            ClassScore? c = r < record.Top.Count ? record.Top[r] : null;
            fields.Add(c?.Index.ToString(CultureInfo.InvariantCulture) ?? "");
            if (labels)
            {
                fields.Add(c?.Label ?? "");
            }

            // "R": the shortest text that parses back to the same double.
            fields.Add(c?.Probability.ToString("R", CultureInfo.InvariantCulture) ?? "");
        }

        return CsvRow(fields);
    }

    /// <summary>RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled.</summary>
    private static string CsvRow(IEnumerable<string> fields) =>
        string.Join(",", fields.Select(f => f.AsSpan().IndexOfAny(",\"\r\n") < 0 ? f : "\"" + f.Replace("\"", "\"\"") + "\""));
}
