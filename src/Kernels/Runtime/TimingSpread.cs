using System.Globalization;

namespace GpuViT.Kernels.Runtime;

/// <summary>
/// A timing with its spread, as BenchmarkDotNet reports one: seconds per call over
/// <see cref="Runs"/> timed runs (its iterations) of <see cref="CallsPerRun"/> back-to-back calls
/// each. The median, 5th and 95th percentiles interpolate linearly between the closest ranks
/// (NumPy's default: the p-quantile of n sorted values sits at rank p·(n − 1)).
/// </summary>
public sealed record TimingSpread(int Runs, int CallsPerRun, double Median, double P5, double P95, double Mean)
{
    /// <summary>The spread of runs' seconds per call (at least one value, all finite).</summary>
    public static TimingSpread Of(IEnumerable<double> secondsPerCall, int callsPerRun = 1)
    {
        double[] sorted = [.. secondsPerCall.Order()];
        if (sorted.Length == 0 || sorted.Any(s => !double.IsFinite(s)))
        {
            throw new ArgumentException("a timing needs at least one run, and finite times", nameof(secondsPerCall));
        }

        return new TimingSpread(sorted.Length, callsPerRun, Percentile(sorted, 0.5), Percentile(sorted, 0.05), Percentile(sorted, 0.95), sorted.Average());
    }

    /// <summary>The <paramref name="fraction"/>-quantile of ascending values, linear between the closest ranks.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double fraction)
    {
        double rank = fraction * (sorted.Count - 1);
        int below = (int)Math.Floor(rank);
        int above = Math.Min(below + 1, sorted.Count - 1);
        return sorted[below] + (rank - below) * (sorted[above] - sorted[below]);
    }

    /// <summary>"median 3.123 ms (p5 3.001, p95 3.300, mean 3.150; 48 runs of 4 calls)": milliseconds, four significant digits.</summary>
    public string Describe()
    {
        string calls = CallsPerRun == 1 ? "" : $" of {CallsPerRun} calls";
        return $"median {Ms(Median)} ms (p5 {Ms(P5)}, p95 {Ms(P95)}, mean {Ms(Mean)}; {Runs} {(Runs == 1 ? "run" : "runs")}{calls})";
    }

    /// <summary>Milliseconds to four significant digits (412.3, 3.123, 0.01234), whole above 10 s.</summary>
    private static string Ms(double seconds)
    {
        double ms = seconds * 1e3;
        int decimals = ms > 0 ? Math.Clamp(3 - (int)Math.Floor(Math.Log10(ms)), 0, 6) : 0;
        return ms.ToString("F" + decimals, CultureInfo.InvariantCulture);
    }
}
