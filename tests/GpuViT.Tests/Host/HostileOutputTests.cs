using System.Runtime.Versioning;
using System.Security.Cryptography;
using GpuViT.Host;
using GpuViT.Models;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Tests.Models;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>
/// Hostile output paths (issue 13, items 2 and 7): each is refused before any work with exit 2 and
/// one line that names the path as given, no stack trace, no temporary file named, and every file
/// there as it was (no input replaced, nothing left behind).
/// </summary>
[SupportedOSPlatform("linux")] // /proc, Unix file modes
public sealed class HostileOutputTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-hostile-outputs-");
    private readonly string _weights, _inputs;

    public HostileOutputTests()
    {
        _weights = _temp.PathOf("tiny.safetensors");
        VitWeightFiles.Save(_weights, VitPresets.VitTestTiny, VitWeights.RandomInit(VitPresets.VitTestTiny, 5));
        _inputs = _temp.PathOf("inputs.npy");
        NpyFile.WriteFloat32(_inputs, new float[3 * 32 * 32], [1, 3, 32, 32]);
    }

    public void Dispose()
    {
        // A directory made read-only by a case must be writable again to be removed.
        foreach (string directory in Directory.GetDirectories(_temp.Path))
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        _temp.Dispose();
    }

    public static TheoryData<string> Cases =>
    [
        "logits-in-a-missing-directory", "logits-as-a-directory", "logits-under-a-file", "logits-under-proc", "logits-in-a-read-only-directory",
        "logits-with-an-empty-name", "logits-over-the-weights", "logits-over-the-weights-through-a-link", "logits-over-the-input-as-dot-slash",
        "logits-over-the-input-through-a-linked-directory", "logits-over-the-labels", "logits-over-the-config", "logits-over-the-config-beside-the-weights",
        "logits-over-an-image-of-an-input-directory", "report-in-a-missing-directory", "report-as-a-directory", "report-over-the-weights",
        "report-over-the-images", "logits-over-a-fifo",
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Refused_before_any_work_in_one_line_naming_the_path_and_every_file_kept(string name)
    {
        (string[] args, string expected) = Case(name);
        Dictionary<string, string> before = Snapshot();

        (int exit, string output, string error) = CliProcess.Bounded(args);

        AssertUsageError(exit, output, error, "gpuvit: " + expected);
        Assert.DoesNotContain("   at ", error);
        Assert.DoesNotContain(".tmp", error);
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void Logits_over_the_input_by_another_relative_name_are_refused_by_the_real_process()
    {
        Dictionary<string, string> before = Snapshot();

        (int exit, string output, string error) = CliProcess.Bounded(
            ["run", "--weights", "tiny.safetensors", "--input", "inputs.npy", "--save-logits", "./inputs.npy", "--device", "cpu"], workingDirectory: _temp.Path);

        Assert.Equal(Cli.UsageError, exit);
        Assert.Empty(output);
        Assert.Equal("gpuvit: --save-logits ./inputs.npy: would replace the input inputs.npy (--input)\n", error);
        Assert.Equal(before, Snapshot());
    }

    /// <summary>The command line of a case, and what its one line of error says after "gpuvit: ".</summary>
    private (string[] Args, string Expected) Case(string name)
    {
        string[] Logits(string path, params string[] more) =>
            ["run", "--weights", _weights, "--input", _inputs, .. more, "--save-logits", path, "--device", "cpu"];
        string[] Report(string path, params string[] more) =>
            ["compare", "--device", "cpu", "--image-sizes", "32", "--batches", "1", "--seconds", "0", .. more, "--report", path];
        string Replaces(string option, string output, string input, string inputName) => $"{option} {output}: would replace the input {input} ({inputName})";

        switch (name)
        {
            case "logits-in-a-missing-directory":
            {
                string path = _temp.PathOf("nodir/logits.npy");
                return (Logits(path), $"--save-logits {path}: no directory {_temp.PathOf("nodir")}");
            }

            case "logits-as-a-directory":
                return (Logits(_temp.Path), $"--save-logits {_temp.Path}: is a directory; name a file in it");
            case "logits-under-a-file":
            {
                string path = Path.Combine(_inputs, "logits.npy");
                return (Logits(path), $"--save-logits {path}: {_inputs} is a file, not a directory");
            }

            case "logits-under-proc":
                // /proc takes no new file, not even from root.
                return (Logits("/proc/gpuvit-logits.npy"), "--save-logits /proc/gpuvit-logits.npy: cannot write: a file cannot be created there");
            case "logits-in-a-read-only-directory":
            {
                if (Environment.IsPrivilegedProcess)
                {
                    Assert.Skip("root writes into a read-only directory; logits-under-proc is a directory that takes no file for anyone");
                }

                string directory = _temp.PathOf("read-only");
                Directory.CreateDirectory(directory);
                File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserExecute);
                string path = Path.Combine(directory, "logits.npy");
                return (Logits(path), $"--save-logits {path}: cannot write: permission denied");
            }

            case "logits-over-a-fifo":
            {
                // A FIFO stands for every node that is not a regular file (/dev/null, as root, would be replaced by the rename).
                string fifo = HostileFiles.Fifo(_temp.PathOf("pipe.npy"));
                return (Logits(fifo), $"--save-logits {fifo}: is a named pipe (FIFO), not a regular file; outputs are written as new regular files");
            }

            case "logits-with-an-empty-name":
                return (Logits(""), "--save-logits: '' is not a file name");
            case "logits-over-the-weights":
                return (Logits(_weights), Replaces("--save-logits", _weights, _weights, "--weights"));
            case "logits-over-the-weights-through-a-link":
            {
                string link = _temp.PathOf("link.safetensors");
                File.CreateSymbolicLink(link, "tiny.safetensors");
                return (Logits(link), Replaces("--save-logits", link, _weights, "--weights"));
            }

            case "logits-over-the-input-as-dot-slash":
            {
                string path = "./" + Path.GetRelativePath(Environment.CurrentDirectory, _inputs);
                return (Logits(path), Replaces("--save-logits", path, _inputs, "--input"));
            }

            case "logits-over-the-input-through-a-linked-directory":
            {
                string link = _temp.PathOf("linked");
                Directory.CreateSymbolicLink(link, _temp.Path);
                string path = Path.Combine(link, "inputs.npy");
                return (Logits(path), Replaces("--save-logits", path, _inputs, "--input"));
            }

            case "logits-over-the-labels":
            {
                string labels = _temp.PathOf("labels.txt");
                File.WriteAllLines(labels, Enumerable.Range(0, 10).Select(i => $"class {i}"));
                return (Logits(labels, "--labels", labels), Replaces("--save-logits", labels, labels, "--labels"));
            }

            case "logits-over-the-config":
            {
                string config = _temp.PathOf("settings.json");
                File.WriteAllText(config, WeightLayoutTests.HuggingFaceConfigJson(VitPresets.VitTestTiny));
                return (Logits(config, "--config", config), Replaces("--save-logits", config, config, "--config"));
            }

            case "logits-over-the-config-beside-the-weights":
            {
                string config = _temp.PathOf("config.json");
                File.WriteAllText(config, WeightLayoutTests.HuggingFaceConfigJson(VitPresets.VitTestTiny));
                return (Logits(config), Replaces("--save-logits", config, config, "the config.json beside --weights"));
            }

            case "logits-over-an-image-of-an-input-directory":
            {
                string images = _temp.PathOf("images");
                Directory.CreateDirectory(images);
                string image = Path.Combine(images, "red.ppm");
                File.WriteAllBytes(image, [.. "P6\n1 1\n255\n"u8, 200, 0, 0]);
                return (["run", "--weights", _weights, "--input", images, "--save-logits", image, "--device", "cpu"],
                    Replaces("--save-logits", image, images, "--input"));
            }

            case "report-in-a-missing-directory":
            {
                string path = _temp.PathOf("nodir/report.html");
                return (Report(path), $"--report {path}: no directory {_temp.PathOf("nodir")}");
            }

            case "report-as-a-directory":
                return (Report(_temp.Path), $"--report {_temp.Path}: is a directory; name a file in it");
            case "report-over-the-weights":
                return (Report(_weights, "--weights", _weights), Replaces("--report", _weights, _weights, "--weights"));
            case "report-over-the-images":
                return (Report(_inputs, "--images", _inputs), Replaces("--report", _inputs, _inputs, "--images"));
            default:
                throw new ArgumentException($"no case '{name}'", nameof(name));
        }
    }

    /// <summary>Every file and link under the directory: a regular file by its content's hash, a link by its target, any other node (a FIFO, which a read would block on) by its type; hidden files too.</summary>
    private Dictionary<string, string> Snapshot()
    {
        var entries = new Dictionary<string, string>();
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 };
        foreach (string path in Directory.EnumerateFileSystemEntries(_temp.Path, "*", options))
        {
            var info = new FileInfo(path);
            entries[path] = info.LinkTarget is { } target ? "-> " + target
                : !info.Exists ? "directory"
                : RegularFile.Problem(path) is { } notRegular ? notRegular
                : Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
        }

        return entries;
    }
}
