using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuViT.Host;
using GpuViT.Models.Images;
using GpuViT.Models.Streaming;
using GpuViT.Models.Vit;
using GpuViT.Tests.Models;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>
/// `gpuvit run`'s scriptable side (issue 16, items 2 and 5): inputs as arguments, --format
/// text|json|csv, --topk, --recursive and the line naming skipped files, and progress in images.
/// </summary>
public sealed class RunOutputTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-run-output-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(string name) => _temp.PathOf(name);

    private static readonly VitConfig Tiny = VitPresets.VitTestTiny;

    private string Weights()
    {
        string path = PathOf("tiny.safetensors");
        VitWeightFiles.Save(path, Tiny, VitWeights.RandomInit(Tiny, 5));
        return path;
    }

    private string Npy(int count, string name = "inputs.npy")
    {
        var random = new Random(9);
        float[] data = [.. Enumerable.Range(0, count * 3 * 32 * 32).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        string path = PathOf(name);
        NpyFile.WriteFloat32(path, data, [count, 3, 32, 32]);
        return path;
    }

    /// <summary>A 32×32 image of one colour at <paramref name="path"/> (its directories made).</summary>
    private static string Image(string path, byte level)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, InputTests.Ppm(32, 32, Enumerable.Repeat(level, 32 * 32 * 3).ToArray()));
        return path;
    }

    private string Labels()
    {
        string path = PathOf("labels.txt");
        File.WriteAllLines(path, Enumerable.Range(0, Tiny.Classes).Select(i => $"label {i}, \"quoted\""));
        return path;
    }

    /// <summary>The top classes of each row of the saved logits, as run ranks them.</summary>
    private static ClassScore[][] Expected(string logits, int k, IReadOnlyList<string>? labels = null)
    {
        NpyArray saved = NpyFile.ReadFloat32(logits);
        return [.. Enumerable.Range(0, saved.Shape[0]).Select(row => Classification.TopK(saved.Data.AsSpan(row * Tiny.Classes, Tiny.Classes), k, labels))];
    }

    private static string[] JsonPaths(string output) =>
        [.. output.TrimEnd('\n').Split('\n').Select(line => JsonDocument.Parse(line).RootElement.GetProperty("path").GetString()!)];

    [Fact]
    public void Inputs_are_arguments_with_options_after_them_and_input_takes_its_place_in_command_line_order()
    {
        string weights = Weights(), npy = Npy(2), b = Image(PathOf("b.ppm"), 10), c = Image(PathOf("c.ppm"), 200);

        (int exit, string output, string error) = Run("run", "--weights", weights, npy, "--input", b, c, "--top", "1", "--format", "json", "--device", "cpu");

        Assert.True(exit == 0, error);
        Assert.Equal([npy + "[0]", npy + "[1]", b, c], JsonPaths(output));

        // --input first, an argument after: still in the order given.
        (exit, output, error) = Run("run", "--weights", weights, "--input", c, npy, "--format", "json", "--device", "cpu");
        Assert.True(exit == 0, error);
        Assert.Equal([c, npy + "[0]", npy + "[1]"], JsonPaths(output));
    }

    [Theory]
    [InlineData("--json")]
    [InlineData("-j")]
    public void An_unknown_option_after_an_input_is_an_unknown_option_not_a_missing_file(string option)
    {
        string image = Image(PathOf("a.ppm"), 10);

        (int exit, string output, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", "--input", image, option, "--device", "cpu");

        AssertUsageError(exit, output, error, $"Unrecognized command or argument '{option}'");
        Assert.DoesNotContain("no such file", error);
    }

    [Fact]
    public void No_inputs_is_one_line_and_exit_2()
    {
        (int exit, string output, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", "--device", "cpu");

        AssertUsageError(exit, output, error, "run needs inputs");
    }

    [Fact]
    public void Json_is_one_object_per_input_in_input_order_with_its_fields_in_order_and_probabilities_that_round_trip()
    {
        string weights = Weights(), npy = Npy(2), labels = Labels(), logits = PathOf("logits.npy");
        string bad = PathOf("bad.png");
        File.WriteAllText(bad, "not an image");

        (int exit, string output, string error) = Run("run", "--weights", weights, npy, bad, "--labels", labels, "--top", "3",
            "--format", "json", "--save-logits", logits, "--device", "cpu");

        Assert.Equal(Cli.SkippedInputs, exit);
        Assert.Contains($"gpuvit: skipped {bad}: not a PNG", error); // warnings stay on stderr
        string[] lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        ClassScore[][] expected = Expected(logits, 3, File.ReadAllLines(labels));
        for (int i = 0; i < 2; i++)
        {
            JsonElement record = JsonDocument.Parse(lines[i]).RootElement;
            Assert.Equal(["path", "status", "indices", "labels", "probabilities"], record.EnumerateObject().Select(p => p.Name));
            Assert.Equal($"{npy}[{i}]", record.GetProperty("path").GetString());
            Assert.Equal("ok", record.GetProperty("status").GetString());
            Assert.Equal(expected[i].Select(c => c.Index), record.GetProperty("indices").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(expected[i].Select(c => c.Label), record.GetProperty("labels").EnumerateArray().Select(e => e.GetString()));

            // Exactly the doubles run computed: printed at full precision, they parse back to themselves.
            Assert.Equal(expected[i].Select(c => c.Probability), record.GetProperty("probabilities").EnumerateArray().Select(e => e.GetDouble()));
        }

        JsonElement skipped = JsonDocument.Parse(lines[2]).RootElement;
        Assert.Equal(["path", "status", "reason", "indices", "labels", "probabilities"], skipped.EnumerateObject().Select(p => p.Name));
        Assert.Equal(bad, skipped.GetProperty("path").GetString());
        Assert.Equal("skipped", skipped.GetProperty("status").GetString());
        Assert.StartsWith($"{bad}: not a PNG, JPEG", skipped.GetProperty("reason").GetString());
        Assert.Equal(0, skipped.GetProperty("indices").GetArrayLength());
    }

    [Fact]
    public void Json_says_nonfinite_and_has_no_labels_field_without_labels()
    {
        string weights = Weights(), npy = Npy(2);
        NpyArray array = NpyFile.ReadFloat32(npy);
        array.Data[3 * 32 * 32] = float.NaN;
        NpyFile.WriteFloat32(npy, array.Data, array.Shape);

        (int exit, string output, string error) = Run("run", "--weights", weights, npy, "--format", "json", "--device", "cpu");

        Assert.Equal(Cli.NonFiniteResults, exit);
        JsonElement[] records = [.. output.TrimEnd('\n').Split('\n').Select(line => JsonDocument.Parse(line).RootElement)];
        Assert.Equal(["path", "status", "indices", "probabilities"], records[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal("nonfinite", records[1].GetProperty("status").GetString());
        Assert.Equal("10 of 10 logits are not finite (NaN or ±∞)", records[1].GetProperty("reason").GetString());
        Assert.Equal(0, records[1].GetProperty("indices").GetArrayLength());
        Assert.Contains($"gpuvit: {npy}[1]: 10 of 10 logits are not finite", error);
    }

    [Fact]
    public void Csv_has_a_header_a_column_group_per_rank_and_quotes_a_path_with_a_comma_a_quote_and_a_line_break()
    {
        string weights = Weights(), npy = Npy(1), labels = Labels(), logits = PathOf("logits.npy");
        string odd = Image(PathOf("a, \"b\"\nc.ppm"), 50), lineBreak = Image(PathOf("line\nbreak.ppm"), 90);

        (int exit, string output, string error) = Run("run", "--weights", weights, odd, npy, lineBreak, "--labels", labels, "--topk", "2",
            "--format", "csv", "--save-logits", logits, "--device", "cpu");

        Assert.True(exit == 0, error);
        List<string[]> rows = ParseCsv(output);
        Assert.Equal(["path", "status", "reason", "index_1", "label_1", "probability_1", "index_2", "label_2", "probability_2"], rows[0]);
        Assert.Equal(4, rows.Count);
        Assert.Equal([odd, $"{npy}[0]", lineBreak], rows.Skip(1).Select(r => r[0]));
        ClassScore[][] expected = Expected(logits, 2, File.ReadAllLines(labels));
        for (int i = 0; i < 3; i++)
        {
            string[] row = rows[i + 1];
            Assert.Equal(9, row.Length);
            Assert.Equal(["ok", ""], row[1..3]);
            for (int r = 0; r < 2; r++)
            {
                Assert.Equal(expected[i][r].Index, int.Parse(row[3 + 3 * r], CultureInfo.InvariantCulture));
                Assert.Equal(expected[i][r].Label, row[4 + 3 * r]);
                Assert.Equal(expected[i][r].Probability, double.Parse(row[5 + 3 * r], CultureInfo.InvariantCulture));
            }
        }
    }

    [Fact]
    public void Csv_of_a_skipped_input_leaves_its_ranks_empty()
    {
        string bad = PathOf("bad.png");
        File.WriteAllText(bad, "x");

        (int exit, string output, _) = Run("run", "--model", "vit_test_tiny", "--random-init", bad, "--top", "2", "--format", "csv", "--device", "cpu");

        Assert.Equal(Cli.SkippedInputs, exit);
        List<string[]> rows = ParseCsv(output);
        Assert.Equal(["path", "status", "reason", "index_1", "probability_1", "index_2", "probability_2"], rows[0]);
        Assert.Equal(bad, rows[1][0]);
        Assert.Equal("skipped", rows[1][1]);
        Assert.StartsWith($"{bad}: not a PNG", rows[1][2]);
        Assert.All(rows[1][3..], cell => Assert.Equal("", cell));
    }

    [Fact]
    public void Text_stays_as_it_was_and_topk_is_top()
    {
        string npy = Npy(1);

        (int exit, string output, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", npy, "--topk", "3", "--device", "cpu");

        Assert.True(exit == 0, error);
        string[] lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(npy + "[0]", lines[0]);
        Assert.Equal(3, lines.Length - 1);
        Assert.All(lines[1..], line => Assert.Matches(@"^  [01]\.\d{4}  \d$", line));

        (exit, output, error) = Run("run", "--model", "vit_test_tiny", "--random-init", npy, "--topk", "0", "--device", "cpu");
        AssertUsageError(exit, output, error, "--top must be at least 1, not 0");
    }

    [Fact]
    public void Recursive_reads_nested_images_in_ordinal_order_and_without_it_only_the_top_level()
    {
        string photos = PathOf("photos");
        Image(Path.Combine(photos, "b.ppm"), 1);
        Image(Path.Combine(photos, "a.ppm"), 2);
        Image(Path.Combine(photos, "b", "c.ppm"), 3);
        Image(Path.Combine(photos, "b", "deeper", "d.ppm"), 4);
        File.WriteAllText(Path.Combine(photos, "notes.txt"), "not an image");
        File.WriteAllText(Path.Combine(photos, "b", "x.gif"), "not read either");
        Directory.CreateSymbolicLink(Path.Combine(photos, "b", "loop"), photos); // not followed: it would loop
        string[] run = ["run", "--model", "vit_test_tiny", "--random-init", photos, "--top", "1", "--format", "json", "--device", "cpu"];

        (int exit, string output, string error) = Run(run);

        Assert.True(exit == 0, error);
        Assert.Equal([Path.Combine(photos, "a.ppm"), Path.Combine(photos, "b.ppm")], JsonPaths(output));
        Assert.Contains($"gpuvit: skipped 1 file in the directories given, not an image by its extension (.bmp, .jpeg, .jpg, .pgm, .png, .pnm, .ppm): {photos}/notes.txt\n", error);

        (exit, output, error) = Run([.. run, "--recursive"]);

        Assert.True(exit == 0, error);
        Assert.Equal([.. new[] { "a.ppm", "b.ppm", "b/c.ppm", "b/deeper/d.ppm" }.Select(f => Path.Combine(photos, f))], JsonPaths(output));
        Assert.Contains($"gpuvit: skipped 2 files in the directories given, not images by their extension (.bmp, .jpeg, .jpg, .pgm, .png, .pnm, .ppm): {photos}/b/x.gif, {photos}/notes.txt\n", error);
    }

    [Fact]
    public void Save_logits_over_a_nested_image_is_refused_when_recursive_reads_it()
    {
        string photos = PathOf("photos");
        string nested = Image(Path.Combine(photos, "b", "c.ppm"), 3);
        byte[] before = File.ReadAllBytes(nested);

        (int exit, string output, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", photos, "--recursive", "--save-logits", nested, "--device", "cpu");

        AssertUsageError(exit, output, error, $"--save-logits {nested}: would replace the input {photos} (input argument)");
        Assert.Equal(before, File.ReadAllBytes(nested));
    }

    [Fact]
    public void A_directory_of_subdirectories_alone_says_that_recursive_reads_them()
    {
        string photos = PathOf("photos");
        Image(Path.Combine(photos, "2024", "a.ppm"), 1);

        (int exit, string output, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", photos, "--device", "cpu");

        AssertUsageError(exit, output, error, $"{photos}: directory has no images (.bmp, .jpeg, .jpg, .pgm, .png, .pnm, .ppm); --recursive reads its subdirectories");
    }

    [Fact]
    public void The_skipped_files_line_names_the_first_five_and_counts_the_rest()
    {
        string photos = PathOf("photos");
        Image(Path.Combine(photos, "a.ppm"), 1);
        foreach (int i in Enumerable.Range(0, 7))
        {
            File.WriteAllText(Path.Combine(photos, $"f{i}.txt"), "");
        }

        (int exit, _, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", photos, "--device", "cpu");

        Assert.True(exit == 0, error);
        string named = string.Join(", ", Enumerable.Range(0, 5).Select(i => $"{photos}/f{i}.txt"));
        Assert.Equal(
            [$"gpuvit: skipped 7 files in the directories given, not images by their extension (.bmp, .jpeg, .jpg, .pgm, .png, .pnm, .ppm): {named}, and 2 more"],
            WithoutProgress(error).TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Progress_lines_count_images_after_each_micro_batch()
    {
        string npy = Npy(5);

        (int exit, _, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", npy, "--batch", "2", "--device", "cpu");

        Assert.True(exit == 0, error);
        string[] lines = error.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        for (int i = 0; i < 3; i++)
        {
            Assert.Matches($@"^gpuvit: run on cpu: {new[] { 2, 4, 5 }[i]} of 5 images \(\d+\.\d images/s\)$", lines[i]);
        }

        Assert.Empty(WithoutProgress(error));
    }

    [Fact]
    public void The_bars_status_says_which_micro_batch_decodes_or_computes()
    {
        IReadOnlyList<MicroBatch> plan = ImageStream.Plan(240, tokensPerImage: 17, tokenBudget: 120 * 17);
        static string Rate() => "9.5 images/s";

        Assert.Equal("decoding 0/120", RunStatus.Text(finished: 0, decoded: 0, plan, Rate));
        Assert.Equal("decoding 37/120", RunStatus.Text(finished: 0, decoded: 37, plan, Rate));
        Assert.Equal("computing 120 images", RunStatus.Text(finished: 0, decoded: 120, plan, Rate));
        Assert.Equal("computing 120 images", RunStatus.Text(finished: 0, decoded: 200, plan, Rate)); // the next one decodes while this one computes
        Assert.Equal("decoding 10/120, 9.5 images/s", RunStatus.Text(finished: 120, decoded: 130, plan, Rate));
        Assert.Equal("9.5 images/s", RunStatus.Text(finished: 240, decoded: 240, plan, Rate));
    }

    /// <summary>RFC 4180 rows: fields split at commas outside quotes, quoted fields with "" for a quote and line breaks kept.</summary>
    private static List<string[]> ParseCsv(string text)
    {
        var rows = new List<string[]>();
        var row = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"')
            {
                Assert.True(field.Length == 0, $"a quote inside an unquoted field at {i}");
                quoted = true;
            }
            else if (c == ',')
            {
                row.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\n')
            {
                row.Add(field.ToString());
                field.Clear();
                rows.Add([.. row]);
                row.Clear();
            }
            else
            {
                field.Append(c);
            }
        }

        Assert.False(quoted, "an unterminated quoted field");
        Assert.True(field.Length == 0 && row.Count == 0, "the last row has no line end");
        return rows;
    }
}
