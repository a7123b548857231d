using System.Net;
using System.Text;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.CompareMeasurement;
using static GpuViT.Host.Compare.CompareText;
using static GpuViT.Host.Compare.Roofline;

namespace GpuViT.Host.Compare;

/// <summary>The self-contained HTML page for `gpuvit compare --report`: inline SVG, no scripts, no network.</summary>
public static class CompareReport
{
    private const int Width = 640, Height = 400, Left = 70, Right = 20, Top = 20, Bottom = 50;

    private static readonly Dictionary<string, string> Colours = new()
    {
        [VitName] = "#1f77b4",
        [ModelBench.DenseRnnModelName] = "#d62728",
        [ModelBench.DenseRnnSharedModelName] = "#2ca02c",
    };

    /// <param name="skipped">Measurements that did not fit the device, each with the reason.</param>
    /// <param name="tensorCores">The tensor-core roof the rows in its precision are read against; null: every row against the probed fp32 peak.</param>
    public static string Html(IReadOnlyList<Row> rows, IReadOnlyList<string> skipped, string device, DevicePeaks peaks, KnownGpu? gpu, View view, TensorCoreRoof? tensorCores = null)
    {
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>gpuvit compare</title>");
        html.AppendLine("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}svg{background:#fff;border:1px solid #ddd}</style></head><body>");
        html.AppendLine($"<h1>ViT vs dense RNN on {E(device)}</h1>");
        html.AppendLine(Inv($"<p>Peaks: {Num(peaks.Fp32Gflops)} GFLOP/s FP32, {Num(peaks.MemoryGbps)} GB/s ({peaks.Source}).</p>"));
        html.AppendLine($"<p>{E(ViewLine(view))}</p>");
        if (PrecisionLine(rows, tensorCores) is { } precision)
        {
            html.AppendLine($"<p>{E(precision)}</p>");
        }

        string skippedList = skipped.Count == 0 ? ""
            : "<p>Skipped, too large for the device:</p><ul>" + string.Concat(skipped.Select(line => $"<li>{E(line)}</li>")) + "</ul>";
        if (rows.Count == 0)
        {
            html.AppendLine(skipped.Count == 0 ? "<p>Nothing was measured: the run was interrupted before its first measurement finished.</p>" : skippedList);
            html.AppendLine("</body></html>");
            return html.ToString();
        }

        if (Headline(rows, peaks) is { } headline)
        {
            html.AppendLine($"<p><b>{E(headline)}</b></p>");
        }

        if (PeakUseLine(rows, peaks, tensorCores) is { } peakUse)
        {
            html.AppendLine($"<p>{E(peakUse)}</p>");
        }

        html.AppendLine("<h2>Roofline</h2><p>Each point is one model, size and batch at its arithmetic intensity (FLOP per byte that must move) and achieved GFLOP/s. Below the slanted roof a model is bandwidth-bound; under the flat roof, compute-bound.</p>");
        html.AppendLine(RooflineChart(rows, peaks, tensorCores));
        html.AppendLine("<h2>Cost vs image size</h2>");
        int batch = rows.Min(r => r.Batch);
        html.AppendLine(Series(rows.Where(r => r.Batch == batch).ToList(), r => r.Params, "parameters"));
        html.AppendLine(Series(rows.Where(r => r.Batch == batch).ToList(), r => 1e3 / r.DeviceImagesPerS, Inv($"ms per image on the device (batch {batch})")));
        html.AppendLine("<h2>Table</h2><table><tr><th>model</th><th>size</th><th>batch</th><th>T</th><th>params</th><th>MFLOP/img</th><th>MB/img</th><th>FLOP/B</th>"
            + "<th>dev p50 ms</th><th>dev p95 ms</th><th>dev img/s</th><th>dev ms/img</th><th>GFLOP/s</th><th>GB/s</th><th>roof</th><th>e2e img/s</th><th>e2e ms/img</th>"
            + (gpu is null ? "" : $"<th>projected µs/image on {E(gpu.Name)}, FP32</th><th>projected, TF32</th>") + "</tr>");
        foreach (Row r in rows)
        {
            string steps = r.Rnn is { } c ? Inv($"{c.Steps}") : "-";
            html.Append(Inv($"<tr><td>{E(r.Model)}</td><td>{r.ImageSize}</td><td>{r.Batch}</td><td>{steps}</td><td>{r.Params:N0}</td><td>{r.FlopsPerImage / 1e6:F1}</td><td>{r.BytesPerImage / 1e6:F2}</td><td>{r.Intensity:F1}</td>"));
            html.Append(Inv($"<td>{r.DeviceP50 * 1e3:F2}</td><td>{r.DeviceP95 * 1e3:F2}</td><td>{r.DeviceImagesPerS:F1}</td><td>{1e3 / r.DeviceImagesPerS:F3}</td><td>{r.Gflops:F2}</td><td>{r.Gbps:F2}</td><td>{E(RoofText(RoofFraction(r, peaks, tensorCores)))}</td>"));
            html.Append(Inv($"<td>{r.StreamImagesPerS:F1}</td><td>{1e3 / r.StreamImagesPerS:F3}</td>"));
            html.AppendLine(gpu is null ? "</tr>" : Inv($"<td>{ProjectedSecondsPerImage(r, gpu) * 1e6:F1}</td><td>{ProjectedSecondsPerImage(r, gpu, tensorCores: true) * 1e6:F1}</td></tr>"));
        }

        html.AppendLine("</table>");
        html.AppendLine($"<p>T: the RNN's steps. {E(TimingNote)} roof: achieved GFLOP/s over what the device's roofline allows at that arithmetic intensity.</p>");
        if (rows.Any(r => RoofFraction(r, peaks, tensorCores) > 1))
        {
            html.AppendLine($"<p>{E(AboveRoofNote)}</p>");
        }

        html.AppendLine(skippedList);

        if (gpu is not null)
        {
            html.AppendLine(Inv($"<p><b>Projection, not a measurement:</b> the roofline-bound time per image on {E(gpu.Name)} ({gpu.Fp32Gflops:N0} GFLOP/s FP32, {gpu.Tf32Gflops:N0} GFLOP/s TF32 with tensor cores, {gpu.MemoryGbps:N0} GB/s).</p>"));
        }

        html.AppendLine("</body></html>");
        return html.ToString();
    }

    private static string RooflineChart(IReadOnlyList<Row> rows, DevicePeaks peaks, TensorCoreRoof? tensorCores)
    {
        double xMin = rows.Min(r => r.Intensity) / 2, xMax = rows.Max(r => r.Intensity) * 2;
        double yMin = rows.Min(r => r.Gflops) / 2, yMax = Math.Max(Math.Max(rows.Max(r => r.Gflops), peaks.Fp32Gflops ?? 0), tensorCores?.Gflops ?? 0) * 2;
        var svg = Frame("arithmetic intensity (FLOP/byte)", "GFLOP/s", xMin, xMax, yMin, yMax, out Func<double, double> x, out Func<double, double> y);
        if (peaks is { Fp32Gflops: { } flops, MemoryGbps: { } gbps })
        {
            // The roof, sampled along x on the log scale: min(compute, intensity × bandwidth).
            var points = Enumerable.Range(0, 101).Select(i => xMin * Math.Pow(xMax / xMin, i / 100.0))
                .Select(i => Inv($"{x(i):F1},{y(Math.Clamp(Math.Min(flops, i * gbps), yMin, yMax)):F1}"));
            svg.AppendLine($"<polyline fill=\"none\" stroke=\"#555\" stroke-width=\"2\" points=\"{string.Join(" ", points)}\"/>");

            // Name the two roofs where they are drawn: the flat one at its right end, the slanted one low on its slope.
            svg.AppendLine(Inv($"<text x=\"{Width - Right - 4}\" y=\"{y(flops) - 6:F1}\" text-anchor=\"end\" fill=\"#555\">compute roof {flops:F0} GFLOP/s</text>"));
            double slope = Math.Max(xMin, Math.Max(yMin * 2, yMin) / gbps);
            if (slope * gbps < flops)
            {
                svg.AppendLine(Inv($"<text x=\"{x(slope) + 8:F1}\" y=\"{y(slope * gbps) + 4:F1}\" fill=\"#555\">bandwidth roof {gbps:F0} GB/s</text>"));
            }
        }

        if (tensorCores is not null && peaks.MemoryGbps is { } memory)
        {
            // The tensor-core roof, dashed, for the rows in its precision: the same bandwidth slope under a higher ceiling.
            var points = Enumerable.Range(0, 101).Select(i => xMin * Math.Pow(xMax / xMin, i / 100.0))
                .Select(i => Inv($"{x(i):F1},{y(Math.Clamp(Math.Min(tensorCores.Gflops, i * memory), yMin, yMax)):F1}"));
            svg.AppendLine($"<polyline fill=\"none\" stroke=\"#555\" stroke-width=\"1\" stroke-dasharray=\"6 4\" points=\"{string.Join(" ", points)}\"/>");
            svg.AppendLine(Inv($"<text x=\"{Width - Right - 4}\" y=\"{y(tensorCores.Gflops) - 6:F1}\" text-anchor=\"end\" fill=\"#555\">{tensorCores.Precision.Name()} tensor-core roof {tensorCores.Gflops:F0} GFLOP/s ({E(tensorCores.Source)})</text>"));
        }

        foreach (Row r in rows)
        {
            svg.AppendLine(Inv($"<circle cx=\"{x(r.Intensity):F1}\" cy=\"{y(r.Gflops):F1}\" r=\"{3 + Math.Log2(r.Batch)}\" fill=\"{Colours.GetValueOrDefault(r.Model, "#000")}\"><title>{E(r.Model)} {r.ImageSize}px batch {r.Batch}: {r.Intensity:F1} FLOP/B, {r.Gflops:F2} GFLOP/s</title></circle>"));
        }

        svg.AppendLine(Inv($"<text x=\"{Left + 10}\" y=\"{Top + 17 + 14 * Colours.Count}\" fill=\"#555\">larger dots: larger batches ({string.Join(", ", rows.Select(r => r.Batch).Distinct().Order())})</text>"));
        return Legend(svg).Append("</svg>").ToString();
    }

    private static string Series(List<Row> rows, Func<Row, double> value, string label)
    {
        double xMin = rows.Min(r => r.ImageSize) / 1.5, xMax = rows.Max(r => r.ImageSize) * 1.5;
        double yMin = rows.Min(value) / 2, yMax = rows.Max(value) * 2;
        var svg = Frame("image size (pixels per side)", label, xMin, xMax, yMin, yMax, out Func<double, double> x, out Func<double, double> y);
        foreach (var model in rows.GroupBy(r => r.Model))
        {
            var points = model.OrderBy(r => r.ImageSize).Select(r => Inv($"{x(r.ImageSize):F1},{y(value(r)):F1}"));
            svg.AppendLine($"<polyline fill=\"none\" stroke=\"{Colours.GetValueOrDefault(model.Key, "#000")}\" stroke-width=\"2\" points=\"{string.Join(" ", points)}\"/>");
        }

        return Legend(svg).Append("</svg>").ToString();
    }

    /// <summary>Axes with decade ticks on log–log scales, and the mappings from values to pixels.</summary>
    private static StringBuilder Frame(string xLabel, string yLabel, double xMin, double xMax, double yMin, double yMax, out Func<double, double> x, out Func<double, double> y)
    {
        (double lx0, double lx1, double ly0, double ly1) = (Math.Log10(xMin), Math.Log10(xMax), Math.Log10(yMin), Math.Log10(yMax));
        x = v => Left + (Math.Log10(v) - lx0) / (lx1 - lx0) * (Width - Left - Right);
        y = v => Height - Bottom - (Math.Log10(v) - ly0) / (ly1 - ly0) * (Height - Top - Bottom);
        var svg = new StringBuilder(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-size=\"11\">\n"));
        svg.AppendLine(Inv($"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{Height - Top - Bottom}\" fill=\"none\" stroke=\"#999\"/>"));
        foreach (double t in Ticks(xMin, xMax))
        {
            svg.AppendLine(Inv($"<text x=\"{x(t):F1}\" y=\"{Height - Bottom + 14}\" text-anchor=\"middle\">{TickLabel(t)}</text>"));
        }

        foreach (double t in Ticks(yMin, yMax))
        {
            svg.AppendLine(Inv($"<text x=\"{Left - 4}\" y=\"{y(t) + 4:F1}\" text-anchor=\"end\">{TickLabel(t)}</text>"));
        }

        svg.AppendLine(Inv($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 12}\" text-anchor=\"middle\">{E(xLabel)}</text>"));
        svg.AppendLine(Inv($"<text x=\"14\" y=\"{(Top + Height - Bottom) / 2}\" transform=\"rotate(-90 14 {(Top + Height - Bottom) / 2})\" text-anchor=\"middle\">{E(yLabel)}</text>"));
        return svg;
    }

    /// <summary>1, 2 and 5 times each power of ten within the range: a log axis spanning less than a decade still gets labels.</summary>
    private static IEnumerable<double> Ticks(double min, double max)
    {
        for (int d = (int)Math.Floor(Math.Log10(min)); d <= (int)Math.Ceiling(Math.Log10(max)); d++)
        {
            foreach (double m in new[] { 1.0, 2.0, 5.0 })
            {
                double t = m * Math.Pow(10, d);
                if (t >= min && t <= max)
                {
                    yield return t;
                }
            }
        }
    }

    /// <summary>0.5, 20, 2000: plain numbers, never exponent notation.</summary>
    private static string TickLabel(double t) => t >= 1 ? Inv($"{t:0}") : Inv($"{t:0.###}");

    private static StringBuilder Legend(StringBuilder svg)
    {
        int row = 0;
        foreach ((string model, string colour) in Colours)
        {
            svg.AppendLine(Inv($"<rect x=\"{Left + 10}\" y=\"{Top + 8 + 14 * row}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{Left + 24}\" y=\"{Top + 17 + 14 * row}\">{E(model)}</text>"));
            row++;
        }

        return svg;
    }

    private static string Num(double? value) => value is { } v ? Inv($"{v:F1}") : "?";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
