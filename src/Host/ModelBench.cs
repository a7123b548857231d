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

        TimingSpread pass = Time(device, () => model.Forward(images, logits, batch), minRuns: BenchCommand.MinRuns, cancel: interrupt);
        double seconds = pass.Median;
        double gflops = config.FlopsPerImage * batch / seconds / 1e9;
        if (model.GraphStatistics.FallbackReason is { } fallback)
        {
            error.WriteLine($"gpuvit: warning: the forward pass runs as plain launches, its CUDA graph capture failed: {fallback}");
        }

        double gbps = config.BytesPerImage(batch) * batch / seconds / 1e9;
        if (json)
        {
            var fields = new Dictionary<string, object?>
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
            };
            AddSpread(fields, "seconds", "runs", pass);
            output.WriteLine(JsonSerializer.Serialize(fields));
            return;
        }

        string graphNote = model.UsesGraphs ? $", CUDA graph ({model.GraphStatistics.Replays} replays)" : "";
        output.WriteLine($"{preset} at {config.ImageSize}, batch {batch}, {precision.Name()}{graphNote}, on {device.Info.Id} ({device.Info.Name}):");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {seconds * 1e3:F1} ms per batch, {batch / seconds:F2} images/s, {gflops:F1} GFLOP/s, {gbps:F2} GB/s (median)"));
        output.WriteLine($"  per batch: {pass.Describe()}");
    }

    /// <summary>
    /// A timing's JSON fields: <paramref name="name"/> (seconds per call, the median, as the text
    /// shows), and <paramref name="name"/>_median, _p5, _p95 and _mean; <paramref name="runs"/>
    /// (how many runs) and <paramref name="runs"/>_calls (calls per run).
    /// </summary>
    internal static void AddSpread(Dictionary<string, object?> fields, string name, string runs, TimingSpread spread)
    {
        fields[name] = spread.Median;
        fields[name + "_median"] = spread.Median;
        fields[name + "_p5"] = spread.P5;
        fields[name + "_p95"] = spread.P95;
        fields[name + "_mean"] = spread.Mean;
        fields[runs] = spread.Runs;
        fields[runs + "_calls"] = spread.CallsPerRun;
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
            TimingSpread forward = SecondsPerRun(device, () => model.Forward(images, logits, batch), interrupt);
            TimingSpread steps = SecondsPerRun(device, () => model.RunSteps(images, batch), interrupt);
            TimingSpread readout = SecondsPerRun(device, () => model.RunReadout(logits, batch), interrupt);
            double seconds = forward.Median, stepsSeconds = steps.Median, readoutSeconds = readout.Median;
            double gflops = (double)config.FlopsPerImage * batch / seconds / 1e9;
            double gbps = config.BytesPerImage(batch) * batch / seconds / 1e9;
            double stepGbps = config.BytesPerImagePerStep(batch) * config.Steps * batch / stepsSeconds / 1e9;
            double? copyGbps = DeviceProbe.Measure(device).MemoryGbps;
            VitConfig vit = ComparedModels.VitFor(imageSize);
            string version = device.Kind == DeviceKind.Cpu ? "cpu" : kernels == RnnKernelVersion.PerThread ? "per-thread" : "streaming";
            if (json)
            {
                var fields = new Dictionary<string, object?>
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
                };
                AddSpread(fields, "seconds", "runs", forward);
                AddSpread(fields, "steps_seconds", "steps_runs", steps);
                AddSpread(fields, "readout_seconds", "readout_runs", readout);
                output.WriteLine(JsonSerializer.Serialize(fields));
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
            output.WriteLine($"  per batch: {forward.Describe()}");
            output.WriteLine($"  steps:     {steps.Describe()}");
            output.WriteLine($"  readout:   {readout.Describe()}");
        }
    }

    /// <summary>Seconds per call: <see cref="BenchCommand.MinRuns"/> runs or more, of back-to-back calls lasting at least 20 ms each, for at least 0.3 s (<see cref="DeviceTiming.Spread"/>).</summary>
    internal static TimingSpread SecondsPerRun(Device device, Action run, CancellationToken cancel) =>
        DeviceTiming.Spread(device, run, TimeSpan.FromMilliseconds(20), BenchCommand.MinRuns, TimeSpan.FromSeconds(0.3), cancel);

    /// <summary>
    /// A warm-up (which builds the kernels and sizes the activations), then passes, each one run,
    /// until at least <paramref name="minRuns"/> have run and <paramref name="minSeconds"/> have passed. <paramref name="forward"/>
    /// queues a pass on the default stream; each is timed by device events recorded around it
    /// there, so the host's queueing and waiting between passes is not counted (on cpu the events
    /// are the host's clock, and the pass runs between them).
    /// </summary>
    internal static TimingSpread Time(Device device, Action forward, double minSeconds = 1, int minRuns = 3, CancellationToken cancel = default)
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
        while (times.Count < minRuns || times.Sum() < minSeconds);

        return TimingSpread.Of(times);
    }
}
