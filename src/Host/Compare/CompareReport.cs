using System.Net;
using System.Text;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Rnn;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.CompareMeasurement;
using static GpuViT.Host.Compare.CompareText;
using static GpuViT.Host.Compare.Roofline;

namespace GpuViT.Host.Compare;

/// <summary>
/// The self-contained HTML page for `gpuvit compare --report`: inline SVG, no scripts, no network.
/// Every label in a chart is placed where no dot and no other label is (<see cref="Placer"/>), legends
/// sit above the plot area and notes below it, so nothing drawn covers anything written.
/// </summary>
public static class CompareReport
{
    private const int Width = 720, Left = 64, Right = 16, Top = 40, Bottom = 44;

    /// <summary>Font sizes in the charts: ticks, legends and roof labels; the image sizes beside the dots.</summary>
    private const double LabelFont = 11, SizeFont = 10;

    private static readonly Dictionary<string, string> Colours = new()
    {
        [VitName] = "#1f77b4",
        [ModelBench.DenseRnnModelName] = "#d62728",
        [ModelBench.DenseRnnSharedModelName] = "#2ca02c",
    };

    private const string Style =
        "body{font-family:'DejaVu Sans',sans-serif;margin:1.5em;line-height:1.4;color:#222;max-width:62em}"
        + "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em}"
        + "figure{margin:1em 0}svg{display:block;max-width:100%;height:auto;background:#fff}"
        + "figcaption{font-size:.9em;color:#444;margin-top:.3em}"
        + "table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}"
        + "td,th{border-bottom:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}"
        + "th{vertical-align:bottom;white-space:normal}td.model,th.model{text-align:left}tr.group td{border-top:2px solid #999}"
        + ".swatch{display:inline-block;width:.7em;height:.7em;margin-right:.35em}"
        + "dl.key{font-size:.9em;display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dl.key dt{font-weight:bold}dl.key dd{margin:0}"
        + "@media (max-width:900px){body{margin:1em}table{font-size:11px}td,th{padding:1px 3px}}";

    /// <param name="skipped">Measurements that did not fit the device, each with the reason.</param>
    /// <param name="tensorCores">The tensor-core roof the rows in its precision are read against; null: every row against the probed fp32 peak.</param>
    public static string Html(IReadOnlyList<Row> rows, IReadOnlyList<string> skipped, string device, DevicePeaks peaks, KnownGpu? gpu, View view, TensorCoreRoof? tensorCores = null)
    {
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>gpuvit compare</title>");
        html.AppendLine($"<style>{Style}</style></head><body>");
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

        html.AppendLine(ModelsSection);
        html.AppendLine("<h2>Roofline</h2><p>Each dot is one model at one image size and batch, placed at its arithmetic intensity (FLOPs per byte that must move between memory and the chip) "
            + "and the GFLOP/s it reached. A dot can rise no higher than the roof: under the slanted part a model is bandwidth-bound (it waits for bytes), under the flat part compute-bound.</p>");
        html.AppendLine("<figure>" + RooflineChart(rows, peaks, tensorCores));
        html.AppendLine("<figcaption class=\"footnote\">The number beside a dot is its image size (pixels per side; several sizes where their dots coincide). "
            + Inv($"Larger dots: larger batches ({string.Join(", ", rows.Select(r => r.Batch).Distinct().Order())}). Hovering a dot gives its values.</figcaption></figure>"));
        html.AppendLine("<h2>Cost vs image size</h2>");
        int batch = rows.Min(r => r.Batch);
        var smallest = rows.Where(r => r.Batch == batch).ToList();
        html.AppendLine("<figure>" + Series(smallest, r => r.Params, "parameters") + "</figure>");
        html.AppendLine("<figure>" + Series(smallest, r => 1e3 / r.DeviceImagesPerS, Inv($"ms per image (batch {batch})")) + "</figure>");

        html.AppendLine("<h2>Costs, by formula</h2><table><tr><th class=\"model\">model</th><th>size</th><th>T</th><th>params</th><th>weights MB</th><th>MFLOP/img</th></tr>");
        int? lastSize = null;
        foreach (Row r in rows.DistinctBy(r => (r.Model, r.ImageSize)))
        {
            string steps = r.Rnn is { } c ? Inv($"{c.Steps}") : "-";
            html.AppendLine(Inv($"<tr{GroupStart(ref lastSize, r.ImageSize)}>{ModelCell(r.Model)}<td>{r.ImageSize}</td><td>{steps}</td><td>{r.Params:N0}</td><td>{r.WeightBytes / 1e6:F2}</td><td>{r.FlopsPerImage / 1e6:F1}</td></tr>"));
        }

        html.AppendLine("</table>");
        html.AppendLine("<h2>Measurements</h2><table><tr><th class=\"model\">model</th><th>size</th><th>batch</th><th>MB/img</th><th>FLOP/B</th>"
            + "<th>p50 ms</th><th>p95 ms</th><th>img/s</th><th>GFLOP/s</th><th>GB/s</th><th>roof</th><th>e2e img/s</th>"
            + (gpu is null ? "" : "<th>proj µs</th><th>TF32</th>") + "</tr>");
        int? lastGroup = null;
        foreach (Row r in rows)
        {
            html.Append(Inv($"<tr{GroupStart(ref lastGroup, HashCode.Combine(r.ImageSize, r.Batch))}>{ModelCell(r.Model)}<td>{r.ImageSize}</td><td>{r.Batch}</td><td>{r.BytesPerImage / 1e6:F2}</td><td>{r.Intensity:F1}</td>"));
            html.Append(Inv($"<td>{Ms(r.DeviceP50)}</td><td>{Ms(r.DeviceP95)}</td><td>{r.DeviceImagesPerS:F1}</td><td>{r.Gflops:F2}</td><td>{r.Gbps:F2}</td><td>{E(RoofText(RoofFraction(r, peaks, tensorCores)))}</td>"));
            html.Append(Inv($"<td>{r.StreamImagesPerS:F1}</td>"));
            html.AppendLine(gpu is null ? "</tr>" : Inv($"<td>{ProjectedSecondsPerImage(r, gpu) * 1e6:F1}</td><td>{ProjectedSecondsPerImage(r, gpu, tensorCores: true) * 1e6:F1}</td></tr>"));
        }

        html.AppendLine("</table>");
        html.AppendLine("<dl class=\"key\">" + string.Concat(ColumnKey(gpu).Select(c => $"<dt>{E(c.Name)}</dt><dd>{E(c.Meaning)}</dd>")) + "</dl>");
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

    /// <summary>What the three models are and why weight sharing decides how well each uses a GPU, in plain words.</summary>
    private static string ModelsSection
    {
        get
        {
            var rnn = new DenseRnnConfig(ImageSize: 1);
            return "<h2>The three models</h2><ul>"
                + $"<li>{Swatch(VitName)}<b>{VitName}</b>: a Vision Transformer. It cuts the image into 8×8 patches and passes them, as tokens, through layers of attention and small MLPs. "
                + "Every layer applies the <i>same</i> weight matrices to every patch of every image, so its work is matrix × matrix products (GEMM): "
                + "each weight fetched from memory is used for dozens of tokens, and the chip computes instead of waiting.</li>"
                + Inv($"<li>{Swatch(ModelBench.DenseRnnModelName)}<b>{ModelBench.DenseRnnModelName}</b>: a recurrent net over the whole image. Every pixel holds {rnn.Channels} state channels, updated for T steps from its {rnn.Kernel}×{rnn.Kernel} neighbourhood, ")
                + "and every pixel has <i>its own</i> weights (nothing is shared). Each weight is used once per image per step: a matrix × vector product (GEMV), "
                + "about 2 FLOPs for every 4 bytes read, so memory bandwidth, not compute, sets its speed, and its weights grow with the image's area.</li>"
                + $"<li>{Swatch(ModelBench.DenseRnnSharedModelName)}<b>{ModelBench.DenseRnnSharedModelName}</b>: the same recurrence with <i>one</i> set of weights for every pixel (a convolutional RNN): "
                + "a few thousand parameters at any size, which stay in cache. Its small convolutions do little work per step, so it cannot fill a large chip either.</li></ul>"
                + "<p><b>Weight sharing</b> means one weight serves many positions (and many images in a batch). A GPU computes 20–100 times more FLOPs per second than the bytes per second "
                + "its memory delivers; only a model that reuses every byte it fetches many times, as the ViT does, can keep it busy.</p>";
        }
    }

    /// <summary>Marks the first row of each size (and batch), so the models measured together read as one block.</summary>
    private static string GroupStart(ref int? last, int group)
    {
        bool first = last is not null && last != group;
        last = group;
        return first ? " class=\"group\"" : "";
    }

    private static string ModelCell(string model) => $"<td class=\"model\">{Swatch(model)}{E(model)}</td>";

    private static string Swatch(string model) => $"<span class=\"swatch\" style=\"background:{Colours.GetValueOrDefault(model, "#000")}\"></span>";

    private static string RooflineChart(IReadOnlyList<Row> rows, DevicePeaks peaks, TensorCoreRoof? tensorCores)
    {
        const int height = 460;
        double xMin = rows.Min(r => r.Intensity) / 2, xMax = rows.Max(r => r.Intensity) * 2;
        double yMin = rows.Min(r => r.Gflops) / 2, yMax = Math.Max(Math.Max(rows.Max(r => r.Gflops), peaks.Fp32Gflops ?? 0), tensorCores?.Gflops ?? 0) * 2.5;
        var svg = Frame(height, "arithmetic intensity (FLOP/byte)", "FLOP/s", 1e9, xMin, xMax, yMin, yMax, Ticks(xMin, xMax), out Func<double, double> x, out Func<double, double> y);
        var placer = new Placer(Left, Top, Width - Right, height - Bottom);

        // Dots are obstacles for every label; they are drawn last, over the roofs.
        var dots = rows.Select(r => (Row: r, X: x(r.Intensity), Y: y(r.Gflops), R: 3 + Math.Log2(r.Batch))).ToList();
        foreach (var d in dots)
        {
            placer.Block(d.X - d.R, d.Y - d.R, d.X + d.R, d.Y + d.R);
        }

        var roofs = new List<(double Flops, string Label, string Dash)>();
        if (peaks.Fp32Gflops is { } fp32)
        {
            roofs.Add((fp32, $"compute roof {Si(fp32 * 1e9)}FLOP/s", ""));
        }

        if (tensorCores is not null)
        {
            roofs.Add((tensorCores.Gflops, $"{tensorCores.Precision.Name()} tensor-core roof {Si(tensorCores.Gflops * 1e9)}FLOP/s ({tensorCores.Source})", " stroke-dasharray=\"6 4\""));
        }

        if (peaks.MemoryGbps is { } gbps)
        {
            foreach ((double flops, string label, string dash) in roofs)
            {
                // The roof, sampled along x on the log scale: min(compute, intensity × bandwidth).
                var points = Enumerable.Range(0, 101).Select(i => xMin * Math.Pow(xMax / xMin, i / 100.0))
                    .Select(i => Inv($"{x(i):F1},{y(Math.Clamp(Math.Min(flops, i * gbps), yMin, yMax)):F1}"));
                svg.AppendLine($"<polyline class=\"roof\" fill=\"none\" stroke=\"#555\" stroke-width=\"{(dash == "" ? 2 : 1)}\"{dash} points=\"{string.Join(" ", points)}\"/>");

                // Above the flat roof, from its right end leftwards: above a roof only a dot past 100 % can be.
                double ridge = Math.Max(x(flops / gbps), Left);
                var above = Candidates(Width - Right - 4, ridge, -12).Select(right => (right - TextWidth(label, LabelFont), y(flops) - 5));
                var below = Candidates(Width - Right - 4, ridge, -12).Select(right => (right - TextWidth(label, LabelFont), y(flops) + 5 + LabelFont));
                Text(svg, placer, above.Concat(below), label, LabelFont, "roof-label", "#444");
            }

            // The bandwidth roof's label above its slope, ending where it meets the slope: left of it the roof is lower.
            double top = Math.Min(peaks.Fp32Gflops ?? yMax, yMax);
            string bandwidth = $"bandwidth roof {Si(gbps * 1e9)}B/s";
            var slope = Enumerable.Range(0, 60).Select(i => xMin * Math.Pow(xMax / xMin, i / 59.0)).Where(i => i * gbps < top && i * gbps > yMin)
                .Select(i => (x(i) - 4 - TextWidth(bandwidth, LabelFont), y(i * gbps) - 4));
            Text(svg, placer, slope, bandwidth, LabelFont, "roof-label", "#444");
        }

        foreach (var d in dots)
        {
            svg.AppendLine(Inv($"<circle cx=\"{d.X:F1}\" cy=\"{d.Y:F1}\" r=\"{d.R}\" fill=\"{Colours.GetValueOrDefault(d.Row.Model, "#000")}\" fill-opacity=\"0.85\" data-size=\"{d.Row.ImageSize}\">")
                + Inv($"<title>{E(d.Row.Model)} {d.Row.ImageSize}px batch {d.Row.Batch}: {d.Row.Intensity:F1} FLOP/B, {d.Row.Gflops:F2} GFLOP/s</title></circle>"));
        }

        // The image sizes: one label per group of a model's dots that cover each other, beside the group.
        foreach (var group in Clusters(dots.Select(d => (d.Row.Model, d.Row.ImageSize, d.X, d.Y, d.R)).ToList()))
        {
            string label = SizeList(group.Sizes, rows.Select(r => r.ImageSize).Distinct().Order().ToList());
            double w = TextWidth(label, SizeFont);
            var at = new List<(double X, double Y)>();
            for (int ring = 0; ring < 14; ring++)
            {
                double o = 2 + ring * 6;
                (double x0, double y0, double x1, double y1) = group.Box;
                double cy = (y0 + y1) / 2 + SizeFont * 0.35, cx = (x0 + x1) / 2 - w / 2;
                at.AddRange([(x1 + o, cy), (x0 - o - w, cy), (cx, y0 - o), (cx, y1 + o + SizeFont * 0.8),
                    (x1 + o, y0 - o), (x0 - o - w, y0 - o), (x1 + o, y1 + o + SizeFont * 0.8), (x0 - o - w, y1 + o + SizeFont * 0.8)]);
            }

            Text(svg, placer, at, label, SizeFont, "size-label", Colours.GetValueOrDefault(group.Model, "#000"), data: $" data-sizes=\"{string.Join(",", group.Sizes)}\"",
                leaderFrom: ((group.Box.X0 + group.Box.X1) / 2, (group.Box.Y0 + group.Box.Y1) / 2));
        }

        LegendAbove(svg, rows.Select(r => r.Batch).Distinct().Order().ToList());
        return svg.Append("</svg>").ToString();
    }

    /// <summary>Image sizes in few characters: a run of three or more consecutive measured sizes as "32–224".</summary>
    private static string SizeList(List<int> sizes, List<int> measured)
    {
        var parts = new List<string>();
        for (int i = 0; i < sizes.Count;)
        {
            int j = i;
            while (j + 1 < sizes.Count && measured.IndexOf(sizes[j + 1]) == measured.IndexOf(sizes[j]) + 1)
            {
                j++;
            }

            parts.Add(j - i >= 2 ? Inv($"{sizes[i]}–{sizes[j]}") : string.Join(",", sizes[i..(j + 1)]));
            i = j + 1;
        }

        return string.Join(",", parts);
    }

    /// <summary>Positions from <paramref name="from"/> towards <paramref name="to"/> in steps.</summary>
    private static IEnumerable<double> Candidates(double from, double to, double step)
    {
        for (double v = from; step < 0 ? v >= to : v <= to; v += step)
        {
            yield return v;
        }
    }

    /// <summary>
    /// A model's dots that cover each other (centres closer than the larger radius), grouped: one
    /// label lists their sizes, since no label beside one of them could say which it is.
    /// </summary>
    private static List<(string Model, List<int> Sizes, (double X0, double Y0, double X1, double Y1) Box)> Clusters(
        List<(string Model, int Size, double X, double Y, double R)> dots)
    {
        var parent = Enumerable.Range(0, dots.Count).ToArray();
        int Find(int i) => parent[i] == i ? i : parent[i] = Find(parent[i]);
        for (int i = 0; i < dots.Count; i++)
        {
            for (int j = i + 1; j < dots.Count; j++)
            {
                if (dots[i].Model == dots[j].Model && Math.Sqrt(Math.Pow(dots[i].X - dots[j].X, 2) + Math.Pow(dots[i].Y - dots[j].Y, 2)) < Math.Max(dots[i].R, dots[j].R) + 1)
                {
                    parent[Find(i)] = Find(j);
                }
            }
        }

        return [.. Enumerable.Range(0, dots.Count).GroupBy(Find).Select(g =>
        {
            var members = g.Select(i => dots[i]).ToList();
            return (members[0].Model, members.Select(d => d.Size).Distinct().Order().ToList(),
                (members.Min(d => d.X - d.R), members.Min(d => d.Y - d.R), members.Max(d => d.X + d.R), members.Max(d => d.Y + d.R)));
        })];
    }

    /// <summary>
    /// Writes <paramref name="text"/> at the first of <paramref name="at"/> (start of its baseline) where it
    /// stays inside the plot and meets no dot or label already placed; with <paramref name="leaderFrom"/>, a
    /// thin line to it when it had to move away. When no position is free it goes at the first, marked unplaced.
    /// </summary>
    private static void Text(StringBuilder svg, Placer placer, IEnumerable<(double X, double Y)> at, string text, double font, string cls, string colour,
        string data = "", (double X, double Y)? leaderFrom = null)
    {
        double w = TextWidth(text, font);
        (double X, double Y)? first = null, found = null;
        foreach ((double px, double py) in at)
        {
            first ??= (px, py);
            if (placer.TryPlace(px, py - font * 0.95, px + w, py + font * 0.3))
            {
                found = (px, py);
                break;
            }
        }

        if ((found ?? first) is not { } p)
        {
            return;
        }

        if (found is null)
        {
            cls += " unplaced";
        }

        if (leaderFrom is { } from && Math.Max(Math.Abs(p.X + w / 2 - from.X), Math.Abs(p.Y - font / 3 - from.Y)) > 24)
        {
            double lx = Math.Clamp(from.X, p.X, p.X + w), ly = Math.Clamp(from.Y, p.Y - font * 0.95, p.Y + font * 0.3);
            svg.AppendLine(Inv($"<line x1=\"{from.X:F1}\" y1=\"{from.Y:F1}\" x2=\"{lx:F1}\" y2=\"{ly:F1}\" stroke=\"{colour}\" stroke-width=\"0.6\"/>"));
        }

        svg.AppendLine(Inv($"<text class=\"{cls}\" x=\"{p.X:F1}\" y=\"{p.Y:F1}\" font-size=\"{font}\" fill=\"{colour}\"{data}>{E(text)}</text>"));
    }

    /// <summary>A text's width in DejaVu Sans, slightly generous (digits and capitals are the widest glyphs).</summary>
    private static double TextWidth(string text, double font) => text.Sum(c => c is ' ' or ',' or '.' ? 0.34 : char.IsUpper(c) ? 0.76 : 0.64) * font;

    /// <summary>Rectangles taken in the plot: a new one must stay inside it and meet none.</summary>
    private sealed class Placer(double left, double top, double right, double bottom)
    {
        private readonly List<(double X0, double Y0, double X1, double Y1)> taken = [];

        public void Block(double x0, double y0, double x1, double y1) => taken.Add((x0 - 1, y0 - 1, x1 + 1, y1 + 1));

        public bool TryPlace(double x0, double y0, double x1, double y1)
        {
            if (x0 < left + 2 || y0 < top + 2 || x1 > right - 2 || y1 > bottom - 2
                || taken.Any(t => x0 < t.X1 && t.X0 < x1 && y0 < t.Y1 && t.Y0 < y1))
            {
                return false;
            }

            Block(x0, y0, x1, y1);
            return true;
        }
    }

    private static string Series(List<Row> rows, Func<Row, double> value, string label)
    {
        const int height = 340;
        double xMin = rows.Min(r => r.ImageSize) / 1.25, xMax = rows.Max(r => r.ImageSize) * 1.25;
        double yMin = rows.Min(value) / 2, yMax = rows.Max(value) * 2;

        // The x ticks are the sizes measured, so each point stands on its tick.
        var svg = Frame(height, "image size (pixels per side)", label, 1, xMin, xMax, yMin, yMax, rows.Select(r => (double)r.ImageSize).Distinct().Order(),
            out Func<double, double> x, out Func<double, double> y);
        foreach (var model in rows.GroupBy(r => r.Model))
        {
            string colour = Colours.GetValueOrDefault(model.Key, "#000");
            var points = model.OrderBy(r => r.ImageSize).Select(r => (X: x(r.ImageSize), Y: y(value(r)))).ToList();
            svg.AppendLine($"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{string.Join(" ", points.Select(p => Inv($"{p.X:F1},{p.Y:F1}")))}\"/>");
            foreach (var p in points)
            {
                svg.AppendLine(Inv($"<circle cx=\"{p.X:F1}\" cy=\"{p.Y:F1}\" r=\"3\" fill=\"{colour}\"/>"));
            }
        }

        LegendAbove(svg, batches: null);
        return svg.Append("</svg>").ToString();
    }

    /// <summary>Axes on log–log scales with readable tick labels, and the mappings from values to pixels.</summary>
    private static StringBuilder Frame(int height, string xLabel, string yLabel, double yUnit, double xMin, double xMax, double yMin, double yMax, IEnumerable<double> xTicks,
        out Func<double, double> x, out Func<double, double> y)
    {
        (double lx0, double lx1, double ly0, double ly1) = (Math.Log10(xMin), Math.Log10(xMax), Math.Log10(yMin), Math.Log10(yMax));
        x = v => Left + (Math.Log10(v) - lx0) / (lx1 - lx0) * (Width - Left - Right);
        y = v => height - Bottom - (Math.Log10(v) - ly0) / (ly1 - ly0) * (height - Top - Bottom);
        var svg = new StringBuilder(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" font-size=\"{LabelFont}\" font-family=\"DejaVu Sans, sans-serif\">\n"));
        svg.AppendLine(Inv($"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{height - Top - Bottom}\" fill=\"none\" stroke=\"#999\"/>"));
        foreach (double t in xTicks)
        {
            svg.AppendLine(Inv($"<line x1=\"{x(t):F1}\" y1=\"{height - Bottom}\" x2=\"{x(t):F1}\" y2=\"{height - Bottom + 4}\" stroke=\"#999\"/>"));
            svg.AppendLine(Inv($"<text x=\"{x(t):F1}\" y=\"{height - Bottom + 16}\" text-anchor=\"middle\">{Si(t).TrimEnd()}</text>"));
        }

        foreach (double t in Ticks(yMin, yMax))
        {
            svg.AppendLine(Inv($"<line x1=\"{Left - 4}\" y1=\"{y(t):F1}\" x2=\"{Left}\" y2=\"{y(t):F1}\" stroke=\"#999\"/>"));
            svg.AppendLine(Inv($"<text x=\"{Left - 6}\" y=\"{y(t) + 4:F1}\" text-anchor=\"end\">{Si(t * yUnit).TrimEnd()}</text>"));
        }

        svg.AppendLine(Inv($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{height - 8}\" text-anchor=\"middle\">{E(xLabel)}</text>"));
        svg.AppendLine(Inv($"<text x=\"14\" y=\"{(Top + height - Bottom) / 2}\" transform=\"rotate(-90 14 {(Top + height - Bottom) / 2})\" text-anchor=\"middle\">{E(yLabel)}</text>"));
        return svg;
    }

    /// <summary>1, 2 and 5 times each power of ten within the range (decades only where that would crowd the axis).</summary>
    private static List<double> Ticks(double min, double max)
    {
        var ticks = new List<double>();
        foreach (double[] multiples in new[] { new[] { 1.0, 2.0, 5.0 }, [1.0] })
        {
            ticks.Clear();
            for (int d = (int)Math.Floor(Math.Log10(min)); d <= (int)Math.Ceiling(Math.Log10(max)); d++)
            {
                ticks.AddRange(multiples.Select(m => m * Math.Pow(10, d)).Where(t => t >= min && t <= max));
            }

            if (ticks.Count <= 10)
            {
                break;
            }
        }

        return ticks;
    }

    /// <summary>A value with an SI prefix and a trailing space for the unit: 0.5 , 20 , 2 k, 50 M, 1 G.</summary>
    private static string Si(double v)
    {
        foreach ((double scale, string prefix) in new[] { (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k") })
        {
            if (v >= scale)
            {
                return Inv($"{v / scale:0.#} {prefix}");
            }
        }

        return Inv($"{v:0.###} ");
    }

    /// <summary>The models' colours, and with <paramref name="batches"/> the dot size of each batch, in a row above the plot area.</summary>
    private static void LegendAbove(StringBuilder svg, List<int>? batches)
    {
        double at = Left;
        svg.Append("<g class=\"legend\">");
        foreach ((string model, string colour) in Colours)
        {
            svg.Append(Inv($"<rect x=\"{at:F1}\" y=\"{Top - 24}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{at + 14:F1}\" y=\"{Top - 15}\">{E(model)}</text>"));
            at += 14 + TextWidth(model, LabelFont) + 16;
        }

        if (batches is not null)
        {
            at += 8;
            svg.Append(Inv($"<text x=\"{at:F1}\" y=\"{Top - 15}\">batch</text>"));
            at += TextWidth("batch", LabelFont) + 6;
            foreach (int batch in batches)
            {
                double r = 3 + Math.Log2(batch);
                svg.Append(Inv($"<circle cx=\"{at + r:F1}\" cy=\"{Top - 19}\" r=\"{r}\" fill=\"#777\"/><text x=\"{at + 2 * r + 3:F1}\" y=\"{Top - 15}\">{batch}</text>"));
                at += 2 * r + 3 + TextWidth(Inv($"{batch}"), LabelFont) + 10;
            }
        }

        svg.AppendLine("</g>");
    }

    private static string Num(double? value) => value is { } v ? Inv($"{v:F1}") : "?";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
