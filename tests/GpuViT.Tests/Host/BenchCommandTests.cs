using System.Text.Json;
using GpuViT.Host;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>`gpuvit bench`: the JSON it promises for an op and for a model, and bad input.</summary>
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

    /// <summary>Runs `gpuvit bench ARGS --json`, checks it succeeded, and returns its one JSON object.</summary>
    private static JsonElement BenchJson(params string[] args)
    {
        (int exit, string output, string error) = Run(["bench", .. args, "--json"]);
        Assert.True(exit == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        return json.RootElement.Clone();
    }
}
