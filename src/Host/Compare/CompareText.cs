using System.Globalization;
using System.Text;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Rnn;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.CompareMeasurement;
using static GpuViT.Host.Compare.Roofline;

namespace GpuViT.Host.Compare;

/// <summary>`gpuvit compare`'s words: the table with its notes, the finding in one sentence, and the lines the report shares with it.</summary>
public static class CompareText
{
    /// <summary>The widest a line of the table and its notes may be: a terminal of 120 columns shows each line whole.</summary>
    public const int MaxColumns = 119;

    /// <summary>
    /// Two tables, each line within <see cref="MaxColumns"/>: the costs of each model at each size (by
    /// formula), then each measurement (device-resident, then end to end); each column explained once
    /// under them (<see cref="ColumnKey"/>); the notes and the finding, wrapped.
    /// </summary>
    /// <param name="tensorCores">The tensor-core roof the rows in its precision are read against; null: every row against the probed fp32 peak.</param>
    public static string Table(IReadOnlyList<Row> rows, string device, DevicePeaks peaks, KnownGpu? gpu, View view, TensorCoreRoof? tensorCores = null)
    {
        var text = new StringBuilder();
        void Prose(string line) => text.AppendLine(Wrap(line));
        Prose(Inv($"{device} — peaks: {Peak(peaks.Fp32Gflops, "GFLOP/s")}, {Peak(peaks.MemoryGbps, "GB/s")} ({peaks.Source})"));
        if (PrecisionLine(rows, tensorCores) is { } precision)
        {
            Prose(precision);
        }

        Prose(ViewLine(view));
        text.AppendLine();
        text.AppendLine("Costs, by formula:");
        text.AppendLine(Inv($"{"model",-17}{"size",5}{"T",6}{"params",12}{"weights MB",11}{"MFLOP/img",10}"));
        foreach (Row r in rows.DistinctBy(r => (r.Model, r.ImageSize)))
        {
            string steps = r.Rnn is { } c ? c.Steps.ToString(CultureInfo.InvariantCulture) : "-";
            text.AppendLine(Inv($"{r.Model,-17}{r.ImageSize,5}{steps,6}{r.Params,12:N0}{r.WeightBytes / 1e6,11:F2}{r.FlopsPerImage / 1e6,10:F1}"));
        }

        text.AppendLine();
        text.AppendLine("Measured:");
        string header = Inv($"{"model",-17}{"size",5}{"batch",6}{"MB/img",9}{"FLOP/B",8}{"p50 ms",7}{"p95 ms",7}{"img/s",10}{"GFLOP/s",9}{"GB/s",8}{"roof",7} {"e2e img/s",10}");
        if (gpu is not null)
        {
            header += Inv($"{"proj µs",8}{"TF32",7}");
        }

        text.AppendLine(header);
        foreach (Row r in rows)
        {
            string roof = RoofText(RoofFraction(r, peaks, tensorCores));
            string line = Inv($"{r.Model,-17}{r.ImageSize,5}{r.Batch,6}{r.BytesPerImage / 1e6,9:F2}{r.Intensity,8:F1}{Ms(r.DeviceP50),7}{Ms(r.DeviceP95),7}")
                + Inv($"{Fixed(r.DeviceImagesPerS),10}{Fixed(r.Gflops),9}{r.Gbps,8:F2}")
                + (roof.EndsWith(AboveRoofMark, StringComparison.Ordinal) ? Inv($"{roof,8}") : Inv($"{roof,7} "))
                + Inv($"{Fixed(r.StreamImagesPerS),10}");
            if (gpu is not null)
            {
                line += Inv($"{ProjectedSecondsPerImage(r, gpu) * 1e6,8:F1}{ProjectedSecondsPerImage(r, gpu, tensorCores: true) * 1e6,7:F1}");
            }

            text.AppendLine(line);
        }

        text.AppendLine();
        foreach ((string name, string meaning) in ColumnKey(gpu))
        {
            text.AppendLine(Wrap($"{name,-22}{meaning}", indent: 22));
        }

        text.AppendLine();
        if (gpu is not null)
        {
            Prose(Inv($"proj µs is a PROJECTION, not a measurement: the roofline-bound time per image on {gpu.Name} ({gpu.Fp32Gflops:N0} GFLOP/s FP32, {gpu.Tf32Gflops:N0} TF32 with tensor cores, {gpu.MemoryGbps:N0} GB/s)."));
        }

        if (rows.Any(r => RoofFraction(r, peaks, tensorCores) > 1))
        {
            Prose(AboveRoofNote);
        }

        if (PeakUseLine(rows, peaks, tensorCores) is { } peakUse)
        {
            Prose(peakUse);
        }

        if (Headline(rows, peaks) is { } headline)
        {
            Prose(headline);
        }

        return text.ToString().TrimEnd('\n');
    }

    /// <summary>Every column of the tables (the terminal's and the report's), explained once.</summary>
    public static IEnumerable<(string Name, string Meaning)> ColumnKey(KnownGpu? gpu)
    {
        yield return ("size", "image size, pixels per side");
        yield return ("T", "the RNN's steps");
        yield return ("params, weights MB", "parameters, and the megabytes they take");
        yield return ("MFLOP/img", "millions of floating-point operations per image");
        yield return ("MB/img", "megabytes that must move per image: the weights once per batch, the pixels in, the outputs out");
        yield return ("FLOP/B", "arithmetic intensity, MFLOP/img over MB/img");
        yield return ("p50 ms, p95 ms", "one batch's forward pass on inputs already on the device, median and 95th percentile, timed by device events");
        yield return ("img/s, GFLOP/s, GB/s", "images, FLOPs and bytes per second of those passes");
        yield return ("roof", "GFLOP/s over what the device's roofline allows at that intensity");
        yield return ("e2e img/s", "images per second end to end through the image stream (decode, upload, forward, download), by the wall clock");
        if (gpu is not null)
        {
            yield return ("proj µs, TF32", $"the roofline-bound µs per image on {gpu.Key}, FP32 and with TF32 tensor cores");
        }
    }

    /// <summary>Words wrapped into lines of at most <see cref="MaxColumns"/> columns, the lines after the first indented by <paramref name="indent"/>.</summary>
    public static string Wrap(string text, int indent = 0)
    {
        var lines = new List<string>();
        var line = new StringBuilder();
        foreach (string word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > MaxColumns)
            {
                lines.Add(line.ToString());
                line.Clear().Append(' ', indent);
            }

            line.Append(line.Length > indent || (lines.Count == 0 && line.Length > 0) ? " " : "").Append(word);
        }

        lines.Add(line.ToString());
        return string.Join("\n", lines);
    }

    /// <summary>Milliseconds in at most six characters, three significant digits below 100: a GPU's short passes do not print as 0.00.</summary>
    public static string Ms(double seconds) => seconds * 1e3 >= 100 ? Inv($"{seconds * 1e3:F0}") : Inv($"{seconds * 1e3:G3}");

    /// <summary>One decimal below ten thousand, none above: a GPU's large rates stay within their column.</summary>
    private static string Fixed(double value) => value >= 1e4 ? Inv($"{value:F0}") : Inv($"{value:F1}");

    /// <summary>
    /// Which precision the rows ran in, and the tensor-core roof the narrowed ones are read
    /// against (a datasheet number: the probe measures fp32 only); null when every row is fp32.
    /// </summary>
    public static string? PrecisionLine(IReadOnlyList<Row> rows, TensorCoreRoof? tensorCores)
    {
        var narrowed = rows.Where(r => r.Precision != Precision.Fp32).Select(r => (r.Model, r.Precision)).Distinct().ToList();
        if (narrowed.Count == 0)
        {
            return null;
        }

        string which = string.Join(", ", narrowed.Select(n => $"{n.Model} in {n.Precision.Name()}")) + "; the other models in fp32";
        return tensorCores is not null
            ? Inv($"precision: {which}. Rows in {tensorCores.Precision.Name()} are read against the tensor-core roof {tensorCores.Gflops:N0} GFLOP/s ({tensorCores.Source}, dense), the rest against the probed fp32 peak.")
            : $"precision: {which}. No tensor-core roof is known for this device (none, or no datasheet peak for it): every row is read against the probed fp32 peak.";
    }

    private static string Peak(double? value, string unit) => value is { } v ? Inv($"{v:F1} {unit}") : $"? {unit}";

    /// <summary>The view in one line, for the table's header and the report.</summary>
    public static string ViewLine(View view)
    {
        var rnn = new DenseRnnConfig(ImageSize: 1);
        return view == View.EqualCompute
            ? Inv($"view: equal-compute: each RNN runs T = round((ViT FLOPs per image - readout) / FLOPs per step) steps, its weights (C={rnn.Channels}, k={rnn.Kernel}) unchanged, ")
                + "so every model does the ViT's work per image and images/s compare like for like (steps, not channels: channels grow the unshared weights as C²)."
            : Inv($"view: as-configured: the RNNs at C={rnn.Channels}, k={rnn.Kernel}, T={rnn.Steps}, far fewer FLOPs per image than the ViT: ")
                + "compare GFLOP/s and roof, not images/s (--match flops for equal compute).";
    }

    /// <summary>
    /// The argument in one sentence, from the device-resident measurements, saying which view it
    /// states: at the largest size with both models at the smallest batch, as configured the ViT's
    /// GFLOP/s over the unshared RNN's; at equal compute its images/s over the RNN's, the same work
    /// per image. Then the RNN's bandwidth roof at its intensity, which is why. Null without both rows.
    /// </summary>
    public static string? Headline(IReadOnlyList<Row> rows, DevicePeaks peaks)
    {
        var pairs = from v in rows
                    where v.Model == VitName
                    join r in rows.Where(r => r.Model == ModelBench.DenseRnnModelName) on (v.ImageSize, v.Batch) equals (r.ImageSize, r.Batch)
                    orderby v.Batch, v.ImageSize descending
                    select (Vit: v, Rnn: r);
        if (!pairs.Any())
        {
            return null;
        }

        (Row vit, Row rnn) = pairs.First();
        string why = peaks.MemoryGbps is { } gbps
            ? Inv($": its {rnn.Intensity:F1} FLOP per byte caps it at {rnn.Intensity * gbps:F1} GFLOP/s under the {gbps:F1} GB/s bandwidth roof, while the ViT's shared weights give {vit.Intensity:F0} FLOP per byte")
            : Inv($": {rnn.Intensity:F1} FLOP per byte against the ViT's {vit.Intensity:F0}");
        string what = rnn.View == View.EqualCompute
            ? Inv($"At equal compute (the unshared RNN run for {rnn.Rnn?.Steps} steps, {rnn.FlopsPerImage / 1e6:F1} MFLOP per image against the ViT's {vit.FlopsPerImage / 1e6:F1}), at {vit.ImageSize}×{vit.ImageSize}, batch {vit.Batch}, the ViT classified {vit.DeviceImagesPerS / rnn.DeviceImagesPerS:F1}× the images per second of the unshared dense RNN ({vit.DeviceImagesPerS:F1} against {rnn.DeviceImagesPerS:F1}; {1e3 / vit.DeviceImagesPerS:F2} against {1e3 / rnn.DeviceImagesPerS:F2} ms per image)")
            : Inv($"As configured, at {vit.ImageSize}×{vit.ImageSize}, batch {vit.Batch}, the ViT reached {vit.Gflops / rnn.Gflops:F1}× the GFLOP/s of the unshared dense RNN ({vit.Gflops:F0} against {rnn.Gflops:F1})");
        return what + why + ".";
    }

    /// <summary>The line that states <see cref="PeakUse"/>; null without a probed peak.</summary>
    public static string? PeakUseLine(IReadOnlyList<Row> rows, DevicePeaks peaks, TensorCoreRoof? tensorCores = null)
    {
        var use = PeakUse(rows, peaks, tensorCores);
        string tensorPeak = tensorCores is not null && use.Any(u => u.Best.Precision == tensorCores.Precision)
            ? Inv($" ({tensorCores.Precision.Name()} rows: of the tensor-core peak {tensorCores.Gflops:N0} GFLOP/s)")
            : "";
        return use.Count == 0 ? null
            : Inv($"Share of the device's peak {peaks.Fp32Gflops:F1} GFLOP/s{tensorPeak} at each model's best batch (device-resident): ")
                + string.Join(", ", use.Select(u => Inv($"{u.Best.Model} {RoofText(u.PeakFraction)} ({u.Best.ImageSize}×{u.Best.ImageSize}, batch {u.Best.Batch})"))) + "."
                + (use.Any(u => u.PeakFraction > 1) ? " " + AbovePeakNote : "");
    }

    internal static string Inv(FormattableString text) => FormattableString.Invariant(text);
}
