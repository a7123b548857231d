using System.Text;
using GpuViT.Host;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Tests.Models;

namespace GpuViT.Tests.Host;

/// <summary>
/// Hostile inputs to `gpuvit run` (issue 13, items 1, 4 and 5): unreadable images and arrays among
/// good ones, non-finite pixels and weights, --on-error both ways, and interrupts at different
/// points. Each case checks the exit code, that every stderr line is one `gpuvit:` line naming its
/// file with no stack trace, and that the existing output file is either left whole or replaced by
/// a whole one with one row per finished input.
/// </summary>
public sealed class HostileRunTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-hostile-run-");

    public void Dispose() => _temp.Dispose();

    private static readonly VitConfig Tiny = VitPresets.VitTestTiny;

    /// <summary>Rows of the output file that an earlier run left: a case that writes nothing must leave them.</summary>
    private const int EarlierRows = 7;

    /// <summary>One case: what it writes, its arguments after `run`, and what it must give.</summary>
    /// <param name="Rows">Rows the output file holds afterwards (<see cref="EarlierRows"/>: left as it was).</param>
    /// <param name="NonFiniteRows">Rows of the output with a NaN or ±∞ (skipped inputs are all NaN).</param>
    /// <param name="Named">What stderr must name (a file, or a flag); null where stderr must be empty.</param>
    /// <param name="InterruptAfter">Cancel as a line containing this is printed ("" before the run starts), as Ctrl+C would.</param>
    public sealed record Case(int Exit, int Rows, int[] NonFiniteRows, string? Named, string? InterruptAfter = null);

    public static TheoryData<string> Cases => [.. Setups.Keys];

    private static readonly Dictionary<string, Func<HostileRunTests, (string[] Args, Case Expect)>> Setups = new()
    {
        ["corrupt image among good ones"] = t => (t.Inputs(t.Good(2), t.Bad("noise.png", "not an image at all"), t.Good(1, "more.npy")), new(Cli.SkippedInputs, 4, [2], "noise.png")),
        ["truncated png"] = t => (t.Inputs(t.Bad("cut.png", Encoding.Latin1.GetString(InputTests.Png(8, 8, 2, new byte[192])[..40])), t.Good(1)), new(Cli.SkippedInputs, 2, [0], "cut.png")),
        ["empty image file"] = t => (t.Inputs(t.Good(1), t.Bad("empty.jpg", "")), new(Cli.SkippedInputs, 2, [1], "empty.jpg")),
        ["directory with one corrupt image"] = t => (t.Inputs(t.PhotoDirectory()), new(Cli.SkippedInputs, 3, [1], "b.png")),
        ["npy with a bad header"] = t => (t.Inputs(t.Good(1), t.Bad("header.npy", "\u0093NUMPY garbage"), t.Good(1, "more.npy")), new(Cli.SkippedInputs, 3, [1], "header.npy")),
        ["npy with truncated data"] = t => (t.Inputs(t.Truncated(3), t.Good(1)), new(Cli.SkippedInputs, 2, [0], "cut.npy")), // its count is not to be trusted: one row
        ["npy of the wrong image size"] = t => (t.Inputs(t.Good(1), t.Npy("small.npy", 2, 16, 0)), new(Cli.SkippedInputs, 3, [1, 2], "small.npy")),
        ["every input unreadable"] = t => (t.Inputs(t.Bad("a.png", "x"), t.Bad("b.bmp", "y")), new(Cli.SkippedInputs, 2, [0, 1], "b.bmp")),
        ["--on-error fail at a corrupt image"] = t => ([.. t.Inputs(t.Good(3), t.Bad("noise.png", "garbage"), t.Good(2, "more.npy")), "--batch", "2", "--on-error", "fail"], new(Cli.UsageError, 3, [], "noise.png")),
        ["--on-error fail at a bad npy header"] = t => ([.. t.Inputs(t.Good(2), t.Bad("header.npy", "not numpy")), "--on-error", "fail"], new(Cli.UsageError, EarlierRows, [], "header.npy")),
        ["--on-error fail at the first input"] = t => ([.. t.Inputs(t.Bad("first.ppm", "P6 broken"), t.Good(2)), "--on-error", "fail"], new(Cli.UsageError, EarlierRows, [], "first.ppm")),
        ["--on-error with a bad value"] = t => ([.. t.Inputs(t.Good(1)), "--on-error", "ignore"], new(Cli.UsageError, EarlierRows, [], "'ignore'")),
        ["a NaN pixel"] = t => (t.Inputs(t.Npy("nan.npy", 2, 32, float.NaN, values: 1)), new(Cli.NonFiniteResults, 2, [1], "nan.npy[1]")),
        ["pixels of 3e38"] = t => (t.Inputs(t.Good(1), t.Npy("huge.npy", 1, 32, 3e38f)), new(Cli.NonFiniteResults, 2, [1], "huge.npy[0]")),
        ["an infinite pixel"] = t => (t.Inputs(t.Npy("inf.npy", 1, 32, float.PositiveInfinity)), new(Cli.NonFiniteResults, 1, [0], "inf.npy[0]")),
        ["a NaN weight"] = t => (["run", "--weights", t.Weights(w => w["head.weight"].Data[5] = float.NaN), "--input", t.Good(2)], new(Cli.NonFiniteResults, 2, [0, 1], "inputs.npy[1]: 1 of 10 logits")),
        ["skipped and non-finite together"] = t => (t.Inputs(t.Bad("noise.png", "?"), t.Npy("nan.npy", 1, 32, float.NaN)), new(Cli.SkippedInputs, 2, [0, 1], "noise.png")),
        ["interrupt before the first micro-batch"] = t => (t.Inputs(t.Good(4)), new(Cli.Interrupted, EarlierRows, [], "out.npy", InterruptAfter: "")),
        ["interrupt after the first micro-batch"] = t => ([.. t.Inputs(t.Good(6)), "--batch", "2"], new(Cli.Interrupted, 2, [], "interrupted after 2 of 6", InterruptAfter: "inputs.npy[1]")),
        ["interrupt at a skipped input"] = t => ([.. t.Inputs(t.Good(2), t.Bad("noise.png", "!"), t.Good(6, "more.npy")), "--batch", "3"], new(Cli.Interrupted, 3, [2], "noise.png", InterruptAfter: "skipped: could not be read")),
        ["interrupt after the last micro-batch"] = t => ([.. t.Inputs(t.Good(3)), "--batch", "3"], new(0, 3, [], Named: null, InterruptAfter: "inputs.npy[2]")),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Run_keeps_what_finished_and_says_what_did_not(string name)
    {
        (string[] args, Case expect) = Setups[name](this);
        string logits = _temp.PathOf("out.npy");
        NpyFile.WriteFloat32(logits, new float[EarlierRows * Tiny.Classes], [EarlierRows, Tiny.Classes]);
        using var interrupt = new CancellationTokenSource();
        if (expect.InterruptAfter == "")
        {
            interrupt.Cancel();
        }

        string[] command = [.. args, "--save-logits", logits, "--device", "cpu"];
        int exit;
        string output, error;
        if (expect.InterruptAfter is null)
        {
            // A child process, so that its memory is measured and a hang killed.
            (exit, output, error) = CliProcess.Bounded(command);
        }
        else
        {
            // Interrupted in process, at the exact line (SignalTests sends real signals to children).
            var printed = new InterruptingWriter(interrupt, expect.InterruptAfter);
            var errors = new StringWriter { NewLine = "\n" };
            exit = await Task.Run(() => Cli.Run(command, printed, errors, interrupt.Token)).WaitAsync(CliProcess.HostileTimeout); // a hang is a TimeoutException
            (output, error) = (printed.ToString(), errors.ToString());
        }

        Assert.True(expect.Exit == exit, $"exit {exit}: {error}");
        error = CliHarness.WithoutProgress(error);
        Assert.DoesNotMatch(@"(?m)^  NaN  \d", output); // never ranked as a class
        string[] lines = error.TrimEnd('\n').Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, line => Assert.StartsWith("gpuvit: ", line));
        Assert.DoesNotContain("   at ", error);
        if (expect.Named is null)
        {
            Assert.Empty(error); // finished before the interrupt: nothing to say
        }
        else
        {
            Assert.Contains(expect.Named, error);
        }
        if (expect.Exit == Cli.UsageError)
        {
            Assert.Single(lines);
        }

        NpyArray saved = NpyFile.ReadFloat32(logits);
        Assert.Equal([expect.Rows, Tiny.Classes], saved.Shape);
        int[] nonFinite = [.. Enumerable.Range(0, expect.Rows).Where(row => saved.Data.Skip(row * Tiny.Classes).Take(Tiny.Classes).Any(v => !float.IsFinite(v)))];
        Assert.Equal(expect.NonFiniteRows, nonFinite);
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.tmp"));
    }

    private string Weights(Action<VitWeights>? spoil = null)
    {
        string path = _temp.PathOf("tiny.safetensors");
        VitWeights weights = VitWeights.RandomInit(Tiny, 5);
        spoil?.Invoke(weights);
        VitWeightFiles.Save(path, Tiny, weights);
        return path;
    }

    private string[] Inputs(params string[] inputs) => ["run", "--weights", Weights(), .. inputs, "--top", "2"];

    private string Good(int count, string name = "inputs.npy") => Npy(name, count, Tiny.ImageSize, null);

    /// <summary>Random images; the first <paramref name="values"/> values of the last one (all by default) set to <paramref name="spoiled"/> when given.</summary>
    private string Npy(string name, int count, int size, float? spoiled, int values = int.MaxValue)
    {
        var random = new Random(9);
        float[] data = [.. Enumerable.Range(0, count * 3 * size * size).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        if (spoiled is { } value)
        {
            data.AsSpan((count - 1) * 3 * size * size, Math.Min(values, 3 * size * size)).Fill(value);
        }

        string path = _temp.PathOf(name);
        NpyFile.WriteFloat32(path, data, [count, 3, size, size]);
        return path;
    }

    private string Truncated(int count)
    {
        string path = Npy("cut.npy", count, Tiny.ImageSize, null);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        return path;
    }

    private string Bad(string name, string content)
    {
        string path = _temp.PathOf(name);
        File.WriteAllText(path, content, Encoding.Latin1);
        return path;
    }

    private string PhotoDirectory()
    {
        string directory = _temp.PathOf("photos");
        System.IO.Directory.CreateDirectory(directory);
        byte[] good = InputTests.Ppm(32, 32, new byte[32 * 32 * 3]);
        File.WriteAllBytes(Path.Combine(directory, "a.ppm"), good);
        File.WriteAllText(Path.Combine(directory, "b.png"), "corrupt");
        File.WriteAllBytes(Path.Combine(directory, "c.ppm"), good);
        return directory;
    }
}
