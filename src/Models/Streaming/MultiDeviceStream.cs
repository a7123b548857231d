using System.Runtime.ExceptionServices;

namespace GpuViT.Models.Streaming;

/// <summary>
/// <see cref="ImageStream.RunOnDevices"/> with more than one device: a thread per device drives that
/// device's stream (the one <see cref="ImageStream.Run"/> is) over micro-batches it takes from the
/// shared plan, and a reorder buffer hands the results out in input order.
/// </summary>
internal sealed class MultiDeviceStream(
    IReadOnlyList<IStreamModel> models, IReadOnlyList<MicroBatch> plan, ImageStream.DecodeInto decode, CancellationToken cancel, StreamProfile? profile)
{
    private readonly object _gate = new();
    private readonly Dictionary<int, StreamedBatch> _ready = [];
    private int _taken, _yielded, _running;
    private Exception? _failure;

    public IEnumerable<StreamedBatch> Results()
    {
        if (plan.Count == 0)
        {
            yield break;
        }

        var planIndex = new Dictionary<int, int>();
        for (int i = 0; i < plan.Count; i++)
        {
            planIndex[plan[i].First] = i;
        }

        int maxBatch = plan.Max(b => b.Count);
        int window = ImageStream.RunAheadPerDevice * models.Count;
        StreamProfile?[] profiles = [.. models.Select(_ => profile is null ? null : new StreamProfile())];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);

        // A device waiting for room in the reorder buffer wakes when the stream stops.
        using CancellationTokenRegistration wake = stop.Token.Register(() =>
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        });
        var devices = new List<Task>();
        try
        {
            _running = models.Count;
            for (int d = 0; d < models.Count; d++)
            {
                int device = d;
                devices.Add(Task.Factory.StartNew(() => Drive(device), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
            }

            while (true)
            {
                StreamedBatch? result;
                lock (_gate)
                {
                    while (_failure is null && _running > 0 && !_ready.ContainsKey(_yielded))
                    {
                        Monitor.Wait(_gate);
                    }

                    if (_failure is not null || !_ready.Remove(_yielded, out result))
                    {
                        break;
                    }

                    _yielded++;
                    Monitor.PulseAll(_gate);
                }

                yield return result;
            }

            Task.WaitAll(devices);
            if (_failure is not null)
            {
                ExceptionDispatchInfo.Capture(_failure).Throw();
            }

            if (_yielded < plan.Count)
            {
                // Every device stopped short: cancelled, and what finished up to the first gap is out.
                throw new OperationCanceledException(cancel);
            }
        }
        finally
        {
            // Abandoned, failed or done: every device stops and frees its buffers before the stream ends.
            stop.Cancel();
            Task.WaitAll(devices);
            if (profile is not null)
            {
                foreach (StreamProfile? part in profiles)
                {
                    profile.Add(part!);
                }
            }
        }

        void Drive(int device)
        {
            try
            {
                MicroBatch? Next()
                {
                    int k = Interlocked.Increment(ref _taken) - 1;
                    return k < plan.Count && !stop.IsCancellationRequested ? plan[k] : null;
                }

                foreach (StreamedBatch result in ImageStream.RunOnDevice(models[device], Next, maxBatch, decode, stop.Token, profiles[device]))
                {
                    int index = planIndex[result.Batch.First];
                    lock (_gate)
                    {
                        while (index >= _yielded + window && !stop.IsCancellationRequested)
                        {
                            Monitor.Wait(_gate);
                        }

                        _ready[index] = result with { DeviceIndex = device };
                        Monitor.PulseAll(_gate);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Stopped with the rest: what it finished is in the buffer.
            }
            catch (Exception e)
            {
                lock (_gate)
                {
                    _failure ??= e;
                }

                stop.Cancel();
            }
            finally
            {
                lock (_gate)
                {
                    _running--;
                    Monitor.PulseAll(_gate);
                }
            }
        }
    }
}
