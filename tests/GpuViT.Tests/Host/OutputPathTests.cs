using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>
/// Outputs are checked before any work: a path that cannot be written fails at once, with nothing
/// computed (no result on stdout, no progress on stderr); one that fails anyway at the end names
/// the path the user gave, never the temporary file; an existing output is still replaced.
/// </summary>
public sealed class OutputPathTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-outputs-");

    public void Dispose() => _temp.Dispose();

    private string SaveTiny()
    {
        string path = _temp.PathOf("tiny.safetensors");
        VitWeightFiles.Save(path, VitPresets.VitTestTiny, VitWeights.RandomInit(VitPresets.VitTestTiny, 5));
        return path;
    }

    private string SaveInputs(int count)
    {
        string path = _temp.PathOf("inputs.npy");
        NpyFile.WriteFloat32(path, new float[count * 3 * 32 * 32], [count, 3, 32, 32]);
        return path;
    }

    [Fact]
    public void Logits_into_a_missing_directory_fail_before_any_image_is_computed()
    {
        string weights = SaveTiny(), inputs = SaveInputs(64), logits = _temp.PathOf("nodir/out.npy");

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", inputs, "--batch", "1", "--save-logits", logits, "--device", "cpu");

        // Computed first, 64 results would be on stdout and 64 progress lines on stderr.
        AssertUsageError(exit, output, error, $"gpuvit: --save-logits {logits}: no directory {_temp.PathOf("nodir")}");
    }

    [Fact]
    public void A_report_that_is_a_directory_fails_before_any_measurement()
    {
        string report = _temp.PathOf("reports");
        Directory.CreateDirectory(report);

        (int exit, string output, string error) = Run("compare", "--device", "cpu", "--image-sizes", "16", "--batches", "1", "--vit", "vit_test_tiny",
            "--seconds", "0", "--report", report);

        // Measured first, the table would be on stdout.
        AssertUsageError(exit, output, error, $"gpuvit: --report {report}: is a directory; name a file in it");
    }

    [Fact]
    public void Logits_whose_directory_goes_during_the_run_fail_naming_the_given_path()
    {
        string weights = SaveTiny(), inputs = SaveInputs(2), directory = _temp.PathOf("out"), logits = Path.Combine(directory, "logits.npy");
        Directory.CreateDirectory(directory);
        // The first result printed removes the directory; the run goes on and writes at the end.
        using var removal = new CancellationTokenSource();
        removal.Token.Register(() => Directory.Delete(directory));
        var output = new InterruptingWriter(removal, "inputs.npy[0]");
        var error = new StringWriter { NewLine = "\n" };

        int exit = GpuViT.Host.Cli.Run(["run", "--weights", weights, "--input", inputs, "--batch", "1", "--save-logits", logits, "--device", "cpu"], output, error);

        Assert.Equal(GpuViT.Host.Cli.UsageError, exit);
        Assert.Equal($"gpuvit: {logits}: cannot write: no such directory", error.ToString().TrimEnd('\n').Split('\n')[^1]);
        Assert.DoesNotContain(".tmp", error.ToString());
    }

    [Fact]
    public void An_existing_output_is_replaced()
    {
        string inputs = SaveInputs(1), logits = _temp.PathOf("logits.npy");
        File.WriteAllText(logits, "an earlier run");

        (int exit, _, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", "--input", inputs, "--save-logits", logits, "--device", "cpu");

        Assert.True(exit == 0, error);
        Assert.Equal([1, 10], NpyFile.ReadFloat32(logits).Shape);
    }
}
