using System.CommandLine;
using System.Text;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>
/// `gpuvit merge --output OUT SHARD...`: joins the records files of a sharded run (`gpuvit run --shard I/N
/// --output`) into the one the unsharded run writes: every shard 0..N−1 of one job exactly once, each
/// whole, their records in shard order, written whole or not at all.
/// </summary>
public static class MergeCommand
{
    public static Command Create(TextWriter error)
    {
        var output = new Option<string>("--output") { Description = "The merged records file", Required = true };
        var shards = new Argument<string[]>("shards") { Description = "The shards' records files (gpuvit run --shard I/N --output), in any order", Arity = ArgumentArity.OneOrMore };
        var command = new Command("merge", "Join the records files of a sharded run into the unsharded run's, checking that every shard is there once and whole");
        command.Options.Add(output);
        command.Arguments.Add(shards);
        command.SetAction(parsed =>
        {
            string outPath = parsed.GetValue(output)!;
            string[] paths = parsed.GetValue(shards)!;
            OutputPaths.Check("--output", outPath, paths.Select(p => new OutputPaths.Input("shard", p)));
            var read = paths.Select(Read).ToList();

            RunJob first = read[0].Job;
            foreach ((string path, RunJob job, _) in read)
            {
                if (job with { Shard = first.Shard } != first)
                {
                    throw new UsageException($"{path}: shard {job.Shard} of another job than {read[0].Path} (its first lines differ beyond the shard)");
                }
            }

            int count = first.Shard.Count;
            foreach (var group in read.GroupBy(r => r.Job.Shard.Index).Where(g => g.Count() > 1))
            {
                throw new UsageException($"shard {group.Key}/{count} given twice: {string.Join(", ", group.Select(r => r.Path))}");
            }

            if (Enumerable.Range(0, count).Except(read.Select(r => r.Job.Shard.Index)).ToList() is { Count: > 0 } missing)
            {
                throw new UsageException($"shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(i => $"{i}/{count}"))} missing ({read.Count} of {count} given)");
            }

            using AtomicFile file = AtomicFile.Create(outPath);
            file.Stream.Write(Encoding.UTF8.GetBytes((first with { Shard = Shard.Whole }).ToLine() + "\n"));
            foreach ((string path, _, long recordsStart) in read.OrderBy(r => r.Job.Shard.Index))
            {
                using var shard = new FileStream(path, FileMode.Open, FileAccess.Read);
                shard.Position = recordsStart;
                shard.CopyTo(file.Stream);
            }

            file.Commit();
            error.WriteLine($"gpuvit: merged {count} shards, {first.Inputs} records, into {outPath}");
            return 0;
        });
        return command;
    }

    /// <summary>A shard's job and where its records begin, after checking that it holds exactly its shard's records, whole.</summary>
    private static (string Path, RunJob Job, long RecordsStart) Read(string path)
    {
        if (path.EndsWith(".partial", StringComparison.Ordinal))
        {
            throw new UsageException($"{path}: a partial shard; run its command again to finish it");
        }

        if (!File.Exists(path))
        {
            throw new UsageException($"{path}: no such file");
        }

        using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
        var lines = new RecordsFile.LineReader(file);
        RunJob job = (lines.Next() is { } first ? RunJob.Parse(Encoding.UTF8.GetString(first)) : null)
            ?? throw new UsageException($"{path}: not a records file of gpuvit run --output (its first line names no job)");
        long start = lines.Position;
        int expected = job.Shard.Range(job.Inputs).Length, records = 0;
        while (lines.Next() is { } line)
        {
            if (RecordsFile.RecordPath(line) is null)
            {
                throw new UsageException($"{path}: line {records + 2} is no record");
            }

            records++;
        }

        if (records != expected || lines.Position != file.Length)
        {
            throw new UsageException($"{path}: holds {records} records{(lines.Position != file.Length ? " and a torn line" : "")}; shard {job.Shard} of {job.Inputs} inputs has {expected}");
        }

        return (path, job, start);
    }
}
