using GpuViT.Host;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Inputs;
using GpuViT.Models.Vit;
using Xunit;

namespace GpuViT.Tests.Host;

/// <summary>The patch stream: the token budget, input order, empty and single inputs, wrong sizes, and cancellation.</summary>
public sealed class PatchStreamTests
{
    [Fact]
    public void Plan_keeps_every_micro_batch_within_the_budget_and_covers_the_input_in_order()
    {
        long[] tokens = [5, 5, 5, 3, 9, 1, 1];
        IReadOnlyList<MicroBatch> plan = PatchStream.Plan(tokens, 10);

        Assert.All(plan, b => Assert.True(b.Tokens <= 10));
        Assert.Equal(Enumerable.Range(0, tokens.Length), plan.SelectMany(b => Enumerable.Range(b.First, b.Count)));
        Assert.Equal([new(0, 2, 10), new(2, 2, 8), new(4, 2, 10), new(6, 1, 1)], plan);
        Assert.Empty(PatchStream.Plan([], 10));
        Assert.Throws<ArgumentException>(() => PatchStream.Plan([11], 10));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void Stream_gives_the_same_logits_as_one_image_at_a_time_in_input_order(int count)
    {
        using Device device = Devices.Open("cpu").Device;
        VitConfig config = VitPresets.Get("vit_test_tiny");
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, seed: 3));
        float[][] images = Enumerable.Range(0, count).Select(Image).ToArray();

        // A budget of three images' tokens: several micro-batches, both slots in use, a short last one.
        float[][] streamed = PatchStream.Run(model, count, i => images[i], 3L * config.Tokens).ToArray();

        Assert.Equal(count, streamed.Length);
        for (int i = 0; i < count; i++)
        {
            float[] alone = model.Forward(images[i], 1);
            Assert.Equal(alone.Length, streamed[i].Length);
            for (int j = 0; j < alone.Length; j++)
            {
                Assert.Equal(alone[j], streamed[i][j], 1e-4f);
            }
        }

        float[] Image(int seed)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, config.Channels * config.ImageSize * config.ImageSize).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        }
    }

    [Fact]
    public void An_image_of_the_wrong_size_is_a_clear_error_and_frees_the_memory()
    {
        using Device device = Devices.Open("emulator").Device;
        VitConfig config = VitPresets.Get("vit_test_tiny");
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, seed: 3));
        int pixels = config.Channels * config.ImageSize * config.ImageSize;
        model.Forward(new float[pixels], 1);
        long before = device.Memory.BytesInUse;

        var e = Assert.ThrowsAny<Exception>(() => PatchStream.Run(model, 3, i => new float[i == 1 ? pixels / 2 : pixels], config.Tokens).ToArray());

        Assert.Contains("resize", (e as InputException ?? e.InnerException ?? e.GetBaseException()).Message);
        Assert.Equal(before, device.Memory.BytesInUse);
    }

    [Fact]
    public void Cancellation_stops_the_stream_and_frees_its_buffers()
    {
        using Device device = Devices.Open("emulator").Device;
        VitConfig config = VitPresets.Get("vit_test_tiny");
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, seed: 3));
        int pixels = config.Channels * config.ImageSize * config.ImageSize;

        // A pass first, so that the model's own activations are in place before the count.
        model.Forward(new float[pixels], 1);
        long before = device.Memory.BytesInUse;
        using var cancel = new CancellationTokenSource();
        var received = new List<float[]>();

        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (float[] logits in PatchStream.Run(model, 10, _ => new float[pixels], config.Tokens, cancel.Token))
            {
                received.Add(logits);
                cancel.Cancel();
            }
        });

        Assert.Single(received);
        Assert.Equal(before, device.Memory.BytesInUse);
    }
    [Fact]
    public void Decoding_runs_ahead_of_the_results_while_earlier_micro_batches_compute()
    {
        using Device device = Devices.Open("cpu").Device;
        VitConfig config = VitPresets.Get("vit_test_tiny");
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, seed: 3));
        int pixels = config.Channels * config.ImageSize * config.ImageSize;
        int decoded = 0;
        int decodedAtFirstResult = -1;

        // A slow source, one image per micro-batch: by the time micro-batch 0's logits come out,
        // micro-batch 1 is uploaded or computing and micro-batch 2 is being decoded.
        foreach (float[] _ in PatchStream.Run(model, 6, _ =>
        {
            Thread.Sleep(20);
            Interlocked.Increment(ref decoded);
            return new float[pixels];
        }, config.Tokens))
        {
            if (decodedAtFirstResult < 0)
            {
                decodedAtFirstResult = Volatile.Read(ref decoded);
            }
        }

        Assert.True(decodedAtFirstResult >= 2, $"only {decodedAtFirstResult} images decoded when the first result came out");
        Assert.Equal(6, decoded);
    }
}
