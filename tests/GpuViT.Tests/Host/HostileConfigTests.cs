using System.Text.Json;
using GpuViT.Host;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Tests.Models;

namespace GpuViT.Tests.Host;

/// <summary>
/// Hostile configs and flags (issue 13, items 8 and 9). Each case is one line on stderr naming the
/// file or the option, exit 2, no stack trace and an earlier --save-logits file left as it was;
/// or, for a config.json beside the weights that cannot be used, one warning line, exit 0, and
/// the logits of the file's own config.
/// </summary>
public sealed class HostileConfigTests : IDisposable
{
    private static readonly VitConfig Tiny = VitPresets.VitTestTiny;

    /// <summary>What --save-logits holds before each run: a failed run must leave it so.</summary>
    private static readonly byte[] EarlierLogits = "an earlier run's logits"u8.ToArray();

    private readonly TempDirectory _temp = new("gpuvit-hostile-config-");

    public void Dispose() => _temp.Dispose();

    /// <summary>A case writes its files into the folder and gives the arguments; the run must end with <paramref name="Exit"/> and one stderr line containing <paramref name="Expected"/>.</summary>
    public sealed record HostileCase(Func<Folder, string[]> Arrange, int Exit, string Expected);

    /// <summary>The case's folder: tiny.safetensors with full metadata, bare/vit.safetensors without any, red.ppm, and out.npy holding <see cref="EarlierLogits"/>.</summary>
    public sealed class Folder(string path)
    {
        public string Path { get; } = path;

        public string PathOf(string name) => System.IO.Path.Combine(Path, name);

        public string Weights => PathOf("tiny.safetensors");

        public string Bare => PathOf(System.IO.Path.Combine("bare", "vit.safetensors"));

        public string Logits => PathOf("out.npy");

        /// <summary>`run` on the tiny model and the image, saving logits, on cpu, then <paramref name="extra"/>.</summary>
        public string[] Run(string weights, params string[] extra) =>
            ["run", "--weights", weights, "--input", PathOf("red.ppm"), "--save-logits", Logits, "--device", "cpu", .. extra];

        public string Write(string name, string text)
        {
            string path = PathOf(name);
            File.WriteAllText(path, text);
            return path;
        }

        public string Json(string name, object value) => Write(name, JsonSerializer.Serialize(value));

        /// <summary>tiny.safetensors again, with one metadata value changed.</summary>
        public void SaveWithMetadata(string key, string value)
        {
            Dictionary<string, string> metadata = VitWeightFiles.Metadata(Tiny);
            metadata[key] = value;
            WeightLayoutTests.WriteTensors(Weights, VitWeights.RandomInit(Tiny, 5).Tensors, metadata);
        }
    }

    private static readonly Dictionary<string, HostileCase> Table = new()
    {
        // Item 8: a config.json beside the weights is used only where it agrees with the file.
        ["config.json beside disagrees with the metadata"] = new(f =>
        {
            f.Json("config.json", new { hidden_size = 768, image_mean = new[] { 0.9, 0.9, 0.9 } });
            return f.Run(f.Weights);
        }, 0, "warning: config.json beside tiny.safetensors is ignored: hidden_size 768 disagrees with tiny.safetensors (width 32)"),
        ["config.json beside has labels for other classes"] = new(f =>
        {
            f.Json("config.json", new { id2label = Enumerable.Range(0, 1000).ToDictionary(i => i.ToString(), i => $"c{i}") });
            return f.Run(f.Weights);
        }, 0, "config.json beside tiny.safetensors is ignored: the number of classes 1000 disagrees with tiny.safetensors (classes 10)"),
        ["config.json beside is not JSON"] = new(f =>
        {
            f.Write("config.json", "{ \"hidden_size\": ");
            return f.Run(f.Weights);
        }, 0, "warning: config.json beside tiny.safetensors is ignored: not JSON"),
        ["--config disagrees with the metadata"] = new(f => f.Run(f.Weights, "--config", f.Json("other.json", new { num_attention_heads = 4 })),
            Cli.UsageError, "other.json: num_attention_heads 4 disagrees with tiny.safetensors (heads 2)"),
        ["--config is not JSON"] = new(f => f.Run(f.Weights, "--config", f.Write("bad.json", "hidden_size: 32")), Cli.UsageError, "bad.json: not JSON"),
        ["--config is an array"] = new(f => f.Run(f.Weights, "--config", f.Write("list.json", "[1, 2]")), Cli.UsageError, "list.json: not a JSON object"),
        ["--config is a directory"] = new(f =>
        {
            Directory.CreateDirectory(f.PathOf("conf.d"));
            return f.Run(f.Weights, "--config", f.PathOf("conf.d"));
        }, Cli.UsageError, "conf.d: is a directory, not a file"),
        ["--config does not exist"] = new(f => f.Run(f.Weights, "--config", f.PathOf("nope.json")), Cli.UsageError, "nope.json: no such file"),

        // Item 9: values of the wrong kind are named, not skipped or thrown as exceptions.
        ["--config num_attention_heads as a string"] = new(f => f.Run(f.Bare, "--config", f.Json("heads.json", new { num_attention_heads = "2" })),
            Cli.UsageError, "heads.json: num_attention_heads is \"2\", not a positive integer"),
        ["config.json beside num_attention_heads as a string"] = new(f =>
        {
            f.Json(System.IO.Path.Combine("bare", "config.json"), new { num_attention_heads = "2" });
            return f.Run(f.Bare);
        }, Cli.UsageError, "vit.safetensors: the number of heads is not in the file's metadata or a config.json beside it; pass --heads N (N divides the width 32) "
            + "(config.json beside vit.safetensors is ignored: num_attention_heads is \"2\", not a positive integer)"),
        ["--config mean with one value"] = new(f => f.Run(f.Weights, "--config", f.Json("mean.json", new { image_mean = new[] { 0.5 } })),
            Cli.UsageError, "mean.json: image_mean has 1 value, the model has 3 channels"),
        ["--config std of 0"] = new(f => f.Run(f.Weights, "--config", f.Json("std.json", new { pretrained_cfg = new { std = new[] { 0.5, 0, 0.5 } } })),
            Cli.UsageError, "std.json: pretrained_cfg.std 0.5,0,0.5 must be above zero (it divides)"),
        ["--config eps of -1"] = new(f => f.Run(f.Bare, "--heads", "2", "--config", f.Json("eps.json", new { layer_norm_eps = -1 })),
            Cli.UsageError, "eps.json: layer_norm_eps is -1, not a positive number"),
        ["metadata mean with one value"] = new(f =>
        {
            f.SaveWithMetadata(VitWeightFiles.MetadataKeys.Mean, "0.5");
            return f.Run(f.Weights);
        }, Cli.UsageError, "tiny.safetensors: metadata gpuvit.mean has 1 value, the model has 3 channels"),
        ["metadata std of 0"] = new(f =>
        {
            f.SaveWithMetadata(VitWeightFiles.MetadataKeys.Std, "0.5,0,0.5");
            return f.Run(f.Weights);
        }, Cli.UsageError, "tiny.safetensors: metadata gpuvit.std 0.5,0,0.5 must be above zero (it divides)"),

        // Flags.
        ["--batch 0"] = new(f => f.Run(f.Weights, "--batch", "0"), Cli.UsageError, "--batch must be at least 1, not 0"),
        ["--batch negative"] = new(f => f.Run(f.Weights, "--batch", "-5"), Cli.UsageError, "--batch must be at least 1, not -5"),
        ["--batch huge"] = new(f => f.Run(f.Weights, "--batch", "99999999999"), Cli.UsageError, "--batch: 99999999999 is out of range (an integer from -2147483648 to 2147483647)"),
        ["--batch not a number"] = new(f => f.Run(f.Weights, "--batch", "eight"), Cli.UsageError, "--batch: 'eight' is not an integer"),
        ["--max-image-pixels not a number"] = new(f => f.Run(f.Weights, "--max-image-pixels", "lots"), Cli.UsageError, "--max-image-pixels: 'lots' is not an integer"),
        ["--top 0"] = new(f => f.Run(f.Weights, "--top", "0"), Cli.UsageError, "--top must be at least 1, not 0"),
        ["--heads 0"] = new(f => f.Run(f.Bare, "--heads", "0"), Cli.UsageError, "--heads must be at least 1, not 0"),
        ["--heads not a number"] = new(f => f.Run(f.Bare, "--heads", "two"), Cli.UsageError, "--heads: 'two' is not an integer"),
        ["--seed a fraction"] = new(f => ["run", "--model", "vit_test_tiny", "--random-init", "--seed", "1.5", "--input", f.PathOf("red.ppm")],
            Cli.UsageError, "--seed: '1.5' is not an integer"),
        ["--image-size not a number"] = new(_ => ["bench", "--model", "vit_test_tiny", "--image-size", "big", "--device", "cpu"],
            Cli.UsageError, "--image-size: 'big' is not an integer"),
        ["--image-size 0"] = new(_ => ["bench", "--model", "vit_test_tiny", "--image-size", "0", "--device", "cpu"],
            Cli.UsageError, "--image-size must be at least 1, not 0"),
        ["--patch-size negative"] = new(_ => ["bench", "--model", "vit_test_tiny", "--patch-size", "-4", "--device", "cpu"],
            Cli.UsageError, "--patch-size must be at least 1, not -4"),
        ["bench --batch beyond memory"] = new(_ => ["bench", "--model", "vit_test_tiny", "--batch", "99999999", "--device", "cpu"],
            Cli.UsageError, "--batch 99999999: the images alone are 1.1 TiB, more than one array holds"),
        ["unknown --model"] = new(f => ["run", "--model", "vit_huge_nope", "--random-init", "--input", f.PathOf("red.ppm")],
            Cli.UsageError, "unknown model 'vit_huge_nope'"),
        ["--config with --model"] = new(f => ["run", "--model", "vit_test_tiny", "--random-init", "--config", f.Json("c.json", new { }), "--input", f.PathOf("red.ppm")],
            Cli.UsageError, "--config applies to --weights; --model vit_test_tiny is a complete config"),
        ["--labels with too few lines"] = new(f => f.Run(f.Weights, "--labels", f.Write("labels.txt", "cat\ndog\nfish\n")),
            Cli.UsageError, "labels.txt: 3 labels, the model has 10 classes"),
        ["--labels is a directory"] = new(f =>
        {
            Directory.CreateDirectory(f.PathOf("labels.d"));
            return f.Run(f.Weights, "--labels", f.PathOf("labels.d"));
        }, Cli.UsageError, "labels.d: is a directory, not a file"),
        ["--labels larger than a labels file can be"] = new(f =>
        {
            // Sparse: 17 MiB long without 17 MiB written.
            using (FileStream huge = File.Create(f.PathOf("huge.txt")))
            {
                huge.SetLength(17 << 20);
            }

            return f.Run(f.Weights, "--labels", f.PathOf("huge.txt"));
        }, Cli.UsageError, "huge.txt: is larger than 16 MiB"),
    };

    public static TheoryData<string> Cases => [.. Table.Keys];

    private Folder Arrange()
    {
        var folder = new Folder(_temp.Path);
        VitWeightFiles.Save(folder.Weights, Tiny, VitWeights.RandomInit(Tiny, 5));
        Directory.CreateDirectory(folder.PathOf("bare"));
        WeightLayoutTests.WriteTensors(folder.Bare, VitWeights.RandomInit(Tiny, 5).Tensors);
        File.WriteAllBytes(folder.PathOf("red.ppm"), InputTests.Ppm(40, 36, [.. Enumerable.Range(0, 40 * 36).SelectMany(i => new byte[] { 200, (byte)i, 30 })]));
        File.WriteAllBytes(folder.Logits, EarlierLogits);
        return folder;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_is_one_line_naming_the_file_or_option(string name)
    {
        HostileCase hostile = Table[name];
        Folder folder = Arrange();
        string[] args = hostile.Arrange(folder);

        (int exit, string output, string error) = CliProcess.Bounded(args);

        Assert.True(exit == hostile.Exit, $"exit {exit}: {error}");
        string line = Assert.Single(CliHarness.WithoutProgress(error).TrimEnd('\n').Split('\n'));
        Assert.StartsWith("gpuvit: ", line);
        Assert.Contains(hostile.Expected, line);
        Assert.DoesNotContain("Exception", line);
        Assert.DoesNotContain("System.", line);
        if (exit == Cli.UsageError)
        {
            Assert.Empty(output);
            Assert.Equal(EarlierLogits, File.ReadAllBytes(folder.Logits));
            return;
        }

        // An ignored config.json changes nothing: the logits are those of the file alone.
        float[] logits = NpyFile.ReadFloat32(folder.Logits).Data;
        File.Delete(folder.PathOf("config.json"));
        (exit, _, error) = CliHarness.Run(args);
        Assert.True(exit == 0, error);
        Assert.Empty(CliHarness.WithoutProgress(error));
        Assert.Equal(NpyFile.ReadFloat32(folder.Logits).Data, logits);
    }

    /// <summary>Inputs that could exhaust memory or hang, run as a child process with its peak memory measured.</summary>
    [Theory]
    [InlineData("--config", "/dev/zero", "zero: is a character device, not a regular file")]
    [InlineData("--labels", "/dev/zero", "/dev/zero: is a character device, not a regular file")]
    public void An_endless_file_is_refused_within_bounded_memory(string option, string path, string expected)
    {
        Folder folder = Arrange();

        CliProcessResult result = CliProcess.Run(folder.Run(folder.Weights, option, path), timeout: TimeSpan.FromSeconds(60));

        Assert.False(result.TimedOut);
        Assert.Equal(Cli.UsageError, result.Exit);
        Assert.Equal($"gpuvit: {expected}", Assert.Single(result.ErrorLines));
        Assert.InRange(result.PeakResidentBytes, 1, 512L << 20);
        Assert.Equal(EarlierLogits, File.ReadAllBytes(folder.Logits));
    }

    [Fact]
    public void PoCL_with_an_unwritable_cache_directory_says_so_not_that_a_package_is_missing()
    {
        Folder folder = Arrange();
        string notADirectory = folder.Write("cache-file", "");

        CliProcessResult result = CliProcess.Run(
            ["--device", "opencl", "run", "--weights", folder.Weights, "--input", folder.PathOf("red.ppm"), "--save-logits", folder.Logits],
            timeout: TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string> { ["POCL_CACHE_DIR"] = Path.Combine(notADirectory, "kcache") });

        Assert.Equal(Cli.UsageError, result.Exit);
        string line = Assert.Single(result.ErrorLines);
        Assert.Contains($"PoCL's kernel cache directory {Path.Combine(notADirectory, "kcache")} is not writable; set POCL_CACHE_DIR to a writable directory", line);
        Assert.DoesNotContain("apt-get install", line);
        Assert.Equal(EarlierLogits, File.ReadAllBytes(folder.Logits));
    }
}
