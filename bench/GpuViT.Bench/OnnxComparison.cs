using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Vit;

namespace GpuViT.Bench;

/// <summary>
/// `onnx --dir DIR [--batch 1 8] [--device cpu] [--rounds 10] [--block-ms 1000] [--json] [--optimized-model FILE] [--ort-profile PREFIX]`: GpuViT
/// against ONNX Runtime on one ViT-S/16 (bench/peers/export_onnx.py writes it into DIR as ONNX
/// and as torchvision-layout safetensors), in one process. First their logits must agree on the
/// same images; then, per batch, the two alternate in blocks of forward passes (which goes first
/// swaps every round, and each block is followed by a pause so neither's worker threads spin into
/// the other's time), every pass timed alone. Prints images/s per pass: median, p5–p95 and runs,
/// and GpuViT's median over ONNX Runtime's. ONNX Runtime runs on the cpu: its CUDA provider is in
/// another package (Microsoft.ML.OnnxRuntime.Gpu.Linux), not used here. --optimized-model writes
/// the graph ORT runs after its optimisations, to see which ops it fused; --ort-profile writes ORT's
/// time per node (which slows ORT: for where its time goes, not for the ratio).
/// </summary>
internal static class OnnxComparison
{
    public const string OnnxFile = "vit_s16.onnx";
    public const string WeightsFile = "vit_s16.torchvision.safetensors";

    /// <summary>Logits may differ by this fraction of the largest |logit|: fp32 in both, summed in different orders over 12 layers.</summary>
    public const double Tolerance = 1e-4;

    public static int Run(string[] args)
    {
        string? dir = Value(args, "--dir");
        if (dir is null || !File.Exists(Path.Combine(dir, OnnxFile)) || !File.Exists(Path.Combine(dir, WeightsFile)))
        {
            Console.Error.WriteLine(dir is null
                ? "onnx: --dir DIR is required: the folder bench/peers/export_onnx.py wrote into"
                : $"onnx: {dir} lacks {OnnxFile} or {WeightsFile}: run /usr/bin/python3 bench/peers/export_onnx.py {dir} first");
            return 2;
        }

        int[] batches = Values(args, "--batch") is { Length: > 0 } given ? [.. given.Select(int.Parse)] : [1, 8];
        string deviceName = Value(args, "--device") ?? "cpu";
        int rounds = int.Parse(Value(args, "--rounds") ?? "10", CultureInfo.InvariantCulture);
        double blockSeconds = int.Parse(Value(args, "--block-ms") ?? "1000", CultureInfo.InvariantCulture) / 1000.0;
        bool json = args.Contains("--json");
        if (batches.Any(b => b < 1) || rounds < 1 || blockSeconds <= 0)
        {
            Console.Error.WriteLine("onnx: --batch, --rounds and --block-ms must be positive");
            return 2;
        }

        int threads = Environment.ProcessorCount;
        using var peer = new OnnxPeer(Path.Combine(dir, OnnxFile), threads, Value(args, "--optimized-model"), Value(args, "--ort-profile"));
        using Device device = Devices.Open(deviceName).Device;
        LoadedVit vit = VitWeightFiles.Load(Path.Combine(dir, WeightsFile));
        VitConfig config = vit.Config;
        if ((config.Channels, config.ImageSize, config.Classes) != (peer.Channels, peer.ImageSize, peer.Classes))
        {
            Console.Error.WriteLine($"onnx: {WeightsFile} and {OnnxFile} are different models: export both again");
            return 2;
        }

        using VitModel model = VitModel.Load(device, config, vit.Weights);
        if (!json)
        {
            Console.WriteLine($"ViT-S/16 at {config.ImageSize}: GpuViT on {device.Info.Id} ({device.Info.Name}) against ONNX Runtime {OnnxPeer.Version} on cpu");
            Console.WriteLine($"(ORT: ORT_ENABLE_ALL, sequential, {threads} intra-op threads; {rounds} rounds of {blockSeconds * 1000:F0} ms blocks each, alternating)");
            Console.WriteLine($"{"batch",5}  {"GpuViT images/s",-32}  {"ONNX Runtime images/s",-32}  {"ratio",5}  max |diff|");
        }

        foreach (int batch in batches)
        {
            // Images as `gpuvit bench` makes them: uniform in [-0.5, 0.5), seeded.
            var random = new Random(1);
            float[] images = [.. Enumerable.Range(0, batch * config.Channels * config.ImageSize * config.ImageSize).Select(_ => (float)random.NextDouble() - 0.5f)];
            (double diff, double largest) = Agreement(model.Forward(images, batch), peer.Run(images, batch));
            if (!(diff <= Tolerance * largest))
            {
                Console.Error.WriteLine(FormattableString.Invariant(
                    $"onnx: batch {batch}: GpuViT's and ONNX Runtime's logits disagree: max |diff| {diff:G3} > {Tolerance:G1} x max |logit| {largest:G3}"));
                return 1;
            }

            using DeviceBuffer<float> deviceImages = device.Upload<float>(images);
            using DeviceBuffer<float> deviceLogits = device.Allocate<float>((long)batch * config.Classes);
            float[] peerLogits = new float[batch * config.Classes];
            Action ours = () =>
            {
                model.Forward(deviceImages, deviceLogits, batch);
                device.Synchronize();
            };
            Action theirs = () => peer.Run(images, batch, peerLogits);
            (TimingSpread gpuvit, TimingSpread ort) = Interleave(ours, theirs, rounds, blockSeconds);
            double ratio = ort.Median / gpuvit.Median;
            if (json)
            {
                var row = new Dictionary<string, object>
                {
                    ["model"] = "vit_s16", ["batch"] = batch, ["device"] = device.Info.Id, ["device_name"] = device.Info.Name,
                    ["onnxruntime"] = OnnxPeer.Version, ["threads"] = threads, ["max_abs_diff"] = diff, ["max_abs_logit"] = largest,
                    ["ratio"] = ratio,
                };
                Add(row, "gpuvit", batch, gpuvit);
                Add(row, "ort", batch, ort);
                Console.WriteLine(JsonSerializer.Serialize(row));
            }
            else
            {
                Console.WriteLine(FormattableString.Invariant($"{batch,5}  {Rate(batch, gpuvit),-32}  {Rate(batch, ort),-32}  {ratio,5:F2}  {diff:G2}"));
            }
        }

        return 0;
    }

    /// <summary>Blocks of each, alternating (<see cref="Interleaving"/>); a warm-up block of each first.</summary>
    private static (TimingSpread First, TimingSpread Second) Interleave(Action first, Action second, int rounds, double blockSeconds)
    {
        (List<double> a, List<double> b) = Interleaving.Run(first, second, rounds, blockSeconds, warmSeconds: Math.Min(blockSeconds, 0.5));
        return (TimingSpread.Of(a), TimingSpread.Of(b));
    }

    /// <summary>"41.32 (40.10–42.00, 48 runs)": images/s of the median pass, of the p95 and p5 passes, and the passes timed.</summary>
    private static string Rate(int batch, TimingSpread s) =>
        FormattableString.Invariant($"{batch / s.Median:F2} ({batch / s.P95:F2}-{batch / s.P5:F2}, {s.Runs} runs)");

    private static void Add(Dictionary<string, object> row, string who, int batch, TimingSpread s)
    {
        row[who + "_images_per_s"] = batch / s.Median;
        row[who + "_images_per_s_p5"] = batch / s.P95;
        row[who + "_images_per_s_p95"] = batch / s.P5;
        row[who + "_seconds_median"] = s.Median;
        row[who + "_seconds_p5"] = s.P5;
        row[who + "_seconds_p95"] = s.P95;
        row[who + "_seconds_mean"] = s.Mean;
        row[who + "_runs"] = s.Runs;
    }

    /// <summary>The largest |difference| and the largest |logit| of the two.</summary>
    public static (double MaxDiff, double MaxLogit) Agreement(float[] ours, float[] theirs)
    {
        double diff = ours.Length == theirs.Length ? 0 : double.NaN, largest = 0;
        for (int i = 0; i < Math.Min(ours.Length, theirs.Length); i++)
        {
            diff = Math.Max(diff, Math.Abs((double)ours[i] - theirs[i]));
            largest = Math.Max(largest, Math.Max(Math.Abs(ours[i]), Math.Abs(theirs[i])));
        }

        return (diff, largest);
    }

    private static string? Value(string[] args, string name) => Values(args, name).FirstOrDefault();

    /// <summary>The words after <paramref name="name"/> up to the next option.</summary>
    private static string[] Values(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at < 0 ? [] : [.. args.Skip(at + 1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal))];
    }
}
