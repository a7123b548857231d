using GpuViT.Host;
using GpuViT.Models.Images;
using GpuViT.Tests.Models;

namespace GpuViT.Tests.Host;

/// <summary>
/// Hostile input files (issue 13, item 6): images, .npy arrays and safetensors made to cost a
/// reader far more than they cost to store, or to block it. One refused before any work must end in
/// exit 2 with one line naming the file and the output file left as it was; one refused only when its
/// image is decoded is skipped (run's default --on-error skip): exit 3, one line naming the file, the
/// count of skipped inputs, and its row of the logits NaN. Never a stack trace. Each runs as a child process, killed past
/// <see cref="CliProcess.HostileTimeout"/>, its peak resident memory under <see cref="CliProcess.HostileMemoryBound"/>.
/// </summary>
public sealed class HostileInputFileTests : IDisposable
{
    private static readonly string[] RandomModel = ["--model", "vit_test_tiny", "--random-init"];

    private readonly TempDirectory _temp = new("gpuvit-hostile-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(string name) => _temp.PathOf(name);

    private string Write(string name, byte[] bytes) => _temp.Write(name, bytes);

    /// <summary>
    /// One hostile input: the arguments of `run` (without --save-logits and --device), the file the
    /// error must begin with as it names it (a path for inputs, a file name for weights), and the problem it says.
    /// </summary>
    private sealed record Attack(string[] Args, string File, string Problem);

    /// <summary>How `run` skips a file refused only when its image is decoded: the rows of the logits it saves, and those of the skipped images (NaN).</summary>
    private sealed record Skip(int Rows, int[] SkippedRows);

    /// <summary>One image, skipped: its row is the only one.</summary>
    private static readonly Skip OneImageSkipped = new(Rows: 1, SkippedRows: [0]);

    /// <summary>A case: how `run` skips the file where it is refused only when decoded (null where it is refused before any work), and how it is made.</summary>
    private sealed record Case(Skip? RefusedAtDecode, Func<HostileInputFileTests, Attack> Make);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // ---- Images ----
        ["png-16000x16000-of-zeros"] = new(RefusedAtDecode: OneImageSkipped, t =>
        {
            string png = t.Write("zeros.png", HostileFiles.Huge16000Png);
            return new([.. RandomModel, "--input", png], png, "image is 16000x16000 (256000000 pixels), more than the limit of 67108864");
        }),
        ["four-16000x16000-pngs-in-a-directory"] = new(RefusedAtDecode: new(Rows: 4, SkippedRows: [0, 1, 2, 3]), t =>
        {
            string directory = Directory.CreateDirectory(t.PathOf("photos")).FullName;
            foreach (string name in new[] { "a.png", "b.png", "c.png", "d.png" })
                File.WriteAllBytes(Path.Combine(directory, name), HostileFiles.Huge16000Png);
            return new([.. RandomModel, "--input", directory], Path.Combine(directory, "a.png"), "image is 16000x16000");
        }),
        ["png-over-stb-limits-is-not-an-unknown-type"] = new(RefusedAtDecode: OneImageSkipped, t =>
        {
            string png = t.Write("wide.png", HostileFiles.LyingPng(100000, 100000));
            return new([.. RandomModel, "--input", png], png, "image is 100000x100000 (10000000000 pixels), more than the limit");
        }),
        ["png-with-a-lying-header"] = new(RefusedAtDecode: OneImageSkipped, t =>
        {
            string png = t.Write("lying.png", HostileFiles.LyingPng(4000, 3000));
            return new([.. RandomModel, "--input", png], png, "cannot decode the 4000x3000 image (stb_image: ");
        }),
        ["truncated-png"] = new(RefusedAtDecode: OneImageSkipped, t =>
        {
            byte[] png = InputTests.Png(40, 30, colorType: 2, new byte[40 * 30 * 3]);
            string path = t.Write("cut.png", png[..(png.Length / 2)]);
            return new([.. RandomModel, "--input", path], path, "cannot decode the 40x30 image (stb_image: ");
        }),
        ["truncated-jpeg"] = new(RefusedAtDecode: OneImageSkipped, t =>
        {
            string jpeg = t.Write("cut.jpg", HostileFiles.JpegHeader(640, 480));
            return new([.. RandomModel, "--input", jpeg], jpeg, "cannot decode the 640x480 image (stb_image: ");
        }),
        ["dev-zero-as-input"] = new(RefusedAtDecode: null, _ =>
            new([.. RandomModel, "--input", "/dev/zero"], "/dev/zero", "is a character device, not a regular file")),
        ["fifo-as-input"] = new(RefusedAtDecode: null, t =>
        {
            string fifo = HostileFiles.Fifo(t.PathOf("pipe.png"));
            return new([.. RandomModel, "--input", fifo], fifo, "is a named pipe (FIFO), not a regular file");
        }),
        ["fifo-among-images-in-a-directory"] = new(RefusedAtDecode: new(Rows: 2, SkippedRows: [1]), t =>
        {
            string directory = Directory.CreateDirectory(t.PathOf("mixed")).FullName;
            File.WriteAllBytes(Path.Combine(directory, "a.png"), InputTests.Png(32, 32, colorType: 2, new byte[32 * 32 * 3]));
            string fifo = HostileFiles.Fifo(Path.Combine(directory, "b.png"));
            return new([.. RandomModel, "--input", directory], fifo, "is a named pipe (FIFO), not a regular file");
        }),
        ["fifo-as-labels"] = new(RefusedAtDecode: null, t =>
        {
            string image = t.Write("a.png", InputTests.Png(32, 32, colorType: 2, new byte[32 * 32 * 3]));
            string fifo = HostileFiles.Fifo(t.PathOf("labels.txt"));
            return new([.. RandomModel, "--input", image, "--labels", fifo], fifo, "is a named pipe (FIFO), not a regular file");
        }),

        // ---- .npy ----
        ["npy-claiming-more-data-than-it-holds"] = new(RefusedAtDecode: OneImageSkipped, t =>
        {
            string npy = t.Write("short.npy", InputTests.Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 32, 32), }", new float[100]));
            return new([.. RandomModel, "--input", npy], npy, "truncated .npy data: 400 bytes, shape (2, 3, 32, 32) needs 24576");
        }),
        ["npy-with-a-huge-shape"] = new(RefusedAtDecode: OneImageSkipped, t =>
        {
            string npy = t.Write("huge.npy", InputTests.Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 3, 224, 224), }", []));
            return new([.. RandomModel, "--input", npy], npy, "array of shape (1000000000, 3, 224, 224) is too large");
        }),
        ["sparse-2-gb-npy-of-the-wrong-size"] = new(RefusedAtDecode: new(Rows: 4000, SkippedRows: [.. Enumerable.Range(0, 4000)]), t =>
        {
            // 4000 images of 224 × 224 where the model takes 32 × 32: refused before its 2.4 GB are read.
            string npy = t.Write("sparse.npy", InputTests.Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4000, 3, 224, 224), }", []));
            using (var stream = new FileStream(npy, FileMode.Open, FileAccess.Write))
                stream.SetLength(stream.Length + 4000L * 3 * 224 * 224 * sizeof(float));
            return new([.. RandomModel, "--input", npy], npy, "array of shape (4000, 3, 224, 224) does not fit the model's input [N, 3, 32, 32]");
        }),

        // ---- Safetensors ----
        ["unexpected-1-gib-tensor-in-a-sparse-tail"] = new(RefusedAtDecode: null, t =>
        {
            string weights = HostileFiles.TinyVit(t.PathOf("extra.safetensors"));
            HostileFiles.AddSparseTensor(weights, "extra.weight", [1L << 28]);
            return new(["--weights", weights, "--input", t.TinyImage()], "extra.safetensors", "extra.weight: unexpected tensor");
        }),
        ["zero-element-tensor-with-a-huge-dimension"] = new(RefusedAtDecode: null, t =>
        {
            string weights = HostileFiles.TinyVit(t.PathOf("empty.safetensors"));
            HostileFiles.AddSparseTensor(weights, "empty", [0, 1L << 40]);
            return new(["--weights", weights, "--input", t.TinyImage()], "empty.safetensors", "tensor empty has shape [0, 1099511627776], a dimension above 2147483647");
        }),
        ["overlapping-tensors"] = new(RefusedAtDecode: null, t =>
        {
            string weights = HostileFiles.TinyVit(t.PathOf("overlap.safetensors"));
            HostileFiles.EditHeader(weights, (header, _) =>
            {
                header["head.bias"]!["data_offsets"] = new System.Text.Json.Nodes.JsonArray(0, 40);
                return 0;
            });
            return new(["--weights", weights, "--input", t.TinyImage()], "overlap.safetensors", "overlaps tensor");
        }),
        ["tensor-past-the-end-of-the-file"] = new(RefusedAtDecode: null, t =>
        {
            string weights = HostileFiles.TinyVit(t.PathOf("past.safetensors"));
            HostileFiles.EditHeader(weights, (header, length) =>
            {
                header["head.bias"]!["data_offsets"] = new System.Text.Json.Nodes.JsonArray(length, length + 40);
                return 0;
            });
            return new(["--weights", weights, "--input", t.TinyImage()], "past.safetensors", "past the data section's");
        }),
        ["truncated-safetensors"] = new(RefusedAtDecode: null, t =>
        {
            string weights = HostileFiles.TinyVit(t.PathOf("cut.safetensors"));
            File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..100]);
            return new(["--weights", weights, "--input", t.TinyImage()], "cut.safetensors", "runs past the end of the 100-byte file");
        }),
        ["directory-as-weights"] = new(RefusedAtDecode: null, t =>
        {
            string directory = Directory.CreateDirectory(t.PathOf("model.safetensors")).FullName;
            return new(["--weights", directory, "--input", t.TinyImage()], "model.safetensors", "is a directory, not a file");
        }),
        ["fifo-as-weights"] = new(RefusedAtDecode: null, t =>
        {
            string fifo = HostileFiles.Fifo(t.PathOf("pipe.safetensors"));
            return new(["--weights", fifo, "--input", t.TinyImage()], "pipe.safetensors", "is a named pipe (FIFO), not a regular file");
        }),
        ["fifo-as-the-config"] = new(RefusedAtDecode: null, t =>
        {
            // Given with --config it is an error; beside the weights it would be ignored with a warning (HostileConfigTests).
            string weights = HostileFiles.TinyVit(t.PathOf("model.safetensors"));
            string config = HostileFiles.Fifo(t.PathOf("config.json"));
            return new(["--weights", weights, "--config", config, "--input", t.TinyImage()], "config.json", "is a named pipe (FIFO), not a regular file");
        }),
    };

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    private string TinyImage() => Write("tiny.png", InputTests.Png(32, 32, colorType: 2, new byte[32 * 32 * 3]));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void A_hostile_input_file_is_refused_in_one_line_naming_it_without_exhausting_memory_or_hanging(string name)
    {
        Case hostile = Cases[name];
        Attack attack = hostile.Make(this);
        string logits = PathOf("out.npy");
        NpyFile.WriteFloat32(logits, [1, 2, 3], [1, 3]);
        byte[] before = File.ReadAllBytes(logits);
        string[] args = ["run", .. attack.Args, "--save-logits", logits, "--device", "cpu"];

        (int exit, _, string error) = CliProcess.Bounded(args);

        error = CliHarness.WithoutProgress(error);
        string[] lines = error.TrimEnd('\n').Split('\n');
        string naming = Assert.Single(lines, line => line.Contains($"{attack.File}: ", StringComparison.Ordinal));
        Assert.Contains(attack.Problem, naming);
        Assert.DoesNotContain("   at ", error);
        Assert.DoesNotContain("Exception", error);
        if (hostile.RefusedAtDecode is not { } skip)
        {
            Assert.Equal(Cli.UsageError, exit);
            Assert.StartsWith("gpuvit: ", Assert.Single(lines));
            Assert.Equal(before, File.ReadAllBytes(logits));
            return;
        }

        // Skipped: one line per unreadable file, then the count; the logits keep every image's row, the skipped ones NaN.
        Assert.Equal(Cli.SkippedInputs, exit);
        Assert.StartsWith("gpuvit: skipped ", naming);
        Assert.All(lines, line => Assert.StartsWith("gpuvit: skipped ", line));
        Assert.Equal($"gpuvit: skipped {skip.SkippedRows.Length} of {skip.Rows} inputs that could not be read (their logits are rows of NaN)", lines[^1]);
        NpyArray saved = NpyFile.ReadFloat32(logits);
        Assert.Equal(skip.Rows, saved.Shape[0]);
        int classes = saved.Shape[1];
        for (int row = 0; row < skip.Rows; row++)
        {
            float[] values = saved.Data[(row * classes)..((row + 1) * classes)];
            Assert.True(skip.SkippedRows.Contains(row) ? values.All(float.IsNaN) : values.All(float.IsFinite), $"row {row}: {string.Join(", ", values)}");
        }
    }

    [Fact]
    public void Run_takes_the_pixel_limit_from_its_flag()
    {
        string image = Write("a.png", InputTests.Png(90, 90, colorType: 2, new byte[90 * 90 * 3]));
        string[] run = ["run", .. RandomModel, "--input", image, "--device", "cpu"];

        (int exit, string output, string error) = CliHarness.Run([.. run, "--max-image-pixels", "8099"]);
        Assert.Equal(Cli.SkippedInputs, exit); // refused when decoded: `run` skips it
        Assert.Equal(
            [$"gpuvit: skipped {image}: image is 90x90 (8100 pixels), more than the limit of 8099 (--max-image-pixels raises it)",
             "gpuvit: skipped 1 of 1 inputs that could not be read (their logits are rows of NaN)"],
            CliHarness.WithoutProgress(error).TrimEnd('\n').Split('\n'));
        (exit, _, error) = CliHarness.Run([.. run, "--max-image-pixels", "8100"]);
        Assert.True(exit == 0, error);
        (exit, output, error) = CliHarness.Run([.. run, "--max-image-pixels", "0"]);
        CliHarness.AssertUsageError(exit, output, error, "--max-image-pixels must be at least 1, not 0");
    }
}
