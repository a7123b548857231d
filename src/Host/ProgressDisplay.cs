using Spectre.Console;
using Spectre.Console.Rendering;

namespace GpuViT.Host;

/// <summary>Where a long command reports how far it is: a live bar on a terminal, plain lines otherwise.</summary>
public interface IProgressSink
{
    /// <summary>
    /// A result line for stdout. While a bar is live on the same terminal it is printed above the
    /// bar instead, so that the two do not tear each other.
    /// </summary>
    void Print(string line);

    /// <summary>What runs now (shown beside the bar; not printed as a line).</summary>
    void Status(string text);

    /// <summary>Steps of the total done, with a line that says what they gave (printed in both modes), or none.</summary>
    void Done(string? line, int steps = 1);

    /// <summary>Steps of the total done that have no line of their own: the bar moves; plain lines say how many of the total are done, and the note.</summary>
    void Advance(int steps, string? note = null);
}

/// <summary>
/// Progress on stderr: a Spectre.Console bar when stderr is a terminal, one line per finished step
/// otherwise (logs, pipes, tests), so that stdout keeps only the results.
/// </summary>
public static class ProgressDisplay
{
    /// <param name="unit">What the steps are, for plain lines: "images".</param>
    public static T Run<T>(TextWriter output, TextWriter error, string title, int total, Func<IProgressSink, T> work, string unit = "steps")
    {
        if (!ReferenceEquals(error, Console.Error) || Console.IsErrorRedirected)
        {
            return work(new Lines(output, error, title, total, unit));
        }

        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask(Markup.Escape(title), maxValue: Math.Max(1, total));
                return work(new Bar(console, task, title, Console.IsOutputRedirected || !ReferenceEquals(output, Console.Out) ? output : null));
            });
    }

    private sealed class Lines(TextWriter output, TextWriter error, string title, int total, string unit) : IProgressSink
    {
        private int _done;

        public void Print(string line) => output.WriteLine(line);

        public void Status(string text)
        {
        }

        public void Done(string? line, int steps = 1)
        {
            if (line is not null)
            {
                error.WriteLine(line);
            }

            _done += steps;
        }

        public void Advance(int steps, string? note = null)
        {
            _done += steps;
            error.WriteLine($"gpuvit: {title}: {_done} of {total} {unit}" + (note is null ? "" : $" ({note})"));
        }
    }

    /// <summary>
    /// A line as it is, which the terminal wraps: Spectre's Text folds a line at the console's width
    /// with a hard line break, which would split a JSON or csv record that is copied from the screen.
    /// </summary>
    private sealed class WholeLine(string line) : IRenderable
    {
        public Measurement Measure(RenderOptions options, int maxWidth) => new(Math.Min(line.Length, maxWidth), maxWidth);

        public IEnumerable<Segment> Render(RenderOptions options, int maxWidth) =>
            [new(line), Segment.LineBreak];
    }

    /// <param name="output">Where results go when stdout is not the bar's terminal; null when it is.</param>
    private sealed class Bar(IAnsiConsole console, ProgressTask task, string title, TextWriter? output) : IProgressSink
    {
        public void Print(string line)
        {
            if (output is not null)
            {
                output.WriteLine(line);
            }
            else
            {
                console.Write(new WholeLine(line));
            }
        }

        public void Status(string text) => task.Description = Markup.Escape($"{title}: {text}");

        public void Done(string? line, int steps = 1)
        {
            if (line is not null)
            {
                console.MarkupLine("[grey]" + Markup.Escape(line) + "[/]");
            }

            task.Increment(steps);
        }

        public void Advance(int steps, string? note = null) => task.Increment(steps);
    }
}
