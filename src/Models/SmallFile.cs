namespace GpuViT.Models;

/// <summary>
/// Reads a file that should be small (a config.json, a labels file) whole, without trusting it:
/// what is not a regular file (a directory, a FIFO that would block, a device such as /dev/zero
/// that never ends) is refused before it is opened, and a file larger than
/// <see cref="MaxBytes"/> before it is read.
/// </summary>
public static class SmallFile
{
    /// <summary>The largest such file read: a config or labels file with 21K ImageNet classes is under 1 MiB.</summary>
    public const int MaxBytes = 16 << 20;

    /// <summary>
    /// The file's bytes, or null with <paramref name="problem"/> saying why not, as a phrase that
    /// follows its name ("is a directory, not a file"). Throws what <see cref="File.OpenRead"/>
    /// throws when the file goes away or cannot be read.
    /// </summary>
    public static byte[]? TryRead(string path, out string problem)
    {
        problem = RegularFile.Problem(path) ?? string.Empty;
        if (problem.Length > 0)
        {
            return null;
        }

        using FileStream stream = File.OpenRead(path);
        if (stream.Length > MaxBytes)
        {
            problem = $"is larger than {MaxBytes >> 20} MiB";
            return null;
        }

        byte[] bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
