using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuViT.Host.Compare;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Rnn;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>`gpuvit bench --model PRESET`: a ViT forward pass with random weights, timed after a warm-up.</summary>
internal static class ModelBench
{
    public static void Run(TextWriter output, TextWriter error, ParseResult parsed, string preset, int batch, int? imageSize, int? patchSize, bool json, bool fused, GemmVersion? gemm, Precision precision, bool graphs,
        RnnKernelVersion rnnKernels = RnnKernelVersion.Streaming, CancellationToken interrupt = default)
    {
        if (batch < 1)
        {
            throw new UsageException($"--batch must be at least 1, not {batch}");
        }

        if (imageSize < 1 || patchSize < 1)
        {
            throw new UsageException(imageSize < 1 ? $"--image-size must be at least 1, not {imageSize}" : $"--patch-size must be at least 1, not {patchSize}");
        }

        if (preset is DenseRnnModelName or DenseRnnSharedModelName)
        {
            if (precision != Precision.Fp32)
            {
                throw new UsageException($"{PrecisionOption.Name} {precision.Name()}: the dense RNN runs in fp32 only");
            }

            RunDenseRnn(output, error, parsed, preset == DenseRnnSharedModelName, batch, imageSize ?? 64, json, rnnKernels, interrupt);
            return;
        }

        VitConfig config;
        try
        {
            config = VitPresets.Get(preset);
            config = imageSize is { } size ? config with { ImageSize = size } : config;
            config = (patchSize is { } patch ? config with { PatchSize = patch } : config).Validate();
        }
        catch (VitConfigException e)
        {
            throw new UsageException(e.Message);
        }

        using Device device = DeviceOption.Open(DeviceOption.Selector(parsed), error);
        PrecisionOption.Check(device, precision, error);
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, seed: 0), gemm, fused, precision: precision, graphs: graphs);
        long pixels = (long)batch * config.Channels * config.ImageSize * config.ImageSize;
        if (pixels > Array.MaxLength || pixels * sizeof(float) > device.Info.MemoryBytes)
        {
            // Checked before the noise is made: it lives in host memory too.
            throw new UsageException($"--batch {batch}: the images alone are {DeviceOutOfMemoryException.Bytes(pixels * sizeof(float))}, "
                + $"more than {(pixels > Array.MaxLength ? "one array holds" : $"{device.Info.Id}'s {DeviceOutOfMemoryException.Bytes(device.Info.MemoryBytes)}")}");
        }

        using DeviceBuffer<float> images = device.Upload<float>(BenchData.Noise(pixels));
        using DeviceBuffer<float> logits = device.Allocate<float>((long)batch * config.Classes);

        double seconds = Time(device, () => model.Forward(images, logits, batch), cancel: interrupt).Mean;
        double gflops = config.FlopsPerImage * batch / seconds / 1e9;
        if (model.GraphStatistics.FallbackReason is { } fallback)
        {
            error.WriteLine($"gpuvit: warning: the forward pass runs as plain launches, its CUDA graph capture failed: {fallback}");
        }

        double gbps = config.BytesPerImage(batch) * batch / seconds / 1e9;
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = preset,
                ["image_size"] = config.ImageSize,
                ["device"] = device.Info.Id,
                ["device_name"] = device.Info.Name,
                ["batch"] = batch,
                ["precision"] = precision.Name(),
                ["seconds"] = seconds,
                ["images_per_s"] = batch / seconds,
                ["gflops"] = gflops,
                ["gbps"] = gbps,
                ["patch_size"] = config.PatchSize,
                ["parameters"] = config.ParameterCount,
                ["weight_bytes"] = config.WeightBytes,
                ["weight_bytes_held"] = model.WeightBytes,
                ["flops_per_image"] = config.FlopsPerImage,
                ["graphs"] = model.UsesGraphs,
                ["graph_captures"] = model.GraphStatistics.Captures,
                ["graph_replays"] = model.GraphStatistics.Replays,
                ["graph_fallback"] = model.GraphStatistics.FallbackReason ?? "",
            }));
            return;
        }

        string graphNote = model.UsesGraphs ? $", CUDA graph ({model.GraphStatistics.Replays} replays)" : "";
        output.WriteLine($"{preset} at {config.ImageSize}, batch {batch}, {precision.Name()}{graphNote}, on {device.Info.Id} ({device.Info.Name}):");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {seconds * 1e3:F1} ms per batch, {batch / seconds:F2} images/s, {gflops:F1} GFLOP/s, {gbps:F2} GB/s"));
    }

    public const string DenseRnnModelName = "dense-rnn";
    public const string DenseRnnSharedModelName = "dense-rnn-shared";

    /// <summary>
    /// The dense RNN (C=8, k=3, T=4, tanh, pooled readout) with random weights: seconds per batch,
    /// FLOP and byte rates by the config's formulas, and the fraction of the device's probed copy
    /// bandwidth that the bytes which must move reach; then the same for the T steps alone, and
    /// the readout's share of the forward pass. Each of the three is timed as back-to-back runs
    /// between device events (<see cref="SecondsPerRun"/>), so a readout of microseconds is not
    /// lost in a synchronisation.
    /// </summary>
    private static void RunDenseRnn(TextWriter output, TextWriter error, ParseResult parsed, bool shared, int batch, int imageSize, bool json, RnnKernelVersion kernels, CancellationToken interrupt)
    {
        string name = shared ? DenseRnnSharedModelName : DenseRnnModelName;
        using Device device = DeviceOption.Open(DeviceOption.Selector(parsed), error);
        DenseRnnModel model;
        DenseRnnConfig config;
        try
        {
            config = new DenseRnnConfig(imageSize, Shared: shared).Validate();
            config.RequireFits(device.Info, batch);
            model = DenseRnnModel.Load(device, config, DenseRnnWeights.RandomInit(config, seed: 0), batch, kernels);
        }
        catch (DenseRnnConfigException e)
        {
            throw new UsageException(e.Message);
        }

        using (model)
        {
            long pixels = (long)batch * DenseRnnConfig.InputChannels * config.Positions;
            using DeviceBuffer<float> images = device.Upload<float>(BenchData.Noise(pixels));
            using DeviceBuffer<float> logits = device.Allocate<float>((long)batch * config.Classes);
            // Each timing is a fraction of a second: a signal is honoured between them.
            double seconds = SecondsPerRun(device, () => model.Forward(images, logits, batch));
            interrupt.ThrowIfCancellationRequested();
            double stepsSeconds = SecondsPerRun(device, () => model.RunSteps(images, batch));
            interrupt.ThrowIfCancellationRequested();
            double readoutSeconds = SecondsPerRun(device, () => model.RunReadout(logits, batch));
            interrupt.ThrowIfCancellationRequested();
            double gflops = (double)config.FlopsPerImage * batch / seconds / 1e9;
            double gbps = config.BytesPerImage(batch) * batch / seconds / 1e9;
            double stepGbps = config.BytesPerImagePerStep(batch) * config.Steps * batch / stepsSeconds / 1e9;
            double? copyGbps = DeviceProbe.Measure(device).MemoryGbps;
            VitConfig vit = ComparedModels.VitFor(imageSize);
            string version = device.Kind == DeviceKind.Cpu ? "cpu" : kernels == RnnKernelVersion.PerThread ? "per-thread" : "streaming";
            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["model"] = name,
                    ["image_size"] = imageSize,
                    ["device"] = device.Info.Id,
                    ["device_name"] = device.Info.Name,
                    ["kernels"] = version,
                    ["batch"] = batch,
                    ["seconds"] = seconds,
                    ["images_per_s"] = batch / seconds,
                    ["gflops"] = gflops,
                    ["gbps"] = gbps,
                    ["copy_gbps"] = copyGbps,
                    ["bandwidth_fraction"] = copyGbps is { } copy ? gbps / copy : null,
                    ["steps_seconds"] = stepsSeconds,
                    ["step_gbps"] = stepGbps,
                    ["step_bandwidth_fraction"] = copyGbps is { } c2 ? stepGbps / c2 : null,
                    ["readout_seconds"] = readoutSeconds,
                    ["readout_fraction"] = readoutSeconds / seconds,
                    ["parameters"] = config.ParameterCount,
                    ["weight_bytes"] = config.WeightBytes,
                    ["flops_per_image"] = config.FlopsPerImage,
                    ["arithmetic_intensity"] = config.ArithmeticIntensity(batch),
                    ["vit_parameters"] = vit.ParameterCount,
                    ["vit_flops_per_image"] = vit.FlopsPerImage,
                }));
                return;
            }

            string OfCopy(double rate) => copyGbps is { } c ? string.Create(CultureInfo.InvariantCulture, $"{rate / c:P0} of the {c:F1} GB/s copy probe") : "no probe";
            output.WriteLine($"{name} at {imageSize} (C={config.Channels}, k={config.Kernel}, T={config.Steps}), batch {batch}, on {device.Info.Id} ({device.Info.Name}), {version} kernels:");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {seconds * 1e3:F2} ms per batch, {batch / seconds:F1} images/s, {gflops:F2} GFLOP/s, {gbps:F2} GB/s ({OfCopy(gbps)})"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  steps: {stepsSeconds * 1e3:F2} ms, {stepGbps:F2} GB/s ({OfCopy(stepGbps)}); readout: {readoutSeconds * 1e3:F3} ms, {readoutSeconds / seconds:P1} of the forward pass"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {config.ParameterCount:N0} parameters ({config.WeightBytes / 1e6:F1} MB), {config.FlopsPerImage / 1e6:F1} MFLOP per image, {config.ArithmeticIntensity(batch):F2} FLOP/byte per step"));
        }
    }

    /// <summary>Seconds per run: the median of five samples of back-to-back runs of at least 20 ms each (<see cref="DeviceTiming.SecondsPerRun"/>).</summary>
    internal static double SecondsPerRun(Device device, Action run) => DeviceTiming.SecondsPerRun(device, run, TimeSpan.FromMilliseconds(20), 5)[2];

    /// <summary>Seconds per pass: the mean, the median and the 95th percentile.</summary>
    internal readonly record struct PassTimes(double Mean, double P50, double P95);

    /// <summary>
    /// A warm-up (which builds the kernels and sizes the activations), then passes until at
    /// least three have run and <paramref name="minSeconds"/> have passed. <paramref name="forward"/>
    /// queues a pass on the default stream; each is timed by device events recorded around it
    /// there, so the host's queueing and waiting between passes is not counted (on cpu the events
    /// are the host's clock, and the pass runs between them).
    /// </summary>
    internal static PassTimes Time(Device device, Action forward, double minSeconds = 1, CancellationToken cancel = default)
    {
        forward();
        device.Synchronize();
        DeviceStream stream = device.DefaultStream;
        var times = new List<double>();
        do
        {
            cancel.ThrowIfCancellationRequested();
            using DeviceEvent start = stream.RecordEvent();
            forward();
            using DeviceEvent done = stream.RecordEvent();
            done.Synchronize();
            times.Add(done.ElapsedMillisecondsSince(start) / 1e3);
        }
        while (times.Count < 3 || times.Sum() < minSeconds);

        times.Sort();
        return new PassTimes(times.Average(), Percentile(times, 0.5), Percentile(times, 0.95));
    }

    /// <summary>The nearest-rank percentile of sorted values.</summary>
    internal static double Percentile(List<double> sorted, double p) => sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(p * sorted.Count) - 1)];
}
