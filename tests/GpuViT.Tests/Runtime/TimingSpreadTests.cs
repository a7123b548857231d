namespace GpuViT.Tests.Runtime;

/// <summary><see cref="TimingSpread"/>: NumPy's default percentiles (linear between closest ranks), and its one-line description.</summary>
public sealed class TimingSpreadTests
{
    [Fact]
    public void Percentiles_interpolate_linearly_as_numpy_does()
    {
        // np.percentile([4, 1, 3, 2], [5, 50, 95]) = [1.15, 2.5, 3.85]; mean 2.5.
        TimingSpread spread = TimingSpread.Of([4.0, 1.0, 3.0, 2.0], callsPerRun: 7);

        Assert.Equal(4, spread.Runs);
        Assert.Equal(7, spread.CallsPerRun);
        Assert.Equal(1.15, spread.P5, 12);
        Assert.Equal(2.5, spread.Median, 12);
        Assert.Equal(3.85, spread.P95, 12);
        Assert.Equal(2.5, spread.Mean, 12);
    }

    [Fact]
    public void One_run_is_its_own_median_and_percentiles()
    {
        TimingSpread spread = TimingSpread.Of([0.25]);

        Assert.Equal((1, 0.25, 0.25, 0.25), (spread.Runs, spread.P5, spread.Median, spread.P95));
    }

    [Fact]
    public void No_runs_or_a_non_finite_time_is_refused()
    {
        Assert.Throws<ArgumentException>(() => TimingSpread.Of([]));
        Assert.Throws<ArgumentException>(() => TimingSpread.Of([1.0, double.NaN]));
    }

    [Fact]
    public void Describe_gives_milliseconds_to_four_digits_and_the_runs()
    {
        Assert.Equal("median 412.3 ms (p5 400.0, p95 1234, mean 0.01235; 15 runs of 4 calls)",
            new TimingSpread(15, 4, 0.41234, 0.4, 1.2344, 0.0000123456).Describe());
        Assert.Equal("median 2.000 ms (p5 2.000, p95 2.000, mean 2.000; 1 run)", TimingSpread.Of([0.002]).Describe());
    }
}
