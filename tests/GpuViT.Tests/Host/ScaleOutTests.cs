using System.Diagnostics;
using System.Globalization;
using GpuViT.Host;
using GpuViT.Models.Images;

namespace GpuViT.Tests.Host;

/// <summary>
/// Scale-out: `gpuvit run --shard I/N|auto --output FILE` (Slurm job arrays, Kubernetes Indexed Jobs),
/// resuming after Ctrl+C, SIGTERM or SIGKILL, `gpuvit merge`, and the checked-in sbatch script and Job manifest.
/// </summary>
public sealed class ScaleOutTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-scaleout-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(string name) => _temp.PathOf(name);

    private string SaveInputs(int count, string name = "inputs.npy")
    {
        var random = new Random(11);
        string path = PathOf(name);
        NpyFile.WriteFloat32(path, [.. Enumerable.Range(0, count * 3 * 32 * 32).Select(_ => (float)(random.NextDouble() * 2 - 1))], [count, 3, 32, 32]);
        return path;
    }

    private static string[] RunArgs(string output, params string[] more) =>
        ["run", "--model", "vit_test_tiny", "--random-init", "--device", "cpu", "--top", "3", "--output", output, .. more];

    private static (int Exit, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Cli.Run(args, output, error);
        Assert.Equal("", output.ToString()); // with --output, the records go to the file only
        return (exit, error.ToString());
    }

    private static Dictionary<string, string?> Variables(params (string Name, string Value)[] set) => set.ToDictionary(v => v.Name, v => (string?)v.Value);

    private static Shard Auto(int? count, params (string, string)[] set)
    {
        Dictionary<string, string?> variables = Variables(set);
        return Shard.Parse("auto", count, name => variables.GetValueOrDefault(name));
    }

    [Fact]
    public void Shards_are_contiguous_ranges_that_end_to_end_cover_every_input_once()
    {
        foreach (int total in new[] { 0, 1, 2, 7, 10, 1_000_003 })
        {
            foreach (int count in new[] { 1, 2, 3, 8, 64 })
            {
                int next = 0;
                for (int i = 0; i < count; i++)
                {
                    (int start, int length) = new Shard(i, count).Range(total);
                    Assert.Equal(next, start);
                    Assert.InRange(length, total / count, total / count + 1);
                    next = start + length;
                }

                Assert.Equal(total, next);
            }
        }

        Assert.Equal((2, 2), new Shard(1, 3).Range(7)); // ⌊7/3⌋ = 2 to ⌊14/3⌋ = 4
    }

    [Fact]
    public void A_slice_of_a_source_names_and_decodes_its_images_as_the_whole_source_does()
    {
        ImageSource whole = ImageSource.Synthetic(10, seed: 4);
        ImageSource slice = whole.Slice(3, 4);

        Assert.Equal(4, slice.Count);
        Assert.Equal(["synthetic[3]", "synthetic[4]", "synthetic[5]", "synthetic[6]"], Enumerable.Range(0, 4).Select(slice.Name));
        Assert.Equal(whole.Decode(5, 8), slice.Decode(2, 8));
        Assert.Equal("synthetic[6]", slice.Slice(3, 1).Name(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => slice.Decode(4, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => whole.Slice(8, 3));
    }

    [Fact]
    public void Shard_auto_reads_slurm_arrays_and_kubernetes_indexed_jobs()
    {
        Assert.Equal(new Shard(2, 5), Shard.Parse("2/5", null, _ => throw new InvalidOperationException("I/N reads no variable")));
        Assert.Equal(new Shard(3, 4), Auto(null, ("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4")));
        Assert.Equal(new Shard(0, 4), Auto(null, ("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1"))); // --array=1-4
        Assert.Equal(new Shard(3, 4), Auto(4, ("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1")));
        Assert.Equal(new Shard(6, 8), Auto(8, ("JOB_COMPLETION_INDEX", "6")));
    }

    [Theory]
    [InlineData("3/3", null, "expected I/N")]
    [InlineData("-1/3", null, "expected I/N")]
    [InlineData("1/0", null, "expected I/N")]
    [InlineData("a/b", null, "expected I/N")]
    [InlineData("1/3", 4, "disagree")]
    public void A_bad_shard_is_one_line(string text, int? count, string said)
    {
        var e = Assert.Throws<UsageException>(() => Shard.Parse(text, count, _ => null));
        Assert.Contains(said, e.Message);
    }

    [Fact]
    public void Shard_auto_names_what_is_missing_or_inconsistent()
    {
        Assert.Contains("neither SLURM_ARRAY_TASK_ID", Assert.Throws<UsageException>(() => Auto(4)).Message);
        Assert.Contains("SLURM_ARRAY_TASK_COUNT is not", Assert.Throws<UsageException>(() => Auto(null, ("SLURM_ARRAY_TASK_ID", "0"))).Message);
        Assert.Contains("--shard-count N", Assert.Throws<UsageException>(() => Auto(null, ("JOB_COMPLETION_INDEX", "0"))).Message);
        Assert.Contains("not below --shard-count 4", Assert.Throws<UsageException>(() => Auto(4, ("JOB_COMPLETION_INDEX", "4"))).Message);
        Assert.Contains("disagree", Assert.Throws<UsageException>(() => Auto(3, ("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "4"))).Message);
        Assert.Contains("contiguous", Assert.Throws<UsageException>(() => Auto(null, ("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"))).Message);
        Assert.Contains("not a whole number", Assert.Throws<UsageException>(() => Auto(2, ("JOB_COMPLETION_INDEX", "x"))).Message);
    }

    [Fact]
    public void Three_shards_merged_are_byte_for_byte_the_unsharded_output()
    {
        // A .npy and a directory of images: names as the unsharded run gives them, across the shards' boundaries.
        string inputs = SaveInputs(5);
        string images = Directory.CreateDirectory(PathOf("images")).FullName;
        foreach (string name in new[] { "b.png", "a.png" })
        {
            File.WriteAllBytes(Path.Combine(images, name), GpuViT.Tests.Models.InputTests.Png(40, 30, colorType: 2, [.. Enumerable.Range(0, 40 * 30 * 3).Select(i => (byte)(i * name[0]))]));
        }

        string whole = PathOf("whole.jsonl");
        Assert.Equal(0, Run(RunArgs(whole, inputs, images)).Exit);
        var shards = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            string shard = PathOf($"shard-{i}.jsonl");
            (int exit, string error) = Run(RunArgs(shard, inputs, images, "--shard", $"{i}/3"));
            Assert.True(exit == 0, error);
            shards.Add(shard);
        }

        string merged = PathOf("merged.jsonl");
        (int mergeExit, string mergeError) = Run("merge", "--output", merged, shards[2], shards[0], shards[1]);

        Assert.True(mergeExit == 0, mergeError);
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(merged));
        string[] lines = File.ReadAllLines(whole);
        Assert.Equal(8, lines.Length); // the job, then 7 records
        Assert.Contains("\"shard\":\"0/1\"", lines[0]);
        Assert.Contains($"\"path\":\"{Path.Combine(images, "a.png")}\"", lines[6]);
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.partial"));
    }

    [Fact]
    public void More_shards_than_inputs_leave_a_shard_empty_and_still_merge_to_the_unsharded_output()
    {
        string inputs = SaveInputs(2), whole = PathOf("whole.jsonl"), merged = PathOf("merged.jsonl");
        Assert.Equal(0, Run(RunArgs(whole, inputs)).Exit);
        string[] shards = [.. Enumerable.Range(0, 3).Select(i => PathOf($"s{i}.jsonl"))];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0, Run(RunArgs(shards[i], inputs, "--shard", $"{i}/3")).Exit);
        }

        Assert.Single(File.ReadAllLines(shards[0])); // the job's line only: shard 0 is [0, 0)
        Assert.Equal(0, Run(["merge", "--output", merged, .. shards]).Exit);
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(merged));
    }

    [Fact]
    public void Merge_refuses_a_missing_a_duplicated_a_partial_and_a_foreign_shard()
    {
        string inputs = SaveInputs(4);
        string[] shards = [.. Enumerable.Range(0, 3).Select(i => PathOf($"s{i}.jsonl"))];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0, Run(RunArgs(shards[i], inputs, "--shard", $"{i}/3")).Exit);
        }

        string other = PathOf("other.jsonl");
        Assert.Equal(0, Run([.. RunArgs(other, inputs, "--shard", "1/3"), "--seed", "7"]).Exit);
        string torn = PathOf("torn.jsonl");
        File.WriteAllLines(torn, File.ReadAllLines(shards[2])[..^1]);
        string merged = PathOf("merged.jsonl");

        Assert.Equal((2, "gpuvit: shard 1/3 missing (2 of 3 given)\n"), Run("merge", "--output", merged, shards[0], shards[2]));
        Assert.Equal((2, $"gpuvit: shard 0/3 given twice: {shards[0]}, {shards[0]}\n"), Run("merge", "--output", merged, shards[0], shards[1], shards[0], shards[2]));
        Assert.Equal((2, $"gpuvit: {torn}: holds 1 records; shard 2/3 of 4 inputs has 2\n"), Run("merge", "--output", merged, shards[0], shards[1], torn));
        Assert.Contains("of another job", Run("merge", "--output", merged, shards[0], other, shards[2]).Error);
        Assert.False(File.Exists(merged));
    }

    [Fact]
    public void A_whole_output_is_not_recomputed_and_a_foreign_partial_is_refused()
    {
        string inputs = SaveInputs(3), output = PathOf("out.jsonl");
        Assert.Equal(0, Run(RunArgs(output, inputs)).Exit);
        byte[] before = File.ReadAllBytes(output);

        (int exit, string error) = Run(RunArgs(output, inputs));
        Assert.Equal(0, exit);
        Assert.Contains($"{output} is already written whole; nothing to do", error);
        Assert.Equal(before, File.ReadAllBytes(output));

        string shard = PathOf("shard.jsonl");
        File.Copy(output, RecordsFile.PartialPath(shard));
        (exit, error) = Run(RunArgs(shard, inputs, "--shard", "0/2"));
        Assert.Equal(2, exit);
        Assert.Equal($"gpuvit: {shard}.partial: left by another job (shard 0/1, not 0/2); remove it, or run that job's command\n", error);
        Assert.False(File.Exists(shard));

        Assert.Equal(2, Run([.. RunArgs(output, inputs), "--format", "csv"]).Exit);
        Assert.Equal(2, Run([.. RunArgs(output, inputs), "--shard-count", "2"]).Exit);
        Assert.Equal(2, Run([.. RunArgs(PathOf("new.jsonl"), inputs), "--save-logits", PathOf("logits.npy")]).Exit);
    }

    [Theory]
    [InlineData(PosixSignalNumber.Kill, 137)]
    [InlineData(PosixSignalNumber.Term, Cli.Terminated)]
    public void A_run_killed_mid_way_leaves_only_a_partial_file_and_the_same_command_resumes_to_the_uninterrupted_output(PosixSignalNumber signal, int expectedExit)
    {
        // Enough one-image micro-batches of the tiny model (600-1,300 a second on two cores) that the run
        // is still going when the signal lands, seconds after the line that triggers it even when this
        // process, busy with other tests, reads the line late (with 1,000 the run once ended first); the
        // progress line comes after the micro-batch's records are on disk.
        const int Images = 4000;
        string inputs = SaveInputs(Images), output = PathOf("out.jsonl"), partial = RecordsFile.PartialPath(output);
        string[] args = RunArgs(output, inputs, "--batch", "1");

        CliProcessResult killed = CliProcess.Run(args, signal: signal, signalWhen: $"run on cpu: 5 of {Images} images");

        Assert.False(killed.TimedOut);
        Assert.True(expectedExit == killed.Exit, killed.Error);
        Assert.False(File.Exists(output));
        int kept = Lines(partial) - 1;
        Assert.InRange(kept, 5, Images - 1);
        if (signal == PosixSignalNumber.Term)
        {
            Assert.Contains($"{partial} holds the records so far; the same command resumes after them", killed.Error);
        }

        CliProcessResult resumed = CliProcess.Run(args);

        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Contains($"resuming {partial}: ", resumed.Error);
        Assert.False(File.Exists(partial));
        string reference = PathOf("reference.jsonl");
        Assert.Equal(0, Run(RunArgs(reference, inputs, "--batch", "1")).Exit);
        Assert.Equal(File.ReadAllBytes(reference), File.ReadAllBytes(output));
    }

    private static string Example(string path) => Path.Combine(AppContext.BaseDirectory, "examples", path);

    private static (int Exit, string Output, string Error) Tool(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(), error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void The_slurm_array_script_passes_bash_n_with_its_fields_set()
    {
        string script = Example("slurm/gpuvit-array.sbatch");
        (int exit, _, string error) = Tool("bash", "-n", script);
        Assert.True(exit == 0, error);

        string text = File.ReadAllText(script);
        Assert.StartsWith("#!/bin/bash\n", text);
        Assert.Matches(@"(?m)^#SBATCH --array=0-\d+$", text);
        Assert.Matches(@"(?m)^#SBATCH --gres=gpu:1$", text);
        Assert.Matches(@"(?m)^#SBATCH --requeue$", text);
        Assert.Contains("exec \"$GPUVIT\" run ", text); // gpuvit itself gets Slurm's SIGTERM
        Assert.Contains("--shard auto --output \"$OUT/shard-$SLURM_ARRAY_TASK_ID.jsonl\"", text);
    }

    [Fact]
    public void The_kubernetes_indexed_job_parses_with_its_fields_set()
    {
        (int exit, string json, string error) = Tool("/usr/bin/python3", "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", Example("kubernetes/gpuvit-indexed-job.yaml"));
        Assert.True(exit == 0, error);

        using var document = System.Text.Json.JsonDocument.Parse(json);
        var job = document.RootElement;
        Assert.Equal("batch/v1", job.GetProperty("apiVersion").GetString());
        Assert.Equal("Job", job.GetProperty("kind").GetString());
        var spec = job.GetProperty("spec");
        Assert.Equal("Indexed", spec.GetProperty("completionMode").GetString());
        int completions = spec.GetProperty("completions").GetInt32();
        Assert.InRange(spec.GetProperty("parallelism").GetInt32(), 1, completions);
        var pod = spec.GetProperty("template").GetProperty("spec");
        Assert.Equal("Never", pod.GetProperty("restartPolicy").GetString());
        var container = Assert.Single(pod.GetProperty("containers").EnumerateArray());
        Assert.False(string.IsNullOrEmpty(container.GetProperty("image").GetString()));
        Assert.Equal(1, container.GetProperty("resources").GetProperty("limits").GetProperty("nvidia.com/gpu").GetInt32());

        string[] command = [.. container.GetProperty("command").EnumerateArray().Select(a => a.GetString()!)];
        Assert.Equal(["gpuvit", "run"], command[..2]);
        string After(string option) => command[Array.IndexOf(command, option) + 1];
        Assert.Equal("auto", After("--shard"));
        Assert.Equal(completions.ToString(CultureInfo.InvariantCulture), After("--shard-count")); // Kubernetes sets no count
        Assert.Contains("$(JOB_COMPLETION_INDEX)", After("--output"));

        // The outputs and inputs are on the mounted volume.
        var mount = Assert.Single(container.GetProperty("volumeMounts").EnumerateArray());
        string mounted = mount.GetProperty("mountPath").GetString()! + "/";
        Assert.StartsWith(mounted, After("--output"));
        Assert.StartsWith(mounted, After("--weights"));
        Assert.Contains(pod.GetProperty("volumes").EnumerateArray(), v => v.GetProperty("name").GetString() == mount.GetProperty("name").GetString());
    }

    /// <summary>The whole lines in a file, 0 when there is none yet.</summary>
    private static int Lines(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            int lines = 0;
            var reader = new RecordsFile.LineReader(file);
            while (reader.Next() is not null)
            {
                lines++;
            }

            return lines;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
