using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using GpuViT.Host.Compare;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Rnn;
using GpuViT.Models.Vit;
using static GpuViT.Host.Compare.ComparedModels;
using static GpuViT.Host.Compare.CompareMeasurement;
using static GpuViT.Host.Compare.Roofline;

namespace GpuViT.Tests.Host;

/// <summary>
/// The compare report as a reader sees it, in headless Chromium at 800 px: its layout checked by
/// geometry in the browser (no label meets a dot or another label, the legends meet no line or dot,
/// the footnote meets no chart, the page does not overflow, model names do not wrap), and a
/// screenshot kept under .artifacts/test-results for a person to look at. The measurements are
/// synthetic, made to crowd the chart: eight sizes, three batches, dots on and above the roofs.
/// </summary>
public sealed class CompareReportLayoutTests(ITestOutputHelper log)
{
    private static readonly int[] Sizes = [32, 48, 64, 96, 128, 160, 192, 224];
    private static readonly int[] Batches = [1, 8, 32];

    public static TheoryData<string> Cases => ["gpu", "cpu"];

    [Theory]
    [MemberData(nameof(Cases))]
    public void At_800_px_nothing_covers_anything_and_nothing_overflows(string device)
    {
        string html = Report(device);
        string chromium = Chromium();
        string results = Path.Combine(RepositoryRoot(), ".artifacts", "test-results");
        Directory.CreateDirectory(results);
        string page = Path.Combine(results, $"compare-report-800-{device}.html");
        File.WriteAllText(page, html);

        using var temp = new TempDirectory("gpuvit-report-layout-");
        string checkedPage = temp.PathOf("checked.html");
        File.WriteAllText(checkedPage, html.Replace("</body>", $"<script>{GeometryCheck}</script></body>", StringComparison.Ordinal));
        string dom = RunChromium(chromium, temp.PathOf("profile"), "--window-size=800,1000", "--virtual-time-budget=2000", "--dump-dom", new Uri(checkedPage).AbsoluteUri);
        Match verdict = Regex.Match(dom, "<pre id=\"verdict\">(.*?)</pre>", RegexOptions.Singleline);
        Assert.True(verdict.Success, "the geometry check wrote no verdict: " + dom[..Math.Min(dom.Length, 500)]);
        using JsonDocument json = JsonDocument.Parse(WebUtility.HtmlDecode(verdict.Groups[1].Value));

        // A screenshot of the whole page, for a person: its height from the check.
        string screenshot = Path.Combine(results, $"compare-report-800-{device}.png");
        int height = json.RootElement.GetProperty("height").GetInt32();
        RunChromium(chromium, temp.PathOf("profile"), $"--window-size=800,{height}", "--virtual-time-budget=2000", $"--screenshot={screenshot}", new Uri(page).AbsoluteUri);
        log.WriteLine($"screenshot: {screenshot}");
        Console.WriteLine($"compare report screenshot at 800 px: {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 10_000, $"{screenshot}: no screenshot");

        string[] problems = [.. json.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetString()!)];
        Assert.True(problems.Length == 0, $"{problems.Length} layout problems (see {screenshot}):\n" + string.Join("\n", problems.Take(30)));
        Assert.Equal(800, json.RootElement.GetProperty("viewport").GetInt32());
        Assert.True(json.RootElement.GetProperty("dots").GetInt32() >= Sizes.Length * Batches.Length * 3, "the roofline has a dot for every row");
    }

    [Fact]
    public void The_series_tick_at_the_sizes_measured_and_no_axis_prints_a_raw_integer()
    {
        string html = Report("gpu");

        foreach (int size in Sizes)
        {
            Assert.Equal(2, Regex.Matches(html, $"text-anchor=\"middle\">{size}</text>").Count);
        }

        Assert.DoesNotMatch(">[0-9]{5,}</text>", html);
        Assert.Contains(">10 M</text>", html);
        Assert.Contains("<h2>The three models</h2>", html);
    }

    /// <summary>The report for synthetic rows on a GPU-like device (tensor-core roof, projection) or a CPU-like one.</summary>
    private static string Report(string device)
    {
        bool gpu = device == "gpu";
        var peaks = gpu ? new DevicePeaks(60_000, 4_000, PeakSource.Probe) : new DevicePeaks(462.8, 29.5, PeakSource.Probe);
        TensorCoreRoof? tensorCores = gpu ? new TensorCoreRoof(Precision.Bf16, 989_000, "datasheet, sm_90") : null;
        var rows = new List<Row>();
        foreach (int size in Sizes)
        {
            VitConfig vit = VitFor(size);
            foreach (int batch in Batches)
            {
                // The ViT under its compute roof, one of them past the fp32 roof's label; the RNN on its bandwidth roof and past it; the shared RNN low.
                double vitShare = batch == 8 && size == 224 ? 1.02 : 0.3 + 0.6 * batch / 32.0 * size / 224.0;
                rows.Add(Measured(VitName, size, batch, vit.ParameterCount, vit.WeightBytes, vit.FlopsPerImage, vit.BytesPerImage(batch),
                    vitShare * (gpu && batch == 8 && size == 224 ? peaks.Fp32Gflops!.Value : Attainable(vit.FlopsPerImage / vit.BytesPerImage(batch))), tensorCores?.Precision));
                foreach (bool shared in new[] { false, true })
                {
                    DenseRnnConfig rnn = RnnFor(size, shared, View.AsConfigured, vit.FlopsPerImage);
                    double share = shared ? 0.05 : size % 64 == 0 ? 1.1 : 0.97;
                    rows.Add(Measured(shared ? "dense-rnn-shared" : "dense-rnn", size, batch, rnn.ParameterCount, rnn.WeightBytes,
                        rnn.FlopsPerImage, rnn.BytesPerImage(batch), share * Attainable(rnn.FlopsPerImage / rnn.BytesPerImage(batch)), null, rnn));
                }
            }
        }

        return CompareReport.Html(rows, ["dense-rnn at 4096, batch 32: needs more memory than the device has"], device == "gpu" ? "cuda:0 (NVIDIA H200)" : "cpu (test)",
            peaks, gpu ? FindGpu("h100") : null, View.AsConfigured, tensorCores);

        double Attainable(double intensity) => Math.Min(tensorCores?.Gflops ?? peaks.Fp32Gflops!.Value, intensity * peaks.MemoryGbps!.Value);

        static Row Measured(string model, int size, int batch, long parameters, long weightBytes, double flops, double bytes, double gflops, Precision? precision, DenseRnnConfig? rnn = null)
        {
            double imagesPerS = gflops * 1e9 / flops;
            return new Row(model, size, batch, parameters, weightBytes, flops, bytes, batch / imagesPerS, 1.1 * batch / imagesPerS, imagesPerS, 0.9 * imagesPerS, "test",
                View.AsConfigured, rnn, precision ?? Precision.Fp32);
        }
    }

    /// <summary>
    /// Runs in the page and writes a verdict into it: the page's viewport, height and dots, and every
    /// layout problem in words. Written for any version of the report (no ids needed), so that the old one fails it.
    /// </summary>
    private const string GeometryCheck = """
        (() => {
          const problems = [];
          const box = e => { const b = e.getBoundingClientRect(); return { x0: b.left, y0: b.top, x1: b.right, y1: b.bottom }; };
          const meets = (a, b) => a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
          const union = bs => bs.reduce((u, b) => ({ x0: Math.min(u.x0, b.x0), y0: Math.min(u.y0, b.y0), x1: Math.max(u.x1, b.x1), y1: Math.max(u.y1, b.y1) }));
          const circleMeets = (c, b) => {
            const r = (c.x1 - c.x0) / 2, cx = (c.x0 + c.x1) / 2, cy = (c.y0 + c.y1) / 2;
            const nx = Math.max(b.x0, Math.min(cx, b.x1)), ny = Math.max(b.y0, Math.min(cy, b.y1));
            return Math.hypot(nx - cx, ny - cy) < r - 0.5;
          };
          const name = e => JSON.stringify((e.textContent || e.tagName).trim().slice(0, 40));
          let dots = 0;
          document.querySelectorAll('svg').forEach((svg, i) => {
            const inLegend = e => e.closest('.legend') !== null;
            const texts = [...svg.querySelectorAll('text')];
            const circles = [...svg.querySelectorAll('circle')].filter(c => !inLegend(c));
            if (i === 0) dots = circles.length;
            for (let a = 0; a < texts.length; a++)
              for (let b = a + 1; b < texts.length; b++)
                if (meets(box(texts[a]), box(texts[b]))) problems.push(`chart ${i}: label ${name(texts[a])} meets label ${name(texts[b])}`);
            for (const t of texts)
              for (const c of circles)
                if (circleMeets(box(c), box(t))) problems.push(`chart ${i}: a dot covers label ${name(t)}`);
            for (const t of texts)
              if (/^[0-9]{5,}$/.test(t.textContent.trim())) problems.push(`chart ${i}: raw integer tick ${name(t)}`);
            for (const t of svg.querySelectorAll('.unplaced')) problems.push(`chart ${i}: label ${name(t)} found no free place`);
            const legend = [...svg.querySelectorAll('.legend > *')];
            const legendBoxes = legend.length > 0 ? [union(legend.map(box))]
              : texts.filter(t => /^(vit|dense-rnn|dense-rnn-shared)$/.test(t.textContent.trim()) || /larger dots/.test(t.textContent)).map(box);
            for (const lb of legendBoxes) {
              for (const c of circles) if (circleMeets(box(c), lb)) problems.push(`chart ${i}: the legend covers a dot`);
              for (const line of svg.querySelectorAll('polyline')) {
                const m = line.getScreenCTM(), n = line.getTotalLength();
                for (let s = 0; s <= n; s += 1) {
                  const p = line.getPointAtLength(s).matrixTransform(m);
                  if (p.x > lb.x0 && p.x < lb.x1 && p.y > lb.y0 && p.y < lb.y1) { problems.push(`chart ${i}: the legend covers a line`); break; }
                }
              }
            }
            // Every dot on the roofline says its image size without hovering.
            if (i === 0)
              for (const c of circles) {
                const size = c.getAttribute('data-size'), fill = c.getAttribute('fill');
                const label = size && [...svg.querySelectorAll('text[data-sizes]')].some(t => t.getAttribute('fill') === fill && t.getAttribute('data-sizes').split(',').includes(size));
                if (!label) problems.push(`chart 0: a dot without its image size (${c.textContent.trim().slice(0, 40)})`);
              }
          });
          for (const f of document.querySelectorAll('.footnote'))
            for (const svg of document.querySelectorAll('svg'))
              if (meets(box(f), box(svg))) problems.push(`the footnote ${name(f)} meets a chart`);
          const width = document.documentElement.scrollWidth;
          if (width > window.innerWidth) problems.push(`the page is ${width} px wide in a ${window.innerWidth} px window`);
          for (const td of document.querySelectorAll('td:first-child')) {
            const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
              const range = document.createRange(); range.selectNodeContents(n);
              if (range.getClientRects().length > 1) problems.push(`the name ${name(td)} wraps in the table`);
            }
          }
          const verdict = document.createElement('pre');
          verdict.id = 'verdict';
          verdict.textContent = JSON.stringify({ viewport: window.innerWidth, height: Math.ceil(document.documentElement.scrollHeight), dots, problems });
          document.body.appendChild(verdict);
        })();
        """;

    /// <summary>Debian's chromium (test.sh installs it): without it the test fails under CI=true and is skipped elsewhere, saying why.</summary>
    private static string Chromium()
    {
        string? found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "chromium")).FirstOrDefault(File.Exists);
        if (found is null)
        {
            const string why = "this test needs Debian's chromium (headless) to lay the report out; test.sh installs it";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail(why + " (CI=true: it must run, not be skipped)");
            }

            Assert.Skip(why);
        }

        return found;
    }

    private static string RunChromium(string chromium, string profile, params string[] arguments)
    {
        // --no-sandbox: the sandbox refuses to run as root, as tests in a container do.
        var start = new ProcessStartInfo(chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", $"--user-data-dir={profile}", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish in 60 s");
        }

        Assert.True(process.ExitCode == 0, $"chromium exited {process.ExitCode}: {error.Result}");
        return output;
    }

    /// <summary>The checkout's root (where GpuViT.sln is), so the screenshot's path is the same on every run.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GpuViT.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no GpuViT.sln above {AppContext.BaseDirectory}");
    }
}
