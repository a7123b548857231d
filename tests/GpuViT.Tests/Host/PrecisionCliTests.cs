using System.Text.Json;
using GpuViT.Host.Compare;
using GpuViT.Kernels.Ops;
using GpuViT.Models.Images;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.CompareMeasurement;
using static GpuViT.Host.Compare.Roofline;
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
        string warning = Assert.Single(WithoutProgress(error).TrimEnd('\n').Split('\n'));
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

/// <summary>`compare` with a narrowed ViT: the tensor-core roof from the datasheet table, in the text and the JSON.</summary>
public sealed class CompareTensorCoreRoofTests
{
    private static readonly DevicePeaks Peaks = new(60_000, 4_000, PeakSource.Probe);

    // A bf16 ViT row at 100 FLOP/byte (4e9 FLOP/image at 100,000 images/s = 400 TFLOP/s), and an fp32 RNN row.
    private static readonly Row[] Rows =
    [
        new("vit", 224, 32, 1, 1, 4e9, 4e7, 1, 1, 100_000, 90_000, "cuda:0", Precision: Precision.Bf16),
        new("dense-rnn", 224, 32, 1, 1, 1e8, 2e8, 1, 1, 100, 90, "cuda:0"),
    ];

    [Theory]
    [InlineData(90, Precision.Tf32, 495_000.0)]
    [InlineData(90, Precision.Bf16, 989_000.0)]
    [InlineData(90, Precision.Fp16, 989_000.0)]
    [InlineData(80, Precision.Tf32, 156_000.0)]
    [InlineData(80, Precision.Bf16, 312_000.0)]
    public void The_roof_is_the_datasheet_peak_of_the_devices_compute_capability(int cc, Precision precision, double gflops)
    {
        TensorCoreRoof roof = TensorCoreRoofFor(new DeviceCapabilities(cc), precision)!;
        Assert.Equal(gflops, roof.Gflops);
        Assert.Equal(precision, roof.Precision);
        Assert.Equal($"datasheet, sm_{cc}", roof.Source);
    }

    [Theory]
    [InlineData(90, Precision.Fp32)] // fp32 runs on the SIMT cores
    [InlineData(75, Precision.Bf16)] // no tensor cores for it
    [InlineData(86, Precision.Bf16)] // tensor cores, but no datasheet peak known
    [InlineData(null, Precision.Bf16)] // OpenCL, emulator
    public void No_roof_at_fp32_without_tensor_cores_or_a_known_peak(int? cc, Precision precision) =>
        Assert.Null(TensorCoreRoofFor(new DeviceCapabilities(cc), precision));

    [Fact]
    public void Json_reads_the_narrowed_row_against_the_tensor_core_roof_and_the_rnn_against_fp32()
    {
        TensorCoreRoof roof = TensorCoreRoofFor(new DeviceCapabilities(90), Precision.Bf16)!;
        using JsonDocument json = JsonDocument.Parse(CompareJson.Rows(Rows, "test GPU", Peaks, gpu: null, roof));
        JsonElement vit = json.RootElement[0], rnn = json.RootElement[1];

        Assert.Equal("bf16", vit.GetProperty("precision").GetString());
        Assert.Equal(989_000, vit.GetProperty("tensor_core_peak_gflops").GetDouble());
        Assert.Equal("datasheet, sm_90", vit.GetProperty("tensor_core_peak_source").GetString());
        // min(989,000, 100 FLOP/B × 4,000 GB/s) = 400,000: bandwidth-bound under the tensor-core roof, 100 % of it.
        Assert.Equal(400_000, vit.GetProperty("roofline_gflops").GetDouble(), 6);
        Assert.Equal(1.0, vit.GetProperty("roofline_fraction").GetDouble(), 6);
        Assert.False(vit.GetProperty("above_roof").GetBoolean());

        Assert.Equal("fp32", rnn.GetProperty("precision").GetString());
        Assert.Equal(JsonValueKind.Null, rnn.GetProperty("tensor_core_peak_gflops").ValueKind);
        Assert.Equal(Math.Min(60_000, 0.5 * 4_000), rnn.GetProperty("roofline_gflops").GetDouble(), 6);

        // Without the roof the same row is 667 % of the fp32 peak: marked above its roof.
        using JsonDocument fp32Roof = JsonDocument.Parse(CompareJson.Rows(Rows, "test GPU", Peaks, gpu: null));
        Assert.True(fp32Roof.RootElement[0].GetProperty("above_roof").GetBoolean());
    }

    [Fact]
    public void Text_names_the_precisions_and_the_datasheet_roof()
    {
        TensorCoreRoof roof = TensorCoreRoofFor(new DeviceCapabilities(90), Precision.Bf16)!;
        string text = CompareText.Table(Rows, "cuda:0 (test)", Peaks, null, View.AsConfigured, roof).ReplaceLineEndings(" ");

        Assert.Contains("precision: vit in bf16; the other models in fp32. Rows in bf16 are read against the tensor-core roof 989,000 GFLOP/s (datasheet, sm_90, dense)", text);
        Assert.Contains("100 %", text);
        Assert.DoesNotContain(AboveRoofNote, text);

        string withoutRoof = CompareText.Table(Rows, "opencl:0.0 (test)", Peaks, null, View.AsConfigured, tensorCores: null);
        Assert.Contains("No tensor-core roof is known for this device", withoutRoof);

        string fp32Only = CompareText.Table([Rows[1]], "cpu (test)", Peaks, null, View.AsConfigured);
        Assert.DoesNotContain("precision:", fp32Only);
    }

    [Fact]
    public void Html_report_draws_the_tensor_core_roof()
    {
        TensorCoreRoof roof = TensorCoreRoofFor(new DeviceCapabilities(80), Precision.Tf32)!;
        Row[] rows = [Rows[0] with { Precision = Precision.Tf32 }, Rows[1]];
        string html = CompareReport.Html(rows, [], "cuda:0 (test)", Peaks, null, View.AsConfigured, roof);

        Assert.Contains("tf32 tensor-core roof 156 TFLOP/s (datasheet, sm_80)", html);
        Assert.Contains("stroke-dasharray", html);
    }

    [Fact]
    public void Compare_on_cpu_at_bf16_is_one_line_and_exit_2()
    {
        (int exit, string output, string error) = Run("compare", "--precision", "bf16", "--device", "cpu", "--no-report", "--image-sizes", "32", "--batches", "1");
        AssertUsageError(exit, output, error, "the cpu backend computes in fp32 only");
    }
}
