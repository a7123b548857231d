using GpuViT.Models.Images;
using GpuViT.Models.Rnn;
using GpuViT.Models.Streaming;
using GpuViT.Models.Vit;
using GpuViT.Tests.Host;

namespace GpuViT.Tests.Models;

/// <summary>
/// The image stream: the token budget, input order, overlap of upload and compute (on a device with
/// truly asynchronous streams), empty and single inputs, failing images, and cancellation.
/// </summary>
public sealed class ImageStreamTests
{
    [Fact]
    public void Plan_keeps_every_micro_batch_within_the_budget_and_covers_the_input_in_order()
    {
        IReadOnlyList<MicroBatch> plan = ImageStream.Plan(count: 7, tokensPerImage: 3, tokenBudget: 10);

        // Three whole images of 3 tokens fit 10; the last micro-batch takes what is left.
        Assert.Equal([new(0, 3, 9), new(3, 3, 9), new(6, 1, 3)], plan);
        Assert.Equal(Enumerable.Range(0, 7), plan.SelectMany(b => Enumerable.Range(b.First, b.Count)));
        Assert.Equal([new(0, 2, 20)], ImageStream.Plan(2, 10, 20));
        Assert.Empty(ImageStream.Plan(0, 3, 10));
        Assert.Throws<ArgumentException>(() => ImageStream.Plan(1, 11, 10));
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
        StreamedBatch[] batches = ImageStream.Run(new VitStreamModel(model), count, (i, image) => images[i].CopyTo(image), 3L * config.Tokens).ToArray();
        float[][] streamed = batches.SelectMany(b => Enumerable.Range(0, b.Batch.Count).Select(k => b.Output(k).ToArray())).ToArray();
        Assert.All(batches, b => Assert.True(b.Batch.Count <= 3));

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

    [Theory]
    [InlineData("cpu")]
    [InlineData("emulator")] // the kernels, launched on the stream's compute queue
    public void The_rnn_through_the_stream_gives_its_own_logits_in_input_order_and_frees_what_it_took(string id)
    {
        using Device device = Devices.Open(id).Device;
        var config = new DenseRnnConfig(8, Classes: 10);
        using DenseRnnModel model = DenseRnnModel.Load(device, config, DenseRnnWeights.RandomInit(config, seed: 3), batch: 2);
        var stream = new RnnStreamModel(model);
        float[][] images = [.. Enumerable.Range(0, 5).Select(seed =>
        {
            var random = new Random(seed);
            return Enumerable.Range(0, stream.ValuesPerImage).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        })];
        model.Forward(new float[2 * stream.ValuesPerImage], 2);
        long before = device.Memory.BytesInUse;

        // Two images per micro-batch: both slots in use, and a short last one that reuses the state of two.
        StreamedBatch[] batches = ImageStream.Run(stream, images.Length, (i, image) => images[i].CopyTo(image), 2 * stream.TokensPerImage).ToArray();

        Assert.Equal([2, 2, 1], batches.Select(b => b.Batch.Count));
        Assert.Equal(before, device.Memory.BytesInUse);
        float[][] streamed = [.. batches.SelectMany(b => Enumerable.Range(0, b.Batch.Count).Select(k => b.Output(k).ToArray()))];
        for (int i = 0; i < images.Length; i++)
        {
            float[] alone = model.Forward(images[i], 1);
            Assert.Equal(alone.Length, streamed[i].Length);
            for (int j = 0; j < alone.Length; j++)
            {
                Assert.Equal(alone[j], streamed[i][j], 1e-5f);
            }
        }
    }

    [Fact]
    public void A_failing_image_is_reported_as_itself_and_the_memory_comes_back()
    {
        using Device device = Devices.Open("emulator").Device;
        VitConfig config = VitPresets.Get("vit_test_tiny");
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, seed: 3));
        int pixels = config.Channels * config.ImageSize * config.ImageSize;
        model.Forward(new float[pixels], 1);
        long before = device.Memory.BytesInUse;

        var e = Assert.Throws<InputException>(() => ImageStream.Run(new VitStreamModel(model), 3, (i, _) =>
        {
            if (i == 1)
            {
                throw new InputException("b.png: the image is 20×10, not 16×16, and resizing is off");
            }
        }, config.Tokens).ToArray());

        Assert.StartsWith("b.png:", e.Message);
        Assert.Equal(before, device.Memory.BytesInUse);
    }

    [Fact]
    public void Upload_of_the_next_micro_batch_is_in_flight_while_the_previous_one_computes()
    {
        using var device = new SlowAsyncDevice { UploadDelay = TimeSpan.FromMilliseconds(40) };
        var model = new SlowSumModel(device, valuesPerImage: 4) { ComputeDelay = TimeSpan.FromMilliseconds(40) };
        int decoded = 0;

        // A slow source too: decoding is on worker threads and must not hold up the device.
        var results = ImageStream.Run(model, 6, (i, image) =>
        {
            Thread.Sleep(10);
            Interlocked.Increment(ref decoded);
            image.Fill(i);
        }, model.TokensPerImage).ToArray();

        // In order, and each image's own result: image i is four values of i.
        Assert.Equal(Enumerable.Range(0, 6).Select(i => 4f * i), results.SelectMany(r => r.Outputs));
        var uploads = device.Log.Where(e => e.What == "upload").ToDictionary(e => e.Index);
        var computes = device.Log.Where(e => e.What == "compute").ToDictionary(e => e.Index);
        Assert.Equal(6, uploads.Count);
        Assert.Equal(6, computes.Count);

        // Upload i + 1 overlaps compute i for some i: both in flight at once, on different queues.
        int overlapping = Enumerable.Range(0, 5).Count(i => uploads[i + 1].Start < computes[i].End && computes[i].Start < uploads[i + 1].End);
        Assert.True(overlapping >= 3, $"upload i+1 overlapped compute i for only {overlapping} of 5 micro-batches");

        // And no compute started before its own upload ended.
        Assert.All(Enumerable.Range(0, 6), i => Assert.True(computes[i].Start >= uploads[i].End));
        Assert.Equal(6, decoded);
    }

    [Fact]
    public void Micro_batches_never_exceed_the_token_budget()
    {
        using var device = new SlowAsyncDevice { UploadDelay = TimeSpan.Zero };
        var model = new SlowSumModel(device, valuesPerImage: 2, tokensPerImage: 10) { ComputeDelay = TimeSpan.Zero };

        StreamedBatch[] results = ImageStream.Run(model, 11, (i, image) => image.Fill(1), tokenBudget: 35).ToArray();

        Assert.Equal([3, 3, 3, 2], model.Counts);
        Assert.Equal([3, 3, 3, 2], results.Select(r => r.Batch.Count));
        Assert.All(results, r => Assert.True(r.Batch.Tokens <= 35));
        Assert.Equal(Enumerable.Repeat(2f, 11), results.SelectMany(r => r.Outputs));
    }

    [Fact]
    public void Token_budget_comes_from_the_free_memory_in_whole_images()
    {
        // 1 MB of memory, 8,040 bytes an image: half the memory holds 62 images of 10 tokens.
        using var device = new SlowAsyncDevice(memoryBytes: 1_000_000);
        var model = new SlowSumModel(device, valuesPerImage: 1004, tokensPerImage: 10);
        Assert.Equal(8_040, model.DeviceBytesPerImage);

        Assert.Equal(620, ImageStream.TokenBudget(model));
        Assert.Equal(200, ImageStream.TokenBudget(model, maxTokens: 205));
        Assert.Equal(620, ImageStream.TokenBudget(model, images: 62));
        var tooMany = Assert.Throws<DeviceOutOfMemoryException>(() => ImageStream.TokenBudget(model, images: 63));
        Assert.Equal(2 * 63 * 8_040, tooMany.RequestedBytes);

        // Memory in use is not free: with 900 kB taken, 6 images fit in half the rest.
        using DeviceBuffer<float> taken = device.Allocate<float>(225_000);
        Assert.Equal(60, ImageStream.TokenBudget(model));
        using DeviceBuffer<float> more = device.Allocate<float>(24_000);
        Assert.Throws<DeviceOutOfMemoryException>(() => ImageStream.TokenBudget(model));
    }

    [Fact]
    public void Cancellation_stops_the_stream_and_gives_back_device_and_pinned_memory()
    {
        using var device = new SlowAsyncDevice { UploadDelay = TimeSpan.FromMilliseconds(5) };
        var model = new SlowSumModel(device, valuesPerImage: 16) { ComputeDelay = TimeSpan.FromMilliseconds(5) };
        using var cancel = new CancellationTokenSource();
        var received = new List<StreamedBatch>();

        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (StreamedBatch result in ImageStream.Run(model, 20, (i, image) => image.Fill(i), model.TokensPerImage, cancel.Token))
            {
                received.Add(result);
                cancel.Cancel();
            }
        });

        // The micro-batch already on the device when it was cancelled finishes and comes out too.
        Assert.Equal([0f, 16f], received.Select(r => r.Outputs[0]));
        Assert.Equal(0, device.Memory.BytesInUse);
        Assert.Equal(0, device.LivePinnedBuffers);
    }

    [Fact]
    public void Cancelled_during_a_pass_that_runs_as_it_is_queued_the_stream_stops_between_layers_and_keeps_what_finished()
    {
        // The cpu runs a pass as it is queued, so a pass can take seconds: cancelled in the second
        // micro-batch's pass, the stream must stop at the next layer, not after the pass, and still
        // hand out the first micro-batch, whose results exist.
        using Device cpu = Devices.Open("cpu").Device;
        var model = new LayeredModel(cpu, layers: 50, layerTime: TimeSpan.FromMilliseconds(2));
        using var cancel = new CancellationTokenSource();
        model.LayerDone = (call, layer) =>
        {
            if (call == 2 && layer == 2)
            {
                cancel.Cancel();
            }
        };
        var received = new List<StreamedBatch>();

        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (StreamedBatch result in ImageStream.Run(model, 6, (i, image) => image.Fill(i), 2 * model.TokensPerImage, cancel.Token))
            {
                received.Add(result);
            }
        });

        // The first pass ran whole; the second stopped after its third layer; no third pass began.
        Assert.Equal([50, 3], model.LayersRun);
        Assert.Equal([0f, 1f], received.Single().Outputs);
    }

    [Fact]
    public void On_a_device_that_runs_work_as_it_is_queued_each_micro_batch_comes_out_before_the_next_pass()
    {
        // Holding finished results back one micro-batch gains nothing on the cpu (the pass is done
        // when it returns) and left `run`'s progress at 0 % for a whole extra pass.
        using Device cpu = Devices.Open("cpu").Device;
        var model = new LayeredModel(cpu, layers: 1, layerTime: TimeSpan.Zero);
        var passesBefore = new List<int>();
        foreach (StreamedBatch result in ImageStream.Run(model, 6, (i, image) => image.Fill(i), 2 * model.TokensPerImage))
        {
            passesBefore.Add(model.LayersRun.Count);
        }

        Assert.Equal([1, 2, 3], passesBefore);
    }

    [Fact]
    public void Two_devices_share_one_plan_the_faster_takes_more_and_results_come_out_in_input_order()
    {
        using Device fastDevice = Devices.Open("cpu").Device;
        using Device slowDevice = Devices.Open("cpu").Device;
        var fast = new LayeredModel(fastDevice, layers: 1, layerTime: TimeSpan.FromMilliseconds(1));
        var slow = new LayeredModel(slowDevice, layers: 1, layerTime: TimeSpan.FromMilliseconds(40));
        StartTogether(fast, slow);

        // 20 micro-batches of 2 images; each model copies its inputs, so output i is image i's value.
        StreamedBatch[] batches = ImageStream.RunOnDevices([fast, slow], 40, (i, image) => image.Fill(i), 2 * fast.TokensPerImage).ToArray();

        Assert.Equal(Enumerable.Range(0, 40).Select(i => (float)i), batches.SelectMany(b => b.Outputs));
        Assert.Equal(Enumerable.Range(0, 20).Select(b => 2 * b), batches.Select(b => b.Batch.First));
        int byFast = batches.Count(b => b.DeviceIndex == 0), bySlow = batches.Count(b => b.DeviceIndex == 1);
        Assert.Equal(fast.LayersRun.Count, byFast);
        Assert.Equal(slow.LayersRun.Count, bySlow);
        Assert.True(bySlow >= 1, "the slow device did no micro-batch");
        Assert.True(bySlow < byFast, $"the slow device did {bySlow} micro-batches, the fast one {byFast}");
        Assert.Equal(0, fastDevice.Memory.BytesInUse);
        Assert.Equal(0, slowDevice.Memory.BytesInUse);
    }

    /// <summary>
    /// The fast model's first pass waits until the slow one's has begun, so that the slow device
    /// surely takes a micro-batch: on a loaded machine its thread could otherwise start after the
    /// fast one had taken the whole plan.
    /// </summary>
    private static void StartTogether(LayeredModel fast, LayeredModel slow)
    {
        var slowStarted = new ManualResetEventSlim();
        slow.BeforePass = slowStarted.Set;
        fast.BeforePass = () => Assert.True(slowStarted.Wait(TimeSpan.FromSeconds(30)), "the slow device never began a pass");
    }

    [Fact]
    public void A_device_runs_at_most_a_few_micro_batches_ahead_of_a_slow_one_that_holds_the_next_in_order()
    {
        using Device fastDevice = Devices.Open("cpu").Device;
        using Device slowDevice = Devices.Open("cpu").Device;
        var fast = new LayeredModel(fastDevice, layers: 1, layerTime: TimeSpan.Zero);
        var slow = new LayeredModel(slowDevice, layers: 1, layerTime: TimeSpan.FromMilliseconds(300));
        StartTogether(fast, slow);
        int? fastPassesWhenSlowFinished = null, slowIndex = null;

        foreach (StreamedBatch result in ImageStream.RunOnDevices([fast, slow], 60, (i, image) => image.Fill(i), fast.TokensPerImage))
        {
            if (result.DeviceIndex == 1 && slowIndex is null)
            {
                (slowIndex, fastPassesWhenSlowFinished) = (result.Batch.First, fast.LayersRun.Count);
            }
        }

        // While the slow device held micro-batch k, the fast one could finish k plus the reorder
        // buffer's run-ahead, and start one more; unbounded, it would have done all the other 59.
        int bound = slowIndex!.Value + (ImageStream.RunAheadPerDevice * 2) + 2;
        Assert.InRange(fastPassesWhenSlowFinished!.Value, 1, bound);
    }

    [Fact]
    public void Cancelled_on_two_devices_the_stream_keeps_an_in_order_prefix_and_gives_back_both_devices_memory()
    {
        using var one = new SlowAsyncDevice { UploadDelay = TimeSpan.FromMilliseconds(2) };
        using var two = new SlowAsyncDevice { UploadDelay = TimeSpan.FromMilliseconds(2) };
        SlowSumModel[] models = [new(one, valuesPerImage: 16) { ComputeDelay = TimeSpan.FromMilliseconds(5) }, new(two, valuesPerImage: 16) { ComputeDelay = TimeSpan.FromMilliseconds(9) }];
        using var cancel = new CancellationTokenSource();
        var received = new List<StreamedBatch>();

        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (StreamedBatch result in ImageStream.RunOnDevices(models, 40, (i, image) => image.Fill(i), models[0].TokensPerImage, cancel.Token))
            {
                received.Add(result);
                if (received.Count == 3)
                {
                    cancel.Cancel();
                }
            }
        });

        // Image i sums to 16 i; whatever finished after the cancel comes out too, without a gap, and not all 40.
        Assert.InRange(received.Count, 3, 39);
        Assert.Equal(Enumerable.Range(0, received.Count).Select(i => 16f * i), received.Select(r => r.Outputs[0]));
        Assert.All(new[] { one, two }, device =>
        {
            Assert.Equal(0, device.Memory.BytesInUse);
            Assert.Equal(0, device.LivePinnedBuffers);
        });
    }

    [Fact]
    public void A_failure_on_one_of_two_devices_stops_both_is_thrown_as_itself_and_frees_both()
    {
        using var one = new SlowAsyncDevice { UploadDelay = TimeSpan.FromMilliseconds(1) };
        using var two = new SlowAsyncDevice { UploadDelay = TimeSpan.FromMilliseconds(1) };
        SlowSumModel[] models = [new(one, valuesPerImage: 4) { ComputeDelay = TimeSpan.FromMilliseconds(2) }, new(two, valuesPerImage: 4) { ComputeDelay = TimeSpan.FromMilliseconds(2) }];

        var e = Assert.Throws<InvalidDataException>(() => ImageStream.RunOnDevices(models, 30, (i, image) =>
        {
            image.Fill(i);
            if (i == 11)
            {
                throw new InvalidDataException("image 11 is broken");
            }
        }, models[0].TokensPerImage).ToArray());

        Assert.Equal("image 11 is broken", e.Message);
        Assert.True(models.Sum(m => m.Counts.Count) < 30, "the devices went on after the failure");
        Assert.All(new[] { one, two }, device =>
        {
            Assert.Equal(0, device.Memory.BytesInUse);
            Assert.Equal(0, device.LivePinnedBuffers);
        });
    }

    /// <summary>A model on a device that runs work as it is queued: each pass is <c>layers</c> steps of <c>layerTime</c>, checking for cancellation between them, as VitModel does between blocks.</summary>
    private sealed unsafe class LayeredModel(Device device, int layers, TimeSpan layerTime) : IStreamModel
    {
        public Action<int, int> LayerDone { get; set; } = (_, _) => { };

        /// <summary>Called as each pass begins, before its layers.</summary>
        public Action BeforePass { get; set; } = () => { };

        /// <summary>Layers each pass ran, by pass.</summary>
        public List<int> LayersRun { get; } = [];

        public Device Device => device;

        public int ValuesPerImage => 1;

        public int OutputsPerImage => 1;

        public long TokensPerImage => 1;

        public long DeviceBytesPerImage => 16;

        public void Forward(DeviceView<float> images, DeviceView<float> outputs, int count, DeviceStream stream, CancellationToken cancel)
        {
            BeforePass();
            LayersRun.Add(0);
            for (int layer = 0; layer < layers; layer++)
            {
                cancel.ThrowIfCancellationRequested();
                Thread.Sleep(layerTime);
                LayersRun[^1]++;
                LayerDone(LayersRun.Count, layer);
            }

            float* input = (float*)((IHostMemory)images.Buffer.Memory).Pointer + images.Offset;
            float* output = (float*)((IHostMemory)outputs.Buffer.Memory).Pointer + outputs.Offset;
            Buffer.MemoryCopy(input, output, count * sizeof(float), count * sizeof(float));
        }
    }

    [Fact]
    public void Running_out_of_device_memory_gives_back_what_was_allocated()
    {
        // Room for one slot of 150 values, not two: the second slot fails part-way through.
        using var device = new SlowAsyncDevice(memoryBytes: 1000) { UploadDelay = TimeSpan.Zero };
        var model = new SlowSumModel(device, valuesPerImage: 150);

        Assert.Throws<DeviceOutOfMemoryException>(() => ImageStream.Run(model, 3, (i, image) => image.Fill(i), model.TokensPerImage).ToArray());

        Assert.Equal(0, device.Memory.BytesInUse);
        Assert.Equal(0, device.LivePinnedBuffers);
    }

    [Fact]
    public void An_empty_input_allocates_nothing()
    {
        using var device = new SlowAsyncDevice();
        var model = new SlowSumModel(device, valuesPerImage: 4);

        Assert.Empty(ImageStream.Run(model, 0, (_, _) => throw new InvalidOperationException("nothing to decode"), 100));
        Assert.Equal(0, device.Memory.PeakBytes);
        Assert.Equal(0, device.LivePinnedBuffers);
    }
}
