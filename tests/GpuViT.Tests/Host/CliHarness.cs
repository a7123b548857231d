using System.Text.RegularExpressions;
using GpuViT.Host;

namespace GpuViT.Tests.Host;

/// <summary>Runs the command line in process, capturing what it prints.</summary>
public static partial class CliHarness
{
    /// <summary>How long a command may run in process before the test calls it a hang.</summary>
    public static readonly TimeSpan HangTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs `gpuvit ARGS` in process; a command still running after <see cref="HangTimeout"/> fails the test as a hang.</summary>
    public static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        Task<int> run = Task.Run(() => Cli.Run(args, output, error));
        if (!((IAsyncResult)run).AsyncWaitHandle.WaitOne(HangTimeout))
        {
            Assert.Fail($"gpuvit {string.Join(' ', args)} still running after {HangTimeout.TotalSeconds} s: it hangs");
        }

        return (run.GetAwaiter().GetResult(), output.ToString(), error.ToString());
    }

    /// <summary>stderr without run's progress lines ("gpuvit: run on cpu: 4 of 6 images (…)"), which it prints after each micro-batch when stderr is no terminal.</summary>
    public static string WithoutProgress(string error) => ProgressLine().Replace(error, "");

    [GeneratedRegex(@"(?m)^gpuvit: run on \S+: \d+ of \d+ images \([^)\n]*\)\n")]
    private static partial Regex ProgressLine();

    /// <summary>Bad input: exit code 2, nothing on stdout, one line on stderr that contains <paramref name="expected"/>.</summary>
    public static void AssertUsageError(int exit, string output, string error, string expected)
    {
        Assert.Equal(Cli.UsageError, exit);
        Assert.Empty(output);
        Assert.Contains(expected, error);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
    }
}

/// <summary>Cancels <paramref name="interrupt"/> when a line containing <paramref name="trigger"/> is written, as Ctrl+C would part-way through.</summary>
public sealed class InterruptingWriter(CancellationTokenSource interrupt, string trigger) : StringWriter
{
    public override string NewLine => "\n";

    public override void WriteLine(string? value)
    {
        base.WriteLine(value);
        if (value?.Contains(trigger, StringComparison.Ordinal) == true)
        {
            interrupt.Cancel();
        }
    }
}
