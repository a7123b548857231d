using System.Text.Json;
using GpuViT.Host;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>`gpuvit bench`: the JSON it promises for an op and for a model, every timing with its spread, the text's width, and bad input.</summary>
public sealed class BenchCommandTests
{
    [Fact]
    public void Op_bench_prints_one_JSON_object_with_the_promised_fields()
    {
        JsonElement root = BenchJson("--op", "gemm", "--shape", "m=33,k=17,n=9", "--device", "cpu");
        Assert.Equal("gemm", root.GetProperty("op").GetString());
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        Assert.Equal("m=33,k=17,n=9", root.GetProperty("shape").GetString());
        Assert.True(root.GetProperty("seconds").GetDouble() > 0);
        Assert.True(root.GetProperty("gflops").GetDouble() > 0);
        Assert.True(root.GetProperty("gbps").GetDouble() > 0);
        AssertSpread(root, "seconds", "runs");
    }

    [Fact]
    public void Model_bench_prints_images_per_second_for_a_preset()
    {
        JsonElement root = BenchJson("--model", "vit_test_tiny", "--batch", "2", "--device", "emulator");
        Assert.Equal("vit_test_tiny", root.GetProperty("model").GetString());
        Assert.Equal("emulator", root.GetProperty("device").GetString());
        Assert.Equal(2, root.GetProperty("batch").GetInt32());
        foreach (string field in new[] { "seconds", "images_per_s", "gflops", "gbps" })
        {
            Assert.True(root.GetProperty(field).GetDouble() > 0, field);
        }

        AssertSpread(root, "seconds", "runs");
        Assert.Equal(1, root.GetProperty("runs_calls").GetInt32());
        Assert.Equal(2 / root.GetProperty("seconds").GetDouble(), root.GetProperty("images_per_s").GetDouble(), 1e-9);
    }

    [Fact]
    public void Dense_rnn_bench_gives_each_of_its_three_timings_a_spread()
    {
        JsonElement root = BenchJson("--model", "dense-rnn", "--image-size", "8", "--batch", "2", "--device", "cpu");
        AssertSpread(root, "seconds", "runs");
        AssertSpread(root, "steps_seconds", "steps_runs");
        AssertSpread(root, "readout_seconds", "readout_runs");
    }

    [Theory]
    [InlineData("--op", "gemm", "--shape", "m=33,k=17,n=9", "--device", "cpu")]
    [InlineData("--model", "vit_test_tiny", "--batch", "2", "--device", "cpu")]
    [InlineData("--model", "dense-rnn", "--image-size", "8", "--batch", "2", "--device", "cpu")]
    public void Text_gives_median_p5_p95_and_runs_in_lines_under_120_columns(params string[] args)
    {
        (int exit, string output, string error) = Run(["bench", .. args]);

        Assert.True(exit == 0, error);
        Assert.Matches(@"median [0-9.]+ ms \(p5 [0-9.]+, p95 [0-9.]+, mean [0-9.]+; [0-9]+ runs", output);
        Assert.All(output.TrimEnd('\n').Split('\n'), line => Assert.True(line.Length <= 120, $"{line.Length} columns: {line}"));
    }

    [Theory]
    [InlineData("either --op NAME or --model PRESET", "bench")]
    [InlineData("either --op NAME or --model PRESET", "bench", "--op", "gemm", "--model", "vit_test_tiny")]
    [InlineData("unknown model 'vit_huge'", "bench", "--model", "vit_huge")]
    [InlineData("not one of gemm's sizes", "bench", "--op", "gemm", "--shape", "rows=3")]
    [InlineData("must be a positive integer", "bench", "--op", "gemm", "--shape", "m=-3")]
    public void Bad_input_is_one_line_and_exit_code_2(string expected, params string[] args)
    {
        (int exit, string output, string error) = Run(args);

        AssertUsageError(exit, output, error, expected);
    }

    /// <summary>
    /// A timing's spread in the JSON: the plain field is the median, 0 &lt; p5 ≤ median ≤ p95, a
    /// positive mean, and at least <see cref="BenchCommand.MinRuns"/> runs of at least one call.
    /// </summary>
    private static void AssertSpread(JsonElement root, string name, string runs)
    {
        double median = root.GetProperty(name + "_median").GetDouble();
        double p5 = root.GetProperty(name + "_p5").GetDouble(), p95 = root.GetProperty(name + "_p95").GetDouble();
        Assert.Equal(median, root.GetProperty(name).GetDouble());
        Assert.True(0 < p5 && p5 <= median && median <= p95, $"{name}: p5 {p5}, median {median}, p95 {p95}");
        Assert.True(root.GetProperty(name + "_mean").GetDouble() > 0, name + "_mean");
        Assert.True(root.GetProperty(runs).GetInt32() >= BenchCommand.MinRuns, runs);
        Assert.True(root.GetProperty(runs + "_calls").GetInt32() >= 1, runs + "_calls");
    }

    /// <summary>Runs `gpuvit bench ARGS --json`, checks it succeeded, and returns its one JSON object.</summary>
    private static JsonElement BenchJson(params string[] args)
    {
        (int exit, string output, string error) = Run(["bench", .. args, "--json"]);
        Assert.True(exit == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        return json.RootElement.Clone();
    }
}
