namespace GpuViT.Kernels.Runtime;

/// <summary>
/// An output file that could not be created, written or put in place. The message is one line,
/// "PATH: cannot write: REASON", with the path as the user gave it; the command line exits with 2.
/// It is an <see cref="IOException"/>, so code that tolerates unwritable files (the kernel cache) still does.
/// </summary>
public sealed class OutputFileException(string path, string reason, Exception inner)
    : IOException($"{path}: cannot write: {reason}", inner)
{
    /// <summary>The file, as the user gave it.</summary>
    public string Path { get; } = path;

    /// <summary>Why it could not be written, without the path.</summary>
    public string Reason { get; } = reason;
}
