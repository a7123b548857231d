namespace GpuViT.Models.Images;

/// <summary>
/// A bad input file: unreadable, not an image, or an array of the wrong type or shape. The message
/// is one line that names the file and the problem, fit to print as it is (the CLI exits with 2).
/// </summary>
public sealed class InputException : Exception
{
    public InputException(string message) : base(message) { }

    public InputException(string message, Exception inner) : base(message, inner) { }

    /// <summary>"file: problem", with the file's name as the user gave it.</summary>
    internal static InputException For(string file, string problem) => new($"{file}: {problem}");
}
