using System.Runtime.InteropServices;

namespace GpuViT.Models;

/// <summary>
/// Checks that an input path is a regular file (or a link to one) before it is opened: opening a
/// FIFO blocks until something writes to it, a device such as /dev/zero never ends, and a
/// directory cannot be read as a file. Linux's statx reads the type without opening the path.
/// </summary>
public static partial class RegularFile
{
    /// <summary>Null when <paramref name="path"/> is a regular file; otherwise why not, as a phrase that follows its name: "is a directory, not a file".</summary>
    public static string? Problem(string path)
    {
        ushort? type = TypeOf(path, out string? unreadable);
        return unreadable ?? type switch
        {
            TypeRegular => null,
            TypeDirectory => "is a directory, not a file",
            TypeFifo => "is a named pipe (FIFO), not a regular file",
            TypeCharacterDevice => "is a character device, not a regular file",
            TypeBlockDevice => "is a block device, not a regular file",
            _ => "is a socket, not a regular file",
        };
    }

    /// <summary>Whether <paramref name="path"/> exists as something neither a regular file nor a directory: a FIFO, a device or a socket.</summary>
    public static bool IsSpecial(string path) => TypeOf(path, out _) is { } type && type != TypeRegular && type != TypeDirectory;

    /// <summary>The path's file type bits, or null with why it cannot be told ("no such file", "cannot read: ...").</summary>
    private static ushort? TypeOf(string path, out string? unreadable)
    {
        ArgumentNullException.ThrowIfNull(path);
        unreadable = null;
        StatxBuffer status = default;
        int result;
        try
        {
            result = statx(AtCurrentDirectory, path, 0, StatxType, ref status);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // No glibc 2.28 or later: the managed checks, which cannot tell a FIFO or a device from a file.
            if (Directory.Exists(path))
            {
                return TypeDirectory;
            }

            unreadable = File.Exists(path) ? null : "no such file";
            return unreadable is null ? TypeRegular : null;
        }

        if (result != 0)
        {
            unreadable = Marshal.GetLastPInvokeError() == NoSuchEntry ? "no such file" : $"cannot read: {Marshal.GetLastPInvokeErrorMessage()}";
            return null;
        }

        return (ushort)(status.Mode & TypeMask);
    }

    private const int AtCurrentDirectory = -100, NoSuchEntry = 2;
    private const uint StatxType = 0x1;
    private const ushort TypeMask = 0xF000, TypeRegular = 0x8000, TypeDirectory = 0x4000, TypeFifo = 0x1000,
        TypeCharacterDevice = 0x2000, TypeBlockDevice = 0x6000;

    /// <summary>struct statx: the same layout on every Linux architecture (256 bytes); only stx_mode is read.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(28)] public ushort Mode;
    }

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int statx(int directory, string path, int flags, uint mask, ref StatxBuffer status);
}
