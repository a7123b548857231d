using System.Text.Json;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.CompareMeasurement;
using static GpuViT.Host.Compare.Roofline;

namespace GpuViT.Host.Compare;

/// <summary>`gpuvit compare --json`: one object per row, with its roofline figures and any projection.</summary>
public static class CompareJson
{
    /// <summary>The rows as a JSON array; <paramref name="deviceName"/> is the measuring device's full name.</summary>
    /// <param name="tensorCores">The tensor-core roof the rows in its precision are read against; null: every row against the probed fp32 peak.</param>
    public static string Rows(IReadOnlyList<Row> rows, string deviceName, DevicePeaks peaks, KnownGpu? gpu, TensorCoreRoof? tensorCores = null)
    {
        var best = PeakUse(rows, peaks, tensorCores).Select(u => (object)u.Best).ToHashSet(ReferenceEqualityComparer.Instance);
        return JsonSerializer.Serialize(rows.Select(r =>
        {
            double? roof = Attainable(r, peaks, tensorCores);
            bool onTensorCores = tensorCores is not null && r.Precision == tensorCores.Precision;
            var o = new Dictionary<string, object?>
            {
                ["model"] = r.Model,
                ["view"] = Name(r.View),
                ["image_size"] = r.ImageSize,
                ["batch"] = r.Batch,
                ["precision"] = r.Precision.Name(),
                ["config"] = r.Rnn is { } c
                    ? new Dictionary<string, object> { ["channels"] = c.Channels, ["kernel"] = c.Kernel, ["steps"] = c.Steps, ["image_size"] = c.ImageSize, ["shared"] = c.Shared }
                    : null,
                ["params"] = r.Params,
                ["weight_bytes"] = r.WeightBytes,
                ["flops_per_image"] = r.FlopsPerImage,
                ["bytes_per_image"] = r.BytesPerImage,
                ["intensity"] = r.Intensity,
                ["device_latency_p50_s"] = r.DeviceP50,
                ["device_latency_p95_s"] = r.DeviceP95,
                ["device_images_per_s"] = r.DeviceImagesPerS,
                ["device_seconds_per_image"] = 1 / r.DeviceImagesPerS,
                ["device_gflops"] = r.Gflops,
                ["device_gbps"] = r.Gbps,
                ["stream_images_per_s"] = r.StreamImagesPerS,
                ["stream_seconds_per_image"] = 1 / r.StreamImagesPerS,
                ["roofline_gflops"] = roof,
                ["roofline_fraction"] = RoofFraction(r, peaks, tensorCores),
                ["above_roof"] = RoofFraction(r, peaks, tensorCores) > 1,
                ["peak_fraction"] = ComputePeak(r, peaks, tensorCores) is { } peak ? r.Gflops / peak : null,
                ["best_batch"] = best.Contains(r),
                ["device"] = r.Device,
                ["device_name"] = deviceName,
                ["peak_gflops"] = peaks.Fp32Gflops,
                ["peak_gbps"] = peaks.MemoryGbps,
                ["tensor_core_peak_gflops"] = onTensorCores ? tensorCores!.Gflops : null,
                ["tensor_core_peak_source"] = onTensorCores ? tensorCores!.Source : null,
            };
            if (gpu is not null)
            {
                o["projected_gpu"] = gpu.Name;
                o["projected_seconds_per_image"] = ProjectedSecondsPerImage(r, gpu);
                o["projected_seconds_per_image_tf32"] = ProjectedSecondsPerImage(r, gpu, tensorCores: true);
                o["projected_images_per_s"] = 1 / ProjectedSecondsPerImage(r, gpu);
            }

            return o;
        }));
    }
}
