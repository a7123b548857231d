namespace GpuViT.Kernels.Runtime;

/// <summary>
/// A file written whole or not at all: the content goes to a temporary file beside the target,
/// which <see cref="Commit"/> renames over it (atomic on one file system). Disposed without a
/// commit, because writing failed or was abandoned, the temporary file is removed and the target
/// is as it was. Every failure to create, write or commit is an <see cref="OutputFileException"/>
/// that names the target as it was given, never the hidden temporary file.
/// </summary>
public sealed class AtomicFile : IDisposable
{
    private readonly FileStream _file;
    private readonly TargetNamingStream _stream;
    private readonly string _path, _temporary, _target;
    private bool _done;

    private AtomicFile(string path)
    {
        _path = path;
        _target = Path.GetFullPath(path);
        _temporary = Path.Combine(Path.GetDirectoryName(_target) ?? ".", $".{Path.GetFileName(_target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            _file = new FileStream(_temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failure(e);
        }

        _stream = new TargetNamingStream(_file, this);
    }

    public static AtomicFile Create(string path) => new(path);

    public Stream Stream => _stream;

    /// <summary>Flushes the content to disk and puts it in place of the target.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        try
        {
            _file.Flush(flushToDisk: true);
            _file.Dispose();
            File.Move(_temporary, _target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failure(e);
        }

        _done = true;
    }

    public void Dispose()
    {
        if (_done)
        {
            return;
        }

        _done = true;
        try
        {
            // Data still buffered is flushed here and can fail as a write did; it is abandoned anyway.
            _file.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Whatever stopped the write has been reported, or the write was abandoned.
        }

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

    /// <summary>The failure with the target's name: .NET's messages name the temporary file, which the user never asked for.</summary>
    private OutputFileException Failure(Exception e)
    {
        string reason = e switch
        {
            DirectoryNotFoundException => "no such directory",
            FileNotFoundException => "a file cannot be created there",
            UnauthorizedAccessException => "permission denied",
            _ => WithoutPath(e.Message).Replace(_temporary, _path, StringComparison.Ordinal),
        };
        return new OutputFileException(_path, reason, e);
    }

    /// <summary>Unix errors read "No space left on device : 'PATH'" (the temporary file or the full target): the reason alone.</summary>
    private static string WithoutPath(string message)
    {
        int path = message.LastIndexOf(" : '", StringComparison.Ordinal);
        return path > 0 && message.EndsWith('\'') ? message[..path] : message;
    }

    /// <summary>The temporary file's stream, whose write failures (a full disk) name the target.</summary>
    private sealed class TargetNamingStream(FileStream file, AtomicFile owner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try
            {
                file.Write(buffer);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw owner.Failure(e);
            }
        }

        public override void Flush()
        {
            try
            {
                file.Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw owner.Failure(e);
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
