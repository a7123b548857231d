using System.Text.Json;
using System.Text.RegularExpressions;
using GpuViT.Host;
using GpuViT.Models.Rnn;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.CompareMeasurement;
using static GpuViT.Host.Compare.CompareText;
using static GpuViT.Host.Compare.Roofline;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>`gpuvit compare`: complete JSON rows, the table, the report, the projection and bad input; tiny sizes so it takes seconds.</summary>
public sealed class CompareCommandTests
{
    private static readonly string[] Fields =
        ["model", "view", "image_size", "batch", "config", "params", "flops_per_image", "bytes_per_image", "intensity", "device_latency_p50_s", "device_latency_p95_s",
         "device_images_per_s", "device_seconds_per_image", "device_gflops", "device_gbps", "stream_images_per_s", "stream_seconds_per_image",
         "above_roof", "best_batch", "device"];

    /// <summary>Both timings of every row, and what is derived from the device-resident one, are measured: positive.</summary>
    private static readonly string[] Measured =
        ["params", "flops_per_image", "bytes_per_image", "intensity", "device_latency_p50_s", "device_latency_p95_s", "device_images_per_s", "device_gflops", "device_gbps",
         "stream_images_per_s", "stream_seconds_per_image"];

    [Theory]
    [InlineData("cpu", "1,2")]
    [InlineData("emulator", "1")] // the emulator runs kernel bodies thread by thread: one batch is enough
    public void Json_has_a_complete_row_for_every_model(string device, string batches)
    {
        (int exit, string output, _) = Run("compare", "--device", device, "--image-sizes", "16", "--batches", batches, "--vit", "vit_test_tiny", "--seconds", "0", "--json", "--no-report");

        Assert.Equal(0, exit);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement[] rows = [.. json.RootElement.EnumerateArray()];
        Assert.Equal(3 * batches.Split(',').Length, rows.Length);
        Assert.Equal(["dense-rnn", "dense-rnn-shared", "vit"], rows.Select(r => r.GetProperty("model").GetString()!).Distinct().Order());
        foreach (JsonElement row in rows)
        {
            foreach (string field in Fields)
            {
                Assert.True(row.TryGetProperty(field, out _), field);
            }

            Assert.Equal(device, row.GetProperty("device").GetString());
            Assert.Equal(16, row.GetProperty("image_size").GetInt32());
            foreach (string field in Measured)
            {
                Assert.True(row.GetProperty(field).GetDouble() > 0, field);
            }

            // The default view: the RNNs as configured, four steps.
            Assert.Equal("as-configured", row.GetProperty("view").GetString());
            Assert.Equal(row.GetProperty("device_images_per_s").GetDouble() * row.GetProperty("flops_per_image").GetDouble() / 1e9, row.GetProperty("device_gflops").GetDouble(), 6);
            if (row.GetProperty("model").GetString() == "vit")
            {
                Assert.Equal(JsonValueKind.Null, row.GetProperty("config").ValueKind);
            }
            else
            {
                Assert.Equal(4, row.GetProperty("config").GetProperty("steps").GetInt32());
            }
        }

        // Sharing is the point: the shared RNN has far fewer parameters than the unshared one.
        long Params(string model) => rows.First(r => r.GetProperty("model").GetString() == model).GetProperty("params").GetInt64();
        Assert.True(Params("dense-rnn-shared") * 10 < Params("dense-rnn"));
    }

    [Fact]
    public void Cpu_rows_carry_the_roofline_fraction_from_the_probe()
    {
        (int exit, string output, _) = Run("compare", "--device", "cpu", "--image-sizes", "16", "--batches", "1", "--vit", "vit_test_tiny", "--seconds", "0", "--json", "--no-report");

        Assert.Equal(0, exit);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement[] rows = [.. json.RootElement.EnumerateArray()];
        foreach (JsonElement row in rows)
        {
            Assert.True(row.GetProperty("peak_gflops").GetDouble() > 0);
            double roof = row.GetProperty("roofline_fraction").GetDouble();
            Assert.True(roof > 0);
            Assert.Equal(roof > 1, row.GetProperty("above_roof").GetBoolean());
            Assert.Equal(row.GetProperty("device_gflops").GetDouble() / row.GetProperty("peak_gflops").GetDouble(), row.GetProperty("peak_fraction").GetDouble(), 9);
        }

        // The peak share is one number per model: one best batch each.
        Assert.Equal(["dense-rnn", "dense-rnn-shared", "vit"], rows.Where(r => r.GetProperty("best_batch").GetBoolean()).Select(r => r.GetProperty("model").GetString()!).Order());
    }

    [Fact]
    public void Table_and_report_with_a_projection_and_both_timings()
    {
        using var temp = new TempDirectory("gpuvit-compare-");
        string path = temp.PathOf("report.html");
        (int exit, string output, _) = Run("compare", "--device", "cpu", "--image-sizes", "8,16", "--batches", "1", "--vit", "vit_test_tiny",
            "--seconds", "0", "--report", path, "--project", "h100");

        Assert.Equal(0, exit);
        Assert.Contains("dense-rnn-shared", output);
        Assert.Contains("PROJECTION", output);

        // Two tables: the costs at each model and size, then the measurements at each batch.
        Assert.Equal(12, output.Split('\n').Count(l => Regex.IsMatch(l, "^(vit|dense-rnn|dense-rnn-shared) +[0-9]+ +[-0-9]")));
        Assert.Contains("view: as-configured", output);
        string header = output.Split('\n').Single(l => l.StartsWith("model", StringComparison.Ordinal) && l.Contains("batch", StringComparison.Ordinal));
        int at = 0;
        foreach (string column in new[] { "model", "size", "batch", "MB/img", "FLOP/B", "p50 ms", "p95 ms", "img/s", "GFLOP/s", "GB/s", "roof", "e2e img/s", "proj µs", "TF32" })
        {
            at = header.IndexOf(column, at, StringComparison.Ordinal);
            Assert.True(at >= 0, $"{column} after the columns before it in: {header}");
        }

        // Every column is explained, once.
        string text = output.ReplaceLineEndings(" ");
        foreach (string column in new[] { "size", "T", "params, weights MB", "MFLOP/img", "MB/img", "FLOP/B", "p50 ms, p95 ms", "img/s, GFLOP/s, GB/s", "roof", "e2e img/s", "proj µs, TF32" })
        {
            Assert.Single(output.Split('\n'), l => l.StartsWith(column + "  ", StringComparison.Ordinal));
        }

        Assert.Contains("As configured, at 16×16, batch 1", text);
        Assert.Contains("Share of the device's peak", text);
        string html = File.ReadAllText(path);
        Assert.Contains("<th>img/s</th>", html);
        Assert.Contains("<th>e2e img/s</th>", html);
        Assert.Contains("view: as-configured", html);
        Assert.Contains("<svg", html);
        Assert.Contains("<table>", html);
        Assert.Contains("Projection, not a measurement", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal));
        Assert.DoesNotContain("<script", html);
    }

    [Fact]
    public void Every_line_of_the_output_and_the_help_fits_120_columns()
    {
        (int exit, string output, string error) = Run("compare", "--device", "cpu", "--image-sizes", "8,16", "--batches", "1,2", "--vit", "vit_test_tiny",
            "--seconds", "0", "--no-report", "--project", "h100", "--match", "flops");
        Assert.True(exit == 0, error);
        (int helpExit, string help, _) = Run("compare", "--help");
        Assert.Equal(0, helpExit);

        foreach (string line in output.Split('\n').Concat(help.Split('\n')))
        {
            Assert.True(line.Length < 120, $"{line.Length} columns: {line}");
        }
    }

    [Fact]
    public void Projection_is_bounded_by_the_known_gpu_roofline()
    {
        var row = new Row("vit", 64, 1, 1000, 4000, 2e9, 1e8, 1, 1, 1, 1, "cpu");
        KnownGpu h100 = KnownGpus.Single(g => g.Key == "h100");

        // 2 GFLOP at 67 TFLOP/s is 30 µs; 100 MB at 3.35 TB/s is also 30 µs: the longer wins.
        double seconds = ProjectedSecondsPerImage(row, h100);
        Assert.Equal(Math.Max(2e9 / 67e12, 1e8 / 3.35e12), seconds, 12);

        // Tensor cores lift the compute roof, not the bandwidth roof: this row becomes bandwidth-bound.
        Assert.Equal(1e8 / 3.35e12, ProjectedSecondsPerImage(row, h100, tensorCores: true), 12);
    }

    [Fact]
    public void Headline_compares_the_vit_with_the_unshared_rnn_at_the_largest_size_and_smallest_batch()
    {
        // Row(model, size, batch, params, weight bytes, FLOPs/image, bytes/image, device p50, p95, device images/s, stream images/s, device)
        Row[] rows =
        [
            new("vit", 64, 1, 1, 1, 2e9, 6e7, 1, 1, 100, 90, "cpu"),
            new("dense-rnn", 64, 1, 1, 1, 1e8, 2e8, 1, 1, 200, 180, "cpu"),
            new("vit", 128, 1, 1, 1, 2e9, 6e7, 1, 1, 150, 140, "cpu"),
            new("dense-rnn", 128, 1, 1, 1, 1e8, 2e8, 1, 1, 250, 240, "cpu"),
            new("vit", 128, 8, 1, 1, 2e9, 1e7, 1, 1, 999, 900, "cpu"),
        ];

        string? headline = Headline(rows, new DevicePeaks(300, 40, PeakSource.Probe));

        // 300 GFLOP/s against 25 (device-resident, not the stream's): 12×; 0.5 FLOP/byte under 40 GB/s is a 20 GFLOP/s roof.
        Assert.Equal("As configured, at 128×128, batch 1, the ViT reached 12.0× the GFLOP/s of the unshared dense RNN (300 against 25.0): "
            + "its 0.5 FLOP per byte caps it at 20.0 GFLOP/s under the 40.0 GB/s bandwidth roof, while the ViT's shared weights give 33 FLOP per byte.", headline);
        Assert.Null(Headline(rows.Where(r => r.Model == "vit").ToArray(), DevicePeaks.Unknown));
    }

    [Fact]
    public void At_equal_compute_the_headline_compares_images_per_second_and_says_so()
    {
        DenseRnnConfig rnn = RnnFor(128, shared: false, View.EqualCompute, 2e9);
        Row[] rows =
        [
            new("vit", 128, 1, 1, 1, 2e9, 6e7, 1, 1, 150, 140, "cpu", View.EqualCompute),
            new("dense-rnn", 128, 1, 1, 1, rnn.FlopsPerImage, 2e8, 1, 1, 15, 14, "cpu", View.EqualCompute, rnn),
        ];

        string? headline = Headline(rows, DevicePeaks.Unknown);

        Assert.StartsWith($"At equal compute (the unshared RNN run for {rnn.Steps} steps, ", headline);
        Assert.Contains("the ViT classified 10.0× the images per second of the unshared dense RNN (150.0 against 15.0; 6.67 against 66.67 ms per image)", headline);
    }

    [Fact]
    public void The_vits_tokens_stay_the_same_at_every_size_and_only_its_patch_embedding_grows()
    {
        // 8×8 patches + the class token at every size; the patch embedding's weights grow with the patch.
        Assert.Equal(VitFor(32).Tokens, VitFor(128).Tokens);
        Assert.True(VitFor(128).ParameterCount < 1.5 * VitFor(32).ParameterCount);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(128)]
    [InlineData(224)]
    public void Equal_compute_scales_only_the_steps_to_within_half_a_step_of_the_vits_flops(int size)
    {
        double vit = VitFor(size).FlopsPerImage;
        foreach (bool shared in new[] { false, true })
        {
            DenseRnnConfig configured = RnnFor(size, shared, View.AsConfigured, vit);
            DenseRnnConfig scaled = RnnFor(size, shared, View.EqualCompute, vit);

            Assert.Equal(new DenseRnnConfig(size, Shared: shared), configured);
            Assert.Equal(configured with { Steps = scaled.Steps }, scaled);
            Assert.Equal(configured.ParameterCount, scaled.ParameterCount);
            Assert.InRange(Math.Abs(scaled.FlopsPerImage - vit), 0, scaled.FlopsPerStep / 2.0);
        }

        // The numbers: ViT-S/16 at 128 is ~2.9 GFLOP, a step of the RNN ~26 MFLOP.
        if (size == 128)
        {
            Assert.Equal(111, RnnFor(128, shared: false, View.EqualCompute, vit).Steps);
        }
    }

    [Fact]
    public void Match_flops_rows_carry_the_view_and_the_rnns_scaled_to_the_vits_flops()
    {
        (int exit, string output, string error) = Run("compare", "--device", "cpu", "--image-sizes", "16", "--batches", "1", "--vit", "vit_test_tiny",
            "--match", "flops", "--seconds", "0", "--json", "--no-report");

        Assert.True(exit == 0, error);
        JsonElement[] rows = [.. JsonDocument.Parse(output).RootElement.EnumerateArray()];
        Assert.Equal(3, rows.Length);
        Assert.All(rows, r => Assert.Equal("equal-compute", r.GetProperty("view").GetString()));
        double vit = rows.Single(r => r.GetProperty("model").GetString() == "vit").GetProperty("flops_per_image").GetDouble();
        long step = new DenseRnnConfig(16).FlopsPerStep;
        foreach (JsonElement row in rows.Where(r => r.GetProperty("model").GetString() != "vit"))
        {
            JsonElement config = row.GetProperty("config");
            bool shared = row.GetProperty("model").GetString() == "dense-rnn-shared";
            int steps = config.GetProperty("steps").GetInt32();
            Assert.Equal((8, 3, 16, shared), (config.GetProperty("channels").GetInt32(), config.GetProperty("kernel").GetInt32(),
                config.GetProperty("image_size").GetInt32(), config.GetProperty("shared").GetBoolean()));

            // The tiny ViT's 3.3 MFLOP at 16 is about eight of the RNN's 0.4 MFLOP steps: not the configured four.
            Assert.Equal(8, steps);
            Assert.Equal(new DenseRnnConfig(16, Steps: steps, Shared: shared).FlopsPerImage, row.GetProperty("flops_per_image").GetDouble());
            Assert.InRange(Math.Abs(row.GetProperty("flops_per_image").GetDouble() - vit), 0, step / 2.0);
        }

        (exit, output, error) = Run("compare", "--device", "cpu", "--image-sizes", "16", "--batches", "1", "--vit", "vit_test_tiny",
            "--match", "flops", "--seconds", "0", "--no-report");
        Assert.True(exit == 0, error);
        Assert.Contains("view: equal-compute", output);
        Assert.Contains("At equal compute (the unshared RNN run for 8 steps", output.ReplaceLineEndings(" "));
    }

    [Theory]
    [InlineData(1.24, "124 %!")]
    [InlineData(1.004, "100 %!")]
    [InlineData(1.0, "100 %")]
    [InlineData(0.98, "98 %")]
    [InlineData(null, "-")]
    public void A_roof_above_100_percent_is_marked(double? fraction, string expected) =>
        Assert.Equal(expected, RoofText(fraction));

    [Fact]
    public void A_row_above_its_roof_is_marked_in_the_table_with_a_note_and_only_then()
    {
        // 0.5 FLOP/byte under 40 GB/s is a 20 GFLOP/s roof: 250 images/s of 0.1 GFLOP are 125 % of it, 150 are 75 %.
        var peaks = new DevicePeaks(300, 40, PeakSource.Probe);
        var above = new Row("dense-rnn", 128, 1, 1, 1, 1e8, 2e8, 1, 1, 250, 240, "cpu");

        string marked = Table([above], "cpu (test)", peaks, null, View.AsConfigured);
        string plain = Table([above with { DeviceImagesPerS = 150 }], "cpu (test)", peaks, null, View.AsConfigured);

        Assert.Contains("125 %!", marked);
        Assert.Contains(AboveRoofNote, marked.ReplaceLineEndings(" "));
        Assert.Contains("75 %", plain);
        Assert.DoesNotContain("%!", plain);
        Assert.DoesNotContain(AboveRoofNote, plain);
    }

    [Fact]
    public void Peak_use_is_one_number_per_model_at_its_best_batch_at_the_largest_size()
    {
        Row[] rows =
        [
            new("vit", 64, 1, 1, 1, 2e9, 6e7, 1, 1, 100, 90, "cpu"),
            new("vit", 128, 1, 1, 1, 2e9, 6e7, 1, 1, 150, 140, "cpu"),
            new("vit", 128, 8, 1, 1, 2e9, 1e7, 1, 1, 120, 110, "cpu"),
            new("dense-rnn", 64, 8, 1, 1, 1e8, 2e8, 1, 1, 5000, 4000, "cpu"), // faster, but at a smaller size
            new("dense-rnn", 128, 1, 1, 1, 1e8, 2e8, 1, 1, 250, 240, "cpu"),
            new("dense-rnn", 128, 8, 1, 1, 1e8, 2e8, 1, 1, 600, 500, "cpu"),
        ];
        var peaks = new DevicePeaks(600, 40, PeakSource.Probe);

        Assert.Equal([("vit", 128, 1, 0.5), ("dense-rnn", 128, 8, 0.1)],
            PeakUse(rows, peaks).Select(u => (u.Best.Model, u.Best.ImageSize, u.Best.Batch, Math.Round(u.PeakFraction, 9))));
        Assert.Equal("Share of the device's peak 600.0 GFLOP/s at each model's best batch (device-resident): vit 50 % (128×128, batch 1), dense-rnn 10 % (128×128, batch 8).",
            PeakUseLine(rows, peaks));
        Assert.Empty(PeakUse(rows, DevicePeaks.Unknown));

        // A probe that read low puts a model above 100 % of the peak: marked and explained, not printed silently.
        string low = PeakUseLine(rows, new DevicePeaks(250, 40, PeakSource.Probe))!;
        Assert.Contains("vit 120 %! (128×128, batch 1)", low);
        Assert.EndsWith(AbovePeakNote, low);
    }

    [Fact]
    public void Interrupted_it_writes_what_it_measured_and_exits_130()
    {
        using var temp = new TempDirectory("gpuvit-compare-");
        string path = temp.PathOf("report.html");
        using var interrupt = new CancellationTokenSource();
        var output = new StringWriter { NewLine = "\n" };

        // Ctrl+C as the first measurement's line appears: as a user would, part-way through.
        var error = new InterruptingWriter(interrupt, "vit at 16");
        int exit = Cli.Run(["compare", "--device", "cpu", "--image-sizes", "16,32", "--batches", "1,2", "--vit", "vit_test_tiny",
            "--seconds", "0", "--json", "--report", path], output, error, interrupt.Token);

        Assert.Equal(Cli.Interrupted, exit);
        using JsonDocument json = JsonDocument.Parse(output.ToString());
        int rows = json.RootElement.GetArrayLength();
        Assert.InRange(rows, 1, 11);
        Assert.Contains($"interrupted; {rows} of 12 measurements written", error.ToString());
        Assert.EndsWith("</html>\n", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(temp.Path)); // whole, and no temporary file left beside it
    }

    [Fact]
    public void Runs_real_images_of_mixed_sizes_resized_to_each_size()
    {
        using var temp = new TempDirectory("gpuvit-compare-images-");
        File.WriteAllBytes(temp.PathOf("a.ppm"), Ppm(20, 12));
        File.WriteAllBytes(temp.PathOf("b.ppm"), Ppm(9, 30));

        (int exit, string output, string error) = Run("compare", "--device", "cpu", "--image-sizes", "16", "--batches", "2", "--vit", "vit_test_tiny",
            "--seconds", "0", "--json", "--images", temp.Path, "--no-report");
        Assert.True(exit == 0, error);
        Assert.Equal(3, JsonDocument.Parse(output).RootElement.GetArrayLength());

        (exit, output, error) = Run("compare", "--device", "cpu", "--image-sizes", "16", "--batches", "2", "--vit", "vit_test_tiny",
            "--seconds", "0", "--json", "--images", temp.Path, "--no-resize");
        AssertUsageError(exit, output, error, "a.ppm: the image is 20×12, not 16×16");
    }

    [Fact]
    public void A_measurement_too_large_for_the_device_is_skipped_and_said_so_and_the_rest_run()
    {
        using var temp = new TempDirectory("gpuvit-compare-skip-");
        string report = temp.PathOf("report.html");
        File.WriteAllBytes(temp.PathOf("a.ppm"), Ppm(4, 4));

        // 4096 images at 1024 fit neither the ViT's stream nor the RNNs' states in this machine's memory; batch 1 fits.
        (int exit, string output, string error) = Run("compare", "--device", "cpu", "--image-sizes", "1024", "--batches", "4096", "--vit", "vit_test_tiny",
            "--images", temp.Path, "--seconds", "0", "--json", "--report", report);

        Assert.True(exit == 0, error);
        Assert.Equal("[]", output.Trim());
        Assert.Equal(3, error.Split('\n').Count(l => l.StartsWith("gpuvit: skipped ", StringComparison.Ordinal)));
        Assert.Contains("gpuvit: skipped dense-rnn at 1024, batch 4096: dense-rnn at image 1024 (C=8, k=3, batch 4096) needs", error);
        Assert.Contains("Skipped, too large for the device", File.ReadAllText(report));
    }

    [Fact]
    public void A_size_a_model_cannot_take_fails_before_anything_is_measured()
    {
        (int exit, string output, string error) = Run("compare", "--device", "cpu", "--image-sizes", "32,4096", "--batches", "1", "--vit", "vit_test_tiny", "--no-report");

        AssertUsageError(exit, output, error, "--image-sizes: dense-rnn at image 4096 (C=8, k=3) needs 9,663,676,416 recurrent weights");
    }

    private static byte[] Ppm(int width, int height) =>
        GpuViT.Tests.Models.InputTests.Ppm(width, height, [.. Enumerable.Range(0, width * height * 3).Select(i => (byte)(i * 7))]);

    [Fact]
    public void Trained_weights_run_at_their_own_size_and_no_other()
    {
        string weights = Path.Combine(AppContext.BaseDirectory, "fixtures", "vit_fixture_tiny.timm.safetensors");

        (int exit, string output, string error) = Run("compare", "--device", "cpu", "--weights", weights, "--batches", "1", "--seconds", "0", "--json", "--no-report");

        Assert.True(exit == 0, error);
        JsonElement[] rows = [.. JsonDocument.Parse(output).RootElement.EnumerateArray()];
        Assert.All(rows, r => Assert.Equal(32, r.GetProperty("image_size").GetInt32()));
        var config = GpuViT.Models.Vit.VitWeightFiles.Load(weights).Config;
        Assert.Equal(config.ParameterCount, rows.Single(r => r.GetProperty("model").GetString() == "vit").GetProperty("params").GetInt64());

        (exit, output, error) = Run("compare", "--device", "cpu", "--weights", weights, "--image-sizes", "64");
        AssertUsageError(exit, output, error, "--image-sizes: 64 is not the 32×32 that --weights takes");
    }

    [Theory]
    [InlineData("--image-sizes", "12", "not a multiple of 8")]
    [InlineData("--image-sizes", "a,16", "--image-sizes")]
    [InlineData("--batches", "0", "--batches")]
    [InlineData("--project", "tpu", "unknown GPU")]
    [InlineData("--vit", "nope", "unknown preset")]
    [InlineData("--match", "tokens", "--match: 'tokens' is not none or flops")]
    public void Bad_arguments_are_one_line_and_exit_2(string option, string value, string expected)
    {
        (int exit, string output, string error) = Run("compare", "--device", "emulator", option, value);

        AssertUsageError(exit, output, error, expected);
    }
}
