using System.Text;
using GpuViT.Host;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Tests.Models;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>`gpuvit run` end to end on cpu: .npy and image inputs, --top, --labels, --save-logits, and bad files.</summary>
public sealed class RunCommandTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-run-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(string name) => _temp.PathOf(name);

    private static readonly VitConfig Tiny = VitPresets.VitTestTiny;

    private string SaveTiny(int seed = 5)
    {
        string path = PathOf("tiny.safetensors");
        VitWeightFiles.Save(path, Tiny, VitWeights.RandomInit(Tiny, seed));
        return path;
    }

    /// <summary>The tiny model in Hugging Face's layout, with its config.json beside it.</summary>
    private string SaveHuggingFace()
    {
        string path = PathOf("model.safetensors");
        WeightLayoutTests.WriteTensors(path, WeightLayoutTests.HuggingFaceNames(Tiny, VitWeights.RandomInit(Tiny, 5)));
        File.WriteAllText(PathOf("config.json"), WeightLayoutTests.HuggingFaceConfigJson(Tiny));
        return path;
    }

    private string SaveInputs(int count, string name = "inputs.npy")
    {
        var random = new Random(9);
        float[] data = [.. Enumerable.Range(0, count * 3 * 32 * 32).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        string path = PathOf(name);
        NpyFile.WriteFloat32(path, data, [count, 3, 32, 32]);
        return path;
    }

    private float[] ExpectedLogits(string npy, int seed = 5)
    {
        NpyArray inputs = NpyFile.ReadFloat32(npy);
        using GpuViT.Kernels.Runtime.Device device = GpuViT.Kernels.Runtime.Devices.Open("cpu").Device;
        using var model = VitModel.Load(device, Tiny, VitWeights.RandomInit(Tiny, seed));
        return model.Forward(inputs.Data, inputs.Shape[0]);
    }

    [Fact]
    public void Interrupted_it_saves_the_logits_of_every_finished_image_and_exits_130()
    {
        string weights = SaveTiny(), inputs = SaveInputs(6), logits = PathOf("logits.npy");
        using var interrupt = new CancellationTokenSource();
        var output = new InterruptingWriter(interrupt, "inputs.npy[1]");
        var error = new StringWriter();

        int exit = Cli.Run(["run", "--weights", weights, "--input", inputs, "--batch", "1", "--save-logits", logits, "--device", "cpu"],
            output, error, interrupt.Token);

        Assert.Equal(Cli.Interrupted, exit);
        NpyArray saved = NpyFile.ReadFloat32(logits);
        int finished = saved.Shape[0];
        Assert.InRange(finished, 2, 5);
        Assert.Contains($"interrupted after {finished} of 6 images", error.ToString());
        float[] expected = ExpectedLogits(inputs);
        for (int i = 0; i < saved.Data.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - saved.Data[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"logit {i}: {saved.Data[i]} vs {expected[i]}");
        }

        Assert.Empty(Directory.GetFiles(_temp.Path, "*.tmp"));
    }

    [Fact]
    public void Interrupted_on_the_cpu_it_saves_every_finished_micro_batch_and_starts_no_new_one()
    {
        // Cancelled while micro-batch 0 is printed: on the cpu each micro-batch comes out as its
        // pass returns, so micro-batch 1 has not begun, and none begins after the interrupt.
        string weights = SaveTiny(), inputs = SaveInputs(6), logits = PathOf("logits.npy");
        using var interrupt = new CancellationTokenSource();
        var output = new InterruptingWriter(interrupt, "inputs.npy[1]");
        var error = new StringWriter();

        int exit = Cli.Run(["run", "--weights", weights, "--input", inputs, "--batch", "2", "--top", "1", "--save-logits", logits, "--device", "cpu"],
            output, error, interrupt.Token);

        Assert.Equal(Cli.Interrupted, exit);
        Assert.Equal([2, 10], NpyFile.ReadFloat32(logits).Shape);
        Assert.Equal(2, output.ToString().Split('\n').Count(line => line.StartsWith(inputs, StringComparison.Ordinal)));
        Assert.Contains("interrupted after 2 of 6 images", error.ToString());
    }

    [Fact]
    public void Two_devices_give_the_logits_and_records_of_one_in_input_order()
    {
        // Seven inputs in micro-batches of two: four micro-batches shared between the cpu and the emulator.
        string weights = SaveTiny(), inputs = SaveInputs(7), one = PathOf("one.npy"), two = PathOf("two.npy");
        (int exitOne, string recordsOne, _) = Run("run", "--weights", weights, "--input", inputs, "--batch", "2", "--top", "3", "--format", "json", "--save-logits", one, "--device", "cpu");
        (int exitTwo, string recordsTwo, string error) = Run("run", "--weights", weights, "--input", inputs, "--batch", "2", "--top", "3", "--format", "json", "--save-logits", two, "--device", "cpu,emulator");

        Assert.Equal(0, exitOne);
        Assert.True(exitTwo == 0, error);
        NpyArray logitsOne = NpyFile.ReadFloat32(one), logitsTwo = NpyFile.ReadFloat32(two);
        Assert.Equal([7, 10], logitsTwo.Shape);
        for (int i = 0; i < logitsOne.Data.Length; i++)
        {
            Assert.Equal(logitsOne.Data[i], logitsTwo.Data[i], 1e-4f);
        }

        // The same records in the same order: paths and classes (probabilities differ in the last digits, as the logits may).
        string[] Records(string lines) => [.. lines.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            using var record = System.Text.Json.JsonDocument.Parse(line);
            return $"{record.RootElement.GetProperty("path").GetString()} {record.RootElement.GetProperty("indices")}";
        })];
        Assert.Equal(7, Records(recordsOne).Length);
        Assert.Equal(Records(recordsOne), Records(recordsTwo));
    }

    [Theory]
    [InlineData("cpu,cpu", "--device cpu,cpu: cpu is named twice")]
    [InlineData("1,cpu", "--device 1,cpu: '1' names no backend")]
    [InlineData("cpu,,emulator", "--device cpu,,emulator: an empty item in the list")]
    [InlineData("cpu,nosuch", "unknown device 'nosuch'")]
    public void A_bad_device_list_is_one_line_and_exit_2(string devices, string message)
    {
        string weights = SaveTiny(), inputs = SaveInputs(1);
        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", inputs, "--device", devices);

        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("cuda")]
    [InlineData("opencl")]
    public void Every_device_of_a_backend_that_has_none_is_the_error_the_backend_alone_gives(string backend)
    {
        (int exitAll, _, string errorAll) = Run("run", "--model", "vit_test_tiny", "--random-init", "--input", SaveInputs(1), "--device", backend + ":all");
        (int exitOne, _, string errorOne) = Run("run", "--model", "vit_test_tiny", "--random-init", "--input", SaveInputs(1), "--device", backend);

        // Where the backend has devices both run (exit 0); where it has none, the same one line.
        Assert.Equal(exitOne, exitAll);
        Assert.Equal(exitOne == 0 ? "" : errorOne, exitOne == 0 ? "" : errorAll);
    }

    [Fact]
    public void Profile_with_several_devices_is_refused_in_one_line()
    {
        (int exit, _, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", "--input", SaveInputs(1), "--profile", "--device", "cpu,emulator");

        Assert.Equal(2, exit);
        Assert.Equal("gpuvit: --profile profiles one device; --device cpu,emulator names several", error.Trim());
    }

    [Fact]
    public void Only_run_takes_a_device_list()
    {
        (int exit, _, string error) = Run("kernels", "--device", "cpu,emulator");

        Assert.Equal(2, exit);
        Assert.Contains("--device cpu,emulator: only run takes more than one device", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Interrupted_before_any_image_finished_it_leaves_an_existing_logits_file_as_it_was()
    {
        string weights = SaveTiny(), inputs = SaveInputs(3), logits = PathOf("logits.npy");
        NpyFile.WriteFloat32(logits, new float[200 * 10], [200, 10]);
        byte[] before = File.ReadAllBytes(logits);
        using var interrupt = new CancellationTokenSource();
        interrupt.Cancel();
        var error = new StringWriter();

        int exit = Cli.Run(["run", "--weights", weights, "--input", inputs, "--save-logits", logits, "--device", "cpu"], new StringWriter(), error, interrupt.Token);

        Assert.Equal(Cli.Interrupted, exit);
        Assert.Equal(before, File.ReadAllBytes(logits));
        Assert.Contains($"no image finished; {logits} left as it was", error.ToString());
    }

    [Fact]
    public void A_corrupt_image_among_good_ones_is_skipped_in_its_place_and_exit_3()
    {
        string weights = SaveTiny(), inputs = SaveInputs(3), logits = PathOf("logits.npy");
        string bad = PathOf("bad.png"), good = PathOf("good.ppm");
        File.WriteAllBytes(bad, Encoding.ASCII.GetBytes("not an image at all"));
        File.WriteAllBytes(good, InputTests.Ppm(32, 32, new byte[32 * 32 * 3]));

        (int exit, string output, string error) = Run("run", "--weights", weights, inputs, bad, good, "--batch", "2",
            "--top", "1", "--save-logits", logits, "--device", "cpu");

        Assert.Equal(Cli.SkippedInputs, exit);
        NpyArray saved = NpyFile.ReadFloat32(logits);
        Assert.Equal([5, 10], saved.Shape);
        Assert.All(saved.Data[30..40], value => Assert.True(float.IsNaN(value)));
        Assert.All(saved.Data.Take(30).Concat(saved.Data[40..]), value => Assert.True(float.IsFinite(value)));
        Assert.Equal(ExpectedLogits(inputs), saved.Data[..30]);
        Assert.Contains($"{bad}\n  skipped: could not be read\n{good}\n", output);
        string[] lines = WithoutProgress(error).TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"gpuvit: skipped {bad}: not a PNG, JPEG, BMP, PPM or PGM image", lines[0]);
        Assert.Equal("gpuvit: skipped 1 of 5 inputs that could not be read (their logits are rows of NaN)", lines[1]);
    }

    [Fact]
    public void On_error_fail_stops_at_the_first_unreadable_input_after_saving_those_before_it()
    {
        string weights = SaveTiny(), inputs = SaveInputs(3), logits = PathOf("logits.npy"), bad = PathOf("bad.png");
        File.WriteAllBytes(bad, Encoding.ASCII.GetBytes("not an image at all"));

        (int exit, string output, string error) = Run("run", "--weights", weights, inputs, bad, inputs, "--batch", "2",
            "--save-logits", logits, "--on-error", "fail", "--device", "cpu");

        Assert.Equal(Cli.UsageError, exit);
        Assert.Equal(ExpectedLogits(inputs), NpyFile.ReadFloat32(logits).Data);
        Assert.Equal(3, output.Split('\n').Count(line => line.StartsWith(inputs, StringComparison.Ordinal)));
        error = WithoutProgress(error);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"gpuvit: {bad}: not a PNG", error);
        Assert.EndsWith("(--on-error fail: stopped after 3 of 7 inputs)\n", error);
    }

    [Fact]
    public void A_nan_pixel_is_named_exit_4_and_never_ranked_as_a_class()
    {
        string weights = SaveTiny(), inputs = SaveInputs(2);
        NpyArray array = NpyFile.ReadFloat32(inputs);
        array.Data[3 * 32 * 32 + 100] = float.NaN;
        NpyFile.WriteFloat32(inputs, array.Data, array.Shape);

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", inputs, "--top", "3", "--device", "cpu");

        Assert.Equal(Cli.NonFiniteResults, exit);
        Assert.EndsWith($"{inputs}[1]\n  no finite logits (all NaN or ±∞)\n", output);
        Assert.DoesNotContain("NaN  ", output);
        Assert.Equal([$"gpuvit: {inputs}[1]: 10 of 10 logits are not finite (NaN or ±∞)", "gpuvit: 1 of 2 inputs gave logits that are not finite"],
            WithoutProgress(error).TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void A_batch_larger_than_the_device_holds_is_one_line_and_exit_2()
    {
        string weights = SaveTiny(), inputs = SaveInputs(1);

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", inputs, "--batch", "2000000000", "--device", "cpu");

        AssertUsageError(exit, output, error, "--batch 2000000000: out of memory on cpu: requested ");
    }

    [Fact]
    public void Npy_input_in_batches_saves_the_logits_in_input_order()
    {
        string weights = SaveTiny(), inputs = SaveInputs(5), logits = PathOf("logits.npy");

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", inputs, "--batch", "2",
            "--top", "3", "--save-logits", logits, "--device", "cpu");

        Assert.True(exit == 0, error);
        NpyArray saved = NpyFile.ReadFloat32(logits);
        Assert.Equal([5, 10], saved.Shape);
        float[] expected = ExpectedLogits(inputs);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - saved.Data[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"logit {i}: {saved.Data[i]} vs {expected[i]}");
        }

        // Per input: its name, then three lines "  probability  index", the best first.
        string[] lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(5 * 4, lines.Length);
        Assert.Equal(inputs + "[4]", lines[16]);
        int best = Array.IndexOf(saved.Data[40..50], saved.Data[40..50].Max());
        Assert.EndsWith($"  {best}", lines[17]);
    }

    [Fact]
    public void Ppm_image_with_labels_and_random_init_preset()
    {
        string image = PathOf("red.ppm");
        File.WriteAllBytes(image, [.. Encoding.ASCII.GetBytes("P6\n40 36\n255\n"), .. Enumerable.Range(0, 40 * 36).SelectMany(i => new byte[] { 200, (byte)i, 30 })]);
        string labels = PathOf("labels.txt");
        File.WriteAllLines(labels, Enumerable.Range(0, 10).Select(i => $"label{i}"));
        string logits = PathOf("logits.npy");

        (int exit, string output, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", "--seed", "5",
            "--input", image, "--top", "2", "--labels", labels, "--save-logits", logits, "--device", "cpu");

        Assert.True(exit == 0, error);
        string[] lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Equal(image, lines[0]);
        Assert.Matches(@"^  0\.\d{4}  \d label\d$", lines[1]);
        Assert.Equal([1, 10], NpyFile.ReadFloat32(logits).Shape);
    }

    [Fact]
    public void Hugging_face_file_uses_id2label_from_config_json()
    {
        string hf = SaveHuggingFace();
        string inputs = SaveInputs(1), logits = PathOf("logits.npy");

        (int exit, string output, string error) = Run("run", "--weights", hf, "--input", inputs, "--top", "1", "--save-logits", logits, "--device", "cpu");

        Assert.True(exit == 0, error);
        Assert.Matches(@"^  [01]\.\d{4}  \d class \d$", output.Split('\n')[1]);
        Assert.Equal(ExpectedLogits(inputs), NpyFile.ReadFloat32(logits).Data);
    }

    [Fact]
    public void Torchvision_file_without_heads_asks_for_them_and_runs_with_them()
    {
        string tv = PathOf("vit_tv.safetensors");
        WeightLayoutTests.WriteTensors(tv, WeightLayoutTests.TorchVisionNames(Tiny, VitWeights.RandomInit(Tiny, 5)));
        string inputs = SaveInputs(1);

        (int exit, string output, string error) = Run("run", "--weights", tv, "--input", inputs, "--device", "cpu");
        Assert.Equal(Cli.UsageError, exit);
        Assert.Empty(output);
        Assert.Equal("gpuvit: vit_tv.safetensors: the number of heads is not in the file's metadata or a config.json beside it; pass --heads N (N divides the width 32)\n", error);

        (exit, output, error) = Run("run", "--weights", tv, "--heads", "2", "--input", inputs, "--top", "20", "--device", "cpu");
        Assert.True(exit == 0, error);
        Assert.Equal(1 + 10, output.TrimEnd('\n').Split('\n').Length); // --top is clipped to the classes
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("wrong-shape-npy")]
    [InlineData("missing-input")]
    [InlineData("model-without-random-init")]
    public void Bad_input_is_one_line_and_exit_code_2(string problem)
    {
        string weights = SaveTiny(), inputs = SaveInputs(1);
        string[] args = ["run", "--weights", weights, "--input", inputs, "--device", "cpu"];
        string expected;
        switch (problem)
        {
            case "garbage":
                File.WriteAllBytes(weights, Encoding.ASCII.GetBytes("this is not a safetensors file"));
                expected = "tiny.safetensors: ";
                break;
            case "truncated":
                byte[] bytes = File.ReadAllBytes(weights);
                File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
                expected = "tiny.safetensors: ";
                break;
            case "wrong-shape-npy":
                // An input that does not fit is skipped by default; --on-error fail makes it the error it was.
                NpyFile.WriteFloat32(inputs, new float[3 * 16 * 16], [1, 3, 16, 16]);
                args = [.. args, "--on-error", "fail"];
                expected = "inputs.npy: array of shape (1, 3, 16, 16) does not fit";
                break;
            case "missing-input":
                args[4] = PathOf("nope.png");
                expected = "nope.png: no such file";
                break;
            default:
                args = ["run", "--model", "vit_test_tiny", "--input", inputs];
                expected = "--model needs --random-init";
                break;
        }

        (int exit, string output, string error) = Run(args);

        AssertUsageError(exit, output, error, expected);
    }

    [Fact]
    public void Verbose_says_where_each_setting_came_from()
    {
        string hf = SaveHuggingFace();
        string inputs = SaveInputs(1);

        (int exit, _, string error) = Run("run", "--weights", hf, "--heads", "2", "--input", inputs, "--verbose", "--device", "cpu");

        Assert.True(exit == 0, error);
        string[] lines = WithoutProgress(error).TrimEnd('\n').Split('\n');
        Assert.Equal([
            "gpuvit: from the command line: heads 2",
            "gpuvit: from model.safetensors tensor shapes: image_size 32, patch_size 8, channels 3, width 32, depth 2, mlp_width 64, classes 10, pooling class_token, class_token true",
            "gpuvit: from config.json beside model.safetensors: layer_norm_eps 1E-06, class names (10)",
            "gpuvit: from defaults: share_layers false",
            "gpuvit: preprocessing from defaults: image_size 32, crop_pct 0.875, crop_mode center, interpolation bilinear, mean 0.485,0.456,0.406, std 0.229,0.224,0.225",
        ], lines);
    }

    [Fact]
    public void A_number_option_that_does_not_parse_names_the_option_not_a_type()
    {
        (int exit, string output, string error) = Run("run", "--model", "vit_test_tiny", "--random-init", "--input", "x.png", "--batch", "many");

        AssertUsageError(exit, output, error, "--batch: 'many' is not an integer");
        Assert.DoesNotContain("System.", error);
    }
}
