using System.Diagnostics;
using System.Globalization;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Streaming;

namespace GpuViT.Host;

/// <summary>
/// `gpuvit run --profile`: where the run's wall time went, as one table on stderr. Host phases are
/// wall time on the command's thread; the stream's copies and compute are device time between
/// events (on an async device they overlap the host's work and each other, so the stream's parts
/// do not add up to its wall time); its waits are what the host thread spent blocked on them.
/// </summary>
public sealed class RunProfile
{
    private readonly long _commandStart = Stopwatch.GetTimestamp();
    private readonly double _processToCommand = ProcessAge();
    private readonly List<(string Name, double Seconds, string Note)> _phases = [];

    public StreamProfile Stream { get; } = new();

    /// <summary>Wall seconds on the host thread printing each micro-batch's results, inside the stream's loop.</summary>
    public double PrintSeconds { get; set; }

    public T Time<T>(string phase, string note, Func<T> work)
    {
        long start = Stopwatch.GetTimestamp();
        T result = work();
        _phases.Add((phase, Stopwatch.GetElapsedTime(start).TotalSeconds, note));
        return result;
    }

    public void Time(string phase, string note, Action work) => Time(phase, note, () =>
    {
        work();
        return 0;
    });

    /// <summary>The table, one row per phase, then the total and the time to the first logits, from the process's start.</summary>
    public IEnumerable<string> Table(Device device, int images, double streamSeconds)
    {
        string Row(string name, double seconds, string note) =>
            string.Create(CultureInfo.InvariantCulture, $"  {name,-28}{seconds,9:F3} s  {note}").TrimEnd();
        double sinceProcess(long timestamp) => _processToCommand + Stopwatch.GetElapsedTime(_commandStart, timestamp).TotalSeconds;

        StreamProfile s = Stream;
        KernelBuildStatistics builds = device.KernelBuilds;
        string kind = device.Kind is DeviceKind.Cpu or DeviceKind.Emulator ? $"host wall time ({device.Kind.ToString().ToLowerInvariant()} runs work as it is queued)" : "device time between events";
        yield return $"gpuvit: profile of run on {device.Info.Id} (wall seconds on the host unless said)";
        yield return Row("process start → command", _processToCommand, "runtime start, JIT, parsing the command line");
        foreach ((string name, double seconds, string note) in _phases)
        {
            yield return Row(name, seconds, note);
        }

        yield return Row("stream", streamSeconds, string.Create(CultureInfo.InvariantCulture,
            $"{images} images in {s.MicroBatches} micro-batches, {(streamSeconds > 0 ? images / streamSeconds : 0):F2} images/s; its parts overlap:"));
        yield return Row("  image decode", s.DecodeSeconds, $"workers' wall time; the stream waited {Seconds(s.DecodeWaitSeconds)} for it");
        yield return Row("  host→device copies", s.UploadSeconds, kind);
        yield return Row("  compute", s.ComputeSeconds,
            $"{kind}; the first pass {Seconds(s.FirstComputeSeconds)}, with the kernel builds ({builds.CompiledFromSource} compiled, {builds.LoadedFromCache} from the cache)");
        yield return Row("  device→host copies", s.DownloadSeconds, kind);
        yield return Row("  waited for the device", s.DeviceWaitSeconds, "host blocked until a micro-batch's logits arrived");
        yield return Row("  printing results", PrintSeconds, "host, in the stream's loop");
        long end = Stopwatch.GetTimestamp();
        yield return Row("total", sinceProcess(end), "process start → now");
        if (s.FirstOutputTimestamp is { } first)
        {
            yield return Row("start → first logits", sinceProcess(first), "process start → the first micro-batch's logits on the host");
        }
    }

    private static string Seconds(double seconds) => string.Create(CultureInfo.InvariantCulture, $"{seconds:F3} s");

    /// <summary>Seconds since this process started (in tests: since the test host started).</summary>
    private static double ProcessAge()
    {
        using var process = Process.GetCurrentProcess();
        return Math.Max(0, (DateTime.Now - process.StartTime).TotalSeconds);
    }
}
