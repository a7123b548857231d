using System.Diagnostics;

namespace GpuViT.Bench;

/// <summary>
/// Two contenders timed in one process, alternating in blocks round after round (which goes first
/// swapping each round), so both see the same machine: a shared or throttled core costs both alike,
/// unlike separate processes minutes apart. After each block it pauses, so that neither library's
/// spinning worker threads eat into the other's time.
/// </summary>
internal static class Interleaving
{
    /// <summary>A warm-up block of each (<paramref name="warmSeconds"/>), then the rounds; each call's seconds, by contender.</summary>
    public static (List<double> First, List<double> Second) Run(Action first, Action second, int rounds, double blockSeconds, double warmSeconds)
    {
        var (a, b) = (new List<double>(), new List<double>());
        Block(first, warmSeconds, null);
        Block(second, warmSeconds, null);
        for (int round = 0; round < rounds; round++)
        {
            if (round % 2 == 0)
            {
                Block(first, blockSeconds, a);
                Block(second, blockSeconds, b);
            }
            else
            {
                Block(second, blockSeconds, b);
                Block(first, blockSeconds, a);
            }
        }

        return (a, b);
    }

    /// <summary>Calls for about <paramref name="seconds"/> (at least one), each call's seconds recorded; then a pause, so worker threads park.</summary>
    private static void Block(Action call, double seconds, List<double>? times)
    {
        var total = Stopwatch.StartNew();
        var one = new Stopwatch();
        do
        {
            one.Restart();
            call();
            times?.Add(one.Elapsed.TotalSeconds);
        }
        while (total.Elapsed.TotalSeconds < seconds);

        Thread.Sleep(50);
    }
}
