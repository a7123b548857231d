using System.Runtime.InteropServices;
using GpuViT.Host;
using GpuViT.Models.Images;

namespace GpuViT.Tests.Host;

/// <summary>
/// Ctrl+C, SIGTERM and SIGHUP sent to a real `gpuvit` child: the command stops after the work in
/// flight, writes everything finished, never empties an existing output, and exits 128 + the signal;
/// a second signal ends it at once. Every command honours the first one.
/// </summary>
public sealed class SignalTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-signal-");

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// A model slow enough on cpu (a tenth of a second or more per image on two cores) that a run of
    /// this many images is still going when the signal lands, even on a fast CPU and a test host slow
    /// to send it (ViT-Ti, a quarter of the work, left little margin).
    /// </summary>
    private const string SlowModel = "vit_small_patch16_224";

    private const int Images = 24;

    private string SaveInputs()
    {
        var random = new Random(3);
        string path = _temp.PathOf("inputs.npy");
        NpyFile.WriteFloat32(path, [.. Enumerable.Range(0, Images * 3 * 224 * 224).Select(_ => (float)(random.NextDouble() * 2 - 1))], [Images, 3, 224, 224]);
        return path;
    }

    private string[] RunArgs(string inputs, string logits, int batch, string device = "cpu") =>
        ["run", "--model", SlowModel, "--random-init", "--input", inputs, "--batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "--top", "1", "--save-logits", logits, "--device", device];

    [Theory]
    [InlineData(PosixSignalNumber.Term, Cli.Terminated)]
    [InlineData(PosixSignalNumber.Hup, Cli.HungUp)]
    [InlineData(PosixSignalNumber.Int, Cli.Interrupted)]
    public void A_signal_mid_run_saves_every_finished_micro_batch_and_exits_128_plus_the_signal(PosixSignalNumber signal, int expectedExit)
    {
        string inputs = SaveInputs(), logits = _temp.PathOf("out.npy");

        CliProcessResult result = CliProcess.Run(RunArgs(inputs, logits, batch: 2), signalWhen: "inputs.npy[1]", signal: signal);

        Assert.False(result.TimedOut);
        Assert.True(expectedExit == result.Exit, result.Error);
        int printed = result.Output.Split('\n').Count(line => line.StartsWith(inputs, StringComparison.Ordinal));
        NpyArray saved = NpyFile.ReadFloat32(logits);
        Assert.Equal([printed, 1000], saved.Shape);
        Assert.InRange(printed, 2, Images - 2);
        Assert.Equal(0, printed % 2); // whole micro-batches
        Assert.All(saved.Data, value => Assert.True(float.IsFinite(value)));
        Assert.EndsWith($"gpuvit: interrupted after {printed} of {Images} images", result.ErrorLines[^1]);
        Assert.DoesNotContain("   at ", result.Error);
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.tmp"));
    }

    [Fact]
    public void Sigterm_before_any_image_finished_never_replaces_an_existing_output_with_an_empty_one()
    {
        string inputs = SaveInputs(), logits = _temp.PathOf("out.npy");
        NpyFile.WriteFloat32(logits, new float[200 * 1000], [200, 1000]);
        byte[] before = File.ReadAllBytes(logits);

        // --verbose names the model's sources before the model is made: the one micro-batch of every
        // image has not started, and on cpu a pass that has started stops at its next block.
        CliProcessResult result = CliProcess.Run([.. RunArgs(inputs, logits, batch: Images), "--verbose"], signalWhen: "from preset");

        Assert.True(Cli.Terminated == result.Exit, result.Error);
        Assert.Contains($"no image finished; {logits} left as it was", result.Error);
        Assert.Equal(before, File.ReadAllBytes(logits));
    }

    [Fact]
    public void Sigterm_makes_compare_print_its_table_and_write_its_report()
    {
        string report = _temp.PathOf("report.html");

        // Measurements of seconds, not tenths: the signal goes when the ViT's row is printed and must
        // land while the RNN's measurement still runs, however slow the test host is to send it.
        CliProcessResult result = CliProcess.Run(
            ["compare", "--device", "cpu", "--image-sizes", "32", "--batches", "1", "--seconds", "3", "--report", report], signalWhen: "vit at 32, batch 1:");

        Assert.True(Cli.Terminated == result.Exit, result.Error);
        Assert.Contains("\nvit ", result.Output);
        Assert.True(File.Exists(report));
        Assert.Contains("gpuvit: interrupted; ", result.Error);
    }

    [Fact]
    public void The_first_signal_stops_the_command_and_names_the_exit_code_and_a_second_ends_the_process()
    {
        var stop = new SignalStop();
        Assert.Equal(0, stop.ExitCode(0));

        Assert.True(stop.Take(PosixSignal.SIGTERM));   // handled: the command stops cleanly
        Assert.True(stop.Interrupt.IsCancellationRequested);
        Assert.Equal(Cli.Terminated, stop.ExitCode(Cli.Interrupted));
        Assert.Equal(0, stop.ExitCode(0));             // a command that finished anyway

        Assert.False(stop.Take(PosixSignal.SIGINT));   // left to the system, which ends the process
        Assert.Equal(Cli.Terminated, stop.ExitCode(Cli.Interrupted));
    }

    [Theory]
    [InlineData("bench", "--op", "gelu")]
    [InlineData("bench", "--model", "vit_test_tiny", "--batch", "1")]
    [InlineData("bench", "--model", "dense-rnn", "--batch", "1", "--image-size", "8")]
    [InlineData("devices", "--probe")]
    public void Bench_and_devices_probe_honour_the_first_interrupt(params string[] args)
    {
        using var interrupt = new CancellationTokenSource();
        interrupt.Cancel();
        var output = new StringWriter();
        var error = new StringWriter();

        int exit = Cli.Run([.. args, "--device", "cpu"], output, error, interrupt.Token);

        Assert.Equal(Cli.Interrupted, exit);
        Assert.Equal("gpuvit: interrupted\n", error.ToString().ReplaceLineEndings("\n"));
    }
}
