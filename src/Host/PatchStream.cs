using GpuViT.Kernels.Runtime;
using GpuViT.Models.Inputs;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>Consecutive images run as one forward pass: the first image's index, how many, and their tokens together.</summary>
public readonly record struct MicroBatch(int First, int Count, long Tokens);

/// <summary>
/// Runs images through a ViT as a stream: micro-batches across images up to a token budget, decoded
/// on worker threads, uploaded on one stream while the previous micro-batch computes on another
/// (two slots, events between them), logits emitted in input order.
/// </summary>
public static class PatchStream
{
    /// <summary>Consecutive images grouped so that no micro-batch holds more than the budget's tokens.</summary>
    public static IReadOnlyList<MicroBatch> Plan(IReadOnlyList<long> tokensPerImage, long tokenBudget)
    {
        var plan = new List<MicroBatch>();
        int first = 0;
        long tokens = 0;
        for (int i = 0; i < tokensPerImage.Count; i++)
        {
            if (tokensPerImage[i] > tokenBudget)
            {
                throw new ArgumentException($"image {i} has {tokensPerImage[i]} tokens, more than the budget of {tokenBudget}");
            }

            if (tokens + tokensPerImage[i] > tokenBudget)
            {
                plan.Add(new MicroBatch(first, i - first, tokens));
                (first, tokens) = (i, 0);
            }

            tokens += tokensPerImage[i];
        }

        if (tokensPerImage.Count > first)
        {
            plan.Add(new MicroBatch(first, tokensPerImage.Count - first, tokens));
        }

        return plan;
    }

    /// <summary>
    /// Logits per image, in input order. <paramref name="decode"/> runs on worker threads and must
    /// return the image as channels × size × size values at the model's size; the device memory the
    /// stream took is freed when the enumeration ends, also on cancellation.
    /// </summary>
    public static IEnumerable<float[]> Run(VitModel model, int count, Func<int, float[]> decode, long tokenBudget, CancellationToken cancel = default)
    {
        VitConfig c = model.Config;
        int pixels = c.Channels * c.ImageSize * c.ImageSize;
        IReadOnlyList<MicroBatch> plan = Plan(Enumerable.Repeat((long)c.Tokens, count).ToArray(), tokenBudget);
        if (plan.Count == 0)
        {
            yield break;
        }

        int maxBatch = plan.Max(b => b.Count);
        Device device = model.Device;
        var slots = new Slot[2];
        DeviceStream? upload = null, compute = null;
        try
        {
            upload = device.CreateStream();
            compute = device.CreateStream();
            for (int s = 0; s < slots.Length; s++)
            {
                slots[s] = new Slot(device, maxBatch * pixels, maxBatch * c.Classes);
            }

            Task<float[][]> next = Decode(plan[0], decode, pixels, cancel);
            for (int i = 0; i < plan.Count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                MicroBatch batch = plan[i];
                Slot slot = slots[i % 2];

                // The slot's previous micro-batch must be done (and its logits out) before its memory is reused.
                if (slot.Pending is { } pending)
                {
                    foreach (float[] logits in slot.Finish(pending, c.Classes))
                    {
                        yield return logits;
                    }
                }

                float[][] images = next.GetAwaiter().GetResult();
                if (i + 1 < plan.Count)
                {
                    next = Decode(plan[i + 1], decode, pixels, cancel);
                }

                for (int k = 0; k < images.Length; k++)
                {
                    images[k].CopyTo(slot.HostImages.Span.Slice(k * pixels, pixels));
                }

                slot.Images.UploadAsync(slot.HostImages, upload);
                using (DeviceEvent uploaded = upload.RecordEvent())
                {
                    compute.WaitFor(uploaded);
                }

                model.Forward(slot.Images.View(0, (long)batch.Count * pixels), slot.Logits.View(0, (long)batch.Count * c.Classes), batch.Count, compute);
                slot.Logits.DownloadAsync(slot.HostLogits, compute);
                slot.Done = compute.RecordEvent();
                slot.Pending = batch;
            }

            // The last two micro-batches, oldest first, so that the order holds.
            foreach (Slot slot in slots.Where(s => s.Pending is not null).OrderBy(s => s.Pending!.Value.First).ToArray())
            {
                foreach (float[] logits in slot.Finish(slot.Pending!.Value, c.Classes))
                {
                    yield return logits;
                }
            }
        }
        finally
        {
            // Queued work may still use the buffers: drain the queues before freeing them.
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

    private static Task<float[][]> Decode(MicroBatch batch, Func<int, float[]> decode, int pixels, CancellationToken cancel) =>
        Task.Run(() =>
        {
            var images = new float[batch.Count][];
            Parallel.For(0, batch.Count, new ParallelOptions { CancellationToken = cancel }, k =>
            {
                float[] image = decode(batch.First + k);
                images[k] = image.Length == pixels
                    ? image
                    : throw new InputException($"image {batch.First + k} has {image.Length} values, not the model's {pixels}: resize it to the model's image size first");
            });
            return images;
        }, cancel);

    /// <summary>One of the two buffers sets the stream alternates between.</summary>
    private sealed class Slot(Device device, int imageValues, int logitValues) : IDisposable
    {
        public PinnedBuffer<float> HostImages { get; } = device.AllocatePinned<float>(imageValues);
        public DeviceBuffer<float> Images { get; } = device.Allocate<float>(imageValues);
        public DeviceBuffer<float> Logits { get; } = device.Allocate<float>(logitValues);
        public PinnedBuffer<float> HostLogits { get; } = device.AllocatePinned<float>(logitValues);
        public DeviceEvent? Done { get; set; }
        public MicroBatch? Pending { get; set; }

        public List<float[]> Finish(MicroBatch batch, int classes)
        {
            Done!.Synchronize();
            Done.Dispose();
            Done = null;
            Pending = null;
            var results = new List<float[]>(batch.Count);
            for (int k = 0; k < batch.Count; k++)
            {
                results.Add(HostLogits.Span.Slice(k * classes, classes).ToArray());
            }

            return results;
        }

        public void Dispose()
        {
            Done?.Dispose();
            HostImages.Dispose();
            Images.Dispose();
            Logits.Dispose();
            HostLogits.Dispose();
        }
    }
}
