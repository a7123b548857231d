using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace GpuViT.Tests.Host;

/// <summary>What a `gpuvit` process did: its exit code, what it printed, its peak resident memory, and whether it had to be killed.</summary>
public sealed record CliProcessResult(int Exit, string Output, string Error, long PeakResidentBytes, bool TimedOut)
{
    /// <summary>stderr's lines, without the empty last one.</summary>
    public string[] ErrorLines => Error.TrimEnd('\n').Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>
/// Runs the real `gpuvit` (the Host assembly beside the tests) as a child process, for what an
/// in-process run cannot show: signals, peak memory, a hang. The child is killed past the timeout.
/// </summary>
public static class CliProcess
{
    /// <summary>
    /// Runs `gpuvit ARGS`; when <paramref name="signalWhen"/> is given, sends <paramref name="signal"/>
    /// once a line of stdout or stderr contains it.
    /// </summary>
    public static CliProcessResult Run(
        string[] args, TimeSpan? timeout = null, string? signalWhen = null, PosixSignalNumber signal = PosixSignalNumber.Term,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gpuvit.dll"));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // No kernel cache unless the caller has one: a child must not fill the user's.
        start.Environment["GPUVIT_KERNEL_CACHE"] = Environment.GetEnvironmentVariable("GPUVIT_KERNEL_CACHE") ?? "off";
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var output = new StringBuilder();
        var error = new StringBuilder();
        int signalled = 0;
        void Line(StringBuilder text, string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (text)
            {
                text.Append(line).Append('\n');
            }

            if (signalWhen is not null && line.Contains(signalWhen, StringComparison.Ordinal) && Interlocked.Exchange(ref signalled, 1) == 0)
            {
                Send(process.Id, signal);
            }
        }

        process.OutputDataReceived += (_, e) => Line(output, e.Data);
        process.ErrorDataReceived += (_, e) => Line(error, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // VmHWM is the high-water mark of resident memory: its last reading before exit is the peak.
        // Read often: a child that exits before the first reading leaves no measurement (0).
        long peak = 0;
        var clock = Stopwatch.StartNew();
        TimeSpan limit = timeout ?? TimeSpan.FromMinutes(2);
        bool timedOut = false;
        while (!process.WaitForExit(5))
        {
            peak = Math.Max(peak, PeakResidentBytes(process.Id));
            if (clock.Elapsed > limit)
            {
                timedOut = true;
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                break;
            }
        }

        process.WaitForExit(); // drains the redirected streams
        return new CliProcessResult(process.ExitCode, output.ToString(), error.ToString(), peak, timedOut);
    }

    /// <summary>How long a hostile-input case may run: a cpu run of vit_test_tiny takes about a second.</summary>
    public static readonly TimeSpan HostileTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The resident memory a hostile-input case may hold: a cpu run of vit_test_tiny holds about 150 MB; the inputs this bound was set against took 1.5–5.6 GB.</summary>
    public const long HostileMemoryBound = 1L << 30;

    /// <summary>Runs `gpuvit ARGS` as a child within the hostile-input bounds (<see cref="HostileTimeout"/>, <see cref="HostileMemoryBound"/>), failing the test past either or without a memory reading.</summary>
    public static (int Exit, string Output, string Error) Bounded(string[] args, string? workingDirectory = null)
    {
        CliProcessResult result = Run(args, HostileTimeout, workingDirectory: workingDirectory);
        Assert.False(result.TimedOut, $"gpuvit {string.Join(' ', args)} still running after {HostileTimeout.TotalSeconds} s: it hangs");
        Assert.True(result.PeakResidentBytes > 0, $"gpuvit {string.Join(' ', args)}: no memory reading: the process ended before it was measured");
        Assert.True(result.PeakResidentBytes < HostileMemoryBound,
            $"gpuvit {string.Join(' ', args)}: peak resident memory {result.PeakResidentBytes >> 20} MiB, over the bound of {HostileMemoryBound >> 20} MiB");
        return (result.Exit, result.Output, result.Error);
    }

    /// <summary>Sends a POSIX signal (kill(2) through the kill command: .NET can only kill outright).</summary>
    public static void Send(int processId, PosixSignalNumber signal)
    {
        using var kill = Process.Start("kill", ["-" + ((int)signal).ToString(CultureInfo.InvariantCulture), processId.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    private static long PeakResidentBytes(int processId)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{processId}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    // "VmHWM:    123456 kB"
                    string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // The process ended between the check and the read.
        }

        return 0;
    }
}

/// <summary>The POSIX signals the tests send, by number.</summary>
public enum PosixSignalNumber
{
    Hup = 1,
    Int = 2,
    Kill = 9,
    Term = 15,
}
