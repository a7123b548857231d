using GpuViT.Models.Streaming;

namespace GpuViT.Host;

/// <summary>
/// What `gpuvit run`'s bar says beside it, four times a second, so that a long micro-batch shows movement: the micro-batch the next results come from, decoding
/// (how many of its images so far) or computing, and the rate so far. On the timer's thread;
/// disposed, the rate alone.
/// </summary>
public sealed class RunStatus : IDisposable
{
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private readonly IProgressSink _progress;
    private readonly Func<string> _rate;
    private bool _stopped;

    public RunStatus(IProgressSink progress, Func<int> finished, Func<int> decoded, IReadOnlyList<MicroBatch> plan, Func<string> rate)
    {
        (_progress, _rate) = (progress, rate);
        _timer = new Timer(_ =>
        {
            lock (_lock)
            {
                if (!_stopped)
                {
                    progress.Status(Text(finished(), decoded(), plan, rate));
                }
            }
        }, null, TimeSpan.Zero, TimeSpan.FromMilliseconds(250));
    }

    /// <summary>"decoding 37/120", "computing 120 images", with ", 12.3 images/s" once any finished.</summary>
    public static string Text(int finished, int decoded, IReadOnlyList<MicroBatch> plan, Func<string> rate)
    {
        if (plan.FirstOrDefault(b => b.First + b.Count > finished) is not { Count: > 0 } next)
        {
            return rate();
        }

        string speed = finished > 0 ? ", " + rate() : "";
        int decodedThere = Math.Clamp(decoded - next.First, 0, next.Count);
        return (decodedThere < next.Count ? $"decoding {decodedThere}/{next.Count}" : $"computing {next.Count} images") + speed;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _stopped = true;
            _progress.Status(_rate());
        }

        _timer.Dispose();
    }
}
