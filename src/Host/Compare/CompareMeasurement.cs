using System.Diagnostics;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Images;
using GpuViT.Models.Rnn;
using GpuViT.Models.Streaming;
using GpuViT.Models.Vit;
using static GpuViT.Host.Compare.ComparedModels;

namespace GpuViT.Host.Compare;

/// <summary>
/// The measuring half of `gpuvit compare`: each model at each image size and batch, timed two ways
/// on the same images; one that does not fit the device is skipped, with the reason.
/// </summary>
public static class CompareMeasurement
{
    /// <summary>One model at one image size and batch: its costs by formula, its times as measured two ways.</summary>
    /// <param name="DeviceP50">Seconds for one batch's forward pass on device-resident inputs, median, by device events.</param>
    /// <param name="DeviceImagesPerS">Images per second of those passes: batch over the mean pass.</param>
    /// <param name="StreamImagesPerS">Images per second end to end through the image stream (decode, upload, forward, download), by the wall clock.</param>
    /// <param name="Rnn">The RNN's config as measured (its steps scaled in the equal-compute view); null for the ViT.</param>
    public sealed record Row(
        string Model, int ImageSize, int Batch, long Params, long WeightBytes, double FlopsPerImage, double BytesPerImage,
        double DeviceP50, double DeviceP95, double DeviceImagesPerS, double StreamImagesPerS, string Device,
        View View = View.AsConfigured, DenseRnnConfig? Rnn = null, Precision Precision = Precision.Fp32)
    {
        public double Intensity => FlopsPerImage / BytesPerImage;

        /// <summary>GFLOP/s and GB/s of the device-resident passes: what the roofline is about.</summary>
        public double Gflops => FlopsPerImage * DeviceImagesPerS / 1e9;

        public double Gbps => BytesPerImage * DeviceImagesPerS / 1e9;
    }

    /// <summary>What to measure, every model already checked against every size.</summary>
    /// <param name="Vits">The ViT at each size.</param>
    /// <param name="Rnns">Each RNN at each size, unshared and shared.</param>
    /// <param name="TrainedWeights">The ViT's trained weights; null for random ones.</param>
    /// <param name="Images">The decoded images at each size (<see cref="Decode"/>).</param>
    /// <param name="MinSeconds">Minimum timing per measurement, half for each of the two ways.</param>
    internal sealed record Plan(
        IReadOnlyList<int> Sizes, IReadOnlyList<int> Batches, IReadOnlyDictionary<int, VitConfig> Vits,
        IReadOnlyDictionary<(int Size, bool Shared), DenseRnnConfig> Rnns, VitWeights? TrainedWeights,
        IReadOnlyDictionary<int, float[][]> Images, double MinSeconds, View View, Precision VitPrecision = Precision.Fp32)
    {
        /// <summary>Measurements in the plan: three models at each size and batch.</summary>
        public int Count => Sizes.Count * Batches.Count * 3;
    }

    /// <summary>The rows measured, the measurements skipped (each with the reason), and whether Ctrl+C ended the run early.</summary>
    internal sealed record Results(IReadOnlyList<Row> Rows, IReadOnlyList<string> Skipped, bool Interrupted);

    /// <summary>Distinct synthetic images the stream cycles through; enough that no two micro-batches of a small batch repeat.</summary>
    public const int SyntheticImages = 64;

    /// <summary>
    /// The images of <paramref name="source"/> decoded at each size, before anything is measured (a
    /// bad image stops the run before it starts): the same images go through the ViT's stream,
    /// cycled, and the RNNs, so that decoding is not what is timed.
    /// </summary>
    internal static Dictionary<int, float[][]> Decode(ImageSource source, IReadOnlyList<int> sizes, IReadOnlyList<int> batches, CancellationToken cancel)
    {
        int distinct = Math.Min(source.Count, Math.Max(2 * batches.Max(), SyntheticImages));
        return sizes.ToDictionary(size => size, size =>
        {
            var images = new float[distinct][];
            ImageStream.ForEachImage(distinct, cancel, i =>
            {
                images[i] = new float[DenseRnnConfig.InputChannels * size * size];
                source.Decode(i, size, images[i]);
            });
            return images;
        });
    }

    /// <summary>Every measurement of the plan in order, each reported to <paramref name="progress"/>; Ctrl+C ends it with what was measured.</summary>
    internal static Results Run(Device device, Plan plan, IProgressSink progress, CancellationToken interrupt)
    {
        var rows = new List<Row>();
        var skipped = new List<string>();

        // One measurement; one that does not fit the device is skipped, with the reason, and the rest go on.
        void Measure(string model, int size, int batch, Func<Row> measure)
        {
            string what = $"{model} at {size}, batch {batch}";
            progress.Status(what);
            try
            {
                rows.Add(measure());
                progress.Done(Summary(rows[^1]));
            }
            catch (Exception e) when (e is DoesNotFitException or DeviceOutOfMemoryException)
            {
                skipped.Add($"{what}: {e.Message}");
                progress.Done($"{what}: skipped, {e.Message}");
            }
        }

        try
        {
            foreach (int size in plan.Sizes)
            {
                // One ViT per size, loaded (weights drawn, uploaded and packed) once for all its batches.
                VitModel? vitModel = null;
                try
                {
                    foreach (int batch in plan.Batches)
                    {
                        Measure(VitName, size, batch, () => MeasureVit(
                            vitModel ??= VitModel.Load(
                                device, plan.Vits[size], plan.TrainedWeights ?? VitWeights.RandomInit(plan.Vits[size], seed: 0), precision: plan.VitPrecision),
                            batch, plan.Images[size], plan.MinSeconds, plan.View, interrupt));
                        foreach (bool shared in new[] { false, true })
                        {
                            Measure(shared ? ModelBench.DenseRnnSharedModelName : ModelBench.DenseRnnModelName, size, batch, () =>
                                MeasureRnn(device, plan.Rnns[(size, shared)], batch, plan.Images[size], plan.MinSeconds, plan.View, interrupt));
                        }
                    }
                }
                finally
                {
                    vitModel?.Dispose();
                }
            }

            return new Results(rows, skipped, Interrupted: false);
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            return new Results(rows, skipped, Interrupted: true);
        }
    }

    /// <summary>A measurement too large for the device: skipped, and said so, while the others run.</summary>
    private sealed class DoesNotFitException(string message) : Exception(message);

    private static string Summary(Row r) => FormattableString.Invariant(
        $"{r.Model} at {r.ImageSize}, batch {r.Batch}: {r.DeviceImagesPerS:F1} images/s on the device ({r.Gflops:F1} GFLOP/s, {r.Gbps:F2} GB/s), {r.StreamImagesPerS:F1} end to end");

    /// <summary>The ViT timed both ways: on device-resident inputs, and end to end through the image stream.</summary>
    private static Row MeasureVit(VitModel model, int batch, float[][] images, double minSeconds, View view, CancellationToken cancel)
    {
        VitConfig config = model.Config;
        (TimingSpread pass, double stream) = MeasureBothWays(
            new VitStreamModel(model), batch, images, minSeconds, (input, logits) => model.Forward(input, logits, batch), cancel);
        return new Row(VitName, config.ImageSize, batch, config.ParameterCount, config.WeightBytes, config.FlopsPerImage, config.BytesPerImage(batch),
            pass.Median, pass.P95, batch / pass.Mean, stream, model.Device.Info.Id, view, Precision: model.Precision);
    }

    /// <summary>The RNN timed both ways, on the same images as the ViT.</summary>
    private static Row MeasureRnn(Device device, DenseRnnConfig config, int batch, float[][] images, double minSeconds, View view, CancellationToken cancel)
    {
        try
        {
            config.Validate().RequireFits(device.Info, batch);
        }
        catch (DenseRnnConfigException e)
        {
            throw new DoesNotFitException(e.Message);
        }

        using DenseRnnModel model = DenseRnnModel.Load(device, config, DenseRnnWeights.RandomInit(config, seed: 0), batch);
        (TimingSpread pass, double stream) = MeasureBothWays(
            new RnnStreamModel(model), batch, images, minSeconds, (input, logits) => model.Forward(input, logits, batch), cancel);
        string name = config.Shared ? ModelBench.DenseRnnSharedModelName : ModelBench.DenseRnnModelName;
        return new Row(name, config.ImageSize, batch, config.ParameterCount, config.WeightBytes, config.FlopsPerImage, config.BytesPerImage(batch),
            pass.Median, pass.P95, batch / pass.Mean, stream, device.Info.Id, view, config);
    }

    /// <summary>
    /// One model timed the two ways, each for half of <paramref name="minSeconds"/>: (1) its forward
    /// pass on the first <paramref name="batch"/> of <paramref name="images"/>, uploaded once, timed
    /// by device events (<see cref="ModelBench.Time"/>); (2) end to end through the image stream,
    /// micro-batches of <paramref name="batch"/> images cycled from <paramref name="images"/>, at least
    /// three, by the wall clock. Whether the stream's buffers fit is checked before anything is
    /// allocated, so a batch too large for the device is skipped whole.
    /// </summary>
    private static (TimingSpread Pass, double StreamImagesPerS) MeasureBothWays(
        IStreamModel model, int batch, float[][] images, double minSeconds, Action<DeviceView<float>, DeviceView<float>> forward, CancellationToken cancel)
    {
        Device device = model.Device;
        long budget = ImageStream.TokenBudget(model, images: batch);
        TimingSpread pass;
        using (DeviceBuffer<float> deviceImages = device.Upload<float>([.. Enumerable.Range(0, batch).SelectMany(i => images[i % images.Length])]))
        using (DeviceBuffer<float> logits = device.Allocate<float>((long)batch * model.OutputsPerImage))
        {
            pass = ModelBench.Time(device, () => forward(deviceImages, logits), minSeconds / 2, cancel: cancel);
        }

        // Already warm: as many micro-batches as the device-resident passes say last the other half.
        int microBatches = (int)Math.Clamp(Math.Ceiling(minSeconds / 2 / Math.Max(pass.Mean, 1e-6)), 3, 100_000);
        ImageStream.DecodeInto decode = (i, destination) => images[i % images.Length].CopyTo(destination);
        long start = Stopwatch.GetTimestamp();
        foreach (StreamedBatch _ in ImageStream.Run(model, microBatches * batch, decode, budget, cancel))
        {
        }

        return (pass, microBatches * batch / Stopwatch.GetElapsedTime(start).TotalSeconds);
    }
}
