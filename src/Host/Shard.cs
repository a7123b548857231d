using System.Globalization;

namespace GpuViT.Host;

/// <summary>
/// Shard <see cref="Index"/> of <see cref="Count"/> of a run's inputs (`--shard I/N`): the contiguous
/// range [⌊I·T/N⌋, ⌊(I+1)·T/N⌋) of the T inputs in input order, so that shards 0..N−1 end to end are
/// the whole run, on any machine (the inputs' order is the command line's, directories sorted ordinally).
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    public static readonly Shard Whole = new(0, 1);

    /// <summary>The first input of the shard and how many it has, of <paramref name="total"/> inputs.</summary>
    public (int Start, int Length) Range(int total)
    {
        int start = (int)((long)Index * total / Count), end = (int)((long)(Index + 1) * total / Count);
        return (start, end - start);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");

    /// <summary>
    /// `--shard I/N`, or `--shard auto`: from a Slurm job array (SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN,
    /// of SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, of <paramref name="countFlag"/>:
    /// Kubernetes sets no count). Anything missing or inconsistent is a <see cref="UsageException"/>.
    /// </summary>
    public static Shard Parse(string text, int? countFlag, Func<string, string?> environment)
    {
        if (countFlag is < 1)
        {
            throw new UsageException($"--shard-count must be at least 1, not {countFlag}");
        }

        if (text != "auto")
        {
            string[] parts = text.Split('/');
            if (parts.Length != 2 || !TryInt(parts[0], out int index) || !TryInt(parts[1], out int count) || count < 1 || index >= count)
            {
                throw new UsageException($"--shard '{text}': expected I/N with 0 ≤ I < N (shard 0/4 is the first of four), or auto");
            }

            if (countFlag is not null && countFlag != count)
            {
                throw new UsageException($"--shard {text} and --shard-count {countFlag} disagree (--shard-count is for --shard auto)");
            }

            return new Shard(index, count);
        }

        if (environment("SLURM_ARRAY_TASK_ID") is { } slurmId)
        {
            int id = Variable("SLURM_ARRAY_TASK_ID", slurmId);
            int count = Variable("SLURM_ARRAY_TASK_COUNT", environment("SLURM_ARRAY_TASK_COUNT")
                ?? throw new UsageException("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not"));
            int min = environment("SLURM_ARRAY_TASK_MIN") is { } minText ? Variable("SLURM_ARRAY_TASK_MIN", minText) : 0;
            if (countFlag is not null && countFlag != count)
            {
                throw new UsageException($"--shard auto: SLURM_ARRAY_TASK_COUNT={count} and --shard-count {countFlag} disagree");
            }

            if (count < 1 || id - min < 0 || id - min >= count)
            {
                throw new UsageException($"--shard auto: task {id} of an array from {min} with {count} tasks is no shard 0 to {count - 1} (the array's indices must be contiguous, --array={min}-{min + count - 1})");
            }

            return new Shard(id - min, count);
        }

        if (environment("JOB_COMPLETION_INDEX") is { } jobIndex)
        {
            int index = Variable("JOB_COMPLETION_INDEX", jobIndex);
            int count = countFlag ?? throw new UsageException("--shard auto: JOB_COMPLETION_INDEX is set; --shard-count N says of how many (the Job's completions)");
            if (index >= count)
            {
                throw new UsageException($"--shard auto: JOB_COMPLETION_INDEX={index} is not below --shard-count {count}");
            }

            return new Shard(index, count);
        }

        throw new UsageException("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set");
    }

    private static bool TryInt(string text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static int Variable(string name, string value) =>
        TryInt(value.Trim(), out int number) ? number : throw new UsageException($"--shard auto: {name}='{value}' is not a whole number");
}
