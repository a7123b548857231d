using System.Text.Json;
using GpuViT.Models.Images;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>
/// `--precision` on run and bench end to end (PyTorch's tiny fixture on the emulator, the usage
/// errors in one line, exit 2), and `run --profile`'s table.
/// </summary>
public sealed class PrecisionCliTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "fixtures");
    private static readonly string Weights = Path.Combine(Fixtures, "vit_fixture_tiny.timm.safetensors");
    private static readonly string Input = Path.Combine(Fixtures, "vit_fixture_tiny.input.npy");
    private readonly TempDirectory _temp = new("gpuvit-precision-cli-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Run_at_bf16_on_the_emulator_warns_it_is_software_and_stays_near_PyTorch()
    {
        string logitsPath = _temp.PathOf("logits.npy");
        (int exit, string output, string error) = Run("run", "--weights", Weights, "--input", Input, "--top", "1",
            "--precision", "bf16", "--device", "emulator", "--save-logits", logitsPath);

        Assert.True(exit == 0, error);
        Assert.Contains("vit_fixture_tiny.input.npy[2]", output);
        string warning = Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Contains("warning: --precision bf16 on emulator, which has no tensor cores", warning);
        float[] expected = NpyFile.ReadFloat32(Path.Combine(Fixtures, "vit_fixture_tiny.logits.npy")).Data;
        float[] actual = NpyFile.ReadFloat32(logitsPath).Data;
        double scale = expected.Max(MathF.Abs);
        double worst = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max() / scale;
        Assert.InRange(worst, 1e-6, 3e-2); // narrowed: not fp32's exact agreement, within bf16's bound
    }

    [Theory]
    [InlineData("the cpu backend computes in fp32 only", "run", "--weights", "W", "--input", "I", "--precision", "bf16", "--device", "cpu")]
    [InlineData("the cpu backend computes in fp32 only", "run", "--weights", "W", "--input", "I", "--precision", "tf32", "--device", "cpu")]
    [InlineData("Argument 'fp8' not recognized", "run", "--weights", "W", "--input", "I", "--precision", "fp8", "--device", "emulator")]
    [InlineData("the cpu backend computes in fp32 only", "bench", "--op", "gemm", "--precision", "bf16", "--device", "cpu")]
    [InlineData("--gemm mma-tf32 computes in tf32, not --precision bf16", "bench", "--op", "gemm", "--gemm", "mma-tf32", "--precision", "bf16", "--device", "emulator")]
    [InlineData("--gemm register-blocked computes in fp32, not --precision tf32", "bench", "--model", "vit_test_tiny", "--gemm", "register-blocked", "--precision", "tf32")]
    [InlineData("softmax runs in fp32 in every precision", "bench", "--op", "softmax", "--precision", "bf16", "--device", "emulator")]
    [InlineData("the dense RNN runs in fp32 only", "bench", "--model", "dense-rnn", "--precision", "bf16", "--device", "emulator")]
    public void A_precision_that_cannot_run_is_one_line_and_exit_2(string expected, params string[] args)
    {
        string[] resolved = [.. args.Select(a => a == "W" ? Weights : a == "I" ? Input : a)];
        (int exit, string output, string error) = Run(resolved);

        AssertUsageError(exit, output, error, expected);
    }

    [Fact]
    public void Bench_json_carries_the_precision_and_a_named_gemm_implies_its_own()
    {
        JsonElement fp32 = BenchJson("--op", "gemm", "--shape", "m=33,k=17,n=9", "--device", "cpu");
        Assert.Equal("fp32", fp32.GetProperty("precision").GetString());

        (int exit, string output, string error) = Run("bench", "--op", "gemm", "--shape", "m=16,k=16,n=8", "--gemm", "mma-tf32", "--device", "emulator", "--json");
        Assert.True(exit == 0, error);
        using JsonDocument tf32 = JsonDocument.Parse(output);
        Assert.Equal("tf32", tf32.RootElement.GetProperty("precision").GetString());
        Assert.Contains("MmaTf32", tf32.RootElement.GetProperty("variant").GetString());
        Assert.Contains("no tensor cores", error);
    }

    [Fact]
    public void Model_bench_at_tf32_chooses_the_tensor_core_gemm_and_says_so_in_json()
    {
        (int exit, string output, string error) = Run("bench", "--model", "vit_test_tiny", "--batch", "2", "--precision", "tf32", "--device", "emulator", "--json");
        Assert.True(exit == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal("tf32", json.RootElement.GetProperty("precision").GetString());
    }

    [Fact]
    public void Profile_prints_where_the_time_went_after_the_results()
    {
        (int exit, string output, string error) = Run("run", "--weights", Weights, "--input", Input, "--top", "1", "--device", "cpu", "--profile");

        Assert.True(exit == 0, error);
        Assert.DoesNotContain("profile", output); // results on stdout, the table on stderr
        foreach (string row in new[] { "process start → command", "weights: read", "device open", "weights: convert + upload", "stream",
            "image decode", "host→device copies", "compute", "device→host copies", "printing results", "total", "start → first logits" })
        {
            Assert.Contains("  " + row + " ", error);
        }

        Assert.Contains("3 images in 1 micro-batches", error);
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
