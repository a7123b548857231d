using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>`gpuvit bench --model PRESET`: a ViT forward pass with random weights, timed after a warm-up.</summary>
internal static class ModelBench
{
    public static void Run(TextWriter output, TextWriter error, ParseResult parsed, string preset, int batch, int? imageSize, bool json, bool fused, string gemm)
    {
        if (batch < 1)
        {
            throw new UsageException($"--batch must be at least 1, not {batch}");
        }

        VitConfig config;
        try
        {
            config = VitPresets.Get(preset);
            config = (imageSize is { } size ? config with { ImageSize = size } : config).Validate();
        }
        catch (VitConfigException e)
        {
            throw new UsageException(e.Message);
        }

        using Device device = DeviceOption.Open(DeviceOption.Selector(parsed), error);
        using VitModel model = VitModel.Load(device, config, VitWeights.RandomInit(config, seed: 0), BenchCommand.Version(gemm), fused);
        long pixels = (long)batch * config.Channels * config.ImageSize * config.ImageSize;
        var random = new Random(1);
        using DeviceBuffer<float> images = device.Upload<float>(Enumerable.Range(0, checked((int)pixels)).Select(_ => (float)random.NextDouble() - 0.5f).ToArray());
        using DeviceBuffer<float> logits = device.Allocate<float>((long)batch * config.Classes);

        // A warm-up builds the kernels and sizes the activations; then at least three passes and a second.
        model.Forward(images, logits, batch);
        device.Synchronize();
        int runs = 0;
        long start = Stopwatch.GetTimestamp();
        do
        {
            model.Forward(images, logits, batch);
            device.Synchronize();
            runs++;
        }
        while (runs < 3 || Stopwatch.GetElapsedTime(start).TotalSeconds < 1);

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds / runs;
        double gflops = config.FlopsPerImage * batch / seconds / 1e9;

        // Bytes that must move per batch, at least: every weight once, the images in, the logits out.
        double gbps = (model.WeightBytes + 4.0 * (pixels + (long)batch * config.Classes)) / seconds / 1e9;
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = preset,
                ["image_size"] = config.ImageSize,
                ["device"] = device.Info.Id,
                ["device_name"] = device.Info.Name,
                ["batch"] = batch,
                ["seconds"] = seconds,
                ["images_per_s"] = batch / seconds,
                ["gflops"] = gflops,
                ["gbps"] = gbps,
            }));
            return;
        }

        output.WriteLine($"{preset} at {config.ImageSize}, batch {batch}, on {device.Info.Id} ({device.Info.Name}):");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {seconds * 1e3:F1} ms per batch, {batch / seconds:F2} images/s, {gflops:F1} GFLOP/s, {gbps:F2} GB/s"));
    }
}
