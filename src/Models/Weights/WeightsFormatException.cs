namespace GpuViT.Models.Weights;

/// <summary>
/// A weights file that cannot be used: unreadable, malformed, hostile or inconsistent. The message is
/// one line that names the file and the problem, fit to show a user as it is.
/// </summary>
public sealed class WeightsFormatException : Exception
{
    public WeightsFormatException(string message) : base(message) { }

    public WeightsFormatException(string message, Exception inner) : base(message, inner) { }
}
