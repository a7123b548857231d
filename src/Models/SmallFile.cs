namespace GpuViT.Models;

/// <summary>
/// Reads a file that should be small (a config.json, a labels file) whole, without trusting its
/// size: a device such as /dev/zero or a huge file given in its place cannot exhaust memory.
/// </summary>
public static class SmallFile
{
    /// <summary>The largest such file read: a config or labels file with 21K ImageNet classes is under 1 MiB.</summary>
    public const int MaxBytes = 16 << 20;

    /// <summary>The file's bytes, or null when it holds more than <see cref="MaxBytes"/>. Throws what <see cref="File.OpenRead"/> throws.</summary>
    public static byte[]? TryRead(string path)
    {
        using FileStream stream = File.OpenRead(path);
        byte[] bytes = new byte[MaxBytes + 1];
        int length = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        return length > MaxBytes ? null : bytes[..length];
    }
}
