using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.InteropServices;
using GpuViT.Host.Compare;
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Models.Weights;

namespace GpuViT.Host;

/// <summary>The `gpuvit` command line. Each subcommand lives in its own class.</summary>
public static class Cli
{
    /// <summary>Exit code for bad input (unknown names, invalid options): the error is one line on stderr.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code when the work finished but some inputs could not be read: each was skipped and said on stderr, its place kept (a row of NaN in the logits).</summary>
    public const int SkippedInputs = 3;

    /// <summary>Exit code when every input was read but some gave non-finite logits (NaN or ±∞), each named on stderr.</summary>
    public const int NonFiniteResults = 4;

    /// <summary>Exit code after Ctrl+C (128 + SIGINT, as shells report it): what was done is written first.</summary>
    public const int Interrupted = 130;

    /// <summary>Exit code after SIGHUP (128 + 1), handled as Ctrl+C is.</summary>
    public const int HungUp = 129;

    /// <summary>Exit code after SIGTERM (128 + 15: timeout, kill, container stops, batch schedulers), handled as Ctrl+C is.</summary>
    public const int Terminated = 143;

    /// <summary>
    /// The process entry: the first Ctrl+C, SIGTERM or SIGHUP asks the running command to stop
    /// cleanly (results so far written, device memory freed, exit code 130, 143 or 129 for the
    /// signal that came first); a second signal takes its default action and ends the process at once.
    /// </summary>
    /// <summary>The widest line help prints: a terminal of 120 columns shows each whole.</summary>
    private const int MaxHelpColumns = 119;

    public static int Run(string[] args)
    {
        var stop = new SignalStop();
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => context.Cancel = stop.Take(context.Signal));
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => context.Cancel = stop.Take(context.Signal));
        using PosixSignalRegistration sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => context.Cancel = stop.Take(context.Signal));
        return stop.ExitCode(Run(args, Console.Out, Console.Error, stop.Interrupt));
    }

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken interrupt = default)
    {
        var root = new RootCommand(
            "GpuViT: vision-transformer kernels written in C#, compiled to CUDA and OpenCL, "
            + "and a measurement of why weight sharing makes vision models fit GPUs.");
        root.Options.Add(DeviceOption.Create());
        root.Subcommands.Add(KernelsCommand.Create(output, error));
        root.Subcommands.Add(DevicesCommand.Create(output, error, interrupt));
        root.Subcommands.Add(BenchCommand.Create(output, error, interrupt));
        root.Subcommands.Add(RunCommand.Create(output, error, interrupt));
        root.Subcommands.Add(CompareCommand.Create(output, error, interrupt));
        root.Subcommands.Add(MergeCommand.Create(error));

        // Help wraps at the terminal's width, and never past 119 columns: piped or wide, its lines stay readable whole.
        foreach (HelpAction help in root.Options.OfType<HelpOption>().Select(o => o.Action).OfType<HelpAction>())
        {
            int window = Console.IsOutputRedirected ? 0 : Console.WindowWidth;
            help.MaxWidth = window > 0 ? Math.Min(window, MaxHelpColumns) : MaxHelpColumns;
        }

        // With nothing to do, show what there is to do.
        ParseResult parsed = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parsed.Errors.Count > 0)
        {
            // A mistyped command also lacks a command: name the mistyped word, not the lack.
            var first = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            error.WriteLine("gpuvit: " + OneLine(NotANumber(first) ?? first.Message) + " (see 'gpuvit --help')");
            return UsageError;
        }

        try
        {
            // Ctrl+C and the other signals are ours (above), not System.CommandLine's: commands stop at a point where their results are whole.
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            error.WriteLine("gpuvit: interrupted");
            return Interrupted;
        }
        catch (Exception e) when (e is UsageException or DeviceUnavailableException
            or WeightsFormatException or InputException or VitConfigException or VitWeightsException or OutputFileException)
        {
            // Bad files name themselves in the message; it is one line by construction, OneLine keeps it so.
            error.WriteLine("gpuvit: " + OneLine(e.Message));
            return UsageError;
        }
        catch (KernelBuildException e)
        {
            // The build log is the useful part; it spans lines by nature.
            error.WriteLine("gpuvit: " + e.Message);
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("GPUVIT_TRACE") != "1")
        {
            error.WriteLine($"gpuvit: {OneLine(e.Message)} ({e.GetType().Name}; GPUVIT_TRACE=1 shows where)");
            return 1;
        }
    }

    /// <summary>
    /// A numeric option's value that does not convert, said as the user wrote it: System.CommandLine
    /// names the CLR type instead ('System.Nullable`1[System.Int32]'). Null for any other error.
    /// </summary>
    private static string? NotANumber(ParseError error)
    {
        if (error.SymbolResult is not OptionResult { Option: var option } result || result.Tokens.Count == 0)
        {
            return null;
        }

        string value = result.Tokens[^1].Value;
        Type type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        (bool integer, bool fits, string range) = type == typeof(int)
            ? (true, int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _), $"{int.MinValue} to {int.MaxValue}")
            : type == typeof(long)
                ? (true, long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _), $"{long.MinValue} to {long.MaxValue}")
                : (false, true, "");
        if (integer && !fits)
        {
            // Digits that do not fit are a different mistake from letters.
            string digits = value.TrimStart('-', '+');
            return digits.Length > 0 && digits.All(char.IsAsciiDigit)
                ? $"{option.Name}: {value} is out of range (an integer from {range})"
                : $"{option.Name}: '{value}' is not an integer";
        }

        return type == typeof(double) && !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            ? $"{option.Name}: '{value}' is not a number"
            : null;
    }

    private static string OneLine(string message) =>
        string.Join(" ", message.Split('\n', '\t', '\r').Select(part => part.Trim()).Where(part => part.Length > 0));
}

/// <summary>Bad input from the user: reported as one line, exit code 2, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>What the process does with its signals: the first asks the command to stop and names the exit code; a later one is left to the system, which ends the process.</summary>
public sealed class SignalStop
{
    private readonly CancellationTokenSource _interrupt = new();
    private int _signalExit; // 128 + the first signal, once one has come

    /// <summary>Cancelled by the first signal.</summary>
    public CancellationToken Interrupt => _interrupt.Token;

    /// <summary>Takes a signal; true when its default action (ending the process) is to be cancelled, which is for the first signal only.</summary>
    public bool Take(PosixSignal signal)
    {
        int exit = signal switch
        {
            PosixSignal.SIGTERM => Cli.Terminated,
            PosixSignal.SIGHUP => Cli.HungUp,
            _ => Cli.Interrupted,
        };
        bool first = Interlocked.CompareExchange(ref _signalExit, exit, 0) == 0;
        _interrupt.Cancel();
        return first;
    }

    /// <summary>The process's exit code for a command's: commands report any interruption as Ctrl+C's code, and the code names the signal that came.</summary>
    public int ExitCode(int commandCode) => commandCode == Cli.Interrupted && _signalExit != 0 ? _signalExit : commandCode;
}
