namespace GpuViT.Kernels.Runtime;

/// <summary>
/// A file written whole or not at all: the content goes to a temporary file beside the target,
/// which <see cref="Commit"/> renames over it (atomic on one file system). Disposed without a
/// commit, because writing failed or was abandoned, the temporary file is removed and the target
/// is as it was.
/// </summary>
public sealed class AtomicFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly string _temporary, _target;
    private bool _done;

    private AtomicFile(string path)
    {
        _target = Path.GetFullPath(path);
        _temporary = Path.Combine(Path.GetDirectoryName(_target) ?? ".", $".{Path.GetFileName(_target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        _stream = new FileStream(_temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
    }

    public static AtomicFile Create(string path) => new(path);

    public Stream Stream => _stream;

    /// <summary>Flushes the content to disk and puts it in place of the target.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(_temporary, _target, overwrite: true);
        _done = true;
    }

    public void Dispose()
    {
        if (_done)
        {
            return;
        }

        _done = true;
        _stream.Dispose();
        try
        {
            File.Delete(_temporary);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Whatever stopped the write matters more than a leftover temporary file.
        }
    }

    public static void WriteAllText(string path, string text)
    {
        using AtomicFile file = Create(path);
        using (var writer = new StreamWriter(file.Stream, leaveOpen: true))
        {
            writer.Write(text);
        }

        file.Commit();
    }
}
