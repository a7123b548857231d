namespace GpuViT.Tests.Host;

/// <summary>The child-process harness itself: what it reports must be true before other tests rely on it.</summary>
public sealed class CliProcessTests
{
    [Fact]
    public void Reports_the_exit_code_what_was_printed_and_a_peak_memory()
    {
        CliProcessResult ok = CliProcess.Run(["devices"]);
        Assert.Equal(0, ok.Exit);
        Assert.Contains("cpu", ok.Output);
        Assert.False(ok.TimedOut);
        Assert.InRange(ok.PeakResidentBytes, 1L << 20, 4L << 30);

        CliProcessResult bad = CliProcess.Run(["run", "--no-such-flag"]);
        Assert.Equal(2, bad.Exit);
        Assert.Single(bad.ErrorLines);
    }

    [Fact]
    public void Kills_a_process_past_its_timeout()
    {
        CliProcessResult slow = CliProcess.Run(["compare", "--device", "cpu", "--image-sizes", "32", "--batches", "1", "--seconds", "30", "--no-report"], TimeSpan.FromSeconds(2));
        Assert.True(slow.TimedOut);
    }
}
