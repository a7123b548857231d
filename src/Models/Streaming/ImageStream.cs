using System.Diagnostics;
using System.Runtime.ExceptionServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Models.Streaming;

/// <summary>Consecutive images run as one forward pass: the first image's index, how many, and their tokens together.</summary>
public readonly record struct MicroBatch(int First, int Count, long Tokens);

/// <summary>
/// One micro-batch's results: outputs [Count, OutputsPerImage] in input order, and the device time
/// its forward pass took (between events recorded around it on the compute stream).
/// </summary>
public sealed record StreamedBatch(MicroBatch Batch, float[] Outputs, int OutputsPerImage, double ComputeSeconds)
{
    /// <summary>Which of the models given to <see cref="ImageStream.RunOnDevices"/> ran it (0 with one device).</summary>
    public int DeviceIndex { get; init; }

    public ReadOnlySpan<float> Output(int k) => Outputs.AsSpan(k * OutputsPerImage, OutputsPerImage);
}

/// <summary>What the stream runs: a model on one device that maps images to outputs, a micro-batch at a time.</summary>
public interface IStreamModel
{
    Device Device { get; }

    /// <summary>Input values per image: channels × size × size.</summary>
    int ValuesPerImage { get; }

    int OutputsPerImage { get; }

    long TokensPerImage { get; }

    /// <summary>Device bytes one more image in a micro-batch costs: activations, and the stream's two input and output slots.</summary>
    long DeviceBytesPerImage { get; }

    /// <summary>
    /// Queues the forward pass of <paramref name="count"/> images on <paramref name="stream"/>;
    /// cancelled, it may stop between layers with <see cref="OperationCanceledException"/> (on a
    /// device that runs work as it is queued, the cpu, a pass takes seconds).
    /// </summary>
    void Forward(DeviceView<float> images, DeviceView<float> outputs, int count, DeviceStream stream, CancellationToken cancel);
}

/// <summary>
/// Runs images through a model as a stream: consecutive images grouped into micro-batches up to a
/// token budget, decoded on worker threads straight into page-locked memory, uploaded on one
/// stream while the previous micro-batch computes on another (two slots, events between them),
/// outputs downloaded and emitted in input order. Whole images go up: a ViT cuts its patches on
/// the device, in its patch embedding.
/// </summary>
public static class ImageStream
{
    /// <summary>The most tokens a micro-batch holds whatever the memory: beyond this a GPU is already full and latency only grows.</summary>
    public const long MaxTokenBudget = 1 << 15;

    /// <summary>
    /// Consecutive images grouped so that no micro-batch holds more than the budget's tokens: every
    /// image has the model's tokens (images are resized to its size), so each micro-batch but the
    /// last holds as many whole images as fit.
    /// </summary>
    public static IReadOnlyList<MicroBatch> Plan(int count, long tokensPerImage, long tokenBudget)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokensPerImage, 1);
        if (tokensPerImage > tokenBudget)
        {
            throw new ArgumentException($"an image has {tokensPerImage} tokens, more than the budget of {tokenBudget}", nameof(tokenBudget));
        }

        int perBatch = (int)Math.Min(int.MaxValue, tokenBudget / tokensPerImage);
        var plan = new List<MicroBatch>();
        for (int first = 0; first < count; first += perBatch)
        {
            int images = Math.Min(perBatch, count - first);
            plan.Add(new MicroBatch(first, images, images * tokensPerImage));
        }

        return plan;
    }

    /// <summary>The share of the device's free memory a stream's micro-batches may take; the rest is left for whatever else runs.</summary>
    public const double MemoryFraction = 0.5;

    /// <summary>
    /// The token budget that fits: <see cref="MemoryFraction"/> of the device's free memory over
    /// what each image costs, in whole images, at most <paramref name="maxTokens"/>.
    /// </summary>
    /// <exception cref="DeviceOutOfMemoryException">Not even one image fits.</exception>
    public static long TokenBudget(IStreamModel model, long maxTokens = MaxTokenBudget) =>
        Math.Min(ImagesThatFit(model, 1), Math.Max(1, maxTokens / model.TokensPerImage)) * model.TokensPerImage;

    /// <summary>The token budget of exactly <paramref name="images"/> images per micro-batch.</summary>
    /// <exception cref="DeviceOutOfMemoryException">They do not fit in <see cref="MemoryFraction"/> of the free memory.</exception>
    public static long TokenBudget(IStreamModel model, int images)
    {
        ImagesThatFit(model, images);
        return images * model.TokensPerImage;
    }

    private static long ImagesThatFit(IStreamModel model, long needed)
    {
        long free = model.Device.FreeBytes;
        long fit = (long)(free * MemoryFraction / model.DeviceBytesPerImage);
        if (fit < needed)
        {
            // The free memory these images need (they may take only MemoryFraction of it) against what is free.
            throw new DeviceOutOfMemoryException(
                model.Device.Info.Id, (long)(needed * model.DeviceBytesPerImage / MemoryFraction), free, model.Device.Info.MaxAllocationBytes);
        }

        return fit;
    }

    /// <summary>
    /// The outputs of <paramref name="count"/> images, a micro-batch at a time, in input order.
    /// <paramref name="decode"/> runs on worker threads and writes image i (exactly
    /// <see cref="IStreamModel.ValuesPerImage"/> values) into the span it is given. The stream's
    /// memory is freed when the enumeration ends, also when it is cancelled or a decode fails.
    /// Cancelled, it starts no further micro-batch, yields those already on the device (their
    /// results exist or are moments away: nothing finished is lost), then throws
    /// <see cref="OperationCanceledException"/>. With a <paramref name="profile"/>, it says where the time went.
    /// </summary>
    public static IEnumerable<StreamedBatch> Run(
        IStreamModel model, int count, DecodeInto decode, long tokenBudget, CancellationToken cancel = default, StreamProfile? profile = null)
    {
        // An iterator, as each enumeration takes the plan from its start.
        IReadOnlyList<MicroBatch> plan = Plan(count, model.TokensPerImage, tokenBudget);
        if (plan.Count == 0)
        {
            yield break;
        }

        int taken = 0;
        foreach (StreamedBatch result in RunOnDevice(model, () => taken < plan.Count ? plan[taken++] : null, plan.Max(b => b.Count), decode, cancel, profile))
        {
            yield return result;
        }
    }

    /// <summary>
    /// As <see cref="Run"/>, on several devices at once: one stream per device, each taking the next
    /// micro-batch of one shared plan when it is ready for one (a faster device takes more), their
    /// results yielded in input order (a device runs at most <see cref="RunAheadPerDevice"/> micro-batches
    /// per device ahead of the first one not yet out). The models must map images alike (same
    /// values, tokens and outputs per image); <paramref name="tokenBudget"/> is the plan's, so it must
    /// fit every device. Each result's <see cref="StreamedBatch.DeviceIndex"/> says which model ran it.
    /// Cancelled, every device stops and the finished micro-batches come out up to the first one that
    /// did not finish; a failure on one device stops them all and is thrown once all have let go of
    /// their buffers. With one model this is <see cref="Run"/>.
    /// </summary>
    public static IEnumerable<StreamedBatch> RunOnDevices(
        IReadOnlyList<IStreamModel> models, int count, DecodeInto decode, long tokenBudget, CancellationToken cancel = default, StreamProfile? profile = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(models.Count);
        IStreamModel first = models[0];
        if (models.Any(m => m.ValuesPerImage != first.ValuesPerImage || m.TokensPerImage != first.TokensPerImage || m.OutputsPerImage != first.OutputsPerImage))
        {
            throw new ArgumentException("the models map images differently: a shared plan needs the same values, tokens and outputs per image", nameof(models));
        }

        return models.Count == 1 ? Run(first, count, decode, tokenBudget, cancel, profile) : new MultiDeviceStream(models, Plan(count, first.TokensPerImage, tokenBudget), decode, cancel, profile).Results();
    }

    /// <summary>How many micro-batches per device a device may finish ahead of the first one not yet yielded: bounds the reorder buffer.</summary>
    public const int RunAheadPerDevice = 4;

    /// <summary>
    /// One device's stream over the micro-batches <paramref name="next"/> hands it (null: no more),
    /// yielded in the order it took them; slots hold <paramref name="maxBatch"/> images.
    /// </summary>
    internal static IEnumerable<StreamedBatch> RunOnDevice(
        IStreamModel model, Func<MicroBatch?> next, int maxBatch, DecodeInto decode, CancellationToken cancel, StreamProfile? profile)
    {
        if (next() is not { } firstBatch)
        {
            yield break;
        }

        int pixels = model.ValuesPerImage, outputs = model.OutputsPerImage;
        Device device = model.Device;
        var slots = new Slot?[2];
        var pending = new Queue<(MicroBatch Batch, Slot Slot)>();
        Task? decoding = null;
        DeviceStream? upload = null, compute = null;
        try
        {
            upload = device.CreateStream();
            compute = device.CreateStream();
            for (int s = 0; s < slots.Length; s++)
            {
                slots[s] = new Slot(device, maxBatch * pixels, maxBatch * outputs);
            }

            decoding = Decode(firstBatch, slots[0]!, decode, pixels, profile, cancel);
            bool cancelled = false;
            MicroBatch? current = firstBatch;
            for (int i = 0; current is { } batch; i++)
            {
                Slot slot = slots[i % 2]!;
                long waitStart = Stopwatch.GetTimestamp();
                bool decoded = Decoded(decoding, cancel);
                if (profile is not null)
                {
                    profile.DecodeWaitSeconds += Stopwatch.GetElapsedTime(waitStart).TotalSeconds;
                }

                if (!decoded)
                {
                    cancelled = true;
                    break;
                }

                // The slot's device buffers are free: its last micro-batch (i - 2) was finished below, before this one.
                slot.UploadStarted = upload.RecordEvent();
                slot.Images.UploadAsync(slot.HostImages, upload);
                slot.Uploaded = upload.RecordEvent();
                compute.WaitFor(slot.Uploaded);
                slot.Started = compute.RecordEvent();

                // Micro-batch i + 1 decodes into the other slot once that slot's upload has read it,
                // while this one uploads and computes: started before the forward pass is queued,
                // since a device that runs work as it is queued (the cpu) returns only when it is done.
                current = next();
                if (current is { } following)
                {
                    decoding = Decode(following, slots[(i + 1) % 2]!, decode, pixels, profile, cancel);
                }

                try
                {
                    model.Forward(slot.Images.View(0, (long)batch.Count * pixels), slot.Outputs.View(0, (long)batch.Count * outputs), batch.Count, compute, cancel);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    // Stopped part-way (the cpu runs a pass as it is queued): this micro-batch has no results; the ones before it do.
                    cancelled = true;
                    break;
                }

                slot.Done = compute.RecordEvent();
                slot.Outputs.DownloadAsync(slot.HostOutputs, compute);
                slot.Downloaded = compute.RecordEvent();
                pending.Enqueue((batch, slot));

                // Results come out one micro-batch behind, so the device always has work queued; one
                // already finished (on a device that runs work as it is queued, the cpu, every one is)
                // comes out at once rather than after the next micro-batch's pass.
                while (pending.Count == 2 || (pending.Count == 1 && pending.Peek().Slot.Downloaded!.IsComplete))
                {
                    (MicroBatch done, Slot doneSlot) = pending.Dequeue();
                    yield return doneSlot.Finish(done, outputs, profile);
                }
            }

            while (pending.TryDequeue(out var last))
            {
                yield return last.Slot.Finish(last.Batch, outputs, profile);
            }

            if (cancelled)
            {
                throw new OperationCanceledException(cancel);
            }
        }
        finally
        {
            // Workers and queued work may still use the buffers: let both finish before freeing them.
            try
            {
                decoding?.Wait(CancellationToken.None);
            }
            catch (AggregateException)
            {
                // Already reported by the await above, or moot once the stream is abandoned.
            }

            compute?.Synchronize();
            upload?.Synchronize();
            foreach (Slot? slot in slots)
            {
                slot?.Dispose();
            }

            compute?.Dispose();
            upload?.Dispose();
        }
    }

    /// <summary>Waits for a micro-batch's decode: false when the stream is cancelled (a decode's own failure is thrown).</summary>
    private static bool Decoded(Task decoding, CancellationToken cancel)
    {
        try
        {
            decoding.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return false;
        }

        return !cancel.IsCancellationRequested;
    }

    /// <summary>Writes image <c>index</c>'s values into <c>destination</c>; called from worker threads.</summary>
    public delegate void DecodeInto(int index, Span<float> destination);

    private static Task Decode(MicroBatch batch, Slot slot, DecodeInto decode, int pixels, StreamProfile? profile, CancellationToken cancel) =>
        Task.Run(() =>
        {
            // The slot's host images are still being read by its previous upload until that completes.
            slot.Uploaded?.Synchronize();
            long start = Stopwatch.GetTimestamp();
            ForEachImage(batch.Count, cancel, k => decode(batch.First + k, slot.HostImages.Span.Slice(k * pixels, pixels)));
            profile?.AddDecode(Stopwatch.GetTimestamp() - start);
        }, cancel);

    /// <summary>
    /// <paramref name="work"/> for images 0 … count − 1 on all cores. If any fail, the first in
    /// input order is thrown as itself (its message names the file), whichever failed first in time.
    /// </summary>
    public static void ForEachImage(int count, CancellationToken cancel, Action<int> work)
    {
        var failures = new Exception?[count];
        Parallel.For(0, count, new ParallelOptions { CancellationToken = cancel }, i =>
        {
            try
            {
                work(i);
            }
            catch (Exception e)
            {
                failures[i] = e;
            }
        });
        if (failures.FirstOrDefault(e => e is not null) is { } first)
        {
            ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>One of the two sets of buffers the stream alternates between, with the events of its last micro-batch.</summary>
    private sealed class Slot : IDisposable
    {
        public Slot(Device device, int imageValues, int outputValues)
        {
            try
            {
                HostImages = device.AllocatePinned<float>(imageValues);
                Images = device.Allocate<float>(imageValues);
                Outputs = device.Allocate<float>(outputValues);
                HostOutputs = device.AllocatePinned<float>(outputValues);
            }
            catch
            {
                // What was allocated before the failure goes back now, not when the device closes.
                Dispose();
                throw;
            }
        }

        public PinnedBuffer<float> HostImages { get; } = null!;
        public DeviceBuffer<float> Images { get; } = null!;
        public DeviceBuffer<float> Outputs { get; } = null!;
        public PinnedBuffer<float> HostOutputs { get; } = null!;

        public DeviceEvent? Uploaded
        {
            get;
            set
            {
                field?.Dispose();
                field = value;
            }
        }

        public DeviceEvent? UploadStarted { get; set; }
        public DeviceEvent? Started { get; set; }
        public DeviceEvent? Done { get; set; }
        public DeviceEvent? Downloaded { get; set; }

        public StreamedBatch Finish(MicroBatch batch, int outputs, StreamProfile? profile)
        {
            long waitStart = Stopwatch.GetTimestamp();
            Downloaded!.Synchronize();
            double seconds = Done!.ElapsedMillisecondsSince(Started!) / 1e3;
            if (profile is not null)
            {
                profile.DeviceWaitSeconds += Stopwatch.GetElapsedTime(waitStart).TotalSeconds;
                profile.FirstOutputTimestamp ??= Stopwatch.GetTimestamp();
                profile.FirstComputeSeconds = profile.MicroBatches == 0 ? seconds : profile.FirstComputeSeconds;
                profile.MicroBatches++;
                profile.ComputeSeconds += seconds;
                profile.DownloadSeconds += Downloaded.ElapsedMillisecondsSince(Done) / 1e3;

                // The upload's events are on the other stream: complete, as the compute waited for them.
                profile.UploadSeconds += Uploaded!.ElapsedMillisecondsSince(UploadStarted!) / 1e3;
            }

            float[] values = HostOutputs.Span[..(batch.Count * outputs)].ToArray();
            DisposeEvents(uploaded: false);
            return new StreamedBatch(batch, values, outputs, seconds);
        }

        public void Dispose()
        {
            DisposeEvents(uploaded: true);
            HostImages?.Dispose();
            Images?.Dispose();
            Outputs?.Dispose();
            HostOutputs?.Dispose();
        }

        private void DisposeEvents(bool uploaded)
        {
            if (uploaded)
            {
                Uploaded = null;
            }

            foreach (DeviceEvent? e in new[] { UploadStarted, Started, Done, Downloaded })
            {
                e?.Dispose();
            }

            (UploadStarted, Started, Done, Downloaded) = (null, null, null, null);
        }
    }
}
