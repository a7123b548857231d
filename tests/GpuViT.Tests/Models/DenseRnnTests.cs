using System.Text.Json;
using GpuViT.Host;
using GpuViT.Models.Rnn;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Models;

/// <summary>The dense whole-image RNN: every backend against the dense-matrix reference, the accounting, bad configs, the bench.</summary>
public sealed class DenseRnnTests
{
    public static TheoryData<string, int, int, bool, RnnActivation, RnnReadout> Cases()
    {
        var data = new TheoryData<string, int, int, bool, RnnActivation, RnnReadout>();
        foreach (string backend in new[] { "cpu", "emulator" }.Concat(TestBackends.KernelDevices))
        {
            foreach (bool shared in new[] { false, true })
            {
                // 8: the cpu's eight-image path and its one-image path (one vector); 5: its scalar tails; k=5 wider than half the image.
                data.Add(backend, 8, 3, shared, RnnActivation.Tanh, RnnReadout.Pooled);
                data.Add(backend, 5, 5, shared, RnnActivation.Relu, RnnReadout.PerUnit);
                // 16: the cpu's one-image path with two vectors (the ninth image).
                data.Add(backend, 16, 3, shared, RnnActivation.Relu, RnnReadout.Pooled);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_the_dense_matrix_reference(string backend, int imageSize, int kernel, bool shared, RnnActivation activation, RnnReadout readout)
    {
        var config = new DenseRnnConfig(imageSize, Channels: 4, Kernel: kernel, Steps: 3, Activation: activation, Classes: 5, Readout: readout, Shared: shared);
        DenseRnnWeights weights = DenseRnnWeights.RandomInit(config, seed: 3);
        const int batch = 9;
        var random = new Random(4);
        float[] images = [.. Enumerable.Range(0, batch * 3 * config.Positions).Select(_ => (float)random.NextDouble() * 2 - 1)];

        using Device device = TestBackends.Open(backend);
        using DenseRnnModel model = DenseRnnModel.Load(device, config, weights, batch);
        float[] actual = model.Forward(images, batch);
        float[] expected = DenseRnnReference.Forward(config, weights, images, batch);

        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f + 1e-4f * Math.Abs(expected[i]), $"logit {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    [Theory]
    [InlineData(false, RnnReadout.Pooled)]
    [InlineData(true, RnnReadout.PerUnit)]
    public void Accounting_matches_the_tensors_and_the_launches(bool shared, RnnReadout readout)
    {
        var config = new DenseRnnConfig(6, Channels: 5, Kernel: 3, Steps: 4, Classes: 7, Readout: readout, Shared: shared);
        DenseRnnWeights weights = DenseRnnWeights.RandomInit(config, seed: 1);
        const int batch = 3;
        using Device device = Devices.Open("cpu").Device;
        using DenseRnnModel model = DenseRnnModel.Load(device, config, weights, batch);
        model.Forward(new float[batch * 3 * config.Positions], batch);

        Assert.Equal(weights.ParameterCount, config.ParameterCount);
        Assert.Equal(model.WeightBytes, config.WeightBytes);
        Assert.Equal(config.Steps, model.Ops.Counts.StepLaunches);
        Assert.Equal(1, model.Ops.Counts.ReadoutLaunches);
        // Every step reads all of W_in, W_rec and b: the weight term of BytesPerImagePerStep.
        Assert.Equal(config.Steps * config.StepWeightBytes, model.Ops.Counts.StepWeightElements * sizeof(float));
        double stateBytes = 4.0 * (3 * config.Positions + 2 * config.Units);
        Assert.Equal((double)config.StepWeightBytes / batch + stateBytes, config.BytesPerImagePerStep(batch), 6);

        // FLOPs: 2 per nonzero-or-padded tap; the dense matrix has exactly the in-bounds taps, so count them there.
        double[,] m = DenseRnnReference.StepMatrix(config, weights);
        long inBounds = 0;
        int s = config.ImageSize;
        for (int y = 0; y < s; y++)
        {
            for (int x = 0; x < s; x++)
            {
                inBounds += (Math.Min(s, y + 2) - Math.Max(0, y - 1)) * (Math.Min(s, x + 2) - Math.Max(0, x - 1));
            }
        }

        Assert.Equal(config.Units * (3 + config.Channels) * 9, config.FlopsPerStep / 2);
        Assert.True(config.Units * (3 + config.Channels) * 9 >= inBounds * config.Channels * (3 + config.Channels));
        Assert.Equal(m.GetLength(0), config.Units);
        Assert.Equal(m.GetLength(1), config.Units + 3 * config.Positions);
        Assert.Equal(config.FlopsPerStep / config.BytesPerImagePerStep(batch), config.ArithmeticIntensity(batch), 9);
    }

    [Fact]
    public void Unshared_parameters_grow_with_the_image_and_shared_ones_do_not()
    {
        var small = new DenseRnnConfig(32);
        var large = new DenseRnnConfig(128);
        Assert.Equal(16L * small.StepParameterCount, large.StepParameterCount);
        Assert.Equal((small with { Shared = true }).StepParameterCount, (large with { Shared = true }).StepParameterCount);
        Assert.Equal(128L * 128 * 8 * 8 * 9 * 4, large.RecurrentWeightCount * 4);
    }

    [Theory]
    [InlineData("must be odd", 16, 4, 8)]
    [InlineData("larger than the image", 4, 5, 8)]
    [InlineData("more than the image's 3", 16, 3, 3)]
    public void Bad_configs_say_which_field(string expected, int imageSize, int kernel, int channels)
    {
        var e = Assert.Throws<DenseRnnConfigException>(() => new DenseRnnConfig(imageSize, Channels: channels, Kernel: kernel).Validate());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Weights_that_do_not_fit_fail_before_allocating_saying_how_much_is_needed()
    {
        using Device device = Devices.Open("cpu").Device;
        var config = new DenseRnnConfig(4096, Channels: 8, Kernel: 3);
        long before = device.Memory.BytesInUse;
        var e = Assert.Throws<DenseRnnConfigException>(() => DenseRnnModel.Load(device, config, new DenseRnnWeights([], [], [], [], []), batch: 8));
        Assert.Contains("needs", e.Message);
        Assert.Contains("GiB", e.Message);
        Assert.Equal(before, device.Memory.BytesInUse);
    }

    [Fact]
    public void A_device_too_small_for_the_weights_is_named_with_the_memory_needed()
    {
        using Device device = Devices.Open("cpu").Device;
        DeviceInfo small = device.Info with { MemoryBytes = 32L << 20 };
        var config = new DenseRnnConfig(128);
        var e = Assert.Throws<DenseRnnConfigException>(() => config.RequireFits(small, batch: 8));
        Assert.Contains(FormattableString.Invariant($"needs {config.DeviceBytes(8) / (double)(1 << 20):F1} MiB"), e.Message);
        Assert.Contains("has 32.0 MiB", e.Message);
        config.RequireFits(device.Info, batch: 8);
    }

    [Theory]
    [InlineData("dense-rnn", "cpu")]
    [InlineData("dense-rnn-shared", "emulator")]
    public void Bench_prints_the_model_bench_json_with_the_bandwidth_fraction(string model, string deviceName)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int exit = Cli.Run(["bench", "--model", model, "--image-size", "8", "--batch", "2", "--device", deviceName, "--json"], output, error);

        Assert.True(exit == 0, error.ToString());
        using JsonDocument json = JsonDocument.Parse(output.ToString());
        JsonElement root = json.RootElement;
        Assert.Equal(model, root.GetProperty("model").GetString());
        Assert.Equal(deviceName, root.GetProperty("device").GetString());
        Assert.Equal(2, root.GetProperty("batch").GetInt32());
        foreach (string field in new[] { "seconds", "images_per_s", "gflops", "gbps", "arithmetic_intensity" })
        {
            Assert.True(root.GetProperty(field).GetDouble() > 0, field);
        }

        Assert.Equal(deviceName == "cpu", root.GetProperty("bandwidth_fraction").ValueKind == JsonValueKind.Number);
    }

    [Fact]
    public void Bench_with_an_even_kernel_or_too_large_image_is_a_usage_error()
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int exit = Cli.Run(["bench", "--model", "dense-rnn", "--image-size", "2", "--device", "cpu", "--json"], output, error);

        Assert.Equal(Cli.UsageError, exit);
        Assert.Contains("larger than the image", error.ToString());
        Assert.Single(error.ToString().TrimEnd('\n').Split('\n'));
    }
}
