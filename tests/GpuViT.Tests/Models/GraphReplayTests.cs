using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Models.Vit;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Models;

/// <summary>
/// Graphs: <see cref="Device.Capture"/> on every backend (a CUDA graph on cuda, the work requeued
/// elsewhere, the fallback where a capture fails), and the ViT's forward pass captured once per
/// (batch, buffers, stream) and replayed. The cache's keys, its bound and what it releases are
/// checked on <see cref="GraphRecordingDevice"/>, which records launches as CUDA does and fails a
/// capture that allocates or synchronizes; the cuda rows run the real thing on a GPU machine.
/// </summary>
public sealed class GraphReplayTests(TestDevices devices) : IClassFixture<TestDevices>
{
    /// <summary>Two blocks, so that a replay carries x from one block into the next.</summary>
    private static readonly VitConfig Config = VitPresets.VitTestTiny;

    [Theory]
    [InlineData(TestBackends.Cpu)]
    [InlineData(TestBackends.Emulator)]
    [InlineData(TestBackends.OpenCL)]
    [InlineData(TestBackends.Cuda)]
    public void Graphs_are_cudas_alone(string backend)
    {
        Assert.Equal(backend == TestBackends.Cuda, devices.Device(backend).Info.Capabilities.HasGraphs);
    }

    [Fact]
    public void Every_CUDA_capability_has_graphs_and_none_has_none()
    {
        Assert.True(DeviceCapabilities.Cuda(7, 5).HasGraphs);
        Assert.True(DeviceCapabilities.Cuda(9, 0).HasGraphs);
        Assert.False(DeviceCapabilities.None.HasGraphs);
    }

    [Theory]
    [InlineData(TestBackends.Emulator)]
    [InlineData(TestBackends.OpenCL)]
    [InlineData(TestBackends.Cuda)]
    public void A_captured_gemm_reads_its_buffers_at_each_launch(string backend)
    {
        Device device = devices.Device(backend);
        TransformerOps ops = devices.Ops(backend);
        const int M = 5, N = 7, K = 9;
        using DeviceBuffer<float> w = device.Upload<float>(TestData.Random(N * K, 1));
        using DeviceBuffer<float> x = device.Allocate<float>(M * K);
        using DeviceBuffer<float> y = device.Allocate<float>(M * N);
        using DeviceBuffer<float> expected = device.Allocate<float>(M * N);
        using DeviceStream stream = device.CreateStream();

        // Warm: the kernel is built and the ops' placeholder buffer made before the capture.
        x.Upload(TestData.Random(M * K, 2));
        ops.Gemm(x, w, null, null, expected, M, N, K, Activation.Gelu, stream);
        stream.Synchronize();

        using DeviceGraph graph = device.Capture(stream, s => ops.Gemm(x, w, null, null, y, M, N, K, Activation.Gelu, s));
        Assert.Equal(backend == TestBackends.Cuda, graph.IsGraph);
        Assert.Equal(graph.IsGraph, graph.FallbackReason is null);
        for (int seed = 3; seed < 6; seed++)
        {
            x.Upload(TestData.Random(M * K, seed));
            graph.Launch(stream);
            ops.Gemm(x, w, null, null, expected, M, N, K, Activation.Gelu, stream);
            stream.Synchronize();
            Assert.Equal(expected.ToArray(), y.ToArray());
        }
    }

    [Theory]
    [InlineData(TestBackends.Emulator)]
    [InlineData(TestBackends.OpenCL)]
    [InlineData(TestBackends.Cuda)]
    public void A_capture_that_synchronizes_falls_back_to_requeuing_and_a_bad_argument_is_rethrown(string backend)
    {
        Device device = devices.Device(backend);
        TransformerOps ops = devices.Ops(backend);
        const int Rows = 3, Columns = 6;
        using DeviceBuffer<float> x = device.Upload<float>(TestData.Random(Rows * Columns, 7));
        using DeviceBuffer<float> gamma = device.Upload<float>(TestData.Random(Columns, 8));
        using DeviceBuffer<float> beta = device.Upload<float>(TestData.Random(Columns, 9));
        using DeviceBuffer<float> y = device.Allocate<float>(Rows * Columns);
        using DeviceBuffer<float> expected = device.Allocate<float>(Rows * Columns);
        using DeviceStream stream = device.CreateStream();
        ops.LayerNorm(x, gamma, beta, expected, Rows, Columns, 1e-5f, stream);
        stream.Synchronize();

        // On cuda, cuStreamSynchronize inside the capture is refused and invalidates it: the
        // capture is ended and released, and each launch queues the work again.
        using DeviceGraph graph = device.Capture(stream, s =>
        {
            ops.LayerNorm(x, gamma, beta, y, Rows, Columns, 1e-5f, s);
            s.Synchronize();
        });
        Assert.False(graph.IsGraph);
        Assert.NotNull(graph.FallbackReason);
        if (backend == TestBackends.Cuda)
        {
            Assert.Contains("cuStreamSynchronize", graph.FallbackReason);
        }

        graph.Launch(stream);
        stream.Synchronize();
        Assert.Equal(expected.ToArray(), y.ToArray());

        // Not a driver error: a capture ends and rethrows it, and the stream works as before;
        // without graphs the work first runs at the launch, and throws there.
        DeviceGraph Bad() => device.Capture(stream, s => ops.LayerNorm(x, gamma, beta, y, Rows, Columns + 100, 1e-5f, s));
        if (device.Info.Capabilities.HasGraphs)
        {
            Assert.ThrowsAny<ArgumentException>(Bad);
        }
        else
        {
            using DeviceGraph bad = Bad();
            Assert.ThrowsAny<ArgumentException>(() => bad.Launch(stream));
        }

        ops.LayerNorm(x, gamma, beta, y, Rows, Columns, 1e-5f, stream);
        stream.Synchronize();
        Assert.Equal(expected.ToArray(), y.ToArray());
    }

    [Theory]
    [InlineData(TestBackends.Cpu)]
    [InlineData(TestBackends.Emulator)]
    [InlineData(TestBackends.OpenCL)]
    [InlineData(TestBackends.Cuda)]
    public void Repeated_passes_in_the_same_buffers_give_the_plain_logits_bit_for_bit(string backend)
    {
        Device device = devices.Device(backend);
        VitWeights weights = VitWeights.RandomInit(Config, 51);
        const int Batch = 2;
        long before = device.Memory.BytesInUse;
        using (VitModel withGraphs = VitModel.Load(device, Config, weights))
        using (VitModel plain = VitModel.Load(device, Config, weights, graphs: false))
        using (DeviceBuffer<float> images = device.Allocate<float>(Batch * PixelsPerImage))
        using (DeviceBuffer<float> logits = device.Allocate<float>(Batch * Config.Classes))
        using (DeviceBuffer<float> plainLogits = device.Allocate<float>(Batch * Config.Classes))
        {
            Assert.Equal(backend == TestBackends.Cuda, withGraphs.UsesGraphs);
            Assert.False(plain.UsesGraphs);
            for (int seed = 0; seed < 4; seed++)
            {
                images.Upload(TestData.Random(Batch * PixelsPerImage, 60 + seed, -2f, 2f));
                withGraphs.Forward(images, logits, Batch);
                plain.Forward(images, plainLogits, Batch);
                device.Synchronize();
                Assert.Equal(plainLogits.ToArray(), logits.ToArray());
            }

            // cuda: the first pass warms, the second is captured and launched, the next two replay.
            VitGraphStatistics expected = backend == TestBackends.Cuda ? new(1, 3, 1, null) : new(0, 0, 0, null);
            Assert.Equal(expected, withGraphs.GraphStatistics);
            Assert.Equal(new VitGraphStatistics(0, 0, 0, null), plain.GraphStatistics);
        }

        Assert.Equal(before, device.Memory.BytesInUse);
    }

    [Fact]
    public void The_second_pass_is_captured_without_allocating_or_synchronizing_and_later_ones_replay()
    {
        using var device = new GraphRecordingDevice();
        VitWeights weights = VitWeights.RandomInit(Config, 52);
        using VitModel model = VitModel.Load(device, Config, weights);
        using VitModel plain = VitModel.Load(device, Config, weights, graphs: false);
        const int Batch = 2;
        using DeviceBuffer<float> images = device.Allocate<float>(Batch * PixelsPerImage);
        using DeviceBuffer<float> logits = device.Allocate<float>(Batch * Config.Classes);
        using DeviceBuffer<float> plainLogits = device.Allocate<float>(Batch * Config.Classes);
        Assert.True(model.UsesGraphs);

        int kernelsPerPass = 0;
        for (int pass = 0; pass < 4; pass++)
        {
            images.Upload(TestData.Random(Batch * PixelsPerImage, 70 + pass, -2f, 2f));
            int kernelsBefore = device.KernelsRun;
            model.Forward(images, logits, Batch);
            int kernels = device.KernelsRun - kernelsBefore;
            plain.Forward(images, plainLogits, Batch);
            Assert.Equal(plainLogits.ToArray(), logits.ToArray());

            // Every pass runs the same kernels, plainly (pass 0) or from the graph.
            kernelsPerPass = pass == 0 ? kernels : kernelsPerPass;
            Assert.Equal(kernelsPerPass, kernels);
            Assert.Equal(pass == 0 ? 0 : 1, device.Captures);
            Assert.Equal(pass, device.GraphLaunches);
        }

        Assert.Equal(0, device.CaptureViolations);
        Assert.Equal(new VitGraphStatistics(1, 3, 1, null), model.GraphStatistics);
        Assert.True(kernelsPerPass > 2 * Config.Depth, $"{kernelsPerPass} kernels per pass");
    }

    [Fact]
    public void A_new_batch_buffer_or_stream_is_a_new_graph_and_the_same_ones_replay()
    {
        using var device = new GraphRecordingDevice();
        using VitModel model = VitModel.Load(device, Config, VitWeights.RandomInit(Config, 53));
        using DeviceBuffer<float> images = device.Upload<float>(TestData.Random(3 * PixelsPerImage, 54, -2f, 2f));
        using DeviceBuffer<float> logits = device.Allocate<float>(3 * Config.Classes);
        using DeviceBuffer<float> otherLogits = device.Allocate<float>(3 * Config.Classes);
        DeviceStream other = device.CreateStream();

        // Batch 3 first, so that the smaller batches reuse its activations (no graph is dropped for growth).
        void Twice(int batch, DeviceBuffer<float> output, DeviceStream? stream)
        {
            model.Forward(images, output, batch, stream);
            model.Forward(images, output, batch, stream);
        }

        Twice(3, logits, null);
        Assert.Equal(1, device.Captures);
        Twice(1, logits, null);
        Assert.Equal(2, device.Captures);
        Twice(1, otherLogits, null);
        Assert.Equal(3, device.Captures);
        Twice(1, otherLogits, other);
        Assert.Equal(4, device.Captures);

        // The same four again: replays only.
        int launches = device.GraphLaunches;
        Twice(3, logits, null);
        Twice(1, logits, null);
        Twice(1, otherLogits, null);
        Twice(1, otherLogits, other);
        Assert.Equal(4, device.Captures);
        Assert.Equal(launches + 8, device.GraphLaunches);

        // A view of other elements of the same buffer is other work.
        model.Forward(images.View(PixelsPerImage, PixelsPerImage), logits, 1);
        model.Forward(images.View(PixelsPerImage, PixelsPerImage), logits, 1);
        Assert.Equal(5, device.Captures);

        // At most MaxGraphs are kept: the least recently used (batch 3) went, and comes back by a warm pass and a capture.
        Assert.Equal(VitModel.MaxGraphs, model.GraphStatistics.Graphs);
        Assert.Equal(VitModel.MaxGraphs, device.OpenGraphs);
        launches = device.GraphLaunches;
        model.Forward(images, logits, 3);
        Assert.Equal(launches, device.GraphLaunches);
        model.Forward(images, logits, 3);
        Assert.Equal(6, device.Captures);
        Assert.Equal(0, device.CaptureViolations);
    }

    [Fact]
    public void A_warm_pass_that_replaces_the_ops_scratch_drops_the_graphs_that_point_at_it()
    {
        // Split-K partial sums are largest at small batches: on 8 compute units, the bf16 MLP
        // down-projection (k = 1024, 32 slices) splits 4 ways at batch 4 (2 groups) and 8 ways at
        // batch 3 (1 group), 17,408 floats against 26,112. Batch 3's warm pass therefore frees the
        // partials buffer batch 4's graph was captured with, while the activations (kept for the
        // largest batch) stay: that graph must go, or its replay reads freed memory.
        using var device = new GraphRecordingDevice(computeUnits: 8);
        VitConfig config = VitPresets.VitTestTiny with { Width = 64, Heads = 1, MlpWidth = 1024, Depth = 1 };
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, 71), precision: Precision.Bf16);
        using VitModel plain = VitModel.Load(device, config, VitWeights.RandomInit(config, 71), precision: Precision.Bf16, graphs: false);
        int pixels = config.Channels * config.ImageSize * config.ImageSize;
        using DeviceBuffer<float> images = device.Upload<float>(TestData.Random(4 * pixels, 72, -2f, 2f));
        using DeviceBuffer<float> logits = device.Allocate<float>(4 * config.Classes);
        using DeviceBuffer<float> otherLogits = device.Allocate<float>(4 * config.Classes);

        model.Forward(images, logits, 4);
        model.Forward(images, logits, 4);
        Assert.Equal(1, device.Captures);
        model.Forward(images, otherLogits, 3);
        Assert.Equal(0, model.GraphStatistics.Graphs);

        // Batch 4 again: a warm pass and a new capture, not a replay of the stale graph; and its logits are right.
        int launches = device.GraphLaunches;
        model.Forward(images, logits, 4);
        Assert.Equal(launches, device.GraphLaunches);
        model.Forward(images, logits, 4);
        Assert.Equal(2, device.Captures);
        Assert.Equal(plain.Forward(images.ToArray(), 4), logits.ToArray());
        Assert.Equal(0, device.CaptureViolations);
    }

    [Fact]
    public void Growing_the_activations_or_disposing_a_buffer_or_the_model_releases_graphs_and_memory()
    {
        using var device = new GraphRecordingDevice();
        long before = device.Memory.BytesInUse;
        VitModel model = VitModel.Load(device, Config, VitWeights.RandomInit(Config, 55));
        DeviceBuffer<float> images = device.Upload<float>(TestData.Random(3 * PixelsPerImage, 56, -2f, 2f));
        DeviceBuffer<float> logits = device.Allocate<float>(3 * Config.Classes);
        model.Forward(images, logits, 1);
        model.Forward(images, logits, 1);
        Assert.Equal(1, device.OpenGraphs);

        // Batch 3 needs larger activations: the batch-1 graph pointed at the old ones and goes.
        model.Forward(images, logits, 3);
        Assert.Equal(0, device.OpenGraphs);
        model.Forward(images, logits, 3);
        Assert.Equal(1, device.OpenGraphs);

        // A graph whose buffers were disposed goes at the next call.
        using DeviceBuffer<float> otherLogits = device.Allocate<float>(3 * Config.Classes);
        logits.Dispose();
        model.Forward(images, otherLogits, 3);
        Assert.Equal(0, device.OpenGraphs);
        model.Forward(images, otherLogits, 3);
        Assert.Equal(1, device.OpenGraphs);

        otherLogits.Dispose();
        images.Dispose();
        model.Dispose();
        Assert.Equal(0, device.OpenGraphs);
        Assert.Equal(before, device.Memory.BytesInUse);
        Assert.Equal(0, device.CaptureViolations);
    }

    [Fact]
    public void A_refused_capture_runs_plainly_and_says_why()
    {
        using var device = new GraphRecordingDevice { RefuseCaptures = "the driver refused the capture (test)" };
        VitWeights weights = VitWeights.RandomInit(Config, 57);
        using VitModel model = VitModel.Load(device, Config, weights);
        using VitModel plain = VitModel.Load(device, Config, weights, graphs: false);
        using DeviceBuffer<float> images = device.Allocate<float>(PixelsPerImage);
        using DeviceBuffer<float> logits = device.Allocate<float>(Config.Classes);
        using DeviceBuffer<float> plainLogits = device.Allocate<float>(Config.Classes);
        for (int seed = 0; seed < 3; seed++)
        {
            images.Upload(TestData.Random(PixelsPerImage, 80 + seed, -2f, 2f));
            model.Forward(images, logits, 1);
            plain.Forward(images, plainLogits, 1);
            Assert.Equal(plainLogits.ToArray(), logits.ToArray());
        }

        Assert.Equal(new VitGraphStatistics(0, 0, 0, "the driver refused the capture (test)"), model.GraphStatistics);
        Assert.Equal(0, device.GraphLaunches);
    }

    [Fact]
    public void Cancellation_is_checked_before_a_replay_and_graphs_can_be_turned_off()
    {
        using var device = new GraphRecordingDevice();
        VitWeights weights = VitWeights.RandomInit(Config, 58);
        using VitModel model = VitModel.Load(device, Config, weights);
        using DeviceBuffer<float> images = device.Upload<float>(TestData.Random(PixelsPerImage, 59, -2f, 2f));
        using DeviceBuffer<float> logits = device.Allocate<float>(Config.Classes);
        model.Forward(images, logits, 1);
        model.Forward(images, logits, 1);
        int launches = device.GraphLaunches;
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => model.Forward(images, logits, 1, cancel: cancelled.Token));
        Assert.Equal(launches, device.GraphLaunches);

        using VitModel off = VitModel.Load(device, Config, weights, graphs: false);
        off.Forward(images, logits, 1);
        off.Forward(images, logits, 1);
        off.Forward(images, logits, 1);
        Assert.False(off.UsesGraphs);
        Assert.Equal(1, device.Captures);
    }

    [Fact]
    public void Ops_passed_in_are_not_graphed()
    {
        using var device = new GraphRecordingDevice();
        using TransformerOps ops = TransformerOps.For(device);
        using VitModel model = VitModel.Load(device, Config, VitWeights.RandomInit(Config, 61), ops: ops);
        Assert.False(model.UsesGraphs);
    }

    private static int PixelsPerImage => Config.Channels * Config.ImageSize * Config.ImageSize;
}
